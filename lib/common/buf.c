#include "buf.h"
#include "swar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int rc_buf_reserve(rc_buf *b, size_t extra)
{
    if (b->cap - b->len > extra && b->data)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    b->data[b->len] = '\0';
    return 0;
}

int rc_buf_append(rc_buf *b, const void *data, size_t len)
{
    if (rc_buf_reserve(b, len) < 0)
        return -1;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return 0;
}

int rc_buf_puts(rc_buf *b, const char *s)
{
    return rc_buf_append(b, s, strlen(s));
}

int rc_buf_putc(rc_buf *b, char c)
{
    return rc_buf_append(b, &c, 1);
}

int rc_buf_vprintf(rc_buf *b, const char *fmt, va_list ap)
{
    va_list cp;
    va_copy(cp, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, cp);
    va_end(cp);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof tmp)
        return rc_buf_append(b, tmp, (size_t)n);
    if (rc_buf_reserve(b, (size_t)n) < 0)
        return -1;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int rc_buf_printf(rc_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = rc_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

int rc_buf_put_u64(rc_buf *b, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof tmp;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return rc_buf_append(b, p, (size_t)(tmp + sizeof tmp - p));
}

int rc_buf_put_i64(rc_buf *b, int64_t v)
{
    if (v < 0) {
        if (rc_buf_putc(b, '-') < 0)
            return -1;
        return rc_buf_put_u64(b, (uint64_t)0 - (uint64_t)v);
    }
    return rc_buf_put_u64(b, (uint64_t)v);
}

void rc_buf_reset(rc_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void rc_buf_free(rc_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *rc_buf_steal(rc_buf *b)
{
    if (!b->data && rc_buf_reserve(b, 0) < 0)
        return NULL;
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

char *rc_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

int rc_strlist_push(rc_strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    char *c = rc_strdup(s);
    if (!c)
        return -1;
    l->v[l->n++] = c;
    return 0;
}

const char *rc_strlist_at(const rc_strlist *l, size_t i)
{
    return l && i < l->n ? l->v[i] : NULL;
}

int rc_strlist_contains(const rc_strlist *l, const char *s)
{
    for (size_t i = 0; l && s && i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

void rc_strlist_free(rc_strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

/* Length of the well-formed UTF-8 sequence at s (at most avail bytes), 0 if malformed. */
static size_t utf8_seq(const unsigned char *s, size_t avail)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        if (avail < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        return 2;
    }
    if (c < 0xF0) {
        if (avail < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && s[1] < 0xA0)
            return 0; /* overlong */
        if (c == 0xED && s[1] >= 0xA0)
            return 0; /* surrogate */
        return 3;
    }
    if (c < 0xF5) {
        if (avail < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && s[1] < 0x90)
            return 0; /* overlong */
        if (c == 0xF4 && s[1] >= 0x90)
            return 0; /* > U+10FFFF */
        return 4;
    }
    return 0;
}

int rc_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            /* ASCII runs eight bytes at a time. */
            while (len - i >= 8 && !(rc_load8(p + i) & RC_HIGHS))
                i += 8;
            while (i < len && p[i] < 0x80)
                i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (!n)
            return 0;
        i += n;
    }
    return 1;
}

int rc_buf_json_str(rc_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start_len = b->len;
    /* Worst case every byte becomes \u00XX (6 bytes) plus the quotes. */
    if (len > (SIZE_MAX - 2) / 6 || rc_buf_reserve(b, len * 6 + 2) < 0)
        return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < len) {
        /* Eight bytes at a time while none needs escaping or checking: no control character,
         * '"', '\\' or byte >= 0x80 (the output has room: at least 6 bytes per input byte). */
        while (len - i >= 8) {
            uint64_t v = rc_load8(p + i);
            uint64_t m = rc_json_special(v) | (v & RC_HIGHS);
            memcpy(o, p + i, 8);
            if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
                /* The lowest flag marks the first such byte exactly (a false flag can only
                 * follow a true one); the bytes before it are plain and already copied. */
                size_t k = (size_t)__builtin_ctzll(m) >> 3;
                o += k;
                i += k;
#endif
                break;
            }
            o += 8;
            i += 8;
        }
        if (i >= len)
            break;
        unsigned c = p[i];
        if (c >= 0x80) {
            size_t n = utf8_seq(p + i, len - i);
            if (!n) {
                b->len = start_len;
                b->data[b->len] = '\0';
                return -2;
            }
            memcpy(o, p + i, n);
            o += n;
            i += n;
            continue;
        }
        i++;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c >= 0x20) {
            *o++ = (char)c;
        } else if (c == '\n') {
            *o++ = '\\';
            *o++ = 'n';
        } else if (c == '\t') {
            *o++ = '\\';
            *o++ = 't';
        } else if (c == '\r') {
            *o++ = '\\';
            *o++ = 'r';
        } else {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return 0;
}
