/* Local mode: the store (SQLite WAL database + vector segments + in-memory vector cache) and its
 * operations.
 *
 * On disk (store.db, WAL mode):
 *   meta(key, value)                         format version, float byte order, next cid
 *   collections(name, cid, dim, distance, seq, epoch, ntomb, metadata)
 *   aliases(alias, collection)
 *   p<cid>(rid, pkey UNIQUE, seq, vec, payload)  one table per collection; pkey is the id as a
 *                                            blob whose byte order is Qdrant's id order; vec the
 *                                            floats (a blob) or a segment record number
 *   t<cid>(pkey PRIMARY KEY, seq)            tombstones: ids deleted at change number seq
 *   segs(cid, gen, next, dead)               the vector segment of a collection, if it has one
 * and v<cid>-<gen>.seg beside it (see "vector segments"). cid is never reused, so a collection
 * deleted and created again is a different table. Format 1: no segment yet (what libraries
 * before segments read); 2: segments in use.
 *
 * collections.metadata (JSON object text, NULL: none) came after both formats: it is added to
 * an older store's table when this library first opens it. It does not change the format:
 * older libraries name the columns they read and write, so they keep reading and writing such
 * a store (their new collections have no metadata); only a change older libraries would get
 * wrong raises the format, as segments did.
 *
 * A directory with the marker (or with segment files) is a store: when its database is missing,
 * empty or without the store's tables, opening fails with LS_ECORRUPT rather than making a new
 * empty database there, which would make every collection vanish without an error.
 *
 * Change tracking: every write to a collection is one transaction that raises its seq by one
 * and stamps the rows it writes (points) or deletes (tombstones) with the new seq. A reader whose
 * cache is at seq S applies the tombstones and then the rows with seq > S. When tombstones pile
 * up a writer drops them all and raises epoch: readers with an older epoch reload everything.
 * Whether anything changed at all is known from PRAGMA data_version (one cheap statement), so a
 * call on an unchanged store reads nothing but that.
 *
 * Every call runs inside one transaction (BEGIN for reads, BEGIN IMMEDIATE for writes), so the
 * cache refresh and the answer come from one consistent snapshot. */
#include "lstore.h"

#include "check64.h"
#include "fileio.h"
#include "finite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FORMAT_VERSION "1"  /* a new store */
#define FORMAT_SEGMENTS "2" /* a store with vector segments (older libraries cannot read them) */
#define DB_NAME "store.db"
#define STMT_CACHE 64
#define TOMB_PRUNE_MIN 4096
#define DEFAULT_BUSY_MS 10000

typedef struct lcoll {
    char *name;
    int64_t cid;
    size_t dim;
    int dist;
    int64_t seq, epoch;
    /* cache */
    int loaded;
    int64_t cseq, cepoch;
    size_t n, cap;
    float *vecs;       /* cap * dim */
    ls_id *ids;        /* cap */
    char **pl;         /* cap payload texts */
    json_object **plo; /* cap parsed payloads (lazily) */
    uint32_t *ht;      /* hcap entries: slot + 1, 0 = empty */
    size_t hcap;
    uint32_t *order; /* n slots sorted by id, valid when order_ok */
    int order_ok;
    /* vector segment (see "vector segments"): generation (0: none) and records in use, as the
     * snapshot has them; the open file, the records its size is known to hold, and a window of
     * records [wlo, whi) read from it */
    int64_t sgen, snext;
    int sfd; /* -1: none */
    int64_t sfd_gen, sfits;
    unsigned char *win;
    int64_t wlo, whi;
} lcoll;

typedef struct stmt_ent {
    char *sql;
    sqlite3_stmt *st;
} stmt_ent;

struct ls_store {
    sqlite3 *db;
    char *dir;
    char err[512];
    int64_t data_version;
    int catalog_ok;
    lcoll **colls; /* sorted by name */
    size_t ncolls;
    char **al_names, **al_colls;
    size_t naliases;
    stmt_ent stmts[STMT_CACHE];
    size_t stmt_next;
    int scan; /* ls_open_options.scan: collections never held in memory */
};

/* ---- errors ----------------------------------------------------------------------------- */

static int seterr(ls_store *s, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(ls_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return code;
}

static int sqlerr_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return LS_EBUSY;
    case SQLITE_NOMEM:
        return LS_ENOMEM;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return LS_EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return LS_ECORRUPT;
    default:
        return LS_EIO;
    }
}

static int dberr(ls_store *s, int rc, const char *what)
{
    int code = sqlerr_code(rc);
    if (code == LS_EBUSY)
        return seterr(s, code, "%s: the store is locked by another writer (%s)", what,
                      sqlite3_errmsg(s->db));
    return seterr(s, code, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

static int nomem(ls_store *s)
{
    return seterr(s, LS_ENOMEM, "out of memory");
}

const char *ls_errmsg(const ls_store *s)
{
    return s ? s->err : "no store";
}

/* ---- statements ------------------------------------------------------------------------- */

/* A cached prepared statement, reset and unbound. Borrowed: use it to completion before the
 * next stmt() call. */
static sqlite3_stmt *stmt(ls_store *s, const char *sql)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        if (s->stmts[i].sql && strcmp(s->stmts[i].sql, sql) == 0) {
            sqlite3_reset(s->stmts[i].st);
            sqlite3_clear_bindings(s->stmts[i].st);
            return s->stmts[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        dberr(s, rc, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        nomem(s);
        return NULL;
    }
    stmt_ent *e = &s->stmts[s->stmt_next];
    s->stmt_next = (s->stmt_next + 1) % STMT_CACHE;
    sqlite3_finalize(e->st);
    free(e->sql);
    e->sql = copy;
    e->st = st;
    return st;
}

static void stmts_clear(ls_store *s)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(s->stmts[i].st);
        free(s->stmts[i].sql);
        s->stmts[i].st = NULL;
        s->stmts[i].sql = NULL;
    }
}

static int exec(ls_store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : dberr(s, rc, what);
}

/* ---- id keys ---------------------------------------------------------------------------- */

/* 9 bytes (0x00 + big-endian u64) or 17 bytes (0x01 + uuid): memcmp order = Qdrant's order. */
static size_t key_encode(unsigned char out[17], const ls_id *id)
{
    if (id->kind == LS_ID_NUM) {
        out[0] = 0;
        for (int i = 0; i < 8; i++)
            out[1 + i] = (unsigned char)(id->num >> (56 - 8 * i));
        return 9;
    }
    out[0] = 1;
    memcpy(out + 1, id->uuid, 16);
    return 17;
}

static int key_decode(ls_id *id, const unsigned char *k, int len)
{
    memset(id, 0, sizeof *id);
    if (len == 9 && k[0] == 0) {
        id->kind = LS_ID_NUM;
        for (int i = 0; i < 8; i++)
            id->num = id->num << 8 | k[1 + i];
        return 0;
    }
    if (len == 17 && k[0] == 1) {
        id->kind = LS_ID_UUID;
        memcpy(id->uuid, k + 1, 16);
        return 0;
    }
    return -1;
}

static int id_valid(const ls_id *id)
{
    return id->kind == LS_ID_NUM || id->kind == LS_ID_UUID;
}

/* ---- the cache -------------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t id_hash(const ls_id *id)
{
    if (id->kind == LS_ID_NUM)
        return mix64(id->num);
    uint64_t a, b;
    memcpy(&a, id->uuid, 8);
    memcpy(&b, id->uuid + 8, 8);
    return mix64(a ^ mix64(b + 0x9e3779b97f4a7c15ULL));
}

static int id_eq(const ls_id *a, const ls_id *b)
{
    return a->kind == b->kind &&
           (a->kind == LS_ID_NUM ? a->num == b->num : memcmp(a->uuid, b->uuid, 16) == 0);
}

/* Index in ht of id's entry, or of the empty entry where it would go. */
static size_t ht_pos(const lcoll *c, const ls_id *id)
{
    size_t mask = c->hcap - 1, i = (size_t)id_hash(id) & mask;
    while (c->ht[i] && !id_eq(&c->ids[c->ht[i] - 1], id))
        i = (i + 1) & mask;
    return i;
}

static long cache_find(const lcoll *c, const ls_id *id)
{
    if (!c->hcap)
        return -1;
    size_t i = ht_pos(c, id);
    return c->ht[i] ? (long)c->ht[i] - 1 : -1;
}

static int ht_rebuild(lcoll *c, size_t want)
{
    size_t hc = 16;
    while (hc < want * 2)
        hc *= 2;
    uint32_t *nt = calloc(hc, sizeof *nt);
    if (!nt)
        return -1;
    free(c->ht);
    c->ht = nt;
    c->hcap = hc;
    for (size_t k = 0; k < c->n; k++)
        c->ht[ht_pos(c, &c->ids[k])] = (uint32_t)(k + 1);
    return 0;
}

static void ht_remove(lcoll *c, size_t i)
{
    size_t mask = c->hcap - 1;
    c->ht[i] = 0;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!c->ht[j])
            return;
        size_t home = (size_t)id_hash(&c->ids[c->ht[j] - 1]) & mask;
        /* move entry j back to i when its home is not in (i, j] (cyclically) */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            c->ht[i] = c->ht[j];
            c->ht[j] = 0;
            i = j;
        }
    }
}

static void cache_drop(lcoll *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->pl[i]);
        json_object_put(c->plo[i]);
    }
    free(c->vecs);
    free(c->ids);
    free(c->pl);
    free(c->plo);
    free(c->ht);
    free(c->order);
    c->vecs = NULL;
    c->ids = NULL;
    c->pl = NULL;
    c->plo = NULL;
    c->ht = NULL;
    c->order = NULL;
    c->n = c->cap = c->hcap = 0;
    c->loaded = 0;
    c->order_ok = 0;
}

static void seg_close(lcoll *c);

static void coll_free(lcoll *c)
{
    if (!c)
        return;
    cache_drop(c);
    seg_close(c);
    free(c->name);
    free(c);
}

static int cache_reserve(lcoll *c, size_t want)
{
    if (want <= c->cap)
        return 0;
    if (want > UINT32_MAX - 1)
        return -1;
    size_t nc = c->cap ? c->cap : 64;
    while (nc < want)
        nc = nc + nc / 2;
    float *v = realloc(c->vecs, nc * c->dim * sizeof *v);
    if (!v)
        return -1;
    c->vecs = v;
    ls_id *ids = realloc(c->ids, nc * sizeof *ids);
    if (!ids)
        return -1;
    c->ids = ids;
    char **pl = realloc(c->pl, nc * sizeof *pl);
    if (!pl)
        return -1;
    c->pl = pl;
    json_object **plo = realloc(c->plo, nc * sizeof *plo);
    if (!plo)
        return -1;
    c->plo = plo;
    c->cap = nc;
    return 0;
}

/* Puts a point into the cache; takes pl (malloc'ed text) and plo (may be NULL). */
static int cache_put(lcoll *c, const ls_id *id, const float *vec, char *pl, json_object *plo)
{
    long slot = cache_find(c, id);
    if (slot >= 0) {
        memcpy(c->vecs + (size_t)slot * c->dim, vec, c->dim * sizeof(float));
        free(c->pl[slot]);
        json_object_put(c->plo[slot]);
        c->pl[slot] = pl;
        c->plo[slot] = plo;
        return 0;
    }
    if (cache_reserve(c, c->n + 1))
        return -1;
    if ((c->n + 1) * 2 > c->hcap && ht_rebuild(c, c->n + 1 + c->n / 2))
        return -1;
    size_t k = c->n++;
    c->ids[k] = *id;
    memcpy(c->vecs + k * c->dim, vec, c->dim * sizeof(float));
    c->pl[k] = pl;
    c->plo[k] = plo;
    c->ht[ht_pos(c, id)] = (uint32_t)(k + 1);
    c->order_ok = 0;
    return 0;
}

static int cache_del(lcoll *c, const ls_id *id)
{
    if (!c->hcap)
        return 0;
    size_t i = ht_pos(c, id);
    if (!c->ht[i])
        return 0;
    size_t slot = c->ht[i] - 1, last = c->n - 1;
    ht_remove(c, i);
    free(c->pl[slot]);
    json_object_put(c->plo[slot]);
    if (slot != last) {
        c->ids[slot] = c->ids[last];
        memcpy(c->vecs + slot * c->dim, c->vecs + last * c->dim, c->dim * sizeof(float));
        c->pl[slot] = c->pl[last];
        c->plo[slot] = c->plo[last];
        c->ht[ht_pos(c, &c->ids[slot])] = (uint32_t)(slot + 1);
    }
    c->n--;
    c->order_ok = 0;
    return 1;
}

static json_object *cache_payload(lcoll *c, size_t slot)
{
    if (!c->plo[slot] && c->pl[slot])
        c->plo[slot] = json_tokener_parse(c->pl[slot]);
    return c->plo[slot];
}

static int order_cmp(const void *a, const void *b, void *ud)
{
    const lcoll *c = ud;
    return ls_id_cmp(&c->ids[*(const uint32_t *)a], &c->ids[*(const uint32_t *)b]);
}

