/* qatc config: the schema table (every key of config.json), the cross-field
 * rules and the derived defaults. run/config.c walks this table to validate,
 * to write the effective config and to print docs/config.md. */
#include "run/config_schema.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/export.h"
#include "quant/ggml_blocks.h"
#include "run/plan.h"

/* Choices of keys whose values are enums of the layers below, in their order. */
_Static_assert(QT_ARCH_LLAMA == 0 && QT_ARCH_MLP == 1 && QT_ARCH_MISTRAL == 2 && QT_ARCH_QWEN2 == 3 &&
               QT_ARCH_QWEN3 == 4 && QT_N_ARCHS == 5, "model.arch choices");
_Static_assert(QT_SCHED_CONSTANT == 0 && QT_SCHED_COSINE == 1, "schedule choices");
_Static_assert(QT_GRID_SYM == 0 && QT_GRID_ASYM == 1 && QT_GRID_FLOAT_MIN == 2 && QT_GRID_IQ4_NL == 3 &&
                   QT_GRID_MXFP4 == 4 && QT_N_GRIDS == 5, "quant.weights.grid choices");
_Static_assert(QT_INIT_ABSMAX == 0 && QT_INIT_MSE == 1, "quant.weights.init choices");
_Static_assert(QT_PRESET_NONE == 0 && QT_PRESET_Q2_K == 1 && QT_PRESET_Q3_K_M == 2 && QT_PRESET_Q4_K_S == 3 &&
               QT_PRESET_Q4_K_M == 4 && QT_PRESET_Q5_K_M == 5 && QT_PRESET_Q6_K == 6 && QT_PRESET_Q8_0 == 7 &&
               QT_PRESET_Q4_0 == 8 && QT_N_PRESETS == 9, "quant.preset choices");
_Static_assert(QT_ACT_NONE == 0 && QT_ACT_PER_TOKEN == 1 && QT_ACT_STATIC == 2 && QT_ACT_Q8_BLOCKS == 3,
               "quant.activations.mode choices");

