/* libqdrantc's server backend: running an upload's batches. Several requests at once over a pool
 * of kept-alive connections; a batch whose body is over max_body_bytes is split in two; failed
 * batches are retried with backoff (each batch its own budget of max_retries), and each failure
 * keeps its cause ("503 Service Unavailable: <the server's message>"). */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The state of one run: the pool's callbacks get it. */
typedef struct {
    qd_upload *u;
    const char *url; /* PUT /collections/{name}/points?wait=... */
    json_tokener *tok;
    size_t next_scan; /* batches before this one are no longer pending */
    size_t running;   /* batches handed to the pool and not yet back through job_done */
    int fatal;        /* out of memory while splitting */
} run;

static qs_batch *sb(qd_batch *x)
{
    return (qs_batch *)x;
}

/* A settled batch's body is not needed again: freed at once. */
static void settle(qd_upload *u, qd_batch *x, int state, int err, const char *msg)
{
    rc_buf_free(&sb(x)->body);
    qd_upload_settle(u, x, state, err, msg);
}

static void settle_stopped(qd_upload *u, qd_batch *x)
{
    rc_buf_free(&sb(x)->body);
    qd_upload_settle_stopped(u, x);
}

static long backoff_ms(qd_upload *u, int attempt)
{
    return rc_backoff_ms(&u->c->rng, attempt, u->o->retry_backoff_ms, u->o->retry_max_backoff_ms);
}

/* Builds x's body; splits x in two when the body is over the limit. Returns 1 when x is ready
 * to send, 0 when it was split or failed (look again), -1 on no memory. */
static int prepare(qd_upload *u, size_t i)
{
    qd_batch *x = u->b[i];
    rc_buf *body = &sb(x)->body;
    char err[256];
    int rc = qd_upsert_body(body, x->count, u->ids + x->start, u->vectors + x->start * u->dim,
                            u->dim, u->payloads ? u->payloads + x->start : NULL, err, sizeof err);
    if (rc == QDRANT_ENOMEM)
        return -1;
    if (rc != QDRANT_OK) { /* inputs were checked up front: not expected */
        settle(u, x, QD_BATCH_FAILED, rc, err);
        return 0;
    }
    if (body->len <= u->o->max_body_bytes)
        return 1;
    if (x->count == 1) {
        snprintf(err, sizeof err, "point %zu alone makes a %zu-byte body, over max_body_bytes %zu",
                 x->start, body->len, u->o->max_body_bytes);
        settle(u, x, QD_BATCH_FAILED, QDRANT_EINVAL, err);
        return 0;
    }
    size_t start = x->start, half = x->count / 2, rest = x->count - half;
    rc_buf_free(body);
    x->count = half;
    u->prog.batches_total--; /* qd_upload_add_batch counts the two halves */
    if (qd_upload_add_batch(u, start + half, rest) < 0)
        return -1;
    u->prog.batches_total++;
    return 0;
}

static int next_job(void *ud, rc_http_job **job, long *wait_ms)
{
    run *r = ud;
    qd_upload *u = r->u;
    if (r->fatal)
        return -1;
    int64_t now = rc_now_ms();
    long wait = -1;
    int pending = 0;
    while (r->next_scan < u->nb && u->b[r->next_scan]->state != QD_BATCH_PENDING)
        r->next_scan++;
    for (size_t i = r->next_scan; i < u->nb; i++) {
        qd_batch *x = u->b[i];
        if (x->state != QD_BATCH_PENDING)
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
        int p = 1;
        if (!sb(x)->body.len) /* a retry resends the body it built the first time */
            while ((p = prepare(u, i)) == 0 && x->state == QD_BATCH_PENDING)
                ; /* split: try the first half again */
        if (p < 0) {
            r->fatal = 1;
            return -1;
        }
        if (p == 0)
            continue; /* failed */
        qs_batch *s = sb(x);
        if (x->attempts == 0)
            rc_http_resp_init(&s->job.resp);
        x->state = QD_BATCH_RUNNING;
        x->attempts++;
        r->running++;
        s->job.method = "PUT";
        s->job.url = r->url;
        s->job.body = s->body.data;
        s->job.body_len = s->body.len;
        s->job.content_type = "application/json";
        s->job.ud = x;
        *job = &s->job;
        return 1;
    }
    /* Nothing ready. Batches still in flight may come back for a retry: -1 (the pool asks for
     * nothing more, ever) only once none is pending or running. */
    if (!pending && !r->running)
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
    run *r = ud;
    qd_upload *u = r->u;
    qd_batch *x = job->ud;
    int retryable = 0, err = QDRANT_OK;
    char msg[256] = "";
    long wait = -1;
    long st = job->resp.status;
    r->running--;
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
        json_object *o = qd_parse_json(r->tok, job->resp.body.data, job->resp.body.len), *res, *s;
        const char *status = NULL;
        if (o && json_object_object_get_ex(o, "result", &res) &&
            json_object_object_get_ex(res, "status", &s) &&
            json_object_is_type(s, json_type_string))
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
        settle(u, x, QD_BATCH_DONE, 0, NULL);
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
        x->state = QD_BATCH_PENDING;
        x->not_before = rc_now_ms() + b;
        u->prog.retries++;
        r->next_scan = 0;
        return;
    }
    char full[sizeof x->msg];
    if (retryable && retries > 0)
        snprintf(full, sizeof full, "%.200s (after %d %s)", x->msg, retries,
                 retries == 1 ? "retry" : "retries");
    else
        snprintf(full, sizeof full, "%s", x->msg);
    settle(u, x, QD_BATCH_FAILED, err, full);
}

/* After the pool returned without running out of memory: a batch still pending or running was
 * cut short by the pool failing. It fails with the cause of its last attempt when it had one. */
static void settle_leftovers(qd_upload *u)
{
    for (size_t i = 0; i < u->nb; i++) {
        qd_batch *x = u->b[i];
        if (x->state == QD_BATCH_DONE || x->state == QD_BATCH_FAILED)
            continue;
        if (u->stopped && x->state == QD_BATCH_PENDING) {
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
        settle(u, x, QD_BATCH_FAILED, err, m);
    }
}

int qs_upload_run(qd_upload *u)
{
    qdrant_client *c = u->c;
    run r;
    memset(&r, 0, sizeof r);
    r.u = u;
    char *url = NULL;
    rc_buf q = RC_BUF_INIT;
    int nomem = qd_write_query(&q, u->w);
    const char *u_url =
        nomem ? NULL : qd_url(c, q.data, "/collections/", u->collection, "/points", NULL, NULL);
    rc_buf_free(&q);
    if (!u_url || !(url = rc_strdup(u_url)))
        return QDRANT_ENOMEM;
    r.url = url;
    r.tok = json_tokener_new_ex(QD_JSON_DEPTH);
    size_t par = (size_t)u->o->parallel;
    if (par > u->nb)
        par = u->nb;
    rc_http_pool *pool = NULL;
    nomem = !r.tok || rc_http_pool_new_like(&pool, c->http, par) != RC_OK;
    if (!nomem) {
        int pr = rc_http_pool_run(pool, next_job, job_done, &r);
        nomem = pr == RC_ENOMEM || r.fatal;
        if (!nomem)
            settle_leftovers(u);
    }
    for (size_t i = 0; i < u->nb; i++) {
        rc_buf_free(&sb(u->b[i])->body);
        rc_http_resp_free(&sb(u->b[i])->job.resp);
    }
    rc_http_pool_free(pool);
    if (r.tok)
        json_tokener_free(r.tok);
    free(url);
    return nomem ? QDRANT_ENOMEM : QDRANT_OK;
}
