/* Whole reads and writes at an offset (internal, header-only), for the files the libraries keep
 * records in (the embedding cache, the local store's vector segments). */
#ifndef RC_FILEIO_H
#define RC_FILEIO_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

/* Reads up to n bytes at off, retrying short reads and EINTR: the bytes read (fewer than n only
 * at the end of the file), or -1 (errno set). */
static inline ssize_t rc_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

/* Writes n bytes at off, retrying short writes and EINTR: 0, or -1 (errno set when the system
 * said why). */
static inline int rc_pwrite_full(int fd, const void *buf, size_t n, uint64_t off)
{
    size_t put = 0;
    while (put < n) {
        ssize_t r = pwrite(fd, (const char *)buf + put, n - put, (off_t)(off + put));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        put += (size_t)r;
    }
    return 0;
}

#endif
