/* qatc report: report.json, report.md and SVG plots (see eval/report.h). */
#include "eval/report.h"

#include "base/files.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int qt_report_gate(const qt_report *r, char *msg, size_t len) {
    const qt_report_method *f = &r->methods[0], *g = &r->methods[r->gate_model];
    int n = 0;
    size_t off = 0;
    char list[2048] = "";
    for (int i = 0; i < r->n_suites; i++) {
        if (f->acc[i] - g->acc[i] > r->max_regression) {
            n++;
            if (off < sizeof list)
                off += (size_t)snprintf(list + off, sizeof list - off, " %s %.3f -> %.3f", r->suites[i], f->acc[i], g->acc[i]);
        }
    }
    if (msg && len) {
        if (n)
            snprintf(msg, len, "gate: %d suite(s) regressed by more than %.3f vs fp32 in %s:%s", n, r->max_regression,
                     g->name, list);
        else
            snprintf(msg, len, "gate: passed (%s within %.3f of fp32 on every suite)", g->name, r->max_regression);
    }
    return n;
}

static cJSON *method_json(const qt_report *r, const qt_report_method *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "val_bpb", m->val_bpb);
    cJSON_AddNumberToObject(o, "val_ppl", m->val_ppl);
    cJSON *s = cJSON_AddObjectToObject(o, "suites");
    for (int i = 0; i < r->n_suites; i++) cJSON_AddNumberToObject(s, r->suites[i], m->acc[i]);
    if (r->has_kl) {
        cJSON_AddNumberToObject(o, "kl_vs_fp32", m->kl);
        cJSON_AddNumberToObject(o, "top1_vs_fp32", m->top1);
    } else { /* not measured: never a 0 that reads as a result */
        cJSON_AddNullToObject(o, "kl_vs_fp32");
        cJSON_AddNullToObject(o, "top1_vs_fp32");
    }
    cJSON_AddNumberToObject(o, "bytes", m->bytes);
    cJSON_AddNumberToObject(o, "bits_per_weight", m->bpw);
    cJSON_AddNumberToObject(o, "seconds", m->seconds);
    if (m->init_from[0]) cJSON_AddStringToObject(o, "init_from", m->init_from);
    if (m->calib_tokens > 0) {
        cJSON *c = cJSON_AddObjectToObject(o, "calibration");
        cJSON_AddStringToObject(c, "source", m->calib_source ? m->calib_source : "");
        cJSON_AddNumberToObject(c, "tokens", m->calib_tokens);
        cJSON_AddNumberToObject(c, "sequences", m->calib_sequences);
        cJSON_AddNumberToObject(c, "seed", (double)m->calib_seed);
    }
    return o;
}

/* ---- a growing string ---- */
typedef struct {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->p ? b->p + b->n : NULL, b->p ? b->cap - b->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->p && b->n + (size_t)k < b->cap) {
            b->n += (size_t)k;
            return;
        }
        size_t cap = (b->cap + (size_t)k + 1) * 2;
        b->p = realloc(b->p, cap);
        b->cap = cap;
        if (b->n == 0) b->p[0] = 0;
    }
}

static const char *COLORS[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7"};

/* escapes &, <, > for SVG / markdown-safe text */
static void sb_esc(sbuf *b, const char *s) {
    for (; *s; s++) {
        if (*s == '&') sb_printf(b, "&amp;");
        else if (*s == '<') sb_printf(b, "&lt;");
        else if (*s == '>') sb_printf(b, "&gt;");
        else sb_printf(b, "%c", *s);
    }
}

static void bar_chart(sbuf *b, const char *title, const char *ylabel, const qt_report_method *m, int n,
                      const double *v, double ymax) {
    const int W = 120 + 90 * n, H = 340, x0 = 70, y0 = 40, ph = 230;
    if (!(ymax > 0)) ymax = 1.0;
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                 "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    sb_printf(b, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">", x0);
    sb_esc(b, title);
    sb_printf(b, "</text>\n");
    sb_printf(b, "<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" text-anchor=\"middle\">%s</text>\n",
              y0 + ph / 2, y0 + ph / 2, ylabel);
    for (int t = 0; t <= 4; t++) {
        double yv = ymax * t / 4;
        int y = y0 + ph - (int)lrint(ph * t / 4.0);
        sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ddd\"/>\n", x0, y, W - 20, y);
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.3g</text>\n", x0 - 4, y + 4, yv);
    }
    for (int i = 0; i < n; i++) {
        double h = v[i] / ymax * ph;
        if (h < 0) h = 0;
        int x = x0 + 20 + 90 * i;
        sb_printf(b, "<rect x=\"%d\" y=\"%.1f\" width=\"60\" height=\"%.1f\" fill=\"%s\"/>\n", x, y0 + ph - h, h,
                  COLORS[i % 8]);
        sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"middle\">%.3f</text>\n", x + 30, y0 + ph - h - 4, v[i]);
        sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", x + 30, y0 + ph + 18);
        sb_esc(b, m[i].name);
        sb_printf(b, "</text>\n");
    }
    sb_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"black\"/>\n</svg>\n", x0, y0 + ph, W - 20, y0 + ph);
}

