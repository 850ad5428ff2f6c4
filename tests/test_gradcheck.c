/* Central-difference gradient check of every op in ops/ops.h.
 * For an op f and a fixed random R, L = Σ f(x)·R (accumulated in double).
 * The analytic gradient (backward seeded with R) must match
 * (L(x+h) - L(x-h)) / 2h for every input element: the error, as a norm-wise
 * relative error max|num - ana| / max|ana|, must stay under 1e-3 (float32
 * forward passes with h = 1e-2 give 1e-6 .. 5e-5 here; a wrong term in a
 * backward gives O(1)). */
#include "ops/lm_loss.h"
#include "ops/ops.h"
#include "test_util.h"

#define MAX_IN 4

typedef qt_tensor *(*build_fn)(qt_ctx *ctx, qt_tensor **in);

static double loss_of(qt_tensor *y, const float *R) {
    double s = 0.0;
    for (size_t i = 0; i < y->n; i++) s += (double)y->data[i] * R[i];
    return s;
}

static void gradcheck(const char *name, build_fn f, int n_in, qt_tensor **in) {
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    uint64_t rng = 0x9E3779B97F4A7C15ULL ^ (uint64_t)strlen(name);
    qt_zero_grad(in, n_in);
    qt_tensor *y = f(&ctx, in);
    float *R = malloc(y->n * sizeof(float));
    tu_fill_normal(R, y->n, 1.0f, &rng);
    CHECK(y->requires_grad, "%s: output does not require grad", name);
    qt_backward(&ctx, y, R);
    const float h = 1e-2f;
    for (int k = 0; k < n_in; k++) {
        qt_tensor *x = in[k];
        if (!x->requires_grad) continue;
        double max_err = 0.0, max_g = 0.0;
        for (size_t i = 0; i < x->n; i++) {
            float orig = x->data[i];
            qt_ctx_reset(&ctx);
            qt_no_grad(&ctx, 1);
            x->data[i] = orig + h;
            double lp = loss_of(f(&ctx, in), R);
            qt_ctx_reset(&ctx);
            x->data[i] = orig - h;
            double lm = loss_of(f(&ctx, in), R);
            qt_no_grad(&ctx, -1);
            x->data[i] = orig;
            double num = (lp - lm) / (2.0 * h);
            double err = fabs(num - x->grad[i]);
            if (err > max_err) max_err = err;
            if (fabs(x->grad[i]) > max_g) max_g = fabs(x->grad[i]);
        }
        double rel = max_err / (max_g > 1e-12 ? max_g : 1e-12);
        CHECK(max_g > 0.0, "%s: input %d got an all-zero gradient", name, k);
        CHECK(rel < 1e-3, "%s: input %d relative gradient error %.3g (max |g| %.3g)", name, k, rel, max_g);
        printf("  %-22s in%d rel err %.2e\n", name, k, rel);
    }
    free(R);
    qt_ctx_free(&ctx);
}

static qt_tensor *param(int ndim, const int *shape, uint64_t *rng, float stdv) {
    qt_tensor *t = qt_param_new("x", ndim, shape);
    tu_fill_normal(t->data, t->n, stdv, rng);
    return t;
}
#define P(rng, ...) param(sizeof((int[]){__VA_ARGS__}) / sizeof(int), (int[]){__VA_ARGS__}, rng, 1.0f)

static const int32_t ids[12] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8};
static const int32_t targets[6] = {3, -1, 0, 6, 2, 2};

