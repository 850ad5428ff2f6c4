/* data/: RNG, byte tokenizer, split, HDF5 token files and cache, windows,
 * mixture batcher. */
#include "base/files.h"
#include "data/dataset.h"
#include "data/rng.h"
#include "data/tokenizer.h"
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (n && fwrite(data, 1, n, f) != n) { perror(path); exit(2); }
    fclose(f);
}

/* Random text of len bytes made of words and lines of 0..120 bytes. */
static char *make_text(size_t len, uint64_t seed) {
    qrng r;
    qrng_seed(&r, seed);
    char *t = malloc(len + 1);
    size_t line = 0, line_len = (size_t)qrng_below(&r, 120);
    for (size_t i = 0; i < len; i++) {
        if (line >= line_len) {
            t[i] = '\n';
            line = 0;
            line_len = (size_t)qrng_below(&r, 120);
        } else {
            t[i] = qrng_below(&r, 6) == 0 ? ' ' : (char)('a' + qrng_below(&r, 26));
            line++;
        }
    }
    t[len] = '\0';
    return t;
}

static void test_rng(void) {
    qrng a, b;
    qrng_seed(&a, 42);
    qrng_seed(&b, 42);
    for (int i = 0; i < 100; i++) CHECK(qrng_next(&a) == qrng_next(&b), "same seed diverged at %d", i);
    qrng c;
    qrng_seed(&c, 43);
    int same = 0;
    for (int i = 0; i < 100; i++) same += qrng_next(&a) == qrng_next(&c);
    CHECK(same == 0, "seeds 42 and 43 share %d outputs", same);

    /* save / restore: a copied state continues identically */
    qrng saved = a;
    uint64_t v1[8], v2[8];
    for (int i = 0; i < 8; i++) v1[i] = qrng_next(&a);
    a = saved;
    for (int i = 0; i < 8; i++) v2[i] = qrng_next(&a);
    CHECK(memcmp(v1, v2, sizeof v1) == 0, "restored state gave a different sequence");

    /* streams */
    qrng s1, s2;
    qrng_seed_stream(&s1, 7, 1);
    qrng_seed_stream(&s2, 7, 2);
    CHECK(qrng_next(&s1) != qrng_next(&s2), "streams 1 and 2 of seed 7 coincide");

    /* distributions */
    qrng r;
    qrng_seed(&r, 1);
    const int N = 200000;
    double su = 0, sn = 0, sn2 = 0;
    int counts[7] = {0};
    int bad = 0;
    for (int i = 0; i < N; i++) {
        float u = qrng_uniform(&r);
        if (!(u >= 0.0f && u < 1.0f)) bad++;
        su += u;
        float z = qrng_normal(&r);
        sn += z;
        sn2 += (double)z * z;
        uint64_t k = qrng_below(&r, 7);
        if (k >= 7) bad++;
        else counts[k]++;
        int64_t x = qrng_range(&r, -3, 3);
        if (x < -3 || x > 3) bad++;
    }
    CHECK(bad == 0, "%d draws out of range", bad);
    CHECK(fabs(su / N - 0.5) < 0.005, "uniform mean %g", su / N);
    CHECK(fabs(sn / N) < 0.01, "normal mean %g", sn / N);
    CHECK(fabs(sn2 / N - 1.0) < 0.02, "normal variance %g", sn2 / N);
    for (int k = 0; k < 7; k++)
        CHECK(fabs(counts[k] / (double)N - 1.0 / 7) < 0.005, "below(7) bucket %d: %d", k, counts[k]);
    CHECK(qrng_below(&r, 1) == 0 && qrng_below(&r, 0) == 0, "below(1) / below(0) not 0");

    size_t idx[50], seen[50] = {0};
    for (size_t i = 0; i < 50; i++) idx[i] = i;
    qrng_shuffle_size(&r, idx, 50);
    int moved = 0;
    for (size_t i = 0; i < 50; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    int perm = 1;
    for (size_t i = 0; i < 50; i++) perm &= seen[i] == 1;
    CHECK(perm && moved > 10, "shuffle is not a permutation (perm %d, moved %d)", perm, moved);
    /* hash2 is splitmix64's sequence */
    CHECK(qrng_hash2(5, 0) == qrng_mix64(5 + 0x9E3779B97F4A7C15ULL), "hash2(5,0)");
    CHECK(qrng_hash2(5, 0) != qrng_hash2(5, 1) && qrng_hash2(5, 0) != qrng_hash2(6, 0), "hash2 collisions");
}

static void test_tokenizer(void) {
    char err[256];
    unsigned char bytes[512];
    for (int i = 0; i < 512; i++) bytes[i] = (unsigned char)(i * 37 + 11);
    int32_t tok[512];
    CHECK(qd_tok_encode(bytes, 512, tok) == 512, "encode count");
    int all = 1;
    for (int i = 0; i < 512; i++) all &= tok[i] == bytes[i] && tok[i] >= 0 && tok[i] < QD_VOCAB;
    CHECK(all, "token != byte value");
    char back[513];
    CHECK(qd_tok_decode(tok, 512, back, err, sizeof err) == 0, "decode failed: %s", err);
    CHECK(memcmp(back, bytes, 512) == 0 && back[512] == '\0', "round trip differs");
    const char *s = "Hello, world!\n\xff\x01";
    int32_t *t2;
    CHECK(qd_tok_encode_alloc(s, strlen(s), &t2, err, sizeof err) == 0, "encode_alloc: %s", err);
    CHECK(t2[0] == 'H' && t2[14] == 255 && t2[15] == 1, "encode_alloc values");
    free(t2);
    int32_t badt[3] = {65, 256, 66};
    CHECK(qd_tok_decode(badt, 3, back, err, sizeof err) == -1 && strstr(err, "256"), "token 256 accepted (%s)", err);
    badt[1] = -1;
    CHECK(qd_tok_decode(badt, 3, back, err, sizeof err) == -1, "token -1 accepted");
}

static int plans_equal(const qd_chunk *a, size_t na, const qd_chunk *b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].start != b[i].start || a[i].len != b[i].len || a[i].is_val != b[i].is_val) return 0;
    return 1;
}

