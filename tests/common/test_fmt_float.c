/* Unit test for rc_fmt_f32 (lib/common/fmt_float.c), TAP output.
 *
 * Known values (exact expected text), then properties over ~16M sampled bit patterns (a stride
 * through the 2^32 space plus random ones): JSON syntax, no write past RC_FMT_F32_MAX, exact
 * read-back through strtof, and on subsets: no shorter decimal reads back, the digits are the
 * nearest ones (glibc's correctly rounded %.*e), and they match the shortest round-tripping
 * %.{1..9}g.
 *
 * The sample size can be lowered for slow runs (valgrind): RC_TEST_FMT_F32_SAMPLES=<count>. */
#include "f32_ref.h"
#include "fmt_float.h"

#include <float.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_no;
static int failed;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
static void
ok(int cond, const char *fmt, ...)
{
    va_list ap;
    test_no++;
    if (!cond)
        failed++;
    printf("%sok %d - ", cond ? "" : "not ", test_no);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

static float from_bits(uint32_t b)
{
    float v;
    memcpy(&v, &b, 4);
    return v;
}

static uint32_t to_bits(float v)
{
    uint32_t b;
    memcpy(&b, &v, 4);
    return b;
}

/* Decimal text -> significant digits (no leading/trailing zeros) and the power of ten of the
 * last one. Returns the digit count (0 for zero). */
/* Formats v into a guarded buffer; returns 0 and s (NUL-terminated) or -1 when the routine
 * wrote outside dst[0..RC_FMT_F32_MAX) or returned a bad length. */
static int fmt_guarded(float v, char *s, size_t *len)
{
    unsigned char buf[8 + RC_FMT_F32_MAX + 8];
    memset(buf, 0xA5, sizeof buf);
    size_t n = rc_fmt_f32((char *)buf + 8, v);
    for (int i = 0; i < 8; i++)
        if (buf[i] != 0xA5 || buf[8 + RC_FMT_F32_MAX + i] != 0xA5)
            return -1;
    if (n < 1 || n > 15)
        return -1;
    memcpy(s, buf + 8, n);
    s[n] = '\0';
    *len = n;
    return 0;
}

/* ---- known values ---- */

static const struct {
    uint32_t bits; /* exact input */
    const char *want;
} known[] = {
    /* zeros: -0 keeps its sign */
    {0x00000000u, "0"},
    {0x80000000u, "-0"},
    /* denormals: smallest, next ones, largest */
    {0x00000001u, "1e-45"},
    {0x80000001u, "-1e-45"},
    {0x00000002u, "3e-45"},
    {0x00000003u, "4e-45"},
    {0x00000007u, "1e-44"},
    {0x0000000Au, "1.4e-44"},
    {0x00000400u, "1.435e-42"},
    {0x007FFFFFu, "1.1754942e-38"},
    /* FLT_MIN (a power of two without the halved lower gap) and its neighbour */
    {0x00800000u, "1.1754944e-38"},
    {0x00800001u, "1.1754945e-38"},
    /* FLT_MAX, and the power of two below it */
    {0x7F7FFFFFu, "3.4028235e38"},
    {0xFF7FFFFFu, "-3.4028235e38"},
    {0x7F000000u, "1.7014118e38"},
    /* powers of two (halved lower gap) */
    {0x3F800000u, "1"},
    {0x40000000u, "2"},
    {0x3F000000u, "0.5"},
    {0x3E800000u, "0.25"},
    {0x3E000000u, "0.125"},
    {0x3D800000u, "0.0625"},
    {0x44800000u, "1024"},
    {0x4B800000u, "16777216"},
    {0x4E800000u, "1073741800"},
    {0x4F800000u, "4294967300"},
    {0x5F800000u, "1.8446744e19"},
    {0x2F800000u, "2.3283064e-10"},
    {0x0C800000u, "1.9721523e-31"},
    {0x33800000u, "5.9604645e-8"},
    /* 2^-96 = 1.26217744835...e-29: the nearest 8 digits, 1.2621774e-29, fall outside the halved
     * gap below; the next ones up read back (and %.8g would not) */
    {0x0F800000u, "1.2621775e-29"},
    {0x6B000000u, "1.5474251e26"}, /* 2^87 = 1.5474250491...e26 */
    /* powers of ten: plain when not longer ("100", "0.01"), else exponent ("1e3", "1e-3") */
    {0x3DCCCCCDu, "0.1"},
    {0x3C23D70Au, "0.01"},
    {0x3A83126Fu, "1e-3"},
    {0x38D1B717u, "1e-4"},
    {0x3727C5ACu, "1e-5"},
    {0x33D6BF95u, "1e-7"},
    {0x41200000u, "10"},
    {0x42C80000u, "100"},
    {0x447A0000u, "1e3"},
    {0x461C4000u, "1e4"},
    {0x47C35000u, "1e5"},
    {0x49742400u, "1e6"},
    {0x4B189680u, "1e7"},
    {0x501502F9u, "1e10"},
    {0x7149F2CAu, "1e30"},
    {0x7E967699u, "1e38"},
    {0x006CE3EEu, "1e-38"},
    /* around the plain / exponent thresholds */
    {0x3AA1BE2Bu, "0.001234"}, /* 8 bytes either way: plain wins */
    {0x390164EFu, "1.234e-4"}, /* 0.0001234 would be 9 */
    {0x3900F990u, "1.23e-4"},
    {0x3A1D4952u, "6e-4"},
    {0x3A83126Eu, "9.999999e-4"},
    {0x3B03126Fu, "2e-3"},
    {0x3C75C28Fu, "0.015"},
    {0x43F70000u, "494"},
    {0x461C4400u, "10001"},
    {0x47F12000u, "123456"},
    {0x4996B438u, "1234567"},
    {0x4E932C00u, "1234567200"}, /* 10 bytes against 11 for 1.2345672e9 */
    {0x4F932C00u, "4938268700"},
    /* ordinary values */
    {0x3E99999Au, "0.3"},
    {0x3EAAAAABu, "0.33333334"},
    {0x42F6E979u, "123.456"},
    {0x3FC00000u, "1.5"},
    {0xB4210FB0u, "-1.5e-7"},
    {0x7E61B1E6u, "7.5e37"},
    {0x4CEB79A3u, "123456790"}, /* 123456789.0f == 123456792 */
    {0x4B3C614Eu, "12345678"},
    {0x4640E6B7u, "12345.679"},
    {0x3DFCD6EAu, "0.12345679"},
    {0x3C4A0A80u, "0.012331605"},
    {0xBB8D7ADBu, "-0.004317624"},
    {0x3F7FFFFFu, "0.99999994"},
    {0x3F800001u, "1.0000001"},
    {0x4B7FFFFFu, "16777215"},
    {0x4B800001u, "16777218"},
    /* exactly halfway between the two nearest 8-digit decimals: the even one */
    {0x4A000001u, "2097152.2"}, /* 2097152.25 */
    {0x4A000003u, "2097152.8"}, /* 2097152.75 */
    {0x4A000002u, "2097152.5"},
};

/* The same values written as C literals must give the same bits (guards the table above). */
static const struct {
    float v;
    uint32_t bits;
} literal[] = {
    {0.1f, 0x3DCCCCCDu},     {1e-7f, 0x33D6BF95u},        {3.4028235e38f, 0x7F7FFFFFu},
    {1.4e-45f, 0x00000001u}, {FLT_MIN, 0x00800000u},      {FLT_MAX, 0x7F7FFFFFu},
    {0.3f, 0x3E99999Au},     {123.456f, 0x42F6E979u},     {-1.5e-7f, 0xB4210FB0u},
    {1e10f, 0x501502F9u},    {123456789.0f, 0x4CEB79A3u}, {0.001234f, 0x3AA1BE2Bu},
    {1e-38f, 0x006CE3EEu},   {1e30f, 0x7149F2CAu},
};

/* ---- sampled properties ---- */

typedef struct {
    uint64_t count, bad_guard, bad_json, bad_read, bad_short, bad_near, bad_printf;
    uint64_t n_short, n_near, n_printf;
    uint64_t bytes;
} stats;

static void check_pattern(stats *st, uint32_t bits, unsigned level)
{
    float v = from_bits(bits);
    char s[32], dig[32], ref[64], rdig[32];
    size_t len;
    if ((bits & 0x7F800000u) == 0x7F800000u)
        return; /* NaN, Inf: outside the contract */
    st->count++;
    if (fmt_guarded(v, s, &len) < 0) {
        if (st->bad_guard++ < 5)
            printf("# 0x%08x: wrote out of bounds or bad length\n", (unsigned)bits);
        return;
    }
    st->bytes += len + 1;
    if (!json_number_ok(s) && st->bad_json++ < 5)
        printf("# 0x%08x: \"%s\" is not a JSON number\n", (unsigned)bits, s);
    if (!reads_back(s, bits)) {
        if (st->bad_read++ < 5)
            printf("# 0x%08x: \"%s\" reads back as %.9g\n", (unsigned)bits, s,
                   (double)strtof(s, NULL));
        return;
    }
    int e, n = decompose(s, dig, &e);
    if (n == 0 || level == 0)
        return;

    /* No decimal of n-1 digits reads back: try the two neighbours of s at that length. */
    st->n_short++;
    if (n > 1) {
        const char *sign = bits >> 31 ? "-" : "";
        char t[48], u[48];
        int m = n - 1, carry = 1;
        snprintf(t, sizeof t, "%s%.*se%d", sign, m, dig, e + 1);
        int bad = reads_back(t, bits);
        memcpy(u + 1, dig, (size_t)m);
        for (int i = m; i >= 1 && carry; i--) {
            if (u[i] == '9') {
                u[i] = '0';
            } else {
                u[i]++;
                carry = 0;
            }
        }
        u[0] = '1';
        snprintf(t, sizeof t, "%s%.*se%d", sign, m + carry, carry ? u : u + 1, e + 1);
        bad |= reads_back(t, bits);
        if (bad && st->bad_short++ < 5)
            printf("# 0x%08x: \"%s\" is not the shortest\n", (unsigned)bits, s);
    }
    if (level < 2)
        return;

    /* The nearest n-digit decimal; when it does not read back (only possible below a power of
     * two, where the gap below is half the gap above), the one above it. */
    st->n_near++;
    snprintf(ref, sizeof ref, "%.*e", n - 1, (double)v);
    int re, rn = decompose(ref, rdig, &re);
    int near_ok = reads_back(ref, bits)
                      ? rn == n && re == e && memcmp(rdig, dig, (size_t)n) == 0
                      : halved_gap(bits) && one_unit_above(dig, n, e, rdig, rn, re, n);
    if (!near_ok && st->bad_near++ < 5)
        printf("# 0x%08x: \"%s\" but the nearest %d digits are \"%s\"\n", (unsigned)bits, s, n,
               ref);
    if (level < 3)
        return;

    /* Same as the shortest %.{p}g that reads back (p > n only in the case above). */
    st->n_printf++;
    int p;
    for (p = 1; p <= 9; p++) {
        snprintf(ref, sizeof ref, "%.*g", p, (double)v);
        if (reads_back(ref, bits))
            break;
    }
    rn = decompose(ref, rdig, &re);
    if ((p < n || (p > n && !halved_gap(bits)) ||
         (p == n && (rn != n || re != e || memcmp(rdig, dig, (size_t)n) != 0))) &&
        st->bad_printf++ < 5)
        printf("# 0x%08x: \"%s\" but shortest %%.%dg is \"%s\"\n", (unsigned)bits, s, p, ref);
}

static uint64_t rng = 0x9E3779B97F4A7C15u;

static uint32_t rnd32(void) /* xorshift64* */
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Du) >> 32);
}

