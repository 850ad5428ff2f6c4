/* qatc io/export: writes the learned integers of a QAT model (its Linear
 * layers with quantizers, frozen by qt_freeze: codes + effective scales,
 * never recomputed) to deployment formats, and imports real checkpoints.
 *
 * GGUF (llama.cpp): each quantized Linear is written at the ggml type that
 * holds its spec exactly (qt_ggml_type_of_spec), so a per-tensor mixture
 * (a preset, overrides) is one file of several types:
 *   SYM 8-bit, group 32       → Q8_0 (d = the fp16 scale, qs = the codes)
 *   SYM 4 / 5-bit, group 32   → Q4_0 / Q5_0 (stored code = code + 8 / 16)
 *   FLOAT_MIN 4 / 5-bit, g32  → Q4_1 / Q5_1 (d, m = the fp16 scale and min)
 *   a K type's own layout     → Q2_K..Q6_K (the frozen fp16 super-block scales,
 *                               integer sub-scales and mins, codes)
 * and every scale (and min) must be an fp16 value; a grid no type holds is
 * refused, naming the tensor. An export `type` instead writes every
 * quantized Linear at that one type: "F32" the dequantized weights (exact),
 * "F16" only when they are fp16 values, a block type only when it holds
 * the tensor's grid.
 * A spec the requested type cannot hold is refused with a message naming
 * the tensor and the mismatch, unless `requantize` is set: then that tensor
 * is re-quantized from its float master weights with llama.cpp's reference
 * rounding (the QAT gain may be lost; the exporter says so on stderr).
 * Unquantized tensors (embedding, norms, skipped Linears) are F32, or F16
 * with `float_f16` (norms stay F32). Our rope rotates adjacent pairs like
 * llama.cpp's "llama" arch, so for llama/mistral q/k rows are written
 * unpermuted; qwen2/qwen3 (llama.cpp arch "qwen2"/"qwen3", NEOX rope) get
 * q/k rows, q/k biases and q/k norm weights in HF's half-split order.
 * Per family (qt_gguf_arch_of): keys "ARCH.*", attention.key_length /
 * value_length when the head size is not dim/heads, blk.N.attn_{q,k,v}.bias
 * (qwen2), blk.N.attn_{q,k}_norm.weight (qwen3), rope_freqs.weight (llama3
 * rope scaling: the frequency divisors; llama.cpp reads it only for arch
 * "llama", so qwen2/qwen3 with rope scaling are refused). A tied model has
 * no output.weight (llama.cpp multiplies by token_embd, written at the
 * output Linear's type).
 *
 * GGUF tokenizer (tokenizer.ggml.*): written from the tokenizer's GGUF view
 * (qd_tokenizer_vocab_view, data/tokenizer.h): model, pre (when set),
 * tokens, scores (when set), token_type, merges (always for "gpt2", which
 * llama.cpp refuses without the key; an empty array when there are none),
 * bos/eos/unknown/padding ids when the tokenizer has them, add_bos_token and
 * add_eos_token always (explicit false included). Model vocabulary rows
 * beyond the tokenizer's tokens are UNUSED "<extra_N>" tokens; a tokenizer
 * larger than the model's vocabulary is refused.
 * The byte tokenizer (opts.tokenizer NULL) is "gpt2", pre "qwen2" (any
 * split is the same without merges; llama.cpp's detokenizer keeps spaces
 * before punctuation for it, unlike "default"), 256 tokens in GPT-2's
 * byte-to-unicode form, no merges: llama.cpp's text path (llama-cli,
 * llama-server, Ollama) then tokenizes any valid UTF-8 text to exactly its
 * bytes and detokenizes ids to exactly those bytes (tests/cli/llamacpp_text.sh;
 * SentencePiece "<0xNN>" tokens would get a U+2581 prefix space and every
 * space turned into E2 96 81). It has no BOS
 * and no EOS of its own: add_bos_token is written false, and
 * eos_token_id = 10 ('\n'), the stop byte of qatc's suites (data/suites.h),
 * so llama.cpp's generation ends at the end of a line, as qatc's greedy
 * decoding does. Without the key llama.cpp would take its BPE default
 * bos = eos = 11 (byte 0x0B, vertical tab), which text never produces, so
 * generation would run to the token limit (both checked with llama.cpp
 * 0.5.0). Either way llama.cpp logs "special_eos_id is not in
 * special_eog_ids" at load (it knows EOG tokens by their text); harmless.
 * Any other tokenizer without an EOS (e.g. one trained by qat_tokenizer)
 * gets the same rule: eos_token_id is the token "\n" encodes to, when it is
 * a single token.
 * No BOS key is written (llama.cpp's default 11 is never used with
 * add_bos_token false).
 *
 * AWQ (AutoAWQ GEMM, safetensors + config.json in a directory): every
 * quantized Linear must be ASYM <= 4-bit (or SYM <= 4-bit, written exactly
 * as code + 8 with zero point 8) with a group of 32, 64 or 128 and fp16
 * scales; qweight/qzeros int32 packed along the output dimension in the AWQ
 * order [0, 2, 4, 6, 1, 3, 5, 7], scales fp16 [in/g, out]; HF names of the
 * family; q/k rows permuted to HF's half-split rope. Other tensors fp16.
 * A quantized output layer is refused (HF's AWQ loader never converts lm_head).
 *
 * GPTQ and compressed-tensors (io/export_gptq.c; a directory with
 * model.safetensors, config.json with quantization_config, and the tokenizer
 * files as for HF): every quantized Linear's frozen codes and fp16 scales go
 * in as they are, never re-quantized; one bits and one group for the whole
 * model; FLOAT_MIN, non-fp16 scales and a quantized output layer (or tied
 * embedding; these loaders never convert lm_head) are refused naming the
 * tensor. Layouts (checked against the published sources: AutoGPTQ
 * qlinear_cuda_old.py pack/forward, compressed-tensors pack_quantized.py,
 * quant_args.py and utils/helpers.py calculate_range):
 *  - GPTQ, bits 2/3/4/8: qweight int32 [in·bits/32, out]: the codes of one
 *    output column, input i at bit bits·i of a little-endian bit stream of
 *    32-bit words (2/4/8 bits: 32/bits codes per word at shifts 0, bits, ...;
 *    3 bits: 32 codes per 3 words, codes 10 and 21 straddling words, exactly
 *    AutoGPTQ's layout); qzeros int32 [ceil(in/g), out·bits/32] the same
 *    stream along the output dim; scales fp16 [ceil(in/g), out]; g_idx int32
 *    [in] = i / g (qatc's groups are contiguous, also after GPTQ act-order,
 *    so desc_act is false). W = s·(q − z). checkpoint_format "gptq" (v1,
 *    AutoGPTQ, the default of transformers/vLLM): qzeros hold z − 1 (the
 *    kernels add 1), so z = 0 cannot be stored and is refused naming the
 *    tensor; "gptq_v2" (GPTQModel) holds z. Sym layers are codes + 2^(b−1)
 *    with z = 2^(b−1) (4-bit: 7 in v1, 8 in v2). in and out must be
 *    multiples of 32 (AutoGPTQ sizes both packed dims as n // 32 · bits).
 *    Also quantize_config.json (bits, group_size, damp_percent 0.01,
 *    desc_act, static_groups, sym, true_sequential, checkpoint_format).
 *  - compressed-tensors "pack-quantized", bits 2..8: weight_packed int32
 *    [out, ceil(in/(32 div bits))]: floor(32/bits) values per word along the
 *    input dim at shifts 0, bits, ... (zero padded), each value the signed
 *    int code plus 2^(b−1) (the int range is signed [−2^(b−1), 2^(b−1)−1]
 *    for sym and asym alike, so our unsigned asym code is stored as is);
 *    weight_scale fp16 [out, in/g]; asym: weight_zero_point int32
 *    [ceil(out/(32 div bits)), in/g], the signed zero + 2^(b−1) (= our z)
 *    packed along the output dim; weight_shape int64 [2] = [out, in].
 *    W = s·(q − zp). Strategy "group" (or "channel" for one group per row),
 *    ignore ["lm_head"].
 *
 * HF (a Hugging Face directory: model.safetensors, config.json of the
 * family, tokenizer.json and tokenizer_config.json copied from the run's
 * tokenizer when it was read from a tokenizer.json): type F32, F16 or BF16
 * (default BF16); a quantized Linear is written as the weights it computes
 * with (its frozen grid dequantized), refused when the type cannot hold
 * them exactly unless `requantize` (then rounded, with a warning). */
