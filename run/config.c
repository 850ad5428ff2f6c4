/* qatc config: the table-driven validator, the effective-config writer and
 * the docs generator, all walking qt_cfg_schema (run/config_schema.c). */
#include "run/config.h"

#include "quant/ggml_blocks.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "run/config_schema.h"

#include "data/tokenizer.h"
#include "io/export.h"

/* Enum fields are read and written through int *. */
_Static_assert(sizeof(qt_arch) == sizeof(int) &&
               sizeof(qt_schedule_kind) == sizeof(int) && sizeof(qt_grid) == sizeof(int) &&
               sizeof(qt_cfg_scale) == sizeof(int) && sizeof(qt_scale_init) == sizeof(int) &&
               sizeof(qt_act_mode) == sizeof(int) && sizeof(qt_cfg_ptq_method) == sizeof(int) &&
               sizeof(qt_cfg_export_format) == sizeof(int) && sizeof(qt_cfg_gptq_format) == sizeof(int),
               "config enums must be int-sized");

#define PATH_MAX_LEN 1024

typedef struct {
    const char *name;   /* file name in messages */
    unsigned flags;     /* QT_CONFIG_* */
    char *err;
    size_t errlen;
} vctx;

static int fail(vctx *c, const char *fmt, ...) {
    if (c->err && c->errlen) {
        int n = snprintf(c->err, c->errlen, "%s: ", c->name);
        if (n >= 0 && (size_t)n < c->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
        /* keys and paths come from the file: keep the message on one line */
        for (char *p = c->err; *p; p++)
            if ((unsigned char)*p < 32 || *p == 127) *p = '?';
    }
    return -1;
}

/* ---- schema lookups ---- */

/* Length of the parent part of a schema path ("a.b.c" -> 3), 0 at top level. */
static size_t parent_len(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? (size_t)(dot - path) : 0;
}

static const char *key_of(const char *path) {
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static int is_child(const qt_cfg_field *f, const char *parent) {
    size_t n = parent_len(f->path);
    return n == strlen(parent) && strncmp(f->path, parent, n) == 0;
}

static const qt_cfg_field *find_child(const char *parent, const char *key) {
    for (size_t i = 0; i < qt_cfg_schema_len; i++) {
        const qt_cfg_field *f = &qt_cfg_schema[i];
        if (is_child(f, parent) && strcmp(key_of(f->path), key) == 0) return f;
    }
    return NULL;
}

static const qt_cfg_field *find_path(const char *path) {
    for (size_t i = 0; i < qt_cfg_schema_len; i++)
        if (strcmp(qt_cfg_schema[i].path, path) == 0) return &qt_cfg_schema[i];
    return NULL;
}

/* Position of f among the fields of its parent (the bit of a partial mask). */
static unsigned sibling_index(const qt_cfg_field *f) {
    unsigned k = 0;
    for (const qt_cfg_field *g = qt_cfg_schema; g < f; g++)
        if (parent_len(g->path) == parent_len(f->path) &&
            strncmp(g->path, f->path, parent_len(f->path)) == 0)
            k++;
    return k;
}

static size_t n_choices(const char *const *ch) {
    size_t n = 0;
    while (ch && ch[n]) n++;
    return n;
}

/* Schema path of the items of an OBJLIST field: "<path>[]". */
static void item_path(const qt_cfg_field *f, char *buf, size_t len) {
    snprintf(buf, len, "%s[]", f->path);
}

/* ---- formatting ---- */

/* Shortest text that reads back as v; integers without exponent. */
static void fmt_num(double v, char *buf, size_t len) {
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(buf, len, "%.0f", v);
        return;
    }
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

/* The value as the user wrote it (strings quoted, truncated). */
static void fmt_got(const cJSON *v, char *buf, size_t len) {
    if (cJSON_IsNumber(v)) {
        fmt_num(v->valuedouble, buf, len);
    } else if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        size_t n = strlen(s), k = 0, max = 48;
        char tmp[64];
        for (size_t i = 0; i < n && i < max; i++)
            tmp[k++] = (s[i] >= 32 && s[i] != 127) ? s[i] : '?';
        tmp[k] = 0;
        snprintf(buf, len, "\"%s%s\"", tmp, n > max ? "..." : "");
    } else if (cJSON_IsTrue(v)) {
        snprintf(buf, len, "true");
    } else if (cJSON_IsFalse(v)) {
        snprintf(buf, len, "false");
    } else if (cJSON_IsNull(v)) {
        snprintf(buf, len, "null");
    } else if (cJSON_IsArray(v)) {
        snprintf(buf, len, "an array");
    } else if (cJSON_IsObject(v)) {
        snprintf(buf, len, "an object");
    } else {
        snprintf(buf, len, "an invalid value");
    }
}

/* "[2, 8]", "(0, 0.5]", "> 0", ">= 0" or "" for a numeric field. */
static void fmt_range(const qt_cfg_field *f, char *buf, size_t len) {
    char lo[32], hi[32];
    fmt_num(f->min, lo, sizeof lo);
    fmt_num(f->max, hi, sizeof hi);
    if ((f->flags & QT_F_MIN) && (f->flags & QT_F_MAX))
        snprintf(buf, len, "%c%s, %s%c", (f->flags & QT_F_MIN_OPEN) ? '(' : '[', lo, hi,
                 (f->flags & QT_F_MAX_OPEN) ? ')' : ']');
    else if (f->flags & QT_F_MIN)
        snprintf(buf, len, "%s %s", (f->flags & QT_F_MIN_OPEN) ? ">" : ">=", lo);
    else if (f->flags & QT_F_MAX)
        snprintf(buf, len, "%s %s", (f->flags & QT_F_MAX_OPEN) ? "<" : "<=", hi);
    else
        buf[0] = 0;
}

/* '"a", "b", "c"' (each in backticks when md) */
static void fmt_choices_md(const char *const *ch, char *buf, size_t len, int md) {
    size_t k = 0;
    buf[0] = 0;
    for (size_t i = 0; ch && ch[i] && k < len; i++) {
        int n = snprintf(buf + k, len - k, md ? "%s`\"%s\"`" : "%s\"%s\"", i ? ", " : "", ch[i]);
        if (n < 0) break;
        k += (size_t)n;
    }
}

static void fmt_choices(const char *const *ch, char *buf, size_t len) {
    fmt_choices_md(ch, buf, len, 0);
}

/* What a field expects, for "expected <this>, got ...". */
static void fmt_expect(const qt_cfg_field *f, char *buf, size_t len) {
    char r[128];
    switch (f->type) {
    case QT_FT_INT:
    case QT_FT_NUM:
        fmt_range(f, r, sizeof r);
        snprintf(buf, len, "%s%s%s", f->type == QT_FT_INT ? "an integer" : "a number",
                 r[0] ? (r[0] == '[' || r[0] == '(' ? " in " : " ") : "", r);
        break;
    case QT_FT_BOOL: snprintf(buf, len, "true or false"); break;
    case QT_FT_STR:
    case QT_FT_PATH: snprintf(buf, len, "a non-empty string"); break;
    case QT_FT_ENUM:
        fmt_choices(f->choices, r, sizeof r);
        snprintf(buf, len, "one of %s", r);
        break;
    case QT_FT_OBJ:
    case QT_FT_MAP: snprintf(buf, len, "an object"); break;
    case QT_FT_STRLIST:
    case QT_FT_SUITES: snprintf(buf, len, "an array of strings"); break;
    case QT_FT_OBJLIST:
        snprintf(buf, len, "%s of %s", (f->flags & QT_F_NONEMPTY) ? "a non-empty array" : "an array",
                 f->sub ? "strings or objects" : "objects");
        break;
    }
}

static int fail_expect(vctx *c, const qt_cfg_field *f, const char *dpath, const cJSON *got) {
    char e[256], g[96];
    fmt_expect(f, e, sizeof e);
    fmt_got(got, g, sizeof g);
    return fail(c, "key \"%s\": expected %s, got %s", dpath, e, g);
}

/* Optimal string alignment distance (edits incl. adjacent swaps); strings
 * longer than 63 characters count as far from everything. */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n > 63 || m > 63) return 1 << 20;
    int d[64][64];
    for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

