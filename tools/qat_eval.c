/* qat_eval: scores token ids the way llama.cpp's perplexity does.
 * usage: qat_eval MODEL --tokens FILE --ctx N [--faithful] [--config CONFIG.json] [--quant | --no-quant]
 * MODEL is a qatc checkpoint (qat.h5, base.h5; config stored in it or --config)
 * or a GGUF file (F32/F16/BF16/Q8_0/Q4_0/Q4_1, read by qatc's own reader).
 * FILE holds whitespace-separated token ids. Consecutive chunks of N ids, each
 * from an empty context, the first id of each chunk not scored, a last partial
 * chunk of >= 2 ids scored. --faithful applies llama.cpp's rounding of matmul
 * inputs (Q8_0 / Q8_1 blocks for quantized weights, fp16 for F16 weights).
 * A checkpoint is scored quantized when it holds quantizer state (--quant:
 * RTN by the config's policy for a float checkpoint; --no-quant: the float
 * master weights). Prints one JSON line {"n_scored": ..., "nll_mean": ..., "ppl": ...}.
 *
 * usage: qat_eval MODEL --suite NAME [--samples N] [--items OUT.jsonl] [--faithful] [--config CONFIG.json]
 *                 [--quant | --no-quant]
 * Exact match of an eval suite ("arith", "recall" or a suite file) on the
 * items qat_train scores: the config's suites.* parameters, seed and
 * eval.samples (or --samples), the model as qat_train evaluates it (its
 * frozen form; --faithful: llama.cpp's deployment form). A GGUF MODEL needs
 * --config. Prints {"suite": ..., "n": ..., "correct": ..., "exact_match": ...};
 * --items writes one JSON object per item: prompt, answer, ids (the prompt
 * through the run's tokenizer), ok (0/1), margin (qt_eval_exact_match_items). */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/suites.h"
#include "data/tokenizer.h"
#include "eval/eval.h"
#include "eval/llama_ppl.h"
#include "io/export.h"
#include "qat/policy.h"
#include "run/artifacts.h"
#include "run/config.h"
#include "run/plan.h"

static int usage(const char *msg) {
    fprintf(stderr, "qat_eval: %s (usage: qat_eval MODEL --tokens FILE --ctx N | --suite NAME [--samples N] "
            "[--items OUT.jsonl]; [--faithful] [--config CONFIG.json] [--quant | --no-quant])\n", msg);
    return 1;
}

/* whitespace-separated non-negative ids; count bounded by the file size */
static int32_t *read_tokens(const char *path, long *n, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *text = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
        fclose(f);
        free(text);
        snprintf(err, errlen, "%s: read error", path);
        return NULL;
    }
    fclose(f);
    text[size] = 0;
    int32_t *ids = malloc(((size_t)size / 2 + 1) * sizeof *ids);
    long k = 0;
    char *p = text;
    while (ids) {
        while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > 2147483647L || (*end && *end != ' ' && *end != '\n' && *end != '\t' &&
                                                               *end != '\r')) {
            snprintf(err, errlen, "%s: token %ld is not a non-negative integer id", path, k);
            free(ids);
            free(text);
            return NULL;
        }
        ids[k++] = (int32_t)v;
        p = end;
    }
    free(text);
    *n = k;
    return ids;
}

