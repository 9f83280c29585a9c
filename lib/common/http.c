#include "http.h"

#include "clock.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct rc_http {
    CURL *easy;
    CURLM *multi; /* created on the first stream */
    struct curl_slist *extra;
    size_t max_response;
    long timeout_ms;
    long connects;
    rc_log_fn log;
    void *log_ud;
    /* per-transfer state */
    rc_http_resp *resp;
    int too_big;
    int streaming;
    rc_ndjson nd;
    int nd_ret;
    const atomic_int *stop;
    char rid_prefix[40];
    unsigned long long rid_seq;
    /* a copy of the configuration, for rc_http_pool_new_like */
    char *ua, *ca_file, *ca_path;
    long connect_timeout_ms;
    int verify_tls;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    /* Never paired with curl_global_cleanup(): the process may have other curl users. */
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void logf_(rc_http *h, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(rc_http *h, int level, const char *fmt, ...)
{
    if (!h->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    h->log(level, msg, h->log_ud);
}

int rc_buf_urlenc(rc_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned c = *p;
        int plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~';
        if (plain) {
            if (rc_buf_putc(b, (char)c) < 0)
                return -1;
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            if (rc_buf_append(b, e, 3) < 0)
                return -1;
        }
    }
    return 0;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    rc_http *h = ud;
    size_t len = size * n;
    rc_http_resp *r = h->resp;
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* A new response (after 100-continue or a redirect): forget earlier headers. */
        r->request_id[0] = r->content_type[0] = '\0';
        r->retry_after_ms = -1;
        return len;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - data);
    const char *v = colon + 1;
    const char *end = data + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    size_t vlen = (size_t)(end - v);
    char *dst = NULL;
    size_t cap = 0;
    if (nlen == 12 && strncasecmp(data, "x-request-id", 12) == 0) {
        dst = r->request_id;
        cap = sizeof r->request_id;
    } else if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
        dst = r->content_type;
        cap = sizeof r->content_type;
    } else if (nlen == 11 && strncasecmp(data, "retry-after", 11) == 0) {
        char tmp[32];
        if (vlen && vlen < sizeof tmp) {
            memcpy(tmp, v, vlen);
            tmp[vlen] = '\0';
            char *e;
            long s = strtol(tmp, &e, 10);
            if (*e == '\0' && s >= 0 && s < 86400)
                r->retry_after_ms = s * 1000;
        }
        return len;
    }
    if (dst) {
        if (vlen >= cap)
            vlen = cap - 1;
        memcpy(dst, v, vlen);
        dst[vlen] = '\0';
    }
    return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    rc_http *h = ud;
    size_t len = size * n;
    if (h->stop && atomic_load(h->stop))
        return 0;
    if (h->streaming) {
        long status = 0;
        curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &status);
        if (status >= 200 && status < 300) {
            int r = rc_ndjson_feed(&h->nd, data, len);
            if (r) {
                h->nd_ret = r;
                return 0;
            }
            return len;
        }
    }
    if (h->resp->body.len + len > h->max_response) {
        h->too_big = 1;
        return 0;
    }
    if (rc_buf_append(&h->resp->body, data, len) < 0) {
        h->too_big = 2;
        return 0;
    }
    return len;
}

static int sockopt_cb(void *ud, curl_socket_t fd, curlsocktype purpose)
{
    (void)fd;
    (void)purpose;
    rc_http *h = ud;
    h->connects++;
    return CURL_SOCKOPT_OK;
}

