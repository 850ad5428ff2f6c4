/* libFuzzer target: the HDF5 token-cache reader (qd_tokens_load_h5).
 * Input: file bytes. Checks: never crashes; a refusal has a one-line message;
 * accepted tokens are all in [0, 256) and decode; an input whose integrity
 * header does not verify is refused by that check, before libhdf5 parses it
 * (h5_raw.h; QATC_FUZZ_RAW_HDF5=1 seals inputs so they reach libhdf5). */
#include <stdint.h>
#include <stdlib.h>

#include "data/dataset.h"
#include <hdf5.h>

#include "fuzz_util.h"
#include "h5_raw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096], err[256];
    if (fuzz_h5_write_input(data, size, ".tokens.h5", path, sizeof path)) return 0;
    qd_tokens t;
    qd_token_meta meta;
    if (qd_tokens_load_h5(path, &t, &meta, err, sizeof err) == 0) {
        char *s = malloc(t.n + 1);
        if (s && qd_tok_decode(t.tok, t.n, s, err, sizeof err)) {
            fprintf(stderr, "accepted tokens do not decode: %s\n", err);
            abort();
        }
        free(s);
        fuzz_h5_verify_accepted(data, size, path);
    } else {
        fuzz_check_msg(err, sizeof err);
        fuzz_h5_verify_refusal(data, size, path, "an HDF5 token file with dataset \"tokens\"", err, sizeof err);
    }
    qd_tokens_free(&t);
    fuzz_check_h5_closed("qd_tokens_load_h5");
    unlink(path);
    return 0;
}
