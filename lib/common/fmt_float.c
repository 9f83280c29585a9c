/* Shortest round-trip float32 -> decimal text, after R. Giulietti's "Schubfach" method ("The
 * Schubfach way to render doubles", 2020), specialised here for binary32.
 *
 * Outline. A finite v > 0 is c * 2^q (c < 2^24). Every real in the rounding interval R around v
 * reads back as v: R = [v - 2^q/2, v + 2^q/2], except that when c = 2^23 and v is not the first
 * normal the lower gap is halved; its ends belong to R iff c is even (round-half-even parse).
 * Pick k with 10^k <= 2^q < 10^(k+1) (for the halved case, with 3/4 * 2^q instead), so R scaled
 * by 10^-k is between 1 and 10 wide. Then either R holds exactly one multiple of 10^(k+1), which
 * is the unique shortest candidate, or the shortest candidates are the multiples of 10^k in R,
 * of which the one nearest to v is floor(v/10^k) or that plus one.
 *
 * The scaled values 4*v, 4*lo and 4*hi times 10^-k are computed as a 30-bit integer part with a
 * "round to odd" sticky bit, using a 64-bit approximation g of 10^-k (exact where 10^-k * 2^-r
 * is an integer, else rounded up). The error of g then stays in the low 32 bits of the 94-bit
 * product, which are dropped, while for binary32 any non-zero fraction of the exact value reaches
 * above them (the smallest is about 2^-31.7): integer parts and sticky bits are exact. That was
 * checked once against 128-bit approximations with exact integer tests for every (c, q) a float
 * produces, and the output for all 2^32 patterns by bench/float_exhaustive.c.
 *
 * The array functions, on x86-64 with AVX-512 (F, DQ, BW, CD; asked once at run time), run
 * fmt_fast for 8 values at a time in 64-bit vector lanes (fast8) and then store each lane's text
 * with scalar stores; lanes outside the fast path go to fmt_general as in the portable loop. Both
 * loops give the same bytes for every pattern in every lane and tail position
 * (bench/float_simd_check.c); the portable loop stays callable for that check. */
#include "fmt_float.h"

#include <stdint.h>
#include <string.h>

/* pow10_g[e + 31] = g with 10^e ~= g * 2^(flog2_pow10(e) - 63), 2^63 <= g < 2^64, for
 * e = -31..45: the exact value when it is an integer, else floor() + 1. Generated with Python's
 * exact rationals:
 *   r = floor(log2(10^e)) - 63; G = Fraction(10)**e / Fraction(2)**r
 *   g = G.numerator if G.denominator == 1 else floor(G) + 1 */
#define POW10_E_MIN (-31)
static const uint64_t pow10_g[77] = {
    0x81ceb32c4b43fcf5u, 0xa2425ff75e14fc32u, 0xcad2f7f5359a3b3fu, 0xfd87b5f28300ca0eu,
    0x9e74d1b791e07e49u, 0xc612062576589ddbu, 0xf79687aed3eec552u, 0x9abe14cd44753b53u,
    0xc16d9a0095928a28u, 0xf1c90080baf72cb2u, 0x971da05074da7befu, 0xbce5086492111aebu,
    0xec1e4a7db69561a6u, 0x9392ee8e921d5d08u, 0xb877aa3236a4b44au, 0xe69594bec44de15cu,
    0x901d7cf73ab0acdau, 0xb424dc35095cd810u, 0xe12e13424bb40e14u, 0x8cbccc096f5088ccu,
    0xafebff0bcb24aaffu, 0xdbe6fecebdedd5bfu, 0x89705f4136b4a598u, 0xabcc77118461cefdu,
    0xd6bf94d5e57a42bdu, 0x8637bd05af6c69b6u, 0xa7c5ac471b478424u, 0xd1b71758e219652cu,
    0x83126e978d4fdf3cu, 0xa3d70a3d70a3d70bu, 0xcccccccccccccccdu, 0x8000000000000000u,
    0xa000000000000000u, 0xc800000000000000u, 0xfa00000000000000u, 0x9c40000000000000u,
    0xc350000000000000u, 0xf424000000000000u, 0x9896800000000000u, 0xbebc200000000000u,
    0xee6b280000000000u, 0x9502f90000000000u, 0xba43b74000000000u, 0xe8d4a51000000000u,
    0x9184e72a00000000u, 0xb5e620f480000000u, 0xe35fa931a0000000u, 0x8e1bc9bf04000000u,
    0xb1a2bc2ec5000000u, 0xde0b6b3a76400000u, 0x8ac7230489e80000u, 0xad78ebc5ac620000u,
    0xd8d726b7177a8000u, 0x878678326eac9000u, 0xa968163f0a57b400u, 0xd3c21bcecceda100u,
    0x84595161401484a0u, 0xa56fa5b99019a5c8u, 0xcecb8f27f4200f3au, 0x813f3978f8940985u,
    0xa18f07d736b90be6u, 0xc9f2c9cd04674edfu, 0xfc6f7c4045812297u, 0x9dc5ada82b70b59eu,
    0xc5371912364ce306u, 0xf684df56c3e01bc7u, 0x9a130b963a6c115du, 0xc097ce7bc90715b4u,
    0xf0bdc21abb48db21u, 0x96769950b50d88f5u, 0xbc143fa4e250eb32u, 0xeb194f8e1ae525feu,
    0x92efd1b8d0cf37bfu, 0xb7abc627050305aeu, 0xe596b7b0c643c71au, 0x8f7e32ce7bea5c70u,
    0xb35dbf821ae4f38cu,
};

