/* Small file helpers shared by the io readers, see io/fileio.h. */
#include "io/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int qt_open_regular(const char *path, size_t *size, char *err, size_t errlen) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file", path);
        close(fd);
        return -1;
    }
    *size = (size_t)st.st_size;
    return fd;
}

void *qt_read_image(int fd, size_t size, const char *path, char *err, size_t errlen) {
    void *img = malloc(size ? size : 1);
    if (!img) {
        snprintf(err, errlen, "%s: out of memory (%zu bytes)", path, size);
        close(fd);
        return NULL;
    }
    int rd = qt_pread_all(fd, img, size);
    close(fd);
    if (rd) {
        snprintf(err, errlen, "%s: read error", path);
        free(img);
        return NULL;
    }
    return img;
}
