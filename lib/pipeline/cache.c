/* The embedding cache: one append-only file of fixed-size records per (embedder, model, dim),
 * indexed in memory.
 *
 * Layout of <dir>/emb-<h>-d<dim>.v1, where <h> is the hex rp_hash of "name\0model":
 *   header (HDR_SIZE bytes): magic, a byte-order probe, dim, the name and model, zero padding,
 *                            then a 64-bit check of everything before it
 *   records, each REC(dim) bytes: key (16 bytes: rp_hash128 of the text hash string),
 *                            dim native floats, a 64-bit check of key and floats
 * A record is written whole by one pwrite() under an exclusive flock() of the file, at the end
 * of the file; a torn tail left by a crashed writer (a partial record) is cut off by the next
 * writer before it appends. Readers take no lock: a record whose check fails (being written
 * right now, or damaged by a power loss: the cache is never fsync'ed, it is only a cache) is
 * not used, so the cache can miss but never answers a wrong vector. A later record of the same
 * key wins.
 *
 * Each handle indexes a file when first used (one sequential read of its keys) and reads only
 * what other processes appended since, when it misses; what it appends itself it indexes as it
 * writes. A record's check is verified when the record is hit, not when it is indexed: every
 * vector answered has just passed its check, and the scan does no hashing. Hits are read with
 * one pread() per run of adjacent records (a batch stored together is read back together).
 *
 * What the cache does not fail for (told through the handle's warn callback, rp_cache_set_warn):
 *  - a file that is not a valid cache file (random bytes, a foreign or damaged header, a header
 *    cut short, a header for another name/model/dim than its file name says) is renamed aside to
 *    "<file>.damaged-<ms since the epoch>" (never deleted: it may be worth a look) and the space
 *    starts anew with an empty file; the lookup misses. A damaged file never fails a build, not
 *    this one and not every later one. Only when it cannot even be renamed (a read-only
 *    directory) is it an error (RP_ECORRUPT, naming both paths and the system's reason).
 *  - vectors rp_embed_cached cannot store (a full disk, a file size limit, an I/O error, a short
 *    write) are not cached: the embed still answers them (RP_OK), the records are not indexed (a
 *    partial one left at the end is a torn tail, cut by the next writer) and one warning per
 *    handle per kind of failure says how many, where and why. rp_cache_put, which only stores,
 *    returns RP_EIO for them instead.
 * Everything else the cache fails for (a file it cannot open or read, no memory) is an error with
 * a message on the handle naming the file and the system's reason: RP_EIO for I/O, RP_ECORRUPT
 * for damage, RP_ENOMEM. The embedder's own errors keep the embedder's code and message. */
#include "internal.h"

#include "check64.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HDR_SIZE 1024
#define MAGIC "RPEMBC\x01\x00"
#define MAX_NAMES (HDR_SIZE - 64) /* name + model bytes */
#define MAX_DIM 1000000
#define SCAN_BLOCK (1u << 20)

typedef struct ent {
    uint64_t k0, k1;
    uint64_t off; /* record offset; 0 = empty slot */
} ent;

typedef struct space {
    char *name, *model;
    size_t dim, rec;
    char *path;
    int fd;           /* -1 while the file does not exist */
    uint64_t scanned; /* bytes of the file indexed */
    ent *tab;
    size_t cap, n; /* cap: power of two */
} space;

struct rp_cache {
    char *dir;
    space **sp;
    size_t nsp;
    unsigned char *buf; /* scratch for records */
    size_t bufcap;
    uint64_t *offs; /* scratch: the record offset of each key of a lookup, 0 for a miss */
    size_t offcap;
    rp_warn_fn warn;
    void *warn_ud;
    int io_errno;   /* errno of the last I/O failure (0: a short write, -1: none of errno's) */
    int warned[16]; /* the kinds (io_errno values) of store failures already told about */
    size_t nwarned;
    char err[1200]; /* room for two paths of common length; a longer message is cut */
};

#define ERR_PREFIX "embedding cache: "

