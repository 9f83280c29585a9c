/* Local mode engine internals: what the lib/local sources share (never exported; lstore.h is the
 * engine's interface to the rest of the project).
 *
 *   store.c     opening and closing a store, prepared statements, transactions
 *   errors.c    error names, the message on the handle, SQLite and errno codes as LS_E* codes
 *   catalog.c   collections and aliases as the snapshot has them; the collection calls (incl.
 *               collection metadata) and the alias calls
 *   memcache.c  a collection's points held in memory, kept up to date (change tracking below)
 *   segments.c  vector segment files
 *   write.c     upsert, delete by ids, delete by filter
 *   read.c      get, scroll, count and query over the points held in memory
 *   scan.c      the same reads straight from the database (ls_open_options.scan)
 *   topk.h      top-k selection, for read.c and scan.c
 *   ids.c       point ids and their keys in the database; filter.c, kernels.c and jcanon.c:
 *               filters, scoring kernels, canonical payload text (their calls are in lstore.h)
 *
 * The store: an SQLite WAL database, vector segments and an in-memory vector cache.
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
 * and v<cid>-<gen>.seg beside it (see segments.c). cid is never reused, so a collection
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
#ifndef LS_STORE_INT_H
#define LS_STORE_INT_H

#include "lstore.h"

#include <json-c/json.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define FORMAT_VERSION "1"  /* a new store */
#define FORMAT_SEGMENTS "2" /* a store with vector segments (older libraries cannot read them) */
#define STMT_CACHE 64

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
    /* vector segment (see segments.c): generation (0: none) and records in use, as the
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

/* ---- errors (errors.c) ------------------------------------------------------------------ */

int ls_seterr(ls_store *s, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ls_sqlerr_code(int rc);
int ls_dberr(ls_store *s, int rc, const char *what);
int ls_nomem(ls_store *s);
int ls_errno_code(int e);
int ls_begin_call(ls_store *s);

#define ENTER(s)                                                                                   \
    do {                                                                                           \
        if (ls_begin_call(s))                                                                      \
            return LS_EINVAL;                                                                      \
    } while (0)

/* ---- statements and transactions (store.c) ---------------------------------------------- */

sqlite3_stmt *ls_stmt(ls_store *s, const char *sql);
void ls_stmts_clear(ls_store *s);
int ls_exec(ls_store *s, const char *sql, const char *what);
char *ls_table(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int ls_begin_read(ls_store *s);
void ls_end_read(ls_store *s);
int ls_begin_write(ls_store *s);
void ls_rollback(ls_store *s);
int ls_commit(ls_store *s);

/* ---- id keys (ids.c) -------------------------------------------------------------------- */

size_t ls_key_encode(unsigned char out[17], const ls_id *id);
int ls_key_decode(ls_id *id, const unsigned char *k, int len);
int ls_id_valid(const ls_id *id);

/* ---- the cache (memcache.c) ------------------------------------------------------------- */

uint64_t ls_mix64(uint64_t x);
int ls_id_eq(const ls_id *a, const ls_id *b);
long ls_cache_find(const lcoll *c, const ls_id *id);
void ls_cache_drop(lcoll *c);
int ls_cache_put(lcoll *c, const ls_id *id, const float *vec, char *pl, json_object *plo);
int ls_cache_del(lcoll *c, const ls_id *id);
int ls_cache_order(lcoll *c);
int ls_cache_sync(ls_store *s, lcoll *c);

/* Defined here, not in memcache.c: the query, count and scroll loops call it for every point. */
static inline json_object *ls_cache_payload(lcoll *c, size_t slot)
{
    if (!c->plo[slot] && c->pl[slot])
        c->plo[slot] = json_tokener_parse(c->pl[slot]);
    return c->plo[slot];
}

/* ---- catalog (catalog.c) ---------------------------------------------------------------- */

void ls_catalog_clear(ls_store *s);
int ls_catalog_sync(ls_store *s);
lcoll *ls_resolve(ls_store *s, const char *name);

/* ---- vector segments (segments.c) ------------------------------------------------------- */

#define SEG_MIN_POINTS 256
#define SEG_GONE (-1000) /* internal: the snapshot's generation has been removed */

void ls_seg_close(lcoll *c);
int ls_seg_map(ls_store *s, lcoll *c);
int ls_seg_map_w(ls_store *s, lcoll *c);
const float *ls_row_vec(ls_store *s, lcoll *c, sqlite3_stmt *st, int col);
int ls_seg_append(ls_store *s, lcoll *c, const float *src, size_t n, int64_t *first);
int ls_seg_settle(ls_store *s, lcoll *c, int64_t dead_add, int *compacted);
int ls_seg_sync(ls_store *s, lcoll *c);
void ls_seg_sweep(ls_store *s, int64_t cid, int64_t keep);

/* ---- writes (write.c) ------------------------------------------------------------------- */

int ls_check_vectors(ls_store *s, const float *v, size_t n, size_t dim);
int ls_json_finite(json_object *o, int depth);

/* ---- reads (read.c) --------------------------------------------------------------------- */

ls_points *ls_points_new(size_t n, size_t dim);
float *ls_query_prepare(const lcoll *c, const float *vector);

/* ---- scan mode (scan.c) ----------------------------------------------------------------- */

int ls_scan_query(ls_points **out, ls_store *s, lcoll *c, const float *vectors, size_t n,
                  const ls_query_params *params, ls_filter *const *filters);
int ls_scan_count(ls_store *s, lcoll *c, const ls_filter *f, uint64_t *out);
int ls_scan_get(ls_points **out, ls_store *s, lcoll *c, const ls_id *ids, size_t n, int wp, int wv);
int ls_scan_scroll(ls_points **out, ls_store *s, lcoll *c, const ls_scroll_params *p,
                   const ls_filter *f);
int ls_scan_matching(ls_store *s, lcoll *c, const ls_filter *f, ls_id **ids, size_t *n);

#endif
