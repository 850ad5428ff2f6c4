/* qatc store/h5image: integrity header of qatc's HDF5 files (see h5image.h). */
#include "store/h5image.h"

#include "base/err.h"
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

static const unsigned char MAGIC[8] = {0x89, 'Q', 'A', 'T', 'C', 'H', '5', '\n'};
static const unsigned char HDF5_SIG[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

static void put32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void put64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get32(const unsigned char *p) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint64_t get64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* zlib's CRC-32 over any length (its length argument is 32-bit). */
static uint32_t crc_of(const unsigned char *p, size_t n) {
    uLong c = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

int qt_h5image_seal(unsigned char *img, size_t n) {
    if (!img || n < QT_H5IMAGE_BLOCK + sizeof HDF5_SIG) return -1;
    memset(img, 0, QT_H5IMAGE_BLOCK);
    memcpy(img, MAGIC, sizeof MAGIC);
    put32(img + 8, QT_H5IMAGE_VERSION);
    put32(img + 12, QT_H5IMAGE_BLOCK);
    put64(img + 16, (uint64_t)n);
    put32(img + 24, crc_of(img + QT_H5IMAGE_HEADER, n - QT_H5IMAGE_HEADER));
    put32(img + 28, crc_of(img, 28));
    return 0;
}

int qt_h5image_verify(const unsigned char *img, size_t n, const char *path, const char *what,
                      qt_h5image_info *info, char *err, size_t errlen) {
    if (!what) what = "a qatc HDF5 file";
    if (n < sizeof MAGIC || memcmp(img, MAGIC, sizeof MAGIC) != 0) {
        const char *why = n == 0 ? "empty"
                          : n >= sizeof HDF5_SIG && !memcmp(img, HDF5_SIG, sizeof HDF5_SIG)
                              ? "an HDF5 file without it: written by another program or an older qatc"
                              : "no HDF5 signature";
        qt_set_err(err, errlen, "%s: not a qatc HDF5 file: lacks qatc's integrity header (%zu bytes, %s); expected %s",
                   path, n, why, what);
        return -1;
    }
    if (n < QT_H5IMAGE_HEADER) {
        qt_set_err(err, errlen, "%s: truncated: %zu bytes, shorter than qatc's %d-byte integrity header", path, n,
                   QT_H5IMAGE_HEADER);
        return -1;
    }
    if (crc_of(img, 28) != get32(img + 28)) {
        qt_set_err(err, errlen, "%s: checksum mismatch (corrupted file): qatc's integrity header is damaged", path);
        return -1;
    }
    uint32_t version = get32(img + 8), block = get32(img + 12);
    uint64_t length = get64(img + 16);
    if (version != QT_H5IMAGE_VERSION) {
        qt_set_err(err, errlen, "%s: qatc integrity header version %u, this build reads version %d (a newer qatc?)",
                   path, (unsigned)version, QT_H5IMAGE_VERSION);
        return -1;
    }
    if (block != QT_H5IMAGE_BLOCK || length < QT_H5IMAGE_BLOCK + sizeof HDF5_SIG) {
        qt_set_err(err, errlen, "%s: qatc integrity header declares a %u-byte block and %llu bytes, expected %d and more",
                   path, (unsigned)block, (unsigned long long)length, QT_H5IMAGE_BLOCK);
        return -1;
    }
    if ((uint64_t)n < length) {
        qt_set_err(err, errlen, "%s: truncated: %zu of %llu bytes", path, n, (unsigned long long)length);
        return -1;
    }
    if ((uint64_t)n > length) {
        qt_set_err(err, errlen, "%s: %zu bytes, but qatc's integrity header says %llu (data appended or corrupted file)",
                   path, n, (unsigned long long)length);
        return -1;
    }
    uint32_t crc = crc_of(img + QT_H5IMAGE_HEADER, n - QT_H5IMAGE_HEADER);
    if (crc != get32(img + 24)) {
        qt_set_err(err, errlen, "%s: checksum mismatch (corrupted file)", path);
        return -1;
    }
    if (info) {
        info->version = version;
        info->length = length;
        info->crc = crc;
    }
    return 0;
}

unsigned char *qt_h5image_read(const char *path, const char *what, size_t *n, qt_h5image_info *info,
                               char *err, size_t errlen) {
    *n = 0;
    size_t size = 0;
    int fd = qt_open_regular(path, &size, err, errlen);
    if (fd < 0) return NULL;
    unsigned char *img = qt_read_image(fd, size, path, err, errlen);
    if (!img) return NULL;
    if (qt_h5image_verify(img, size, path, what, info, err, errlen)) {
        free(img);
        return NULL;
    }
    *n = size;
    return img;
}

/* ---- libhdf5 over the verified buffer: file image callbacks that hand out
 * the buffer itself (no copy) and never free or grow it ---- */

typedef struct {
    unsigned char *buf;
    size_t n;
} image_ref;

static void *cb_malloc(size_t size, H5FD_file_image_op_t op, void *udata) {
    image_ref *r = udata;
    (void)op;
    return size == r->n ? r->buf : NULL;
}

static void *cb_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)size;
    (void)op;
    (void)udata;
    return dest == src ? dest : NULL; /* always the same buffer: nothing to copy */
}