static const char *const ARCHS[] = {"llama", "mlp", "mistral", "qwen2", "qwen3", NULL};
static const char *const SCHEDULES[] = {"constant", "cosine", NULL};
static const char *const GRIDS[] = {"sym", "asym", "float_min", "iq4_nl", "mxfp4", NULL};
static const char *const SCALES[] = {"lsq", "fixed", NULL};
static const char *const SCALE_INITS[] = {"absmax", "mse", NULL};
static const char *const WTYPES[] = {"none", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                                     "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "MXFP4", NULL};
static const char *const PRESETS[] = {"none", "Q2_K", "Q3_K_M", "Q4_K_S", "Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0", "Q4_0",
                                      NULL};
static const char *const ACT_MODES[] = {"none", "per_token_dynamic", "static", "q8_0_blocks", NULL};
static const char *const PTQ_METHODS[] = {"rtn", "gptq", "awq", "smoothquant", "llamacpp", NULL};
static const char *const CALIB_SOURCES[] = {"train", "text", "file", NULL};
static const char *const INIT_FROM[] = {"none", "rtn", "gptq", "awq", "smoothquant", NULL};
static const char *const EXPORT_FORMATS[] = {"gguf", "awq", "hdf5", "hf", "gptq", "compressed-tensors", "imatrix",
                                             NULL};
static const char *const GPTQ_FORMATS[] = {"gptq", "gptq_v2", NULL};
static const char *const TRAIN_SUITES[] = {"arith", "recall", NULL};
static const char *const EVAL_SUITES[] = {"text", "arith", "recall", "kl", NULL};

#define I_MAX 2147483647.0
#define RANGE(lo, hi) .flags = QT_F_MIN | QT_F_MAX, .min = (lo), .max = (hi)
#define RANGE_OC(lo, hi) .flags = QT_F_MIN | QT_F_MIN_OPEN | QT_F_MAX, .min = (lo), .max = (hi)
#define GT0 .flags = QT_F_MIN | QT_F_MIN_OPEN, .min = 0
#define GE0 .flags = QT_F_MIN, .min = 0

#define INT(p, st, m, d, lo, hi, doc) \
    { .path = p, .type = QT_FT_INT, RANGE(lo, hi), .off = offsetof(st, m), .def = d, .meaning = doc }
#define NUM(p, st, m, d, rng, doc) \
    { .path = p, .type = QT_FT_NUM, rng, .off = offsetof(st, m), .def = d, .meaning = doc }
#define BOOL(p, st, m, d, doc) \
    { .path = p, .type = QT_FT_BOOL, .off = offsetof(st, m), .def = d, .meaning = doc }
#define ENUM(p, st, m, ch, d, doc) \
    { .path = p, .type = QT_FT_ENUM, .off = offsetof(st, m), .choices = ch, .def = d, .meaning = doc }
#define OBJ(p, st, m, doc) \
    { .path = p, .type = QT_FT_OBJ, .off = offsetof(st, m), .meaning = doc }

static int check_train_source(void *item, const cJSON *obj, char *msg, size_t len);

const qt_cfg_field qt_cfg_schema[] = {
    INT("seed", qt_config, seed, "1", 0, I_MAX, "seed of every random choice (init, batches, suites)"),
    INT("threads", qt_config, threads, "2", 1, 256, "OpenMP / BLAS threads"),
    { .path = "out_dir", .type = QT_FT_STR, .flags = QT_F_REQUIRED, .off = offsetof(qt_config, out_dir),
      .meaning = "run directory: checkpoints, logs, report.json, exports" },

    OBJ("model", qt_config, model, "model shape; with a Hugging Face or GGUF model.init every shape key comes from "
        "that checkpoint (a key given here must agree with it)"),
    ENUM("model.arch", qt_cfg_model, arch, ARCHS, "\"llama\"",
         "decoder family, named after Hugging Face's model_type (RMSNorm, RoPE, SwiGLU, GQA): llama (Llama 1/2/3, "
         "SmolLM), mistral, qwen2 (q/k/v biases), qwen3 (per-head q/k RMSNorm); mlp: a small MLP LM"),
    INT("model.dim", qt_cfg_model, dim, "256", 8, 16384, "model width (embedding size)"),
    INT("model.layers", qt_cfg_model, layers, "4", 1, 256, "number of blocks"),
    INT("model.heads", qt_cfg_model, heads, "4", 1, 1024, "attention heads (llama)"),
    { .path = "model.kv_heads", .type = QT_FT_INT, .flags = QT_F_MIN | QT_F_MAX | QT_F_DERIVED,
      .min = 1, .max = 1024, .off = offsetof(qt_cfg_model, kv_heads), .doc_default = "= `model.heads`",
      .meaning = "key/value heads (grouped-query attention when fewer than heads)" },
    INT("model.ffn", qt_cfg_model, ffn, "704", 1, 1048576, "hidden width of the feed-forward block"),
    { .path = "model.head_dim", .type = QT_FT_INT, .flags = QT_F_MIN | QT_F_MAX | QT_F_DERIVED, .min = 2, .max = 1024,
      .off = offsetof(qt_cfg_model, head_dim), .doc_default = "= `model.dim / model.heads`",
      .meaning = "size of one attention head (Qwen3 and Mistral Nemo set their own)" },
    BOOL("model.tie_embeddings", qt_cfg_model, tied, "false",
         "the output layer multiplies by the embedding matrix (one tensor, quantized once when not skipped)"),
    INT("model.sliding_window", qt_cfg_model, sliding_window, "0", 0, 1 << 30,
        "mistral/qwen2 sliding-window attention span; 0 = none; model.ctx must not exceed it"),
    OBJ("model.rope_scaling", qt_cfg_model, rope, "Llama 3 rope scaling (rope_scaling type \"llama3\")"),
    NUM("model.rope_scaling.factor", qt_cfg_rope, factor, "0", GE0, "frequency divisor of long wavelengths; 0 = none"),
    NUM("model.rope_scaling.low_freq_factor", qt_cfg_rope, low_freq, "1", GT0, "low_freq_factor"),
    NUM("model.rope_scaling.high_freq_factor", qt_cfg_rope, high_freq, "4", GT0, "high_freq_factor"),
    INT("model.rope_scaling.original_ctx", qt_cfg_rope, orig_ctx, "8192", 1, I_MAX,
        "original_max_position_embeddings"),
    INT("model.ctx", qt_cfg_model, ctx, "256", 8, 1 << 20, "context of training, calibration and evaluation windows, in tokens"),
    { .path = "model.max_ctx", .type = QT_FT_INT, .flags = QT_F_MIN | QT_F_MAX | QT_F_DERIVED, .min = 8, .max = I_MAX,
      .off = offsetof(qt_cfg_model, max_ctx), .doc_default = "= `model.ctx` (a checkpoint's own)",
      .meaning = "positions the model supports (exported as GGUF context_length / HF max_position_embeddings)" },
    INT("model.vocab", qt_cfg_model, vocab, "256", 2, 1048576, "vocabulary size"),
    NUM("model.rope_theta", qt_cfg_model, rope_theta, "10000", GT0, "RoPE base frequency"),
    NUM("model.norm_eps", qt_cfg_model, norm_eps, "1e-05", GT0, "RMSNorm epsilon"),
    { .path = "model.init", .type = QT_FT_PATH, .flags = QT_F_DIR_OK, .off = offsetof(qt_cfg_model, init),
      .meaning = "FP32 base checkpoint to start from: a qatc .h5, a Hugging Face directory (config.json, "
                 "model.safetensors or a sharded index; F32/F16/BF16) or .safetensors file, or a .gguf "
                 "(F32/F16/BF16/Q8_0/Q4_0/Q4_1, dequantized); when absent, section base pre-trains one" },

    OBJ("data", qt_config, data, "training and validation data"),
    { .path = "data.train", .type = QT_FT_OBJLIST, .flags = QT_F_REQUIRED | QT_F_NONEMPTY,
      .off = offsetof(qt_cfg_data, train), .off_count = offsetof(qt_cfg_data, n_train),
      .item_size = sizeof(qt_cfg_source), .sub = "file", .item_check = check_train_source,
      .meaning = "training sources, mixed by weight; each item is a text file path or an object "
                 "with exactly one of file, suite, jsonl" },
    { .path = "data.train[].file", .type = QT_FT_PATH, .off = offsetof(qt_cfg_source, file),
      .meaning = "text file (bytes)" },
    ENUM("data.train[].suite", qt_cfg_source, suite, TRAIN_SUITES, NULL,
         "synthetic capability suite, generated from seed"),
    { .path = "data.train[].jsonl", .type = QT_FT_PATH, .off = offsetof(qt_cfg_source, jsonl),
      .meaning = "JSONL file of examples (one JSON object per line)" },
    { .path = "data.train[].weight", .type = QT_FT_NUM, GT0, .off = offsetof(qt_cfg_source, weight),
      .def = "1", .doc_default = "`1` (`0.1` for a suite)",
      .meaning = "mixing weight, relative to the other sources" },
    { .path = "data.val", .type = QT_FT_PATH, .off = offsetof(qt_cfg_data, val),
      .meaning = "validation text; when absent, a val_fraction share of the train text is held out" },
    NUM("data.val_fraction", qt_cfg_data, val_fraction, "0.05", RANGE_OC(0, 0.5),
        "share of the train text held out for validation when data.val is absent"),
    { .path = "data.tokenizer", .type = QT_FT_STR, .off = offsetof(qt_cfg_data, tokenizer), .def = "\"byte\"",
      .meaning = "\"byte\" (one token per byte, vocab 256), a Hugging Face tokenizer.json (tokenizer_config.json "
                 "beside it), or a .gguf whose tokenizer.ggml.* is used; its vocabulary must equal model.vocab; "
                 "used by every text path (training text, suites, calibration, evaluation)" },
    { .path = "data.cache_dir", .type = QT_FT_STR, .flags = QT_F_DERIVED, .off = offsetof(qt_cfg_data, cache_dir),
      .doc_default = "`<out_dir>/cache`", .meaning = "cache of tokenized data" },

    OBJ("base", qt_config, base, "FP32 pre-training, run only when model.init is absent"),
    INT("base.steps", qt_cfg_base, steps, "1000", 0, 1e9, "optimizer steps"),
    INT("base.batch", qt_cfg_base, batch, "16", 1, 65536, "sequences per step"),
    NUM("base.lr", qt_cfg_base, lr, "0.001", GT0, "peak AdamW learning rate"),
    NUM("base.weight_decay", qt_cfg_base, weight_decay, "0.1", GE0, "AdamW decoupled weight decay"),
    INT("base.warmup", qt_cfg_base, warmup, "50", 0, 1e9, "linear warmup steps"),
    ENUM("base.schedule", qt_cfg_base, schedule, SCHEDULES, "\"cosine\"", "learning-rate schedule after warmup"),
    NUM("base.clip", qt_cfg_base, clip, "1", GE0, "gradient norm clipping; 0 = off"),

    OBJ("quant", qt_config, quant, "what is quantized and how"),
    OBJ("quant.weights", qt_cfg_quant, weights, "weight quantizer of every Linear weight not skipped"),
    INT("quant.weights.bits", qt_cfg_wquant, bits, "4", 2, 8, "bits per weight"),
    INT("quant.weights.group", qt_cfg_wquant, group, "32", 0, 1048576,
        "weights per scale along the input dimension; 0 = one group per row"),
    ENUM("quant.weights.grid", qt_cfg_wquant, grid, GRIDS, "\"sym\"",
         "sym: signed levels, scale only; asym: integer zero point; float_min: scale and float minimum (GGUF Q4_1); "
         "iq4_nl: llama.cpp's 16 non-uniform levels times a scale of either sign; mxfp4: E2M1 values times a "
         "power-of-two (E8M0) scale; both 4 bits"),
    ENUM("quant.weights.scale", qt_cfg_wquant, scale, SCALES, "\"lsq\"",
         "lsq: scales (and offsets) learned with LSQ; fixed: kept at their initial value"),
    ENUM("quant.weights.init", qt_cfg_wquant, init, SCALE_INITS, "\"mse\"",
         "scale initialiser: group absmax, or the MSE-optimal clipping search"),
    BOOL("quant.weights.fp16_scales", qt_cfg_wquant, fp16_scales, "true",
         "round scales to fp16 in the forward (STE) so exports reproduce training numbers"),
    ENUM("quant.weights.type", qt_cfg_wquant, type, WTYPES, "\"none\"",
         "a llama.cpp weight type whose grid the weights learn (sets bits, group and grid; given beside it they "
         "must agree): Q4_0 sym 4-bit, Q4_1 float_min 4-bit, Q5_0, Q5_1, Q8_0 sym 8-bit, all groups of 32; K types in "
         "super-blocks of 256 whose group scales (and mins) are themselves quantized: Q2_K float_min 2-bit g16 "
         "(4-bit sub-scales), Q3_K sym 3-bit g16 (6-bit), Q4_K / Q5_K float_min 4 / 5-bit g32 (6-bit), Q6_K sym "
         "6-bit g16 (8-bit); IQ4_NL iq4_nl and MXFP4 mxfp4, 4-bit g32; \"none\": bits, group and grid apply"),
    OBJ("quant.activations", qt_cfg_quant, activations, "activation quantizer (inputs of quantized Linears)"),
    INT("quant.activations.bits", qt_cfg_aquant, bits, "8", 2, 8, "bits per activation"),
    ENUM("quant.activations.mode", qt_cfg_aquant, mode, ACT_MODES, "\"none\"",
         "none: float activations; per_token_dynamic: absmax scale per token at run time; "
         "static: one calibrated scale per tensor; q8_0_blocks: llama.cpp's Q8_0/Q8_1 rounding of matmul "
         "inputs (blocks of 32, fp16 scale), so training sees what llama.cpp computes"),
    { .path = "quant.skip", .type = QT_FT_STRLIST, .off = offsetof(qt_cfg_quant, skip),
      .def = "[\"tok_embeddings.weight\", \"output.weight\"]",
      .meaning = "glob patterns of parameter names kept in float" },
    { .path = "quant.override", .type = QT_FT_MAP, .off = offsetof(qt_cfg_quant, override),
      .off_count = offsetof(qt_cfg_quant, n_override), .item_size = sizeof(qt_cfg_override),
      .sub = "quant.weights", .off_key = offsetof(qt_cfg_override, pattern),
      .off_set = offsetof(qt_cfg_override, set), .off_val = offsetof(qt_cfg_override, w), .def = "{}",
      .meaning = "glob pattern of parameter names -> object with any keys of quant.weights, "
                 "replacing them for matching parameters; later patterns win (bits, group or grid without a type "
                 "give a plain grid)" },
    ENUM("quant.preset", qt_cfg_quant, preset, PRESETS, "\"none\"",
         "a llama-quantize file type: every Linear gets the type llama.cpp's mixture rules choose for it (output "
         "Q6_K, attn_v / ffn_down by layer, the fallback when a row is not a multiple of 256; printed in the plan), "
         "then quant.override applies; quant.weights.type becomes its base type (Q4_K for Q4_K_M) and quant.skip "
         "defaults to [] (the output is quantized, as llama.cpp does)"),

    OBJ("train", qt_config, train, "QAT: training with fake-quantized weights (and activations)"),
    INT("train.steps", qt_cfg_train, steps, "300", 0, 1e9, "optimizer steps"),
    INT("train.batch", qt_cfg_train, batch, "16", 1, 65536, "sequences per step"),
    NUM("train.lr", qt_cfg_train, lr, "0.0001", GT0, "peak AdamW learning rate of the weights"),
    NUM("train.scale_lr", qt_cfg_train, scale_lr, "0.001", GT0,
        "peak learning rate of quantizer scales and offsets (no weight decay); the level grids' scales, whose "
        "levels are 16 (iq4_nl) or 1.6 (mxfp4) scale units apart, take it divided by that spacing"),
    NUM("train.weight_decay", qt_cfg_train, weight_decay, "0", GE0, "AdamW decoupled weight decay of the weights"),
    ENUM("train.schedule", qt_cfg_train, schedule, SCHEDULES, "\"cosine\"", "learning-rate schedule after warmup"),
    INT("train.warmup", qt_cfg_train, warmup, "20", 0, 1e9, "linear warmup steps"),
    NUM("train.clip", qt_cfg_train, clip, "1", GE0, "gradient norm clipping; 0 = off"),
    OBJ("train.distill", qt_cfg_train, distill, "knowledge distillation from the FP32 model"),
    NUM("train.distill.weight", qt_cfg_distill, weight, "0", RANGE(0, 100),
        "weight of the KL(teacher || student) loss added to cross-entropy; 0 = off"),
    NUM("train.distill.temperature", qt_cfg_distill, temperature, "1", GT0, "softmax temperature of the KL term"),
    INT("train.ckpt_every", qt_cfg_train, ckpt_every, "100", 0, 1e9, "checkpoint period in steps; 0 = only at the end"),
    INT("train.eval_every", qt_cfg_train, eval_every, "100", 0, 1e9, "evaluation period in steps; 0 = only at the end"),
    INT("train.log_every", qt_cfg_train, log_every, "10", 1, 1e9, "logging period in steps"),
    ENUM("train.init_from", qt_cfg_train, init_from, INIT_FROM, "\"none\"",
         "none: QAT starts from the FP32 base (RTN scales); a PTQ method (also listed in ptq): "
         "additionally run QAT from that PTQ result (its folded weights and scales), reported as qat_from_ptq"),

    OBJ("suites", qt_config, suites, "parameters of the built-in capability suites, for training and evaluation"),
    OBJ("suites.arith", qt_cfg_suites, arith, "multi-digit arithmetic: \"123+4567=\" -> \"4690\""),
    INT("suites.arith.min_digits", qt_cfg_arith, min_digits, "1", 1, 18, "fewest digits of an operand"),
    INT("suites.arith.max_digits", qt_cfg_arith, max_digits, "4", 1, 18, "most digits of an operand"),
    BOOL("suites.arith.subtraction", qt_cfg_arith, subtraction, "false", "also a - b with a >= b"),
    OBJ("suites.recall", qt_cfg_suites, recall, "key -> value recall: \"k17=v842;...;?k17=\" -> \"v842\""),
    INT("suites.recall.ctx_bytes", qt_cfg_recall, ctx_bytes, "0", 0, 1048576,
        "bytes of context (pairs, query and answer); 0 = min(200, model.ctx)"),
    INT("suites.recall.keys", qt_cfg_recall, keys, "100", 2, 1000000, "number of distinct keys"),
    INT("suites.recall.values", qt_cfg_recall, values, "1000", 1, 1000000000, "number of distinct values"),

    OBJ("eval", qt_config, eval, "evaluation of the FP32, PTQ and QAT models"),
    { .path = "eval.suites", .type = QT_FT_SUITES, .off = offsetof(qt_cfg_eval, suites), .choices = EVAL_SUITES,
      .def = "[\"text\", \"arith\", \"recall\", \"kl\"]",
      .meaning = "text: perplexity and bits per byte; arith, recall: exact-match capability suites; "
                 "kl: KL and top-1 agreement vs FP32; a .jsonl path: exact-match suite from a file" },
    INT("eval.samples", qt_cfg_eval, samples, "200", 1, 1000000, "examples per exact-match suite"),
    INT("eval.val_tokens", qt_cfg_eval, val_tokens, "65536", 1, 1073741824, "validation tokens for text and kl"),
    NUM("eval.max_regression", qt_cfg_eval, max_regression, "0.03", RANGE(0, 1),
        "largest drop of a suite's exact-match accuracy (absolute, e.g. 0.03 = 3 points) below FP32 before the gate fails the run (exit 3)"),

    { .path = "ptq", .type = QT_FT_OBJLIST, .off = offsetof(qt_config, ptq), .off_count = offsetof(qt_config, n_ptq),
      .item_size = sizeof(qt_cfg_ptq), .def = "[{\"method\": \"rtn\"}]",
      .meaning = "post-training quantization baselines, each evaluated like the QAT model" },
    { .path = "ptq[].method", .type = QT_FT_ENUM, .flags = QT_F_REQUIRED, .off = offsetof(qt_cfg_ptq, method),
      .choices = PTQ_METHODS, .meaning = "PTQ algorithm, using the quant spec; llamacpp: what llama-quantize writes "
                 "from the same FP32 base, each Linear at the ggml type holding its spec (bit for bit ggml's algorithm)" },
    INT("ptq[].calib_tokens", qt_cfg_ptq, calib_tokens, "32768", 1, 1073741824,
        "calibration tokens (gptq, awq, smoothquant)"),
    NUM("ptq[].percdamp", qt_cfg_ptq, percdamp, "0.01", RANGE(0, 1),
        "gptq: Hessian dampening as a fraction of its mean diagonal"),
    BOOL("ptq[].act_order", qt_cfg_ptq, act_order, "false",
         "gptq: quantize columns in order of decreasing Hessian diagonal"),
    NUM("ptq[].alpha", qt_cfg_ptq, alpha, "0.5", RANGE(0, 1), "smoothquant: migration strength"),
    BOOL("ptq[].imatrix", qt_cfg_ptq, imatrix, "false",
         "llamacpp: with an importance matrix (mean x² per input column over the calibration data, as "
         "llama-imatrix computes it), as llama-quantize --imatrix uses it (with quant.preset Q4_0, the first "
         "n/8 ffn_down then become Q4_1, as llama.cpp's imatrix rule does)"),

    OBJ("calib", qt_config, calib, "calibration data of the PTQ methods and imatrix exports (windows of model.ctx tokens)"),
    ENUM("calib.source", qt_cfg_calib, source, CALIB_SOURCES, "\"train\"",
         "train: random windows of the training mixture (text and suites by weight); text: the train split of "
         "the text files only; file: windows of calib.file"),
    { .path = "calib.file", .type = QT_FT_PATH, .off = offsetof(qt_cfg_calib, file),
      .meaning = "text file for calib.source \"file\"" },
    INT("calib.seed", qt_cfg_calib, seed, "0", 0, I_MAX, "seed of the calibration windows; 0 = the top-level seed"),

    { .path = "export", .type = QT_FT_OBJLIST, .off = offsetof(qt_config, exports),
      .off_count = offsetof(qt_config, n_exports), .item_size = sizeof(qt_cfg_export), .def = "[]",
      .meaning = "files written from the final quantized model (imatrix: from the FP32 base)" },
    { .path = "export[].format", .type = QT_FT_ENUM, .flags = QT_F_REQUIRED, .off = offsetof(qt_cfg_export, format),
      .choices = EXPORT_FORMATS, .meaning = "gguf: llama.cpp (arch of the family); awq: AutoAWQ safetensors; hdf5: qatc checkpoint; hf: a "
                 "Hugging Face directory (float weights as the quantized model computes them, config.json, tokenizer files); "
                 "gptq: a GPTQ directory (transformers, AutoGPTQ, GPTQModel, vLLM); compressed-tensors: an llm-compressor "
                 "pack-quantized directory (vLLM); both from the learned codes and fp16 scales, the spec checked up front; "
                 "imatrix: llama.cpp's importance matrix (the GGUF file of llama-imatrix, for llama-quantize --imatrix) "
                 "of the FP32 base over the calibration data (calib), per Linear under its GGUF tensor name" },
    { .path = "export[].type", .type = QT_FT_STR, .off = offsetof(qt_cfg_export, type),
      .meaning = "format type: gguf F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K for every quantized Linear (when "
                 "absent, each one at the type that holds its grid: a preset's mixture as llama.cpp writes it); hf "
                 "F32/F16/BF16 (default BF16)" },
    { .path = "export[].path", .type = QT_FT_STR, .flags = QT_F_REQUIRED, .off = offsetof(qt_cfg_export, path),
      .meaning = "output path, relative to out_dir" },
    BOOL("export[].requantize", qt_cfg_export, requantize, "false",
         "re-quantize a tensor the chosen type cannot hold exactly (with a warning) instead of refusing"),
    BOOL("export[].f16", qt_cfg_export, f16, "false", "write unquantized matrices as F16 instead of F32"),
    ENUM("export[].checkpoint_format", qt_cfg_export, checkpoint_format, GPTQ_FORMATS, "\"gptq\"",
         "gptq only: \"gptq\" (v1, AutoGPTQ; what transformers and vLLM read by default: qzeros hold z - 1, so a "
         "zero point 0 is refused) or \"gptq_v2\" (GPTQModel: qzeros hold z)"),
    INT("export[].calib_tokens", qt_cfg_export, calib_tokens, "32768", 1, 1073741824,
        "imatrix only: calibration tokens (windows of model.ctx tokens from calib, as for ptq)"),
};
const size_t qt_cfg_schema_len = sizeof qt_cfg_schema / sizeof qt_cfg_schema[0];

/* data.train item: exactly one of file / suite / jsonl; a suite weighs 0.1
 * unless a weight is given. */
static int check_train_source(void *item, const cJSON *obj, char *msg, size_t len) {
    qt_cfg_source *s = item;
    int n = (s->file != NULL) + (s->suite >= 0) + (s->jsonl != NULL);
    if (n != 1) {
        snprintf(msg, len, "expected exactly one of \"file\", \"suite\", \"jsonl\", got %d", n);
        return -1;
    }
    s->kind = s->file ? QT_CFG_SRC_FILE : s->suite >= 0 ? QT_CFG_SRC_SUITE : QT_CFG_SRC_JSONL;
    if (s->kind == QT_CFG_SRC_SUITE && !cJSON_GetObjectItemCaseSensitive(obj, "weight")) s->weight = 0.1;
    return 0;
}

/* ---- cross-field rules ---- */

static int rule_dim_heads(const qt_config *c, char *msg, size_t len) {
    const qt_cfg_model *m = &c->model;
    if (!qt_arch_is_decoder(m->arch) || m->head_dim * m->heads == m->dim || m->dim % m->heads == 0) return 0;
    snprintf(msg, len, "key \"model.dim\": expected a multiple of model.heads = %d (or a model.head_dim), got %d",
             m->heads, m->dim);
    return -1;
}

static int rule_kv_heads(const qt_config *c, char *msg, size_t len) {
    if (!qt_arch_is_decoder(c->model.arch) || c->model.heads % c->model.kv_heads == 0) return 0;
    snprintf(msg, len, "key \"model.kv_heads\": expected a divisor of model.heads = %d, got %d",
             c->model.heads, c->model.kv_heads);
    return -1;
}

static int rule_head_dim_even(const qt_config *c, char *msg, size_t len) {
    int hd = c->model.head_dim;
    if (!qt_arch_is_decoder(c->model.arch) || hd % 2 == 0) return 0;
    snprintf(msg, len, "key \"model.head_dim\": expected an even head size (RoPE rotates pairs), got %d%s", hd,
             c->model.head_dim * c->model.heads == c->model.dim ? " (model.dim / model.heads)" : "");
    return -1;
}

static int rule_ctx(const qt_config *c, char *msg, size_t len) {
    const qt_cfg_model *m = &c->model;
    if (m->ctx > m->max_ctx) {
        snprintf(msg, len, "key \"model.ctx\": expected at most model.max_ctx = %d (the positions the model "
                 "supports), got %d", m->max_ctx, m->ctx);
        return -1;
    }
    if (m->sliding_window && m->ctx > m->sliding_window) {
        snprintf(msg, len, "key \"model.ctx\": expected at most model.sliding_window = %d (qatc computes plain causal "
                 "attention, which equals sliding-window attention only within the window), got %d",
                 m->sliding_window, m->ctx);
        return -1;
    }
    if (m->rope.factor != 0 && !(m->rope.factor >= 1 && m->rope.high_freq > m->rope.low_freq)) {
        snprintf(msg, len, "key \"model.rope_scaling\": expected factor >= 1 and high_freq_factor > low_freq_factor, "
                 "got factor %g, low %g, high %g", m->rope.factor, m->rope.low_freq, m->rope.high_freq);
        return -1;
    }
    return 0;
}

/* the input sizes of every Linear: dim, ffn and (attention output) heads·head_dim */
static int group_fits(const qt_config *c, int g) {
    const qt_cfg_model *m = &c->model;
    int qd = qt_arch_is_decoder(m->arch) ? m->heads * m->head_dim : m->dim;
    return g == 0 || (m->dim % g == 0 && m->ffn % g == 0 && qd % g == 0);
}

/* "model.dim = D and model.ffn = F" (and the attention width when it differs from dim) */
static void group_sizes(const qt_config *c, char *buf, size_t len) {
    const qt_cfg_model *m = &c->model;
    int qd = m->heads * m->head_dim;
    if (!qt_arch_is_decoder(m->arch) || qd == m->dim)
        snprintf(buf, len, "model.dim = %d and model.ffn = %d", m->dim, m->ffn);
    else
        snprintf(buf, len, "model.dim = %d, model.ffn = %d and model.heads * model.head_dim = %d", m->dim, m->ffn, qd);
}

static int rule_group(const qt_config *c, char *msg, size_t len) {
    char sizes[160];
    group_sizes(c, sizes, sizeof sizes);
    if (!c->quant.weights.type && !c->quant.preset && !group_fits(c, c->quant.weights.group)) {
        snprintf(msg, len, "key \"quant.weights.group\": expected 0 or a divisor of %s, got %d", sizes,
                 c->quant.weights.group);
        return -1;
    }
    for (int i = 0; i < c->quant.n_override; i++) {
        const qt_cfg_override *o = &c->quant.override[i];
        if ((o->set & QT_CFG_WQ_GROUP) && !(o->set & QT_CFG_WQ_TYPE) && !group_fits(c, o->w.group)) {
            snprintf(msg, len, "key \"quant.override[\"%s\"].group\": expected 0 or a divisor of %s, got %d",
                     o->pattern, sizes, o->w.group);
            return -1;
        }
    }
    return 0;
}

/* a type's block (32, or 256 for the K types) must divide every Linear's input */
static int rule_type(const qt_config *c, char *msg, size_t len) {
    const qt_cfg_quant *q = &c->quant;
    if (q->weights.type && !q->preset) { /* a preset falls back per tensor */
        const char *name = WTYPES[q->weights.type];
        int block = qt_ggml_block_size(qt_ggml_type_from_name(name));
        if (!group_fits(c, block)) {
            char sizes[160];
            group_sizes(c, sizes, sizeof sizes);
            snprintf(msg, len, "key \"quant.weights.type\": %s needs Linear input sizes that are multiples of %d, got "
                     "%s; a quant.preset falls back per tensor as llama.cpp does, or override those tensors", name,
                     block, sizes);
            return -1;
        }
        if (!q->weights.fp16_scales && qt_ggml_type_from_name(name) != QT_GGML_MXFP4) {
            snprintf(msg, len, "key \"quant.weights.fp16_scales\": %s stores fp16 scales, got false", name);
            return -1;
        }
    }
    for (int i = 0; i < q->n_override; i++) {
        const qt_cfg_override *o = &q->override[i];
        if (!(o->set & QT_CFG_WQ_TYPE)) continue;
        if (o->set & (QT_CFG_WQ_BITS | QT_CFG_WQ_GROUP | QT_CFG_WQ_GRID)) {
            snprintf(msg, len, "key \"quant.override[\"%s\"].type\": a type sets bits, group and grid; give one or the "
                     "other", o->pattern);
            return -1;
        }
        if ((o->set & QT_CFG_WQ_FP16_SCALES) && !o->w.fp16_scales) {
            snprintf(msg, len, "key \"quant.override[\"%s\"].fp16_scales\": %s stores fp16 scales, got false",
                     o->pattern, WTYPES[o->w.type]);
            return -1;
        }
    }
    return 0;
}

static int rule_byte_vocab(const qt_config *c, char *msg, size_t len) {
    if (strcmp(c->data.tokenizer, "byte") || c->model.vocab >= 256) return 0;
    snprintf(msg, len, "key \"model.vocab\": expected at least 256 with data.tokenizer \"byte\", got %d",
             c->model.vocab);
    return -1;
}

static int rule_init_from(const qt_config *c, char *msg, size_t len) {
    if (c->train.init_from == QT_CFG_INIT_NONE || qt_config_init_from(c) >= 0) return 0;
    snprintf(msg, len, "key \"train.init_from\": expected a method listed in ptq, got \"%s\"",
             qt_config_enum_name("train.init_from", c->train.init_from));
    return -1;
}

static int rule_calib_file(const qt_config *c, char *msg, size_t len) {
    if ((c->calib.source == QT_CFG_CALIB_FILE) == (c->calib.file != NULL)) return 0;
    snprintf(msg, len, "key \"calib.file\": expected %s", c->calib.file ? "calib.source \"file\" when calib.file is given"
                                                                       : "a file with calib.source \"file\"");
    return -1;
}

static int rule_arith_digits(const qt_config *c, char *msg, size_t len) {
    if (c->suites.arith.min_digits <= c->suites.arith.max_digits) return 0;
    snprintf(msg, len, "key \"suites.arith.min_digits\": expected at most suites.arith.max_digits = %d, got %d",
             c->suites.arith.max_digits, c->suites.arith.min_digits);
    return -1;
}

/* The config's model, its Linears (names and shapes, qt_model_linear_infos
 * order) into *L and *n, and its quant plan into *p (qt_plan_free it), for
 * the checks below. */
static qt_linear_info *plan_linears(const qt_config *c, qt_model_cfg *mc, qt_plan *p, int *n) {
    *mc = qt_plan_model_cfg(c);
    *n = qt_model_linear_infos(mc, NULL, 0);
    qt_linear_info *L = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *L);
    if (!L) qt_die("out of memory");
    qt_model_linear_infos(mc, L, *n);
    qt_plan_init(p, c);
    return L;
}

