/* Protocol tests: libqdrantc against a scripted server, asserting the exact requests it sends
 * (method, path, query string, headers, body) and its handling of each kind of reply. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "qdrant/qdrant.h"
#include "scripted.h"
#include "tap.h"

/* A reply with a body and a computed Content-Length (storage is static). */
static const char *reply_ct(const char *status, const char *headers, const char *ctype,
                            const char *body)
{
    static char pool[64][2048];
    static int n;
    char *p = pool[n++ % 64];
    snprintf(p, sizeof pool[0],
             "HTTP/1.1 %s\r\nContent-Type: %s\r\n%sContent-Length: %zu\r\n\r\n%s", status, ctype,
             headers, strlen(body), body);
    return p;
}
#define reply_h(status, headers, body) reply_ct(status, headers, "application/json", body)
#define reply(status, body) reply_h(status, "", body)
#define RESULT(r) "{\"result\":" r ",\"status\":\"ok\",\"time\":0.001}"
#define OK_TRUE reply("200 OK", RESULT("true"))
#define UPDATED reply("200 OK", RESULT("{\"operation_id\":5,\"status\":\"completed\"}"))
#define NOT_FOUND_COLL                                                                             \
    reply("404 Not Found",                                                                         \
          "{\"status\":{\"error\":\"Not found: Collection `c` doesn't exist!\"},\"time\":0.0}")

static qdrant_client *client_for(scripted *s, const char *suffix, int retries, const char *key)
{
    char url[160];
    snprintf(url, sizeof url, "%s%s", ss_url(s), suffix);
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = url;
    o.api_key = key;
    o.max_retries = retries;
    o.retry_backoff_ms = 10;
    o.retry_max_backoff_ms = 50;
    o.request_timeout_ms = 5000;
    qdrant_client *c = NULL;
    if (qdrant_client_new(&c, &o) != 0)
        return NULL;
    return c;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_collections_exact(void)
{
    ss_step steps[] = {
        {OK_TRUE, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {reply("200 OK", RESULT("true")), SS_KEEP, 0},
        {reply("200 OK", RESULT("false")), SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"exists\":true}")), SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"collections\":[{\"name\":\"a\"},{\"name\":\"b c\"}]}")),
         SS_KEEP, 0},
        {reply("200 OK",
               RESULT("{\"status\":\"yellow\",\"optimizer_status\":\"ok\",\"points_count\":12,"
                      "\"config\":{\"params\":{\"vectors\":{\"size\":4,\"distance\":\"Dot\"}}}}")),
         SS_KEEP, 0},
        {UPDATED, SS_KEEP, 0},
    };
    scripted *s = ss_start(steps, sizeof steps / sizeof steps[0]);
    qdrant_client *c = client_for(s, "/", 0, "s3cret");
    qdrant_collection_options o = QDRANT_COLLECTION_OPTIONS_INIT;
    o.on_disk = 1;
    o.hnsw_m = 0;
    o.hnsw_ef_construct = 100;
    o.indexing_threshold = 20000;
    is_int(qdrant_collection_create(c, "my coll", 384, QDRANT_DISTANCE_COSINE, &o), 0,
           "create with every option");
    is_int(qdrant_collection_create(c, "c", 3, QDRANT_DISTANCE_MANHATTAN, NULL), 0,
           "create with defaults");
    int existed = -1;
    is_int(qdrant_collection_delete(&existed, c, "c"), 0, "delete existing");
    is_int(existed, 1, "existed = 1");
    is_int(qdrant_collection_delete(&existed, c, "c"), 0, "delete missing: not an error");
    is_int(existed, 0, "existed = 0");
    int ex = -1;
    is_int(qdrant_collection_exists(&ex, c, "c"), 0, "exists");
    is_int(ex, 1, "exists = 1");
    qdrant_name_list *names = NULL;
    is_int(qdrant_collection_list_get(&names, c), 0, "list");
    is_int(qdrant_name_list_count(names), 2, "two names");
    is_str(qdrant_name_list_at(names, 1), "b c", "second name");
    ok(qdrant_name_list_contains(names, "a") && !qdrant_name_list_contains(names, "z"), "contains");
    qdrant_name_list_free(names);
    qdrant_collection_info *info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "c"), 0, "info");
    is_int(qdrant_collection_info_status(info), QDRANT_STATUS_YELLOW, "status yellow");
    is_int(qdrant_collection_info_points_count(info), 12, "points count");
    is_int(qdrant_collection_info_vector_size(info), 4, "vector size");
    is_int(qdrant_collection_info_distance(info), QDRANT_DISTANCE_DOT, "distance");
    ok(strstr(qdrant_collection_info_json(info), "\"optimizer_status\":\"ok\"") != NULL,
       "raw JSON kept");
    qdrant_collection_info_free(info);
    qdrant_write_options w = QDRANT_WRITE_OPTIONS_INIT;
    w.wait = 0;
    w.ordering = QDRANT_ORDERING_MEDIUM;
    w.timeout_s = 7;
    is_int(qdrant_payload_index_create(c, "c", "tags.kind", QDRANT_FIELD_KEYWORD, &w), 0,
           "payload index");

    const ss_request *r = ss_req(s, 0);
    char h[256];
    is_str(r->method, "PUT", "create is a PUT");
    is_str(r->target, "/collections/my%20coll", "name percent-encoded in the path");
    is_str(r->body,
           "{\"vectors\":{\"size\":384,\"distance\":\"Cosine\",\"on_disk\":true},\"hnsw_config\":"
           "{\"m\":0,\"ef_construct\":100},\"optimizers_config\":{\"indexing_threshold\":20000}}",
           "exact create body");
    is_str(ss_header(r, "api-key", h, sizeof h), "s3cret", "api-key header");
    is_str(ss_header(r, "Content-Type", h, sizeof h), "application/json", "JSON content type");
    ok(ss_header(r, "User-Agent", h, sizeof h) && strncmp(h, "libqdrantc/", 11) == 0, "user agent");
    ok(ss_header(r, "Expect", h, sizeof h) == NULL, "no Expect: 100-continue");
    is_str(ss_req(s, 1)->body, "{\"vectors\":{\"size\":3,\"distance\":\"Manhattan\"}}",
           "unset options are left out entirely");
    is_str(ss_req(s, 2)->method, "DELETE", "delete is a DELETE");
    is_str(ss_req(s, 2)->target, "/collections/c", "delete path");
    is_str(ss_req(s, 4)->target, "/collections/c/exists", "exists path");
    is_str(ss_req(s, 5)->target, "/collections", "list path");
    is_str(ss_req(s, 6)->method, "GET", "info is a GET");
    r = ss_req(s, 7);
    is_str(r->target, "/collections/c/index?wait=false&ordering=medium&timeout=7",
           "index path and write query");
    is_str(r->body, "{\"field_name\":\"tags.kind\",\"field_schema\":\"keyword\"}", "index body");
    is_int(ss_connections(s), 1, "every request on one kept-alive connection");
    is_int(qdrant_client_connections(c), 1, "client counted one connection");
    is_int(qdrant_client_is_local(c), 0, "a server client is not local");
    is_int(qdrant_client_is_local(NULL), 0, "NULL is not local");
    qdrant_client_free(c);
    ss_stop(s);
}

