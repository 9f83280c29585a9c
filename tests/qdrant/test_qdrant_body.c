/* Unit tests: request bodies (floats, upsert, filters), response decoding, error mapping. */
#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"
#include "tap.h"

static void test_floats(void)
{
    rc_buf b = RC_BUF_INIT;
    float vals[] = {0.1f, -0.5f, 1.0f, 0.0f, 3.4028235e38f, 1e-45f, 0.33333334f};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        rc_buf_reset(&b);
        is_int(qd_put_f32(&b, vals[i]), 0, "finite float written");
        ok(strtof(b.data, NULL) == vals[i], "float reads back exactly");
        ok(strchr(b.data, ',') == NULL && strchr(b.data, ' ') == NULL, "plain JSON number");
    }
    rc_buf_reset(&b);
    qd_put_f32(&b, 0.1f);
    is_str(b.data, "0.1", "0.1f is written as 0.1 (shortest form)");
    is_int(qd_put_f32(&b, NAN), -2, "NaN refused");
    is_int(qd_put_f32(&b, INFINITY), -2, "+Inf refused");
    is_int(qd_put_f32(&b, -INFINITY), -2, "-Inf refused");
    rc_buf_reset(&b);
    float v[] = {1.0f, 0.25f, -2.0f};
    is_int(qd_put_vector(&b, v, 3, NULL), 0, "vector written");
    is_str(b.data, "[1,0.25,-2]", "vector text");
    rc_buf_reset(&b);
    float vb[] = {1.0f, NAN};
    size_t bad = 99;
    is_int(qd_put_vector(&b, vb, 2, &bad), -2, "vector with NaN refused");
    is_int(bad, 1, "index of the bad element");
    rc_buf_reset(&b);
    is_int(qd_put_double(&b, 0.1), 0, "double");
    is_str(b.data, "0.1", "0.1 as a double, shortest");
    rc_buf_reset(&b);
    qd_put_double(&b, 1e300);
    ok(strtod(b.data, NULL) == 1e300, "1e300 round trip");
    /* A locale with a decimal comma must not leak into JSON. */
    if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        rc_buf_reset(&b);
        qd_put_double(&b, 2.5);
        is_str(b.data, "2.5", "decimal point under a comma locale");
        setlocale(LC_NUMERIC, "C");
    } else {
        ok(1, "no comma locale installed (skipped)");
    }
    rc_buf_free(&b);
}

static void test_upsert_body(void)
{
    rc_buf b = RC_BUF_INIT;
    char err[256];
    qdrant_point_id ids[3];
    ids[0] = qdrant_point_id_num(1);
    ids[1] = qdrant_point_id_num(UINT64_MAX);
    qdrant_point_id_parse(&ids[2], "550e8400-e29b-41d4-a716-446655440000");
    float vec[6] = {0.5f, 1.0f, -0.25f, 0.0f, 0.1f, 2.0f};
    const char *payloads[3] = {" {\"a\": 1, \"s\": \"caf\xc3\xa9\"}\n", NULL, "{}"};
    is_int(qd_upsert_body(&b, 3, ids, vec, 2, payloads, err, sizeof err), 0, "upsert body");
    is_str(b.data,
           "{\"points\":[{\"id\":1,\"vector\":[0.5,1],\"payload\":{\"a\": 1, \"s\": "
           "\"caf\xc3\xa9\"}},{\"id\":18446744073709551615,\"vector\":[-0.25,0]},{\"id\":"
           "\"550e8400-e29b-41d4-a716-446655440000\",\"vector\":[0.1,2],\"payload\":{}}]}",
           "exact upsert body: payload text kept verbatim, trimmed; missing payload left out");
    is_int(qd_upsert_body(&b, 3, ids, vec, 2, NULL, err, sizeof err), 0, "no payloads");
    ok(strstr(b.data, "payload") == NULL, "no payload key at all");
    vec[3] = INFINITY;
    is_int(qd_upsert_body(&b, 3, ids, vec, 2, NULL, err, sizeof err), QDRANT_EINVAL, "Inf refused");
    ok(strstr(err, "point 1") && strstr(err, "element 1"), "error names point and element");
    vec[3] = 0.0f;
    const char *bad_payloads[][1] = {
        {"[1,2]"},     {"{\"a\":}"}, {"{\"a\":1} x"},      {"{\"a\":NaN}"},
        {"{'a':1}"},   {"\"str\""},  {"{\"a\":\"\xff\"}"}, {""},
        {"{\"a\":1,}"}};
    for (size_t i = 0; i < sizeof bad_payloads / sizeof bad_payloads[0]; i++) {
        int rc = qd_upsert_body(&b, 1, ids, vec, 2, bad_payloads[i], err, sizeof err);
        if (!tap_ok_(rc == QDRANT_EINVAL, TAP_LOC, "invalid payload refused"))
            diag("payload: %s", bad_payloads[i][0]);
    }
    qdrant_point_id badid = {9, 0, {0}};
    is_int(qd_upsert_body(&b, 1, &badid, vec, 2, NULL, err, sizeof err), QDRANT_EINVAL,
           "invalid id refused");
    rc_buf_free(&b);
}