static int cache_order(lcoll *c)
{
    if (c->order_ok)
        return 0;
    uint32_t *o = realloc(c->order, (c->n ? c->n : 1) * sizeof *o);
    if (!o)
        return -1;
    c->order = o;
    for (size_t i = 0; i < c->n; i++)
        o[i] = (uint32_t)i;
    qsort_r(o, c->n, sizeof *o, order_cmp, c);
    c->order_ok = 1;
    return 0;
}

static char *table(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static char *table(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

static const float *row_vec(ls_store *s, lcoll *c, sqlite3_stmt *st, int col);

/* Reads rows (pkey, vec, payload) of a statement into the cache. */
static int cache_read_rows(ls_store *s, lcoll *c, sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ls_id id;
        const float *vec = row_vec(s, c, st, 1);
        const void *k = sqlite3_column_blob(st, 0);
        if (!vec || key_decode(&id, k, sqlite3_column_bytes(st, 0))) {
            sqlite3_reset(st);
            return seterr(s, LS_ECORRUPT, "collection `%s`: a stored point is damaged", c->name);
        }
        const char *txt = (const char *)sqlite3_column_text(st, 2);
        char *pl = strdup(txt ? txt : "{}");
        if (!pl || cache_put(c, &id, vec, pl, NULL)) {
            free(pl);
            sqlite3_reset(st);
            return nomem(s);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : dberr(s, rc, "reading points");
}

/* Brings the cache of c up to date with the snapshot of the current transaction. */
static int cache_sync(ls_store *s, lcoll *c)
{
    char sql[160];
    sqlite3_stmt *st;
    int r;
    if (c->loaded && c->cepoch == c->epoch && c->cseq == c->seq)
        return 0;
    if (!c->loaded || c->cepoch != c->epoch) {
        cache_drop(c);
        sqlite3_int64 cnt = 0;
        st = stmt(s, table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
        if (!st)
            return LS_EIO;
        if (sqlite3_step(st) == SQLITE_ROW)
            cnt = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (cache_reserve(c, (size_t)cnt + 1) || ht_rebuild(c, (size_t)cnt + 1))
            return cache_drop(c), nomem(s);
        st = stmt(
            s, table(sql, sizeof sql, "SELECT pkey, vec, payload FROM p%lld", (long long)c->cid));
        if (!st)
            return cache_drop(c), LS_EIO;
        if ((r = cache_read_rows(s, c, st)))
            return cache_drop(c), r;
    } else {
        /* incremental: deletions first, then the rows written since */
        st = stmt(
            s, table(sql, sizeof sql, "SELECT pkey FROM t%lld WHERE seq > ?", (long long)c->cid));
        if (!st)
            return cache_drop(c), LS_EIO;
        sqlite3_bind_int64(st, 1, c->cseq);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            ls_id id;
            if (key_decode(&id, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0)) == 0)
                cache_del(c, &id);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return cache_drop(c), dberr(s, rc, "reading deletions");
        st = stmt(s, table(sql, sizeof sql, "SELECT pkey, vec, payload FROM p%lld WHERE seq > ?",
                           (long long)c->cid));
        if (!st)
            return cache_drop(c), LS_EIO;
        sqlite3_bind_int64(st, 1, c->cseq);
        if ((r = cache_read_rows(s, c, st)))
            return cache_drop(c), r;
    }
    c->loaded = 1;
    c->cseq = c->seq;
    c->cepoch = c->epoch;
    return 0;
}

/* ---- catalog ---------------------------------------------------------------------------- */

static void aliases_clear(ls_store *s)
{
    for (size_t i = 0; i < s->naliases; i++) {
        free(s->al_names[i]);
        free(s->al_colls[i]);
    }
    free(s->al_names);
    free(s->al_colls);
    s->al_names = s->al_colls = NULL;
    s->naliases = 0;
}

static void catalog_clear(ls_store *s)
{
    for (size_t i = 0; i < s->ncolls; i++)
        coll_free(s->colls[i]);
    free(s->colls);
    s->colls = NULL;
    s->ncolls = 0;
    aliases_clear(s);
    s->catalog_ok = 0;
}

static int catalog_load(ls_store *s)
{
    sqlite3_stmt *st = stmt(s, "SELECT c.name, c.cid, c.dim, c.distance, c.seq, c.epoch,"
                               " coalesce(g.gen, 0), coalesce(g.next, 0) FROM collections c"
                               " LEFT JOIN segs g ON g.cid = c.cid ORDER BY c.name");
    if (!st)
        return LS_EIO;
    lcoll **nc = NULL;
    size_t n = 0, cap = 0;
    int rc, r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            lcoll **t = realloc(nc, cap * sizeof *t);
            if (!t) {
                r = nomem(s);
                break;
            }
            nc = t;
        }
        int64_t cid = sqlite3_column_int64(st, 1);
        lcoll *c = NULL;
        for (size_t i = 0; i < s->ncolls; i++) {
            if (s->colls[i] && s->colls[i]->cid == cid) {
                c = s->colls[i];
                s->colls[i] = NULL; /* keep its cache */
                break;
            }
        }
        if (!c) {
            c = calloc(1, sizeof *c);
            if (!c) {
                r = nomem(s);
                break;
            }
            c->cid = cid;
            c->sfd = -1;
            c->name = strdup((const char *)sqlite3_column_text(st, 0));
            if (!c->name) {
                free(c);
                r = nomem(s);
                break;
            }
        }
        c->dim = (size_t)sqlite3_column_int64(st, 2);
        c->dist = sqlite3_column_int(st, 3);
        c->seq = sqlite3_column_int64(st, 4);
        c->epoch = sqlite3_column_int64(st, 5);
        c->sgen = sqlite3_column_int64(st, 6);
        c->snext = sqlite3_column_int64(st, 7);
        nc[n++] = c;
    }
    sqlite3_reset(st);
    if (!r && rc != SQLITE_DONE)
        r = dberr(s, rc, "reading collections");
    if (r) {
        for (size_t i = 0; i < n; i++)
            coll_free(nc[i]);
        free(nc);
        catalog_clear(s);
        return r;
    }
    catalog_clear(s); /* frees the collections that are gone */
    s->colls = nc;
    s->ncolls = n;

    st = stmt(s, "SELECT alias, collection FROM aliases ORDER BY collection, alias");
    if (!st)
        return LS_EIO;
    cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (s->naliases == cap) {
            cap = cap ? cap * 2 : 8;
            char **a = realloc(s->al_names, cap * sizeof *a);
            if (a)
                s->al_names = a;
            char **b = realloc(s->al_colls, cap * sizeof *b);
            if (b)
                s->al_colls = b;
            if (!a || !b) {
                r = nomem(s);
                break;
            }
        }
        char *a = strdup((const char *)sqlite3_column_text(st, 0));
        char *b = strdup((const char *)sqlite3_column_text(st, 1));
        if (!a || !b) {
            free(a);
            free(b);
            r = nomem(s);
            break;
        }
        s->al_names[s->naliases] = a;
        s->al_colls[s->naliases] = b;
        s->naliases++;
    }
    sqlite3_reset(st);
    if (!r && rc != SQLITE_DONE)
        r = dberr(s, rc, "reading aliases");
    if (r) {
        catalog_clear(s);
        return r;
    }
    s->catalog_ok = 1;
    return 0;
}

/* Inside a transaction: reloads the catalog when another connection committed since. */
static int catalog_sync(ls_store *s)
{
    sqlite3_stmt *st = stmt(s, "PRAGMA data_version");
    if (!st)
        return LS_EIO;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return dberr(s, rc, "reading the store");
    }
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (s->catalog_ok && v == s->data_version)
        return 0;
    s->data_version = v;
    return catalog_load(s);
}

