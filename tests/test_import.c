/* HF import: checkpoints written by torch (tests/oracles/hf_ref.py, with its own
 * small safetensors writer) in F32, F16, BF16 and sharded with an index give the
 * same logits in qatc as the float64 torch forward of HF's Llama (rope on halves),
 * so names, shapes, dtypes and the q/k row permutation are right. Also: GGUF F32
 * import round trip (same weights bit for bit), and refusals of broken inputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/files.h"

#include "eval/llama_ppl.h"
#include "io/export.h"
#include "store/safetensors.h"
#include "quant/quant.h"
#include "test_util.h"

static void check_hf(const char *dir, const char *tag, const qt_safetensors *ref) {
    char path[1024], key[64], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, tag);
    qt_model *m = qt_import_hf(path, err, sizeof err);
    CHECK(m != NULL, "import %s: %s", tag, err);
    if (!m) return;
    const qt_st_tensor *ids_t = qt_st_find(ref, "ids");
    snprintf(key, sizeof key, "logits_%s", tag);
    const qt_st_tensor *lt = qt_st_find(ref, key);
    CHECK(ids_t && lt, "ref file lacks ids or %s", key);
    if (!ids_t || !lt) return;
    int n = (int)ids_t->shape[0], V = m->cfg.vocab, B = 2, T = n / B;
    float *idf = malloc((size_t)n * sizeof *idf), *want = malloc((size_t)n * V * sizeof *want);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    qt_st_to_f32(ids_t, idf, (size_t)n, err, sizeof err);
    qt_st_to_f32(lt, want, (size_t)n * V, err, sizeof err);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)idf[i];
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_no_grad(&ctx, 1);
    qt_tensor *z = qt_model_forward(&ctx, m, ids, B, T);
    double rel = tu_rel_err(z->data, want, (size_t)n * V);
    printf("  hf import %-8s logits rel err vs torch %.2e\n", tag, rel);
    CHECK(rel < 2e-5, "%s: logits differ from torch: rel %.3g", tag, rel);
    /* the q/k permutation matters: without it the logits are far off */
    qt_tensor *wq = m->blocks[0].wq.w;
    float *save = malloc(wq->n * sizeof *save);
    memcpy(save, wq->data, wq->n * sizeof *save);
    int hd = m->cfg.dim / m->cfg.heads, cols = qt_cols(wq);
    for (int r = 0; r < qt_rows(wq); r++)
        memcpy(wq->data + (size_t)r * cols, save + (size_t)qt_hf_rope_row(r, hd) * cols, (size_t)cols * sizeof(float));
    qt_ctx_reset(&ctx);
    z = qt_model_forward(&ctx, m, ids, B, T);
    double rel2 = tu_rel_err(z->data, want, (size_t)n * V);
    CHECK(rel2 > 1e-3, "%s: un-permuting q still matches torch (rel %.3g): the check is blind", tag, rel2);
    free(save);
    qt_ctx_free(&ctx);
    free(idf);
    free(want);
    free(ids);
    qt_model_free(m);
}

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

/* Overwrites float k of the F32 data of tensor t inside the file at path
 * with v (the data found by its first 64 bytes). 0, or -1 when not found. */
static int poke_float(const char *path, const qt_tensor *t, size_t k, float v) {
    char *buf = NULL, err[256];
    size_t n = 0;
    if (qt_read_file(path, &buf, &n, err, sizeof err)) return -1;
    int rc = -1;
    for (size_t off = 0; off + t->n * 4 <= n; off++)
        if (!memcmp(buf + off, t->data, 64)) {
            memcpy(buf + off + 4 * k, &v, 4);
            rc = qt_write_file_atomic(path, buf, n, err, sizeof err);
            break;
        }
    free(buf);
    return rc;
}

/* NaN/Inf weights: refused on import (GGUF, HF safetensors; model.init reads
 * through these) naming the tensor and the first bad index, and before an
 * export freezes anything (naming the tensor; no file written). */
