/* GGUF writer/reader and the GGUF export of learned integers:
 *  - every KV type and F32/F16/Q8_0/Q4_0/Q4_1 tensors survive write → read →
 *    write byte for byte; data offsets aligned;
 *  - corrupt files are refused with a message: every truncation, bad magic,
 *    bad version, huge declared counts / lengths (refused before allocating:
 *    under ASan a huge malloc would abort), unknown type, data out of file;
 *  - exporting a QAT model writes blocks whose dequantization equals the frozen
 *    weights bit for bit (Q8_0 ← sym 8, Q4_0 ← sym 4, Q4_1 ← float_min 4,
 *    Q8_0 ← sym 4), the nibble order is llama.cpp's, and the imported
 *    GGUF gives the same logits as the QAT model's deploy form;
 *  - a spec the type cannot hold is refused naming the tensor, unless requantize;
 *  - the tokenizer keys (the byte tokenizer as llama.cpp's "gpt2"), extra
 *    vocabulary rows, a tokenizer larger than the vocabulary refused;
 *  - llama3 rope scaling (rope_freqs.weight) read back as parameters that give
 *    the divisors back, foreign float32 divisors kept, non-llama3 ones refused;
 *    refused for qwen2/qwen3 (llama.cpp reads rope_freqs only for arch llama);
 *  - Q8 block activation rounding: codes within [-127, 127], error <= d/2, STE. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/export.h"
#include "qat/policy.h"
#include "run/artifacts.h"
#include "store/gguf.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "test_util.h"

/* first occurrence of needle in hay (memmem is not C11) */
static unsigned char *find_bytes(unsigned char *hay, size_t n, const char *needle, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(hay + i, needle, k)) return hay + i;
    return NULL;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n + 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