int rc_http_new(rc_http **out, const rc_http_config *cfg)
{
    if (!out || !cfg)
        return RC_EINVAL;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return RC_ENOMEM;
    rc_http *h = calloc(1, sizeof *h);
    if (!h)
        return RC_ENOMEM;
    h->easy = curl_easy_init();
    if (!h->easy) {
        free(h);
        return RC_ENOMEM;
    }
    h->max_response = cfg->max_response ? cfg->max_response : (64u << 20);
    h->connect_timeout_ms = cfg->connect_timeout_ms;
    h->verify_tls = cfg->verify_tls;
    h->ua = strdup(cfg->user_agent ? cfg->user_agent : "rc-http");
    h->ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    h->ca_path = cfg->ca_path ? strdup(cfg->ca_path) : NULL;
    if (!h->ua || (cfg->ca_file && !h->ca_file) || (cfg->ca_path && !h->ca_path))
        goto nomem;
    h->timeout_ms = cfg->timeout_ms;
    h->log = cfg->log;
    h->log_ud = cfg->log_ud;
    if (cfg->request_id_prefix)
        snprintf(h->rid_prefix, sizeof h->rid_prefix, "%s", cfg->request_id_prefix);
    struct curl_slist *l = curl_slist_append(NULL, "Expect:");
    if (!l)
        goto nomem;
    h->extra = l;
    for (const char *const *p = cfg->extra_headers; p && *p; p++) {
        l = curl_slist_append(h->extra, *p);
        if (!l)
            goto nomem;
        h->extra = l;
    }
    CURL *e = h->easy;
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, cfg->user_agent ? cfg->user_agent : "rc-http");
    if (cfg->connect_timeout_ms > 0)
        curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
    curl_easy_setopt(e, CURLOPT_SOCKOPTDATA, h);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cfg->verify_tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cfg->verify_tls ? 2L : 0L);
    if (cfg->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, cfg->ca_file);
    if (cfg->ca_path)
        curl_easy_setopt(e, CURLOPT_CAPATH, cfg->ca_path);
    *out = h;
    return RC_OK;
nomem:
    curl_slist_free_all(h->extra);
    curl_easy_cleanup(h->easy);
    free(h->ua);
    free(h->ca_file);
    free(h->ca_path);
    free(h);
    return RC_ENOMEM;
}

void rc_http_free(rc_http *h)
{
    if (!h)
        return;
    if (h->multi)
        curl_multi_cleanup(h->multi);
    curl_easy_cleanup(h->easy);
    curl_slist_free_all(h->extra);
    rc_ndjson_free(&h->nd);
    free(h->ua);
    free(h->ca_file);
    free(h->ca_path);
    free(h);
}

long rc_http_connects(const rc_http *h)
{
    return h ? h->connects : 0;
}

void rc_http_resp_init(rc_http_resp *r)
{
    memset(r, 0, sizeof *r);
    r->retry_after_ms = -1;
}

void rc_http_resp_free(rc_http_resp *r)
{
    if (r)
        rc_buf_free(&r->body);
}

static void resp_clear(rc_http_resp *r)
{
    rc_buf_reset(&r->body);
    r->status = 0;
    r->request_id[0] = r->content_type[0] = r->error[0] = '\0';
    r->retry_after_ms = -1;
    r->reused_connection = 0;
}

static struct curl_slist *build_headers(rc_http *h, const char *content_type, int has_body)
{
    struct curl_slist *l = NULL, *t;
    for (struct curl_slist *p = h->extra; p; p = p->next) {
        t = curl_slist_append(l, p->data);
        if (!t)
            goto fail;
        l = t;
    }
    if (h->rid_prefix[0]) {
        char line[96];
        snprintf(line, sizeof line, "X-Request-Id: %s-%llu", h->rid_prefix, ++h->rid_seq);
        t = curl_slist_append(l, line);
        if (!t)
            goto fail;
        l = t;
    }
    if (has_body && content_type) {
        char line[160];
        snprintf(line, sizeof line, "Content-Type: %s", content_type);
        t = curl_slist_append(l, line);
        if (!t)
            goto fail;
        l = t;
    }
    return l;
fail:
    curl_slist_free_all(l);
    return NULL;
}

static int map_curl(CURLcode cc)
{
    switch (cc) {
    case CURLE_OK:
        return RC_OK;
    case CURLE_OPERATION_TIMEDOUT:
        return RC_ETIMEOUT;
    case CURLE_OUT_OF_MEMORY:
        return RC_ENOMEM;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return RC_ECONNECT;
    default:
        return RC_ETRANSPORT;
    }
}

/* Prepares h's easy handle for one attempt of a request (shared by rc_http_request and the
 * parallel pool). body stays the caller's until the transfer is done. */
static void setup_attempt(rc_http *h, const char *method, const char *url, const char *body,
                          size_t body_len, struct curl_slist *hdrs, rc_http_resp *resp, int fresh)
{
    CURL *e = h->easy;
    resp_clear(resp);
    h->resp = resp;
    h->too_big = 0;
    h->streaming = 0;
    h->stop = NULL;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, h->timeout_ms > 0 ? h->timeout_ms : 0L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, fresh ? 1L : 0L);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    } else {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? body_len : 0));
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, strcmp(method, "POST") ? method : NULL);
    }
}