/* export entry i (gptq or compressed-tensors): every Linear the quant rules
 * give must be exactly writable, checked before any work */
static int check_quant_export(const qt_config *c, int i, char *msg, size_t len) {
    const qt_cfg_export *x = &c->exports[i];
    const int gptq = x->format == QT_CFG_EXPORT_GPTQ;
    const char *fmt = gptq ? "gptq" : "compressed-tensors";
    if (x->requantize) {
        snprintf(msg, len, "key \"export[%d].requantize\": format \"%s\" writes the learned grid only (no "
                 "re-quantization); remove the key", i, fmt);
        return -1;
    }
    if (x->type && strcmp(x->type, "F16")) {
        snprintf(msg, len, "key \"export[%d].type\": format \"%s\" writes fp16 scales and tensors (\"F16\"), got \"%s\"",
                 i, fmt, x->type);
        return -1;
    }
    if (!qt_arch_is_decoder(c->model.arch)) {
        snprintf(msg, len, "key \"export[%d].format\": \"%s\" needs a decoder model.arch (mlp has no Hugging Face form)",
                 i, fmt);
        return -1;
    }
    qt_model_cfg mc;
    qt_plan p;
    int n, rc = 0, bits = 0, group = 0, n_quant = 0;
    qt_linear_info *L = plan_linears(c, &mc, &p, &n);
    for (int k = 0; rc == 0 && k < n; k++) {
        qt_quant_spec s;
        const int output = k == n - 1, quantized = qt_policy_spec(&p.quant, &mc, L[k].name, L[k].cols, &s, NULL);
        char why[320];
        if (quantized && output)
            snprintf(why, sizeof why, "the output layer is quantized, but these checkpoints keep lm_head in fp16 "
                     "(add \"%s\" to quant.skip)", L[k].name), rc = -1;
        else if (!quantized && gptq && !output)
            snprintf(why, sizeof why, "it is not quantized, but GPTQ loaders convert every Linear of the decoder "
                     "blocks (remove it from quant.skip)"), rc = -1;
        else if (quantized && qt_export_spec_check(fmt, &s, L[k].rows, L[k].cols, why, sizeof why))
            rc = -1;
        else if (quantized && n_quant && s.bits != bits)
            snprintf(why, sizeof why, "%d-bit, but other Linears are %d-bit (the format has one bits)", s.bits, bits), rc = -1;
        else if (quantized && n_quant && (s.group > 0 ? s.group : -1) != group)
            snprintf(why, sizeof why, "group %d, but other Linears use %d (the format has one group_size)", s.group,
                     group), rc = -1;
        if (rc)
            snprintf(msg, len, "key \"export[%d].format\": \"%s\" cannot hold %s exactly: %s", i, fmt, L[k].name, why);
        if (quantized && !n_quant++) bits = s.bits, group = s.group > 0 ? s.group : -1;
    }
    if (rc == 0 && n_quant == 0) {
        snprintf(msg, len, "key \"export[%d].format\": \"%s\" needs quantized Linears, but quant.skip keeps all of them "
                 "in float", i, fmt);
        rc = -1;
    }
    qt_plan_free(&p);
    free(L);
    return rc;
}

