/* Small file helpers shared by the io readers. */
#ifndef QATC_IO_FILEIO_H
#define QATC_IO_FILEIO_H

#include <stddef.h>
#include <sys/types.h>
#include <unistd.h>

/* Reads exactly size bytes from offset 0 of fd into buf (retrying short
 * reads). Returns 0, or -1 on a read error or an early end of file. */
static inline int qt_pread_all(int fd, void *buf, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t k = pread(fd, (char *)buf + got, size - got, (off_t)got);
        if (k <= 0) return -1;
        got += (size_t)k;
    }
    return 0;
}

/* Opens path read-only, checks that it is a regular file and stores its size.
 * Returns the descriptor, or -1 with "PATH: cannot open: ..." / "PATH: not a
 * regular file" in err. */
int qt_open_regular(const char *path, size_t *size, char *err, size_t errlen);

/* Reads the whole file behind fd (size bytes from offset 0) into a new
 * malloc'd buffer and closes fd. Returns the buffer, or NULL with
 * "PATH: out of memory (N bytes)" / "PATH: read error" in err. */
void *qt_read_image(int fd, size_t size, const char *path, char *err, size_t errlen);

#endif
