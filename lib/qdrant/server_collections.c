/* libqdrantc's server backend: collections, payload indexes and aliases over HTTP. */
#include "server.h"

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

static const char *const distance_names[] = {NULL, "Cosine", "Dot", "Euclid", "Manhattan"};

int qs_collection_create(qdrant_client *c, const char *name, size_t dim, qdrant_distance distance,
                         const qdrant_collection_options *o, const char *md)
{
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
        e |= qd_put_json_object(b, md) ? -1 : 0; /* checked by the front: only ENOMEM here */
    }
    e |= rc_buf_putc(b, '}');
    const char *url = qd_url(c, NULL, "/collections/", name, NULL, NULL);
    if (e || !url)
        return qd_nomem(c);
    json_object *root, *res;
    /* Not idempotent: a resent create that had arrived would answer 409. */
    int rc = qd_call_result(c, "PUT", url, b->data, b->len, QD_NOT_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    json_object_put(root);
    return QDRANT_OK;
}

int qs_collection_delete(int *out, qdrant_client *c, const char *name)
{
    int rc;
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

int qs_collection_exists(int *out, qdrant_client *c, const char *name)
{
    int rc;
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

static qdrant_distance distance_from(const char *s)
{
    for (int i = 1; s && i <= 4; i++)
        if (strcmp(s, distance_names[i]) == 0)
            return (qdrant_distance)i;
    return QDRANT_DISTANCE_UNKNOWN;
}

int qs_collection_info(qdrant_collection_info **out, qdrant_client *c, const char *name)
{
    int rc;
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

int qs_collection_metadata_update(qdrant_client *c, const char *name, const char *metadata_json)
{
    int rc;
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

int qs_collection_list(qdrant_name_list **out, qdrant_client *c)
{
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

int qs_payload_index_create(qdrant_client *c, const char *collection, const char *field,
                            qdrant_field_type type, const qdrant_write_options *w)
{
    static const char *const types[] = {NULL,  "keyword", "integer",  "float", "bool",
                                        "geo", "text",    "datetime", "uuid"};
    int rc;
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

int qs_alias_create(qdrant_client *c, const char *alias, const char *collection)
{
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    e |= put_action(&c->body, "create_alias", "collection_name", collection, "alias_name", alias);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
}

int qs_alias_delete(qdrant_client *c, const char *alias)
{
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    e |= put_action(&c->body, "delete_alias", "alias_name", alias, NULL, NULL);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
}

int qs_alias_rename(qdrant_client *c, const char *old_alias, const char *new_alias)
{
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"actions\":[");
    e |= put_action(&c->body, "rename_alias", "old_alias_name", old_alias, "new_alias_name",
                    new_alias);
    e |= rc_buf_puts(&c->body, "]}");
    return e ? qd_nomem(c) : alias_call(c);
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

int qs_alias_list(qdrant_alias_list **out, qdrant_client *c, const char *collection)
{
    if (!collection)
        return alias_list_get(out, c, qd_url(c, NULL, "/aliases", NULL, NULL));
    return alias_list_get(out, c,
                          qd_url(c, NULL, "/collections/", collection, "/aliases", NULL, NULL));
}

int qs_alias_switch(qdrant_client *c, const char *alias, const char *collection)
{
    int rc;
    qdrant_alias_list *l = NULL;
    if ((rc = qs_alias_list(&l, c, NULL)))
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