static void join_path(char *buf, size_t len, const char *dpath, const char *key) {
    snprintf(buf, len, "%s%s%s", dpath, dpath[0] ? "." : "", key);
}

static int fail_unknown(vctx *c, const char *spath, const char *dpath, const char *key) {
    const qt_cfg_field *best = NULL;
    int bestd = 1 << 30;
    char known[512];
    size_t k = 0;
    known[0] = 0;
    for (size_t i = 0; i < qt_cfg_schema_len; i++) {
        const qt_cfg_field *f = &qt_cfg_schema[i];
        if (!is_child(f, spath)) continue;
        int d = edit_distance(key, key_of(f->path));
        if (d < bestd) bestd = d, best = f;
        if (k < sizeof known) {
            int n = snprintf(known + k, sizeof known - k, "%s%s", k ? ", " : "", key_of(f->path));
            if (n > 0) k += (size_t)n;
        }
    }
    char full[PATH_MAX_LEN], sugg[PATH_MAX_LEN];
    join_path(full, sizeof full, dpath, key);
    int klen = (int)strlen(key);
    if (best && bestd < klen && bestd <= (klen / 3 > 2 ? klen / 3 : 2)) {
        join_path(sugg, sizeof sugg, dpath, key_of(best->path));
        return fail(c, "unknown key \"%s\" (did you mean \"%s\"?)", full, sugg);
    }
    return fail(c, "unknown key \"%s\" (known keys here: %s)", full, known);
}

/* ---- validation ---- */

static int fill_object(vctx *c, const cJSON *obj, const char *spath, const char *dpath, void *base,
                       unsigned *mask);

static int check_file(vctx *c, const char *dpath, const char *path, int dir_ok) {
    if (c->flags & QT_CONFIG_NO_FILE_CHECKS) return 0;
    struct stat st;
    if (stat(path, &st) != 0) return fail(c, "key \"%s\": file \"%s\" not found", dpath, path);
    if (S_ISDIR(st.st_mode) && !dir_ok)
        return fail(c, "key \"%s\": \"%s\" is a directory, expected a file", dpath, path);
    int fd = open(path, O_RDONLY | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
    if (fd < 0) return fail(c, "key \"%s\": \"%s\" cannot be read: %s", dpath, path, strerror(errno));
    close(fd);
    return 0;
}

static int in_range(const qt_cfg_field *f, double v) {
    if (f->flags & QT_F_MIN) {
        if ((f->flags & QT_F_MIN_OPEN) ? !(v > f->min) : !(v >= f->min)) return 0;
    }
    if (f->flags & QT_F_MAX) {
        if ((f->flags & QT_F_MAX_OPEN) ? !(v < f->max) : !(v <= f->max)) return 0;
    }
    return 1;
}

static char *dup_str(vctx *c, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) {
        fail(c, "out of memory");
        return NULL;
    }
    memcpy(d, s, n);
    return d;
}