static qt_tensor *f_mm_nn(qt_ctx *c, qt_tensor **x) { return qt_matmul(c, x[0], x[1], 0, 0); }
static qt_tensor *f_mm_tn(qt_ctx *c, qt_tensor **x) { return qt_matmul(c, x[0], x[1], 1, 0); }
static qt_tensor *f_mm_nt(qt_ctx *c, qt_tensor **x) { return qt_matmul(c, x[0], x[1], 0, 1); }
static qt_tensor *f_mm_tt(qt_ctx *c, qt_tensor **x) { return qt_matmul(c, x[0], x[1], 1, 1); }
static qt_tensor *f_bmm_nt(qt_ctx *c, qt_tensor **x) { return qt_bmm(c, x[0], x[1], 0, 1); }
static qt_tensor *f_bmm_tn(qt_ctx *c, qt_tensor **x) { return qt_bmm(c, x[0], x[1], 1, 0); }
static qt_tensor *f_linear(qt_ctx *c, qt_tensor **x) { return qt_linear(c, x[0], x[1]); }
static qt_tensor *f_add(qt_ctx *c, qt_tensor **x) { return qt_add(c, x[0], x[1]); }
static qt_tensor *f_sub(qt_ctx *c, qt_tensor **x) { return qt_sub(c, x[0], x[1]); }
static qt_tensor *f_mul(qt_ctx *c, qt_tensor **x) { return qt_mul(c, x[0], x[1]); }
static qt_tensor *f_scale(qt_ctx *c, qt_tensor **x) { return qt_scale(c, x[0], -1.7f); }
static qt_tensor *f_sum(qt_ctx *c, qt_tensor **x) { return qt_sum(c, x[0]); }
static qt_tensor *f_mean(qt_ctx *c, qt_tensor **x) { return qt_mean(c, x[0]); }
static qt_tensor *f_softmax(qt_ctx *c, qt_tensor **x) { return qt_softmax(c, x[0]); }
static qt_tensor *f_log_softmax(qt_ctx *c, qt_tensor **x) { return qt_log_softmax(c, x[0]); }
static qt_tensor *f_rmsnorm(qt_ctx *c, qt_tensor **x) { return qt_rmsnorm(c, x[0], x[1], 1e-5f); }
static qt_tensor *f_layernorm(qt_ctx *c, qt_tensor **x) { return qt_layernorm(c, x[0], x[1], x[2], 1e-5f); }
static qt_tensor *f_layernorm_nb(qt_ctx *c, qt_tensor **x) { return qt_layernorm(c, x[0], x[1], NULL, 1e-5f); }
static qt_tensor *f_rope(qt_ctx *c, qt_tensor **x) { return qt_rope(c, x[0], 2, 10000.0f, NULL, 3); }
static const float rope_div[3] = {1.0f, 1.7f, 8.0f}; /* hd 6 */
static qt_tensor *f_rope_div(qt_ctx *c, qt_tensor **x) { return qt_rope(c, x[0], 2, 10000.0f, rope_div, 3); }
static qt_tensor *f_attn(qt_ctx *c, qt_tensor **x) { return qt_attention(c, x[0], x[1], x[2], 4, 2); }
static qt_tensor *f_attn_mha(qt_ctx *c, qt_tensor **x) { return qt_attention(c, x[0], x[1], x[2], 2, 2); }
static qt_tensor *f_attn_long(qt_ctx *c, qt_tensor **x) { return qt_attention(c, x[0], x[1], x[2], 2, 1); }
static qt_tensor *f_embed(qt_ctx *c, qt_tensor **x) { return qt_embedding(c, x[0], ids, 12, 4); }
static qt_tensor *f_ce(qt_ctx *c, qt_tensor **x) { return qt_cross_entropy(c, x[0], targets); }
static qt_tensor *f_kl(qt_ctx *c, qt_tensor **x) { return qt_kl_div(c, x[0], x[1], 2.0f); }
/* fused LM head + loss: 10 rows (x [2, 5, 6]), V = 9; chunks of 3 (3, 3, 3, 1) and of 2 over the 7
 * scored rows (2, 2, 2, 1, through the gathered-rows path), and the default rule (one chunk) */
static const int32_t lm_targets[10] = {4, -1, 0, 8, 8, -1, 2, -1, 5, 1};
static const int32_t lm_targets_all[10] = {4, 3, 0, 8, 8, 7, 2, 6, 5, 1};
static qt_tensor *f_lce_c3(qt_ctx *c, qt_tensor **x) { return qt_linear_cross_entropy_ex(c, x[0], x[1], lm_targets_all, 3); }
static qt_tensor *f_lce_c2(qt_ctx *c, qt_tensor **x) { return qt_linear_cross_entropy_ex(c, x[0], x[1], lm_targets, 2); }
static qt_tensor *f_lce(qt_ctx *c, qt_tensor **x) { return qt_linear_cross_entropy(c, x[0], x[1], lm_targets); }
/* teacher D = 5, student D = 6, N = 10, V = 9; chunks of 3 and the default rule */
static qt_tensor *f_lkl_c3(qt_ctx *c, qt_tensor **x) { return qt_linear_kl_div_ex(c, x[0], x[1], x[2], x[3], 2.0f, 3); }
static qt_tensor *f_lkl(qt_ctx *c, qt_tensor **x) { return qt_linear_kl_div(c, x[0], x[1], x[2], x[3], 1.0f); }
static qt_tensor *f_silu(qt_ctx *c, qt_tensor **x) { return qt_silu(c, x[0]); }
static qt_tensor *f_swiglu(qt_ctx *c, qt_tensor **x) { return qt_swiglu(c, x[0], x[1]); }
static qt_tensor *f_gelu(qt_ctx *c, qt_tensor **x) { return qt_gelu(c, x[0]); }
static qt_tensor *f_relu(qt_ctx *c, qt_tensor **x) { return qt_relu(c, x[0]); }
static qt_tensor *f_reshape(qt_ctx *c, qt_tensor **x) {
    /* reshape then a nonlinear op so the gradient through the view is non-trivial */
    return qt_mul(c, qt_reshape(c, x[0], 2, (int[]){4, 6}), x[1]);
}
static qt_tensor *f_transpose02(qt_ctx *c, qt_tensor **x) { return qt_mul(c, qt_transpose(c, x[0], 0, 2), x[1]); }
static qt_tensor *f_transpose12(qt_ctx *c, qt_tensor **x) { return qt_transpose(c, x[0], 1, 2); }
/* a composite: the same tensor used twice accumulates both gradients */
static qt_tensor *f_reuse(qt_ctx *c, qt_tensor **x) { return qt_mul(c, qt_silu(c, x[0]), x[0]); }