#ifndef QATC_IO_EXPORT_H
#define QATC_IO_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "data/tokenizer.h"
#include "nn/model.h"
#include "quant/quant.h"
#include "store/safetensors.h"

typedef struct qt_export_opts {
    const char *type;     /* GGUF: "F32", "F16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K".."Q6_K";
                             NULL = each quantized Linear at the type that holds its spec */
    int file_type;        /* GGUF general.file_type (LLAMA_FTYPE_MOSTLY_*, e.g. 15 for a Q4_K_M preset);
                             0 = that of the type most weights are written in */
    int float_f16;        /* unquantized 2-D tensors as F16 (GGUF) */
    int requantize;       /* re-quantize specs the type cannot hold instead of refusing */
    const char *name;     /* general.name / model name; NULL = "qatc" */
    const char *config_json; /* hdf5 export: effective config stored with the checkpoint (may be NULL) */
    const qd_tokenizer *tokenizer; /* GGUF: the tokenizer written as tokenizer.ggml.*; NULL = the byte tokenizer;
                                      HF/GPTQ/compressed-tensors: its tokenizer.json is copied */
    const char *checkpoint_format; /* gptq: "gptq" (v1, NULL) or "gptq_v2" */
} qt_export_opts;

/* 1 if type is one a GGUF export writes (F32, F16, Q8_0, Q4_0, Q4_1, Q5_0,
 * Q5_1, Q2_K..Q6_K). */