static lcoll *find_coll(ls_store *s, const char *name)
{
    size_t lo = 0, hi = s->ncolls;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->colls[mid]->name, name);
        if (c == 0)
            return s->colls[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static const char *find_alias(ls_store *s, const char *name)
{
    for (size_t i = 0; i < s->naliases; i++)
        if (strcmp(s->al_names[i], name) == 0)
            return s->al_colls[i];
    return NULL;
}

/* TableOfContent::resolve_name: an alias first, then the collection itself. */
static lcoll *resolve(ls_store *s, const char *name)
{
    const char *real = find_alias(s, name);
    if (!real)
        real = name;
    lcoll *c = find_coll(s, real);
    if (!c)
        seterr(s, LS_ENOTFOUND, "Not found: Collection `%s` doesn't exist!", real);
    return c;
}

/* ---- transactions ----------------------------------------------------------------------- */

static int begin_read(ls_store *s)
{
    int r = exec(s, "BEGIN", "begin");
    if (r)
        return r;
    if ((r = catalog_sync(s))) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    return 0;
}

static void end_read(ls_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

static int begin_write(ls_store *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return dberr(s, rc, "begin write");
    int r = catalog_sync(s);
    if (r) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    return 0;
}

static void rollback(ls_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static int commit(ls_store *s)
{
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    int r = dberr(s, rc, "commit");
    rollback(s);
    catalog_clear(s); /* caches may hold changes that were not committed */
    return r;
}

/* ---- open / close ----------------------------------------------------------------------- */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS collections(name TEXT PRIMARY KEY, cid INTEGER NOT NULL UNIQUE,"
    " dim INTEGER NOT NULL, distance INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0,"
    " epoch INTEGER NOT NULL DEFAULT 0, ntomb INTEGER NOT NULL DEFAULT 0, metadata TEXT);"
    "CREATE TABLE IF NOT EXISTS aliases(alias TEXT PRIMARY KEY, collection TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS segs(cid INTEGER PRIMARY KEY, gen INTEGER NOT NULL,"
    " next INTEGER NOT NULL, dead INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '" FORMAT_VERSION "');"
    "INSERT OR IGNORE INTO meta VALUES('next_cid', '1');";

static int openerr(char *buf, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int openerr(char *buf, size_t cap, int code, const char *fmt, ...)
{
    if (buf && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

static int errno_code(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
        return LS_EACCES;
    case ENOENT:
        return LS_ENOTFOUND;
    case ENOTDIR:
        return LS_ENOTSTORE;
    case ENOMEM:
        return LS_ENOMEM;
    default:
        return LS_EIO;
    }
}

static const char *float_order(void)
{
    const float one = 1.0f;
    unsigned char b[4];
    memcpy(b, &one, 4);
    return b[3] == 0x3f ? "le" : "be";
}

/* The files a store directory may hold before its marker exists (another process may be
 * creating the store right now). */
static int store_file(const char *name)
{
    return !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, DB_NAME) ||
           !strcmp(name, DB_NAME "-wal") || !strcmp(name, DB_NAME "-shm") ||
           !strcmp(name, DB_NAME "-journal") || !strncmp(name, LS_MARKER_NAME ".tmp", 19);
}

/* v<cid>-<gen>.seg: a vector segment file (see "vector segments"). */
static int seg_file(const char *name)
{
    const char *p = name;
    if (*p++ != 'v' || !(*p >= '0' && *p <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '-' || !(*p >= '0' && *p <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return strcmp(p, ".seg") == 0;
}

/* *has: 1 when the collections table has the metadata column, else 0. An SQLite code. */
static int md_column(sqlite3 *db, int *has)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT 1 FROM pragma_table_info('collections') WHERE name = 'metadata'", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        *has = rc == SQLITE_ROW;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(q);
    return rc;
}

/* A store made before collection metadata: the column added, once (another process may be
 * doing the same: checked again under the write lock). */
static int md_column_add(sqlite3 *db)
{
    int has = 0, rc = md_column(db, &has);
    if (rc != SQLITE_OK || has)
        return rc;
    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = md_column(db, &has);
    if (rc == SQLITE_OK && !has)
        rc = sqlite3_exec(db, "ALTER TABLE collections ADD COLUMN metadata TEXT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int write_marker(const char *dir, char *errbuf, size_t errcap)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp%ld", dir, LS_MARKER_NAME, (long)getpid());
    snprintf(path, sizeof path, "%s/%s", dir, LS_MARKER_NAME);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return openerr(errbuf, errcap, errno_code(errno), "cannot write %s: %s", tmp,
                       strerror(errno));
    static const char text[] = "libqdrantc local store, format " FORMAT_VERSION "\n";
    int ok = write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1) && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return openerr(errbuf, errcap, errno_code(e), "cannot write %s: %s", path, strerror(e));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

int ls_open(ls_store **out, const char *dir, const ls_open_options *opts, char *errbuf,
            size_t errcap)
{
    ls_open_options o = LS_OPEN_OPTIONS_INIT;
    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (!out || !dir || !*dir)
        return openerr(errbuf, errcap, LS_EINVAL, "ls_open: out and dir are required");
    if (opts) {
        if (opts->version < 1 || opts->version > LS_OPEN_OPTIONS_VERSION)
            return openerr(errbuf, errcap, LS_EINVAL, "ls_open: unknown options version %u",
                           opts->version);
        o.create = opts->create;
        o.sync_full = opts->sync_full;
        o.busy_timeout_ms = opts->busy_timeout_ms;
        if (opts->version >= 2)
            o.scan = opts->scan;
    }
    if (strlen(dir) > 4000)
        return openerr(errbuf, errcap, LS_EINVAL, "ls_open: path too long");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || !o.create)
            return openerr(errbuf, errcap, errno_code(errno), "cannot open store %s: %s", dir,
                           strerror(errno));
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return openerr(errbuf, errcap, errno_code(errno),
                           "cannot create store directory %s: %s", dir, strerror(errno));
        if (stat(dir, &st) != 0)
            return openerr(errbuf, errcap, errno_code(errno), "cannot open store %s: %s", dir,
                           strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return openerr(errbuf, errcap, LS_ENOTSTORE, "%s is not a local store: not a directory",
                       dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, LS_MARKER_NAME);
    int marker = access(path, F_OK) == 0;
    /* the database: a store (marker or segment files) whose database is missing or empty is
     * damaged; SQLite would quietly make a new empty one */
    char dbpath[4200];
    snprintf(dbpath, sizeof dbpath, "%s/%s", dir, DB_NAME);
    struct stat dbst;
    int db_state = 1; /* 1: there, with content; 0: empty; -1: missing */
    if (stat(dbpath, &dbst) != 0) {
        if (errno != ENOENT)
            return openerr(errbuf, errcap, errno_code(errno), "cannot open %s: %s", dbpath,
                           strerror(errno));
        db_state = -1;
    } else if (S_ISREG(dbst.st_mode) && dbst.st_size == 0) {
        db_state = 0;
    }
    char first[64] = "";
    if (!marker) {
        DIR *d = opendir(dir);
        if (!d)
            return openerr(errbuf, errcap, errno_code(errno), "cannot read directory %s: %s", dir,
                           strerror(errno));
        struct dirent *de;
        int other = 0;
        while ((de = readdir(d)) != NULL) {
            if (store_file(de->d_name))
                continue;
            other = !seg_file(de->d_name);
            if (other || !first[0])
                snprintf(first, sizeof first, "%.60s", de->d_name);
            if (other)
                break;
        }
        closedir(d);
        if (!other && first[0] && db_state <= 0) /* segment files, no database */
            return openerr(errbuf, errcap, LS_ECORRUPT,
                           "store %s is damaged: it holds vector segment files (%s) but its "
                           "database %s is %s; not making a new empty store there",
                           dir, first, dbpath, db_state < 0 ? "missing" : "empty (0 bytes)");
        if (first[0])
            return openerr(errbuf, errcap, LS_ENOTSTORE,
                           "%s is not a local store: the directory is not empty (it holds %s) and "
                           "has no %s marker file",
                           dir, first, LS_MARKER_NAME);
    } else if (db_state <= 0) {
        return openerr(errbuf, errcap, LS_ECORRUPT,
                       "store %s is damaged: it has the %s marker but its database %s is %s; not "
                       "making a new empty store there",
                       dir, LS_MARKER_NAME, dbpath, db_state < 0 ? "missing" : "empty (0 bytes)");
    }
    if (access(dir, W_OK | X_OK) != 0)
        return openerr(errbuf, errcap, LS_EACCES, "store directory %s is not writable: %s", dir,
                       strerror(errno));

    ls_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return openerr(errbuf, errcap, LS_ENOMEM, "out of memory");
    }
    s->scan = o.scan != 0;
    snprintf(path, sizeof path, "%s/%s", dir, DB_NAME);
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    int r = 0;
    if (rc != SQLITE_OK) {
        r = openerr(errbuf, errcap, sqlerr_code(rc), "cannot open %s: %s", path,
                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, o.busy_timeout_ms > 0 ? (int)o.busy_timeout_ms : DEFAULT_BUSY_MS);
    /* page_size applies to a new database only (an existing store keeps its own): a point row
     * (a 384-d vector plus a chunk of text is ~2.5 KiB) takes a whole 4 KiB page, so 16 KiB
     * pages halve the bytes written and the time of a bulk upsert (bench/local, tmp 64k points:
     * 37.7 -> 18.4 us/point). */
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             " PRAGMA foreign_keys=OFF;"
             "PRAGMA cache_size=-16384; PRAGMA mmap_size=0;",
             o.sync_full ? "FULL" : "NORMAL");
    rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        /* journal_mode=WAL answers with the mode in force; it must be wal */
        sqlite3_stmt *jm = NULL;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &jm, NULL);
        if (rc == SQLITE_OK && sqlite3_step(jm) == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(jm, 0), "wal") != 0)
            rc = SQLITE_CANTOPEN;
        sqlite3_finalize(jm);
    }
    if (rc != SQLITE_OK) {
        r = openerr(errbuf, errcap, sqlerr_code(rc), "cannot open %s: %s", path,
                    sqlite3_errmsg(s->db));
        goto fail;
    }
    /* Schema: created when missing (a new store, or one another process is creating). */
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='format'", -1, &q, NULL);
    int have = 0, none = 0; /* none: certainly no store tables or no format row */
    char fmt[32] = "";
    if (rc == SQLITE_OK) {
        int step = sqlite3_step(q);
        if (step == SQLITE_ROW) {
            have = 1;
            snprintf(fmt, sizeof fmt, "%s", (const char *)sqlite3_column_text(q, 0));
        }
        none = step == SQLITE_DONE;
    } else if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
        sqlite3_finalize(q);
        r = openerr(errbuf, errcap, LS_ECORRUPT, "%s is not a valid store database: %s", path,
                    sqlite3_errmsg(s->db));
        goto fail;
    } else {
        none = (rc & 0xff) == SQLITE_ERROR; /* no such table */
    }
    sqlite3_finalize(q);
    if (!have && none && marker) {
        /* the marker is written after the schema is committed: this is not a store being made */
        r = openerr(errbuf, errcap, LS_ECORRUPT,
                    "store %s is damaged: its database %s has no store tables; not making a new "
                    "empty store there",
                    dir, path);
        goto fail;
    }
    if (!have) {
        char ins[128];
        snprintf(ins, sizeof ins, "INSERT OR IGNORE INTO meta VALUES('float_order', '%s');",
                 float_order());
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, ins, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            r = openerr(errbuf, errcap, sqlerr_code(rc), "cannot create the store in %s: %s", dir,
                        sqlite3_errmsg(s->db));
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        snprintf(fmt, sizeof fmt, FORMAT_VERSION);
    }
    if (strcmp(fmt, FORMAT_VERSION) != 0 && strcmp(fmt, FORMAT_SEGMENTS) != 0) {
        r = openerr(errbuf, errcap, LS_ECORRUPT,
                    "store %s has format %s, this library reads " FORMAT_VERSION
                    " and " FORMAT_SEGMENTS,
                    dir, fmt);
        goto fail;
    }
    /* a store made before vector segments: their table added (nothing else changes) */
    rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE name = 'segs'", -1, &q, NULL);
    have = rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    if (rc == SQLITE_OK && !have)
        rc = sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = md_column_add(s->db);
    if (rc != SQLITE_OK) {
        r = openerr(errbuf, errcap, sqlerr_code(rc), "cannot update the store in %s: %s", dir,
                    sqlite3_errmsg(s->db));
        goto fail;
    }
    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='float_order'", -1, &q, NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(q, 0), float_order()) != 0) {
        sqlite3_finalize(q);
        r = openerr(errbuf, errcap, LS_ECORRUPT,
                    "store %s was written on a machine of the other byte order", dir);
        goto fail;
    }
    sqlite3_finalize(q);
    if (!marker && (r = write_marker(dir, errbuf, errcap)))
        goto fail;
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s->dir);
    free(s);
    return r;
}

void ls_close(ls_store *s)
{
    if (!s)
        return;
    catalog_clear(s);
    stmts_clear(s);
    sqlite3_close(s->db);
    free(s->dir);
    free(s);
}

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
#define SEG_MIN_POINTS 256
#define SEG_COMPACT_MIN 4096
#define SEG_GONE (-1000)        /* internal: the snapshot's generation has been removed */
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
    return mix64(((uint64_t)c->cid * 0x9e3779b97f4a7c15ULL) ^ ((uint64_t)gen << 40) ^ (uint64_t)rn);
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