static int c_fail(rp_cache *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int c_fail(rp_cache *c, int code, const char *fmt, ...)
{
    int n = snprintf(c->err, sizeof c->err, ERR_PREFIX);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return code;
}

/* An I/O failure on sp's file: RP_EIO with "<path>: <what>: <system's reason>" (e: errno, 0 for
 * a write that stopped short without one), remembered as the failure's kind. */
static int io_fail(rp_cache *c, const char *path, const char *what, int e)
{
    c->io_errno = e;
    return c_fail(c, RP_EIO, "%s: %s: %s", path, what, e ? strerror(e) : "short write");
}

static size_t rec_size(size_t dim)
{
    return 16 + dim * sizeof(float) + 8;
}

static void key_of(uint64_t k[2], const char *text_hash)
{
    rp_hash128(k, text_hash, strlen(text_hash));
    if (!k[0] && !k[1])
        k[1] = 1; /* keeps all-zero bytes (a zeroed page) from ever being a valid key */
}

/* ---- the in-memory index ---- */

static size_t slot_of(const space *s, uint64_t k0)
{
    return (size_t)(k0 * 0x9e3779b97f4a7c15u >> 7) & (s->cap - 1);
}

static ent *find(space *s, uint64_t k0, uint64_t k1)
{
    if (!s->cap)
        return NULL;
    for (size_t i = slot_of(s, k0);; i = (i + 1) & (s->cap - 1)) {
        ent *e = &s->tab[i];
        if (!e->off)
            return NULL;
        if (e->k0 == k0 && e->k1 == k1)
            return e;
    }
}

/* Rehashes into a table of at least cap slots (a power of two). */
static int rehash(space *s, size_t cap)
{
    ent *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    ent *old = s->tab;
    size_t ocap = s->cap;
    s->tab = t;
    s->cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (!old[i].off)
            continue;
        size_t j = slot_of(s, old[i].k0);
        while (t[j].off)
            j = (j + 1) & (cap - 1);
        t[j] = old[i];
    }
    free(old);
    return 0;
}

/* Makes room for n entries at most half the table's slots (short probe chains). */
static int reserve(space *s, size_t n)
{
    if (n * 2 <= s->cap)
        return 0;
    if (n > SIZE_MAX / 4 / sizeof(ent))
        return -1;
    size_t cap = s->cap ? s->cap : 1024;
    while (cap < n * 2)
        cap *= 2;
    return rehash(s, cap);
}

static int index_put(space *s, uint64_t k0, uint64_t k1, uint64_t off)
{
    ent *e = find(s, k0, k1);
    if (e) {
        e->off = off;
        return 0;
    }
    if (reserve(s, s->n + 1))
        return -1;
    size_t i = slot_of(s, k0);
    while (s->tab[i].off)
        i = (i + 1) & (s->cap - 1);
    s->tab[i] = (ent){k0, k1, off};
    s->n++;
    return 0;
}

/* Removes e (backward-shift deletion keeps probe chains intact). */
static void index_del(space *s, ent *e)
{
    size_t i = (size_t)(e - s->tab), mask = s->cap - 1;
    for (size_t j = (i + 1) & mask; s->tab[j].off; j = (j + 1) & mask) {
        size_t home = slot_of(s, s->tab[j].k0);
        /* move j back to i when i lies cyclically in [home, j) */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            s->tab[i] = s->tab[j];
            i = j;
        }
    }
    s->tab[i].off = 0;
    s->n--;
}

/* ---- files ---- */

static int scratch(rp_cache *c, size_t n)
{
    if (n <= c->bufcap)
        return 0;
    unsigned char *b = realloc(c->buf, n);
    if (!b)
        return -1;
    c->buf = b;
    c->bufcap = n;
    return 0;
}

static void header_make(unsigned char h[HDR_SIZE], const char *name, const char *model, size_t dim)
{
    memset(h, 0, HDR_SIZE);
    memcpy(h, MAGIC, 8);
    uint32_t probe = 0x01020304u, d = (uint32_t)dim, nl = (uint32_t)strlen(name),
             ml = (uint32_t)strlen(model);
    float one = 1.0f;
    memcpy(h + 8, &probe, 4);
    memcpy(h + 12, &one, 4);
    memcpy(h + 16, &d, 4);
    memcpy(h + 20, &nl, 4);
    memcpy(h + 24, &ml, 4);
    memcpy(h + 32, name, nl);
    memcpy(h + 32 + nl, model, ml);
    uint64_t chk = rc_check64(h, HDR_SIZE - 8, 0);
    memcpy(h + HDR_SIZE - 8, &chk, 8);
}