int qt_export_gguf_type_ok(int type);
/* Writes m (llama arch) as a GGUF file. Returns 0, or -1 with a one-line
 * message in err. */
int qt_export_gguf(const qt_model *m, const qt_export_opts *o, const char *path, char *err, size_t errlen);

/* Writes m as an AutoAWQ GEMM checkpoint into directory dir (created when
 * absent): dir/model.safetensors and dir/config.json. o->requantize re-grids
 * a non-AWQ spec to asym 4-bit (group 128, or the spec's group when it is
 * 32/64/128) from the float master weights. Returns 0 or -1. */
int qt_export_awq(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen);

/* Writes m as a GPTQ checkpoint (v1 or v2 by o->checkpoint_format) into
 * directory dir (see above). Returns 0, or -1 naming the tensor. */
int qt_export_gptq(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen);
/* Writes m as a compressed-tensors pack-quantized checkpoint into dir. 0 or -1. */
int qt_export_ct(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen);
/* Before any work: 0 when format fmt ("gptq", "compressed-tensors", "awq") can
 * hold a Linear [rows, cols] quantized with spec s exactly, else -1 with the
 * reason in why (one line, no tensor name). */
int qt_export_spec_check(const char *fmt, const qt_quant_spec *s, int rows, int cols, char *why, size_t len);

/* Writes m as a Hugging Face directory (see above). Returns 0 or -1. */
int qt_export_hf(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen);
/* llama.cpp's architecture name of a family ("llama" for llama/mistral). */
const char *qt_gguf_arch_of(qt_arch a);