/* Row-broadcast add / mul above the threading threshold: forward, da and db
 * equal to the serial loops bit for bit (db[j] sums the rows in order). */
static void row_broadcast_threaded(void) {
    const int rows = 333, cols = 257; /* 85581 elements > 65536: the parallel paths */
    uint64_t rng = 7;
    for (int kind = 0; kind < 2; kind++) {
        qt_tensor *a = P(&rng, rows, cols), *b = P(&rng, cols);
        qt_ctx ctx;
        qt_ctx_init(&ctx, 1 << 20);
        qt_zero_grad((qt_tensor *[]){a, b}, 2);
        qt_tensor *y = kind ? qt_mul(&ctx, a, b) : qt_add(&ctx, a, b);
        float *R = malloc(y->n * sizeof(float));
        tu_fill_normal(R, y->n, 1.0f, &rng);
        qt_backward(&ctx, y, R);
        int bad_y = 0, bad_da = 0, bad_db = 0;
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) {
                size_t i = (size_t)r * cols + j;
                float want = kind ? a->data[i] * b->data[j] : a->data[i] + b->data[j];
                bad_y += y->data[i] != want;
                bad_da += a->grad[i] != (kind ? R[i] * b->data[j] : R[i]);
            }
        for (int j = 0; j < cols; j++) {
            float s = 0.0f;
            for (int r = 0; r < rows; r++) {
                size_t i = (size_t)r * cols + j;
                s += kind ? R[i] * a->data[i] : R[i];
            }
            bad_db += b->grad[j] != s;
        }
        CHECK(!bad_y && !bad_da && !bad_db, "%s_row threaded: %d forward, %d da, %d db values differ from the serial loops",
              kind ? "mul" : "add", bad_y, bad_da, bad_db);
        printf("  %-22s forward, da, db exact\n", kind ? "mul_row threaded" : "add_row threaded");
        free(R);
        qt_ctx_free(&ctx);
        qt_param_free(a);
        qt_param_free(b);
    }
}

