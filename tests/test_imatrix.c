/* The imatrix export (run/artifacts.h qt_export_imatrix_model, io/export.h
 * qt_export_imatrix) against independent oracles, run by
 * tests/oracles/imatrix_ref.py on files written here, for a llama (untied,
 * GQA), a qwen2 (tied, q/k/v biases, NEOX rope: q/k rows permuted on export)
 * and a qwen3 (per-head q/k norms, head_dim != dim/heads) model with
 * non-trivial norms, on random calibration windows:
 *   - the file, read by the oracle's own GGUF parser, is llama-imatrix's:
 *     GGUF v3, general.type "imatrix", imatrix.datasets / chunk_count /
 *     chunk_size with their value types, no general.architecture, exactly
 *     W.in_sum2 (F32, ne [in, 1]) and W.counts (F32, ne [1, 1]) for every
 *     Linear's GGUF name W (derived by the oracle from HF names), entries in
 *     name order, counts = nseq·T;
 *   - in_sum2 = numpy's float64 Σx² of the Linear inputs qatc's hooks see
 *     (dumped here from a forward of the same windows), within 1e-6
 *     relative (the file stores the double sums as F32);
 *   - in_sum2 = Σx² of the inputs of torch's float64 forward of the model's
 *     HF checkpoint (qt_export_hf, F32; tests/oracles/hf_families.py), per
 *     column within 1e-5 relative (measured 1.4e-6; qatc computes in float32);
 *   - llama.cpp's ggml_quantize_chunk (libggml-base.so) with the file's
 *     in_sum2 / counts as the importance (float32, as llama-quantize
 *     divides) writes the same bytes as qt_ggml_quantize_chunk with
 *     qt_imatrix_collect's means, for every Linear at one of Q4_0, Q4_1,
 *     Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K; and decodes to exactly the weights
 *     qatc's PTQ llamacpp (qt_ptq_llamacpp, Q4_K everywhere) leaves in the
 *     model;
 * and the imatrix changes the bytes (the check is not vacuous). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "io/export.h"
#include "qat/ptq/ptq.h"
#include "quant/ggml_blocks.h"
#include "run/artifacts.h"
#include "test_util.h"

#define NSEQ 5
#define SEQ_T 24

/* hook: appends every input row the Linear sees to its .x file */
static void dump_hook(void *user, qt_linear_layer *l, const qt_tensor *x) {
    FILE *f = user;
    (void)l;
    fwrite(x->data, sizeof(float), x->n, f);
}

static void write_raw(const char *dir, const char *name, const void *p, size_t bytes) {
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(p, 1, bytes, f) == bytes, "cannot write %s", path);
    if (f) fclose(f);
}

static const int TYPES[] = {QT_GGML_Q4_0, QT_GGML_Q4_1, QT_GGML_Q5_0, QT_GGML_Q5_1, QT_GGML_IQ4_NL,
                            QT_GGML_Q2_K, QT_GGML_Q3_K, QT_GGML_Q4_K, QT_GGML_Q5_K, QT_GGML_Q6_K};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