/* The GGUF tensor name qt_export_gguf gives Linear j of m (m->linears[j]):
 * blk.N.attn_q / attn_k / attn_v / attn_output / ffn_gate / ffn_down / ffn_up
 * .weight, output.weight, or token_embd.weight for a tied output layer.
 * Returns 0, or -1 for the mlp arch or j out of range. */
int qt_gguf_linear_name(const qt_model *m, int j, char *buf, size_t len);

/* ---- llama.cpp importance matrix (io/export_imatrix.c) ----
 * The GGUF file `llama-imatrix -o imatrix.gguf` writes (tools/imatrix and
 * common/imatrix-loader in llama.cpp), which `llama-quantize --imatrix`
 * reads: general.type "imatrix", imatrix.datasets (string array),
 * imatrix.chunk_count and imatrix.chunk_size (u32; llama-quantize refuses a
 * GGUF imatrix without these three keys), no general.architecture; per
 * weight W (its GGUF tensor name) the F32 tensors W.in_sum2, ne [in, 1]: Σ x²
 * per input column over every token the matmul saw, and W.counts, ne [1, 1]:
 * the number of those tokens; tensors in name order. llama-quantize uses
 * in_sum2 / counts (in float) as the importance of each column. The
 * optional W.in_sum (Σ x, statistics only) is not written. */
typedef struct qt_imatrix_entry {
    const char *name;      /* GGUF name of the weight (qt_gguf_linear_name) */
    int in;                /* input columns */
    const double *sq_sum;  /* [in] Σ x² per input column */
    long count;            /* tokens summed */
} qt_imatrix_entry;

/* Writes n entries (unique names) as an imatrix GGUF file at path, with
 * datasets[0..n_datasets) as imatrix.datasets. Returns 0, or -1 with a
 * one-line message naming the file or entry. */
int qt_export_imatrix(const qt_imatrix_entry *e, int n, const char *const *datasets, int n_datasets,
                      uint32_t chunk_count, uint32_t chunk_size, const char *path, char *err, size_t errlen);

/* ---- Hugging Face layout (io/hf.c, io/export_hf.c) ---- */

/* The Hugging Face name of a qatc parameter ("layers.0.attention.wq.weight"
 * → "model.layers.0.self_attn.q_proj.weight") into buf; NULL when unknown. */
const char *qt_hf_name(const char *qatc_name, char *buf, size_t len);
/* Row r of HF's half-split rope layout within a q/k weight of `heads` heads
 * of size hd comes from our (llama.cpp, adjacent pairs) row
 * qt_hf_rope_row(r, hd): within a head, HF row j·hd/2 + i is our row 2i + j. */
int qt_hf_rope_row(int r, int hd);
/* The head size when parameter `name` of m is stored in rope order (q/k
 * weights and biases: rows; q/k norm weights: elements), else 0. */
int qt_hf_rope_hd(const qt_model *m, const char *name);
/* The quantization_config of a Hugging Face checkpoint, as import reads it. */
typedef enum { QT_HFQ_NONE, QT_HFQ_AWQ, QT_HFQ_GPTQ, QT_HFQ_CT } qt_hfq_kind;
typedef struct qt_hf_quant {
    qt_hfq_kind kind;
    int bits;
    int group;  /* weights per group; -1 = one group per row */
    int sym;    /* compressed-tensors: no weight_zero_point */
    int v2;     /* GPTQ: qzeros hold z (checkpoint_format "gptq_v2"), else z - 1 (v1) */
} qt_hf_quant;

