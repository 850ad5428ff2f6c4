/* bench_ops: GFLOP/s of qatc's matmul (forward, backward) and fused causal
 * attention (forward, backward) at a few sizes, beside raw cblas_sgemm on the
 * same shapes, so anyone can see how close the ops run to the BLAS roof.
 * usage: bench_ops [--reps N] */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

int main(int argc, char **argv) {
    int reps = 5;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = atoi(argv[++i]);
        else { fprintf(stderr, "usage: bench_ops [--reps N]\n"); return 2; }
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
    return 0;
}
