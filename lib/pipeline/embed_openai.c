/* The "openai" embedder: POST {base}/v1/embeddings on any OpenAI-compatible service. */
#include "internal.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"
#include "http.h"

typedef struct openai_emb {
    rp_embedder base;
    rc_http *http;
    char *url, *model;
    size_t batch, dim, max_response;
    int retries;
    long backoff_ms;
    rp_warn_fn warn;
    void *warn_ud;
    char err[512];
} openai_emb;

static const char *o_name(const rp_embedder *e)
{
    return "openai";
}

static const char *o_model(const rp_embedder *e)
{
    return ((const openai_emb *)e)->model;
}

static size_t o_dim(const rp_embedder *e)
{
    return ((const openai_emb *)e)->dim;
}

static const char *o_errmsg(const rp_embedder *e)
{
    return ((const openai_emb *)e)->err;
}

static void o_free(rp_embedder *e)
{
    openai_emb *o = (openai_emb *)e;
    if (!o)
        return;
    rc_http_free(o->http);
    free(o->url);
    free(o->model);
    free(o);
}

static int o_fail(openai_emb *o, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int o_fail(openai_emb *o, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->err, sizeof o->err, fmt, ap);
    va_end(ap);
    return code;
}

/* The service's error text ({"error":{"message":..}} or {"error":".."}), else the body's start. */
static void error_text(char *dst, size_t cap, const rc_buf *body)
{
    dst[0] = 0;
    if (!body->data)
        return;
    json_object *j = json_tokener_parse(body->data), *e, *m;
    if (j && json_object_object_get_ex(j, "error", &e)) {
        if (json_object_is_type(e, json_type_string))
            snprintf(dst, cap, "%s", json_object_get_string(e));
        else if (json_object_object_get_ex(e, "message", &m))
            snprintf(dst, cap, "%s", json_object_get_string(m));
    }
    if (!dst[0])
        snprintf(dst, cap, "%.200s", body->data);
    json_object_put(j);
}

/* Parses a reply for n texts into v (n * o->dim floats; *v allocated on the first reply). */
static int parse_reply(openai_emb *o, float **v, size_t off, size_t total, size_t n,
                       const rc_buf *body)
{
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return o_fail(o, RP_ENOMEM, "out of memory");
    json_object *j = json_tokener_parse_ex(tok, body->data ? body->data : "", (int)body->len);
    int perr = json_tokener_get_error(tok) != json_tokener_success ||
               json_tokener_get_parse_end(tok) != body->len;
    json_tokener_free(tok);
    json_object *data = NULL;
    int rc = RP_OK;
    char *seen = NULL;
    if (perr || !j || !json_object_object_get_ex(j, "data", &data) ||
        !json_object_is_type(data, json_type_array)) {
        rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: not {\"data\":[...]}");
        goto out;
    }
    if (json_object_array_length(data) != n) {
        rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: %zu embeddings for %zu inputs",
                    json_object_array_length(data), n);
        goto out;
    }
    if (!(seen = calloc(n, 1))) {
        rc = o_fail(o, RP_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *item = json_object_array_get_idx(data, i), *idx, *emb;
        size_t k = i;
        if (json_object_object_get_ex(item, "index", &idx)) {
            int64_t x = json_object_get_int64(idx);
            if (!json_object_is_type(idx, json_type_int) || x < 0 || (uint64_t)x >= n) {
                rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: bad index");
                goto out;
            }
            k = (size_t)x;
        }
        if (seen[k]) {
            rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: index %zu twice", k);
            goto out;
        }
        seen[k] = 1;
        if (!json_object_object_get_ex(item, "embedding", &emb) ||
            !json_object_is_type(emb, json_type_array)) {
            rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: item %zu has no embedding array", i);
            goto out;
        }
        size_t d = json_object_array_length(emb);
        if (d == 0) {
            rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: empty embedding");
            goto out;
        }
        if (o->dim == 0)
            o->dim = d; /* learned from the first answer */
        if (d != o->dim) {
            rc = o_fail(o, RP_EDIM, "embedding of dimension %zu, expected %zu", d, o->dim);
            goto out;
        }
        if (!*v) {
            if (total > SIZE_MAX / sizeof(float) / o->dim ||
                !(*v = malloc(total * o->dim * sizeof(float)))) {
                rc = o_fail(o, RP_ENOMEM, "out of memory");
                goto out;
            }
        }
        float *dst = *v + (off + k) * o->dim;
        for (size_t c = 0; c < d; c++) {
            json_object *x = json_object_array_get_idx(emb, c);
            if (!json_object_is_type(x, json_type_double) &&
                !json_object_is_type(x, json_type_int)) {
                rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: non-numeric component");
                goto out;
            }
            double val = json_object_get_double(x);
            if (!isfinite(val) || fabs(val) > 3.4e38) {
                rc = o_fail(o, RP_EPROTOCOL, "embeddings reply: component out of range");
                goto out;
            }
            dst[c] = (float)val;
        }
    }
out:
    free(seen);
    json_object_put(j);
    return rc;
}

