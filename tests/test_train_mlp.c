/* End to end: the "mlp" model (embedding → fc1 → GELU → fc2 → output) learns a
 * deterministic next-token rule next = (5·t + 3) mod 16 with AdamW, warmup +
 * cosine and clipping. The loss starts near ln 16 ≈ 2.77 and must fall below
 * 0.05 within 300 steps. Also checks that after the first step a training step
 * allocates nothing: no new arena chunk and no tape growth. */
#include "nn/model.h"
#include "ops/ops.h"
#include "optim/optim.h"
#include "test_util.h"

int main(void) {
    const int V = 16, B = 8, T = 16, steps = 300;
    qt_model_cfg cfg = {.arch = QT_ARCH_MLP, .dim = 32, .ffn = 64, .ctx = T, .vocab = V};
    char err[256];
    CHECK(qt_model_cfg_check(&cfg, err, sizeof err) == 0, "%s", err);
    qt_model *m = qt_model_new(&cfg);
    qt_model_init(m, 7);
    qt_param_group group = {.params = m->params, .n_params = m->n_params, .lr = 1e-2, .weight_decay = 0.0};
    qt_optim *opt = qt_adamw_new(&group, 1, 0.9, 0.999, 1e-8);
    qt_schedule sched = qt_schedule_make(QT_SCHED_COSINE, 20, steps, 0.1);
    int32_t x[8 * 16], y[8 * 16];
    uint64_t rng = 3;
    qt_ctx ctx;
    qt_ctx_init(&ctx, 1 << 20);
    float first = 0, last = 0;
    size_t chunks_after_first = 0, reallocs_after_first = 0;
    for (int step = 0; step < steps; step++) {
        for (int b = 0; b < B; b++) {
            int t = (int)(tu_uniform(&rng) * V);
            for (int i = 0; i < T; i++) {
                x[b * T + i] = t;
                t = (5 * t + 3) % V;
                y[b * T + i] = t;
            }
        }
        qt_ctx_reset(&ctx);
        qt_zero_grad(m->params, m->n_params);
        qt_tensor *logits = qt_model_forward(&ctx, m, x, B, T);
        qt_tensor *loss = qt_cross_entropy(&ctx, logits, y);
        qt_backward(&ctx, loss, NULL);
        qt_clip_grad_norm(m->params, m->n_params, 1.0);
        qt_optim_step(opt, qt_schedule_mult(&sched, step));
        if (step == 0) {
            first = loss->data[0];
            chunks_after_first = ctx.arena.n_mallocs;
            reallocs_after_first = ctx.n_node_reallocs;
        }
        last = loss->data[0];
    }
    printf("loss %.4f -> %.4f\n", first, last);
    CHECK(fabsf(first - logf((float)V)) < 0.2f, "initial loss %.3f should be near ln %d", first, V);
    CHECK(last < 0.05f, "final loss %.4f not below 0.05", last);
    CHECK(ctx.arena.n_mallocs == chunks_after_first, "arena grew after step 1 (%zu -> %zu chunks)", chunks_after_first,
          ctx.arena.n_mallocs);
    CHECK(ctx.n_node_reallocs == reallocs_after_first, "tape grew after step 1");
    qt_ctx_free(&ctx);
    qt_optim_free(opt);
    qt_model_free(m);
    return tu_finish("test_train_mlp");
}
