/* bench_ops: GFLOP/s of qatc's matmul (forward, backward) and fused causal
 * attention (forward, backward) at a few sizes, beside raw cblas_sgemm on the
 * same shapes, so anyone can see how close the ops run to the BLAS roof; then
 * the fused LM head + loss (qt_linear_cross_entropy, qt_linear_kl_div) beside
 * the unfused qt_linear + qt_cross_entropy / qt_kl_div at N 2048, D 896,
 * V 32000: time of each and arena bytes of the step. Prints, never asserts.
 * usage: bench_ops [--reps N] [--lm-reps N] [--lm-chunk ROWS] [--lm-vocab V] [--lm-only] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/lm_loss.h"
#include "ops/ops.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* CPU time of all threads of the process, seconds */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((seed >> 8) & 0xFFFF) / 65536.0f - 0.5f;
    }
}

/* Raw sgemm M×K · K×N time (seconds, best of reps). */
static double raw_sgemm(int M, int N, int K, int reps) {
    float *a = malloc((size_t)M * K * 4), *b = malloc((size_t)K * N * 4), *c = malloc((size_t)M * N * 4);
    fill(a, (size_t)M * K, 1);
    fill(b, (size_t)K * N, 2);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
        double dt = now() - t0;
        if (dt < best) best = dt;
    }
    free(a); free(b); free(c);
    return best;
}

/* One LM-head loss: 0 unfused CE, 1 fused CE, 2 unfused KL, 3 fused KL (frozen teacher). */
static qt_tensor *lm_loss(qt_ctx *ctx, int kind, qt_tensor *x, qt_tensor *w, qt_tensor *xt, qt_tensor *wt,
                          const int32_t *tg, int chunk) {
    switch (kind) {
    case 0: return qt_cross_entropy(ctx, qt_linear(ctx, x, w), tg);
    case 1: return qt_linear_cross_entropy_ex(ctx, x, w, tg, chunk);
    case 2: return qt_kl_div(ctx, qt_linear(ctx, xt, wt), qt_linear(ctx, x, w), 2.0f);
    default: return qt_linear_kl_div_ex(ctx, xt, wt, x, w, 2.0f, chunk);
    }
}

/* Fused vs unfused LM head + loss: best forward, backward and CPU time (all threads, forward +
 * backward) of reps after a warm-up, and the arena bytes of one step, each variant in its own
 * context. On a shared machine the CPU-time ratio is the steadier one. */
static void bench_lm(int N, int D, int V, int reps, int chunk) {
    uint64_t s = 11;
    qt_tensor *x = qt_param_new("x", 2, (int[]){N, D}), *w = qt_param_new("w", 2, (int[]){V, D});
    qt_tensor *xt = qt_param_new("xt", 2, (int[]){N, D}), *wt = qt_param_new("wt", 2, (int[]){V, D});
    fill(x->data, x->n, 8); fill(w->data, w->n, 9); fill(xt->data, xt->n, 10); fill(wt->data, wt->n, 11);
    for (size_t i = 0; i < w->n; i++) { w->data[i] *= 0.2f; wt->data[i] *= 0.2f; }
    xt->requires_grad = wt->requires_grad = 0;
    int32_t *tg = malloc((size_t)N * sizeof(int32_t));
    for (int r = 0; r < N; r++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        tg[r] = (int32_t)((s >> 33) % (uint64_t)V);
    }
    static const char *names[4] = {"qt_linear + qt_cross_entropy", "qt_linear_cross_entropy",
                                   "qt_linear ×2 + qt_kl_div (T 2)", "qt_linear_kl_div (T 2)"};
    printf("\nLM head + loss, x [%d, %d], W [%d, %d] (KL: frozen teacher of the same shape), best of %d after a warm-up\n",
           N, D, V, D, reps);
    printf("%-44s %9s %9s %9s %9s %10s %8s\n", "op", "fwd ms", "bwd ms", "total ms", "cpu ms", "arena MB", "loss");
    double tot[4] = {0}, cpu[4] = {0}, mb[4] = {0};
    for (int kind = 0; kind < 4; kind++) {
        qt_ctx ctx;
        qt_ctx_init(&ctx, 64 << 20);
        double bf = 1e30, bb = 1e30, bc = 1e30, loss = 0;
        size_t arena = 0;
        for (int r = 0; r < reps + 1; r++) {
            qt_ctx_reset(&ctx);
            double c0 = cpu_now(), t0 = now();
            qt_tensor *y = lm_loss(&ctx, kind, x, w, xt, wt, tg, chunk);
            double t1 = now();
            qt_backward(&ctx, y, NULL);
            double t2 = now(), c2 = cpu_now();
            arena = qt_arena_used(&ctx.arena);
            loss = y->data[0];
            if (r == 0) continue;
            if (t1 - t0 < bf) bf = t1 - t0;
            if (t2 - t1 < bb) bb = t2 - t1;
            if (c2 - c0 < bc) bc = c2 - c0;
        }
        qt_ctx_free(&ctx);
        tot[kind] = bf + bb;
        cpu[kind] = bc;
        mb[kind] = arena / 1048576.0;
        char label[96];
        int rows = chunk > 0 ? (chunk < N ? chunk : N) : qt_lm_loss_chunk_rows(N, V, kind == 1 ? 1 : 2);
        if (kind & 1) snprintf(label, sizeof label, "%s, chunk %d rows", names[kind], rows);
        else snprintf(label, sizeof label, "%s", names[kind]);
        printf("%-44s %9.1f %9.1f %9.1f %9.1f %10.1f %8.4f\n", label, bf * 1e3, bb * 1e3, tot[kind] * 1e3, bc * 1e3,
               mb[kind], loss);
        if (kind & 1)
            printf("  fused / unfused: %.2f× time, %.2f× CPU time, %.3f× arena\n", tot[kind] / tot[kind - 1],
                   cpu[kind] / cpu[kind - 1], mb[kind] / mb[kind - 1]);
    }
    free(tg);
    qt_param_free(x); qt_param_free(w); qt_param_free(xt); qt_param_free(wt);
}

