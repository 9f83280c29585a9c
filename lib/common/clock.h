/* Clocks, sleeping and backoff, shared by the libraries and the pipeline (internal, never
 * exported). */
#ifndef RC_CLOCK_H
#define RC_CLOCK_H

#include <stdatomic.h>
#include <stdint.h>

/* Monotonic and wall-clock (Unix epoch) time in ms. */
int64_t rc_now_ms(void);
int64_t rc_wall_ms(void);
/* Sleeps ms, waking early (returning 1) when wake_fd (>= 0) becomes readable or *stop (may be
 * NULL) is set; 0 when the time ran out. */
int rc_sleep_ms(long ms, int wake_fd, const atomic_int *stop);
/* Exponential backoff with equal jitter: attempt 0 waits about base_ms, each later attempt twice
 * as long up to max_ms; the result lies in [cap/2, cap]. *rng is a non-zero xorshift64 state
 * (jitter only, no security role). */
long rc_backoff_ms(uint64_t *rng, int attempt, long base_ms, long max_ms);

#endif
