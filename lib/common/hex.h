/* Hex digits and UUID text (internal, header-only), for every place that reads or writes them. */
#ifndef RC_HEX_H
#define RC_HEX_H

#include <stddef.h>

/* The value of one hex digit (either case), or -1. */
static inline int rc_hexval(char ch)
{
    return ch >= '0' && ch <= '9'   ? ch - '0'
           : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
           : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                    : -1;
}

/* A UUID's 16 bytes from its text: 36 characters with hyphens exactly at 8, 13, 18 and 23, or,
 * when simple is non-zero, also 32 hex digits without hyphens. 0, or -1 (out unspecified). */
static inline int rc_uuid_parse(unsigned char out[16], const char *s, size_t len, int simple)
{
    int hyph = len == 36;
    if (!hyph && !(simple && len == 32))
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (hyph && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        if (i + 1 >= len || (hyph && (i + 1 == 8 || i + 1 == 13 || i + 1 == 18 || i + 1 == 23)))
            return -1;
        int hi = rc_hexval(s[i]), lo = rc_hexval(s[i + 1]);
        if (hi < 0 || lo < 0 || k >= 16)
            return -1;
        out[k++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return k == 16 ? 0 : -1;
}

#define RC_UUID_STRLEN 37 /* 36 characters and a NUL */

/* The canonical lower-case, hyphenated text of a UUID's 16 bytes. */
static inline void rc_uuid_format(char out[RC_UUID_STRLEN], const unsigned char u[16])
{
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[u[i] >> 4];
        *p++ = hex[u[i] & 15];
    }
    *p = '\0';
}

#endif
