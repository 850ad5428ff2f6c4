/* libFuzzer target: the HDF5 checkpoint reader (store/h5store.c) on raw file
 * bytes, as qat_train --resume and model.init use it. Checks: see
 * h5_checks.h (never crashes; one-line refusals; every listed entry reads),
 * and h5_raw.h: an input whose integrity header (store/h5image.h) does not
 * verify is refused with the integrity check's own message, before libhdf5
 * parses anything; only verified inputs are accepted. QATC_FUZZ_RAW_HDF5=1
 * seals every input first, so that the mutated bytes reach libhdf5 itself. */
#include "h5_checks.h"
#include "h5_raw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096], err[1024];
    if (fuzz_h5_write_input(data, size, ".h5", path, sizeof path)) return 0;
    if (check_ckpt_file(path, err, sizeof err)) fuzz_h5_verify_accepted(data, size, path);
    else fuzz_h5_verify_refusal(data, size, path, "a qatc checkpoint", err, sizeof err);
    unlink(path);
    return 0;
}