static void test_metadata_exact(void)
{
    const char *r503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    ss_step steps[] = {
        {OK_TRUE, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"status\":\"green\",\"points_count\":0,\"config\":{"
                                "\"params\":{\"vectors\":{\"size\":4,\"distance\":\"Dot\"}},"
                                "\"quantization_config\":null,\"metadata\":{\"owner\":\"me\","
                                "\"gone\":null,\"k\":[1,2],\"s\":\"a/b\"}}}")),
         SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"status\":\"green\",\"points_count\":0,\"config\":{"
                                "\"params\":{\"vectors\":{\"size\":4,\"distance\":\"Dot\"}}}}")),
         SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"status\":\"green\",\"config\":{\"metadata\":{}}}")), SS_KEEP,
         0},
        {reply("200 OK", RESULT("{\"status\":\"green\",\"config\":{\"metadata\":[1]}}")), SS_KEEP,
         0},
        {NOT_FOUND_COLL, SS_KEEP, 0},
        {r503, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
    };
    scripted *s = ss_start(steps, sizeof steps / sizeof steps[0]);
    qdrant_client *c = client_for(s, "", 3, NULL);
    qdrant_collection_options o;
    is_int(qdrant_collection_options_init(&o, QDRANT_COLLECTION_OPTIONS_VERSION), 0, "init v2");
    ok(o.metadata == NULL && o.hnsw_m == QDRANT_UNSET, "no metadata by default");
    o.metadata = " {\"owner\":\"me\",\"gone\":null,\n \"n\":1.50} \n";
    o.hnsw_m = 16;
    is_int(qdrant_collection_create(c, "my c", 4, QDRANT_DISTANCE_DOT, &o), 0,
           "create with metadata");
    is_int(qdrant_collection_metadata_update(c, "my c", "{\"n\":null,\"k\":[1,2]}"), 0,
           "metadata update");
    is_int(qdrant_collection_metadata_update(c, "c", "{}"), 0, "an empty patch is sent too");
    qdrant_collection_info *info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "c"), 0, "info with metadata");
    is_str(qdrant_collection_info_metadata(info),
           "{\"owner\":\"me\",\"gone\":null,\"k\":[1,2],\"s\":\"a/b\"}",
           "metadata text: the reply's object, keys in order, nulls kept");
    qdrant_collection_info_free(info);
    info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "c"), 0, "info without metadata");
    ok(qdrant_collection_info_metadata(info) == NULL, "metadata left out by the server: NULL");
    qdrant_collection_info_free(info);
    info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "c"), 0, "info with empty metadata");
    is_str(qdrant_collection_info_metadata(info), "{}", "empty metadata: {} (not NULL)");
    qdrant_collection_info_free(info);
    info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "c"), QDRANT_EPROTOCOL,
           "metadata that is not an object: QDRANT_EPROTOCOL");
    ok(info == NULL, "  out untouched");
    ok(qdrant_collection_info_metadata(NULL) == NULL, "NULL info: NULL metadata");
    is_int(qdrant_collection_metadata_update(c, "c", "{\"a\":1}"), QDRANT_ENOTFOUND,
           "update of an unknown collection: 404");
    is_str(qdrant_client_errmsg(c), "Not found: Collection `c` doesn't exist!", "  its message");
    is_int(qdrant_collection_metadata_update(c, "c", "{\"a\":1}"), QDRANT_ESERVER,
           "503 on a metadata update: an error");
    int sent = ss_count(s);
    is_int(sent, 9, "  not resent");

    const ss_request *r = ss_req(s, 0);
    is_str(r->target, "/collections/my%20c", "create path");
    is_str(r->body,
           "{\"vectors\":{\"size\":4,\"distance\":\"Dot\"},\"hnsw_config\":{\"m\":16},"
           "\"metadata\":{\"owner\":\"me\",\"gone\":null,\n \"n\":1.50}}",
           "exact create body: the metadata as given, trimmed, last");
    r = ss_req(s, 1);
    is_str(r->method, "PATCH", "metadata update is a PATCH");
    is_str(r->target, "/collections/my%20c", "  of the collection");
    is_str(r->body, "{\"metadata\":{\"n\":null,\"k\":[1,2]}}", "  exact body");
    char h[64];
    is_str(ss_header(r, "Content-Type", h, sizeof h), "application/json", "  JSON content type");
    is_str(ss_req(s, 2)->body, "{\"metadata\":{}}", "  empty patch body");

    /* Local refusals: nothing is sent. */
    static const char *const bad[] = {"[1]",         "\"x\"",       "null",    "{\"a\":}",
                                      "{\"a\":1} x", "{\"a\":NaN}", "{'a':1}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char what[96];
        o.metadata = bad[i];
        snprintf(what, sizeof what, "create with metadata '%s' refused", bad[i]);
        is_int(qdrant_collection_create(c, "c", 4, QDRANT_DISTANCE_DOT, &o), QDRANT_EINVAL, what);
        snprintf(what, sizeof what, "update with '%s' refused", bad[i]);
        is_int(qdrant_collection_metadata_update(c, "c", bad[i]), QDRANT_EINVAL, what);
    }
    ok(strstr(qdrant_client_errmsg(c), "not a JSON object") != NULL, "  the message says why");
    is_int(qdrant_collection_metadata_update(c, "c", NULL), QDRANT_EINVAL, "NULL patch refused");
    is_int(qdrant_collection_metadata_update(c, "", "{}"), QDRANT_EINVAL, "empty name refused");
    is_int(qdrant_collection_metadata_update(NULL, "c", "{}"), QDRANT_EINVAL, "NULL client");
    is_int(ss_count(s), sent, "nothing was sent for any of them");

    /* A program built against version 1 of the options: nothing past its end is read or
     * written. */
    union {
        qdrant_collection_options o;
        unsigned char b[sizeof(qdrant_collection_options)];
    } v1;
    memset(&v1, 0x5a, sizeof v1);
    is_int(qdrant_collection_options_init(&v1.o, 1), 0, "version-1 init");
    size_t end = offsetof(qdrant_collection_options, indexing_threshold) + sizeof(long long);
    int untouched = 1;
    for (size_t i = end; i < sizeof v1; i++)
        untouched &= v1.b[i] == 0x5a;
    ok(v1.o.version == 1 && v1.o.indexing_threshold == QDRANT_UNSET && untouched,
       "version-1 init writes only version-1 fields");
    v1.o.on_disk = 0;
    is_int(qdrant_collection_create(c, "v1", 2, QDRANT_DISTANCE_EUCLID, &v1.o), 0,
           "a version-1 struct is accepted");
    is_str(ss_req(s, sent)->body,
           "{\"vectors\":{\"size\":2,\"distance\":\"Euclid\",\"on_disk\":false}}",
           "  and its (garbage) bytes past the end are not read as metadata");
    is_int(qdrant_collection_options_init(&o, 3), QDRANT_EINVAL, "unknown options version");
    is_int(qdrant_collection_options_init(&o, 0), QDRANT_EINVAL, "version 0");
    o.version = 3;
    is_int(qdrant_collection_create(c, "c", 2, QDRANT_DISTANCE_DOT, &o), QDRANT_EINVAL,
           "create with an unknown options version");
    qdrant_client_free(c);
    ss_stop(s);
}