static void test_split(void) {
    char err[256];
    size_t len = 400000;
    char *text = make_text(len, 3);
    qd_split_cfg cfg = {1000, 0.1, 11, NULL};
    qd_chunk *c;
    size_t n;
    CHECK(qd_split_plan(text, len, &cfg, &c, &n, err, sizeof err) == 0, "plan: %s", err);
    /* contiguous, covering, whole lines, bounded */
    size_t pos = 0, nval = 0, val_bytes = 0;
    int ok_contig = 1, ok_lines = 1, ok_len = 1;
    for (size_t k = 0; k < n; k++) {
        ok_contig &= c[k].start == pos && c[k].len > 0;
        ok_len &= c[k].len <= cfg.chunk_bytes;
        if (k + 1 < n) ok_lines &= text[c[k].start + c[k].len - 1] == '\n';
        pos += c[k].len;
        nval += (size_t)c[k].is_val;
        if (c[k].is_val) val_bytes += c[k].len;
    }
    CHECK(ok_contig && pos == len, "chunks are not contiguous or do not cover the text (end %zu)", pos);
    CHECK(ok_lines, "a chunk does not end at a line boundary");
    CHECK(ok_len, "a chunk is longer than chunk_bytes");
    CHECK(n > 380 && n < 500, "%zu chunks for 400 kB / 1000-byte chunks", n);
    CHECK(nval > n / 20 && nval < n / 6, "%zu of %zu chunks in val for fraction 0.1", nval, n);

    /* the token arrays are the chunks, in order */
    qd_tokens tr, va;
    CHECK(qd_split_text(text, len, &cfg, &tr, &va, err, sizeof err) == 0, "split: %s", err);
    CHECK(tr.n + va.n == len && va.n == val_bytes, "sizes train %zu val %zu", tr.n, va.n);
    size_t it = 0, iv = 0;
    int match = 1;
    for (size_t k = 0; k < n && match; k++) {
        qd_tokens *d = c[k].is_val ? &va : &tr;
        size_t *o = c[k].is_val ? &iv : &it;
        for (size_t i = 0; i < c[k].len; i++)
            match &= d->tok[*o + i] == (int32_t)(unsigned char)text[c[k].start + i];
        *o += c[k].len;
    }
    CHECK(match, "train/val tokens are not the chunks in order");

    /* deterministic for a seed, different for another */
    qd_chunk *c2;
    size_t n2;
    CHECK(qd_split_plan(text, len, &cfg, &c2, &n2, err, sizeof err) == 0, "plan 2: %s", err);
    CHECK(plans_equal(c, n, c2, n2), "same seed gave a different split");
    free(c2);
    qd_split_cfg cfg3 = cfg;
    cfg3.seed = 12;
    CHECK(qd_split_plan(text, len, &cfg3, &c2, &n2, err, sizeof err) == 0, "plan 3: %s", err);
    int differ = 0;
    for (size_t k = 0; k < n && k < n2; k++) differ += c[k].is_val != c2[k].is_val;
    CHECK(n2 == n && differ > 10, "seed 12 changed only %d assignments", differ);
    free(c2);
    free(c);
    qd_tokens_free(&tr);
    qd_tokens_free(&va);

    /* no newline at all: hard cuts at chunk_bytes */
    char flat[2500];
    memset(flat, 'x', sizeof flat);
    CHECK(qd_split_plan(flat, sizeof flat, &cfg, &c, &n, err, sizeof err) == 0, "flat: %s", err);
    CHECK(n == 3 && c[0].len == 1000 && c[1].len == 1000 && c[2].len == 500, "flat chunks %zu", n);
    free(c);

    /* tiny text: val and train both non-empty by the fallback rule */
    const char *tiny = "one\ntwo\nthree\n";
    qd_split_cfg tcfg = {4, 0.01, 1, NULL};
    CHECK(qd_split_text(tiny, strlen(tiny), &tcfg, &tr, &va, err, sizeof err) == 0, "tiny: %s", err);
    CHECK(tr.n > 0 && va.n > 0 && tr.n + va.n == strlen(tiny), "tiny split train %zu val %zu", tr.n, va.n);
    qd_tokens_free(&tr);
    qd_tokens_free(&va);
    tcfg.val_fraction = 0.99;
    CHECK(qd_split_text(tiny, strlen(tiny), &tcfg, &tr, &va, err, sizeof err) == 0, "tiny .99: %s", err);
    CHECK(tr.n > 0 && va.n > 0, "0.99 split left train empty (train %zu)", tr.n);
    qd_tokens_free(&tr);
    qd_tokens_free(&va);
    tcfg.val_fraction = 0.0;
    CHECK(qd_split_text(tiny, strlen(tiny), &tcfg, &tr, &va, err, sizeof err) == 0 && va.n == 0, "fraction 0 gave val");
    qd_tokens_free(&tr);
    qd_tokens_free(&va);

    /* bad config */
    qd_split_cfg bad = {1000, 1.0, 1, NULL};
    CHECK(qd_split_plan(text, len, &bad, &c, &n, err, sizeof err) == -1 && strstr(err, "val_fraction"), "fraction 1 accepted: %s", err);
    bad.val_fraction = 0.1;
    bad.chunk_bytes = 0;
    CHECK(qd_split_plan(text, len, &bad, &c, &n, err, sizeof err) == -1 && strstr(err, "chunk_bytes"), "chunk 0 accepted: %s", err);
    free(text);
}

