#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

#define DQ_STR_(x) #x
#define DQ_STR(x) DQ_STR_(x)
#define DQ_VERSION                                                                                 \
    DQ_STR(DRIFTQ_VERSION_MAJOR) "." DQ_STR(DRIFTQ_VERSION_MINOR) "." DQ_STR(DRIFTQ_VERSION_PATCH)

DRIFTQ_API const char *driftq_version_string(void)
{
    return DQ_VERSION;
}

DRIFTQ_API const char *driftq_strerror(int code)
{
    switch (code) {
    case DRIFTQ_OK:
        return "success";
    case DRIFTQ_EINVAL:
        return "invalid argument";
    case DRIFTQ_ENOMEM:
        return "out of memory";
    case DRIFTQ_ETRANSPORT:
        return "transport error";
    case DRIFTQ_ETIMEOUT:
        return "timed out";
    case DRIFTQ_ENOTFOUND:
        return "not found";
    case DRIFTQ_ECONFLICT:
        return "conflict";
    case DRIFTQ_EAUTH:
        return "not authorised";
    case DRIFTQ_EOVERLOADED:
        return "broker overloaded";
    case DRIFTQ_EPROTOCOL:
        return "protocol error";
    case DRIFTQ_ESTOPPED:
        return "stopped by callback";
    case DRIFTQ_ENOTOWNER:
        return "not the owner of the message's lease";
    case DRIFTQ_ENOTINFLIGHT:
        return "message is not in flight";
    case DRIFTQ_ESERVER:
        return "broker error";
    case DRIFTQ_ETOOLARGE:
        return "message too large for the broker";
    default:
        return "unknown error";
    }
}

void dq_reset_err(driftq_client *c)
{
    c->errmsg[0] = c->server_code[0] = c->request_id[0] = '\0';
    c->http_status = 0;
    c->retry_after_ms = -1;
}

int dq_set_err(driftq_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

void dq_log(driftq_client *c, int level, const char *fmt, ...)
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
    driftq_client *c = ud;
    if (c->log)
        c->log(level, msg, c->log_ud);
}

int dq_map_rc(driftq_client *c, int rc, const rc_http_resp *resp)
{
    switch (rc) {
    case RC_OK:
        return DRIFTQ_OK;
    case RC_ENOMEM:
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    case RC_ETIMEOUT:
        return dq_set_err(c, DRIFTQ_ETIMEOUT, "%s", resp->error);
    case RC_ETOOBIG:
        return dq_set_err(c, DRIFTQ_EPROTOCOL, "%s", resp->error);
    case RC_EINVAL:
        return dq_set_err(c, DRIFTQ_EINVAL, "invalid argument");
    default:
        return dq_set_err(c, DRIFTQ_ETRANSPORT, "%s",
                          resp->error[0] ? resp->error : "transport error");
    }
}