/* A model config from a Hugging Face config.json text (path for messages):
 * model_type llama, mistral, qwen2 or qwen3; what changes the math and qatc
 * does not implement (hidden_act other than silu, rope_scaling other than
 * llama3, attention/mlp biases outside qwen2, quantization_config,
 * pretraining_tp > 1, other families' multipliers) is refused by name; a
 * quantization_config (into *q; kind QT_HFQ_NONE without one) only as AutoAWQ
 * GEMM 4-bit with zero points and group 32/64/128, GPTQ (bits 2/3/4/8, any
 * group_size or -1, checkpoint_format "gptq" = v1 when absent, or
 * "gptq_v2"), or compressed-tensors "pack-quantized" with one config group
 * of int weights (1..8 bits, strategy group or channel) and no activation
 * quantization. A sliding window caps ctx (within it attention is plain
 * causal). 0, or -1 with a one-line message. */
int qt_hf_config_parse(const char *text, const char *path, qt_model_cfg *c, qt_hf_quant *q, char *err, size_t errlen);
/* qt_hf_config_parse of the file at path, then qt_model_cfg_check. */
int qt_hf_config_read(const char *path, qt_model_cfg *c, qt_hf_quant *q, char *err, size_t errlen);
/* The distinct shard file names of a model.safetensors.index.json text
 * (path for messages): every weight_map value must be a plain file name. */
typedef struct {
    char **files;
    int n;
} qt_hf_shards;
int qt_hf_index_parse(const char *text, const char *path, qt_hf_shards *out, char *err, size_t errlen);
void qt_hf_shards_free(qt_hf_shards *s);
/* config.json of m's family as a new cJSON object (NULL for mlp). */
struct cJSON *qt_hf_config_json(const qt_model *m, const char *torch_dtype);
/* Writes qt_hf_config_json(m) plus quant_config (taken over; may be NULL) to path. */
int qt_hf_write_config(const qt_model *m, struct cJSON *quant_config, const char *torch_dtype, const char *path,
                       char *err, size_t errlen);
/* Writes JSON j (taken over) to path atomically, indented, with a final newline. 0 or -1. */
int qt_hf_write_json(struct cJSON *j, const char *path, char *err, size_t errlen);
/* Adds float tensor w [shape] to st as dtype dt (F32, F16, BF16; round to
 * nearest even), rows in HF order when rope_hd > 0 (elements of a 1-D tensor). */
int qt_hf_add_float(qt_safetensors *st, const char *name, const float *w, int ndim, const int64_t *shape, int rope_hd,
                    qt_st_dtype dt, char *err, size_t errlen);

/* ---- quantized Hugging Face directories (io/export_hf.c: the driver of the
 * AWQ, GPTQ and compressed-tensors exports) ---- */

/* What every quantized Linear of one export shares. */
typedef struct qt_hf_qsum {
    int bits;   /* the first quantized Linear's (all of them when the format has one bits) */
    int group;  /* weights per group, -1 = one group per row (per-channel or per-tensor) */
    int sym;    /* every quantized Linear has a SYM grid */
    const qt_model *model;
} qt_hf_qsum;

/* One quantized format for qt_hf_export_quant. */
typedef struct qt_hf_qformat {
    const char *what;  /* "awq export", the start of every message */
    int one_bits;      /* every quantized Linear must have the same bits */
    int all_linears;   /* every Linear but the output layer must be quantized */
    /* why the frozen weight cannot be written exactly (one line into why), or 0 */
    int (*mismatch)(const qt_qweight *qw, const void *ctx, char *why, size_t len);
    /* with o->requantize: a grid the format holds, from the float weights
     * (NULL with a message on error); a NULL hook refuses requantize */
    qt_qweight *(*requant)(const qt_tensor *w, const qt_quantizer *q, char *err, size_t errlen);
    const char *requant_what; /* "asym 4-bit", for the warning */
    /* adds the tensors of module (HF name without ".weight"), rows in HF order when rope_hd > 0 */
    int (*add_linear)(qt_safetensors *st, const char *module, const qt_qweight *qw, int rope_hd, const qt_hf_qsum *s,
                      const void *ctx, char *err, size_t errlen);
    /* config.json's quantization_config (a new object) */
    struct cJSON *(*quant_config)(const qt_hf_qsum *s, const void *ctx);
    /* more files into dir (may be NULL), after config.json */
    int (*extra)(const char *dir, const qt_hf_qsum *s, const void *ctx, char *err, size_t errlen);
    const void *ctx;
} qt_hf_qformat;

