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
/* A name unique to this test run: prefix + pid + time + counter. */
const char *ts_unique(const char *prefix, char *buf, size_t cap);

#endif
