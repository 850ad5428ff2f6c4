/* The frozen quantized weight: codes + effective per-group parameters, its
 * dequantization (bit-identical to the fake-quant forward) and code packing. */
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (!p) qt_die("out of memory allocating a quantized weight");
    return p;
}

qt_qweight *qt_qweight_new(const qt_quant_spec *spec, int rows, int cols, char *err, size_t errlen) {
    if (qt_quant_spec_check(spec, rows, cols, err, errlen)) return NULL;
    qt_qweight *qw = xcalloc(1, sizeof *qw);
    qw->spec = *spec;
    qw->rows = rows;
    qw->cols = cols;
    qw->gsize = spec->group > 0 ? spec->group : cols;
    qw->ngroups = cols / qw->gsize;
    qw->srows = spec->group == QT_GROUP_PER_TENSOR ? 1 : rows;
    size_t n = (size_t)rows * cols, ns = (size_t)qw->srows * qw->ngroups;
    if (spec->grid == QT_GRID_SYM)
        qw->codes_s8 = xcalloc(n, 1);
    else
        qw->codes_u8 = xcalloc(n, 1);
    qw->scales = xcalloc(ns, sizeof(float));
    if (spec->grid == QT_GRID_ASYM) qw->zeros = xcalloc(ns, 1);
    if (spec->grid == QT_GRID_FLOAT_MIN) qw->mins = xcalloc(ns, sizeof(float));
    if (spec->dq_bits) {
        size_t nsb = (size_t)qw->srows * (cols / QT_SUPERBLOCK);
        qw->sb_d = xcalloc(nsb, sizeof(float));
        if (spec->grid == QT_GRID_FLOAT_MIN) qw->sb_dmin = xcalloc(nsb, sizeof(float));
    }
    return qw;
}

void qt_qweight_free(qt_qweight *qw) {
    if (!qw) return;
    free(qw->codes_s8);
    free(qw->codes_u8);
    free(qw->scales);
    free(qw->zeros);
    free(qw->mins);
    free(qw->sb_d);
    free(qw->sb_dmin);
    free(qw);
}

qt_qweight *qt_freeze(const qt_tensor *w, const qt_quantizer *q) {
    if (qt_rows(w) != q->rows || qt_cols(w) != q->cols) {
        char sb[64];
        qt_die("freeze: weight %s is %s but its quantizer was made for [%d, %d]", w->name,
               qt_shape_str(w, sb, sizeof sb), q->rows, q->cols);
    }
    char err[160];
    qt_qweight *qw = qt_qweight_new(&q->spec, q->rows, q->cols, err, sizeof err);
    if (!qw) qt_die("freeze: %s", err);
    const qt_quant_spec *spec = &q->spec;
    const float *sp = q->scale->data, *op = q->offset ? q->offset->data : NULL;
    const int per_tensor = spec->group == QT_GROUP_PER_TENSOR, ng = q->ngroups, gs = q->gsize, cols = q->cols;
    const int qn = -qt_quant_qmin(spec);
    /* SYM codes are produced unsigned (q + Qn) into the int8 array, then shifted in place */
    uint8_t *u = spec->grid == QT_GRID_SYM ? (uint8_t *)qw->codes_s8 : qw->codes_u8;
    const int span = qt_quant_span_groups(spec);
    size_t ns = (size_t)qw->srows * ng;
    for (size_t i = 0; i < ns; i += (size_t)span) {
        qt_qparams p[QT_SUPERBLOCK / 16];
        float d, dmin;
        qt_quant_effective_span(spec, sp + i, op ? op + i : NULL, p, &d, &dmin);
        for (int j = 0; j < span; j++) {
            qw->scales[i + j] = p[j].s;
            if (qw->zeros) qw->zeros[i + j] = (uint8_t)(int)p[j].z;
            if (qw->mins) qw->mins[i + j] = p[j].z;
        }
        if (qw->sb_d) qw->sb_d[i / span] = d;
        if (qw->sb_dmin) qw->sb_dmin[i / span] = dmin;
    }
#pragma omp parallel for if (w->n > 32768)
    for (int r = 0; r < q->rows; r++) {
        for (int k = 0; k < ng; k++) {
            size_t pi = per_tensor ? 0 : (size_t)r * ng + k, o = (size_t)r * cols + (size_t)k * gs;
            qt_qparams p = {qw->scales[pi], qw->zeros ? (float)qw->zeros[pi] : qw->mins ? qw->mins[pi] : 0.0f};
            qt_quant_group(spec, p, w->data + o, (size_t)gs, NULL, u + o);
            if (spec->grid == QT_GRID_SYM) {
                int8_t *c = qw->codes_s8 + o;
                for (int i = 0; i < gs; i++) c[i] = (int8_t)((int)u[o + i] - qn);
            }
        }
    }
    return qw;
}

