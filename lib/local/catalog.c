/* Local mode: the catalog of collections and aliases (as the current snapshot has it), the
 * collection calls (incl. collection metadata) and the alias calls. */
#include "store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- catalog ---------------------------------------------------------------------------- */

static void coll_free(lcoll *c)
{
    if (!c)
        return;
    ls_cache_drop(c);
    ls_seg_close(c);
    free(c->name);
    free(c);
}

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

void ls_catalog_clear(ls_store *s)
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
    sqlite3_stmt *st = ls_stmt(s, "SELECT c.name, c.cid, c.dim, c.distance, c.seq, c.epoch,"
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
                r = ls_nomem(s);
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
                r = ls_nomem(s);
                break;
            }
            c->cid = cid;
            c->sfd = -1;
            c->name = strdup((const char *)sqlite3_column_text(st, 0));
            if (!c->name) {
                free(c);
                r = ls_nomem(s);
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
        r = ls_dberr(s, rc, "reading collections");
    if (r) {
        for (size_t i = 0; i < n; i++)
            coll_free(nc[i]);
        free(nc);
        ls_catalog_clear(s);
        return r;
    }
    ls_catalog_clear(s); /* frees the collections that are gone */
    s->colls = nc;
    s->ncolls = n;

    st = ls_stmt(s, "SELECT alias, collection FROM aliases ORDER BY collection, alias");
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
                r = ls_nomem(s);
                break;
            }
        }
        char *a = strdup((const char *)sqlite3_column_text(st, 0));
        char *b = strdup((const char *)sqlite3_column_text(st, 1));
        if (!a || !b) {
            free(a);
            free(b);
            r = ls_nomem(s);
            break;
        }
        s->al_names[s->naliases] = a;
        s->al_colls[s->naliases] = b;
        s->naliases++;
    }
    sqlite3_reset(st);
    if (!r && rc != SQLITE_DONE)
        r = ls_dberr(s, rc, "reading aliases");
    if (r) {
        ls_catalog_clear(s);
        return r;
    }
    s->catalog_ok = 1;
    return 0;
}