static void seg_close(lcoll *c)
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
        return seterr(s, errno_code(errno) == LS_ENOTFOUND ? LS_EIO : errno_code(errno), "%s: %s",
                      path, strerror(errno));
    unsigned char want[SEG_HDR], have[SEG_HDR];
    seg_header(want, c, gen);
    int r = 0;
    if (create) {
        /* the new name reaches the disk too: the commit that refers to it fdatasyncs only the
         * file, and a power loss must not take the file away from under durable rows */
        int dfd = -1;
        if (rc_pwrite_full(fd, want, SEG_HDR, 0) ||
            (dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(dfd) != 0)
            r = seterr(s, LS_EIO, "%s: %s", path, strerror(errno));
        if (dfd >= 0)
            close(dfd);
    } else if (pread(fd, have, SEG_HDR, 0) != SEG_HDR || memcmp(have, want, SEG_HDR) != 0) {
        r = seterr(s, LS_ECORRUPT, "%s is not the vector segment of collection `%s`", path,
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
static int seg_map(ls_store *s, lcoll *c)
{
    if (!c->sgen)
        return 0;
    if (c->sfd >= 0 && c->sfd_gen != c->sgen)
        seg_close(c);
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
        return seterr(s, LS_EIO, "collection `%s`: vector segment: %s", c->name, strerror(errno));
    if ((uint64_t)st.st_size < SEG_HDR + (uint64_t)c->snext * SEG_REC(c->dim))
        return seterr(s, LS_ECORRUPT,
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
        return nomem(s);
    c->wlo = c->whi = 0;
    ssize_t got = rc_pread_full(c->sfd, c->win, want * rec, SEG_HDR + (uint64_t)rn * rec);
    if (got < 0)
        return seterr(s, LS_EIO, "collection `%s`: reading vectors: %s", c->name, strerror(errno));
    if ((size_t)got < want * rec)
        return seterr(s, LS_ECORRUPT,
                      "collection `%s`: the vector segment is shorter than its points need",
                      c->name);
    c->wlo = rn;
    c->whi = rn + (int64_t)want;
    return 0;
}

/* seg_map inside a write transaction: the snapshot is the newest, so a missing file is damage. */
static int seg_map_w(ls_store *s, lcoll *c)
{
    int r = seg_map(s, c);
    if (r == SEG_GONE)
        r = seterr(s, LS_ECORRUPT, "collection `%s`: its vector segment file is missing", c->name);
    return r;
}

/* The vector of st's current row (column col): the blob in the row, or the segment record the
 * row names, checked. NULL (the error set) when it is damaged. Valid until the next call for c. */
static const float *row_vec(ls_store *s, lcoll *c, sqlite3_stmt *st, int col)
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
    seterr(s, LS_ECORRUPT, "collection `%s`: a stored point is damaged", c->name);
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
        return nomem(s);
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
            r = seterr(s, LS_EIO, "collection `%s`: writing vectors: %s", c->name, strerror(errno));
    }
    free(buf);
    return r;
}

/* Inside a write transaction: makes room for n records at the end of c's segment (creating the
 * segment on first use) and writes the vectors there; *first: the first record's number. The
 * catalog fields of c change: the caller clears the catalog when it does not commit. */
static int seg_append(ls_store *s, lcoll *c, const float *src, size_t n, int64_t *first)
{
    int r;
    if (!c->sgen) {
        char sql[256];
        long long id = (long long)c->cid;
        snprintf(sql, sizeof sql,
                 "INSERT INTO segs(cid, gen, next, dead) VALUES(%lld, 1, 0, 0);"
                 "UPDATE meta SET value = '" FORMAT_SEGMENTS "' WHERE key = 'format';",
                 id);
        if ((r = exec(s, sql, "create vector segment")))
            return r;
        seg_close(c);
        if ((r = seg_open(s, c, 1, 1, &c->sfd)))
            return r;
        c->sfd_gen = c->sgen = 1;
        c->snext = 0;
    } else if ((r = seg_map_w(s, c))) {
        return r;
    }
    if ((r = seg_write(s, c, c->sfd, c->sgen, c->snext, src, n)))
        return r;
#ifdef SYNC_FILE_RANGE_WRITE
    /* start the writeback now: the rows are inserted meanwhile, and seg_sync before the commit
     * then waits for less (these pages are not written again, so nothing waits on them) */
    sync_file_range(c->sfd, (off_t)(SEG_HDR + (uint64_t)c->snext * SEG_REC(c->dim)),
                    (off_t)(n * SEG_REC(c->dim)), SYNC_FILE_RANGE_WRITE);
#endif
    sqlite3_stmt *st = stmt(s, "UPDATE segs SET next = next + ?1 WHERE cid = ?2");
    if (!st)
        return LS_EIO;
    sqlite3_bind_int64(st, 1, (sqlite3_int64)n);
    sqlite3_bind_int64(st, 2, c->cid);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, rc, "update vector segment");
    *first = c->snext;
    c->snext += (int64_t)n;
    return 0;
}

/* Inside a write transaction, after c's points changed: copies the live records to a new
 * generation (in row order, which scans read in) when enough of them are dead (*compacted = 1; the
 * caller removes the other generations once it has committed). */
static int seg_settle(ls_store *s, lcoll *c, int64_t dead_add, int *compacted)
{
    *compacted = 0;
    if (!c->sgen)
        return 0;
    sqlite3_stmt *st = stmt(s, "UPDATE segs SET dead = dead + ?1 WHERE cid = ?2 "
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
        return dberr(s, rc, "update vector segment");
    if (dead < SEG_COMPACT_MIN || dead * 2 < next)
        return 0;
    int r = seg_map_w(s, c);
    if (r)
        return r;
    char sql[200];
    st = stmt(s, table(sql, sizeof sql,
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
        r = nomem(s);
    if (!r)
        r = seg_open(s, c, gen, 1, &fd);
    while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1024;
            int64_t *a = realloc(rids, cap * sizeof *a);
            if (!a) {
                r = nomem(s);
                break;
            }
            rids = a;
        }
        const float *v = row_vec(s, c, st, 1);
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
        r = dberr(s, rc, "reading vectors");
    if (!r && k)
        r = seg_write(s, c, fd, gen, (int64_t)(n - k), chunk, k);
    free(chunk);
    st = r ? NULL
           : stmt(s, table(sql, sizeof sql, "UPDATE p%lld SET vec = ?1 WHERE rid = ?2",
                           (long long)c->cid));
    if (!r && !st)
        r = LS_EIO;
    for (size_t i = 0; !r && i < n; i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
        sqlite3_bind_int64(st, 2, rids[i]);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = dberr(s, rc, "compact vectors");
    }
    if (!r && (st = stmt(s, "UPDATE segs SET gen = ?1, next = ?2, dead = 0 WHERE cid = ?3"))) {
        sqlite3_bind_int64(st, 1, gen);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)n);
        sqlite3_bind_int64(st, 3, c->cid);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            r = dberr(s, rc, "compact vectors");
    } else if (!r) {
        r = LS_EIO;
    }
    free(rids);
    if (r) {
        if (fd >= 0)
            close(fd);
        return r;
    }
    seg_close(c);
    c->sfd = fd;
    c->sfd_gen = c->sgen = gen;
    c->snext = (int64_t)n;
    *compacted = 1;
    return 0;
}

/* Before the commit of a transaction that wrote c's segment: the records reach the disk first. */
static int seg_sync(ls_store *s, lcoll *c)
{
    if (c->sfd >= 0 && fdatasync(c->sfd) != 0)
        return seterr(s, LS_EIO, "collection `%s`: syncing vectors: %s", c->name, strerror(errno));
    return 0;
}

/* After a commit: removes the segment files of collection cid other than generation keep (0:
 * all of them). Failures leave only unused files behind. */
static void seg_sweep(ls_store *s, int64_t cid, int64_t keep)
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

/* ---- argument checks -------------------------------------------------------------------- */

static int check_name(ls_store *s, const char *name, const char *what)
{
    if (!name)
        return seterr(s, LS_EINVAL, "%s name is required", what);
    size_t len = strlen(name);
    if (len < 1 || len > LS_MAX_NAME)
        return seterr(s, LS_EINVAL,
                      "Validation error in path parameters: [collection_name: must be from 1 to "
                      "255 characters]");
    static const char bad[] = "<>:\"/\\|?*\x1f";
    for (const char *p = bad; *p; p++)
        if (strchr(name, *p))
            return seterr(s, LS_EINVAL,
                          "Validation error in path parameters: [%s_name: %s name "
                          "cannot contain \"%c\" char]",
                          what, what, *p);
    /* UTF-8 well-formedness */
    const unsigned char *u = (const unsigned char *)name;
    for (size_t i = 0; i < len;) {
        unsigned char ch = u[i];
        size_t n = ch < 0x80         ? 1
                   : (ch >> 5) == 6  ? 2
                   : (ch >> 4) == 14 ? 3
                   : (ch >> 3) == 30 ? 4
                                     : 0;
        if (!n || i + n > len)
            return seterr(s, LS_EINVAL, "%s name is not valid UTF-8", what);
        for (size_t k = 1; k < n; k++)
            if ((u[i + k] & 0xc0) != 0x80)
                return seterr(s, LS_EINVAL, "%s name is not valid UTF-8", what);
        i += n;
    }
    return 0;
}

static int begin_call(ls_store *s)
{
    if (!s)
        return LS_EINVAL;
    s->err[0] = '\0';
    return 0;
}

#define ENTER(s)                                                                                   \
    do {                                                                                           \
        if (begin_call(s))                                                                         \
            return LS_EINVAL;                                                                      \
    } while (0)

/* ---- collections ------------------------------------------------------------------------ */

/* Collection metadata (collections.metadata): parsed as strictly as payloads, nested as deep as
 * libqdrantc's own check allows, stored as json-c prints it. */
#define MD_DEPTH 128
#define MD_PRINT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

static int json_finite(json_object *o, int depth);

/* Parses metadata text (what: for the message): one JSON object, white space around it, finite
 * numbers. *out: the object (the caller puts it). */
static int md_parse(ls_store *s, json_object **out, const char *text, const char *what)
{
    json_tokener *tok = json_tokener_new_ex(MD_DEPTH);
    if (!tok)
        return nomem(s);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    size_t len = strlen(text);
    json_object *o = len < INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    size_t end = o && json_tokener_get_error(tok) == json_tokener_success
                     ? json_tokener_get_parse_end(tok)
                     : 0;
    json_tokener_free(tok);
    while (end && end < len && strchr(" \t\n\r", text[end]))
        end++;
    if (!end || end != len || !json_object_is_type(o, json_type_object) || !json_finite(o, 0)) {
        json_object_put(o);
        return seterr(s, LS_EINVAL, "%s is not a JSON object", what);
    }
    *out = o;
    return 0;
}

/* Qdrant's merge of a metadata patch into existing metadata (segment's merge_map on serde_json
 * maps that keep insertion order): for each key of patch in order, null removes the key, the
 * last key taking its place (Map::remove is IndexMap::swap_remove there); another value replaces
 * the key's value where it stands, or is appended. A new object (NULL: no memory). */
static json_object *md_merge(json_object *cur, json_object *patch)
{
    size_t cap = (size_t)json_object_object_length(cur) + (size_t)json_object_object_length(patch);
    const char **key = malloc((cap ? cap : 1) * sizeof *key);
    json_object **val = malloc((cap ? cap : 1) * sizeof *val);
    json_object *pos = json_object_new_object(); /* key -> its index in key[] */
    json_object *out = NULL;
    size_t n = 0;
    if (!key || !val || !pos)
        goto done;
    json_object_object_foreach(cur, ck, cv)
    {
        json_object *ix = json_object_new_int64((int64_t)n);
        if (!ix || json_object_object_add(pos, ck, ix))
            goto done;
        key[n] = ck;
        val[n++] = cv;
    }
    json_object_object_foreach(patch, pk, pv)
    {
        json_object *ix;
        long j = json_object_object_get_ex(pos, pk, &ix) ? (long)json_object_get_int64(ix) : -1;
        if (!pv) { /* null: remove, the last entry moving into the hole */
            if (j < 0)
                continue;
            json_object_object_del(pos, pk);
            if ((size_t)j != n - 1) {
                key[j] = key[n - 1];
                val[j] = val[n - 1];
                json_object_set_int64(json_object_object_get(pos, key[j]), j);
            }
            n--;
        } else if (j >= 0) {
            val[j] = pv;
        } else {
            if (!(ix = json_object_new_int64((int64_t)n)) || json_object_object_add(pos, pk, ix))
                goto done;
            key[n] = pk;
            val[n++] = pv;
        }
    }
    out = json_object_new_object();
    for (size_t i = 0; out && i < n; i++) {
        json_object *v = json_object_get(val[i]);
        if (json_object_object_add(out, key[i], v)) {
            json_object_put(v);
            json_object_put(out);
            out = NULL;
        }
    }
done:
    free(key);
    free(val);
    json_object_put(pos);
    return out;
}

/* ls_collection_create once the arguments are checked; md: the metadata object or NULL. */
static int create_locked(ls_store *s, const char *name, size_t dim, ls_distance distance,
                         json_object *md)
{
    int r;
    if ((r = begin_write(s)))
        return r;
    if (find_coll(s, name)) {
        r = seterr(s, LS_EEXISTS, "Wrong input: Collection `%s` already exists!", name);
        goto out;
    }
    if (find_alias(s, name)) {
        r = seterr(s, LS_ENAMECLASH,
                   "Wrong input: Can't create collection with name %s. Alias with the same name "
                   "already exists",
                   name);
        goto out;
    }
    sqlite3_stmt *st = stmt(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='next_cid'");
    if (!st) {
        r = LS_EIO;
        goto out;
    }
    int64_t cid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (cid < 1) {
        r = seterr(s, LS_ECORRUPT, "store metadata is damaged (next_cid)");
        goto out;
    }
    char sql[512];
    snprintf(sql, sizeof sql,
             "UPDATE meta SET value='%lld' WHERE key='next_cid';"
             "CREATE TABLE p%lld(rid INTEGER PRIMARY KEY, pkey BLOB NOT NULL UNIQUE,"
             " seq INTEGER NOT NULL, vec BLOB NOT NULL, payload TEXT NOT NULL);"
             "CREATE INDEX p%lld_seq ON p%lld(seq);"
             "CREATE TABLE t%lld(pkey BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
             "CREATE INDEX t%lld_seq ON t%lld(seq);",
             (long long)cid + 1, (long long)cid, (long long)cid, (long long)cid, (long long)cid,
             (long long)cid, (long long)cid);
    if ((r = exec(s, sql, "create collection")))
        goto out;
    st = stmt(s, "INSERT INTO collections(name, cid, dim, distance, metadata)"
                 " VALUES(?, ?, ?, ?, ?)");
    if (!st) {
        r = LS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cid);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)dim);
    sqlite3_bind_int(st, 4, (int)distance);
    if (md)
        sqlite3_bind_text(st, 5, json_object_to_json_string_ext(md, MD_PRINT), -1,
                          SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        r = dberr(s, rc, "create collection");
        goto out;
    }
    r = commit(s);
    s->catalog_ok = 0;
    return r;
out:
    rollback(s);
    return r;
}

int ls_collection_create(ls_store *s, const char *name, size_t dim, ls_distance distance)
{
    return ls_collection_create_with_metadata(s, name, dim, distance, NULL);
}

int ls_collection_create_with_metadata(ls_store *s, const char *name, size_t dim,
                                       ls_distance distance, const char *metadata_json)
{
    ENTER(s);
    int r = check_name(s, name, "collection");
    if (r)
        return r;
    if (dim < 1 || dim > LS_MAX_DIM)
        return seterr(s, LS_EINVAL, "vector size must be from 1 to %d, got %zu", LS_MAX_DIM, dim);
    if (distance < LS_COSINE || distance > LS_MANHATTAN)
        return seterr(s, LS_EINVAL, "unknown distance %d", (int)distance);
    json_object *md = NULL;
    if (metadata_json && (r = md_parse(s, &md, metadata_json, "metadata")))
        return r;
    r = create_locked(s, name, dim, distance, md);
    json_object_put(md);
    return r;
}

int ls_collection_delete(int *out, ls_store *s, const char *name)
{
    ENTER(s);
    if (!name)
        return seterr(s, LS_EINVAL, "collection name is required");
    int r = begin_write(s);
    if (r)
        return r;
    lcoll *c = find_coll(s, name);
    if (!c) {
        rollback(s);
        if (out)
            *out = 0;
        return 0;
    }
    stmts_clear(s); /* no cached statement may keep the tables */
    char sql[256];
    int64_t cid = c->cid;
    snprintf(sql, sizeof sql,
             "DROP TABLE p%lld; DROP TABLE t%lld; DELETE FROM segs WHERE cid = %lld;",
             (long long)cid, (long long)cid, (long long)cid);
    if ((r = exec(s, sql, "delete collection")))
        goto out;
    sqlite3_stmt *st = stmt(s, "DELETE FROM aliases WHERE collection = ?1");
    if (!st) {
        r = LS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE && (st = stmt(s, "DELETE FROM collections WHERE name = ?1"))) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE) {
        r = st ? dberr(s, rc, "delete collection") : LS_EIO;
        goto out;
    }
    if ((r = commit(s)))
        return r;
    s->catalog_ok = 0;
    seg_sweep(s, cid, 0);
    if (out)
        *out = 1;
    return 0;
out:
    rollback(s);
    return r;
}

int ls_collection_exists(int *out, ls_store *s, const char *name)
{
    ENTER(s);
    if (!out || !name)
        return seterr(s, LS_EINVAL, "out and name are required");
    int r = begin_read(s);
    if (r)
        return r;
    const char *real = find_alias(s, name);
    int e = find_coll(s, real ? real : name) != NULL;
    end_read(s);
    *out = e;
    return 0;
}

