/* File helpers and the atomic writer; see base/files.h. */
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
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

int qt_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen) {
    *data = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: cannot open: %s (expected a readable file)", path, strerror(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: not a regular file (expected a readable file)", path);
        return -1;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "%s: file is empty (expected some content)", path);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s (expected a readable file)", path, strerror(errno));
        return -1;
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory reading %zu bytes", path, size);
        return -1;
    }
    size_t got = fread(buf, 1, size, f);
    int rerr = ferror(f);
    fclose(f);
    if (got != size || rerr) {
        free(buf);
        snprintf(err, errlen, "%s: read %zu of %zu bytes (file truncated or unreadable)", path, got, size);
        return -1;
    }
    buf[size] = 0;
    *data = buf;
    *len = size;
    return 0;
}

int qt_mkdirs(const char *path, char *err, size_t errlen) {
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST) goto fail;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST) goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot create directory %s: %s", tmp, strerror(errno));
    return -1;
}

int qt_mkdirs_for(const char *path, char *err, size_t errlen) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) return 0;
    *slash = 0;
    return qt_mkdirs(dir, err, errlen);
}

/* the directory of path ("." when it has none) into a new string */
static char *dir_of(const char *path) {
    size_t pl = strlen(path);
    char *dir = malloc(pl + 2);
    if (!dir) return NULL;
    memcpy(dir, path, pl + 1);
    char *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    return dir;
}

/* Removes "<path>.tmp.<pid>" files left by writers that were killed (their
 * pid no longer runs), so repeated crashes do not fill the disk. Files of
 * live processes are left alone. Best effort: errors are ignored. */
static void remove_stale_tmps(const char *path) {
    char *dir = dir_of(path);
    if (!dir) return;
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t bl = strlen(base);
    DIR *dh = opendir(dir);
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
        const char *n = de->d_name;
        if (strncmp(n, base, bl) || strncmp(n + bl, ".tmp.", 5)) continue;
        char *end;
        long pid = strtol(n + bl + 5, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;
        char *full = malloc(strlen(dir) + strlen(n) + 2);
        if (!full) break;
        sprintf(full, "%s/%s", dir, n);
        unlink(full);
        free(full);
    }
    if (dh) closedir(dh);
    free(dir);
}

static void afile_free(qt_afile *a) {
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
    a->f = NULL;
}

int qt_afile_open(qt_afile *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    size_t n = strlen(path) + 32;
    a->path = strdup(path);
    a->tmp = malloc(n);
    if (!a->path || !a->tmp) {
        afile_free(a);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    a->f = fopen(a->tmp, "wb");
    if (!a->f) {
        snprintf(err, errlen, "%s: cannot create %s: %s", path, a->tmp, strerror(errno));
        afile_free(a);
        return -1;
    }
    return 0;
}

void qt_afile_abort(qt_afile *a) {
    if (a->f) fclose(a->f);
    if (a->tmp) unlink(a->tmp);
    afile_free(a);
}

int qt_afile_commit(qt_afile *a, char *err, size_t errlen) {
    int bad = ferror(a->f) != 0;
    int e = bad ? (errno ? errno : EIO) : 0;
    if (!bad && (fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)) bad = 1, e = errno;
    if (fclose(a->f) != 0 && !bad) bad = 1, e = errno;
    a->f = NULL;
    if (bad || rename(a->tmp, a->path) != 0) {
        if (!bad) e = errno;
        unlink(a->tmp);
        snprintf(err, errlen, "%s: write failed: %s", a->path, strerror(e));
        afile_free(a);
        return -1;
    }
    remove_stale_tmps(a->path);
    int rc = 0;
    char *dir = dir_of(a->path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY) : -1;
    if (!dir || fd < 0 || (fsync(fd) != 0 && errno != EINVAL)) {
        snprintf(err, errlen, "%s: written and renamed into place, but fsync of directory %s failed: %s", a->path,
                 dir ? dir : "?", strerror(errno));
        rc = -1;
    }
    if (fd >= 0) close(fd);
    free(dir);
    afile_free(a);
    return rc;
}

int qt_write_file_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen) {
    qt_afile a;
    if (qt_afile_open(&a, path, err, errlen)) return -1;
    if (n && fwrite(data, 1, n, a.f) != n) {
        int e = errno;
        snprintf(err, errlen, "%s: write failed after %zu bytes: %s", path, n, strerror(e ? e : EIO));
        qt_afile_abort(&a);
        return -1;
    }
    return qt_afile_commit(&a, err, errlen);
}
