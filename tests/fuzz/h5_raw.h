/* Raw-byte input of the HDF5 fuzz targets (fuzz_h5store, fuzz_tokens_h5).
 *
 * Normal mode: the bytes go to the reader as they are. A reader verifies
 * qatc's integrity header (store/h5image.h) before libhdf5 sees anything, so
 * a mutated file is refused by its checksum; fuzz_h5_verify_refusal asserts
 * that every input that does not verify is refused with exactly the
 * integrity check's message (libhdf5 never parsed it).
 *
 * QATC_FUZZ_RAW_HDF5=1: each input is sealed first (a fresh header with the
 * right length and checksums; inputs without qatc's magic get a user block
 * in front), so the mutated bytes do reach libhdf5's parser. That fuzzes
 * libhdf5 itself (1.10 is not memory-safe on corrupt metadata: see
 * tests/fuzz/pending/README.md), i.e. what a file corrupted before its
 * checksum was computed would do; it is not part of qatc's guarantee. */
#ifndef QATC_FUZZ_H5_RAW_H
#define QATC_FUZZ_H5_RAW_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "store/h5image.h"

static int fuzz_raw_hdf5_mode(void) {
    const char *e = getenv("QATC_FUZZ_RAW_HDF5");
    return e && *e == '1';
}

/* Writes the input (sealed in raw mode) to a temp file; returns 0 or -1 (skip). */
static int fuzz_h5_write_input(const uint8_t *data, size_t size, const char *suffix, char *path, size_t cap) {
    if (!fuzz_raw_hdf5_mode()) return fuzz_write_tmp(data, size, suffix, path, cap);
    int has_magic = size >= 8 && !memcmp(data, "\x89QATCH5\n", 8);
    size_t pre = has_magic ? 0 : QT_H5IMAGE_BLOCK, n = pre + size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) return -1;
    memset(b, 0, pre);
    if (size) memcpy(b + pre, data, size);
    if (qt_h5image_seal(b, n) != 0) { /* too short to seal: as it is */
        free(b);
        return fuzz_write_tmp(data, size, suffix, path, cap);
    }
    int rc = fuzz_write_tmp(b, n, suffix, path, cap);
    free(b);
    return rc;
}

/* After a reader refused the file at path with message msg: when the input
 * bytes do not verify, the refusal must be the integrity check's own message
 * (so libhdf5 never saw the bytes). what: the reader's expectation, as it
 * passes it to qt_h5image_read; cap: the size of the reader's error buffer. */
static void fuzz_h5_verify_refusal(const uint8_t *data, size_t size, const char *path, const char *what,
                                   const char *msg, size_t cap) {
    if (fuzz_raw_hdf5_mode()) return;
    char verr[4096];
    if (cap > sizeof verr) cap = sizeof verr;
    if (qt_h5image_verify(data, size, path, what, NULL, verr, cap) == 0) return;
    if (strcmp(verr, msg) != 0) {
        fprintf(stderr, "unverified input refused with another message:\n  got:    %s\n  wanted: %s\n", msg, verr);
        abort();
    }
}

/* An input that does not verify must not be accepted. */
static void fuzz_h5_verify_accepted(const uint8_t *data, size_t size, const char *path) {
    if (fuzz_raw_hdf5_mode()) return;
    char verr[1024];
    if (qt_h5image_verify(data, size, path, NULL, NULL, verr, sizeof verr) != 0) {
        fprintf(stderr, "an input that does not verify was accepted: %s\n", verr);
        abort();
    }
}

#endif