typedef struct {
    double step, v;
} pt;

/* QAT curves from metrics.jsonl: train loss (bits) and val_bpb per stage starting with "qat" */
static void loss_chart(sbuf *b, const qt_report *r, const char *metrics_path) {
    char *text = NULL;
    size_t len = 0;
    char qerr[256];
    enum { MAXS = 4 };
    char stages[MAXS][32];
    pt *tr[MAXS] = {0}, *va[MAXS] = {0};
    int ntr[MAXS] = {0}, nva[MAXS] = {0}, ns = 0;
    if (metrics_path && qt_read_file(metrics_path, &text, &len, qerr, sizeof qerr) == 0) {
        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            cJSON *j = cJSON_Parse(line);
            const cJSON *st = cJSON_GetObjectItemCaseSensitive(j, "stage"), *sp = cJSON_GetObjectItemCaseSensitive(j, "step");
            if (cJSON_IsString(st) && !strncmp(st->valuestring, "qat", 3) && cJSON_IsNumber(sp)) {
                int k = 0;
                while (k < ns && strcmp(stages[k], st->valuestring)) k++;
                if (k == ns && ns < MAXS) snprintf(stages[ns++], sizeof stages[0], "%s", st->valuestring);
                if (k < ns) {
                    const cJSON *lo = cJSON_GetObjectItemCaseSensitive(j, "loss"), *vb = cJSON_GetObjectItemCaseSensitive(j, "val_bpb");
                    if (cJSON_IsNumber(lo)) {
                        tr[k] = realloc(tr[k], (size_t)(ntr[k] + 1) * sizeof *tr[k]);
                        tr[k][ntr[k]++] = (pt){sp->valuedouble, lo->valuedouble / log(2.0)};
                    }
                    if (cJSON_IsNumber(vb)) {
                        va[k] = realloc(va[k], (size_t)(nva[k] + 1) * sizeof *va[k]);
                        va[k][nva[k]++] = (pt){sp->valuedouble, vb->valuedouble};
                    }
                }
            }
            cJSON_Delete(j);
        }
        free(text);
    }
    double xmax = 1, ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < ns; k++) {
        for (int i = 0; i < ntr[k]; i++) {
            xmax = fmax(xmax, tr[k][i].step);
            ymin = fmin(ymin, tr[k][i].v);
            ymax = fmax(ymax, tr[k][i].v);
        }
        for (int i = 0; i < nva[k]; i++) {
            xmax = fmax(xmax, va[k][i].step);
            ymin = fmin(ymin, va[k][i].v);
            ymax = fmax(ymax, va[k][i].v);
        }
    }
    if (r->has_text)
        for (int i = 0; i < r->n_methods; i++) {
            ymin = fmin(ymin, r->methods[i].val_bpb);
            ymax = fmax(ymax, r->methods[i].val_bpb);
        }
    if (!(ymax > ymin)) { ymin = isfinite(ymin) ? ymin - 0.5 : 0; ymax = ymin + 1; }
    double pad = 0.05 * (ymax - ymin);
    ymin -= pad;
    ymax += pad;
    const int W = 760, H = 420, x0 = 70, y0 = 40, pw = 480, ph = 320;
