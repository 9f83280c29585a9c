/* libqdrantc's server backend: requests and replies. URLs, the request/retry loop, the reply
 * envelope and the mapping of HTTP statuses and transport failures to error codes. */
#include "server.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

json_object *qd_parse_json(json_tokener *tok, const char *text, size_t len)
{
    if (!text || len > INT32_MAX)
        return NULL;
    json_tokener_reset(tok);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    if (!o || json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(o);
        return NULL;
    }
    size_t used = json_tokener_get_parse_end(tok);
    while (used < len &&
           (text[used] == '\n' || text[used] == '\r' || text[used] == ' ' || text[used] == '\t'))
        used++;
    if (used != len) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Copies at most cap-1 bytes of text into msg, replacing control bytes with spaces. */
static void copy_text(char *msg, size_t cap, const char *text, size_t len)
{
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' '))
        len--;
    if (len >= cap)
        len = cap - 1;
    for (size_t i = 0; i < len; i++)
        msg[i] = (unsigned char)text[i] < 0x20 ? ' ' : text[i];
    msg[len] = '\0';
}

int qd_error_for_status(long st, const char *body, size_t len, char *msg, size_t cap)
{
    msg[0] = '\0';
    if (body && len) {
        json_tokener *tok = json_tokener_new_ex(QD_JSON_DEPTH);
        json_object *o = tok ? qd_parse_json(tok, body, len) : NULL;
        json_object *status, *err;
        if (o && json_object_object_get_ex(o, "status", &status) &&
            json_object_object_get_ex(status, "error", &err) &&
            json_object_is_type(err, json_type_string)) {
            snprintf(msg, cap, "%s", json_object_get_string(err));
        } else if (!o) {
            /* Plain text, e.g. the 401 "Invalid API key or JWT". */
            copy_text(msg, cap, body, len);
        }
        json_object_put(o);
        if (tok)
            json_tokener_free(tok);
    }
    if (st >= 200 && st < 300)
        return QDRANT_OK;
    if (st == 400 || st == 413 || st == 422)
        return QDRANT_EINVAL;
    if (st == 401 || st == 403)
        return QDRANT_EAUTH;
    if (st == 404)
        return QDRANT_ENOTFOUND;
    if (st == 409)
        return QDRANT_ECONFLICT;
    if (st == 429)
        return QDRANT_EOVERLOADED;
    if (st >= 500 && st < 600)
        return QDRANT_ESERVER;
    return QDRANT_EPROTOCOL;
}

static int map_rc(qdrant_client *c, int rc, const rc_http_resp *resp)
{
    switch (rc) {
    case RC_OK:
        return QDRANT_OK;
    case RC_ENOMEM:
        return qd_nomem(c);
    case RC_ETIMEOUT:
        return qd_set_err(c, QDRANT_ETIMEOUT, "%s", resp->error[0] ? resp->error : "timed out");
    case RC_ETOOBIG:
        return qd_set_err(c, QDRANT_EPROTOCOL, "%s", resp->error);
    case RC_EINVAL:
        return qd_set_err(c, QDRANT_EINVAL, "invalid argument");
    default:
        return qd_set_err(c, QDRANT_ETRANSPORT, "%s",
                          resp->error[0] ? resp->error : "transport error");
    }
}