static int lock_fd(int fd, int op)
{
    while (flock(fd, op) != 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What is wrong with a header that is not want (got bytes of it read), for the warning. */
static void damage_of(char *why, size_t cap, const unsigned char *have, ssize_t got,
                      const unsigned char *want)
{
    uint64_t chk;
    memcpy(&chk, have + HDR_SIZE - 8, 8);
    if (got < HDR_SIZE)
        snprintf(why, cap, "%zd bytes, not a whole %d-byte header", got, HDR_SIZE);
    else if (memcmp(have, MAGIC, 8) != 0)
        snprintf(why, cap, "no cache file header");
    else if (memcmp(have + 8, want + 8, 8) != 0)
        snprintf(why, cap, "written with another byte order or float format");
    else if (rc_check64(have, HDR_SIZE - 8, 0) != chk)
        snprintf(why, cap, "its header is damaged");
    else
        snprintf(why, cap, "its header is for another embedder, model or dimension");
}

/* Sets sp's damaged file aside: fd is that file, opened from sp->path and flock()ed (LOCK_EX) by
 * the caller. *again = 1 when sp->path is to be opened again (it was set aside, by this call or
 * by another process already).
 *
 * Several processes may find the same damaged file at once, and each must set aside only that
 * file, never the fresh one another of them has already started under the same name. Each
 * decides under the damaged file's own lock: it renames sp->path only when sp->path still names
 * the very file it holds locked (same st_dev and st_ino), and the rename happens under that lock
 * too. So the check and the rename of one process cannot interleave with another's: the first to
 * get the lock renames; every later one finds sp->path gone or naming another file (a fresh one)
 * and just opens sp->path again. The inode comparison is sound because the damaged file is
 * renamed, not removed: it keeps its inode number while it exists, so no fresh file can be given
 * that number and be mistaken for it. A fresh file is only ever set aside for damage of its own,
 * found under its own lock. */
static int set_aside(rp_cache *c, space *sp, int fd, const char *why, int *again)
{
    struct stat mine, now;
    *again = 0;
    if (fstat(fd, &mine) != 0)
        return io_fail(c, sp->path, "stat", errno);
    int gone = stat(sp->path, &now) != 0;
    if (gone && errno != ENOENT)
        return io_fail(c, sp->path, "stat", errno);
    if (gone || now.st_dev != mine.st_dev || now.st_ino != mine.st_ino) {
        *again = 1; /* another process set it aside first */
        return RP_OK;
    }
    /* a name no file has yet: the same path is not set aside twice in one millisecond unless a
     * fresh file is damaged as soon as made, but a file set aside is never overwritten */
    char *aside = NULL;
    int64_t ms = wall_ms();
    for (int i = 0;; i++, ms++) {
        free(aside);
        aside = NULL;
        struct stat st;
        if (asprintf(&aside, "%s.damaged-%lld", sp->path, (long long)ms) < 0) {
            aside = NULL;
            return c_fail(c, RP_ENOMEM, "out of memory");
        }
        if (lstat(aside, &st) != 0 && errno == ENOENT)
            break;
        if (i == 100) {
            int rc = c_fail(c, RP_ECORRUPT,
                            "%s is not a valid cache file (%s); no free name to set "
                            "it aside as (%s exists)",
                            sp->path, why, aside);
            free(aside);
            return rc;
        }
    }
    if (rename(sp->path, aside) != 0) {
        int rc = c_fail(c, RP_ECORRUPT,
                        "%s is not a valid cache file (%s) and could not be set "
                        "aside as %s: %s",
                        sp->path, why, aside, strerror(errno));
        free(aside);
        return rc;
    }
    rp_warnf(c->warn, c->warn_ud,
             ERR_PREFIX "%s is not a valid cache file for %s/%s dim %zu (%s): set aside as %s, "
                        "a new one is started",
             sp->path, sp->name, sp->model, sp->dim, why, aside);
    free(aside);
    *again = 1;
    return RP_OK;
}

/* Opens sp's file (creating it when create is set). *absent = 1 when there is nothing to read:
 * the file does not exist and create is not set, or it holds no more than the start of its own
 * header and create is not set (a lookup writes nothing). Under the file's lock: a new file gets
 * its header, and so does one whose creator stopped (crashed, or ran out of space) before its
 * header was complete (what is there is a prefix of that same header: nothing is lost); any
 * other file that does not start with this space's exact header is set aside (set_aside). */
static int space_open(rp_cache *c, space *sp, int create, int *absent)
{
    *absent = 0;
    if (sp->fd >= 0)
        return RP_OK;
    unsigned char want[HDR_SIZE], have[HDR_SIZE];
    header_make(want, sp->name, sp->model, sp->dim);
    /* each round sets one damaged file aside; more than a few in a row is not a damaged file
     * but something (another program) writing junk under this name as fast as it is moved */
    for (int round = 0; round < 8; round++) {
        int fd = open(sp->path, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
        if (fd < 0 && errno == ENOENT && !create) {
            *absent = 1;
            return RP_OK;
        }
        if (fd < 0)
            return io_fail(c, sp->path, "open", errno);
        if (lock_fd(fd, LOCK_EX)) {
            int rc = io_fail(c, sp->path, "lock", errno);
            close(fd);
            return rc;
        }
        int rc = RP_OK, again = 0, empty = 0;
        memset(have, 0, sizeof have);
        ssize_t got = rc_pread_full(fd, have, HDR_SIZE, 0);
        if (got < 0) {
            rc = io_fail(c, sp->path, "read", errno);
        } else if (got == HDR_SIZE && memcmp(have, want, HDR_SIZE) == 0) {
            /* this space's file */
        } else if (got < HDR_SIZE && memcmp(have, want, (size_t)got) == 0) {
            /* new, or its creator stopped before the header was complete. An empty file is not
             * truncated: ext4 flushes a file truncated to 0 when it is closed (auto_da_alloc),
             * which cost a build 23 ms of waiting at exit; and the header's prefix is simply
             * written over. */
            if (!create) {
                empty = 1;
            } else {
                errno = 0;
                if (rc_pwrite_full(fd, want, HDR_SIZE, 0) != 0)
                    rc = io_fail(c, sp->path, "write", errno);
            }
        } else {
            char why[96];
            damage_of(why, sizeof why, have, got, want);
            rc = set_aside(c, sp, fd, why, &again);
        }
        lock_fd(fd, LOCK_UN);
        if (rc || again || empty) {
            close(fd);
            if (rc)
                return rc;
            if (empty) {
                *absent = 1;
                return RP_OK;
            }
            continue;
        }
        sp->fd = fd;
        sp->scanned = HDR_SIZE;
        return RP_OK;
    }
    return c_fail(c, RP_ECORRUPT, "%s: set aside as damaged 8 times in a row and damaged again",
                  sp->path);
}

/* Indexes the records appended since the last scan: their keys only. A record's check is not
 * computed here but when it is hit (read_hits), so a scan reads each record once from the page
 * cache and hashes 16 bytes of it instead of all of it; a damaged record is still a miss, and
 * records that are never looked up are never checked. The cost: a damaged record shadows an
 * older intact copy of the same key (a miss where the eager check found a hit); a record whose
 * key bytes are damaged is indexed under a key no text has. Zeroed keys (a hole left by a crash)
 * are never indexed: key_of() cannot make one. */
static int space_refresh(rp_cache *c, space *sp)
{
    if (sp->fd < 0)
        return RP_OK;
    struct stat st;
    if (fstat(sp->fd, &st) != 0)
        return io_fail(c, sp->path, "stat", errno);
    uint64_t end = (uint64_t)st.st_size;
    if (end < sp->scanned) /* cut back by a writer repairing a torn tail */
        sp->scanned = end - (end - HDR_SIZE) % sp->rec;
    if (end - sp->scanned < sp->rec)
        return RP_OK;
    /* one growth of the table for all the new records, instead of doubling as they come */
    if (reserve(sp, sp->n + (size_t)((end - sp->scanned) / sp->rec)))
        return c_fail(c, RP_ENOMEM, "out of memory");
    size_t per = SCAN_BLOCK / sp->rec ? SCAN_BLOCK / sp->rec : 1;
    if (scratch(c, per * sp->rec))
        return c_fail(c, RP_ENOMEM, "out of memory");
    while (end - sp->scanned >= sp->rec) {
        size_t want = (size_t)((end - sp->scanned) / sp->rec);
        if (want > per)
            want = per;
        ssize_t got = rc_pread_full(sp->fd, c->buf, want * sp->rec, sp->scanned);
        if (got < 0)
            return io_fail(c, sp->path, "read", errno);
        size_t recs = (size_t)got / sp->rec;
        if (!recs)
            break;
        for (size_t i = 0; i < recs; i++) {
            uint64_t k[2];
            memcpy(k, c->buf + i * sp->rec, 16);
            if ((k[0] || k[1]) && index_put(sp, k[0], k[1], sp->scanned + i * sp->rec))
                return c_fail(c, RP_ENOMEM, "out of memory");
        }
        sp->scanned += recs * sp->rec;
    }
    return RP_OK;
}

static void space_free(space *sp)
{
    if (!sp)
        return;
    if (sp->fd >= 0)
        close(sp->fd);
    free(sp->name);
    free(sp->model);
    free(sp->path);
    free(sp->tab);
    free(sp);
}

static void names_hex(char out[RP_HASH_HEX], const char *name, const char *model)
{
    size_t nl = strlen(name), ml = strlen(model);
    char *b = malloc(nl + ml + 1);
    if (!b) {
        rp_hash_hex(out, "", 0);
        return;
    }
    memcpy(b, name, nl);
    b[nl] = 0;
    memcpy(b + nl + 1, model, ml);
    rp_hash_hex(out, b, nl + ml + 1);
    free(b);
}

/* The space of (name, model, dim), made when new (its file is opened lazily). */
static int space_get(rp_cache *c, space **out, const char *name, const char *model, size_t dim)
{
    for (size_t i = 0; i < c->nsp; i++) {
        space *sp = c->sp[i];
        if (sp->dim == dim && !strcmp(sp->name, name) && !strcmp(sp->model, model)) {
            *out = sp;
            return RP_OK;
        }
    }
    if (!dim || dim > MAX_DIM || strlen(name) + strlen(model) > MAX_NAMES)
        return c_fail(c, RP_EINVAL, "bad key (dim %zu, %zu bytes of names)", dim,
                      strlen(name) + strlen(model));
    space **v = realloc(c->sp, (c->nsp + 1) * sizeof *v);
    if (!v)
        return c_fail(c, RP_ENOMEM, "out of memory");
    c->sp = v;
    space *sp = calloc(1, sizeof *sp);
    char hex[RP_HASH_HEX];
    names_hex(hex, name, model);
    if (!sp || !(sp->name = strdup(name)) || !(sp->model = strdup(model)) ||
        asprintf(&sp->path, "%s/emb-%s-d%zu.v1", c->dir, hex, dim) < 0) {
        if (sp)
            sp->path = NULL;
        space_free(sp);
        return c_fail(c, RP_ENOMEM, "out of memory");
    }
    sp->fd = -1;
    sp->dim = dim;
    sp->rec = rec_size(dim);
    c->sp[c->nsp++] = sp;
    *out = sp;
    return RP_OK;
}

/* ---- the API ---- */

void rp_cache_free(rp_cache *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->nsp; i++)
        space_free(c->sp[i]);
    free(c->sp);
    free(c->buf);
    free(c->offs);
    free(c->dir);
    free(c);
}

const char *rp_cache_errmsg(const rp_cache *c)
{
    return c ? c->err : "";
}

void rp_cache_set_warn(rp_cache *c, rp_warn_fn fn, void *ud)
{
    if (!c)
        return;
    c->warn = fn;
    c->warn_ud = ud;
}

int rp_cache_open(rp_cache **out, const char *dir, char *err, size_t errlen)
{
    if (!out || !dir)
        return rp_err(err, errlen, RP_EINVAL, "rp_cache_open: out and dir are required");
    int rc = rp_mkdir_p(dir, err, errlen);
    if (rc)
        return rc;
    if (access(dir, W_OK | X_OK) != 0)
        return rp_err(err, errlen, RP_EIO, "embedding cache in %s: %s", dir, strerror(errno));
    rp_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->dir = strdup(dir))) {
        free(c);
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
    }
    *out = c;
    return RP_OK;
}

