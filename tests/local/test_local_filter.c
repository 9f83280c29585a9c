/* Local mode engine: filter semantics, case by case, as the Qdrant test server evaluates them
 * (tests/servers/qdrant/filters.py: check_filter, _field_condition, _match_check). */
#include "lstore.h"
#include "tap.h"

#include <json-c/json.h>

typedef struct fcase {
    const char *filter;
    const char *payload;
    int want;
} fcase;

#define F1(cond) "{\"must\":[" cond "]}"

static const fcase cases[] = {
    /* match value: keyword, integer, bool; types never mix */
    {F1("{\"key\":\"city\",\"match\":{\"value\":\"London\"}}"), "{\"city\":\"London\"}", 1},
    {F1("{\"key\":\"city\",\"match\":{\"value\":\"London\"}}"), "{\"city\":\"london\"}", 0},
    {F1("{\"key\":\"city\",\"match\":{\"value\":\"London\"}}"), "{}", 0},
    {F1("{\"key\":\"n\",\"match\":{\"value\":5}}"), "{\"n\":5}", 1},
    {F1("{\"key\":\"n\",\"match\":{\"value\":5}}"), "{\"n\":5.0}", 0},
    {F1("{\"key\":\"n\",\"match\":{\"value\":5}}"), "{\"n\":\"5\"}", 0},
    {F1("{\"key\":\"n\",\"match\":{\"value\":1}}"), "{\"n\":true}", 0},
    {F1("{\"key\":\"b\",\"match\":{\"value\":true}}"), "{\"b\":true}", 1},
    {F1("{\"key\":\"b\",\"match\":{\"value\":true}}"), "{\"b\":1}", 0},
    {F1("{\"key\":\"b\",\"match\":{\"value\":false}}"), "{\"b\":false}", 1},
    {F1("{\"key\":\"n\",\"match\":{\"value\":-9223372036854775808}}"),
     "{\"n\":-9223372036854775808}", 1},
    {F1("{\"key\":\"n\",\"match\":{\"value\":9223372036854775807}}"),
     "{\"n\":18446744073709551615}", 0},
    /* arrays: any element */
    {F1("{\"key\":\"tags\",\"match\":{\"value\":\"b\"}}"), "{\"tags\":[\"a\",\"b\"]}", 1},
    {F1("{\"key\":\"tags\",\"match\":{\"value\":\"c\"}}"), "{\"tags\":[\"a\",\"b\"]}", 0},
    {F1("{\"key\":\"tags\",\"match\":{\"value\":3}}"), "{\"tags\":[1,[3]]}", 0},
    /* match any / except */
    {F1("{\"key\":\"c\",\"match\":{\"any\":[\"x\",\"y\"]}}"), "{\"c\":\"y\"}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"any\":[\"x\",\"y\"]}}"), "{\"c\":\"z\"}", 0},
    {F1("{\"key\":\"c\",\"match\":{\"any\":[1,2]}}"), "{\"c\":2}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"any\":[1,2]}}"), "{\"c\":[5,1]}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"any\":[]}}"), "{\"c\":\"x\"}", 0},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{\"c\":\"y\"}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{\"c\":\"x\"}", 0},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{}", 0},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{\"c\":null}", 0},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{\"c\":5}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[1]}}"), "{\"c\":1.5}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[1]}}"), "{\"c\":1}", 0},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[1]}}"), "{\"c\":\"s\"}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{\"c\":[\"x\",\"q\"]}", 1},
    {F1("{\"key\":\"c\",\"match\":{\"except\":[\"x\"]}}"), "{\"c\":[\"x\"]}", 0},
    /* range: ints and floats compared exactly, bools are not numbers */
    {F1("{\"key\":\"p\",\"range\":{\"gte\":10,\"lt\":20}}"), "{\"p\":10}", 1},
    {F1("{\"key\":\"p\",\"range\":{\"gte\":10,\"lt\":20}}"), "{\"p\":20}", 0},
    {F1("{\"key\":\"p\",\"range\":{\"gt\":10}}"), "{\"p\":10.000001}", 1},
    {F1("{\"key\":\"p\",\"range\":{\"lte\":1.5}}"), "{\"p\":1.5}", 1},
    {F1("{\"key\":\"p\",\"range\":{\"gt\":0}}"), "{\"p\":true}", 0},
    {F1("{\"key\":\"p\",\"range\":{\"gt\":0}}"), "{\"p\":\"5\"}", 0},
    {F1("{\"key\":\"p\",\"range\":{\"gt\":9007199254740992}}"), "{\"p\":9007199254740993}", 1},
    {F1("{\"key\":\"p\",\"range\":{\"gt\":1e19}}"), "{\"p\":18446744073709551615}", 1},
    {F1("{\"key\":\"p\",\"range\":{\"lt\":0}}"), "{\"p\":[5,-1]}", 1},
    {F1("{\"key\":\"p\",\"range\":{\"lt\":0,\"gt\":null}}"), "{\"p\":-3}", 1},
    /* match OR range in one field condition */
    {F1("{\"key\":\"p\",\"match\":{\"value\":100},\"range\":{\"lt\":0}}"), "{\"p\":100}", 1},
    /* dotted keys and array paths */
    {F1("{\"key\":\"a.b\",\"match\":{\"value\":1}}"), "{\"a\":{\"b\":1}}", 1},
    {F1("{\"key\":\"a.b\",\"match\":{\"value\":1}}"), "{\"a.b\":1}", 0},
    {F1("{\"key\":\"a.b\",\"match\":{\"value\":1}}"), "{\"a\":[{\"b\":1}]}", 0},
    {F1("{\"key\":\"a[].b\",\"match\":{\"value\":1}}"), "{\"a\":[{\"b\":2},{\"b\":1}]}", 1},
    {F1("{\"key\":\"a[1].b\",\"match\":{\"value\":1}}"), "{\"a\":[{\"b\":1},{\"b\":2}]}", 0},
    {F1("{\"key\":\"a[0].b\",\"match\":{\"value\":1}}"), "{\"a\":[{\"b\":1},{\"b\":2}]}", 1},
    {F1("{\"key\":\"\\\"a.b\\\".c\",\"match\":{\"value\":1}}"), "{\"a.b\":{\"c\":1}}", 1},
    /* is_empty / is_null conditions */
    {F1("{\"is_empty\":{\"key\":\"t\"}}"), "{}", 1},
    {F1("{\"is_empty\":{\"key\":\"t\"}}"), "{\"t\":null}", 1},
    {F1("{\"is_empty\":{\"key\":\"t\"}}"), "{\"t\":[]}", 1},
    {F1("{\"is_empty\":{\"key\":\"t\"}}"), "{\"t\":[null]}", 0},
    {F1("{\"is_empty\":{\"key\":\"t\"}}"), "{\"t\":0}", 0},
    {F1("{\"is_null\":{\"key\":\"t\"}}"), "{\"t\":null}", 1},
    {F1("{\"is_null\":{\"key\":\"t\"}}"), "{}", 0},
    {F1("{\"is_null\":{\"key\":\"t\"}}"), "{\"t\":[null]}", 0},
    {F1("{\"is_null\":{\"key\":\"t\"}}"), "{\"t\":\"\"}", 0},
    /* is_empty / is_null as field-condition flags */
    {F1("{\"key\":\"t\",\"is_empty\":true}"), "{}", 1},
    {F1("{\"key\":\"t\",\"is_empty\":false}"), "{\"t\":[1]}", 1},
    {F1("{\"key\":\"t\",\"is_null\":false}"), "{}", 1},
    {F1("{\"key\":\"t\",\"is_null\":true}"), "{\"t\":[1,null]}", 1},
    /* has_id */
    {F1("{\"has_id\":[1,7,\"550e8400-e29b-41d4-a716-446655440000\"]}"), "{}", 1},
    {F1("{\"has_id\":[2,3]}"), "{}", 0},
    /* clauses */
    {"{\"should\":[{\"key\":\"a\",\"match\":{\"value\":1}},{\"key\":\"b\",\"match\":{\"value\":1}}]"
     "}",
     "{\"b\":1}", 1},
    {"{\"should\":[{\"key\":\"a\",\"match\":{\"value\":1}},{\"key\":\"b\",\"match\":{\"value\":1}}]"
     "}",
     "{\"c\":1}", 0},
    {"{\"should\":[]}", "{}", 0},
    {"{\"must\":[]}", "{}", 1},
    {"{}", "{}", 1},
    {"{\"must_not\":[{\"key\":\"a\",\"match\":{\"value\":1}}]}", "{\"a\":1}", 0},
    {"{\"must_not\":{\"key\":\"a\",\"match\":{\"value\":1}}}", "{\"a\":2}", 1},
    {"{\"must\":{\"key\":\"a\",\"match\":{\"value\":1}}}", "{\"a\":1}", 1},
    {"{\"min_should\":{\"conditions\":[{\"key\":\"a\",\"match\":{\"value\":1}},{\"key\":\"b\","
     "\"match\":{\"value\":1}},{\"key\":\"c\",\"match\":{\"value\":1}}],\"min_count\":2}}",
     "{\"a\":1,\"c\":1}", 1},
    {"{\"min_should\":{\"conditions\":[{\"key\":\"a\",\"match\":{\"value\":1}},{\"key\":\"b\","
     "\"match\":{\"value\":1}},{\"key\":\"c\",\"match\":{\"value\":1}}],\"min_count\":2}}",
     "{\"a\":1}", 0},
    /* a filter as a condition (nested boolean logic) */
    {"{\"must\":[{\"should\":[{\"key\":\"a\",\"match\":{\"value\":1}},{\"key\":\"a\",\"match\":{"
     "\"value\":2}}]},{\"must_not\":[{\"key\":\"x\",\"match\":{\"value\":true}}]}]}",
     "{\"a\":2,\"x\":false}", 1},
    {"{\"must\":[{\"should\":[{\"key\":\"a\",\"match\":{\"value\":1}},{\"key\":\"a\",\"match\":{"
     "\"value\":2}}]},{\"must_not\":[{\"key\":\"x\",\"match\":{\"value\":true}}]}]}",
     "{\"a\":2,\"x\":true}", 0},
    /* nested: both conditions must hold on one array element */
    {F1("{\"nested\":{\"key\":\"d\",\"filter\":{\"must\":[{\"key\":\"k\",\"match\":{\"value\":"
        "\"x\"}},"
        "{\"key\":\"v\",\"range\":{\"gt\":1}}]}}}"),
     "{\"d\":[{\"k\":\"x\",\"v\":0},{\"k\":\"y\",\"v\":5}]}", 0},
    {F1("{\"nested\":{\"key\":\"d\",\"filter\":{\"must\":[{\"key\":\"k\",\"match\":{\"value\":"
        "\"x\"}},"
        "{\"key\":\"v\",\"range\":{\"gt\":1}}]}}}"),
     "{\"d\":[{\"k\":\"x\",\"v\":0},{\"k\":\"x\",\"v\":5}]}", 1},
    {F1("{\"nested\":{\"key\":\"d\",\"filter\":{\"must\":[{\"key\":\"k\",\"match\":{\"value\":"
        "\"x\"}}]}}}"),
     "{\"d\":{\"k\":\"x\"}}", 1},
    {F1("{\"nested\":{\"key\":\"d\",\"filter\":{\"must\":[{\"has_id\":[1]}]}}}"),
     "{\"d\":[{\"k\":\"x\"}]}", 0},
};

