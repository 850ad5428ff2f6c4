/* quant/ggml_blocks against llama.cpp itself: tests/oracles/ggml_codecs.py
 * runs the prebuilt libggml-base.so (npm @node-llama-cpp/linux-x64,
 * scripts/install_oracles.sh) on inputs written here. For every type (F32,
 * F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL, MXFP4, Q2_K..Q6_K, Q8_K)
 * and every input kind (normal with outliers, all zeros, constant rows, tiny
 * values with fp16-subnormal scales, tiny values whose fp16 scales vanish,
 * large values, one huge outlier, values on a grid with ties, sparse rows,
 * wide heavy-tailed rows with a per-row offset; several rows of 32·k or
 * 256·k values):
 *   - qt_ggml_quantize_ref writes llama.cpp's quantize_row_*_ref bytes;
 *   - qt_ggml_dequantize of llama.cpp's bytes (reference and imatrix ones)
 *     is llama.cpp's dequantize_row_*, bit for bit;
 *   - qt_ggml_quantize_chunk, without and with a random positive importance
 *     matrix, writes ggml_quantize_chunk's bytes;
 *   - for K types, qt_ggml_k_block_params + qt_ggml_k_block_codes give back
 *     llama.cpp's dequantized values (d_j·q - m_j) and codes in range;
 *   - type ids, names, block and type sizes are ggml's;
 *   - a frozen QAT grid of every type qatc writes (Q8_0, Q4_0, Q4_1, Q5_0,
 *     Q5_1, Q2_K..Q6_K, IQ4_NL with scales of both signs, MXFP4; scales moved
 *     off their initialisation) is written by
 *     qt_ggml_quantize_qweight as blocks that llama.cpp's dequantize_row_*
 *     decodes to exactly qatc's dequantized weights;
 * and the cases are not vacuous: the imatrix changes the bytes of every type
 * that has an importance path, IQ4_NL's chunk quantizer differs from its
 * reference, and some cases hit fp16-subnormal and zero scales. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/files.h"
#include "base/half.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"
#include "test_util.h"

/* the types a frozen QAT grid is written as, each from its own spec */
static const int FROZEN[] = {QT_GGML_Q8_0, QT_GGML_Q4_0, QT_GGML_Q4_1, QT_GGML_Q5_0, QT_GGML_Q5_1,
                             QT_GGML_Q2_K, QT_GGML_Q3_K, QT_GGML_Q4_K, QT_GGML_Q5_K, QT_GGML_Q6_K,
                             QT_GGML_IQ4_NL, QT_GGML_MXFP4};
#define N_FROZEN (int)(sizeof FROZEN / sizeof FROZEN[0])
#define FROZEN_ROWS 6
#define FROZEN_COLS 512

/* a frozen weight of type t's grid whose scales (and mins) moved away from
 * their initialisation as training moves them */
static qt_qweight *frozen_weight(int t, uint64_t *rng) {
    qt_tensor *w = qt_param_new("frozen", 2, (int[]){FROZEN_ROWS, FROZEN_COLS});
    for (size_t i = 0; i < w->n; i++) w->data[i] = (float)(0.04 * tu_normal(rng) * (tu_uniform(rng) < 0.02 ? 8.0 : 1.0));
    qt_quant_spec spec = {.learnable = 1};
    qt_ggml_spec_of_type(t, &spec);
    qt_quantizer *q = qt_quantizer_new(&spec, w, NULL, 0);
    qt_quant_init_mse(q, w, 20, 0.6f);
    for (size_t k = 0; k < q->scale->n; k++) {
        q->scale->data[k] *= (float)(0.8 + 0.4 * tu_uniform(rng));
        if (q->offset) q->offset->data[k] += (float)(0.01 * tu_normal(rng));
    }
    qt_quantizer_clamp(q);
    qt_qweight *qw = qt_freeze(w, q);
    qt_quantizer_free(q);
    qt_param_free(w);
    return qw;
}

