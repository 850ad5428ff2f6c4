/* qat_tokenizer: trains a byte-level BPE tokenizer (data/bpe_train.h) and
 * runs any tokenizer data/tokenizer.h loads ("byte", tokenizer.json, .gguf).
 * usage: see usage() below (exit 0, or 1 with one line on stderr) */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/bpe_train.h"
#include "data/tokenizer.h"

static const char *usage_text =
    "usage: qat_tokenizer train --vocab N [--special TOKEN]... [--pretok qwen2|llama3|gpt2] FILES... -o tokenizer.json\n"
    "       qat_tokenizer encode TOKENIZER [--special] < text   (ids, space-separated, one line)\n"
    "       qat_tokenizer encode TOKENIZER [--special] --hex-lines < items  (one line of ids per item)\n"
    "       qat_tokenizer decode TOKENIZER < ids                (text)\n"
    "       qat_tokenizer info TOKENIZER                        (kind, vocabulary, bos/eos, add_bos)\n"
    "TOKENIZER is \"byte\", a tokenizer.json or a .gguf file.\n"
    "train: byte-level BPE from the text FILES; N counts the 256 byte tokens, the learned\n"
    "  tokens and the special tokens (added tokens, never split or merged). --pretok picks\n"
    "  the split regex: qwen2 (default: every digit its own token), llama3 (digit groups\n"
    "  of up to 3), gpt2. Same files and options give a byte-identical file.\n"
    "encode --special: special-token strings in the text become their ids.\n"
    "encode --hex-lines: each stdin line is one text, its bytes in hex (any byte survives);\n"
    "  each is encoded on its own (one tokenizer load for a whole corpus).\n";

static int fail(const char *msg) {
    fprintf(stderr, "qat_tokenizer: %s\n", msg);
    return 1;
}

static int usage_error(const char *what) {
    fprintf(stderr, "qat_tokenizer: %s (qat_tokenizer -h for usage)\n", what);
    return 1;
}

static int is_help(const char *a) { return !strcmp(a, "-h") || !strcmp(a, "--help"); }