/* Sets off[i] to the offset of key k[i]'s record, or 0 when it is not indexed, for the keys
 * whose off[i] is 0 on entry; returns the number still 0. The table outgrows the CPU caches and
 * the keys of a batch are independent, so each key's first slot is prefetched a few keys ahead
 * instead of waiting on one cache miss after another. */
static size_t locate(space *s, uint64_t *off, const uint64_t (*k)[2], size_t n)
{
    enum { AHEAD = 8 };
    size_t miss = 0;
    for (size_t i = 0; s->cap && i < n && i < AHEAD; i++)
        __builtin_prefetch(&s->tab[slot_of(s, k[i][0])]);
    for (size_t i = 0; i < n; i++) {
        if (s->cap && i + AHEAD < n)
            __builtin_prefetch(&s->tab[slot_of(s, k[i + AHEAD][0])]);
        if (off[i])
            continue;
        const ent *e = find(s, k[i][0], k[i][1]);
        off[i] = e ? e->off : 0;
        miss += !e;
    }
    return miss;
}

/* Reads the records at off[0..n) (0: a miss) into out (dim floats each) and sets found[i]; a
 * run of records that follow each other in the file is read with one pread() (a batch stored
 * together is read back together). Each record is checked here, as it is used (the scan does
 * not check): one whose check or key does not match is dropped from the index, a miss. */
