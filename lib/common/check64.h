/* A 64-bit check of a block of bytes (internal, header-only): catches torn, zeroed or stray bytes
 * in records written to files (the embedding cache, the local store's vector segments). */
#ifndef RC_CHECK64_H
#define RC_CHECK64_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RC_CHECK_P1 0x9e3779b185ebca87ULL
#define RC_CHECK_P2 0xc2b2ae3d27d4eb4fULL
#define RC_CHECK_P3 0x165667b19e3779f9ULL

static inline uint64_t rc_check_rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static inline uint64_t rc_check_lane(uint64_t acc, uint64_t w)
{
    return rc_check_rotl(acc + w * RC_CHECK_P2, 31) * RC_CHECK_P1;
}

/* Four independent multiply-rotate lanes over 8-byte words (the round of xxHash64), folded with
 * the length and seed: several times faster than a hash whose rounds depend on each other, and as
 * good at catching damage. Not a cryptographic hash. */
static inline uint64_t rc_check64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t a = RC_CHECK_P1 + RC_CHECK_P2 + seed, b = RC_CHECK_P2, c = 0,
             d = (uint64_t)0 - RC_CHECK_P1, w[4];
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        memcpy(w, p + i, 32);
        a = rc_check_lane(a, w[0]);
        b = rc_check_lane(b, w[1]);
        c = rc_check_lane(c, w[2]);
        d = rc_check_lane(d, w[3]);
    }
    uint64_t h = rc_check_rotl(a, 1) + rc_check_rotl(b, 7) + rc_check_rotl(c, 12) +
                 rc_check_rotl(d, 18) + len;
    for (; i + 8 <= len; i += 8) {
        memcpy(w, p + i, 8);
        h = rc_check_rotl(h ^ rc_check_lane(0, w[0]), 27) * RC_CHECK_P1 + RC_CHECK_P3;
    }
    for (; i < len; i++)
        h = rc_check_rotl(h ^ (p[i] * RC_CHECK_P3), 11) * RC_CHECK_P1;
    h ^= h >> 33;
    h *= RC_CHECK_P2;
    h ^= h >> 29;
    h *= RC_CHECK_P3;
    return h ^ (h >> 32);
}

#endif
