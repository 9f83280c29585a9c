/* Error names, name validation, MurmurHash3_x64_128 and atomic file replacement. */
#include "internal.h"

#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *rp_strerror(int code)
{
    switch (code) {
    case RP_OK:
        return "ok";
    case RP_EINVAL:
        return "invalid argument";
    case RP_ENOMEM:
        return "out of memory";
    case RP_EIO:
        return "i/o error";
    case RP_ENOTFOUND:
        return "not found";
    case RP_EEXISTS:
        return "already exists";
    case RP_EEMPTY:
        return "empty corpus";
    case RP_EENCODING:
        return "invalid UTF-8";
    case RP_ECHANGED:
        return "document changed since discover";
    case RP_ETRANSPORT:
        return "embedding service unreachable";
    case RP_EHTTP:
        return "embedding service error";
    case RP_EPROTOCOL:
        return "malformed embedding reply";
    case RP_EDIM:
        return "embedding dimension mismatch";
    case RP_ECORRUPT:
        return "corrupt state";
    case RP_ESTOPPED:
        return "stopped by callback";
    case RP_ESTATE:
        return "transition not allowed";
    case RP_EBUSY:
        return "run busy in another process";
    case RP_EQDRANT:
        return "vector store error";
    }
    return "unknown error";
}

int rp_err(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

void rp_warnf(rp_warn_fn fn, void *ud, const char *fmt, ...)
{
    if (!fn)
        return;
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fn(ud, msg);
}

int rp_name_valid(const char *s)
{
    if (!s)
        return 0;
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
        if (n >= 64)
            return 0;
    }
    return n >= 1;
}

/* ---- MurmurHash3_x64_128 (Austin Appleby, public domain), seed 0 ---- */

static const uint64_t C1 = 0x87c37b91114253d5ULL, C2 = 0x4cf5ad432745937fULL;

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* Little-endian 64-bit load (one instruction on little-endian hosts). */
static inline uint64_t load64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
#endif
}

/* One 16-byte block; h1 and h2 are the caller's locals so they stay in registers across a loop
 * (through the struct they were stored and reloaded every block, as p may alias them). */
static inline void mm_block(uint64_t *h1, uint64_t *h2, const unsigned char *p)
{
    uint64_t k1 = load64(p), k2 = load64(p + 8);
    k1 *= C1;
    k1 = rotl64(k1, 31);
    k1 *= C2;
    *h1 ^= k1;
    *h1 = rotl64(*h1, 27);
    *h1 += *h2;
    *h1 = *h1 * 5 + 0x52dce729;
    k2 *= C2;
    k2 = rotl64(k2, 33);
    k2 *= C1;
    *h2 ^= k2;
    *h2 = rotl64(*h2, 31);
    *h2 += *h1;
    *h2 = *h2 * 5 + 0x38495ab5;
}

void rp_hasher_init(rp_hasher *h)
{
    memset(h, 0, sizeof *h);
}

void rp_hasher_update(rp_hasher *h, const void *data, size_t len)
{
    const unsigned char *p = data;
    h->total += len;
    if (h->ntail) {
        size_t take = 16 - h->ntail < len ? 16 - h->ntail : len;
        memcpy(h->tail + h->ntail, p, take);
        h->ntail += take;
        p += take;
        len -= take;
        if (h->ntail < 16)
            return;
        mm_block(&h->h1, &h->h2, h->tail);
        h->ntail = 0;
    }
    if (len >= 16) {
        uint64_t h1 = h->h1, h2 = h->h2;
        do {
            mm_block(&h1, &h2, p);
            p += 16;
            len -= 16;
        } while (len >= 16);
        h->h1 = h1;
        h->h2 = h2;
    }
    memcpy(h->tail, p, len);
    h->ntail = len;
}

