/* Import of GGUF files and Hugging Face Llama checkpoints into qatc models.
 * See io/export.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/files.h"
#include "base/half.h"
#include "io/export.h"
#include "store/gguf.h"
#include "store/h5store.h"
#include "qat/policy.h"
#include "store/safetensors.h"
#include "quant/ggml_blocks.h"
#include "quant/quant.h"

/* rows (elements of a 1-D tensor) of src in HF's half-split rope order, into
 * dst in ours: HF row r is our row qt_hf_rope_row(r, hd) */
static void unpermute_rows(const float *src, float *dst, int rows, int cols, int hd) {
    for (int r = 0; r < rows; r++)
        memcpy(dst + (size_t)qt_hf_rope_row(r, hd) * cols, src + (size_t)r * cols, (size_t)cols * sizeof(float));
}

/* GGUF tensor `name` into dst (shape checked, dequantized, finite), rows
 * un-permuted from HF order when perm_hd > 0 */
static int load_tensor(const qt_gguf *g, const char *path, const char *name, qt_tensor *dst, int perm_hd, char *err,
                       size_t errlen) {
    const qt_gguf_tensor *t = qt_gguf_tensor_find(g, name);
    if (!t) {
        snprintf(err, errlen, "%s: tensor \"%s\" is missing", path, name);
        return -1;
    }
    /* ne is fastest first: a [rows, cols] tensor has ne = [cols, rows] */
    uint64_t want0 = (uint64_t)qt_cols(dst), want1 = dst->ndim == 1 ? 1 : (uint64_t)qt_rows(dst);
    uint64_t got1 = 1;
    for (int d = 1; d < t->n_dims; d++) got1 *= t->ne[d];
    if (t->ne[0] != want0 || got1 != want1) {
        snprintf(err, errlen, "%s: tensor \"%s\": expected ne [%llu, %llu], found [%llu, %llu]", path, name,
                 (unsigned long long)want0, (unsigned long long)want1, (unsigned long long)t->ne[0],
                 (unsigned long long)got1);
        return -1;
    }
    float *buf = perm_hd ? malloc(dst->n * sizeof *buf) : dst->data;
    if (!buf) qt_die("out of memory");
    int rc = 0;
    if (qt_ggml_dequantize(t->type, t->data, buf, dst->n)) {
        snprintf(err, errlen, "%s: tensor \"%s\": type %s is not supported (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, MXFP4)", path,
                 name, qt_ggml_type_name(t->type));
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < dst->n; i++)
        if (!isfinite(buf[i])) {
            snprintf(err, errlen, "%s: tensor \"%s\": value %zu is %g (weights must be finite)", path, name, i,
                     (double)buf[i]);
            rc = -1;
        }
    if (perm_hd) {
        if (rc == 0)
            unpermute_rows(buf, dst->data, dst->ndim == 1 ? (int)dst->n : qt_rows(dst), dst->ndim == 1 ? 1 : qt_cols(dst),
                           perm_hd);
        free(buf);
    }
    return rc;
}