static void report(const char *what, const stats *st)
{
    ok(st->bad_guard == 0, "%llu patterns (%s): no write past RC_FMT_F32_MAX, length 1..15",
       (unsigned long long)st->count, what);
    ok(st->bad_json == 0, "%llu patterns (%s): JSON number syntax", (unsigned long long)st->count,
       what);
    ok(st->bad_read == 0, "%llu patterns (%s): strtof reads back the same bits",
       (unsigned long long)st->count, what);
    ok(st->bad_short == 0, "%llu patterns (%s): no shorter decimal reads back",
       (unsigned long long)st->n_short, what);
    ok(st->bad_near == 0, "%llu patterns (%s): digits are the nearest that read back (%%.*e)",
       (unsigned long long)st->n_near, what);
    ok(st->bad_printf == 0, "%llu patterns (%s): same as shortest round-tripping %%.{1..9}g",
       (unsigned long long)st->n_printf, what);
}

#define NKNOWN (sizeof known / sizeof known[0])
#define NLITERAL (sizeof literal / sizeof literal[0])

/* ---- the array functions ---- */

#define ARR_N 1000

/* rc_fmt_f32_array and rc_fmt_f32_array_checked: the same text as rc_fmt_f32 in a loop with
 * commas, nothing written past n * RC_FMT_F32_MAX, and the checked one stops at a NaN or an
 * infinity with its index. Arrays of every length 0..ARR_N mixing the known values,
 * embedding-like and random patterns. */