void qt_qweight_dequant(const qt_qweight *qw, float *out) {
    const int per_tensor = qw->spec.group == QT_GROUP_PER_TENSOR, ng = qw->ngroups, gs = qw->gsize, cols = qw->cols;
    const qt_grid grid = qw->spec.grid;
#pragma omp parallel for if ((size_t)qw->rows * cols > 32768)
    for (int r = 0; r < qw->rows; r++) {
        for (int k = 0; k < ng; k++) {
            size_t pi = per_tensor ? 0 : (size_t)r * ng + k, o = (size_t)r * cols + (size_t)k * gs;
            const float s = qw->scales[pi];
            float *y = out + o;
            if (grid == QT_GRID_SYM) {
                const int8_t *c = qw->codes_s8 + o;
#pragma omp simd
                for (int i = 0; i < gs; i++) y[i] = (float)c[i] * s;
            } else if (qt_quant_is_level_grid(grid)) {
                const uint8_t *c = qw->codes_u8 + o;
                const int8_t *lv = qt_quant_levels(grid);
                for (int i = 0; i < gs; i++) y[i] = s * (float)lv[c[i] & 15];
            } else if (grid == QT_GRID_ASYM) {
                const uint8_t *c = qw->codes_u8 + o;
                const float z = (float)qw->zeros[pi];
#pragma omp simd
                for (int i = 0; i < gs; i++) y[i] = ((float)c[i] - z) * s;
            } else {
                const uint8_t *c = qw->codes_u8 + o;
                const float m = qw->mins[pi];
#pragma omp simd
                for (int i = 0; i < gs; i++) y[i] = s * (float)c[i] + m;
            }
        }
    }
}

size_t qt_codes_packed_bytes(size_t n, int bits) { return bits <= 4 ? (n + 1) / 2 : n; }

void qt_codes_pack(const uint8_t *codes, size_t n, int bits, uint8_t *out) {
    if (bits > 4) {
        memcpy(out, codes, n);
        return;
    }
    size_t half = n / 2;
    for (size_t i = 0; i < half; i++) out[i] = (uint8_t)((codes[2 * i] & 0x0f) | ((codes[2 * i + 1] & 0x0f) << 4));
    if (n & 1) out[half] = codes[n - 1] & 0x0f;
}

void qt_codes_unpack(const uint8_t *in, size_t n, int bits, uint8_t *codes) {
    if (bits > 4) {
        memcpy(codes, in, n);
        return;
    }
    size_t half = n / 2;
    for (size_t i = 0; i < half; i++) {
        codes[2 * i] = in[i] & 0x0f;
        codes[2 * i + 1] = in[i] >> 4;
    }
    if (n & 1) codes[n - 1] = in[half] & 0x0f;
}

size_t qt_qweight_packed_bytes(const qt_qweight *qw) {
    return qt_codes_packed_bytes((size_t)qw->rows * qw->cols, qw->spec.bits);
}

void qt_qweight_pack(const qt_qweight *qw, uint8_t *out) {
    size_t n = (size_t)qw->rows * qw->cols;
    if (qw->spec.grid != QT_GRID_SYM) {
        qt_codes_pack(qw->codes_u8, n, qw->spec.bits, out);
        return;
    }
    /* SYM: unsigned code q + Qn, packed on the fly (no temporary buffer) */
    const int qn = -qt_quant_qmin(&qw->spec);
    const int8_t *c = qw->codes_s8;
    if (qw->spec.bits > 4) {
        for (size_t i = 0; i < n; i++) out[i] = (uint8_t)(c[i] + qn);
        return;
    }
    size_t half = n / 2;
    for (size_t i = 0; i < half; i++)
        out[i] = (uint8_t)(((c[2 * i] + qn) & 0x0f) | (((c[2 * i + 1] + qn) & 0x0f) << 4));
    if (n & 1) out[half] = (uint8_t)((c[n - 1] + qn) & 0x0f);
}

void qt_qweight_unpack(qt_qweight *qw, const uint8_t *in) {
    size_t n = (size_t)qw->rows * qw->cols;
    if (qw->spec.grid != QT_GRID_SYM) {
        qt_codes_unpack(in, n, qw->spec.bits, qw->codes_u8);
        return;
    }
    const int qn = -qt_quant_qmin(&qw->spec);
    uint8_t *u = (uint8_t *)qw->codes_s8;
    qt_codes_unpack(in, n, qw->spec.bits, u);
    for (size_t i = 0; i < n; i++) qw->codes_s8[i] = (int8_t)((int)u[i] - qn);
}
