#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <omp.h>
#include <string.h>

#include "ops/fastmath.h"
#include "ops/ops.h"

/* Causal attention. Per (batch b, head h) with strided views (no copies):
 *   S = Q_h K_gᵀ · scale,  P = softmax(S + causal mask),  O_h = P V_g
 * where g = h / (H/KV). P is never kept whole ([B, H, T, T] would be 1.4 GB per
 * step at Qwen2.5-0.5B's shape): the forward saves per query row its max m and
 * 1/sum, saved[0] = stats [B, H, T, 2], and the backward recomputes each block
 * of P with the same calls in the same order (att_probs), so it is bit for bit
 * the P the forward multiplied by V.
 * Query rows go in blocks of ATT_ROWS: a block [r0, r1) multiplies only
 * against keys [0, r1), so the masked upper triangle is mostly never computed
 * (T = 256: 10/16 of the full products, forward and backward). */
#define ATT_ROWS 64

/* Pb [nr, ldp] (row r0 + i at Pb + i·ldp) = the probabilities of query rows
 * [r0, r1) over keys [0, r1); entries past a row's own position up to r1 are
 * zero. stats [T, 2] of this (b, h): the forward (fill = 1) writes each row's
 * max and 1/sum, the backward (fill = 0) reads them and replays the same
 * arithmetic. */
static void att_probs(float *Pb, int ldp, const float *Qh, int ldq, const float *Kg, int ldk, int hd, int r0, int r1,
                      float scale, float *stats, int fill) {
    const int nr = r1 - r0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, r1, hd, scale, Qh + (size_t)r0 * ldq, ldq, Kg, ldk, 0.0f,
                Pb, ldp);
    for (int i = r0; i < r1; i++) {
        float *row = Pb + (size_t)(i - r0) * ldp, *st = stats + 2 * (size_t)i;
        float mx, inv;
        if (fill) {
            mx = row[0];
#pragma omp simd reduction(max : mx)
            for (int j = 1; j <= i; j++) mx = row[j] > mx ? row[j] : mx;
        } else
            mx = st[0];
        double sum = 0.0;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j <= i; j++) {
            row[j] = fast_expf(row[j] - mx);
            sum += row[j];
        }
        if (fill) {
            inv = (float)(1.0 / sum);
            st[0] = mx;
            st[1] = inv;
        } else
            inv = st[1];
#pragma omp simd
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < r1; j++) row[j] = 0.0f;
    }
}

static void attention_backward(qt_ctx *ctx, qt_node *nd) {
    qt_tensor *q = nd->in[0], *k = nd->in[1], *v = nd->in[2];
    int B = nd->iarg[0], T = nd->iarg[1], H = nd->iarg[2], KV = nd->iarg[3], hd = nd->iarg[4];
    float scale = nd->farg[0];
    const float *dO = nd->out->grad;
    float *stats = nd->saved[0];
    /* inputs that need no gradient still get a scratch buffer so the kernel stays branch-free */
    float *dq = q->requires_grad ? qt_grad(ctx, q) : qt_arena_calloc(&ctx->arena, q->n * sizeof(float));
    float *dk = k->requires_grad ? qt_grad(ctx, k) : qt_arena_calloc(&ctx->arena, k->n * sizeof(float));
    float *dv = v->requires_grad ? qt_grad(ctx, v) : qt_arena_calloc(&ctx->arena, v->n * sizeof(float));
    int ldq = H * hd, ldk = KV * hd, group = H / KV;
    int nthreads = omp_get_max_threads();
    const size_t blk = (size_t)ATT_ROWS * T;
    float *scratch = qt_arena_alloc(&ctx->arena, (size_t)nthreads * 2 * blk * sizeof(float));
    /* parallel over (b, kv head): the q heads of one group all write the same dK/dV slices */
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++)
        for (int g = 0; g < KV; g++) {
            float *Pb = scratch + (size_t)omp_get_thread_num() * 2 * blk, *dSb = Pb + blk;
            const float *Kg = k->data + (size_t)b * T * ldk + g * hd, *Vg = v->data + (size_t)b * T * ldk + g * hd;
            float *dKg = dk + (size_t)b * T * ldk + g * hd, *dVg = dv + (size_t)b * T * ldk + g * hd;
            for (int h = g * group; h < (g + 1) * group; h++) {
                const float *Qh = q->data + (size_t)b * T * ldq + h * hd, *dOh = dO + (size_t)b * T * ldq + h * hd;
                float *dQh = dq + (size_t)b * T * ldq + h * hd, *st = stats + ((size_t)b * H + h) * T * 2;
                /* query rows in blocks [r0, r1): they only see keys [0, r1) */
                for (int r0 = 0; r0 < T; r0 += ATT_ROWS) {
                    const int r1 = r0 + ATT_ROWS < T ? r0 + ATT_ROWS : T, nr = r1 - r0;
                    att_probs(Pb, T, Qh, ldq, Kg, ldk, hd, r0, r1, scale, st, 0);
                    /* dV[0:r1] += P[r0:r1, 0:r1]ᵀ dO[r0:r1] */
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, nr, 1.0f, Pb, T, dOh + (size_t)r0 * ldq,
                                ldq, 1.0f, dVg, ldk);
                    /* dP[r0:r1, 0:r1] = dO[r0:r1] V[0:r1]ᵀ */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nr, r1, hd, 1.0f, dOh + (size_t)r0 * ldq, ldq,
                                Vg, ldk, 0.0f, dSb, T);
                    /* dS = P ⊙ (dP - rowsum(dP ⊙ P)) · scale, causal part only */
                    for (int i = r0; i < r1; i++) {
                        float *row = dSb + (size_t)(i - r0) * T;
                        const float *pr = Pb + (size_t)(i - r0) * T;
                        double dot = 0.0;
#pragma omp simd reduction(+ : dot)
                        for (int j = 0; j <= i; j++) dot += (double)row[j] * pr[j];
#pragma omp simd
                        for (int j = 0; j <= i; j++) row[j] = pr[j] * (row[j] - (float)dot) * scale;
                        for (int j = i + 1; j < r1; j++) row[j] = 0.0f;
                    }
                    /* dQ[r0:r1] += dS[r0:r1, 0:r1] K[0:r1] ; dK[0:r1] += dS[r0:r1, 0:r1]ᵀ Q[r0:r1] */
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, hd, r1, 1.0f, dSb, T, Kg, ldk, 1.0f,
                                dQh + (size_t)r0 * ldq, ldq);
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r1, hd, nr, 1.0f, dSb, T, Qh + (size_t)r0 * ldq,
                                ldq, 1.0f, dKg, ldk);
                }
            }
        }
}