static int fill_strlist(vctx *c, const qt_cfg_field *f, const cJSON *v, const char *dpath, qt_cfg_strlist *l) {
    if (!cJSON_IsArray(v)) return fail_expect(c, f, dpath, v);
    int n = cJSON_GetArraySize(v);
    l->v = calloc(n > 0 ? (size_t)n : 1, sizeof *l->v);
    if (!l->v) return fail(c, "out of memory");
    l->n = 0;
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char ip[PATH_MAX_LEN], g[96];
        snprintf(ip, sizeof ip, "%s[%d]", dpath, i);
        if (!cJSON_IsString(it) || !it->valuestring[0]) {
            fmt_got(it, g, sizeof g);
            return fail(c, "key \"%s\": expected a non-empty string, got %s", ip, g);
        }
        if (f->type == QT_FT_SUITES) {
            int known = 0;
            for (size_t k = 0; f->choices[k]; k++) known |= strcmp(f->choices[k], it->valuestring) == 0;
            size_t sl = strlen(it->valuestring);
            if (!known) {
                if (sl > 6 && strcmp(it->valuestring + sl - 6, ".jsonl") == 0) {
                    if (check_file(c, ip, it->valuestring, 0)) return -1;
                } else {
                    char ch[256];
                    fmt_choices(f->choices, ch, sizeof ch);
                    fmt_got(it, g, sizeof g);
                    return fail(c, "key \"%s\": expected one of %s or a path to a .jsonl file, got %s", ip, ch, g);
                }
            }
        }
        if (!(l->v[l->n] = dup_str(c, it->valuestring))) return -1;
        l->n++;
    }
    return 0;
}

static int fill_objlist(vctx *c, const qt_cfg_field *f, const cJSON *v, const char *dpath, void *parent) {
    if (!cJSON_IsArray(v)) return fail_expect(c, f, dpath, v);
    int n = cJSON_GetArraySize(v);
    if (n == 0 && (f->flags & QT_F_NONEMPTY)) return fail_expect(c, f, dpath, v);
    char *items = calloc(n > 0 ? (size_t)n : 1, f->item_size);
    if (!items) return fail(c, "out of memory");
    memcpy((char *)parent + f->off, &items, sizeof items);
    memcpy((char *)parent + f->off_count, &n, sizeof n);
    char sp[PATH_MAX_LEN];
    item_path(f, sp, sizeof sp);
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char ip[PATH_MAX_LEN];
        snprintf(ip, sizeof ip, "%s[%d]", dpath, i);
        void *item = items + (size_t)i * f->item_size;
        int rc;
        cJSON *tmp = NULL;
        const cJSON *o = it;
        if (f->sub && cJSON_IsString(it)) {  /* shorthand: "x" means {"<sub>": "x"} */
            tmp = cJSON_CreateObject();
            if (!tmp || !cJSON_AddStringToObject(tmp, f->sub, it->valuestring)) {
                cJSON_Delete(tmp);
                return fail(c, "out of memory");
            }
            o = tmp;
        }
        if (!cJSON_IsObject(o)) {
            char g[96];
            fmt_got(it, g, sizeof g);
            return fail(c, "key \"%s\": expected %s, got %s", ip, f->sub ? "a string or an object" : "an object", g);
        }
        rc = fill_object(c, o, sp, ip, item, NULL);
        if (rc == 0 && f->item_check) {
            char msg[256];
            if (f->item_check(item, o, msg, sizeof msg)) rc = fail(c, "key \"%s\": %s", ip, msg);
        }
        cJSON_Delete(tmp);
        if (rc) return rc;
    }
    return 0;
}

static int fill_map(vctx *c, const qt_cfg_field *f, const cJSON *v, const char *dpath, void *parent) {
    if (!cJSON_IsObject(v)) return fail_expect(c, f, dpath, v);
    int n = cJSON_GetArraySize(v);
    char *items = calloc(n > 0 ? (size_t)n : 1, f->item_size);
    if (!items) return fail(c, "out of memory");
    memcpy((char *)parent + f->off, &items, sizeof items);
    memcpy((char *)parent + f->off_count, &n, sizeof n);
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        char ip[PATH_MAX_LEN];
        snprintf(ip, sizeof ip, "%s[\"%s\"]", dpath, it->string);
        for (const cJSON *p = v->child; p != it; p = p->next)
            if (strcmp(p->string, it->string) == 0) return fail(c, "duplicate key \"%s\"", ip);
        if (!it->string[0]) return fail(c, "key \"%s\": expected a non-empty pattern", ip);
        char *item = items + (size_t)i * f->item_size;
        char *pat = dup_str(c, it->string);
        if (!pat) return -1;
        memcpy(item + f->off_key, &pat, sizeof pat);
        if (!cJSON_IsObject(it)) {
            char g[96];
            fmt_got(it, g, sizeof g);
            return fail(c, "key \"%s\": expected an object with keys of %s, got %s", ip, f->sub, g);
        }
        unsigned mask = 0;
        if (fill_object(c, it, f->sub, ip, item + f->off_val, &mask)) return -1;
        memcpy(item + f->off_set, &mask, sizeof mask);
    }
    return 0;
}

/* Validates v against field f and stores it at dst (the field's address). */
static int set_value(vctx *c, const qt_cfg_field *f, const cJSON *v, const char *dpath, void *parent) {
    void *dst = (char *)parent + f->off;
    switch (f->type) {
    case QT_FT_INT:
    case QT_FT_NUM: {
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !in_range(f, v->valuedouble) ||
            (f->type == QT_FT_INT && v->valuedouble != floor(v->valuedouble)))
            return fail_expect(c, f, dpath, v);
        if (f->type == QT_FT_INT) {
            int x = (int)v->valuedouble;
            memcpy(dst, &x, sizeof x);
        } else {
            memcpy(dst, &v->valuedouble, sizeof(double));
        }
        return 0;
    }
    case QT_FT_BOOL: {
        if (!cJSON_IsBool(v)) return fail_expect(c, f, dpath, v);
        int x = cJSON_IsTrue(v);
        memcpy(dst, &x, sizeof x);
        return 0;
    }
    case QT_FT_STR:
    case QT_FT_PATH: {
        if (!cJSON_IsString(v) || !v->valuestring[0]) return fail_expect(c, f, dpath, v);
        if (f->type == QT_FT_PATH && check_file(c, dpath, v->valuestring, (f->flags & QT_F_DIR_OK) != 0)) return -1;
        char *s = dup_str(c, v->valuestring);
        if (!s) return -1;
        memcpy(dst, &s, sizeof s);
        return 0;
    }
    case QT_FT_ENUM: {
        if (cJSON_IsString(v))
            for (int k = 0; f->choices[k]; k++)
                if (strcmp(f->choices[k], v->valuestring) == 0) {
                    memcpy(dst, &k, sizeof k);
                    return 0;
                }
        return fail_expect(c, f, dpath, v);
    }
    case QT_FT_OBJ:
        if (!cJSON_IsObject(v)) return fail_expect(c, f, dpath, v);
        return fill_object(c, v, f->path, dpath, dst, NULL);
    case QT_FT_STRLIST:
    case QT_FT_SUITES: return fill_strlist(c, f, v, dpath, dst);
    case QT_FT_OBJLIST: return fill_objlist(c, f, v, dpath, parent);
    case QT_FT_MAP: return fill_map(c, f, v, dpath, parent);
    }
    return fail(c, "key \"%s\": internal error: unknown field type", dpath);
}

