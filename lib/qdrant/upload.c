/* Batch upload: splits a large upsert into batches by point count and body size, runs several
 * requests at once over a pool of kept-alive connections, retries failed batches with backoff
 * (each batch its own budget of max_retries) and reports exactly which points could not be
 * stored, and why. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "finite.h"
#include "internal.h"
#include "lstore.h"

enum { B_PENDING, B_RUNNING, B_DONE, B_FAILED };

typedef struct {
    size_t start, count;
    int state;
    int attempts;       /* requests sent for this batch: its retries are attempts - 1 */
    int64_t not_before; /* monotonic ms */
    int err;            /* the final error once failed; before that, the last attempt's */
    char msg[256];      /* the same for the message ("" when no attempt failed yet) */
    rc_buf body;        /* built once, kept for the retries until the batch settles */
    rc_http_job job;
} batch;

typedef struct {
    qdrant_client *c;
    const qdrant_upload_options *o;
    const char *url;
    size_t n, dim;
    const qdrant_point_id *ids;
    const float *vectors;
    const char *const *payloads;
    unsigned char *canon; /* local mode: which payloads passed ls_json_canonical_object */
    batch **b; /* each batch allocated on its own: the pool holds pointers to their jobs */
    size_t nb, cap;
    size_t next_scan; /* batches before this one are no longer pending */
    size_t running;   /* batches handed to the pool and not yet back through job_done */
    int stopped;
    int fatal; /* out of memory while splitting */
    qdrant_upload_progress prog;
    json_tokener *tok;
} upload;

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

static int add_batch(upload *u, size_t start, size_t count)
{
    if (u->nb == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        batch **nb = realloc(u->b, cap * sizeof *nb);
        if (!nb)
            return -1;
        u->b = nb;
        u->cap = cap;
    }
    batch *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    u->b[u->nb++] = x;
    x->start = start;
    x->count = count;
    x->state = B_PENDING;
    rc_http_resp_init(&x->job.resp);
    u->prog.batches_total++;
    return 0;
}

static void settle(upload *u, batch *x, int state, int err, const char *msg)
{
    x->state = state;
    x->err = err;
    snprintf(x->msg, sizeof x->msg, "%s", msg ? msg : "");
    rc_buf_free(&x->body);
    u->prog.batches_done++;
    if (state == B_DONE)
        u->prog.points_done += x->count;
    else
        u->prog.points_failed += x->count;
    if (u->o->progress && !u->stopped && u->o->progress(&u->prog, u->o->progress_userdata))
        u->stopped = 1;
}

/* The stopped batches' message; a batch that had failed attempts keeps its last cause too. */
static void settle_stopped(upload *u, batch *x)
{
    char m[sizeof x->msg];
    if (x->msg[0])
        snprintf(m, sizeof m, "stopped by the progress callback (last attempt: %.200s)", x->msg);
    else
        snprintf(m, sizeof m, "stopped by the progress callback");
    settle(u, x, B_FAILED, QDRANT_ESTOPPED, m);
}

static long backoff_ms(upload *u, int attempt)
{
    return rc_backoff_ms(&u->c->rng, attempt, u->o->retry_backoff_ms, u->o->retry_max_backoff_ms);
}

/* Builds x's body; splits x in two when the body is over the limit. Returns 1 when x is ready
 * to send, 0 when it was split or failed (look again), -1 on no memory. */
static int prepare(upload *u, size_t i)
{
    batch *x = u->b[i];
    char err[256];
    int rc = qd_upsert_body(&x->body, x->count, u->ids + x->start, u->vectors + x->start * u->dim,
                            u->dim, u->payloads ? u->payloads + x->start : NULL, err, sizeof err);
    if (rc == QDRANT_ENOMEM)
        return -1;
    if (rc != QDRANT_OK) { /* inputs were checked up front: not expected */
        settle(u, x, B_FAILED, rc, err);
        return 0;
    }
    if (x->body.len <= u->o->max_body_bytes)
        return 1;
    if (x->count == 1) {
        snprintf(err, sizeof err, "point %zu alone makes a %zu-byte body, over max_body_bytes %zu",
                 x->start, x->body.len, u->o->max_body_bytes);
        settle(u, x, B_FAILED, QDRANT_EINVAL, err);
        return 0;
    }
    size_t start = x->start, half = x->count / 2, rest = x->count - half;
    rc_buf_free(&x->body);
    x->count = half;
    u->prog.batches_total--; /* add_batch counts the two halves */
    if (add_batch(u, start + half, rest) < 0)
        return -1;
    u->prog.batches_total++;
    return 0;
}