static int post_batch(openai_emb *o, rc_http_resp *resp, const rc_buf *body)
{
    long backoff = o->backoff_ms;
    for (int attempt = 0;; attempt++) {
        rc_http_resp_free(resp);
        rc_http_resp_init(resp);
        int rc = rc_http_request(o->http, "POST", o->url, body->data, body->len, "application/json",
                                 resp);
        int retryable;
        char what[300];
        if (rc == RC_ENOMEM)
            return o_fail(o, RP_ENOMEM, "out of memory");
        if (rc == RC_ETOOBIG)
            return o_fail(o, RP_EPROTOCOL, "embeddings reply larger than %zu bytes",
                          o->max_response);
        if (rc != RC_OK) {
            retryable = 1;
            snprintf(what, sizeof what, "transport error: %s", resp->error);
        } else if (resp->status >= 200 && resp->status < 300) {
            return RP_OK;
        } else {
            retryable = resp->status == 429 || resp->status >= 500;
            char msg[256];
            error_text(msg, sizeof msg, &resp->body);
            snprintf(what, sizeof what, "HTTP %ld: %s", resp->status, msg);
        }
        if (!retryable || attempt >= o->retries)
            return o_fail(o, rc != RC_OK ? RP_ETRANSPORT : RP_EHTTP, "%s: %s%s", o->url, what,
                          retryable ? " (retries exhausted)" : "");
        long wait = backoff;
        if (rc == RC_OK && resp->retry_after_ms >= 0)
            wait = resp->retry_after_ms > 60000 ? 60000 : resp->retry_after_ms;
        rp_warnf(o->warn, o->warn_ud, "embeddings: %s; retry %d/%d in %ld ms", what, attempt + 1,
                 o->retries, wait);
        rc_sleep_ms(wait, -1, NULL);
        backoff = backoff * 2 > 30000 ? 30000 : backoff * 2;
    }
}

static int o_embed(rp_embedder *e, float **out, const char *const *texts, size_t n)
{
    openai_emb *o = (openai_emb *)e;
    o->err[0] = 0;
    float *v = NULL;
    rc_buf body = RC_BUF_INIT;
    rc_http_resp resp;
    rc_http_resp_init(&resp);
    int rc = RP_OK;
    for (size_t off = 0; off < n && rc == RP_OK; off += o->batch) {
        size_t m = n - off < o->batch ? n - off : o->batch;
        rc_buf_reset(&body);
        int brc = rc_buf_puts(&body, "{\"model\":");
        brc |= rc_buf_json_str(&body, o->model, strlen(o->model));
        brc |= rc_buf_puts(&body, ",\"input\":[");
        for (size_t i = 0; i < m && brc >= 0; i++) {
            if (i)
                brc |= rc_buf_putc(&body, ',');
            int jr = rc_buf_json_str(&body, texts[off + i], strlen(texts[off + i]));
            if (jr == -2) {
                rc = o_fail(o, RP_EENCODING, "input %zu is not valid UTF-8", off + i);
                break;
            }
            brc |= jr;
        }
        brc |= rc_buf_puts(&body, "]}");
        if (rc)
            break;
        if (brc < 0) {
            rc = o_fail(o, RP_ENOMEM, "out of memory");
            break;
        }
        if ((rc = post_batch(o, &resp, &body)) == RP_OK)
            rc = parse_reply(o, &v, off, n, m, &resp.body);
    }
    rc_buf_free(&body);
    rc_http_resp_free(&resp);
    if (rc == RP_OK && !v && !(v = malloc(sizeof(float))))
        rc = o_fail(o, RP_ENOMEM, "out of memory");
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    return RP_OK;
}

static const rp_embedder_vtable openai_vt = {o_name, o_model, o_dim, o_embed, o_errmsg, o_free};

int rp_embedder_openai_new(rp_embedder **out, const rp_openai_options *opts, char *err,
                           size_t errlen)
{
    if (!out || !opts || !opts->base_url || !*opts->base_url || !opts->model || !*opts->model)
        return rp_err(err, errlen, RP_EINVAL, "openai embedder: base_url and model are required");
    if (opts->max_retries < 0 || opts->batch_size > 100000)
        return rp_err(err, errlen, RP_EINVAL, "openai embedder: bad retries or batch size");
    if (opts->api_key && strpbrk(opts->api_key, "\r\n"))
        return rp_err(err, errlen, RP_EINVAL, "openai embedder: bad api key");
    openai_emb *o = calloc(1, sizeof *o);
    if (!o)
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
    o->base.vt = &openai_vt;
    o->batch = opts->batch_size ? opts->batch_size : 64;
    o->retries = opts->max_retries;
    o->backoff_ms = opts->backoff_ms > 0 ? opts->backoff_ms : 200;
    o->dim = opts->dim;
    o->max_response = opts->max_response ? opts->max_response : (256u << 20);
    o->warn = opts->warn;
    o->warn_ud = opts->warn_ud;
    size_t bl = strlen(opts->base_url);
    while (bl && opts->base_url[bl - 1] == '/')
        bl--;
    int has_v1 = bl >= 3 && !memcmp(opts->base_url + bl - 3, "/v1", 3);
    char *auth = NULL;
    int rc = RP_ENOMEM;
    if (asprintf(&o->url, "%.*s%s/embeddings", (int)bl, opts->base_url, has_v1 ? "" : "/v1") < 0) {
        o->url = NULL;
        goto fail;
    }
    if (!(o->model = strdup(opts->model)))
        goto fail;
    if (opts->api_key && asprintf(&auth, "Authorization: Bearer %s", opts->api_key) < 0) {
        auth = NULL;
        goto fail;
    }
    const char *hdrs[] = {auth, NULL};
    rc_http_config cfg = {0};
    cfg.user_agent = "ragkit-pipeline/0.1";
    cfg.connect_timeout_ms = 10000;
    cfg.timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : 60000;
    cfg.max_response = o->max_response;
    cfg.verify_tls = 1;
    cfg.extra_headers = auth ? hdrs : NULL;
    int hr = rc_http_new(&o->http, &cfg);
    if (auth) { /* wipe the copy of the key we made */
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    if (hr) {
        rc = hr == RC_ENOMEM ? RP_ENOMEM : RP_EINVAL;
        goto fail;
    }
    *out = &o->base;
    return RP_OK;
fail:
    o_free(&o->base);
    return rp_err(err, errlen, rc, "openai embedder: %s", rp_strerror(rc));
}