static void nan_checks(qt_model *m, const char *dir) {
    char path[1024], hfdir[1024], cmd[2200], err[512];
    qt_tensor *w2 = m->blocks[1].w2.w; /* not rope-permuted: the same element order in both formats */
    /* GGUF */
    snprintf(path, sizeof path, "%s/nan.gguf", dir);
    qt_export_opts o = {.type = "F32"};
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == 0, "%s", err);
    CHECK(poke_float(path, w2, 37, NAN) == 0, "blk.1.ffn_down.weight not found in %s", path);
    qt_model *g = qt_import_model(path, err, sizeof err);
    CHECK(!g && strstr(err, "blk.1.ffn_down.weight") && strstr(err, "value 37 ") && strstr(err, "nan"),
          "GGUF with a NaN: %s", g ? "imported" : err);
    qt_model_free(g);
    /* HF safetensors */
    snprintf(hfdir, sizeof hfdir, "%s/nan_hf", dir);
    CHECK(qt_export_hf(m, &o, hfdir, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/model.safetensors", hfdir);
    CHECK(poke_float(path, w2, 1000, -INFINITY) == 0, "down_proj not found in %s", path);
    g = qt_import_model(hfdir, err, sizeof err);
    CHECK(!g && strstr(err, "model.layers.1.mlp.down_proj.weight") && strstr(err, "value 1000 ") &&
          strstr(err, "inf"), "safetensors with an Inf: %s", g ? "imported" : err);
    qt_model_free(g);
    /* exports: refused before freezing, nothing written under the final name */
    float keep = w2->data[5];
    w2->data[5] = NAN;
    snprintf(path, sizeof path, "%s/nan_out.gguf", dir);
    CHECK(qt_export_gguf(m, &o, path, err, sizeof err) != 0 && strstr(err, w2->name) && strstr(err, "value 5 "),
          "GGUF export of a NaN weight: %s", err);
    CHECK(access(path, F_OK) != 0, "a GGUF file was written for a NaN model");
    snprintf(path, sizeof path, "%s/nan_out_hf", dir);
    CHECK(qt_export_hf(m, &o, path, err, sizeof err) != 0 && strstr(err, w2->name), "HF export of a NaN weight: %s",
          err);
    CHECK(access(path, F_OK) != 0, "an HF directory was written for a NaN model");
    w2->data[5] = keep;
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -q '\\.tmp\\.'", dir);
    CHECK(system(cmd) != 0, "a temp file or directory was left in %s", dir);
}

int main(void) {
    char dir[512], args[1024], path[1024], err[512];
    tu_tmpdir(dir, sizeof dir);
    snprintf(args, sizeof args, "%s", dir);
    int rc = tu_run_oracle("tests/oracles/hf_ref.py", args);
    CHECK(rc == 0, "hf_ref.py failed (%d)", rc);
    if (rc) return tu_finish("test_import");
    snprintf(path, sizeof path, "%s/ref.safetensors", dir);
    qt_safetensors *ref = qt_st_read(path, err, sizeof err);
    CHECK(ref != NULL, "%s", err);
    if (!ref) return tu_finish("test_import");
    const char *tags[] = {"f32", "f16", "bf16", "sharded"};
    for (int i = 0; i < 4; i++) check_hf(dir, tags[i], ref);
    qt_st_free(ref);

    /* a single .safetensors path reads config.json beside it */
    snprintf(path, sizeof path, "%s/f32/model.safetensors", dir);
    qt_model *m = qt_import_model(path, err, sizeof err);
    CHECK(m != NULL, "import by file: %s", err);

    /* GGUF F32 round trip: export, import, same weights bit for bit */
    if (m) {
        snprintf(path, sizeof path, "%s/m.gguf", dir);
        qt_export_opts o = {.type = "F32"};
        CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == 0, "%s", err);
        qt_model *g = qt_import_model(path, err, sizeof err);
        CHECK(g != NULL, "%s", err);
        if (g) {
            CHECK(g->n_params == m->n_params, "param count");
            for (int i = 0; i < m->n_params && i < g->n_params; i++)
                CHECK(!memcmp(g->params[i]->data, m->params[i]->data, m->params[i]->n * sizeof(float)),
                      "GGUF round trip changed %s", m->params[i]->name);
            CHECK(g->cfg.dim == m->cfg.dim && g->cfg.kv_heads == m->cfg.kv_heads && g->cfg.ffn == m->cfg.ffn &&
                  g->cfg.norm_eps == m->cfg.norm_eps, "GGUF round trip changed the shape");
            qt_model_free(g);
        }
        /* F16 GGUF: weights are the fp16 roundings */
        o.type = "F16";
        o.requantize = 1;
        CHECK(qt_export_gguf(m, &o, path, err, sizeof err) == 0, "%s", err);
        g = qt_import_model(path, err, sizeof err);
        CHECK(g != NULL, "%s", err);
        if (g) {
            const qt_tensor *a = g->blocks[1].w2.w, *b = m->blocks[1].w2.w;
            int same = 1;
            for (size_t i = 0; i < a->n; i++) same &= a->data[i] == qt_f16_round(b->data[i]);
            CHECK(same, "F16 GGUF import is not the fp16 rounding of the weights");
            qt_model_free(g);
        }
        nan_checks(m, dir);
        qt_model_free(m);
    }

    /* refusals: missing tensor, wrong shape, quantized config, missing config */
    snprintf(path, sizeof path, "%s/f32/config.json", dir);
    FILE *f = fopen(path, "r");
    char cfgtext[4096] = {0};
    size_t cn = fread(cfgtext, 1, sizeof cfgtext - 1, f);
    fclose(f);
    cfgtext[cn] = 0;
    char *bad = malloc(cn + 200);
    /* wrong hidden size: shapes no longer match */
    char *p = strstr(cfgtext, "\"intermediate_size\": 96");
    CHECK(p != NULL, "config.json layout changed");
    if (p) {
        snprintf(bad, cn + 200, "%.*s\"intermediate_size\": 64%s", (int)(p - cfgtext), cfgtext,
                 p + strlen("\"intermediate_size\": 96"));
        write_file(path, bad);
        snprintf(path, sizeof path, "%s/f32", dir);
        m = qt_import_hf(path, err, sizeof err);
        CHECK(!m && strstr(err, "mlp.") && strstr(err, "expected shape"), "wrong shape not named: %s", err);
        qt_model_free(m);
    }
    snprintf(path, sizeof path, "%s/nothing", dir);
    m = qt_import_hf(path, err, sizeof err);
    CHECK(!m && strstr(err, "nothing"), "missing dir: %s", err);
    free(bad);
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    if (system(args)) fprintf(stderr, "cleanup failed\n");
    return tu_finish("test_import");
}