static void spit(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* expects qt_gguf_read to refuse path with a message containing want */
static void refused(const char *path, const char *want, const char *what) {
    char err[512] = "";
    qt_gguf *g = qt_gguf_read(path, err, sizeof err);
    CHECK(g == NULL, "%s: accepted", what);
    CHECK(strstr(err, want) != NULL, "%s: message \"%s\" lacks \"%s\"", what, err, want);
    CHECK(strstr(err, path) != NULL, "%s: message does not name the file: %s", what, err);
    qt_gguf_free(g);
}

static void test_roundtrip(const char *dir) {
    char p1[600], p2[600], err[512];
    snprintf(p1, sizeof p1, "%s/a.gguf", dir);
    snprintf(p2, sizeof p2, "%s/b.gguf", dir);
    qt_gguf *g = qt_gguf_new();
    uint64_t s = 7;
    qt_gguf_set_str(g, "general.architecture", "llama");
    qt_gguf_set_u32(g, "a.u32", 4000000000u);
    qt_gguf_set_i32(g, "a.i32", -123456);
    qt_gguf_set_u64(g, "a.u64", 0x123456789abcdefULL);
    qt_gguf_set_f32(g, "a.f32", 1e-5f);
    qt_gguf_set_bool(g, "a.bool", 1);
    int32_t iv[5] = {-1, 0, 1, 2, 2147483647};
    float fv[3] = {0.5f, -2.0f, 1e30f};
    const char *sv[3] = {"<0x00>", "", "hello world"};
    qt_gguf_set_arr(g, "a.arr_i32", QT_GGUF_I32, iv, 5);
    qt_gguf_set_arr(g, "a.arr_f32", QT_GGUF_F32, fv, 3);
    qt_gguf_set_arr_str(g, "a.arr_str", sv, 3);
    qt_gguf_set_arr(g, "a.empty", QT_GGUF_U8, NULL, 0);
    int types[5] = {QT_GGML_F32, QT_GGML_F16, QT_GGML_Q8_0, QT_GGML_Q4_0, QT_GGML_Q4_1};
    for (int i = 0; i < 5; i++) {
        uint64_t ne[2] = {64, (uint64_t)(3 + i)};
        size_t nb = qt_ggml_nbytes(types[i], 2, ne);
        unsigned char *buf = malloc(nb);
        for (size_t k = 0; k < nb; k++) buf[k] = (unsigned char)(tu_uniform(&s) * 256);
        if (types[i] == QT_GGML_F32)
            for (size_t k = 0; k < nb / 4; k++) ((float *)buf)[k] = (float)tu_normal(&s);
        char nm[32];
        snprintf(nm, sizeof nm, "t%d.weight", i);
        CHECK(qt_gguf_add_tensor(g, nm, types[i], 2, ne, buf, nb, err, sizeof err) == 0, "%s", err);
        free(buf);
    }
    uint64_t ne1[1] = {33};
    CHECK(qt_gguf_add_tensor(g, "bad", QT_GGML_Q4_0, 1, ne1, iv, 18, err, sizeof err) == -1 &&
          strstr(err, "bad"), "a Q4_0 row of 33 was accepted");
    CHECK(qt_gguf_add_tensor(g, "t0.weight", QT_GGML_F32, 1, ne1, fv, 4 * 33, err, sizeof err) == -1,
          "a duplicate tensor name was accepted");
    CHECK(qt_gguf_write(g, p1, err, sizeof err) == 0, "%s", err);
    qt_gguf *r = qt_gguf_read(p1, err, sizeof err);
    CHECK(r != NULL, "%s", err);
    if (r) {
        CHECK(r->n_kv == g->n_kv && r->n_t == g->n_t, "counts changed");
        uint32_t u;
        float f;
        CHECK(qt_gguf_get_u32(r, "a.u32", &u, err, sizeof err) == 0 && u == 4000000000u, "u32");
        CHECK(qt_gguf_get_f32(r, "a.f32", &f, err, sizeof err) == 0 && f == 1e-5f, "f32");
        CHECK(qt_gguf_get_u32(r, "a.f32", &u, err, sizeof err) == -1 && strstr(err, "expected u32, found f32"),
              "typed getter accepted another type: %s", err);
        const qt_gguf_kv *kv = qt_gguf_find(r, "a.i32");
        CHECK(kv && kv->type == QT_GGUF_I32 && kv->val.i == -123456, "i32");
        kv = qt_gguf_find(r, "a.u64");
        CHECK(kv && kv->type == QT_GGUF_U64 && kv->val.u == 0x123456789abcdefULL, "u64");
        kv = qt_gguf_find(r, "a.arr_str");
        CHECK(kv && kv->arr_type == QT_GGUF_STRING && kv->n == 3 && !strcmp(kv->strs[2], "hello world") &&
              !strcmp(kv->strs[1], ""), "string array");
        kv = qt_gguf_find(r, "a.arr_i32");
        CHECK(kv && kv->n == 5 && !memcmp(kv->arr, iv, sizeof iv), "i32 array");
        for (int i = 0; i < r->n_t; i++) {
            CHECK(r->t[i].offset % 32 == 0, "tensor %d offset %llu not aligned", i, (unsigned long long)r->t[i].offset);
            CHECK(r->t[i].type == g->t[i].type && r->t[i].nbytes == g->t[i].nbytes &&
                  !memcmp(r->t[i].data, g->t[i].data, g->t[i].nbytes) && !strcmp(r->t[i].name, g->t[i].name) &&
                  r->t[i].ne[0] == g->t[i].ne[0] && r->t[i].ne[1] == g->t[i].ne[1], "tensor %d changed", i);
        }
        CHECK(qt_gguf_write(r, p2, err, sizeof err) == 0, "%s", err);
        size_t n1, n2;
        unsigned char *b1 = slurp(p1, &n1), *b2 = slurp(p2, &n2);
        CHECK(n1 == n2 && !memcmp(b1, b2, n1), "write(read(f)) differs from f");
        free(b1);
        free(b2);
    }
    qt_gguf_free(r);
    qt_gguf_free(g);

    /* corrupt files */
    size_t n;
    unsigned char *b = slurp(p1, &n);
    char pc[600];
    snprintf(pc, sizeof pc, "%s/c.gguf", dir);
    size_t cuts[] = {0, 3, 10, 23, 24, 40, 100, 300, n / 2, n - 100, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        spit(pc, b, cuts[i]);
        char what[64];
        snprintf(what, sizeof what, "truncated at %zu of %zu", cuts[i], n);
        refused(pc, cuts[i] < 24 ? (cuts[i] < 4 ? "truncated" : "truncated") : "", what);
        char err2[512] = "";
        qt_gguf *t = qt_gguf_read(pc, err2, sizeof err2);
        CHECK(!t && (strstr(err2, "truncated") || strstr(err2, "more than")), "%s: %s", what, err2);
        qt_gguf_free(t);
    }
    unsigned char *c = malloc(n);
    memcpy(c, b, n);
    c[0] = 'X';
    spit(pc, c, n);
    refused(pc, "bad magic", "bad magic");
    memcpy(c, b, n);
    c[4] = 9;
    spit(pc, c, n);
    refused(pc, "version 9", "bad version");
    memcpy(c, b, n);
    c[8 + 7] = 0x10; /* tensor count 2^60 + 5 */
    spit(pc, c, n);
    refused(pc, "more than", "huge tensor count");
    memcpy(c, b, n);
    c[16 + 7] = 0x7f; /* KV count huge */
    spit(pc, c, n);
    refused(pc, "more than", "huge KV count");
    memcpy(c, b, n);
    c[24 + 6] = 0x40; /* first key length huge */
    spit(pc, c, n);
    refused(pc, "truncated", "huge string length");
    /* huge array count: find the "a.arr_i32" KV and patch its count */
    unsigned char *k = find_bytes(c, n, "a.arr_i32", 9);
    CHECK(k != NULL, "key not found in file");
    if (k) {
        memcpy(c, b, n);
        k = c + (k - c) + 9 + 4 + 4; /* key, value type, element type */
        k[7] = 0x20;
        spit(pc, c, n);
        refused(pc, "declares", "huge array count");
    }
    /* unknown ggml type of the first tensor: find its name */
    memcpy(c, b, n);
    k = find_bytes(c, n, "t0.weight", 9);
    if (k) {
        unsigned char *ty = k + 9 + 4 + 16;
        ty[0] = 77;
        spit(pc, c, n);
        refused(pc, "unknown ggml type 77", "unknown tensor type");
        memcpy(c, b, n);
        unsigned char *off = k + 9 + 4 + 16 + 4;
        off[5] = 1; /* offset far beyond the end */
        spit(pc, c, n);
        refused(pc, "beyond the end", "data out of file");
    }
    refused("/nonexistent/x.gguf", "cannot open", "missing file");
    free(c);
    free(b);
}

/* the model tiny_qat builds (a family can be set before calling it), and
 * whether the output Linear (the embedding too, when tied) is quantized */
static const qt_model_cfg tiny_llama = {.arch = QT_ARCH_LLAMA, .dim = 64, .layers = 2, .heads = 4, .kv_heads = 2,
                                        .ffn = 128, .ctx = 32, .vocab = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
static qt_model_cfg tiny_cfg;
static int tiny_quant_output;

/* a tiny decoder (tiny_cfg) with quantizers of the given spec on every block Linear */
static qt_model *tiny_qat(const qt_quant_spec *spec, uint64_t seed) {
    if (!tiny_cfg.dim) tiny_cfg = tiny_llama;
    qt_model *m = qt_model_new(&tiny_cfg);
    qt_model_init(m, seed);
    uint64_t s = seed;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i]->ndim == 1) tu_fill_normal(m->params[i]->data, m->params[i]->n, 0.1f, &s);
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i]->ndim == 1)
            for (size_t k = 0; k < m->params[i]->n; k++) m->params[i]->data[k] += 1.0f;
    char err[256];
    for (int j = 0; j < m->n_linears; j++) {
        qt_linear_layer *l = m->linears[j];
        if (l == &m->output && !tiny_quant_output) continue;
        l->wq = qt_quantizer_new(spec, l->w, err, sizeof err);
        if (!l->wq) qt_die("%s", err);
        qt_quant_init_mse(l->wq, l->w, 20, 0.6f);
        /* move the scales off the init (as training would) */
        for (size_t k = 0; k < l->wq->scale->n; k++) l->wq->scale->data[k] *= (float)(0.9 + 0.2 * tu_uniform(&s));
        if (l->wq->offset && spec->grid == QT_GRID_FLOAT_MIN)
            for (size_t k = 0; k < l->wq->offset->n; k++) l->wq->offset->data[k] *= (float)(0.9 + 0.2 * tu_uniform(&s));
    }
    return m;
}