/* export entry i (gguf): the type is one GGUF export writes, and every
 * quantized Linear has a type that holds its grid (its own, or the entry's
 * unless requantize), checked before any work */
static int check_gguf_export(const qt_config *c, int i, char *msg, size_t len) {
    const qt_cfg_export *x = &c->exports[i];
    int type = x->type ? qt_ggml_type_from_name(x->type) : -1;
    if (x->type && !qt_export_gguf_type_ok(type)) {
        snprintf(msg, len, "key \"export[%d].type\": expected one of F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, "
                 "Q4_K, Q5_K, Q6_K, IQ4_NL, MXFP4 for format \"gguf\", got \"%s\"", i, x->type);
        return -1;
    }
    if (!qt_arch_is_decoder(c->model.arch) || type == QT_GGML_F32 || type == QT_GGML_F16 || (type >= 0 && x->requantize))
        return 0;
    qt_model_cfg mc;
    qt_plan p;
    int n, rc = 0;
    qt_linear_info *L = plan_linears(c, &mc, &p, &n);
    for (int k = 0; rc == 0 && k < n; k++) {
        qt_quant_spec s;
        char why[320];
        if (!qt_policy_spec(&p.quant, &mc, L[k].name, L[k].cols, &s, NULL)) continue;
        if (type < 0 && qt_ggml_type_of_spec(&s) < 0) {
            snprintf(msg, len, "key \"export[%d].format\": \"gguf\" has no type that holds %s's grid (%d-bit, group %d); "
                     "train it with quant.weights.type or a quant.preset, or give the export a type and requantize", i,
                     L[k].name, s.bits, s.group);
            rc = -1;
        } else if (type >= 0 && !qt_ggml_type_holds(type, &s, why, sizeof why)) {
            snprintf(msg, len, "key \"export[%d].type\": %s cannot hold %s exactly: %s; set \"requantize\" to re-quantize "
                     "it (losing the learned grid)", i, x->type, L[k].name, why);
            rc = -1;
        }
    }
    qt_plan_free(&p);
    free(L);
    return rc;
}

