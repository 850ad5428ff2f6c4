/* Hugging Face directory export (float weights, config.json, tokenizer
 * files) and the float-tensor writer shared with the AWQ export. See
 * io/export.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/files.h"
#include "base/half.h"
#include "io/export.h"
#include "qat/policy.h"
#include "quant/quant.h"

static uint16_t f32_to_bf16(float f) { /* round to nearest even (torch's .bfloat16()) */
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

int qt_hf_add_float(qt_safetensors *st, const char *name, const float *w, int ndim, const int64_t *shape, int rope_hd,
                    qt_st_dtype dt, char *err, size_t errlen) {
    size_t n = 1;
    for (int d = 0; d < ndim; d++) n *= (size_t)shape[d];
    /* rows in HF order: output row r is our row qt_hf_rope_row(r, hd); a 1-D tensor permutes elements */
    size_t rows = ndim == 1 ? n : (size_t)shape[0], cols = rows ? n / rows : 0;
    size_t esz = dt == QT_ST_F32 ? 4 : 2;
    char *buf = malloc((n ? n : 1) * esz);
    if (!buf) {
        snprintf(err, errlen, "hf export: out of memory for %s", name);
        return -1;
    }
    for (size_t r = 0; r < rows; r++) {
        const float *src = w + (size_t)(rope_hd ? qt_hf_rope_row((int)r, rope_hd) : (int)r) * cols;
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            if (dt == QT_ST_F32) memcpy(buf + 4 * i, &src[c], 4);
            else {
                uint16_t h = dt == QT_ST_F16 ? qt_f32_to_f16(src[c]) : f32_to_bf16(src[c]);
                memcpy(buf + 2 * i, &h, 2);
            }
        }
    }
    int rc = qt_st_add(st, name, dt, ndim, shape, buf, n * esz, err, errlen);
    free(buf);
    return rc;
}

/* copies file name from src_dir into dir (when it exists); 0 or -1 */
static int copy_beside(const char *src_dir, const char *name, const char *dir, int required, char *err, size_t errlen) {
    char from[4200], to[4200];
    snprintf(from, sizeof from, "%s/%s", src_dir, name);
    snprintf(to, sizeof to, "%s/%s", dir, name);
    FILE *f = fopen(from, "rb");
    if (!f) {
        if (!required && errno == ENOENT) return 0;
        snprintf(err, errlen, "hf export: %s: cannot open: %s", from, strerror(errno));
        return -1;
    }
    fclose(f);
    char *data = NULL;
    size_t len = 0;
    if (qt_read_file(from, &data, &len, err, errlen)) return -1;
    int rc = qt_write_file_atomic(to, data, len, err, errlen);
    free(data);
    return rc;
}

int qt_hf_write_tokenizer(const qd_tokenizer *t, const char *dir, const char *what, char *err, size_t errlen) {
    const char *src = t ? qd_tokenizer_source(t) : "byte";
    size_t n = strlen(src);
    if (n < 14 || strcmp(src + n - 14, "tokenizer.json")) {
        fprintf(stderr, "qatc: note: %s: %s: tokenizer %s has no tokenizer.json form; none written\n", what, dir, src);
        return 0;
    }
    char sdir[4096];
    snprintf(sdir, sizeof sdir, "%.*s", (int)(n - 14), src);
    if (!sdir[0]) snprintf(sdir, sizeof sdir, ".");
    else if (sdir[strlen(sdir) - 1] == '/') sdir[strlen(sdir) - 1] = 0;
    if (copy_beside(sdir, "tokenizer.json", dir, 1, err, errlen)) return -1;
    return copy_beside(sdir, "tokenizer_config.json", dir, 0, err, errlen);
}

int qt_hf_write_config(const qt_model *m, cJSON *quant_config, const char *torch_dtype, const char *path, char *err,
                       size_t errlen) {
    cJSON *j = qt_hf_config_json(m, torch_dtype);
    if (!j) {
        cJSON_Delete(quant_config);
        snprintf(err, errlen, "%s: the mlp arch has no Hugging Face form", path);
        return -1;
    }
    if (quant_config) cJSON_AddItemToObject(j, "quantization_config", quant_config);
    return qt_hf_write_json(j, path, err, errlen);
}