static void free_qat(qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) qt_quantizer_free(m->linears[j]->wq);
    qt_model_free(m);
}

static uint16_t rd16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }

static void test_export(const char *dir, qt_grid grid, int bits, const char *type) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/e_%s_%d.gguf", dir, type, bits);
    qt_quant_spec spec = {.bits = bits, .group = 32, .grid = grid, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny_qat(&spec, 11 + (uint64_t)bits);
    qt_export_opts o = {.type = type};
    int rc = qt_export_gguf(m, &o, path, err, sizeof err);
    CHECK(rc == 0, "%s from %d-bit grid %d: %s", type, bits, (int)grid, err);
    if (rc) {
        free_qat(m);
        return;
    }
    qt_gguf *g = qt_gguf_read(path, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    /* blocks decode (by llama.cpp's published layout, written out here) to the frozen weights */
    const qt_linear_layer *l = &m->blocks[1].wk;
    const qt_gguf_tensor *t = g ? qt_gguf_tensor_find(g, "blk.1.attn_k.weight") : NULL;
    CHECK(t && (int)t->type == qt_ggml_type_from_name(type), "blk.1.attn_k.weight has type %d", t ? (int)t->type : -1);
    if (t) {
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        size_t n = l->w->n;
        float *want = malloc(n * sizeof *want), *got = malloc(n * sizeof *got);
        qt_qweight_dequant(qw, want);
        const unsigned char *d = t->data;
        size_t bsz = qt_ggml_type_size(t->type);
        for (size_t b = 0; b < n / 32; b++) {
            const unsigned char *blk = d + b * bsz;
            float sc = qt_f16_to_f32(rd16(blk));
            for (int j = 0; j < 32; j++) {
                float v;
                if (t->type == QT_GGML_Q8_0) v = (float)(signed char)blk[2 + j] * sc;
                else if (t->type == QT_GGML_Q4_0) v = (float)((j < 16 ? blk[2 + j] & 15 : blk[2 + j - 16] >> 4) - 8) * sc;
                else v = sc * (float)(j < 16 ? blk[4 + j] & 15 : blk[4 + j - 16] >> 4) + qt_f16_to_f32(rd16(blk + 2));
                got[b * 32 + j] = v;
            }
        }
        /* qwen2/qwen3 files hold q/k rows in HF's order: file row r is our row qt_hf_rope_row(r, hd) */
        if (m->cfg.arch == QT_ARCH_QWEN2 || m->cfg.arch == QT_ARCH_QWEN3) {
            int cols = qt_cols(l->w), hd = qt_model_head_dim(&m->cfg);
            float *tmp = malloc(n * sizeof *tmp);
            for (int r = 0; r < qt_rows(l->w); r++)
                memcpy(tmp + (size_t)qt_hf_rope_row(r, hd) * cols, got + (size_t)r * cols, (size_t)cols * sizeof *tmp);
            memcpy(got, tmp, n * sizeof *tmp);
            free(tmp);
        }
        int exact = 1;
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            if (got[i] != want[i]) {
                /* ASYM in Q4_1: d·q + m vs (q - z)·s can differ by one rounding */
                if (grid == QT_GRID_ASYM && fabsf(got[i] - want[i]) <= 1e-6f * fabsf(want[i]) + 1e-12f) continue;
                exact = 0;
                bad = i;
                break;
            }
        CHECK(exact, "%s from %d-bit: element %zu decodes to %g, frozen weight %g", type, bits, bad, got[bad], want[bad]);
        free(want);
        free(got);
        qt_qweight_free(qw);
    }
    /* qatc's own import: same weights as the QAT model's deploy form, same logits */
    qt_model *a = qt_model_deploy(m, 1), *b = qt_import_gguf(path, err, sizeof err);
    CHECK(b != NULL, "%s", err);
    if (b) /* the family's config comes back (llama3 rope scaling recovered from rope_freqs.weight) */
        CHECK(b->cfg.arch == m->cfg.arch && b->cfg.tied == m->cfg.tied && qt_model_head_dim(&b->cfg) == qt_model_head_dim(&m->cfg) &&
              b->cfg.rope_factor == m->cfg.rope_factor && b->cfg.rope_high_freq == m->cfg.rope_high_freq &&
              b->cfg.rope_orig_ctx == m->cfg.rope_orig_ctx && qt_model_max_ctx(&b->cfg) == qt_model_max_ctx(&m->cfg),
              "%s: GGUF import changed the model config", qt_arch_name(m->cfg.arch));
    if (b) {
        int32_t ids[2 * 16];
        uint64_t s = 5;
        for (int i = 0; i < 32; i++) ids[i] = (int32_t)(tu_uniform(&s) * 256);
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_no_grad(&ctx, 1);
        qt_tensor *za = qt_model_forward(&ctx, a, ids, 2, 16);
        float *keep = malloc(za->n * sizeof *keep);
        memcpy(keep, za->data, za->n * sizeof *keep);
        qt_ctx_reset(&ctx);
        qt_tensor *zb = qt_model_forward(&ctx, b, ids, 2, 16);
        double rel = tu_rel_err(zb->data, keep, za->n);
        CHECK(grid == QT_GRID_ASYM ? rel < 1e-5 : rel == 0.0, "%s: GGUF logits differ from the QAT deploy model: %.3g",
              type, rel);
        for (int j = 0; j < m->n_linears; j++)
            CHECK(a->linears[j]->in_type == b->linears[j]->in_type || grid != QT_GRID_FLOAT_MIN, "act mode of linear %d", j);
        free(keep);
        qt_ctx_free(&ctx);
    }
    qt_model_free(a);
    qt_model_free(b);
    qt_gguf_free(g);
    free_qat(m);
}

static void test_refusals(const char *dir) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/r.gguf", dir);
    qt_quant_spec s8 = {.bits = 8, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny_qat(&s8, 3);
    qt_export_opts o = {.type = "Q4_0"};
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == -1, "sym 8-bit written as Q4_0");
    CHECK(strstr(err, "blk.0.attn_q.weight") && strstr(err, "8-bit") && strstr(err, "requantize"), "message: %s", err);
    o.requantize = 1;
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == 0, "requantize: %s", err);
    free_qat(m);
    qt_quant_spec g64 = {.bits = 4, .group = 64, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
    m = tiny_qat(&g64, 4);
    o.requantize = 0;
    o.type = NULL;
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == -1 && strstr(err, "group 64"), "group 64: %s", err);
    free_qat(m);
    qt_quant_spec nf = {.bits = 4, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 0};
    m = tiny_qat(&nf, 5);
    o.type = "Q4_0";
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == -1 && strstr(err, "not an fp16 value"), "fp32 scales: %s",
          err);
    o.type = "F32"; /* F32 holds any dequantized weight */
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == 0, "F32: %s", err);
    free_qat(m);
    /* asym 4-bit into Q4_1 needs m = -z·s as an fp16 value: generally not */
    qt_quant_spec as = {.bits = 4, .group = 32, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 1};
    m = tiny_qat(&as, 6);
    o.type = "Q4_1";
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == -1 && strstr(err, "min -z·s of row") && strstr(err, "float_min"), "asym Q4_1: %s", err);
    o.type = "Q5_K";
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == -1 && strstr(err, "Q5_K"), "unknown type: %s", err);
    free_qat(m);
}