/* "ARCH.key" as a u32 (required, or def when absent) */
static int meta_u32(const qt_gguf *g, const char *path, const char *arch, const char *key, int required, uint32_t def,
                    int *out, char *err, size_t errlen) {
    char k[128];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    uint32_t v = def;
    if (qt_gguf_find(g, k) || required) {
        char e[256];
        if (qt_gguf_get_u32(g, k, &v, e, sizeof e)) {
            snprintf(err, errlen, "%s: %s", path, e + strlen("gguf: "));
            return -1;
        }
    }
    if (v == 0 || v > (1u << 30)) {
        snprintf(err, errlen, "%s: key \"%s\" = %u is out of range", path, k, v);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int meta_f32(const qt_gguf *g, const char *path, const char *arch, const char *key, int required, float *out,
                    char *err, size_t errlen) {
    char k[128], e[256];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    if (!required && !qt_gguf_find(g, k)) return 0;
    if (qt_gguf_get_f32(g, k, out, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e + strlen("gguf: "));
        return -1;
    }
    return 0;
}

/* Linear l holds GGUF tensor t: its input rounded as llama.cpp does for t's type */
static void set_input_type(qt_linear_layer *l, const qt_gguf_tensor *t, int perm_hd) {
    int vt = qt_ggml_vec_dot_type(t->type);
    float *mins = NULL;
    if (vt == QT_GGML_Q8_1) { /* the per-block mins, for llama.cpp's Q8_1 min term */
        size_t nb = t->nbytes / qt_ggml_type_size(t->type);
        mins = malloc(nb * sizeof *mins);
        if (!mins) qt_die("out of memory");
        qt_ggml_block_mins(t->type, t->data, nb, mins);
        if (perm_hd) {
            float *p = malloc(nb * sizeof *p);
            if (!p) qt_die("out of memory");
            int rows = qt_rows(l->w);
            unpermute_rows(mins, p, rows, (int)(nb / (size_t)rows), perm_hd);
            free(mins);
            mins = p;
        }
    }
    qt_linear_set_input_type(l, vt, mins);
    free(mins);
}

/* the largest relative difference between c's llama3 divisors and div
 * (HUGE_VAL when c is no valid config); its index in *worst, value in *got */
static double rope_fit_err(const qt_model_cfg *c, const float *div, int half, int *worst, float *got) {
    char e[256];
    if (qt_model_cfg_check(c, e, sizeof e)) return HUGE_VAL;
    float mine[512];
    qt_model_rope_divisors(c, mine);
    double w = 0.0;
    for (int i = 0; i < half; i++) {
        double d = fabs((double)mine[i] - div[i]) / div[i];
        if (i == 0 || d > w) w = d, *worst = i, *got = mine[i];
    }
    return w;
}

/* llama3 rope scaling from tensor rope_freqs.weight (llama.cpp divides
 * frequency i by element i): the divisors are copied into div (head_dim/2,
 * at most 512) and c gets llama3 parameters that give them back. Only the
 * ratios original_ctx : low_freq_factor : high_freq_factor matter, so
 * low_freq_factor is 1 (as in every Llama 3.x config); factor is the largest
 * divisor; high_freq_factor and original_ctx come from the smooth band: its
 * two outermost divisors fix both (tried with high_freq_factor rounded to
 * 1e-3 first, then as fitted); one smooth divisor fixes one relation between
 * them (tried: high_freq_factor 4 as in Llama 3, or another round one, when
 * the context comes out an integer; then the context halfway between the
 * bands); none leaves original_ctx just below the first divided wavelength.
 * The first candidate that gives every divisor back bit for bit wins (the
 * files qatc writes with low_freq_factor 1), else the first within 1e-6
 * relative (a converter computing the frequencies in float32 differs in the
 * last bits; the model then keeps the file's divisors, see qt_import_gguf),
 * else the file is refused. Arch qwen2/qwen3: refused (llama.cpp does not
 * read the tensor there and refuses the file). No tensor: c unchanged. */
static int rope_freqs(const qt_gguf *g, const char *path, qt_model_cfg *c, float *div, char *err, size_t errlen) {
    const qt_gguf_tensor *t = qt_gguf_tensor_find(g, "rope_freqs.weight");
    if (!t) return 0;
    if (c->arch != QT_ARCH_LLAMA) { /* llama.cpp refuses such a file (a tensor it does not read) */
        snprintf(err, errlen, "%s: tensor \"rope_freqs.weight\" in a %s file: llama.cpp reads it only for arch "
                 "llama", path, qt_arch_name(c->arch));
        return -1;
    }
    const int hd = qt_model_head_dim(c), half = hd / 2;
    if (t->type != QT_GGML_F32 || t->n_dims != 1 || t->ne[0] != (uint64_t)half || half < 1 || half > 512) {
        snprintf(err, errlen, "%s: tensor \"rope_freqs.weight\": expected F32 [%d] (half the head size), found %s "
                 "with ne[0] %llu", path, half, qt_ggml_type_name(t->type), (unsigned long long)t->ne[0]);
        return -1;
    }
    memcpy(div, t->data, (size_t)half * sizeof *div);
    double wl[512];
    for (int i = 0; i < half; i++) {
        if (!(div[i] >= 1.0f) || !isfinite(div[i]) || (i && div[i] < div[i - 1])) {
            snprintf(err, errlen, "%s: tensor \"rope_freqs.weight\": divisor %d = %g; llama3 rope scaling has "
                     "divisors >= 1, non-decreasing toward low frequencies", path, i, (double)div[i]);
            return -1;
        }
        wl[i] = 6.283185307179586 / pow((double)c->rope_theta, -2.0 * i / hd); /* as qt_model_rope_divisors */
    }
    const double f = div[half - 1];
    int nu = 0, nd = 0;
    while (nu < half && div[nu] == 1.0f) nu++;
    while (nd < half && div[half - 1 - nd] == (float)f) nd++;
    const int i1 = nu, i2 = half - nd - 1; /* the smooth band, s = (orig/wavelength - 1) / (hi - 1) */
    double s1 = 0.0, s2 = 0.0;
    if (i2 >= i1) {
        s1 = (1.0 / div[i1] - 1.0 / f) / (1.0 - 1.0 / f);
        s2 = (1.0 / div[i2] - 1.0 / f) / (1.0 - 1.0 / f);
    }
    double cand[8][2]; /* {high_freq_factor, original_ctx} in order of preference */
    int n = 0;
    if (f == 1.0) { /* nothing scaled: factor 1 gives divisors 1 whatever the bands */
        cand[n][0] = 4.0, cand[n++][1] = qt_model_max_ctx(c);
    } else if (i2 > i1) {
        double a = (s2 - s1) / (1.0 / wl[i2] - 1.0 / wl[i1]), b = a / wl[i1] - s1;
        cand[n][0] = round(1000.0 * (1.0 + 1.0 / b)) / 1000.0, cand[n++][1] = round(a / b);
        cand[n][0] = 1.0 + 1.0 / b, cand[n++][1] = round(a / b);
    } else if (i2 == i1) { /* a high_freq_factor of Llama 3's or a round one with an integer context, else the
                              * context halfway (geometrically) between the bands around the smooth wavelength */
        static const double nice[] = {4.0, 2.0, 8.0, 3.0, 2.5, 1.5, 16.0};
        for (size_t k = 0; k < sizeof nice / sizeof nice[0]; k++) {
            double o = wl[i1] * (1.0 + (nice[k] - 1.0) * s1);
            if (fabs(o - round(o)) <= 1e-6 * o) cand[n][0] = nice[k], cand[n++][1] = round(o);
        }
        double o = round(sqrt(wl[i1] * (i1 + 1 < half ? wl[i1 + 1] : 2.0 * wl[i1])));
        cand[n][0] = 1.0 + (o / wl[i1] - 1.0) / s1, cand[n++][1] = o;
    } else {
        double o = ceil(wl[nu < half ? nu : half - 1]) - 1.0; /* nu < half: f > 1 */
        cand[n][0] = 4.0, cand[n++][1] = o;
        if (nu > 0) cand[n][0] = 0.5 * (1.0 + o / wl[nu - 1]), cand[n++][1] = o;
    }
    int best = -1, closest = -1, worst = 0;
    float got = 0.0f;
    double closest_err = HUGE_VAL;
    for (int k = 0; k < n; k++) {
        qt_model_cfg t2 = *c;
        t2.rope_factor = (float)f, t2.rope_low_freq = 1.0f, t2.rope_high_freq = (float)cand[k][0];
        t2.rope_orig_ctx = cand[k][1] >= 1.0 && cand[k][1] < 1073741824.0 ? (int)cand[k][1] : 0;
        int w = 0;
        float gv = 0.0f;
        double e = rope_fit_err(&t2, div, half, &w, &gv);
        if (e == 0.0) {
            best = k;
            break;
        }
        if (e <= 1e-6 && best < 0) best = k;
        if (e < closest_err) closest_err = e, closest = k, worst = w, got = gv;
    }
    if (best < 0) {
        if (closest < 0)
            snprintf(err, errlen, "%s: tensor \"rope_freqs.weight\" is not llama3 rope scaling: no factor, "
                     "low/high_freq_factor and original context give its divisors", path);
        else
            snprintf(err, errlen, "%s: tensor \"rope_freqs.weight\" is not llama3 rope scaling: the closest "
                     "parameters (factor %.9g, low_freq_factor 1, high_freq_factor %.9g, original context %d) give "
                     "divisor %d = %.9g, the file has %.9g", path, f, cand[closest][0], (int)cand[closest][1],
                     worst, (double)got, (double)div[worst]);
        return -1;
    }
    c->rope_factor = (float)f, c->rope_low_freq = 1.0f, c->rope_high_freq = (float)cand[best][0];
    c->rope_orig_ctx = (int)cand[best][1];
    return 0;
}

/* the model config of GGUF g (keys of its architecture, tensor shapes); with
 * llama3 rope scaling its divisors from rope_freqs.weight into div (at least
 * 512; may be NULL) */
static int gguf_model_cfg(const qt_gguf *g, const char *path, qt_model_cfg *out, float *div, char *err,
                          size_t errlen) {
    char e[256];
    const char *arch = qt_gguf_get_str(g, "general.architecture", e, sizeof e);
    qt_model_cfg c = {.arch = QT_ARCH_LLAMA, .rope_theta = 10000.0f};
    int rope_dim = 0;
    if (arch && !strcmp(arch, "qwen2")) c.arch = QT_ARCH_QWEN2;
    else if (arch && !strcmp(arch, "qwen3")) c.arch = QT_ARCH_QWEN3;
    else if (!arch || strcmp(arch, "llama")) {
        snprintf(err, errlen, "%s: general.architecture is %s%s%s (expected \"llama\", \"qwen2\" or \"qwen3\")", path,
                 arch ? "\"" : "", arch ? arch : "missing", arch ? "\"" : "");
        return -1;
    }
    c.qkv_bias = c.arch == QT_ARCH_QWEN2;
    c.qk_norm = c.arch == QT_ARCH_QWEN3;
    if (meta_u32(g, path, arch, "embedding_length", 1, 0, &c.dim, err, errlen) ||
        meta_u32(g, path, arch, "block_count", 1, 0, &c.layers, err, errlen) ||
        meta_u32(g, path, arch, "feed_forward_length", 1, 0, &c.ffn, err, errlen) ||
        meta_u32(g, path, arch, "attention.head_count", 1, 0, &c.heads, err, errlen) ||
        meta_u32(g, path, arch, "context_length", 1, 0, &c.ctx, err, errlen) ||
        meta_u32(g, path, arch, "attention.head_count_kv", 0, (uint32_t)c.heads, &c.kv_heads, err, errlen) ||
        meta_u32(g, path, arch, "attention.key_length", 0, (uint32_t)(c.dim / c.heads), &c.head_dim, err, errlen) ||
        meta_f32(g, path, arch, "attention.layer_norm_rms_epsilon", 1, &c.norm_eps, err, errlen) ||
        meta_f32(g, path, arch, "rope.freq_base", 0, &c.rope_theta, err, errlen))
        return -1;
    int vlen = c.head_dim;
    if (meta_u32(g, path, arch, "attention.value_length", 0, (uint32_t)c.head_dim, &vlen, err, errlen)) return -1;
    if (vlen != c.head_dim) {
        snprintf(err, errlen, "%s: %s.attention.value_length %d differs from key_length %d (not supported)", path, arch,
                 vlen, c.head_dim);
        return -1;
    }
    if (c.head_dim * c.heads == c.dim) c.head_dim = 0;
    c.max_ctx = c.ctx;
    const qt_gguf_tensor *emb = qt_gguf_tensor_find(g, "token_embd.weight");
    if (!emb || emb->n_dims != 2 || emb->ne[1] > (1u << 30)) {
        snprintf(err, errlen, "%s: tensor \"token_embd.weight\" is missing or not 2-D", path);
        return -1;
    }
    c.vocab = (int)emb->ne[1];
    c.tied = !qt_gguf_tensor_find(g, "output.weight"); /* llama.cpp then multiplies by token_embd */
    if (qt_model_cfg_check(&c, e, sizeof e)) {
        snprintf(err, errlen, "%s: %s", path, e);
        return -1;
    }
    if (meta_u32(g, path, arch, "rope.dimension_count", 0, (uint32_t)qt_model_head_dim(&c), &rope_dim, err, errlen))
        return -1;
    if (rope_dim != qt_model_head_dim(&c)) {
        snprintf(err, errlen, "%s: %s.rope.dimension_count = %d, but the head size is %d (partial rope is not "
                 "supported)", path, arch, rope_dim, qt_model_head_dim(&c));
        return -1;
    }
    float own[512];
    if (rope_freqs(g, path, &c, div ? div : own, err, errlen)) return -1;
    *out = c;
    return 0;
}

qt_model *qt_import_gguf(const char *path, char *err, size_t errlen) {
    qt_gguf *g = qt_gguf_read(path, err, errlen);
    if (!g) return NULL;
    qt_model_cfg c;
    qt_model *m = NULL;
    float div[512];
    if (gguf_model_cfg(g, path, &c, div, err, errlen)) goto fail;
    const qt_gguf_tensor *emb = qt_gguf_tensor_find(g, "token_embd.weight");
    m = qt_model_new(&c);
    /* the file's own divisors (within 1e-6 of c's parameters; equal for files qatc writes) */
    if (m->rope_div) memcpy(m->rope_div, div, (size_t)(qt_model_head_dim(&c) / 2) * sizeof *div);
    /* llama.cpp's qwen2/qwen3 rotate halves (NEOX): their q/k rows are in HF order */
    const int neox = c.arch == QT_ARCH_QWEN2 || c.arch == QT_ARCH_QWEN3 ? qt_model_head_dim(&c) : 0;
    char nm[96];
    if (load_tensor(g, path, "token_embd.weight", m->tok_emb, 0, err, errlen)) goto fail;
    for (int i = 0; i < c.layers; i++) {
        qt_block *b = &m->blocks[i];
        struct {
            const char *n;
            qt_tensor *t;
            qt_linear_layer *l;
            int perm;
        } L[] = {{"attn_norm.weight", b->attn_norm, NULL, 0}, {"attn_q.weight", NULL, &b->wq, neox},
                 {"attn_k.weight", NULL, &b->wk, neox},       {"attn_v.weight", NULL, &b->wv, 0},
                 {"attn_output.weight", NULL, &b->wo, 0},     {"ffn_norm.weight", b->ffn_norm, NULL, 0},
                 {"ffn_gate.weight", NULL, &b->w1, 0},        {"ffn_down.weight", NULL, &b->w2, 0},
                 {"ffn_up.weight", NULL, &b->w3, 0},          {"attn_q.bias", b->wq.b, NULL, neox},
                 {"attn_k.bias", b->wk.b, NULL, neox},        {"attn_v.bias", b->wv.b, NULL, 0},
                 {"attn_q_norm.weight", b->q_norm, NULL, neox}, {"attn_k_norm.weight", b->k_norm, NULL, neox}};
        for (size_t k = 0; k < sizeof L / sizeof L[0]; k++) {
            qt_tensor *dst = L[k].l ? L[k].l->w : L[k].t;
            if (!dst) continue; /* not in this family */
            snprintf(nm, sizeof nm, "blk.%d.%s", i, L[k].n);
            if (load_tensor(g, path, nm, dst, L[k].perm, err, errlen)) goto fail;
            if (L[k].l) set_input_type(L[k].l, qt_gguf_tensor_find(g, nm), L[k].perm);
        }
    }
    if (load_tensor(g, path, "output_norm.weight", m->norm, 0, err, errlen)) goto fail;
    if (!c.tied) {
        if (load_tensor(g, path, "output.weight", m->output.w, 0, err, errlen)) goto fail;
        set_input_type(&m->output, qt_gguf_tensor_find(g, "output.weight"), 0);
    } else {
        /* tied: the output multiplies by token_embd (the mins of a Q4_1
         * embedding are not kept: its input is not rounded) */
        int vt = qt_ggml_vec_dot_type(emb->type);
        qt_linear_set_input_type(&m->output, vt == QT_GGML_Q8_1 ? QT_GGML_F32 : vt, NULL);
    }
    qt_gguf_free(g);
    return m;
fail:
    qt_model_free(m);
    qt_gguf_free(g);
    return NULL;
}

/* ------------------------------------------------------------ HF import */

/* safetensors tensor t (named hf in file) into tmp as floats, its shape
 * checked against parameter p */
static int read_float(const qt_st_tensor *t, const qt_tensor *p, const char *file, const char *hf, float *tmp,
                      char *err, size_t errlen) {
    int64_t want[2] = {p->shape[0], p->ndim == 2 ? p->shape[1] : 0};
    if (t->ndim != p->ndim || t->shape[0] != want[0] || (p->ndim == 2 && t->shape[1] != want[1])) {
        char got[96] = "", exp[64];
        for (int d = 0; d < t->ndim && d < 4; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        if (p->ndim == 2) snprintf(exp, sizeof exp, "%lld, %lld", (long long)want[0], (long long)want[1]);
        else snprintf(exp, sizeof exp, "%lld", (long long)want[0]);
        snprintf(err, errlen, "%s: tensor \"%s\": expected shape [%s] from config.json, found [%s]", file, hf, exp, got);
        return -1;
    }
    char e2[256];
    if (qt_st_to_f32(t, tmp, p->n, e2, sizeof e2)) {
        snprintf(err, errlen, "%s: %s", file, e2);
        return -1;
    }
    return 0;
}

/* An AutoAWQ GEMM Linear (module.qweight int32 [in, out/8], .qzeros int32
 * [in/g, out/8], both 8 nibbles per int32 in the order 0 2 4 6 1 3 5 7, and
 * .scales fp16 [in/g, out]) dequantized into dst [out, in] in HF row order:
 * w[o][i] = (q - z)·s. 1 when the module is there, 0 when not, -1 on error. */
static int load_awq(const qt_safetensors *st, const char *file, const char *module, int group, float *dst, int out,
                    int in, char *err, size_t errlen) {
    static const int ORDER[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    char nm[200];
    snprintf(nm, sizeof nm, "%s.qweight", module);
    const qt_st_tensor *qw = qt_st_find(st, nm);
    if (!qw) return 0;
    snprintf(nm, sizeof nm, "%s.qzeros", module);
    const qt_st_tensor *qz = qt_st_find(st, nm);
    snprintf(nm, sizeof nm, "%s.scales", module);
    const qt_st_tensor *sc = qt_st_find(st, nm);
    int ng = in / group, oc = out / 8;
    if (in % group || out % 8 || !qz || !sc || qw->dtype != QT_ST_I32 || qz->dtype != QT_ST_I32 || sc->dtype != QT_ST_F16 ||
        qw->ndim != 2 || qw->shape[0] != in || qw->shape[1] != oc || qz->ndim != 2 || qz->shape[0] != ng ||
        qz->shape[1] != oc || sc->ndim != 2 || sc->shape[0] != ng || sc->shape[1] != out) {
        snprintf(err, errlen, "%s: AWQ module \"%s\": expected qweight I32 [%d, %d], qzeros I32 [%d, %d] and scales F16 "
                 "[%d, %d] (group %d)", file, module, in, oc, ng, oc, ng, out, group);
        return -1;
    }
    const uint8_t *pw = qw->data, *pz = qz->data, *ps = sc->data;
    for (int i = 0; i < in; i++) {
        int g = i / group;
        for (int c = 0; c < oc; c++) {
            uint32_t w, z;
            memcpy(&w, pw + ((size_t)i * oc + c) * 4, 4);
            memcpy(&z, pz + ((size_t)g * oc + c) * 4, 4);
            for (int k = 0; k < 8; k++) {
                int o = 8 * c + ORDER[k];
                uint16_t h;
                memcpy(&h, ps + ((size_t)g * out + o) * 2, 2);
                float q = (float)((w >> (4 * k)) & 15u), zz = (float)((z >> (4 * k)) & 15u);
                dst[(size_t)o * in + i] = (q - zz) * qt_f16_to_f32(h);
            }
        }
    }
    return 1;
}

/* bits bits of a little-endian stream of 32-bit words (bytes p) at bit pos */
static uint32_t get_bits(const uint8_t *p, size_t pos, int bits) {
    uint32_t w0, w1 = 0;
    size_t k = pos / 32;
    unsigned off = pos % 32;
    memcpy(&w0, p + 4 * k, 4);
    uint32_t v = w0 >> off;
    if (off + (unsigned)bits > 32) {
        memcpy(&w1, p + 4 * (k + 1), 4);
        v |= w1 << (32 - off);
    }
    return v & ((1u << bits) - 1);
}

/* tensor module.what, which must be dtype dt (dt2 too when not QT_ST_NDTYPES) and [d0, d1] (d1 = 0: 1-D [d0]);
 * NULL with a message when absent (unless optional) or not so */
static const qt_st_tensor *find_q(const qt_safetensors *st, const char *file, const char *module, const char *what,
                                  qt_st_dtype dt, qt_st_dtype dt2, int64_t d0, int64_t d1, int optional, int *bad,
                                  char *err, size_t errlen) {
    char nm[220];
    snprintf(nm, sizeof nm, "%s.%s", module, what);
    const qt_st_tensor *t = qt_st_find(st, nm);
    if (!t) {
        if (!optional) {
            snprintf(err, errlen, "%s: tensor \"%s\" is missing", file, nm);
            *bad = 1;
        }
        return NULL;
    }
    if ((t->dtype != dt && t->dtype != dt2) || t->ndim != (d1 ? 2 : 1) || t->shape[0] != d0 || (d1 && t->shape[1] != d1)) {
        if (d1) snprintf(err, errlen, "%s: tensor \"%s\": expected %s [%lld, %lld]", file, nm, qt_st_dtype_name(dt),
                         (long long)d0, (long long)d1);
        else snprintf(err, errlen, "%s: tensor \"%s\": expected %s [%lld]", file, nm, qt_st_dtype_name(dt), (long long)d0);
        *bad = 1;
        return NULL;
    }
    return t;
}

/* group of each input channel: idx (I32 [in], each < ng) when given, else i / group */
static int groups_of(const qt_st_tensor *idx, int in, int group, int ng, int *gi, const char *file, const char *module,
                     char *err, size_t errlen) {
    for (int i = 0; i < in; i++) {
        int32_t g = i / group;
        if (idx) memcpy(&g, (const uint8_t *)idx->data + 4 * (size_t)i, 4);
        if (g < 0 || g >= ng) {
            snprintf(err, errlen, "%s: module \"%s\": group index %d of input %d is outside [0, %d)", file, module,
                     (int)g, i, ng);
            return -1;
        }
        gi[i] = g;
    }
    return 0;
}

/* A GPTQ Linear (module.qweight int32 [in·b/32, out] and qzeros int32
 * [ng, out·b/32], codes in a little-endian bit stream of 32-bit words per
 * column / row (AutoGPTQ's 3-bit layout is that stream), scales fp16 [ng,
 * out], g_idx int32 [in] when present) dequantized into dst [out, in] in HF
 * row order: w = s·(q − z), z = the stored zero (+ 1 in v1). Also a
 * compressed-tensors pack-quantized Linear (weight_packed int32 [out,
 * ceil(in/pf)], pf = 32 div bits values per word, weight_scale [out, ng],
 * weight_zero_point int32 [ceil(out/pf), ng] unless symmetric, weight_shape
 * [2], weight_g_idx when present; values offset by 2^(b−1)). 1 when the
 * module is there, 0 when not, -1 on error. */
static int load_packed(const qt_safetensors *st, const char *file, const char *module, const qt_hf_quant *q, float *dst,
                       int out, int in, char *err, size_t errlen) {
    const int ct = q->kind == QT_HFQ_CT, b = q->bits, group = q->group > 0 ? q->group : in;
    const int ng = (in + group - 1) / group, pf = 32 / b;
    char nm[220];
    snprintf(nm, sizeof nm, "%s.%s", module, ct ? "weight_packed" : "qweight");
    if (!qt_st_find(st, nm)) return 0;
    if (!ct && (in % 32 || out % 32)) {
        snprintf(err, errlen, "%s: GPTQ module \"%s\" is [%d, %d]: qatc reads in and out multiples of 32", file,
                 module, out, in);
        return -1;
    }
    int bad = 0;
    const qt_st_tensor *w, *z = NULL, *s, *idx, *shape = NULL;
    if (ct) {
        w = find_q(st, file, module, "weight_packed", QT_ST_I32, QT_ST_NDTYPES, out, (in + pf - 1) / pf, 0, &bad, err, errlen);
        s = bad ? NULL : find_q(st, file, module, "weight_scale", QT_ST_F16, QT_ST_BF16, out, ng, 0, &bad, err, errlen);
        if (!bad && !q->sym)
            z = find_q(st, file, module, "weight_zero_point", QT_ST_I32, QT_ST_NDTYPES, (out + pf - 1) / pf, ng, 0, &bad,
                       err, errlen);
        if (!bad) shape = find_q(st, file, module, "weight_shape", QT_ST_I64, QT_ST_I32, 2, 0, 0, &bad, err, errlen);
        idx = bad ? NULL : find_q(st, file, module, "weight_g_idx", QT_ST_I32, QT_ST_NDTYPES, in, 0, 1, &bad, err, errlen);
    } else {
        w = find_q(st, file, module, "qweight", QT_ST_I32, QT_ST_NDTYPES, in / 32 * b, out, 0, &bad, err, errlen);
        z = bad ? NULL : find_q(st, file, module, "qzeros", QT_ST_I32, QT_ST_NDTYPES, ng, out / 32 * b, 0, &bad, err, errlen);
        s = bad ? NULL : find_q(st, file, module, "scales", QT_ST_F16, QT_ST_NDTYPES, ng, out, 0, &bad, err, errlen);
        idx = bad ? NULL : find_q(st, file, module, "g_idx", QT_ST_I32, QT_ST_NDTYPES, in, 0, 1, &bad, err, errlen);
    }
    if (bad) return -1;
    if (shape) {
        int64_t d[2];
        for (int k = 0; k < 2; k++) {
            int32_t v32;
            if (shape->dtype == QT_ST_I64) memcpy(&d[k], (const uint8_t *)shape->data + 8 * k, 8);
            else memcpy(&v32, (const uint8_t *)shape->data + 4 * k, 4), d[k] = v32;
        }
        if (d[0] != out || d[1] != in) {
            snprintf(err, errlen, "%s: tensor \"%s.weight_shape\" is [%lld, %lld], config.json gives [%d, %d]", file,
                     module, (long long)d[0], (long long)d[1], out, in);
            return -1;
        }
    }
    float *sc = malloc((size_t)ng * out * sizeof *sc);
    int *gi = malloc((size_t)in * sizeof *gi);
    if (!sc || !gi) qt_die("out of memory");
    char e2[256];
    int rc = 1;
    if (qt_st_to_f32(s, sc, (size_t)ng * out, e2, sizeof e2)) {
        snprintf(err, errlen, "%s: %s", file, e2);
        rc = -1;
    }
    if (rc > 0 && groups_of(idx, in, group, ng, gi, file, module, err, errlen)) rc = -1;
    const uint8_t *pw = w->data, *pz = z ? z->data : NULL;
    const int half = 1 << (b - 1), zc = out / 32 * b, pwc = (in + pf - 1) / pf;
    for (int o = 0; rc > 0 && o < out; o++)
        for (int i = 0; i < in; i++) {
            int g = gi[i];
            float qv, zv, sv;
            if (ct) {
                qv = (float)((int)get_bits(pw + 4 * ((size_t)o * pwc + i / pf), (size_t)b * (i % pf), b) - half);
                zv = pz ? (float)((int)get_bits(pz + 4 * ((size_t)(o / pf) * ng + g), (size_t)b * (o % pf), b) - half) : 0.0f;
                sv = sc[(size_t)o * ng + g];
            } else {
                /* column o of qweight is a stream over the inputs: word k of it is qweight[k][o] */
                size_t pos = (size_t)b * i, k = pos / 32;
                uint8_t two[8] = {0};
                memcpy(two, pw + 4 * (k * out + o), 4);
                if (pos % 32 + (size_t)b > 32) memcpy(two + 4, pw + 4 * ((k + 1) * out + o), 4);
                qv = (float)get_bits(two, pos % 32, b);
                zv = (float)(get_bits(pz + 4 * (size_t)g * zc, (size_t)b * o, b) + (q->v2 ? 0u : 1u));
                sv = sc[(size_t)g * out + o];
            }
            dst[(size_t)o * in + i] = (qv - zv) * sv;
        }
    free(sc);
    free(gi);
    return rc;
}

qt_model *qt_import_hf(const char *path, char *err, size_t errlen) {
    char dir[4096], cfgp[4200], stp[4200];
    struct stat sb;
    if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    int single_file = !S_ISDIR(sb.st_mode);
    snprintf(dir, sizeof dir, "%s", path);
    if (single_file) {
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0;
        else snprintf(dir, sizeof dir, ".");
    }
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dir);
    qt_model_cfg c;
    qt_hf_quant hq;
    if (qt_hf_config_read(cfgp, &c, &hq, err, errlen)) return NULL;
    qt_model *m = NULL;
    /* which file holds each tensor */
    const char *files[64];
    int n_files = 0;
    char shard_paths[64][4200];
    if (single_file) {
        snprintf(shard_paths[0], sizeof shard_paths[0], "%s", path);
        n_files = 1;
    } else {
        snprintf(stp, sizeof stp, "%s/model.safetensors", dir);
        if (stat(stp, &sb) == 0) {
            snprintf(shard_paths[0], sizeof shard_paths[0], "%s", stp);
            n_files = 1;
        } else {
            snprintf(stp, sizeof stp, "%s/model.safetensors.index.json", dir);
            char *it = NULL;
            size_t itn;
            if (stat(stp, &sb) != 0) {
                snprintf(err, errlen, "%s: neither model.safetensors nor model.safetensors.index.json", dir);
                goto fail;
            }
            if (qt_read_file(stp, &it, &itn, err, errlen)) goto fail;
            qt_hf_shards sh;
            int prc = qt_hf_index_parse(it, stp, &sh, err, errlen);
            free(it);
            if (prc) goto fail;
            for (int k = 0; k < sh.n && prc == 0; k++) {
                if (k == 64) {
                    snprintf(err, errlen, "%s: more than 64 shards", stp);
                    prc = -1;
                    break;
                }
                snprintf(shard_paths[k], sizeof shard_paths[0], "%s/%s", dir, sh.files[k]);
                if (stat(shard_paths[k], &sb) != 0) {
                    snprintf(err, errlen, "%s: weight_map names shard \"%s\", which is missing", stp, sh.files[k]);
                    prc = -1;
                }
                n_files++;
            }
            qt_hf_shards_free(&sh);
            if (prc) goto fail;
        }
    }
    for (int k = 0; k < n_files; k++) files[k] = shard_paths[k];
    m = qt_model_new(&c);
    int *loaded = calloc((size_t)m->n_params, sizeof *loaded);
    float *tmp = NULL;
    size_t tmp_n = 0;
    int rc = 0;
    for (int k = 0; k < n_files && rc == 0; k++) {
        qt_safetensors *st = qt_st_read(files[k], err, errlen);
        if (!st) {
            rc = -1;
            break;
        }
        for (int i = 0; i < m->n_params && rc == 0; i++) {
            qt_tensor *p = m->params[i];
            char hf[160];
            qt_hf_name(p->name, hf, sizeof hf);
            const qt_st_tensor *t = qt_st_find(st, hf);
            if (tmp_n < p->n) {
                free(tmp);
                tmp = malloc(p->n * sizeof *tmp);
                if (!tmp) qt_die("out of memory");
                tmp_n = p->n;
            }
            if (!t && hq.kind != QT_HFQ_NONE && p->ndim == 2 && qt_model_linear(m, p->name)) {
                hf[strlen(hf) - strlen(".weight")] = 0; /* the module */
                int r = hq.kind == QT_HFQ_AWQ
                            ? load_awq(st, files[k], hf, hq.group, tmp, p->shape[0], p->shape[1], err, errlen)
                            : load_packed(st, files[k], hf, &hq, tmp, p->shape[0], p->shape[1], err, errlen);
                if (r < 0) rc = -1;
                if (r <= 0) continue;
            } else if (!t) {
                continue;
            } else if (read_float(t, p, files[k], hf, tmp, err, errlen)) {
                rc = -1;
                break;
            }
            for (size_t q = 0; q < p->n; q++)
                if (!isfinite(tmp[q])) {
                    snprintf(err, errlen, "%s: tensor \"%s\": value %zu is %g (weights must be finite)", files[k],
                             hf, q, (double)tmp[q]);
                    rc = -1;
                    break;
                }
            if (rc) break;
            /* q/k rows (elements of 1-D tensors) from HF's half-split order to ours */
            int rope = qt_hf_rope_hd(m, p->name);
            int rows = p->ndim == 1 ? (int)p->n : p->shape[0], cols = p->ndim == 1 ? 1 : p->shape[1];
            for (int r = 0; r < rows; r++)
                memcpy(p->data + (size_t)(rope ? qt_hf_rope_row(r, rope) : r) * cols, tmp + (size_t)r * cols,
                       (size_t)cols * sizeof(float));
            loaded[i] = 1;
        }
        qt_st_free(st);
    }
    free(tmp);
    for (int i = 0; i < m->n_params && rc == 0; i++) {
        if (loaded[i]) continue;
        char hf[160];
        qt_hf_name(m->params[i]->name, hf, sizeof hf);
        snprintf(err, errlen, "%s: tensor \"%s\" is missing%s", dir, hf,
                 m->params[i] == m->output.w ? " (config.json has tie_word_embeddings false)" : "");
        rc = -1;
    }
    free(loaded);
    if (rc) goto fail;
    return m;
fail:
    qt_model_free(m);
    return NULL;
}

/* 1 for a path qt_import_model reads as a foreign checkpoint */
static int kind_of(const char *path) {
    size_t n = strlen(path);
    struct stat st;
    if (n > 5 && !strcmp(path + n - 5, ".gguf")) return 1;
    if ((n > 12 && !strcmp(path + n - 12, ".safetensors")) || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) return 2;
    return 0;
}

int qt_import_is_foreign(const char *path) { return kind_of(path) != 0; }

int qt_import_model_cfg(const char *path, qt_model_cfg *c, char *tok_path, size_t tok_len, char *err, size_t errlen) {
    int kind = kind_of(path);
    qt_hf_quant hq;
    if (tok_len) tok_path[0] = 0;
    if (kind == 1) {
        qt_gguf *g = qt_gguf_read(path, err, errlen);
        if (!g) return -1;
        int rc = gguf_model_cfg(g, path, c, NULL, err, errlen);
        if (rc == 0 && tok_len && qt_gguf_find(g, "tokenizer.ggml.tokens")) snprintf(tok_path, tok_len, "%s", path);
        qt_gguf_free(g);
        return rc;
    }
    if (kind != 2) {
        snprintf(err, errlen, "%s: not a Hugging Face directory, .safetensors or .gguf file", path);
        return -1;
    }
    char dir[4096], p[4200];
    struct stat sb;
    snprintf(dir, sizeof dir, "%s", path);
    if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
        char *sl = strrchr(dir, '/');
        if (sl) *sl = 0;
        else snprintf(dir, sizeof dir, ".");
    } else if (stat(path, &sb) != 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (stat(p, &sb) != 0) {
        snprintf(err, errlen, "%s: no config.json (expected a Hugging Face model directory)", dir);
        return -1;
    }
    if (qt_hf_config_read(p, c, &hq, err, errlen)) return -1;
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    if (tok_len && stat(p, &sb) == 0) snprintf(tok_path, tok_len, "%s", p);
    return 0;
}

qt_model *qt_import_model(const char *path, char *err, size_t errlen) {
    if (kind_of(path) == 1) {
        qt_model *m = qt_import_gguf(path, err, errlen);
        if (m) qt_model_clear_input_types(m);
        return m;
    }
    return qt_import_hf(path, err, errlen);
}