#define SX(x) (x0 + (x) / xmax * pw)
#define SY(y) (y0 + ph - ((y) - ymin) / (ymax - ymin) * ph)
    sb_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
                 "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", W, H);
    sb_printf(b, "<text x=\"%d\" y=\"22\" font-size=\"15\" font-weight=\"bold\">QAT loss (bits per byte) vs PTQ levels</text>\n", x0);
    for (int t = 0; t <= 5; t++) {
        double yv = ymin + (ymax - ymin) * t / 5;
        sb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", x0, SY(yv), x0 + pw, SY(yv));
        sb_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3f</text>\n", x0 - 4, SY(yv) + 4, yv);
        double xv = xmax * t / 5;
        sb_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.0f</text>\n", SX(xv), y0 + ph + 16, xv);
    }
    sb_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">step</text>\n", x0 + pw / 2, y0 + ph + 34);
    int ly = y0 + 10;
    if (r->has_text)
        for (int i = 0; i < r->n_methods; i++) {
            if (!strncmp(r->methods[i].name, "qat", 3)) continue;
            double y = SY(r->methods[i].val_bpb);
            sb_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\" stroke-dasharray=\"6 4\"/>\n", x0, y,
                      x0 + pw, y, COLORS[i % 8]);
            sb_printf(b, "<text x=\"%d\" y=\"%d\" fill=\"%s\">-- ", x0 + pw + 10, ly, COLORS[i % 8]);
            sb_esc(b, r->methods[i].name);
            sb_printf(b, " val %.4f</text>\n", r->methods[i].val_bpb);
            ly += 16;
        }
    for (int k = 0; k < ns; k++) {
        const char *col = k == 0 ? "#222" : "#8c564b";
        if (ntr[k]) {
            sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1\" opacity=\"0.6\" points=\"", col);
            for (int i = 0; i < ntr[k]; i++) sb_printf(b, "%.1f,%.1f ", SX(tr[k][i].step), SY(tr[k][i].v));
            sb_printf(b, "\"/>\n");
        }
        if (nva[k]) {
            sb_printf(b, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\" points=\"", col);
            for (int i = 0; i < nva[k]; i++) sb_printf(b, "%.1f,%.1f ", SX(va[k][i].step), SY(va[k][i].v));
            sb_printf(b, "\"/>\n");
            for (int i = 0; i < nva[k]; i++)
                sb_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>\n", SX(va[k][i].step), SY(va[k][i].v), col);
        }
        sb_printf(b, "<text x=\"%d\" y=\"%d\" fill=\"%s\">", x0 + pw + 10, ly, col);
        sb_esc(b, stages[k]);
        sb_printf(b, ": train (thin), val (thick)</text>\n");
        ly += 16;
        free(tr[k]);
        free(va[k]);
    }
    sb_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"black\"/>\n</svg>\n", x0, y0, pw, ph);
#undef SX
#undef SY
}

static void suite_file(char *buf, size_t n, const char *dir, const char *suite) {
    char safe[96];
    size_t k = 0;
    const char *base = strrchr(suite, '/');
    base = base ? base + 1 : suite;
    for (; *base && k + 1 < sizeof safe; base++)
        safe[k++] = ((*base >= 'a' && *base <= 'z') || (*base >= 'A' && *base <= 'Z') || (*base >= '0' && *base <= '9') ||
                     *base == '-' || *base == '_') ? *base : '_';
    safe[k] = 0;
    snprintf(buf, n, "%s/suite_%s.svg", dir, safe);
}

