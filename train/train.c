#include "train/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eval/eval.h"
#include "io/checkpoint.h"
#include "store/h5store.h"
#include "ops/ops.h"
#include "qat/policy.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct {
    qt_optim *opt;
    qt_tensor **params;
    int n_params;
} trainer;

static int save_ckpt(const qt_train_spec *sp, trainer *t, int64_t step, const qrng *rng, char *err, size_t errlen) {
    qt_h5w *w = qt_h5w_open(sp->ckpt_path, err, errlen);
    if (!w) return -1;
    float **m = malloc((size_t)t->n_params * sizeof *m), **v = malloc((size_t)t->n_params * sizeof *v);
    for (int i = 0; i < t->n_params; i++) {
        m[i] = qt_optim_state_m(t->opt, i);
        v[i] = qt_optim_state_v(t->opt, i);
    }
    int bad = qt_h5w_string(w, "stage", sp->stage) || qt_h5w_int(w, "step", step) ||
              qt_h5w_int(w, "opt.t", qt_optim_get_step(t->opt)) ||
              qt_h5w_u64(w, "rng", 1, (int[]){QRNG_STATE_WORDS}, rng->s) ||
              qt_h5w_string(w, "config", sp->config_json ? sp->config_json : "{}") ||
              qt_ckpt_write_params(w, t->params, t->n_params) ||
              qt_h5w_param_bufs(w, "opt.m/", t->params, m, t->n_params) ||
              qt_h5w_param_bufs(w, "opt.v/", t->params, v, t->n_params);
    free(m);
    free(v);
    if (bad) {
        snprintf(err, errlen, "%s", qt_h5w_error(w));
        qt_h5w_abort(w);
        return -1;
    }
    return qt_h5w_commit(w, err, errlen);
}

static int load_ckpt(const qt_train_spec *sp, trainer *t, int64_t *step, qrng *rng, char *err, size_t errlen) {
    qt_h5r *r = qt_h5r_open(sp->ckpt_path, err, errlen);
    if (!r) return -1;
    float **m = malloc((size_t)t->n_params * sizeof *m), **v = malloc((size_t)t->n_params * sizeof *v);
    for (int i = 0; i < t->n_params; i++) {
        m[i] = qt_optim_state_m(t->opt, i);
        v[i] = qt_optim_state_v(t->opt, i);
    }
    char *stage = qt_h5r_string(r, "stage");
    int64_t ot = 0;
    int rc = -1;
    if (!stage || strcmp(stage, sp->stage))
        snprintf(err, errlen, "%s: checkpoint of stage \"%s\", expected \"%s\"", sp->ckpt_path, stage ? stage : "?",
                 sp->stage);
    else if (qt_h5r_int(r, "step", step) || qt_h5r_int(r, "opt.t", &ot) ||
             qt_h5r_u64(r, "rng", 1, (int[]){QRNG_STATE_WORDS}, rng->s) ||
             qt_ckpt_read_params(r, t->params, t->n_params, t->n_params) ||
             qt_h5r_param_bufs(r, "opt.m/", t->params, m, t->n_params) ||
             qt_h5r_param_bufs(r, "opt.v/", t->params, v, t->n_params))
        snprintf(err, errlen, "%s", qt_h5r_error(r));
    else {
        qt_optim_set_step(t->opt, ot);
        rc = 0;
    }
    free(stage);
    free(m);
    free(v);
    qt_h5r_close(r);
    return rc;
}

static void fmt_eta(double s, char *buf, size_t n) {
    if (s < 0 || s > 1e7) snprintf(buf, n, "?");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
}