int main(void) {
    uint64_t rng = 42;
    row_broadcast_threaded();
    struct { const char *name; build_fn f; int n; qt_tensor *in[MAX_IN]; } cases[] = {
        {"matmul", f_mm_nn, 2, {P(&rng, 5, 7), P(&rng, 7, 3)}},
        {"matmul_ta", f_mm_tn, 2, {P(&rng, 7, 5), P(&rng, 7, 3)}},
        {"matmul_tb", f_mm_nt, 2, {P(&rng, 5, 7), P(&rng, 3, 7)}},
        {"matmul_tab", f_mm_tt, 2, {P(&rng, 7, 5), P(&rng, 3, 7)}},
        {"bmm_tb", f_bmm_nt, 2, {P(&rng, 2, 4, 6), P(&rng, 2, 3, 6)}},
        {"bmm_ta", f_bmm_tn, 2, {P(&rng, 2, 6, 4), P(&rng, 2, 6, 3)}},
        {"linear_3d", f_linear, 2, {P(&rng, 2, 3, 6), P(&rng, 5, 6)}},
        {"add_same", f_add, 2, {P(&rng, 3, 4), P(&rng, 3, 4)}},
        {"add_row", f_add, 2, {P(&rng, 2, 3, 4), P(&rng, 4)}},
        {"sub_scalar", f_sub, 2, {P(&rng, 3, 4), P(&rng, 1)}},
        {"mul_same", f_mul, 2, {P(&rng, 3, 4), P(&rng, 3, 4)}},
        {"mul_row", f_mul, 2, {P(&rng, 3, 4), P(&rng, 4)}},
        {"scale", f_scale, 1, {P(&rng, 3, 4)}},
        {"sum", f_sum, 1, {P(&rng, 3, 4)}},
        {"mean", f_mean, 1, {P(&rng, 3, 4)}},
        {"softmax", f_softmax, 1, {P(&rng, 3, 7)}},
        {"log_softmax", f_log_softmax, 1, {P(&rng, 3, 7)}},
        {"rmsnorm", f_rmsnorm, 2, {P(&rng, 2, 3, 8), P(&rng, 8)}},
        {"layernorm", f_layernorm, 3, {P(&rng, 4, 8), P(&rng, 8), P(&rng, 8)}},
        {"layernorm_nobias", f_layernorm_nb, 2, {P(&rng, 4, 8), P(&rng, 8)}},
        {"rope", f_rope, 1, {P(&rng, 2, 5, 12)}},
        {"rope_div", f_rope_div, 1, {P(&rng, 2, 5, 12)}},
        {"attention_gqa", f_attn, 3, {P(&rng, 2, 5, 16), P(&rng, 2, 5, 8), P(&rng, 2, 5, 8)}},
        {"attention_mha", f_attn_mha, 3, {P(&rng, 1, 6, 8), P(&rng, 1, 6, 8), P(&rng, 1, 6, 8)}},
        /* T = 70 crosses the kernel's 64-row causal blocks */
        {"attention_T70", f_attn_long, 3, {P(&rng, 1, 70, 4), P(&rng, 1, 70, 2), P(&rng, 1, 70, 2)}},
        {"embedding", f_embed, 1, {P(&rng, 10, 5)}},
        {"cross_entropy", f_ce, 1, {P(&rng, 6, 7)}},
        {"kl_div", f_kl, 2, {P(&rng, 3, 6), P(&rng, 3, 6)}},
        {"linear_ce_chunk3", f_lce_c3, 2, {P(&rng, 2, 5, 6), P(&rng, 9, 6)}},
        {"linear_ce_chunk2_ign", f_lce_c2, 2, {P(&rng, 2, 5, 6), P(&rng, 9, 6)}},
        {"linear_ce_default", f_lce, 2, {P(&rng, 10, 6), P(&rng, 9, 6)}},
        {"linear_kl_chunk3", f_lkl_c3, 4, {P(&rng, 10, 5), P(&rng, 9, 5), P(&rng, 10, 6), P(&rng, 9, 6)}},
        {"linear_kl_default", f_lkl, 4, {P(&rng, 10, 5), P(&rng, 9, 5), P(&rng, 10, 6), P(&rng, 9, 6)}},
        {"silu", f_silu, 1, {P(&rng, 3, 5)}},
        {"swiglu", f_swiglu, 2, {P(&rng, 3, 5), P(&rng, 3, 5)}},
        {"gelu", f_gelu, 1, {P(&rng, 3, 5)}},
        {"relu", f_relu, 1, {P(&rng, 3, 5)}},
        {"reshape", f_reshape, 2, {P(&rng, 2, 3, 4), P(&rng, 4, 6)}},
        {"transpose02", f_transpose02, 2, {P(&rng, 2, 3, 4), P(&rng, 4, 3, 2)}},
        {"transpose12", f_transpose12, 1, {P(&rng, 2, 3, 4)}},
        {"reuse", f_reuse, 1, {P(&rng, 3, 4)}},
    };
    int n_cases = (int)(sizeof cases / sizeof cases[0]);
    /* keep relu inputs away from its kink so central differences are valid */
    for (int i = 0; i < n_cases; i++)
        if (cases[i].f == f_relu)
            for (size_t j = 0; j < cases[i].in[0]->n; j++)
                if (fabsf(cases[i].in[0]->data[j]) < 0.05f) cases[i].in[0]->data[j] = 0.5f;
    for (int i = 0; i < n_cases; i++) {
        gradcheck(cases[i].name, cases[i].f, cases[i].n, cases[i].in);
        for (int k = 0; k < cases[i].n; k++) qt_param_free(cases[i].in[k]);
    }
    return tu_finish("test_gradcheck");
}