int rc_http_request(rc_http *h, const char *method, const char *url, const char *body,
                    size_t body_len, const char *content_type, rc_http_resp *resp)
{
    if (!h || !method || !url || !resp)
        return RC_EINVAL;
    struct curl_slist *hdrs = build_headers(h, content_type, body != NULL);
    if (!hdrs)
        return RC_ENOMEM;
    CURL *e = h->easy;
    int rc = RC_ETRANSPORT;
    for (int attempt = 0; attempt < 2; attempt++) {
        setup_attempt(h, method, url, body, body_len, hdrs, resp, attempt);
        CURLcode cc = curl_easy_perform(e);
        long new_conns = 0;
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &new_conns);
        resp->reused_connection = new_conns == 0;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
        if (cc == CURLE_OK) {
            rc = RC_OK;
            break;
        }
        if (cc == CURLE_WRITE_ERROR && h->too_big) {
            rc = h->too_big == 2 ? RC_ENOMEM : RC_ETOOBIG;
            snprintf(resp->error, sizeof resp->error, "response body larger than %zu bytes",
                     h->max_response);
            break;
        }
        snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(cc));
        rc = map_curl(cc);
        /* The server may close a kept-alive connection while idle; when the request died on
         * such a connection before any response byte arrived, it never reached the handler:
         * send it again once on a fresh connection. */
        int nothing = resp->status == 0 && resp->body.len == 0;
        if (attempt == 0 && new_conns == 0 && nothing &&
            (cc == CURLE_GOT_NOTHING || cc == CURLE_SEND_ERROR || cc == CURLE_RECV_ERROR)) {
            logf_(h, 1, "kept-alive connection was closed (%s); reconnecting",
                  curl_easy_strerror(cc));
            continue;
        }
        break;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    h->resp = NULL;
    /* POSTFIELDS points at the caller's body: never leave it referenced. */
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    return rc;
}

int rc_http_stream(rc_http *h, const char *url, const rc_http_stream_cfg *cfg, rc_http_resp *resp)
{
    if (!h || !url || !cfg || !cfg->on_line || !resp)
        return RC_EINVAL;
    if (!h->multi) {
        h->multi = curl_multi_init();
        if (!h->multi)
            return RC_ENOMEM;
    }
    struct curl_slist *hdrs = build_headers(h, NULL, 0);
    if (!hdrs)
        return RC_ENOMEM;
    CURL *e = h->easy;
    resp_clear(resp);
    h->resp = resp;
    h->too_big = 0;
    h->streaming = 1;
    h->stop = cfg->stop;
    h->nd_ret = 0;
    rc_ndjson_free(&h->nd);
    rc_ndjson_init(&h->nd, cfg->max_line, cfg->on_line, cfg->ud);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 0L);

    int rc = RC_OK;
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        rc = RC_ENOMEM;
        goto out;
    }
    CURLcode done = CURLE_OK;
    int finished = 0, stopped = 0;
    while (!finished) {
        if (cfg->stop && atomic_load(cfg->stop)) {
            stopped = 1;
            break;
        }
        int running = 0;
        CURLMcode mc = curl_multi_perform(h->multi, &running);
        if (mc != CURLM_OK) {
            rc = RC_ETRANSPORT;
            snprintf(resp->error, sizeof resp->error, "%s", curl_multi_strerror(mc));
            break;
        }
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(h->multi, &left))) {
            if (m->msg == CURLMSG_DONE) {
                done = m->data.result;
                finished = 1;
            }
        }
        if (finished || !running) {
            finished = 1;
            break;
        }
        struct curl_waitfd wfd = {cfg->wake_fd, CURL_WAIT_POLLIN, 0};
        mc = curl_multi_poll(h->multi, cfg->wake_fd >= 0 ? &wfd : NULL, cfg->wake_fd >= 0 ? 1 : 0,
                             1000, NULL);
        if (mc != CURLM_OK) {
            rc = RC_ETRANSPORT;
            break;
        }
        if (wfd.revents & CURL_WAIT_POLLIN) {
            stopped = 1;
            break;
        }
    }
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_multi_remove_handle(h->multi, e);
    if (stopped) {
        rc = RC_ESTOPPED;
    } else if (finished && rc == RC_OK) {
        if (done == CURLE_OK) {
            rc = RC_OK;
        } else if (done == CURLE_WRITE_ERROR && h->nd_ret) {
            if (h->nd_ret == RC_NDJSON_ETOOLONG) {
                rc = RC_ETOOBIG;
                snprintf(resp->error, sizeof resp->error, "stream line longer than %zu bytes",
                         cfg->max_line);
            } else if (h->nd_ret == RC_NDJSON_ENOMEM) {
                rc = RC_ENOMEM;
            } else {
                rc = RC_ECALLBACK;
                if (cfg->cb_ret)
                    *cfg->cb_ret = h->nd_ret;
            }
        } else if (done == CURLE_WRITE_ERROR && cfg->stop && atomic_load(cfg->stop)) {
            rc = RC_ESTOPPED;
        } else if (done == CURLE_WRITE_ERROR && h->too_big) {
            rc = h->too_big == 2 ? RC_ENOMEM : RC_ETOOBIG;
        } else {
            rc = map_curl(done);
            snprintf(resp->error, sizeof resp->error, "%s", curl_easy_strerror(done));
        }
    }
