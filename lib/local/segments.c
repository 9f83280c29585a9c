/* Local mode: vector segments, the files that hold the vectors of large upserts. */
#include "store_int.h"

#include "check64.h"
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- vector segments -------------------------------------------------------------------- */

/* The vectors of large upserts are not stored in the rows, where SQLite would write each of them
 * twice (to the WAL, then to the database at a checkpoint) among the payload pages and rewrite
 * them whenever a page splits. They are appended once to the collection's segment file
 * <dir>/v<cid>-<gen>.seg, and the row's vec column holds the record's number (an integer)
 * instead of the floats (a blob); a collection may hold both kinds of rows. The segment is
 * fdatasync'ed before the transaction that refers to it commits, so no row that survives a power
 * loss points at a record that did not (synchronous=NORMAL's promise stays: the last writes may
 * be lost, nothing is damaged). Batches of fewer than SEG_MIN_POINTS points stay in the rows,
 * where they cost no fsync.
 *
 *   header (SEG_HDR bytes): magic, dim, record size, cid, gen, zeros, a check of the rest
 *   records (SEG_REC(dim) bytes each): dim floats, a check seeded with (cid, gen, number)
 *
 * segs(cid, gen, next, dead): the file's generation, the records in use (0..next-1; those past
 * next are free: left by a crashed or rolled-back writer and overwritten by the next one) and
 * how many of them belong to no point any more (overwritten or deleted: counted by the writes
 * that do it, which look the old row up; a trigger would make SQLite keep a statement journal of
 * every page an INSERT touches). When SEG_COMPACT_MIN or more and at least half of the records are
 * dead, the writer copies the live ones to generation gen + 1 in its transaction and removes the
 * old file after the commit; a reader whose snapshot still names a removed generation starts its
 * call again. A generation's records below `next` are never rewritten once committed. */
#define SEG_MAGIC "LSVSEG1" /* 8 bytes with its NUL */
#define SEG_HDR 64
#define SEG_REC(dim) ((dim) * sizeof(float) + 8)
#define SEG_COMPACT_MIN 4096
#define SEG_IO_BYTES (1u << 20) /* written per pwrite, at most (at least one record) */
#define SEG_WINDOW (1u << 20)   /* bytes read at a time in a scan */

/* Records per write: SEG_IO_BYTES of them, at least one. */
static size_t seg_io_records(const lcoll *c)
{
    size_t per = SEG_IO_BYTES / SEG_REC(c->dim);
    return per ? per : 1;
}

static uint64_t seg_seed(const lcoll *c, int64_t gen, int64_t rn)
{
    return ls_mix64(((uint64_t)c->cid * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)gen << 40) ^
                    (uint64_t)rn);
}

static void seg_path(char *buf, size_t cap, const ls_store *s, int64_t cid, int64_t gen)
{
    snprintf(buf, cap, "%s/v%lld-%lld.seg", s->dir, (long long)cid, (long long)gen);
}

static void seg_header(unsigned char h[SEG_HDR], const lcoll *c, int64_t gen)
{
    uint32_t dim = (uint32_t)c->dim, rec = (uint32_t)SEG_REC(c->dim);
    memset(h, 0, SEG_HDR);
    memcpy(h, SEG_MAGIC, 8);
    memcpy(h + 8, &dim, 4);
    memcpy(h + 12, &rec, 4);
    memcpy(h + 16, &c->cid, 8);
    memcpy(h + 24, &gen, 8);
    uint64_t chk = rc_check64(h, SEG_HDR - 8, 0);
    memcpy(h + SEG_HDR - 8, &chk, 8);
}

void ls_seg_close(lcoll *c)
{
    if (c->sfd >= 0)
        close(c->sfd);
    free(c->win);
    c->win = NULL;
    c->wlo = c->whi = 0;
    c->sfd = -1;
    c->sfd_gen = c->sfits = 0;
}

/* Opens generation gen of c's segment into *out: a new file (header written) when create, else
 * the existing one (header checked; SEG_GONE when it is not there). */