static int next_job(void *ud, rc_http_job **job, long *wait_ms)
{
    upload *u = ud;
    if (u->fatal)
        return -1;
    int64_t now = rc_now_ms();
    long wait = -1;
    int pending = 0;
    while (u->next_scan < u->nb && u->b[u->next_scan]->state != B_PENDING)
        u->next_scan++;
    for (size_t i = u->next_scan; i < u->nb; i++) {
        batch *x = u->b[i];
        if (x->state != B_PENDING)
            continue;
        if (u->stopped) {
            settle_stopped(u, x);
            continue;
        }
        pending = 1;
        if (x->not_before > now) {
            long w = (long)(x->not_before - now);
            if (wait < 0 || w < wait)
                wait = w;
            continue;
        }
        int r = 1;
        if (!x->body.len) /* a retry resends the body it built the first time */
            while ((r = prepare(u, i)) == 0 && x->state == B_PENDING)
                ; /* split: try the first half again */
        if (r < 0) {
            u->fatal = 1;
            return -1;
        }
        if (r == 0)
            continue; /* failed */
        x->state = B_RUNNING;
        x->attempts++;
        u->running++;
        x->job.method = "PUT";
        x->job.url = u->url;
        x->job.body = x->body.data;
        x->job.body_len = x->body.len;
        x->job.content_type = "application/json";
        x->job.ud = x;
        *job = &x->job;
        return 1;
    }
    /* Nothing ready. Batches still in flight may come back for a retry: -1 (the pool asks for
     * nothing more, ever) only once none is pending or running. */
    if (!pending && !u->running)
        return -1;
    if (wait < 0)
        wait = pending ? 10 : 100; /* the pool's wait ends early when a transfer progresses */
    *wait_ms = wait;
    return 0;
}

static const struct {
    long status;
    const char *text;
} reasons[] = {{400, "Bad Request"},
               {401, "Unauthorized"},
               {403, "Forbidden"},
               {404, "Not Found"},
               {409, "Conflict"},
               {413, "Payload Too Large"},
               {422, "Unprocessable Entity"},
               {429, "Too Many Requests"},
               {500, "Internal Server Error"},
               {502, "Bad Gateway"},
               {503, "Service Unavailable"},
               {504, "Gateway Timeout"}};

static const char *reason_phrase(long st)
{
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == st)
            return reasons[i].text;
    return NULL;
}

