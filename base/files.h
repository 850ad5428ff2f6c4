/* qatc base/files: reading whole files, creating directories, the one
 * atomic writer (temp file "<path>.tmp.<pid>", fsync, rename, directory
 * fsync) behind every checkpoint, export, cache and report, its directory
 * form for multi-file exports, and the lock of a run's out_dir. */
#ifndef QATC_BASE_FILES_H
#define QATC_BASE_FILES_H

#include <stddef.h>
#include <stdio.h>
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

/* Reads a whole non-empty regular file into a new NUL-terminated buffer
 * (*len bytes before the NUL). Returns 0, or -1 with a message naming the
 * file (missing, not regular, empty, truncated). */
int qt_read_file(const char *path, char **data, size_t *len, char *err, size_t errlen);

/* mkdir -p path (mode 0755). Returns 0, or -1 with "cannot create directory ...". */
int qt_mkdirs(const char *path, char *err, size_t errlen);
/* qt_mkdirs of the directory part of path (nothing when path has no '/'). */
int qt_mkdirs_for(const char *path, char *err, size_t errlen);

/* An atomic file write in progress: bytes go to f, a temp file beside path. */
typedef struct qt_afile {
    FILE *f;
    char *path, *tmp;
} qt_afile;

/* Creates "<path>.tmp.<pid>" for writing. Returns 0, or -1 with
 * "PATH: cannot create TMP: ..." in err. */
int qt_afile_open(qt_afile *a, const char *path, char *err, size_t errlen);
/* Flushes and fsyncs the temp file, renames it over path, fsyncs the
 * directory and removes temp files of this path left by dead processes.
 * On any failure (a write error on f included) the temp file is removed,
 * path is untouched and err names path and the OS error. Frees a. */
int qt_afile_commit(qt_afile *a, char *err, size_t errlen);
/* Closes and removes the temp file; path is untouched. Frees a. */
void qt_afile_abort(qt_afile *a);
/* Writes n bytes as the whole content of path through qt_afile. */
int qt_write_file_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen);

/* An atomic directory write in progress: files go into tmp
 * ("<path>.tmp.<pid>"), which replaces path at commit. */
typedef struct qt_adir {
    char *path, *tmp;
} qt_adir;

/* Creates the empty directory "<path>.tmp.<pid>" (and path's parents).
 * Refuses an existing path that is not a directory, or a directory holding
 * anything but regular files (a replaced export directory is removed as a
 * whole). Returns 0, or -1 with a message naming path. */
int qt_adir_open(qt_adir *a, const char *path, char *err, size_t errlen);
/* fsyncs the temp directory (its files must be written and fsynced, e.g.
 * with qt_write_file_atomic), puts it at path (an existing directory is
 * swapped out with renameat2 RENAME_EXCHANGE and removed), fsyncs the
 * parent and removes temp directories of path left by dead processes. On
 * failure the temp directory is removed and path is untouched. Frees a. */
int qt_adir_commit(qt_adir *a, char *err, size_t errlen);
/* Removes the temp directory and everything in it; path is untouched. Frees a. */
void qt_adir_abort(qt_adir *a);

/* Takes an exclusive flock(2) on "<dir>/.lock" (created; this pid written
 * into it) and returns its descriptor: hold it for as long as dir is in use.
 * The kernel releases it when the process ends, however it ends. Returns -1
 * with "out_dir "DIR" is in use by another qat_train (pid N, ...)" when
 * another process holds it, or another one-line error. */
int qt_dir_lock(const char *dir, char *err, size_t errlen);

#endif
