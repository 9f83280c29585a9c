/* Timing helpers shared by the benchmarks (header-only, bench/ only). */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_MAX_REPS 64 /* repetitions a median is taken over, at most */

/* CPU (user+sys of this process) and wall time, in microseconds */
typedef struct {
    double cpu_us; /* user+sys of this process */
    double wall_us;
} sample;

static inline double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static inline double cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static inline sample mark(void)
{
    sample s = {cpu_us(), now_us()};
    return s;
}

static inline sample since(sample a)
{
    sample b = mark();
    sample d = {b.cpu_us - a.cpu_us, b.wall_us - a.wall_us};
    return d;
}

static inline int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v[0..n) in place (for a median with its min and max). */
static inline void bench_sort(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
}

static inline double median(const double *v, int n)
{
    double tmp[BENCH_MAX_REPS];
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

#endif
