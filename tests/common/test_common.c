/* Unit tests of the internal buffer, UTF-8, JSON string and NDJSON helpers, and the finite-float
 * check. */
#include <float.h>
#include <math.h>

#include "buf.h"
#include "clock.h"
#include "finite.h"
#include "http.h"
#include "ndjson.h"
#include "tap.h"

typedef struct {
    char lines[16][64];
    int n;
    int stop_at;
} collected;

static int collect(const char *line, size_t len, void *ud)
{
    collected *c = ud;
    if (c->n < 16)
        snprintf(c->lines[c->n], sizeof c->lines[0], "%.*s", (int)len, line);
    c->n++;
    return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

static const char *json_of(const char *s, size_t len)
{
    static rc_buf b = RC_BUF_INIT;
    rc_buf_reset(&b);
    int r = rc_buf_json_str(&b, s, len);
    if (r == -2)
        return "<invalid>";
    return r ? "<nomem>" : b.data;
}

int main(void)
{
    /* buffer */
    rc_buf b = RC_BUF_INIT;
    ok(rc_buf_printf(&b, "%d-%s", 42, "x") == 0 && strcmp(b.data, "42-x") == 0, "printf appends");
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ok(rc_buf_printf(&b, "%s", big) == 0 && b.len == 4 + 599, "printf grows past its stack buffer");
    rc_buf_reset(&b);
    rc_buf_put_i64(&b, INT64_MIN);
    is_str(b.data, "-9223372036854775808", "put_i64 handles INT64_MIN");
    rc_buf_reset(&b);
    rc_buf_put_u64(&b, UINT64_MAX);
    is_str(b.data, "18446744073709551615", "put_u64 handles UINT64_MAX");
    char *stolen = rc_buf_steal(&b);
    ok(stolen && b.data == NULL && b.len == 0, "steal hands over the storage");
    free(stolen);

    /* UTF-8 */
    ok(rc_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15), "valid UTF-8 accepted");
    ok(!rc_utf8_valid("\xc0\xaf", 2), "overlong 2-byte rejected");
    ok(!rc_utf8_valid("\xe0\x80\xaf", 3), "overlong 3-byte rejected");
    ok(!rc_utf8_valid("\xed\xa0\x80", 3), "UTF-16 surrogate rejected");
    ok(!rc_utf8_valid("\xf4\x90\x80\x80", 4), "code point above U+10FFFF rejected");
    ok(!rc_utf8_valid("\xe2\x82", 2), "truncated sequence rejected");
    ok(!rc_utf8_valid("\xff", 1), "0xFF rejected");
    ok(rc_utf8_valid("a\0b", 3), "NUL is valid UTF-8");

    /* JSON strings */
    is_str(json_of("a\"b\\c", 5), "\"a\\\"b\\\\c\"", "quotes and backslashes escaped");
    is_str(json_of("\n\t\r\x01\x1f", 5), "\"\\n\\t\\r\\u0001\\u001f\"",
           "control characters escaped");
    is_str(json_of("a\0b", 3), "\"a\\u0000b\"", "embedded NUL escaped");
    is_str(json_of("<&> /", 5), "\"<&> /\"", "HTML characters and slash kept raw");
    is_str(json_of("\xc3\xa9", 2), "\"\xc3\xa9\"", "non-ASCII passed through raw");
    is_str(json_of("ok\xc3", 3), "<invalid>", "invalid UTF-8 refused");
    rc_buf_reset(&b);
    rc_buf_puts(&b, "keep");
    ok(rc_buf_json_str(&b, "\xff", 1) == -2 && strcmp(b.data, "keep") == 0,
       "a refused string leaves the buffer as it was");
    rc_buf_free(&b);

    /* NDJSON */
    collected c = {0};
    rc_ndjson nd;
    rc_ndjson_init(&nd, 32, collect, &c);
    ok(rc_ndjson_feed(&nd, "{\"a\":1}\n{\"b\"", strlen("{\"a\":1}\n{\"b\"")) == 0,
       "feed first chunk");
    is_int(c.n, 1, "one complete line so far");
    is_int(rc_ndjson_pending(&nd), 4, "partial line held back");
    ok(rc_ndjson_feed(&nd, ":2}\r\n\n\n{\"c\":3}\n", strlen(":2}\r\n\n\n{\"c\":3}\n")) == 0,
       "feed second chunk");
    is_int(c.n, 3, "CRLF and empty lines handled");
    is_str(c.lines[1], "{\"b\":2}", "a line split across chunks is joined, CR stripped");
    is_str(c.lines[2], "{\"c\":3}", "third line");
    char longline[40];
    memset(longline, 'x', sizeof longline);
    ok(rc_ndjson_feed(&nd, longline, sizeof longline) == RC_NDJSON_ETOOLONG,
       "a line over the cap is refused even before its newline");
    rc_ndjson_reset(&nd);
    c.n = 0;
    c.stop_at = 2;
    ok(rc_ndjson_feed(&nd, "1\n2\n3\n", 6) == 7, "callback's stop value is returned");
    is_int(c.n, 2, "no line after the stop");
    rc_ndjson_free(&nd);

    /* URL encoding */
    rc_buf u = RC_BUF_INIT;
    rc_buf_urlenc(&u, "a b&c=d/é~");
    is_str(u.data, "a%20b%26c%3Dd%2F%C3%A9~", "query components percent-encoded");
    rc_buf_free(&u);

    /* interruptible sleep */
    atomic_int stop;
    atomic_init(&stop, 1);
    int64_t t0 = rc_now_ms();
    ok(rc_sleep_ms(5000, -1, &stop) == 1 && rc_now_ms() - t0 < 500, "sleep returns on stop");

    /* rc_first_nonfinite: every length around the 8-lane steps, each kind of bad value at every
     * index, and extreme finite values that must pass */
    float v[40];
    const float bad[3] = {NAN, INFINITY, -INFINITY};
    int good = 1;
    for (size_t n = 0; n <= 40 && good; n++) {
        for (size_t k = 0; k < n; k++)
            v[k] = k % 3 == 0 ? FLT_MAX : k % 3 == 1 ? -FLT_MIN / 4 : -0.0f;
        good = rc_first_nonfinite(v, n) == n;
        for (size_t at = 0; at < n && good; at++)
            for (int b2 = 0; b2 < 3 && good; b2++) {
                float keep = v[at];
                v[at] = bad[b2];
                if (at + 1 < n)
                    v[n - 1] = bad[(b2 + 1) % 3]; /* a later one too: the first is reported */
                good = rc_first_nonfinite(v, n) == at;
                v[at] = keep;
                if (at + 1 < n)
                    v[n - 1] = (n - 1) % 3 == 0 ? FLT_MAX : (n - 1) % 3 == 1 ? -FLT_MIN / 4 : -0.0f;
            }
    }
    ok(good, "rc_first_nonfinite: the first NaN or infinity at any index of 0..40 floats, none "
             "among FLT_MAX, denormals and -0");
    return tap_done();
}
