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
#include "test_model_util.h"

static void run(const char *dir, int group, qt_grid grid) {
    char out[600], ref[600], err[1024], args[1400];
    snprintf(out, sizeof out, "%s/awq_g%d_%d", dir, group, (int)grid);
    snprintf(ref, sizeof ref, "%s/ref_g%d_%d.safetensors", dir, group, (int)grid);
    qt_quant_spec spec = {.bits = 4, .group = group, .grid = grid, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tm_tiny_quant(&spec, QT_ARCH_LLAMA, 100 + (uint64_t)group);
    int rc = qt_export_awq(m, NULL, out, err, sizeof err);
    CHECK(rc == 0, "awq export g%d: %s", group, err);
    tm_write_deq_ref(m, ref);
    snprintf(args, sizeof args, "'%s' '%s'", out, ref);
    if (rc == 0) CHECK(tu_run_oracle("tests/oracles/awq_unpack.py", args) == 0, "awq_unpack.py g%d failed", group);
    /* qatc reads its AWQ directory back: every quantized Linear is its frozen
     * grid exactly ((q - z)·s), every other tensor its fp16 rounding */
    qt_model *b = rc == 0 ? qt_import_hf(out, err, sizeof err) : NULL;
    CHECK(rc != 0 || b != NULL, "AWQ import g%d: %s", group, err);
    char which[200];
    CHECK(!b || tm_same_as_export(m, b, which, sizeof which), "AWQ import g%d: %s differs from the exported values",
          group, which);
    qt_model_free(b);
    tm_free_quant(m);
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
    qt_model *m = tm_tiny_quant(&fm, QT_ARCH_LLAMA, 7);
    CHECK(qt_export_awq(m, NULL, out, err, sizeof err) == -1, "float_min exported as AWQ");
    CHECK(strstr(err, "model.layers.0.self_attn.q_proj.weight") && strstr(err, "float_min") &&
          strstr(err, "requantize"), "message: %s", err);
    qt_export_opts o = {.requantize = 1};
    CHECK(qt_export_awq(m, &o, out, err, sizeof err) == 0, "requantize: %s", err);
    tm_free_quant(m);
    qt_quant_spec g16 = {.bits = 4, .group = 16, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 1};
    m = tm_tiny_quant(&g16, QT_ARCH_LLAMA, 8);
    CHECK(qt_export_awq(m, NULL, out, err, sizeof err) == -1 && strstr(err, "group 16"), "group 16: %s", err);
    tm_free_quant(m);
    qt_quant_spec f32s = {.bits = 4, .group = 32, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 0};
    m = tm_tiny_quant(&f32s, QT_ARCH_LLAMA, 9);
    CHECK(qt_export_awq(m, NULL, out, err, sizeof err) == -1 && strstr(err, "fp16"), "fp32 scales: %s", err);
    tm_free_quant(m);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cleanup failed\n");
    return tu_finish("test_awq");
}
