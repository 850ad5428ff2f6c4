/* qatc PTQ: SmoothQuant (Xiao et al. 2022), see qat/ptq/ptq.h. */
#include <math.h>
#include <stdlib.h>

#include "qat/policy.h"
#include "qat/ptq/ptq.h"

void qt_smoothquant_factors(qt_linear_layer *const *ls, int n, const float *act_max, double alpha, float *s_out) {
    int in = ls[0]->w->shape[1];
    for (int c = 0; c < in; c++) {
        float wmax = 0.0f;
        for (int i = 0; i < n; i++) {
            const qt_tensor *w = ls[i]->w;
            for (int r = 0; r < w->shape[0]; r++) {
                float v = fabsf(w->data[(size_t)r * in + c]);
                wmax = v > wmax ? v : wmax;
            }
        }
        double s = (act_max[c] > 0.0f && wmax > 0.0f) ? pow(act_max[c], alpha) / pow(wmax, 1.0 - alpha) : 1.0;
        s_out[c] = (float)(s < 1e-5 ? 1e-5 : s);
    }
}

int qt_ptq_smoothquant(qt_model *m, const qt_quant_rules *qc, const qt_calib *c, double alpha, FILE *log, char *err,
                       size_t errlen) {
    int n = m->n_linears, rc = 0;
    if (qt_arch_is_decoder(m->cfg.arch)) {
        int *want = calloc((size_t)n, sizeof *want);
        qt_calib_stats *st = calloc((size_t)n, sizeof *st);
        for (int i = 0; i < m->cfg.layers; i++)
            for (int site = 0; site < 4; site++) {
                qt_linear_layer *ls[3];
                if (qt_fold_linears(m, i, (qt_fold_site)site, ls))
                    for (int j = 0; j < n; j++)
                        if (m->linears[j] == ls[0]) want[j] = 1;
            }
        rc = qt_calib_collect(m, c, 8, want, 0, st, err, errlen);
        for (int i = 0; i < m->cfg.layers && !rc; i++)
            for (int site = 0; site < 4; site++) {
                qt_linear_layer *ls[3];
                int nl = qt_fold_linears(m, i, (qt_fold_site)site, ls), j0 = -1;
                if (!nl) continue;
                for (int j = 0; j < n; j++)
                    if (m->linears[j] == ls[0]) j0 = j;
                float *s = malloc((size_t)st[j0].in * sizeof *s);
                qt_smoothquant_factors(ls, nl, st[j0].abs_max, alpha, s);
                qt_fold_scales(m, i, (qt_fold_site)site, s);
                free(s);
            }
        if (log && !rc) fprintf(log, "smoothquant: alpha %.2f folded into %d layers\n", alpha, m->cfg.layers);
        qt_calib_stats_free(st, n);
        free(st);
        free(want);
    }
    if (rc) return -1;
    return qt_ptq_rtn(m, qc, c, NULL, err, errlen);
}
