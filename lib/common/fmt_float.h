/* Shortest round-trip formatting of binary32 values as JSON numbers (internal). */
#ifndef RC_FMT_FLOAT_H
#define RC_FMT_FLOAT_H

#include <stddef.h>

/* Space the caller must provide at dst for one rc_fmt_f32() call. The text itself is at most 15
 * bytes ("-1.2345678e-38" style); the routine may use the rest of the 16 bytes as scratch, so
 * bytes of dst[ret..RC_FMT_F32_MAX) are unspecified afterwards. */
#define RC_FMT_F32_MAX 16

/* Writes v as the shortest decimal that strtof() reads back as exactly v (ties between equally
 * short candidates go to the one nearest to v, then to the even digit string), in JSON number
 * syntax, without a NUL terminator, and returns its length (1..15).
 *
 * Format: plain notation ("0.1", "-0.00123", "100", "123.5") or scientific with a dot only when
 * there is more than one digit and no '+' in the exponent ("1e-7", "-1.5e-7", "3.4028235e38"),
 * whichever is shorter; plain wins ties. -0.0 is written as "-0" (it keeps the sign through a
 * parse); +0.0 as "0". No locale, no allocation, no libm.
 *
 * Precondition: v is finite (callers reject NaN and infinities first). */
size_t rc_fmt_f32(char *dst, float v);

/* Writes the n values of v as rc_fmt_f32() would, separated by single commas ("a,b,c": no
 * brackets, no trailing comma, no NUL), and returns the total length (0 for n == 0). The same
 * text as calling rc_fmt_f32() in a loop, but without a call per element (and 8 elements at a
 * time with AVX-512 where the CPU has it, at run time). dst must have room for n * RC_FMT_F32_MAX
 * bytes (each element takes at most 15 bytes of text plus its comma; bytes after the returned
 * length, up to that bound, are unspecified afterwards).
 *
 * Precondition: every v[i] is finite. */
size_t rc_fmt_f32_array(char *dst, const float *v, size_t n);

/* As rc_fmt_f32_array(), for values that may hold NaN or infinities, checked on the way (no
 * separate pass): at the first such v[i], stops, sets *bad = i and returns SIZE_MAX (dst then
 * holds unspecified bytes, within the same n * RC_FMT_F32_MAX bound). */
size_t rc_fmt_f32_array_checked(char *dst, const float *v, size_t n, size_t *bad);

/* The two functions above always with their portable scalar loop, even where a SIMD one is
 * available and taken (on x86-64 with AVX-512): rc_fmt_f32_array() when bad is NULL, else
 * rc_fmt_f32_array_checked(). The same output; for tests and benchmarks that compare the two. */
size_t rc_fmt_f32_array_portable(char *dst, const float *v, size_t n, size_t *bad);

#endif
