/* libqdrantc's local backend (local mode): the public calls on a store directory, through
 * lib/local (no server).
 *
 * The front checks each call's arguments as for a server, then calls this backend's entry in its
 * table (qd_local_backend, at the end), which opens the store on first use, converts the types
 * to and from lib/local and maps the engine's errors to the codes a server gives for the same
 * situation, keeping the engine's (Qdrant's) message on the handle. The only file of libqdrantc
 * that includes lib/local's header. */
#include "finite.h"
#include "hex.h"
#include "backend.h"
#include "lstore.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- URL selection ---- */

/* file:// URLs (no host but localhost, no query or fragment) and absolute or ./ ../ paths; the
 * target is the directory, made absolute. */
static int ql_parse_url(char **dir, const char *url)
{
    const char *path;
    int file_url = 0;
    if (strncmp(url, "file://", 7) == 0) {
        path = url + 7;
        if (strncmp(path, "localhost/", 10) == 0)
            path += 9;
        if (path[0] != '/' || strpbrk(path, "?#"))
            return QDRANT_EINVAL; /* another host, a relative path, a query or fragment */
        file_url = 1;
    } else if (url[0] == '/' || strncmp(url, "./", 2) == 0 || strncmp(url, "../", 3) == 0) {
        path = url;
    } else {
        return 0; /* not a local URL */
    }
    /* A relative path is fixed against the working directory now, not at the (lazy) open. */
    char cwd[4096] = "";
    if (path[0] != '/' && (!getcwd(cwd, sizeof cwd) || cwd[0] != '/'))
        return QDRANT_EINVAL;
    size_t cl = strlen(cwd), n = strlen(path);
    char *d = malloc(cl + 1 + n + 1), *w = d;
    if (!d)
        return QDRANT_ENOMEM;
    if (cl) {
        memcpy(w, cwd, cl);
        w += cl;
        *w++ = '/';
    }
    for (const char *p = path; *p; p++) {
        if (file_url && *p == '%') {
            int hi = rc_hexval(p[1]), lo = hi < 0 ? -1 : rc_hexval(p[2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                free(d);
                return QDRANT_EINVAL;
            }
            *w++ = (char)(hi * 16 + lo);
            p += 2;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    while (w > d + 1 && w[-1] == '/')
        *--w = '\0'; /* "/data/store/" -> "/data/store"; "/" stays */
    *dir = d;
    return 1;
}

/* ---- the handle, store and errors ---- */

static int ql_open(qdrant_client *c, const qdrant_client_options *o, char *dir)
{
    c->local_dir = dir; /* no HTTP handle: the store is opened by the first call */
    c->local_scan = o->version >= 2 && o->local_scan;
    return QDRANT_OK;
}

static void ql_close(qdrant_client *c)
{
    ls_close(c->local);
    c->local = NULL;
    free(c->local_dir);
    c->local_dir = NULL;
}

static long ql_connections(const qdrant_client *c)
{
    (void)c;
    return 0;
}

/* Maps an engine error to the code a server gives for the same situation; clash is the code
 * for a name clash between an alias and a collection (the server answers 400 when a collection
 * is created under an alias's name, 409 when an alias takes a collection's name). The engine's
 * message goes onto the handle. */
static int ls_fail(qdrant_client *c, int r, int clash)
{
    int code;
    switch (r) {
    case LS_OK:
        return QDRANT_OK;
    case LS_ENOMEM:
        return qd_nomem(c);
    case LS_ENOTFOUND:
        code = QDRANT_ENOTFOUND;
        break;
    case LS_EEXISTS:
        code = QDRANT_ECONFLICT;
        break;
    case LS_ENAMECLASH:
        code = clash;
        break;
    case LS_EUNSUPPORTED:
        code = QDRANT_EUNSUPPORTED;
        break;
    case LS_EBUSY:
        code = QDRANT_ETIMEOUT;
        break;
    case LS_EACCES:
    case LS_EIO:
    case LS_ECORRUPT:
        code = QDRANT_EIO;
        break;
    default: /* LS_EINVAL, LS_EDIM, LS_ENONFINITE, LS_ENOTSTORE */
        code = QDRANT_EINVAL;
        break;
    }
    const char *m = c->local ? ls_errmsg(c->local) : "";
    return qd_set_err(c, code, "%s", m[0] ? m : ls_strerror(r));
}

/* Opens the store at the first call that needs it; a failure is tried again next time. */
static int ensure_open(qdrant_client *c)
{
    if (c->local)
        return QDRANT_OK;
    ls_open_options o = LS_OPEN_OPTIONS_INIT;
    o.create = 1;
    o.scan = c->local_scan;
    o.busy_timeout_ms = c->request_timeout_ms > 0 ? c->request_timeout_ms : 0;
    char err[400] = "";
    int r = ls_open(&c->local, c->local_dir, &o, err, sizeof err);
    if (r == LS_OK)
        return QDRANT_OK;
    c->local = NULL;
    int code = r == LS_ENOMEM ? QDRANT_ENOMEM : r == LS_ENOTSTORE ? QDRANT_EINVAL : QDRANT_EIO;
    return qd_set_err(c, code, "local mode: %s", err[0] ? err : ls_strerror(r));
}

static int ql_health(qdrant_client *c)
{
    (void)c; /* the library is alive; ql_ready checks the store */
    return QDRANT_OK;
}

static int ql_ready(qdrant_client *c)
{
    return ensure_open(c);
}

static int ql_server_info(qdrant_server_info **out, qdrant_client *c)
{
    qdrant_server_info *v = calloc(1, sizeof *v);
    if (v) {
        v->title = rc_strdup("qdrant local mode");
        v->version = rc_strdup(qdrant_version_string());
        v->commit = rc_strdup("");
    }
    if (!v || !v->title || !v->version || !v->commit) {
        qdrant_server_info_free(v);
        return qd_nomem(c);
    }
    *out = v;
    return QDRANT_OK;
}

/* ---- collections ---- */

static const char *const dist_names[] = {NULL, "Cosine", "Dot", "Euclid", "Manhattan"};

/* The server's knobs in o (checked by the front) do not apply here. */
static int ql_collection_create(qdrant_client *c, const char *name, size_t dim, qdrant_distance d,
                                const qdrant_collection_options *o, const char *metadata)
{
    static const ls_distance map[] = {LS_COSINE, LS_COSINE, LS_DOT, LS_EUCLID, LS_MANHATTAN};
    (void)o;
    int rc = ensure_open(c);
    if (rc)
        return rc;
    return ls_fail(c, ls_collection_create_with_metadata(c->local, name, dim, map[d], metadata),
                   QDRANT_EINVAL);
}

static int ql_collection_metadata_update(qdrant_client *c, const char *name, const char *metadata)
{
    int rc = ensure_open(c);
    if (rc)
        return rc;
    return ls_fail(c, ls_collection_metadata_update(c->local, name, metadata), QDRANT_EINVAL);
}

static int ql_collection_delete(int *out, qdrant_client *c, const char *name)
{
    int rc = ensure_open(c), existed = 0;
    if (rc)
        return rc;
    if ((rc = ls_fail(c, ls_collection_delete(&existed, c->local, name), QDRANT_EINVAL)))
        return rc;
    if (out)
        *out = existed;
    return QDRANT_OK;
}

static int ql_collection_exists(int *out, qdrant_client *c, const char *name)
{
    int rc = ensure_open(c), ex = 0;
    if (rc)
        return rc;
    if ((rc = ls_fail(c, ls_collection_exists(&ex, c->local, name), QDRANT_EINVAL)))
        return rc;
    *out = ex;
    return QDRANT_OK;
}

static int ql_collection_info(qdrant_collection_info **out, qdrant_client *c, const char *name)
{
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_collection_info li;
    char *md = NULL;
    if ((rc = ls_fail(c, ls_collection_describe(&li, &md, c->local, name), QDRANT_EINVAL)))
        return rc;
    qdrant_collection_info *info = calloc(1, sizeof *info);
    if (!info) {
        free(md);
        return qd_nomem(c);
    }
    info->status = QDRANT_STATUS_GREEN;
    info->points = li.points_count > INT64_MAX ? INT64_MAX : (int64_t)li.points_count;
    info->size = li.dim;
    info->distance = (qdrant_distance)li.distance;
    info->metadata = md; /* as the server's: the stored text is json-c's printing */
    const char *dn = li.distance >= LS_COSINE && li.distance <= LS_MANHATTAN
                         ? dist_names[li.distance]
                         : "Cosine";
    /* config.metadata is left out when there is none, as Qdrant's CollectionConfig does */
    rc_buf b = RC_BUF_INIT;
    int e = rc_buf_printf(&b,
                          "{\"status\":\"green\",\"optimizer_status\":\"ok\",\"points_count\":%llu,"
                          "\"config\":{\"params\":{\"vectors\":{\"size\":%zu,\"distance\":\"%s\"}}",
                          (unsigned long long)li.points_count, li.dim, dn);
    if (md) {
        e |= rc_buf_puts(&b, ",\"metadata\":");
        e |= rc_buf_puts(&b, md);
    }
    e |= rc_buf_puts(&b, "}}");
    if (e || !(info->json = rc_strdup(b.data))) {
        rc_buf_free(&b);
        qdrant_collection_info_free(info);
        return qd_nomem(c);
    }
    rc_buf_free(&b);
    *out = info;
    return QDRANT_OK;
}

static int ql_collection_list(qdrant_name_list **out, qdrant_client *c)
{
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_names *ln = NULL;
    if ((rc = ls_fail(c, ls_collection_list(&ln, c->local), QDRANT_EINVAL)))
        return rc;
    qdrant_name_list *l = calloc(1, sizeof *l);
    for (size_t i = 0; l && i < ln->count; i++)
        if (rc_strlist_push(&l->names, ln->names[i]) < 0) {
            qdrant_name_list_free(l);
            l = NULL;
        }
    if (!l) {
        ls_names_free(ln);
        return qd_nomem(c);
    }
    ls_names_free(ln);
    *out = l;
    return QDRANT_OK;
}

/* A no-op: indexes only make a server faster. */
static int ql_payload_index_create(qdrant_client *c, const char *collection, const char *field,
                                   qdrant_field_type type, const qdrant_write_options *w)
{
    (void)field;
    (void)type;
    (void)w;
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_collection_info li; /* only checks that the collection (or alias) exists */
    return ls_fail(c, ls_collection_info_get(&li, c->local, collection), QDRANT_EINVAL);
}

/* ---- aliases ---- */

enum { QL_ALIAS_CREATE = 1, QL_ALIAS_DELETE = 2, QL_ALIAS_RENAME = 3, QL_ALIAS_SWITCH = 4 };

/* a, b: (alias, collection) for create and switch, (alias, NULL) for delete, (old, new) for
 * rename. */
static int alias_update(qdrant_client *c, int op, const char *a, const char *b)
{
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_alias_action act[2];
    size_t n = 1;
    memset(act, 0, sizeof act);
    act[0].alias = a;
    switch (op) {
    case QL_ALIAS_CREATE:
        act[0].op = LS_ALIAS_CREATE;
        act[0].collection = b;
        break;
    case QL_ALIAS_DELETE:
        act[0].op = LS_ALIAS_DELETE;
        break;
    case QL_ALIAS_RENAME:
        act[0].op = LS_ALIAS_RENAME;
        act[0].new_alias = b;
        break;
    default: /* QL_ALIAS_SWITCH: delete + create in one transaction */
        act[0].op = LS_ALIAS_DELETE;
        act[1].op = LS_ALIAS_CREATE;
        act[1].alias = a;
        act[1].collection = b;
        n = 2;
        break;
    }
    return ls_fail(c, ls_aliases_update(c->local, act, n), QDRANT_ECONFLICT);
}

static int ql_alias_create(qdrant_client *c, const char *alias, const char *collection)
{
    return alias_update(c, QL_ALIAS_CREATE, alias, collection);
}

static int ql_alias_delete(qdrant_client *c, const char *alias)
{
    return alias_update(c, QL_ALIAS_DELETE, alias, NULL);
}

static int ql_alias_rename(qdrant_client *c, const char *old_alias, const char *new_alias)
{
    return alias_update(c, QL_ALIAS_RENAME, old_alias, new_alias);
}

/* One transaction: all or nothing. */
static int ql_alias_switch(qdrant_client *c, const char *alias, const char *collection)
{
    return alias_update(c, QL_ALIAS_SWITCH, alias, collection);
}

static int ql_alias_list(qdrant_alias_list **out, qdrant_client *c, const char *collection)
{
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_names *ln = NULL;
    if ((rc = ls_fail(c, ls_aliases_list(&ln, c->local, collection), QDRANT_EINVAL)))
        return rc;
    qdrant_alias_list *l = calloc(1, sizeof *l);
    if (l && ln->count) {
        l->alias = calloc(ln->count, sizeof *l->alias);
        l->coll = calloc(ln->count, sizeof *l->coll);
    }
    int bad = !l || (ln->count && (!l->alias || !l->coll));
    for (size_t i = 0; !bad && i < ln->count; i++) {
        l->alias[i] = rc_strdup(ln->names[i]);
        l->coll[i] = rc_strdup(ln->collections[i]);
        l->n = i + 1;
        bad = !l->alias[i] || !l->coll[i];
    }
    ls_names_free(ln);
    if (bad) {
        qdrant_alias_list_free(l);
        return qd_nomem(c);
    }
    *out = l;
    return QDRANT_OK;
}

/* ---- points ---- */

static ls_id to_ls(const qdrant_point_id *id)
{
    ls_id r;
    memset(&r, 0, sizeof r);
    if (id->kind == QDRANT_ID_UUID) {
        r.kind = LS_ID_UUID;
        memcpy(r.uuid, id->uuid, 16);
    } else {
        r.kind = LS_ID_NUM;
        r.num = id->num;
    }
    return r;
}

static qdrant_point_id from_ls(const ls_id *id)
{
    qdrant_point_id r;
    memset(&r, 0, sizeof r);
    if (id->kind == LS_ID_UUID) {
        r.kind = QDRANT_ID_UUID;
        memcpy(r.uuid, id->uuid, 16);
    } else {
        r.kind = QDRANT_ID_NUM;
        r.num = id->num;
    }
    return r;
}

/* n ids converted into a new array; the caller has checked them. */
static ls_id *ids_to_ls(qdrant_client *c, const qdrant_point_id *ids, size_t n)
{
    ls_id *r = malloc((n ? n : 1) * sizeof *r);
    if (!r) {
        qd_nomem(c);
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        r[i] = to_ls(&ids[i]);
    return r;
}

/* The filter's JSON for the engine; *json NULL when there is no filter. */
static int filter_json(qdrant_client *c, const qdrant_filter *f, const char **json)
{
    *json = NULL;
    if (!f)
        return QDRANT_OK;
    if (!(*json = qd_filter_render(f)))
        return qd_set_err(c, QDRANT_EINVAL, "invalid filter");
    return QDRANT_OK;
}

/* Moves the engine's list into a new qdrant_point_list (payloads and vectors are taken over). */
static int take_points(qdrant_point_list **out, qdrant_client *c, ls_points *lp)
{
    qdrant_point_list *l = calloc(1, sizeof *l);
    if (l && lp->count)
        l->pts = calloc(lp->count, sizeof *l->pts);
    if (!l || (lp->count && !l->pts)) {
        free(l);
        ls_points_free(lp);
        return qd_nomem(c);
    }
    for (size_t i = 0; i < lp->count; i++) {
        ls_point *p = &lp->points[i];
        qd_point *q = &l->pts[i];
        q->id = from_ls(&p->id);
        q->score = p->score;
        q->payload = p->payload;
        q->vector = p->vector;
        q->dim = p->vector ? lp->dim : 0;
        p->payload = NULL;
        p->vector = NULL;
    }
    l->n = lp->count;
    if (lp->has_next) {
        l->has_next = 1;
        l->next = from_ls(&lp->next_page);
    }
    ls_points_free(lp);
    *out = l;
    return QDRANT_OK;
}

/* Checks every point as the server backend's body builder does, then writes them in one
 * transaction. checked: 1 when the caller has already checked ids, vectors and payloads (the
 * upload); canon (optional): canon[i] != 0 when payloads[i] passed ls_json_canonical_object. */
static int upsert(qdrant_client *c, const char *collection, size_t n, const qdrant_point_id *ids,
                  const float *vectors, size_t dim, const char *const *payloads, int checked,
                  const unsigned char *canon)
{
    /* The server backend's body builder's checks and messages, before anything is written. */
    for (size_t i = 0; i < n && !checked; i++) {
        if (!qd_id_valid(&ids[i]))
            return qd_set_err(c, QDRANT_EINVAL, "point %zu: invalid id (kind %d)", i, ids[i].kind);
        size_t k = rc_first_nonfinite(vectors + i * dim, dim);
        if (k < dim)
            return qd_set_err(c, QDRANT_EINVAL, "point %zu: vector element %zu is NaN or infinite",
                              i, k);
        if (payloads && payloads[i] && !qd_json_valid(payloads[i], strlen(payloads[i]), 1))
            return qd_set_err(c, QDRANT_EINVAL, "point %zu: payload is not a JSON object", i);
    }
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_id *lids = ids_to_ls(c, ids, n);
    if (!lids)
        return QDRANT_ENOMEM;
    rc = ls_fail(c, ls_upsert_known(c->local, collection, n, lids, vectors, dim, payloads, canon),
                 QDRANT_EINVAL);
    free(lids);
    return rc;
}

static int ql_point_upsert(qdrant_client *c, const char *collection, size_t n,
                           const qdrant_point_id *ids, const float *vectors, size_t dim,
                           const char *const *payloads, const qdrant_write_options *w)
{
    (void)w; /* a local write is applied when the call returns: wait and ordering do not apply */
    return upsert(c, collection, n, ids, vectors, dim, payloads, 0, NULL);
}

static int ql_point_delete(qdrant_client *c, const char *collection, const qdrant_point_id *ids,
                           size_t n, const qdrant_write_options *w)
{
    (void)w;
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_id *lids = ids_to_ls(c, ids, n); /* ids were checked by the caller */
    if (!lids)
        return QDRANT_ENOMEM;
    rc = ls_fail(c, ls_delete(NULL, c->local, collection, lids, n), QDRANT_EINVAL);
    free(lids);
    return rc;
}

static int ql_point_delete_by_filter(qdrant_client *c, const char *collection,
                                     const qdrant_filter *f, const qdrant_write_options *w)
{
    (void)w;
    const char *fj;
    int rc = filter_json(c, f, &fj);
    if (rc || (rc = ensure_open(c)))
        return rc;
    return ls_fail(c, ls_delete_by_filter(NULL, c->local, collection, fj ? fj : ""), QDRANT_EINVAL);
}

static int ql_point_get(qdrant_point_list **out, qdrant_client *c, const char *collection,
                        const qdrant_point_id *ids, size_t n, int with_payload, int with_vector)
{
    int rc = ensure_open(c);
    if (rc)
        return rc;
    ls_id *lids = ids_to_ls(c, ids, n);
    if (!lids)
        return QDRANT_ENOMEM;
    ls_points *lp = NULL;
    rc = ls_fail(
        c, ls_get(&lp, c->local, collection, lids, n, with_payload ? 1 : 0, with_vector ? 1 : 0),
        QDRANT_EINVAL);
    free(lids);
    return rc ? rc : take_points(out, c, lp);
}

static int ql_point_scroll(qdrant_point_list **out, qdrant_client *c, const char *collection,
                           const qdrant_scroll_options *o)
{
    ls_scroll_params p;
    memset(&p, 0, sizeof p);
    ls_id off;
    if (o->offset) { /* checked by the front */
        off = to_ls(o->offset);
        p.offset = &off;
    }
    int rc = filter_json(c, o->filter, &p.filter_json);
    if (rc || (rc = ensure_open(c)))
        return rc;
    p.limit = o->limit ? o->limit : 10; /* the server's default */
    p.with_payload = o->with_payload ? 1 : 0;
    p.with_vector = o->with_vector ? 1 : 0;
    ls_points *lp = NULL;
    if ((rc = ls_fail(c, ls_scroll(&lp, c->local, collection, &p), QDRANT_EINVAL)))
        return rc;
    return take_points(out, c, lp);
}

static int ql_point_count(uint64_t *out, qdrant_client *c, const char *collection,
                          const qdrant_filter *f)
{
    const char *fj;
    uint64_t n = 0;
    int rc = filter_json(c, f, &fj);
    if (rc || (rc = ensure_open(c)))
        return rc;
    if ((rc = ls_fail(c, ls_count(&n, c->local, collection, fj), QDRANT_EINVAL)))
        return rc;
    *out = n;
    return QDRANT_OK;
}

static int ql_point_query(qdrant_point_list **out, qdrant_client *c, const char *collection,
                          const float *vector, size_t dim, const qdrant_query_options *o)
{
    size_t k = rc_first_nonfinite(vector, dim);
    if (k < dim)
        return qd_set_err(c, QDRANT_EINVAL, "query vector element %zu is NaN or infinite", k);
    if (o->use_score_threshold && !isfinite(o->score_threshold))
        return qd_set_err(c, QDRANT_EINVAL, "score_threshold is NaN or infinite");
    ls_query_params p;
    memset(&p, 0, sizeof p);
    int rc = filter_json(c, o->filter, &p.filter_json);
    if (rc || (rc = ensure_open(c)))
        return rc;
    p.limit = o->limit ? o->limit : 10;
    p.offset = o->offset;
    p.use_score_threshold = o->use_score_threshold ? 1 : 0;
    p.score_threshold = o->score_threshold;
    p.with_payload = o->with_payload ? 1 : 0;
    p.with_vector = o->with_vector ? 1 : 0;
    ls_points *lp = NULL;
    if ((rc = ls_fail(c, ls_query(&lp, c->local, collection, vector, dim, &p), QDRANT_EINVAL)))
        return rc;
    return take_points(out, c, lp);
}

static int ql_point_query_batch(qdrant_point_list **out, qdrant_client *c, const char *collection,
                                const float *vectors, size_t n, size_t dim,
                                const qdrant_query_options *opts)
{
    qdrant_query_options d = QDRANT_QUERY_OPTIONS_INIT;
    ls_query_params *p = calloc(n, sizeof *p);
    ls_points **lp = calloc(n, sizeof *lp);
    qdrant_point_list **tmp = calloc(n, sizeof *tmp);
    int rc = p && lp && tmp ? QDRANT_OK : qd_nomem(c);
    for (size_t i = 0; !rc && i < n; i++) {
        const qdrant_query_options *o = opts ? &opts[i] : &d;
        size_t k = rc_first_nonfinite(vectors + i * dim, dim);
        if (k < dim)
            rc = qd_set_err(c, QDRANT_EINVAL, "query %zu: vector element %zu is NaN or infinite", i,
                            k);
        if (!rc && o->use_score_threshold && !isfinite(o->score_threshold))
            rc = qd_set_err(c, QDRANT_EINVAL, "query %zu: score_threshold is NaN or infinite", i);
        if (!rc)
            rc = filter_json(c, o->filter, &p[i].filter_json);
        p[i].limit = o->limit ? o->limit : 10;
        p[i].offset = o->offset;
        p[i].use_score_threshold = o->use_score_threshold ? 1 : 0;
        p[i].score_threshold = o->score_threshold;
        p[i].with_payload = o->with_payload ? 1 : 0;
        p[i].with_vector = o->with_vector ? 1 : 0;
    }
    if (!rc)
        rc = ensure_open(c);
    if (!rc)
        rc =
            ls_fail(c, ls_query_batch(lp, c->local, collection, vectors, n, dim, p), QDRANT_EINVAL);
    size_t made = 0;
    while (!rc && made < n) {
        rc = take_points(&tmp[made], c, lp[made]);
        lp[made++] = NULL;
    }
    if (!rc) {
        memcpy(out, tmp, n * sizeof *tmp);
    } else {
        for (size_t i = 0; tmp && i < made; i++)
            qdrant_point_list_free(tmp[i]);
        for (size_t i = 0; lp && i < n; i++)
            ls_points_free(lp[i]);
    }
    free(p);
    free(lp);
    free(tmp);
    return rc;
}

/* ---- upload ---- */

/* The batches one after the other in the calling thread, each one transaction, no retries
 * (nothing is transient but a lock held past the busy timeout). */
static int ql_upload_run(qd_upload *u)
{
    int nomem = 0;
    for (size_t i = 0; i < u->nb; i++) {
        qd_batch *x = u->b[i];
        if (u->stopped) {
            qd_upload_settle_stopped(u, x);
            continue;
        }
        int rc =
            upsert(u->c, u->collection, x->count, u->ids + x->start, u->vectors + x->start * u->dim,
                   u->dim, u->payloads ? u->payloads + x->start : NULL, 1,
                   u->canon ? u->canon + x->start : NULL);
        if (rc == QDRANT_ENOMEM)
            nomem = 1;
        qd_upload_settle(u, x, rc ? QD_BATCH_FAILED : QD_BATCH_DONE, rc, rc ? u->c->errmsg : NULL);
    }
    return nomem ? QDRANT_ENOMEM : QDRANT_OK;
}

const qd_backend_ops qd_local_backend = {
    .is_local = 1,
    .parse_url = ql_parse_url,
    .open = ql_open,
    .close = ql_close,
    .connections = ql_connections,
    .health = ql_health,
    .ready = ql_ready,
    .server_info = ql_server_info,
    .collection_create = ql_collection_create,
    .collection_delete = ql_collection_delete,
    .collection_exists = ql_collection_exists,
    .collection_info = ql_collection_info,
    .collection_metadata_update = ql_collection_metadata_update,
    .collection_list = ql_collection_list,
    .payload_index_create = ql_payload_index_create,
    .alias_create = ql_alias_create,
    .alias_delete = ql_alias_delete,
    .alias_rename = ql_alias_rename,
    .alias_switch = ql_alias_switch,
    .alias_list = ql_alias_list,
    .point_upsert = ql_point_upsert,
    .point_delete = ql_point_delete,
    .point_delete_by_filter = ql_point_delete_by_filter,
    .point_get = ql_point_get,
    .point_scroll = ql_point_scroll,
    .point_count = ql_point_count,
    .point_query = ql_point_query,
    .point_query_batch = ql_point_query_batch,
    .upload_batch_size = sizeof(qd_batch),
    .payload_canonical = ls_json_canonical_object,
    .upload_run = ql_upload_run,
};
