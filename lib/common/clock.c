/* Clocks, sleeping and backoff (see clock.h). */
#include "clock.h"

#include <poll.h>
#include <time.h>

int64_t rc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t rc_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

long rc_backoff_ms(uint64_t *rng, int attempt, long base_ms, long max_ms)
{
    long cap = base_ms;
    for (int i = 0; i < attempt && cap < max_ms; i++)
        cap *= 2;
    if (cap > max_ms)
        cap = max_ms;
    if (cap <= 1)
        return cap;
    uint64_t x = *rng ? *rng : 0x9E3779B97F4A7C15ull;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *rng = x;
    return cap / 2 + (long)(x % (uint64_t)(cap / 2 + 1));
}

int rc_sleep_ms(long ms, int wake_fd, const atomic_int *stop)
{
    int64_t end = rc_now_ms() + ms;
    for (;;) {
        if (stop && atomic_load(stop))
            return 1;
        int64_t left = end - rc_now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {wake_fd, POLLIN, 0};
        int n =
            poll(wake_fd >= 0 ? &p : NULL, wake_fd >= 0 ? 1 : 0, (int)(left > 100 ? 100 : left));
        if (n > 0 && (p.revents & POLLIN))
            return 1;
    }
}
