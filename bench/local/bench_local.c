/* Local mode engine benchmark (not a test).
 *
 *   bench_local [points=100000] [dim=384] [dir]
 *
 * Builds a cosine collection of random points in batches of 256 (upsert rate), reopens the
 * store (open + first-query load time), then times queries (limit 10) without a filter and with
 * a keyword filter matching 1/10 of the points, and a plain sum over an array of the same size
 * (the memory-bandwidth floor of one brute-force pass). Prints medians, peak RSS. */
#include "lstore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static float frand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
}

static int dcmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, dcmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The floor: one pass summing every float of an array as large as the collection's vectors,
 * with the same 8-accumulator shape as the kernels. */
static float plain_sum(const float *restrict a, size_t n)
{
    float acc[8] = {0};
    for (size_t i = 0; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j];
    return ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
}

#define CHECK(x)                                                                                   \
    do {                                                                                           \
        int rc_ = (x);                                                                             \
        if (rc_) {                                                                                 \
            fprintf(stderr, "%s:%d: %s: %s (%s)\n", __FILE__, __LINE__, #x, ls_strerror(rc_),      \
                    s ? ls_errmsg(s) : "");                                                        \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

int main(int argc, char **argv)
{
    size_t npts = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
    size_t dim = argc > 2 ? strtoul(argv[2], NULL, 10) : 384;
    char dir[256];
    if (argc > 3)
        snprintf(dir, sizeof dir, "%s", argv[3]);
    else
        snprintf(dir, sizeof dir, "/tmp/bench_local_%ld", (long)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;

    ls_store *s = NULL;
    char err[512];
    if (ls_open(&s, dir, NULL, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    CHECK(ls_collection_create(s, "bench", dim, LS_COSINE));

    /* upsert, batches of 256, as a pure writer (its cache not loaded) */
    const size_t B = 256;
    float *vecs = malloc(B * dim * sizeof *vecs);
    ls_id ids[256];
    char *pl[256];
    for (size_t i = 0; i < B; i++)
        pl[i] = malloc(64);
    double t0, t_up = 0; /* only the ls_upsert calls are timed, not making the data */
    for (size_t base = 0; base < npts; base += B) {
        size_t n = npts - base < B ? npts - base : B;
        for (size_t i = 0; i < n; i++) {
            ids[i] = ls_id_num(base + i);
            for (size_t k = 0; k < dim; k++)
                vecs[i * dim + k] = frand();
            snprintf(pl[i], 64, "{\"group\":\"g%zu\",\"n\":%zu}", (base + i) % 10, base + i);
        }
        t0 = now_ms();
        CHECK(ls_upsert(s, "bench", n, ids, vecs, dim, (const char *const *)pl));
        t_up += now_ms() - t0;
    }
    printf("upsert: %zu points x %zu-d in batches of %zu: %.0f ms, %.0f points/s (target >= "
           "50000)\n",
           npts, dim, B, t_up, npts / (t_up / 1e3));
    ls_close(s);
    s = NULL;

    /* open + first use (loads the collection into memory) */
    t0 = now_ms();
    if (ls_open(&s, dir, NULL, err, sizeof err)) {
        fprintf(stderr, "open: %s\n", err);
        return 1;
    }
    double t_open = now_ms() - t0;
    float *q = malloc(dim * sizeof *q);
    for (size_t k = 0; k < dim; k++)
        q[k] = frand();
    ls_query_params qp = {10, 0, NULL, 0, 0, 0, 0};
    ls_points *res = NULL;
    CHECK(ls_query(&res, s, "bench", q, dim, &qp));
    ls_points_free(res);
    double t_load = now_ms() - t0;
    printf("open: ls_open %.1f ms; open + first query (loads %zu points) %.1f ms (target <= "
           "1000)\n",
           t_open, npts, t_load);

    /* queries */
    enum { RUNS = 41 };
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        for (size_t k = 0; k < dim; k++)
            q[k] = frand();
        t0 = now_ms();
        CHECK(ls_query(&res, s, "bench", q, dim, &qp));
        t[r] = now_ms() - t0;
        ls_points_free(res);
    }
    double q_plain = median(t, RUNS);
    qp.filter_json = "{\"must\":[{\"key\":\"group\",\"match\":{\"value\":\"g3\"}}]}";
    t0 = now_ms();
    CHECK(ls_query(&res, s, "bench", q, dim, &qp)); /* first: parses the payloads */
    double t_first_f = now_ms() - t0;
    ls_points_free(res);
    for (int r = 0; r < RUNS; r++) {
        for (size_t k = 0; k < dim; k++)
            q[k] = frand();
        t0 = now_ms();
        CHECK(ls_query(&res, s, "bench", q, dim, &qp));
        t[r] = now_ms() - t0;
        if (res->count != 10)
            fprintf(stderr, "filtered query returned %zu\n", res->count);
        ls_points_free(res);
    }
    double q_filt = median(t, RUNS);

    /* the floor */
    size_t total = npts * dim;
    float *arr = malloc(total * sizeof *arr);
    for (size_t i = 0; i < total; i++)
        arr[i] = (float)(i & 7);
    volatile float sink = 0;
    for (int r = 0; r < RUNS; r++) {
        t0 = now_ms();
        sink += plain_sum(arr, total);
        t[r] = now_ms() - t0;
    }
    double floor_ms = median(t, RUNS);
    /* the dot kernel alone over the same array (no engine around it) */
    for (int r = 0; r < RUNS; r++) {
        t0 = now_ms();
        float best = -1e30f;
        for (size_t i = 0; i < npts; i++) {
            float d = ls_kernel_dot(q, arr + i * dim, dim);
            best = d > best ? d : best;
        }
        sink += best;
        t[r] = now_ms() - t0;
    }
    double kern_ms = median(t, RUNS);
    (void)sink;

    printf("query (%zu x %zu cosine, limit 10, no filter): median %.2f ms (target <= 20)\n", npts,
           dim, q_plain);
    printf("query with keyword filter (1/10 match): median %.2f ms (first one, parsing payloads: "
           "%.1f ms)\n",
           q_filt, t_first_f);
    printf("floor: plain sum over %.0f MB: median %.2f ms (%.1f GB/s); dot kernel alone: %.2f ms\n",
           total * 4 / 1e6, floor_ms, total * 4 / 1e6 / floor_ms, kern_ms);
    printf("ratio query / floor: %.2f\n", q_plain / floor_ms);

    /* upsert rate into a collection whose cache is loaded (reader and writer in one handle) */
    size_t extra = npts / 10 < 25600 ? npts / 10 : 25600;
    double t_up2 = 0;
    for (size_t base = 0; base < extra; base += B) {
        size_t n = extra - base < B ? extra - base : B;
        for (size_t i = 0; i < n; i++) {
            ids[i] = ls_id_num(npts + base + i);
            for (size_t k = 0; k < dim; k++)
                vecs[i * dim + k] = frand();
            snprintf(pl[i], 64, "{\"group\":\"g%zu\",\"n\":%zu}", (base + i) % 10, base + i);
        }
        t0 = now_ms();
        CHECK(ls_upsert(s, "bench", n, ids, vecs, dim, (const char *const *)pl));
        t_up2 += now_ms() - t0;
    }
    printf("upsert with the collection loaded: %zu points: %.0f points/s\n", extra,
           extra / (t_up2 / 1e3));
    ls_close(s);

    /* scan mode: nothing held in memory; one query, and 8 queries answered in one pass */
    {
        ls_open_options so = LS_OPEN_OPTIONS_INIT;
        so.scan = 1;
        s = NULL;
        if (ls_open(&s, dir, &so, err, sizeof err))
            return 1;
        enum { SRUNS = 7, NQ = 8 };
        double ts[SRUNS], tb[SRUNS];
        float *qs = malloc(NQ * dim * sizeof *qs);
        ls_query_params qps[NQ];
        ls_points *outs[NQ];
        qp.filter_json = NULL;
        for (int i = 0; i < NQ; i++)
            qps[i] = qp;
        for (int r = 0; r < SRUNS; r++) {
            for (size_t k = 0; k < NQ * dim; k++)
                qs[k] = frand();
            t0 = now_ms();
            CHECK(ls_query(&res, s, "bench", qs, dim, &qp));
            ts[r] = now_ms() - t0;
            ls_points_free(res);
            t0 = now_ms();
            CHECK(ls_query_batch(outs, s, "bench", qs, NQ, dim, qps));
            tb[r] = now_ms() - t0;
            for (int i = 0; i < NQ; i++)
                ls_points_free(outs[i]);
        }
        printf("scan mode (nothing held; each query reads the store): one query median %.1f ms; "
               "a batch of %d in one pass %.1f ms\n",
               median(ts, SRUNS), NQ, median(tb, SRUNS));
        free(qs);
        ls_close(s);
    }

    /* the same with synchronous=FULL (fsync per batch) */
    ls_open_options oo = LS_OPEN_OPTIONS_INIT;
    oo.sync_full = 1;
    s = NULL;
    if (ls_open(&s, dir, &oo, err, sizeof err))
        return 1;
    t0 = now_ms();
    for (size_t base = 0; base < extra; base += B) {
        size_t n = extra - base < B ? extra - base : B;
        for (size_t i = 0; i < n; i++)
            ids[i] = ls_id_num(2 * npts + base + i);
        CHECK(ls_upsert(s, "bench", n, ids, vecs, dim, (const char *const *)pl));
    }
    double t_up3 = now_ms() - t0;
    printf("upsert with sync_full=1: %zu points: %.0f points/s\n", extra, extra / (t_up3 / 1e3));
    ls_close(s);

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak RSS: %.1f MB (vectors alone: %.1f MB; the floor's array: %.1f MB)\n",
           ru.ru_maxrss / 1024.0, npts * dim * 4 / 1e6, total * 4 / 1e6);
    if (system(cmd) != 0)
        return 1;
    for (size_t i = 0; i < B; i++)
        free(pl[i]);
    free(vecs);
    free(q);
    free(arr);
    return 0;
}