/* the config's export list: every entry written under out_dir; a refusal names the entry */
static void test_export_run(const char *dir) {
    char json[2048], err[1024], path[700];
    snprintf(json, sizeof json,
             "{\"out_dir\": \"%s/run\", \"data\": {\"train\": [\"x.txt\"]}, "
             "\"model\": {\"dim\": 64, \"layers\": 2, \"heads\": 4, \"kv_heads\": 2, \"ffn\": 128, \"ctx\": 32},"
             "\"export\": [{\"format\": \"gguf\", \"type\": \"Q4_0\", \"path\": \"m/q4.gguf\"},"
             "{\"format\": \"awq\", \"path\": \"awq\"}, {\"format\": \"hdf5\", \"path\": \"q.h5\"},"
             "{\"format\": \"gguf\", \"type\": \"Q8_0\", \"path\": \"q8.gguf\"}]}", dir);
    qt_config cfg;
    CHECK(qt_config_parse(json, "t.json", QT_CONFIG_NO_FILE_CHECKS, &cfg, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/run", dir);
    mkdir(path, 0777);
    qt_quant_spec s4 = {.bits = 4, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny_qat(&s4, 21);
    CHECK(qt_export_run(&cfg, m, NULL, err, sizeof err) == 0, "export list: %s", err);
    const char *files[] = {"m/q4.gguf", "awq/model.safetensors", "awq/config.json", "q.h5", "q8.gguf"};
    for (int i = 0; i < 5; i++) {
        snprintf(path, sizeof path, "%s/run/%s", dir, files[i]);
        FILE *f = fopen(path, "rb");
        CHECK(f != NULL, "export list did not write %s", files[i]);
        if (f) fclose(f);
    }
    free_qat(m);
    qt_quant_spec s8 = {.bits = 8, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
    m = tiny_qat(&s8, 22);
    CHECK(qt_export_run(&cfg, m, NULL, err, sizeof err) == -1 && strstr(err, "export[0]") && strstr(err, "m/q4.gguf") &&
          strstr(err, "blk.0.attn_q.weight"), "refusal in the export list: %s", err);
    free_qat(m);
    qt_config_free(&cfg);
}

/* the tokenizer keys: the byte tokenizer as llama.cpp's "gpt2" (GPT-2 byte
 * form, an empty merges array, no BOS, EOS '\n'); extra vocabulary rows;
 * a tokenizer larger than the model's vocabulary is refused */
static void test_export_tokenizer(const char *dir) {
    char path[600], path2[600], err[1024];
    snprintf(path, sizeof path, "%s/tok.gguf", dir);
    snprintf(path2, sizeof path2, "%s/tok2.gguf", dir);
    qt_model_cfg cfg = {.arch = QT_ARCH_LLAMA, .dim = 32, .layers = 1, .heads = 2, .kv_heads = 2, .ffn = 64,
                        .ctx = 16, .vocab = 300, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, 3);
    qt_export_opts o = {.type = "F32"};
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == 0, "%s", err);
    qd_tokenizer *bt = qd_tokenizer_byte();
    o.tokenizer = bt;
    CHECK(qt_export_gguf(m, &o, path2, err, sizeof err) == 0, "%s", err);
    size_t n1 = 0, n2 = 0;
    unsigned char *b1 = slurp(path, &n1), *b2 = slurp(path2, &n2);
    CHECK(b1 && b2 && n1 == n2 && n1 && !memcmp(b1, b2, n1), "the byte tokenizer and NULL wrote different files");
    free(b1);
    free(b2);
    qt_gguf *g = qt_gguf_read(path, err, sizeof err);
    CHECK(g != NULL, "%s", err);
    if (g) {
        const char *s = qt_gguf_get_str(g, "tokenizer.ggml.model", err, sizeof err);
        CHECK(s && !strcmp(s, "gpt2"), "tokenizer.ggml.model %s", s ? s : err);
        s = qt_gguf_get_str(g, "tokenizer.ggml.pre", err, sizeof err);
        CHECK(s && !strcmp(s, "qwen2"), "tokenizer.ggml.pre %s", s ? s : err);
        const qt_gguf_kv *kv = qt_gguf_find(g, "tokenizer.ggml.tokens");
        CHECK(kv && kv->type == QT_GGUF_ARRAY && kv->arr_type == QT_GGUF_STRING && kv->n == 300, "tokens");
        if (kv && kv->n == 300) {
            CHECK(!strcmp(kv->strs['A'], "A") && !strcmp(kv->strs[0], "\xC4\x80") && !strcmp(kv->strs[' '], "\xC4\xA0") &&
                  !strcmp(kv->strs['\n'], "\xC4\x8A") && !strcmp(kv->strs[0xFF], "\xC3\xBF") &&
                  !strcmp(kv->strs[0xAD], "\xC5\x83"), "byte tokens are not in GPT-2's byte-to-unicode form");
            CHECK(!strcmp(kv->strs[256], "<extra_0>") && !strcmp(kv->strs[299], "<extra_43>"), "extra rows");
        }
        kv = qt_gguf_find(g, "tokenizer.ggml.token_type");
        CHECK(kv && kv->arr_type == QT_GGUF_I32 && kv->n == 300, "token_type");
        if (kv && kv->n == 300) {
            const int32_t *tt = kv->arr;
            CHECK(tt[0] == QD_TT_NORMAL && tt[255] == QD_TT_NORMAL && tt[256] == QD_TT_UNUSED && tt[299] == QD_TT_UNUSED,
                  "token types %d %d %d", tt[0], tt[255], tt[256]);
        }
        kv = qt_gguf_find(g, "tokenizer.ggml.merges");
        CHECK(kv && kv->type == QT_GGUF_ARRAY && kv->arr_type == QT_GGUF_STRING && kv->n == 0,
              "merges: expected an empty string array");
        uint32_t eos = 0;
        CHECK(qt_gguf_get_u32(g, "tokenizer.ggml.eos_token_id", &eos, err, sizeof err) == 0 && eos == '\n',
              "eos %u %s", eos, err);
        kv = qt_gguf_find(g, "tokenizer.ggml.add_bos_token");
        CHECK(kv && kv->type == QT_GGUF_BOOL && kv->val.u == 0, "add_bos_token: expected false");
        kv = qt_gguf_find(g, "tokenizer.ggml.add_eos_token");
        CHECK(kv && kv->type == QT_GGUF_BOOL && kv->val.u == 0, "add_eos_token: expected false");
        CHECK(!qt_gguf_find(g, "tokenizer.ggml.bos_token_id") && !qt_gguf_find(g, "tokenizer.ggml.scores"),
              "unexpected bos_token_id or scores");
        qt_gguf_free(g);
    }
    /* the importer reads the file back */
    qt_model *im = qt_import_gguf(path, err, sizeof err);
    CHECK(im && im->cfg.vocab == 300, "import: %s", im ? "vocab" : err);
    qt_model_free(im);
    qt_model_free(m);
    cfg.vocab = 200;
    m = qt_model_new(&cfg);
    qt_model_init(m, 4);
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == -1 && strstr(err, "byte") && strstr(err, "256") &&
          strstr(err, "200") && strstr(err, path), "a tokenizer larger than the vocabulary: %s", err);
    qt_model_free(m);
    qd_tokenizer_free(bt);
}

static void test_q8_blocks(void) {
    uint64_t s = 9;
    const int n = 80; /* two full blocks and a partial one */
    float x[80], y[80], d32[3];
    int qs[3];
    tu_fill_normal(x, n, 2.0f, &s);
    for (int i = 32; i < 64; i++) x[i] = 0.0f; /* an all-zero block */
    qt_ggml_q8_round_row(x, y, (size_t)n, d32, qs);
    for (int b = 0; b < 3; b++) {
        int m = b < 2 ? 32 : 16, sum = 0;
        float amax = 0;
        for (int i = 0; i < m; i++) amax = fmaxf(amax, fabsf(x[32 * b + i]));
        float d = qt_f16_round(amax / 127.0f);
        CHECK(d32[b] == amax / 127.0f, "block %d: d32", b);
        for (int i = 0; i < m; i++) {
            float v = y[32 * b + i];
            if (d == 0.0f) {
                CHECK(v == 0.0f, "zero block");
                continue;
            }
            float q = v / d;
            CHECK(q == rintf(q) && fabsf(q) <= 127.0f, "block %d: value %d is not an int8 multiple of d", b, i);
            CHECK(fabsf(v - x[32 * b + i]) <= 0.5f * amax / 127.0f + fabsf(amax / 127.0f - d) * 127.0f + 1e-6f,
                  "block %d: rounding error too large", b);
            sum += (int)q;
        }
        CHECK(qs[b] == sum, "block %d: Σq %d, expected %d", b, qs[b], sum);
    }
    /* the op: identity backward (STE) */
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 16);
    int sh[2] = {2, 40};
    qt_tensor *p = qt_param_new("x", 2, sh);
    tu_fill_normal(p->data, p->n, 1.0f, &s);
    qt_tensor *yq = qt_act_quant_q8_blocks(&ctx, p);
    qt_tensor *l = qt_sum(&ctx, qt_mul(&ctx, yq, yq));
    qt_backward(&ctx, l, NULL);
    int ste = 1;
    for (size_t i = 0; i < p->n; i++) ste &= p->grad[i] == 2.0f * yq->data[i];
    CHECK(ste, "q8 block rounding backward is not the identity");
    qt_actquant *aq = qt_actquant_new("a", 4, QT_ACT_Q8_BLOCKS, 0.0f);
    CHECK(aq->bits == 8 && aq->scale == NULL, "Q8 block actquant has bits %d", aq->bits);
    qt_ctx_reset(&ctx);
    qt_tensor *y2 = qt_act_quant(&ctx, p, aq);
    CHECK(!memcmp(y2->data, yq->data, p->n * sizeof(float)), "qt_act_quant dispatch");
    qt_actquant_free(aq);
    qt_param_free(p);
    qt_ctx_free(&ctx);
}

/* exports a one-layer model with llama3 rope scaling (rope_div overwritten by
 * div when given) and imports it: 0 and the imported model in *out, or -1
 * with the importer's message in err */
static int rope_case(const char *path, int hd, float theta, float factor, float lo, float hi, int orig,
                     const float *div, qt_model **out, char *err, size_t errlen) {
    qt_model_cfg cfg = {.arch = QT_ARCH_LLAMA, .dim = hd, .layers = 1, .heads = 1, .kv_heads = 1, .ffn = 32,
                        .ctx = 16, .max_ctx = 131072, .vocab = 256, .rope_theta = theta, .norm_eps = 1e-5f,
                        .rope_factor = factor, .rope_low_freq = lo, .rope_high_freq = hi, .rope_orig_ctx = orig};
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, 5);
    if (div) memcpy(m->rope_div, div, (size_t)(hd / 2) * sizeof *div);
    qt_export_opts o = {.type = "F32"};
    int rc = qt_export_gguf(m, &o, path, err, errlen);
    qt_model_free(m);
    *out = rc ? NULL : qt_import_gguf(path, err, errlen);
    return *out ? 0 : -1;
}

