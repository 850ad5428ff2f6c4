// Real llama.cpp (node-llama-cpp's prebuilt CPU binary, offline) scores token ids:
// consecutive chunks of CTX ids, each from an empty context, the first id of each
// chunk not scored, a last partial chunk of >= 2 ids scored; NLL of id j from the
// raw logits after ids 0..j-1, in float64. F32 KV cache, flash attention off, one thread
// (on 2 busy shared cores ggml's spin-waiting barriers made two threads ~8x slower; the
// numbers do not depend on it: each output row is computed whole by one thread).
// usage: node llamacpp_nll.mjs MODEL.gguf TOKENS.txt CTX [--text TEXT_FILE]
// prints {"n_scored": N, "nll_mean": X, "cpu": VARIANT} on one line (VARIANT: the CPU backend
// llama.cpp loaded, e.g. "zen4"; tests/cli/llamacpp_env.bash can restrict it to one).
// --text: llama.cpp's TEXT path: the ids scored are llama.cpp's own tokenization of the
// file's text (model.tokenize(text, false): special-token strings are text, no BOS added),
// which is compared with TOKENS.txt (another tokenizer's ids, e.g. qatc's); the line then
// also holds "n_ids", "ids_equal" (true/false) and "first_diff" (index, -1 when equal).
import fs from "node:fs";
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
process.env.NODE_LLAMA_CPP_GPU = "false";
const { getLlama } = await import("node-llama-cpp");

const [modelPath, tokPath, ctxArg, textFlag, textPath] = process.argv.slice(2);
if (!modelPath || !tokPath || !ctxArg || (textFlag !== undefined && (textFlag !== "--text" || !textPath))) {
  console.error("usage: node llamacpp_nll.mjs MODEL.gguf TOKENS.txt CTX [--text TEXT_FILE]");
  process.exit(2);
}
const N = parseInt(ctxArg, 10);
const given = fs.readFileSync(tokPath, "utf8").split(/\s+/).filter((s) => s.length).map((s) => parseInt(s, 10));

const llama = await getLlama({ gpu: false, build: "never", skipDownload: true, usePrebuiltBinaries: true,
                               logLevel: "error" });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({
  contextSize: N, batchSize: N, sequences: 1, flashAttention: false, threads: 1,
  experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32",
});
const seq = context.getSequence();
let ids = given, extra = {};
if (textPath) {
  ids = Array.from(model.tokenize(fs.readFileSync(textPath, "utf8"), false));
  let first = -1;
  for (let i = 0; i < Math.max(ids.length, given.length) && first < 0; i++) if (ids[i] !== given[i]) first = i;
  extra = { n_ids: ids.length, ids_equal: first < 0, first_diff: first };
}

let sum = 0, count = 0;
for (let start = 0; start + 1 < ids.length; start += N) {
  const chunk = ids.slice(start, start + N);
  if (chunk.length < 2) break;
  await seq.clearHistory();
  const input = chunk.slice(0, -1).map((t) => [t, { generateNext: { logits: true } }]);
  const out = await seq.controlledEvaluate(input);
  for (let j = 1; j < chunk.length; j++) {
    const logits = out[j - 1]?.next?.logits;
    if (!logits) throw new Error(`no logits at chunk ${start / N}, position ${j - 1}`);
    let mx = -Infinity;
    for (const v of logits.values()) if (v > mx) mx = v;
    let s = 0;
    for (const v of logits.values()) s += Math.exp(v - mx);
    const target = logits.get(chunk[j]);
    if (target === undefined) throw new Error(`no logit for token ${chunk[j]}`);
    sum += mx + Math.log(s) - target;
    count++;
  }
}
// which of the prebuilt CPU backends (one per x86 level: haswell, skylakex, zen4, ...) ran
const cpu = fs.readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-([\w]+)\.so/);
console.log(JSON.stringify({ n_scored: count, nll_mean: sum / count, cpu: cpu ? cpu[1] : "?", ...extra }));
await context.dispose();
await model.dispose();
await llama.dispose();