static void job_done(void *ud, rc_http_job *job)
{
    upload *u = ud;
    batch *x = job->ud;
    int retryable = 0, err = QDRANT_OK;
    char msg[256] = "";
    long wait = -1;
    long st = job->resp.status;
    u->running--;
    if (job->rc != RC_OK) {
        err = job->rc == RC_ETIMEOUT  ? QDRANT_ETIMEOUT
              : job->rc == RC_ENOMEM  ? QDRANT_ENOMEM
              : job->rc == RC_ETOOBIG ? QDRANT_EPROTOCOL
                                      : QDRANT_ETRANSPORT;
        snprintf(msg, sizeof msg, "%s", job->resp.error[0] ? job->resp.error : "transport error");
        /* An upsert with explicit ids is idempotent: resending it is always safe. */
        retryable = err == QDRANT_ETIMEOUT || err == QDRANT_ETRANSPORT;
        st = 0; /* a status that arrived before the transfer broke is not the cause */
    } else if (st >= 200 && st < 300) {
        json_object *o = qd_parse_json(u->tok, job->resp.body.data, job->resp.body.len), *r, *s;
        const char *status = NULL;
        if (o && json_object_object_get_ex(o, "result", &r) &&
            json_object_object_get_ex(r, "status", &s) && json_object_is_type(s, json_type_string))
            status = json_object_get_string(s);
        if (status && (strcmp(status, "completed") == 0 || strcmp(status, "acknowledged") == 0)) {
            err = QDRANT_OK;
        } else if (status && strcmp(status, "wait_timeout") == 0) {
            err = QDRANT_EWAITTIMEOUT;
            snprintf(msg, sizeof msg,
                     "the server had not applied the batch within its wait "
                     "timeout");
            retryable = 1;
        } else {
            err = QDRANT_EPROTOCOL;
            snprintf(msg, sizeof msg, "upsert reply is not a write result");
        }
        json_object_put(o);
    } else {
        err = qd_error_for_status(st, job->resp.body.data, job->resp.body.len, msg, sizeof msg);
        retryable = st == 429 || st == 502 || st == 503 || st == 504;
        wait = job->resp.retry_after_ms;
    }
    if (err == QDRANT_OK) {
        settle(u, x, B_DONE, 0, NULL);
        return;
    }
    /* The cause, kept on the batch: "503 Service Unavailable: <the server's message>". */
    const char *reason = reason_phrase(st);
    if (st && reason)
        snprintf(x->msg, sizeof x->msg, "%ld %s%s%s", st, reason, msg[0] ? ": " : "", msg);
    else if (st)
        snprintf(x->msg, sizeof x->msg, "HTTP %ld%s%s", st, msg[0] ? ": " : "", msg);
    else
        snprintf(x->msg, sizeof x->msg, "%s", msg);
    x->err = err;
    /* Retries are counted per batch: this one has had attempts - 1 of its max_retries. */
    int retries = x->attempts - 1;
    if (retryable && retries < u->o->max_retries && !u->stopped) {
        long b = backoff_ms(u, retries);
        if (wait > b)
            b = wait;
        qd_log(u->c, QDRANT_LOG_INFO,
               "upload batch of %zu points at %zu: %s; retry %d/%d in %ld ms", x->count, x->start,
               x->msg, retries + 1, u->o->max_retries, b);
        x->state = B_PENDING;
        x->not_before = rc_now_ms() + b;
        u->prog.retries++;
        u->next_scan = 0;
        return;
    }
    char full[sizeof x->msg];
    if (retryable && retries > 0)
        snprintf(full, sizeof full, "%.200s (after %d %s)", x->msg, retries,
                 retries == 1 ? "retry" : "retries");
    else
        snprintf(full, sizeof full, "%s", x->msg);
    settle(u, x, B_FAILED, err, full);
}

/* After the pool returned without running out of memory: a batch still pending or running was
 * cut short by the pool failing. It fails with the cause of its last attempt when it had one. */
static void settle_leftovers(upload *u)
{
    for (size_t i = 0; i < u->nb; i++) {
        batch *x = u->b[i];
        if (x->state == B_DONE || x->state == B_FAILED)
            continue;
        if (u->stopped && x->state == B_PENDING) {
            settle_stopped(u, x);
            continue;
        }
        char m[sizeof x->msg];
        int err = QDRANT_ETRANSPORT;
        if (x->msg[0]) {
            snprintf(m, sizeof m, "%.200s (not retried: the transfers failed)", x->msg);
            err = x->err;
        } else {
            snprintf(m, sizeof m, "not sent: the transfers failed");
        }
        settle(u, x, B_FAILED, err, m);
    }
}

/* Local mode: the batches one after the other in the calling thread, each one transaction, no
 * retries (nothing is transient but a lock held past the busy timeout). */
static void run_local(upload *u, const char *collection)
{
    for (size_t i = 0; i < u->nb; i++) {
        batch *x = u->b[i];
        if (u->stopped) {
            settle_stopped(u, x);
            continue;
        }
        int rc = ql_upsert(
            u->c, collection, x->count, u->ids + x->start, u->vectors + x->start * u->dim, u->dim,
            u->payloads ? u->payloads + x->start : NULL, 1, u->canon ? u->canon + x->start : NULL);
        if (rc == QDRANT_ENOMEM)
            u->fatal = 1;
        settle(u, x, rc ? B_FAILED : B_DONE, rc, rc ? u->c->errmsg : NULL);
    }
}

