/* Internals of ops/lm_loss.c (the fused linear + loss ops) that tests and
 * benchmarks reach: the chunk rule and variants taking an explicit chunk size.
 * The public API is qt_linear_cross_entropy / qt_linear_kl_div in ops/ops.h. */
#ifndef QATC_OPS_LM_LOSS_H
#define QATC_OPS_LM_LOSS_H

#include "autograd/tensor.h"

/* Logits elements (floats) that may exist at a time: 2^24 = 64 MiB of scratch (more
 * only when QT_LM_LOSS_MIN_ROWS·V exceeds it, V > 65536). Cross-entropy keeps one
 * chunk×V block, KL two (teacher and student). */
#define QT_LM_LOSS_BUDGET ((size_t)1 << 24)
/* Fewest rows per chunk even when the budget allows fewer (large vocabularies): each
 * chunk streams W through three products and dW through one, so thin chunks are
 * bound by memory, not flops. Cross-entropy at N 2048, D 896, V 151936, 2 threads
 * (bench_ops): chunks of 110 rows (2^24 / V) took 2.05× the CPU time of the unfused
 * forward + backward, 256 rows 1.41×, 512 rows 1.40×. */
#define QT_LM_LOSS_MIN_ROWS 256

/* Rows per chunk: min(n, max(QT_LM_LOSS_BUDGET / (V · blocks), QT_LM_LOSS_MIN_ROWS)),
 * blocks = logits matrices per row (1 for cross-entropy, 2 for KL). With n·V·blocks
 * within the budget every row goes in one chunk. */
int qt_lm_loss_chunk_rows(int n, int v, int blocks);

/* qt_linear_cross_entropy / qt_linear_kl_div with chunk_rows rows per chunk
 * (clamped to [1, n]); chunk_rows <= 0 takes qt_lm_loss_chunk_rows. */
qt_tensor *qt_linear_cross_entropy_ex(qt_ctx *ctx, qt_tensor *x, qt_tensor *w, const int32_t *targets,
                                      int chunk_rows);
qt_tensor *qt_linear_kl_div_ex(qt_ctx *ctx, qt_tensor *xt, qt_tensor *wt, qt_tensor *xs, qt_tensor *ws,
                               float temperature, int chunk_rows);

#endif