/* Reads all of stdin into a new buffer (NUL-terminated, *n bytes before it). */
static char *read_stdin(size_t *n) {
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    if (!buf) return NULL;
    for (;;) {
        if (len == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
        size_t k = fread(buf + len, 1, cap - len, stdin);
        len += k;
        if (k == 0) break;
    }
    if (ferror(stdin)) {
        free(buf);
        return NULL;
    }
    buf[len] = 0;
    *n = len;
    return buf;
}

static int cmd_train(int argc, char **argv) {
    int vocab = -1;
    const char *out = NULL;
    const char **specials = calloc((size_t)argc, sizeof *specials), **files = calloc((size_t)argc, sizeof *files);
    int n_special = 0, n_files = 0, rc = 1;
    qd_pretok pretok = QD_PRETOK_QWEN2;
    char err[1024], msg[1200];
    qd_bpe_counter *c = NULL;
    qd_bpe_model m = {0};
    if (!specials || !files) {
        rc = fail("out of memory");
        goto done;
    }
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_text, stdout);
            rc = 0;
            goto done;
        }
        int takes = !strcmp(a, "--vocab") || !strcmp(a, "--special") || !strcmp(a, "--pretok") || !strcmp(a, "-o");
        if (takes && i + 1 >= argc) {
            snprintf(msg, sizeof msg, "train: %s needs a value", a);
            rc = usage_error(msg);
            goto done;
        }
        if (!strcmp(a, "--vocab")) {
            char *end;
            errno = 0;
            long v = strtol(argv[++i], &end, 10);
            if (errno || end == argv[i] || *end || v < 256 || v > INT_MAX) {
                snprintf(msg, sizeof msg, "train: --vocab \"%s\": expected an integer >= 256", argv[i]);
                rc = usage_error(msg);
                goto done;
            }
            vocab = (int)v;
        } else if (!strcmp(a, "--special")) {
            specials[n_special++] = argv[++i];
        } else if (!strcmp(a, "--pretok")) {
            if (qd_pretok_parse(argv[++i], &pretok, err, sizeof err)) {
                snprintf(msg, sizeof msg, "train: --pretok: %s", err);
                rc = usage_error(msg);
                goto done;
            }
        } else if (!strcmp(a, "-o")) {
            out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            snprintf(msg, sizeof msg, "train: unknown option %s", a);
            rc = usage_error(msg);
            goto done;
        } else {
            files[n_files++] = a;
        }
    }
    if (vocab < 0 || !out || !n_files) {
        rc = usage_error(vocab < 0 ? "train: --vocab N is required" : !out ? "train: -o tokenizer.json is required"
                                                                          : "train: no text FILES given");
        goto done;
    }
    if (vocab < 256 + n_special) {
        snprintf(msg, sizeof msg, "train: --vocab %d is below 256 byte tokens + %d --special token(s)", vocab, n_special);
        rc = usage_error(msg);
        goto done;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!(c = qd_bpe_counter_new(pretok, specials, n_special, err, sizeof err))) {
        rc = fail(err);
        goto done;
    }
    for (int k = 0; k < n_files; k++)
        if (qd_bpe_counter_add_file(c, files[k], err, sizeof err)) {
            rc = fail(err);
            goto done;
        }
    if (qd_bpe_train(c, vocab, &m, err, sizeof err) || qd_bpe_model_save(&m, out, err, sizeof err)) {
        rc = fail(err);
        goto done;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    int got = m.n_tokens + m.n_special;
    if (got < vocab)
        fprintf(stderr, "qat_tokenizer: warning: the text has no pair left to merge after %d tokens (asked for %d)\n",
                got, vocab);
    printf("%s: %d tokens (256 bytes, %d learned, %d special), %d merges, from %zu distinct pre-tokens (%llu in all) "
           "in %.2f s\n",
           out, got, m.n_tokens - 256, m.n_special, m.n_merges, qd_bpe_counter_distinct(c),
           (unsigned long long)qd_bpe_counter_total(c),
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    rc = 0;
done:
    qd_bpe_model_free(&m);
    qd_bpe_counter_free(c);
    free(specials);
    free(files);
    return rc;
}

static qd_tokenizer *load(const char *spec) {
    char err[1024];
    qd_tokenizer *t = qd_tokenizer_load(spec, err, sizeof err);
    if (!t) fail(err);
    return t;
}

static int cmd_encode(qd_tokenizer *t, int parse_special) {
    size_t n;
    char *text = read_stdin(&n), err[1024];
    if (!text) return fail("stdin: read error");
    qd_ids ids = {0};
    int rc = qd_tokenizer_encode(t, text, n, parse_special, &ids, err, sizeof err);
    free(text);
    if (rc) {
        qd_ids_free(&ids);
        return fail(err);
    }
    for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.v[i]);
    printf("\n");
    qd_ids_free(&ids);
    return 0;
}

static int hexval(int c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* --hex-lines: one text per stdin line, its bytes in hex; one line of ids per text */
static int cmd_encode_hex_lines(qd_tokenizer *t, int parse_special) {
    size_t n;
    char *in = read_stdin(&n), err[1024];
    if (!in) return fail("stdin: read error");
    char *text = malloc(n / 2 + 1);
    if (!text) {
        free(in);
        return fail("out of memory");
    }
    int rc = 0;
    size_t line = 0;
    for (char *p = in; *p && !rc; line++) {
        char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len && p[len - 1] == '\r') len--;
        size_t m = 0;
        for (size_t i = 0; i < len; i += 2) {
            int hi = hexval((unsigned char)p[i]), lo = i + 1 < len ? hexval((unsigned char)p[i + 1]) : -1;
            if (hi < 0 || lo < 0) {
                snprintf(err, sizeof err, "stdin: line %zu: expected pairs of hex digits", line + 1);
                rc = fail(err);
                break;
            }
            text[m++] = (char)(hi * 16 + lo);
        }
        if (rc) break;
        text[m] = 0;
        qd_ids ids = {0};
        if (qd_tokenizer_encode(t, text, m, parse_special, &ids, err, sizeof err)) {
            rc = fail(err);
        } else {
            for (size_t i = 0; i < ids.n; i++) printf(i ? " %d" : "%d", (int)ids.v[i]);
            printf("\n");
        }
        qd_ids_free(&ids);
        p = e ? e + 1 : p + strlen(p);
    }
    free(text);
    free(in);
    return rc;
}