json_object *dq_parse(driftq_client *c, const char *text, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    json_tokener_reset(c->tok);
    json_object *o = json_tokener_parse_ex(c->tok, text, (int)len);
    if (!o || json_tokener_get_error(c->tok) != json_tokener_success) {
        json_object_put(o);
        return NULL;
    }
    /* Reject trailing garbage (a single trailing newline is how the broker ends replies). */
    size_t used = json_tokener_get_parse_end(c->tok);
    while (used < len && (text[used] == '\n' || text[used] == '\r' || text[used] == ' '))
        used++;
    if (used != len) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int dq_map_status(driftq_client *c, const rc_http_resp *resp)
{
    long st = resp->status;
    c->http_status = (int)st;
    if (resp->request_id[0])
        snprintf(c->request_id, sizeof c->request_id, "%s", resp->request_id);
    if (st >= 200 && st < 300)
        return DRIFTQ_OK;
    const char *msg = "";
    json_object *o = dq_parse(c, resp->body.data ? resp->body.data : "", resp->body.len);
    if (o) {
        const char *code = jstr(o, "error");
        const char *m = jstr(o, "message");
        if (code)
            snprintf(c->server_code, sizeof c->server_code, "%s", code);
        if (m)
            msg = m;
        json_object *ra;
        if (json_object_object_get_ex(o, "retry_after_ms", &ra))
            c->retry_after_ms = (long)json_object_get_int64(ra);
    }
    if (c->retry_after_ms < 0 && resp->retry_after_ms >= 0)
        c->retry_after_ms = resp->retry_after_ms;
    int code;
    if (st == 400) {
        if (strncmp(msg, "topic does not exist", 20) == 0)
            code = DRIFTQ_ENOTFOUND;
        else if (strstr(msg, "not in-flight"))
            code = DRIFTQ_ENOTINFLIGHT;
        else if (strncmp(msg, "idempotency: lease lost", 23) == 0)
            code = DRIFTQ_ENOTOWNER; /* a keyed message's lease expired: it is someone else's */
        else if (strncmp(msg, "idempotency: key already in-flight", 34) == 0)
            code = DRIFTQ_ECONFLICT;
        else
            code = DRIFTQ_EINVAL;
    } else if (st == 401 || st == 403) {
        code = DRIFTQ_EAUTH;
    } else if (st == 404) {
        code = DRIFTQ_ENOTFOUND;
    } else if (st == 409) {
        code = strcmp(msg, "not owner") == 0 ? DRIFTQ_ENOTOWNER : DRIFTQ_ECONFLICT;
    } else if (st == 429) {
        code = DRIFTQ_EOVERLOADED;
    } else if (st >= 500) {
        code = DRIFTQ_ESERVER;
    } else {
        code = DRIFTQ_EPROTOCOL;
    }
    if (*msg || c->server_code[0])
        dq_set_err(c, code, "HTTP %ld %s: %s", st, c->server_code, msg);
    else
        dq_set_err(c, code, "HTTP %ld", st);
    json_object_put(o);
    return code;
}

long dq_backoff(driftq_client *c, int attempt, long base_ms, long max_ms)
{
    return rc_backoff_ms(&c->rng, attempt, base_ms, max_ms);
}

/* Sends a request to base + path, retrying per mode. The response is left in c->resp.
 * Returns DRIFTQ_OK for a 2xx, else the mapped error with detail on the handle. */
static int dq_call(driftq_client *c, const char *method, const char *url, const char *body,
                   size_t len, int mode)
{
    int rc = DRIFTQ_OK;
    for (int attempt = 0;; attempt++) {
        int hr = rc_http_request(c->http, method, url, body, len, body ? "application/json" : NULL,
                                 &c->resp);
        int retryable;
        long wait_ms = -1;
        if (hr != RC_OK) {
            dq_reset_err(c);
            rc = dq_map_rc(c, hr, &c->resp);
            /* Nothing was sent when the connection could not even be made. */
            retryable = hr == RC_ECONNECT ||
                        (mode == DQ_RETRY_SAFE && (hr == RC_ETRANSPORT || hr == RC_ETIMEOUT));
        } else {
            dq_reset_err(c);
            rc = dq_map_status(c, &c->resp);
            if (rc == DRIFTQ_OK)
                return rc;
            retryable = rc == DRIFTQ_EOVERLOADED || (rc == DRIFTQ_ESERVER && mode == DQ_RETRY_SAFE);
            wait_ms = c->retry_after_ms;
        }
        if (!retryable || attempt >= c->max_retries)
            return rc;
        long b = dq_backoff(c, attempt, c->backoff_ms, c->max_backoff_ms);
        if (wait_ms > b)
            b = wait_ms;
        dq_log(c, DRIFTQ_LOG_INFO, "%s %s: %s; retry %d/%d in %ld ms", method, url, c->errmsg,
               attempt + 1, c->max_retries, b);
        rc_sleep_ms(b, -1, NULL);
    }
}

DRIFTQ_API int driftq_client_options_init(driftq_client_options *opts, unsigned int version)
{
    if (!opts || version != DRIFTQ_CLIENT_OPTIONS_VERSION)
        return DRIFTQ_EINVAL;
    driftq_client_options d = DRIFTQ_CLIENT_OPTIONS_INIT;
    *opts = d;
    return DRIFTQ_OK;
}

static int make_owner(char *dst, size_t cap)
{
    char host[64];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "host");
    host[sizeof host - 1] = '\0';
    uuid_t u;
    char us[37];
    uuid_generate_random(u);
    uuid_unparse_lower(u, us);
    snprintf(dst, cap, "%s-%ld-%s", host, (long)getpid(), us);
    return 0;
}