/* the quant plan on the model's Linears: every override matches one, every
 * grid fits its weight; what each PTQ method needs of the grids */
static int rule_quant_plan(const qt_config *c, char *msg, size_t len) {
    qt_model_cfg mc = qt_plan_model_cfg(c);
    char e[400];
    if (qt_model_cfg_check(&mc, e, sizeof e)) return 0; /* the model rules name that */
    qt_plan p;
    int n, rc = 0;
    qt_linear_info *L = plan_linears(c, &mc, &p, &n);
    if (qt_policy_check(&mc, &p.quant, NULL, e, sizeof e)) {
        snprintf(msg, len, "key \"quant\": %s", e);
        rc = -1;
    }
    for (int i = 0; rc == 0 && i < c->n_ptq; i++) {
        const qt_cfg_ptq_method meth = c->ptq[i].method;
        for (int k = 0; rc == 0 && k < n; k++) {
            qt_quant_spec s;
            if (!qt_policy_spec(&p.quant, &mc, L[k].name, L[k].cols, &s, NULL)) continue;
            if (meth == QT_CFG_PTQ_LLAMACPP && qt_ggml_type_of_spec(&s) < 0) {
                snprintf(msg, len, "key \"ptq[%d].method\": llamacpp: no llama.cpp type holds %s's grid (%d-bit, group "
                         "%d); use quant.weights.type or a quant.preset", i, L[k].name, s.bits, s.group);
                rc = -1;
            } else if ((meth == QT_CFG_PTQ_GPTQ || meth == QT_CFG_PTQ_AWQ) && s.dq_bits) {
                snprintf(msg, len, "key \"ptq[%d].method\": %s does not model %s's grid (a K type, whose group scales "
                         "are quantized per super-block); use rtn, llamacpp or QAT for it", i,
                         meth == QT_CFG_PTQ_GPTQ ? "gptq" : "awq", L[k].name);
                rc = -1;
            }
        }
    }
    free(L);
    qt_plan_free(&p);
    return rc;
}