static void test_files(const char *dir) {
    char err[256], path[1024];
    char *data;
    size_t len;
    snprintf(path, sizeof path, "%s/missing.txt", dir);
    CHECK(qt_read_file(path, &data, &len, err, sizeof err) == -1 && strstr(err, path) && strstr(err, "No such file"),
          "missing file: %s", err);
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    write_file(path, "", 0);
    CHECK(qt_read_file(path, &data, &len, err, sizeof err) == -1 && strstr(err, path) && strstr(err, "empty"),
          "empty file: %s", err);
    CHECK(qt_read_file(dir, &data, &len, err, sizeof err) == -1 && strstr(err, "regular"), "directory: %s", err);
    snprintf(path, sizeof path, "%s/a.txt", dir);
    write_file(path, "abc\n", 4);
    CHECK(qt_read_file(path, &data, &len, err, sizeof err) == 0 && len == 4 && strcmp(data, "abc\n") == 0, "read a.txt: %s", err);
    free(data);
    CHECK(qd_fnv1a64("a", 1) == 0xaf63dc4c8601ec8cULL, "fnv1a64(\"a\") = %llx",
          (unsigned long long)qd_fnv1a64("a", 1));
}

static void test_h5(const char *dir) {
    char err[256], path[1024];
    qd_tokens t = {malloc(100000 * sizeof(int32_t)), 100000, 0}, u;
    qrng r;
    qrng_seed(&r, 9);
    for (size_t i = 0; i < t.n; i++) t.tok[i] = (int32_t)qrng_below(&r, 256);
    qd_token_meta m = {123, 456789, 0xdeadbeefcafeULL, 77, 4096, 0.05, QD_PART_VAL, 256, 0, 0}, m2;
    snprintf(path, sizeof path, "%s/tok.h5", dir);
    CHECK(qd_tokens_save_h5(path, &t, &m, err, sizeof err) == 0, "save: %s", err);
    CHECK(qd_tokens_load_h5(path, &u, &m2, err, sizeof err) == 0, "load: %s", err);
    CHECK(u.n == t.n && memcmp(u.tok, t.tok, t.n * sizeof(int32_t)) == 0, "tokens differ after round trip");
    CHECK(m2.source_size == 123 && m2.source_mtime_ns == 456789 && m2.source_hash == 0xdeadbeefcafeULL &&
              m2.split_seed == 77 && m2.chunk_bytes == 4096 && m2.val_fraction == 0.05 && m2.part == QD_PART_VAL,
          "meta differs after round trip");
    qd_tokens_free(&u);

    /* empty array */
    qd_tokens e = {NULL, 0, 0};
    snprintf(path, sizeof path, "%s/empty.h5", dir);
    CHECK(qd_tokens_save_h5(path, &e, NULL, err, sizeof err) == 0, "save empty: %s", err);
    CHECK(qd_tokens_load_h5(path, &u, NULL, err, sizeof err) == 0 && u.n == 0, "load empty: %s", err);
    qd_tokens_free(&u);

    /* errors */
    snprintf(path, sizeof path, "%s/nope.h5", dir);
    CHECK(qd_tokens_load_h5(path, &u, NULL, err, sizeof err) == -1 && strstr(err, path), "missing h5: %s", err);
    snprintf(path, sizeof path, "%s/garbage.h5", dir);
    write_file(path, "this is not hdf5 at all, just text\n", 35);
    CHECK(qd_tokens_load_h5(path, &u, NULL, err, sizeof err) == -1 && strstr(err, path) && strstr(err, "HDF5"),
          "garbage h5: %s", err);
    /* truncated: copy half of a real file */
    char full[1024];
    snprintf(full, sizeof full, "%s/tok.h5", dir);
    char *data;
    size_t len;
    CHECK(qt_read_file(full, &data, &len, err, sizeof err) == 0, "%s", err);
    snprintf(path, sizeof path, "%s/trunc.h5", dir);
    write_file(path, data, len / 2);
    free(data);
    CHECK(qd_tokens_load_h5(path, &u, NULL, err, sizeof err) == -1 && strstr(err, path), "truncated h5 loaded: %s", err);
    /* out-of-range token */
    t.tok[500] = 300;
    snprintf(path, sizeof path, "%s/range.h5", dir);
    CHECK(qd_tokens_save_h5(path, &t, NULL, err, sizeof err) == 0, "save range: %s", err);
    CHECK(qd_tokens_load_h5(path, &u, NULL, err, sizeof err) == -1 && strstr(err, "300"), "token 300 loaded: %s", err);
    /* unwritable destination */
    snprintf(path, sizeof path, "%s/no/such/dir/x.h5", dir);
    CHECK(qd_tokens_save_h5(path, &t, NULL, err, sizeof err) == -1 && strstr(err, path), "save to missing dir: %s", err);
    qd_tokens_free(&t);
}