/* s as a JSON string literal (control bytes escaped, other bytes as they are) */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* qat_eval MODEL --suite NAME: exact match of an eval suite, item by item */
static int suite_main(const char *model, const char *config, int quant, int faithful, const char *name, int samples,
                      const char *items) {
    char err[2048];
    qt_config cfg;
    memset(&cfg, 0, sizeof cfg);
    qt_model *d = NULL;
    size_t ml = strlen(model);
    if (ml > 5 && !strcmp(model + ml - 5, ".gguf")) {
        if (!config) {
            fprintf(stderr, "qat_eval: %s: --suite on a GGUF file needs --config (the suite's parameters)\n", model);
            return 1;
        }
        if (qt_config_load(config, &cfg, err, sizeof err)) {
            fprintf(stderr, "qat_eval: %s\n", err);
            return 1;
        }
        d = qt_import_gguf(model, err, sizeof err);
        if (d && !faithful) qt_model_clear_input_types(d);
    } else {
        qt_model *m = qt_load_qat(model, config, quant, &cfg, err, sizeof err);
        if (m) {
            d = faithful ? qt_model_deploy(m, 1) : qt_model_freeze(m);
            qt_policy_detach(m);
            qt_model_free(m);
        } else {
            memset(&cfg, 0, sizeof cfg);
        }
    }
    if (!d) {
        fprintf(stderr, "qat_eval: %s\n", err);
        qt_config_free(&cfg);
        return 1;
    }
    qd_suite s;
    qd_eval_set set = {0};
    qd_tokenizer *tok = NULL;
    int rc = 1, *ok = NULL, n = 0;
    float *margin = NULL;
    const char **prompts = NULL, **answers = NULL;
    FILE *f = NULL;
    qt_ctx c;
    qt_ctx_init(&c, 16 << 20);
    if (qt_plan_open_eval_suite(&cfg, &s, name, err, sizeof err)) goto out;
    int got = qd_suite_eval_set(&s, (uint64_t)cfg.seed, (size_t)(samples ? samples : cfg.eval.samples), &set, err,
                                sizeof err);
    qd_suite_free(&s);
    if (got || !(tok = qt_run_tokenizer(&cfg, err, sizeof err))) goto out;
    n = (int)set.n;
    ok = calloc((size_t)n + 1, sizeof *ok);
    margin = calloc((size_t)n + 1, sizeof *margin);
    prompts = calloc((size_t)n + 1, sizeof *prompts);
    answers = calloc((size_t)n + 1, sizeof *answers);
    if (!ok || !margin || !prompts || !answers) {
        snprintf(err, sizeof err, "out of memory for %d items", n);
        goto out;
    }
    for (int i = 0; i < n; i++) {
        prompts[i] = set.items[i].prompt;
        answers[i] = set.items[i].answer;
    }
    double em = qt_eval_exact_match_items(&c, d, tok, prompts, answers, n, cfg.train.batch, ok, margin);
    if (items) {
        if (!(f = fopen(items, "w"))) {
            snprintf(err, sizeof err, "%s: cannot open for writing", items);
            goto out;
        }
        for (int i = 0; i < n; i++) {
            qd_ids ids = {0};
            if (qd_tokenizer_encode(tok, prompts[i], strlen(prompts[i]), 0, &ids, err, sizeof err)) goto out;
            fputs("{\"prompt\": ", f);
            json_str(f, prompts[i]);
            fputs(", \"answer\": ", f);
            json_str(f, answers[i]);
            fputs(", \"ids\": [", f);
            for (size_t k = 0; k < ids.n; k++) fprintf(f, "%s%d", k ? ", " : "", (int)ids.v[k]);
            fprintf(f, "], \"ok\": %d, \"margin\": %.9g}\n", ok[i], margin[i]);
            qd_ids_free(&ids);
        }
        if (fclose(f)) {
            f = NULL;
            snprintf(err, sizeof err, "%s: write error", items);
            goto out;
        }
        f = NULL;
    }
    int correct = 0;
    for (int i = 0; i < n; i++) correct += ok[i];
    printf("{\"suite\": ");
    json_str(stdout, name);
    printf(", \"n\": %d, \"correct\": %d, \"exact_match\": %.17g}\n", n, correct, em);
    rc = 0;
out:
    if (rc) fprintf(stderr, "qat_eval: %s\n", err);
    if (f) fclose(f);
    free(ok);
    free(margin);
    free(prompts);
    free(answers);
    qd_eval_set_free(&set);
    qd_tokenizer_free(tok);
    qt_ctx_free(&c);
    qt_model_free(d);
    qt_config_free(&cfg);
    return rc;
}