/* floor(q * log10(2)), q in [-212, 300] (checked against exact values on that range) */
static int32_t flog10_pow2(int32_t q)
{
    return ((q * 1233 + (64 << 12)) >> 12) - 64;
}

/* floor(log10(3/4 * 2^q)), same range */
static int32_t flog10_3q_pow2(int32_t q)
{
    return ((q * 1233 - 509 + (64 << 12)) >> 12) - 64;
}

/* floor(e * log2(10)), e in [-38, 100] */
static int32_t flog2_pow10(int32_t e)
{
    return ((e * 13607 + (128 << 12)) >> 12) - 128;
}

/* Integer part of cp * g / 2^64, its lowest bit or-ed with "bits 32..63 of the product are not
 * all zero" (round to odd). cp < 2^30. */
static uint32_t rop(uint64_t g, uint32_t cp)
{
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    u128 x = (u128)g * cp;
    return (uint32_t)(x >> 64) | ((uint64_t)x >> 32 != 0);
#else
    uint64_t lo = (uint64_t)cp * (uint32_t)g;
    uint64_t t = (uint64_t)cp * (g >> 32) + (lo >> 32);
    return (uint32_t)(t >> 32) | ((uint32_t)t != 0);
#endif
}

/* The 8 decimal digits of x < 10^8 as byte values 0..9, least significant digit in the lowest
 * byte: SWAR split into 4+4, 2+2 and 1+1 digit lanes. Each step divides all lanes at once with
 * one multiply-shift (exact for these lane ranges) and moves each quotient q to the upper half of
 * its lane with one multiply-add: lane + q * (2^w - D) = (lane - q * D) + q * 2^w. */
static inline uint64_t digits8_le(uint32_t x)
{
    uint64_t y = x + (uint64_t)(x / 10000) * (((uint64_t)1 << 32) - 10000);
    y += ((y * 10486) >> 20 & 0x0000007F0000007Fu) * ((1u << 16) - 100); /* lanes < 10^4 */
    y += ((y * 103) >> 10 & 0x000F000F000F000Fu) * ((1u << 8) - 10);     /* lanes < 100 */
    return y;
}

/* x with its bytes in the opposite order: digits8_le() turned most significant digit first */
static inline uint64_t bswap64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_bswap64(x);
#else
    uint64_t r = 0;
    for (int i = 0; i < 8; i++, x >>= 8)
        r = r << 8 | (x & 0xFF);
    return r;
#endif
}

static int ctz64(uint64_t x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int n = 0;
    while (!(x & 1)) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

static int clz64(uint64_t x) /* x != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(x);
#else
    int n = 0;
    while (!(x >> 63)) {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* Stores the 8 bytes of x at p, lowest byte first. */
static void store8(char *p, uint64_t x)
{
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) &&                                 \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &x, 8);
#else
    for (int i = 0; i < 8; i++)
        p[i] = (char)(x >> (8 * i));
#endif
}

#define ASCII0 0x3030303030303030u