int qt_hf_write_json(cJSON *j, const char *path, char *err, size_t errlen) {
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: written with its length */
    int rc = qt_write_file_atomic(path, text, n + 1, err, errlen);
    free(text);
    return rc;
}

/* err = "WHAT: DIR (left unchanged): <err>" after a file of the temp directory failed */
static void name_dir(char *err, size_t errlen, const char *what, const char *dir) {
    char inner[1024];
    snprintf(inner, sizeof inner, "%s", err);
    snprintf(err, errlen, "%s: %s (left unchanged): %s", what, dir, inner);
}

int qt_export_hf(const qt_model *m, const qt_export_opts *o, const char *dir, char *err, size_t errlen) {
    static const qt_export_opts defaults = {0};
    if (!o) o = &defaults;
    if (!qt_arch_is_decoder(m->cfg.arch)) {
        snprintf(err, errlen, "hf export: %s: the mlp arch has no Hugging Face form", dir);
        return -1;
    }
    const char *type = o->type ? o->type : "BF16";
    qt_st_dtype dt = !strcmp(type, "F32") ? QT_ST_F32 : !strcmp(type, "F16") ? QT_ST_F16 : !strcmp(type, "BF16") ? QT_ST_BF16 : QT_ST_NDTYPES;
    if (dt == QT_ST_NDTYPES) {
        snprintf(err, errlen, "hf export: %s: type \"%s\": expected F32, F16 or BF16", dir, type);
        return -1;
    }
    if (qt_model_check_finite(m, err, errlen)) return -1;
    qt_safetensors *st = qt_st_new();
    if (!st) {
        snprintf(err, errlen, "hf export: out of memory");
        return -1;
    }
    int rc = 0, n_round = 0;
    char first_round[320] = "";
    for (int i = 0; rc == 0 && i < m->n_params; i++) {
        const qt_tensor *p = m->params[i];
        char hf[160];
        if (!qt_hf_name(p->name, hf, sizeof hf)) {
            snprintf(err, errlen, "hf export: %s has no Hugging Face name", p->name);
            rc = -1;
            break;
        }
        /* a quantized Linear: the weights it computes with (its frozen grid dequantized) */
        const qt_linear_layer *l = qt_model_linear(m, p->name);
        float *dq = NULL;
        const float *w = p->data;
        if (l && l->wq) {
            qt_qweight *qw = qt_freeze(l->w, l->wq);
            dq = malloc(p->n * sizeof *dq);
            if (!dq) qt_die("out of memory");
            qt_qweight_dequant(qw, dq);
            qt_qweight_free(qw);
            w = dq;
            for (size_t k = 0; dt != QT_ST_F32 && k < p->n; k++) {
                float back = dt == QT_ST_F16 ? qt_f16_round(w[k]) : qt_bf16_to_f32(f32_to_bf16(w[k]));
                if (back == w[k]) continue;
                if (!o->requantize) {
                    snprintf(err, errlen, "hf export: %s (%s): dequantized weight %zu = %.9g is not a %s value, so the "
                             "file would not hold the learned grid (use type F32, the gguf/awq exports, or requantize)",
                             hf, p->name, k, w[k], type);
                    rc = -1;
                } else if (!n_round++) {
                    snprintf(first_round, sizeof first_round, "%s", hf);
                }
                break;
            }
        }
        int64_t shape[2] = {p->shape[0], p->ndim == 2 ? p->shape[1] : 0};
        if (!rc) rc = qt_hf_add_float(st, hf, w, p->ndim, shape, qt_hf_rope_hd(m, p->name), dt, err, errlen);
        free(dq);
    }
    char path[4200];
    qt_adir ad = {0}; /* every file into "<dir>.tmp.<pid>", renamed to dir at the end */
    if (!rc) rc = qt_adir_open(&ad, dir, err, errlen);
    if (!rc) {
        qt_st_set_meta(st, "format", "pt");
        snprintf(path, sizeof path, "%s/model.safetensors", ad.tmp);
        rc = qt_st_write(st, path, err, errlen);
    }
    if (!rc) {
        snprintf(path, sizeof path, "%s/config.json", ad.tmp);
        rc = qt_hf_write_config(m, NULL, dt == QT_ST_F32 ? "float32" : dt == QT_ST_F16 ? "float16" : "bfloat16", path,
                                err, errlen);
    }
    if (!rc) rc = qt_hf_write_tokenizer(o->tokenizer, ad.tmp, "hf export", err, errlen);
    if (ad.tmp) {
        if (rc) {
            name_dir(err, errlen, "hf export", dir);
            qt_adir_abort(&ad);
        } else {
            rc = qt_adir_commit(&ad, err, errlen);
        }
    }
    if (!rc && n_round)
        fprintf(stderr, "qatc: warning: hf export: %s: %d quantized tensor(s) rounded to %s, off the learned grid "
                "(first: %s)\n", dir, n_round, type, first_round);
    qt_st_free(st);
    return rc;
}

