/* libqdrantc's front: points (upsert, get, scroll, count, query, delete). Each call checks its
 * arguments, then hands over to the handle's backend (backend.h). */
#include "backend.h"

static int prologue(qdrant_client *c, const char *collection)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return qd_check_name(c, "collection name", collection);
}

QDRANT_API int qdrant_point_upsert(qdrant_client *c, const char *collection, size_t n,
                                   const qdrant_point_id *ids, const float *vectors, size_t dim,
                                   const char *const *payloads, const qdrant_write_options *w)
{
    int rc = prologue(c, collection);
    if (rc)
        return rc;
    if ((rc = qd_check_write_options(c, w)))
        return rc;
    if (n == 0)
        return QDRANT_OK;
    if (!ids || !vectors || dim == 0)
        return qd_set_err(c, QDRANT_EINVAL, "ids, vectors and dim > 0 are required");
    if (dim > SIZE_MAX / sizeof(float) / n)
        return qd_set_err(c, QDRANT_EINVAL, "n * dim overflows");
    return c->ops->point_upsert(c, collection, n, ids, vectors, dim, payloads, w);
}

/* At least one id, each one valid. */
static int check_ids(qdrant_client *c, const qdrant_point_id *ids, size_t n)
{
    if (!ids || n == 0)
        return qd_set_err(c, QDRANT_EINVAL, "at least one id is required");
    for (size_t i = 0; i < n; i++)
        if (!qd_id_valid(&ids[i]))
            return qd_set_err(c, QDRANT_EINVAL, "invalid point id");
    return QDRANT_OK;
}

QDRANT_API int qdrant_point_delete(qdrant_client *c, const char *collection,
                                   const qdrant_point_id *ids, size_t n,
                                   const qdrant_write_options *w)
{
    int rc = prologue(c, collection);
    if (rc || (rc = qd_check_write_options(c, w)) || (rc = check_ids(c, ids, n)))
        return rc;
    return c->ops->point_delete(c, collection, ids, n, w);
}

QDRANT_API int qdrant_point_delete_by_filter(qdrant_client *c, const char *collection,
                                             const qdrant_filter *filter,
                                             const qdrant_write_options *w)
{
    int rc = prologue(c, collection);
    if (rc || (rc = qd_check_write_options(c, w)))
        return rc;
    if (!filter)
        return qd_set_err(c, QDRANT_EINVAL, "a filter is required");
    return c->ops->point_delete_by_filter(c, collection, filter, w);
}

QDRANT_API int qdrant_point_get(qdrant_point_list **out, qdrant_client *c, const char *collection,
                                const qdrant_point_id *ids, size_t n, int with_payload,
                                int with_vector)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, collection);
    if (rc || (rc = check_ids(c, ids, n)))
        return rc;
    return c->ops->point_get(out, c, collection, ids, n, with_payload, with_vector);
}

QDRANT_API int qdrant_scroll_options_init(qdrant_scroll_options *o, unsigned int version)
{
    if (!o || version != QDRANT_SCROLL_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_scroll_options d = QDRANT_SCROLL_OPTIONS_INIT;
    *o = d;
    return QDRANT_OK;
}

QDRANT_API int qdrant_point_scroll(qdrant_point_list **out, qdrant_client *c,
                                   const char *collection, const qdrant_scroll_options *o)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, collection);
    if (rc)
        return rc;
    qdrant_scroll_options d = QDRANT_SCROLL_OPTIONS_INIT;
    if (!o)
        o = &d;
    if (o->version != QDRANT_SCROLL_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown scroll options version %u", o->version);
    if (o->offset && !qd_id_valid(o->offset))
        return qd_set_err(c, QDRANT_EINVAL, "invalid offset id");
    return c->ops->point_scroll(out, c, collection, o);
}

QDRANT_API int qdrant_point_scroll_each(qdrant_client *c, const char *collection,
                                        const qdrant_scroll_options *opts, qdrant_point_fn fn,
                                        void *userdata)
{
    if (!c || !fn)
        return QDRANT_EINVAL;
    qdrant_scroll_options o = QDRANT_SCROLL_OPTIONS_INIT;
    if (opts) {
        if (opts->version != QDRANT_SCROLL_OPTIONS_VERSION)
            return qd_set_err(c, QDRANT_EINVAL, "unknown scroll options version");
        o = *opts;
    }
    qdrant_point_id next;
    for (;;) {
        qdrant_point_list *page = NULL;
        int rc = qdrant_point_scroll(&page, c, collection, &o);
        if (rc)
            return rc;
        for (size_t i = 0; i < page->n; i++) {
            if (fn(page, i, userdata) != 0) {
                qdrant_point_list_free(page);
                return qd_set_err(c, QDRANT_ESTOPPED, "stopped by the callback");
            }
        }
        const qdrant_point_id *np = qdrant_point_list_next_page(page);
        if (np)
            next = *np;
        qdrant_point_list_free(page);
        if (!np)
            return QDRANT_OK;
        o.offset = &next;
    }
}

QDRANT_API int qdrant_point_count(uint64_t *out, qdrant_client *c, const char *collection,
                                  const qdrant_filter *filter)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, collection);
    if (rc)
        return rc;
    return c->ops->point_count(out, c, collection, filter);
}

QDRANT_API int qdrant_query_options_init(qdrant_query_options *o, unsigned int version)
{
    if (!o || version != QDRANT_QUERY_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_query_options d = QDRANT_QUERY_OPTIONS_INIT;
    *o = d;
    return QDRANT_OK;
}

QDRANT_API int qdrant_point_query(qdrant_point_list **out, qdrant_client *c, const char *collection,
                                  const float *vector, size_t dim, const qdrant_query_options *o)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, collection);
    if (rc)
        return rc;
    qdrant_query_options d = QDRANT_QUERY_OPTIONS_INIT;
    if (!o)
        o = &d;
    if (o->version != QDRANT_QUERY_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown query options version %u", o->version);
    if (!vector || dim == 0)
        return qd_set_err(c, QDRANT_EINVAL, "a query vector of dim > 0 floats is required");
    return c->ops->point_query(out, c, collection, vector, dim, o);
}

QDRANT_API int qdrant_point_query_batch(qdrant_point_list **out, qdrant_client *c,
                                        const char *collection, const float *vectors, size_t n,
                                        size_t dim, const qdrant_query_options *opts)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, collection);
    if (rc)
        return rc;
    if (n == 0)
        return qd_set_err(c, QDRANT_EINVAL, "a batch needs at least one query");
    if (!vectors || dim == 0)
        return qd_set_err(c, QDRANT_EINVAL, "query vectors of dim > 0 floats are required");
    for (size_t i = 0; opts && i < n; i++)
        if (opts[i].version != QDRANT_QUERY_OPTIONS_VERSION)
            return qd_set_err(c, QDRANT_EINVAL, "query %zu: unknown query options version %u", i,
                              opts[i].version);
    return c->ops->point_query_batch(out, c, collection, vectors, n, dim, opts);
}
