/* HTTP over libcurl, shared by both client libraries (internal, never exported).
 *
 * One rc_http owns one reused CURL easy handle (keep-alive). A request that fails on a reused
 * connection before any byte of the response arrived (the server closed the idle connection) is
 * sent again once on a fresh connection, transparently. Not thread-safe: one thread at a time. */
#ifndef RC_HTTP_H
#define RC_HTTP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "ndjson.h"

enum {
    RC_OK = 0,
    RC_ENOMEM = -1,
    RC_ETRANSPORT = -2, /* connect failure, reset, EOF mid-response, TLS error */
    RC_ETIMEOUT = -3,
    RC_ETOOBIG = -4,   /* response larger than max_response / line longer than max_line */
    RC_ESTOPPED = -5,  /* stream stopped through the stop flag */
    RC_ECALLBACK = -6, /* stream line callback returned non-zero */
    RC_EINVAL = -7,
    RC_ECONNECT = -8, /* no connection could be made: nothing was sent */
};

typedef void (*rc_log_fn)(int level, const char *msg, void *ud);

typedef struct rc_http_config {
    const char *user_agent;
    long connect_timeout_ms;          /* 0: curl's default */
    long timeout_ms;                  /* whole request; 0: none (streams never have one) */
    size_t max_response;              /* cap on a response body (non-stream) */
    int verify_tls;                   /* 1: verify peer and host (default) */
    const char *ca_file;              /* optional */
    const char *ca_path;              /* optional */
    const char *const *extra_headers; /* NULL-terminated "Name: value" list, copied */
    const char *request_id_prefix;    /* each request sends X-Request-Id: <prefix>-<n> */
    rc_log_fn log;
    void *log_ud;
} rc_http_config;

typedef struct rc_http_resp {
    long status;
    rc_buf body;
    char request_id[96]; /* X-Request-Id the server answered with ("" when absent) */
    char content_type[96];
    long retry_after_ms;   /* from a Retry-After header in seconds, -1 when absent */
    int reused_connection; /* 1 when the final attempt ran on a kept-alive connection */
    char error[256];       /* transport error text */
} rc_http_resp;

typedef struct rc_http rc_http;

int rc_http_new(rc_http **out, const rc_http_config *cfg);
void rc_http_free(rc_http *h);

void rc_http_resp_init(rc_http_resp *r);
void rc_http_resp_free(rc_http_resp *r);

/* Sends one request; body may be NULL (then no body, Content-Length: 0 for POST/PUT).
 * content_type applies when body != NULL. Returns RC_OK when any HTTP status arrived. */
int rc_http_request(rc_http *h, const char *method, const char *url, const char *body,
                    size_t body_len, const char *content_type, rc_http_resp *resp);

typedef struct rc_http_stream_cfg {
    rc_ndjson_line_fn on_line; /* called per NDJSON line of a 2xx response */
    void *ud;
    size_t max_line;
    int wake_fd;            /* polled for readability alongside the transfer; -1: none */
    const atomic_int *stop; /* non-zero: stop as soon as seen; may be NULL */
    int *cb_ret;            /* receives the callback's non-zero return on RC_ECALLBACK */
} rc_http_stream_cfg;

/* Long-lived GET whose 2xx body is split into NDJSON lines. No total timeout, no header timeout.
 * A non-2xx body is collected into resp->body instead. Returns RC_OK when the server ended the
 * response cleanly (complete chunked body), RC_ETRANSPORT when it was cut, RC_ESTOPPED,
 * RC_ECALLBACK, RC_ETOOBIG, RC_ENOMEM. resp->status is 0 when no status line arrived. */
int rc_http_stream(rc_http *h, const char *url, const rc_http_stream_cfg *cfg, rc_http_resp *resp);

/* Number of TCP connections this handle has opened so far (for tests and benchmarks). */
long rc_http_connects(const rc_http *h);

/* A pool of `parallel` handles sharing one connection cache, running requests concurrently
 * (curl multi). The caller supplies jobs through next() and gets each back through done(),
 * in completion order; a job's body and url stay the caller's until done() has seen it. */
typedef struct rc_http_job {
    const char *method;
    const char *url;
    const char *body;
    size_t body_len;
    const char *content_type;
    rc_http_resp resp; /* rc_http_resp_init() it once; reused across runs; rc_http_resp_free */
    int rc;            /* RC_OK when a status arrived */
    void *ud;          /* the caller's */
} rc_http_job;
/* Returns 1 and sets *job to start one now; 0 when none is ready yet (then *wait_ms says how
 * long until one may be); -1 when there will be no more. */
typedef int (*rc_http_next_fn)(void *ud, rc_http_job **job, long *wait_ms);
typedef void (*rc_http_done_fn)(void *ud, rc_http_job *job);
typedef struct rc_http_pool rc_http_pool;
int rc_http_pool_new(rc_http_pool **out, const rc_http_config *cfg, size_t parallel);
/* A pool whose handles are configured like model (headers, timeouts, TLS, log). */
int rc_http_pool_new_like(rc_http_pool **out, const rc_http *model, size_t parallel);
void rc_http_pool_free(rc_http_pool *p);
size_t rc_http_pool_size(const rc_http_pool *p);
long rc_http_pool_connects(const rc_http_pool *p);
/* Runs until next() returns -1 and every started job is done. */
int rc_http_pool_run(rc_http_pool *p, rc_http_next_fn next, rc_http_done_fn done, void *ud);

/* Percent-encodes s for a query string component into b. */
int rc_buf_urlenc(rc_buf *b, const char *s);

#endif
