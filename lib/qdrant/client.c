/* libqdrantc: client handle, error detail, the request/retry loop, server endpoints. */
#include "internal.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QD_STR_(x) #x
#define QD_STR(x) QD_STR_(x)
#define QD_VERSION                                                                                 \
    QD_STR(QDRANT_VERSION_MAJOR) "." QD_STR(QDRANT_VERSION_MINOR) "." QD_STR(QDRANT_VERSION_PATCH)

QDRANT_API const char *qdrant_version_string(void)
{
    return QD_VERSION;
}

QDRANT_API const char *qdrant_strerror(int code)
{
    switch (code) {
    case QDRANT_OK:
        return "success";
    case QDRANT_EINVAL:
        return "invalid argument";
    case QDRANT_ENOMEM:
        return "out of memory";
    case QDRANT_ETRANSPORT:
        return "transport error";
    case QDRANT_ETIMEOUT:
        return "timed out";
    case QDRANT_ENOTFOUND:
        return "not found";
    case QDRANT_ECONFLICT:
        return "conflict";
    case QDRANT_EAUTH:
        return "not authorised";
    case QDRANT_EOVERLOADED:
        return "server overloaded";
    case QDRANT_EPROTOCOL:
        return "protocol error";
    case QDRANT_ESTOPPED:
        return "stopped by callback";
    case QDRANT_ESERVER:
        return "server error";
    case QDRANT_EWAITTIMEOUT:
        return "write accepted but not applied within the wait timeout";
    case QDRANT_EUNSUPPORTED:
        return "not supported in local mode";
    case QDRANT_EIO:
        return "local store I/O error";
    default:
        return "unknown error";
    }
}

void qd_reset_err(qdrant_client *c)
{
    c->errmsg[0] = '\0';
    c->http_status = 0;
    c->retry_after_ms = -1;
}