static const int TYPES[] = {QT_GGML_F32,  QT_GGML_F16,    QT_GGML_BF16,  QT_GGML_Q8_0, QT_GGML_Q4_0, QT_GGML_Q4_1,
                            QT_GGML_Q5_0, QT_GGML_Q5_1,   QT_GGML_IQ4_NL, QT_GGML_MXFP4, QT_GGML_Q2_K, QT_GGML_Q3_K,
                            QT_GGML_Q4_K, QT_GGML_Q5_K, QT_GGML_Q6_K,  QT_GGML_Q8_K};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

enum { K_NORMAL, K_ZERO, K_CONST, K_TINY, K_VANISH, K_LARGE, K_OUTLIER, K_GRID, K_SPARSE, K_WIDE, N_KINDS };
static const char *KIND[N_KINDS] = {"normal+outliers", "zeros", "constant rows", "tiny", "vanishing scales",
                                    "large", "one huge outlier", "grid with ties", "sparse", "wide heavy-tailed"};

/* one input: nrows rows of n_per_row values of kind k */
static void fill(float *x, int nrows, int n_per_row, int kind, uint64_t *rng) {
    const size_t n = (size_t)nrows * n_per_row;
    for (size_t i = 0; i < n; i++) {
        const int r = (int)(i / (size_t)n_per_row);
        double z = tu_normal(rng);
        switch (kind) {
        case K_NORMAL: x[i] = (float)(0.05 * z * (tu_uniform(rng) < 0.02 ? 20.0 : 1.0)); break;
        case K_ZERO: x[i] = 0.0f; break;
        case K_CONST: x[i] = r % 3 == 0 ? 0.37f : r % 3 == 1 ? -1.25f : 3e-3f; break;
        case K_TINY: x[i] = (float)(1e-7 * z); break;
        case K_VANISH: x[i] = (float)(1e-30 * z); break;
        case K_LARGE: x[i] = (float)(1e4 * z); break;
        case K_OUTLIER: x[i] = (float)(0.02 * z); break;
        case K_GRID: x[i] = 0.125f * (float)((int)(tu_uniform(rng) * 81.0) - 40); break;
        case K_SPARSE: x[i] = tu_uniform(rng) < 0.9 ? 0.0f : (float)z; break;
        case K_WIDE: x[i] = (float)(0.03 * z / sqrt(0.05 + tu_uniform(rng)) + (r % 2 ? 0.01 : 0.0)); break;
        }
    }
    if (kind == K_OUTLIER) x[(size_t)(tu_uniform(rng) * (double)n)] = 500.0f;
}

static void write_raw(const char *dir, int i, const char *ext, const void *p, size_t bytes) {
    char path[1200], err[512];
    snprintf(path, sizeof path, "%s/%d.%s", dir, i, ext);
    if (qt_write_file_atomic(path, p, bytes, err, sizeof err)) {
        fprintf(stderr, "FAIL: %s\n", err);
        exit(1);
    }
}

/* a file the oracle wrote, which must hold exactly `bytes` bytes */
static uint8_t *read_raw(const char *dir, int i, const char *ext, size_t bytes) {
    char path[1200], err[512], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%d.%s", dir, i, ext);
    if (qt_read_file(path, &data, &len, err, sizeof err)) {
        CHECK(0, "%s", err);
        return NULL;
    }
    CHECK(len == bytes, "%s: %zu bytes, expected %zu", path, len, bytes);
    if (len != bytes) {
        free(data);
        return NULL;
    }
    return (uint8_t *)data;
}

/* index of the first differing block of two byte arrays, or -1 */
static long first_diff(const uint8_t *a, const uint8_t *b, size_t bytes, size_t bsz) {
    for (size_t o = 0; o < bytes; o++)
        if (a[o] != b[o]) return (long)(o / bsz);
    return -1;
}

static int is_k(int t) { return t >= QT_GGML_Q2_K && t <= QT_GGML_Q8_K; }

/* the K-type helpers give back llama.cpp's dequantized values (bitwise) and
 * codes in the documented range, super-block by super-block */