static int read_hits(rp_cache *c, space *sp, float *out, int *found, const uint64_t (*k)[2],
                     const uint64_t *off, size_t n)
{
    memset(found, 0, n * sizeof *found);
    size_t i = 0;
    while (i < n) {
        if (!off[i]) {
            i++;
            continue;
        }
        uint64_t start = off[i];
        size_t j = i + 1;
        while (j < n && j - i < 256 && off[j] == start + (j - i) * sp->rec)
            j++;
        size_t len = (j - i) * sp->rec;
        if (scratch(c, len))
            return c_fail(c, RP_ENOMEM, "out of memory");
        ssize_t got = rc_pread_full(sp->fd, c->buf, len, start);
        if (got < 0)
            return io_fail(c, sp->path, "read", errno);
        for (size_t m = i; m < j; m++) {
            const unsigned char *r = c->buf + (m - i) * sp->rec;
            uint64_t chk;
            if ((size_t)got < (m - i + 1) * sp->rec ||
                (memcpy(&chk, r + sp->rec - 8, 8), rc_check64(r, sp->rec - 8, 0) != chk) ||
                memcmp(r, k[m], 16) != 0) {
                ent *f = find(sp, k[m][0], k[m][1]);
                if (f && f->off == off[m])
                    index_del(sp, f);
                continue;
            }
            memcpy(out + m * sp->dim, r + 16, sp->dim * sizeof(float));
            found[m] = 1;
        }
        i = j;
    }
    return RP_OK;
}

