/* Exhaustive check of rc_fmt_f32 over all 2^32 bit patterns (2 threads).
 *
 * For every finite pattern v, with s = rc_fmt_f32(v) holding n significant digits:
 *   - s is 1..15 bytes of JSON number syntax;
 *   - strtof(s) gives back v bit for bit (-0.0 included);
 *   - no decimal with n - 1 significant digits reads back as v: it is enough to try the two
 *     (n-1)-digit neighbours of s (s truncated, and that plus one unit), since the set of
 *     decimals reading back as v is an interval containing s;
 *   - s is the n-digit decimal nearest to v: equal to glibc's correctly rounded "%.{n-1}e", or,
 *     when that does not read back (only possible just below a power of two, where the gap
 *     below v is half the gap above), the next n-digit decimal above it;
 *   - s is no longer than snprintf("%.9g", v).
 * On a sample (1 in SAMPLE patterns, by a hash of the bits) also: the smallest p such that
 * "%.{p}g" reads back as v equals n and that text has the same value as s (except at powers of
 * two as above, where p may exceed n).
 *
 * Build: gcc -O2 -std=c99 -Wall -Wextra -Werror -pthread -Ilib/common bench/float_exhaustive.c
 *        lib/common/fmt_float.c -o float_exhaustive
 * Usage: float_exhaustive [sample (default 256)] [first_hex last_hex]   exit 0 iff no failure */
#define _POSIX_C_SOURCE 200809L
#include "f32_ref.h"
#include "fmt_float.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 2
#define MAX_REPORTS 20

static uint32_t sample_every = 256;
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned reports;

typedef struct {
    uint64_t first, last; /* inclusive bit-pattern range */
    uint64_t checked, sampled, failures;
} job;

static void fail(job *j, uint32_t bits, const char *what, const char *s, const char *ref)
{
    j->failures++;
    pthread_mutex_lock(&report_lock);
    if (reports++ < MAX_REPORTS) {
        float v;
        memcpy(&v, &bits, 4);
        fprintf(stderr, "FAIL %08x (%.9g): %s: got \"%s\"%s%s%s\n", (unsigned)bits, (double)v, what,
                s, ref ? " ref \"" : "", ref ? ref : "", ref ? "\"" : "");
    }
    pthread_mutex_unlock(&report_lock);
}

/* Decimal text -> significant digits (no leading/trailing zeros) and the power of ten of the
 * last one. Returns the digit count (0 for zero). */
static uint32_t mix(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7FEB352Du;
    x ^= x >> 15;
    x *= 0x846CA68Bu;
    return x ^ (x >> 16);
}