static const char two_digits[] = "00010203040506070809"
                                 "10111213141516171819"
                                 "20212223242526272829"
                                 "30313233343536373839"
                                 "40414243444546474849";

/* 10^j for j = 0..9; from j = 10 on, a value above every d formed here (d < 2^30). */
static const uint32_t p10sat[12] = {
    1u,       10u,       100u,       1000u,       10000u,      100000u,
    1000000u, 10000000u, 100000000u, 1000000000u, 0xFFFFFFFFu, 0xFFFFFFFFu,
};

#if defined(__GNUC__) || defined(__clang__)
#define RC_ALWAYS_INLINE inline __attribute__((always_inline))
#define RC_LIKELY(x) __builtin_expect(!!(x), 1)
#define RC_NOINLINE __attribute__((noinline))
#else
#define RC_ALWAYS_INLINE inline
#define RC_LIKELY(x) (x)
#define RC_NOINLINE
#endif

static RC_NOINLINE size_t fmt_general(char *dst, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    char *p = dst;
    *p = '-';
    p += bits >> 31;

    uint32_t f = bits & 0x7FFFFF;
    uint32_t ef = (bits >> 23) & 0xFF;
    uint32_t c;
    int32_t q;
    if (ef != 0) {
        c = f | 0x800000;
        q = (int32_t)ef - 150;
    } else {
        if (f == 0) {
            *p = '0';
            return (size_t)(p - dst) + 1;
        }
        c = f;
        q = -149;
    }

    /* Interval ends and v itself, times 4 / 2^q. */
    uint32_t cb = c << 2;
    uint32_t cbr = cb + 2;
    uint32_t cbl;
    int32_t k;
    if (f != 0 || ef <= 1) {
        cbl = cb - 2;
        k = flog10_pow2(q);
    } else { /* v = 2^n above the first normal: the gap below is half the gap above */
        cbl = cb - 1;
        k = flog10_3q_pow2(q);
    }
    int sh = (int)(q + flog2_pow10(-k) + 1); /* 1..4 */
    uint64_t g = pow10_g[-k - POW10_E_MIN];
    uint32_t vb = rop(g, cb << sh);
    uint32_t vbl = rop(g, cbl << sh);
    uint32_t vbr = rop(g, cbr << sh);
    uint32_t out = c & 1; /* 1: interval ends excluded */

    /* Candidates (see the original notes): selected without branches. */
    uint32_t s = vb >> 2;
    uint32_t t = s + 1;
    uint32_t sp10 = s / 10 * 10;
    uint32_t tp10 = sp10 + 10;
    uint32_t upin = vbl + out <= sp10 << 2;
    uint32_t wpin = (tp10 << 2) + out <= vbr;
    uint32_t use10 = (upin ^ wpin) & (s >= 10);
    uint32_t uin = vbl + out <= s << 2;
    uint32_t win = (t << 2) + out <= vbr;
    uint32_t nearer_s = (vb < 4 * s + 2) | ((vb == 4 * s + 2) & ~s & 1);
    uint32_t take_s = uin & ((win ^ 1) | nearer_s);
    uint32_t d10 = tp10 - 10 * upin;
    uint32_t dnear = t - take_s;
    uint32_t d = dnear ^ ((dnear ^ d10) & (0 - use10));

    uint32_t hi = d / 100000000;
    uint64_t r = digits8_le(d - hi * 100000000);
    uint64_t u = bswap64(r); /* the low 8 digits of d, most significant first */
    int tz = (ctz64(r | (uint64_t)1 << 63) + (r == 0)) >> 3; /* trailing zero digits of those */

    /* Fast path: plain notation with e10 in -3..-1 ("0.ddd", "0.0ddd", "0.00ddd"), the usual
     * case for embedding components. The text is "0." and then d written with exactly -k digits
     * (its leading zeros are the zeros after the point), up to its last non-zero digit. Only
     * k = -10..-8 produces it; the guard allows -11..-7 so that the stores below stay inside
     * [p, p + 13). Plain wins when e10 >= -2, or e10 == -3 with more than one digit. */
    uint32_t nk = (uint32_t)(-k);
    if (RC_LIKELY(nk - 7 <= 4)) {
        uint32_t last = nk - (uint32_t)tz; /* position of the last digit after the point */
        if (d < p10sat[nk] && (d >= p10sat[nk - 2] || (d >= p10sat[nk - 3] && last > 3))) {
            char *end = p + 2 + nk;
            store8(p, 0x3030303030302E30u); /* "0.000000" */
            end[-9] = (char)('0' + hi);
            store8(end - 8, u + ASCII0);
            p[0] = '0';
            p[1] = '.';
            return (size_t)(p - dst) + 2 + last;
        }
    }

    /* v ~= d * 10^k, 0 < d < 10^9. w: the leading 8 significant digits, first in the lowest
     * byte, and d9 the ninth; nd: digits of d; n: without its trailing zeros. */
    int lz = clz64(r | 1) >> 3; /* leading zero digits of the low 8 */
    uint64_t m9 = 0 - (uint64_t)(hi != 0);
    uint64_t w = ((hi | (u << 8)) & m9) | ((u >> (8 * lz)) & ~m9);
    uint32_t d9 = (uint32_t)((u >> 56) & m9);
    int nd = (int)(8 - lz + ((lz + 1) & (int)m9));
    int n = nd - tz;
    int e10 = k + nd - 1; /* v ~= d1.d2...dn * 10^e10 */
    int ae = e10 < 0 ? -e10 : e10;
    int sci_len = n + (n > 1) + 1 + (e10 < 0) + (ae >= 10 ? 2 : 1);

    if (e10 < 0) {
        int fix_len = n + 1 - e10;
        if (fix_len <= sci_len) { /* "0.0ddd": e10 >= -3, at most 2 zeros after the point */
            store8(p, 0x3030303030302E30u); /* "0.000000" */
            char *q0 = p + 1 - e10;
            store8(q0, w + ASCII0);
            q0[8] = (char)('0' + d9);
            return (size_t)(p - dst) + (size_t)fix_len;
        }
    } else if (e10 < n - 1) { /* "ddd.ddd", at most 8 digits before the point */
        store8(p, w + ASCII0);
        p[e10 + 1] = '.';
        char *fp = p + e10 + 2;
        for (int i = e10 + 1; i < n; i++)
            *fp++ = (char)('0' + (i < 8 ? (uint32_t)(w >> (8 * i)) & 0xFF : d9));
        return (size_t)(fp - dst);
    } else if (e10 + 1 <= sci_len) { /* "ddd000": e10 <= n + 3 <= 12 */
        store8(p, w + ASCII0);
        p[8] = (char)('0' + d9);
        memcpy(p + 9, "0000", 4);
        return (size_t)(p - dst) + (size_t)e10 + 1;
    }

    /* d[.ddd]e[-]x */
    p[0] = (char)('0' + (w & 0xFF));
    p[1] = '.';
    store8(p + 2, ((w >> 8) | ((uint64_t)d9 << 56)) + ASCII0);
    char *ep = p + n + (n > 1);
    ep[0] = 'e';
    ep[1] = '-';
    ep += 1 + (e10 < 0);
    if (ae >= 10) {
        memcpy(ep, two_digits + 2 * ae, 2);
        ep += 2;
    } else {
        *ep++ = (char)('0' + ae);
    }
    return (size_t)(ep - dst);
}

