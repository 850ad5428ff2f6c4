/* Fused LM-head losses (ops/lm_loss.c) against the unfused path:
 * qt_linear_cross_entropy(x, W, t) vs qt_cross_entropy(qt_linear(x, W), t) and
 * qt_linear_kl_div(xt, Wt, xs, Ws, T) vs qt_kl_div(qt_linear(xt, Wt), qt_linear(xs, Ws), T):
 * loss and every gradient, at N = 70, V = 5003 with chunks of 1, 7 and all rows (and the
 * default rule), some targets ignored; the arena bytes of the fused ops stay O(chunk·V), not
 * O(N·V); no-grad mode records nothing.
 *
 * Tolerance: both paths are float32 products and sums evaluated in different orders (sgemm
 * blocking on different row counts, dW accumulated chunk by chunk with beta = 1, fast_expf vs
 * exp for KL). The worst-case rounding error of a K-term float32 sum is K·u (u = 2^-24), and the
 * longest sums are over D (logits), V (dx, the loss' log-sum-exp) and N (dW), so two correct
 * evaluations differ by at most about 2·(N + D + V)·u (6.1e-4 at N = 70, D = 48, V = 5003),
 * measured norm-wise (max |fused − unfused| / max |unfused|). A missed, doubled or misplaced
 * chunk changes a result by about a row's share, 1/N = 1.4e-2, or more. */
#include "ops/lm_loss.h"
#include "ops/ops.h"
#include "test_util.h"

#define U (1.0 / 16777216.0)

static double tol_for(int N, int D, int V) { return 2.0 * (N + D + V) * U; }

static qt_tensor *param(const char *name, int ndim, const int *shape, float stdv, uint64_t *rng) {
    qt_tensor *t = qt_param_new(name, ndim, shape);
    tu_fill_normal(t->data, t->n, stdv, rng);
    return t;
}

static float *copy_grad(const qt_tensor *t) {
    float *g = malloc(t->n * sizeof(float));
    memcpy(g, t->grad, t->n * sizeof(float));
    return g;
}

static double rel(double a, double b) { return fabs(a - b) / (fabs(b) > 1e-30 ? fabs(b) : 1e-30); }

/* ---- cross-entropy ---- */
typedef struct {
    double loss;
    float *gx, *gw;
    size_t arena;
} ce_result;

/* chunk < 0: unfused; 0: default rule; > 0: that many rows per chunk */
static ce_result run_ce(qt_tensor *x, qt_tensor *w, const int32_t *tg, int chunk) {
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_tensor *ps[2] = {x, w};
    qt_zero_grad(ps, 2);
    qt_tensor *y = chunk < 0 ? qt_cross_entropy(&ctx, qt_linear(&ctx, x, w), tg)
                             : qt_linear_cross_entropy_ex(&ctx, x, w, tg, chunk);
    qt_backward(&ctx, y, NULL);
    ce_result r = {y->data[0], copy_grad(x), copy_grad(w), qt_arena_used(&ctx.arena)};
    qt_ctx_free(&ctx);
    return r;
}

