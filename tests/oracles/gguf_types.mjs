// Prints, with the npm @huggingface/gguf parser, each tensor of a GGUF file as "NAME TYPE"
// (ggml type names as GGUF tools spell them: F32, Q4_K, ...) and "general.file_type N".
// usage: node gguf_types.mjs FILE.gguf
import path from "node:path";
const { gguf } = await import("@huggingface/gguf");
const NAMES = { 0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K",
                11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 20: "IQ4_NL", 30: "BF16", 39: "MXFP4" };
const { metadata, tensorInfos } = await gguf(path.resolve(process.argv[2]), { allowLocalFile: true });
console.log(`general.file_type ${metadata["general.file_type"]}`);
for (const t of tensorInfos) console.log(`${t.name} ${NAMES[t.dtype] ?? "type" + t.dtype}`);
