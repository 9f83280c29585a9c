/* The consume stream: connecting, reading, reconnecting with backoff, stop handling, and
 * acking or nacking a delivered message. Decoding the stream's lines is message.c's. */
#include "internal.h"
#include "message.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

DRIFTQ_API int driftq_message_ack(driftq_client *c, const driftq_message *m)
{
    if (!c || !m)
        return DRIFTQ_EINVAL;
    return driftq_ack(c, m->topic, m->group, m->owner, m->partition, m->offset);
}

DRIFTQ_API int driftq_message_nack(driftq_client *c, const driftq_message *m, const char *reason)
{
    if (!c || !m)
        return DRIFTQ_EINVAL;
    return driftq_nack(c, m->topic, m->group, m->owner, m->partition, m->offset, reason);
}

/* ---- consume ---- */

DRIFTQ_API int driftq_consume_options_init(driftq_consume_options *opts, unsigned int version)
{
    if (!opts || version != DRIFTQ_CONSUME_OPTIONS_VERSION)
        return DRIFTQ_EINVAL;
    driftq_consume_options d = DRIFTQ_CONSUME_OPTIONS_INIT;
    *opts = d;
    return DRIFTQ_OK;
}

DRIFTQ_API void driftq_consume_stop(driftq_client *c)
{
    if (!c)
        return;
    int saved = errno;
    atomic_store(&c->stop, 1);
    if (c->wake_wr >= 0) {
        ssize_t w = write(c->wake_wr, "x", 1);
        (void)w; /* a full pipe already wakes the reader */
    }
    errno = saved;
}

static void clear_stop(driftq_client *c)
{
    char tmp[64];
    while (read(c->wake_rd, tmp, sizeof tmp) > 0)
        ;
    atomic_store(&c->stop, 0);
}

typedef struct {
    driftq_client *c;
    driftq_message_fn fn;
    void *ud;
    struct driftq_message msg;
    int decode_failed;
    int nomem;
    unsigned long delivered;
    char why[200];
} consume_ctx;

static int on_line(const char *line, size_t len, void *ud)
{
    consume_ctx *x = ud;
    int r = dq_message_decode(&x->msg, x->c->tok, line, len, x->why, sizeof x->why);
    if (r == -1) {
        x->decode_failed = 1;
        return 1;
    }
    if (r == -2) {
        x->nomem = 1;
        return 1;
    }
    x->delivered++;
    int ret = x->fn(x->c, &x->msg, x->ud);
    return ret ? ret : 0;
}

DRIFTQ_API int driftq_consume(driftq_client *c, const char *topic, const char *group,
                              const driftq_consume_options *opts, driftq_message_fn fn,
                              void *userdata)
{
    if (!c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    driftq_consume_options defaults = DRIFTQ_CONSUME_OPTIONS_INIT;
    if (!opts)
        opts = &defaults;
    if (opts->version != DRIFTQ_CONSUME_OPTIONS_VERSION)
        return dq_set_err(c, DRIFTQ_EINVAL, "unknown consume options version %u", opts->version);
    if (!fn)
        return dq_set_err(c, DRIFTQ_EINVAL, "a message callback is required");
    if (!topic || !*topic || !group || !*group)
        return dq_set_err(c, DRIFTQ_EINVAL, "topic and group are required");
    if (opts->lease_ms < 0 || opts->reconnect_backoff_ms < 0 || opts->reconnect_max_backoff_ms < 0)
        return dq_set_err(c, DRIFTQ_EINVAL, "lease and backoff values must not be negative");
    const char *owner = opts->owner && *opts->owner ? opts->owner : c->owner;
    if (atomic_load(&c->stop)) {
        clear_stop(c);
        return DRIFTQ_OK;
    }
    rc_buf url = RC_BUF_INIT;
    int e = rc_buf_puts(&url, c->base);
    e |= rc_buf_puts(&url, "/consume?topic=");
    e |= rc_buf_urlenc(&url, topic);
    e |= rc_buf_puts(&url, "&group=");
    e |= rc_buf_urlenc(&url, group);
    e |= rc_buf_puts(&url, "&owner=");
    e |= rc_buf_urlenc(&url, owner);
    if (opts->lease_ms > 0)
        e |= rc_buf_printf(&url, "&lease_ms=%lld", (long long)opts->lease_ms);
    consume_ctx x;
    memset(&x, 0, sizeof x);
    x.c = c;
    x.fn = fn;
    x.ud = userdata;
    x.msg.topic = topic;
    x.msg.group = group;
    x.msg.owner = owner;
    if (e) {
        rc_buf_free(&url);
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    }
    rc_http_resp resp;
    rc_http_resp_init(&resp);
    int cb_ret = 0;
    rc_http_stream_cfg sc = {
        on_line,    &x,       opts->max_line_bytes ? opts->max_line_bytes : (1u << 20),
        c->wake_rd, &c->stop, &cb_ret};
    int failures = 0, rc = DRIFTQ_OK;
    for (;;) {
        unsigned long before = x.delivered;
        int hr = rc_http_stream(c->stream, url.data, &sc, &resp);
        if (hr == RC_ESTOPPED) {
            clear_stop(c);
            rc = DRIFTQ_OK;
            break;
        }
        if (hr == RC_ECALLBACK) {
            if (x.decode_failed)
                rc = dq_set_err(c, DRIFTQ_EPROTOCOL, "%s", x.why);
            else if (x.nomem)
                rc = dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
            else
                rc = dq_set_err(c, DRIFTQ_ESTOPPED, "stopped by callback (returned %d)", cb_ret);
            break;
        }
        if (hr == RC_ENOMEM || hr == RC_ETOOBIG) {
            rc = dq_map_rc(c, hr, &resp);
            break;
        }
        if (resp.status && (resp.status < 200 || resp.status >= 300)) {
            dq_reset_err(c);
            rc = dq_map_status(c, &resp);
            if (rc != DRIFTQ_EOVERLOADED && rc != DRIFTQ_ESERVER)
                break;
        } else if (hr == RC_OK) {
            dq_log(c, DRIFTQ_LOG_INFO, "consume stream on %s ended; reconnecting", topic);
        } else {
            dq_reset_err(c);
            rc = dq_map_rc(c, hr, &resp);
            dq_log(c, DRIFTQ_LOG_INFO, "consume stream on %s broke (%s); reconnecting", topic,
                   c->errmsg);
        }
        if (x.delivered != before)
            failures = 0;
        failures++;
        if (opts->max_reconnects >= 0 && failures > opts->max_reconnects) {
            if (rc == DRIFTQ_OK)
                rc = dq_set_err(c, DRIFTQ_ETRANSPORT, "consume stream ended %d times in a row",
                                failures);
            break;
        }
        long wait =
            dq_backoff(c, failures - 1, opts->reconnect_backoff_ms, opts->reconnect_max_backoff_ms);
        if (c->retry_after_ms > wait)
            wait = c->retry_after_ms;
        if (rc_sleep_ms(wait, c->wake_rd, &c->stop)) {
            clear_stop(c);
            dq_reset_err(c);
            rc = DRIFTQ_OK;
            break;
        }
        rc = DRIFTQ_OK;
    }
    rc_http_resp_free(&resp);
    rc_buf_free(&x.msg.arena);
    rc_buf_free(&url);
    return rc;
}