static void check_ce(const char *what, qt_tensor *x, qt_tensor *w, const int32_t *tg, const int *chunks, int n_chunks) {
    int N = qt_rows(x), D = qt_cols(x), V = w->shape[0];
    double tol = tol_for(N, D, V);
    size_t full = (size_t)N * V * sizeof(float);
    ce_result ref = run_ce(x, w, tg, -1);
    printf("%s: N %d D %d V %d, loss %.6f, unfused arena %.2f MB (N·V·4 = %.2f MB), tol %.2e\n", what, N, D, V,
           ref.loss, ref.arena / 1e6, full / 1e6, tol);
    for (int i = 0; i < n_chunks; i++) {
        int c = chunks[i];
        ce_result f = run_ce(x, w, tg, c);
        double el = rel(f.loss, ref.loss), ex = tu_rel_err(f.gx, ref.gx, x->n), ew = tu_rel_err(f.gw, ref.gw, w->n);
        int rows = c > 0 ? (c < N ? c : N) : qt_lm_loss_chunk_rows(N, V, 1);
        printf("  chunk %4d (%4d rows): loss rel %.2e  dx rel %.2e  dW rel %.2e  arena %.2f MB (%.3f of N·V·4)\n", c,
               rows, el, ex, ew, f.arena / 1e6, (double)f.arena / full);
        CHECK(el < tol, "%s chunk %d: loss %.8f vs unfused %.8f", what, c, f.loss, ref.loss);
        CHECK(ex < tol, "%s chunk %d: dx rel err %.3g", what, c, ex);
        CHECK(ew < tol, "%s chunk %d: dW rel err %.3g", what, c, ew);
        /* logits scratch rows·V, gathered rows rows·D, O(N) per-row state, 64 KB of small tensors */
        size_t bound = ((size_t)rows * (V + D) + 4 * (size_t)N) * sizeof(float) + 65536;
        CHECK(f.arena <= bound, "%s chunk %d: fused arena %zu bytes > bound %zu", what, c, f.arena, bound);
        if (rows * 5 <= N) CHECK(f.arena * 4 < full, "%s chunk %d: fused arena %zu not well below N·V·4 = %zu", what, c, f.arena, full);
        free(f.gx);
        free(f.gw);
    }
    CHECK(ref.arena >= 2 * full, "%s: unfused arena %zu below logits + their gradient", what, ref.arena);
    free(ref.gx);
    free(ref.gw);
}

/* ---- KL ---- */
typedef struct {
    double loss;
    float *g[4];
    size_t arena;
} kl_result;

static kl_result run_kl(qt_tensor **in, float T, int chunk) {
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    qt_zero_grad(in, 4);
    qt_tensor *y = chunk < 0 ? qt_kl_div(&ctx, qt_linear(&ctx, in[0], in[1]), qt_linear(&ctx, in[2], in[3]), T)
                             : qt_linear_kl_div_ex(&ctx, in[0], in[1], in[2], in[3], T, chunk);
    qt_backward(&ctx, y, NULL);
    kl_result r = {y->data[0], {0}, qt_arena_used(&ctx.arena)};
    for (int k = 0; k < 4; k++) r.g[k] = in[k]->requires_grad ? copy_grad(in[k]) : NULL;
    qt_ctx_free(&ctx);
    return r;
}

static void check_kl(const char *what, qt_tensor **in, float T, const int *chunks, int n_chunks) {
    static const char *names[4] = {"dxt", "dWt", "dxs", "dWs"};
    int N = qt_rows(in[2]), D = qt_cols(in[0]) > qt_cols(in[2]) ? qt_cols(in[0]) : qt_cols(in[2]), V = in[3]->shape[0];
    double tol = tol_for(N, D, V);
    size_t full = (size_t)N * V * sizeof(float);
    kl_result ref = run_kl(in, T, -1);
    printf("%s: N %d V %d T %.1f, loss %.6f, unfused arena %.2f MB, tol %.2e\n", what, N, V, (double)T, ref.loss,
           ref.arena / 1e6, tol);
    for (int i = 0; i < n_chunks; i++) {
        int c = chunks[i];
        kl_result f = run_kl(in, T, c);
        int rows = c > 0 ? (c < N ? c : N) : qt_lm_loss_chunk_rows(N, V, 2);
        double el = rel(f.loss, ref.loss);
        printf("  chunk %4d (%4d rows): loss rel %.2e", c, rows, el);
        CHECK(el < tol, "%s chunk %d: loss %.8f vs unfused %.8f", what, c, f.loss, ref.loss);
        for (int k = 0; k < 4; k++) {
            if (!f.g[k]) continue;
            double e = tu_rel_err(f.g[k], ref.g[k], in[k]->n);
            printf("  %s %.2e", names[k], e);
            CHECK(e < tol, "%s chunk %d: %s rel err %.3g", what, c, names[k], e);
            free(f.g[k]);
        }
        printf("  arena %.2f MB (%.3f of N·V·4)\n", f.arena / 1e6, (double)f.arena / full);
        size_t bound = (2 * (size_t)rows * V + 8 * (size_t)N) * sizeof(float) + 65536;
        CHECK(f.arena <= bound, "%s chunk %d: fused arena %zu bytes > bound %zu", what, c, f.arena, bound);
        if (rows * 5 <= N) CHECK(f.arena * 2 < full, "%s chunk %d: fused arena %zu not well below N·V·4 = %zu", what, c, f.arena, full);
    }
    for (int k = 0; k < 4; k++) free(ref.g[k]);
}

