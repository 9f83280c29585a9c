/* Whole reads and writes at an offset, and making a directory's entries durable (internal,
 * header-only), for the files the libraries keep records in (the embedding cache, the local
 * store, the pipeline's state). */
#ifndef RC_FILEIO_H
#define RC_FILEIO_H

#include <errno.h>
#include <fcntl.h>
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

/* fsync()s the directory dir, so that names created, renamed or removed in it survive a power
 * loss: 0, or -1 (errno set). */
static inline int rc_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd), e = errno;
    close(fd);
    errno = e;
    return rc;
}

#endif
