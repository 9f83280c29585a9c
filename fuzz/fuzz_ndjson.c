/* libFuzzer target: the NDJSON line splitter (rc_ndjson_feed).
 *
 * Input layout: byte 0 picks the line cap (1..64), byte 1 a line after which the callback stops
 * the splitter (0: never), bytes 2-3 seed the piece sizes; the rest is the stream, fed in
 * random-sized pieces (0..32 bytes, each an exact-size heap copy so over-reads are caught).
 *
 * Checked: every emitted line is non-empty, at most cap bytes, has no '\n', is NUL-terminated;
 * and the lines, the result and the pending byte count are exactly those of a one-shot reference
 * split of the whole stream (so they do not depend on how the stream was cut). The splitter is
 * then reset and fed the whole stream in one piece, which must give the same again. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ndjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STOP_CODE 77

typedef struct {
    size_t cap;
    size_t stop_after; /* 0: never */
    size_t count;
    char *out; /* emitted lines, each followed by '\n' */
    size_t out_len;
} sink;

static int on_line(const char *line, size_t len, void *ud)
{
    sink *s = ud;
    if (len == 0 || len > s->cap || memchr(line, '\n', len) || line[len] != '\0')
        abort();
    memcpy(s->out + s->out_len, line, len);
    s->out_len += len;
    s->out[s->out_len++] = '\n';
    s->count++;
    return s->stop_after && s->count == s->stop_after ? STOP_CODE : 0;
}

/* The splitter's contract applied to the whole stream at once. */
static int reference(const char *d, size_t n, size_t cap, size_t stop_after, char *out,
                     size_t *out_len, size_t *pending)
{
    size_t count = 0;
    *out_len = 0;
    *pending = 0;
    while (n) {
        const char *nl = memchr(d, '\n', n);
        size_t take = nl ? (size_t)(nl - d) : n;
        if (take > cap)
            return RC_NDJSON_ETOOLONG;
        if (!nl) {
            *pending = take;
            return 0;
        }
        size_t len = take;
        if (len && d[len - 1] == '\r')
            len--;
        if (len) {
            memcpy(out + *out_len, d, len);
            *out_len += len;
            out[(*out_len)++] = '\n';
            if (stop_after && ++count == stop_after)
                return STOP_CODE;
        }
        d += take + 1;
        n -= take + 1;
    }
    return 0;
}

static uint32_t next(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    size_t cap = 1 + data[0] % 64;
    size_t stop_after = data[1] % 8;
    uint32_t rng = 0x9E3779B9u ^ ((uint32_t)data[2] << 8 | data[3]);
    const char *stream = (const char *)data + 4;
    size_t n = size - 4;

    char *want = malloc(n + 1), *got = malloc(n + 1);
    if (!want || !got)
        abort();
    size_t want_len, want_pending;
    int want_r = reference(stream, n, cap, stop_after, want, &want_len, &want_pending);

    sink s = {cap, stop_after, 0, got, 0};
    rc_ndjson nd;
    rc_ndjson_init(&nd, cap, on_line, &s);
    int r = 0;
    for (size_t off = 0; off < n && r == 0;) {
        size_t piece = next(&rng) % 33;
        if (piece > n - off)
            piece = n - off;
        char *copy = malloc(piece ? piece : 1);
        if (!copy)
            abort();
        memcpy(copy, stream + off, piece);
        r = rc_ndjson_feed(&nd, copy, piece);
        free(copy);
        off += piece;
    }
    if (r != want_r || s.out_len != want_len || memcmp(got, want, want_len) != 0)
        abort();
    if (r == 0 && rc_ndjson_pending(&nd) != want_pending)
        abort();

    /* Reset, then the whole stream in one piece. */
    rc_ndjson_reset(&nd);
    if (rc_ndjson_pending(&nd) != 0)
        abort();
    s.count = 0;
    s.out_len = 0;
    r = rc_ndjson_feed(&nd, stream, n);
    if (r != want_r || s.out_len != want_len || memcmp(got, want, want_len) != 0)
        abort();
    if (r == 0 && rc_ndjson_pending(&nd) != want_pending)
        abort();
    rc_ndjson_free(&nd);
    free(want);
    free(got);
    return 0;
}