out:
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    h->resp = NULL;
    h->streaming = 0;
    h->stop = NULL;
    rc_ndjson_reset(&h->nd);
    return rc;
}

/* ---- parallel pool ---- */

struct rc_http_pool {
    CURLM *multi; /* its connection cache is shared by every slot */
    size_t n;
    rc_http **slots;
    struct curl_slist **hdrs;
    rc_http_job **running;
};

int rc_http_pool_new(rc_http_pool **out, const rc_http_config *cfg, size_t parallel)
{
    if (!out || !cfg || parallel == 0 || parallel > 64)
        return RC_EINVAL;
    rc_http_pool *p = calloc(1, sizeof *p);
    if (!p)
        return RC_ENOMEM;
    p->n = parallel;
    p->slots = calloc(parallel, sizeof *p->slots);
    p->hdrs = calloc(parallel, sizeof *p->hdrs);
    p->running = calloc(parallel, sizeof *p->running);
    if (!p->slots || !p->hdrs || !p->running)
        goto nomem;
    for (size_t i = 0; i < parallel; i++) {
        if (rc_http_new(&p->slots[i], cfg) != RC_OK)
            goto nomem;
        rc_http *h = p->slots[i];
        if (h->rid_prefix[0]) { /* keep request ids unique across the slots */
            size_t l = strlen(h->rid_prefix);
            snprintf(h->rid_prefix + l, sizeof h->rid_prefix - l, "-p%zu", i);
        }
    }
    p->multi = curl_multi_init();
    if (!p->multi)
        goto nomem;
    *out = p;
    return RC_OK;
nomem:
    rc_http_pool_free(p);
    return RC_ENOMEM;
}

void rc_http_pool_free(rc_http_pool *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++) {
        if (p->slots && p->slots[i] && p->running && p->running[i])
            curl_multi_remove_handle(p->multi, p->slots[i]->easy);
        if (p->hdrs)
            curl_slist_free_all(p->hdrs[i]);
        if (p->slots)
            rc_http_free(p->slots[i]);
    }
    if (p->multi)
        curl_multi_cleanup(p->multi);
    free(p->slots);
    free(p->hdrs);
    free(p->running);
    free(p);
}

size_t rc_http_pool_size(const rc_http_pool *p)
{
    return p ? p->n : 0;
}

long rc_http_pool_connects(const rc_http_pool *p)
{
    long n = 0;
    for (size_t i = 0; p && i < p->n; i++)
        n += p->slots[i]->connects;
    return n;
}

static int start_job(rc_http_pool *p, size_t i, rc_http_job *job)
{
    rc_http *h = p->slots[i];
    curl_slist_free_all(p->hdrs[i]);
    p->hdrs[i] = build_headers(h, job->content_type, job->body != NULL);
    if (!p->hdrs[i])
        return RC_ENOMEM;
    setup_attempt(h, job->method, job->url, job->body, job->body_len, p->hdrs[i], &job->resp, 0);
    if (curl_multi_add_handle(p->multi, h->easy) != CURLM_OK)
        return RC_ENOMEM;
    p->running[i] = job;
    return RC_OK;
}

