/* libFuzzer target: the GGUF tokenizer loader (data/tok_gguf.c through
 * qd_tokenizer_load on a .gguf path). Input: file bytes. Checks: never
 * crashes, leaks or hangs; a refusal has a one-line message; an accepted
 * tokenizer passes fuzz_tok_check (view, encode, decode). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_tok_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096], err[1024];
    if (fuzz_write_tmp(data, size, "_tok.gguf", path, sizeof path)) return 0;
    qd_tokenizer *t = qd_tokenizer_load(path, err, sizeof err);
    if (!t) fuzz_check_msg(err, sizeof err);
    else fuzz_tok_check(t, data, size);
    qd_tokenizer_free(t);
    unlink(path);
    return 0;
}
