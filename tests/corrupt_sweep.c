/* Helper of tests/cli/corrupt_files.sh (not a test by itself): corrupts a
 * good qatc HDF5 file in many ways and checks that qatc's readers refuse each
 * corruption in one line, before libhdf5 parses anything.
 *
 *   corrupt_sweep check ckpt|tokens GOOD WORKDIR
 *       every mutation of GOOD (truncations at many points, single-byte flips
 *       at many offsets: the integrity header, the HDF5 superblock, every
 *       B-tree / heap / symbol-table node and object header signature found,
 *       evenly spread offsets through the chunked (Fletcher-32) data, and
 *       8-byte field overwrites) is written to WORKDIR and loaded in this
 *       process: qt_h5r_open plus a read of every entry (ckpt: checkpoints,
 *       --resume) or qd_tokens_load_h5 (tokens: token caches). Each must be
 *       refused with a non-empty one-line message naming the file and saying
 *       why (truncated / checksum mismatch / integrity header), with no HDF5
 *       object left open. A crash or a sanitizer report ends the process,
 *       which the script sees. Exit 0 when all hold, 1 otherwise.
 *   corrupt_sweep write GOOD OUTDIR N
 *       writes N mutations of GOOD (spread over the kinds above) as
 *       OUTDIR/mNNN-<kind>.h5 and prints their paths, for the command-line
 *       tools (qat_eval, qat_inspect, qat_train model.init / --resume). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "data/dataset.h"
#include "store/h5image.h"
#include "store/h5store.h"

typedef enum { M_TRUNC, M_FLIP, M_OVER8 } mkind;

typedef struct {
    mkind kind;
    size_t off;   /* cut length (M_TRUNC) or first byte changed */
    uint64_t val; /* xor mask (M_FLIP, low byte) or the 8 bytes written (M_OVER8) */
    const char *where;
} mutation;

typedef struct {
    mutation *m;
    size_t n, cap;
} mlist;

static void add(mlist *l, mkind k, size_t off, uint64_t val, const char *where) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->m = realloc(l->m, l->cap * sizeof *l->m);
        if (!l->m) abort();
    }
    l->m[l->n++] = (mutation){k, off, val, where};
}

/* The mutations of an n-byte image. */
static void plan(const unsigned char *img, size_t n, mlist *l) {
    static const size_t cuts[] = {0, 1, 7, 8, 20, 31, 32, 33, 100, 511, 512, 513, 519, 520, 600, 1024};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        if (cuts[i] < n) add(l, M_TRUNC, cuts[i], 0, "fixed cut");
    for (size_t k = 1; k < 48; k++) add(l, M_TRUNC, n * k / 48, 0, "spread cut");
    add(l, M_TRUNC, n - 1, 0, "last byte");
    add(l, M_TRUNC, n - 8, 0, "last 8 bytes");

    static const uint64_t masks[] = {0x01, 0x80, 0xff, 0x10, 0x5a};
    for (size_t i = 0; i < QT_H5IMAGE_HEADER; i++) add(l, M_FLIP, i, masks[i % 5], "integrity header");
    add(l, M_FLIP, 100, 0x01, "user block padding");
    add(l, M_FLIP, QT_H5IMAGE_BLOCK - 1, 0x80, "user block padding");
    for (size_t i = QT_H5IMAGE_BLOCK; i < QT_H5IMAGE_BLOCK + 96 && i < n; i += 3)
        add(l, M_FLIP, i, masks[i % 5], "HDF5 superblock");
    /* HDF5 metadata structures, found by their signatures */
    static const char *const sigs[] = {"TREE", "HEAP", "SNOD", "OHDR", "OCHK", "FRHP", "BTHD", "BTLF", "GCOL"};
    int found = 0;
    for (size_t i = QT_H5IMAGE_BLOCK; i + 4 <= n && found < 40; i++)
        for (size_t s = 0; s < sizeof sigs / sizeof sigs[0]; s++)
            if (!memcmp(img + i, sigs[s], 4)) {
                found++;
                for (size_t d = 0; d < 24 && i + d < n; d += 5) add(l, M_FLIP, i + d, masks[d % 5], sigs[s]);
                if (i + 16 <= n) add(l, M_OVER8, i + 8, UINT64_MAX, sigs[s]);
                if (i + 24 <= n) add(l, M_OVER8, i + 16, (uint64_t)1 << 40, sigs[s]);
            }
    /* spread through the file: mostly chunked, Fletcher-32-checked data */
    for (size_t k = 1; k < 97; k++) add(l, M_FLIP, n * k / 97, masks[k % 5], "spread (data chunks)");
    add(l, M_FLIP, n - 1, 0x01, "last byte");
    /* 8-byte fields: the length in the header, superblock addresses, spread */
    add(l, M_OVER8, 16, (uint64_t)n + 1, "header length + 1");
    add(l, M_OVER8, 16, (uint64_t)n - 1, "header length - 1");
    for (size_t o = QT_H5IMAGE_BLOCK + 8; o + 8 <= n && o < QT_H5IMAGE_BLOCK + 96; o += 8)
        add(l, M_OVER8, o, o % 16 ? UINT64_MAX : 0, "superblock field");
    for (size_t k = 1; k < 31; k++) {
        size_t o = n * k / 31;
        if (o + 8 <= n) add(l, M_OVER8, o, k % 2 ? UINT64_MAX : (uint64_t)1 << 62, "spread 8-byte field");
    }
}

/* Applies m to a copy of img; returns the new length, or (size_t)-1 when the
 * mutation changes nothing. */
