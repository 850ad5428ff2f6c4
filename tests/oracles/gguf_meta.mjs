// The npm @huggingface/gguf parser reads a GGUF file written by qatc and checks
// its metadata (with GGUF value types), tensor names, ggml types and shapes.
// usage: node gguf_meta.mjs FILE.gguf TYPE DIM LAYERS HEADS KV_HEADS FFN CTX VOCAB [LINEAR_TYPE [FLOAT_TYPE]]
//   TYPE: file type (F32, F16, Q8_0, Q4_0, Q4_1); LINEAR_TYPE: the type expected for every
//   block Linear (default TYPE); FLOAT_TYPE: token_embd and output (default F32); norms F32.
//   A Llama with the byte tokenizer.
// usage: node gguf_meta.mjs FILE.gguf TYPE --hf CONFIG.json [LINEAR_TYPE [FLOAT_TYPE]] [--tokenizer TOKENIZER.json]
//   The model a Hugging Face config.json describes, in llama.cpp's form for its family:
//   general.architecture "llama" (model_type llama, mistral), "qwen2" or "qwen3"; shapes and
//   head size from the config (attention.key_length/value_length when head_dim is not
//   hidden/heads), rms_norm_eps, rope_theta, max_position_embeddings as context_length;
//   q/k/v biases (qwen2), attn_q_norm/attn_k_norm [head_dim] (qwen3), rope_freqs.weight
//   [head_dim/2] with llama3 rope_scaling (its divisors by HF's rule, within 1e-6), no
//   output.weight when tie_word_embeddings.
//   The byte tokenizer, or with --tokenizer that tokenizer.json's vocabulary (every token by
//   id, added tokens included; as many merges) as "gpt2" with pre "qwen2".
// Exit 0 and "gguf_meta: ok" when everything matches, else 1 with the mismatches.
import fs from "node:fs";
import path from "node:path";
const { gguf } = await import("@huggingface/gguf");

const a = process.argv.slice(2);
const tokAt = a.indexOf("--tokenizer");
const tokJson = tokAt >= 0 ? JSON.parse(fs.readFileSync(a[tokAt + 1], "utf8")) : null;
if (tokAt >= 0) a.splice(tokAt, 2);
const hf = a[2] === "--hf" ? JSON.parse(fs.readFileSync(a[3], "utf8")) : null;
if (a.length < (hf ? 4 : 9)) {
  console.error("usage: node gguf_meta.mjs FILE TYPE DIM LAYERS HEADS KV FFN CTX VOCAB [LINEAR_TYPE [FLOAT_TYPE]]\n" +
                "       node gguf_meta.mjs FILE TYPE --hf CONFIG.json [LINEAR_TYPE [FLOAT_TYPE]] [--tokenizer TOKENIZER.json]");
  process.exit(2);
}
const [file, type] = a;
const [D, L, H, KV, F, C, V] = hf
  ? [hf.hidden_size, hf.num_hidden_layers, hf.num_attention_heads, hf.num_key_value_heads ?? hf.num_attention_heads,
     hf.intermediate_size, hf.max_position_embeddings, hf.vocab_size]
  : a.slice(2, 9).map((x) => parseInt(x, 10));
