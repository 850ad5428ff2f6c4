/* GPTQ (v1 and v2) and compressed-tensors pack-quantized exports: a numpy
 * script written from the published layouts only (tests/oracles/gptq_unpack.py)
 * unpacks qatc's exports and reproduces the frozen weights exactly, for sym
 * and asym grids, bits 2, 3, 4 and 8, groups 32/64/128 and one group per row;
 * a v1 file read as v2 (and a v2 file read as v1) gives different weights in
 * every module, by the oracle and by qatc's import; sym 4-bit stores 7 in v1
 * and 8 in v2; qatc's import of each export gives the frozen weights bit for
 * bit (other tensors their fp16 rounding). Specs the formats cannot hold are
 * refused naming the tensor, and nothing is written. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/files.h"
#include "io/export.h"
#include "quant/quant.h"
#include "store/safetensors.h"
#include "test_model_util.h"

/* tm_tiny_quant with no asym zero point 0 (GPTQ v1 cannot hold it), or with zero0 one per Linear */
static qt_model *tiny(const qt_quant_spec *spec, qt_arch arch, int zero0, uint64_t seed) {
    qt_model *m = tm_tiny_quant(spec, arch, seed);
    for (int j = 0; j < m->n_linears; j++) {
        qt_quantizer *q = m->linears[j]->wq;
        for (size_t k = 0; q && q->offset && k < q->offset->n; k++) {
            float *z = &q->offset->data[k];
            if (!zero0 && *z < 1.0f) *z = 1.0f;
            if (zero0 && k == 3) *z = 0.0f;
        }
    }
    return m;
}

/* rewrites config.json's quantization_config.checkpoint_format */
static void set_format(const char *dir, const char *fmt) {
    char path[700], err[512], *text;
    size_t n;
    snprintf(path, sizeof path, "%s/config.json", dir);
    CHECK(qt_read_file(path, &text, &n, err, sizeof err) == 0, "%s", err);
    cJSON *j = cJSON_Parse(text);
    free(text);
    cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "quantization_config"), "checkpoint_format", cJSON_CreateString(fmt));
    text = cJSON_Print(j);
    CHECK(qt_write_file_atomic(path, text, strlen(text), err, sizeof err) == 0, "%s", err);
    free(text);
    cJSON_Delete(j);
}

typedef struct {
    const char *fmt; /* "gptq", "gptq_v2", "ct" */
    int bits, group;
    qt_grid grid;
    qt_arch arch;
    int stored_zero; /* GPTQ sym: the qzeros value every entry must hold; 0 = not checked */
} case_t;

