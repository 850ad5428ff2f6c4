/* The comparison report and its gate: a suite whose exact match drops by
 * more than max_regression below fp32 in the gated model is named in the
 * message and in report.json's gate (passed false), report.md says FAILED,
 * the plots are written (one per suite, val bpb, the QAT loss curve from
 * metrics.jsonl with the PTQ levels); a drop within the limit passes. The
 * pipeline maps a failed gate to QT_EXIT_REGRESSION (3). */
#include <cjson/cJSON.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/files.h"
#include "eval/report.h"
#include "test_util.h"
#include "run/pipeline.h"

static char *slurp(const char *path) {
    char *t = NULL, e[256];
    size_t n = 0;
    if (qt_read_file(path, &t, &n, e, sizeof e)) return NULL;
    return t;
}

static void rm_tree(const char *dir) {
    const char *files[] = {"report.json", "report.md", "metrics.jsonl", "plots/suite_arith.svg",
                           "plots/suite_recall.svg", "plots/val_bpb.svg", "plots/qat_loss.svg", "plots", NULL};
    char p[700];
    for (int i = 0; files[i]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        remove(p);
    }
    remove(dir);
}

int main(void) {
    CHECK(QT_EXIT_REGRESSION == 3, "documented exit code of a failed gate is 3, got %d", QT_EXIT_REGRESSION);
    char dir[512], path[700], err[256], msg[1024];
    tu_tmpdir(dir, sizeof dir);
    qt_report_method m[4];
    memset(m, 0, sizeof m);
    const char *names[4] = {"fp32", "rtn", "gptq", "qat"};
    const double arith[4] = {0.80, 0.50, 0.60, 0.70}, recall[4] = {0.50, 0.40, 0.45, 0.49};
    for (int i = 0; i < 4; i++) {
        snprintf(m[i].name, sizeof m[i].name, "%s", names[i]);
        m[i].acc[0] = arith[i];
        m[i].acc[1] = recall[i];
        m[i].val_bpb = 1.5 + 0.1 * (i == 1) + 0.05 * (i == 2) + 0.02 * (i == 3);
        m[i].val_ppl = exp2(m[i].val_bpb);
        m[i].bpw = i ? 4.5 : 32;
        m[i].bytes = 1e6;
    }
    m[3].kl = 0.03;
    m[3].top1 = 0.9;
    m[2].calib_tokens = 4096;
    m[2].calib_sequences = 16;
    m[2].calib_source = "train";
    m[2].calib_seed = 7;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    FILE *f = fopen(path, "w");
    fprintf(f, "{\"stage\": \"base\", \"step\": 10, \"loss\": 2.0}\n");
    for (int s = 10; s <= 100; s += 10) fprintf(f, "{\"stage\": \"qat\", \"step\": %d, \"loss\": %.3f, \"kd\": 0}\n", s, 1.2 - s * 0.001);
    fprintf(f, "{\"stage\": \"qat\", \"step\": 100, \"val_loss\": 1.04, \"val_bpb\": 1.5}\n");
    fclose(f);
    qt_report r = {.config = NULL, .out_dir = dir, .suites = {"arith", "recall"}, .n_suites = 2, .has_text = 1,
                   .methods = m, .n_methods = 4, .gate_model = 3, .max_regression = 0.05};

    /* failing gate: arith drops 0.10 > 0.05, recall 0.01 */
    int n = qt_report_gate(&r, msg, sizeof msg);
    CHECK(n == 1, "regressed suites %d, expected 1", n);
    CHECK(strstr(msg, "1 suite(s) regressed by more than 0.050 vs fp32 in qat") && strstr(msg, "arith 0.800 -> 0.700") &&
              !strstr(msg, "recall"),
          "message: %s", msg);
    CHECK(qt_report_write(&r, path, err, sizeof err) == 0, "write: %s", err);
    snprintf(path, sizeof path, "%s/report.json", dir);
    char *js = slurp(path);
    cJSON *root = js ? cJSON_Parse(js) : NULL;
    CHECK(root != NULL, "report.json unreadable");
    if (root) {
        const cJSON *methods = cJSON_GetObjectItemCaseSensitive(root, "methods");
        CHECK(cJSON_GetArraySize(methods) == 4, "methods %d", cJSON_GetArraySize(methods));
        const cJSON *q = cJSON_GetObjectItemCaseSensitive(methods, "qat");
        const char *keys[] = {"val_bpb", "val_ppl", "suites", "kl_vs_fp32", "top1_vs_fp32", "bytes", "bits_per_weight", "seconds"};
        for (int k = 0; k < 8; k++) CHECK(cJSON_GetObjectItemCaseSensitive(q, keys[k]) != NULL, "qat row lacks %s", keys[k]);
        /* "kl" was not among the suites: not measured, so null, never a 0 that reads as a result */
        CHECK(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(q, "kl_vs_fp32")) &&
                  cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(q, "top1_vs_fp32")),
              "kl / top-1 not measured but written as numbers");
        const cJSON *cal = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(methods, "gptq"), "calibration");
        CHECK(cal && cJSON_GetObjectItemCaseSensitive(cal, "tokens")->valuedouble == 4096, "gptq calibration record");
        const cJSON *gate = cJSON_GetObjectItemCaseSensitive(root, "gate");
        CHECK(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(gate, "passed")), "gate should fail");
        const cJSON *regs = cJSON_GetObjectItemCaseSensitive(gate, "regressions");
        CHECK(cJSON_GetArraySize(regs) == 1 &&
                  !strcmp(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(regs, 0), "suite")->valuestring, "arith"),
              "regressions list");
        CHECK(!strcmp(cJSON_GetObjectItemCaseSensitive(gate, "model")->valuestring, "qat"), "gate model");
        CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "qatc_version")), "qatc_version");
    }
    cJSON_Delete(root);
    free(js);
    snprintf(path, sizeof path, "%s/report.md", dir);
    char *md = slurp(path);
    CHECK(md && strstr(md, "FAILED") && strstr(md, "| gptq |") && strstr(md, "plots/suite_arith.svg"), "report.md");
    CHECK(md && strstr(md, " – | – |") && !strstr(md, "0.0300 |"), "report.md shows unmeasured KL / top-1 as numbers");
    free(md);
    /* measured: numbers in both files */
    r.has_kl = 1;
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    CHECK(qt_report_write(&r, path, err, sizeof err) == 0, "write: %s", err);
    snprintf(path, sizeof path, "%s/report.json", dir);
    js = slurp(path);
    root = js ? cJSON_Parse(js) : NULL;
    const cJSON *kl = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "methods"), "qat"), "kl_vs_fp32");
    CHECK(cJSON_IsNumber(kl) && kl->valuedouble == 0.03, "measured KL not in report.json");
    cJSON_Delete(root);
    free(js);
    snprintf(path, sizeof path, "%s/report.md", dir);
    md = slurp(path);
    CHECK(md && strstr(md, " 0.0300 |") && !strstr(md, " – | – |"), "report.md lacks the measured KL");
    free(md);
    r.has_kl = 0;
    const char *plots[] = {"suite_arith", "suite_recall", "val_bpb", "qat_loss"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/plots/%s.svg", dir, plots[i]);
        char *svg = slurp(path);
        CHECK(svg && !strncmp(svg, "<svg", 4) && strstr(svg, "</svg>"), "%s.svg", plots[i]);
        if (svg && i == 3)   /* loss curve and a dashed level line per non-QAT method */
            CHECK(strstr(svg, "<polyline") && strstr(svg, "gptq val 1.5500") && strstr(svg, "stroke-dasharray"),
                  "qat_loss.svg lacks the curve or the PTQ levels");
        free(svg);
    }

    /* within the limit: passes */
    m[3].acc[0] = 0.76;
    n = qt_report_gate(&r, msg, sizeof msg);
    CHECK(n == 0 && strstr(msg, "passed"), "gate within limit: %d %s", n, msg);
    /* a drop exactly at the limit passes; just above fails (the comparison is strict) */
    m[3].acc[0] = 0.80 - 0.25;
    r.max_regression = 0.25;
    CHECK(qt_report_gate(&r, NULL, 0) == 0, "drop equal to max_regression must pass");
    m[3].acc[0] = 0.80 - 0.26;
    CHECK(qt_report_gate(&r, NULL, 0) == 1, "drop above max_regression must fail");
    rm_tree(dir);
    return tu_finish("test_gate");
}