/* Fills the struct at base from JSON object obj (NULL = all defaults) with
 * the fields whose parent is spath. mask != NULL: a partial object, absent
 * keys stay zero and present ones set their sibling bit. */
static int fill_object(vctx *c, const cJSON *obj, const char *spath, const char *dpath, void *base,
                       unsigned *mask) {
    for (const cJSON *m = obj ? obj->child : NULL; m; m = m->next) {
        char kp[PATH_MAX_LEN];
        join_path(kp, sizeof kp, dpath, m->string);
        for (const cJSON *p = obj->child; p != m; p = p->next)
            if (strcmp(p->string, m->string) == 0) return fail(c, "duplicate key \"%s\"", kp);
        const qt_cfg_field *f = find_child(spath, m->string);
        if (!f) return fail_unknown(c, spath, dpath, m->string);
        if (set_value(c, f, m, kp, base)) return -1;
        if (mask) *mask |= 1u << sibling_index(f);
    }
    for (size_t i = 0; i < qt_cfg_schema_len; i++) {
        const qt_cfg_field *f = &qt_cfg_schema[i];
        if (!is_child(f, spath)) continue;
        const char *key = key_of(f->path);
        if (obj && cJSON_GetObjectItemCaseSensitive(obj, key)) continue;
        char kp[PATH_MAX_LEN];
        join_path(kp, sizeof kp, dpath, key);
        if (f->flags & QT_F_REQUIRED) return fail(c, "missing required key \"%s\"", kp);
        if (mask) continue;
        if (f->type == QT_FT_OBJ) {
            if (fill_object(c, NULL, f->path, kp, (char *)base + f->off, NULL)) return -1;
        } else if (f->def) {
            cJSON *d = cJSON_Parse(f->def);
            if (!d) return fail(c, "key \"%s\": internal error: bad default %s", kp, f->def);
            vctx dc = *c;
            dc.flags |= QT_CONFIG_NO_FILE_CHECKS;
            int rc = set_value(&dc, f, d, kp, base);
            cJSON_Delete(d);
            if (rc) return -1;
        } else if (f->type == QT_FT_ENUM) {
            int unset = -1;
            memcpy((char *)base + f->off, &unset, sizeof unset);
        }
    }
    return 0;
}

/* "near line L: <that line>" for a parse error at pos. */
static int fail_syntax(vctx *c, const char *text, const char *pos) {
    size_t len = strlen(text);
    if (!pos || pos < text || pos > text + len) pos = text + len;
    int line = 1;
    const char *ls = text;
    for (const char *p = text; p < pos; p++)
        if (*p == '\n') line++, ls = p + 1;
    while (*ls == ' ' || *ls == '\t') ls++;
    const char *le = ls;
    while (*le && *le != '\n' && *le != '\r') le++;
    if (*pos == 0 && ls == le) return fail(c, "malformed JSON near line %d: unexpected end of input", line);
    char snip[80];
    size_t n = (size_t)(le - ls), k = 0, max = 60;
    for (size_t i = 0; i < n && i < max; i++) snip[k++] = (ls[i] >= 32 && ls[i] != 127) ? ls[i] : '?';
    snip[k] = 0;
    return fail(c, "malformed JSON near line %d: %s%s", line, snip, n > max ? "..." : "");
}

/* model.init names a Hugging Face or GGUF checkpoint: every shape key comes
 * from it (a key the file gives must agree), model.ctx defaults to at most
 * its window, and data.tokenizer (when not given) to its own tokenizer. */
