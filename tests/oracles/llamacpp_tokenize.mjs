// Real llama.cpp's tokenizer (node-llama-cpp's prebuilt CPU binary, offline) on a GGUF's
// tokenizer.ggml.* (written by qatc's exporter): model.tokenize(text, specialTokens), i.e.
// common_tokenize(vocab, text, add_special = false, parse_special = specialTokens): no BOS,
// the text's ids alone, like qatc's qd_tokenizer_encode.
// usage: node llamacpp_tokenize.mjs MODEL.gguf CORPUS OUT_PLAIN OUT_SPECIAL
//   CORPUS: one item per line, its bytes in hex (valid UTF-8: JS strings).
//   OUT_PLAIN: one line of ids per item, special-token strings as plain text
//     (model.tokenize(text, false) = qatc's parse_special 0);
//   OUT_SPECIAL: the same with special-token strings parsed (model.tokenize(text, true) =
//     qatc's parse_special 1).
//   OUT_PLAIN.retyped: JSON [[id, text], ...], the tokens llama.cpp retypes as control tokens by
//     their text when loading (its log: "control-looking token: ID 'TEXT' was not control-type
//     ... its type will be overridden"; e.g. Qwen's non-special added tokens <|fim_prefix|>,
//     <|repo_name|>, ... and its ordinary BPE token "</s>"): llama.cpp's own rule, which any GGUF
//     of that vocabulary gets, whatever the token types written.
import fs from "node:fs";
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";
const { getLlama } = await import("node-llama-cpp");

const [modelPath, corpus, outPlain, outSpecial] = process.argv.slice(2);
if (!outSpecial) {
  console.error("usage: node llamacpp_tokenize.mjs MODEL.gguf CORPUS OUT_PLAIN OUT_SPECIAL");
  process.exit(2);
}
const retyped = [];
const llama = await getLlama({
  gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true, logLevel: "warn",
  logger: (level, message) => {
    const m = /control-looking token: *(\d+) '(.*)' was not control-type/s.exec(message);
    if (m) retyped.push([Number(m[1]), m[2]]);
    else if (level === "error" || level === "fatal") console.error(message);
  },
});
const model = await llama.loadModel({ modelPath, gpuLayers: 0, vocabOnly: true });
const dec = new TextDecoder("utf-8", { fatal: true });
const items = fs
  .readFileSync(corpus, "utf8")
  .split("\n")
  .filter((l, i, a) => i < a.length - 1 || l.length)
  .map((h) => dec.decode(Buffer.from(h, "hex")));
const plain = [], special = [];
for (const s of items) {
  plain.push(model.tokenize(s, false).join(" "));
  special.push(model.tokenize(s, true).join(" "));
}
fs.writeFileSync(outPlain, plain.join("\n") + "\n");
fs.writeFileSync(outSpecial, special.join("\n") + "\n");
fs.writeFileSync(outPlain + ".retyped", JSON.stringify(retyped.sort((a, b) => a[0] - b[0])) + "\n");
await model.dispose();
await llama.dispose();