/* Looks keys up: opens the file as needed, and indexes what was appended since the last scan
 * when a key is not in the index. */
static int lookup(rp_cache *c, space *sp, float *out, int *found, const uint64_t (*k)[2], size_t n)
{
    int absent = 0, rc = space_open(c, sp, 0, &absent);
    if (rc || absent) {
        for (size_t i = 0; i < n; i++)
            found[i] = 0;
        return rc;
    }
    if (n > c->offcap) {
        uint64_t *o = realloc(c->offs, n * sizeof *o);
        if (!o)
            return c_fail(c, RP_ENOMEM, "out of memory");
        c->offs = o;
        c->offcap = n;
    }
    uint64_t *off = c->offs;
    memset(off, 0, n * sizeof *off);
    if (locate(sp, off, k, n)) {
        if ((rc = space_refresh(c, sp)))
            return rc;
        locate(sp, off, k, n);
    }
    return read_hits(c, sp, out, found, k, off, n);
}

/* Appends n records (keys k, vectors v) at the end of the file, cutting a torn tail first.
 * RP_EIO (c->io_errno its kind) when they could not be stored: nothing of them is indexed, and
 * whatever part of them reached the file is either whole records (valid, found by a later scan)
 * or a torn tail that the next writer cuts off. */
static int append(rp_cache *c, space *sp, const uint64_t (*k)[2], const float *v, size_t n)
{
    int absent = 0, rc = space_open(c, sp, 1, &absent);
    if (rc)
        return rc;
    if (scratch(c, n * sp->rec))
        return c_fail(c, RP_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        unsigned char *r = c->buf + i * sp->rec;
        memcpy(r, k[i], 16);
        memcpy(r + 16, v + i * sp->dim, sp->dim * sizeof(float));
        uint64_t chk = rc_check64(r, sp->rec - 8, 0);
        memcpy(r + sp->rec - 8, &chk, 8);
    }
    if (lock_fd(sp->fd, LOCK_EX))
        return io_fail(c, sp->path, "lock", errno);
    struct stat st;
    uint64_t end = 0;
    if (fstat(sp->fd, &st) != 0) {
        rc = io_fail(c, sp->path, "stat", errno);
    } else {
        end = (uint64_t)st.st_size;
        uint64_t torn = end < HDR_SIZE ? 0 : (end - HDR_SIZE) % sp->rec;
        errno = 0;
        if (end < HDR_SIZE) {
            /* cut below its header by something else than this cache: the next open looks at
             * it again (and sets it aside when it is not this space's file any more) */
            c->io_errno = -1;
            rc = c_fail(c, RP_EIO, "%s lost its header (%llu bytes)", sp->path,
                        (unsigned long long)end);
        } else if (torn && ftruncate(sp->fd, (off_t)(end - torn)) != 0) {
            rc = io_fail(c, sp->path, "cutting a torn tail", errno);
        } else {
            end -= torn;
            if (rc_pwrite_full(sp->fd, c->buf, n * sp->rec, end) != 0)
                rc = io_fail(c, sp->path, "write", errno);
        }
    }
    lock_fd(sp->fd, LOCK_UN);
    if (rc) {
        if (c->io_errno == -1) {
            close(sp->fd);
            sp->fd = -1;
        }
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        if (index_put(sp, k[i][0], k[i][1], end + i * sp->rec))
            return c_fail(c, RP_ENOMEM, "out of memory");
    if (sp->scanned == end)
        sp->scanned = end + n * sp->rec;
    return RP_OK;
}

/* n vectors rp_embed_cached could not store (append failed with RP_EIO, c->err saying where and
 * why): the embed goes on without caching them. Told once per handle per kind of failure (the
 * errno), not once per batch: a build on a full disk embeds thousands of batches. */
static void store_failed(rp_cache *c, size_t n)
{
    int told = c->nwarned == sizeof c->warned / sizeof *c->warned;
    for (size_t i = 0; i < c->nwarned && !told; i++)
        told = c->warned[i] == c->io_errno;
    if (!told) {
        c->warned[c->nwarned++] = c->io_errno;
        rp_warnf(c->warn, c->warn_ud,
                 ERR_PREFIX "%zu vector%s not cached (%s); the build goes on without caching "
                            "them (failures of this kind are told once)",
                 n, n == 1 ? "" : "s", c->err + strlen(ERR_PREFIX));
    }
    c->err[0] = 0;
}

/* The space of (name, model, dim) and the key of text_hash, for the one-entry calls. */
static int one_key(rp_cache *c, space **sp, uint64_t k[1][2], const char *name, const char *model,
                   size_t dim, const char *text_hash)
{
    c->err[0] = 0;
    int rc = space_get(c, sp, name, model, dim);
    if (!rc)
        key_of(k[0], text_hash);
    return rc;
}

int rp_cache_get(rp_cache *c, float *out, int *found, const char *name, const char *model,
                 size_t dim, const char *text_hash)
{
    if (!c)
        return RP_EINVAL;
    if (!out || !found || !name || !model || !dim || !text_hash)
        return c_fail(c, RP_EINVAL,
                      "rp_cache_get: out, found, name, model, dim and text_hash "
                      "are required");
    space *sp;
    uint64_t k[1][2];
    int f = 0, rc = one_key(c, &sp, k, name, model, dim, text_hash);
    if (rc || (rc = lookup(c, sp, out, &f, (const uint64_t(*)[2])k, 1)))
        return rc;
    *found = f;
    return RP_OK;
}

int rp_cache_put(rp_cache *c, const char *name, const char *model, size_t dim,
                 const char *text_hash, const float *v)
{
    if (!c)
        return RP_EINVAL;
    if (!name || !model || !dim || dim > MAX_DIM || !text_hash || !v)
        return c_fail(c, RP_EINVAL,
                      "rp_cache_put: name, model, dim (1 to %d), text_hash and v "
                      "are required",
                      MAX_DIM);
    space *sp;
    uint64_t k[1][2];
    int rc = one_key(c, &sp, k, name, model, dim, text_hash);
    return rc ? rc : append(c, sp, (const uint64_t(*)[2])k, v, 1);
}

/* The cache's one dimension for (name, model), 0 when none or several. */
static size_t known_dim(rp_cache *c, const char *name, const char *model)
{
    char hex[RP_HASH_HEX], prefix[64];
    names_hex(hex, name, model);
    int pl = snprintf(prefix, sizeof prefix, "emb-%s-d", hex);
    DIR *d = opendir(c->dir);
    if (!d)
        return 0;
    size_t dim = 0;
    int count = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, prefix, (size_t)pl) != 0)
            continue;
        char *end = NULL;
        unsigned long v = strtoul(de->d_name + pl, &end, 10);
        if (!v || v > MAX_DIM || !end || strcmp(end, ".v1") != 0)
            continue;
        space *sp;
        int absent = 0;
        if (space_get(c, &sp, name, model, v) || space_open(c, sp, 0, &absent) || absent)
            continue;
        dim = v;
        count++;
    }
    closedir(d);
    c->err[0] = 0;
    return count == 1 ? dim : 0;
}