/* Fast path for 2^-10 <= |v| < 1 (biased exponent 117..126, q = -33..-24, k = -10..-8), the
 * range of typical embedding components, except powers of two. There 10^-k * 2^(33 + q) is an
 * integer m, so with U = 2^33 standing for one unit of 10^k, everything is an exact 64-bit
 * integer: y = c * m = v * 10^-k * U (< 2^61), and the rounding interval R is [y - m/2, y + m/2]
 * (m is even), its ends included iff c is even. Its width m/U = 10^-k * 2^q is in [1, 10).
 *   - A multiple of 10U in R is unique (width < 10U) and is then the shortest candidate: the
 *     smallest one >= the low end lo is 10U * (floor((lo - 1) / 10U) + 1), and it is in R iff
 *     it is <= the high end hi, i.e. iff its digits d10 <= floor(hi / U).
 *   - Else the candidate is y / U rounded to the nearest integer, ties to even: it is within
 *     U/2 < m/2 of y, so always in R, and no other multiple of U is nearer.
 * That is the same choice as fmt_general (which takes the one multiple of 10U, else the nearest
 * of s = floor(y / U) and s + 1 that is in R), made with fewer operations.
 * The result d is below 10^8 + 1 for -k = 8 (v < 1) and below 2 * 10^8 for -k = 9, 10 (v < 2^-3,
 * 2^-6), and the text is "0." and d with exactly -k digits (its leading zeros being the zeros
 * after the point), up to its last non-zero digit. Anything else (1 - 2^-24 rounding to "1",
 * tiny v written as "1e-3" or "9.765625e-4", powers of two) goes to fmt_general. */