static void run_case(const char *root, const char *tag, qt_model_cfg cfg, uint64_t seed, int *imx_changed) {
    char dir[1100], path[1300], err[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, tag);
    CHECK(qt_mkdirs(dir, err, sizeof err) == 0, "%s", err);
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, seed);
    uint64_t s = seed * 7 + 1;
    for (int i = 0; i < m->n_params; i++) { /* norms and biases off 1 and 0, so columns differ */
        qt_tensor *t = m->params[i];
        if (t->ndim == 1)
            for (size_t k = 0; k < t->n; k++) t->data[k] = (float)(strstr(t->name, "bias") ? 0.3 * tu_normal(&s)
                                                                                      : 0.5 + tu_uniform(&s));
    }
    int32_t tok[NSEQ * SEQ_T * 4];
    for (int i = 0; i < NSEQ * SEQ_T * 4; i++) tok[i] = (int32_t)(tu_uniform(&s) * cfg.vocab);
    qt_calib c = {0};
    CHECK(qt_calib_from_tokens(tok, sizeof tok / sizeof tok[0], NSEQ, SEQ_T, seed, &c, err, sizeof err) == 0, "%s", err);
    write_raw(dir, "calib.i32", c.tok, (size_t)c.nseq * c.T * sizeof *c.tok);

    /* the export under test */
    snprintf(path, sizeof path, "%s/imatrix.gguf", dir);
    CHECK(qt_export_imatrix_model(m, &c, "qatc test windows", path, err, sizeof err) == 0, "%s: %s", tag, err);
    /* the model for torch */
    qt_export_opts o = {.type = "F32", .name = "qatc"};
    snprintf(path, sizeof path, "%s/hf", dir);
    CHECK(qt_export_hf(m, &o, path, err, sizeof err) == 0, "%s: %s", tag, err);

    /* the inputs the hooks see: a forward of the same windows */
    CHECK(m->n_linears <= 64, "too many Linears");
    FILE *xf[64];
    for (int j = 0; j < m->n_linears; j++) {
        snprintf(path, sizeof path, "%s/%d.x", dir, j);
        xf[j] = fopen(path, "wb");
        m->linears[j]->hook = dump_hook;
        m->linears[j]->hook_user = xf[j];
    }
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_no_grad(&ctx, 1);
    qt_tensor *hw;
    qt_linear_input(&ctx, &m->output, qt_model_hidden(&ctx, m, c.tok, c.nseq, c.T, &hw));
    qt_no_grad(&ctx, -1);
    qt_ctx_free(&ctx);
    for (int j = 0; j < m->n_linears; j++) {
        fclose(xf[j]);
        m->linears[j]->hook = NULL;
        m->linears[j]->hook_user = NULL;
    }

    /* llama.cpp's quantization with qatc's importance matrix */
    int *want = malloc((size_t)m->n_linears * sizeof *want);
    for (int j = 0; j < m->n_linears; j++) want[j] = 1;
    long ntok = 0;
    float **imx = qt_imatrix_collect(m, &c, want, &ntok, err, sizeof err);
    CHECK(imx && ntok == (long)NSEQ * SEQ_T, "%s: imatrix_collect: %s (%ld tokens)", tag, err, ntok);
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *man = fopen(path, "w");
    fprintf(man, "case %s %d %d\n", tag, NSEQ, SEQ_T);
    for (int j = 0; imx && j < m->n_linears; j++) {
        const qt_tensor *w = m->linears[j]->w;
        const int rows = qt_rows(w), cols = qt_cols(w), t = TYPES[(j + (int)seed) % N_TYPES];
        if (cols % qt_ggml_block_size(t)) continue;
        const size_t nb = (size_t)rows * cols / qt_ggml_block_size(t) * qt_ggml_type_size(t);
        uint8_t *q = malloc(nb), *q0 = malloc(nb);
        CHECK(qt_ggml_quantize_chunk(t, w->data, q, (size_t)rows, (size_t)cols, imx[j]) == 0, "%s: chunk", tag);
        CHECK(qt_ggml_quantize_chunk(t, w->data, q0, (size_t)rows, (size_t)cols, NULL) == 0, "%s: chunk", tag);
        if (memcmp(q, q0, nb)) (*imx_changed)++;
        char nm[64];
        snprintf(nm, sizeof nm, "%d.w", j);
        write_raw(dir, nm, w->data, w->n * sizeof(float));
        snprintf(nm, sizeof nm, "%d.q", j);
        write_raw(dir, nm, q, nb);
        fprintf(man, "lin %d %s %d %d %d\n", j, w->name, t, rows, cols);
        free(q);
        free(q0);
    }
    qt_imatrix_free(imx, m->n_linears);
    free(want);

    /* qatc's PTQ llamacpp, Q4_K everywhere, with the importance matrix */
    qt_model *p = qt_model_clone(m);
    qt_quant_rules r;
    memset(&r, 0, sizeof r);
    qt_ggml_spec_of_type(QT_GGML_Q4_K, &r.weights);
    r.act_bits = 8;
    int *all = malloc((size_t)p->n_linears * sizeof *all);
    for (int j = 0; j < p->n_linears; j++) all[j] = 1;
    float **pimx = qt_imatrix_collect(p, &c, all, NULL, err, sizeof err);
    double bytes = 0;
    CHECK(pimx && qt_ptq_llamacpp(p, &r, pimx, NULL, &bytes, err, sizeof err) == 0, "%s: ptq llamacpp: %s", tag, err);
    for (int j = 0; j < p->n_linears; j++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%d.ptq", j);
        write_raw(dir, nm, p->linears[j]->w->data, p->linears[j]->w->n * sizeof(float));
        fprintf(man, "ptq %d %d\n", j, QT_GGML_Q4_K);
    }
    qt_imatrix_free(pimx, p->n_linears);
    free(all);
    qt_model_free(p);
    fclose(man);
    qt_calib_free(&c);
    qt_model_free(m);
}

int main(void) {
    char root[512], args[1100];
    tu_tmpdir(root, sizeof root);
    int changed = 0;
    /* dim 256 and ffn 512: every Linear's rows hold K-type super-blocks */
    qt_model_cfg llama = {.arch = QT_ARCH_LLAMA, .dim = 256, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 512,
                          .ctx = SEQ_T, .vocab = 320, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    qt_model_cfg qwen2 = llama;
    qwen2.arch = QT_ARCH_QWEN2, qwen2.tied = 1, qwen2.qkv_bias = 1, qwen2.rope_theta = 1e6f, qwen2.norm_eps = 1e-6f;
    qt_model_cfg qwen3 = llama;
    qwen3.arch = QT_ARCH_QWEN3, qwen3.heads = 8, qwen3.kv_heads = 4, qwen3.head_dim = 64, qwen3.qk_norm = 1;
    qwen3.layers = 1;
    run_case(root, "llama", llama, 11, &changed);
    run_case(root, "qwen2", qwen2, 12, &changed);
    run_case(root, "qwen3", qwen3, 13, &changed);
    CHECK(changed > 10, "the importance matrix changed the bytes of only %d Linears", changed);
    snprintf(args, sizeof args, "%s llama qwen2 qwen3", root);
    CHECK(tu_run_oracle("tests/oracles/imatrix_ref.py", args) == 0, "imatrix_ref.py failed (files in %s)", root);
    if (!tu_failures) {
        snprintf(args, sizeof args, "rm -rf '%s'", root);
        if (system(args) != 0) fprintf(stderr, "could not remove %s\n", root);
    }
    return tu_finish("test_imatrix");
}