/* export entry i (imatrix): a decoder (the file names GGUF tensors), no
 * weight-format keys, calibration text when calib.source is "text" */
static int check_imatrix_export(const qt_config *c, int i, char *msg, size_t len) {
    const qt_cfg_export *x = &c->exports[i];
    int has_text = 0;
    for (int k = 0; k < c->data.n_train; k++) has_text |= c->data.train[k].kind == QT_CFG_SRC_FILE;
    if (!qt_arch_is_decoder(c->model.arch))
        snprintf(msg, len, "key \"export[%d].format\": \"imatrix\" needs a decoder model.arch (llama, mistral, qwen2, "
                 "qwen3; mlp has no GGUF form)", i);
    else if (x->type || x->requantize || x->f16)
        snprintf(msg, len, "key \"export[%d].%s\": format \"imatrix\" writes F32 sums of the FP32 base, not weights; "
                 "remove the key", i, x->type ? "type" : x->requantize ? "requantize" : "f16");
    else if (c->calib.source == QT_CFG_CALIB_TEXT && !has_text)
        snprintf(msg, len, "key \"export[%d].format\": \"imatrix\" with calib.source \"text\" needs a text file in "
                 "data.train", i);
    else
        return 0;
    return -1;
}

/* export entry i (awq): unless requantize, every quantized Linear's grid is
 * one AutoAWQ GEMM holds, with one group for the model; the output layer in
 * float; no type but F16 */