int rp_embed_cached(float **out, size_t *hits, rp_cache *c, rp_embedder *e,
                    const char *const *texts, const char *const *hashes, size_t n)
{
    if (!c)
        return RP_EINVAL;
    if (!out || !e || ((!texts || !hashes) && n))
        return c_fail(c, RP_EINVAL, "rp_embed_cached: out, e, texts and hashes are required");
    c->err[0] = 0;
    const char *name = rp_embedder_name(e), *model = rp_embedder_model(e);
    size_t dim = rp_embedder_dim(e);
    int assumed = 0;
    if (!dim) {
        dim = known_dim(c, name, model);
        assumed = dim != 0;
    }
    float *v = NULL, *fresh = NULL, *mvec = NULL;
    size_t *miss = NULL, nmiss = 0, nhits = 0, cnt = n ? n : 1;
    const char **mtexts = NULL;
    uint64_t(*keys)[2] = NULL, (*mkeys)[2] = NULL;
    int *found = NULL;
    int rc = RP_ENOMEM;
    if (!(miss = malloc(cnt * sizeof *miss)) || !(mtexts = malloc(cnt * sizeof *mtexts)) ||
        !(keys = malloc(cnt * sizeof *keys)) || !(mkeys = malloc(cnt * sizeof *mkeys)) ||
        !(found = calloc(cnt, sizeof *found))) {
        c_fail(c, RP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (!hashes[i] || !texts[i]) {
            rc = c_fail(c, RP_EINVAL, "text %zu or its hash is missing", i);
            goto out;
        }
        key_of(keys[i], hashes[i]);
    }
    space *sp = NULL;
    if (dim) {
        if ((rc = space_get(c, &sp, name, model, dim)))
            goto out;
        if (!(v = malloc(cnt * dim * sizeof *v))) {
            rc = c_fail(c, RP_ENOMEM, "out of memory");
            goto out;
        }
        if ((rc = lookup(c, sp, v, found, (const uint64_t(*)[2])keys, n)))
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (found[i])
            nhits++;
        else
            miss[nmiss++] = i;
    }
    if (nmiss) {
        for (size_t k = 0; k < nmiss; k++)
            mtexts[k] = texts[miss[k]];
        if ((rc = rp_embed_batch(e, &fresh, mtexts, nmiss))) {
            /* the embedder's error: its message (never an empty one) */
            const char *m = rp_embedder_errmsg(e);
            if (m && *m)
                snprintf(c->err, sizeof c->err, "%s", m);
            else
                snprintf(c->err, sizeof c->err, "embedder %s/%s: %s", name, model, rp_strerror(rc));
            goto out;
        }
        size_t edim = rp_embedder_dim(e);
        if (dim && edim != dim) {
            rc = c_fail(c, RP_EDIM, "embedder %s/%s gives dimension %zu, cache file %s%s has %zu",
                        name, model, edim, sp->path, assumed ? " (assumed)" : "", dim);
            goto out;
        }
        if (!dim) {
            dim = edim;
            if ((rc = space_get(c, &sp, name, model, dim)))
                goto out;
            if (!(v = malloc(cnt * dim * sizeof *v))) {
                rc = c_fail(c, RP_ENOMEM, "out of memory");
                goto out;
            }
        }
        /* duplicates within a batch are stored once (checked for batches of up to 1024 misses;
         * beyond, a duplicate is only stored twice, which is harmless) */
        size_t nput = 0;
        if (!(mvec = malloc(nmiss * dim * sizeof *mvec))) {
            rc = c_fail(c, RP_ENOMEM, "out of memory");
            goto out;
        }
        for (size_t k = 0; k < nmiss; k++) {
            memcpy(v + miss[k] * dim, fresh + k * dim, dim * sizeof *v);
            int dup = 0;
            for (size_t m = 0; nmiss <= 1024 && m < nput && !dup; m++)
                dup = mkeys[m][0] == keys[miss[k]][0] && mkeys[m][1] == keys[miss[k]][1];
            if (dup)
                continue;
            mkeys[nput][0] = keys[miss[k]][0];
            mkeys[nput][1] = keys[miss[k]][1];
            memcpy(mvec + nput * dim, fresh + k * dim, dim * sizeof *v);
            nput++;
        }
        rc = append(c, sp, (const uint64_t(*)[2])mkeys, mvec, nput);
        if (rc == RP_EIO)
            store_failed(c, nput); /* the vectors are answered, not cached */
        else if (rc)
            goto out;
    }
    if (!v && !(v = malloc(sizeof *v))) {
        rc = c_fail(c, RP_ENOMEM, "out of memory");
        goto out;
    }
    rc = RP_OK;
    *out = v;
    v = NULL;
    if (hits)
        *hits = nhits;
out:
    free(v);
    free(fresh);
    free(mvec);
    free(miss);
    free(mtexts);
    free(keys);
    free(mkeys);
    free(found);
    return rc;
}
