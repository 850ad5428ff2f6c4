// The npm @huggingface/gguf parser reads an imatrix file written by qatc's
// export list and the GGUF model exported beside it, and checks that the
// imatrix is llama-imatrix's form for that model: general.type "imatrix"
// (string), imatrix.datasets (array of strings), imatrix.chunk_count = NSEQ and
// imatrix.chunk_size = T (uint32), no general.architecture; for every weight
// the model file multiplies activations by (every 2-D tensor but token_embd,
// which is one only when the file has no output.weight) exactly W.in_sum2
// (F32, shape [ne0 of W, 1]) and W.counts (F32, [1, 1]), entries in name
// order; counts = NSEQ·T; in_sum2 finite and positive.
// usage: node imatrix_meta.mjs IMATRIX.gguf MODEL.gguf NSEQ T
// Exit 0 and "imatrix_meta: ok" when everything matches, else 1 with the mismatches.
import fs from "node:fs";
import path from "node:path";
const { gguf } = await import("@huggingface/gguf");

const [imFile, modelFile, nseqS, tS] = process.argv.slice(2);
if (!tS) {
  console.error("usage: node imatrix_meta.mjs IMATRIX.gguf MODEL.gguf NSEQ T");
  process.exit(2);
}
const nseq = parseInt(nseqS, 10), T = parseInt(tS, 10);
const VT = { UINT32: 4, STRING: 8, ARRAY: 9 };
const F32 = 0;
const im = await gguf(path.resolve(imFile), { allowLocalFile: true, typedMetadata: true });
const model = await gguf(path.resolve(modelFile), { allowLocalFile: true });
const md = im.typedMetadata, errs = [];
const want = (key, vtype, value) => {
  const m = md[key];
  if (!m) return errs.push(`missing ${key}`);
  if (m.type !== vtype) errs.push(`${key}: value type ${m.type}, expected ${vtype}`);
  if (value !== undefined && Number(m.value) !== value && m.value !== value) errs.push(`${key} = ${m.value}, expected ${value}`);
};
want("general.type", VT.STRING, "imatrix");
want("imatrix.chunk_count", VT.UINT32, nseq);
want("imatrix.chunk_size", VT.UINT32, T);
want("imatrix.datasets", VT.ARRAY);
const ds = md["imatrix.datasets"];
if (ds && (ds.subType !== VT.STRING || !Array.isArray(ds.value) || ds.value.length !== 1 || typeof ds.value[0] !== "string"))
  errs.push(`imatrix.datasets: ${JSON.stringify(ds)}, expected one string`);
if (md["general.architecture"]) errs.push("general.architecture present (llama-imatrix writes none)");

const hasOutput = model.tensorInfos.some((t) => t.name === "output.weight");
const weights = model.tensorInfos
  .filter((t) => t.shape.length === 2 && (t.name !== "token_embd.weight" || !hasOutput))
  .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
const expect = weights.flatMap((t) => [[`${t.name}.in_sum2`, [Number(t.shape[0]), 1]], [`${t.name}.counts`, [1, 1]]]);
const got = im.tensorInfos;
if (JSON.stringify(got.map((t) => t.name)) !== JSON.stringify(expect.map((e) => e[0])))
  errs.push(`tensors ${got.map((t) => t.name).join(",")}, expected ${expect.map((e) => e[0]).join(",")}`);
const fd = fs.openSync(path.resolve(imFile), "r");
for (const [name, shape] of expect) {
  const t = got.find((x) => x.name === name);
  if (!t) continue;
  if (JSON.stringify(t.shape.map(Number)) !== JSON.stringify(shape)) errs.push(`${name}: shape [${t.shape}], expected [${shape}]`);
  if (t.dtype !== F32) errs.push(`${name}: ggml type ${t.dtype}, expected F32`);
  const n = shape[0] * shape[1], buf = Buffer.alloc(4 * n);
  fs.readSync(fd, buf, 0, buf.length, Number(im.tensorDataOffset) + Number(t.offset));
  const v = Array.from({ length: n }, (_, i) => buf.readFloatLE(4 * i));
  if (name.endsWith(".counts") && v[0] !== nseq * T) errs.push(`${name} = ${v[0]}, expected ${nseq * T}`);
  if (name.endsWith(".in_sum2") && !v.every((x) => Number.isFinite(x) && x > 0)) errs.push(`${name}: a value not finite and positive`);
}
if (errs.length) {
  for (const e of errs) console.error("imatrix_meta: " + e);
  process.exit(1);
}
console.log(`imatrix_meta: ok (${imFile}: ${got.length} tensors for ${weights.length} weights of ${modelFile})`);