static int tokens_are_text(const qd_tokens *tr, const qd_tokens *va, const char *text, size_t len,
                           const qd_split_cfg *cfg) {
    qd_tokens a, b;
    char err[256];
    if (qd_split_text(text, len, cfg, &a, &b, err, sizeof err)) return 0;
    int ok = a.n == tr->n && b.n == va->n && memcmp(a.tok, tr->tok, a.n * 4) == 0 &&
             memcmp(b.tok, va->tok, b.n * 4) == 0;
    qd_tokens_free(&a);
    qd_tokens_free(&b);
    return ok;
}

static void test_text_cache(const char *dir) {
    char err[256], src[1024], prefix[1024], trp[1100];
    snprintf(src, sizeof src, "%s/corpus.txt", dir);
    snprintf(prefix, sizeof prefix, "%s/cache/corpus", dir);
    snprintf(trp, sizeof trp, "%s.train.h5", prefix);
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/cache", dir);
    mkdir(sub, 0755);
    size_t len = 50000;
    char *text = make_text(len, 5);
    write_file(src, text, len);
    qd_split_cfg cfg = {512, 0.1, 3, NULL};
    qd_text_data d;
    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0, "load 1: %s", err);
    CHECK(!d.from_cache, "first load claims cache");
    CHECK(tokens_are_text(&d.train, &d.val, text, len, &cfg), "load 1 tokens wrong");
    CHECK(d.meta.source_size == len && d.meta.source_hash == qd_fnv1a64(text, len), "meta of source");
    struct stat st;
    CHECK(stat(trp, &st) == 0, "cache file %s not written", trp);
    qd_text_free(&d);

    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0, "load 2: %s", err);
    CHECK(d.from_cache, "second load did not use the cache");
    CHECK(tokens_are_text(&d.train, &d.val, text, len, &cfg), "cached tokens wrong");
    qd_text_free(&d);

    /* stale: same size, different content */
    text[100] = text[100] == 'q' ? 'r' : 'q';
    write_file(src, text, len);
    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0, "load 3: %s", err);
    CHECK(!d.from_cache, "stale cache (content changed) was used");
    CHECK(tokens_are_text(&d.train, &d.val, text, len, &cfg), "rebuilt tokens wrong");
    qd_text_free(&d);
    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0 && d.from_cache, "rebuilt cache not reused");
    qd_text_free(&d);

    /* stale: different split parameters */
    cfg.seed = 4;
    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0 && !d.from_cache, "cache reused for another seed");
    CHECK(tokens_are_text(&d.train, &d.val, text, len, &cfg), "seed-4 tokens wrong");
    qd_text_free(&d);

    /* stale: truncated source (size changes) */
    write_file(src, text, len / 2);
    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0 && !d.from_cache, "cache reused after truncation");
    CHECK(d.train.n + d.val.n == len / 2, "truncated source gave %zu tokens", d.train.n + d.val.n);
    qd_text_free(&d);

    /* corrupt cache file: rebuilt, not an error */
    write_file(trp, "garbage", 7);
    CHECK(qd_text_load(src, &cfg, prefix, &d, err, sizeof err) == 0 && !d.from_cache, "corrupt cache: %s", err);
    qd_text_free(&d);

    /* no cache */
    CHECK(qd_text_load(src, NULL, NULL, &d, err, sizeof err) == 0 && !d.from_cache && d.train.n + d.val.n == len / 2,
          "no-cache load: %s", err);
    qd_text_free(&d);

    /* errors name the file */
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/nothere.txt", dir);
    CHECK(qd_text_load(missing, &cfg, prefix, &d, err, sizeof err) == -1 && strstr(err, missing), "missing text: %s", err);
    snprintf(missing, sizeof missing, "%s/empty2.txt", dir);
    write_file(missing, "", 0);
    CHECK(qd_text_load(missing, &cfg, NULL, &d, err, sizeof err) == -1 && strstr(err, missing) && strstr(err, "empty"),
          "empty text: %s", err);
    char badprefix[1100];
    snprintf(badprefix, sizeof badprefix, "%s/no/such/dir/c", dir);
    CHECK(qd_text_load(src, &cfg, badprefix, &d, err, sizeof err) == -1 && strstr(err, badprefix), "unwritable cache: %s", err);
    free(text);
}