static size_t apply(const unsigned char *img, size_t n, const mutation *m, unsigned char *out) {
    memcpy(out, img, n);
    if (m->kind == M_TRUNC) return m->off;
    if (m->kind == M_FLIP) {
        out[m->off] ^= (unsigned char)m->val;
        return n;
    }
    for (int i = 0; i < 8; i++) out[m->off + (size_t)i] = (unsigned char)(m->val >> (8 * i));
    return memcmp(out + m->off, img + m->off, 8) ? n : (size_t)-1;
}

static const char *kind_name(mkind k) { return k == M_TRUNC ? "trunc" : k == M_FLIP ? "flip" : "over8"; }

static int write_file(const char *path, const unsigned char *b, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(b, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : -1;
}

static unsigned char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = len > 0 ? malloc((size_t)len) : NULL;
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    if (b && *n != (size_t)len) {
        free(b);
        return NULL;
    }
    return b;
}

/* Loads path as the reader of `kind` does; 0 when it was accepted, else -1
 * with the message in err. */
static int load(const char *kind, const char *path, char *err, size_t cap) {
    if (!strcmp(kind, "tokens")) {
        qd_tokens t;
        int rc = qd_tokens_load_h5(path, &t, NULL, err, cap);
        qd_tokens_free(&t);
        return rc;
    }
    qt_h5r *r = qt_h5r_open(path, err, cap);
    if (!r) return -1;
    /* accepted: read every entry (only a mutation that changed nothing the
     * checksums cover could get here, which the caller reports) */
    for (int i = 0; i < qt_h5r_count(r); i++) {
        const char *name = qt_h5r_name(r, i);
        if (qt_h5r_kind(r, name) == QT_H5_STRING) free(qt_h5r_string(r, name));
    }
    qt_h5r_close(r);
    return 0;
}

static int check(const char *kind, const char *good, const char *dir) {
    size_t n = 0;
    unsigned char *img = slurp(good, &n);
    char err[1024], path[4200];
    if (!img) {
        fprintf(stderr, "corrupt_sweep: cannot read %s\n", good);
        return 1;
    }
    if (load(kind, good, err, sizeof err)) {
        fprintf(stderr, "corrupt_sweep: the good file is refused: %s\n", err);
        return 1;
    }
    mlist l = {0};
    plan(img, n, &l);
    unsigned char *buf = malloc(n);
    int bad = 0, tested = 0;
    snprintf(path, sizeof path, "%s/mutated.h5", dir);
    for (size_t i = 0; i < l.n; i++) {
        const mutation *m = &l.m[i];
        size_t len = apply(img, n, m, buf);
        if (len == (size_t)-1) continue;
        if (write_file(path, buf, len)) {
            fprintf(stderr, "corrupt_sweep: cannot write %s\n", path);
            return 1;
        }
        tested++;
        err[0] = 0;
        int rc = load(kind, path, err, sizeof err);
        const char *why = NULL;
        if (rc == 0) why = "accepted";
        else if (!err[0]) why = "empty message";
        else if (strchr(err, '\n')) why = "multi-line message";
        else if (!strstr(err, "mutated.h5")) why = "message does not name the file";
        else if (!strstr(err, "truncated") && !strstr(err, "checksum mismatch") && !strstr(err, "integrity header"))
            why = "not refused by the integrity check";
        else if (m->kind == M_TRUNC && !strstr(err, "truncated") && !strstr(err, "integrity header"))
            why = "a truncation not reported as one";
        else if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0)
            why = "HDF5 objects left open";
        if (why) {
            bad++;
            fprintf(stderr, "FAIL %s %s at %zu (%s): %s: %s\n", kind, kind_name(m->kind), m->off, m->where, why, err);
        }
    }
    printf("corrupt_sweep: %s %s (%zu bytes): %d mutations, %d not refused correctly\n", kind, good, n, tested, bad);
    free(buf);
    free(l.m);
    free(img);
    return bad ? 1 : 0;
}

static int write_sample(const char *good, const char *dir, int want) {
    size_t n = 0;
    unsigned char *img = slurp(good, &n);
    if (!img) {
        fprintf(stderr, "corrupt_sweep: cannot read %s\n", good);
        return 1;
    }
    mlist l = {0};
    plan(img, n, &l);
    unsigned char *buf = malloc(n);
    char path[4200];
    int k = 0;
    for (size_t j = 0; k < want && j < l.n; j++) {
        /* an even spread over the plan (which is grouped by kind) */
        size_t i = (size_t)((double)j * (double)l.n / (double)want);
        if (i >= l.n) break;
        size_t len = apply(img, n, &l.m[i], buf);
        if (len == (size_t)-1) continue;
        snprintf(path, sizeof path, "%s/m%03d-%s.h5", dir, k++, kind_name(l.m[i].kind));
        if (write_file(path, buf, len)) {
            fprintf(stderr, "corrupt_sweep: cannot write %s\n", path);
            return 1;
        }
        printf("%s\n", path);
    }
    free(buf);
    free(l.m);
    free(img);
    return 0;
}

int main(int argc, char **argv) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (argc == 5 && !strcmp(argv[1], "check") && (!strcmp(argv[2], "ckpt") || !strcmp(argv[2], "tokens")))
        return check(argv[2], argv[3], argv[4]);
    if (argc == 5 && !strcmp(argv[1], "write")) return write_sample(argv[2], argv[3], atoi(argv[4]));
    fprintf(stderr, "usage: corrupt_sweep check ckpt|tokens GOOD WORKDIR | corrupt_sweep write GOOD OUTDIR N\n");
    return 2;
}