int main(int argc, char **argv) {
    /* a file-size limit (ulimit -f) becomes a write error with a message, not a kill */
    signal(SIGXFSZ, SIG_IGN);
    const char *model = NULL, *tokens = NULL, *config = NULL, *suite = NULL, *items = NULL;
    int ctx = 0, faithful = 0, quant = -1, samples = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: qat_eval MODEL --tokens FILE --ctx N [--faithful] [--config CONFIG.json] [--quant | --no-quant]\n"
                   "       qat_eval MODEL --suite NAME [--samples N] [--items OUT.jsonl] [--faithful] [--config CONFIG.json]\n"
                   "                [--quant | --no-quant]\n");
            return 0;
        } else if (!strcmp(a, "--tokens") && has) tokens = argv[++i];
        else if (!strcmp(a, "--ctx") && has) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 2 || v > 1 << 20) return usage("--ctx: expected an integer >= 2");
            ctx = (int)v;
        } else if (!strcmp(a, "--samples") && has) {
            char *end;
            long v = strtol(argv[++i], &end, 10);
            if (*end || v < 1 || v > 1000000) return usage("--samples: expected an integer in [1, 1000000]");
            samples = (int)v;
        } else if (!strcmp(a, "--suite") && has) suite = argv[++i];
        else if (!strcmp(a, "--items") && has) items = argv[++i];
        else if (!strcmp(a, "--faithful")) faithful = 1;
        else if (!strcmp(a, "--quant")) quant = 1;
        else if (!strcmp(a, "--no-quant")) quant = 0;
        else if (!strcmp(a, "--config") && has) config = argv[++i];
        else if (a[0] == '-' || model) {
            char m[300];
            snprintf(m, sizeof m, "unexpected argument \"%s\"", a);
            return usage(m);
        } else model = a;
    }
    if (!model) return usage("missing MODEL");
    if (suite) {
        if (tokens || ctx) return usage("--suite and --tokens/--ctx exclude each other");
        return suite_main(model, config, quant, faithful, suite, samples, items);
    }
    if (samples || items) return usage("--samples and --items need --suite");
    if (!tokens) return usage("missing --tokens FILE");
    if (!ctx) return usage("missing --ctx N");
    char err[2048];
    long n = 0;
    int32_t *ids = read_tokens(tokens, &n, err, sizeof err);
    if (!ids) {
        fprintf(stderr, "qat_eval: %s\n", err);
        return 1;
    }
    qt_model *d = NULL;
    size_t ml = strlen(model);
    if (ml > 5 && !strcmp(model + ml - 5, ".gguf")) {
        d = qt_import_gguf(model, err, sizeof err);
        if (d && !faithful) qt_model_clear_input_types(d);
    } else {
        qt_config cfg;
        qt_model *m = qt_load_qat(model, config, quant, &cfg, err, sizeof err);
        if (m) {
            d = qt_model_deploy(m, faithful);
            qt_policy_detach(m);
            qt_model_free(m);
            qt_config_free(&cfg);
        }
    }
    if (!d) {
        fprintf(stderr, "qat_eval: %s\n", err);
        free(ids);
        return 1;
    }
    qt_ctx c;
    qt_ctx_init(&c, 16 << 20);
    double nll = 0;
    long scored = 0;
    int rc = qt_deploy_score(&c, d, ids, n, ctx, &nll, &scored, err, sizeof err);
    if (rc) fprintf(stderr, "qat_eval: %s: %s\n", tokens, err);
    else printf("{\"n_scored\": %ld, \"nll_mean\": %.17g, \"ppl\": %.17g}\n", scored, nll, exp(nll));
    qt_ctx_free(&c);
    qt_model_free(d);
    free(ids);
    return rc ? 1 : 0;
}