static void test_points_exact(void)
{
    ss_step steps[] = {
        {UPDATED, SS_KEEP, 0},
        {reply("200 OK", RESULT("[{\"id\":18446744073709551615,\"payload\":{\"k\":1},"
                                "\"vector\":[0.5,1]}]")),
         SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"points\":[{\"id\":3,\"payload\":{}}],\"next_page_offset\":"
                                "\"550e8400-e29b-41d4-a716-446655440000\"}")),
         SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"count\":18446744073709551615}")), SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"points\":[{\"id\":2,\"version\":1,\"score\":0.9},"
                                "{\"id\":1,\"version\":1,\"score\":0.5}]}")),
         SS_KEEP, 0},
        {UPDATED, SS_KEEP, 0},
        {UPDATED, SS_KEEP, 0},
    };
    scripted *s = ss_start(steps, sizeof steps / sizeof steps[0]);
    qdrant_client *c = client_for(s, "", 0, NULL);
    qdrant_point_id ids[2] = {qdrant_point_id_num(UINT64_MAX), qdrant_point_id_num(0)};
    qdrant_point_id_parse(&ids[1], "550e8400-e29b-41d4-a716-446655440000");
    float vec[4] = {0.5f, 1.0f, 0.1f, -3.25f};
    const char *payloads[2] = {"{\"k\":1}", NULL};
    qdrant_write_options w = QDRANT_WRITE_OPTIONS_INIT;
    w.ordering = QDRANT_ORDERING_STRONG;
    is_int(qdrant_point_upsert(c, "c", 2, ids, vec, 2, payloads, &w), 0, "upsert");
    qdrant_point_list *l = NULL;
    is_int(qdrant_point_get(&l, c, "c", ids, 1, 1, 1), 0, "get");
    ok(qdrant_point_list_id(l, 0) && qdrant_point_list_id(l, 0)->num == UINT64_MAX, "get id");
    qdrant_point_list_free(l);
    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_filter_match_keyword(f, QDRANT_MUST, "k", "v");
    qdrant_scroll_options so = QDRANT_SCROLL_OPTIONS_INIT;
    so.limit = 2;
    qdrant_point_id off = qdrant_point_id_num(3);
    so.offset = &off;
    so.filter = f;
    so.with_vector = 1;
    is_int(qdrant_point_scroll(&l, c, "c", &so), 0, "scroll");
    ok(qdrant_point_list_next_page(l) && qdrant_point_list_next_page(l)->kind == QDRANT_ID_UUID,
       "next page offset (uuid)");
    qdrant_point_list_free(l);
    uint64_t n = 0;
    is_int(qdrant_point_count(&n, c, "c", f), 0, "count");
    ok(n == UINT64_MAX, "count above INT64_MAX exact");
    qdrant_query_options qo = QDRANT_QUERY_OPTIONS_INIT;
    qo.limit = 2;
    qo.offset = 1;
    qo.filter = f;
    qo.use_score_threshold = 1;
    qo.score_threshold = 0.25f;
    is_int(qdrant_point_query(&l, c, "c", vec, 2, &qo), 0, "query");
    is_int(qdrant_point_list_count(l), 2, "two hits");
    ok(qdrant_point_list_score(l, 0) == 0.9f && qdrant_point_list_id(l, 0)->num == 2,
       "first hit and score");
    qdrant_point_list_free(l);
    is_int(qdrant_point_delete(c, "c", ids, 2, NULL), 0, "delete by ids");
    is_int(qdrant_point_delete_by_filter(c, "c", f, NULL), 0, "delete by filter");
    qdrant_filter_free(f);

    const ss_request *r = ss_req(s, 0);
    is_str(r->method, "PUT", "upsert is a PUT");
    is_str(r->target, "/collections/c/points?wait=true&ordering=strong", "upsert path + query");
    is_str(r->body,
           "{\"points\":[{\"id\":18446744073709551615,\"vector\":[0.5,1],\"payload\":{\"k\":1}},"
           "{\"id\":\"550e8400-e29b-41d4-a716-446655440000\",\"vector\":[0.1,-3.25]}]}",
           "exact upsert body");
    char h[64];
    ok(ss_header(r, "api-key", h, sizeof h) == NULL, "no api-key header without a key");
    r = ss_req(s, 1);
    is_str(r->target, "/collections/c/points", "get path");
    is_str(r->body, "{\"ids\":[18446744073709551615],\"with_payload\":true,\"with_vector\":true}",
           "get body");
    r = ss_req(s, 2);
    is_str(r->target, "/collections/c/points/scroll", "scroll path");
    is_str(r->body,
           "{\"limit\":2,\"offset\":3,\"filter\":{\"must\":[{\"key\":\"k\",\"match\":{\"value\":"
           "\"v\"}}]},\"with_payload\":true,\"with_vector\":true}",
           "scroll body");
    r = ss_req(s, 3);
    is_str(r->target, "/collections/c/points/count", "count path");
    is_str(r->body,
           "{\"filter\":{\"must\":[{\"key\":\"k\",\"match\":{\"value\":\"v\"}}]},\"exact\":true}",
           "count body");
    r = ss_req(s, 4);
    is_str(r->target, "/collections/c/points/query", "query path");
    is_str(r->body,
           "{\"query\":[0.5,1],\"limit\":2,\"offset\":1,\"filter\":{\"must\":[{\"key\":\"k\","
           "\"match\":{\"value\":\"v\"}}]},\"score_threshold\":0.25,\"with_payload\":true,"
           "\"with_vector\":false}",
           "query body");
    r = ss_req(s, 5);
    is_str(r->target, "/collections/c/points/delete?wait=true", "delete path, wait by default");
    is_str(r->body, "{\"points\":[18446744073709551615,\"550e8400-e29b-41d4-a716-446655440000\"]}",
           "delete by ids body");
    is_str(ss_req(s, 6)->body,
           "{\"filter\":{\"must\":[{\"key\":\"k\",\"match\":{\"value\":\"v\"}}]}}",
           "delete by filter body");

    /* Local refusals: nothing is sent. */
    int before = ss_count(s);
    vec[1] = NAN;
    is_int(qdrant_point_upsert(c, "c", 2, ids, vec, 2, NULL, NULL), QDRANT_EINVAL, "NaN refused");
    ok(strstr(qdrant_client_errmsg(c), "NaN") != NULL, "message says why");
    vec[1] = 1.0f;
    const char *badp[2] = {"not json", NULL};
    is_int(qdrant_point_upsert(c, "c", 2, ids, vec, 2, badp, NULL), QDRANT_EINVAL,
           "bad payload refused");
    is_int(qdrant_point_upsert(c, "", 2, ids, vec, 2, NULL, NULL), QDRANT_EINVAL, "empty name");
    is_int(qdrant_point_upsert(c, "c", 0, ids, vec, 2, NULL, NULL), 0, "n = 0: nothing to do");
    vec[0] = INFINITY;
    is_int(qdrant_point_query(&l, c, "c", vec, 2, NULL), QDRANT_EINVAL, "Inf query refused");
    qdrant_write_options wb = QDRANT_WRITE_OPTIONS_INIT;
    wb.version = 99;
    is_int(qdrant_point_delete(c, "c", ids, 1, &wb), QDRANT_EINVAL, "unknown options version");
    is_int(ss_count(s), before, "nothing was sent for any of them");
    qdrant_client_free(c);
    ss_stop(s);
}

