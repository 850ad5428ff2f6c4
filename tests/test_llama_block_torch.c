/* One Llama-style block, forward and backward, against python3-torch
 * (tests/oracles/llama_block_ref.py, float64): output and every gradient
 * within 1e-4 relative (max abs diff / max abs). */
#include <hdf5.h>

#include "nn/model.h"
#include "ops/ops.h"
#include "test_util.h"

static hid_t file;

static int read_attr_int(const char *name) {
    int v = 0;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    return v;
}

static double read_attr_double(const char *name) {
    double v = 0;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    H5Aread(a, H5T_NATIVE_DOUBLE, &v);
    H5Aclose(a);
    return v;
}

/* Reads dataset `name` (exactly n floats) into buf; 0 on success. */
static int read_floats(const char *name, float *buf, size_t n) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    int rc = (size_t)cnt == n ? (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) : -1;
    H5Sclose(sp);
    H5Dclose(d);
    return rc;
}

int main(void) {
    char dir[512], path[600];
    tu_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/block.h5", dir);
    char args[700];
    snprintf(args, sizeof args, "%s", path);
    int rc = tu_run_oracle("tests/oracles/llama_block_ref.py", args);
    CHECK(rc == 0, "oracle script failed (%d)", rc);
    if (rc) return tu_finish("test_llama_block_torch");
    file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(file >= 0, "cannot open %s", path);

    qt_model_cfg cfg = {.arch = QT_ARCH_LLAMA, .dim = read_attr_int("D"), .layers = 1, .heads = read_attr_int("H"),
                        .kv_heads = read_attr_int("KV"), .ffn = read_attr_int("F"), .ctx = 64, .vocab = 16,
                        .rope_theta = (float)read_attr_double("theta"), .norm_eps = (float)read_attr_double("eps")};
    int B = read_attr_int("B"), T = read_attr_int("T"), D = cfg.dim;
    char err[256];
    CHECK(qt_model_cfg_check(&cfg, err, sizeof err) == 0, "%s", err);
    qt_model *m = qt_model_new(&cfg);
    /* block parameters are the model's "layers.0.*" tensors */
    char name[160];
    for (int i = 0; i < m->n_params; i++) {
        const char *pn = m->params[i]->name;
        if (strncmp(pn, "layers.0.", 9)) continue;
        snprintf(name, sizeof name, "param/%s", pn + 9);
        CHECK(read_floats(name, m->params[i]->data, m->params[i]->n) == 0, "read %s", name);
    }
    qt_tensor *x = qt_param_new("x", 3, (int[]){B, T, D});
    float *R = malloc(x->n * sizeof(float)), *ref = malloc(x->n * sizeof(float) * 8);
    CHECK(read_floats("x", x->data, x->n) == 0, "read x");
    CHECK(read_floats("R", R, x->n) == 0, "read R");

    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_tensor *y = qt_block_forward(&ctx, m, 0, x, 0);
    CHECK(read_floats("y", ref, y->n) == 0, "read y");
    double e = tu_rel_err(y->data, ref, y->n);
    CHECK(e < 1e-4, "block output rel err %.3g", e);
    printf("  output            rel err %.2e\n", e);
    qt_backward(&ctx, y, R);
    CHECK(read_floats("grad/x", ref, x->n) == 0, "read grad/x");
    e = tu_rel_err(x->grad, ref, x->n);
    CHECK(e < 1e-4, "grad x rel err %.3g", e);
    printf("  grad x            rel err %.2e\n", e);
    int n_checked = 0;
    for (int i = 0; i < m->n_params; i++) {
        qt_tensor *p = m->params[i];
        if (strncmp(p->name, "layers.0.", 9)) continue;
        snprintf(name, sizeof name, "grad/%s", p->name + 9);
        CHECK(read_floats(name, ref, p->n) == 0, "read %s", name);
        e = tu_rel_err(p->grad, ref, p->n);
        CHECK(e < 1e-4, "%s rel err %.3g", name, e);
        printf("  %-32s rel err %.2e\n", name, e);
        n_checked++;
    }
    CHECK(n_checked == 9, "checked %d block parameters, expected 9", n_checked);
    H5Fclose(file);
    qt_ctx_free(&ctx);
    qt_param_free(x);
    qt_model_free(m);
    free(R);
    free(ref);
    return tu_finish("test_llama_block_torch");
}
