/* bench_train: times warm training steps of a decoder-family model for FP32,
 * QAT W4 g32 (LSQ) and QAT W4 g32 + A8 per-token, exactly as train/train.c
 * steps (zero grads, qt_model_hidden + qt_linear_input + the fused chunked
 * qt_linear_cross_entropy, backward, non-finite check, global-norm clip,
 * AdamW, quantizer clamp), and prints tokens/s, ms/step, peak RSS and the
 * share of step time spent inside cblas_sgemm.
 *
 * usage: bench_train [--variant fp32|qat_w4g32|qat_w4g32_a8|all]... [--arch llama|qwen2|qwen3]
 *                    [--dim D] [--layers L] [--heads H] [--kv-heads KV] [--head-dim HD]
 *                    [--ffn F] [--vocab V] [--tied] [--ctx T] [--batch B] [--threads N]
 *                    [--steps K] [--warmup W] [--json] [--ops]
 * Defaults: the quickstart model (llama, dim 256, 4 layers, 4 heads = KV heads,
 * head dim dim/heads, ffn 704, byte vocab 256, untied, ctx 256), batch 8,
 * 2 threads, 10 timed steps after 2 warm-up steps, every variant. Token ids
 * are random in [0, V), targets the next id.
 * --json prints one JSON object per variant and line with at least
 * variant, tokens_per_s, step_ms, peak_rss_mb, sgemm_share (a stable
 * interface: bench/compare and bench/torch_ref.py use the same fields).
 * --ops also prints to stderr the forward / backward / optimizer split and
 * the backward time per op kind (a profile without perf).
 *
 * Each variant runs in a forked child so that peak RSS (getrusage
 * ru_maxrss) is that variant's alone. step_ms is the median over the timed
 * steps and tokens_per_s = batch·ctx / step_ms. cpu_ms is the median CPU time
 * (all threads, user + system) per step: on a shared machine it is steadier
 * than wall time (run with OMP_WAIT_POLICY=PASSIVE so idle threads do not
 * spin and count).
 *
 * sgemm_share: this program defines cblas_sgemm itself; the library's calls
 * (libqatc.a is linked statically into this executable) bind to it, and it
 * forwards to OpenBLAS's through dlsym(RTLD_NEXT) around a clock. A call made
 * outside an OpenMP parallel region (every Linear) adds its wall time; calls
 * made from inside a parallel region (attention's per-head products) add
 * their per-thread time divided by the team size. The share is that total
 * over the summed step time. The timing state lives in this program only; the
 * library has no global mutable state and no profiling hooks. */
#define _GNU_SOURCE
#include <cblas.h>
#include <dlfcn.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "nn/model.h"
#include "ops/ops.h"
#include "optim/optim.h"
#include "qat/policy.h"
#include "quant/quant.h"

/* ---------------------------------------------------------------- sgemm timer */

#define MAX_THREADS 256

typedef void (*sgemm_fn)(const enum CBLAS_ORDER, const enum CBLAS_TRANSPOSE, const enum CBLAS_TRANSPOSE,
                         const blasint, const blasint, const blasint, const float, const float *, const blasint,
                         const float *, const blasint, const float, float *, const blasint);