int main(void) {
    uint64_t rng = 20240611;
    const int N = 70, D = 48, V = 5003;
    /* logits with std ~2: peaked but not one-hot softmax rows */
    qt_tensor *x = param("x", 3, (int[]){7, 10, D}, 1.0f, &rng);
    qt_tensor *w = param("w", 2, (int[]){V, D}, 2.0f / sqrtf((float)D), &rng);
    int32_t tg[70], tg_all[70];
    for (int r = 0; r < N; r++) {
        tg_all[r] = (int32_t)(tu_uniform(&rng) * V);
        tg[r] = tu_uniform(&rng) < 0.2 ? -1 : tg_all[r];
    }
    tg[0] = -1;
    tg[N - 1] = -1;
    const int chunks[] = {1, 7, N, 0};
    check_ce("cross-entropy, all scored", x, w, tg_all, chunks, 4);
    check_ce("cross-entropy, ~20% ignored", x, w, tg, chunks, 4);

    /* all targets ignored: loss 0, zero gradients, as in qt_cross_entropy */
    {
        int32_t none[70];
        for (int r = 0; r < N; r++) none[r] = -1;
        ce_result f = run_ce(x, w, none, 7);
        int zero = 1;
        for (size_t i = 0; i < x->n; i++) zero &= f.gx[i] == 0.0f;
        for (size_t i = 0; i < w->n; i++) zero &= f.gw[i] == 0.0f;
        CHECK(f.loss == 0.0 && zero, "all-ignored: loss %g, gradients zero %d", f.loss, zero);
        free(f.gx);
        free(f.gw);
    }

    /* the chunk rule: 2^24 logits per chunk, at least 256 rows, at most all rows */
    CHECK(qt_lm_loss_chunk_rows(2048, 32000, 1) == 524 && qt_lm_loss_chunk_rows(2048, 32000, 2) == 262 &&
              qt_lm_loss_chunk_rows(2048, 151936, 1) == 256 && qt_lm_loss_chunk_rows(100, 151936, 2) == 100 &&
              qt_lm_loss_chunk_rows(70, 256, 1) == 70,
          "chunk rule: %d %d %d %d %d", qt_lm_loss_chunk_rows(2048, 32000, 1), qt_lm_loss_chunk_rows(2048, 32000, 2),
          qt_lm_loss_chunk_rows(2048, 151936, 1), qt_lm_loss_chunk_rows(100, 151936, 2), qt_lm_loss_chunk_rows(70, 256, 1));

    /* the default rule on more rows than one chunk holds: 8192·5003 logits, 2.4× the budget (3 chunks) */
    {
        uint64_t r2 = 7;
        const int Nb = 8192, Db = 4;
        qt_tensor *xb = param("xb", 2, (int[]){Nb, Db}, 1.0f, &r2), *wb = param("wb", 2, (int[]){V, Db}, 1.0f, &r2);
        int32_t *tb = malloc(Nb * sizeof(int32_t));
        for (int r = 0; r < Nb; r++) tb[r] = (int32_t)(tu_uniform(&r2) * V);
        int rows = qt_lm_loss_chunk_rows(Nb, V, 1);
        CHECK(2 * rows < Nb && rows == (int)(QT_LM_LOSS_BUDGET / V), "default rule: %d rows for N %d V %d", rows, Nb, V);
        check_ce("cross-entropy, default rule, several chunks", xb, wb, tb, (int[]){0}, 1);
        free(tb);
        qt_param_free(xb);
        qt_param_free(wb);
    }

    /* KL: teacher D 32 (frozen, then also trained), student D 48 */
    qt_tensor *in[4] = {param("xt", 3, (int[]){7, 10, 32}, 1.0f, &rng), param("wt", 2, (int[]){V, 32}, 2.0f / sqrtf(32.0f), &rng),
                        param("xs", 3, (int[]){7, 10, D}, 1.0f, &rng), param("ws", 2, (int[]){V, D}, 2.0f / sqrtf((float)D), &rng)};
    in[0]->requires_grad = in[1]->requires_grad = 0;
    check_kl("KL, student only", in, 2.0f, chunks, 4);
    in[0]->requires_grad = in[1]->requires_grad = 1;
    check_kl("KL, teacher and student", in, 1.0f, chunks, 4);
    /* the student equal to the teacher (shared W, same x): KL 0 and zero student gradient */
    {
        qt_tensor *same[4] = {in[2], in[3], in[2], in[3]};
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_zero_grad(in, 4);
        qt_tensor *y = qt_linear_kl_div_ex(&ctx, same[0], same[1], same[2], same[3], 2.0f, 7);
        qt_backward(&ctx, y, NULL);
        double gmax = 0.0;
        for (size_t i = 0; i < in[3]->n; i++) gmax = fmax(gmax, fabs(in[3]->grad[i]));
        printf("KL(p ‖ p) = %.3g, max |dW| %.3g\n", (double)y->data[0], gmax);
        CHECK(fabs(y->data[0]) < 1e-5, "KL of a distribution with itself: %g", (double)y->data[0]);
        CHECK(gmax < 1e-5, "KL of a distribution with itself: max |dW| %g", gmax);
        qt_ctx_free(&ctx);
    }

    /* no-grad mode: same loss, nothing recorded */
    {
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        double l_grad = qt_linear_cross_entropy_ex(&ctx, x, w, tg, 7)->data[0];
        double k_grad = qt_linear_kl_div_ex(&ctx, in[0], in[1], in[2], in[3], 2.0f, 7)->data[0];
        CHECK(ctx.n_nodes == 2, "grad mode: %d nodes recorded", ctx.n_nodes);
        qt_ctx_reset(&ctx);
        qt_no_grad(&ctx, 1);
        qt_tensor *l = qt_linear_cross_entropy_ex(&ctx, x, w, tg, 7);
        qt_tensor *k = qt_linear_kl_div_ex(&ctx, in[0], in[1], in[2], in[3], 2.0f, 7);
        qt_no_grad(&ctx, -1);
        CHECK(ctx.n_nodes == 0 && !l->requires_grad && !k->requires_grad, "no-grad: %d nodes recorded", ctx.n_nodes);
        CHECK(l->data[0] == l_grad && k->data[0] == k_grad, "no-grad loss %g/%g differs from %g/%g", (double)l->data[0],
              (double)k->data[0], l_grad, k_grad);
        qt_ctx_free(&ctx);
    }

    /* one chunk: backward reuses the forward's logits and turns them into dlogits, so a second
     * backward over the same tape must make them again (out->grad is then 2: dx totals 3×) */
    {
        ce_result once = run_ce(x, w, tg, 0);
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_tensor *ps[2] = {x, w};
        qt_zero_grad(ps, 2);
        qt_tensor *y = qt_linear_cross_entropy(&ctx, x, w, tg);
        qt_backward(&ctx, y, NULL);
        qt_backward(&ctx, y, NULL);
        for (size_t i = 0; i < x->n; i++) once.gx[i] *= 3.0f;
        double e = tu_rel_err(x->grad, once.gx, x->n);
        CHECK(e < tol_for(N, D, V), "second backward: dx rel err %.3g against 3× one backward", e);
        qt_ctx_free(&ctx);
        free(once.gx);
        free(once.gw);
    }

    for (int k = 0; k < 4; k++) qt_param_free(in[k]);
    qt_param_free(x);
    qt_param_free(w);
    return tu_finish("test_lm_loss");
}
