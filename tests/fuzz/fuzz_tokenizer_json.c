/* libFuzzer target: the tokenizer.json loader (data/tok_json.c and the
 * pipeline behind qd_tokenizer_load). Input: a tokenizer.json, optionally
 * followed by "\n#CONFIG#\n" and a tokenizer_config.json written beside it.
 * Checks: never crashes, leaks or hangs; a refusal has a one-line message; an
 * accepted tokenizer passes fuzz_tok_check (view, encode, decode). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_tok_check.h"

static const char SEP[] = "\n#CONFIG#\n";

static const void *find(const uint8_t *d, size_t n, const char *s, size_t k) {
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(d + i, s, k)) return d + i;
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char dir[4096], path[4200], cfg[4200], err[1024];
    if (fuzz_write_tmp((const uint8_t *)"", 0, "_tokdir", dir, sizeof dir)) return 0;
    unlink(dir);
    if (mkdir(dir, 0700) && errno != EEXIST) return 0;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    snprintf(cfg, sizeof cfg, "%s/tokenizer_config.json", dir);
    const uint8_t *sep = find(data, size, SEP, sizeof SEP - 1);
    size_t jn = sep ? (size_t)(sep - data) : size;
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    if (jn) fwrite(data, 1, jn, f);
    fclose(f);
    unlink(cfg);
    if (sep) {
        f = fopen(cfg, "wb");
        if (!f) return 0;
        size_t off = jn + sizeof SEP - 1;
        if (size > off) fwrite(data + off, 1, size - off, f);
        fclose(f);
    }
    qd_tokenizer *t = qd_tokenizer_load(path, err, sizeof err);
    if (!t) fuzz_check_msg(err, sizeof err);
    else fuzz_tok_check(t, data, size);
    qd_tokenizer_free(t);
    unlink(path);
    unlink(cfg);
    rmdir(dir);
    return 0;
}
