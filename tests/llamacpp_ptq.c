/* llamacpp_ptq: test helper of tests/cli/llamacpp_presets.sh (not a ctest test).
 * usage: llamacpp_ptq init CONFIG.json OUT.h5 SEED
 *          a float model of the config's shape: qt_model_init's N(0, 0.02) weights with every
 *          Linear's columns scaled by exp(0.7·N(0,1)) (uneven columns, as trained models have),
 *          saved with the config
 *        llamacpp_ptq dump CONFIG.json BASE.h5 OUTDIR [IMXDIR]
 *          qatc's `llamacpp` PTQ of BASE under the config's quant rules (quant.preset), with the
 *          importance matrix IMXDIR/<weight name>.imx (float32 per input column) when given:
 *          OUTDIR/manifest.txt ("NAME TYPE ROWS COLS" per quantized Linear), OUTDIR/NAME.blk (the
 *          blocks of qt_ptq_llamacpp_blocks) and OUTDIR/NAME.f32 (the weights qt_ptq_llamacpp
 *          leaves in the model).
 * Exit 0 ok, 1 error (one line on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/checkpoint.h"
#include "qat/ptq/ptq.h"
#include "quant/ggml_blocks.h"
#include "run/artifacts.h"
#include "run/plan.h"
#include "test_util.h"

static int die(const char *msg) {
    fprintf(stderr, "llamacpp_ptq: %s\n", msg);
    return 1;
}

static int write_file(const char *dir, const char *name, const char *ext, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    const int bad = fwrite(p, 1, n, f) != n;
    return fclose(f) || bad ? -1 : 0;
}

static int init(const char *config, const char *out, uint64_t seed) {
    qt_config cfg;
    char err[1024];
    if (qt_config_load(config, &cfg, err, sizeof err)) return die(err);
    const qt_model_cfg mc = qt_plan_model_cfg(&cfg);
    qt_model *m = qt_model_new(&mc);
    qt_model_init(m, seed);
    uint64_t s = seed * 2654435761u + 1;
    for (int j = 0; j < m->n_linears; j++) {
        qt_tensor *w = m->linears[j]->w;
        const int rows = qt_rows(w), cols = qt_cols(w);
        for (int c = 0; c < cols; c++) {
            const float k = (float)exp(0.7 * tu_normal(&s));
            for (int r = 0; r < rows; r++) w->data[(size_t)r * cols + c] *= k;
        }
    }
    char *json = qt_config_to_json(&cfg);
    const int rc = qt_model_save(m, out, json, err, sizeof err);
    free(json);
    qt_model_free(m);
    qt_config_free(&cfg);
    return rc ? die(err) : 0;
}

static int dump(const char *config, const char *base, const char *dir, const char *imxdir) {
    qt_config cfg;
    char err[1024], msg[1200];
    qt_model *m = qt_load_qat(base, config, 0, &cfg, err, sizeof err);
    if (!m) return die(err);
    qt_plan plan;
    qt_plan_init(&plan, &cfg);
    float **imx = NULL;
    if (imxdir) {
        imx = calloc((size_t)m->n_linears, sizeof *imx);
        for (int j = 0; j < m->n_linears; j++) {
            const qt_tensor *w = m->linears[j]->w;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s.imx", imxdir, w->name);
            FILE *f = fopen(path, "rb");
            if (!f) continue; /* a Linear the preset keeps in float */
            imx[j] = malloc((size_t)qt_cols(w) * sizeof **imx);
            const size_t got = fread(imx[j], sizeof **imx, (size_t)qt_cols(w) + 1, f);
            fclose(f);
            if (got != (size_t)qt_cols(w)) {
                snprintf(msg, sizeof msg, "%s: %zu values, expected %d", path, got, qt_cols(w));
                return die(msg);
            }
        }
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", dir);
    FILE *man = fopen(path, "w");
    if (!man) return die("cannot write the manifest");
    int *quantized = calloc((size_t)m->n_linears, sizeof *quantized);
    for (int j = 0; j < m->n_linears; j++) {
        const qt_tensor *w = m->linears[j]->w;
        int type;
        uint8_t *blk;
        size_t nbytes;
        const int rc = qt_ptq_llamacpp_blocks(m, &plan.quant, j, imx ? imx[j] : NULL, &type, &blk, &nbytes, err,
                                              sizeof err);
        if (rc < 0) return die(err);
        if (rc == 0) continue;
        quantized[j] = 1;
        fprintf(man, "%s %s %d %d\n", w->name, qt_ggml_type_name(type), qt_rows(w), qt_cols(w));
        if (write_file(dir, w->name, ".blk", blk, nbytes)) return die("cannot write blocks");
        free(blk);
    }
    fclose(man);
    double bytes;
    if (qt_ptq_llamacpp(m, &plan.quant, imx, NULL, &bytes, err, sizeof err)) return die(err);
    for (int j = 0; j < m->n_linears; j++) {
        const qt_tensor *w = m->linears[j]->w;
        if (quantized[j] && write_file(dir, w->name, ".f32", w->data, w->n * sizeof *w->data))
            return die("cannot write weights");
    }
    free(quantized);
    qt_imatrix_free(imx, m->n_linears);
    qt_plan_free(&plan);
    qt_model_free(m);
    qt_config_free(&cfg);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && !strcmp(argv[1], "init")) return init(argv[2], argv[3], strtoull(argv[4], NULL, 10));
    if ((argc == 5 || argc == 6) && !strcmp(argv[1], "dump")) return dump(argv[2], argv[3], argv[4], argc == 6 ? argv[5] : NULL);
    return die("usage: llamacpp_ptq init CONFIG.json OUT.h5 SEED | dump CONFIG.json BASE.h5 OUTDIR [IMXDIR]");
}
