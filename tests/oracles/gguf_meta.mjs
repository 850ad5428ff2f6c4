// The npm @huggingface/gguf parser reads a GGUF file written by qatc and checks
// its metadata (with GGUF value types), tensor names, ggml types and shapes.
// usage: node gguf_meta.mjs FILE.gguf TYPE DIM LAYERS HEADS KV_HEADS FFN CTX VOCAB [LINEAR_TYPE [FLOAT_TYPE]]
//   TYPE: file type (F32, F16, Q8_0, Q4_0, Q4_1); LINEAR_TYPE: the type expected for every
//   block Linear (default TYPE); FLOAT_TYPE: token_embd and output (default F32); norms F32.
// Exit 0 and "gguf_meta: ok" when everything matches, else 1 with the mismatches.
import path from "node:path";
const { gguf } = await import("@huggingface/gguf");

const a = process.argv.slice(2);
if (a.length < 9) {
  console.error("usage: node gguf_meta.mjs FILE TYPE DIM LAYERS HEADS KV FFN CTX VOCAB [LINEAR_TYPE]");
  process.exit(2);
}
const [file, type] = a;
const [D, L, H, KV, F, C, V] = a.slice(2, 9).map((x) => parseInt(x, 10));
const linType = a[9] ?? type;
const floatType = a[10] ?? "F32";
const T = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8 };
const FT = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7 };
const VT = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 };

const { typedMetadata: md, tensorInfos } = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });
const errs = [];
const want = (key, vtype, value) => {
  const m = md[key];
  if (!m) return errs.push(`missing ${key}`);
  if (m.type !== vtype) errs.push(`${key}: value type ${m.type}, expected ${vtype}`);
  if (value !== undefined) {
    const got = typeof m.value === "bigint" ? Number(m.value) : m.value;
    const ok = typeof value === "number" && !Number.isInteger(value) ? Math.abs(got - value) <= 1e-6 * Math.abs(value)
                                                                       : got === value;
    if (!ok) errs.push(`${key} = ${got}, expected ${value}`);
  }
};
want("general.architecture", VT.STRING, "llama");
want("general.file_type", VT.UINT32, FT[type]);
want("llama.context_length", VT.UINT32, C);
want("llama.embedding_length", VT.UINT32, D);
want("llama.block_count", VT.UINT32, L);
want("llama.feed_forward_length", VT.UINT32, F);
want("llama.attention.head_count", VT.UINT32, H);
want("llama.attention.head_count_kv", VT.UINT32, KV);
want("llama.rope.dimension_count", VT.UINT32, D / H);
want("llama.attention.layer_norm_rms_epsilon", VT.FLOAT32);
want("llama.rope.freq_base", VT.FLOAT32);
// the byte tokenizer: "gpt2" with GPT-2's byte-to-unicode tokens, no merges, no BOS, EOS '\n'
want("tokenizer.ggml.model", VT.STRING, "gpt2");
want("tokenizer.ggml.pre", VT.STRING, "qwen2");
want("tokenizer.ggml.tokens", VT.ARRAY);
want("tokenizer.ggml.token_type", VT.ARRAY);
want("tokenizer.ggml.merges", VT.ARRAY);
want("tokenizer.ggml.add_bos_token", VT.BOOL, false);
want("tokenizer.ggml.add_eos_token", VT.BOOL, false);
want("tokenizer.ggml.eos_token_id", VT.UINT32, 10);
for (const k of ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.scores"]) if (md[k]) errs.push(`unexpected ${k}`);
const quantized = type !== "F32" && type !== "F16";
if (quantized) want("general.quantization_version", VT.UINT32, 2);
const toks = md["tokenizer.ggml.tokens"]?.value ?? [];
if (toks.length !== V) errs.push(`tokenizer.ggml.tokens has ${toks.length} entries, expected ${V}`);
const printable = (b) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
for (let b = 0, k = 0; b < 256; b++) {
  const want = String.fromCodePoint(printable(b) ? b : 0x100 + k++);
  if (toks[b] !== want) errs.push(`token ${b} = ${JSON.stringify(toks[b])}, expected ${JSON.stringify(want)} (GPT-2 byte form)`);
}
for (let i = 256; i < V; i++) if (toks[i] !== `<extra_${i - 256}>`) errs.push(`token ${i} = ${toks[i]}`);
const tt = md["tokenizer.ggml.token_type"]?.value ?? [];
if (tt.length !== V || tt.slice(0, 256).some((x) => x !== 1) || tt.slice(256).some((x) => x !== 5))
  errs.push("token_type: expected 1 (NORMAL) for bytes, 5 (UNUSED) for extra rows");
if ((md["tokenizer.ggml.merges"]?.value ?? [1]).length !== 0) errs.push("merges: expected an empty array");

const hd = D / H;
const expect = new Map();
expect.set("token_embd.weight", [[D, V], floatType]);
expect.set("output_norm.weight", [[D], "F32"]);
expect.set("output.weight", [[D, V], floatType]);
for (let i = 0; i < L; i++) {
  expect.set(`blk.${i}.attn_norm.weight`, [[D], "F32"]);
  expect.set(`blk.${i}.ffn_norm.weight`, [[D], "F32"]);
  expect.set(`blk.${i}.attn_q.weight`, [[D, H * hd], linType]);
  expect.set(`blk.${i}.attn_k.weight`, [[D, KV * hd], linType]);
  expect.set(`blk.${i}.attn_v.weight`, [[D, KV * hd], linType]);
  expect.set(`blk.${i}.attn_output.weight`, [[H * hd, D], linType]);
  expect.set(`blk.${i}.ffn_gate.weight`, [[D, F], linType]);
  expect.set(`blk.${i}.ffn_up.weight`, [[D, F], linType]);
  expect.set(`blk.${i}.ffn_down.weight`, [[F, D], linType]);
}
if (tensorInfos.length !== expect.size) errs.push(`${tensorInfos.length} tensors, expected ${expect.size}`);
for (const t of tensorInfos) {
  const e = expect.get(t.name);
  if (!e) { errs.push(`unexpected tensor ${t.name}`); continue; }
  const shape = t.shape.map(Number);
  if (JSON.stringify(shape) !== JSON.stringify(e[0])) errs.push(`${t.name}: shape [${shape}], expected [${e[0]}]`);
  if (t.dtype !== T[e[1]]) errs.push(`${t.name}: ggml type ${t.dtype}, expected ${e[1]} (${T[e[1]]})`);
}
if (errs.length) {
  console.error(`gguf_meta: ${file}:\n  ` + errs.join("\n  "));
  process.exit(1);
}
console.log(`gguf_meta: ok (${file}: ${tensorInfos.length} tensors, ${Object.keys(md).length} keys)`);