static void check_k_structure(int t, const uint8_t *blocks, const float *deq, size_t n, const char *label) {
    static const int LO[] = {0, -4, 0, 0, -32, -128}, HI[] = {3, 3, 15, 31, 31, 127};
    const int lo = LO[t - QT_GGML_Q2_K], hi = HI[t - QT_GGML_Q2_K];
    const int has_min = t == QT_GGML_Q2_K || t == QT_GGML_Q4_K || t == QT_GGML_Q5_K;
    const size_t bsz = qt_ggml_type_size(t);
    for (size_t b = 0; b < n / 256; b++) {
        float d[16], m[16];
        int8_t q[256];
        int ns = qt_ggml_k_block_params(t, blocks + b * bsz, d, m);
        int nc = qt_ggml_k_block_codes(t, blocks + b * bsz, q);
        int want = t == QT_GGML_Q8_K ? 1 : t == QT_GGML_Q4_K || t == QT_GGML_Q5_K ? 8 : 16;
        CHECK(ns == want && nc == want, "%s: %d / %d sub-blocks, expected %d", label, ns, nc, want);
        if (ns != want) return;
        for (int e = 0; e < 256; e++) {
            const int j = e / (256 / ns);
            float v = has_min ? d[j] * (float)q[e] - m[j] : d[j] * (float)q[e];
            if (q[e] < lo || q[e] > hi || memcmp(&v, &deq[b * 256 + e], 4)) {
                CHECK(0, "%s: super-block %zu value %d: code %d (range %d..%d), d %.9g m %.9g -> %.9g, llama.cpp %.9g",
                      label, b, e, q[e], lo, hi, (double)d[j], (double)m[j], (double)v, (double)deq[b * 256 + e]);
                return;
            }
        }
    }
}

