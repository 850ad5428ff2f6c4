/* HF import: checkpoints written by torch (tests/oracles/hf_ref.py, with its own
 * small safetensors writer) in F32, F16, BF16 and sharded with an index give the
 * same logits in qatc as the float64 torch forward of HF's Llama (rope on halves),
 * so names, shapes, dtypes and the q/k row permutation are right. Also: GGUF F32
 * import round trip (same weights bit for bit), and refusals of broken inputs. */
#include <stdlib.h>
#include <string.h>

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