DRIFTQ_API int driftq_client_new(driftq_client **out, const driftq_client_options *opts)
{
    if (!out || !opts || opts->version != DRIFTQ_CLIENT_OPTIONS_VERSION || !opts->url)
        return DRIFTQ_EINVAL;
    if (strncmp(opts->url, "http://", 7) != 0 && strncmp(opts->url, "https://", 8) != 0)
        return DRIFTQ_EINVAL;
    if (opts->max_retries < 0 || opts->retry_backoff_ms < 0 || opts->retry_max_backoff_ms < 0 ||
        opts->connect_timeout_ms < 0 || opts->request_timeout_ms < 0)
        return DRIFTQ_EINVAL;
    driftq_client *c = calloc(1, sizeof *c);
    if (!c)
        return DRIFTQ_ENOMEM;
    c->wake_rd = c->wake_wr = -1;
    c->tok = json_tokener_new();
    /* Normalise the URL: strip trailing '/' and a trailing "/v1". */
    size_t n = strlen(opts->url);
    while (n > 0 && opts->url[n - 1] == '/')
        n--;
    if (n >= 3 && memcmp(opts->url + n - 3, "/v1", 3) == 0)
        n -= 3;
    while (n > 0 && opts->url[n - 1] == '/')
        n--;
    c->root = malloc(n + 1);
    c->base = malloc(n + 4);
    if (!c->tok || !c->root || !c->base)
        goto nomem;
    memcpy(c->root, opts->url, n);
    c->root[n] = '\0';
    snprintf(c->base, n + 4, "%s/v1", c->root);
    c->max_retries = opts->max_retries;
    c->backoff_ms = opts->retry_backoff_ms;
    c->max_backoff_ms = opts->retry_max_backoff_ms;
    c->log = opts->log;
    c->log_ud = opts->log_userdata;
    make_owner(c->owner, sizeof c->owner);
    uuid_t u;
    uuid_generate_random(u);
    memcpy(&c->rng, u, sizeof c->rng);
    c->rng |= 1;
    char rid[24];
    char us[37];
    uuid_unparse_lower(u, us);
    snprintf(rid, sizeof rid, "dq-%.8s", us);
    int pfd[2];
    if (pipe2(pfd, O_NONBLOCK | O_CLOEXEC) != 0)
        goto nomem;
    c->wake_rd = pfd[0];
    c->wake_wr = pfd[1];
    atomic_init(&c->stop, 0);
    char ua[96];
    snprintf(ua, sizeof ua, "libdriftq/%s", DQ_VERSION);
    rc_http_config hc = {0};
    hc.user_agent = opts->user_agent ? opts->user_agent : ua;
    hc.connect_timeout_ms = opts->connect_timeout_ms;
    hc.timeout_ms = opts->request_timeout_ms;
    hc.max_response = opts->max_response_bytes ? opts->max_response_bytes : (8u << 20);
    hc.verify_tls = 1;
    hc.request_id_prefix = rid;
    hc.log = http_log;
    hc.log_ud = c;
    if (rc_http_new(&c->http, &hc) != RC_OK)
        goto nomem;
    hc.timeout_ms = 0;
    if (rc_http_new(&c->stream, &hc) != RC_OK)
        goto nomem;
    rc_http_resp_init(&c->resp);
    dq_reset_err(c);
    *out = c;
    return DRIFTQ_OK;
nomem:
    driftq_client_free(c);
    return DRIFTQ_ENOMEM;
}

DRIFTQ_API void driftq_client_free(driftq_client *c)
{
    if (!c)
        return;
    rc_http_free(c->http);
    rc_http_free(c->stream);
    rc_http_resp_free(&c->resp);
    rc_buf_free(&c->body);
    rc_buf_free(&c->url);
    if (c->tok)
        json_tokener_free(c->tok);
    if (c->wake_rd >= 0)
        close(c->wake_rd);
    if (c->wake_wr >= 0)
        close(c->wake_wr);
    free(c->base);
    free(c->root);
    free(c);
}

