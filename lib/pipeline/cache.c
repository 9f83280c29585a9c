/* The embedding cache: SQLite (WAL) under a cache directory, keyed by (embedder, model, dim,
 * text hash). */
#include "internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rp_cache {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *dims;
    char err[512];
};

static int c_fail(rp_cache *c, int code, const char *what)
{
    snprintf(c->err, sizeof c->err, "embedding cache: %s: %s", what,
             c->db ? sqlite3_errmsg(c->db) : "");
    return code;
}

void rp_cache_free(rp_cache *c)
{
    if (!c)
        return;
    sqlite3_finalize(c->get);
    sqlite3_finalize(c->put);
    sqlite3_finalize(c->dims);
    sqlite3_close(c->db);
    free(c);
}

const char *rp_cache_errmsg(const rp_cache *c)
{
    return c ? c->err : "";
}

int rp_cache_open(rp_cache **out, const char *dir, char *err, size_t errlen)
{
    if (!out || !dir)
        return rp_err(err, errlen, RP_EINVAL, "rp_cache_open: out and dir are required");
    int rc = rp_mkdir_p(dir, err, errlen);
    if (rc)
        return rc;
    rp_cache *c = calloc(1, sizeof *c);
    char *path = NULL;
    if (!c || asprintf(&path, "%s/embeddings.sqlite", dir) < 0) {
        free(c);
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
    }
    int sr = sqlite3_open_v2(
        path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    free(path);
    if (sr != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(c->db, 30000);
    if (sqlite3_exec(c->db,
                     "PRAGMA journal_mode=WAL;"
                     "PRAGMA synchronous=NORMAL;"
                     /* Vectors are large rows: keep them out of the key's B-tree (a rowid
                        table plus a unique index). */
                     "CREATE TABLE IF NOT EXISTS emb2(id INTEGER PRIMARY KEY,"
                     " embedder TEXT NOT NULL, model TEXT NOT NULL, dim INTEGER NOT NULL,"
                     " hash TEXT NOT NULL, vec BLOB NOT NULL);"
                     "CREATE UNIQUE INDEX IF NOT EXISTS emb2_key ON emb2(embedder, model, dim,"
                     " hash);",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "SELECT vec FROM emb2 WHERE embedder=?1 AND model=?2 AND dim=?3 AND "
                           "hash=?4",
                           -1, &c->get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(
            c->db,
            "INSERT OR REPLACE INTO emb2(embedder, model, dim, hash, vec) VALUES(?1,?2,?3,?4,?5)",
            -1, &c->put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(c->db,
                           "SELECT DISTINCT dim FROM emb2 WHERE embedder=?1 AND model=?2 LIMIT 2",
                           -1, &c->dims, NULL) != SQLITE_OK)
        goto fail;
    *out = c;
    return RP_OK;
fail:
    rp_err(err, errlen, RP_EIO, "embedding cache in %s: %s", dir,
           c->db ? sqlite3_errmsg(c->db) : "cannot open");
    rp_cache_free(c);
    return RP_EIO;
}

int rp_cache_get(rp_cache *c, float *out, int *found, const char *name, const char *model,
                 size_t dim, const char *text_hash)
{
    if (!c || !out || !found || !name || !model || !dim || !text_hash)
        return RP_EINVAL;
    sqlite3_reset(c->get);
    sqlite3_bind_text(c->get, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->get, 2, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->get, 3, (sqlite3_int64)dim);
    sqlite3_bind_text(c->get, 4, text_hash, -1, SQLITE_STATIC);
    int sr = sqlite3_step(c->get);
    if (sr == SQLITE_DONE) {
        *found = 0;
        sqlite3_reset(c->get);
        return RP_OK;
    }
    if (sr != SQLITE_ROW) {
        int rc = c_fail(c, RP_EIO, "read");
        sqlite3_reset(c->get);
        return rc;
    }
    const void *blob = sqlite3_column_blob(c->get, 0);
    size_t n = (size_t)sqlite3_column_bytes(c->get, 0);
    if (n != dim * sizeof(float) || !blob) {
        sqlite3_reset(c->get);
        snprintf(c->err, sizeof c->err, "embedding cache: entry of %zu bytes for dim %zu", n, dim);
        return RP_ECORRUPT;
    }
    memcpy(out, blob, n);
    *found = 1;
    sqlite3_reset(c->get);
    return RP_OK;
}

static int put_one(rp_cache *c, const char *name, const char *model, size_t dim,
                   const char *text_hash, const float *v)
{
    sqlite3_reset(c->put);
    sqlite3_bind_text(c->put, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->put, 2, model, -1, SQLITE_STATIC);
    sqlite3_bind_int64(c->put, 3, (sqlite3_int64)dim);
    sqlite3_bind_text(c->put, 4, text_hash, -1, SQLITE_STATIC);
    sqlite3_bind_blob(c->put, 5, v, (int)(dim * sizeof(float)), SQLITE_STATIC);
    int sr = sqlite3_step(c->put);
    sqlite3_reset(c->put);
    return sr == SQLITE_DONE ? RP_OK : c_fail(c, RP_EIO, "write");
}

int rp_cache_put(rp_cache *c, const char *name, const char *model, size_t dim,
                 const char *text_hash, const float *v)
{
    if (!c || !name || !model || !dim || dim > 1000000 || !text_hash || !v)
        return RP_EINVAL;
    return put_one(c, name, model, dim, text_hash, v);
}

/* The cache's one dimension for (name, model), 0 when none or several. */
static size_t known_dim(rp_cache *c, const char *name, const char *model)
{
    sqlite3_reset(c->dims);
    sqlite3_bind_text(c->dims, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(c->dims, 2, model, -1, SQLITE_STATIC);
    size_t d = 0;
    int rows = 0;
    while (sqlite3_step(c->dims) == SQLITE_ROW) {
        d = (size_t)sqlite3_column_int64(c->dims, 0);
        rows++;
    }
    sqlite3_reset(c->dims);
    return rows == 1 ? d : 0;
}

int rp_embed_cached(float **out, size_t *hits, rp_cache *c, rp_embedder *e,
                    const char *const *texts, const char *const *hashes, size_t n)
{
    if (!out || !c || !e || ((!texts || !hashes) && n))
        return RP_EINVAL;
    c->err[0] = 0;
    const char *name = rp_embedder_name(e), *model = rp_embedder_model(e);
    size_t dim = rp_embedder_dim(e);
    int assumed = 0;
    if (!dim) {
        dim = known_dim(c, name, model);
        assumed = dim != 0;
    }
    float *v = NULL, *fresh = NULL;
    size_t *miss = NULL, nmiss = 0, nhits = 0;
    const char **mtexts = NULL;
    int rc = RP_ENOMEM;
    if (!(miss = malloc((n ? n : 1) * sizeof *miss)) ||
        !(mtexts = malloc((n ? n : 1) * sizeof *mtexts)))
        goto out;
    if (dim) {
        if (!(v = malloc((n ? n : 1) * dim * sizeof *v)))
            goto out;
        for (size_t i = 0; i < n; i++) {
            int found = 0;
            if ((rc = rp_cache_get(c, v + i * dim, &found, name, model, dim, hashes[i])))
                goto out;
            if (found)
                nhits++;
            else
                miss[nmiss++] = i;
        }
    } else {
        for (size_t i = 0; i < n; i++)
            miss[nmiss++] = i;
    }
    if (nmiss) {
        for (size_t k = 0; k < nmiss; k++)
            mtexts[k] = texts[miss[k]];
        if ((rc = rp_embed_batch(e, &fresh, mtexts, nmiss))) {
            snprintf(c->err, sizeof c->err, "%s", rp_embedder_errmsg(e));
            goto out;
        }
        size_t edim = rp_embedder_dim(e);
        if (dim && edim != dim) {
            rc = RP_EDIM;
            snprintf(c->err, sizeof c->err, "embedder dimension %zu, cache%s has %zu", edim,
                     assumed ? " (assumed)" : "", dim);
            goto out;
        }
        if (!dim) {
            dim = edim;
            if (!(v = malloc((n ? n : 1) * dim * sizeof *v))) {
                rc = RP_ENOMEM;
                goto out;
            }
        }
        if (sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
            rc = c_fail(c, RP_EIO, "begin");
            goto out;
        }
        for (size_t k = 0; k < nmiss; k++) {
            memcpy(v + miss[k] * dim, fresh + k * dim, dim * sizeof *v);
            if ((rc = put_one(c, name, model, dim, hashes[miss[k]], fresh + k * dim))) {
                sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
                goto out;
            }
        }
        if (sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
            rc = c_fail(c, RP_EIO, "commit");
            sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    if (!v && !(v = malloc(sizeof *v))) {
        rc = RP_ENOMEM;
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
    free(miss);
    free(mtexts);
    return rc;
}
