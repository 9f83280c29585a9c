/* Unit tests: point id parsing, formatting, JSON writing and decoding. */
#include <stdint.h>

#include "internal.h"
#include "tap.h"

static void test_parse_format(void)
{
    qdrant_point_id id;
    char s[QDRANT_POINT_ID_STRLEN];
    is_int(qdrant_point_id_parse(&id, "0"), 0, "parse 0");
    ok(id.kind == QDRANT_ID_NUM && id.num == 0, "0 is NUM 0");
    is_int(qdrant_point_id_parse(&id, "18446744073709551615"), 0, "parse UINT64_MAX");
    ok(id.kind == QDRANT_ID_NUM && id.num == UINT64_MAX, "UINT64_MAX kept exactly");
    is_int(qdrant_point_id_format(s, sizeof s, &id), 0, "format UINT64_MAX");
    is_str(s, "18446744073709551615", "UINT64_MAX text");
    is_int(qdrant_point_id_parse(&id, "9223372036854775809"), 0, "parse INT64_MAX + 2");
    ok(id.num == 9223372036854775809ull, "INT64_MAX + 2 exact");
    is_int(qdrant_point_id_parse(&id, "18446744073709551616"), QDRANT_EINVAL, "2^64 refused");
    is_int(qdrant_point_id_parse(&id, "-1"), QDRANT_EINVAL, "negative refused");
    is_int(qdrant_point_id_parse(&id, "01"), QDRANT_EINVAL, "leading zero refused");
    is_int(qdrant_point_id_parse(&id, ""), QDRANT_EINVAL, "empty refused");
    is_int(qdrant_point_id_parse(&id, "12a"), QDRANT_EINVAL, "junk refused");
    is_int(qdrant_point_id_parse(&id, "550E8400-E29B-41D4-A716-446655440000"), 0, "upper UUID");
    ok(id.kind == QDRANT_ID_UUID && id.uuid[0] == 0x55 && id.uuid[15] == 0x00 && id.uuid[6] == 0x41,
       "UUID bytes in order");
    is_int(qdrant_point_id_format(s, sizeof s, &id), 0, "format UUID");
    is_str(s, "550e8400-e29b-41d4-a716-446655440000", "canonical lower-case");
    is_int(qdrant_point_id_parse(&id, "550e8400e29b41d4a716446655440000"), QDRANT_EINVAL,
           "UUID without hyphens refused");
    is_int(qdrant_point_id_parse(&id, "550e8400-e29b-41d4-a716-44665544000g"), QDRANT_EINVAL,
           "bad hex refused");
    is_int(qdrant_point_id_parse(&id, "550e8400-e29b-41d4-a716-4466554400000"), QDRANT_EINVAL,
           "37 chars refused");
    is_int(qdrant_point_id_parse(&id, "550e840-0e29b-41d4-a716-446655440000"), QDRANT_EINVAL,
           "hyphen misplaced refused");
    qdrant_point_id n = qdrant_point_id_num(42);
    is_int(qdrant_point_id_format(s, 2, &n), QDRANT_EINVAL, "short buffer refused");
    is_int(qdrant_point_id_format(s, 3, &n), 0, "exact buffer ok");
    qdrant_point_id bad = {0, 0, {0}};
    is_int(qdrant_point_id_format(s, sizeof s, &bad), QDRANT_EINVAL, "kind 0 refused");
    qdrant_point_id a = qdrant_point_id_num(7), b = qdrant_point_id_num(7);
    ok(qdrant_point_id_equal(&a, &b), "equal nums");
    b.num = 8;
    ok(!qdrant_point_id_equal(&a, &b), "different nums");
    ok(!qdrant_point_id_equal(&a, &id), "num vs uuid");
    ok(!qdrant_point_id_equal(&bad, &bad), "invalid ids never equal");
}

static void test_json(void)
{
    rc_buf b = RC_BUF_INIT;
    qdrant_point_id id = qdrant_point_id_num(UINT64_MAX);
    is_int(qd_put_id(&b, &id), 0, "put big id");
    is_str(b.data, "18446744073709551615", "big id as a bare number");
    rc_buf_reset(&b);
    qdrant_point_id_parse(&id, "00000000-0000-0000-0000-0000000000ff");
    qd_put_id(&b, &id);
    is_str(b.data, "\"00000000-0000-0000-0000-0000000000ff\"", "uuid as a string");
    qdrant_point_id bad = {3, 0, {0}};
    is_int(qd_put_id(&b, &bad), -2, "invalid kind: -2");
    rc_buf_free(&b);

    const char *cases[] = {"18446744073709551615", "9223372036854775808", "0", "42"};
    uint64_t want[] = {UINT64_MAX, 9223372036854775808ull, 0, 42};
    for (int i = 0; i < 4; i++) {
        json_object *o = json_tokener_parse(cases[i]);
        qdrant_point_id d;
        is_int(qd_decode_id(&d, o), 0, cases[i]);
        ok(d.kind == QDRANT_ID_NUM && d.num == want[i], "decoded exactly (no double)");
        json_object_put(o);
    }
    const char *badc[] = {"-1", "1.5", "\"abc\"", "null", "[1]", "-9223372036854775808"};
    for (int i = 0; i < 6; i++) {
        json_object *o = json_tokener_parse(badc[i]);
        qdrant_point_id d;
        is_int(qd_decode_id(&d, o), QDRANT_EPROTOCOL, badc[i]);
        json_object_put(o);
    }
    json_object *u = json_tokener_parse("\"550e8400-e29b-41d4-a716-446655440000\"");
    qdrant_point_id d;
    is_int(qd_decode_id(&d, u), 0, "uuid decoded");
    char s[QDRANT_POINT_ID_STRLEN];
    qdrant_point_id_format(s, sizeof s, &d);
    is_str(s, "550e8400-e29b-41d4-a716-446655440000", "uuid round trip");
    json_object_put(u);
}

int main(void)
{
    test_parse_format();
    test_json();
    return tap_done();
}