int qd_set_err(qdrant_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int qd_nomem(qdrant_client *c)
{
    return qd_set_err(c, QDRANT_ENOMEM, "out of memory");
}

void qd_log(qdrant_client *c, int level, const char *fmt, ...)
{
    if (!c->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(level, msg, c->log_ud);
}

static void http_log(int level, const char *msg, void *ud)
{
    qdrant_client *c = ud;
    if (c->log)
        c->log(level, msg, c->log_ud);
}

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
    if (c->local_dir) /* every public call hands over to local.c before it gets here */
        return qd_set_err(c, QDRANT_EUNSUPPORTED, "%s %s is not supported in local mode", method,
                          url);
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

int qd_check_name(qdrant_client *c, const char *what, const char *s)
{
    if (!s || !*s)
        return qd_set_err(c, QDRANT_EINVAL, "%s is required", what);
    size_t n = strlen(s);
    if (n > 255)
        return qd_set_err(c, QDRANT_EINVAL, "%s is longer than 255 bytes", what);
    if (!rc_utf8_valid(s, n))
        return qd_set_err(c, QDRANT_EINVAL, "%s is not valid UTF-8", what);
    return QDRANT_OK;
}

int qd_check_write_options(qdrant_client *c, const qdrant_write_options *w)
{
    if (!w)
        return QDRANT_OK;
    if (w->version != QDRANT_WRITE_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown write options version %u", w->version);
    if (w->ordering < QDRANT_ORDERING_DEFAULT || w->ordering > QDRANT_ORDERING_STRONG)
        return qd_set_err(c, QDRANT_EINVAL, "unknown ordering %d", w->ordering);
    if (w->timeout_s < 0)
        return qd_set_err(c, QDRANT_EINVAL, "timeout_s must be >= 0");
    return QDRANT_OK;
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

/* ---- client ---- */

QDRANT_API int qdrant_client_options_init(qdrant_client_options *opts, unsigned int version)
{
    if (!opts || version < 1 || version > QDRANT_CLIENT_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_client_options d = QDRANT_CLIENT_OPTIONS_INIT;
    d.version = version;
    /* a version-1 struct ends after max_response_bytes */
    memcpy(opts, &d,
           version == 1 ? offsetof(qdrant_client_options, max_response_bytes) + sizeof(size_t)
                        : sizeof d);
    return QDRANT_OK;
}

static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

QDRANT_API int qdrant_client_new(qdrant_client **out, const qdrant_client_options *opts)
{
    if (!out || !opts || opts->version < 1 || opts->version > QDRANT_CLIENT_OPTIONS_VERSION ||
        !opts->url)
        return QDRANT_EINVAL;
    char *local_dir = NULL;
    int local = ql_parse_url(&local_dir, opts->url);
    if (local < 0)
        return local;
    if (opts->max_retries < 0 || opts->retry_backoff_ms < 0 || opts->retry_max_backoff_ms < 0 ||
        opts->connect_timeout_ms < 0 || opts->request_timeout_ms < 0) {
        free(local_dir);
        return QDRANT_EINVAL;
    }
    if ((opts->api_key && (!*opts->api_key || !header_safe(opts->api_key))) ||
        (opts->user_agent && !header_safe(opts->user_agent))) {
        free(local_dir);
        return QDRANT_EINVAL;
    }
    qdrant_client *c = calloc(1, sizeof *c);
    if (!c) {
        free(local_dir);
        return QDRANT_ENOMEM;
    }
    c->local_dir = local_dir;
    c->tok = json_tokener_new_ex(QD_JSON_DEPTH);
    size_t n = strlen(opts->url);
    while (n > 0 && opts->url[n - 1] == '/')
        n--;
    c->base = malloc(n + 1);
    char *keyhdr = NULL;
    if (opts->api_key) {
        size_t kl = strlen(opts->api_key) + 10;
        keyhdr = malloc(kl);
        if (keyhdr)
            snprintf(keyhdr, kl, "api-key: %s", opts->api_key);
    }
    if (!c->tok || !c->base || (opts->api_key && !keyhdr))
        goto nomem;
    json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    memcpy(c->base, opts->url, n);
    c->base[n] = '\0';
    c->max_retries = opts->max_retries;
    c->backoff_ms = opts->retry_backoff_ms;
    c->max_backoff_ms = opts->retry_max_backoff_ms;
    c->request_timeout_ms = opts->request_timeout_ms;
    c->log = opts->log;
    c->log_ud = opts->log_userdata;
    c->local_scan = opts->version >= 2 && opts->local_scan;
    c->has_query_api = -1;
    c->rng = (uint64_t)rc_wall_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^
             (uint64_t)(uintptr_t)c;
    c->rng |= 1;
    if (local) { /* no HTTP handle: the store is opened by the first call (local.c) */
        rc_http_resp_init(&c->resp);
        qd_reset_err(c);
        *out = c;
        return QDRANT_OK;
    }
    char ua[64];
    snprintf(ua, sizeof ua, "libqdrantc/%s", QD_VERSION);
    const char *hdrs[2] = {keyhdr, NULL};
    rc_http_config hc = {0};
    hc.user_agent = opts->user_agent ? opts->user_agent : ua;
    hc.connect_timeout_ms = opts->connect_timeout_ms;
    hc.timeout_ms = opts->request_timeout_ms;
    hc.max_response = opts->max_response_bytes ? opts->max_response_bytes : (64u << 20);
    hc.verify_tls = opts->tls_verify ? 1 : 0;
    hc.ca_file = opts->ca_file;
    hc.ca_path = opts->ca_path;
    hc.extra_headers = keyhdr ? hdrs : NULL;
    hc.log = http_log;
    hc.log_ud = c;
    int hr = rc_http_new(&c->http, &hc);
    if (keyhdr) {
        /* curl copied the header; do not leave the key lying around in freed memory. */
        memset(keyhdr, 0, strlen(keyhdr));
        free(keyhdr);
        keyhdr = NULL;
    }
    if (hr != RC_OK)
        goto nomem;
    rc_http_resp_init(&c->resp);
    qd_reset_err(c);
    *out = c;
    return QDRANT_OK;
nomem:
    free(keyhdr);
    qdrant_client_free(c);
    return QDRANT_ENOMEM;
}

QDRANT_API void qdrant_client_free(qdrant_client *c)
{
    if (!c)
        return;
    ql_close(c);
    free(c->local_dir);
    rc_http_free(c->http);
    rc_http_resp_free(&c->resp);
    rc_buf_free(&c->body);
    rc_buf_free(&c->url);
    if (c->tok)
        json_tokener_free(c->tok);
    free(c->base);
    free(c);
}

QDRANT_API const char *qdrant_client_errmsg(const qdrant_client *c)
{
    return c ? c->errmsg : "";
}
QDRANT_API int qdrant_client_http_status(const qdrant_client *c)
{
    return c ? c->http_status : 0;
}
QDRANT_API long qdrant_client_retry_after_ms(const qdrant_client *c)
{
    return c ? c->retry_after_ms : -1;
}
QDRANT_API long qdrant_client_connections(const qdrant_client *c)
{
    return c ? rc_http_connects(c->http) : 0;
}
QDRANT_API int qdrant_client_is_local(const qdrant_client *c)
{
    return c && c->local_dir ? 1 : 0;
}

/* ---- server ---- */

static int probe(qdrant_client *c, const char *path)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    const char *url = qd_url(c, NULL, path, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    return qd_call(c, "GET", url, NULL, 0, QD_IDEMPOTENT);
}

QDRANT_API int qdrant_healthz(qdrant_client *c)
{
    if (c && c->local_dir) { /* the library is alive; readyz checks the store */
        qd_reset_err(c);
        return QDRANT_OK;
    }
    return probe(c, "/healthz");
}

QDRANT_API int qdrant_readyz(qdrant_client *c)
{
    if (c && c->local_dir) {
        qd_reset_err(c);
        return ql_readyz(c);
    }
    return probe(c, "/readyz");
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* "1.9.3" -> 1 when at least 1.10 (the universal query API), 0 when older, -1 unparsable. */
static int version_has_query(const char *v)
{
    unsigned maj, min;
    if (sscanf(v, "%u.%u", &maj, &min) != 2)
        return -1;
    return maj > 1 || (maj == 1 && min >= 10);
}

QDRANT_API int qdrant_server_info_get(qdrant_server_info **out, qdrant_client *c)
{
    if (!out || !c)
        return QDRANT_EINVAL;
    if (c->local_dir) {
        qd_reset_err(c);
        return ql_server_info(out, c);
    }
    int rc = probe(c, "/");
    if (rc)
        return rc;
    json_object *o = qd_parse_json(c->tok, c->resp.body.data, c->resp.body.len);
    const char *ver = jstr(o, "version");
    if (!o || !ver) {
        json_object_put(o);
        return qd_set_err(c, QDRANT_EPROTOCOL, "GET / reply has no version");
    }
    const char *title = jstr(o, "title"), *commit = jstr(o, "commit");
    qdrant_server_info *v = calloc(1, sizeof *v);
    if (v) {
        v->title = rc_strdup(title ? title : "");
        v->version = rc_strdup(ver);
        v->commit = rc_strdup(commit ? commit : "");
    }
    int q = version_has_query(ver);
    if (q >= 0)
        c->has_query_api = q;
    json_object_put(o);
    if (!v || !v->title || !v->version || !v->commit) {
        qdrant_server_info_free(v);
        return qd_nomem(c);
    }
    *out = v;
    return QDRANT_OK;
}

QDRANT_API const char *qdrant_server_info_title(const qdrant_server_info *v)
{
    return v ? v->title : "";
}
QDRANT_API const char *qdrant_server_info_version(const qdrant_server_info *v)
{
    return v ? v->version : "";
}
QDRANT_API const char *qdrant_server_info_commit(const qdrant_server_info *v)
{
    return v ? v->commit : "";
}
QDRANT_API void qdrant_server_info_free(qdrant_server_info *v)
{
    if (!v)
        return;
    free(v->title);
    free(v->version);
    free(v->commit);
    free(v);
}