int main(int argc, char **argv) {
    int reps = 5, lm_reps = 2, lm_chunk = 0, lm_vocab = 32000, lm_only = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lm-reps") && i + 1 < argc) lm_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lm-chunk") && i + 1 < argc) lm_chunk = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lm-vocab") && i + 1 < argc) lm_vocab = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--lm-only")) lm_only = 1;
        else {
            fprintf(stderr, "usage: bench_ops [--reps N] [--lm-reps N] [--lm-chunk ROWS] [--lm-vocab V] [--lm-only]\n");
            return 2;
        }
    }
    if (lm_only) {
        bench_lm(2048, 896, lm_vocab, lm_reps, lm_chunk);
        return 0;
    }
    printf("threads: %d (OMP_NUM_THREADS), best of %d\n\n", omp_get_max_threads(), reps);
    printf("%-34s %10s %10s %10s %8s\n", "op (shape)", "fwd GF/s", "bwd GF/s", "sgemm GF/s", "fwd/roof");
    int sizes[][3] = {{2048, 256, 256}, {2048, 704, 256}, {2048, 256, 704}, {2048, 512, 512}, {2048, 1024, 1024}};
    qt_ctx ctx;
    qt_ctx_init(&ctx, 64 << 20);
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int M = sizes[s][0], N = sizes[s][1], K = sizes[s][2];
        qt_tensor *x = qt_param_new("x", 2, (int[]){M, K}), *w = qt_param_new("w", 2, (int[]){N, K});
        fill(x->data, x->n, 3);
        fill(w->data, w->n, 4);
        double bf = 1e30, bb = 1e30;
        for (int r = 0; r < reps + 1; r++) {
            qt_ctx_reset(&ctx);
            double t0 = now();
            qt_tensor *y = qt_linear(&ctx, x, w);
            double t1 = now();
            float *seed = qt_arena_alloc(&ctx.arena, y->n * 4);
            for (size_t i = 0; i < y->n; i++) seed[i] = 1e-3f;
            double t2 = now();
            qt_backward(&ctx, y, seed);
            double t3 = now();
            if (r == 0) continue; /* warm-up */
            if (t1 - t0 < bf) bf = t1 - t0;
            if (t3 - t2 < bb) bb = t3 - t2;
        }
        double flops = 2.0 * M * N * K, raw = raw_sgemm(M, N, K, reps);
        char label[64];
        snprintf(label, sizeof label, "linear x[%d,%d]·W[%d,%d]ᵀ", M, K, N, K);
        printf("%-36s %10.1f %10.1f %10.1f %7.0f%%\n", label, flops / bf * 1e-9, 2 * flops / bb * 1e-9,
               flops / raw * 1e-9, 100.0 * raw / bf);
        qt_param_free(x);
        qt_param_free(w);
    }
    int attn[][4] = {{8, 256, 4, 64}, {8, 256, 8, 64}, {4, 512, 8, 64}};
    for (size_t s = 0; s < sizeof attn / sizeof attn[0]; s++) {
        int B = attn[s][0], T = attn[s][1], H = attn[s][2], hd = attn[s][3], D = H * hd;
        qt_tensor *q = qt_param_new("q", 3, (int[]){B, T, D}), *k = qt_param_new("k", 3, (int[]){B, T, D}),
                  *v = qt_param_new("v", 3, (int[]){B, T, D});
        fill(q->data, q->n, 5); fill(k->data, k->n, 6); fill(v->data, v->n, 7);
        double bf = 1e30, bb = 1e30;
        for (int r = 0; r < reps + 1; r++) {
            qt_ctx_reset(&ctx);
            double t0 = now();
            qt_tensor *y = qt_attention(&ctx, q, k, v, H, H);
            double t1 = now();
            float *seed = qt_arena_alloc(&ctx.arena, y->n * 4);
            for (size_t i = 0; i < y->n; i++) seed[i] = 1e-3f;
            double t2 = now();
            qt_backward(&ctx, y, seed);
            double t3 = now();
            if (r == 0) continue;
            if (t1 - t0 < bf) bf = t1 - t0;
            if (t3 - t2 < bb) bb = t3 - t2;
        }
        /* full (unmasked) matmul flops: QKᵀ and PV forward, 4 matmuls backward */
        double flops = 2.0 * 2.0 * B * H * (double)T * T * hd;
        double raw = raw_sgemm(T, T, hd, reps) * B * H * 2; /* QKᵀ-shaped sgemm, serial over heads */
        char label[64];
        snprintf(label, sizeof label, "attention B%d T%d H%d hd%d", B, T, H, hd);
        printf("%-36s %10.1f %10.1f %10.1f %7.0f%%\n", label, flops / bf * 1e-9, 2 * flops / bb * 1e-9,
               flops / raw * 1e-9, 100.0 * raw / bf);
        qt_param_free(q); qt_param_free(k); qt_param_free(v);
    }
    qt_ctx_free(&ctx);
    bench_lm(2048, 896, lm_vocab, lm_reps, lm_chunk);
    return 0;
}
