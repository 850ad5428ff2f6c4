/* File helpers, the atomic writers and the directory lock; see base/files.h. */
#define _GNU_SOURCE /* renameat2 (RENAME_EXCHANGE) */
#include "base/files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/file.h>
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

static int rm_tree(const char *path);

/* Removes "<path>.tmp.<pid>" files (dirs: directory trees) left by writers
 * that were killed (their pid no longer runs), so repeated crashes do not
 * fill the disk. Those of live processes are left alone. Best effort:
 * errors are ignored. */
static void remove_stale_tmps(const char *path, int dirs) {
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
        if (dirs) (void)rm_tree(full);
        else unlink(full);
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
    remove_stale_tmps(a->path, 0);
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

/* ---- atomic directories ---- */

/* Removes directory path and everything under it (no symlinks followed).
 * Best effort; returns 0 when path is gone. */
static int rm_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode)) return unlink(path);
    DIR *dh = opendir(path);
    struct dirent *de;
    while (dh && (de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t n = strlen(path) + strlen(de->d_name) + 2;
        char *full = malloc(n);
        if (!full) break;
        snprintf(full, n, "%s/%s", path, de->d_name);
        rm_tree(full);
        free(full);
    }
    if (dh) closedir(dh);
    return rmdir(path);
}

/* fsync of directory dir; 0 or -1 (errno set) */
static int fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return -1;
    int rc = fsync(fd) != 0 && errno != EINVAL ? -1 : 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* The first entry of directory dir that is not a regular file, into name; 1
 * when there is one, 0 when dir holds only regular files. */
static int has_non_file(const char *dir, char *name, size_t len) {
    DIR *dh = opendir(dir);
    if (!dh) return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(dh))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        size_t n = strlen(dir) + strlen(de->d_name) + 2;
        char *full = malloc(n);
        if (!full) break;
        snprintf(full, n, "%s/%s", dir, de->d_name);
        struct stat st;
        if (lstat(full, &st) == 0 && !S_ISREG(st.st_mode)) {
            snprintf(name, len, "%s", de->d_name);
            found = 1;
        }
        free(full);
    }
    closedir(dh);
    return found;
}

static void adir_free(qt_adir *a) {
    free(a->path);
    free(a->tmp);
    a->path = a->tmp = NULL;
}

int qt_adir_open(qt_adir *a, const char *path, char *err, size_t errlen) {
    memset(a, 0, sizeof *a);
    size_t pl = strlen(path);
    while (pl > 1 && path[pl - 1] == '/') pl--; /* "dir/" names dir */
    size_t n = pl + 32;
    a->path = malloc(pl + 1);
    a->tmp = malloc(n);
    if (!a->path || !a->tmp) {
        adir_free(a);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(a->path, path, pl);
    a->path[pl] = 0;
    struct stat st;
    char bad[256];
    if (stat(a->path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: exists and is not a directory (expected an export directory)", a->path);
        adir_free(a);
        return -1;
    }
    if (stat(a->path, &st) == 0 && has_non_file(a->path, bad, sizeof bad)) {
        snprintf(err, errlen, "%s: exists and holds \"%s\", which is not a regular file; an export replaces the whole "
                 "directory, so it refuses one that holds more than an export's files (choose another path)",
                 a->path, bad);
        adir_free(a);
        return -1;
    }
    snprintf(a->tmp, n, "%s.tmp.%ld", a->path, (long)getpid());
    rm_tree(a->tmp); /* a leftover of an earlier export of this process */
    if (qt_mkdirs_for(a->tmp, err, errlen)) {
        adir_free(a);
        return -1;
    }
    if (mkdir(a->tmp, 0755) != 0) {
        snprintf(err, errlen, "%s: cannot create %s: %s", a->path, a->tmp, strerror(errno));
        adir_free(a);
        return -1;
    }
    return 0;
}

void qt_adir_abort(qt_adir *a) {
    if (a->tmp) rm_tree(a->tmp);
    adir_free(a);
}

int qt_adir_commit(qt_adir *a, char *err, size_t errlen) {
    if (fsync_dir(a->tmp) != 0) {
        snprintf(err, errlen, "%s: fsync of %s failed: %s", a->path, a->tmp, strerror(errno));
        qt_adir_abort(a);
        return -1;
    }
    struct stat st;
    int exists = stat(a->path, &st) == 0;
    if (exists) {
        /* swap the new directory in; the old one is left at the temp name */
        if (renameat2(AT_FDCWD, a->tmp, AT_FDCWD, a->path, RENAME_EXCHANGE) != 0) {
            if (errno != EINVAL && errno != ENOSYS) {
                snprintf(err, errlen, "%s: cannot replace it with %s: %s", a->path, a->tmp, strerror(errno));
                qt_adir_abort(a);
                return -1;
            }
            /* no RENAME_EXCHANGE on this file system: move the old one aside first */
            size_t n = strlen(a->path) + 32;
            char *old = malloc(n);
            if (!old) {
                snprintf(err, errlen, "%s: out of memory", a->path);
                qt_adir_abort(a);
                return -1;
            }
            snprintf(old, n, "%s.old.%ld", a->path, (long)getpid());
            rm_tree(old);
            if (rename(a->path, old) != 0 || rename(a->tmp, a->path) != 0) {
                int e = errno;
                rename(old, a->path);
                snprintf(err, errlen, "%s: cannot replace it with %s: %s", a->path, a->tmp, strerror(e));
                free(old);
                qt_adir_abort(a);
                return -1;
            }
            rm_tree(old);
            free(old);
        }
    } else if (rename(a->tmp, a->path) != 0) {
        snprintf(err, errlen, "%s: cannot rename %s into place: %s", a->path, a->tmp, strerror(errno));
        qt_adir_abort(a);
        return -1;
    }
    rm_tree(a->tmp); /* the old directory after an exchange */
    remove_stale_tmps(a->path, 1);
    char *dir = dir_of(a->path);
    int rc = 0;
    if (!dir || fsync_dir(dir) != 0) {
        snprintf(err, errlen, "%s: written and renamed into place, but fsync of directory %s failed: %s", a->path,
                 dir ? dir : "?", strerror(errno));
        rc = -1;
    }
    free(dir);
    adir_free(a);
    return rc;
}

/* ---- the directory lock ---- */

int qt_dir_lock(const char *dir, char *err, size_t errlen) {
    char path[4200];
    snprintf(path, sizeof path, "%s/.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create lock file %s: %s", dir, path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char buf[32] = "";
        ssize_t k = e == EWOULDBLOCK ? pread(fd, buf, sizeof buf - 1, 0) : -1;
        buf[k > 0 ? k : 0] = 0;
        buf[strcspn(buf, "\n")] = 0;
        close(fd);
        if (e == EWOULDBLOCK)
            snprintf(err, errlen, "out_dir \"%s\" is in use by another qat_train (pid %s, holding %s); wait for it to "
                     "finish or stop it, or choose another out_dir", dir, buf[0] ? buf : "unknown", path);
        else
            snprintf(err, errlen, "%s: cannot lock %s: %s", dir, path, strerror(e));
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "%s: cannot write lock file %s: %s", dir, path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}