int main(void) {
    char lib[1024];
    tu_src("tests/oracles/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so", lib, sizeof lib);
    if (access(lib, R_OK) != 0) {
        fprintf(stderr, "FAIL: %s missing: run scripts/install_oracles.sh\n", lib);
        return 1;
    }
    char dir[1024], path[1100];
    tu_tmpdir(dir, sizeof dir);
    uint64_t rng = 0x5eed1234abcdULL;

    /* the cases: every type × every kind, shapes varying with the kind */
    int n_cases = N_TYPES * N_KINDS;
    int *ctype = malloc(sizeof(int) * (size_t)n_cases), *crows = malloc(sizeof(int) * (size_t)n_cases),
        *ccols = malloc(sizeof(int) * (size_t)n_cases);
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *mf = fopen(path, "w");
    if (!mf || !ctype || !crows || !ccols) return 2;
    fprintf(mf, "types");
    for (int t = 0; t <= 40; t++)
        if (qt_ggml_type_name(t)) fprintf(mf, " %d", t);
    fprintf(mf, "\n");
    for (int ti = 0, c = 0; ti < N_TYPES; ti++)
        for (int k = 0; k < N_KINDS; k++, c++) {
            const int t = TYPES[ti], unit = is_k(t) ? 256 : 32;
            ctype[c] = t;
            crows[c] = k == K_WIDE ? 64 : 1 + (k + ti) % 3;
            ccols[c] = k == K_WIDE ? unit * (is_k(t) ? 4 : 16) : unit * (1 + (k * 7 + ti) % (is_k(t) ? 3 : 5));
            const size_t n = (size_t)crows[c] * ccols[c];
            float *x = malloc(n * sizeof *x), *imx = malloc((size_t)ccols[c] * sizeof *imx);
            if (!x || !imx) return 2;
            fill(x, crows[c], ccols[c], k, &rng);
            for (int j = 0; j < ccols[c]; j++) imx[j] = (float)exp(tu_normal(&rng)); /* random positive importance */
            write_raw(dir, c, "x", x, n * sizeof *x);
            write_raw(dir, c, "imx", imx, (size_t)ccols[c] * sizeof *imx);
            fprintf(mf, "case %d %d %d %d\n", c, t, crows[c], ccols[c]);
            free(x);
            free(imx);
        }
    /* frozen QAT grids written as blocks: llama.cpp decodes them to qatc's dequantized weights */
    float *frozen_deq[N_FROZEN];
    for (int f = 0; f < N_FROZEN; f++) {
        const int t = FROZEN[f], id = n_cases + f;
        qt_qweight *qw = frozen_weight(t, &rng);
        if (t == QT_GGML_IQ4_NL) { /* both signs of the scale, as llama.cpp's quantizer picks them */
            int neg = 0, pos = 0;
            for (int k = 0; k < qw->srows * qw->ngroups; k++) neg += qw->scales[k] < 0.0f, pos += qw->scales[k] > 0.0f;
            CHECK(neg > 0 && pos > 0, "IQ4_NL frozen grid: %d negative and %d positive scales (want both)", neg, pos);
        }
        const size_t n = (size_t)FROZEN_ROWS * FROZEN_COLS, nbytes = n / qt_ggml_block_size(t) * qt_ggml_type_size(t);
        uint8_t *blk = malloc(nbytes);
        frozen_deq[f] = malloc(n * sizeof(float));
        char why[256] = "";
        int ok = qt_ggml_quantize_qweight(qw, t, blk, why, sizeof why) == 0;
        CHECK(ok, "%s: frozen grid not writable: %s", qt_ggml_type_name(t), why);
        qt_qweight_dequant(qw, frozen_deq[f]);
        write_raw(dir, id, "blk", blk, nbytes);
        fprintf(mf, "blocks %d %d %zu\n", id, t, n);
        free(blk);
        qt_qweight_free(qw);
    }
    fclose(mf);
    snprintf(path, sizeof path, "%s", dir);
    int rc = tu_run_oracle("tests/oracles/ggml_codecs.py", path);
    CHECK(rc == 0, "ggml_codecs.py failed (%d)", rc);
    if (rc) return tu_finish("test_ggml_codecs");

    /* type ids, names and sizes are ggml's */
    snprintf(path, sizeof path, "%s/types.txt", dir);
    FILE *tf = fopen(path, "r");
    CHECK(tf != NULL, "no types.txt");
    int n_types_seen = 0, id, bs;
    char name[64];
    size_t ts;
    while (tf && fscanf(tf, "%d %63s %d %zu", &id, name, &bs, &ts) == 4) {
        /* ggml spells "q4_K", GGUF tools and qatc "Q4_K" */
        CHECK(qt_ggml_type_name(id) && !strcasecmp(qt_ggml_type_name(id), name), "type %d: qatc %s, ggml %s", id,
              qt_ggml_type_name(id), name);
        for (char *p = name; *p; p++) *p = (char)toupper((unsigned char)*p);
        CHECK(qt_ggml_type_from_name(name) == id, "type %s: id %d, ggml %d", name, qt_ggml_type_from_name(name), id);
        CHECK(qt_ggml_block_size(id) == bs, "%s: block %d, ggml %d", name, qt_ggml_block_size(id), bs);
        CHECK(qt_ggml_type_size(id) == ts, "%s: type size %zu, ggml %zu", name, qt_ggml_type_size(id), ts);
        n_types_seen++;
    }
    if (tf) fclose(tf);
    CHECK(n_types_seen == 17, "%d types compared, expected all 17 of qatc's table", n_types_seen);
    CHECK(qt_ggml_type_from_name("IQ4_NL") == 20 && qt_ggml_type_from_name("MXFP4") == 39, "IQ4_NL / MXFP4 ids");

    for (int f = 0; f < N_FROZEN; f++) {
        const size_t n = (size_t)FROZEN_ROWS * FROZEN_COLS;
        float *deq = (float *)read_raw(dir, n_cases + f, "bdeq", n * sizeof(float));
        if (deq) {
            size_t bad = 0, first = 0;
            for (size_t i = 0; i < n; i++)
                if (memcmp(&deq[i], &frozen_deq[f][i], 4) && !bad++) first = i;
            CHECK(bad == 0, "%s: llama.cpp decodes the frozen grid's blocks to other weights at %zu places (first %zu: "
                  "%.9g, qatc %.9g)", qt_ggml_type_name(FROZEN[f]), bad, first, (double)deq[first],
                  (double)frozen_deq[f][first]);
        }
        free(deq);
        free(frozen_deq[f]);
    }

    /* per type: blocks compared, imatrix cases that changed the bytes, chunk ≠ ref cases */
    int blocks[40] = {0}, imx_changed[40] = {0}, chunk_not_ref[40] = {0};
    int n_sub_f16 = 0, n_zero_scale = 0, n_unset_codes = 0;
    for (int c = 0; c < n_cases; c++) {
        const int t = ctype[c];
        const size_t n = (size_t)crows[c] * ccols[c], bsz = qt_ggml_type_size(t), nbytes = n / qt_ggml_block_size(t) * bsz;
        char label[128];
        snprintf(label, sizeof label, "%s %s (%d×%d)", qt_ggml_type_name(t), KIND[(c % N_KINDS)], crows[c], ccols[c]);
        float *x = (float *)read_raw(dir, c, "x", n * 4), *imx = (float *)read_raw(dir, c, "imx", (size_t)ccols[c] * 4);
        uint8_t *ref = read_raw(dir, c, "ref", nbytes), *deq = read_raw(dir, c, "deq", n * 4);
        uint8_t *mine = calloc(nbytes, 1);
        float *y = malloc(n * sizeof *y);
        if (!x || !imx || !ref || !deq || !mine || !y) return 2;
        blocks[t] += (int)(nbytes / bsz);

        /* (a) dequantize of llama.cpp's bytes: llama.cpp's floats, bit for bit */
        CHECK(qt_ggml_dequantize(t, ref, y, n) == 0, "%s: dequantize refused", label);
        CHECK(!memcmp(y, deq, n * 4), "%s: dequantize differs from llama.cpp's (value %ld)", label,
              first_diff((uint8_t *)y, deq, n * 4, 4));
        if (is_k(t)) check_k_structure(t, ref, (const float *)deq, n, label);
        /* (b) reference quantizer: the same bytes. Except: this llama.cpp's
         * quantize_row_iq4_nl_ref leaves the codes of an all-zero block
         * (max |x| < 1e-15) unset (the previous block's, or stack garbage for
         * the first); qatc writes zero codes. There d (0) and the values are
         * compared, and llama.cpp's codes are set to qatc's. */
        CHECK(qt_ggml_quantize_ref(t, x, mine, n) == 0, "%s: quantize_ref refused", label);
        for (size_t b = 0; t == QT_GGML_IQ4_NL && b < nbytes / bsz; b++) {
            float amax = 0.0f;
            for (int e = 0; e < 32; e++) amax = fmaxf(amax, fabsf(x[32 * b + e]));
            if (amax >= 1e-15f) continue;
            int zero = mine[b * bsz] == 0 && mine[b * bsz + 1] == 0 && ref[b * bsz] == 0 && ref[b * bsz + 1] == 0;
            for (int j = 2; j < 18; j++) zero &= mine[b * bsz + j] == 0;
            CHECK(zero, "%s: all-zero block %zu: d or codes not zero", label, b);
            memset(ref + b * bsz + 2, 0, 16);
            n_unset_codes++;
        }
        long bd = first_diff(mine, ref, nbytes, bsz);
        CHECK(bd < 0, "%s: quantize_ref differs from llama.cpp's from block %ld", label, bd);
        /* scales that are fp16 subnormals or zero while the block is not */
        if (t == QT_GGML_Q4_0 || t == QT_GGML_Q4_K || t == QT_GGML_Q2_K)
            for (size_t b = 0; b < nbytes / bsz; b++) {
                const uint8_t *p = ref + b * bsz + (t == QT_GGML_Q2_K ? 80 : 0);
                uint16_t h = (uint16_t)(p[0] | p[1] << 8);
                int nonzero = 0;
                for (int e = 0; e < qt_ggml_block_size(t); e++) nonzero |= x[b * qt_ggml_block_size(t) + e] != 0.0f;
                n_sub_f16 += (h & 0x7c00) == 0 && (h & 0x3ff) != 0;
                n_zero_scale += nonzero && (h & 0x7fff) == 0;
            }

        /* (c) ggml_quantize_chunk without and with an imatrix */
        if (t != QT_GGML_Q8_K) {
            uint8_t *chunk = read_raw(dir, c, "chunk", nbytes), *chunkw = read_raw(dir, c, "chunkw", nbytes);
            uint8_t *deqw = read_raw(dir, c, "deqw", n * 4);
            if (!chunk || !chunkw || !deqw) return 2;
            CHECK(qt_ggml_quantize_chunk(t, x, mine, (size_t)crows[c], (size_t)ccols[c], NULL) == 0, "%s: chunk refused",
                  label);
            bd = first_diff(mine, chunk, nbytes, bsz);
            CHECK(bd < 0, "%s: quantize_chunk differs from ggml_quantize_chunk from block %ld", label, bd);
            CHECK(qt_ggml_quantize_chunk(t, x, mine, (size_t)crows[c], (size_t)ccols[c], imx) == 0,
                  "%s: chunk (imatrix) refused", label);
            bd = first_diff(mine, chunkw, nbytes, bsz);
            CHECK(bd < 0, "%s: quantize_chunk with imatrix differs from ggml_quantize_chunk from block %ld", label, bd);
            CHECK(qt_ggml_dequantize(t, chunkw, y, n) == 0 && !memcmp(y, deqw, n * 4),
                  "%s: dequantize of the imatrix bytes differs from llama.cpp's", label);
            if (is_k(t)) check_k_structure(t, chunkw, (const float *)deqw, n, label);
            imx_changed[t] += memcmp(chunk, chunkw, nbytes) != 0;
            chunk_not_ref[t] += memcmp(chunk, ref, nbytes) != 0;
            free(chunk);
            free(chunkw);
            free(deqw);
        } else {
            CHECK(qt_ggml_quantize_chunk(t, x, mine, 1, n, NULL) == -1, "Q8_K has no chunk quantizer");
        }
        free(x);
        free(imx);
        free(ref);
        free(deq);
        free(mine);
        free(y);
    }

    /* not vacuous */
    static const int WITH_IMX[] = {QT_GGML_Q4_0, QT_GGML_Q4_1, QT_GGML_Q5_0, QT_GGML_Q5_1, QT_GGML_IQ4_NL,
                                   QT_GGML_Q2_K, QT_GGML_Q3_K, QT_GGML_Q4_K, QT_GGML_Q5_K, QT_GGML_Q6_K};
    for (size_t i = 0; i < sizeof WITH_IMX / sizeof WITH_IMX[0]; i++)
        CHECK(imx_changed[WITH_IMX[i]] > 0, "%s: the imatrix never changed the bytes", qt_ggml_type_name(WITH_IMX[i]));
    CHECK(chunk_not_ref[QT_GGML_IQ4_NL] > 0, "IQ4_NL: chunk quantizer never differed from the reference");
    CHECK(n_sub_f16 > 0 && n_zero_scale > 0, "no fp16-subnormal (%d) or vanished (%d) scales", n_sub_f16, n_zero_scale);
    for (int ti = 0; ti < N_TYPES; ti++) printf("%s: %d blocks\n", qt_ggml_type_name(TYPES[ti]), blocks[TYPES[ti]]);
    printf("fp16-subnormal scales %d, vanished scales %d, IQ4_NL all-zero reference blocks %d\n", n_sub_f16,
           n_zero_scale, n_unset_codes);

    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (!tu_failures && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(ctype);
    free(crows);
    free(ccols);
    return tu_finish("test_ggml_codecs");
}
