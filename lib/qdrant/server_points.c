/* libqdrantc's server backend: points over HTTP (upsert, get, scroll, count, query, delete), their
 * request bodies and the decoding of the points in replies. */
#include "server.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int errf(char *err, size_t cap, int code, const char *what)
{
    snprintf(err, cap, "%s", what);
    return code;
}

static int decode_point(qd_point *p, json_object *o, char *err, size_t cap)
{
    json_object *v;
    if (!json_object_is_type(o, json_type_object))
        return errf(err, cap, QDRANT_EPROTOCOL, "point is not an object");
    if (!json_object_object_get_ex(o, "id", &v) || qd_decode_id(&p->id, v) != QDRANT_OK)
        return errf(err, cap, QDRANT_EPROTOCOL, "point has no valid id");
    if (json_object_object_get_ex(o, "score", &v)) {
        if (!json_object_is_type(v, json_type_double) && !json_object_is_type(v, json_type_int))
            return errf(err, cap, QDRANT_EPROTOCOL, "point score is not a number");
        p->score = (float)json_object_get_double(v);
    }
    if (json_object_object_get_ex(o, "payload", &v) && !json_object_is_type(v, json_type_null)) {
        if (!json_object_is_type(v, json_type_object))
            return errf(err, cap, QDRANT_EPROTOCOL, "point payload is not an object");
        const char *t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t n = t ? strlen(t) : 0;
        p->payload = t ? malloc(n + 1) : NULL;
        if (!p->payload)
            return errf(err, cap, QDRANT_ENOMEM, "out of memory");
        memcpy(p->payload, t, n + 1);
    }
    /* Only the unnamed dense vector (an array) is exposed; named vectors come as an object. */
    if (json_object_object_get_ex(o, "vector", &v) && json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        p->vector = malloc((n ? n : 1) * sizeof *p->vector);
        if (!p->vector)
            return errf(err, cap, QDRANT_ENOMEM, "out of memory");
        p->dim = n;
        for (size_t i = 0; i < n; i++) {
            json_object *x = json_object_array_get_idx(v, i);
            if (!json_object_is_type(x, json_type_double) && !json_object_is_type(x, json_type_int))
                return errf(err, cap, QDRANT_EPROTOCOL, "vector element is not a number");
            p->vector[i] = (float)json_object_get_double(x);
        }
    }
    return QDRANT_OK;
}

int qd_decode_points(qdrant_point_list **out, json_object *points, json_object *next, char *err,
                     size_t cap)
{
    if (!json_object_is_type(points, json_type_array))
        return errf(err, cap, QDRANT_EPROTOCOL, "points is not an array");
    qdrant_point_list *l = calloc(1, sizeof *l);
    if (!l)
        return errf(err, cap, QDRANT_ENOMEM, "out of memory");
    size_t n = json_object_array_length(points);
    if (n && !(l->pts = calloc(n, sizeof *l->pts))) {
        free(l);
        return errf(err, cap, QDRANT_ENOMEM, "out of memory");
    }
    int rc = QDRANT_OK;
    for (size_t i = 0; i < n && rc == QDRANT_OK; i++) {
        l->n = i + 1; /* the slot is freed with the list even when half-filled */
        rc = decode_point(&l->pts[i], json_object_array_get_idx(points, i), err, cap);
    }
    if (rc == QDRANT_OK && next && !json_object_is_type(next, json_type_null)) {
        if (qd_decode_id(&l->next, next) != QDRANT_OK)
            rc = errf(err, cap, QDRANT_EPROTOCOL, "next_page_offset is not a point id");
        else
            l->has_next = 1;
    }
    if (rc) {
        qdrant_point_list_free(l);
        return rc;
    }
    *out = l;
    return QDRANT_OK;
}

/* ---- request bodies ---- */

int qd_upsert_body(rc_buf *b, size_t n, const qdrant_point_id *ids, const float *vectors,
                   size_t dim, const char *const *payloads, char *err, size_t cap)
{
    rc_buf_reset(b);
    if (rc_buf_puts(b, "{\"points\":["))
        return errf(err, cap, QDRANT_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        int e = rc_buf_puts(b, i ? ",{\"id\":" : "{\"id\":");
        int r = qd_put_id(b, &ids[i]);
        if (r == -2) {
            snprintf(err, cap, "point %zu: invalid id (kind %d)", i, ids[i].kind);
            return QDRANT_EINVAL;
        }
        e |= r;
        e |= rc_buf_puts(b, ",\"vector\":");
        size_t bad = 0;
        r = qd_put_vector(b, vectors + i * dim, dim, &bad);
        if (r == -2) {
            snprintf(err, cap, "point %zu: vector element %zu is NaN or infinite", i, bad);
            return QDRANT_EINVAL;
        }
        e |= r;
        if (payloads && payloads[i]) {
            e |= rc_buf_puts(b, ",\"payload\":");
            r = e ? QDRANT_ENOMEM : qd_put_json_object(b, payloads[i]);
            if (r == QDRANT_EINVAL) {
                snprintf(err, cap, "point %zu: payload is not a JSON object", i);
                return QDRANT_EINVAL;
            }
            e |= r;
        }
        e |= rc_buf_putc(b, '}');
        if (e)
            return errf(err, cap, QDRANT_ENOMEM, "out of memory");
    }
    if (rc_buf_puts(b, "]}"))
        return errf(err, cap, QDRANT_ENOMEM, "out of memory");
    return QDRANT_OK;
}

