/* libqdrantc: collections, payload indexes and aliases. */
#include "internal.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int prologue(qdrant_client *c, const char *what, const char *name)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return qd_check_name(c, what, name);
}

static const char *const distance_names[] = {NULL, "Cosine", "Dot", "Euclid", "Manhattan"};

/* A version-1 struct ends after indexing_threshold. */
#define COLL_OPTS_V1_SIZE                                                                          \
    (offsetof(qdrant_collection_options, indexing_threshold) + sizeof(long long))

QDRANT_API int qdrant_collection_options_init(qdrant_collection_options *o, unsigned int version)
{
    if (!o || version < 1 || version > QDRANT_COLLECTION_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_collection_options d = QDRANT_COLLECTION_OPTIONS_INIT;
    d.version = version;
    memcpy(o, &d, version == 1 ? COLL_OPTS_V1_SIZE : sizeof d);
    return QDRANT_OK;
}

/* Checks a metadata argument: one JSON object. */
static int check_metadata(qdrant_client *c, const char *what, const char *md)
{
    if (!md || !qd_json_valid(md, strlen(md), 1))
        return qd_set_err(c, QDRANT_EINVAL, "%s is not a JSON object", what);
    return QDRANT_OK;
}

QDRANT_API int qdrant_collection_create(qdrant_client *c, const char *name, size_t dim,
                                        qdrant_distance distance,
                                        const qdrant_collection_options *o)
{
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    qdrant_collection_options d = QDRANT_COLLECTION_OPTIONS_INIT;
    if (!o)
        o = &d;
    if (o->version < 1 || o->version > QDRANT_COLLECTION_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown collection options version %u", o->version);
    /* a version-1 struct has no metadata field: it is not read */
    const char *md = o->version >= 2 ? o->metadata : NULL;
    if (dim == 0)
        return qd_set_err(c, QDRANT_EINVAL, "vector size must be > 0");
    if (distance < QDRANT_DISTANCE_COSINE || distance > QDRANT_DISTANCE_MANHATTAN)
        return qd_set_err(c, QDRANT_EINVAL, "unknown distance %d", (int)distance);
    if (o->on_disk < QDRANT_UNSET || o->on_disk > 1)
        return qd_set_err(c, QDRANT_EINVAL, "on_disk must be 0, 1 or QDRANT_UNSET");
    if (o->hnsw_m < QDRANT_UNSET)
        return qd_set_err(c, QDRANT_EINVAL, "hnsw_m must be >= 0 or QDRANT_UNSET");
    if (o->hnsw_ef_construct != QDRANT_UNSET && o->hnsw_ef_construct < 4)
        return qd_set_err(c, QDRANT_EINVAL, "hnsw_ef_construct must be >= 4 or QDRANT_UNSET");
    if (o->indexing_threshold < QDRANT_UNSET)
        return qd_set_err(c, QDRANT_EINVAL, "indexing_threshold must be >= 0 or QDRANT_UNSET");
    if (md && (rc = check_metadata(c, "metadata", md)))
        return rc;
    if (c->local_dir) /* the knobs above are checked, then ignored */
        return ql_collection_create(c, name, dim, distance, md);
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    int e = rc_buf_printf(b, "{\"vectors\":{\"size\":%zu,\"distance\":\"%s\"", dim,
                          distance_names[distance]);
    if (o->on_disk != QDRANT_UNSET)
        e |= rc_buf_printf(b, ",\"on_disk\":%s", o->on_disk ? "true" : "false");
    e |= rc_buf_putc(b, '}');
    if (o->hnsw_m != QDRANT_UNSET || o->hnsw_ef_construct != QDRANT_UNSET) {
        e |= rc_buf_puts(b, ",\"hnsw_config\":{");
        if (o->hnsw_m != QDRANT_UNSET)
            e |= rc_buf_printf(b, "\"m\":%ld", o->hnsw_m);
        if (o->hnsw_ef_construct != QDRANT_UNSET)
            e |= rc_buf_printf(b, "%s\"ef_construct\":%ld", o->hnsw_m != QDRANT_UNSET ? "," : "",
                               o->hnsw_ef_construct);
        e |= rc_buf_putc(b, '}');
    }
    if (o->indexing_threshold != QDRANT_UNSET)
        e |= rc_buf_printf(b, ",\"optimizers_config\":{\"indexing_threshold\":%lld}",
                           o->indexing_threshold);
    if (md) {
        e |= rc_buf_puts(b, ",\"metadata\":");
        e |= qd_put_json_object(b, md) ? -1 : 0; /* checked above: only ENOMEM here */
    }
    e |= rc_buf_putc(b, '}');
    const char *url = qd_url(c, NULL, "/collections/", name, NULL, NULL);
    if (e || !url)
        return qd_nomem(c);
    json_object *root, *res;
    /* Not idempotent: a resent create that had arrived would answer 409. */
    rc = qd_call_result(c, "PUT", url, b->data, b->len, QD_NOT_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    json_object_put(root);
    return QDRANT_OK;
}

QDRANT_API int qdrant_collection_delete(int *out, qdrant_client *c, const char *name)
{
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    if (c->local_dir)
        return ql_collection_delete(out, c, name);
    const char *url = qd_url(c, NULL, "/collections/", name, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res;
    rc = qd_call_result(c, "DELETE", url, NULL, 0, QD_NOT_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    if (!json_object_is_type(res, json_type_boolean)) {
        json_object_put(root);
        return qd_set_err(c, QDRANT_EPROTOCOL, "delete reply is not a boolean");
    }
    if (out)
        *out = json_object_get_boolean(res) ? 1 : 0;
    json_object_put(root);
    return QDRANT_OK;
}

QDRANT_API int qdrant_collection_exists(int *out, qdrant_client *c, const char *name)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    if (c->local_dir)
        return ql_collection_exists(out, c, name);
    const char *url = qd_url(c, NULL, "/collections/", name, "/exists", NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res, *ex;
    rc = qd_call_result(c, "GET", url, NULL, 0, QD_IDEMPOTENT, &root, &res);
    if (rc == QDRANT_ENOTFOUND && qd_route_missing(c)) {
        /* Before 1.8: no /exists route; ask for the collection itself. */
        url = qd_url(c, NULL, "/collections/", name, NULL, NULL);
        if (!url)
            return qd_nomem(c);
        rc = qd_call(c, "GET", url, NULL, 0, QD_IDEMPOTENT);
        if (rc == QDRANT_OK || rc == QDRANT_ENOTFOUND) {
            *out = rc == QDRANT_OK;
            qd_reset_err(c);
            return QDRANT_OK;
        }
        return rc;
    }
    if (rc)
        return rc;
    if (!json_object_object_get_ex(res, "exists", &ex) ||
        !json_object_is_type(ex, json_type_boolean)) {
        json_object_put(root);
        return qd_set_err(c, QDRANT_EPROTOCOL, "exists reply has no boolean \"exists\"");
    }
    *out = json_object_get_boolean(ex) ? 1 : 0;
    json_object_put(root);
    return QDRANT_OK;
}

/* ---- collection info ---- */

static qdrant_distance distance_from(const char *s)
{
    for (int i = 1; s && i <= 4; i++)
        if (strcmp(s, distance_names[i]) == 0)
            return (qdrant_distance)i;
    return QDRANT_DISTANCE_UNKNOWN;
}

QDRANT_API int qdrant_collection_info_get(qdrant_collection_info **out, qdrant_client *c,
                                          const char *name)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    if (c->local_dir)
        return ql_collection_info(out, c, name);
    const char *url = qd_url(c, NULL, "/collections/", name, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res, *v, *cfg, *params, *vec;
    if ((rc = qd_call_result(c, "GET", url, NULL, 0, QD_IDEMPOTENT, &root, &res)))
        return rc;
    if (!json_object_is_type(res, json_type_object)) {
        json_object_put(root);
        return qd_set_err(c, QDRANT_EPROTOCOL, "collection info is not an object");
    }
    qdrant_collection_info *info = calloc(1, sizeof *info);
    if (!info) {
        json_object_put(root);
        return qd_nomem(c);
    }
    static const char *const st[] = {"", "green", "yellow", "grey", "red"};
    const char *s = jstr(res, "status");
    for (int i = 1; s && i <= 4; i++)
        if (strcmp(s, st[i]) == 0)
            info->status = (qdrant_collection_status)i;
    info->points = -1;
    if (json_object_object_get_ex(res, "points_count", &v) && json_object_is_type(v, json_type_int))
        info->points = json_object_get_int64(v);
    if (json_object_object_get_ex(res, "config", &cfg) &&
        json_object_object_get_ex(cfg, "params", &params) &&
        json_object_object_get_ex(params, "vectors", &vec) &&
        json_object_object_get_ex(vec, "size", &v) && json_object_is_type(v, json_type_int) &&
        json_object_get_int64(v) > 0) {
        info->size = (size_t)json_object_get_int64(v);
        info->distance = distance_from(jstr(vec, "distance"));
    }
    /* config.metadata: left out by the server when the collection has none (Qdrant's
     * CollectionConfig skips a None); null is taken the same way */
    json_object *md = NULL;
    if (json_object_object_get_ex(res, "config", &cfg) &&
        json_object_object_get_ex(cfg, "metadata", &md) && md &&
        !json_object_is_type(md, json_type_object)) {
        json_object_put(root);
        qdrant_collection_info_free(info);
        return qd_set_err(c, QDRANT_EPROTOCOL, "collection metadata is not an object");
    }
    const int fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
    info->json = rc_strdup(json_object_to_json_string_ext(res, fl));
    if (md)
        info->metadata = rc_strdup(json_object_to_json_string_ext(md, fl));
    json_object_put(root);
    if (!info->json || (md && !info->metadata)) {
        qdrant_collection_info_free(info);
        return qd_nomem(c);
    }
    *out = info;
    return QDRANT_OK;
}

QDRANT_API qdrant_collection_status
qdrant_collection_info_status(const qdrant_collection_info *info)
{
    return info ? info->status : QDRANT_STATUS_UNKNOWN;
}
QDRANT_API int64_t qdrant_collection_info_points_count(const qdrant_collection_info *info)
{
    return info ? info->points : -1;
}
QDRANT_API size_t qdrant_collection_info_vector_size(const qdrant_collection_info *info)
{
    return info ? info->size : 0;
}
QDRANT_API qdrant_distance qdrant_collection_info_distance(const qdrant_collection_info *info)
{
    return info ? info->distance : QDRANT_DISTANCE_UNKNOWN;
}
QDRANT_API const char *qdrant_collection_info_json(const qdrant_collection_info *info)
{
    return info ? info->json : "";
}
QDRANT_API const char *qdrant_collection_info_metadata(const qdrant_collection_info *info)
{
    return info ? info->metadata : NULL;
}
QDRANT_API void qdrant_collection_info_free(qdrant_collection_info *info)
{
    if (!info)
        return;
    free(info->json);
    free(info->metadata);
    free(info);
}

QDRANT_API int qdrant_collection_metadata_update(qdrant_client *c, const char *name,
                                                 const char *metadata_json)
{
    int rc = prologue(c, "collection name", name);
    if (rc || (rc = check_metadata(c, "metadata", metadata_json)))
        return rc;
    if (c->local_dir)
        return ql_collection_metadata_update(c, name, metadata_json);
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    int e = rc_buf_puts(b, "{\"metadata\":");
    e |= qd_put_json_object(b, metadata_json) ? -1 : 0;
    e |= rc_buf_putc(b, '}');
    const char *url = e ? NULL : qd_url(c, NULL, "/collections/", name, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res;
    /* Not idempotent: on a collection without metadata the first PATCH stores its null keys,
     * a resent one would remove them. */
    rc = qd_call_result(c, "PATCH", url, b->data, b->len, QD_NOT_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    json_object_put(root);
    return QDRANT_OK;
}

/* ---- name lists ---- */

/* GETs url and finds the array at result.<key>; *root (to put) holds it. */
static int get_array(qdrant_client *c, const char *url, const char *key, json_object **root,
                     json_object **arr)
{
    if (!url)
        return qd_nomem(c);
    json_object *res;
    int rc = qd_call_result(c, "GET", url, NULL, 0, QD_IDEMPOTENT, root, &res);
    if (rc)
        return rc;
    if (!json_object_object_get_ex(res, key, arr) || !json_object_is_type(*arr, json_type_array)) {
        json_object_put(*root);
        return qd_set_err(c, QDRANT_EPROTOCOL, "%s reply has no \"%s\" array", key, key);
    }
    return QDRANT_OK;
}

QDRANT_API int qdrant_collections_list(qdrant_name_list **out, qdrant_client *c)
{
    if (!out || !c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    if (c->local_dir)
        return ql_collections_list(out, c);
    json_object *root, *arr;
    int rc = get_array(c, qd_url(c, NULL, "/collections", NULL, NULL), "collections", &root, &arr);
    if (rc)
        return rc;
    size_t n = json_object_array_length(arr);
    qdrant_name_list *l = calloc(1, sizeof *l);
    if (!l) {
        json_object_put(root);
        return qd_nomem(c);
    }
    for (size_t i = 0; i < n; i++) {
        const char *name = jstr(json_object_array_get_idx(arr, i), "name");
        if (!name) {
            rc = qd_set_err(c, QDRANT_EPROTOCOL, "collection entry has no name");
            break;
        }
        if (rc_strlist_push(&l->names, name) < 0) {
            rc = qd_nomem(c);
            break;
        }
    }
    json_object_put(root);
    if (rc) {
        qdrant_name_list_free(l);
        return rc;
    }
    *out = l;
    return QDRANT_OK;
}

QDRANT_API size_t qdrant_name_list_count(const qdrant_name_list *l)
{
    return l ? l->names.n : 0;
}
QDRANT_API const char *qdrant_name_list_at(const qdrant_name_list *l, size_t i)
{
    return l ? rc_strlist_at(&l->names, i) : NULL;
}
QDRANT_API int qdrant_name_list_contains(const qdrant_name_list *l, const char *name)
{
    return l && rc_strlist_contains(&l->names, name);
}
QDRANT_API void qdrant_name_list_free(qdrant_name_list *l)
{
    if (!l)
        return;
    rc_strlist_free(&l->names);
    free(l);
}

/* ---- payload index ---- */

QDRANT_API int qdrant_write_options_init(qdrant_write_options *o, unsigned int version)
{
    if (!o || version != QDRANT_WRITE_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_write_options d = QDRANT_WRITE_OPTIONS_INIT;
    *o = d;
    return QDRANT_OK;
}

QDRANT_API int qdrant_payload_index_create(qdrant_client *c, const char *collection,
                                           const char *field, qdrant_field_type type,
                                           const qdrant_write_options *w)
{
    static const char *const types[] = {NULL,  "keyword", "integer",  "float", "bool",
                                        "geo", "text",    "datetime", "uuid"};
    int rc = prologue(c, "collection name", collection);
    if (rc || (rc = qd_check_write_options(c, w)))
        return rc;
    if (!field || !*field || !rc_utf8_valid(field, strlen(field)))
        return qd_set_err(c, QDRANT_EINVAL, "field name is required (UTF-8)");
    if (type < QDRANT_FIELD_KEYWORD || type > QDRANT_FIELD_UUID)
        return qd_set_err(c, QDRANT_EINVAL, "unknown field type %d", (int)type);
    if (c->local_dir) /* a no-op: indexes only make a server faster */
        return ql_payload_index_create(c, collection);
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    int e = rc_buf_puts(b, "{\"field_name\":");
    e |= rc_buf_json_str(b, field, strlen(field)) ? -1 : 0;
    e |= rc_buf_printf(b, ",\"field_schema\":\"%s\"}", types[type]);
    rc_buf q = RC_BUF_INIT;
    e |= qd_write_query(&q, w);
    const char *url =
        e ? NULL : qd_url(c, q.data, "/collections/", collection, "/index", NULL, NULL);
    rc_buf_free(&q);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res;
    if ((rc = qd_call_result(c, "PUT", url, b->data, b->len, QD_IDEMPOTENT, &root, &res)))
        return rc;
    rc = qd_check_update_result(c, res);
    json_object_put(root);
    return rc;
}

/* ---- aliases ---- */

static int put_action(rc_buf *b, const char *kind, const char *k1, const char *v1, const char *k2,
                      const char *v2)
{
    int e = rc_buf_printf(b, "{\"%s\":{\"%s\":", kind, k1);
    e |= rc_buf_json_str(b, v1, strlen(v1)) ? -1 : 0;
    if (k2) {
        e |= rc_buf_printf(b, ",\"%s\":", k2);
        e |= rc_buf_json_str(b, v2, strlen(v2)) ? -1 : 0;
    }
    e |= rc_buf_puts(b, "}}");
    return e;
}

/* Sends c->body (an {"actions":[...]} object) to POST /collections/aliases. */
static int alias_call(qdrant_client *c)
{
    const char *url = qd_url(c, NULL, "/collections/aliases", NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res;
    /* Not idempotent: a resent create_alias that had arrived would fail. */
    int rc =
        qd_call_result(c, "POST", url, c->body.data, c->body.len, QD_NOT_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    json_object_put(root);
    return QDRANT_OK;
}

QDRANT_API int qdrant_alias_create(qdrant_client *c, const char *alias, const char *collection)
{
    int rc = prologue(c, "alias", alias);
    if (rc || (rc = qd_check_name(c, "collection name", collection)))
        return rc;
    if (c->local_dir)
        return ql_alias_update(c, QL_ALIAS_CREATE, alias, collection);
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    e |= put_action(&c->body, "create_alias", "collection_name", collection, "alias_name", alias);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
}

QDRANT_API int qdrant_alias_delete(qdrant_client *c, const char *alias)
{
    int rc = prologue(c, "alias", alias);
    if (rc)
        return rc;
    if (c->local_dir)
        return ql_alias_update(c, QL_ALIAS_DELETE, alias, NULL);
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    e |= put_action(&c->body, "delete_alias", "alias_name", alias, NULL, NULL);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
}

QDRANT_API int qdrant_alias_rename(qdrant_client *c, const char *old_alias, const char *new_alias)
{
    int rc = prologue(c, "old alias", old_alias);
    if (rc || (rc = qd_check_name(c, "new alias", new_alias)))
        return rc;
    if (c->local_dir)
        return ql_alias_update(c, QL_ALIAS_RENAME, old_alias, new_alias);
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    e |= put_action(&c->body, "rename_alias", "old_alias_name", old_alias, "new_alias_name",
                    new_alias);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
}

QDRANT_API size_t qdrant_alias_list_count(const qdrant_alias_list *l)
{
    return l ? l->n : 0;
}
QDRANT_API const char *qdrant_alias_list_alias(const qdrant_alias_list *l, size_t i)
{
    return l && i < l->n ? l->alias[i] : NULL;
}
QDRANT_API const char *qdrant_alias_list_collection(const qdrant_alias_list *l, size_t i)
{
    return l && i < l->n ? l->coll[i] : NULL;
}
QDRANT_API const char *qdrant_alias_list_find(const qdrant_alias_list *l, const char *alias)
{
    if (!l || !alias)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->alias[i], alias) == 0)
            return l->coll[i];
    return NULL;
}
QDRANT_API void qdrant_alias_list_free(qdrant_alias_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->alias[i]);
        free(l->coll[i]);
    }
    free(l->alias);
    free(l->coll);
    free(l);
}

static int alias_list_get(qdrant_alias_list **out, qdrant_client *c, const char *url)
{
    json_object *root, *arr;
    int rc = get_array(c, url, "aliases", &root, &arr);
    if (rc)
        return rc;
    size_t n = json_object_array_length(arr);
    qdrant_alias_list *l = calloc(1, sizeof *l);
    if (l && n) {
        l->alias = calloc(n, sizeof *l->alias);
        l->coll = calloc(n, sizeof *l->coll);
    }
    if (!l || (n && (!l->alias || !l->coll))) {
        qdrant_alias_list_free(l);
        json_object_put(root);
        return qd_nomem(c);
    }
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        const char *a = jstr(e, "alias_name"), *cn = jstr(e, "collection_name");
        if (!a || !cn) {
            rc = qd_set_err(c, QDRANT_EPROTOCOL, "alias entry lacks alias_name/collection_name");
            break;
        }
        l->alias[l->n] = rc_strdup(a);
        l->coll[l->n] = rc_strdup(cn);
        l->n++;
        if (!l->alias[l->n - 1] || !l->coll[l->n - 1]) {
            rc = qd_nomem(c);
            break;
        }
    }
    json_object_put(root);
    if (rc) {
        qdrant_alias_list_free(l);
        return rc;
    }
    *out = l;
    return QDRANT_OK;
}

QDRANT_API int qdrant_aliases_list(qdrant_alias_list **out, qdrant_client *c)
{
    if (!out || !c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    if (c->local_dir)
        return ql_aliases_list(out, c, NULL);
    return alias_list_get(out, c, qd_url(c, NULL, "/aliases", NULL, NULL));
}

QDRANT_API int qdrant_collection_aliases_list(qdrant_alias_list **out, qdrant_client *c,
                                              const char *collection)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, "collection name", collection);
    if (rc)
        return rc;
    if (c->local_dir)
        return ql_aliases_list(out, c, collection);
    return alias_list_get(out, c,
                          qd_url(c, NULL, "/collections/", collection, "/aliases", NULL, NULL));
}

QDRANT_API int qdrant_alias_switch(qdrant_client *c, const char *alias, const char *collection)
{
    int rc = prologue(c, "alias", alias);
    if (rc || (rc = qd_check_name(c, "collection name", collection)))
        return rc;
    if (c->local_dir) /* one transaction: all or nothing */
        return ql_alias_update(c, QL_ALIAS_SWITCH, alias, collection);
    qdrant_alias_list *l = NULL;
    if ((rc = qdrant_aliases_list(&l, c)))
        return rc;
    int exists = qdrant_alias_list_find(l, alias) != NULL;
    qdrant_alias_list_free(l);
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    if (exists) {
        e |= put_action(&c->body, "delete_alias", "alias_name", alias, NULL, NULL);
        e |= rc_buf_putc(&c->body, ',');
    }
    e |= put_action(&c->body, "create_alias", "collection_name", collection, "alias_name", alias);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
}