static int check_awq_export(const qt_config *c, int i, char *msg, size_t len) {
    const qt_cfg_export *x = &c->exports[i];
    if (x->type && strcmp(x->type, "F16")) {
        snprintf(msg, len, "key \"export[%d].type\": format \"awq\" writes fp16 scales and tensors (\"F16\"), got \"%s\"",
                 i, x->type);
        return -1;
    }
    if (!qt_arch_is_decoder(c->model.arch)) {
        snprintf(msg, len, "key \"export[%d].format\": \"awq\" needs a decoder model.arch (mlp has no Hugging Face form)", i);
        return -1;
    }
    qt_model_cfg mc;
    qt_plan p;
    int n, rc = 0, group = 0, n_quant = 0;
    qt_linear_info *L = plan_linears(c, &mc, &p, &n);
    for (int k = 0; rc == 0 && k < n; k++) {
        qt_quant_spec s;
        const int output = k == n - 1, quantized = qt_policy_spec(&p.quant, &mc, L[k].name, L[k].cols, &s, NULL);
        char why[320];
        if (!quantized) continue;
        if (output)
            snprintf(why, sizeof why, "the output layer is quantized, but AWQ checkpoints keep lm_head in fp16 "
                     "(add \"%s\" to quant.skip)", L[k].name), rc = -1;
        else if (!x->requantize && qt_export_spec_check("awq", &s, L[k].rows, L[k].cols, why, sizeof why))
            rc = -1;
        else if (!x->requantize && n_quant && s.group != group)
            snprintf(why, sizeof why, "group %d, but other Linears use %d (the format has one group_size)", s.group,
                     group), rc = -1;
        if (rc)
            snprintf(msg, len, "key \"export[%d].format\": \"awq\" cannot hold %s exactly: %s%s", i, L[k].name, why,
                     output ? "" : "; set \"requantize\" to re-quantize (losing the learned grid)");
        if (!n_quant++) group = s.group;
    }
    if (rc == 0 && n_quant == 0) {
        snprintf(msg, len, "key \"export[%d].format\": \"awq\" needs quantized Linears, but quant.skip keeps all of "
                 "them in float", i);
        rc = -1;
    }
    qt_plan_free(&p);
    free(L);
    return rc;
}

