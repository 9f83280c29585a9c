/* Local mode: distance kernels and Qdrant's vector preprocessing.
 *
 * The kernels are plain loops over restrict-qualified pointers with 16 independent accumulators
 * (two banks of 8):
 * without -ffast-math the compiler may not reorder one float sum, but it does turn 8 separate
 * sums into SIMD lanes (SLP vectorisation at -O2 with GCC >= 12), and the independent chains hide
 * the add latency. The summation order is fixed (lane j sums elements j, j+16, ...; the lanes are
 * then added pairwise), so results do not depend on the build. */
#include "lstore.h"

#include <math.h>

/* Two banks of 8 lanes: lane j of bank b sums elements 16k + 8b + j. GCC unrolls each 8-step
 * inner loop completely and keeps every bank in SIMD registers (one 16-step loop it would not
 * unroll, and it would keep the sums in memory). */
#define KERNEL(name, EXPR)                                                                         \
    float name(const float *restrict a, const float *restrict b, size_t n)                         \
    {                                                                                              \
        float s0[8] = {0}, s1[8] = {0};                                                            \
        size_t i = 0;                                                                              \
        for (; i + 16 <= n; i += 16) {                                                             \
            for (int j = 0; j < 8; j++) {                                                          \
                size_t k = i + (size_t)j;                                                          \
                s0[j] += EXPR;                                                                     \
            }                                                                                      \
            for (int j = 0; j < 8; j++) {                                                          \
                size_t k = i + 8 + (size_t)j;                                                      \
                s1[j] += EXPR;                                                                     \
            }                                                                                      \
        }                                                                                          \
        for (; i + 8 <= n; i += 8)                                                                 \
            for (int j = 0; j < 8; j++) {                                                          \
                size_t k = i + (size_t)j;                                                          \
                s0[j] += EXPR;                                                                     \
            }                                                                                      \
        float h[8];                                                                                \
        for (int j = 0; j < 8; j++)                                                                \
            h[j] = s0[j] + s1[j];                                                                  \
        float s = ((h[0] + h[4]) + (h[1] + h[5])) + ((h[2] + h[6]) + (h[3] + h[7]));               \
        for (; i < n; i++) {                                                                       \
            size_t k = i;                                                                          \
            s += EXPR;                                                                             \
        }                                                                                          \
        return s;                                                                                  \
    }

static inline float sq(float x)
{
    return x * x;
}

KERNEL(ls_kernel_dot, a[k] * b[k])
KERNEL(ls_kernel_l2sq, sq(a[k] - b[k]))
KERNEL(ls_kernel_l1, fabsf(a[k] - b[k]))

float ls_score(ls_distance d, const float *restrict q, const float *restrict v, size_t n)
{
    switch (d) {
    case LS_EUCLID:
        /* Qdrant: similarity -sum(d^2), reported as sqrt(|similarity|). */
        return sqrtf(ls_kernel_l2sq(q, v, n));
    case LS_MANHATTAN:
        return ls_kernel_l1(q, v, n);
    default:
        return ls_kernel_dot(q, v, n);
    }
}

/* The float squared norm of v; *keep = 1 when cosine_preprocess leaves v as it is. */
static float sq_norm(const float *v, size_t n, int *keep)
{
    /* segment/src/spaces/simple.rs cosine_preprocess. The products of two floats are exact in
     * double, so summing them in double and rounding once gives the float squared norm the test
     * server computes; sqrt and the divisions are correctly rounded either way. */
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (double)v[i] * (double)v[i];
    float len = (float)acc;
    *keep = (double)len < 1.1920929e-07 || fabs((double)len - 1.0) <= 1.0e-6;
    return len;
}

int ls_cosine_unchanged(const float *v, size_t n)
{
    int keep;
    sq_norm(v, n, &keep);
    return keep;
}

void ls_cosine_preprocess(float *v, size_t n)
{
    int keep;
    float len = sq_norm(v, n, &keep);
    if (keep)
        return;
    len = sqrtf(len);
    for (size_t i = 0; i < n; i++)
        v[i] = v[i] / len;
}
