// HF native tokenizers' side of bench_tokenizer: encodes TEXT in chunks of
// ~64 KB (at line ends), one at a time, one thread (RAYON_NUM_THREADS=1), two
// passes (cold, then warm word cache). Prints "hf SECONDS1 SECONDS2 TOKENS".
// usage: node bench_tokenizer_hf.mjs TOKENIZER.json TEXT
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
const here = path.dirname(new URL(import.meta.url).pathname);
const require = createRequire(path.join(here, "../tests/oracles/package.json"));
const { Tokenizer } = require("@anush008/tokenizers");

const [file, textPath] = process.argv.slice(2);
const tk = Tokenizer.fromFile(file);
const text = fs.readFileSync(textPath, "utf8");
const chunks = [];
for (let i = 0; i < text.length; ) {
  let e = text.indexOf("\n", i + 65536);
  e = e < 0 ? text.length : e + 1;
  chunks.push(text.slice(i, e));
  i = e;
}
const secs = [];
let tokens = 0;
for (let pass = 0; pass < 2; pass++) {
  tokens = 0;
  const t0 = process.hrtime.bigint();
  for (const c of chunks) tokens += (await tk.encode(c, null, { addSpecialTokens: false })).getIds().length;
  secs.push(Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log(`hf ${secs[0]} ${secs[1]} ${tokens}`);
