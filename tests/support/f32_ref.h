/* Reference checks of float32 -> decimal text (header-only, for tests and benchmarks): JSON
 * number syntax, the significant digits of a decimal, reading back with strtof, and the
 * "one unit above" test used to check that the text is the nearest shortest one. */
#ifndef F32_REF_H
#define F32_REF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* RFC 8259 number: -? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)? */
static int json_number_ok(const char *s)
{
    if (*s == '-')
        s++;
    if (*s == '0') {
        s++;
    } else if (*s >= '1' && *s <= '9') {
        while (is_digit(*s))
            s++;
    } else {
        return 0;
    }
    if (*s == '.') {
        s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (!is_digit(*s))
            return 0;
        while (is_digit(*s))
            s++;
    }
    return *s == '\0';
}

static int decompose(const char *s, char *dig, int *exp_last)
{
    int n = 0, frac = 0, in_frac = 0, e = 0, eneg = 0;
    if (*s == '-' || *s == '+')
        s++;
    for (; *s && *s != 'e' && *s != 'E'; s++) {
        if (*s == '.') {
            in_frac = 1;
            continue;
        }
        if (n == 0 && *s == '0') {
            frac += in_frac;
            continue;
        }
        dig[n++] = *s;
        frac += in_frac;
    }
    if (*s) {
        s++;
        if (*s == '+' || *s == '-')
            eneg = *s++ == '-';
        while (is_digit(*s))
            e = e * 10 + (*s++ - '0');
    }
    e = (eneg ? -e : e) - frac;
    while (n > 0 && dig[n - 1] == '0') {
        n--;
        e++;
    }
    dig[n] = '\0';
    *exp_last = e;
    return n;
}

static int reads_back(const char *s, uint32_t bits)
{
    float r = strtof(s, NULL);
    uint32_t rb;
    memcpy(&rb, &r, 4);
    return rb == bits;
}

/* v = 2^x above the first normal: the gap below v is half the gap above, so the nearest
 * n-digit decimal may fall just outside the lower gap while the next one above reads back. */
static int halved_gap(uint32_t bits)
{
    return (bits & 0x7FFFFFu) == 0 && ((bits >> 23) & 0xFFu) > 1;
}

static uint64_t digits_value(const char *dig, int n)
{
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = x * 10 + (uint64_t)(dig[i] - '0');
    return x;
}

/* Is (dig, n, e) the nd-significant-digit decimal one unit above (rdig, rn, re)? */
static int one_unit_above(const char *dig, int n, int e, const char *rdig, int rn, int re, int nd)
{
    int unit = re + rn - nd; /* power of ten of the nd-th digit of the reference */
    if (rn < 1 || e < unit || e - unit > 9 || nd - rn > 9)
        return 0;
    uint64_t r = digits_value(rdig, rn), x = digits_value(dig, n);
    for (int i = 0; i < nd - rn; i++)
        r *= 10;
    for (int i = 0; i < e - unit; i++)
        x *= 10;
    return x == r + 1;
}

#endif