/* Inside a transaction: the metadata of c into *out (malloc'ed text, or NULL: none). */
static int md_read(ls_store *s, const lcoll *c, char **out)
{
    sqlite3_stmt *st = stmt(s, "SELECT metadata FROM collections WHERE cid = ?1");
    if (!st)
        return LS_EIO;
    sqlite3_bind_int64(st, 1, c->cid);
    int rc = sqlite3_step(st), r = 0;
    *out = NULL;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !(*out = strdup((const char *)sqlite3_column_text(st, 0))))
        r = nomem(s);
    else if (rc != SQLITE_ROW)
        r = rc == SQLITE_DONE ? seterr(s, LS_EIO, "collection %s vanished", c->name)
                              : dberr(s, rc, "read metadata");
    sqlite3_reset(st);
    return r;
}

int ls_collection_info_get(ls_collection_info *out, ls_store *s, const char *name)
{
    return ls_collection_describe(out, NULL, s, name);
}

int ls_collection_describe(ls_collection_info *out, char **metadata, ls_store *s, const char *name)
{
    ENTER(s);
    if (!out || !name)
        return seterr(s, LS_EINVAL, "out and name are required");
    int r = begin_read(s);
    if (r)
        return r;
    lcoll *c = resolve(s, name);
    if (!c) {
        end_read(s);
        return LS_ENOTFOUND;
    }
    char *md = NULL;
    if (metadata && (r = md_read(s, c, &md))) {
        end_read(s);
        return r;
    }
    ls_collection_info info;
    memset(&info, 0, sizeof info);
    snprintf(info.name, sizeof info.name, "%s", c->name);
    info.dim = c->dim;
    info.distance = (ls_distance)c->dist;
    if (c->loaded && c->cseq == c->seq && c->cepoch == c->epoch) {
        info.points_count = c->n;
    } else {
        char sql[64];
        sqlite3_stmt *st =
            stmt(s, table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
        if (!st) {
            end_read(s);
            return LS_EIO;
        }
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            info.points_count = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            r = dberr(s, rc, "count points");
            end_read(s);
            free(md);
            return r;
        }
    }
    end_read(s);
    *out = info;
    if (metadata)
        *metadata = md;
    return 0;
}

int ls_collection_metadata_update(ls_store *s, const char *name, const char *patch_json)
{
    ENTER(s);
    if (!name || !patch_json)
        return seterr(s, LS_EINVAL, "name and metadata are required");
    json_object *patch = NULL, *cur = NULL, *merged = NULL;
    char *text = NULL;
    int r = md_parse(s, &patch, patch_json, "metadata");
    if (r || (r = begin_write(s))) {
        json_object_put(patch);
        return r;
    }
    lcoll *c = resolve(s, name);
    if (!c) {
        r = LS_ENOTFOUND;
        goto out;
    }
    if ((r = md_read(s, c, &text)))
        goto out;
    if (!text) { /* none yet: the patch as given, nulls and all (Collection::update_metadata) */
        merged = json_object_get(patch);
    } else if (md_parse(s, &cur, text, "stored metadata")) {
        r = seterr(s, LS_ECORRUPT, "the metadata stored for collection %s is damaged", c->name);
        goto out;
    } else if (!(merged = md_merge(cur, patch))) {
        r = nomem(s);
        goto out;
    }
    sqlite3_stmt *st = stmt(s, "UPDATE collections SET metadata = ?1 WHERE cid = ?2");
    if (!st) {
        r = LS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, json_object_to_json_string_ext(merged, MD_PRINT), -1,
                      SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, c->cid);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        r = dberr(s, rc, "update metadata");
        goto out;
    }
    r = commit(s);
    goto done;
out:
    rollback(s);
done:
    free(text);
    json_object_put(patch);
    json_object_put(cur);
    json_object_put(merged);
    return r;
}

void ls_names_free(ls_names *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->names[i]);
        if (l->collections)
            free(l->collections[i]);
    }
    free(l->names);
    free(l->collections);
    free(l);
}

static ls_names *names_new(size_t n, int pairs)
{
    ls_names *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->names = calloc(n ? n : 1, sizeof *l->names);
    if (pairs)
        l->collections = calloc(n ? n : 1, sizeof *l->collections);
    if (!l->names || (pairs && !l->collections)) {
        ls_names_free(l);
        return NULL;
    }
    return l;
}

int ls_collection_list(ls_names **out, ls_store *s)
{
    ENTER(s);
    if (!out)
        return seterr(s, LS_EINVAL, "out is required");
    int r = begin_read(s);
    if (r)
        return r;
    ls_names *l = names_new(s->ncolls, 0);
    for (size_t i = 0; l && i < s->ncolls; i++) {
        if (!(l->names[i] = strdup(s->colls[i]->name))) {
            ls_names_free(l);
            l = NULL;
            break;
        }
        l->count = i + 1;
    }
    end_read(s);
    if (!l)
        return nomem(s);
    *out = l;
    return 0;
}

/* ---- aliases ---------------------------------------------------------------------------- */

static int sql_exists(ls_store *s, const char *sql, const char *arg, int *found)
{
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return LS_EIO;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return dberr(s, rc, "aliases");
    *found = rc == SQLITE_ROW;
    return 0;
}

static int sql_run2(ls_store *s, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return LS_EIO;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : dberr(s, rc, "aliases");
}

int ls_aliases_update(ls_store *s, const ls_alias_action *acts, size_t n)
{
    ENTER(s);
    if (!acts && n)
        return seterr(s, LS_EINVAL, "actions are required");
    int r;
    for (size_t i = 0; i < n; i++) {
        const ls_alias_action *a = &acts[i];
        if (a->op != LS_ALIAS_CREATE && a->op != LS_ALIAS_DELETE && a->op != LS_ALIAS_RENAME)
            return seterr(s, LS_EINVAL, "action %zu: unknown alias operation %d", i, (int)a->op);
        if ((r = check_name(s, a->alias, "alias")))
            return r;
        if (a->op == LS_ALIAS_CREATE && (r = check_name(s, a->collection, "collection")))
            return r;
        if (a->op == LS_ALIAS_RENAME && (r = check_name(s, a->new_alias, "alias")))
            return r;
    }
    if ((r = begin_write(s)))
        return r;
    for (size_t i = 0; i < n && !r; i++) {
        const ls_alias_action *a = &acts[i];
        int found = 0;
        if (a->op == LS_ALIAS_CREATE) {
            if ((r = sql_exists(s, "SELECT 1 FROM collections WHERE name = ?1", a->collection,
                                &found)))
                break;
            if (!found) {
                r = seterr(s, LS_ENOTFOUND, "Not found: Collection `%s` doesn't exist!",
                           a->collection);
                break;
            }
            if ((r = sql_exists(s, "SELECT 1 FROM collections WHERE name = ?1", a->alias, &found)))
                break;
            if (found) {
                r = seterr(s, LS_ENAMECLASH, "Wrong input: Collection `%s` already exists!",
                           a->alias);
                break;
            }
            r = sql_run2(s, "INSERT OR REPLACE INTO aliases(alias, collection) VALUES(?1, ?2)",
                         a->alias, a->collection);
        } else if (a->op == LS_ALIAS_DELETE) {
            r = sql_run2(s, "DELETE FROM aliases WHERE alias = ?1", a->alias, NULL);
        } else {
            sqlite3_stmt *st = stmt(s, "SELECT collection FROM aliases WHERE alias = ?1");
            if (!st) {
                r = LS_EIO;
                break;
            }
            sqlite3_bind_text(st, 1, a->alias, -1, SQLITE_STATIC);
            int rc = sqlite3_step(st);
            char *target =
                rc == SQLITE_ROW ? strdup((const char *)sqlite3_column_text(st, 0)) : NULL;
            sqlite3_reset(st);
            if (rc == SQLITE_DONE) {
                r = seterr(s, LS_ENOTFOUND, "Not found: Alias %s does not exists!", a->alias);
                break;
            }
            if (rc != SQLITE_ROW || !target) {
                free(target);
                r = rc == SQLITE_ROW ? nomem(s) : dberr(s, rc, "aliases");
                break;
            }
            /* Stricter than Qdrant: a rename onto a collection's name is refused too. */
            r = sql_exists(s, "SELECT 1 FROM collections WHERE name = ?1", a->new_alias, &found);
            if (!r && found)
                r = seterr(s, LS_ENAMECLASH, "Wrong input: Collection `%s` already exists!",
                           a->new_alias);
            if (!r)
                r = sql_run2(s, "DELETE FROM aliases WHERE alias = ?1", a->alias, NULL);
            if (!r)
                r = sql_run2(s, "INSERT OR REPLACE INTO aliases(alias, collection) VALUES(?1, ?2)",
                             a->new_alias, target);
            free(target);
        }
    }
    if (r) {
        rollback(s);
        return r;
    }
    r = commit(s);
    s->catalog_ok = 0;
    return r;
}

int ls_aliases_list(ls_names **out, ls_store *s, const char *collection)
{
    ENTER(s);
    if (!out)
        return seterr(s, LS_EINVAL, "out is required");
    int r = begin_read(s);
    if (r)
        return r;
    size_t n = 0;
    for (size_t i = 0; i < s->naliases; i++)
        n += !collection || strcmp(s->al_colls[i], collection) == 0;
    ls_names *l = names_new(n, 1);
    for (size_t i = 0; l && i < s->naliases; i++) {
        if (collection && strcmp(s->al_colls[i], collection) != 0)
            continue;
        l->names[l->count] = strdup(s->al_names[i]);
        l->collections[l->count] = strdup(s->al_colls[i]);
        l->count++;
        if (!l->names[l->count - 1] || !l->collections[l->count - 1]) {
            ls_names_free(l);
            l = NULL;
        }
    }
    end_read(s);
    if (!l)
        return nomem(s);
    *out = l;
    return 0;
}

/* ---- writes ----------------------------------------------------------------------------- */

/* Raises the collection's seq (and, when pruning, epoch) inside the write transaction. */
static int bump_seq(ls_store *s, lcoll *c, int64_t seq, int64_t tomb_add, int *pruned)
{
    char sql[200];
    sqlite3_stmt *st = stmt(s, "UPDATE collections SET seq = ?1, ntomb = ntomb + ?2 WHERE cid = ?3 "
                               "RETURNING ntomb");
    if (!st)
        return LS_EIO;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, tomb_add);
    sqlite3_bind_int64(st, 3, c->cid);
    int rc = sqlite3_step(st);
    int64_t ntomb = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return dberr(s, rc, "update collection");
    *pruned = 0;
    if (tomb_add && ntomb >= TOMB_PRUNE_MIN) {
        int64_t npoints = 0;
        st = stmt(s, table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
        if (!st)
            return LS_EIO;
        if (sqlite3_step(st) == SQLITE_ROW)
            npoints = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (ntomb > npoints) {
            snprintf(sql, sizeof sql,
                     "DELETE FROM t%lld; UPDATE collections SET ntomb = 0, epoch = epoch + 1 "
                     "WHERE cid = %lld;",
                     (long long)c->cid, (long long)c->cid);
            int r = exec(s, sql, "prune deletions");
            if (r)
                return r;
            *pruned = 1;
        }
    }
    return 0;
}

static int check_vectors(ls_store *s, const float *v, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        const float *p = v + i * dim;
        size_t k = rc_first_nonfinite(p, dim);
        if (k < dim)
            return seterr(
                s, LS_ENONFINITE,
                "Wrong input: vector of point %zu has a non-finite value (%s) at index %zu", i,
                isnan(p[k]) ? "NaN" : "infinity", k);
    }
    return 0;
}

/* JSON has no NaN or infinity (json-c's parser takes them even in strict mode). */
static int json_finite(json_object *o, int depth)
{
    if (depth > 200)
        return 0;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return isfinite(json_object_get_double(o));
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (!json_finite(json_object_array_get_idx(o, i), depth + 1))
                return 0;
        return 1;
    }
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (!json_finite(v, depth + 1))
                return 0;
        }
        return 1;
    }
    default:
        return 1;
    }
}

typedef struct prepared {
    char *text;       /* owned: json-c's text, or NULL when the caller's text is kept as is */
    const char *bind; /* what is stored: text, or the caller's text (valid during the call) */
    json_object *obj;
} prepared;

/* The rows of an upsert: point i gets id ids[i], the dim floats at src + i * dim (or, when
 * rec0 >= 0, segment record rec0 + i) and payload pp[i].bind. *dead: how many segment records
 * the rows it overwrote had (counted only once c has a segment: a plain INSERT, which needs no
 * look-up, otherwise; counting with a trigger would make SQLite keep a statement journal of
 * every page the batch touches). */
