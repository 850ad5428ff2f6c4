/* AWQ GEMM export: a numpy script that follows only the published layout
 * (tests/oracles/awq_unpack.py) unpacks qweight / qzeros / scales of qatc's
 * export and reproduces the dequantized frozen weights exactly, for groups 32
 * and 128, and sym 4-bit g64 written as zero point 8 (q/k rows mapped back
 * from HF's half-split rope). Specs AWQ cannot
 * hold are refused naming the tensor, unless requantize. */
#include <stdlib.h>
#include <string.h>

#include "io/export.h"
#include "store/safetensors.h"
#include "quant/quant.h"
#include "test_util.h"

static qt_model *tiny(const qt_quant_spec *spec, uint64_t seed) {
    qt_model_cfg cfg = {.arch = QT_ARCH_LLAMA, .dim = 128, .layers = 2, .heads = 4, .kv_heads = 2, .ffn = 256,
                        .ctx = 32, .vocab = 256, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, seed);
    char err[256];
    uint64_t s = seed;
    for (int j = 0; j < m->n_linears; j++) {
        qt_linear_layer *l = m->linears[j];
        if (l == &m->output) continue;
        l->wq = qt_quantizer_new(spec, l->w, err, sizeof err);
        if (!l->wq) qt_die("%s", err);
        qt_quant_init_mse(l->wq, l->w, 20, 0.6f);
        for (size_t k = 0; k < l->wq->scale->n; k++) l->wq->scale->data[k] *= (float)(0.9 + 0.2 * tu_uniform(&s));
        if (l->wq->offset)
            for (size_t k = 0; k < l->wq->offset->n; k++) l->wq->offset->data[k] += (float)(tu_uniform(&s) - 0.5);
        qt_quantizer_clamp(l->wq);
    }
    return m;
}

static void free_tiny(qt_model *m) {
    for (int j = 0; j < m->n_linears; j++) qt_quantizer_free(m->linears[j]->wq);
    qt_model_free(m);
}

static void run(const char *dir, int group, qt_grid grid) {
    char out[600], ref[600], err[1024], args[1400];
    snprintf(out, sizeof out, "%s/awq_g%d_%d", dir, group, (int)grid);
    snprintf(ref, sizeof ref, "%s/ref_g%d_%d.safetensors", dir, group, (int)grid);
    qt_quant_spec spec = {.bits = 4, .group = group, .grid = grid, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny(&spec, 100 + (uint64_t)group);
    int rc = qt_export_awq(m, NULL, out, err, sizeof err);
    CHECK(rc == 0, "awq export g%d: %s", group, err);
    qt_safetensors *st = qt_st_new();
    for (int j = 0; j < m->n_linears; j++) {
        const qt_linear_layer *l = m->linears[j];
        if (!l->wq) continue;
        qt_qweight *qw = qt_freeze(l->w, l->wq);
        float *w = malloc(l->w->n * sizeof *w);
        qt_qweight_dequant(qw, w);
        char hf[160], nm[200];
        qt_hf_name(l->w->name, hf, sizeof hf);
        hf[strlen(hf) - strlen(".weight")] = 0;
        snprintf(nm, sizeof nm, "%s.deq", hf);
        qt_st_add(st, nm, QT_ST_F32, 2, (int64_t[]){qt_rows(l->w), qt_cols(l->w)}, w, l->w->n * sizeof *w, err,
                  sizeof err);
        free(w);
        qt_qweight_free(qw);
    }
    CHECK(qt_st_write(st, ref, err, sizeof err) == 0, "%s", err);
    qt_st_free(st);
    snprintf(args, sizeof args, "'%s' '%s'", out, ref);
    if (rc == 0) CHECK(tu_run_oracle("tests/oracles/awq_unpack.py", args) == 0, "awq_unpack.py g%d failed", group);
    /* qatc reads its AWQ directory back: every quantized Linear is its frozen
     * grid exactly ((q - z)·s), every other tensor its fp16 rounding */
    qt_model *b = rc == 0 ? qt_import_hf(out, err, sizeof err) : NULL;
    CHECK(rc != 0 || b != NULL, "AWQ import g%d: %s", group, err);
    for (int i = 0; b && i < m->n_params; i++) {
        const qt_tensor *p = m->params[i], *q = b->params[i];
        const qt_linear_layer *l = qt_model_linear(m, p->name);
        float *want = malloc(p->n * sizeof *want);
        if (l && l->wq) {
            qt_qweight *qw = qt_freeze(l->w, l->wq);
            qt_qweight_dequant(qw, want);
            qt_qweight_free(qw);
        } else {
            for (size_t k = 0; k < p->n; k++) want[k] = qt_f16_round(p->data[k]);
        }
        CHECK(!memcmp(want, q->data, p->n * sizeof *want), "AWQ import g%d: %s differs from the exported values", group,
              p->name);
        free(want);
    }
    qt_model_free(b);
    free_tiny(m);
}

int main(void) {
    char dir[512], out[600], err[1024];
    tu_tmpdir(dir, sizeof dir);
    run(dir, 32, QT_GRID_ASYM);
    run(dir, 128, QT_GRID_ASYM);
    run(dir, 64, QT_GRID_SYM); /* sym 4-bit: codes + 8, zero point 8 */
    /* refusals */
    snprintf(out, sizeof out, "%s/awq_bad", dir);
    qt_quant_spec fm = {.bits = 4, .group = 32, .grid = QT_GRID_FLOAT_MIN, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny(&fm, 7);
    CHECK(qt_export_awq(m, NULL, out, err, sizeof err) == -1, "float_min exported as AWQ");
    CHECK(strstr(err, "model.layers.0.self_attn.q_proj.weight") && strstr(err, "float_min") &&
          strstr(err, "requantize"), "message: %s", err);
    qt_export_opts o = {.requantize = 1};
    CHECK(qt_export_awq(m, &o, out, err, sizeof err) == 0, "requantize: %s", err);
    free_tiny(m);
    qt_quant_spec g16 = {.bits = 4, .group = 16, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 1};
    m = tiny(&g16, 8);
    CHECK(qt_export_awq(m, NULL, out, err, sizeof err) == -1 && strstr(err, "group 16"), "group 16: %s", err);
    free_tiny(m);
    qt_quant_spec f32s = {.bits = 4, .group = 32, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 0};
    m = tiny(&f32s, 9);
    CHECK(qt_export_awq(m, NULL, out, err, sizeof err) == -1 && strstr(err, "fp16"), "fp32 scales: %s", err);
    free_tiny(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cleanup failed\n");
    return tu_finish("test_awq");
}