/* ---- calls ---- */

/* Runs a write (body in c->body) against /collections/{name}<path>?wait=...; checks the
 * UpdateResult. */
static int write_call(qdrant_client *c, const char *method, const char *collection,
                      const char *path, const qdrant_write_options *w)
{
    rc_buf q = RC_BUF_INIT;
    if (qd_write_query(&q, w)) {
        rc_buf_free(&q);
        return qd_nomem(c);
    }
    const char *url = qd_url(c, q.data, "/collections/", collection, path, NULL, NULL);
    rc_buf_free(&q);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res;
    int rc = qd_call_result(c, method, url, c->body.data, c->body.len, QD_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    rc = qd_check_update_result(c, res);
    json_object_put(root);
    return rc;
}

int qs_point_upsert(qdrant_client *c, const char *collection, size_t n, const qdrant_point_id *ids,
                    const float *vectors, size_t dim, const char *const *payloads,
                    const qdrant_write_options *w)
{
    int rc = qd_upsert_body(&c->body, n, ids, vectors, dim, payloads, c->errmsg, sizeof c->errmsg);
    if (rc)
        return rc;
    return write_call(c, "PUT", collection, "/points", w);
}

static int put_ids(rc_buf *b, const qdrant_point_id *ids, size_t n)
{
    int e = rc_buf_putc(b, '[');
    for (size_t i = 0; i < n && !e; i++) {
        if (i)
            e |= rc_buf_putc(b, ',');
        int r = qd_put_id(b, &ids[i]);
        if (r == -2)
            return -2;
        e |= r;
    }
    e |= rc_buf_putc(b, ']');
    return e;
}

/* head + the ids (n > 0, checked by the front) into c->body. */
static int ids_body(qdrant_client *c, const char *head, const qdrant_point_id *ids, size_t n)
{
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, head);
    int r = e ? -1 : put_ids(&c->body, ids, n);
    if (r == -2)
        return qd_set_err(c, QDRANT_EINVAL, "invalid point id");
    return r ? qd_nomem(c) : QDRANT_OK;
}

int qs_point_delete(qdrant_client *c, const char *collection, const qdrant_point_id *ids, size_t n,
                    const qdrant_write_options *w)
{
    int rc = ids_body(c, "{\"points\":", ids, n);
    if (rc)
        return rc;
    if (rc_buf_putc(&c->body, '}'))
        return qd_nomem(c);
    return write_call(c, "POST", collection, "/points/delete", w);
}

static int put_filter(qdrant_client *c, rc_buf *b, const char *sep, const qdrant_filter *f)
{
    const char *fj = qd_filter_render(f);
    if (!fj)
        return qd_set_err(c, QDRANT_EINVAL, "invalid filter");
    if (rc_buf_printf(b, "%s\"filter\":", sep) || rc_buf_puts(b, fj))
        return qd_nomem(c);
    return QDRANT_OK;
}

int qs_point_delete_by_filter(qdrant_client *c, const char *collection, const qdrant_filter *filter,
                              const qdrant_write_options *w)
{
    int rc;
    rc_buf_reset(&c->body);
    if ((rc = put_filter(c, &c->body, "{", filter)))
        return rc;
    if (rc_buf_putc(&c->body, '}'))
        return qd_nomem(c);
    return write_call(c, "POST", collection, "/points/delete", w);
}

/* POSTs c->body to /collections/{name}<path> and decodes the points found at the result (or
 * at result.<key> when key is non-NULL), with result.next_page_offset when paged. */
