/* qatc store/h5image: the integrity header in front of every HDF5 file qatc
 * writes, and the verified read that gives libhdf5 only checked bytes.
 *
 * libhdf5 1.10 is not memory-safe on corrupt input (a changed byte can
 * overflow a heap buffer in H5Aexists or crash the Fletcher-32 filter), so
 * no file reaches its parser before its bytes are verified here.
 *
 * Layout: the file is an HDF5 file with a user block of QT_H5IMAGE_BLOCK
 * (512) bytes, so h5py / h5dump open it as usual. The user block starts with
 * a 32-byte header (little-endian):
 *
 *   0  magic "\x89QATCH5\n"   8 bytes
 *   8  header version (1)     u32
 *  12  user block size (512)  u32
 *  16  length of the file     u64
 *  24  CRC-32 of bytes [32, length)  u32  (the rest of the user block and
 *                                          the whole HDF5 part)
 *  28  CRC-32 of bytes [0, 28)       u32  (the header itself)
 *
 * followed by zeros up to the HDF5 superblock at byte 512. Every byte of the
 * file is covered by one of the two checksums (zlib's CRC-32). */
#ifndef QATC_STORE_H5IMAGE_H
#define QATC_STORE_H5IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include <hdf5.h>

#define QT_H5IMAGE_BLOCK 512
#define QT_H5IMAGE_HEADER 32
#define QT_H5IMAGE_VERSION 1

/* What a verified header says. */
typedef struct {
    uint32_t version;  /* header version */
    uint64_t length;   /* bytes in the file */
    uint32_t crc;      /* CRC-32 of bytes [32, length) */
} qt_h5image_info;

/* Writes the header into img[0..QT_H5IMAGE_BLOCK) of an n-byte image whose
 * HDF5 part starts at byte QT_H5IMAGE_BLOCK (bytes 32..511 are zeroed).
 * Returns 0, or -1 when n is too small to hold a block and an HDF5 file. */
int qt_h5image_seal(unsigned char *img, size_t n);

/* Checks the n bytes img read from path: magic, header checksum, version,
 * length and the checksum of the rest. `what` names what the caller expects
 * ("a qatc checkpoint"), for the message about a file without the header.
 * Returns 0 (info filled when non-NULL), or -1 with one line naming path,
 * e.g. "PATH: truncated: N of M bytes", "PATH: checksum mismatch (corrupted
 * file)", "PATH: lacks qatc's integrity header ...". */
int qt_h5image_verify(const unsigned char *img, size_t n, const char *path, const char *what,
                      qt_h5image_info *info, char *err, size_t errlen);

/* Reads the whole regular file at path into a new malloc'd buffer (*n bytes;
 * free it) and verifies it as qt_h5image_verify does. Returns the buffer, or
 * NULL with one line in err (missing file, directory, read error, and the
 * refusals above). */
unsigned char *qt_h5image_read(const char *path, const char *what, size_t *n, qt_h5image_info *info,
                               char *err, size_t errlen);

/* Opens a verified image read-only in libhdf5 (core driver over img itself:
 * no copy, so the bytes parsed are the bytes verified). img must stay
 * allocated and unchanged until the file is closed; the file closes with
 * H5F_CLOSE_STRONG (its open objects with it). Returns the file id, or -1
 * with HDF5's error stack set. */
hid_t qt_h5image_open(unsigned char *img, size_t n);

/* A file creation property list with qatc's user block, for HDF5 files built
 * with plain libhdf5 calls (tests, fuzz harnesses); close it with H5Pclose. */
hid_t qt_h5image_fcpl(void);

/* Seals the closed HDF5 file at path, created with qt_h5image_fcpl(): writes
 * the header (in place) so that qatc's readers accept it. Returns 0, or -1
 * with one line in err. */
int qt_h5image_seal_file(const char *path, char *err, size_t errlen);

#endif