static void test_windows(void) {
    qd_tokens t = {malloc(1001 * sizeof(int32_t)), 1001, 0};
    for (size_t i = 0; i < t.n; i++) t.tok[i] = (int32_t)(i % 256);
    CHECK(qd_tokens_n_windows(&t, 100) == 10, "n_windows(1001, 100) = %zu", qd_tokens_n_windows(&t, 100));
    CHECK(qd_tokens_n_windows(&t, 1000) == 1 && qd_tokens_n_windows(&t, 1001) == 0, "edge window counts");
    int32_t x[100], y[100];
    qd_tokens_window(&t, 9, 100, x, y);
    CHECK(x[0] == 900 % 256 && y[99] == 1000 % 256, "window 9 content");
    qd_tokens_free(&t);
}

/* Is (x, y) a window of src starting at one of the allowed starts? */
static int is_window(const qd_source *s, const int32_t *x, const int32_t *y, int T) {
    size_t n_pos = s->starts ? s->n_starts : s->n - (size_t)T;
    for (size_t k = 0; k < n_pos; k++) {
        size_t st = s->starts ? s->starts[k] : k;
        if (st + (size_t)T + 1 > s->n) continue;
        if (memcmp(s->tok + st, x, (size_t)T * 4) == 0 && memcmp(s->tok + st + 1, y, (size_t)T * 4) == 0)
            return 1;
    }
    return 0;
}

