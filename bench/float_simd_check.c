/* rc_fmt_f32_array() and rc_fmt_f32_array_checked() against their portable scalar loop
 * (rc_fmt_f32_array_portable()), byte for byte, for every finite float32 bit pattern (2
 * threads). Where the library takes no SIMD loop this compares the portable loop with itself.
 *
 * The finite patterns, in increasing order, are cut into blocks of BLOCK; the portable loop
 * writes each block once, as the reference. Then each block is written again in pieces, and each
 * piece must give the reference's text for those elements exactly (length and bytes), must not
 * write past its n * RC_FMT_F32_MAX bytes, and the checked variant must not report a bad index:
 *   - rc_fmt_f32_array, pieces of lengths that are multiples of 8 after a first piece of
 *     (block number % 8) elements, so the lane of a pattern in a run of 8 changes with the block;
 *   - rc_fmt_f32_array_checked, pieces of 1, 2, ..., 41 elements in turn (every tail length);
 *   - in blocks of the fast path's exponents and their neighbours (biased 112..131), both
 *     functions again with a first piece of 1..7 elements, so every pattern there is seen in
 *     every lane by both.
 * The output starts at a varying offset from an aligned buffer. Then NaN and infinities:
 * arrays of 1..48 values with one or two of them at every position, against the portable loop's
 * SIZE_MAX and first bad index.
 *
 * Usage: float_simd_check [first_hex last_hex]   exit 0 iff no difference */
#define _POSIX_C_SOURCE 200809L
#include "fmt_float.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 2
#define BLOCK 4096
#define MAX_REPORTS 20
#define CANARY 0xA5

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned reports;

typedef struct {
    uint64_t first, last; /* inclusive bit-pattern range */
    uint64_t checked, pieces, failures;
    float blk[BLOCK];
    size_t off[BLOCK + 1]; /* element i of the reference at off[i], ending before off[i + 1] - 1 */
    char ref[BLOCK * RC_FMT_F32_MAX];
    char out[BLOCK * RC_FMT_F32_MAX + 64];
} job;

static void fail(job *j, const float *v, size_t n, const char *what)
{
    j->failures++;
    pthread_mutex_lock(&report_lock);
    if (reports++ < MAX_REPORTS) {
        uint32_t b0, b1;
        memcpy(&b0, &v[0], 4);
        memcpy(&b1, &v[n - 1], 4);
        fprintf(stderr, "FAIL %s: %zu values %08x..%08x\n", what, n, (unsigned)b0, (unsigned)b1);
    }
    pthread_mutex_unlock(&report_lock);
}

/* One piece: elements [st, st + len) of the block, written at j->out + shift. */
static void piece(job *j, size_t st, size_t len, int checked, size_t shift)
{
    char *out = j->out + shift;
    size_t lim = len * RC_FMT_F32_MAX;
    memset(out + lim, CANARY, 16);
    size_t ret, bad = 12345;
    if (checked)
        ret = rc_fmt_f32_array_checked(out, j->blk + st, len, &bad);
    else
        ret = rc_fmt_f32_array(out, j->blk + st, len);
    size_t want = len ? j->off[st + len] - 1 - j->off[st] : 0;
    j->pieces++;
    if (ret != want || memcmp(out, j->ref + j->off[st], want) != 0)
        fail(j, j->blk + st, len ? len : 1, checked ? "checked: text" : "array: text");
    if (bad != 12345)
        fail(j, j->blk + st, len ? len : 1, "checked: bad set");
    for (int k = 0; k < 16; k++)
        if ((unsigned char)out[lim + k] != CANARY) {
            fail(j, j->blk + st, len ? len : 1, "wrote past n * RC_FMT_F32_MAX");
            break;
        }
}

/* The block in pieces: a first one of first elements, then lengths from lens[] in turn. */
static void pieces(job *j, size_t n, size_t first, const size_t *lens, size_t nlens, int checked,
                   size_t *shift)
{
    size_t st = 0, k = 0;
    if (first > n)
        first = n;
    if (first) {
        piece(j, 0, first, checked, *shift);
        st = first;
    }
    while (st < n) {
        size_t len = lens[k++ % nlens];
        if (len > n - st)
            len = n - st;
        *shift = (*shift + 7) % 61;
        piece(j, st, len, checked, *shift);
        st += len;
    }
}

static const size_t lens8[] = {8, 64, 384, 16, 256, 1024, 24, 40, 8, 512, 128, 768, 32, 1536};
static size_t lens_all[41];