typedef struct ecase {
    const char *filter;
    int code;
} ecase;

static const ecase errors[] = {
    {"[1]", LS_EINVAL},
    {"{\"must\":[1]}", LS_EINVAL},
    {"{\"must\":[{\"key\":\"a\"}]}", LS_EINVAL},
    {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1.5}}]}", LS_EINVAL},
    {"{\"must\":[{\"key\":\"a\",\"match\":{\"any\":[1,\"x\"]}}]}", LS_EINVAL},
    {"{\"must\":[{\"key\":\"a\",\"match\":{\"value\":18446744073709551615}}]}", LS_EINVAL},
    {"{\"must\":[{\"has_id\":[-1]}]}", LS_EINVAL},
    {"{\"must\":[{\"has_id\":[\"not-a-uuid\"]}]}", LS_EINVAL},
    {"{\"must\":[{\"key\":\"a\",\"range\":{\"gt\":\"x\"}}]}", LS_EUNSUPPORTED},
    {"{\"must\":[{\"key\":\"a\",\"match\":{\"text\":\"x\"}}]}", LS_EUNSUPPORTED},
    {"{\"must\":[{\"key\":\"a\",\"match\":{\"prefix\":\"x\"}}]}", LS_EUNSUPPORTED},
    {"{\"must\":[{\"key\":\"a\",\"geo_bounding_box\":{}}]}", LS_EUNSUPPORTED},
    {"{\"must\":[{\"key\":\"a\",\"geo_polygon\":{}}]}", LS_EUNSUPPORTED},
    {"{\"must\":[{\"has_vector\":\"img\"}]}", LS_EUNSUPPORTED},
    {"{\"must\":[{\"slice\":{}}]}", LS_EUNSUPPORTED},
    {"{\"filter\":{}}", LS_EUNSUPPORTED},
};