static int apply_foreign_model(vctx *c, const cJSON *root, qt_config *cfg) {
    qt_cfg_model *m = &cfg->model;
    if (!m->init || !qt_import_is_foreign(m->init)) return 0;
    struct stat st;
    /* a checkpoint's stored (effective) config names every key itself: it
     * still loads when the source checkpoint is gone */
    if ((c->flags & QT_CONFIG_NO_FILE_CHECKS) && stat(m->init, &st) != 0) return 0;
    qt_model_cfg k;
    char e[1024], tok[4096];
    if (qt_import_model_cfg(m->init, &k, tok, sizeof tok, e, sizeof e)) return fail(c, "key \"model.init\": %s", e);
    const cJSON *mj = cJSON_GetObjectItemCaseSensitive(root, "model");
    const cJSON *rj = mj ? cJSON_GetObjectItemCaseSensitive(mj, "rope_scaling") : NULL;
    struct {
        const char *key;
        const cJSON *obj;
        double *dv;
        int *iv;
        double want;
    } K[] = {
        {"arch", mj, NULL, (int *)&m->arch, (double)k.arch},
        {"dim", mj, NULL, &m->dim, k.dim},
        {"layers", mj, NULL, &m->layers, k.layers},
        {"heads", mj, NULL, &m->heads, k.heads},
        {"kv_heads", mj, NULL, &m->kv_heads, k.kv_heads},
        {"ffn", mj, NULL, &m->ffn, k.ffn},
        {"vocab", mj, NULL, &m->vocab, k.vocab},
        {"head_dim", mj, NULL, &m->head_dim, qt_model_head_dim(&k)},
        {"tie_embeddings", mj, NULL, &m->tied, k.tied},
        {"sliding_window", mj, NULL, &m->sliding_window, k.sliding_window},
        {"max_ctx", mj, NULL, &m->max_ctx, qt_model_max_ctx(&k)},
        {"rope_theta", mj, &m->rope_theta, NULL, k.rope_theta},
        {"norm_eps", mj, &m->norm_eps, NULL, k.norm_eps},
        {"factor", rj, &m->rope.factor, NULL, k.rope_factor},
        {"low_freq_factor", rj, &m->rope.low_freq, NULL, k.rope_factor > 0 ? k.rope_low_freq : m->rope.low_freq},
        {"high_freq_factor", rj, &m->rope.high_freq, NULL, k.rope_factor > 0 ? k.rope_high_freq : m->rope.high_freq},
        {"original_ctx", rj, NULL, &m->rope.orig_ctx, k.rope_factor > 0 ? k.rope_orig_ctx : m->rope.orig_ctx},
    };
    for (size_t i = 0; i < sizeof K / sizeof K[0]; i++) {
        int given = K[i].obj && cJSON_GetObjectItemCaseSensitive(K[i].obj, K[i].key);
        double have = K[i].dv ? *K[i].dv : (double)*K[i].iv;
        /* float keys: the checkpoint holds floats, the config doubles */
        int same = K[i].dv ? (float)have == (float)K[i].want : have == K[i].want;
        if (given && !same) {
            char want[64];
            if (!strcmp(K[i].key, "arch")) snprintf(want, sizeof want, "\"%s\"", qt_arch_name((qt_arch)K[i].want));
            else snprintf(want, sizeof want, "%.9g", K[i].want);
            return fail(c, "key \"model.%s%s\": expected %s (from model.init \"%s\"), got %.9g; leave it out to "
                        "take the checkpoint's", K[i].obj == rj ? "rope_scaling." : "", K[i].key, want, m->init, have);
        }
        if (K[i].dv) *K[i].dv = K[i].want;
        else *K[i].iv = (int)K[i].want;
    }
    int window = k.sliding_window && k.sliding_window < qt_model_max_ctx(&k) ? k.sliding_window : qt_model_max_ctx(&k);
    if (!(mj && cJSON_GetObjectItemCaseSensitive(mj, "ctx")) && m->ctx > window) m->ctx = window;
    const cJSON *dj = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (tok[0] && !(dj && cJSON_GetObjectItemCaseSensitive(dj, "tokenizer"))) {
        char *t = strdup(tok);
        if (!t) return fail(c, "out of memory");
        free(cfg->data.tokenizer);
        cfg->data.tokenizer = t;
    }
    return 0;
}

/* quant.preset sets quant.weights.type to its base type, and a type sets
 * bits, group and grid: a key given beside them must agree (so a stored
 * effective config loads again); with a preset, quant.skip defaults to []
 * (llama.cpp quantizes the output too). */
static int apply_quant_keys(vctx *c, const cJSON *root, qt_config *cfg) {
    const cJSON *qj = cJSON_GetObjectItemCaseSensitive(root, "quant");
    const cJSON *wj = qj ? cJSON_GetObjectItemCaseSensitive(qj, "weights") : NULL;
    qt_cfg_quant *q = &cfg->quant;
    if (q->preset) {
        const char *base = qt_ggml_type_name(qt_preset_base_type(q->preset));
        int idx = 0;
        while (qt_config_enum_name("quant.weights.type", idx) &&
               strcmp(qt_config_enum_name("quant.weights.type", idx), base))
            idx++;
        if (wj && cJSON_GetObjectItemCaseSensitive(wj, "type") && q->weights.type != idx)
            return fail(c, "key \"quant.weights.type\": expected \"%s\" (the base type of quant.preset \"%s\"), got \"%s\"; "
                        "set a tensor's type with quant.override", base, qt_preset_name(q->preset),
                        qt_config_enum_name("quant.weights.type", q->weights.type));
        q->weights.type = idx;
        if (!(qj && cJSON_GetObjectItemCaseSensitive(qj, "skip"))) {
            for (int i = 0; i < q->skip.n; i++) free(q->skip.v[i]);
            q->skip.n = 0;
        }
    }
    if (!q->weights.type) return 0;
    const char *tname = qt_config_enum_name("quant.weights.type", q->weights.type);
    qt_quant_spec want = {0};
    qt_ggml_spec_of_type(qt_ggml_type_from_name(tname), &want);
    const struct { const char *key; int *have; int want; } K[] = {
        {"bits", &q->weights.bits, want.bits}, {"group", &q->weights.group, want.group},
        {"grid", (int *)&q->weights.grid, (int)want.grid}};
    for (int i = 0; i < 3; i++) {
        if (wj && cJSON_GetObjectItemCaseSensitive(wj, K[i].key) && *K[i].have != K[i].want) {
            char w[32];
            if (i == 2) snprintf(w, sizeof w, "\"%s\"", qt_config_enum_name("quant.weights.grid", K[i].want));
            else snprintf(w, sizeof w, "%d", K[i].want);
            return fail(c, "key \"quant.weights.%s\": expected %s (quant.weights.type \"%s\"%s), or leave it out", K[i].key,
                        w, tname, q->preset ? ", the preset's base type" : "");
        }
        *K[i].have = K[i].want;
    }
    return 0;
}