DRIFTQ_API const char *driftq_client_errmsg(const driftq_client *c)
{
    return c ? c->errmsg : "";
}
DRIFTQ_API int driftq_client_http_status(const driftq_client *c)
{
    return c ? c->http_status : 0;
}
DRIFTQ_API const char *driftq_client_server_code(const driftq_client *c)
{
    return c ? c->server_code : "";
}
DRIFTQ_API long driftq_client_retry_after_ms(const driftq_client *c)
{
    return c ? c->retry_after_ms : -1;
}
DRIFTQ_API const char *driftq_client_request_id(const driftq_client *c)
{
    return c ? c->request_id : "";
}
DRIFTQ_API const char *driftq_client_owner(const driftq_client *c)
{
    return c ? c->owner : "";
}
DRIFTQ_API long driftq_client_connections(const driftq_client *c)
{
    return c ? rc_http_connects(c->http) + rc_http_connects(c->stream) : 0;
}

static const char *url_for(driftq_client *c, const char *path)
{
    rc_buf_reset(&c->url);
    if (rc_buf_puts(&c->url, c->base) < 0 || rc_buf_puts(&c->url, path) < 0)
        return NULL;
    return c->url.data;
}

/* ---- server ---- */

DRIFTQ_API int driftq_health(driftq_client *c)
{
    if (!c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    const char *url = url_for(c, "/healthz");
    if (!url)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    int rc = dq_call(c, "GET", url, NULL, 0, DQ_RETRY_SAFE);
    if (rc)
        return rc;
    json_object *o = dq_parse(c, c->resp.body.data, c->resp.body.len);
    const char *st = jstr(o, "status");
    rc = st && strcmp(st, "ok") == 0
             ? DRIFTQ_OK
             : dq_set_err(c, DRIFTQ_EPROTOCOL, "unexpected health reply: %.200s",
                          c->resp.body.data ? c->resp.body.data : "");
    json_object_put(o);
    return rc;
}

struct driftq_server_info {
    char *version;
    char *commit;
    int wal;
};

DRIFTQ_API int driftq_server_info_get(driftq_server_info **out, driftq_client *c)
{
    if (!out || !c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    const char *url = url_for(c, "/version");
    if (!url)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    int rc = dq_call(c, "GET", url, NULL, 0, DQ_RETRY_SAFE);
    if (rc)
        return rc;
    json_object *o = dq_parse(c, c->resp.body.data, c->resp.body.len);
    if (!o || !json_object_is_type(o, json_type_object)) {
        json_object_put(o);
        return dq_set_err(c, DRIFTQ_EPROTOCOL, "version reply is not a JSON object");
    }
    driftq_server_info *v = calloc(1, sizeof *v);
    const char *ver = jstr(o, "version"), *commit = jstr(o, "commit");
    json_object *w;
    if (v) {
        v->version = rc_strdup(ver ? ver : "");
        v->commit = rc_strdup(commit ? commit : "");
        v->wal = json_object_object_get_ex(o, "wal_enabled", &w) ? json_object_get_boolean(w) : -1;
    }
    json_object_put(o);
    if (!v || !v->version || !v->commit) {
        driftq_server_info_free(v);
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    }
    *out = v;
    return DRIFTQ_OK;
}

DRIFTQ_API const char *driftq_server_info_version(const driftq_server_info *v)
{
    return v ? v->version : "";
}
DRIFTQ_API const char *driftq_server_info_commit(const driftq_server_info *v)
{
    return v ? v->commit : "";
}
DRIFTQ_API int driftq_server_info_wal_enabled(const driftq_server_info *v)
{
    return v ? v->wal : -1;
}
DRIFTQ_API void driftq_server_info_free(driftq_server_info *v)
{
    if (!v)
        return;
    free(v->version);
    free(v->commit);
    free(v);
}

/* ---- topics ---- */

struct driftq_topic_list {
    rc_strlist names;
};

DRIFTQ_API int driftq_topic_list_get(driftq_topic_list **out, driftq_client *c)
{
    if (!out || !c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    const char *url = url_for(c, "/topics");
    if (!url)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    int rc = dq_call(c, "GET", url, NULL, 0, DQ_RETRY_SAFE);
    if (rc)
        return rc;
    json_object *o = dq_parse(c, c->resp.body.data, c->resp.body.len), *arr;
    if (!o || !json_object_object_get_ex(o, "topics", &arr) ||
        !json_object_is_type(arr, json_type_array)) {
        json_object_put(o);
        return dq_set_err(c, DRIFTQ_EPROTOCOL, "topics reply has no \"topics\" array");
    }
    size_t n = json_object_array_length(arr);
    driftq_topic_list *l = calloc(1, sizeof *l);
    if (!l) {
        json_object_put(o);
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(e, json_type_string)) {
            rc = dq_set_err(c, DRIFTQ_EPROTOCOL, "topic name is not a string");
            break;
        }
        if (rc_strlist_push(&l->names, json_object_get_string(e)) < 0) {
            rc = dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
            break;
        }
    }
    json_object_put(o);
    if (rc) {
        driftq_topic_list_free(l);
        return rc;
    }
    *out = l;
    return DRIFTQ_OK;
}

DRIFTQ_API size_t driftq_topic_list_count(const driftq_topic_list *l)
{
    return l ? l->names.n : 0;
}
DRIFTQ_API const char *driftq_topic_list_name(const driftq_topic_list *l, size_t i)
{
    return l ? rc_strlist_at(&l->names, i) : NULL;
}
DRIFTQ_API int driftq_topic_list_contains(const driftq_topic_list *l, const char *name)
{
    return l && rc_strlist_contains(&l->names, name);
}
DRIFTQ_API void driftq_topic_list_free(driftq_topic_list *l)
{
    if (!l)
        return;
    rc_strlist_free(&l->names);
    free(l);
}

static int check_name(driftq_client *c, const char *what, const char *s)
{
    if (!s || !*s)
        return dq_set_err(c, DRIFTQ_EINVAL, "%s is required", what);
    if (!rc_utf8_valid(s, strlen(s)))
        return dq_set_err(c, DRIFTQ_EINVAL, "%s is not valid UTF-8", what);
    return DRIFTQ_OK;
}

DRIFTQ_API int driftq_topic_create(driftq_client *c, const char *name, int partitions)
{
    if (!c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    int rc = check_name(c, "topic name", name);
    if (rc)
        return rc;
    if (partitions <= 0)
        partitions = 1;
    rc_buf_reset(&c->body);
    int e = rc_buf_puts(&c->body, "{\"name\":");
    e |= rc_buf_json_str(&c->body, name, strlen(name));
    e |= rc_buf_printf(&c->body, ",\"partitions\":%d}", partitions);
    const char *url = url_for(c, "/topics");
    if (e || !url)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    /* Creating a topic is idempotent on the broker, so it is safe to retry. */
    return dq_call(c, "POST", url, c->body.data, c->body.len, DQ_RETRY_SAFE);
}

DRIFTQ_API int driftq_topic_ensure(driftq_client *c, const char *name, int partitions)
{
    int rc = driftq_topic_create(c, name, partitions);
    if (rc)
        return rc;
    driftq_topic_list *l = NULL;
    rc = driftq_topic_list_get(&l, c);
    if (rc)
        return rc;
    int ok = driftq_topic_list_contains(l, name);
    driftq_topic_list_free(l);
    if (!ok)
        return dq_set_err(c, DRIFTQ_EPROTOCOL,
                          "topic \"%s\" is not listed after the broker answered its create", name);
    return DRIFTQ_OK;
}

/* ---- produce ---- */

DRIFTQ_API int driftq_envelope_init(driftq_envelope *env, unsigned int version)
{
    if (!env || version != DRIFTQ_ENVELOPE_VERSION)
        return DRIFTQ_EINVAL;
    driftq_envelope d = DRIFTQ_ENVELOPE_INIT;
    *env = d;
    return DRIFTQ_OK;
}

static int put_field(rc_buf *b, int *first, const char *name, const char *v)
{
    if (!v)
        return 0;
    if (rc_buf_puts(b, *first ? "\"" : ",\"") < 0 || rc_buf_puts(b, name) < 0 ||
        rc_buf_puts(b, "\":") < 0)
        return -1;
    *first = 0;
    return rc_buf_json_str(b, v, strlen(v));
}

static int format_rfc3339(char *dst, size_t cap, int64_t ms)
{
    time_t s = (time_t)(ms / 1000);
    int frac = (int)(ms % 1000);
    if (frac < 0) {
        frac += 1000;
        s -= 1;
    }
    struct tm tm;
    if (!gmtime_r(&s, &tm))
        return -1;
    char date[40];
    if (!strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm))
        return -1;
    snprintf(dst, cap, "%s.%03dZ", date, frac);
    return 0;
}

static int put_envelope(driftq_client *c, rc_buf *b, const driftq_envelope *env)
{
    if (env->retry_max_attempts < 0 || env->retry_backoff_ms < 0 || env->retry_max_backoff_ms < 0)
        return dq_set_err(c, DRIFTQ_EINVAL, "retry policy values must not be negative");
    if (env->retry_max_attempts == 0 && (env->retry_backoff_ms || env->retry_max_backoff_ms))
        return dq_set_err(c, DRIFTQ_EINVAL, "retry backoff needs max_attempts > 0");
    if (env->partition_override < -1)
        return dq_set_err(c, DRIFTQ_EINVAL, "partition_override must be >= 0 (or -1: none)");
    if (env->deadline_ms < 0)
        return dq_set_err(c, DRIFTQ_EINVAL, "deadline_ms must be >= 0");
    int first = 1;
    size_t mark = b->len;
    if (rc_buf_puts(b, ",\"envelope\":{") < 0)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    const char *names[] = {"run_id",    "step_id",         "parent_step_id",
                           "tenant_id", "idempotency_key", "target_topic"};
    const char *vals[] = {env->run_id,    env->step_id,         env->parent_step_id,
                          env->tenant_id, env->idempotency_key, env->target_topic};
    for (size_t i = 0; i < 6; i++) {
        int r = put_field(b, &first, names[i], vals[i]);
        if (r == -2)
            return dq_set_err(c, DRIFTQ_EINVAL, "envelope %s is not valid UTF-8", names[i]);
        if (r)
            return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    }
    int e = 0;
    if (env->deadline_ms > 0) {
        char ts[64];
        if (format_rfc3339(ts, sizeof ts, env->deadline_ms) < 0)
            return dq_set_err(c, DRIFTQ_EINVAL, "deadline_ms is out of range");
        e |= put_field(b, &first, "deadline", ts);
    }
    if (env->partition_override >= 0) {
        e |= rc_buf_printf(b, "%s\"partition_override\":%d", first ? "" : ",",
                           env->partition_override);
        first = 0;
    }
    if (env->retry_max_attempts > 0) {
        /* The three retry members go out as the broker's "retry_policy" object. */
        e |= rc_buf_printf(b, "%s\"retry_policy\":{\"max_attempts\":%d", first ? "" : ",",
                           env->retry_max_attempts);
        if (env->retry_backoff_ms)
            e |= rc_buf_printf(b, ",\"backoff_ms\":%lld", (long long)env->retry_backoff_ms);
        if (env->retry_max_backoff_ms)
            e |= rc_buf_printf(b, ",\"max_backoff_ms\":%lld", (long long)env->retry_max_backoff_ms);
        e |= rc_buf_putc(b, '}');
        first = 0;
    }
    if (e)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    if (first) {
        /* Nothing set: leave the envelope out entirely. */
        b->len = mark;
        b->data[mark] = '\0';
        return DRIFTQ_OK;
    }
    return rc_buf_putc(b, '}') ? dq_set_err(c, DRIFTQ_ENOMEM, "out of memory") : DRIFTQ_OK;
}

DRIFTQ_API int driftq_produce(driftq_client *c, const char *topic, const char *key,
                              const char *value, size_t value_len, const driftq_envelope *env)
{
    if (!c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    int rc = check_name(c, "topic", topic);
    if (rc)
        return rc;
    if (!value || value_len == 0)
        return dq_set_err(c, DRIFTQ_EINVAL, "value is required (the broker rejects empty values)");
    if (env && env->version != DRIFTQ_ENVELOPE_VERSION)
        return dq_set_err(c, DRIFTQ_EINVAL, "unknown envelope version %u", env->version);
    size_t key_len = key ? strlen(key) : 0;
    if (value_len > DRIFTQ_MAX_MESSAGE_BYTES || key_len > DRIFTQ_MAX_MESSAGE_BYTES - value_len)
        return dq_set_err(c, DRIFTQ_ETOOLARGE,
                          "key+value is %zu bytes; the broker never accepts %d or more: send a "
                          "reference instead of the body",
                          key_len + value_len, DRIFTQ_MAX_MESSAGE_BYTES + 1);
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    if (rc_buf_puts(b, "{\"topic\":") < 0)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    if (rc_buf_json_str(b, topic, strlen(topic)) < 0)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    if (key_len) {
        if (rc_buf_puts(b, ",\"key\":") < 0)
            return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
        int r = rc_buf_json_str(b, key, key_len);
        if (r == -2)
            return dq_set_err(c, DRIFTQ_EINVAL, "key is not valid UTF-8");
        if (r)
            return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    }
    if (rc_buf_puts(b, ",\"value\":") < 0)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    int r = rc_buf_json_str(b, value, value_len);
    if (r == -2)
        return dq_set_err(c, DRIFTQ_EINVAL,
                          "value is not valid UTF-8 (the broker has no binary "
                          "encoding: encode binary data as text)");
    if (r)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    if (env && (rc = put_envelope(c, b, env)) != DRIFTQ_OK)
        return rc;
    if (rc_buf_putc(b, '}') < 0)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    const char *url = url_for(c, "/produce");
    if (!url)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    int keyed = env && env->idempotency_key && *env->idempotency_key;
    return dq_call(c, "POST", url, b->data, b->len, keyed ? DQ_RETRY_SAFE : DQ_RETRY_429_ONLY);
}

/* ---- ack / nack ---- */

static int ack_common(driftq_client *c, const char *path, const char *topic, const char *group,
                      const char *owner, int partition, int64_t offset, const char *reason,
                      int with_reason)
{
    if (!c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    int rc;
    if ((rc = check_name(c, "topic", topic)) || (rc = check_name(c, "group", group)) ||
        (rc = check_name(c, "owner", owner)))
        return rc;
    if (partition < 0 || offset < 0)
        return dq_set_err(c, DRIFTQ_EINVAL, "partition and offset must be >= 0");
    rc_buf *b = &c->body;
    rc_buf_reset(b);
    int e = rc_buf_puts(b, "{\"topic\":");
    e |= rc_buf_json_str(b, topic, strlen(topic));
    e |= rc_buf_puts(b, ",\"group\":");
    e |= rc_buf_json_str(b, group, strlen(group));
    e |= rc_buf_puts(b, ",\"owner\":");
    e |= rc_buf_json_str(b, owner, strlen(owner));
    e |= rc_buf_printf(b, ",\"partition\":%d,\"offset\":%lld", partition, (long long)offset);
    if (with_reason && reason) {
        e |= rc_buf_puts(b, ",\"reason\":");
        int r = rc_buf_json_str(b, reason, strlen(reason));
        if (r == -2)
            return dq_set_err(c, DRIFTQ_EINVAL, "reason is not valid UTF-8");
        e |= r;
    }
    e |= rc_buf_putc(b, '}');
    const char *url = url_for(c, path);
    if (e || !url)
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    /* Never re-sent after it may have arrived: a second ack would only answer "not in-flight". */
    return dq_call(c, "POST", url, b->data, b->len, DQ_RETRY_429_ONLY);
}

DRIFTQ_API int driftq_ack(driftq_client *c, const char *topic, const char *group, const char *owner,
                          int partition, int64_t offset)
{
    return ack_common(c, "/ack", topic, group, owner, partition, offset, NULL, 0);
}

DRIFTQ_API int driftq_nack(driftq_client *c, const char *topic, const char *group,
                           const char *owner, int partition, int64_t offset, const char *reason)
{
    return ack_common(c, "/nack", topic, group, owner, partition, offset, reason, 1);
}