static void test_aliases_exact(void)
{
    ss_step steps[] = {
        {reply("200 OK", RESULT("{\"aliases\":[{\"alias_name\":\"prod\",\"collection_name\":"
                                "\"v1\"}]}")),
         SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"aliases\":[]}")), SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {OK_TRUE, SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"aliases\":[{\"alias_name\":\"a\",\"collection_name\":"
                                "\"v 2\"}]}")),
         SS_KEEP, 0},
    };
    scripted *s = ss_start(steps, sizeof steps / sizeof steps[0]);
    qdrant_client *c = client_for(s, "", 0, NULL);
    is_int(qdrant_alias_switch(c, "prod", "v2"), 0, "switch an existing alias");
    is_int(qdrant_alias_switch(c, "prod", "v2"), 0, "switch a new alias");
    is_int(qdrant_alias_create(c, "a", "v 2"), 0, "create");
    is_int(qdrant_alias_rename(c, "a", "b"), 0, "rename");
    is_int(qdrant_alias_delete(c, "b"), 0, "delete");
    qdrant_alias_list *l = NULL;
    is_int(qdrant_collection_alias_list_get(&l, c, "v 2"), 0, "aliases of a collection");
    is_int(qdrant_alias_list_count(l), 1, "one alias");
    is_str(qdrant_alias_list_alias(l, 0), "a", "alias name");
    is_str(qdrant_alias_list_find(l, "a"), "v 2", "find");
    ok(qdrant_alias_list_find(l, "zz") == NULL, "find missing");
    qdrant_alias_list_free(l);

    is_str(ss_req(s, 0)->target, "/aliases", "switch looks the alias up first");
    is_str(ss_req(s, 1)->target, "/collections/aliases", "then one POST");
    is_str(ss_req(s, 1)->body,
           "{\"actions\":[{\"delete_alias\":{\"alias_name\":\"prod\"}},{\"create_alias\":{"
           "\"collection_name\":\"v2\",\"alias_name\":\"prod\"}}]}",
           "delete + create in ONE request");
    is_str(ss_req(s, 3)->body,
           "{\"actions\":[{\"create_alias\":{\"collection_name\":\"v2\",\"alias_name\":"
           "\"prod\"}}]}",
           "no delete_alias when the alias does not exist yet");
    is_str(ss_req(s, 4)->body,
           "{\"actions\":[{\"create_alias\":{\"collection_name\":\"v 2\",\"alias_name\":\"a\"}}]}",
           "create body");
    is_str(ss_req(s, 5)->body,
           "{\"actions\":[{\"rename_alias\":{\"old_alias_name\":\"a\",\"new_alias_name\":\"b\"}}]}",
           "rename body");
    is_str(ss_req(s, 6)->body, "{\"actions\":[{\"delete_alias\":{\"alias_name\":\"b\"}}]}",
           "delete body");
    is_str(ss_req(s, 7)->target, "/collections/v%202/aliases", "collection aliases path");
    qdrant_client_free(c);
    ss_stop(s);
}