typedef struct {
    uint64_t m;    /* 10^-k * 2^(33 + q) */
    uint64_t hmul; /* 2^(8 * (-k - 7)): moves a 9th (leading) digit to its byte, "0." + -k - 9 */
    uint32_t nk;   /* -k: 8..10 */
    uint32_t lo3;  /* 10^(-k-3): d >= lo3 iff e10 >= -3 */
    uint32_t span; /* lim - lo3; d < lim: at most one 9th, leading digit 1 after the point */
    uint32_t lo2;  /* 10^(-k-2): d >= lo2 iff e10 >= -2 */
} fast_ent;

#define FE10(sh)                                                                                   \
    {                                                                                              \
        10000000000ull << (sh), 1ull << 24, 10, 10000000u, 190000000u, 100000000u                  \
    }
#define FE9(sh)                                                                                    \
    {                                                                                              \
        1000000000ull << (sh), 1ull << 16, 9, 1000000u, 199000000u, 10000000u                      \
    }
#define FE8(sh)                                                                                    \
    {                                                                                              \
        100000000ull << (sh), 1ull << 8, 8, 100000u, 99900000u, 1000000u                           \
    }
static const fast_ent fast_tab[10] = {
    /* biased exponents 117..126: 33 + q = 0..9 */
    FE10(0), FE10(1), FE10(2), FE10(3), FE9(4), FE9(5), FE9(6), FE8(7), FE8(8), FE8(9),
};

/* The fast path: the length of the text, or 0 when v is one for fmt_general. */
static RC_ALWAYS_INLINE size_t fmt_fast(char *dst, uint32_t bits)
{
    uint32_t f = bits & 0x7FFFFF;
    uint32_t ef = (bits >> 23) & 0xFF;
    if (!RC_LIKELY(ef - 117u <= 9u && f != 0))
        return 0;
    char *p = dst;
    *p = '-';
    p += bits >> 31;
    const fast_ent *te = &fast_tab[ef - 117];
    uint64_t m = te->m;
    uint64_t y = (uint64_t)(f | 0x800000) * m;
    uint64_t h = (m >> 1) - (f & 1); /* R's integers: [y - h, y + h] */
    uint32_t d10 = ((uint32_t)((y - h - 1) >> 33) / 10 + 1) * 10;
    uint32_t s = (uint32_t)(y >> 33);
    uint32_t dn = (uint32_t)((y + ((uint64_t)1 << 32) - 1 + (s & 1)) >> 33);
    uint32_t use10 = 0 - (uint32_t)(d10 <= (uint32_t)((y + h) >> 33));
    uint32_t d = dn ^ ((dn ^ d10) & use10); /* without a branch: use10 is data-dependent */

    /* d < 2 * 10^8 here (checked below): hi, its 9th digit from the right, is 0 or 1 */
    uint64_t hmask = 0 - (uint64_t)(d >= 100000000u);
    uint64_t r = digits8_le(d - (100000000u & (uint32_t)hmask));
    uint64_t u = bswap64(r);
    uint32_t tz = (uint32_t)(ctz64(r | (uint64_t)1 << 63) + (r == 0)) >> 3;
    uint32_t last = te->nk - tz; /* position of the last digit after the point */
    /* "0.000000" with hi at offset -k - 7 (never on the '.': lim = 10^8 for -k = 8), then the
     * low 8 digits from p + 2..4; fmt_general rewrites all of it when it is not wanted */
    store8(p, 0x3030303030302E30u + (te->hmul & hmask));
    store8(p + 2 + te->nk - 8, u + ASCII0);
    /* plain "0.ddd" iff e10 >= -2, or e10 == -3 and more than one digit */
    uint32_t plain = (d - te->lo3 < te->span) & ((d >= te->lo2) | (last > 3));
    return plain ? (size_t)(p - dst) + 2 + last : 0;
}