static void finish_job(rc_http_pool *p, size_t i, CURLcode cc)
{
    rc_http *h = p->slots[i];
    rc_http_job *job = p->running[i];
    curl_multi_remove_handle(p->multi, h->easy);
    curl_easy_getinfo(h->easy, CURLINFO_RESPONSE_CODE, &job->resp.status);
    if (cc == CURLE_OK) {
        job->rc = RC_OK;
    } else if (cc == CURLE_WRITE_ERROR && h->too_big) {
        job->rc = h->too_big == 2 ? RC_ENOMEM : RC_ETOOBIG;
        snprintf(job->resp.error, sizeof job->resp.error, "response body larger than %zu bytes",
                 h->max_response);
    } else {
        job->rc = map_curl(cc);
        snprintf(job->resp.error, sizeof job->resp.error, "%s", curl_easy_strerror(cc));
    }
    curl_easy_setopt(h->easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(h->easy, CURLOPT_POSTFIELDS, NULL);
    h->resp = NULL;
    p->running[i] = NULL;
}

int rc_http_pool_run(rc_http_pool *p, rc_http_next_fn next, rc_http_done_fn done, void *ud)
{
    if (!p || !next || !done)
        return RC_EINVAL;
    int no_more = 0, rc = RC_OK;
    for (;;) {
        long wait_hint = 1000;
        /* Fill idle slots. */
        for (size_t i = 0; i < p->n && !no_more; i++) {
            if (p->running[i])
                continue;
            rc_http_job *job = NULL;
            long hint = 0;
            int r = next(ud, &job, &hint);
            if (r < 0) {
                no_more = 1;
                break;
            }
            if (r == 0) {
                if (hint < wait_hint)
                    wait_hint = hint;
                break;
            }
            if (start_job(p, i, job) != RC_OK) {
                job->rc = RC_ENOMEM;
                done(ud, job);
                rc = RC_ENOMEM;
                no_more = 1;
            }
        }
        size_t active = 0;
        for (size_t i = 0; i < p->n; i++)
            active += p->running[i] != NULL;
        if (!active) {
            if (no_more)
                break;
            /* Nothing running and nothing ready yet (backoff): wait for the hint. */
            rc_sleep_ms(wait_hint > 0 ? wait_hint : 1, -1, NULL);
            continue;
        }
        int still = 0;
        if (curl_multi_perform(p->multi, &still) != CURLM_OK)
            return RC_ETRANSPORT;
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(p->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            for (size_t i = 0; i < p->n; i++) {
                if (p->running[i] && p->slots[i]->easy == m->easy_handle) {
                    rc_http_job *job = p->running[i];
                    finish_job(p, i, m->data.result);
                    done(ud, job);
                    break;
                }
            }
        }
        if (still)
            curl_multi_poll(p->multi, NULL, 0, (int)(wait_hint > 0 ? wait_hint : 1), NULL);
    }
    return rc;
}

int rc_http_pool_new_like(rc_http_pool **out, const rc_http *model, size_t parallel)
{
    if (!out || !model)
        return RC_EINVAL;
    size_t n = 0;
    for (struct curl_slist *p = model->extra; p; p = p->next)
        n++;
    const char **hdrs = calloc(n + 1, sizeof *hdrs);
    if (!hdrs)
        return RC_ENOMEM;
    size_t k = 0;
    for (struct curl_slist *p = model->extra; p; p = p->next)
        if (strcmp(p->data, "Expect:") != 0) /* rc_http_new adds it again */
            hdrs[k++] = p->data;
    rc_http_config cfg = {0};
    cfg.user_agent = model->ua;
    cfg.connect_timeout_ms = model->connect_timeout_ms;
    cfg.timeout_ms = model->timeout_ms;
    cfg.max_response = model->max_response;
    cfg.verify_tls = model->verify_tls;
    cfg.ca_file = model->ca_file;
    cfg.ca_path = model->ca_path;
    cfg.extra_headers = hdrs;
    cfg.request_id_prefix = model->rid_prefix[0] ? model->rid_prefix : NULL;
    cfg.log = model->log;
    cfg.log_ud = model->log_ud;
    int rc = rc_http_pool_new(out, &cfg, parallel);
    free(hdrs);
    return rc;
}