static int seg_open(ls_store *s, lcoll *c, int64_t gen, int create, int *out)
{
    char path[4200];
    seg_path(path, sizeof path, s, c->cid, gen);
    int fd = open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0644);
    if (fd < 0 && !create && (errno == EACCES || errno == EROFS))
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && !create && errno == ENOENT)
        return SEG_GONE;
    if (fd < 0)
        return ls_seterr(s, ls_errno_code(errno) == LS_ENOTFOUND ? LS_EIO : ls_errno_code(errno),
                         "%s: %s", path, strerror(errno));
    unsigned char want[SEG_HDR], have[SEG_HDR];
    seg_header(want, c, gen);
    int r = 0;
    if (create) {
        /* the new name reaches the disk too: the commit that refers to it fdatasyncs only the
         * file, and a power loss must not take the file away from under durable rows */
        if (rc_pwrite_full(fd, want, SEG_HDR, 0) || rc_fsync_dir(s->dir) != 0)
            r = ls_seterr(s, LS_EIO, "%s: %s", path, strerror(errno));
    } else if (pread(fd, have, SEG_HDR, 0) != SEG_HDR || memcmp(have, want, SEG_HDR) != 0) {
        r = ls_seterr(s, LS_ECORRUPT, "%s is not the vector segment of collection `%s`", path,
                      c->name);
    }
    if (r) {
        close(fd);
        return r;
    }
    *out = fd;
    return 0;
}

void (*ls_test_seg_open_hook)(void *ud);
void *ls_test_seg_open_ud;

/* Readies c's segment as the current transaction's snapshot names it (nothing to do without
 * one): the file open and long enough for its records. */
int ls_seg_map(ls_store *s, lcoll *c)
{
    if (!c->sgen)
        return 0;
    if (c->sfd >= 0 && c->sfd_gen != c->sgen)
        ls_seg_close(c);
    int r;
    if (c->sfd < 0) {
        if (ls_test_seg_open_hook)
            ls_test_seg_open_hook(ls_test_seg_open_ud);
        if ((r = seg_open(s, c, c->sgen, 0, &c->sfd)))
            return r;
        c->sfd_gen = c->sgen;
    }
    if (c->sfits >= c->snext)
        return 0;
    struct stat st;
    if (fstat(c->sfd, &st) != 0)
        return ls_seterr(s, LS_EIO, "collection `%s`: vector segment: %s", c->name,
                         strerror(errno));
    if ((uint64_t)st.st_size < SEG_HDR + (uint64_t)c->snext * SEG_REC(c->dim))
        return ls_seterr(s, LS_ECORRUPT,
                         "collection `%s`: the vector segment is shorter than its points need",
                         c->name);
    c->sfits = c->snext;
    return 0;
}

/* Reads records from rn on into c's window: a large block when the reads go in order (rn just
 * past the window: a scan), a few records otherwise (look-ups). Read, not mapped: a mapping's
 * pages would count against the process's memory as a scan touches them. */
static int seg_fill(ls_store *s, lcoll *c, int64_t rn)
{
    size_t rec = SEG_REC(c->dim), big = SEG_WINDOW / rec ? SEG_WINDOW / rec : 1;
    size_t want = rn == c->whi ? big : 8;
    if ((int64_t)want > c->snext - rn)
        want = (size_t)(c->snext - rn);
    if (!c->win && !(c->win = malloc(big * rec)))
        return ls_nomem(s);
    c->wlo = c->whi = 0;
    ssize_t got = rc_pread_full(c->sfd, c->win, want * rec, SEG_HDR + (uint64_t)rn * rec);
    if (got < 0)
        return ls_seterr(s, LS_EIO, "collection `%s`: reading vectors: %s", c->name,
                         strerror(errno));
    if ((size_t)got < want * rec)
        return ls_seterr(s, LS_ECORRUPT,
                         "collection `%s`: the vector segment is shorter than its points need",
                         c->name);
    c->wlo = rn;
    c->whi = rn + (int64_t)want;
    return 0;
}

/* ls_seg_map inside a write transaction: the snapshot is the newest, so a missing file is
 * damage. */
int ls_seg_map_w(ls_store *s, lcoll *c)
{
    int r = ls_seg_map(s, c);
    if (r == SEG_GONE)
        r = ls_seterr(s, LS_ECORRUPT, "collection `%s`: its vector segment file is missing",
                      c->name);
    return r;
}

/* The vector of st's current row (column col): the blob in the row, or the segment record the
 * row names, checked. NULL (the error set) when it is damaged. Valid until the next call for c. */
