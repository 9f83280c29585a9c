/* Local mode: the in-memory cache of a collection's points (vectors, ids and payloads, an id
 * hash table), brought up to date with each snapshot (see change tracking in store_int.h). */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- the cache -------------------------------------------------------------------------- */

uint64_t ls_mix64(uint64_t x)
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
        return ls_mix64(id->num);
    uint64_t a, b;
    memcpy(&a, id->uuid, 8);
    memcpy(&b, id->uuid + 8, 8);
    return ls_mix64(a ^ ls_mix64(b + 0x9e3779b97f4a7c15ULL));
}

int ls_id_eq(const ls_id *a, const ls_id *b)
{
    return a->kind == b->kind &&
           (a->kind == LS_ID_NUM ? a->num == b->num : memcmp(a->uuid, b->uuid, 16) == 0);
}

/* Index in ht of id's entry, or of the empty entry where it would go. */
static size_t ht_pos(const lcoll *c, const ls_id *id)
{
    size_t mask = c->hcap - 1, i = (size_t)id_hash(id) & mask;
    while (c->ht[i] && !ls_id_eq(&c->ids[c->ht[i] - 1], id))
        i = (i + 1) & mask;
    return i;
}

long ls_cache_find(const lcoll *c, const ls_id *id)
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

void ls_cache_drop(lcoll *c)
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
int ls_cache_put(lcoll *c, const ls_id *id, const float *vec, char *pl, json_object *plo)
{
    long slot = ls_cache_find(c, id);
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

int ls_cache_del(lcoll *c, const ls_id *id)
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

static int order_cmp(const void *a, const void *b, void *ud)
{
    const lcoll *c = ud;
    return ls_id_cmp(&c->ids[*(const uint32_t *)a], &c->ids[*(const uint32_t *)b]);
}

int ls_cache_order(lcoll *c)
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

/* Reads rows (pkey, vec, payload) of a statement into the cache. */
static int cache_read_rows(ls_store *s, lcoll *c, sqlite3_stmt *st)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ls_id id;
        const float *vec = ls_row_vec(s, c, st, 1);
        const void *k = sqlite3_column_blob(st, 0);
        if (!vec || ls_key_decode(&id, k, sqlite3_column_bytes(st, 0))) {
            sqlite3_reset(st);
            return ls_seterr(s, LS_ECORRUPT, "collection `%s`: a stored point is damaged", c->name);
        }
        const char *txt = (const char *)sqlite3_column_text(st, 2);
        char *pl = strdup(txt ? txt : "{}");
        if (!pl || ls_cache_put(c, &id, vec, pl, NULL)) {
            free(pl);
            sqlite3_reset(st);
            return ls_nomem(s);
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : ls_dberr(s, rc, "reading points");
}

/* Brings the cache of c up to date with the snapshot of the current transaction. */
int ls_cache_sync(ls_store *s, lcoll *c)
{
    char sql[160];
    sqlite3_stmt *st;
    int r;
    if (c->loaded && c->cepoch == c->epoch && c->cseq == c->seq)
        return 0;
    if (!c->loaded || c->cepoch != c->epoch) {
        ls_cache_drop(c);
        sqlite3_int64 cnt = 0;
        st = ls_stmt(s, ls_table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
        if (!st)
            return LS_EIO;
        if (sqlite3_step(st) == SQLITE_ROW)
            cnt = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (cache_reserve(c, (size_t)cnt + 1) || ht_rebuild(c, (size_t)cnt + 1))
            return ls_cache_drop(c), ls_nomem(s);
        st = ls_stmt(s, ls_table(sql, sizeof sql, "SELECT pkey, vec, payload FROM p%lld",
                                 (long long)c->cid));
        if (!st)
            return ls_cache_drop(c), LS_EIO;
        if ((r = cache_read_rows(s, c, st)))
            return ls_cache_drop(c), r;
    } else {
        /* incremental: deletions first, then the rows written since */
        st = ls_stmt(s, ls_table(sql, sizeof sql, "SELECT pkey FROM t%lld WHERE seq > ?",
                                 (long long)c->cid));
        if (!st)
            return ls_cache_drop(c), LS_EIO;
        sqlite3_bind_int64(st, 1, c->cseq);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            ls_id id;
            if (ls_key_decode(&id, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0)) == 0)
                ls_cache_del(c, &id);
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return ls_cache_drop(c), ls_dberr(s, rc, "reading deletions");
        st = ls_stmt(s,
                     ls_table(sql, sizeof sql, "SELECT pkey, vec, payload FROM p%lld WHERE seq > ?",
                              (long long)c->cid));
        if (!st)
            return ls_cache_drop(c), LS_EIO;
        sqlite3_bind_int64(st, 1, c->cseq);
        if ((r = cache_read_rows(s, c, st)))
            return ls_cache_drop(c), r;
    }
    c->loaded = 1;
    c->cseq = c->seq;
    c->cepoch = c->epoch;
    return 0;
}