static sgemm_fn real_sgemm;
static double sgemm_outer_s;                   /* wall time of calls outside parallel regions */
static double sgemm_inner_s[MAX_THREADS * 8];  /* per-thread time inside regions (stride 8: no false sharing) */
static int sgemm_team;                         /* team size seen inside regions */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* CPU time of every thread of the process (user + system) */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cblas_sgemm(const enum CBLAS_ORDER order, const enum CBLAS_TRANSPOSE ta, const enum CBLAS_TRANSPOSE tb,
                 const blasint M, const blasint N, const blasint K, const float alpha, const float *A,
                 const blasint lda, const float *B, const blasint ldb, const float beta, float *C,
                 const blasint ldc) {
    double t0 = now_s();
    real_sgemm(order, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    double dt = now_s() - t0;
    if (!omp_in_parallel()) {
        sgemm_outer_s += dt;
    } else {
        int t = omp_get_thread_num();
        if (t < MAX_THREADS) sgemm_inner_s[t * 8] += dt;
        int n = omp_get_num_threads();
        if (n > sgemm_team) sgemm_team = n; /* benign race: every thread writes the same n */
    }
}

static double sgemm_total(void) {
    double inner = 0.0;
    for (int t = 0; t < MAX_THREADS; t++) inner += sgemm_inner_s[t * 8];
    return sgemm_outer_s + (sgemm_team > 0 ? inner / sgemm_team : 0.0);
}

static void sgemm_reset(void) {
    sgemm_outer_s = 0.0;
    memset(sgemm_inner_s, 0, sizeof sgemm_inner_s);
}

/* ---------------------------------------------------------------- bench */

typedef struct {
    int arch, dim, layers, heads, kv_heads, head_dim, ffn, vocab, tied, ctx, batch, threads, steps, warmup, json, ops;
} bench_cfg;

/* --ops: per-op backward times. After the forward, each node's backward is
 * swapped for a trampoline that times the original (kept in a side table). */
#define MAX_OPS 64
typedef struct {
    const char *name[MAX_OPS];
    double bwd_s[MAX_OPS];
    int calls[MAX_OPS], n;
    qt_backward_fn *orig;   /* per node index */
    qt_node *base;
} op_prof;

static op_prof *g_prof; /* set only while --ops runs a backward */

static void timed_backward(qt_ctx *ctx, qt_node *nd) {
    op_prof *p = g_prof;
    double t0 = now_s();
    p->orig[nd - p->base](ctx, nd);
    double dt = now_s() - t0;
    int k = 0;
    while (k < p->n && strcmp(p->name[k], nd->op)) k++;
    if (k == p->n && p->n < MAX_OPS) p->name[p->n++] = nd->op;
    if (k < MAX_OPS) {
        p->bwd_s[k] += dt;
        p->calls[k]++;
    }
}

static const char *const VARIANTS[] = {"fp32", "qat_w4g32", "qat_w4g32_a8"};

static long rss_kb(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double arena_used_mb(const qt_ctx *ctx) { return (double)qt_arena_used(&ctx->arena) / (1 << 20); }

/* --ops: the forward's arena by op: the outputs (activations, fake-quantized
 * weights); the rest of the forward's arena is what ops keep for backward
 * (attention's P, norms' 1/rms, ...) and the LM head's logits chunk. */
static void arena_split(const qt_ctx *ctx, const char *variant, double fwd_mb, double step_mb, double arena_mb) {
    const char *name[MAX_OPS];
    double out_b[MAX_OPS];
    int n = 0;
    double tot_out = 0.0;
    for (int i = 0; i < ctx->n_nodes; i++) {
        const qt_node *nd = &ctx->nodes[i];
        if (!strcmp(nd->op, "reshape")) continue; /* a view of its input */
        int k = 0;
        while (k < n && strcmp(name[k], nd->op)) k++;
        if (k == n) {
            if (n == MAX_OPS) continue;
            name[n] = nd->op;
            out_b[n++] = 0.0;
        }
        out_b[k] += (double)nd->out->n * sizeof(float);
        tot_out += (double)nd->out->n * sizeof(float);
    }
    fprintf(stderr, "%s: arena used %.0f MB by the forward (op outputs %.0f MB, kept for backward and scratch %.0f MB), "
            "%.0f MB by the whole step (+%.0f MB in backward: activation gradients, recycled as their producer's backward "
            "ends, and scratch); arena capacity %.0f MB\n", variant, fwd_mb, tot_out / (1 << 20),
            fwd_mb - tot_out / (1 << 20), step_mb, step_mb - fwd_mb, arena_mb);
    for (int k = 0; k < n; k++) fprintf(stderr, "  forward outputs %-20s %8.1f MB\n", name[k], out_b[k] / (1 << 20));
}

/* Runs one variant (in the calling process) and prints its line. Returns 0 or 1. */
static int run_variant(const bench_cfg *c, int variant) {
    real_sgemm = (sgemm_fn)dlsym(RTLD_NEXT, "cblas_sgemm");
    if (!real_sgemm) {
        fprintf(stderr, "bench_train: cannot find OpenBLAS's cblas_sgemm (dlsym: %s)\n", dlerror());
        return 1;
    }
    omp_set_num_threads(c->threads);
    openblas_set_num_threads(c->threads);
    double base_rss_mb = (double)rss_kb() / 1024.0;

    qt_model_cfg mc = {.arch = (qt_arch)c->arch, .dim = c->dim, .layers = c->layers, .heads = c->heads,
                       .kv_heads = c->kv_heads, .head_dim = c->head_dim, .ffn = c->ffn, .ctx = c->ctx,
                       .vocab = c->vocab, .tied = c->tied, .qkv_bias = c->arch == QT_ARCH_QWEN2,
                       .qk_norm = c->arch == QT_ARCH_QWEN3, .rope_theta = 10000.0f, .norm_eps = 1e-5f};
    char err[256];
    if (qt_model_cfg_check(&mc, err, sizeof err)) {
        fprintf(stderr, "bench_train: %s\n", err);
        return 1;
    }
    double t_init = now_s();
    qt_model *m = qt_model_new(&mc);
    qt_model_init(m, 1);

    /* quantize every block Linear (skip the output Linear, tied or not, and so the
     * embedding, as the quickstart policy does) */
    int nq = 0, nlin = m->n_linears;
    qt_quantizer **wqs = calloc((size_t)nlin, sizeof *wqs);
    qt_actquant **aqs = calloc((size_t)nlin, sizeof *aqs);
    qt_tensor **scales = calloc((size_t)nlin, sizeof *scales);
    if (variant >= 1) {
        qt_quant_spec spec = {.bits = 4, .group = 32, .grid = QT_GRID_SYM, .learnable = 1, .fp16_scales = 1};
        for (int i = 0; i < nlin; i++) {
            qt_linear_layer *l = m->linears[i];
            if (l == &m->output) continue;
            wqs[nq] = qt_quantizer_new(&spec, l->w, err, sizeof err);
            if (!wqs[nq]) {
                fprintf(stderr, "bench_train: %s\n", err);
                return 1;
            }
            qt_quant_init_absmax(wqs[nq], l->w);
            l->wq = wqs[nq];
            scales[nq] = wqs[nq]->scale;
            if (variant == 2) l->aq = aqs[nq] = qt_actquant_new(l->w->name, 8, QT_ACT_PER_TOKEN, 0.0f);
            nq++;
        }
    }

    /* AdamW groups as train/train.c: matrices with decay, vectors (norms, biases) without,
     * scales at their own lr */
    qt_tensor **g2 = malloc((size_t)m->n_params * sizeof *g2), **g1 = malloc((size_t)m->n_params * sizeof *g1);
    int n2 = 0, n1 = 0;
    for (int i = 0; i < m->n_params; i++) {
        if (m->params[i]->ndim >= 2) g2[n2++] = m->params[i];
        else g1[n1++] = m->params[i];
    }
    qt_param_group groups[3] = {{g2, n2, 3e-4, 0.1}, {g1, n1, 3e-4, 0.0}, {scales, nq, 1e-3, 0.0}};
    qt_optim *opt = qt_adamw_new(groups, nq ? 3 : 2, 0.9, 0.95, 1e-8);
    int np = qt_optim_num_params(opt);
    qt_tensor **params = malloc((size_t)np * sizeof *params);
    size_t n_weights = 0;
    for (int i = 0; i < np; i++) {
        params[i] = qt_optim_param(opt, i);
        n_weights += params[i]->n;
    }
    double init_s = now_s() - t_init;
    /* data + grad + AdamW m and v, 4 bytes each */
    double state_mb = (double)n_weights * 16.0 / (1 << 20);

    int B = c->batch, T = c->ctx, V = c->vocab;
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    uint64_t rng = 0x5eedULL;
    qt_ctx ctx;
    qt_ctx_init(&ctx, 64 << 20);
    qt_ctx_recycle_grads(&ctx, 1); /* as train/train.c */
    double *step_s = malloc((size_t)c->steps * sizeof *step_s), *cpu_step_s = malloc((size_t)c->steps * sizeof *cpu_step_s);
    double sum_s = 0.0, sgemm_s = 0.0;
    float loss_first = 0.0f, loss_last = 0.0f;
    double hid_s = 0.0, head_s = 0.0, bwd_s = 0.0, clip_s = 0.0, opt_s = 0.0, ops_fwd_mb = 0.0, ops_step_mb = 0.0;
    op_prof prof;
    memset(&prof, 0, sizeof prof);
    size_t mallocs_warm = 0, reallocs_warm = 0;
    for (int s = 0; s < c->warmup + c->steps; s++) {
        for (int i = 0; i < B * T; i++) {
            rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = (int32_t)(((rng >> 32) * (uint64_t)V) >> 32); /* V = 256: rng >> 56 */
        }
        for (int i = 0; i < B * T; i++) y[i] = i % T == T - 1 ? x[i] : x[i + 1];
        if (s == c->warmup) {
            mallocs_warm = ctx.arena.n_mallocs;
            reallocs_warm = ctx.n_node_reallocs;
        }
        sgemm_reset();
        double c0 = cpu_s(), t0 = now_s();
        /* the step of train/train.c (without a teacher) */
        qt_ctx_reset(&ctx);
        qt_zero_grad(params, np);
        qt_tensor *hw, *h = qt_linear_input(&ctx, &m->output, qt_model_hidden(&ctx, m, x, B, T, &hw));
        double t_hid = now_s();
        qt_tensor *loss = qt_linear_cross_entropy(&ctx, h, hw, y);
        double t_fwd = now_s();
        double fwd_mb = c->ops ? arena_used_mb(&ctx) : 0.0;
        if (c->ops && s >= c->warmup) {
            if (!prof.orig) prof.orig = malloc((size_t)ctx.n_nodes * sizeof *prof.orig);
            prof.base = ctx.nodes;
            for (int i = 0; i < ctx.n_nodes; i++) {
                prof.orig[i] = ctx.nodes[i].backward;
                ctx.nodes[i].backward = timed_backward;
            }
            g_prof = &prof;
        }
        qt_backward(&ctx, loss, NULL);
        double t_bwd = now_s();
        if (c->ops) {
            ops_fwd_mb = fwd_mb;
            ops_step_mb = arena_used_mb(&ctx);
        }
        if (qt_grads_nonfinite(params, np)) {
            fprintf(stderr, "bench_train: %s: gradient is NaN/Inf at step %d\n", VARIANTS[variant], s + 1);
            return 1;
        }
        qt_clip_grad_norm(params, np, 1.0);
        double t_clip = now_s();
        qt_optim_step(opt, 1.0);
        qt_policy_clamp(m);
        double t1 = now_s(), dt = t1 - t0, dc = cpu_s() - c0;
        if (s == 0) loss_first = loss->data[0];
        loss_last = loss->data[0];
        if (s >= c->warmup) {
            hid_s += t_hid - t0;
            head_s += t_fwd - t_hid;
            bwd_s += t_bwd - t_fwd;
            clip_s += t_clip - t_bwd;
            opt_s += t1 - t_clip;
            cpu_step_s[s - c->warmup] = dc;
            step_s[s - c->warmup] = dt;
            sum_s += dt;
            sgemm_s += sgemm_total();
        }
    }
    qsort(step_s, (size_t)c->steps, sizeof *step_s, cmp_double);
    qsort(cpu_step_s, (size_t)c->steps, sizeof *cpu_step_s, cmp_double);
    double med = c->steps % 2 ? step_s[c->steps / 2] : 0.5 * (step_s[c->steps / 2 - 1] + step_s[c->steps / 2]);
    double cpu_med = c->steps % 2 ? cpu_step_s[c->steps / 2]
                                  : 0.5 * (cpu_step_s[c->steps / 2 - 1] + cpu_step_s[c->steps / 2]);
    double tps = (double)B * T / med, share = sum_s > 0 ? sgemm_s / sum_s : 0.0;
    size_t extra_mallocs = ctx.arena.n_mallocs - mallocs_warm + ctx.n_node_reallocs - reallocs_warm;
    double peak_mb = (double)rss_kb() / 1024.0, arena_mb = 0.0;
    for (qt_arena_chunk *ch = ctx.arena.head; ch; ch = ch->next) arena_mb += (double)ch->cap / (1 << 20);
    if (c->json) {
        printf("{\"impl\": \"qatc\", \"variant\": \"%s\", \"tokens_per_s\": %.1f, \"step_ms\": %.3f, "
               "\"peak_rss_mb\": %.1f, \"sgemm_share\": %.4f, \"cpu_ms\": %.3f, \"step_ms_min\": %.3f, \"step_ms_max\": %.3f, "
               "\"base_rss_mb\": %.1f, \"arena_mb\": %.1f, \"state_mb\": %.1f, \"params_m\": %.3f, \"init_s\": %.2f, "
               "\"allocs_after_warmup\": %zu, \"loss_first\": %.5f, \"loss_last\": %.5f, "
               "\"arch\": \"%s\", \"dim\": %d, \"layers\": %d, \"heads\": %d, \"kv_heads\": %d, \"head_dim\": %d, "
               "\"ffn\": %d, \"vocab\": %d, \"tied\": %s, \"ctx\": %d, \"batch\": %d, "
               "\"threads\": %d, \"steps\": %d, \"warmup\": %d}\n",
               VARIANTS[variant], tps, med * 1e3, peak_mb, share, cpu_med * 1e3, step_s[0] * 1e3, step_s[c->steps - 1] * 1e3,
               base_rss_mb, arena_mb, state_mb, (double)qt_model_numel(m) / 1e6, init_s, extra_mallocs,
               (double)loss_first, (double)loss_last, qt_arch_name(mc.arch), c->dim, c->layers, c->heads, c->kv_heads,
               qt_model_head_dim(&mc), c->ffn, c->vocab, c->tied ? "true" : "false", c->ctx, c->batch, c->threads,
               c->steps, c->warmup);
    } else {
        printf("%-14s %10.0f tok/s %9.2f ms/step (CPU %.0f ms)  peak RSS %7.1f MB  sgemm %5.1f%%  (min %.2f max %.2f ms, "
               "arena %.0f MB, params+grads+AdamW %.0f MB, allocs after warm-up %zu, loss %.3f -> %.3f)\n",
               VARIANTS[variant], tps, med * 1e3, cpu_med * 1e3, peak_mb, 100.0 * share, step_s[0] * 1e3,
               step_s[c->steps - 1] * 1e3, arena_mb, state_mb, extra_mallocs, (double)loss_first, (double)loss_last);
    }
    fflush(stdout);
    if (c->ops) {
        fprintf(stderr, "%s: per step: forward to the hidden states %.1f ms, LM head + loss forward %.1f ms, backward %.1f ms, "
                "non-finite check + clip %.1f ms, AdamW + clamp %.1f ms (model init %.1f s)\n",
                VARIANTS[variant], hid_s / c->steps * 1e3, head_s / c->steps * 1e3, bwd_s / c->steps * 1e3,
                clip_s / c->steps * 1e3, opt_s / c->steps * 1e3, init_s);
        for (int k = 0; k < prof.n; k++)
            fprintf(stderr, "  backward %-20s %8.2f ms/step (%d calls/step)\n", prof.name[k],
                    prof.bwd_s[k] / c->steps * 1e3, prof.calls[k] / c->steps);
        fprintf(stderr, "%s: memory: peak RSS %.0f MB = params + grads + AdamW m, v %.0f MB (%.1f M weights) + arena used "
                "%.0f MB + other %.0f MB (runtime, model init, the tape)\n", VARIANTS[variant], peak_mb, state_mb,
                (double)n_weights / 1e6, ops_step_mb, peak_mb - state_mb - ops_step_mb);
        arena_split(&ctx, VARIANTS[variant], ops_fwd_mb, ops_step_mb, arena_mb);
        free(prof.orig);
    }
    fflush(stdout);

    qt_ctx_free(&ctx);
    qt_optim_free(opt);
    for (int i = 0; i < nlin; i++) {
        m->linears[i]->wq = NULL;
        m->linears[i]->aq = NULL;
    }
    for (int i = 0; i < nq; i++) {
        qt_quantizer_free(wqs[i]);
        qt_actquant_free(aqs[i]);
    }
    qt_model_free(m);
    free(wqs); free(aqs); free(scales); free(g2); free(g1); free(params); free(x); free(y); free(step_s); free(cpu_step_s);
    return 0;
}

static const char *const ARCHS[] = {"llama", "qwen2", "qwen3"};
static const int ARCH_IDS[] = {QT_ARCH_LLAMA, QT_ARCH_QWEN2, QT_ARCH_QWEN3};

static void usage(void) {
    fprintf(stderr,
            "usage: bench_train [--variant fp32|qat_w4g32|qat_w4g32_a8|all]... [--arch llama|qwen2|qwen3]\n"
            "                   [--dim D] [--layers L] [--heads H] [--kv-heads KV] [--head-dim HD] [--ffn F]\n"
            "                   [--vocab V] [--tied] [--ctx T] [--batch B] [--threads N] [--steps K] [--warmup W]\n"
            "                   [--json] [--ops]\n");
}

static int parse_pos(const char *opt, const char *v, int min, int *out) {
    char *end;
    long x = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || x < min || x > 1 << 20) {
        fprintf(stderr, "bench_train: %s needs an integer >= %d, got '%s'\n", opt, min, v);
        return -1;
    }
    *out = (int)x;
    return 0;
}

int main(int argc, char **argv) {
    bench_cfg c = {.arch = QT_ARCH_LLAMA, .dim = 256, .layers = 4, .heads = 4, .kv_heads = 0, .head_dim = 0,
                   .ffn = 704, .vocab = 256, .tied = 0, .ctx = 256, .batch = 8, .threads = 2, .steps = 10,
                   .warmup = 2, .json = 0};
    int want[3] = {0, 0, 0}, any = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) { c.json = 1; continue; }
        if (!strcmp(a, "--ops")) { c.ops = 1; continue; }
        if (!strcmp(a, "--tied")) { c.tied = 1; continue; }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(); return 0; }
        if (i + 1 >= argc) { usage(); return 2; }
        const char *v = argv[++i];
        int rc = 0;
        if (!strcmp(a, "--variant")) {
            int k = -1;
            for (int j = 0; j < 3; j++)
                if (!strcmp(v, VARIANTS[j])) k = j;
            if (!strcmp(v, "all")) {
                want[0] = want[1] = want[2] = any = 1;
            } else if (k < 0) {
                fprintf(stderr, "bench_train: unknown variant '%s' (expected fp32, qat_w4g32, qat_w4g32_a8 or all)\n", v);
                return 2;
            } else {
                want[k] = any = 1;
            }
        } else if (!strcmp(a, "--arch")) {
            int k = -1;
            for (int j = 0; j < 3; j++)
                if (!strcmp(v, ARCHS[j])) k = j;
            if (k < 0) {
                fprintf(stderr, "bench_train: unknown arch '%s' (expected llama, qwen2 or qwen3)\n", v);
                return 2;
            }
            c.arch = ARCH_IDS[k];
        } else if (!strcmp(a, "--dim")) rc = parse_pos(a, v, 2, &c.dim);
        else if (!strcmp(a, "--layers")) rc = parse_pos(a, v, 1, &c.layers);
        else if (!strcmp(a, "--heads")) rc = parse_pos(a, v, 1, &c.heads);
        else if (!strcmp(a, "--kv-heads")) rc = parse_pos(a, v, 1, &c.kv_heads);
        else if (!strcmp(a, "--head-dim")) rc = parse_pos(a, v, 2, &c.head_dim);
        else if (!strcmp(a, "--ffn")) rc = parse_pos(a, v, 1, &c.ffn);
        else if (!strcmp(a, "--vocab")) rc = parse_pos(a, v, 2, &c.vocab);
        else if (!strcmp(a, "--ctx")) rc = parse_pos(a, v, 2, &c.ctx);
        else if (!strcmp(a, "--batch")) rc = parse_pos(a, v, 1, &c.batch);
        else if (!strcmp(a, "--threads")) rc = parse_pos(a, v, 1, &c.threads);
        else if (!strcmp(a, "--steps")) rc = parse_pos(a, v, 1, &c.steps);
        else if (!strcmp(a, "--warmup")) rc = parse_pos(a, v, 0, &c.warmup);
        else { usage(); return 2; }
        if (rc) return 2;
    }
    if (!any) want[0] = want[1] = want[2] = 1;
    if (!c.kv_heads) c.kv_heads = c.heads;
    int hd = c.head_dim ? c.head_dim : c.dim / c.heads;
    if (c.dim % 32 || c.ffn % 32 || (c.heads * hd) % 32) {
        fprintf(stderr, "bench_train: dim %d, ffn %d and heads·head_dim %d must be multiples of the group size 32\n",
                c.dim, c.ffn, c.heads * hd);
        return 2;
    }
    if (c.threads > MAX_THREADS) {
        fprintf(stderr, "bench_train: --threads %d is above %d\n", c.threads, MAX_THREADS);
        return 2;
    }
    if (!c.json)
        printf("qatc bench_train: %s, dim %d, layers %d, heads %d (KV %d, head dim %d), ffn %d, vocab %d%s, ctx %d, "
               "batch %d, %d threads, %d steps (+%d warm-up)\n",
               qt_arch_name((qt_arch)c.arch), c.dim, c.layers, c.heads, c.kv_heads, hd, c.ffn, c.vocab,
               c.tied ? " tied" : "", c.ctx, c.batch, c.threads, c.steps, c.warmup);
    fflush(stdout);
    int status = 0;
    for (int v = 0; v < 3; v++) {
        if (!want[v]) continue;
        /* one child per variant: its ru_maxrss is that variant's peak alone */
        pid_t pid = fork();
        if (pid < 0) {
            perror("bench_train: fork");
            return 1;
        }
        if (pid == 0) _exit(run_variant(&c, v));
        int ws = 0;
        if (waitpid(pid, &ws, 0) < 0 || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
            if (WIFSIGNALED(ws))
                fprintf(stderr, "bench_train: variant %s killed by signal %d%s\n", VARIANTS[v], WTERMSIG(ws),
                        WTERMSIG(ws) == SIGKILL ? " (out of memory?)" : "");
            else
                fprintf(stderr, "bench_train: variant %s failed\n", VARIANTS[v]);
            status = 1;
        }
    }
    return status;
}