static void run(const char *dir, const case_t *c, int n) {
    char out[600], ref[600], err[1024], args[1600], which[200];
    snprintf(out, sizeof out, "%s/%s_b%d_g%d_%d_%d", dir, c->fmt, c->bits, c->group, (int)c->grid, n);
    snprintf(ref, sizeof ref, "%s.ref.safetensors", out);
    qt_quant_spec spec = {.bits = c->bits, .group = c->group, .grid = c->grid, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny(&spec, c->arch, 0, 200 + (uint64_t)n);
    const int ct = !strcmp(c->fmt, "ct"), v2 = !strcmp(c->fmt, "gptq_v2");
    qt_export_opts o = {.checkpoint_format = ct ? NULL : c->fmt};
    int rc = ct ? qt_export_ct(m, &o, out, err, sizeof err) : qt_export_gptq(m, &o, out, err, sizeof err);
    CHECK(rc == 0, "%s export (%d-bit, group %d): %s", c->fmt, c->bits, c->group, err);
    if (rc) {
        tm_free_quant(m);
        return;
    }
    tm_write_deq_ref(m, ref);
    char extra[64] = "";
    if (c->stored_zero) snprintf(extra, sizeof extra, " --expect-stored-zero %d", c->stored_zero);
    snprintf(args, sizeof args, "'%s' '%s'%s", out, ref, extra);
    CHECK(tu_run_oracle("tests/oracles/gptq_unpack.py", args) == 0, "gptq_unpack.py %s", out);
    /* qatc reads its export back bit for bit */
    qt_model *b = qt_import_hf(out, err, sizeof err);
    CHECK(b != NULL, "import %s: %s", out, err);
    if (b) CHECK(tm_same_as_export(m, b, which, sizeof which), "import %s: %s differs from the exported values", out, which);
    qt_model_free(b);
    if (!ct) {
        /* the v1 offset matters and is applied exactly once: read with the other format, every module differs */
        const char *other = v2 ? "gptq" : "gptq_v2";
        snprintf(args, sizeof args, "'%s' '%s' --read-as %s --expect-mismatch", out, ref, other);
        CHECK(tu_run_oracle("tests/oracles/gptq_unpack.py", args) == 0, "gptq_unpack.py %s read as %s", out, other);
        set_format(out, other);
        b = qt_import_hf(out, err, sizeof err);
        CHECK(b != NULL, "import %s as %s: %s", out, other, err);
        int diff = 0;
        for (int j = 0; b && j < m->n_linears; j++) {
            const qt_linear_layer *l = m->linears[j];
            if (!l->wq) continue;
            qt_qweight *qw = qt_freeze(l->w, l->wq);
            float *w = malloc(l->w->n * sizeof *w);
            qt_qweight_dequant(qw, w);
            const qt_tensor *got = b->params[0];
            for (int i = 0; i < b->n_params; i++)
                if (!strcmp(b->params[i]->name, l->w->name)) got = b->params[i];
            diff += memcmp(w, got->data, l->w->n * sizeof *w) != 0;
            free(w);
            qt_qweight_free(qw);
        }
        CHECK(b && diff == 14, "import %s as %s: %d of 14 Linears differ", out, other, diff);
        qt_model_free(b);
    }
    tm_free_quant(m);
}

/* export of m (spec) with format fmt must fail naming want1 and want2, writing nothing */
static void refuse(const char *dir, const char *fmt, qt_model *m, const char *want1, const char *want2) {
    char out[600], err[1024];
    snprintf(out, sizeof out, "%s/refused", dir);
    qt_export_opts o = {.checkpoint_format = !strcmp(fmt, "ct") ? NULL : fmt};
    int rc = !strcmp(fmt, "ct") ? qt_export_ct(m, &o, out, err, sizeof err) : qt_export_gptq(m, &o, out, err, sizeof err);
    CHECK(rc == -1, "%s export accepted (%s)", fmt, want2);
    CHECK(rc == 0 || (strstr(err, want1) && strstr(err, want2) && !strchr(err, '\n')), "%s message: %s", fmt, err);
    struct stat sb;
    CHECK(stat(out, &sb) != 0, "%s: the refused export created %s", fmt, out);
}

int main(void) {
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    static const case_t cases[] = {
        {"gptq", 4, 32, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},     {"gptq_v2", 4, 32, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},
        {"gptq", 4, 64, QT_GRID_SYM, QT_ARCH_LLAMA, 7},      {"gptq_v2", 4, 64, QT_GRID_SYM, QT_ARCH_LLAMA, 8},
        {"gptq", 8, 32, QT_GRID_SYM, QT_ARCH_QWEN2, 127},    {"gptq_v2", 8, 128, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},
        {"gptq", 3, 32, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},     {"gptq_v2", 3, 64, QT_GRID_SYM, QT_ARCH_LLAMA, 4},
        {"gptq", 2, 128, QT_GRID_SYM, QT_ARCH_LLAMA, 1},     {"gptq_v2", 4, 0, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},
        {"ct", 4, 32, QT_GRID_SYM, QT_ARCH_LLAMA, 0},        {"ct", 4, 64, QT_GRID_ASYM, QT_ARCH_QWEN2, 0},
        {"ct", 8, 128, QT_GRID_SYM, QT_ARCH_LLAMA, 0},       {"ct", 3, 32, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},
        {"ct", 2, 0, QT_GRID_SYM, QT_ARCH_LLAMA, 0},         {"ct", 6, 32, QT_GRID_ASYM, QT_ARCH_LLAMA, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) run(dir, &cases[i], (int)i);

    /* refusals, before anything is written */
    const char *q0 = "model.layers.0.self_attn.q_proj.weight";
    qt_quant_spec fm = {.bits = 4, .group = 32, .grid = QT_GRID_FLOAT_MIN, .learnable = 1, .fp16_scales = 1};
    qt_model *m = tiny(&fm, QT_ARCH_LLAMA, 0, 7);
    refuse(dir, "gptq", m, q0, "float_min");
    refuse(dir, "ct", m, q0, "float_min");
    tm_free_quant(m);
    qt_quant_spec f32s = {.bits = 4, .group = 32, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 0};
    m = tiny(&f32s, QT_ARCH_LLAMA, 0, 9);
    refuse(dir, "gptq_v2", m, q0, "fp16");
    refuse(dir, "ct", m, q0, "fp16");
    tm_free_quant(m);
    qt_quant_spec b5 = {.bits = 5, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
    m = tiny(&b5, QT_ARCH_LLAMA, 0, 10);
    refuse(dir, "gptq", m, q0, "5-bit");
    tm_free_quant(m);
    /* v1 cannot hold a zero point 0; v2 can */
    qt_quant_spec a4 = {.bits = 4, .group = 32, .grid = QT_GRID_ASYM, .learnable = 1, .fp16_scales = 1};
    m = tiny(&a4, QT_ARCH_LLAMA, 1, 11);
    refuse(dir, "gptq", m, q0, "zero point 0");
    char out[600], err[1024];
    snprintf(out, sizeof out, "%s/zero0_v2", dir);
    qt_export_opts v2 = {.checkpoint_format = "gptq_v2"};
    CHECK(qt_export_gptq(m, &v2, out, err, sizeof err) == 0, "v2 with a zero point 0: %s", err);
    qt_export_opts bad = {.checkpoint_format = "gptq_v3"};
    CHECK(qt_export_gptq(m, &bad, out, err, sizeof err) == -1 && strstr(err, "gptq_v3"), "format gptq_v3: %s", err);
    /* mixed bits; a float decoder Linear (GPTQ); a quantized output layer */
    qt_quantizer_free(m->blocks[1].w2.wq);
    qt_quant_spec a8 = a4;
    a8.bits = 8;
    m->blocks[1].w2.wq = qt_quantizer_new(&a8, m->blocks[1].w2.w, err, sizeof err);
    qt_quant_init_absmax(m->blocks[1].w2.wq, m->blocks[1].w2.w);
    refuse(dir, "ct", m, "model.layers.1.mlp.down_proj.weight", "8-bit");
    qt_quantizer_free(m->blocks[1].w2.wq);
    m->blocks[1].w2.wq = NULL;
    refuse(dir, "gptq_v2", m, "model.layers.1.mlp.down_proj.weight", "not quantized");
    snprintf(out, sizeof out, "%s/skip_ct", dir);
    CHECK(qt_export_ct(m, NULL, out, err, sizeof err) == 0, "ct with a float Linear: %s", err);
    char path[700], *text = NULL;
    size_t n;
    snprintf(path, sizeof path, "%s/config.json", out);
    CHECK(qt_read_file(path, &text, &n, err, sizeof err) == 0 && strstr(text, "\"model.layers.1.mlp.down_proj\""),
          "ct ignore list lacks the float Linear");
    free(text);
    qt_model *back = qt_import_hf(out, err, sizeof err);
    CHECK(back != NULL, "import ct with a float Linear: %s", err);
    qt_model_free(back);
    m->output.wq = qt_quantizer_new(&a4, m->output.w, err, sizeof err);
    qt_quant_init_absmax(m->output.wq, m->output.w);
    refuse(dir, "ct", m, "output.weight", "lm_head");
    tm_free_quant(m);
    /* a shape GPTQ's packing cannot hold */
    char why[300];
    CHECK(qt_export_spec_check("gptq", &a4, 64, 80, why, sizeof why) == -1 && strstr(why, "multiples of 32"), "%s", why);
    CHECK(qt_export_spec_check("compressed-tensors", &a4, 64, 80, why, sizeof why) == 0, "%s", why);

    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "cleanup failed\n");
    return tu_finish("test_gptq_export");
}