static int upsert_rows(ls_store *s, lcoll *c, size_t n, const ls_id *ids, const float *src,
                       const prepared *pp, int64_t seq, int64_t rec0, int64_t *dead)
{
    char ins[256], sel[160], upd[160];
    long long cid = (long long)c->cid;
    table(ins, sizeof ins,
          "INSERT INTO p%lld(pkey, seq, vec, payload) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(pkey) %s",
          cid,
          c->sgen ? "DO NOTHING"
                  : "DO UPDATE SET seq = excluded.seq, vec = excluded.vec, payload = "
                    "excluded.payload");
    table(sel, sizeof sel, "SELECT typeof(vec) = 'integer' FROM p%lld WHERE pkey = ?1", cid);
    table(upd, sizeof upd, "UPDATE p%lld SET seq = ?2, vec = ?3, payload = ?4 WHERE pkey = ?1",
          cid);
    sqlite3_stmt *st = NULL;
    for (size_t i = 0; i < n; i++) {
        /* borrowed statements: fetched again after another was used */
        if (!st && !(st = stmt(s, ins)))
            return LS_EIO;
        unsigned char key[17];
        size_t klen = key_encode(key, &ids[i]);
        for (int pass = 0; pass < 2; pass++) {
            sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, seq);
            if (rec0 >= 0)
                sqlite3_bind_int64(st, 3, rec0 + (int64_t)i);
            else
                sqlite3_bind_blob(st, 3, src + i * c->dim, (int)(c->dim * sizeof(float)),
                                  SQLITE_STATIC);
            sqlite3_bind_text(st, 4, pp[i].bind, -1, SQLITE_STATIC);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                return dberr(s, rc, "upsert");
            if (pass || !c->sgen || sqlite3_changes(s->db))
                break;
            /* the point exists (c has a segment): note whether its vector was a record */
            sqlite3_stmt *q = stmt(s, sel);
            if (!q)
                return LS_EIO;
            sqlite3_bind_blob(q, 1, key, (int)klen, SQLITE_STATIC);
            rc = sqlite3_step(q);
            *dead += rc == SQLITE_ROW && sqlite3_column_int(q, 0);
            sqlite3_reset(q);
            if (rc != SQLITE_ROW)
                return dberr(s, rc, "upsert");
            if (!(st = stmt(s, upd)))
                return LS_EIO;
        }
        st = NULL;
    }
    return 0;
}

int ls_upsert(ls_store *s, const char *collection, size_t n, const ls_id *ids, const float *vectors,
              size_t dim, const char *const *payloads)
{
    return ls_upsert_known(s, collection, n, ids, vectors, dim, payloads, NULL);
}

int ls_upsert_known(ls_store *s, const char *collection, size_t n, const ls_id *ids,
                    const float *vectors, size_t dim, const char *const *payloads,
                    const unsigned char *canonical)
{
    ENTER(s);
    if (!collection || (n && (!ids || !vectors)))
        return seterr(s, LS_EINVAL, "collection, ids and vectors are required");
    int r;
    for (size_t i = 0; i < n; i++)
        if (!id_valid(&ids[i]))
            return seterr(s, LS_EINVAL, "point %zu: invalid id kind %d", i, ids[i].kind);
    if ((r = check_vectors(s, vectors, n, dim)))
        return r;
    /* Payloads: kept as given when already in the form json-c prints (ls_json_canonical_object),
     * else parsed and re-serialised compactly; before taking the write lock. */
    prepared *pp = calloc(n ? n : 1, sizeof *pp);
    float *vecs = NULL;
    int seg_touched = 0;
    if (!pp)
        return nomem(s);
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        r = nomem(s);
        goto done;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    for (size_t i = 0; i < n; i++) {
        const char *t = payloads ? payloads[i] : NULL;
        if (t && ((canonical && canonical[i]) || ls_json_canonical_object(t, strlen(t)))) {
            /* already what json-c would store: kept as given (copied only into a loaded
             * collection), parsed only when a filter or a reader needs it */
            pp[i].bind = t;
            continue;
        }
        if (!t) {
            pp[i].obj = json_object_new_object();
        } else {
            json_tokener_reset(tok);
            size_t len = strlen(t);
            pp[i].obj = json_tokener_parse_ex(tok, t, (int)len);
            if (json_tokener_get_error(tok) != json_tokener_success ||
                json_tokener_get_parse_end(tok) != len ||
                !json_object_is_type(pp[i].obj, json_type_object) || !json_finite(pp[i].obj, 0)) {
                r = seterr(s, LS_EINVAL, "point %zu: the payload is not a JSON object", i);
                goto done;
            }
        }
        const char *txt =
            pp[i].obj ? json_object_to_json_string_ext(
                            pp[i].obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                      : NULL;
        if (!txt || !(pp[i].bind = pp[i].text = strdup(txt))) {
            r = nomem(s);
            goto done;
        }
    }
    if ((r = begin_write(s)))
        goto done;
    lcoll *c = resolve(s, collection);
    if (!c) {
        r = LS_ENOTFOUND;
        goto out;
    }
    if (dim != c->dim) {
        r = seterr(s, LS_EDIM, "Wrong input: Vector dimension error: expected dim: %zu, got %zu",
                   c->dim, dim);
        goto out;
    }
    const float *src = vectors;
    size_t first = 0; /* the first vector cosine preprocessing changes (n: none) */
    while (c->dist == LS_COSINE && first < n && ls_cosine_unchanged(vectors + first * dim, dim))
        first++;
    if (c->dist == LS_COSINE && first < n) {
        vecs = malloc(n * dim * sizeof *vecs);
        if (!vecs) {
            r = nomem(s);
            goto out;
        }
        memcpy(vecs, vectors, n * dim * sizeof *vecs);
        for (size_t i = first; i < n; i++)
            ls_cosine_preprocess(vecs + i * dim, dim);
        src = vecs;
    }
    if (c->loaded && ((r = seg_map_w(s, c)) || (r = cache_sync(s, c))))
        goto out;
    int64_t seq = c->seq + 1, rec0 = 0;
    /* large batches: vectors appended once to the segment, the rows name their records */
    int use_seg = n >= SEG_MIN_POINTS, compacted = 0;
    seg_touched = use_seg;
    if (use_seg && (r = seg_append(s, c, src, n, &rec0)))
        goto out;
    int64_t dead = 0;
    if ((r = upsert_rows(s, c, n, ids, src, pp, seq, use_seg ? rec0 : -1, &dead)))
        goto out;
    int pruned;
    if ((r = bump_seq(s, c, seq, 0, &pruned)))
        goto out;
    if ((r = seg_settle(s, c, dead, &compacted)))
        goto out;
    seg_touched |= compacted;
    if (seg_touched && (r = seg_sync(s, c)))
        goto out;
    int was_loaded = c->loaded;
    if ((r = commit(s)))
        goto done;
    if (compacted)
        seg_sweep(s, c->cid, c->sgen);
    /* c survived the commit (no catalog reload in between): apply the batch to the cache. */
    c->seq = seq;
    if (was_loaded) {
        for (size_t i = 0; i < n; i++) {
            if ((!pp[i].text && !(pp[i].text = strdup(pp[i].bind))) ||
                cache_put(c, &ids[i], src + i * dim, pp[i].text, pp[i].obj)) {
                cache_drop(c); /* reloaded on next use */
                break;
            }
            pp[i].text = NULL;
            pp[i].obj = NULL;
        }
        if (c->loaded)
            c->cseq = seq;
    }
    goto done;
out:
    rollback(s);
    if (seg_touched)
        catalog_clear(s); /* c's segment fields name what was rolled back */
done:
    for (size_t i = 0; i < n; i++) {
        free(pp[i].text);
        json_object_put(pp[i].obj);
    }
    free(pp);
    free(vecs);
    json_tokener_free(tok);
    return r;
}

/* Inside a write transaction, with c's cache (when loaded) up to date. */
static int delete_locked(ls_store *s, lcoll *c, const ls_id *ids, size_t n, uint64_t *count)
{
    char sql[160], sql2[160], sel[160];
    int64_t seq = c->seq + 1, dead = 0;
    uint64_t cnt = 0;
    table(sql, sizeof sql, "DELETE FROM p%lld WHERE pkey = ?1", (long long)c->cid);
    table(sel, sizeof sel, "SELECT typeof(vec) = 'integer' FROM p%lld WHERE pkey = ?1",
          (long long)c->cid);
    table(sql2, sizeof sql2, "INSERT OR REPLACE INTO t%lld(pkey, seq) VALUES(?1, ?2)",
          (long long)c->cid);
    for (size_t i = 0; i < n; i++) {
        unsigned char key[17];
        size_t klen = key_encode(key, &ids[i]);
        sqlite3_stmt *st;
        int rc;
        if (c->sgen) { /* whether its vector is a segment record (which then is dead) */
            if (!(st = stmt(s, sel)))
                return LS_EIO;
            sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
            rc = sqlite3_step(st);
            dead += rc == SQLITE_ROW && sqlite3_column_int(st, 0);
            sqlite3_reset(st);
            if (rc == SQLITE_DONE)
                continue; /* no such point */
            if (rc != SQLITE_ROW)
                return dberr(s, rc, "delete");
        }
        if (!(st = stmt(s, sql)))
            return LS_EIO;
        sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return dberr(s, rc, "delete");
        if (sqlite3_changes(s->db) == 0)
            continue;
        cnt++;
        if (!(st = stmt(s, sql2)))
            return LS_EIO;
        sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return dberr(s, rc, "delete");
    }
    int pruned = 0, compacted = 0, r;
    if (cnt && (r = bump_seq(s, c, seq, (int64_t)cnt, &pruned)))
        return r;
    if (cnt && (r = seg_settle(s, c, dead, &compacted)))
        return r;
    if (compacted && (r = seg_sync(s, c))) {
        catalog_clear(s); /* c's segment fields name what the caller rolls back */
        return r;
    }
    int was_loaded = c->loaded;
    if ((r = commit(s)))
        return r;
    if (compacted)
        seg_sweep(s, c->cid, c->sgen);
    if (cnt) {
        c->seq = seq;
        if (pruned)
            c->epoch++;
        if (was_loaded) {
            for (size_t i = 0; i < n; i++)
                cache_del(c, &ids[i]);
            c->cseq = seq;
            c->cepoch = c->epoch;
        }
    }
    *count = cnt;
    return 0;
}

int ls_delete(uint64_t *out, ls_store *s, const char *collection, const ls_id *ids, size_t n)
{
    ENTER(s);
    if (!collection || (n && !ids))
        return seterr(s, LS_EINVAL, "collection and ids are required");
    for (size_t i = 0; i < n; i++)
        if (!id_valid(&ids[i]))
            return seterr(s, LS_EINVAL, "point %zu: invalid id kind %d", i, ids[i].kind);
    int r = begin_write(s);
    if (r)
        return r;
    lcoll *c = resolve(s, collection);
    if (!c) {
        rollback(s);
        return LS_ENOTFOUND;
    }
    if ((r = seg_map_w(s, c)) || (c->loaded && (r = cache_sync(s, c)))) {
        rollback(s);
        return r;
    }
    uint64_t cnt = 0;
    if ((r = delete_locked(s, c, ids, n, &cnt))) {
        rollback(s);
        return r;
    }
    if (out)
        *out = cnt;
    return 0;
}

/* scan mode (below) */
static int scan_count(ls_store *s, lcoll *c, const ls_filter *f, uint64_t *out);
static int scan_get(ls_points **out, ls_store *s, lcoll *c, const ls_id *ids, size_t n, int wp,
                    int wv);
static int scan_scroll(ls_points **out, ls_store *s, lcoll *c, const ls_scroll_params *p,
                       const ls_filter *f);
static int scan_matching(ls_store *s, lcoll *c, const ls_filter *f, ls_id **ids, size_t *n);

int ls_delete_by_filter(uint64_t *out, ls_store *s, const char *collection, const char *filter_json)
{
    ENTER(s);
    if (!collection)
        return seterr(s, LS_EINVAL, "collection is required");
    ls_filter *f = NULL;
    int r = ls_filter_compile(&f, filter_json, s->err, sizeof s->err);
    if (r)
        return r;
    ls_id *ids = NULL;
    if ((r = begin_write(s)))
        goto done;
    lcoll *c = resolve(s, collection);
    if (!c) {
        r = LS_ENOTFOUND;
        goto out;
    }
    size_t k = 0;
    if ((r = seg_map_w(s, c)))
        goto out;
    if (s->scan && !c->loaded) {
        if ((r = scan_matching(s, c, f, &ids, &k)))
            goto out;
    } else {
        if ((r = cache_sync(s, c)))
            goto out;
        ids = malloc((c->n ? c->n : 1) * sizeof *ids);
        if (!ids) {
            r = nomem(s);
            goto out;
        }
        for (size_t i = 0; i < c->n; i++)
            if (!f || ls_filter_match(f, &c->ids[i], cache_payload(c, i)))
                ids[k++] = c->ids[i];
    }
    uint64_t cnt = 0;
    if ((r = delete_locked(s, c, ids, k, &cnt)))
        goto out;
    if (out)
        *out = cnt;
    goto done;
out:
    rollback(s);
done:
    free(ids);
    ls_filter_free(f);
    return r;
}

/* ---- reads ------------------------------------------------------------------------------ */

void ls_points_free(ls_points *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->points[i].payload);
        free(l->points[i].vector);
    }
    free(l->points);
    free(l);
}