static void check_one(job *j, uint32_t bits)
{
    float v;
    memcpy(&v, &bits, 4);
    char s[RC_FMT_F32_MAX + 1], dig[32], ref[64], rdig[32];
    size_t len = rc_fmt_f32(s, v);
    if (len < 1 || len > 15) {
        fail(j, bits, "length out of range", "", NULL);
        return;
    }
    s[len] = '\0';
    if (!json_number_ok(s))
        fail(j, bits, "not JSON number syntax", s, NULL);
    if (!reads_back(s, bits)) {
        fail(j, bits, "does not read back", s, NULL);
        return;
    }
    snprintf(ref, sizeof ref, "%.9g", (double)v);
    if (len > strlen(ref))
        fail(j, bits, "longer than %.9g", s, ref);

    int e, n = decompose(s, dig, &e);
    if (n == 0)
        return; /* +-0 */
    if (n > 9) {
        fail(j, bits, "more than 9 digits", s, NULL);
        return;
    }
    if (n > 1) { /* the (n-1)-digit neighbours of s, with the sign of v, must not read back */
        const char *sign = bits >> 31 ? "-" : "";
        char t[48], u[48];
        int m = n - 1, carry = 1;
        snprintf(t, sizeof t, "%s%.*se%d", sign, m, dig, e + 1);
        if (reads_back(t, bits))
            fail(j, bits, "shorter (truncated) reads back", s, t);
        memcpy(u + 1, dig, (size_t)m); /* u[1..m]: truncated digits + 1 unit */
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
        if (reads_back(t, bits))
            fail(j, bits, "shorter (rounded up) reads back", s, t);
    }
    /* The nearest n-digit decimal; when it does not read back (only possible below a power of
     * two), the one above it. */
    snprintf(ref, sizeof ref, "%.*e", n - 1, (double)v);
    int re, rn = decompose(ref, rdig, &re);
    if (reads_back(ref, bits)) {
        if (rn != n || re != e || memcmp(rdig, dig, (size_t)n) != 0)
            fail(j, bits, "not the nearest n-digit decimal", s, ref);
    } else if (!halved_gap(bits) || !one_unit_above(dig, n, e, rdig, rn, re, n)) {
        fail(j, bits, "not the nearest n-digit decimal that reads back", s, ref);
    }

    if (mix(bits) % sample_every == 0) {
        j->sampled++;
        int p;
        for (p = 1; p <= 9; p++) {
            snprintf(ref, sizeof ref, "%.*g", p, (double)v);
            if (reads_back(ref, bits))
                break;
        }
        /* p > n only where the nearest n-digit decimal does not read back (see above) */
        rn = decompose(ref, rdig, &re);
        if (p < n || (p > n && !halved_gap(bits)) ||
            (p == n && (rn != n || re != e || memcmp(rdig, dig, (size_t)n) != 0)))
            fail(j, bits, "differs from shortest round-tripping %.{1..9}g", s, ref);
    }
}

static void *worker(void *arg)
{
    job *j = arg;
    for (uint64_t b = j->first; b <= j->last; b++) {
        uint32_t bits = (uint32_t)b;
        if ((bits & 0x7F800000u) == 0x7F800000u)
            continue; /* NaN, Inf */
        j->checked++;
        check_one(j, bits);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    uint64_t first = 0, last = 0xFFFFFFFFu;
    if (argc > 1)
        sample_every = (uint32_t)strtoul(argv[1], NULL, 10);
    if (argc > 3) {
        first = strtoull(argv[2], NULL, 16);
        last = strtoull(argv[3], NULL, 16);
    }
    if (sample_every == 0 || first > last || last > 0xFFFFFFFFu) {
        fprintf(stderr, "usage: %s [sample >= 1] [first_hex last_hex]\n", argv[0]);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* Interleave 2^20-pattern blocks so both threads see the same mix of exponents. */
    job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    uint64_t total = 0, sampled = 0, failures = 0;
    const uint64_t block = 1u << 20;
    for (uint64_t b0 = first; b0 <= last;) {
        int nt = 0;
        for (; nt < NTHREADS && b0 <= last; nt++) {
            uint64_t b1 = b0 + block - 1 > last ? last : b0 + block - 1;
            jobs[nt] = (job){b0, b1, 0, 0, 0};
            b0 = b1 + 1;
        }
        for (int i = 0; i < nt; i++)
            if (pthread_create(&th[i], NULL, worker, &jobs[i]) != 0) {
                fprintf(stderr, "pthread_create failed\n");
                return 2;
            }
        for (int i = 0; i < nt; i++) {
            pthread_join(th[i], NULL);
            total += jobs[i].checked;
            sampled += jobs[i].sampled;
            failures += jobs[i].failures;
        }
        if (((b0 - first) & ((1u << 28) - 1)) == 0 || b0 > last) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            fprintf(stderr, "  .. %08llx  %.0f s\n", (unsigned long long)(b0 - 1),
                    (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("float_exhaustive: %s [%08llx, %08llx]: %llu finite patterns checked, %llu also "
           "against shortest %%.{1..9}g, %llu failures, %.1f s, %d threads\n",
           failures ? "FAIL" : "PASS", (unsigned long long)first, (unsigned long long)last,
           (unsigned long long)total, (unsigned long long)sampled, (unsigned long long)failures,
           secs, NTHREADS);
    return failures ? 1 : 0;
}