static void hasher_final(const rp_hasher *h, uint64_t out[2])
{
    uint64_t h1 = h->h1, h2 = h->h2, k1 = 0, k2 = 0;
    const unsigned char *t = h->tail;
    switch (h->ntail) {
    case 15:
        k2 ^= (uint64_t)t[14] << 48; /* fall through */
    case 14:
        k2 ^= (uint64_t)t[13] << 40; /* fall through */
    case 13:
        k2 ^= (uint64_t)t[12] << 32; /* fall through */
    case 12:
        k2 ^= (uint64_t)t[11] << 24; /* fall through */
    case 11:
        k2 ^= (uint64_t)t[10] << 16; /* fall through */
    case 10:
        k2 ^= (uint64_t)t[9] << 8; /* fall through */
    case 9:
        k2 ^= (uint64_t)t[8];
        k2 *= C2;
        k2 = rotl64(k2, 33);
        k2 *= C1;
        h2 ^= k2;
        /* fall through */
    case 8:
        k1 ^= (uint64_t)t[7] << 56; /* fall through */
    case 7:
        k1 ^= (uint64_t)t[6] << 48; /* fall through */
    case 6:
        k1 ^= (uint64_t)t[5] << 40; /* fall through */
    case 5:
        k1 ^= (uint64_t)t[4] << 32; /* fall through */
    case 4:
        k1 ^= (uint64_t)t[3] << 24; /* fall through */
    case 3:
        k1 ^= (uint64_t)t[2] << 16; /* fall through */
    case 2:
        k1 ^= (uint64_t)t[1] << 8; /* fall through */
    case 1:
        k1 ^= (uint64_t)t[0];
        k1 *= C1;
        k1 = rotl64(k1, 31);
        k1 *= C2;
        h1 ^= k1;
    }
    h1 ^= h->total;
    h2 ^= h->total;
    h1 += h2;
    h2 += h1;
    h1 = fmix64(h1);
    h2 = fmix64(h2);
    h1 += h2;
    h2 += h1;
    out[0] = h1;
    out[1] = h2;
}

static void to_hex(char out[RP_HASH_HEX], const uint64_t h[2])
{
    static const char hx[] = "0123456789abcdef";
    for (int w = 0; w < 2; w++)
        for (int i = 0; i < 8; i++) {
            unsigned b = (unsigned)(h[w] >> (56 - 8 * i)) & 0xFF;
            out[w * 16 + 2 * i] = hx[b >> 4];
            out[w * 16 + 2 * i + 1] = hx[b & 15];
        }
    out[32] = 0;
}

void rp_hasher_hex(const rp_hasher *h, char out[RP_HASH_HEX])
{
    uint64_t v[2];
    hasher_final(h, v);
    to_hex(out, v);
}

void rp_hash128(uint64_t out[2], const void *data, size_t len)
{
    rp_hasher h;
    rp_hasher_init(&h);
    rp_hasher_update(&h, data, len);
    hasher_final(&h, out);
}

void rp_hash_hex(char out[RP_HASH_HEX], const void *data, size_t len)
{
    uint64_t v[2];
    rp_hash128(v, data, len);
    to_hex(out, v);
}

/* ---- Files ---- */

int rp_fsync_dir_of(const char *path)
{
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1;
        if (n >= sizeof dir)
            return -1;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    return rc_fsync_dir(dir);
}

int rp_atomic_write(const char *path, const char *data, size_t len, char *err, size_t errlen)
{
    char tmp[4200];
    static unsigned counter;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++) >=
        sizeof tmp)
        return rp_err(err, errlen, RP_EINVAL, "path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return rp_err(err, errlen, RP_EIO, "create %s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return rp_err(err, errlen, RP_EIO, "write %s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0 || close(fd) < 0) {
        int e = errno;
        unlink(tmp);
        return rp_err(err, errlen, RP_EIO, "fsync %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return rp_err(err, errlen, RP_EIO, "rename %s: %s", path, strerror(e));
    }
    if (rp_fsync_dir_of(path) < 0)
        return rp_err(err, errlen, RP_EIO, "fsync directory of %s: %s", path, strerror(errno));
    return RP_OK;
}

int rp_mkdir_p(const char *path, char *err, size_t errlen)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf)
        return rp_err(err, errlen, RP_EINVAL, "bad directory path");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0700) < 0 && errno != EEXIST)
                return rp_err(err, errlen, RP_EIO, "mkdir %s: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
        return rp_err(err, errlen, RP_EIO, "%s is not a directory", path);
    return RP_OK;
}
