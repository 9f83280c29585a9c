/* Growable byte buffer and JSON text writing helpers (internal). */
#ifndef RC_BUF_H
#define RC_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rc_buf {
    char *data; /* always NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
} rc_buf;

#define RC_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* All return 0 on success, -1 on allocation failure (the buffer is left unchanged). */
int rc_buf_reserve(rc_buf *b, size_t extra);
int rc_buf_append(rc_buf *b, const void *data, size_t len);
int rc_buf_puts(rc_buf *b, const char *s);
int rc_buf_putc(rc_buf *b, char c);
int rc_buf_printf(rc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int rc_buf_vprintf(rc_buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
int rc_buf_put_i64(rc_buf *b, int64_t v);
int rc_buf_put_u64(rc_buf *b, uint64_t v);
void rc_buf_reset(rc_buf *b);
void rc_buf_free(rc_buf *b);
/* Hands the storage to the caller (NUL-terminated, never NULL on success). */
char *rc_buf_steal(rc_buf *b);

/* A copy of s (NULL on allocation failure). */
char *rc_strdup(const char *s);

/* A growable list of owned strings. */
typedef struct rc_strlist {
    char **v;
    size_t n, cap;
} rc_strlist;
#define RC_STRLIST_INIT                                                                            \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }
int rc_strlist_push(rc_strlist *l, const char *s);        /* copies s; -1 on allocation failure */
const char *rc_strlist_at(const rc_strlist *l, size_t i); /* NULL when out of range */
int rc_strlist_contains(const rc_strlist *l, const char *s);
void rc_strlist_free(rc_strlist *l);

/* UTF-8 validation: returns 1 when s[0..len) is well-formed UTF-8 (no surrogates, no overlongs). */
int rc_utf8_valid(const char *s, size_t len);

/* Appends s as a quoted JSON string. Returns 0, -1 on allocation failure, -2 when s is not
 * valid UTF-8 (the buffer is then restored to its previous length). */
int rc_buf_json_str(rc_buf *b, const char *s, size_t len);

#endif