static ls_points *points_new(size_t n, size_t dim)
{
    ls_points *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->points = calloc(n ? n : 1, sizeof *l->points);
    if (!l->points) {
        free(l);
        return NULL;
    }
    l->dim = dim;
    return l;
}

static int points_add(ls_points *l, lcoll *c, size_t slot, float score, int wp, int wv)
{
    ls_point *p = &l->points[l->count];
    memset(p, 0, sizeof *p);
    p->id = c->ids[slot];
    p->score = score;
    if (wp && !(p->payload = strdup(c->pl[slot] ? c->pl[slot] : "{}")))
        return -1;
    if (wv) {
        p->vector = malloc(c->dim * sizeof(float));
        if (!p->vector) {
            free(p->payload);
            p->payload = NULL;
            return -1;
        }
        memcpy(p->vector, c->vecs + slot * c->dim, c->dim * sizeof(float));
    }
    l->count++;
    return 0;
}

/* Read prologue: a snapshot, the collection resolved and its cache up to date. */
static int read_coll(ls_store *s, const char *collection, lcoll **out)
{
    for (int tries = 0;; tries++) {
        int r = begin_read(s);
        if (r)
            return r;
        lcoll *c = resolve(s, collection);
        if (!c) {
            end_read(s);
            return LS_ENOTFOUND;
        }
        r = seg_map(s, c);
        if (r == SEG_GONE) {
            /* compacted by another process after this snapshot began: a newer one names the new
             * generation */
            end_read(s);
            if (tries < 16)
                continue;
            return seterr(s, LS_ECORRUPT, "collection `%s`: its vector segment file is missing",
                          c->name);
        }
        if (!r && !s->scan)
            r = cache_sync(s, c);
        if (r) {
            end_read(s);
            return r;
        }
        *out = c;
        return 0;
    }
}

int ls_get(ls_points **out, ls_store *s, const char *collection, const ls_id *ids, size_t n,
           int with_payload, int with_vector)
{
    ENTER(s);
    if (!out || !collection || (n && !ids))
        return seterr(s, LS_EINVAL, "out, collection and ids are required");
    lcoll *c;
    int r = read_coll(s, collection, &c);
    if (r)
        return r;
    if (s->scan) {
        r = scan_get(out, s, c, ids, n, with_payload, with_vector);
        end_read(s);
        return r;
    }
    ls_points *l = points_new(n, c->dim);
    long *seen = malloc((n ? n : 1) * sizeof *seen);
    size_t nseen = 0;
    if (!l || !seen)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!id_valid(&ids[i]))
            continue;
        long slot = cache_find(c, &ids[i]);
        if (slot < 0)
            continue;
        int dup = 0;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = seen[k] == slot;
        if (dup)
            continue;
        seen[nseen++] = slot;
        if (points_add(l, c, (size_t)slot, 0, with_payload, with_vector))
            goto oom;
    }
    free(seen);
    end_read(s);
    *out = l;
    return 0;
oom:
    free(seen);
    ls_points_free(l);
    end_read(s);
    return nomem(s);
}

int ls_scroll(ls_points **out, ls_store *s, const char *collection, const ls_scroll_params *p)
{
    ENTER(s);
    if (!out || !collection || !p)
        return seterr(s, LS_EINVAL, "out, collection and params are required");
    if (p->limit < 1)
        return seterr(s, LS_EINVAL,
                      "Validation error in JSON body: [limit: value 0 invalid, "
                      "must be 1 or more]");
    if (p->offset && !id_valid(p->offset))
        return seterr(s, LS_EINVAL, "offset: invalid id");
    ls_filter *f = NULL;
    int r = ls_filter_compile(&f, p->filter_json, s->err, sizeof s->err);
    if (r)
        return r;
    lcoll *c;
    if ((r = read_coll(s, collection, &c))) {
        ls_filter_free(f);
        return r;
    }
    ls_points *l = NULL;
    if (s->scan) {
        r = scan_scroll(out, s, c, p, f);
        end_read(s);
        ls_filter_free(f);
        return r;
    }
    if (cache_order(c))
        goto oom;
    size_t lo = 0, hi = c->n;
    if (p->offset) {
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ls_id_cmp(&c->ids[c->order[mid]], p->offset) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    size_t cap = p->limit < c->n ? p->limit : c->n;
    l = points_new(cap, c->dim);
    if (!l)
        goto oom;
    for (size_t i = lo; i < c->n; i++) {
        size_t slot = c->order[i];
        if (f && !ls_filter_match(f, &c->ids[slot], cache_payload(c, slot)))
            continue;
        if (l->count == p->limit) {
            l->has_next = 1;
            l->next_page = c->ids[slot];
            break;
        }
        if (points_add(l, c, slot, 0, p->with_payload, p->with_vector))
            goto oom;
    }
    end_read(s);
    ls_filter_free(f);
    *out = l;
    return 0;
oom:
    ls_points_free(l);
    end_read(s);
    ls_filter_free(f);
    return nomem(s);
}

int ls_count(uint64_t *out, ls_store *s, const char *collection, const char *filter_json)
{
    ENTER(s);
    if (!out || !collection)
        return seterr(s, LS_EINVAL, "out and collection are required");
    ls_filter *f = NULL;
    int r = ls_filter_compile(&f, filter_json, s->err, sizeof s->err);
    if (r)
        return r;
    lcoll *c;
    if ((r = read_coll(s, collection, &c))) {
        ls_filter_free(f);
        return r;
    }
    uint64_t n = 0;
    if (s->scan)
        r = scan_count(s, c, f, &n);
    else if (!f)
        n = c->n;
    else
        for (size_t i = 0; i < c->n; i++)
            n += (uint64_t)ls_filter_match(f, &c->ids[i], cache_payload(c, i));
    end_read(s);
    ls_filter_free(f);
    if (!r)
        *out = n;
    return r;
}

/* Top-k selection: a binary heap whose root is the worst kept result. Entries carry the id
 * (scan mode has no slot to look it up by) and the slot (in-memory mode reads the point back). */
typedef struct hent {
    float score;
    uint32_t slot;
    ls_id id;
} hent;

typedef struct topk {
    hent *h;
    size_t n, k, cap; /* cap: entries allocated, grown up to k as results come in */
    int larger;       /* 1: larger scores are better */
    int oom;          /* growing the heap failed */
} topk;

/* 1 when a ranks before b: the better score, then the smaller id. */
static int better(const topk *t, const hent *a, const hent *b)
{
    if (a->score != b->score)
        return t->larger ? a->score > b->score : a->score < b->score;
    return ls_id_cmp(&a->id, &b->id) < 0;
}

static void sift_down(topk *t, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < t->n && better(t, &t->h[w], &t->h[l]))
            w = l;
        if (r < t->n && better(t, &t->h[w], &t->h[r]))
            w = r;
        if (w == i)
            return;
        hent tmp = t->h[i];
        t->h[i] = t->h[w];
        t->h[w] = tmp;
        i = w;
    }
}

static void topk_push(topk *t, float score, uint32_t slot, const ls_id *id)
{
    if (t->n == t->k) { /* full: most candidates lose to the root, decided without a copy */
        if (!t->k)
            return;
        const hent *root = &t->h[0];
        if (score != root->score ? !(t->larger ? score > root->score : score < root->score)
                                 : ls_id_cmp(id, &root->id) >= 0)
            return;
    }
    hent e = {score, slot, *id};
    if (t->n < t->k) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 64;
            cap = cap < t->k ? cap : t->k;
            hent *h = realloc(t->h, cap * sizeof *h);
            if (!h) {
                t->oom = 1;
                return;
            }
            t->h = h;
            t->cap = cap;
        }
        size_t i = t->n++;
        t->h[i] = e;
        while (i > 0) {
            size_t parent = (i - 1) / 2;
            if (!better(t, &t->h[parent], &t->h[i]))
                break;
            hent tmp = t->h[i];
            t->h[i] = t->h[parent];
            t->h[parent] = tmp;
            i = parent;
        }
        return;
    }
    t->h[0] = e; /* better than the root (checked above) */
    sift_down(t, 0);
}

static int hent_cmp(const void *a, const void *b, void *ud)
{
    const topk *t = ud;
    return better(t, a, b) ? -1 : better(t, b, a) ? 1 : 0;
}

#define SCORE_BLOCK 256

/* Checks one query's parameters and compiles its filter. */
static int query_check(ls_store *s, ls_filter **f, const float *vector, size_t dim,
                       const ls_query_params *p)
{
    if (!vector || !p)
        return seterr(s, LS_EINVAL, "out, collection, vector and params are required");
    if (p->limit < 1)
        return seterr(s, LS_EINVAL,
                      "Validation error in JSON body: [limit: value 0 invalid, "
                      "must be 1 or more]");
    int r = check_vectors(s, vector, 1, dim);
    if (r)
        return r;
    if (p->use_score_threshold && isnan(p->score_threshold))
        return seterr(s, LS_EINVAL, "score_threshold is NaN");
    return ls_filter_compile(f, p->filter_json, s->err, sizeof s->err);
}

/* The query vector as scored: a copy, normalised for cosine. NULL when out of memory. */
static float *query_prepare(const lcoll *c, const float *vector)
{
    float *q = malloc(c->dim * sizeof *q);
    if (!q)
        return NULL;
    memcpy(q, vector, c->dim * sizeof *q);
    if (c->dist == LS_COSINE)
        ls_cosine_preprocess(q, c->dim);
    return q;
}

static float score_one(int dist, const float *q, const float *v, size_t dim)
{
    switch (dist) {
    case LS_EUCLID:
        return sqrtf(ls_kernel_l2sq(q, v, dim));
    case LS_MANHATTAN:
        return ls_kernel_l1(q, v, dim);
    default:
        return ls_kernel_dot(q, v, dim);
    }
}

/* One query over c's points held in memory. */
static int query_cached(ls_points **out, ls_store *s, lcoll *c, const float *vector,
                        const ls_query_params *p, const ls_filter *f)
{
    size_t dim = c->dim;
    float *q = NULL;
    topk t = {NULL, 0, 0, 0, 0, 0};
    ls_points *l = NULL;
    q = query_prepare(c, vector);
    uint64_t want = (uint64_t)p->limit + p->offset;
    t.k = want < c->n ? (size_t)want : c->n;
    t.h = malloc((t.k ? t.k : 1) * sizeof *t.h);
    t.cap = t.k;
    if (!q || !t.h)
        goto oom;
    ls_distance d = (ls_distance)c->dist;
    t.larger = d == LS_COSINE || d == LS_DOT;
    int use_thr = p->use_score_threshold;
    float thr = p->score_threshold;
    float sc[SCORE_BLOCK];
    uint32_t sl[SCORE_BLOCK];
    if (t.k) {
        for (size_t base = 0; base < c->n; base += SCORE_BLOCK) {
            size_t end = base + SCORE_BLOCK < c->n ? base + SCORE_BLOCK : c->n, m = 0;
            if (f) {
                for (size_t i = base; i < end; i++)
                    if (ls_filter_match(f, &c->ids[i], cache_payload(c, i)))
                        sl[m++] = (uint32_t)i;
            } else {
                for (size_t i = base; i < end; i++)
                    sl[m++] = (uint32_t)i;
            }
            const float *vs = c->vecs;
            switch (d) {
            case LS_EUCLID:
                for (size_t j = 0; j < m; j++)
                    sc[j] = sqrtf(ls_kernel_l2sq(q, vs + (size_t)sl[j] * dim, dim));
                break;
            case LS_MANHATTAN:
                for (size_t j = 0; j < m; j++)
                    sc[j] = ls_kernel_l1(q, vs + (size_t)sl[j] * dim, dim);
                break;
            default:
                for (size_t j = 0; j < m; j++)
                    sc[j] = ls_kernel_dot(q, vs + (size_t)sl[j] * dim, dim);
                break;
            }
            for (size_t j = 0; j < m; j++) {
                /* Distance::check_threshold: strict, on the reported score */
                if (use_thr && !(t.larger ? sc[j] > thr : sc[j] < thr))
                    continue;
                topk_push(&t, sc[j], sl[j], &c->ids[sl[j]]);
            }
        }
    }
    qsort_r(t.h, t.n, sizeof *t.h, hent_cmp, &t);
    size_t skip = p->offset < t.n ? p->offset : t.n;
    l = points_new(t.n - skip, dim);
    if (!l)
        goto oom;
    for (size_t i = skip; i < t.n; i++)
        if (points_add(l, c, t.h[i].slot, t.h[i].score, p->with_payload, p->with_vector))
            goto oom;
    free(q);
    free(t.h);
    *out = l;
    return 0;
oom:
    ls_points_free(l);
    free(q);
    free(t.h);
    return nomem(s);
}

