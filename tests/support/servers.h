/* Reaching the servers the integration tests talk to.
 *
 * When DRIFTQ_TEST_URL / QDRANT_TEST_URL is set, that server is used as it is (a real broker or
 * Qdrant). Otherwise the loopback test server under tests/servers/ is started once per test
 * process, on a free port, and stopped at exit. */
#ifndef TESTS_SERVERS_H
#define TESTS_SERVERS_H

#include <stddef.h>

/* The URL, or NULL (with a diagnostic on stderr) when no server could be had. */
const char *ts_driftq_url(void);
const char *ts_qdrant_url(void);
/* 1 when the test process started the server itself (so it may restart or stop it). */
int ts_driftq_is_ours(void);
/* Restarts our own broker on the same port and data directory (keeps its write-ahead log).
 * Returns 0, or -1 when the broker is not ours or did not come back. */
int ts_driftq_restart(void);
/* Stops our own broker (SIGTERM) without restarting it; ts_driftq_start_again() brings it back. */
int ts_driftq_stop(void);
int ts_driftq_start_again(void);

/* A fault-injecting HTTP proxy (tests/servers/fault_proxy.py, see its header for the faults and
 * the control endpoints) in front of upstream_url, on a free loopback port: one process per
 * call, stopped by ts_proxy_stop() or at exit. args are more command-line options
 * (NULL-terminated, may be NULL), e.g. {"--rate-503", "0.3", "--seed", "7", NULL}. Returns
 * NULL, with a diagnostic on stderr, when it could not be started. */
typedef struct ts_proxy ts_proxy;
ts_proxy *ts_proxy_start(const char *upstream_url, const char *const *args);
/* The URL to give a client instead of the upstream's. */
const char *ts_proxy_url(const ts_proxy *p);
/* Changes the faults at run time: json is an object with any of the proxy's configuration keys
 * (rate_503, rate_drop, rate_drop_after, delay_ms, rate_delay, seed, retry_after, error_style,
 * match). Returns 0, or -1 when the proxy refused it (the reason on stderr). */
int ts_proxy_config(ts_proxy *p, const char *json);
/* One count from the proxy's statistics ("requests", "forwarded", "503", "drop", "drop_after",
 * "delay", "upstream_error", ...), or -1. */
long ts_proxy_stat(ts_proxy *p, const char *name);
/* Zeroes the statistics and restarts the fault decisions. Returns 0 or -1. */
int ts_proxy_reset(ts_proxy *p);
/* Stops the proxy and frees p (NULL is fine). */
void ts_proxy_stop(ts_proxy *p);

/* A name unique to this test run: prefix + pid + time + counter. */
const char *ts_unique(const char *prefix, char *buf, size_t cap);

#endif