/* ------------------------------------------------ quantized directories */

/* the group of a frozen weight as the formats count it: -1 for one per row */
static int group_of(const qt_qweight *qw) { return qw->spec.group > 0 ? qw->gsize : -1; }

/* every quantized Linear's spec fits f's model-wide fields: the summary, or -1 */
static int quant_summary(const qt_model *m, const qt_hf_qformat *f, qt_hf_qsum *s, char *err, size_t errlen) {
    s->bits = 0, s->group = 0, s->sym = 1, s->model = m;
    for (int j = 0; j < m->n_linears; j++) {
        const qt_linear_layer *l = m->linears[j];
        if (!l->wq && f->all_linears && l != &m->output) {
            char hf[160];
            snprintf(err, errlen, "%s: %s (%s) is not quantized, but the format's loaders convert every Linear of "
                     "the decoder blocks (remove it from quant.skip)", f->what,
                     qt_hf_name(l->w->name, hf, sizeof hf) ? hf : "?", l->w->name);
            return -1;
        }
        if (!l->wq) continue;
        const qt_quant_spec *sp = &l->wq->spec;
        if (!s->bits) s->bits = sp->bits;
        else if (f->one_bits && sp->bits != s->bits) {
            char hf[160];
            snprintf(err, errlen, "%s: %s (%s): %d-bit, but other layers are %d-bit (the format has one bits)",
                     f->what, qt_hf_name(l->w->name, hf, sizeof hf) ? hf : "?", l->w->name, sp->bits, s->bits);
            return -1;
        }
        s->sym &= sp->grid == QT_GRID_SYM;
    }
    return 0;
}

