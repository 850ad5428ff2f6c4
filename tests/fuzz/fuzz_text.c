/* libFuzzer target: text datasets (qd_text_load: read, split, token cache)
 * and the batcher over the result.
 * Input: 4 bytes of split parameters (chunk_bytes, val_fraction, seed), then
 * the text file. Checks: never crashes; a refusal has a one-line message;
 * train + val tokens are exactly the file's bytes (every chunk lands in one
 * part, in order); a cache written from the text reloads to the same tokens;
 * batches drawn from the train tokens are windows of it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include <hdf5.h>

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 4 || size > (1u << 20)) return 0;
    qd_split_cfg cfg = qd_split_default();
    cfg.chunk_bytes = 1 + (size_t)data[0] * 4;
    cfg.val_fraction = data[1] / 256.0;
    cfg.seed = (uint64_t)data[2] << 8 | data[3];
    const uint8_t *text = data + 4;
    size_t n = size - 4;
    char path[4096], prefix[4096], err[256];
    if (fuzz_write_tmp(text, n, ".txt", path, sizeof path)) return 0;
    snprintf(prefix, sizeof prefix, "%s.cache", path);
    for (int pass = 0; pass < 2; pass++) { /* pass 0 writes the cache, pass 1 reads it */
        qd_text_data d;
        memset(&d, 0, sizeof d);
        if (qd_text_load(path, &cfg, prefix, &d, err, sizeof err) == 0) {
            if (d.train.n + d.val.n != n) {
                fprintf(stderr, "split lost bytes: %zu + %zu != %zu\n", d.train.n, d.val.n, n);
                abort();
            }
            if (pass == 1 && !d.from_cache) {
                fprintf(stderr, "a fresh cache was not reused\n");
                abort();
            }
            /* the train part is a subsequence of the text: bytes match in order */
            size_t j = 0;
            for (size_t i = 0; i < n && j < d.train.n; i++)
                if (text[i] == (uint8_t)d.train.tok[j]) j++;
            if (j != d.train.n) abort();
            qd_mix m;
            qd_mix_init(&m);
            int T = 8, B = 2;
            if (qd_mix_add(&m, "t", d.train.tok, d.train.n, NULL, 0, 1.0, err, sizeof err) == 0) {
                int32_t x[16], y[16];
                qrng rng;
                qrng_seed_stream(&rng, 1, 1);
                if (qd_mix_batch(&m, B, T, &rng, x, y, NULL, err, sizeof err) == 0) {
                    for (int k = 0; k < B * T; k++)
                        if (x[k] < 0 || x[k] > 255 || y[k] < 0 || y[k] > 255) abort();
                    for (int b = 0; b < B; b++)
                        for (int k = 0; k + 1 < T; k++)
                            if (y[b * T + k] != x[b * T + k + 1]) abort();
                } else {
                    fuzz_check_msg(err, sizeof err);
                }
            } else {
                fuzz_check_msg(err, sizeof err);
            }
            qd_mix_free(&m);
        } else {
            fuzz_check_msg(err, sizeof err);
        }
        qd_text_free(&d);
    }
    char p[4200];
    snprintf(p, sizeof p, "%s.train.h5", prefix);
    unlink(p);
    snprintf(p, sizeof p, "%s.val.h5", prefix);
    unlink(p);
    fuzz_check_h5_closed("qd_text_load");
    unlink(path);
    return 0;
}
