/* Eight bytes at a time in a uint64_t (internal, header-only): the few bit tricks the text
 * scanners share (UTF-8 checks, JSON strings, chunking). */
#ifndef RC_SWAR_H
#define RC_SWAR_H

#include <stdint.h>
#include <string.h>

#define RC_ONES 0x0101010101010101ULL  /* 0x01 in every byte */
#define RC_HIGHS 0x8080808080808080ULL /* the top bit of every byte */

/* The 8 bytes at p (any alignment), in memory order on a little-endian machine. */
static inline uint64_t rc_load8(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Non-zero when some byte of v is below n (1 <= n <= 128; n = 1: some byte is zero). Bytes
 * above the first such byte may be flagged too; none is flagged when there is none. */
static inline uint64_t rc_has_less(uint64_t v, unsigned n)
{
    return (v - RC_ONES * n) & ~v & RC_HIGHS;
}

/* Non-zero when some byte of v equals c. */
static inline uint64_t rc_has_byte(uint64_t v, unsigned char c)
{
    return rc_has_less(v ^ (RC_ONES * c), 1);
}

/* Non-zero when some byte of v cannot stand as is in a JSON string: below 0x20, '"' or '\\'. */
static inline uint64_t rc_json_special(uint64_t v)
{
    return rc_has_less(v, 0x20) | rc_has_byte(v, '"') | rc_has_byte(v, '\\');
}

#endif
