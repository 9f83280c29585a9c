/* Local mode: writes: upsert, delete by ids, delete by filter. */
#include "store_int.h"

#include "finite.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOMB_PRUNE_MIN 4096

/* ---- writes ----------------------------------------------------------------------------- */

/* Raises the collection's seq (and, when pruning, epoch) inside the write transaction. */
static int bump_seq(ls_store *s, lcoll *c, int64_t seq, int64_t tomb_add, int *pruned)
{
    char sql[200];
    sqlite3_stmt *st =
        ls_stmt(s, "UPDATE collections SET seq = ?1, ntomb = ntomb + ?2 WHERE cid = ?3 "
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
        return ls_dberr(s, rc, "update collection");
    *pruned = 0;
    if (tomb_add && ntomb >= TOMB_PRUNE_MIN) {
        int64_t npoints = 0;
        st = ls_stmt(s, ls_table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
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
            int r = ls_exec(s, sql, "prune deletions");
            if (r)
                return r;
            *pruned = 1;
        }
    }
    return 0;
}

int ls_check_vectors(ls_store *s, const float *v, size_t n, size_t dim)
{
    for (size_t i = 0; i < n; i++) {
        const float *p = v + i * dim;
        size_t k = rc_first_nonfinite(p, dim);
        if (k < dim)
            return ls_seterr(
                s, LS_ENONFINITE,
                "Wrong input: vector of point %zu has a non-finite value (%s) at index %zu", i,
                isnan(p[k]) ? "NaN" : "infinity", k);
    }
    return 0;
}

/* JSON has no NaN or infinity (json-c's parser takes them even in strict mode). */
int ls_json_finite(json_object *o, int depth)
{
    if (depth > 200)
        return 0;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return isfinite(json_object_get_double(o));
    case json_type_array: {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++)
            if (!ls_json_finite(json_object_array_get_idx(o, i), depth + 1))
                return 0;
        return 1;
    }
    case json_type_object: {
        json_object_object_foreach(o, k, v)
        {
            (void)k;
            if (!ls_json_finite(v, depth + 1))
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
    ls_table(
        ins, sizeof ins,
        "INSERT INTO p%lld(pkey, seq, vec, payload) VALUES(?1, ?2, ?3, ?4) ON CONFLICT(pkey) %s",
        cid,
        c->sgen ? "DO NOTHING"
                : "DO UPDATE SET seq = excluded.seq, vec = excluded.vec, payload = "
                  "excluded.payload");
    ls_table(sel, sizeof sel, "SELECT typeof(vec) = 'integer' FROM p%lld WHERE pkey = ?1", cid);
    ls_table(upd, sizeof upd, "UPDATE p%lld SET seq = ?2, vec = ?3, payload = ?4 WHERE pkey = ?1",
             cid);
    sqlite3_stmt *st = NULL;
    for (size_t i = 0; i < n; i++) {
        /* borrowed statements: fetched again after another was used */
        if (!st && !(st = ls_stmt(s, ins)))
            return LS_EIO;
        unsigned char key[17];
        size_t klen = ls_key_encode(key, &ids[i]);
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
                return ls_dberr(s, rc, "upsert");
            if (pass || !c->sgen || sqlite3_changes(s->db))
                break;
            /* the point exists (c has a segment): note whether its vector was a record */
            sqlite3_stmt *q = ls_stmt(s, sel);
            if (!q)
                return LS_EIO;
            sqlite3_bind_blob(q, 1, key, (int)klen, SQLITE_STATIC);
            rc = sqlite3_step(q);
            *dead += rc == SQLITE_ROW && sqlite3_column_int(q, 0);
            sqlite3_reset(q);
            if (rc != SQLITE_ROW)
                return ls_dberr(s, rc, "upsert");
            if (!(st = ls_stmt(s, upd)))
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
        return ls_seterr(s, LS_EINVAL, "collection, ids and vectors are required");
    int r;
    for (size_t i = 0; i < n; i++)
        if (!ls_id_valid(&ids[i]))
            return ls_seterr(s, LS_EINVAL, "point %zu: invalid id kind %d", i, ids[i].kind);
    if ((r = ls_check_vectors(s, vectors, n, dim)))
        return r;
    /* Payloads: kept as given when already in the form json-c prints (ls_json_canonical_object),
     * else parsed and re-serialised compactly; before taking the write lock. */
    prepared *pp = calloc(n ? n : 1, sizeof *pp);
    float *vecs = NULL;
    int seg_touched = 0;
    if (!pp)
        return ls_nomem(s);
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        r = ls_nomem(s);
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
                !json_object_is_type(pp[i].obj, json_type_object) ||
                !ls_json_finite(pp[i].obj, 0)) {
                r = ls_seterr(s, LS_EINVAL, "point %zu: the payload is not a JSON object", i);
                goto done;
            }
        }
        const char *txt =
            pp[i].obj ? json_object_to_json_string_ext(
                            pp[i].obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                      : NULL;
        if (!txt || !(pp[i].bind = pp[i].text = strdup(txt))) {
            r = ls_nomem(s);
            goto done;
        }
    }
    if ((r = ls_begin_write(s)))
        goto done;
    lcoll *c = ls_resolve(s, collection);
    if (!c) {
        r = LS_ENOTFOUND;
        goto out;
    }
    if (dim != c->dim) {
        r = ls_seterr(s, LS_EDIM, "Wrong input: Vector dimension error: expected dim: %zu, got %zu",
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
            r = ls_nomem(s);
            goto out;
        }
        memcpy(vecs, vectors, n * dim * sizeof *vecs);
        for (size_t i = first; i < n; i++)
            ls_cosine_preprocess(vecs + i * dim, dim);
        src = vecs;
    }
    if (c->loaded && ((r = ls_seg_map_w(s, c)) || (r = ls_cache_sync(s, c))))
        goto out;
    int64_t seq = c->seq + 1, rec0 = 0;
    /* large batches: vectors appended once to the segment, the rows name their records */
    int use_seg = n >= SEG_MIN_POINTS, compacted = 0;
    seg_touched = use_seg;
    if (use_seg && (r = ls_seg_append(s, c, src, n, &rec0)))
        goto out;
    int64_t dead = 0;
    if ((r = upsert_rows(s, c, n, ids, src, pp, seq, use_seg ? rec0 : -1, &dead)))
        goto out;
    int pruned;
    if ((r = bump_seq(s, c, seq, 0, &pruned)))
        goto out;
    if ((r = ls_seg_settle(s, c, dead, &compacted)))
        goto out;
    seg_touched |= compacted;
    if (seg_touched && (r = ls_seg_sync(s, c)))
        goto out;
    int was_loaded = c->loaded;
    if ((r = ls_commit(s)))
        goto done;
    if (compacted)
        ls_seg_sweep(s, c->cid, c->sgen);
    /* c survived the ls_commit (no catalog reload in between): apply the batch to the cache. */
    c->seq = seq;
    if (was_loaded) {
        for (size_t i = 0; i < n; i++) {
            if ((!pp[i].text && !(pp[i].text = strdup(pp[i].bind))) ||
                ls_cache_put(c, &ids[i], src + i * dim, pp[i].text, pp[i].obj)) {
                ls_cache_drop(c); /* reloaded on next use */
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
    ls_rollback(s);
    if (seg_touched)
        ls_catalog_clear(s); /* c's segment fields name what was rolled back */
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
    ls_table(sql, sizeof sql, "DELETE FROM p%lld WHERE pkey = ?1", (long long)c->cid);
    ls_table(sel, sizeof sel, "SELECT typeof(vec) = 'integer' FROM p%lld WHERE pkey = ?1",
             (long long)c->cid);
    ls_table(sql2, sizeof sql2, "INSERT OR REPLACE INTO t%lld(pkey, seq) VALUES(?1, ?2)",
             (long long)c->cid);
    for (size_t i = 0; i < n; i++) {
        unsigned char key[17];
        size_t klen = ls_key_encode(key, &ids[i]);
        sqlite3_stmt *st;
        int rc;
        if (c->sgen) { /* whether its vector is a segment record (which then is dead) */
            if (!(st = ls_stmt(s, sel)))
                return LS_EIO;
            sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
            rc = sqlite3_step(st);
            dead += rc == SQLITE_ROW && sqlite3_column_int(st, 0);
            sqlite3_reset(st);
            if (rc == SQLITE_DONE)
                continue; /* no such point */
            if (rc != SQLITE_ROW)
                return ls_dberr(s, rc, "delete");
        }
        if (!(st = ls_stmt(s, sql)))
            return LS_EIO;
        sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return ls_dberr(s, rc, "delete");
        if (sqlite3_changes(s->db) == 0)
            continue;
        cnt++;
        if (!(st = ls_stmt(s, sql2)))
            return LS_EIO;
        sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, seq);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return ls_dberr(s, rc, "delete");
    }
    int pruned = 0, compacted = 0, r;
    if (cnt && (r = bump_seq(s, c, seq, (int64_t)cnt, &pruned)))
        return r;
    if (cnt && (r = ls_seg_settle(s, c, dead, &compacted)))
        return r;
    if (compacted && (r = ls_seg_sync(s, c))) {
        ls_catalog_clear(s); /* c's segment fields name what the caller rolls back */
        return r;
    }
    int was_loaded = c->loaded;
    if ((r = ls_commit(s)))
        return r;
    if (compacted)
        ls_seg_sweep(s, c->cid, c->sgen);
    if (cnt) {
        c->seq = seq;
        if (pruned)
            c->epoch++;
        if (was_loaded) {
            for (size_t i = 0; i < n; i++)
                ls_cache_del(c, &ids[i]);
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
        return ls_seterr(s, LS_EINVAL, "collection and ids are required");
    for (size_t i = 0; i < n; i++)
        if (!ls_id_valid(&ids[i]))
            return ls_seterr(s, LS_EINVAL, "point %zu: invalid id kind %d", i, ids[i].kind);
    int r = ls_begin_write(s);
    if (r)
        return r;
    lcoll *c = ls_resolve(s, collection);
    if (!c) {
        ls_rollback(s);
        return LS_ENOTFOUND;
    }
    if ((r = ls_seg_map_w(s, c)) || (c->loaded && (r = ls_cache_sync(s, c)))) {
        ls_rollback(s);
        return r;
    }
    uint64_t cnt = 0;
    if ((r = delete_locked(s, c, ids, n, &cnt))) {
        ls_rollback(s);
        return r;
    }
    if (out)
        *out = cnt;
    return 0;
}

int ls_delete_by_filter(uint64_t *out, ls_store *s, const char *collection, const char *filter_json)
{
    ENTER(s);
    if (!collection)
        return ls_seterr(s, LS_EINVAL, "collection is required");
    ls_filter *f = NULL;
    int r = ls_filter_compile(&f, filter_json, s->err, sizeof s->err);
    if (r)
        return r;
    ls_id *ids = NULL;
    if ((r = ls_begin_write(s)))
        goto done;
    lcoll *c = ls_resolve(s, collection);
    if (!c) {
        r = LS_ENOTFOUND;
        goto out;
    }
    size_t k = 0;
    if ((r = ls_seg_map_w(s, c)))
        goto out;
    if (s->scan && !c->loaded) {
        if ((r = ls_scan_matching(s, c, f, &ids, &k)))
            goto out;
    } else {
        if ((r = ls_cache_sync(s, c)))
            goto out;
        ids = malloc((c->n ? c->n : 1) * sizeof *ids);
        if (!ids) {
            r = ls_nomem(s);
            goto out;
        }
        for (size_t i = 0; i < c->n; i++)
            if (!f || ls_filter_match(f, &c->ids[i], ls_cache_payload(c, i)))
                ids[k++] = c->ids[i];
    }
    uint64_t cnt = 0;
    if ((r = delete_locked(s, c, ids, k, &cnt)))
        goto out;
    if (out)
        *out = cnt;
    goto done;
out:
    ls_rollback(s);
done:
    free(ids);
    ls_filter_free(f);
    return r;
}