static void test_json_valid(void)
{
    const char *good[] = {"{}",
                          " {\"a\":[1,-0.5e+3,true,false,null,\"\\u00e9\\n\"]}\n",
                          "[]",
                          "0",
                          "-0",
                          "1E5",
                          "\"x\"",
                          "{\"a\":{\"b\":{}}}",
                          "\"caf\xc3\xa9\""};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (!tap_ok_(qd_json_valid(good[i], strlen(good[i]), 0), TAP_LOC, "valid JSON accepted"))
            diag("%s", good[i]);
    const char *bad[] = {"",      "{",         "{\"a\"}", "{\"a\":1,}", "[1,]",     "01",
                         "1.",    ".5",        "+1",      "NaN",        "Infinity", "{'a':1}",
                         "tru",   "nul",       "\"\\x\"", "\"\\u12\"",  "\"a\tb\"", "{} {}",
                         "[1 2]", "{\"a\" 1}", "{1:2}",   "\"\xff\"",   "-",        "1e"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (!tap_ok_(!qd_json_valid(bad[i], strlen(bad[i]), 0), TAP_LOC, "invalid JSON refused"))
            diag("%s", bad[i]);
    ok(!qd_json_valid("[1]", 3, 1), "array is not an object");
    ok(qd_json_valid(" {} ", 4, 1), "object accepted as object");
    char deep[600];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        deep[n++] = '[';
    for (int i = 0; i < 200; i++)
        deep[n++] = ']';
    ok(!qd_json_valid(deep, n, 0), "nesting deeper than the limit refused");
    ok(qd_json_valid(deep + 100, 200, 0), "100 levels accepted");
}

static void test_filter(void)
{
    qdrant_filter *f = NULL;
    is_int(qdrant_filter_new(&f), 0, "filter_new");
    is_str(qdrant_filter_json(f), "{}", "empty filter");
    is_int(qdrant_filter_match_keyword(f, QDRANT_MUST, "color", "r\"ed"), 0, "keyword");
    is_int(qdrant_filter_match_int(f, QDRANT_MUST, "n", -5), 0, "int");
    is_int(qdrant_filter_match_bool(f, QDRANT_MUST_NOT, "deleted", 1), 0, "bool");
    qdrant_range r = {QDRANT_RANGE_GTE | QDRANT_RANGE_LT, 0, 0.5, 10, 0};
    is_int(qdrant_filter_range(f, QDRANT_SHOULD, "price", &r), 0, "range");
    qdrant_point_id ids[2] = {qdrant_point_id_num(1), qdrant_point_id_num(UINT64_MAX)};
    is_int(qdrant_filter_has_id(f, QDRANT_SHOULD, ids, 2), 0, "has_id");
    is_int(qdrant_filter_raw(f, QDRANT_MUST, " {\"is_empty\":{\"key\":\"tags\"}} "), 0, "raw");
    is_str(qdrant_filter_json(f),
           "{\"must\":[{\"key\":\"color\",\"match\":{\"value\":\"r\\\"ed\"}},{\"key\":\"n\","
           "\"match\":{\"value\":-5}},{\"is_empty\":{\"key\":\"tags\"}}],\"should\":[{\"key\":"
           "\"price\",\"range\":{\"gte\":0.5,\"lt\":10}},{\"has_id\":[1,18446744073709551615]}],"
           "\"must_not\":[{\"key\":\"deleted\",\"match\":{\"value\":true}}]}",
           "exact filter JSON");
    const char *before = qdrant_filter_json(f);
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", before);
    qdrant_range none = {0, 0, 0, 0, 0};
    is_int(qdrant_filter_range(f, QDRANT_MUST, "x", &none), QDRANT_EINVAL, "range without bound");
    qdrant_range nan = {QDRANT_RANGE_GT, NAN, 0, 0, 0};
    is_int(qdrant_filter_range(f, QDRANT_MUST, "x", &nan), QDRANT_EINVAL, "NaN bound");
    is_int(qdrant_filter_raw(f, QDRANT_MUST, "[1]"), QDRANT_EINVAL, "raw non-object");
    is_int(qdrant_filter_raw(f, QDRANT_MUST, "{"), QDRANT_EINVAL, "raw broken JSON");
    is_int(qdrant_filter_match_keyword(f, QDRANT_MUST, "", "v"), QDRANT_EINVAL, "empty key");
    is_int(qdrant_filter_match_keyword(f, QDRANT_MUST, "k", "\xc3"), QDRANT_EINVAL, "bad UTF-8");
    is_int(qdrant_filter_match_int(f, (qdrant_clause)7, "k", 1), QDRANT_EINVAL, "bad clause");
    is_int(qdrant_filter_has_id(f, QDRANT_MUST, ids, 0), QDRANT_EINVAL, "has_id with no ids");
    is_str(qdrant_filter_json(f), copy, "failed adds leave the filter unchanged");
    qdrant_filter_free(f);
    qdrant_filter_free(NULL);
}

static void test_decode(void)
{
    char err[256];
    json_object *o = json_tokener_parse(
        "{\"points\":[{\"id\":18446744073709551615,\"version\":3,\"score\":0.75,\"payload\":"
        "{\"a\":[1,2],\"b\":\"x/y\"},\"vector\":[0.1,-2,3.5]},{\"id\":"
        "\"550e8400-e29b-41d4-a716-446655440000\",\"score\":1}],\"next_page_offset\":7}");
    json_object *pts, *next;
    json_object_object_get_ex(o, "points", &pts);
    json_object_object_get_ex(o, "next_page_offset", &next);
    qdrant_point_list *l = NULL;
    is_int(qd_decode_points(&l, pts, next, err, sizeof err), 0, "decode points");
    is_int(qdrant_point_list_count(l), 2, "two points");
    ok(qdrant_point_list_id(l, 0)->num == UINT64_MAX, "big id exact");
    ok(qdrant_point_list_score(l, 0) == 0.75f, "score");
    is_str(qdrant_point_list_payload(l, 0), "{\"a\":[1,2],\"b\":\"x/y\"}", "payload text");
    size_t dim = 0;
    const float *v = qdrant_point_list_vector(l, 0, &dim);
    ok(v && dim == 3 && v[0] == 0.1f && v[1] == -2.0f && v[2] == 3.5f, "vector");
    ok(qdrant_point_list_payload(l, 1) == NULL, "no payload: NULL");
    ok(qdrant_point_list_vector(l, 1, &dim) == NULL && dim == 0, "no vector: NULL");
    ok(qdrant_point_list_id(l, 1)->kind == QDRANT_ID_UUID, "uuid id");
    ok(qdrant_point_list_id(l, 2) == NULL, "out of range: NULL");
    ok(qdrant_point_list_next_page(l) && qdrant_point_list_next_page(l)->num == 7, "next page");
    qdrant_point_list_free(l);
    json_object_put(o);

    const char *bad[] = {"[{\"id\":-1}]",
                         "[{\"score\":1}]",
                         "[{\"id\":1,\"score\":\"x\"}]",
                         "[{\"id\":1,\"payload\":[1]}]",
                         "[{\"id\":1,\"vector\":[\"a\"]}]",
                         "{\"id\":1}",
                         "[1]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_object *b = json_tokener_parse(bad[i]);
        l = NULL;
        int rc = qd_decode_points(&l, b, NULL, err, sizeof err);
        if (!tap_ok_(rc == QDRANT_EPROTOCOL && l == NULL, TAP_LOC, "bad points refused"))
            diag("case %s -> %d", bad[i], rc);
        json_object_put(b);
    }
    json_object *empty = json_tokener_parse("[]"), *nul = json_tokener_parse("null");
    is_int(qd_decode_points(&l, empty, nul, err, sizeof err), 0, "empty list, null next");
    ok(qdrant_point_list_next_page(l) == NULL, "null next: no next page");
    qdrant_point_list_free(l);
    json_object_put(empty);
    json_object_put(nul);
}

static void test_errors(void)
{
    char msg[256];
    const char *env = "{\"status\":{\"error\":\"Not found: Collection `x` doesn't exist!\"},"
                      "\"time\":0.1}";
    is_int(qd_error_for_status(404, env, strlen(env), msg, sizeof msg), QDRANT_ENOTFOUND, "404");
    is_str(msg, "Not found: Collection `x` doesn't exist!", "envelope message");
    const char *plain = "Invalid API key or JWT\n";
    is_int(qd_error_for_status(401, plain, strlen(plain), msg, sizeof msg), QDRANT_EAUTH, "401");
    is_str(msg, "Invalid API key or JWT", "plain-text message, trimmed");
    is_int(qd_error_for_status(403, "", 0, msg, sizeof msg), QDRANT_EAUTH, "403");
    is_str(msg, "", "no body: no message");
    is_int(qd_error_for_status(400, env, strlen(env), msg, sizeof msg), QDRANT_EINVAL, "400");
    is_int(qd_error_for_status(422, env, strlen(env), msg, sizeof msg), QDRANT_EINVAL, "422");
    is_int(qd_error_for_status(409, env, strlen(env), msg, sizeof msg), QDRANT_ECONFLICT, "409");
    is_int(qd_error_for_status(429, "", 0, msg, sizeof msg), QDRANT_EOVERLOADED, "429");
    is_int(qd_error_for_status(500, env, strlen(env), msg, sizeof msg), QDRANT_ESERVER, "500");
    is_int(qd_error_for_status(503, "", 0, msg, sizeof msg), QDRANT_ESERVER, "503");
    is_int(qd_error_for_status(302, "", 0, msg, sizeof msg), QDRANT_EPROTOCOL, "302");
    const char *j = "{\"other\":1}";
    qd_error_for_status(400, j, strlen(j), msg, sizeof msg);
    is_str(msg, "", "JSON without status.error: no message");
    char small[8];
    qd_error_for_status(401, "abc\r\ndefghijkl", 14, small, sizeof small);
    is_str(small, "abc  de", "control bytes blanked, message truncated");
    for (int code = 0; code >= -12; code--)
        ok(strcmp(qdrant_strerror(code), "unknown error") != 0, "every code has a text");
    is_str(qdrant_strerror(-99), "unknown error", "unknown code");
}

int main(void)
{
    test_floats();
    test_upsert_body();
    test_json_valid();
    test_filter();
    test_decode();
    test_errors();
    return tap_done();
}
