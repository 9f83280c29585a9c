/* NDJSON line splitter with a line-length cap (internal). */
#ifndef RC_NDJSON_H
#define RC_NDJSON_H

#include <stddef.h>

#include "buf.h"

/* Called once per complete, non-empty line (without the '\n' and a trailing '\r').
 * The line is NUL-terminated and valid only during the call. A non-zero return stops
 * the splitter and is passed back from rc_ndjson_feed. */
typedef int (*rc_ndjson_line_fn)(const char *line, size_t len, void *ud);

typedef struct rc_ndjson {
    rc_buf partial;
    size_t max_line;
    rc_ndjson_line_fn fn;
    void *ud;
} rc_ndjson;

#define RC_NDJSON_ETOOLONG (-1000) /* a line exceeded max_line bytes */
#define RC_NDJSON_ENOMEM (-1001)

void rc_ndjson_init(rc_ndjson *s, size_t max_line, rc_ndjson_line_fn fn, void *ud);
/* Feeds bytes. Returns 0, the callback's non-zero value, or one of the RC_NDJSON_E codes. */
int rc_ndjson_feed(rc_ndjson *s, const char *data, size_t len);
/* Bytes of an unterminated line held back (a stream that ends here was cut short). */
size_t rc_ndjson_pending(const rc_ndjson *s);
void rc_ndjson_reset(rc_ndjson *s);
void rc_ndjson_free(rc_ndjson *s);

#endif