static int cmd_decode(qd_tokenizer *t) {
    size_t n;
    char *in = read_stdin(&n), err[1024];
    if (!in) return fail("stdin: read error");
    qd_ids ids = {0};
    int rc = 0;
    for (char *p = in; !rc;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX ||
            (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r' && *end != ',')) {
            snprintf(err, sizeof err, "stdin: id %zu: expected an integer, got \"%.20s\"", ids.n + 1,
                     strtok(p, " \t\r\n,"));
            rc = fail(err);
            break;
        }
        if (qd_ids_push(&ids, (int32_t)v, err, sizeof err)) rc = fail(err);
        p = end;
    }
    free(in);
    char *text = NULL;
    size_t len = 0;
    if (!rc && qd_tokenizer_decode(t, ids.v, ids.n, &text, &len, err, sizeof err)) rc = fail(err);
    if (!rc) fwrite(text, 1, len, stdout);
    free(text);
    qd_ids_free(&ids);
    return rc;
}

static void print_special(const char *name, int id, const qd_vocab_view *v) {
    if (id < 0)
        printf("%s: none\n", name);
    else
        printf("%s: %d %s\n", name, id, v->tokens && id < v->n ? v->tokens[id] : "");
}

static int cmd_info(qd_tokenizer *t) {
    static const char *kinds[] = {"byte", "bpe", "spm"};
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    printf("source: %s\nkind: %s\nvocab: %d\nmerges: %d\n", qd_tokenizer_source(t), kinds[qd_tokenizer_kind(t)],
           qd_tokenizer_vocab(t), v.n_merges);
    print_special("bos", qd_tokenizer_bos(t), &v);
    print_special("eos", qd_tokenizer_eos(t), &v);
    printf("add_bos: %d\n", qd_tokenizer_add_bos(t));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage_error("no subcommand (train, encode, decode, info)");
    const char *cmd = argv[1];
    if (is_help(cmd)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (strcmp(cmd, "encode") && strcmp(cmd, "decode") && strcmp(cmd, "info")) {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown subcommand \"%.100s\" (expected train, encode, decode or info)", cmd);
        return usage_error(msg);
    }
    const char *spec = NULL;
    int parse_special = 0, hex_lines = 0;
    for (int i = 2; i < argc; i++) {
        char msg[256];
        if (is_help(argv[i])) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (!strcmp(cmd, "encode") && !strcmp(argv[i], "--special")) {
            parse_special = 1;
        } else if (!strcmp(cmd, "encode") && !strcmp(argv[i], "--hex-lines")) {
            hex_lines = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            snprintf(msg, sizeof msg, "%s: unknown option %.100s", cmd, argv[i]);
            return usage_error(msg);
        } else if (spec) {
            snprintf(msg, sizeof msg, "%s: one TOKENIZER expected, got a second: %.100s", cmd, argv[i]);
            return usage_error(msg);
        } else {
            spec = argv[i];
        }
    }
    if (!spec) {
        char msg[64];
        snprintf(msg, sizeof msg, "%s: TOKENIZER missing", cmd);
        return usage_error(msg);
    }
    qd_tokenizer *t = load(spec);
    if (!t) return 1;
    int rc = !strcmp(cmd, "encode") ? (hex_lines ? cmd_encode_hex_lines(t, parse_special) : cmd_encode(t, parse_special)) : !strcmp(cmd, "decode") ? cmd_decode(t) : cmd_info(t);
    qd_tokenizer_free(t);
    return rc;
}