/* llama3 rope scaling through GGUF (rope_freqs.weight holds llama.cpp's
 * divisors): the importer finds parameters that give the divisors back (bit
 * for bit for qatc's own files with low_freq_factor 1: Llama 3.1 and 3.2,
 * and the tiny cli_llamacpp_families case with a single smooth divisor),
 * equivalent ones for other ratios, accepts a converter's float32 frequencies
 * within 1e-6 (the model keeps the file's divisors exactly) and refuses
 * divisors no llama3 setting gives. */
static void test_rope_freqs(const char *dir) {
    char path[600], err[1024];
    snprintf(path, sizeof path, "%s/rope.gguf", dir);
    struct { int hd; float theta, factor, hi; int orig; } exact[] = {
        {128, 500000.0f, 8.0f, 4.0f, 8192},  /* Llama 3.1 */
        {64, 500000.0f, 32.0f, 4.0f, 8192},  /* Llama 3.2 1B */
        {16, 500000.0f, 8.0f, 4.0f, 64},     /* one smooth divisor (hf_families.py's llama3) */
        {32, 10000.0f, 4.0f, 2.5f, 1000},    /* other high_freq_factor and context */
    };
    for (size_t k = 0; k < sizeof exact / sizeof exact[0]; k++) {
        qt_model *m;
        int hd = exact[k].hd;
        if (rope_case(path, hd, exact[k].theta, exact[k].factor, 1.0f, exact[k].hi, exact[k].orig, NULL, &m, err,
                      sizeof err)) {
            CHECK(0, "rope case %zu: %s", k, err);
            continue;
        }
        qt_model_cfg want = m->cfg;
        want.rope_factor = exact[k].factor, want.rope_high_freq = exact[k].hi, want.rope_orig_ctx = exact[k].orig;
        float d[64];
        qt_model_rope_divisors(&want, d);
        int same = !memcmp(d, m->rope_div, (size_t)(hd / 2) * sizeof *d);
        qt_model_rope_divisors(&m->cfg, d);
        same = same && !memcmp(d, m->rope_div, (size_t)(hd / 2) * sizeof *d);
        /* with a single smooth divisor the parameters are not unique; a round high_freq_factor is preferred */
        int params = m->cfg.rope_factor == exact[k].factor && m->cfg.rope_low_freq == 1.0f &&
                     m->cfg.rope_high_freq == exact[k].hi && m->cfg.rope_orig_ctx == exact[k].orig;
        CHECK(same && params, "rope case %zu: imported factor %g low %g high %g orig %d, divisors %s",
              k, (double)m->cfg.rope_factor, (double)m->cfg.rope_low_freq, (double)m->cfg.rope_high_freq,
              m->cfg.rope_orig_ctx, same ? "equal" : "differ");
        qt_model_free(m);
    }
    /* low 2, high 8, original 16384 is Llama 3.1's setting scaled: low_freq_factor 1 is found */
    qt_model *m;
    if (rope_case(path, 128, 500000.0f, 8.0f, 2.0f, 8.0f, 16384, NULL, &m, err, sizeof err) == 0) {
        CHECK(m->cfg.rope_low_freq == 1.0f && m->cfg.rope_high_freq == 4.0f && m->cfg.rope_orig_ctx == 8192,
              "scaled ratios: %g %g %d", (double)m->cfg.rope_low_freq, (double)m->cfg.rope_high_freq,
              m->cfg.rope_orig_ctx);
        qt_model_free(m);
    } else {
        CHECK(0, "scaled ratios: %s", err);
    }
    /* divisors as convert_hf_to_gguf.py computes them (float32 frequencies, then float64) */
    float div[64], theta = 500000.0f;
    for (int i = 0; i < 64; i++) {
        float fr = 1.0f / powf(theta, (float)(2 * i) / 128.0f);
        double wl = 6.283185307179586 / fr, sm = (8192.0 / wl - 1.0) / 3.0;
        div[i] = wl < 2048.0 ? 1.0f : wl > 8192.0 ? 8.0f : (float)(1.0 / ((1.0 - sm) / 8.0 + sm));
    }
    if (rope_case(path, 128, theta, 8.0f, 1.0f, 4.0f, 8192, div, &m, err, sizeof err) == 0) {
        CHECK(!memcmp(div, m->rope_div, sizeof div) && m->cfg.rope_orig_ctx == 8192 && m->cfg.rope_high_freq == 4.0f,
              "float32 converter divisors: not kept, or parameters %.9g %d", (double)m->cfg.rope_high_freq,
              m->cfg.rope_orig_ctx);
        qt_model_free(m);
    } else {
        CHECK(0, "float32 converter divisors: %s", err);
    }
    /* llama.cpp's qwen2 and qwen3 do not read rope_freqs.weight (they refuse a file holding it) */
    for (int a = 0; a < 2; a++) {
        qt_model_cfg qc = {.arch = a ? QT_ARCH_QWEN3 : QT_ARCH_QWEN2, .dim = 32, .layers = 1, .heads = 2,
                           .kv_heads = 2, .ffn = 32, .ctx = 16, .vocab = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f,
                           .qkv_bias = !a, .qk_norm = a, .rope_factor = 8.0f, .rope_low_freq = 1.0f,
                           .rope_high_freq = 4.0f, .rope_orig_ctx = 64};
        qt_model *q = qt_model_new(&qc);
        qt_model_init(q, 6);
        qt_export_opts o = {.type = "F32"};
        remove(path);
        CHECK(qt_export_gguf(q, &o, path, err, sizeof err) == -1 && strstr(err, "rope_freqs.weight") &&
              strstr(err, a ? "qwen3" : "qwen2") && strstr(err, path), "%s with rope scaling: %s",
              a ? "qwen3" : "qwen2", err);
        struct stat st;
        CHECK(stat(path, &st) != 0, "a refused export left a file");
        qt_model_free(q);
    }
    /* not llama3: a smooth band off the curve, decreasing divisors, a divisor below 1 */
    float bad[3][8] = {{1, 1, 1.5f, 2.5f, 3.0f, 8, 8, 8}, {1, 2, 1.5f, 8, 8, 8, 8, 8}, {0.5f, 1, 1, 1, 8, 8, 8, 8}};
    const char *why[3] = {"is not llama3 rope scaling", "non-decreasing", ">= 1"};
    for (int k = 0; k < 3; k++) {
        CHECK(rope_case(path, 16, 10000.0f, 8.0f, 1.0f, 4.0f, 64, bad[k], &m, err, sizeof err) == -1 &&
              strstr(err, "rope_freqs.weight") && strstr(err, why[k]) && strstr(err, path),
              "bad divisors %d: %s", k, m ? "accepted" : err);
        qt_model_free(m);
    }
}