static int scan_query(ls_points **out, ls_store *s, lcoll *c, const float *vectors, size_t n,
                      const ls_query_params *params, ls_filter *const *filters);

int ls_query_batch(ls_points **out, ls_store *s, const char *collection, const float *vectors,
                   size_t n, size_t dim, const ls_query_params *params)
{
    ENTER(s);
    if (!out || !collection || (n && (!vectors || !params)))
        return seterr(s, LS_EINVAL, "out, collection, vector and params are required");
    ls_filter **f = calloc(n ? n : 1, sizeof *f);
    if (!f)
        return nomem(s);
    int r = 0;
    for (size_t i = 0; i < n && !r; i++)
        r = query_check(s, &f[i], vectors + i * dim, dim, &params[i]);
    lcoll *c = NULL;
    if (!r && (r = read_coll(s, collection, &c)))
        c = NULL;
    if (!r && dim != c->dim)
        r = seterr(s, LS_EDIM, "Wrong input: Vector dimension error: expected dim: %zu, got %zu",
                   c->dim, dim);
    if (!r && s->scan) {
        r = scan_query(out, s, c, vectors, n, params, f);
    } else if (!r) {
        for (size_t i = 0; i < n && !r; i++)
            if ((r = query_cached(&out[i], s, c, vectors + i * dim, &params[i], f[i])))
                while (i--)
                    ls_points_free(out[i]), out[i] = NULL;
    }
    if (c)
        end_read(s);
    for (size_t i = 0; i < n; i++)
        ls_filter_free(f[i]);
    free(f);
    return r;
}

int ls_query(ls_points **out, ls_store *s, const char *collection, const float *vector, size_t dim,
             const ls_query_params *p)
{
    if (!out || !vector || !p)
        return s ? seterr(s, LS_EINVAL, "out, collection, vector and params are required")
                 : LS_EINVAL;
    ls_points *l[1] = {NULL};
    int r = ls_query_batch(l, s, collection, vector, 1, dim, p);
    if (!r)
        *out = l[0];
    return r;
}

/* ---- scan mode: reads straight from the database, nothing of a collection kept -------- */

/* Reads one stored point's vector and payload (when wanted) into the list's next entry. */
static int scan_add(ls_store *s, lcoll *c, ls_points *l, const ls_id *id, float score, int wp,
                    int wv, int *found)
{
    char sql[128];
    sqlite3_stmt *st =
        stmt(s, table(sql, sizeof sql, "SELECT vec, payload FROM p%lld WHERE pkey = ?1",
                      (long long)c->cid));
    if (!st)
        return LS_EIO;
    unsigned char key[17];
    size_t klen = key_encode(key, id);
    sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : dberr(s, rc, "reading a point");
    }
    ls_point *p = &l->points[l->count];
    memset(p, 0, sizeof *p);
    p->id = *id;
    p->score = score;
    const char *txt = (const char *)sqlite3_column_text(st, 1);
    const float *vec = row_vec(s, c, st, 0);
    int r = 0;
    if (!vec)
        r = LS_ECORRUPT;
    else if (wp && !(p->payload = strdup(txt ? txt : "{}")))
        r = nomem(s);
    else if (wv && !(p->vector = malloc(c->dim * sizeof(float))))
        r = nomem(s);
    if (!r && wv)
        memcpy(p->vector, vec, c->dim * sizeof(float));
    sqlite3_reset(st);
    if (r) {
        free(p->payload);
        free(p->vector);
        return r;
    }
    l->count++;
    return 0;
}

/* Walks the points of c: SELECT pkey, vec[, payload] FROM p<cid> [WHERE pkey >= from ORDER BY
 * pkey]. fn gets each point's id, vector (aligned copy), payload text (NULL unless with_payload)
 * and parsed payload (parsed lazily through *plo: fn sets it, the walk frees it); a non-zero
 * return stops the walk and is returned (1 is not an error). */
typedef int (*walk_fn)(void *ud, const ls_id *id, const float *vec, const char *payload,
                       json_object **plo);

static int walk(ls_store *s, lcoll *c, int with_payload, int ordered, const ls_id *from, walk_fn fn,
                void *ud)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pkey, vec%s FROM p%lld%s%s", with_payload ? ", payload" : "",
             (long long)c->cid, from ? " WHERE pkey >= ?1" : "", ordered ? " ORDER BY pkey" : "");
    sqlite3_stmt *st = stmt(s, sql);
    if (!st)
        return LS_EIO;
    unsigned char key[17];
    if (from) {
        size_t klen = key_encode(key, from);
        sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_TRANSIENT);
    }
    float *v = malloc(c->dim * sizeof *v);
    if (!v) {
        sqlite3_reset(st);
        return nomem(s);
    }
    int rc, r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ls_id id;
        const float *vec = row_vec(s, c, st, 1);
        if (!vec || key_decode(&id, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0))) {
            r = seterr(s, LS_ECORRUPT, "collection `%s`: a stored point is damaged", c->name);
            break;
        }
        memcpy(v, vec, c->dim * sizeof *v);
        const char *txt = with_payload ? (const char *)sqlite3_column_text(st, 2) : NULL;
        json_object *plo = NULL;
        r = fn(ud, &id, v, with_payload ? (txt ? txt : "{}") : NULL, &plo);
        json_object_put(plo);
        if (r)
            break;
    }
    sqlite3_reset(st);
    free(v);
    if (!r && rc != SQLITE_DONE)
        r = dberr(s, rc, "reading points");
    return r;
}

static json_object *lazy_payload(const char *text, json_object **plo)
{
    if (!*plo && text)
        *plo = json_tokener_parse(text);
    return *plo;
}

typedef struct squery {
    ls_store *s;
    lcoll *c;
    size_t n;
    float **q;
    const ls_query_params *p;
    ls_filter *const *f;
    topk *t;
} squery;

static int squery_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                      json_object **plo)
{
    squery *x = ud;
    for (size_t i = 0; i < x->n; i++) {
        if (x->f[i] && !ls_filter_match(x->f[i], id, lazy_payload(payload, plo)))
            continue;
        float sc = score_one(x->c->dist, x->q[i], vec, x->c->dim);
        const ls_query_params *p = &x->p[i];
        if (p->use_score_threshold &&
            !(x->t[i].larger ? sc > p->score_threshold : sc < p->score_threshold))
            continue;
        topk_push(&x->t[i], sc, 0, id);
    }
    return 0;
}

/* n queries in one pass over the points of c. */
static int scan_query(ls_points **out, ls_store *s, lcoll *c, const float *vectors, size_t n,
                      const ls_query_params *params, ls_filter *const *filters)
{
    squery x = {s,
                c,
                n,
                calloc(n ? n : 1, sizeof(float *)),
                params,
                filters,
                calloc(n ? n : 1, sizeof(topk))};
    ls_points **l = calloc(n ? n : 1, sizeof *l);
    int r = 0, any_filter = 0;
    if (!x.q || !x.t || !l)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        uint64_t want = (uint64_t)params[i].limit + params[i].offset;
        x.t[i].k = want < SIZE_MAX / sizeof(hent) ? (size_t)want : SIZE_MAX / sizeof(hent);
        x.t[i].larger = c->dist == LS_COSINE || c->dist == LS_DOT;
        any_filter |= filters[i] != NULL;
        if (!(x.q[i] = query_prepare(c, vectors + i * c->dim)))
            goto oom;
    }
    if ((r = walk(s, c, any_filter, 0, NULL, squery_row, &x)))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (x.t[i].oom)
            goto oom;
    for (size_t i = 0; i < n; i++) {
        topk *t = &x.t[i];
        qsort_r(t->h, t->n, sizeof *t->h, hent_cmp, t);
        size_t skip = params[i].offset < t->n ? params[i].offset : t->n;
        if (!(l[i] = points_new(t->n - skip, c->dim)))
            goto oom;
        for (size_t j = skip; j < t->n; j++) {
            int found = 0;
            if (!params[i].with_payload && !params[i].with_vector) {
                ls_point *pt = &l[i]->points[l[i]->count++];
                memset(pt, 0, sizeof *pt);
                pt->id = t->h[j].id;
                pt->score = t->h[j].score;
            } else if ((r = scan_add(s, c, l[i], &t->h[j].id, t->h[j].score, params[i].with_payload,
                                     params[i].with_vector, &found))) {
                goto done;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        out[i] = l[i];
    free(l);
    l = NULL;
    goto done;
oom:
    r = nomem(s);
done:
    for (size_t i = 0; l && i < n; i++)
        ls_points_free(l[i]);
    free(l);
    for (size_t i = 0; x.q && i < n; i++)
        free(x.q[i]);
    for (size_t i = 0; x.t && i < n; i++)
        free(x.t[i].h);
    free(x.q);
    free(x.t);
    return r;
}

typedef struct scount {
    const ls_filter *f;
    uint64_t n;
} scount;

static int scount_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                      json_object **plo)
{
    scount *x = ud;
    (void)vec;
    x->n += (uint64_t)ls_filter_match(x->f, id, lazy_payload(payload, plo));
    return 0;
}

static int scan_count(ls_store *s, lcoll *c, const ls_filter *f, uint64_t *out)
{
    if (f) {
        scount x = {f, 0};
        int r = walk(s, c, 1, 0, NULL, scount_row, &x);
        if (!r)
            *out = x.n;
        return r;
    }
    char sql[96];
    sqlite3_stmt *st =
        stmt(s, table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
    if (!st)
        return LS_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : dberr(s, rc, "counting points");
}

static int scan_get(ls_points **out, ls_store *s, lcoll *c, const ls_id *ids, size_t n, int wp,
                    int wv)
{
    ls_points *l = points_new(n, c->dim);
    if (!l)
        return nomem(s);
    for (size_t i = 0; i < n; i++) {
        if (!id_valid(&ids[i]))
            continue;
        int dup = 0;
        for (size_t k = 0; k < l->count && !dup; k++)
            dup = id_eq(&l->points[k].id, &ids[i]);
        int found, r;
        if (!dup && (r = scan_add(s, c, l, &ids[i], 0, wp, wv, &found))) {
            ls_points_free(l);
            return r;
        }
    }
    *out = l;
    return 0;
}

typedef struct sscroll {
    const ls_filter *f;
    const ls_scroll_params *p;
    ls_points *l;
    size_t dim;
    int oom;
} sscroll;

static int sscroll_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                       json_object **plo)
{
    sscroll *x = ud;
    if (x->f && !ls_filter_match(x->f, id, lazy_payload(payload, plo)))
        return 0;
    ls_points *l = x->l;
    if (l->count == x->p->limit) {
        l->has_next = 1;
        l->next_page = *id;
        return 1;
    }
    if (l->count % 64 == 0) {
        ls_point *pts = realloc(l->points, (l->count + 64) * sizeof *pts);
        if (!pts) {
            x->oom = 1;
            return 1;
        }
        l->points = pts;
    }
    ls_point *pt = &l->points[l->count];
    memset(pt, 0, sizeof *pt);
    pt->id = *id;
    if (x->p->with_payload && !(pt->payload = strdup(payload))) {
        x->oom = 1;
        return 1;
    }
    if (x->p->with_vector) {
        if (!(pt->vector = malloc(x->dim * sizeof(float)))) {
            free(pt->payload);
            x->oom = 1;
            return 1;
        }
        memcpy(pt->vector, vec, x->dim * sizeof(float));
    }
    l->count++;
    return 0;
}

static int scan_scroll(ls_points **out, ls_store *s, lcoll *c, const ls_scroll_params *p,
                       const ls_filter *f)
{
    sscroll x = {f, p, points_new(0, c->dim), c->dim, 0};
    if (!x.l)
        return nomem(s);
    int r = walk(s, c, p->with_payload || f, 1, p->offset, sscroll_row, &x);
    if (r == 1)
        r = 0;
    if (!r && x.oom)
        r = nomem(s);
    if (r) {
        ls_points_free(x.l);
        return r;
    }
    *out = x.l;
    return 0;
}

typedef struct sdel {
    const ls_filter *f;
    ls_id *ids;
    size_t n, cap;
} sdel;

static int sdel_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                    json_object **plo)
{
    sdel *x = ud;
    (void)vec;
    if (x->f && !ls_filter_match(x->f, id, lazy_payload(payload, plo)))
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        ls_id *v = realloc(x->ids, cap * sizeof *v);
        if (!v)
            return LS_ENOMEM;
        x->ids = v;
        x->cap = cap;
    }
    x->ids[x->n++] = *id;
    return 0;
}

/* The ids of the points of c matching f (NULL: all), in *ids (the caller's) and *n. */
static int scan_matching(ls_store *s, lcoll *c, const ls_filter *f, ls_id **ids, size_t *n)
{
    sdel x = {f, NULL, 0, 0};
    int r = walk(s, c, f != NULL, 0, NULL, sdel_row, &x);
    if (r == LS_ENOMEM)
        r = nomem(s);
    if (r) {
        free(x.ids);
        return r;
    }
    *ids = x.ids;
    *n = x.n;
    return 0;
}