/* export paths: relative to out_dir, inside it, not out_dir itself, each
 * entry its own (trailing slashes ignored) */
static int check_export_paths(const qt_config *c, char *msg, size_t len) {
    for (int i = 0; i < c->n_exports; i++) {
        const char *p = c->exports[i].path;
        size_t n = strlen(p);
        while (n > 0 && p[n - 1] == '/') n--;
        int up = !strncmp(p, "../", 3) || strstr(p, "/../") || (n >= 2 && !strncmp(p + n - 2, "..", 2) && (n == 2 || p[n - 3] == '/'));
        if (p[0] == '/' || n == 0 || (n == 1 && p[0] == '.') || up) {
            snprintf(msg, len, "key \"export[%d].path\": expected a file or directory name inside out_dir (relative, "
                     "no \"..\"), got \"%s\"", i, p);
            return -1;
        }
        for (int j = 0; j < i; j++) {
            const char *q = c->exports[j].path;
            size_t m = strlen(q);
            while (m > 0 && q[m - 1] == '/') m--;
            if (m == n && !strncmp(p, q, n)) {
                snprintf(msg, len, "key \"export[%d].path\": \"%s\" is also export[%d]'s path (each export needs its own)",
                         i, p, j);
                return -1;
            }
        }
    }
    return 0;
}

static int rule_exports(const qt_config *c, char *msg, size_t len) {
    if (check_export_paths(c, msg, len)) return -1;
    for (int i = 0; i < c->n_exports; i++) {
        const qt_cfg_export *x = &c->exports[i];
        if (x->format == QT_CFG_EXPORT_AWQ && check_awq_export(c, i, msg, len)) return -1;
        if (x->format == QT_CFG_EXPORT_HF && x->type && strcmp(x->type, "F32") && strcmp(x->type, "F16") &&
            strcmp(x->type, "BF16")) {
            snprintf(msg, len, "key \"export[%d].type\": format \"hf\" writes \"F32\", \"F16\" or \"BF16\", got \"%s\"",
                     i, x->type);
            return -1;
        }
        if (x->format == QT_CFG_EXPORT_IMATRIX && check_imatrix_export(c, i, msg, len)) return -1;
        if (x->format == QT_CFG_EXPORT_GGUF && check_gguf_export(c, i, msg, len)) return -1;
        if ((x->format == QT_CFG_EXPORT_GPTQ || x->format == QT_CFG_EXPORT_CT) && check_quant_export(c, i, msg, len))
            return -1;
    }
    return 0;
}

const qt_cfg_rule qt_cfg_rules[] = {
    {"decoders: `model.dim` is a multiple of `model.heads` unless `model.head_dim` is given", rule_dim_heads},
    {"decoders: `model.kv_heads` divides `model.heads`", rule_kv_heads},
    {"decoders: the head size `model.head_dim` is even (RoPE rotates pairs)", rule_head_dim_even},
    {"`model.ctx` is at most `model.max_ctx` and, with a sliding window, at most `model.sliding_window`; "
     "rope scaling has factor >= 1 and high_freq_factor > low_freq_factor", rule_ctx},
    {"`quant.weights.group` and every `quant.override[...].group` are 0 or divide `model.dim`, `model.ffn` "
     "and `model.heads * model.head_dim` (the input sizes of every Linear)", rule_group},
    {"`quant.weights.type`'s block (32, or 256 for K types) divides every Linear input size and its scales are "
     "fp16; an override with a `type` gives no `bits`, `group` or `grid` and keeps fp16 scales", rule_type},
    {"the quant plan fits the model: every `quant.override` pattern matches a Linear and every tensor's grid "
     "fits its weight (a K type's super-block of 256 divides its rows); `ptq` llamacpp needs a llama.cpp type for "
     "every quantized grid, gptq and awq refuse K grids", rule_quant_plan},
    {"`model.vocab` is at least 256 with `data.tokenizer` \"byte\"", rule_byte_vocab},
    {"`suites.arith.min_digits` is at most `suites.arith.max_digits`", rule_arith_digits},
    {"`train.init_from`, unless \"none\", names a method listed in `ptq`", rule_init_from},
    {"`calib.file` is given exactly when `calib.source` is \"file\"", rule_calib_file},
    {"`export[]` entries of format gptq or compressed-tensors can hold every quantized Linear exactly (the quant "
     "rules resolved per Linear): sym or asym grid (no float_min), fp16 scales, one bits and one group for the model, "
     "GPTQ 2/3/4/8 bits with in and out multiples of 32 and every decoder Linear quantized, the output layer (or tied "
     "embedding) kept in float; no `requantize`, `type` F16 when given; `imatrix` entries need a decoder "
     "`model.arch`, no `type`, `requantize` or `f16`, and a text file in `data.train` when `calib.source` is \"text\"; "
     "`awq` entries (unless `requantize`) hold every quantized Linear exactly (sym or asym <= 4-bit, one group of 32, "
     "64 or 128, fp16 scales, rows a multiple of 8), the output layer in float; `hf` types are F32, F16 or BF16; "
     "every `path` is its own, relative and inside `out_dir`",
     rule_exports},
};
const size_t qt_cfg_rules_len = sizeof qt_cfg_rules / sizeof qt_cfg_rules[0];

int qt_cfg_derive(qt_config *cfg, char *msg, size_t len) {
    if (cfg->model.kv_heads == 0) cfg->model.kv_heads = cfg->model.heads;
    if (cfg->model.head_dim == 0 && cfg->model.heads > 0) cfg->model.head_dim = cfg->model.dim / cfg->model.heads;
    if (cfg->model.max_ctx == 0) cfg->model.max_ctx = cfg->model.ctx;
    if (!cfg->data.cache_dir) {
        size_t n = strlen(cfg->out_dir) + sizeof "/cache";
        cfg->data.cache_dir = malloc(n);
        if (!cfg->data.cache_dir) {
            snprintf(msg, len, "out of memory");
            return -1;
        }
        snprintf(cfg->data.cache_dir, n, "%s/cache", cfg->out_dir);
    }
    return 0;
}