static void test_errors(void)
{
    ss_step steps[] = {
        {NOT_FOUND_COLL, SS_KEEP, 0},
        {reply_ct("401 Unauthorized", "", "text/plain; charset=utf-8", "Invalid API key or JWT"),
         SS_KEEP, 0},
        {reply("409 Conflict",
               "{\"status\":{\"error\":\"Wrong input: Collection `c` already exists!\"}}"),
         SS_KEEP, 0},
        {reply("422 Unprocessable Entity",
               "{\"status\":{\"error\":\"Validation error in JSON body: [limit: bad]\"}}"),
         SS_KEEP, 0},
        {reply("400 Bad Request", "{\"status\":{\"error\":\"Wrong input: Vector dimension error: "
                                  "expected dim: 4, got 2\"},\"time\":0.0}"),
         SS_KEEP, 0},
        {reply("500 Internal Server Error",
               "{\"status\":{\"error\":\"Service internal error: boom\"}}"),
         SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"operation_id\":9,\"status\":\"wait_timeout\"}")), SS_KEEP, 0},
        {reply("200 OK", "{\"status\":\"ok\"}"), SS_KEEP, 0},
        {reply("200 OK", "not json"), SS_KEEP, 0},
        {reply("200 OK", RESULT("{\"operation_id\":9,\"status\":\"weird\"}")), SS_KEEP, 0},
        {reply("403 Forbidden", ""), SS_KEEP, 0},
    };
    scripted *s = ss_start(steps, sizeof steps / sizeof steps[0]);
    qdrant_client *c = client_for(s, "", 3, "wrong");
    qdrant_collection_info *info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "c"), QDRANT_ENOTFOUND, "404 envelope");
    is_str(qdrant_client_errmsg(c), "Not found: Collection `c` doesn't exist!", "404 message");
    is_int(qdrant_client_http_status(c), 404, "404 status");
    ok(info == NULL, "out untouched on failure");
    is_int(qdrant_collection_create(c, "c", 4, QDRANT_DISTANCE_DOT, NULL), QDRANT_EAUTH,
           "plain-text 401");
    is_str(qdrant_client_errmsg(c), "Invalid API key or JWT", "plain-text message");
    is_int(qdrant_client_http_status(c), 401, "401 status");
    is_int(qdrant_collection_create(c, "c", 4, QDRANT_DISTANCE_DOT, NULL), QDRANT_ECONFLICT, "409");
    ok(strstr(qdrant_client_errmsg(c), "already exists") != NULL, "409 message");
    qdrant_point_list *l = NULL;
    float v[2] = {1, 2};
    is_int(qdrant_point_scroll(&l, c, "c", NULL), QDRANT_EINVAL, "422");
    is_int(qdrant_point_query(&l, c, "c", v, 2, NULL), QDRANT_EINVAL, "400 wrong dimension");
    ok(strstr(qdrant_client_errmsg(c), "expected dim: 4") != NULL, "400 message");
    qdrant_point_id id = qdrant_point_id_num(1);
    is_int(qdrant_point_upsert(c, "c", 1, &id, v, 2, NULL, NULL), QDRANT_ESERVER,
           "500 (not retried)");
    is_int(ss_count(s), 6, "500 was not retried");
    is_int(qdrant_point_upsert(c, "c", 1, &id, v, 2, NULL, NULL), QDRANT_EWAITTIMEOUT,
           "200 with wait_timeout");
    is_int(qdrant_point_upsert(c, "c", 1, &id, v, 2, NULL, NULL), QDRANT_EPROTOCOL,
           "envelope without result");
    uint64_t n = 77;
    is_int(qdrant_point_count(&n, c, "c", NULL), QDRANT_EPROTOCOL, "non-JSON 200");
    ok(n == 77, "out untouched on failure");
    is_int(qdrant_point_delete(c, "c", &id, 1, NULL), QDRANT_EPROTOCOL, "unknown write status");
    is_int(qdrant_health(c), QDRANT_EAUTH, "403 without body");
    is_str(qdrant_client_errmsg(c), "HTTP 403", "status as the message");
    qdrant_client_free(c);
    ss_stop(s);
}