size_t rc_fmt_f32(char *dst, float v)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    size_t n = fmt_fast(dst, bits);
    return RC_LIKELY(n != 0) ? n : fmt_general(dst, v);
}

/* One element of an array at p, followed by a comma (written over the element's scratch
 * bytes, before the next one): the bytes written, or 0 for a NaN or infinity when check. */
static RC_ALWAYS_INLINE size_t fmt_elem(char *p, float v, int check)
{
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    size_t len = fmt_fast(p, bits);
    if (!RC_LIKELY(len != 0)) {
        if (check && (bits & 0x7F800000u) == 0x7F800000u)
            return 0;
        len = fmt_general(p, v);
    }
    p[len] = ',';
    return len + 1;
}

/* The loop of both array functions; check: stop at the first NaN or infinity. */
static RC_ALWAYS_INLINE size_t fmt_array(char *dst, const float *v, size_t n, int check,
                                         size_t *bad)
{
    char *p = dst;
    for (size_t i = 0; i < n; i++) {
        size_t len = fmt_elem(p, v[i], check);
        if (!len) {
            *bad = i;
            return SIZE_MAX;
        }
        p += len;
    }
    return (size_t)(p - dst) - (n != 0); /* without the last comma */
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RC_FMT_X86 1
#include <immintrin.h>
#include <stdatomic.h>

#define RC_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512cd")))

/* fast_tab's fields by index ef - 117, as 16-entry tables for vpermt2q (entries 10..15 unused:
 * lanes with another exponent are not taken) */
#define FT16(a, b, c)                                                                              \
    {                                                                                              \
        a, a, a, a, b, b, b, c, c, c, 0, 0, 0, 0, 0, 0                                             \
    }
static const uint64_t vt_m[16] = {
    10000000000ull << 0,
    10000000000ull << 1,
    10000000000ull << 2,
    10000000000ull << 3,
    1000000000ull << 4,
    1000000000ull << 5,
    1000000000ull << 6,
    100000000ull << 7,
    100000000ull << 8,
    100000000ull << 9,
    0,
    0,
    0,
    0,
    0,
    0,
};
static const uint64_t vt_hmul[16] = FT16(1ull << 24, 1ull << 16, 1ull << 8);
static const uint64_t vt_nk[16] = FT16(10, 9, 8);
static const uint64_t vt_lo3[16] = FT16(10000000u, 1000000u, 100000u);
static const uint64_t vt_span[16] = FT16(190000000u, 199000000u, 99900000u);
static const uint64_t vt_lo2[16] = FT16(100000000u, 10000000u, 1000000u);

/* vpermt2q of a 16-entry table at idx (low 4 bits) */
static RC_TARGET_AVX512 RC_ALWAYS_INLINE __m512i vt_get(const uint64_t *t, __m512i idx)
{
    return _mm512_permutex2var_epi64(_mm512_loadu_si512(t), idx, _mm512_loadu_si512(t + 8));
}

/* fmt_fast for the 8 values at v at once, lane by lane the same integers. For each lane i:
 * a[i] the first 8 bytes of its text (the sign, "0.", the zeros and a 9th leading digit: the
 * scratch "0.000000" of fmt_fast, shifted one byte up behind a '-'; its last byte, which that
 * shift drops, is always under the second store), b[i] the low 8 digits, to be stored at offset
 * o[i] (sign + 2 + -k - 8), len[i] the length of the text; the return value has bit i set iff
 * fmt_fast takes lane i (in the fast range and plain). Lanes without that bit leave a, b, o and
 * len unspecified (all of them when it returns 0). */
static RC_TARGET_AVX512 RC_ALWAYS_INLINE __mmask8 fast8(const float *v, uint64_t *a, uint64_t *b,
                                                        uint64_t *o, uint64_t *len)
{
    const __m512i bits =
        _mm512_cvtepu32_epi64(_mm256_loadu_si256((const __m256i *)(const void *)v));
    const __m512i f = _mm512_and_si512(bits, _mm512_set1_epi64(0x7FFFFF));
    const __m512i idx =
        _mm512_sub_epi64(_mm512_and_si512(_mm512_srli_epi64(bits, 23), _mm512_set1_epi64(0xFF)),
                         _mm512_set1_epi64(117));
    __mmask8 fast =
        _mm512_cmple_epu64_mask(idx, _mm512_set1_epi64(9)) & _mm512_test_epi64_mask(f, f);
    if (fast == 0) /* none for fmt_fast (frequent with arbitrary data): skip the rest */
        return 0;
    const __m512i m = vt_get(vt_m, idx);
    const __m512i nk = vt_get(vt_nk, idx);

    const __m512i y = _mm512_mullo_epi64(_mm512_or_si512(f, _mm512_set1_epi64(0x800000)), m);
    const __m512i h =
        _mm512_sub_epi64(_mm512_srli_epi64(m, 1), _mm512_and_si512(f, _mm512_set1_epi64(1)));
    /* d10 = ((y - h - 1) >> 33) / 10 * 10 + 10; the quotient < 2^28, so x / 10 is
     * x * 0xCCCCCCCD >> 35 */
    const __m512i lo =
        _mm512_srli_epi64(_mm512_sub_epi64(_mm512_sub_epi64(y, h), _mm512_set1_epi64(1)), 33);
    const __m512i q10 = _mm512_srli_epi64(_mm512_mul_epu32(lo, _mm512_set1_epi64(0xCCCCCCCD)), 35);
    const __m512i d10 =
        _mm512_mul_epu32(_mm512_add_epi64(q10, _mm512_set1_epi64(1)), _mm512_set1_epi64(10));
    const __m512i s = _mm512_srli_epi64(y, 33);
    const __m512i dn =
        _mm512_srli_epi64(_mm512_add_epi64(_mm512_add_epi64(y, _mm512_set1_epi64(0xFFFFFFFF)),
                                           _mm512_and_si512(s, _mm512_set1_epi64(1))),
                          33);
    const __mmask8 use10 =
        _mm512_cmple_epu64_mask(d10, _mm512_srli_epi64(_mm512_add_epi64(y, h), 33));
    const __m512i d = _mm512_mask_blend_epi64(use10, dn, d10);

    /* digits8_le of d below 10^8, with 32- and 16-bit lane operations in place of its 64-bit
     * multiplies (the same quotients: x / 10^4 for x < 2^32 is x * 0xD1B71759 >> 45, x / 100 for
     * x < 10^4 is x * 5243 >> 19, x / 10 for x < 100 is x * 103 >> 10) */
    const __m512i e8 = _mm512_set1_epi64(100000000);
    const __mmask8 hi = _mm512_cmpge_epu64_mask(d, e8);
    const __m512i x = _mm512_mask_sub_epi64(d, hi, d, e8);
    const __m512i q4 = _mm512_srli_epi64(_mm512_mul_epu32(x, _mm512_set1_epi64(0xD1B71759)), 45);
    __m512i r = _mm512_or_si512(_mm512_sub_epi64(x, _mm512_mul_epu32(q4, _mm512_set1_epi64(10000))),
                                _mm512_slli_epi64(q4, 32));
    const __m512i q2 = _mm512_srli_epi16(_mm512_mulhi_epu16(r, _mm512_set1_epi32(5243)), 3);
    r = _mm512_or_si512(_mm512_sub_epi16(r, _mm512_mullo_epi16(q2, _mm512_set1_epi32(100))),
                        _mm512_slli_epi32(q2, 16));
    const __m512i q1 = _mm512_srli_epi16(_mm512_mullo_epi16(r, _mm512_set1_epi16(103)), 10);
    r = _mm512_or_si512(_mm512_sub_epi16(r, _mm512_mullo_epi16(q1, _mm512_set1_epi16(10))),
                        _mm512_slli_epi16(q1, 8));

    const __m512i rev = _mm512_set4_epi32(0x08090A0B, 0x0C0D0E0F, 0x00010203, 0x04050607);
    const __m512i u = _mm512_shuffle_epi8(r, rev); /* bswap64 in each lane */
    /* trailing zero digits of r = leading zero bytes of u (8 when r == 0, as in fmt_fast) */
    const __m512i last = _mm512_sub_epi64(nk, _mm512_srli_epi64(_mm512_lzcnt_epi64(u), 3));
    const __mmask8 plain =
        _mm512_cmplt_epu64_mask(_mm512_sub_epi64(d, vt_get(vt_lo3, idx)), vt_get(vt_span, idx)) &
        (_mm512_cmpge_epu64_mask(d, vt_get(vt_lo2, idx)) |
         _mm512_cmpgt_epu64_mask(last, _mm512_set1_epi64(3)));

    const __mmask8 neg = _mm512_test_epi64_mask(bits, _mm512_set1_epi64(0x80000000));
    const __m512i sg = _mm512_srli_epi64(bits, 31);
    __m512i head =
        _mm512_mask_add_epi64(_mm512_set1_epi64(0x3030303030302E30), hi,
                              _mm512_set1_epi64(0x3030303030302E30), vt_get(vt_hmul, idx));
    head = _mm512_mask_or_epi64(head, neg, _mm512_slli_epi64(head, 8), _mm512_set1_epi64('-'));
    _mm512_storeu_si512(a, head);
    _mm512_storeu_si512(b, _mm512_add_epi64(u, _mm512_set1_epi64((long long)ASCII0)));
    _mm512_storeu_si512(o, _mm512_add_epi64(sg, _mm512_sub_epi64(nk, _mm512_set1_epi64(6))));
    _mm512_storeu_si512(len, _mm512_add_epi64(sg, _mm512_add_epi64(last, _mm512_set1_epi64(2))));
    return fast & plain;
}

/* fmt_array with fast8 for each run of 8 values. */
static RC_TARGET_AVX512 RC_ALWAYS_INLINE size_t fmt_array_avx512(char *dst, const float *v,
                                                                 size_t n, int check, size_t *bad)
{
    char *p = dst;
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t a[8], b[8], o[8], len[8];
        unsigned ok = fast8(v + i, a, b, o, len);
        if (RC_LIKELY(ok == 0xFF)) {
            for (int j = 0; j < 8; j++) {
                store8(p, a[j]);
                store8(p + o[j], b[j]);
                p[len[j]] = ',';
                p += len[j] + 1;
            }
            continue;
        }
        for (int j = 0; j < 8; j++) {
            size_t l;
            if (ok >> j & 1) {
                store8(p, a[j]);
                store8(p + o[j], b[j]);
                l = len[j];
            } else {
                uint32_t bits;
                memcpy(&bits, &v[i + j], sizeof bits);
                if (check && (bits & 0x7F800000u) == 0x7F800000u) {
                    *bad = i + j;
                    return SIZE_MAX;
                }
                l = fmt_general(p, v[i + j]);
            }
            p[l] = ',';
            p += l + 1;
        }
    }
    for (; i < n; i++) { /* the last n % 8, as fmt_array */
        size_t len = fmt_elem(p, v[i], check);
        if (!len) {
            *bad = i;
            return SIZE_MAX;
        }
        p += len;
    }
    return (size_t)(p - dst) - (n != 0);
}