static int cmp_start(const void *a, const void *b)
{
    const batch *x = *(batch *const *)a, *y = *(batch *const *)b;
    return x->start < y->start ? -1 : x->start > y->start;
}

static int make_result(qdrant_upload_result **out, upload *u)
{
    qdrant_upload_result *r = calloc(1, sizeof *r);
    if (!r)
        return QDRANT_ENOMEM;
    if (u->nb)
        qsort(u->b, u->nb, sizeof *u->b, cmp_start);
    size_t failed = 0, nfb = 0;
    for (size_t i = 0; i < u->nb; i++)
        if (u->b[i]->state != B_DONE) {
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
        batch *x = u->b[i];
        if (x->state == B_DONE)
            continue;
        char *m = rc_strdup(x->msg);
        if (!m) {
            qdrant_upload_result_free(r);
            return QDRANT_ENOMEM;
        }
        r->msgs[r->nmsgs++] = m;
        for (size_t k = 0; k < x->count; k++) {
            r->index[r->n] = x->start + k;
            r->err[r->n] = x->state == B_FAILED ? x->err : QDRANT_ESTOPPED;
            r->msg[r->n] = m;
            r->n++;
        }
    }
    *out = r;
    return QDRANT_OK;
}

QDRANT_API int qdrant_points_upload(qdrant_upload_result **out, qdrant_client *c,
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
    /* Check every point before sending anything: bad input loses nothing. In local mode the
     * store's own payload check (the text json-c would keep as it is) comes first, and what it
     * accepts is not checked again by the store. */
    unsigned char *canon = c->local_dir && payloads ? malloc(n ? n : 1) : NULL;
    if (c->local_dir && payloads && !canon)
        return qd_nomem(c);
    for (size_t i = 0; i < n; i++) {
        char tmp[QDRANT_POINT_ID_STRLEN];
        if (qdrant_point_id_format(tmp, sizeof tmp, &ids[i]) != QDRANT_OK) {
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
        if (canon && (canon[i] = (unsigned char)ls_json_canonical_object(payloads[i], len)))
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
    char *url = NULL;
    if (!c->local_dir) {
        rc_buf q = RC_BUF_INIT;
        if (qd_write_query(&q, &w)) {
            rc_buf_free(&q);
            return qd_nomem(c);
        }
        const char *u_url = qd_url(c, q.data, "/collections/", collection, "/points", NULL, NULL);
        rc_buf_free(&q);
        if (!u_url || !(url = rc_strdup(u_url)))
            return qd_nomem(c);
    }
    upload u;
    memset(&u, 0, sizeof u);
    u.c = c;
    u.o = opts;
    u.url = url;
    u.n = n;
    u.dim = dim;
    u.ids = ids;
    u.vectors = vectors;
    u.payloads = payloads;
    u.canon = canon;
    u.prog.points_total = n;
    u.tok = json_tokener_new_ex(QD_JSON_DEPTH);
    rc_http_pool *pool = NULL;
    int nomem = !u.tok;
    for (size_t s = 0; s < n && !nomem; s += opts->batch_points)
        nomem = add_batch(&u, s, n - s < opts->batch_points ? n - s : opts->batch_points) < 0;
    size_t par = (size_t)opts->parallel;
    if (u.nb && par > u.nb)
        par = u.nb;
    if (!nomem && u.nb && c->local_dir) {
        run_local(&u, collection);
        nomem = u.fatal;
    } else if (!nomem && u.nb && rc_http_pool_new_like(&pool, c->http, par) != RC_OK)
        nomem = 1;
    if (!nomem && u.nb && !c->local_dir) {
        int pr = rc_http_pool_run(pool, next_job, job_done, &u);
        nomem = pr == RC_ENOMEM || u.fatal;
        if (!nomem)
            settle_leftovers(&u);
    }
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
    for (size_t i = 0; i < u.nb; i++) {
        rc_buf_free(&u.b[i]->body);
        rc_http_resp_free(&u.b[i]->job.resp);
        free(u.b[i]);
    }
    free(u.b);
    free(u.canon);
    rc_http_pool_free(pool);
    if (u.tok)
        json_tokener_free(u.tok);
    free(url);
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