static void test_retries(void)
{
    const char *r429 = reply_h("429 Too Many Requests", "Retry-After: 1\r\n",
                               "{\"status\":{\"error\":\"Too many requests\"}}");
    const char *r503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    qdrant_point_id id = qdrant_point_id_num(1);
    float v[2] = {1, 2};

    /* 429 with Retry-After: waited for, then success; even a create collection is retried */
    ss_step a[] = {{r429, SS_KEEP, 0}, {OK_TRUE, SS_KEEP, 0}};
    scripted *s = ss_start(a, 2);
    qdrant_client *c = client_for(s, "", 3, NULL);
    int64_t t0 = now_ms();
    is_int(qdrant_collection_create(c, "c", 2, QDRANT_DISTANCE_DOT, NULL), 0, "429 then 200");
    ok(now_ms() - t0 >= 1000, "waited for Retry-After (1 s)");
    is_int(ss_count(s), 2, "two requests");
    qdrant_client_free(c);
    ss_stop(s);

    /* 429 past the budget */
    ss_step b[] = {{r429, SS_KEEP, 0}, {r429, SS_KEEP, 0}};
    s = ss_start(b, 2);
    c = client_for(s, "", 1, NULL);
    is_int(qdrant_health(c), QDRANT_EOVERLOADED, "429 past the budget");
    is_int(ss_count(s), 2, "budget of 1: two requests");
    is_int(qdrant_client_retry_after_ms(c), 1000, "retry-after kept on the handle");
    is_str(qdrant_client_errmsg(c), "Too many requests", "429 message");
    qdrant_client_free(c);
    ss_stop(s);

    /* 503 on an idempotent upsert: retried, byte-identical */
    ss_step d[] = {{r503, SS_KEEP, 0}, {UPDATED, SS_KEEP, 0}};
    s = ss_start(d, 2);
    c = client_for(s, "", 3, NULL);
    is_int(qdrant_point_upsert(c, "c", 1, &id, v, 2, NULL, NULL), 0, "503 then 200");
    is_int(ss_count(s), 2, "upsert resent");
    is_str(ss_req(s, 0)->body, ss_req(s, 1)->body, "the retry is byte-identical");
    is_str(ss_req(s, 0)->target, ss_req(s, 1)->target, "same target");
    qdrant_client_free(c);
    ss_stop(s);

    /* 503 on create collection: not retried */
    ss_step e[] = {{r503, SS_KEEP, 0}, {OK_TRUE, SS_KEEP, 0}};
    s = ss_start(e, 2);
    c = client_for(s, "", 3, NULL);
    is_int(qdrant_collection_create(c, "c", 2, QDRANT_DISTANCE_DOT, NULL), QDRANT_ESERVER,
           "503 on create: error");
    is_int(ss_count(s), 1, "create not resent after a 503");
    qdrant_client_free(c);
    ss_stop(s);

    /* A connection dropped without an answer: idempotent upsert retried, alias change not */
    ss_step f[] = {{"", SS_DROP, 0}, {UPDATED, SS_KEEP, 0}};
    s = ss_start(f, 2);
    c = client_for(s, "", 3, NULL);
    is_int(qdrant_point_upsert(c, "c", 1, &id, v, 2, NULL, NULL), 0, "dropped then 200");
    is_int(ss_count(s), 2, "upsert resent after a dropped connection");
    qdrant_client_free(c);
    ss_stop(s);
    ss_step g[] = {{"", SS_DROP, 0}, {OK_TRUE, SS_KEEP, 0}};
    s = ss_start(g, 2);
    c = client_for(s, "", 3, NULL);
    is_int(qdrant_alias_create(c, "a", "c"), QDRANT_ETRANSPORT, "alias change: dropped = error");
    is_int(ss_count(s), 1, "alias change not resent");
    qdrant_client_free(c);
    ss_stop(s);

    /* Stale kept-alive connection: transparently resent, even for a non-idempotent call */
    ss_step h[] = {{OK_TRUE, SS_KEEP, 0}, {"", SS_DROP, 0}, {OK_TRUE, SS_KEEP, 0}};
    s = ss_start(h, 3);
    c = client_for(s, "", 0, NULL);
    is_int(qdrant_alias_create(c, "a", "c"), 0, "first");
    is_int(qdrant_alias_create(c, "b", "c"), 0, "second, after the server closed the idle conn");
    is_int(ss_count(s), 3, "sent twice");
    is_int(qdrant_client_connections(c), 2, "on a fresh connection");
    qdrant_client_free(c);
    ss_stop(s);

    /* Nothing listening: connection refused, retried then ETRANSPORT */
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = "http://127.0.0.1:1";
    o.max_retries = 1;
    o.retry_backoff_ms = 1;
    qdrant_client *dead = NULL;
    qdrant_client_new(&dead, &o);
    is_int(qdrant_health(dead), QDRANT_ETRANSPORT, "connection refused");
    ok(qdrant_client_errmsg(dead)[0] != '\0', "transport message");
    qdrant_client_free(dead);
}