int qt_hf_export_quant(const qt_model *m, const qt_export_opts *o, const char *dir, const qt_hf_qformat *f, char *err,
                       size_t errlen) {
    static const qt_export_opts defaults = {0};
    if (!o) o = &defaults;
    if (!qt_arch_is_decoder(m->cfg.arch)) {
        snprintf(err, errlen, "%s: %s: the mlp arch has no Hugging Face form", f->what, dir);
        return -1;
    }
    /* Hugging Face's loaders convert the decoder Linears only: a packed
     * lm_head (or a tied embedding) would be read as a random float matrix */
    if (m->output.wq) {
        snprintf(err, errlen, "%s: %s: %s (the output layer%s) is quantized, but these checkpoints keep it in fp16 "
                 "(Hugging Face's loader never converts lm_head); add \"%s\" to quant.skip", f->what, dir,
                 m->output.w->name, m->cfg.tied ? ", tied to the embedding" : "", m->output.w->name);
        return -1;
    }
    qt_hf_qsum sum;
    if (quant_summary(m, f, &sum, err, errlen) || qt_model_check_finite(m, err, errlen)) return -1;
    qt_safetensors *st = qt_st_new();
    int rc = st ? 0 : -1, n_quant = 0, n_requant = 0, group = 0;
    char first_requant[320] = "";
    if (!st) snprintf(err, errlen, "%s: out of memory", f->what);
    for (int i = 0; rc == 0 && i < m->n_params; i++) {
        const qt_tensor *p = m->params[i];
        char hf[160];
        if (!qt_hf_name(p->name, hf, sizeof hf)) {
            snprintf(err, errlen, "%s: %s has no Hugging Face name", f->what, p->name);
            rc = -1;
            break;
        }
        const qt_linear_layer *l = qt_model_linear(m, p->name);
        int rope = qt_hf_rope_hd(m, p->name);
        if (!l || !l->wq) {
            int64_t shape[2] = {p->shape[0], p->ndim == 2 ? p->shape[1] : 0};
            rc = qt_hf_add_float(st, hf, p->data, p->ndim, shape, rope, QT_ST_F16, err, errlen);
            continue;
        }
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        char why[512];
        if (f->mismatch(qw, f->ctx, why, sizeof why)) {
            qt_qweight_free(qw);
            if (!o->requantize || !f->requant) {
                snprintf(err, errlen, "%s: %s (%s): cannot hold its spec exactly: %s%s", f->what, hf, p->name, why,
                         f->requant ? "; set \"requantize\" to re-quantize it (losing the learned grid)" : "");
                rc = -1;
                break;
            }
            char e[512];
            if (!(qw = f->requant(p, l->wq, e, sizeof e))) {
                snprintf(err, errlen, "%s: %s (%s): %s", f->what, hf, p->name, e);
                rc = -1;
                break;
            }
            if (!n_requant++) snprintf(first_requant, sizeof first_requant, "%s: %s", hf, why);
        }
        if (n_quant && group_of(qw) != group) {
            snprintf(err, errlen, "%s: %s (%s): group %d, but other layers use %d (the format has one group_size)",
                     f->what, hf, p->name, group_of(qw), group);
            qt_qweight_free(qw);
            rc = -1;
            break;
        }
        group = group_of(qw);
        hf[strlen(hf) - strlen(".weight")] = 0; /* the module */
        rc = f->add_linear(st, hf, qw, rope, &sum, f->ctx, err, errlen);
        qt_qweight_free(qw);
        n_quant++;
    }
    if (rc == 0 && n_quant == 0) {
        snprintf(err, errlen, "%s: %s: no Linear is quantized", f->what, dir);
        rc = -1;
    }
    sum.group = group;
    if (n_requant) sum.sym = 0;
    char path[4200];
    qt_adir ad = {0}; /* every file into "<dir>.tmp.<pid>", renamed to dir at the end */
    if (rc == 0) rc = qt_adir_open(&ad, dir, err, errlen);
    if (rc == 0) {
        qt_st_set_meta(st, "format", "pt");
        snprintf(path, sizeof path, "%s/model.safetensors", ad.tmp);
        rc = qt_st_write(st, path, err, errlen);
    }
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/config.json", ad.tmp);
        rc = qt_hf_write_config(m, f->quant_config(&sum, f->ctx), "float16", path, err, errlen);
    }
    if (rc == 0) rc = qt_hf_write_tokenizer(o->tokenizer, ad.tmp, f->what, err, errlen);
    if (rc == 0 && f->extra) rc = f->extra(ad.tmp, &sum, f->ctx, err, errlen);
    if (ad.tmp) {
        if (rc) {
            name_dir(err, errlen, f->what, dir);
            qt_adir_abort(&ad);
        } else {
            rc = qt_adir_commit(&ad, err, errlen);
        }
    }
    if (rc == 0 && n_requant)
        fprintf(stderr, "qatc: warning: %s: %s: %d tensor(s) re-quantized to %s from the float weights, losing the "
                "learned grid (first: %s)\n", f->what, dir, n_requant, f->requant_what, first_requant);
    qt_st_free(st);
    return rc;
}
