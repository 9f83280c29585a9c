/* libdriftq internals shared by its source files. */
#ifndef DRIFTQ_INTERNAL_H
#define DRIFTQ_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <json-c/json.h>

#include "driftq/driftq.h"
#include "buf.h"
#include "clock.h"
#include "http.h"

struct driftq_client {
    rc_http *http;   /* requests */
    rc_http *stream; /* the consume stream: separate, so callbacks can ack while it runs */
    char *base;      /* ".../v1" */
    char *root;      /* scheme://host:port[/prefix] for /metrics */
    int max_retries;
    long backoff_ms;
    long max_backoff_ms;
    driftq_log_fn log;
    void *log_ud;
    char owner[160];
    uint64_t rng;
    /* detail of the last call */
    char errmsg[512];
    char server_code[48];
    int http_status;
    long retry_after_ms;
    char request_id[96];
    /* scratch */
    rc_buf body;
    rc_buf url;
    rc_http_resp resp;
    json_tokener *tok;
    /* consume stop: both are async-signal-safe to touch */
    atomic_int stop;
    int wake_rd, wake_wr;
};

/* Retry modes for dq_call. */
enum { DQ_RETRY_SAFE = 0, DQ_RETRY_429_ONLY = 1 };

void dq_reset_err(driftq_client *c);
int dq_set_err(driftq_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dq_log(driftq_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int dq_map_rc(driftq_client *c, int rc, const rc_http_resp *resp);
/* Maps a non-2xx response (status + JSON error body) to an error code, filling the detail. */
int dq_map_status(driftq_client *c, const rc_http_resp *resp);
long dq_backoff(driftq_client *c, int attempt, long base_ms, long max_ms);
/* Parses resp body as JSON (NULL on failure, with the error set). Caller puts the object. */
json_object *dq_parse(driftq_client *c, const char *text, size_t len);

/* Internal entry points for unit tests and fuzzers (not exported); the message decoder's are in
 * message.h. */
int dq_metrics_parse(driftq_metrics **out, const char *text, size_t len);

#endif
