/* qatc config: the `qat_train config.json` loader and validator.
 *
 * One schema table (run/config_schema.c) lists every key with its type,
 * default, range or choices, required flag and meaning. The same table drives
 * validation, the effective-config JSON writer and docs/config.md, so they
 * cannot drift. Unknown keys are errors (the nearest sibling key is
 * suggested); every value is type- and range-checked, named files must exist,
 * and cross-field rules (head counts, group sizes, ...) run after that.
 *
 * Errors are one line: "<file>: key "<path>": expected <what>, got <value>".
 * Relative paths in the config are resolved against the current working
 * directory, except export paths, which are under out_dir. */
#ifndef QATC_RUN_CONFIG_H
#define QATC_RUN_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "nn/model.h"
#include "optim/optim.h"
#include "qat/policy.h"
#include "quant/quant.h"

typedef struct cJSON cJSON;

/* Enum values follow the order of the choices in the schema table. Keys whose
 * values the layers below define use those layers' enums (qt_arch,
 * qt_schedule_kind, qt_grid, qt_scale_init, qt_act_mode; run/config_schema.c
 * asserts that the orders agree); the enums here exist only in the config. */
typedef enum { QT_CFG_SCALE_LSQ, QT_CFG_SCALE_FIXED } qt_cfg_scale;
typedef enum { QT_CFG_PTQ_RTN, QT_CFG_PTQ_GPTQ, QT_CFG_PTQ_AWQ, QT_CFG_PTQ_SMOOTHQUANT, QT_CFG_PTQ_LLAMACPP } qt_cfg_ptq_method;
typedef enum { QT_CFG_CALIB_TRAIN, QT_CFG_CALIB_TEXT, QT_CFG_CALIB_FILE } qt_cfg_calib_source;
/* train.init_from: "none" or the name of a ptq method (qt_config_init_from finds its entry) */
typedef enum { QT_CFG_INIT_NONE, QT_CFG_INIT_RTN, QT_CFG_INIT_GPTQ, QT_CFG_INIT_AWQ, QT_CFG_INIT_SMOOTHQUANT } qt_cfg_init_from;
typedef enum { QT_CFG_EXPORT_GGUF, QT_CFG_EXPORT_AWQ, QT_CFG_EXPORT_HDF5, QT_CFG_EXPORT_HF, QT_CFG_EXPORT_GPTQ,
               QT_CFG_EXPORT_CT, QT_CFG_EXPORT_IMATRIX } qt_cfg_export_format;
typedef enum { QT_CFG_GPTQ_V1, QT_CFG_GPTQ_V2 } qt_cfg_gptq_format;
typedef enum { QT_CFG_SUITE_ARITH, QT_CFG_SUITE_RECALL } qt_cfg_suite;
typedef enum { QT_CFG_SRC_FILE, QT_CFG_SRC_SUITE, QT_CFG_SRC_JSONL } qt_cfg_source_kind;

/* A list of owned strings. */
typedef struct {
    char **v;
    int n;
} qt_cfg_strlist;

typedef struct {
    double factor, low_freq, high_freq;  /* factor 0 = no rope scaling */
    int orig_ctx;
} qt_cfg_rope;

typedef struct {
    qt_arch arch;
    int dim, layers, heads, kv_heads, ffn, ctx, vocab;
    double rope_theta, norm_eps;
    int head_dim, tied, sliding_window, max_ctx;
    qt_cfg_rope rope;
    char *init;              /* FP32 base checkpoint, NULL = pre-train (section base) */
} qt_cfg_model;

/* One data.train entry: a text file, a capability suite or a JSONL file. */
typedef struct {
    qt_cfg_source_kind kind;
    char *file;              /* kind FILE, else NULL */
    int suite;               /* kind SUITE: a qt_cfg_suite, else -1 */
    char *jsonl;             /* kind JSONL, else NULL */
    double weight;           /* mixing weight (> 0) */
} qt_cfg_source;

typedef struct {
    qt_cfg_source *train;
    int n_train;
    char *val;               /* NULL = split the train text with val_fraction */
    double val_fraction;
    char *tokenizer;         /* "byte", a tokenizer.json or a .gguf (its tokenizer.ggml.*) */
    char *cache_dir;         /* default "<out_dir>/cache" */
} qt_cfg_data;

typedef struct {
    int steps, batch;
    double lr, weight_decay;
    int warmup;
    qt_schedule_kind schedule;
    double clip;             /* 0 = no clipping */
} qt_cfg_base;

/* Weight quantizer spec (quant.weights; also the body of an override). */
typedef struct {
    int bits;
    int group;               /* 0 = one group per row */
    qt_grid grid;
    qt_cfg_scale scale;
    qt_scale_init init;
    int fp16_scales;         /* bool */
    int type;                /* index into quant.weights.type's choices; 0 = "none" (bits/group/grid apply) */
} qt_cfg_wquant;

/* Bits of qt_cfg_override.set: which keys the override gives (the policy's
 * rule bits, so an override's set passes to qat/policy.h unchanged). */
#define QT_CFG_WQ_BITS        QT_RULE_BITS
#define QT_CFG_WQ_GROUP       QT_RULE_GROUP
#define QT_CFG_WQ_GRID        QT_RULE_GRID
#define QT_CFG_WQ_SCALE       QT_RULE_LEARNABLE
#define QT_CFG_WQ_INIT        QT_RULE_INIT
#define QT_CFG_WQ_FP16_SCALES QT_RULE_FP16_SCALES
#define QT_CFG_WQ_TYPE        QT_RULE_TYPE

/* quant.override["pattern"]: a partial weights spec for matching parameters.
 * Fields not in `set` are zero; later overrides win over earlier ones. */