static RC_TARGET_AVX512 RC_NOINLINE size_t array_avx512(char *dst, const float *v, size_t n)
{
    return fmt_array_avx512(dst, v, n, 0, NULL);
}

static RC_TARGET_AVX512 RC_NOINLINE size_t array_checked_avx512(char *dst, const float *v, size_t n,
                                                                size_t *bad)
{
    return fmt_array_avx512(dst, v, n, 1, bad);
}

/* 1: use the AVX-512 loop, 0: not, -1: not asked yet (the answer is the same for every thread,
 * so racing first calls only ask twice) */
static atomic_int use_avx512 = -1;

static int have_avx512(void)
{
    int u = atomic_load_explicit(&use_avx512, memory_order_relaxed);
    if (u < 0) {
        __builtin_cpu_init();
        u = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
            __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd");
        atomic_store_explicit(&use_avx512, u, memory_order_relaxed);
    }
    return u;
}
#endif

size_t rc_fmt_f32_array(char *dst, const float *v, size_t n)
{
#if defined(RC_FMT_X86)
    if (n >= 8 && have_avx512())
        return array_avx512(dst, v, n);
#endif
    return fmt_array(dst, v, n, 0, NULL);
}

size_t rc_fmt_f32_array_checked(char *dst, const float *v, size_t n, size_t *bad)
{
#if defined(RC_FMT_X86)
    if (n >= 8 && have_avx512())
        return array_checked_avx512(dst, v, n, bad);
#endif
    return fmt_array(dst, v, n, 1, bad);
}

size_t rc_fmt_f32_array_portable(char *dst, const float *v, size_t n, size_t *bad)
{
    return fmt_array(dst, v, n, bad != NULL, bad);
}