static void check_arrays(void)
{
    static float v[ARR_N];
    static char want[ARR_N * RC_FMT_F32_MAX], got[ARR_N * RC_FMT_F32_MAX + 8];
    size_t nw = 0;
    for (size_t i = 0; i < ARR_N; i++) {
        uint32_t r = rnd32();
        if (i < NKNOWN)
            v[i] = from_bits(known[i].bits);
        else if (i % 3 == 0 && (r & 0x7F800000u) != 0x7F800000u)
            v[i] = from_bits(r);
        else
            v[i] = (float)(((double)r / 4294967296.0 - 0.5) * 0.2);
    }
    int same = 1, bounds = 1, stops = 1, portable = 1;
    for (size_t n = 0; n <= ARR_N; n++) {
        if (n > 0) {
            if (n > 1)
                want[nw++] = ',';
            nw += rc_fmt_f32(want + nw, v[n - 1]);
        }
        for (int checked = 0; checked < 2; checked++) {
            memset(got, 0xA5, sizeof got);
            size_t bad = 12345;
            size_t len =
                checked ? rc_fmt_f32_array_checked(got, v, n, &bad) : rc_fmt_f32_array(got, v, n);
            same &= len == nw && memcmp(got, want, nw) == 0 && (!checked || bad == 12345);
            for (size_t i = n * RC_FMT_F32_MAX; i < n * RC_FMT_F32_MAX + 8; i++)
                bounds &= (unsigned char)got[i] == 0xA5;
        }
        memset(got, 0xA5, sizeof got);
        size_t bad = 12345;
        portable &= rc_fmt_f32_array_portable(got, v, n, NULL) == nw &&
                    memcmp(got, want, nw) == 0 &&
                    rc_fmt_f32_array_portable(got, v, n, &bad) == nw && bad == 12345;
    }
    ok(same, "arrays of 0..%d values: rc_fmt_f32_array(_checked) = rc_fmt_f32 joined by commas",
       ARR_N);
    ok(bounds, "arrays of 0..%d values: nothing written past n * RC_FMT_F32_MAX", ARR_N);
    ok(portable, "arrays of 0..%d values: the same text from the portable loop", ARR_N);
    static const uint32_t nonfinite[] = {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFFFFFFFu,
                                         0x7F800001u};
    for (size_t k = 0; k < sizeof nonfinite / sizeof nonfinite[0]; k++)
        for (size_t at = 0; at < 40; at++) {
            float save = v[at];
            v[at] = from_bits(nonfinite[k]);
            size_t bad = 12345, bad2 = 12345;
            stops &= rc_fmt_f32_array_checked(got, v, 40, &bad) == SIZE_MAX && bad == at &&
                     rc_fmt_f32_array_portable(got, v, 40, &bad2) == SIZE_MAX && bad2 == at;
            v[at] = save;
        }
    ok(stops, "rc_fmt_f32_array_checked stops at the first NaN or infinity with its index");
}