int main(void) {
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    test_roundtrip(dir);
    test_export(dir, QT_GRID_SYM, 8, "Q8_0");
    test_export(dir, QT_GRID_SYM, 4, "Q4_0");
    test_export(dir, QT_GRID_SYM, 4, "Q8_0");
    test_export(dir, QT_GRID_FLOAT_MIN, 4, "Q4_1");
    /* the families: qwen2 (q/k/v biases, NEOX rows in the file) tied, with
     * the tied embedding/output quantized too; qwen3 (q/k norm, head_dim 32
     * != 64/4); llama with llama3 rope scaling (rope_freqs.weight) */
    tiny_cfg = tiny_llama;
    tiny_cfg.arch = QT_ARCH_QWEN2;
    tiny_cfg.qkv_bias = 1;
    tiny_cfg.tied = 1;
    tiny_quant_output = 1;
    test_export(dir, QT_GRID_SYM, 8, "Q8_0");
    test_export(dir, QT_GRID_SYM, 4, "Q4_0");
    tiny_cfg = tiny_llama;
    tiny_cfg.arch = QT_ARCH_QWEN3;
    tiny_cfg.qk_norm = 1;
    tiny_cfg.head_dim = 32;
    tiny_quant_output = 0;
    test_export(dir, QT_GRID_SYM, 4, "Q4_0");
    tiny_cfg = tiny_llama;
    tiny_cfg.rope_factor = 8.0f;
    tiny_cfg.rope_low_freq = 1.0f;
    tiny_cfg.rope_high_freq = 4.0f;
    tiny_cfg.rope_orig_ctx = 64;
    tiny_cfg.max_ctx = 512;
    test_export(dir, QT_GRID_SYM, 4, "Q4_0");
    tiny_cfg = tiny_llama;
    test_refusals(dir);
    test_export_run(dir);
    test_export_tokenizer(dir);
    test_rope_freqs(dir);
    test_q8_blocks();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cleanup failed\n");
    return tu_finish("test_gguf");
}