static void test_query_batch_exact(void)
{
    const char *two =
        reply("200 OK", RESULT("[{\"points\":[{\"id\":5,\"version\":2,\"score\":0.5}]},"
                               "{\"points\":[]}]"));
    const char *bare404 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    const char *search2 = reply("200 OK", RESULT("[[{\"id\":7,\"version\":1,\"score\":0.25}],[]]"));
    const char *one = reply("200 OK", RESULT("[{\"points\":[]}]"));
    ss_step a[] = {{two, SS_KEEP, 0}, {one, SS_KEEP, 0}};
    scripted *s = ss_start(a, 2);
    qdrant_client *c = client_for(s, "", 0, NULL);
    float v[2][2] = {{0.5f, 1}, {-2, 0.25f}};
    qdrant_query_options qo[2] = {QDRANT_QUERY_OPTIONS_INIT, QDRANT_QUERY_OPTIONS_INIT};
    qo[0].limit = 3;
    qo[1].offset = 1;
    qo[1].with_vector = 1;
    qdrant_point_list *l[2] = {NULL, NULL};
    is_int(qdrant_point_query_batch(l, c, "c", &v[0][0], 2, 2, qo), 0, "batch of 2");
    is_int(qdrant_point_list_count(l[0]), 1, "first answer: 1 point");
    ok(qdrant_point_list_score(l[0], 0) == 0.5f, "its score");
    is_int(qdrant_point_list_count(l[1]), 0, "second answer: none");
    qdrant_point_list_free(l[0]);
    qdrant_point_list_free(l[1]);
    is_str(ss_req(s, 0)->target, "/collections/c/points/query/batch", "batch path");
    is_str(ss_req(s, 0)->body,
           "{\"searches\":[{\"query\":[0.5,1],\"limit\":3,\"with_payload\":true,\"with_vector\":"
           "false},{\"query\":[-2,0.25],\"limit\":10,\"offset\":1,\"with_payload\":true,"
           "\"with_vector\":true}]}",
           "exact batch body");
    /* a reply with the wrong number of answers is a protocol error, out untouched */
    l[0] = l[1] = NULL;
    is_int(qdrant_point_query_batch(l, c, "c", &v[0][0], 2, 2, NULL), QDRANT_EPROTOCOL,
           "1 answer for 2 queries: QDRANT_EPROTOCOL");
    ok(!l[0] && !l[1], "out untouched");
    is_int(qdrant_point_query_batch(l, c, "c", &v[0][0], 0, 2, NULL), QDRANT_EINVAL,
           "an empty batch is refused before sending");
    is_int(ss_count(s), 2, "nothing sent for it");
    qdrant_client_free(c);
    ss_stop(s);

    /* before 1.10: /points/search/batch, whose answers are bare arrays */
    ss_step b[] = {{bare404, SS_KEEP, 0}, {search2, SS_KEEP, 0}};
    s = ss_start(b, 2);
    c = client_for(s, "", 0, NULL);
    is_int(qdrant_point_query_batch(l, c, "c", &v[0][0], 2, 2, NULL), 0, "batch, old server");
    is_int(qdrant_point_list_count(l[0]), 1, "bare-array answer decoded");
    qdrant_point_list_free(l[0]);
    qdrant_point_list_free(l[1]);
    is_str(ss_req(s, 1)->target, "/collections/c/points/search/batch", "fell back to search");
    is_str(ss_req(s, 1)->body,
           "{\"searches\":[{\"vector\":[0.5,1],\"limit\":10,\"with_payload\":true,"
           "\"with_vector\":false},{\"vector\":[-2,0.25],\"limit\":10,\"with_payload\":true,"
           "\"with_vector\":false}]}",
           "search batch body");
    qdrant_client_free(c);
    ss_stop(s);
}