static void check_block(job *j, size_t n, uint64_t blockno)
{
    size_t reflen = rc_fmt_f32_array_portable(j->ref, j->blk, n, NULL);
    j->off[0] = 0;
    size_t i = 1;
    for (size_t k = 0; k < reflen && i < n; k++)
        if (j->ref[k] == ',')
            j->off[i++] = k + 1;
    j->off[n] = reflen + 1;
    if (i != n) {
        fail(j, j->blk, n, "reference: comma count");
        return;
    }
    size_t shift = blockno % 61;
    pieces(j, n, blockno % 8, lens8, sizeof lens8 / sizeof lens8[0], 0, &shift);
    pieces(j, n, 0, lens_all, 41, 1, &shift);
    uint32_t b0;
    memcpy(&b0, &j->blk[0], 4);
    uint32_t ef = (b0 >> 23) & 0xFF;
    if (ef >= 112 && ef <= 131)
        for (size_t first = 1; first < 8; first++) {
            pieces(j, n, first, lens8, sizeof lens8 / sizeof lens8[0], 0, &shift);
            pieces(j, n, first, lens8, sizeof lens8 / sizeof lens8[0], 1, &shift);
        }
    j->checked += n;
}

static void *run(void *arg)
{
    job *j = arg;
    size_t n = 0;
    uint64_t blockno = j->first / BLOCK;
    for (uint64_t b = j->first; b <= j->last; b++) {
        uint32_t bits = (uint32_t)b;
        if ((bits & 0x7F800000u) == 0x7F800000u)
            continue;
        memcpy(&j->blk[n++], &bits, 4);
        if (n == BLOCK) {
            check_block(j, n, blockno++);
            n = 0;
        }
    }
    if (n)
        check_block(j, n, blockno);
    return NULL;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static uint32_t rng32(void) /* splitmix64, upper half */
{
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* A finite value, half of them in the fast path's range. */
static uint32_t rng_finite(void)
{
    uint32_t x = rng32();
    if (x & 1)
        x = (x & 0x807FFFFFu) | (uint32_t)(112 + (x >> 23) % 20) << 23;
    if ((x & 0x7F800000u) == 0x7F800000u)
        x &= 0xBFFFFFFFu;
    return x;
}

static uint32_t rng_bad(void) /* +-Inf or a NaN */
{
    uint32_t x = rng32();
    return (x & 0x80000000u) | 0x7F800000u | ((x & 3) ? (x >> 9 & 0x7FFFFF) : 0);
}

/* NaN and infinities for the checked variant: SIZE_MAX and the first bad index, as the
 * portable loop. */
static uint64_t check_bad(void)
{
    static char a[64 * RC_FMT_F32_MAX], b[64 * RC_FMT_F32_MAX];
    float v[64];
    uint64_t failures = 0;
    for (int rep = 0; rep < 200; rep++)
        for (size_t n = 1; n <= 48; n++)
            for (size_t at = 0; at < n; at++) {
                for (size_t i = 0; i < n; i++) {
                    uint32_t x = rng_finite();
                    memcpy(&v[i], &x, 4);
                }
                uint32_t x = rng_bad();
                memcpy(&v[at], &x, 4);
                if (rep & 1) { /* a second one later on */
                    size_t at2 = at + 1 + rng32() % n;
                    if (at2 < n) {
                        x = rng_bad();
                        memcpy(&v[at2], &x, 4);
                    }
                }
                size_t bad1 = 777, bad2 = 888;
                size_t r1 = rc_fmt_f32_array_checked(a, v, n, &bad1);
                size_t r2 = rc_fmt_f32_array_portable(b, v, n, &bad2);
                if (r1 != r2 || bad1 != bad2 || r2 != SIZE_MAX || bad2 != at) {
                    if (failures++ < MAX_REPORTS)
                        fprintf(stderr, "FAIL bad: n %zu at %zu: %zu/%zu vs %zu/%zu\n", n, at, r1,
                                bad1, r2, bad2);
                }
            }
    return failures;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    uint64_t first = 0, last = 0xFFFFFFFFu;
    if (argc == 3) {
        first = strtoull(argv[1], NULL, 16);
        last = strtoull(argv[2], NULL, 16);
    } else if (argc != 1 || first > last) {
        fprintf(stderr, "usage: %s [first_hex last_hex]\n", argv[0]);
        return 2;
    }
    for (size_t k = 0; k < 41; k++)
        lens_all[k] = k + 1;
    double t0 = now_s();
    uint64_t bad_failures = check_bad();

    static job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    uint64_t span = (last - first + 1) / NTHREADS;
    for (int t = 0; t < NTHREADS; t++) {
        jobs[t].first = first + span * (uint64_t)t;
        jobs[t].last = t == NTHREADS - 1 ? last : first + span * (uint64_t)(t + 1) - 1;
        if (pthread_create(&th[t], NULL, run, &jobs[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 2;
        }
    }
    uint64_t checked = 0, npieces = 0, failures = bad_failures;
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        checked += jobs[t].checked;
        npieces += jobs[t].pieces;
        failures += jobs[t].failures;
    }
    printf("%llu finite patterns %llx..%llx in %llu pieces, and NaN/Inf placements: %llu failures "
           "(%.1f s)\n",
           (unsigned long long)checked, (unsigned long long)first, (unsigned long long)last,
           (unsigned long long)npieces, (unsigned long long)failures, now_s() - t0);
    return failures != 0;
}