typedef struct {
    char *pattern;           /* glob over parameter names */
    unsigned set;            /* QT_CFG_WQ_* bits */
    qt_cfg_wquant w;
} qt_cfg_override;

typedef struct {
    int bits;
    qt_act_mode mode;
} qt_cfg_aquant;

typedef struct {
    qt_cfg_wquant weights;
    qt_cfg_aquant activations;
    qt_cfg_strlist skip;     /* glob patterns of parameters kept in float */
    qt_cfg_override *override;
    int n_override;
    qt_preset preset;        /* QT_PRESET_NONE or a llama.cpp preset (qat/preset.h) */
} qt_cfg_quant;

typedef struct {
    double weight, temperature;
} qt_cfg_distill;

typedef struct {
    int steps, batch;
    double lr, scale_lr, weight_decay;
    qt_schedule_kind schedule;
    int warmup;
    double clip;
    qt_cfg_distill distill;
    int ckpt_every, eval_every, log_every;
    qt_cfg_init_from init_from; /* NONE: only QAT from FP32; else also QAT from that PTQ result */
} qt_cfg_train;

typedef struct {
    qt_cfg_strlist suites;   /* "text", "arith", "recall", "kl" or *.jsonl paths */
    int samples, val_tokens;
    double max_regression;
} qt_cfg_eval;

typedef struct {
    qt_cfg_ptq_method method;
    int calib_tokens;
    double percdamp;
    int act_order;           /* bool */
    double alpha;
    int imatrix;             /* bool: llamacpp with an importance matrix from the calibration data */
} qt_cfg_ptq;

/* calib: calibration data of the PTQ methods */
typedef struct {
    qt_cfg_calib_source source;
    char *file;              /* source FILE: a text file */
    int seed;                /* 0 = the top-level seed */
} qt_cfg_calib;

typedef struct {
    qt_cfg_export_format format;
    char *type;              /* e.g. "Q4_0"; NULL = derived from the quant spec */
    char *path;
    int requantize;          /* bool: re-quantize tensors the type cannot hold exactly (else refuse) */
    int f16;                 /* bool: unquantized matrices as F16 instead of F32 */
    qt_cfg_gptq_format checkpoint_format; /* gptq: v1 ("gptq") or v2 ("gptq_v2") */
    int calib_tokens;        /* imatrix: calibration tokens (windows of model.ctx from calib) */
} qt_cfg_export;

/* Parameters of the built-in capability suites (training streams and eval sets alike). */
typedef struct {
    int min_digits, max_digits;  /* operand digit counts */
    int subtraction;             /* bool: also a - b (a >= b) */
} qt_cfg_arith;

typedef struct {
    int ctx_bytes;               /* bytes of prompt + answer; 0 = min(200, model.ctx) */
    int keys, values;            /* key and value spaces */
} qt_cfg_recall;

typedef struct {
    qt_cfg_arith arith;
    qt_cfg_recall recall;
} qt_cfg_suites;

typedef struct qt_config {
    int seed, threads;
    char *out_dir;
    qt_cfg_model model;
    qt_cfg_data data;
    qt_cfg_base base;
    qt_cfg_quant quant;
    qt_cfg_train train;
    qt_cfg_suites suites;
    qt_cfg_eval eval;
    qt_cfg_ptq *ptq;
    int n_ptq;
    qt_cfg_calib calib;
    qt_cfg_export *exports;  /* key "export" */
    int n_exports;
} qt_config;

/* Flags for qt_config_parse. */
#define QT_CONFIG_NO_FILE_CHECKS 1u  /* do not require named input files to exist */

/* Reads, validates and fills *cfg from the JSON file at path (absent keys get
 * their defaults). Returns 0, or -1 with a one-line message in err (naming
 * the file and the key) and *cfg zeroed. Free a loaded cfg with qt_config_free. */
int qt_config_load(const char *path, qt_config *cfg, char *err, size_t errlen);

/* Like qt_config_load on JSON text; name stands for the file in messages.
 * flags: QT_CONFIG_NO_FILE_CHECKS or 0. */
int qt_config_parse(const char *text, const char *name, unsigned flags,
                    qt_config *cfg, char *err, size_t errlen);

/* Frees what cfg owns and zeroes it; safe on a zeroed or already freed cfg. */
void qt_config_free(qt_config *cfg);

/* The effective config (every key, defaults filled in) as a cJSON object in
 * schema order; the caller owns it (cJSON_Delete). NULL when out of memory. */
cJSON *qt_config_to_cjson(const qt_config *cfg);

/* The effective config as indented JSON text, which qt_config_parse accepts
 * and turns back into the same struct. Caller frees (free). NULL on OOM. */
char *qt_config_to_json(const qt_config *cfg);

/* Index in cfg->ptq of the method train.init_from names, or -1 for "none"
 * (or a method not listed, which validation refuses). */
int qt_config_init_from(const qt_config *cfg);

/* Name of an enum value of a key, e.g. ("model.arch", 0) -> "llama";
 * ("ptq[].method", v) for array items. NULL if unknown. */
const char *qt_config_enum_name(const char *key, int value);

/* Prints the markdown reference (docs/config.md) generated from the schema
 * table and the cross-field rules. Returns 0, or -1 on a write error. */
int qt_config_doc(FILE *out);

/* Where a run of cfg (loaded from path) writes, checked before any work
 * (qat_train and qat_train --check; not by tools that only read a run):
 * out_dir and data.cache_dir can be created or written to, and each export
 * target is of its format's kind when it exists (a file for gguf, hdf5 and
 * imatrix, a directory for the others) in a directory that can be made.
 * Returns 0, or -1 with one line naming path and the key. */
int qt_config_check_outputs(const qt_config *cfg, const char *path, char *err, size_t errlen);

#endif
