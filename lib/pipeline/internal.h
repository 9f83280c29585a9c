/* Helpers shared by the pipeline's source files (internal to lib/pipeline). */
#ifndef RP_INTERNAL_H
#define RP_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "pipeline.h"

/* snprintf into err (when not NULL), returns code. */
int rp_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void rp_warnf(rp_warn_fn fn, void *ud, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes data to path atomically: path.tmp.<pid>, fsync, rename, fsync of the directory. */
int rp_atomic_write(const char *path, const char *data, size_t len, char *err, size_t errlen);
int rp_fsync_dir_of(const char *path);

#endif