int main(void)
{
    ls_id ids[3] = {ls_id_num(7), ls_id_num(1), ls_id_num(2)};
    ls_id_parse(&ids[2], "550e8400-e29b-41d4-a716-446655440000", 36);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const fcase *c = &cases[i];
        ls_filter *f = NULL;
        char msg[256];
        int rc = ls_filter_compile(&f, c->filter, msg, sizeof msg);
        json_object *pl = json_tokener_parse(c->payload);
        int got = rc == 0 ? ls_filter_match(f, &ids[i % 3 == 0 ? 0 : 2], pl) : -1;
        char what[600];
        snprintf(what, sizeof what, "%s on %s -> %d", c->filter, c->payload, c->want);
        ok(got == c->want, what);
        if (rc)
            diag("compile: %s", msg);
        json_object_put(pl);
        ls_filter_free(f);
    }
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        ls_filter *f = NULL;
        char msg[256];
        int rc = ls_filter_compile(&f, errors[i].filter, msg, sizeof msg);
        char what[400];
        snprintf(what, sizeof what, "%s refused (%s)", errors[i].filter, msg);
        ok(rc == errors[i].code && f == NULL, what);
        if (errors[i].code == LS_EUNSUPPORTED)
            ok(strstr(msg, "not supported in local mode") != NULL, "  message says so");
    }
    ls_filter *f = (ls_filter *)1;
    ok(ls_filter_compile(&f, NULL, NULL, 0) == 0 && f == NULL, "NULL filter: none");
    f = (ls_filter *)1;
    ok(ls_filter_compile(&f, "null", NULL, 0) == 0 && f == NULL, "null filter: none");
    ok(ls_filter_match(NULL, &ids[0], NULL) == 1, "no filter matches");
    return tap_done();
}