int qt_report_write(const qt_report *r, const char *metrics_path, char *err, size_t errlen) {
    char gate_msg[2300];
    int regressed = qt_report_gate(r, gate_msg, sizeof gate_msg);
    /* report.json */
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "qatc_version", QATC_VERSION);
    cJSON_AddItemToObject(root, "config", r->config ? cJSON_Duplicate(r->config, 1) : cJSON_CreateNull());
    cJSON *methods = cJSON_AddObjectToObject(root, "methods");
    for (int i = 0; i < r->n_methods; i++) cJSON_AddItemToObject(methods, r->methods[i].name, method_json(r, &r->methods[i]));
    cJSON *gate = cJSON_AddObjectToObject(root, "gate");
    const qt_report_method *g = &r->methods[r->gate_model], *f = &r->methods[0];
    cJSON_AddStringToObject(gate, "model", g->name);
    cJSON_AddNumberToObject(gate, "max_regression", r->max_regression);
    cJSON *regs = cJSON_AddArrayToObject(gate, "regressions");
    for (int i = 0; i < r->n_suites; i++)
        if (f->acc[i] - g->acc[i] > r->max_regression) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "suite", r->suites[i]);
            cJSON_AddNumberToObject(o, "fp32", f->acc[i]);
            cJSON_AddNumberToObject(o, g->name, g->acc[i]);
            cJSON_AddItemToArray(regs, o);
        }
    cJSON_AddBoolToObject(gate, "passed", regressed == 0);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    char path[1100], dir[1100];
    snprintf(path, sizeof path, "%s/report.json", r->out_dir);
    sbuf js = {0};
    sb_printf(&js, "%s\n", text);
    free(text);
    int rc = qt_write_file_atomic(path, js.p, strlen(js.p), err, errlen);
    free(js.p);
    if (rc) return -1;

    /* plots */
    snprintf(dir, sizeof dir, "%s/plots", r->out_dir);
    if (qt_mkdirs(dir, err, errlen)) return -1;
    double *v = malloc((size_t)r->n_methods * sizeof *v);
    for (int s = 0; s < r->n_suites && !rc; s++) {
        for (int i = 0; i < r->n_methods; i++) v[i] = r->methods[i].acc[s];
        char title[160];
        snprintf(title, sizeof title, "%s: exact match", r->suites[s]);
        sbuf b = {0};
        bar_chart(&b, title, "exact match", r->methods, r->n_methods, v, 1.0);
        suite_file(path, sizeof path, dir, r->suites[s]);
        rc = qt_write_file_atomic(path, b.p, strlen(b.p), err, errlen);
        free(b.p);
    }
    if (r->has_text && !rc) {
        double mx = 0;
        for (int i = 0; i < r->n_methods; i++) mx = fmax(mx, v[i] = r->methods[i].val_bpb);
        sbuf b = {0};
        bar_chart(&b, "validation bits per byte (lower is better)", "bits per byte", r->methods, r->n_methods, v, mx * 1.1);
        snprintf(path, sizeof path, "%s/val_bpb.svg", dir);
        rc = qt_write_file_atomic(path, b.p, strlen(b.p), err, errlen);
        free(b.p);
    }
    free(v);
    if (!rc) {
        sbuf b = {0};
        loss_chart(&b, r, metrics_path);
        snprintf(path, sizeof path, "%s/qat_loss.svg", dir);
        rc = qt_write_file_atomic(path, b.p, strlen(b.p), err, errlen);
        free(b.p);
    }
    if (rc) return -1;

    /* report.md */
    sbuf md = {0};
    sb_printf(&md, "# qatc report: PTQ vs QAT\n\n");
    if (r->quant_summary)
        sb_printf(&md, "%s. Exact match per suite, KL and top-1 agreement against FP32 on the validation text.\n\n",
                  r->quant_summary);
    sb_printf(&md, "| method | MB | bits/weight | val bpb | val ppl |");
    for (int s = 0; s < r->n_suites; s++) {
        sb_printf(&md, " ");
        sb_esc(&md, r->suites[s]);
        sb_printf(&md, " |");
    }
    sb_printf(&md, " KL vs fp32 | top-1 vs fp32 | seconds |\n|---|---:|---:|---:|---:|");
    for (int s = 0; s < r->n_suites; s++) sb_printf(&md, "---:|");
    sb_printf(&md, "---:|---:|---:|\n");
    for (int i = 0; i < r->n_methods; i++) {
        const qt_report_method *m = &r->methods[i];
        sb_printf(&md, "| %s%s%s%s | %.3f | %.3f | ", m->name, m->init_from[0] ? " (from " : "", m->init_from,
                  m->init_from[0] ? ")" : "", m->bytes / 1e6, m->bpw);
        if (r->has_text)
            sb_printf(&md, "%.4f | %.3f |", m->val_bpb, m->val_ppl);
        else
            sb_printf(&md, "- | - |");
        for (int s = 0; s < r->n_suites; s++) sb_printf(&md, " %.3f |", m->acc[s]);
        if (r->has_kl) sb_printf(&md, " %.4f | %.3f |", m->kl, m->top1);
        else sb_printf(&md, " – | – |");
        sb_printf(&md, " %.1f |\n", m->seconds);
    }
    sb_printf(&md, "\n**Gate** (max regression %.3f vs fp32, model `%s`): %s\n\n", r->max_regression, g->name,
              regressed ? "FAILED" : "passed");
    if (regressed) {
        sb_printf(&md, "%s\n\n", gate_msg);
    }
    int any_calib = 0;
    for (int i = 0; i < r->n_methods; i++) any_calib |= r->methods[i].calib_tokens > 0;
    if (any_calib) {
        sb_printf(&md, "Calibration:");
        for (int i = 0; i < r->n_methods; i++)
            if (r->methods[i].calib_tokens > 0)
                sb_printf(&md, " %s %d tokens (%d sequences) from %s, seed %lld;", r->methods[i].name,
                          r->methods[i].calib_tokens, r->methods[i].calib_sequences,
                          r->methods[i].calib_source ? r->methods[i].calib_source : "?", r->methods[i].calib_seed);
        sb_printf(&md, "\n\n");
    }
    sb_printf(&md, "## Plots\n\n");
    if (r->has_text) sb_printf(&md, "![val bits per byte](plots/val_bpb.svg)\n\n");
    sb_printf(&md, "![QAT loss](plots/qat_loss.svg)\n\n");
    for (int s = 0; s < r->n_suites; s++) {
        suite_file(path, sizeof path, "plots", r->suites[s]);
        sb_printf(&md, "![%s](%s)\n\n", r->suites[s], path);
    }
    snprintf(path, sizeof path, "%s/report.md", r->out_dir);
    rc = qt_write_file_atomic(path, md.p, strlen(md.p), err, errlen);
    free(md.p);
    return rc;
}