/* Inside a transaction: reloads the catalog when another connection committed since. */
int ls_catalog_sync(ls_store *s)
{
    sqlite3_stmt *st = ls_stmt(s, "PRAGMA data_version");
    if (!st)
        return LS_EIO;
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return ls_dberr(s, rc, "reading the store");
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
lcoll *ls_resolve(ls_store *s, const char *name)
{
    const char *real = find_alias(s, name);
    if (!real)
        real = name;
    lcoll *c = find_coll(s, real);
    if (!c)
        ls_seterr(s, LS_ENOTFOUND, "Not found: Collection `%s` doesn't exist!", real);
    return c;
}

/* ---- argument checks -------------------------------------------------------------------- */

static int check_name(ls_store *s, const char *name, const char *what)
{
    if (!name)
        return ls_seterr(s, LS_EINVAL, "%s name is required", what);
    size_t len = strlen(name);
    if (len < 1 || len > LS_MAX_NAME)
        return ls_seterr(s, LS_EINVAL,
                         "Validation error in path parameters: [collection_name: must be from 1 to "
                         "255 characters]");
    static const char bad[] = "<>:\"/\\|?*\x1f";
    for (const char *p = bad; *p; p++)
        if (strchr(name, *p))
            return ls_seterr(s, LS_EINVAL,
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
            return ls_seterr(s, LS_EINVAL, "%s name is not valid UTF-8", what);
        for (size_t k = 1; k < n; k++)
            if ((u[i + k] & 0xc0) != 0x80)
                return ls_seterr(s, LS_EINVAL, "%s name is not valid UTF-8", what);
        i += n;
    }
    return 0;
}

/* ---- collections ------------------------------------------------------------------------ */

/* Collection metadata (collections.metadata): parsed as strictly as payloads, nested as deep as
 * libqdrantc's own check allows, stored as json-c prints it. */
#define MD_DEPTH 128
#define MD_PRINT (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

/* Parses metadata text (what: for the message): one JSON object, white space around it, finite
 * numbers. *out: the object (the caller puts it). */
static int md_parse(ls_store *s, json_object **out, const char *text, const char *what)
{
    json_tokener *tok = json_tokener_new_ex(MD_DEPTH);
    if (!tok)
        return ls_nomem(s);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    size_t len = strlen(text);
    json_object *o = len < INT32_MAX ? json_tokener_parse_ex(tok, text, (int)len) : NULL;
    size_t end = o && json_tokener_get_error(tok) == json_tokener_success
                     ? json_tokener_get_parse_end(tok)
                     : 0;
    json_tokener_free(tok);
    while (end && end < len && strchr(" \t\n\r", text[end]))
        end++;
    if (!end || end != len || !json_object_is_type(o, json_type_object) || !ls_json_finite(o, 0)) {
        json_object_put(o);
        return ls_seterr(s, LS_EINVAL, "%s is not a JSON object", what);
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
    if ((r = ls_begin_write(s)))
        return r;
    if (find_coll(s, name)) {
        r = ls_seterr(s, LS_EEXISTS, "Wrong input: Collection `%s` already exists!", name);
        goto out;
    }
    if (find_alias(s, name)) {
        r = ls_seterr(s, LS_ENAMECLASH,
                      "Wrong input: Can't create collection with name %s. Alias with the same name "
                      "already exists",
                      name);
        goto out;
    }
    sqlite3_stmt *st = ls_stmt(s, "SELECT CAST(value AS INTEGER) FROM meta WHERE key='next_cid'");
    if (!st) {
        r = LS_EIO;
        goto out;
    }
    int64_t cid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (cid < 1) {
        r = ls_seterr(s, LS_ECORRUPT, "store metadata is damaged (next_cid)");
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
    if ((r = ls_exec(s, sql, "create collection")))
        goto out;
    st = ls_stmt(s, "INSERT INTO collections(name, cid, dim, distance, metadata)"
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
        r = ls_dberr(s, rc, "create collection");
        goto out;
    }
    r = ls_commit(s);
    s->catalog_ok = 0;
    return r;
out:
    ls_rollback(s);
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
        return ls_seterr(s, LS_EINVAL, "vector size must be from 1 to %d, got %zu", LS_MAX_DIM,
                         dim);
    if (distance < LS_COSINE || distance > LS_MANHATTAN)
        return ls_seterr(s, LS_EINVAL, "unknown distance %d", (int)distance);
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
        return ls_seterr(s, LS_EINVAL, "collection name is required");
    int r = ls_begin_write(s);
    if (r)
        return r;
    lcoll *c = find_coll(s, name);
    if (!c) {
        ls_rollback(s);
        if (out)
            *out = 0;
        return 0;
    }
    ls_stmts_clear(s); /* no cached statement may keep the tables */
    char sql[256];
    int64_t cid = c->cid;
    snprintf(sql, sizeof sql,
             "DROP TABLE p%lld; DROP TABLE t%lld; DELETE FROM segs WHERE cid = %lld;",
             (long long)cid, (long long)cid, (long long)cid);
    if ((r = ls_exec(s, sql, "delete collection")))
        goto out;
    sqlite3_stmt *st = ls_stmt(s, "DELETE FROM aliases WHERE collection = ?1");
    if (!st) {
        r = LS_EIO;
        goto out;
    }
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE && (st = ls_stmt(s, "DELETE FROM collections WHERE name = ?1"))) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    if (rc != SQLITE_DONE) {
        r = st ? ls_dberr(s, rc, "delete collection") : LS_EIO;
        goto out;
    }
    if ((r = ls_commit(s)))
        return r;
    s->catalog_ok = 0;
    ls_seg_sweep(s, cid, 0);
    if (out)
        *out = 1;
    return 0;
out:
    ls_rollback(s);
    return r;
}

int ls_collection_exists(int *out, ls_store *s, const char *name)
{
    ENTER(s);
    if (!out || !name)
        return ls_seterr(s, LS_EINVAL, "out and name are required");
    int r = ls_begin_read(s);
    if (r)
        return r;
    const char *real = find_alias(s, name);
    int e = find_coll(s, real ? real : name) != NULL;
    ls_end_read(s);
    *out = e;
    return 0;
}

/* Inside a transaction: the metadata of c into *out (malloc'ed text, or NULL: none). */
static int md_read(ls_store *s, const lcoll *c, char **out)
{
    sqlite3_stmt *st = ls_stmt(s, "SELECT metadata FROM collections WHERE cid = ?1");
    if (!st)
        return LS_EIO;
    sqlite3_bind_int64(st, 1, c->cid);
    int rc = sqlite3_step(st), r = 0;
    *out = NULL;
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL &&
        !(*out = strdup((const char *)sqlite3_column_text(st, 0))))
        r = ls_nomem(s);
    else if (rc != SQLITE_ROW)
        r = rc == SQLITE_DONE ? ls_seterr(s, LS_EIO, "collection %s vanished", c->name)
                              : ls_dberr(s, rc, "read metadata");
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
        return ls_seterr(s, LS_EINVAL, "out and name are required");
    int r = ls_begin_read(s);
    if (r)
        return r;
    lcoll *c = ls_resolve(s, name);
    if (!c) {
        ls_end_read(s);
        return LS_ENOTFOUND;
    }
    char *md = NULL;
    if (metadata && (r = md_read(s, c, &md))) {
        ls_end_read(s);
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
            ls_stmt(s, ls_table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
        if (!st) {
            ls_end_read(s);
            return LS_EIO;
        }
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            info.points_count = (uint64_t)sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        if (rc != SQLITE_ROW) {
            r = ls_dberr(s, rc, "count points");
            ls_end_read(s);
            free(md);
            return r;
        }
    }
    ls_end_read(s);
    *out = info;
    if (metadata)
        *metadata = md;
    return 0;
}

int ls_collection_metadata_update(ls_store *s, const char *name, const char *patch_json)
{
    ENTER(s);
    if (!name || !patch_json)
        return ls_seterr(s, LS_EINVAL, "name and metadata are required");
    json_object *patch = NULL, *cur = NULL, *merged = NULL;
    char *text = NULL;
    int r = md_parse(s, &patch, patch_json, "metadata");
    if (r || (r = ls_begin_write(s))) {
        json_object_put(patch);
        return r;
    }
    lcoll *c = ls_resolve(s, name);
    if (!c) {
        r = LS_ENOTFOUND;
        goto out;
    }
    if ((r = md_read(s, c, &text)))
        goto out;
    if (!text) { /* none yet: the patch as given, nulls and all (Collection::update_metadata) */
        merged = json_object_get(patch);
    } else if (md_parse(s, &cur, text, "stored metadata")) {
        r = ls_seterr(s, LS_ECORRUPT, "the metadata stored for collection %s is damaged", c->name);
        goto out;
    } else if (!(merged = md_merge(cur, patch))) {
        r = ls_nomem(s);
        goto out;
    }
    sqlite3_stmt *st = ls_stmt(s, "UPDATE collections SET metadata = ?1 WHERE cid = ?2");
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
        r = ls_dberr(s, rc, "update metadata");
        goto out;
    }
    r = ls_commit(s);
    goto done;
out:
    ls_rollback(s);
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
        return ls_seterr(s, LS_EINVAL, "out is required");
    int r = ls_begin_read(s);
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
    ls_end_read(s);
    if (!l)
        return ls_nomem(s);
    *out = l;
    return 0;
}

/* ---- aliases ---------------------------------------------------------------------------- */

static int sql_exists(ls_store *s, const char *sql, const char *arg, int *found)
{
    sqlite3_stmt *st = ls_stmt(s, sql);
    if (!st)
        return LS_EIO;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return ls_dberr(s, rc, "aliases");
    *found = rc == SQLITE_ROW;
    return 0;
}

static int sql_run2(ls_store *s, const char *sql, const char *a, const char *b)
{
    sqlite3_stmt *st = ls_stmt(s, sql);
    if (!st)
        return LS_EIO;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : ls_dberr(s, rc, "aliases");
}

int ls_aliases_update(ls_store *s, const ls_alias_action *acts, size_t n)
{
    ENTER(s);
    if (!acts && n)
        return ls_seterr(s, LS_EINVAL, "actions are required");
    int r;
    for (size_t i = 0; i < n; i++) {
        const ls_alias_action *a = &acts[i];
        if (a->op != LS_ALIAS_CREATE && a->op != LS_ALIAS_DELETE && a->op != LS_ALIAS_RENAME)
            return ls_seterr(s, LS_EINVAL, "action %zu: unknown alias operation %d", i, (int)a->op);
        if ((r = check_name(s, a->alias, "alias")))
            return r;
        if (a->op == LS_ALIAS_CREATE && (r = check_name(s, a->collection, "collection")))
            return r;
        if (a->op == LS_ALIAS_RENAME && (r = check_name(s, a->new_alias, "alias")))
            return r;
    }
    if ((r = ls_begin_write(s)))
        return r;
    for (size_t i = 0; i < n && !r; i++) {
        const ls_alias_action *a = &acts[i];
        int found = 0;
        if (a->op == LS_ALIAS_CREATE) {
            if ((r = sql_exists(s, "SELECT 1 FROM collections WHERE name = ?1", a->collection,
                                &found)))
                break;
            if (!found) {
                r = ls_seterr(s, LS_ENOTFOUND, "Not found: Collection `%s` doesn't exist!",
                              a->collection);
                break;
            }
            if ((r = sql_exists(s, "SELECT 1 FROM collections WHERE name = ?1", a->alias, &found)))
                break;
            if (found) {
                r = ls_seterr(s, LS_ENAMECLASH, "Wrong input: Collection `%s` already exists!",
                              a->alias);
                break;
            }
            r = sql_run2(s, "INSERT OR REPLACE INTO aliases(alias, collection) VALUES(?1, ?2)",
                         a->alias, a->collection);
        } else if (a->op == LS_ALIAS_DELETE) {
            r = sql_run2(s, "DELETE FROM aliases WHERE alias = ?1", a->alias, NULL);
        } else {
            sqlite3_stmt *st = ls_stmt(s, "SELECT collection FROM aliases WHERE alias = ?1");
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
                r = ls_seterr(s, LS_ENOTFOUND, "Not found: Alias %s does not exists!", a->alias);
                break;
            }
            if (rc != SQLITE_ROW || !target) {
                free(target);
                r = rc == SQLITE_ROW ? ls_nomem(s) : ls_dberr(s, rc, "aliases");
                break;
            }
            /* Stricter than Qdrant: a rename onto a collection's name is refused too. */
            r = sql_exists(s, "SELECT 1 FROM collections WHERE name = ?1", a->new_alias, &found);
            if (!r && found)
                r = ls_seterr(s, LS_ENAMECLASH, "Wrong input: Collection `%s` already exists!",
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
        ls_rollback(s);
        return r;
    }
    r = ls_commit(s);
    s->catalog_ok = 0;
    return r;
}

int ls_aliases_list(ls_names **out, ls_store *s, const char *collection)
{
    ENTER(s);
    if (!out)
        return ls_seterr(s, LS_EINVAL, "out is required");
    int r = ls_begin_read(s);
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
    ls_end_read(s);
    if (!l)
        return ls_nomem(s);
    *out = l;
    return 0;
}
