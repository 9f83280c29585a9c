#include "ndjson.h"

#include <string.h>

void rc_ndjson_init(rc_ndjson *s, size_t max_line, rc_ndjson_line_fn fn, void *ud)
{
    rc_buf empty = RC_BUF_INIT;
    s->partial = empty;
    s->max_line = max_line;
    s->fn = fn;
    s->ud = ud;
}

static int emit(rc_ndjson *s, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        len--;
    if (!len)
        return 0;
    char saved = line[len];
    line[len] = '\0';
    int r = s->fn(line, len, s->ud);
    line[len] = saved;
    return r;
}

int rc_ndjson_feed(rc_ndjson *s, const char *data, size_t len)
{
    while (len) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (s->partial.len + take > s->max_line)
            return RC_NDJSON_ETOOLONG;
        if (!nl) {
            if (rc_buf_append(&s->partial, data, take) < 0)
                return RC_NDJSON_ENOMEM;
            return 0;
        }
        int r;
        if (s->partial.len) {
            if (rc_buf_append(&s->partial, data, take) < 0)
                return RC_NDJSON_ENOMEM;
            r = emit(s, s->partial.data, s->partial.len);
            rc_buf_reset(&s->partial);
        } else if (take) {
            /* Whole line inside this chunk: copy so it can be NUL-terminated. */
            if (rc_buf_append(&s->partial, data, take) < 0)
                return RC_NDJSON_ENOMEM;
            r = emit(s, s->partial.data, s->partial.len);
            rc_buf_reset(&s->partial);
        } else {
            r = 0;
        }
        if (r)
            return r;
        data += take + 1;
        len -= take + 1;
    }
    return 0;
}

size_t rc_ndjson_pending(const rc_ndjson *s)
{
    return s->partial.len;
}

void rc_ndjson_reset(rc_ndjson *s)
{
    rc_buf_reset(&s->partial);
}

void rc_ndjson_free(rc_ndjson *s)
{
    rc_buf_free(&s->partial);
}