int main(void)
{
    uint64_t samples = 16u << 20;
    const char *env = getenv("RC_TEST_FMT_F32_SAMPLES");
    if (env && *env)
        samples = strtoull(env, NULL, 10);
    if (samples < 1024)
        samples = 1024;

    printf("1..%d\n", (int)(NKNOWN + 1 + 4 * 6 + 1 + 4));

    for (size_t i = 0; i < NKNOWN; i++) {
        char s[32] = "";
        size_t len;
        float v = from_bits(known[i].bits);
        int good = fmt_guarded(v, s, &len) == 0 && strcmp(s, known[i].want) == 0 &&
                   json_number_ok(s) && reads_back(s, known[i].bits);
        if (good)
            ok(1, "0x%08x (%.9g) -> \"%s\"", (unsigned)known[i].bits, (double)v, s);
        else
            ok(0, "0x%08x (%.9g) -> \"%s\", want \"%s\"", (unsigned)known[i].bits, (double)v, s,
               known[i].want);
    }
    {
        int good = 1;
        for (size_t i = 0; i < NLITERAL; i++)
            good &= to_bits(literal[i].v) == literal[i].bits;
        ok(good, "float literals match the bit patterns of the table");
    }

    /* Every exponent with a few mantissas, both signs, exhaustively the smallest denormals and
     * the mantissas around each power of two (both gaps, up to 64 steps away). */
    stats edge = {0};
    for (uint32_t ex = 0; ex < 255; ex++)
        for (uint32_t sign = 0; sign < 2; sign++) {
            uint32_t base = sign << 31 | ex << 23;
            for (uint32_t m = 0; m < 64; m++) {
                check_pattern(&edge, base | m, 3);
                check_pattern(&edge, base | (0x7FFFFFu - m), 3);
                check_pattern(&edge, base | (m * 0x20821u), 3);
            }
        }
    for (uint32_t b = 0; b < 1u << 16; b++)
        check_pattern(&edge, b, 3);
    report("edges", &edge);

    /* A stride through all patterns; 1 in 16 checked for shortness, 1 in 64 for nearness, 1
     * in 1024 against printf. */
    stats stride = {0};
    uint64_t n_stride = samples / 2;
    uint32_t step = (uint32_t)(((uint64_t)1 << 32) / n_stride) | 1; /* odd: varies low bits */
    uint32_t b = 0x1234567u;
    for (uint64_t i = 0; i < n_stride; i++, b += step)
        check_pattern(&stride, b, (i & 1023) == 0 ? 3 : (i & 63) == 0 ? 2 : (i & 15) == 0);
    report("stride", &stride);

    /* Random patterns, same subsets. */
    stats random = {0};
    for (uint64_t i = 0; i < samples - n_stride; i++)
        check_pattern(&random, rnd32(), (i & 1023) == 0 ? 3 : (i & 63) == 0 ? 2 : (i & 15) == 0);
    report("random", &random);

    /* Typical embedding components: L2-normalised 384-d vectors have components close to
     * N(0, 1/384); approximated here by (sum of 12 uniforms - 6) / sqrt(384). All checks, and the
     * average size with the separating comma. */
    stats emb = {0};
    uint64_t n_emb = samples / 64 < (1u << 16) ? samples / 64 : (1u << 16);
    for (uint64_t i = 0; i < n_emb; i++) {
        double z = -6.0;
        for (int j = 0; j < 12; j++)
            z += rnd32() * (1.0 / 4294967296.0);
        check_pattern(&emb, to_bits((float)(z * 0.05103103630798288)), 3);
    }
    report("embedding-like", &emb);
    double avg = (double)emb.bytes / (double)(emb.count ? emb.count : 1);
    ok(avg <= 13.0, "%.2f bytes per embedding-like value with the comma (limit 13)", avg);

    check_arrays();
    return failed ? 1 : 0;
}