const float *ls_row_vec(ls_store *s, lcoll *c, sqlite3_stmt *st, int col)
{
    size_t rec = SEG_REC(c->dim);
    if (sqlite3_column_type(st, col) == SQLITE_INTEGER) {
        int64_t rn = sqlite3_column_int64(st, col);
        if (rn >= 0 && rn < c->snext && c->sfd >= 0 && c->sfd_gen == c->sgen &&
            (rn >= c->wlo && rn < c->whi ? 0 : seg_fill(s, c, rn)) != 0)
            return NULL;
        if (rn >= 0 && rn < c->snext && rn >= c->wlo && rn < c->whi) {
            const unsigned char *p = c->win + (size_t)(rn - c->wlo) * rec;
            uint64_t chk;
            memcpy(&chk, p + rec - 8, 8);
            if (rc_check64(p, rec - 8, seg_seed(c, c->sgen, rn)) == chk)
                return (const float *)(const void *)p;
        }
    } else {
        const void *v = sqlite3_column_blob(st, col);
        if (v && (size_t)sqlite3_column_bytes(st, col) == c->dim * sizeof(float))
            return v;
    }
    ls_seterr(s, LS_ECORRUPT, "collection `%s`: a stored point is damaged", c->name);
    return NULL;
}

/* Writes n vectors (each dim floats at src) as records first.. of the open segment fd of
 * generation gen. */
static int seg_write(ls_store *s, lcoll *c, int fd, int64_t gen, int64_t first, const float *src,
                     size_t n)
{
    size_t rec = SEG_REC(c->dim), per = seg_io_records(c);
    if (per > n)
        per = n;
    unsigned char *buf = malloc((per ? per : 1) * rec);
    if (!buf)
        return ls_nomem(s);
    int r = 0;
    for (size_t i = 0; i < n && !r; i += per) {
        size_t k = n - i < per ? n - i : per;
        for (size_t j = 0; j < k; j++) {
            unsigned char *p = buf + j * rec;
            memcpy(p, src + (i + j) * c->dim, c->dim * sizeof(float));
            uint64_t chk = rc_check64(p, rec - 8, seg_seed(c, gen, first + (int64_t)(i + j)));
            memcpy(p + rec - 8, &chk, 8);
        }
        if (rc_pwrite_full(fd, buf, k * rec, SEG_HDR + (uint64_t)(first + (int64_t)i) * rec))
            r = ls_seterr(s, LS_EIO, "collection `%s`: writing vectors: %s", c->name,
                          strerror(errno));
    }
    free(buf);
    return r;
}

/* Inside a write transaction: makes room for n records at the end of c's segment (creating the
 * segment on first use) and writes the vectors there; *first: the first record's number. The
 * catalog fields of c change: the caller clears the catalog when it does not commit. */
int ls_seg_append(ls_store *s, lcoll *c, const float *src, size_t n, int64_t *first)
{
    int r;
    if (!c->sgen) {
        char sql[256];
        long long id = (long long)c->cid;
        snprintf(sql, sizeof sql,
                 "INSERT INTO segs(cid, gen, next, dead) VALUES(%lld, 1, 0, 0);"
                 "UPDATE meta SET value = '" FORMAT_SEGMENTS "' WHERE key = 'format';",
                 id);
        if ((r = ls_exec(s, sql, "create vector segment")))
            return r;
        ls_seg_close(c);
        if ((r = seg_open(s, c, 1, 1, &c->sfd)))
            return r;
        c->sfd_gen = c->sgen = 1;
        c->snext = 0;
    } else if ((r = ls_seg_map_w(s, c))) {
        return r;
    }
    if ((r = seg_write(s, c, c->sfd, c->sgen, c->snext, src, n)))
        return r;
#ifdef SYNC_FILE_RANGE_WRITE
    /* start the writeback now: the rows are inserted meanwhile, and ls_seg_sync before the commit
     * then waits for less (these pages are not written again, so nothing waits on them) */
    sync_file_range(c->sfd, (off_t)(SEG_HDR + (uint64_t)c->snext * SEG_REC(c->dim)),
                    (off_t)(n * SEG_REC(c->dim)), SYNC_FILE_RANGE_WRITE);
#endif
    sqlite3_stmt *st = ls_stmt(s, "UPDATE segs SET next = next + ?1 WHERE cid = ?2");
    if (!st)
        return LS_EIO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
    sqlite3_bind_int64(st, 2, c->cid);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ls_dberr(s, rc, "update vector segment");
    *first = c->snext;
    c->snext += (int64_t)n;
    return 0;
}

/* Inside a write transaction, after c's points changed: copies the live records to a new
 * generation (in row order, which scans read in) when enough of them are dead (*compacted = 1; the
 * caller removes the other generations once it has committed). */