/* Writes m into directory dir as format f: quantized Linears through f (the
 * whole model checked before the directory is made), every other tensor fp16
 * in HF names and rope order, config.json (torch_dtype float16) with f's
 * quantization_config, the tokenizer files (o->tokenizer), f's extra files.
 * A quantized output layer (or tied embedding) is refused: these loaders
 * keep lm_head in float. Returns 0, or -1 with a message naming the tensor. */
int qt_hf_export_quant(const qt_model *m, const qt_export_opts *o, const char *dir, const qt_hf_qformat *f, char *err,
                       size_t errlen);
/* Copies tokenizer.json (and tokenizer_config.json) of t into dir when t was
 * read from a tokenizer.json; a note on stderr otherwise. 0 or -1. */
int qt_hf_write_tokenizer(const qd_tokenizer *t, const char *dir, const char *what, char *err, size_t errlen);

/* ---- import (io/import.c) ---- */

/* A GGUF file (arch "llama", "qwen2" or "qwen3"; F32, F16, BF16, Q8_0, Q4_0, Q4_1 tensors) as a
 * deployed model: weights dequantized; per Linear the input rounding that
 * llama.cpp's CPU backend applies to its tensor type (qt_ggml_vec_dot_type:
 * Q8_0/Q4_0 → Q8_0, Q4_1 → Q8_1, F16 → F16; none for F32/BF16). Turn it off
 * with qt_model_clear_input_types. rope_freqs.weight (arch "llama" only) is
 * read as llama3 rope scaling: the config gets parameters that give its
 * divisors back (low_freq_factor 1; bit for bit for files qatc writes so,
 * within 1e-6 relative otherwise, else refused) and the model computes with
 * the file's divisors themselves. NULL with a message on error. */
qt_model *qt_import_gguf(const char *path, char *err, size_t errlen);

/* A Hugging Face checkpoint directory of a decoder family (config.json, see
 * qt_hf_config_parse, plus model.safetensors, or model.safetensors.index.json
 * and its shards, every named shard present; F32, F16 or BF16 tensors,
 * shapes as config.json says, finite) as a float model; q/k rows are
 * permuted from HF's half-split rope to ours. An AutoAWQ GEMM checkpoint
 * (qt_export_awq's form) is read with its Linears dequantized,
 * w = (q - z)·s; so are GPTQ v1/v2 (groups by g_idx when present, z = the
 * stored zero + 1 in v1) and compressed-tensors pack-quantized checkpoints
 * (weight_g_idx when present), the layouts of qt_export_gptq / qt_export_ct;
 * a Linear stored as a float weight is read as one. A path to a .safetensors file
 * reads config.json beside it. NULL with a message on error. */
qt_model *qt_import_hf(const char *path, char *err, size_t errlen);

/* 1 when qt_import_model reads path as a foreign checkpoint (.gguf,
 * .safetensors, a directory), 0 for anything else (a qatc .h5). */
int qt_import_is_foreign(const char *path);
/* The model config of a foreign checkpoint without its tensors (HF:
 * config.json; GGUF: metadata and shapes), and in tok_path (tok_len > 0)
 * the tokenizer that comes with it: dir/tokenizer.json when present, the
 * .gguf itself when it has tokenizer.ggml.tokens; "" when none. 0 or -1. */
int qt_import_model_cfg(const char *path, qt_model_cfg *c, char *tok_path, size_t tok_len, char *err, size_t errlen);
/* A float base model from path: a .gguf file (qt_import_gguf, weights
 * dequantized), an HF directory or .safetensors file (qt_import_hf). */
qt_model *qt_import_model(const char *path, char *err, size_t errlen);

#endif
