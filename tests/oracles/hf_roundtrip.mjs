// Hugging Face's native tokenizers (the Rust crate, npm @anush008/tokenizers)
// load a tokenizer.json, encode a UTF-8 text file (added tokens matched, no
// BOS/EOS added) and decode the ids back.
// usage: node hf_roundtrip.mjs TOKENIZER.json TEXT_FILE DECODED_OUT
//   stdout: the ids, space-separated, one line; DECODED_OUT: decode(ids) as UTF-8.
// Exit 0, or 1 with the error (a file HF refuses to load included).
import fs from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Tokenizer } = require("@anush008/tokenizers");

const [tokPath, textPath, outPath] = process.argv.slice(2);
if (!outPath) {
  console.error("usage: node hf_roundtrip.mjs TOKENIZER.json TEXT_FILE DECODED_OUT");
  process.exit(2);
}
try {
  const tk = Tokenizer.fromFile(tokPath);
  const text = fs.readFileSync(textPath, "utf8");
  const ids = (await tk.encode(text, null, { addSpecialTokens: false })).getIds();
  fs.writeFileSync(outPath, await tk.decode(ids, false));
  process.stdout.write(ids.join(" ") + "\n");
} catch (e) {
  console.error(`hf_tokenize: ${tokPath}: ${e.message ?? e}`);
  process.exit(1);
}
