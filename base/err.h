/* qatc base/err: the one error convention. Functions that can fail take
 * (char *err, size_t errlen) last, return -1 (or NULL) and leave one line in
 * err naming the file, key or tensor and what was expected. */
#ifndef QATC_BASE_ERR_H
#define QATC_BASE_ERR_H

#include <stddef.h>

/* Formats a one-line message into err (errlen bytes; err may be NULL). */
void qt_set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
