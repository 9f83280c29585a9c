/* Speed and size of float32 -> JSON text: rc_fmt_f32 against snprintf and against two floors.
 *
 * Data sets: (a) components of random L2-normalised 384-d vectors (Gaussian directions), (b)
 * random finite bit patterns. Each method writes the whole set as "x,x,x,...", as an upsert body
 * would; the figure is the median over REPS runs of ns per float, and bytes per float counting
 * the separating comma. rc_fmt_f32 is called through a pointer, one call per value;
 * rc_fmt_f32_array once per 384 values, as libqdrantc writes a vector.
 *
 * Floors: "copy" writes already formatted text of exactly the same bytes (a 16-byte copy per
 * element, advancing by its length); "fix9" writes 9 significant digits + exponent with integer
 * arithmetic (one double multiply by a power of ten, SWAR digits), no shortest search and no
 * round-trip guarantee.
 *
 * Build: gcc -O2 -std=c99 -Wall -Wextra -Werror -Ilib/common bench/bench_float.c
 *        lib/common/fmt_float.c -lm -o bench_float
 * Usage: bench_float [count (default 1000000)] [reps (default 9)] */
#define _POSIX_C_SOURCE 200809L
#include "fmt_float.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DIM 384

static uint64_t rng_state = 0x243F6A8885A308D3u;

static uint64_t rng_next(void) /* splitmix64 */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
}

static double rng_unit(void) /* (0, 1) */
{
    return ((double)(rng_next() >> 11) + 0.5) / 9007199254740992.0;
}

static double rng_gauss(void)
{
    return sqrt(-2.0 * log(rng_unit())) * cos(6.283185307179586 * rng_unit());
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ---- methods: write v at p, return bytes written (without the comma) ---- */

typedef size_t (*fmt_fn)(char *p, float v, size_t i);

static size_t m_ours(char *p, float v, size_t i)
{
    (void)i;
    return rc_fmt_f32(p, v);
}

static size_t m_printf9(char *p, float v, size_t i)
{
    (void)i;
    return (size_t)snprintf(p, 32, "%.9g", (double)v);
}

static size_t m_printf8(char *p, float v, size_t i)
{
    (void)i;
    return (size_t)snprintf(p, 32, "%.8g", (double)v);
}

/* What a careful caller does with only printf: the shortest %.{6..9}g that reads back. */
static size_t m_printf_shortest(char *p, float v, size_t i)
{
    (void)i;
    for (int prec = 6; prec < 9; prec++) {
        int n = snprintf(p, 32, "%.*g", prec, (double)v);
        if (strtof(p, NULL) == v)
            return (size_t)n;
    }
    return (size_t)snprintf(p, 32, "%.9g", (double)v);
}

/* Floor 1: the same text, already formatted, copied in place. */
static const char *pre_text; /* 16 bytes per element */
static const unsigned char *pre_len;

static size_t m_copy(char *p, float v, size_t i)
{
    (void)v;
    memcpy(p, pre_text + 16 * i, 16);
    return pre_len[i];
}

/* Floor 2: 9 significant digits, always "[-]d.dddddddde[-]x", integer arithmetic. */
static double pow10_tab[128]; /* 10^(i - 64) */

static uint64_t swar_digits8(uint32_t x)
{
    uint64_t y = (x / 10000) | ((uint64_t)(x % 10000) << 32);
    uint64_t q = ((y * 10486) >> 20) & 0x0000007F0000007Fu;
    y = q | ((y - q * 100) << 16);
    q = ((y * 103) >> 10) & 0x000F000F000F000Fu;
    return (q | ((y - q * 10) << 8)) + 0x3030303030303030u;
}

static size_t m_fix9(char *p, float v, size_t i)
{
    (void)i;
    char *s = p;
    double a = (double)v;
    uint64_t bits;
    memcpy(&bits, &a, 8);
    *s = '-';
    s += bits >> 63;
    bits &= 0x7FFFFFFFFFFFFFFFu;
    if (bits == 0) {
        *s = '0';
        return (size_t)(s - p) + 1;
    }
    memcpy(&a, &bits, 8);
    int be = (int)(bits >> 52) - 1023;                          /* 2^be <= a < 2^(be+1) */
    int e10 = ((be * 1233 + (64 << 12)) >> 12) - 64;            /* floor(be * log10 2) */
    uint32_t m = (uint32_t)(a * pow10_tab[64 + 8 - e10] + 0.5); /* [1e8, 2e9) */
    if (m >= 1000000000) {
        m = (m + 5) / 10;
        e10++;
    }
    uint32_t hi = m / 100000000; /* 1..9, or 10 after the rounding above: close enough */
    uint64_t w = swar_digits8(m - hi * 100000000);
    s[0] = (char)('0' + hi);
    s[1] = '.';
    memcpy(s + 2, &w, 8);
    s[10] = 'e';
    s[11] = '-';
    s += 11 + (e10 < 0);
    int ae = e10 < 0 ? -e10 : e10;
    if (ae >= 10) {
        s[0] = (char)('0' + ae / 10);
        s[1] = (char)('0' + ae % 10);
        s += 2;
    } else {
        *s++ = (char)('0' + ae);
    }
    return (size_t)(s - p);
}

/* ---- driver ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *outbuf;

static size_t run_once(fmt_fn fn, const float *v, size_t n, double *ns)
{
    char *p = outbuf;
    double t0 = now_ns();
    for (size_t i = 0; i < n; i++) {
        p += fn(p, v[i], i);
        *p++ = ',';
    }
    *ns = now_ns() - t0;
    return (size_t)(p - outbuf);
}

static void bench(const char *name, fmt_fn fn, const float *v, size_t n, int reps, double *med_out)
{
    double t[64];
    size_t bytes = 0;
    if (reps > 64)
        reps = 64;
    run_once(fn, v, n, &t[0]); /* warm-up */
    for (int r = 0; r < reps; r++)
        bytes = run_once(fn, v, n, &t[r]);
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    double med = t[reps / 2] / (double)n;
    printf("  %-22s %8.2f ns/float  %6.3f bytes/float  (min %.2f, max %.2f)\n", name, med,
           (double)bytes / (double)n, t[0] / (double)n, t[reps - 1] / (double)n);
    if (med_out)
        *med_out = med;
}