static void *cb_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata) {
    (void)ptr;
    (void)size;
    (void)op;
    (void)udata;
    return NULL; /* read-only: never grows */
}

static herr_t cb_free(void *ptr, H5FD_file_image_op_t op, void *udata) {
    (void)ptr;
    (void)op;
    (void)udata;
    return 0; /* the caller owns the buffer */
}

static void *cb_udata_copy(void *udata) {
    image_ref *copy = malloc(sizeof *copy);
    if (copy) *copy = *(const image_ref *)udata;
    return copy;
}

static herr_t cb_udata_free(void *udata) {
    free(udata);
    return 0;
}

hid_t qt_h5image_open(unsigned char *img, size_t n) {
    static unsigned long serial;
    if (!img || n == 0) return -1;
    /* libhdf5 keeps its own copies of ref (cb_udata_copy / cb_udata_free) */
    image_ref ref = {img, n};
    H5FD_file_image_callbacks_t cb = {cb_malloc, cb_memcpy, cb_realloc, cb_free, cb_udata_copy, cb_udata_free, &ref};
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    hid_t f = -1;
    if (H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) >= 0 && H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG) >= 0 &&
        H5Pset_file_image_callbacks(fapl, &cb) >= 0 && H5Pset_file_image(fapl, img, n) >= 0) {
        /* A name no file can have (the core driver refuses to open an image
         * under the name of an existing file), unique among open files. */
        char name[64];
        snprintf(name, sizeof name, "/dev/null/qatc-verified-image-%lu", ++serial);
        f = H5Fopen(name, H5F_ACC_RDONLY, fapl);
    }
    H5Pclose(fapl);
    return f;
}

hid_t qt_h5image_fcpl(void) {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0 && H5Pset_userblock(fcpl, QT_H5IMAGE_BLOCK) < 0) {
        H5Pclose(fcpl);
        return -1;
    }
    return fcpl;
}

int qt_h5image_seal_file(const char *path, char *err, size_t errlen) {
    size_t n = 0;
    int fd = qt_open_regular(path, &n, err, errlen);
    if (fd < 0) return -1;
    unsigned char *img = qt_read_image(fd, n, path, err, errlen);
    if (!img) return -1;
    if (n < QT_H5IMAGE_BLOCK + sizeof HDF5_SIG || memcmp(img + QT_H5IMAGE_BLOCK, HDF5_SIG, sizeof HDF5_SIG) != 0) {
        qt_set_err(err, errlen, "%s: no HDF5 superblock at byte %d (create the file with qt_h5image_fcpl())", path,
                   QT_H5IMAGE_BLOCK);
        free(img);
        return -1;
    }
    qt_h5image_seal(img, n);
    fd = open(path, O_WRONLY);
    ssize_t put = fd >= 0 ? pwrite(fd, img, QT_H5IMAGE_BLOCK, 0) : -1;
    int e = errno;
    free(img);
    if (fd < 0 || put != QT_H5IMAGE_BLOCK || close(fd) != 0) {
        qt_set_err(err, errlen, "%s: cannot write qatc's integrity header: %s", path, strerror(e));
        return -1;
    }
    return 0;
}