qt_tensor *qt_attention(qt_ctx *ctx, qt_tensor *q, qt_tensor *k, qt_tensor *v, int n_heads, int n_kv_heads) {
    char sq[64], sk[64], sv[64];
    if (q->ndim != 3 || k->ndim != 3 || !qt_same_shape(k, v) || n_heads <= 0 || n_kv_heads <= 0 ||
        n_heads % n_kv_heads || q->shape[2] % n_heads || q->shape[0] != k->shape[0] || q->shape[1] != k->shape[1] ||
        k->shape[2] != q->shape[2] / n_heads * n_kv_heads)
        qt_die("attention: q %s, k %s, v %s do not fit %d heads / %d kv heads (expected q [B, T, H·hd], k = v [B, T, KV·hd])",
               qt_shape_str(q, sq, 64), qt_shape_str(k, sk, 64), qt_shape_str(v, sv, 64), n_heads, n_kv_heads);
    int B = q->shape[0], T = q->shape[1], H = n_heads, KV = n_kv_heads, hd = q->shape[2] / H;
    int ldq = H * hd, ldk = KV * hd, group = H / KV;
    float scale = 1.0f / sqrtf((float)hd);
    float *stats = qt_arena_alloc(&ctx->arena, (size_t)B * H * T * 2 * sizeof(float));
    float *scratch = qt_arena_alloc(&ctx->arena, (size_t)omp_get_max_threads() * ATT_ROWS * T * sizeof(float));
    qt_tensor *out = qt_tensor_like(ctx, q);
#pragma omp parallel for collapse(2) schedule(dynamic)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            int g = h / group;
            float *Pb = scratch + (size_t)omp_get_thread_num() * ATT_ROWS * T;
            const float *Qh = q->data + (size_t)b * T * ldq + h * hd;
            const float *Kg = k->data + (size_t)b * T * ldk + g * hd, *Vg = v->data + (size_t)b * T * ldk + g * hd;
            float *st = stats + ((size_t)b * H + h) * T * 2;
            /* query rows in blocks [r0, r1): scores only against keys [0, r1) (the rest is masked) */
            for (int r0 = 0; r0 < T; r0 += ATT_ROWS) {
                const int r1 = r0 + ATT_ROWS < T ? r0 + ATT_ROWS : T, nr = r1 - r0;
                att_probs(Pb, T, Qh, ldq, Kg, ldk, hd, r0, r1, scale, st, 1);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nr, hd, r1, 1.0f, Pb, T, Vg, ldk, 0.0f,
                            out->data + ((size_t)b * T + r0) * ldq + h * hd, ldq);
            }
        }
    qt_tensor *in[3] = {q, k, v};
    qt_node *nd = qt_record(ctx, "attention", attention_backward, out, 3, in);
    if (nd) {
        nd->saved[0] = stats;
        nd->iarg[0] = B; nd->iarg[1] = T; nd->iarg[2] = H; nd->iarg[3] = KV; nd->iarg[4] = hd;
        nd->farg[0] = scale;
    }
    return out;
}