/* rc_fmt_f32_array over rows of DIM values, the way an upsert body is written (one call per
 * vector), with a comma after each row too: the same bytes as the per-value rows. */
static void bench_array(const float *v, size_t n, int reps)
{
    double t[64];
    size_t bytes = 0;
    if (reps > 64)
        reps = 64;
    for (int r = -1; r < reps; r++) { /* r = -1: warm-up */
        char *p = outbuf;
        double t0 = now_ns();
        for (size_t i = 0; i < n; i += DIM) {
            p += rc_fmt_f32_array(p, v + i, n - i < DIM ? n - i : DIM);
            *p++ = ',';
        }
        if (r >= 0)
            t[r] = now_ns() - t0;
        bytes = (size_t)(p - outbuf);
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    printf("  %-22s %8.2f ns/float  %6.3f bytes/float  (min %.2f, max %.2f)\n", "rc_fmt_f32_array",
           t[reps / 2] / (double)n, (double)bytes / (double)n, t[0] / (double)n,
           t[reps - 1] / (double)n);
}

static void bench_set(const char *title, const float *v, size_t n, int reps)
{
    printf("%s: %zu floats, median of %d runs\n", title, n, reps);

    /* Pre-formatted text for the copy floor. */
    char *text = malloc(16 * n);
    unsigned char *len = malloc(n);
    if (!text || !len) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (size_t i = 0; i < n; i++)
        len[i] = (unsigned char)rc_fmt_f32(text + 16 * i, v[i]);
    pre_text = text;
    pre_len = len;

    double ours, copy, fix9;
    bench("rc_fmt_f32", m_ours, v, n, reps, &ours);
    bench_array(v, n, reps);
    bench("snprintf %.9g", m_printf9, v, n, reps, NULL);
    bench("snprintf %.8g (lossy)", m_printf8, v, n, reps, NULL);
    bench("snprintf %.{6..9}g+strtof", m_printf_shortest, v, n / 10, reps < 3 ? reps : 3, NULL);
    bench("floor: copy same text", m_copy, v, n, reps, &copy);
    bench("floor: fixed 9 digits", m_fix9, v, n, reps, &fix9);
    printf("  rc_fmt_f32 / copy floor = %.2f, rc_fmt_f32 / fix9 floor = %.2f\n", ours / copy,
           ours / fix9);
    free(text);
    free(len);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 1000000;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (n < 10 || reps < 1) {
        fprintf(stderr, "usage: %s [count >= 10] [reps >= 1]\n", argv[0]);
        return 2;
    }
    for (int i = 0; i < 128; i++) {
        char t[16];
        snprintf(t, sizeof t, "1e%d", i - 64);
        pow10_tab[i] = strtod(t, NULL);
    }
    outbuf = malloc(32 * n + 64);
    float *emb = malloc(sizeof(float) * (n + DIM));
    float *rnd = malloc(sizeof(float) * n);
    if (!outbuf || !emb || !rnd) {
        fprintf(stderr, "out of memory\n");
        return 2;
    }

    /* (a) L2-normalised 384-d vectors, as many as cover n components */
    for (size_t base = 0; base < n; base += DIM) {
        double tmp[DIM], ss = 0;
        for (int j = 0; j < DIM; j++) {
            tmp[j] = rng_gauss();
            ss += tmp[j] * tmp[j];
        }
        double inv = 1.0 / sqrt(ss);
        for (int j = 0; j < DIM; j++)
            emb[base + (size_t)j] = (float)(tmp[j] * inv);
    }
    /* (b) random finite bit patterns */
    for (size_t i = 0; i < n;) {
        uint32_t b = (uint32_t)(rng_next() >> 32);
        if (((b >> 23) & 0xFF) == 0xFF)
            continue;
        memcpy(&rnd[i++], &b, 4);
    }

    bench_set("(a) L2-normalised 384-d vector components", emb, n, reps);
    bench_set("(b) random finite bit patterns", rnd, n, reps);

    free(outbuf);
    free(emb);
    free(rnd);
    return 0;
}