const rest = a.slice(hf ? 4 : 9);
const linType = rest[0] ?? type;
const floatType = rest[1] ?? "F32";
const mt = hf ? hf.model_type : "llama";
const arch = { llama: "llama", mistral: "llama", qwen2: "qwen2", qwen3: "qwen3" }[mt];
const hd = (hf && hf.head_dim) || D / H;
const tied = !!(hf && hf.tie_word_embeddings);
const rs = hf && hf.rope_scaling ? hf.rope_scaling : null;
const T = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8 };
const FT = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7 };
const VT = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 };
const { typedMetadata: md, tensorInfos, tensorDataOffset } = await gguf(path.resolve(file), { allowLocalFile: true, typedMetadata: true });
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
if (!arch) errs.push(`model_type ${mt}: no llama.cpp architecture known here`);
want("general.architecture", VT.STRING, arch);
want("general.file_type", VT.UINT32, FT[type]);
want(`${arch}.context_length`, VT.UINT32, C);
want(`${arch}.embedding_length`, VT.UINT32, D);
want(`${arch}.block_count`, VT.UINT32, L);
want(`${arch}.feed_forward_length`, VT.UINT32, F);
want(`${arch}.attention.head_count`, VT.UINT32, H);
want(`${arch}.attention.head_count_kv`, VT.UINT32, KV);
want(`${arch}.rope.dimension_count`, VT.UINT32, hd);
want(`${arch}.vocab_size`, VT.UINT32, V);
want(`${arch}.attention.layer_norm_rms_epsilon`, VT.FLOAT32, hf ? hf.rms_norm_eps : undefined);
want(`${arch}.rope.freq_base`, VT.FLOAT32, hf ? hf.rope_theta ?? 10000 : undefined);
if (hd * H !== D) {
  want(`${arch}.attention.key_length`, VT.UINT32, hd);
  want(`${arch}.attention.value_length`, VT.UINT32, hd);
} else {
  for (const k of ["key_length", "value_length"]) if (md[`${arch}.attention.${k}`]) errs.push(`unexpected ${arch}.attention.${k}`);
}
for (const k of Object.keys(md)) if (k.includes(".rope.scaling")) errs.push(`unexpected ${k} (llama3 scaling is rope_freqs.weight)`);
want("tokenizer.ggml.model", VT.STRING, "gpt2");
want("tokenizer.ggml.pre", VT.STRING, "qwen2");
want("tokenizer.ggml.tokens", VT.ARRAY);
want("tokenizer.ggml.token_type", VT.ARRAY);
want("tokenizer.ggml.merges", VT.ARRAY);
want("tokenizer.ggml.add_bos_token", VT.BOOL, false);
want("tokenizer.ggml.add_eos_token", VT.BOOL, false);
if (md["tokenizer.ggml.bos_token_id"]) errs.push("unexpected tokenizer.ggml.bos_token_id");
const toks = md["tokenizer.ggml.tokens"]?.value ?? [];
if (toks.length !== V) errs.push(`tokenizer.ggml.tokens has ${toks.length} entries, expected ${V}`);
if (tokJson) {
  // the tokenizer.json's vocabulary by id, then its added tokens
  const byId = new Map(Object.entries(tokJson.model.vocab).map(([t, i]) => [i, t]));
  for (const t of tokJson.added_tokens ?? []) byId.set(t.id, t.content);
  let bad = 0;
  for (let i = 0; i < V; i++) {
    const w = byId.has(i) ? byId.get(i) : `<extra_${i - byId.size}>`;
    if (toks[i] !== w && bad++ < 3) errs.push(`token ${i} = ${JSON.stringify(toks[i])}, expected ${JSON.stringify(w)}`);
  }
  if (bad > 3) errs.push(`... ${bad} tokens differ`);
  const nm = (md["tokenizer.ggml.merges"]?.value ?? []).length;
  if (nm !== tokJson.model.merges.length) errs.push(`${nm} merges, the tokenizer.json has ${tokJson.model.merges.length}`);
  if (md["tokenizer.ggml.scores"]) errs.push("unexpected tokenizer.ggml.scores");
} else {
  // the byte tokenizer: GPT-2's byte-to-unicode tokens, no merges, no BOS, EOS '\n'
  want("tokenizer.ggml.eos_token_id", VT.UINT32, 10);
  if (md["tokenizer.ggml.scores"]) errs.push("unexpected tokenizer.ggml.scores");
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
}
const quantized = type !== "F32" && type !== "F16";
if (quantized) want("general.quantization_version", VT.UINT32, 2);
const expect = new Map();
expect.set("token_embd.weight", [[D, V], floatType]);
expect.set("output_norm.weight", [[D], "F32"]);
if (!tied) expect.set("output.weight", [[D, V], floatType]);
if (rs) expect.set("rope_freqs.weight", [[hd / 2], "F32"]);
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
  if (mt === "qwen2") {
    expect.set(`blk.${i}.attn_q.bias`, [[H * hd], "F32"]);
    expect.set(`blk.${i}.attn_k.bias`, [[KV * hd], "F32"]);
    expect.set(`blk.${i}.attn_v.bias`, [[KV * hd], "F32"]);
  }
  if (mt === "qwen3") {
    expect.set(`blk.${i}.attn_q_norm.weight`, [[hd], "F32"]);
    expect.set(`blk.${i}.attn_k_norm.weight`, [[hd], "F32"]);
  }
}
if (rs) { // HF's llama3 rule (_compute_llama3_parameters), in float64
  const t = tensorInfos.find((x) => x.name === "rope_freqs.weight");
  if (t && t.dtype === T.F32) {
    const fd = fs.openSync(path.resolve(file), "r"), buf = Buffer.alloc(4 * (hd / 2));
    fs.readSync(fd, buf, 0, buf.length, Number(tensorDataOffset) + Number(t.offset));
    fs.closeSync(fd);
    const old = rs.original_max_position_embeddings, lo = rs.low_freq_factor, hi = rs.high_freq_factor;
    for (let i = 0; i < hd / 2; i++) {
      const wl = 2 * Math.PI * Math.pow(hf.rope_theta, (2 * i) / hd);
      const sm = (old / wl - lo) / (hi - lo);
      const w = wl < old / hi ? 1 : wl > old / lo ? rs.factor : 1 / ((1 - sm) / rs.factor + sm);
      const got = buf.readFloatLE(4 * i);
      if (!(Math.abs(got - w) <= 1e-6 * w)) errs.push(`rope_freqs.weight[${i}] = ${got}, HF's llama3 rule gives ${w}`);
    }
  }
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