int qt_config_parse(const char *text, const char *name, unsigned flags, qt_config *cfg, char *err, size_t errlen) {
    vctx c = {name ? name : "config", flags, err, errlen};
    if (err && errlen) err[0] = 0;
    memset(cfg, 0, sizeof *cfg);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!root) return fail_syntax(&c, text, end);
    int rc;
    if (!cJSON_IsObject(root)) {
        char g[96];
        fmt_got(root, g, sizeof g);
        rc = fail(&c, "expected a JSON object at the top level, got %s", g);
    } else {
        rc = fill_object(&c, root, "", "", cfg, NULL);
    }
    char msg[512];
    if (rc == 0 && qt_cfg_derive(cfg, msg, sizeof msg)) rc = fail(&c, "%s", msg);
    if (rc == 0) rc = apply_foreign_model(&c, root, cfg);
    if (rc == 0) rc = apply_quant_keys(&c, root, cfg);
    cJSON_Delete(root);
    for (size_t i = 0; rc == 0 && i < qt_cfg_rules_len; i++)
        if (qt_cfg_rules[i].check(cfg, msg, sizeof msg)) rc = fail(&c, "%s", msg);
    if (rc) qt_config_free(cfg);
    return rc;
}

/* data.tokenizer: loads it (so a malformed file fails before any work) and
 * checks its vocabulary against model.vocab. */
static int check_tokenizer(vctx *c, const qt_config *cfg) {
    char e[1024];
    qd_tokenizer *t = qd_tokenizer_load(cfg->data.tokenizer, e, sizeof e);
    if (!t) return fail(c, "key \"data.tokenizer\": %s", e);
    int v = qd_tokenizer_vocab(t);
    qd_tokenizer_free(t);
    if (v != cfg->model.vocab)
        return fail(c, "key \"model.vocab\": expected %d (the vocabulary of data.tokenizer \"%s\"), got %d", v,
                    cfg->data.tokenizer, cfg->model.vocab);
    return 0;
}

/* Directory path (key names it) can be created or written to: it is a
 * writable directory, or its deepest existing ancestor is. */
