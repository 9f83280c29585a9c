/* A scripted loopback HTTP server for protocol tests: it records the exact requests a client
 * sends and answers each with the next scripted reply (raw bytes), as curl's own tests do. */
#ifndef TESTS_SCRIPTED_H
#define TESTS_SCRIPTED_H

#include <stddef.h>

enum {
    SS_KEEP = 0,  /* keep the connection open for the next request */
    SS_CLOSE = 1, /* close the connection after the reply */
    SS_HOLD = 2,  /* send the reply, then send nothing more until the client goes away */
    SS_DROP = 3   /* read the request, then close without answering */
};

typedef struct ss_step {
    const char *reply; /* raw HTTP response bytes (may be "" for SS_DROP/SS_HOLD) */
    int action;
    int delay_ms; /* wait before replying */
} ss_step;

typedef struct ss_request {
    char method[16];
    char target[2048];
    char headers[8192]; /* raw header lines, "\r\n"-separated */
    char *body;
    size_t body_len;
    int conn; /* connection number, from 1 */
} ss_request;

typedef struct scripted scripted;

/* Starts a server that plays steps (copied; n of them) in order of arrival. */
scripted *ss_start(const ss_step *steps, size_t n);
const char *ss_url(const scripted *s);
/* Waits up to timeout_ms for at least n requests; returns how many arrived. */
int ss_wait(scripted *s, int n, int timeout_ms);
int ss_count(scripted *s);
int ss_connections(scripted *s);
const ss_request *ss_req(scripted *s, int i);
/* Copies header value (case-insensitive name) into buf; returns buf or NULL when absent. */
const char *ss_header(const ss_request *r, const char *name, char *buf, size_t cap);
void ss_stop(scripted *s);

#endif