static void test_mixture(void) {
    char err[256];
    size_t na = 3000, nb = 2000;
    int32_t *a = malloc(na * 4), *b = malloc(nb * 4);
    qrng r;
    qrng_seed(&r, 17);
    for (size_t i = 0; i < na; i++) a[i] = (int32_t)qrng_below(&r, 128);       /* source 0: < 128 */
    for (size_t i = 0; i < nb; i++) b[i] = 128 + (int32_t)qrng_below(&r, 128); /* source 1: >= 128 */
    qd_mix m;
    qd_mix_init(&m);
    CHECK(qd_mix_add(&m, "a", a, na, NULL, 0, 3.0, err, sizeof err) == 0, "add a: %s", err);
    CHECK(qd_mix_add(&m, "b", b, nb, NULL, 0, 1.0, err, sizeof err) == 0, "add b: %s", err);
    enum { B = 8, T = 64 };
    int32_t x[B * T], y[B * T], x2[B * T], y2[B * T];
    int src[B], src2[B];
    qrng_seed(&r, 5);
    qrng saved = r;
    CHECK(qd_mix_batch(&m, B, T, &r, x, y, src, err, sizeof err) == 0, "batch: %s", err);
    qrng after = r;
    r = saved;
    CHECK(qd_mix_batch(&m, B, T, &r, x2, y2, src2, err, sizeof err) == 0, "batch 2: %s", err);
    CHECK(memcmp(x, x2, sizeof x) == 0 && memcmp(y, y2, sizeof y) == 0 && memcmp(src, src2, sizeof src) == 0,
          "same RNG state gave different batches");
    CHECK(memcmp(&r, &after, sizeof r) == 0, "RNG advanced differently");
    CHECK(qd_mix_batch(&m, B, T, &r, x2, y2, NULL, err, sizeof err) == 0, "batch 3: %s", err);
    CHECK(memcmp(x, x2, sizeof x) != 0, "advanced RNG gave the same batch");

    int shifted = 1, windows = 1, pure = 1;
    for (int row = 0; row < B; row++) {
        for (int t = 0; t + 1 < T; t++) shifted &= y[row * T + t] == x[row * T + t + 1];
        windows &= is_window(&m.src[src[row]], x + row * T, y + row * T, T);
        for (int t = 0; t < T; t++) pure &= (x[row * T + t] >= 128) == (src[row] == 1);
    }
    CHECK(shifted, "y is not x shifted by one");
    CHECK(windows, "a row is not a window of its source");
    CHECK(pure, "a row mixes sources");

    /* weights: 3:1 */
    int count[2] = {0, 0};
    for (int it = 0; it < 1000; it++) {
        CHECK(qd_mix_batch(&m, B, T, &r, x, y, src, err, sizeof err) == 0, "%s", err);
        for (int row = 0; row < B; row++) count[src[row]]++;
    }
    double fa = count[0] / 8000.0;
    CHECK(fabs(fa - 0.75) < 0.03, "source a drew %.3f of rows, weight says 0.75", fa);

    /* weight 0 is never drawn; starts restrict the windows */
    size_t starts[3] = {0, 1000, 2850}; /* for d (3000 tokens), 2850 + 201 > 3000: unusable at T = 200 */
    CHECK(qd_mix_add(&m, "c", b, nb, starts, 2, 0.0, err, sizeof err) == 0, "add c: %s", err);
    CHECK(qd_mix_add(&m, "d", a, na, starts, 3, 2.0, err, sizeof err) == 0, "add d: %s", err);
    int zero_drawn = 0, d_ok = 1, d_rows = 0;
    int32_t xb[B * 200], yb[B * 200];
    for (int it = 0; it < 200; it++) {
        CHECK(qd_mix_batch(&m, B, 200, &r, xb, yb, src, err, sizeof err) == 0, "%s", err);
        for (int row = 0; row < B; row++) {
            zero_drawn += src[row] == 2;
            if (src[row] == 3) {
                d_rows++;
                d_ok &= memcmp(xb + row * 200, a, 800) == 0 || memcmp(xb + row * 200, a + 1000, 800) == 0;
            }
        }
    }
    CHECK(zero_drawn == 0, "weight-0 source drawn %d times", zero_drawn);
    CHECK(d_rows > 0 && d_ok, "rows of source d (%d) do not start at its allowed starts", d_rows);

    /* a source of exactly T + 1 tokens has one window */
    qd_mix one;
    qd_mix_init(&one);
    CHECK(qd_mix_add(&one, "one", a, T + 1, NULL, 0, 1.0, err, sizeof err) == 0, "add one: %s", err);
    int exact = 1;
    for (int it = 0; it < 50; it++) {
        CHECK(qd_mix_batch(&one, B, T, &r, x, y, NULL, err, sizeof err) == 0, "%s", err);
        for (int row = 0; row < B; row++)
            exact &= memcmp(x + row * T, a, T * 4) == 0 && memcmp(y + row * T, a + 1, T * 4) == 0;
    }
    CHECK(exact, "a (T+1)-token source gave a window other than its only one");
    CHECK(qd_mix_batch(&one, B, T + 1, &r, xb, yb, NULL, err, sizeof err) == -1 && strstr(err, "\"one\""),
          "T+1 tokens accepted for T+1: %s", err);
    qd_mix_free(&one);

    /* errors */
    CHECK(qd_mix_batch(&m, B, 2500, &r, xb, yb, NULL, err, sizeof err) == -1 && strstr(err, "\"b\""),
          "too-short source accepted: %s", err);
    CHECK(qd_mix_add(&m, "e", a, 0, NULL, 0, 1.0, err, sizeof err) == -1 && strstr(err, "empty"), "empty source: %s", err);
    CHECK(qd_mix_add(&m, "e", a, na, NULL, 0, -1.0, err, sizeof err) == -1 && strstr(err, "weight"), "negative weight: %s", err);
    size_t bad_starts[2] = {5, 5};
    CHECK(qd_mix_add(&m, "e", a, na, bad_starts, 2, 1.0, err, sizeof err) == -1 && strstr(err, "ascending"),
          "bad starts: %s", err);
    int32_t badtok[3] = {1, 999, 2};
    CHECK(qd_mix_add(&m, "e", badtok, 3, NULL, 0, 1.0, err, sizeof err) == -1 && strstr(err, "999"), "bad token: %s", err);
    qd_mix_free(&m);
    qd_mix_init(&m);
    CHECK(qd_mix_batch(&m, B, T, &r, x, y, NULL, err, sizeof err) == -1 && strstr(err, "weight"), "empty mixture: %s", err);
    qd_mix_free(&m);
    free(a);
    free(b);
}

int main(void) {
    char dir[512];
    tu_tmpdir(dir, sizeof dir);
    test_rng();
    test_tokenizer();
    test_split();
    test_files(dir);
    test_h5(dir);
    test_text_cache(dir);
    test_windows();
    test_mixture();
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return tu_finish("test_data");
}