static int check_dir_writable(vctx *c, const char *key, const char *path) {
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (size_t n = strlen(p); n > 1 && p[n - 1] == '/'; n--) p[n - 1] = 0;
    struct stat st;
    for (;;) {
        if (stat(p, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return fail(c, "key \"%s\": \"%s\" cannot be a directory: \"%s\" is not a directory", key, path, p);
            if (access(p, W_OK | X_OK) != 0)
                return fail(c, "key \"%s\": \"%s\" cannot be %s: directory \"%s\" is not writable (%s)", key, path,
                            strcmp(p, path) ? "created" : "written to", p, strerror(errno));
            return 0;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return fail(c, "key \"%s\": \"%s\": %s", key, p, strerror(errno));
        char *slash = strrchr(p, '/');
        if (!slash) snprintf(p, sizeof p, ".");
        else if (slash == p) p[1] = 0;
        else *slash = 0;
    }
}

/* Where the run writes: out_dir and data.cache_dir can be made and written;
 * each export target is of its format's kind when it exists (a file for
 * gguf / hdf5 / imatrix, a directory of files for the others) and its
 * directory can be made. */
int qt_config_check_outputs(const qt_config *cfg, const char *path, char *err, size_t errlen) {
    vctx cv = {path, 0, err, errlen}, *c = &cv;
    if (check_dir_writable(c, "out_dir", cfg->out_dir) || check_dir_writable(c, "data.cache_dir", cfg->data.cache_dir))
        return -1;
    for (int i = 0; i < cfg->n_exports; i++) {
        const qt_cfg_export *x = &cfg->exports[i];
        char path[4200], key[64];
        snprintf(path, sizeof path, "%s/%s", cfg->out_dir, x->path);
        for (size_t n = strlen(path); n > 1 && path[n - 1] == '/'; n--) path[n - 1] = 0;
        snprintf(key, sizeof key, "export[%d].path", i);
        const int file = x->format == QT_CFG_EXPORT_GGUF || x->format == QT_CFG_EXPORT_HDF5 ||
                         x->format == QT_CFG_EXPORT_IMATRIX;
        struct stat st;
        if (stat(path, &st) == 0 && (file ? S_ISDIR(st.st_mode) : !S_ISDIR(st.st_mode)))
            return fail(c, "key \"%s\": \"%s\" exists and is %s, but format \"%s\" writes %s", key, path,
                        S_ISDIR(st.st_mode) ? "a directory" : "not a directory",
                        qt_config_enum_name("export[].format", (int)x->format), file ? "a file" : "a directory");
        char *slash = strrchr(path, '/');
        if (slash) *slash = 0;
        if (check_dir_writable(c, key, slash ? path : ".")) return -1;
    }
    return 0;
}

int qt_config_load(const char *path, qt_config *cfg, char *err, size_t errlen) {
    vctx c = {path, 0, err, errlen};
    memset(cfg, 0, sizeof *cfg);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(&c, "cannot open config: %s", strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return fail(&c, "out of memory");
    if (bad) {
        free(buf);
        return fail(&c, "cannot read config");
    }
    buf[n] = 0;
    if (strlen(buf) != n) {
        free(buf);
        return fail(&c, "malformed JSON: contains a NUL byte");
    }
    int rc = qt_config_parse(buf, path, 0, cfg, err, errlen);
    free(buf);
    if (rc == 0 && check_tokenizer(&c, cfg)) {
        qt_config_free(cfg);
        return -1;
    }
    return rc;
}

/* ---- freeing ---- */

static void free_object(const char *spath, void *base) {
    for (size_t i = 0; i < qt_cfg_schema_len; i++) {
        const qt_cfg_field *f = &qt_cfg_schema[i];
        if (!is_child(f, spath)) continue;
        char *p = (char *)base + f->off;
        switch (f->type) {
        case QT_FT_STR:
        case QT_FT_PATH: {
            char *s;
            memcpy(&s, p, sizeof s);
            free(s);
            break;
        }
        case QT_FT_OBJ: free_object(f->path, p); break;
        case QT_FT_STRLIST:
        case QT_FT_SUITES: {
            qt_cfg_strlist *l = (qt_cfg_strlist *)p;
            for (int k = 0; k < l->n; k++) free(l->v[k]);
            free(l->v);
            break;
        }
        case QT_FT_OBJLIST:
        case QT_FT_MAP: {
            char *items;
            int n;
            memcpy(&items, p, sizeof items);
            memcpy(&n, (char *)base + f->off_count, sizeof n);
            char sp[PATH_MAX_LEN];
            item_path(f, sp, sizeof sp);
            for (int k = 0; items && k < n; k++) {
                char *item = items + (size_t)k * f->item_size;
                if (f->type == QT_FT_MAP) {
                    char *pat;
                    memcpy(&pat, item + f->off_key, sizeof pat);
                    free(pat);
                    free_object(f->sub, item + f->off_val);
                } else {
                    free_object(sp, item);
                }
            }
            free(items);
            break;
        }
        default: break;
        }
    }
}

void qt_config_free(qt_config *cfg) {
    if (!cfg) return;
    free_object("", cfg);
    memset(cfg, 0, sizeof *cfg);
}

/* ---- effective config ---- */

/* Adds the fields under spath (those in *mask when given) to object o. */
static int to_cjson(cJSON *o, const char *spath, const void *base, const unsigned *mask) {
    for (size_t i = 0; i < qt_cfg_schema_len; i++) {
        const qt_cfg_field *f = &qt_cfg_schema[i];
        if (!is_child(f, spath)) continue;
        if (mask && !(*mask & (1u << sibling_index(f)))) continue;
        const char *key = key_of(f->path);
        const char *p = (const char *)base + f->off;
        cJSON *v = NULL;
        switch (f->type) {
        case QT_FT_INT:
        case QT_FT_BOOL:
        case QT_FT_ENUM: {
            int x;
            memcpy(&x, p, sizeof x);
            if (f->type == QT_FT_INT) {
                v = cJSON_CreateNumber(x);
            } else if (f->type == QT_FT_BOOL) {
                v = cJSON_CreateBool(x);
            } else {
                if (x < 0 || (size_t)x >= n_choices(f->choices)) continue;
                v = cJSON_CreateString(f->choices[x]);
            }
            break;
        }
        case QT_FT_NUM: {
            double x;
            memcpy(&x, p, sizeof x);
            v = cJSON_CreateNumber(x);
            break;
        }
        case QT_FT_STR:
        case QT_FT_PATH: {
            const char *s;
            memcpy(&s, p, sizeof s);
            if (!s) continue;
            v = cJSON_CreateString(s);
            break;
        }
        case QT_FT_OBJ:
            v = cJSON_CreateObject();
            if (v && to_cjson(v, f->path, p, NULL)) {
                cJSON_Delete(v);
                v = NULL;
            }
            break;
        case QT_FT_STRLIST:
        case QT_FT_SUITES: {
            const qt_cfg_strlist *l = (const qt_cfg_strlist *)p;
            v = cJSON_CreateArray();
            for (int k = 0; v && k < l->n; k++)
                if (!cJSON_AddItemToArray(v, cJSON_CreateString(l->v[k]))) {
                    cJSON_Delete(v);
                    v = NULL;
                }
            break;
        }
        case QT_FT_OBJLIST:
        case QT_FT_MAP: {
            const char *items;
            int n;
            memcpy(&items, p, sizeof items);
            memcpy(&n, (const char *)base + f->off_count, sizeof n);
            char sp[PATH_MAX_LEN];
            item_path(f, sp, sizeof sp);
            v = f->type == QT_FT_MAP ? cJSON_CreateObject() : cJSON_CreateArray();
            for (int k = 0; v && k < n; k++) {
                const char *item = items + (size_t)k * f->item_size;
                cJSON *io = cJSON_CreateObject();
                int rc;
                if (f->type == QT_FT_MAP) {
                    const char *pat;
                    unsigned set;
                    memcpy(&pat, item + f->off_key, sizeof pat);
                    memcpy(&set, item + f->off_set, sizeof set);
                    rc = !io || to_cjson(io, f->sub, item + f->off_val, &set) ||
                         !cJSON_AddItemToObject(v, pat, io);
                } else {
                    rc = !io || to_cjson(io, sp, item, NULL) || !cJSON_AddItemToArray(v, io);
                }
                if (rc) {
                    cJSON_Delete(io);
                    cJSON_Delete(v);
                    v = NULL;
                }
            }
            break;
        }
        }
        if (!v || !cJSON_AddItemToObject(o, key, v)) {
            cJSON_Delete(v);
            return -1;
        }
    }
    return 0;
}

cJSON *qt_config_to_cjson(const qt_config *cfg) {
    cJSON *o = cJSON_CreateObject();
    if (o && to_cjson(o, "", cfg, NULL)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* Prints a scalar (or a string as a key) through cJSON's own formatting. */
static int print_scalar(FILE *out, const cJSON *v) {
    char *s = cJSON_PrintUnformatted(v);
    if (!s) return -1;
    fputs(s, out);
    cJSON_free(s);
    return 0;
}

/* Two-space indented JSON; arrays of scalars stay on one line. */
static int print_json(FILE *out, const cJSON *v, int indent) {
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v)) return print_scalar(out, v);
    int obj = cJSON_IsObject(v), flat = !obj;
    for (const cJSON *it = v->child; it; it = it->next)
        if (cJSON_IsArray(it) || cJSON_IsObject(it)) flat = 0;
    if (!v->child) {
        fputs(obj ? "{}" : "[]", out);
        return 0;
    }
    fputc(obj ? '{' : '[', out);
    for (const cJSON *it = v->child; it; it = it->next) {
        if (flat) {
            if (it != v->child) fputs(", ", out);
        } else {
            fprintf(out, "%s\n%*s", it != v->child ? "," : "", indent + 2, "");
        }
        if (obj) {
            cJSON *k = cJSON_CreateString(it->string);
            int rc = !k || print_scalar(out, k);
            cJSON_Delete(k);
            if (rc) return -1;
            fputs(": ", out);
        }
        if (print_json(out, it, indent + 2)) return -1;
    }
    if (!flat) fprintf(out, "\n%*s", indent, "");
    fputc(obj ? '}' : ']', out);
    return 0;
}

char *qt_config_to_json(const qt_config *cfg) {
    cJSON *o = qt_config_to_cjson(cfg);
    if (!o) return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int rc = !m || print_json(m, o, 0);
    if (m && fclose(m)) rc = 1;
    cJSON_Delete(o);
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

int qt_config_init_from(const qt_config *cfg) {
    const char *want = qt_config_enum_name("train.init_from", cfg->train.init_from);
    if (cfg->train.init_from == QT_CFG_INIT_NONE || !want) return -1;
    for (int i = 0; i < cfg->n_ptq; i++) {
        const char *m = qt_config_enum_name("ptq[].method", cfg->ptq[i].method);
        if (m && !strcmp(m, want)) return i;
    }
    return -1;
}

const char *qt_config_enum_name(const char *key, int value) {
    const qt_cfg_field *f = find_path(key);
    if (!f || f->type != QT_FT_ENUM || value < 0 || (size_t)value >= n_choices(f->choices)) return NULL;
    return f->choices[value];
}

/* ---- docs ---- */

/* Writes s with '|' escaped for a markdown table cell. */
static void md_cell(FILE *out, const char *s) {
    for (; *s; s++) {
        if (*s == '|') fputc('\\', out);
        fputc(*s, out);
    }
}

static const char *type_name(const qt_cfg_field *f) {
    switch (f->type) {
    case QT_FT_INT: return "integer";
    case QT_FT_NUM: return "number";
    case QT_FT_BOOL: return "bool";
    case QT_FT_STR: return "string";
    case QT_FT_PATH: return "path";
    case QT_FT_ENUM: return "enum";
    case QT_FT_OBJ: return "object";
    case QT_FT_STRLIST:
    case QT_FT_SUITES: return "array of strings";
    case QT_FT_OBJLIST: return f->sub ? "array of strings or objects" : "array of objects";
    case QT_FT_MAP: return "object (map)";
    }
    return "?";
}

static void doc_allowed(const qt_cfg_field *f, char *buf, size_t len) {
    char r[256];
    switch (f->type) {
    case QT_FT_INT:
    case QT_FT_NUM: fmt_range(f, buf, len); break;
    case QT_FT_ENUM:
        fmt_choices_md(f->choices, buf, len, 1);
        break;
    case QT_FT_SUITES:
        fmt_choices_md(f->choices, r, sizeof r, 1);
        snprintf(buf, len, "%s or an existing `.jsonl` file", r);
        break;
    case QT_FT_PATH:
        snprintf(buf, len, (f->flags & QT_F_DIR_OK) ? "an existing file or directory" : "an existing file");
        break;
    case QT_FT_STR: snprintf(buf, len, "non-empty"); break;
    case QT_FT_STRLIST: snprintf(buf, len, "non-empty strings"); break;
    case QT_FT_OBJLIST: snprintf(buf, len, "%s", (f->flags & QT_F_NONEMPTY) ? "at least one item" : ""); break;
    case QT_FT_MAP: snprintf(buf, len, "values: keys of `%s`", f->sub); break;
    default: buf[0] = 0; break;
    }
}

static const char DOC_EXAMPLE[] = "{\"out_dir\": \"runs/example\", \"data\": {\"train\": [\"data/brown.txt\"]}}";

int qt_config_doc(FILE *out) {
    fputs("# config.json reference\n\n"
          "<!-- Generated by tools/qat_config_doc from the schema table in run/config_schema.c;\n"
          "     do not edit. Regenerate: build/qat_config_doc > docs/config.md -->\n\n"
          "`qat_train config.json` reads one JSON object. Keys are optional unless marked required;\n"
          "an absent key takes its default. Before any work starts, unknown keys are rejected (the\n"
          "nearest known key is suggested), every value is type- and range-checked, files named in\n"
          "the config must exist, and the cross-field rules below hold. An error is one line naming\n"
          "the file and the key, e.g. `x.json: key \"quant.weights.bits\": expected an integer in [2, 8], got 9`.\n\n"
          "Relative paths are relative to the working directory, except `export[].path`, which is\n"
          "under `out_dir`. `a[].b` is key `b` of every object in array `a`. Integers may be written\n"
          "as `1e6` but not as `1.5`.\n\n"
          "## Keys\n\n"
          "| key | type | default | allowed | meaning |\n"
          "|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < qt_cfg_schema_len; i++) {
        const qt_cfg_field *f = &qt_cfg_schema[i];
        char allowed[512];
        doc_allowed(f, allowed, sizeof allowed);
        fprintf(out, "| `%s` | %s | ", f->path, type_name(f));
        if (f->flags & QT_F_REQUIRED)
            fputs("**required**", out);
        else if (f->doc_default)
            md_cell(out, f->doc_default);
        else if (f->def) {
            fputc('`', out);
            md_cell(out, f->def);
            fputc('`', out);
        } else if (f->type != QT_FT_OBJ)
            fputs("unset", out);
        fputs(" | ", out);
        md_cell(out, allowed);
        fputs(" | ", out);
        md_cell(out, f->meaning);
        fputs(" |\n", out);
    }
    fputs("\n## Cross-field rules\n\n", out);
    for (size_t i = 0; i < qt_cfg_rules_len; i++) fprintf(out, "- %s\n", qt_cfg_rules[i].doc);
    fputs("\n## Effective config\n\n"
          "Checkpoints and report.json store the effective config: every key, with defaults filled\n"
          "in. For the minimal config\n\n```json\n",
          out);
    fprintf(out, "%s\n```\n\nit is\n\n```json\n", DOC_EXAMPLE);
    qt_config cfg;
    char err[256];
    if (qt_config_parse(DOC_EXAMPLE, "example", QT_CONFIG_NO_FILE_CHECKS, &cfg, err, sizeof err)) return -1;
    char *js = qt_config_to_json(&cfg);
    qt_config_free(&cfg);
    if (!js) return -1;
    fprintf(out, "%s\n```\n", js);
    free(js);
    return ferror(out) ? -1 : 0;
}