static void test_query_fallback(void)
{
    const char *bare404 = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    const char *search = reply("200 OK", RESULT("[{\"id\":5,\"version\":2,\"score\":0.125,"
                                                "\"payload\":{\"t\":\"x\"}}]"));
    ss_step a[] = {{bare404, SS_KEEP, 0}, {search, SS_KEEP, 0}, {search, SS_KEEP, 0}};
    scripted *s = ss_start(a, 3);
    qdrant_client *c = client_for(s, "", 0, NULL);
    float v[3] = {1, 0, 0.5f};
    qdrant_query_options qo = QDRANT_QUERY_OPTIONS_INIT;
    qo.limit = 3;
    qdrant_point_list *l = NULL;
    is_int(qdrant_point_query(&l, c, "c", v, 3, &qo), 0, "query against a pre-1.10 server");
    is_int(qdrant_point_list_count(l), 1, "bare-array search result decoded");
    ok(qdrant_point_list_score(l, 0) == 0.125f, "score");
    is_str(qdrant_point_list_payload(l, 0), "{\"t\":\"x\"}", "payload");
    qdrant_point_list_free(l);
    is_int(qdrant_point_query(&l, c, "c", v, 3, &qo), 0, "second query");
    qdrant_point_list_free(l);
    is_str(ss_req(s, 0)->target, "/collections/c/points/query", "tried /points/query first");
    is_str(ss_req(s, 1)->target, "/collections/c/points/search", "fell back to /points/search");
    is_str(ss_req(s, 1)->body,
           "{\"vector\":[1,0,0.5],\"limit\":3,\"with_payload\":true,\"with_vector\":false}",
           "search body");
    is_str(ss_req(s, 2)->target, "/collections/c/points/search", "the fallback is remembered");
    is_int(ss_count(s), 3, "no further probing");
    qdrant_client_free(c);
    ss_stop(s);

    /* A missing collection (404 with the envelope) is not mistaken for a missing route */
    ss_step b[] = {{NOT_FOUND_COLL, SS_KEEP, 0}};
    s = ss_start(b, 1);
    c = client_for(s, "", 0, NULL);
    is_int(qdrant_point_query(&l, c, "c", v, 3, NULL), QDRANT_ENOTFOUND, "unknown collection");
    is_int(ss_count(s), 1, "no fallback");
    qdrant_client_free(c);
    ss_stop(s);

    /* The version from GET / decides up front */
    const char *root = reply("200 OK", "{\"title\":\"qdrant - vector search engine\","
                                       "\"version\":\"1.9.7\",\"commit\":\"abc\"}");
    ss_step d[] = {{root, SS_KEEP, 0}, {search, SS_KEEP, 0}};
    s = ss_start(d, 2);
    c = client_for(s, "", 0, NULL);
    qdrant_server_info *si = NULL;
    is_int(qdrant_server_info_get(&si, c), 0, "server info");
    is_str(qdrant_server_info_version(si), "1.9.7", "version");
    is_str(qdrant_server_info_commit(si), "abc", "commit");
    is_str(qdrant_server_info_title(si), "qdrant - vector search engine", "title");
    qdrant_server_info_free(si);
    is_int(qdrant_point_query(&l, c, "c", v, 3, NULL), 0, "query after GET / said 1.9.7");
    qdrant_point_list_free(l);
    is_str(ss_req(s, 0)->target, "/", "GET /");
    is_str(ss_req(s, 1)->target, "/collections/c/points/search", "straight to /points/search");
    qdrant_client_free(c);
    ss_stop(s);

    /* exists on a pre-1.8 server */
    ss_step e[] = {{bare404, SS_KEEP, 0}, {NOT_FOUND_COLL, SS_KEEP, 0}};
    s = ss_start(e, 2);
    c = client_for(s, "", 0, NULL);
    int ex = -1;
    is_int(qdrant_collection_exists(&ex, c, "c"), 0, "exists without the /exists route");
    is_int(ex, 0, "reported missing");
    is_str(ss_req(s, 1)->target, "/collections/c", "asked for the collection");
    qdrant_client_free(c);
    ss_stop(s);
}

static int logged_key;
static void log_fn(int level, const char *msg, void *ud)
{
    (void)level;
    (void)ud;
    if (strstr(msg, "s3cret-key"))
        logged_key = 1;
}

static void test_client_options(void)
{
    qdrant_client_options o;
    is_int(qdrant_client_options_init(&o, 99), QDRANT_EINVAL, "unknown options version");
    is_int(qdrant_client_options_init(&o, QDRANT_CLIENT_OPTIONS_VERSION), 0, "options init");
    ok(o.tls_verify == 1 && o.max_retries == 3 && o.request_timeout_ms == 30000, "defaults");
    ok(o.local_scan == 0, "local_scan off by default");
    /* a program built against version 1 of the struct: nothing past its end is touched */
    qdrant_client_options v1;
    memset(&v1, 0x5a, sizeof v1);
    is_int(qdrant_client_options_init(&v1, 1), 0, "version-1 init");
    ok(v1.version == 1 && v1.max_response_bytes == (64u << 20) && v1.local_scan == 0x5a5a5a5a,
       "version-1 init writes only version-1 fields");
    qdrant_client *c = NULL;
    v1.url = "http://127.0.0.1:9";
    is_int(qdrant_client_new(&c, &v1), 0, "a version-1 struct is accepted");
    qdrant_client_free(c);
    c = NULL;
    o.url = "ftp://x";
    is_int(qdrant_client_new(&c, &o), QDRANT_EINVAL, "non-http URL refused");
    o.url = "http://x";
    o.api_key = "a\r\nX-Evil: 1";
    is_int(qdrant_client_new(&c, &o), QDRANT_EINVAL, "header injection in the key refused");
    ok(c == NULL, "out untouched");

    ss_step st[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nhealthz check passed", SS_KEEP, 0},
        {reply_h("429 Too Many Requests", "Retry-After: 0\r\n", "{}"), SS_KEEP, 0},
        {"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nall shards are ready", SS_KEEP, 0}};
    scripted *s = ss_start(st, 3);
    char url[160];
    snprintf(url, sizeof url, "%s/prefix/", ss_url(s));
    qdrant_client_options_init(&o, QDRANT_CLIENT_OPTIONS_VERSION);
    o.url = url;
    o.api_key = "s3cret-key";
    o.user_agent = "my-app/2";
    o.log = log_fn;
    o.retry_backoff_ms = 1;
    is_int(qdrant_client_new(&c, &o), 0, "client with prefix, key, agent, log");
    is_int(qdrant_health(c), 0, "healthz");
    is_int(qdrant_ready(c), 0, "readyz after a 429");
    is_str(ss_req(s, 0)->target, "/prefix/healthz", "path prefix kept, trailing / dropped");
    is_str(ss_req(s, 2)->target, "/prefix/readyz", "readyz path");
    char h[64];
    is_str(ss_header(ss_req(s, 0), "User-Agent", h, sizeof h), "my-app/2", "custom user agent");
    is_str(ss_header(ss_req(s, 0), "api-key", h, sizeof h), "s3cret-key", "key sent");
    ok(!logged_key, "the API key never reaches the log");
    qdrant_client_free(c);
    qdrant_client_free(NULL);
    ss_stop(s);
}

int main(void)
{
    test_collections_exact();
    test_metadata_exact();
    test_points_exact();
    test_aliases_exact();
    test_errors();
    test_retries();
    test_query_fallback();
    test_query_batch_exact();
    test_client_options();
    return tap_done();
}