int ls_seg_settle(ls_store *s, lcoll *c, int64_t dead_add, int *compacted)
{
    *compacted = 0;
    if (!c->sgen)
        return 0;
    sqlite3_stmt *st = ls_stmt(s, "UPDATE segs SET dead = dead + ?1 WHERE cid = ?2 "
                                  "RETURNING next, dead");
    if (!st)
        return LS_EIO;
    sqlite3_bind_int64(st, 1, dead_add);
    sqlite3_bind_int64(st, 2, c->cid);
    int64_t next = 0, dead = 0;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        next = sqlite3_column_int64(st, 0);
        dead = sqlite3_column_int64(st, 1);
        rc = sqlite3_step(st);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return ls_dberr(s, rc, "update vector segment");
    if (dead < SEG_COMPACT_MIN || dead * 2 < next)
        return 0;
    int r = ls_seg_map_w(s, c);
    if (r)
        return r;
    char sql[200];
    st =
        ls_stmt(s, ls_table(sql, sizeof sql,
                            "SELECT rid, vec FROM p%lld WHERE typeof(vec) = 'integer' ORDER BY rid",
                            (long long)c->cid));
    if (!st)
        return LS_EIO;
    /* the live records stream into the new file seg_io_records at a time; only the row ids of
     * the points are kept (to renumber them after the walk) */
    size_t n = 0, cap = 0, k = 0;
    int64_t *rids = NULL;
    size_t per = seg_io_records(c);
    float *chunk = malloc(per * c->dim * sizeof *chunk);
    int fd = -1;
    int64_t gen = c->sgen + 1;
    if (!chunk)
        r = ls_nomem(s);
    if (!r)
        r = seg_open(s, c, gen, 1, &fd);
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *a = realloc(rids, cap * sizeof *a);
            if (!a) {
                r = ls_nomem(s);
                break;
            }
            rids = a;
        }
        const float *v = ls_row_vec(s, c, st, 1);
        if (!v) {
            r = LS_ECORRUPT;
            break;
        }
        rids[n++] = sqlite3_column_int64(st, 0);
        memcpy(chunk + k * c->dim, v, c->dim * sizeof *v);
        if (++k == per) {
            r = seg_write(s, c, fd, gen, (int64_t)(n - k), chunk, k);
            k = 0;
        }
    }
    sqlite3_reset(st);
    if (!r && rc != SQLITE_DONE)
        r = ls_dberr(s, rc, "reading vectors");
    if (!r && k)
        r = seg_write(s, c, fd, gen, (int64_t)(n - k), chunk, k);
    free(chunk);
    st = r ? NULL
           : ls_stmt(s, ls_table(sql, sizeof sql, "UPDATE p%lld SET vec = ?1 WHERE rid = ?2",
                                 (long long)c->cid));
    if (!r && !st)
        r = LS_EIO;
    for (size_t i = 0; !r && i < n; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_int64(st, 2, rids[i]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = ls_dberr(s, rc, "compact vectors");
    }
    if (!r && (st = ls_stmt(s, "UPDATE segs SET gen = ?1, next = ?2, dead = 0 WHERE cid = ?3"))) {
        sqlite3_bind_int64(st, 1, gen);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
        sqlite3_bind_int64(st, 3, c->cid);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = ls_dberr(s, rc, "compact vectors");
    } else if (!r) {
        r = LS_EIO;
    }
    free(rids);
    if (r) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    ls_seg_close(c);
    c->sfd = fd;
    c->sfd_gen = c->sgen = gen;
    c->snext = (int64_t)n;
    *compacted = 1;
    return 0;
}

/* Before the commit of a transaction that wrote c's segment: the records reach the disk first. */
int ls_seg_sync(ls_store *s, lcoll *c)
{
    if (c->sfd >= 0 && fdatasync(c->sfd) != 0)
        return ls_seterr(s, LS_EIO, "collection `%s`: syncing vectors: %s", c->name,
                         strerror(errno));
    return 0;
}

/* After a commit: removes the segment files of collection cid other than generation keep (0:
 * all of them). Failures leave only unused files behind. */
void ls_seg_sweep(ls_store *s, int64_t cid, int64_t keep)
{
    DIR *d = opendir(s->dir);
    if (!d)
        return;
    char pre[48], path[4200];
    int pl = snprintf(pre, sizeof pre, "v%lld-", (long long)cid);
    struct dirent *e;
    while ((e = readdir(d))) {
        long long gen = 0;
        char tail[8] = "";
        if (strncmp(e->d_name, pre, (size_t)pl) != 0 ||
            sscanf(e->d_name + pl, "%lld%7s", &gen, tail) != 2 || strcmp(tail, ".seg") != 0 ||
            gen == keep)
            continue;
        seg_path(path, sizeof path, s, cid, gen);
        unlink(path);
    }
    closedir(d);
}
