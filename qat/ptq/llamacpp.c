/* qatc PTQ: what llama.cpp's own quantizer writes (see ptq.h). */
#include <stdlib.h>
#include <string.h>

#include "qat/ptq/ptq.h"
#include "quant/ggml_blocks.h"

int qt_imatrix_stats(qt_model *m, const qt_calib *c, const int *want, qt_calib_stats *st, char *err, size_t errlen) {
    return qt_calib_collect(m, c, 8, want, 0, st, err, errlen);
}

float **qt_imatrix_collect(qt_model *m, const qt_calib *c, const int *want, long *tokens, char *err, size_t errlen) {
    const int n = m->n_linears;
    qt_calib_stats *st = calloc((size_t)n, sizeof *st);
    float **imx = calloc((size_t)n, sizeof *imx);
    if (!st || !imx) qt_die("out of memory");
    if (qt_imatrix_stats(m, c, want, st, err, errlen)) {
        qt_calib_stats_free(st, n);
        free(st);
        free(imx);
        return NULL;
    }
    long nt = 0;
    for (int j = 0; j < n; j++) {
        if (!want[j]) continue;
        imx[j] = malloc((size_t)st[j].in * sizeof **imx);
        if (!imx[j]) qt_die("out of memory");
        /* llama-quantize's arithmetic on the file's F32 in_sum2 and counts */
        const float cnt = st[j].n > 0 ? (float)st[j].n : 1.0f;
        for (int k = 0; k < st[j].in; k++) imx[j][k] = (float)st[j].sq_sum[k] / cnt;
        nt = st[j].n;
    }
    if (tokens) *tokens = nt;
    qt_calib_stats_free(st, n);
    free(st);
    return imx;
}

void qt_imatrix_free(float **imx, int n) {
    if (!imx) return;
    for (int j = 0; j < n; j++) free(imx[j]);
    free(imx);
}

int qt_ptq_llamacpp_blocks(const qt_model *m, const qt_quant_rules *qc, int j, const float *imatrix, int *type,
                           uint8_t **blocks, size_t *nbytes, char *err, size_t errlen) {
    const qt_tensor *w = m->linears[j]->w;
    qt_quant_rules r = *qc;
    r.imatrix = imatrix != NULL;
    qt_quant_spec s;
    if (!qt_policy_spec(&r, &m->cfg, w->name, qt_cols(w), &s, NULL)) return 0;
    const int t = qt_ggml_type_of_spec(&s), rows = qt_rows(w), cols = qt_cols(w);
    if (t < 0) {
        snprintf(err, errlen, "llamacpp: %s: no llama.cpp type holds its grid (%d-bit, group %d); use "
                 "quant.weights.type or a quant.preset", w->name, s.bits, s.group);
        return -1;
    }
    const size_t n = (size_t)rows * cols / qt_ggml_block_size(t) * qt_ggml_type_size(t);
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf) qt_die("out of memory");
    if (qt_ggml_quantize_chunk(t, w->data, buf, (size_t)rows, (size_t)cols, imatrix)) {
        free(buf);
        snprintf(err, errlen, "llamacpp: %s: type %s cannot quantize rows of %d", w->name, qt_ggml_type_name(t), cols);
        return -1;
    }
    *type = t;
    *blocks = buf;
    *nbytes = n;
    return 1;
}

int qt_ptq_llamacpp(qt_model *m, const qt_quant_rules *qc, float *const *imatrix, FILE *log, double *bytes,
                    char *err, size_t errlen) {
    qt_quant_rules r = *qc;
    r.imatrix = imatrix != NULL;
    double total = 0.0;
    for (int i = 0; i < m->n_params; i++) { /* floats first: fp16 matrices, fp32 vectors */
        const qt_tensor *p = m->params[i];
        int is_linear = 0;
        for (int j = 0; j < m->n_linears; j++) is_linear |= m->linears[j]->w == p;
        qt_quant_spec s;
        if (!is_linear || !qt_policy_spec(&r, &m->cfg, p->name, qt_cols(p), &s, NULL))
            total += (double)p->n * (p->ndim == 1 ? 4 : 2);
    }
    for (int j = 0; j < m->n_linears; j++) {
        qt_tensor *w = m->linears[j]->w;
        int type;
        uint8_t *buf;
        size_t nbytes;
        const int rc = qt_ptq_llamacpp_blocks(m, &r, j, imatrix ? imatrix[j] : NULL, &type, &buf, &nbytes, err, errlen);
        if (rc < 0) return -1;
        if (rc == 0) continue;
        const int bad = qt_ggml_dequantize(type, buf, w->data, w->n);
        free(buf);
        if (bad) {
            snprintf(err, errlen, "llamacpp: %s: type %s cannot decode rows of %d", w->name, qt_ggml_type_name(type),
                     qt_cols(w));
            return -1;
        }
        total += (double)nbytes;
        if (log) fprintf(log, "llamacpp: %-36s %s%s\n", w->name, qt_ggml_type_name(type), imatrix ? " (imatrix)" : "");
    }
    *bytes = total;
    return 0;
}
