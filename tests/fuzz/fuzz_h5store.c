/* libFuzzer target: the HDF5 checkpoint reader (store/h5store.c) on raw file
 * bytes, as qat_train --resume and model.init use it. Checks: see
 * h5_checks.h (never crashes; one-line refusals; every listed entry reads).
 *
 * Raw bytes mostly exercise libhdf5's own metadata parser, which (1.10.8,
 * Debian 12) is not memory-safe on corrupt files: it can overflow a heap
 * buffer (H5O__msg_iterate_real from H5Aexists) or allocate gigabytes
 * (H5C_protect). Those are libhdf5 bugs, out of qatc's reach, so this target
 * is replay-only in run.sh unless QATC_FUZZ_RAW_HDF5=1; fuzz_h5_struct
 * fuzzes the reader's own logic with well-formed HDF5 files. */
#include "h5_checks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[4096];
    if (fuzz_write_tmp(data, size, ".h5", path, sizeof path)) return 0;
    check_ckpt_file(path);
    unlink(path);
    return 0;
}
