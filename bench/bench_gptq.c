/* bench_gptq: time of GPTQ on one large Linear (default 4096×4096, W4 g128,
 * 128 calibration sequences of 256 tokens), split into building H = 2XᵀX
 * (cblas_dsyrk over float inputs widened per chunk) and the GPTQ solve
 * (Cholesky + lazy-block error feedback), with peak RSS.
 * usage: bench_gptq [--rows R] [--cols C] [--seqs S] [--tokens T] [--group G] [--bits B] */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <math.h>
#include <time.h>

#include "qat/ptq/ptq.h"
#include "quant/quant.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double randn(uint64_t *s) { /* xorshift + Box-Muller */
    double u[2];
    for (int i = 0; i < 2; i++) {
        *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
        u[i] = ((*s >> 11) + 0.5) / 9007199254740992.0;
    }
    return sqrt(-2.0 * log(u[0])) * cos(6.283185307179586 * u[1]);
}

int main(int argc, char **argv) {
    int rows = 4096, cols = 4096, seqs = 128, T = 256, group = 128, bits = 4;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--rows")) rows = v;
        else if (!strcmp(argv[i], "--cols")) cols = v;
        else if (!strcmp(argv[i], "--seqs")) seqs = v;
        else if (!strcmp(argv[i], "--tokens")) T = v;
        else if (!strcmp(argv[i], "--group")) group = v;
        else if (!strcmp(argv[i], "--bits")) bits = v;
        else { fprintf(stderr, "bench_gptq: unknown option %s\n", argv[i]); return 2; }
    }
    uint64_t rs = 88172645463325252ULL;
    qt_tensor *w = qt_param_new("w", 2, (int[]){rows, cols});
    for (size_t i = 0; i < w->n; i++) w->data[i] = (float)(0.02 * randn(&rs));
    /* correlated calibration inputs: x = z·A with a random low-rank-plus-diagonal mix */
    int chunk = 1024, rank = 64;
    float *A = malloc((size_t)rank * cols * sizeof *A), *Z = malloc((size_t)chunk * rank * sizeof *Z);
    float *X = malloc((size_t)chunk * cols * sizeof *X);
    double *Xd = malloc((size_t)chunk * cols * sizeof *Xd), *H = calloc((size_t)cols * cols, sizeof *H);
    for (size_t i = 0; i < (size_t)rank * cols; i++) A[i] = (float)randn(&rs);
    long n_tok = (long)seqs * T;
    double t0 = now();
    for (long done = 0; done < n_tok; done += chunk) {
        int m = (int)(n_tok - done < chunk ? n_tok - done : chunk);
        for (size_t i = 0; i < (size_t)m * rank; i++) Z[i] = (float)randn(&rs);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, cols, rank, 1.0f, Z, rank, A, cols, 0.0f, X, cols);
        for (size_t i = 0; i < (size_t)m * cols; i++) Xd[i] = X[i] + 0.1 * randn(&rs);
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, cols, m, 2.0, Xd, cols, 1.0, H, cols);
    }
    for (int i = 0; i < cols; i++)
        for (int j = 0; j < i; j++) H[(size_t)i * cols + j] = H[(size_t)j * cols + i];
    double t_h = now() - t0;
    qt_quant_spec spec = {.bits = bits, .group = group, .grid = QT_GRID_SYM, .learnable = 0, .fp16_scales = 1};
    char err[256];
    qt_quantizer *q = qt_quantizer_new(&spec, w, err, sizeof err);
    if (!q) { fprintf(stderr, "bench_gptq: %s\n", err); return 1; }
    qt_gptq_opts o = {.percdamp = 0.01, .act_order = 0, .blocksize = 128};
    t0 = now();
    if (qt_gptq_weight(w, q, H, &o, 0, NULL, err, sizeof err)) { fprintf(stderr, "bench_gptq: %s\n", err); return 1; }
    double t_g = now() - t0;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"rows\": %d, \"cols\": %d, \"calib_tokens\": %ld, \"bits\": %d, \"group\": %d, "
           "\"hessian_s\": %.2f, \"gptq_s\": %.2f, \"peak_rss_mb\": %.0f}\n",
           rows, cols, n_tok, bits, group, t_h, t_g, ru.ru_maxrss / 1024.0);
    qt_quantizer_free(q);
    qt_param_free(w);
    free(A); free(Z); free(X); free(Xd); free(H);
    return 0;
}