static int read_points(qdrant_point_list **out, qdrant_client *c, const char *collection,
                       const char *path, const char *key, int paged)
{
    const char *url = qd_url(c, NULL, "/collections/", collection, path, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res, *pts = NULL, *next = NULL;
    int rc = qd_call_result(c, "POST", url, c->body.data, c->body.len, QD_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    if (key)
        json_object_object_get_ex(res, key, &pts);
    else
        pts = res;
    if (paged)
        json_object_object_get_ex(res, "next_page_offset", &next);
    rc = qd_decode_points(out, pts, next, c->errmsg, sizeof c->errmsg);
    json_object_put(root);
    return rc;
}

int qs_point_get(qdrant_point_list **out, qdrant_client *c, const char *collection,
                 const qdrant_point_id *ids, size_t n, int with_payload, int with_vector)
{
    int rc = ids_body(c, "{\"ids\":", ids, n);
    if (rc)
        return rc;
    if (rc_buf_printf(&c->body, ",\"with_payload\":%s,\"with_vector\":%s}",
                      with_payload ? "true" : "false", with_vector ? "true" : "false"))
        return qd_nomem(c);
    return read_points(out, c, collection, "/points", NULL, 0);
}

int qs_point_scroll(qdrant_point_list **out, qdrant_client *c, const char *collection,
                    const qdrant_scroll_options *o)
{
    int rc;
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    int e = rc_buf_putc(b, '{');
    if (o->limit)
        e |= rc_buf_printf(b, "\"limit\":%u,", (unsigned)o->limit);
    if (o->offset) {
        e |= rc_buf_puts(b, "\"offset\":");
        int r = qd_put_id(b, o->offset);
        if (r == -2)
            return qd_set_err(c, QDRANT_EINVAL, "invalid offset id");
        e |= r;
        e |= rc_buf_putc(b, ',');
    }
    if (e)
        return qd_nomem(c);
    if (o->filter && (rc = put_filter(c, b, "", o->filter)) != QDRANT_OK)
        return rc;
    if (rc_buf_printf(b, "%s\"with_payload\":%s,\"with_vector\":%s}", o->filter ? "," : "",
                      o->with_payload ? "true" : "false", o->with_vector ? "true" : "false"))
        return qd_nomem(c);
    return read_points(out, c, collection, "/points/scroll", "points", 1);
}

int qs_point_count(uint64_t *out, qdrant_client *c, const char *collection,
                   const qdrant_filter *filter)
{
    int rc;
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    if (rc_buf_putc(b, '{'))
        return qd_nomem(c);
    if (filter && (rc = put_filter(c, b, "", filter)) != QDRANT_OK)
        return rc;
    if (rc_buf_printf(b, "%s\"exact\":true}", filter ? "," : ""))
        return qd_nomem(c);
    const char *url = qd_url(c, NULL, "/collections/", collection, "/points/count", NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res, *cnt;
    if ((rc = qd_call_result(c, "POST", url, b->data, b->len, QD_IDEMPOTENT, &root, &res)))
        return rc;
    if (!json_object_object_get_ex(res, "count", &cnt) ||
        !json_object_is_type(cnt, json_type_int) || json_object_get_int64(cnt) < 0) {
        json_object_put(root);
        return qd_set_err(c, QDRANT_EPROTOCOL, "count reply has no count");
    }
    *out = json_object_get_uint64(cnt);
    json_object_put(root);
    return QDRANT_OK;
}

/* Appends one query / search request to c->body; vec_key is "query" or "vector". */
static int query_put(qdrant_client *c, const char *vec_key, const float *vector, size_t dim,
                     const qdrant_query_options *o)
{
    rc_buf *b = &c->body;
    int e = rc_buf_printf(b, "{\"%s\":", vec_key);
    size_t bad = 0;
    int r = e ? -1 : qd_put_vector(b, vector, dim, &bad);
    if (r == -2)
        return qd_set_err(c, QDRANT_EINVAL, "query vector element %zu is NaN or infinite", bad);
    if (r)
        return qd_nomem(c);
    e |= rc_buf_printf(b, ",\"limit\":%u", o->limit ? (unsigned)o->limit : 10u);
    if (o->offset)
        e |= rc_buf_printf(b, ",\"offset\":%u", (unsigned)o->offset);
    if (e)
        return qd_nomem(c);
    int rc;
    if (o->filter && (rc = put_filter(c, b, ",", o->filter)) != QDRANT_OK)
        return rc;
    if (o->use_score_threshold) {
        if (!isfinite(o->score_threshold))
            return qd_set_err(c, QDRANT_EINVAL, "score_threshold is NaN or infinite");
        e |= rc_buf_puts(b, ",\"score_threshold\":");
        e |= qd_put_f32(b, o->score_threshold);
    }
    e |= rc_buf_printf(b, ",\"with_payload\":%s,\"with_vector\":%s}",
                       o->with_payload ? "true" : "false", o->with_vector ? "true" : "false");
    return e ? qd_nomem(c) : QDRANT_OK;
}

/* The query / search body. */
static int query_body(qdrant_client *c, const char *vec_key, const float *vector, size_t dim,
                      const qdrant_query_options *o)
{
    rc_buf_reset(&c->body);
    return query_put(c, vec_key, vector, dim, o);
}

/* One query or a batch, sent through /points/query[/batch] (api 1) or, before 1.10,
 * /points/search[/batch] (api 0). */
typedef struct query_call {
    qdrant_point_list **out;
    const char *collection;
    const float *vectors;
    size_t n, dim;
    const qdrant_query_options *opts; /* batch: n of them or NULL; single: one */
    int batch;
} query_call;

static int query_one(qdrant_client *c, int api, query_call *q)
{
    int rc = query_body(c, api ? "query" : "vector", q->vectors, q->dim, q->opts);
    return rc ? rc
              : read_points(q->out, c, q->collection, api ? "/points/query" : "/points/search",
                            api ? "points" : NULL, 0);
}

static int batch_body(qdrant_client *c, const char *vec_key, const float *vectors, size_t n,
                      size_t dim, const qdrant_query_options *opts);
static int read_batch(qdrant_point_list **out, qdrant_client *c, const char *collection,
                      const char *path, const char *key, size_t n);

static int query_many(qdrant_client *c, int api, query_call *q)
{
    int rc = batch_body(c, api ? "query" : "vector", q->vectors, q->n, q->dim, q->opts);
    return rc ? rc
              : read_batch(q->out, c, q->collection,
                           api ? "/points/query/batch" : "/points/search/batch",
                           api ? "points" : NULL, q->n);
}

/* Sends through the query API unless the server is known to be older than 1.10; a 404 without
 * an error envelope there (no such route) switches the client to the search API for good. */
static int with_query_api(qdrant_client *c, int (*send)(qdrant_client *, int, query_call *),
                          query_call *q)
{
    if (c->has_query_api != 0) {
        int rc = send(c, 1, q);
        if (rc != QDRANT_ENOTFOUND || !qd_route_missing(c)) {
            if (rc == QDRANT_OK)
                c->has_query_api = 1;
            return rc;
        }
        qd_log(c, QDRANT_LOG_INFO,
               "no /points/query on this server (older than 1.10): using "
               "/points/search from now on");
        c->has_query_api = 0;
        qd_reset_err(c);
    }
    return send(c, 0, q);
}

int qs_point_query(qdrant_point_list **out, qdrant_client *c, const char *collection,
                   const float *vector, size_t dim, const qdrant_query_options *o)
{
    query_call q = {out, collection, vector, 1, dim, o, 0};
    return with_query_api(c, query_one, &q);
}

/* The batch body {"searches":[...]}; vec_key as for query_put. */
static int batch_body(qdrant_client *c, const char *vec_key, const float *vectors, size_t n,
                      size_t dim, const qdrant_query_options *opts)
{
    qdrant_query_options d = QDRANT_QUERY_OPTIONS_INIT;
    rc_buf_reset(&c->body);
    if (rc_buf_puts(&c->body, "{\"searches\":["))
        return qd_nomem(c);
    for (size_t i = 0; i < n; i++) {
        int rc;
        if ((i && rc_buf_putc(&c->body, ',')))
            return qd_nomem(c);
        if ((rc = query_put(c, vec_key, vectors + i * dim, dim, opts ? &opts[i] : &d)))
            return rc;
    }
    return rc_buf_puts(&c->body, "]}") ? qd_nomem(c) : QDRANT_OK;
}

/* POSTs the batch body to path; the result is an array of n answers, each a point list (at
 * answer.<key> when key is non-NULL). */
static int read_batch(qdrant_point_list **out, qdrant_client *c, const char *collection,
                      const char *path, const char *key, size_t n)
{
    const char *url = qd_url(c, NULL, "/collections/", collection, path, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    json_object *root, *res;
    int rc = qd_call_result(c, "POST", url, c->body.data, c->body.len, QD_IDEMPOTENT, &root, &res);
    if (rc)
        return rc;
    qdrant_point_list **tmp = calloc(n, sizeof *tmp);
    if (!tmp) {
        json_object_put(root);
        return qd_nomem(c);
    }
    if (!json_object_is_type(res, json_type_array) || json_object_array_length(res) != n)
        rc = qd_set_err(c, QDRANT_EPROTOCOL, "batch reply is not an array of %zu answers", n);
    for (size_t i = 0; !rc && i < n; i++) {
        json_object *ans = json_object_array_get_idx(res, i), *pts = ans;
        if (key && !json_object_object_get_ex(ans, key, &pts))
            pts = NULL;
        rc = qd_decode_points(&tmp[i], pts, NULL, c->errmsg, sizeof c->errmsg);
    }
    json_object_put(root);
    if (rc) {
        for (size_t i = 0; i < n; i++)
            qdrant_point_list_free(tmp[i]);
    } else {
        memcpy(out, tmp, n * sizeof *tmp);
    }
    free(tmp);
    return rc;
}

int qs_point_query_batch(qdrant_point_list **out, qdrant_client *c, const char *collection,
                         const float *vectors, size_t n, size_t dim,
                         const qdrant_query_options *opts)
{
    query_call q = {out, collection, vectors, n, dim, opts, 1};
    return with_query_api(c, query_many, &q);
}
