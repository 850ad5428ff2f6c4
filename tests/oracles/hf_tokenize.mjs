// Oracle: Hugging Face's native tokenizers (the Rust crate, through
// @anush008/tokenizers) encodes a corpus; qatc's data/tokenizer must agree.
// usage: node hf_tokenize.mjs TOKENIZER.json CORPUS OUT [--plain]
//   CORPUS: one item per line, the item's bytes in hex (survives any byte).
//     The bytes are decoded as UTF-8 with U+FFFD for each maximal ill-formed
//     subpart (WHATWG, = Python's errors="replace"): HF takes strings only.
//   OUT: one line per item, the ids separated by spaces.
//   --plain: special added tokens are disabled in the tokenizer first, so
//     their strings are ordinary text (qatc's parse_special = 0; HF's
//     encode_special_tokens, which this binding does not expose).
// The post-processor is removed (the Mistral/Llama-2 file's template adds BOS
// whatever add_special_tokens says): ids are the text's alone.
import fs from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const { Tokenizer } = require("@anush008/tokenizers");

const [file, corpus, out, ...flags] = process.argv.slice(2);
if (!out) {
  console.error("usage: node hf_tokenize.mjs TOKENIZER.json CORPUS OUT [--plain]");
  process.exit(2);
}
const j = JSON.parse(fs.readFileSync(file, "utf8"));
j.post_processor = null;
// (HF numbers added tokens beyond the model vocabulary by their order, not by
// their "id": removing one would renumber the rest, so special ones get a
// content that never occurs in text instead.)
if (flags.includes("--plain"))
  for (const a of j.added_tokens || []) if (a.special) a.content = `\u{10FFFF}qatc-disabled-${a.id}\u{10FFFF}`;
const tk = Tokenizer.fromString(JSON.stringify(j));
const dec = new TextDecoder("utf-8", { fatal: false });
const items = fs
  .readFileSync(corpus, "utf8")
  .split("\n")
  .filter((l, i, a) => i < a.length - 1 || l.length)
  .map((h) => dec.decode(Buffer.from(h, "hex")));
const lines = [];
for (let i = 0; i < items.length; i += 256) {
  const encs = await tk.encodeBatch(items.slice(i, i + 256), { addSpecialTokens: false });
  for (const e of encs) lines.push(Array.from(e.getIds()).join(" "));
}
fs.writeFileSync(out, lines.join("\n") + "\n");
console.log(`hf_tokenize: ${items.length} items`);