int qd_call(qdrant_client *c, const char *method, const char *url, const char *body, size_t len,
            int retry_class)
{
    int rc = QDRANT_OK;
    /* A Retry-After longer than this is not waited for: the call fails at once with it. */
    long max_wait = c->request_timeout_ms > 0 ? c->request_timeout_ms : 60000;
    for (int attempt = 0;; attempt++) {
        int64_t t0 = rc_now_ms();
        int hr = rc_http_request(c->http, method, url, body, len, body ? "application/json" : NULL,
                                 &c->resp);
        int retryable;
        long wait_ms = -1;
        qd_reset_err(c);
        if (hr != RC_OK) {
            rc = map_rc(c, hr, &c->resp);
            qd_log(c, QDRANT_LOG_DEBUG, "%s %s: %s", method, url, c->errmsg);
            /* Nothing was sent when the connection could not even be made. */
            retryable = hr == RC_ECONNECT || (retry_class == QD_IDEMPOTENT && hr == RC_ETRANSPORT);
        } else {
            long st = c->resp.status;
            c->http_status = (int)st;
            c->retry_after_ms = c->resp.retry_after_ms;
            qd_log(c, QDRANT_LOG_DEBUG, "%s %s: HTTP %ld in %lld ms", method, url, st,
                   (long long)(rc_now_ms() - t0));
            if (st >= 200 && st < 300)
                return QDRANT_OK;
            rc = qd_error_for_status(st, c->resp.body.data, c->resp.body.len, c->errmsg,
                                     sizeof c->errmsg);
            if (!c->errmsg[0])
                snprintf(c->errmsg, sizeof c->errmsg, "HTTP %ld", st);
            retryable = st == 429 ||
                        (retry_class == QD_IDEMPOTENT && (st == 502 || st == 503 || st == 504));
            wait_ms = c->retry_after_ms;
        }
        if (!retryable || attempt >= c->max_retries)
            return rc;
        if (wait_ms > max_wait) {
            qd_log(c, QDRANT_LOG_WARN, "%s %s: Retry-After of %ld ms is too long; giving up",
                   method, url, wait_ms);
            return rc;
        }
        long b = rc_backoff_ms(&c->rng, attempt, c->backoff_ms, c->max_backoff_ms);
        if (wait_ms > b)
            b = wait_ms;
        qd_log(c, QDRANT_LOG_INFO, "%s %s: %s; retry %d/%d in %ld ms", method, url, c->errmsg,
               attempt + 1, c->max_retries, b);
        rc_sleep_ms(b, -1, NULL);
    }
}

int qd_call_result(qdrant_client *c, const char *method, const char *url, const char *body,
                   size_t len, int retry_class, json_object **root, json_object **result)
{
    int rc = qd_call(c, method, url, body, len, retry_class);
    if (rc)
        return rc;
    json_object *o = qd_parse_json(c->tok, c->resp.body.data, c->resp.body.len), *r;
    if (!o || !json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, "result", &r)) {
        json_object_put(o);
        return qd_set_err(c, QDRANT_EPROTOCOL, "reply to %s %s is not a result envelope", method,
                          url);
    }
    *root = o;
    *result = r;
    return QDRANT_OK;
}

int qd_check_update_result(qdrant_client *c, json_object *result)
{
    json_object *st;
    if (!json_object_is_type(result, json_type_object) ||
        !json_object_object_get_ex(result, "status", &st) ||
        !json_object_is_type(st, json_type_string))
        return qd_set_err(c, QDRANT_EPROTOCOL, "write reply has no status");
    const char *s = json_object_get_string(st);
    if (strcmp(s, "completed") == 0 || strcmp(s, "acknowledged") == 0)
        return QDRANT_OK;
    if (strcmp(s, "wait_timeout") == 0)
        return qd_set_err(c, QDRANT_EWAITTIMEOUT,
                          "the server accepted the write but had not applied it within its wait "
                          "timeout");
    return qd_set_err(c, QDRANT_EPROTOCOL, "unknown write status \"%.64s\"", s);
}

int qd_route_missing(qdrant_client *c)
{
    if (c->http_status != 404)
        return 0;
    json_object *o = qd_parse_json(c->tok, c->resp.body.data, c->resp.body.len), *st;
    int envelope = o && json_object_object_get_ex(o, "status", &st);
    json_object_put(o);
    return !envelope;
}

const char *qd_url(qdrant_client *c, const char *query, ...)
{
    rc_buf *b = &c->url;
    rc_buf_reset(b);
    int e = rc_buf_puts(b, c->base);
    va_list ap;
    va_start(ap, query);
    for (;;) {
        const char *lit = va_arg(ap, const char *);
        if (!lit)
            break;
        e |= rc_buf_puts(b, lit);
        const char *name = va_arg(ap, const char *);
        if (!name)
            break;
        e |= rc_buf_urlenc(b, name);
    }
    va_end(ap);
    if (query)
        e |= rc_buf_puts(b, query);
    return e ? NULL : b->data;
}

int qd_write_query(rc_buf *b, const qdrant_write_options *w)
{
    static const char *const orders[] = {"", "weak", "medium", "strong"};
    int wait = w ? w->wait : 1;
    int e = rc_buf_puts(b, wait ? "?wait=true" : "?wait=false");
    if (w && w->ordering > 0 && w->ordering <= 3)
        e |= rc_buf_printf(b, "&ordering=%s", orders[w->ordering]);
    if (w && w->timeout_s > 0)
        e |= rc_buf_printf(b, "&timeout=%ld", w->timeout_s);
    return e;
}

/* ---- service ---- */