int qt_train_run(const qt_train_spec *sp, qt_train_env *env, int resume, qt_train_trace *trace, char *err,
                 size_t errlen) {
    qt_model *model = env->model;
    trainer t = {0};
    t.n_params = qt_ckpt_collect(model, &t.params, 0);
    /* groups: 2-D weights (decay), 1-D weights (no decay), quantizer params (own lr, no decay) */
    qt_tensor **g2 = malloc((size_t)t.n_params * sizeof *g2), **g1 = malloc((size_t)t.n_params * sizeof *g1),
              **gq = malloc((size_t)t.n_params * sizeof *gq);
    int n2 = 0, n1 = 0, nq = 0;
    for (int i = 0; i < t.n_params; i++) {
        if (i >= model->n_params) gq[nq++] = t.params[i];
        else if (t.params[i]->ndim >= 2) g2[n2++] = t.params[i];
        else g1[n1++] = t.params[i];
    }
    /* quantizer params grouped by the scale unit of their grid (qt_quant_scale_unit:
     * at most one group per grid), lr = scale_lr / unit, each group in collection order */
    double *pu = malloc((size_t)(nq ? nq : 1) * sizeof *pu);
    qt_tensor **gs = malloc((size_t)(nq ? nq : 1) * sizeof *gs);
    for (int i = 0; i < nq; i++) {
        pu[i] = 1.0;
        for (int j = 0; j < model->n_linears; j++) {
            const qt_quantizer *wq = model->linears[j]->wq;
            if (wq && wq->scale == gq[i]) pu[i] = qt_quant_scale_unit(&wq->spec);
        }
    }
    qt_param_group groups[2 + QT_N_GRIDS];
    int ng = 0;
    if (n2) groups[ng++] = (qt_param_group){g2, n2, sp->lr, sp->weight_decay};
    if (n1) groups[ng++] = (qt_param_group){g1, n1, sp->lr, 0.0};
    for (int i = 0, ns = 0; i < nq; i++) {
        int first = 1;
        for (int j = 0; j < i; j++) first &= pu[j] != pu[i];
        if (!first) continue; /* this unit's group is made */
        const int k0 = ns;
        for (int j = i; j < nq; j++)
            if (pu[j] == pu[i]) gs[ns++] = gq[j];
        groups[ng++] = (qt_param_group){gs + k0, ns - k0, sp->scale_lr / pu[i], 0.0};
    }
    free(pu);
    t.opt = qt_adamw_new(groups, ng, 0.9, 0.95, 1e-8);
    /* the optimizer orders params group by group: use its order from now on */
    for (int i = 0; i < t.n_params; i++) t.params[i] = qt_optim_param(t.opt, i);
    free(g2);
    free(g1);
    free(gq);
    free(gs);

    qt_schedule sched = qt_schedule_make(sp->schedule, sp->warmup < sp->steps ? sp->warmup : sp->steps, sp->steps, 0.1);
    qrng rng;
    qrng_seed_stream(&rng, sp->seed, strcmp(sp->stage, "base") ? 0x9a7 : 0xba5e);
    int64_t step = 0;
    int rc = 0;
    if (resume && access(sp->ckpt_path, F_OK) == 0) {
        if (load_ckpt(sp, &t, &step, &rng, err, errlen)) { rc = -1; goto done; }
        fprintf(stderr, "[%s] resumed from %s at step %lld\n", sp->stage, sp->ckpt_path, (long long)step);
    }
    int B = sp->batch, T = sp->T;
    int32_t *x = malloc((size_t)B * T * sizeof *x), *y = malloc((size_t)B * T * sizeof *y);
    qt_ctx ctx, ectx;
    qt_ctx_init(&ctx, 64 << 20);
    qt_ctx_recycle_grads(&ctx, 1); /* activation gradients live about a layer, not the whole step */
    qt_ctx_init(&ectx, 16 << 20);
    int tty = isatty(STDERR_FILENO);
    double t_start = now_s(), t_last = t_start;
    int64_t step0 = step, last_logged = step;
    char qerr[256];
    if (model->output.b || model->output.in_type != QT_GGML_F32 ||
        (env->teacher && (env->teacher->output.b || env->teacher->output.in_type != QT_GGML_F32))) {
        snprintf(err, errlen, "[%s] internal: the output layer has a bias or deployment input rounding, which the "
                 "fused LM-head loss does not apply", sp->stage);
        rc = -1;
    }
    while (rc == 0 && step < sp->steps) {
        if (env->stop && *env->stop) {
            if (save_ckpt(sp, &t, step, &rng, err, errlen)) { rc = -1; break; }
            fprintf(stderr, "\n[%s] interrupted: checkpoint at step %lld written to %s\n", sp->stage, (long long)step,
                    sp->ckpt_path);
            rc = 2;
            break;
        }
        if (qd_mix_batch(env->mix, B, T, &rng, x, y, NULL, qerr, sizeof qerr)) {
            snprintf(err, errlen, "%s", qerr);
            rc = -1;
            break;
        }
        qt_ctx_reset(&ctx);
        qt_zero_grad(t.params, t.n_params);
        /* the LM head and its losses in row chunks: B×T×V logits never exist whole */
        qt_tensor *hw, *h = qt_linear_input(&ctx, &model->output, qt_model_hidden(&ctx, model, x, B, T, &hw));
        qt_tensor *ce = qt_linear_cross_entropy(&ctx, h, hw, y), *loss = ce, *kd = NULL;
        if (env->teacher && sp->distill_weight > 0) {
            qt_no_grad(&ctx, 1);
            qt_tensor *thw, *th = qt_linear_input(&ctx, &env->teacher->output,
                                                  qt_model_hidden(&ctx, env->teacher, x, B, T, &thw));
            qt_no_grad(&ctx, -1);
            kd = qt_linear_kl_div(&ctx, th, thw, h, hw, (float)sp->distill_temperature);
            loss = qt_add(&ctx, ce, qt_scale(&ctx, kd, (float)sp->distill_weight));
        }
        float lv = loss->data[0];
        if (!isfinite(lv)) {
            snprintf(err, errlen, "[%s] loss is %s at step %lld; stopping (last checkpoint %s kept as it was)",
                     sp->stage, isnan(lv) ? "NaN" : "Inf", (long long)step + 1, sp->ckpt_path);
            rc = -1;
            break;
        }
        qt_backward(&ctx, loss, NULL);
        if (qt_grads_nonfinite(t.params, t.n_params)) {
            snprintf(err, errlen, "[%s] gradient is NaN/Inf at step %lld; stopping (last checkpoint %s kept as it was)",
                     sp->stage, (long long)step + 1, sp->ckpt_path);
            rc = -1;
            break;
        }
        double gnorm = sp->clip > 0 ? qt_clip_grad_norm(t.params, t.n_params, sp->clip) : qt_grad_norm(t.params, t.n_params);
        double mult = qt_schedule_mult(&sched, step);
        qt_optim_step(t.opt, mult);
        qt_policy_clamp(model);
        if (trace && trace->loss && step < trace->n) trace->loss[step] = ce->data[0];
        step++;
        int last = step == sp->steps;
        if (sp->log_every > 0 && (step % sp->log_every == 0 || last)) {
            double tnow = now_s();
            double tps = (double)(step - last_logged) * B * T / (tnow - t_last + 1e-9);
            double eta = (tnow - t_start) / (double)(step - step0) * (double)(sp->steps - step);
            char es[32];
            fmt_eta(eta, es, sizeof es);
            if (tty)
                fprintf(stderr, "\r[%s] step %lld/%d  loss %.4f%s  %.0f tok/s  ETA %s   ", sp->stage, (long long)step,
                        sp->steps, ce->data[0], kd ? " (+kd)" : "", tps, es);
            else
                fprintf(stderr, "[%s] step %lld/%d loss %.4f %.0f tok/s ETA %s\n", sp->stage, (long long)step, sp->steps,
                        ce->data[0], tps, es);
            if (env->metrics) {
                fprintf(env->metrics,
                        "{\"stage\": \"%s\", \"step\": %lld, \"loss\": %.6f, \"kd\": %.6f, \"lr\": %.6g, "
                        "\"grad_norm\": %.4f, \"tokens_per_s\": %.1f}\n",
                        sp->stage, (long long)step, ce->data[0], kd ? kd->data[0] : 0.0, sp->lr * mult, gnorm, tps);
                fflush(env->metrics);
            }
            t_last = tnow;
            last_logged = step;
        }
        if (env->val && sp->eval_every > 0 && (step % sp->eval_every == 0 || last)) {
            long n = (long)env->val->n < sp->val_tokens ? (long)env->val->n : sp->val_tokens;
            qt_lm_score s = qt_eval_lm(&ectx, model, NULL, env->val->tok, n, T, B);
            s.bpb /= qd_tokens_bytes_per_token(env->val); /* bits per byte of the text */
            if (tty) fputc('\n', stderr);
            fprintf(stderr, "[%s] step %lld val loss %.4f bpb %.4f\n", sp->stage, (long long)step, s.nll, s.bpb);
            if (env->metrics) {
                fprintf(env->metrics, "{\"stage\": \"%s\", \"step\": %lld, \"val_loss\": %.6f, \"val_bpb\": %.6f}\n",
                        sp->stage, (long long)step, s.nll, s.bpb);
                fflush(env->metrics);
            }
        }
        if ((sp->ckpt_every > 0 && step % sp->ckpt_every == 0) || last) {
            if (save_ckpt(sp, &t, step, &rng, err, errlen)) { rc = -1; break; }
        }
    }
    if (tty) fputc('\n', stderr);
    qt_ctx_free(&ctx);
    qt_ctx_free(&ectx);
    free(x);
    free(y);
done:
    qt_optim_free(t.opt);
    free(t.params);
    return rc;
}
