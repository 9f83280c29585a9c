/* libqdrantc's front: batch upload. Checks every point before anything is sent, splits the
 * points into batches by point count, has the handle's backend run them (backend.h: the server
 * backend several requests at once, with retries and splitting by body size; the local backend
 * one transaction per batch) and reports exactly which points could not be stored, and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "backend.h"

struct qdrant_upload_result {
    size_t n;
    size_t *index;
    int *err;
    char **msg; /* borrowed from msgs, one per failed batch */
    size_t nmsgs;
    char **msgs;
};

QDRANT_API int qdrant_upload_options_init(qdrant_upload_options *opts, unsigned int version)
{
    if (!opts || version != QDRANT_UPLOAD_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_upload_options d = QDRANT_UPLOAD_OPTIONS_INIT;
    *opts = d;
    return QDRANT_OK;
}

static int cmp_start(const void *a, const void *b)
{
    const qd_batch *x = *(qd_batch *const *)a, *y = *(qd_batch *const *)b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int make_result(qdrant_upload_result **out, qd_upload *u)
{
    qdrant_upload_result *r = calloc(1, sizeof *r);
    if (!r)
        return QDRANT_ENOMEM;
    if (u->nb)
        qsort(u->b, u->nb, sizeof *u->b, cmp_start);
    size_t failed = 0, nfb = 0;
    for (size_t i = 0; i < u->nb; i++)
        if (u->b[i]->state != QD_BATCH_DONE) {
            failed += u->b[i]->count;
            nfb++;
        }
    if (failed) {
        r->index = malloc(failed * sizeof *r->index);
        r->err = malloc(failed * sizeof *r->err);
        r->msg = malloc(failed * sizeof *r->msg);
        r->msgs = calloc(nfb, sizeof *r->msgs);
        if (!r->index || !r->err || !r->msg || !r->msgs) {
            qdrant_upload_result_free(r);
            return QDRANT_ENOMEM;
        }
    }
    for (size_t i = 0; i < u->nb; i++) {
        qd_batch *x = u->b[i];
        if (x->state == QD_BATCH_DONE)
            continue;
        char *m = rc_strdup(x->msg);
        if (!m) {
            qdrant_upload_result_free(r);
            return QDRANT_ENOMEM;
        }
        r->msgs[r->nmsgs++] = m;
        for (size_t k = 0; k < x->count; k++) {
            r->index[r->n] = x->start + k;
            r->err[r->n] = x->state == QD_BATCH_FAILED ? x->err : QDRANT_ESTOPPED;
            r->msg[r->n] = m;
            r->n++;
        }
    }
    *out = r;
    return QDRANT_OK;
}

QDRANT_API int qdrant_point_upload(qdrant_upload_result **out, qdrant_client *c,
                                   const char *collection, size_t n, const qdrant_point_id *ids,
                                   const float *vectors, size_t dim, const char *const *payloads,
                                   const qdrant_upload_options *opts)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    int rc = qd_check_name(c, "collection name", collection);
    if (rc)
        return rc;
    qdrant_upload_options defaults = QDRANT_UPLOAD_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    if (opts->version != QDRANT_UPLOAD_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown upload options version %u", opts->version);
    if (opts->batch_points == 0 || opts->parallel < 1 || opts->parallel > 16 ||
        opts->max_retries < 0 || opts->retry_backoff_ms < 0 || opts->retry_max_backoff_ms < 0 ||
        opts->max_body_bytes < 64)
        return qd_set_err(c, QDRANT_EINVAL, "invalid upload options");
    if (n && (!ids || !vectors || dim == 0))
        return qd_set_err(c, QDRANT_EINVAL, "ids and vectors are required");
    /* Check every point before sending anything: bad input loses nothing. A backend with its own
     * payload check (local mode: the text json-c would keep as it is) runs it first, and what it
     * accepts is not checked again, neither here nor by the backend. */
    int (*canonical)(const char *, size_t) = c->ops->payload_canonical;
    unsigned char *canon = canonical && payloads ? malloc(n ? n : 1) : NULL;
    if (canonical && payloads && !canon)
        return qd_nomem(c);
    for (size_t i = 0; i < n; i++) {
        if (!qd_id_valid(&ids[i])) {
            free(canon);
            return qd_set_err(c, QDRANT_EINVAL, "point %zu: invalid id", i);
        }
        size_t k = rc_first_nonfinite(vectors + i * dim, dim);
        if (k < dim) {
            free(canon);
            return qd_set_err(c, QDRANT_EINVAL, "point %zu: vector element %zu is NaN or infinite",
                              i, k);
        }
        if (!payloads || !payloads[i]) {
            if (canon)
                canon[i] = 0;
            continue;
        }
        size_t len = strlen(payloads[i]);
        if (canon && (canon[i] = (unsigned char)canonical(payloads[i], len)))
            continue;
        if (!qd_json_valid(payloads[i], len, 1)) {
            free(canon);
            return qd_set_err(c, QDRANT_EINVAL, "point %zu: payload is not a JSON object", i);
        }
    }
    qdrant_write_options w = QDRANT_WRITE_OPTIONS_INIT;
    w.wait = opts->wait;
    w.ordering = opts->ordering;
    if ((rc = qd_check_write_options(c, &w)) != QDRANT_OK) {
        free(canon);
        return rc;
    }
    qd_upload u;
    memset(&u, 0, sizeof u);
    u.c = c;
    u.o = opts;
    u.collection = collection;
    u.w = &w;
    u.n = n;
    u.dim = dim;
    u.ids = ids;
    u.vectors = vectors;
    u.payloads = payloads;
    u.canon = canon;
    u.batch_size = c->ops->upload_batch_size;
    u.prog.points_total = n;
    int nomem = 0;
    for (size_t s = 0; s < n && !nomem; s += opts->batch_points)
        nomem =
            qd_upload_add_batch(&u, s, n - s < opts->batch_points ? n - s : opts->batch_points) < 0;
    if (!nomem && u.nb)
        nomem = c->ops->upload_run(&u) != QDRANT_OK;
    qdrant_upload_result *res = NULL;
    if (!nomem && make_result(&res, &u) != QDRANT_OK)
        nomem = 1;
    if (nomem) {
        rc = qd_nomem(c);
    } else if (res->n) {
        rc = res->err[0];
        qd_set_err(c, rc, "%zu of %zu points were not stored (%zu batch retries); first: %s",
                   res->n, n, u.prog.retries, res->msg[0]);
    } else {
        rc = QDRANT_OK;
        qd_reset_err(c);
    }
    qd_upload_free_batches(&u);
    free(canon);
    if (out && res)
        *out = res;
    else
        qdrant_upload_result_free(res);
    return rc;
}

QDRANT_API size_t qdrant_upload_result_failed_count(const qdrant_upload_result *r)
{
    return r ? r->n : 0;
}

QDRANT_API size_t qdrant_upload_result_failed_index(const qdrant_upload_result *r, size_t i)
{
    return r && i < r->n ? r->index[i] : (size_t)-1;
}

QDRANT_API int qdrant_upload_result_failed_error(const qdrant_upload_result *r, size_t i)
{
    return r && i < r->n ? r->err[i] : QDRANT_OK;
}

QDRANT_API const char *qdrant_upload_result_failed_message(const qdrant_upload_result *r, size_t i)
{
    return r && i < r->n ? r->msg[i] : "";
}

QDRANT_API void qdrant_upload_result_free(qdrant_upload_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nmsgs; i++)
        free(r->msgs[i]);
    free(r->msgs);
    free(r->msg);
    free(r->err);
    free(r->index);
    free(r);
}
