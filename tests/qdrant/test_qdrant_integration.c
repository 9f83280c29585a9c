/* Integration test: every libqdrantc call against a Qdrant server: the loopback test server
 * (tests/servers/qdrant_server.py, which checks every request against the OpenAPI document), or
 * a real Qdrant when QDRANT_TEST_URL is set. Unique collection names; everything is cleaned up.
 * When QDRANT_VIOLATIONS_FILE is set, the test also checks that it stays empty. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "qdrant/qdrant.h"
#include "servers.h"
#include "tap.h"

#define DIM 4
#define NPTS 22 /* 20 numbered points, one UUID, one id above INT64_MAX */

static qdrant_client *c;
static char coll[96], coll2[96], alias[96], alias2[96];
static qdrant_point_id ids[NPTS];
static float vecs[NPTS][DIM];
static char payloads[NPTS][160];

static const char *const colors[3] = {"red", "green", "blue"};

static void make_points(void)
{
    for (int i = 0; i < NPTS; i++) {
        if (i < 20)
            ids[i] = qdrant_point_id_num((uint64_t)i + 1);
        else if (i == 20)
            qdrant_point_id_parse(&ids[i], "6f2a1c7e-1d2b-4c3a-9e8f-0123456789ab");
        else
            ids[i] = qdrant_point_id_num(UINT64_MAX - 5);
        double a = 0.29 * i;
        vecs[i][0] = (float)cos(a);
        vecs[i][1] = (float)sin(a);
        vecs[i][2] = 0.05f * (float)i;
        vecs[i][3] = 0.5f;
        snprintf(payloads[i], sizeof payloads[i],
                 "{\"n\":%d,\"color\":\"%s\",\"even\":%s,\"name\":\"p\\u00e9-%d\"}", i,
                 colors[i % 3], i % 2 == 0 ? "true" : "false", i);
    }
}

static double cosine(const float *a, const float *b)
{
    double ab = 0, aa = 0, bb = 0;
    for (int k = 0; k < DIM; k++) {
        ab += (double)a[k] * b[k];
        aa += (double)a[k] * a[k];
        bb += (double)b[k] * b[k];
    }
    return ab / sqrt(aa * bb);
}

static int index_of(const qdrant_point_id *id)
{
    for (int i = 0; i < NPTS; i++)
        if (qdrant_point_id_equal(&ids[i], id))
            return i;
    return -1;
}

static uint64_t count(const qdrant_filter *f)
{
    uint64_t n = UINT64_MAX;
    int rc = qdrant_point_count(&n, c, coll, f);
    if (rc)
        diag("count: %d %s", rc, qdrant_client_errmsg(c));
    return n;
}

static void test_server(void)
{
    is_int(qdrant_health(c), 0, "healthz");
    is_int(qdrant_ready(c), 0, "readyz");
    qdrant_server_info *si = NULL;
    is_int(qdrant_server_info_get(&si, c), 0, "server info");
    ok(si && qdrant_server_info_version(si)[0] >= '1', "a version");
    diag("server version %s", qdrant_server_info_version(si));
    qdrant_server_info_free(si);
}

static void test_collections(void)
{
    qdrant_collection_options o = QDRANT_COLLECTION_OPTIONS_INIT;
    o.on_disk = 0;
    o.hnsw_m = 16;
    o.hnsw_ef_construct = 100;
    o.indexing_threshold = 10000;
    is_int(qdrant_collection_create(c, coll, DIM, QDRANT_DISTANCE_COSINE, &o), 0, "create");
    if (tap_failed)
        diag("%s", qdrant_client_errmsg(c));
    is_int(qdrant_collection_create(c, coll2, 2, QDRANT_DISTANCE_EUCLID, NULL), 0,
           "create with server defaults");
    is_int(qdrant_collection_create(c, coll, DIM, QDRANT_DISTANCE_COSINE, NULL), QDRANT_ECONFLICT,
           "create again: conflict");
    is_int(qdrant_client_http_status(c), 409, "409");
    int ex = -1;
    is_int(qdrant_collection_exists(&ex, c, coll), 0, "exists");
    is_int(ex, 1, "exists: yes");
    char missing[96];
    ts_unique("qc-missing", missing, sizeof missing);
    is_int(qdrant_collection_exists(&ex, c, missing), 0, "exists on a missing name");
    is_int(ex, 0, "exists: no");
    qdrant_collection_info *info = NULL;
    is_int(qdrant_collection_info_get(&info, c, coll), 0, "info");
    is_int(qdrant_collection_info_vector_size(info), DIM, "vector size");
    is_int(qdrant_collection_info_distance(info), QDRANT_DISTANCE_COSINE, "distance");
    is_int(qdrant_collection_info_points_count(info), 0, "no points yet");
    ok(qdrant_collection_info_status(info) != QDRANT_STATUS_UNKNOWN, "a known status");
    ok(strstr(qdrant_collection_info_json(info), "\"ef_construct\":100") != NULL,
       "hnsw option applied");
    qdrant_collection_info_free(info);
    is_int(qdrant_collection_info_get(&info, c, missing), QDRANT_ENOTFOUND, "info: not found");
    ok(strstr(qdrant_client_errmsg(c), "doesn't exist") != NULL, "server's message kept");
    qdrant_name_list *l = NULL;
    is_int(qdrant_collection_list_get(&l, c), 0, "list");
    ok(qdrant_name_list_contains(l, coll) && qdrant_name_list_contains(l, coll2), "both listed");
    qdrant_name_list_free(l);
    is_int(qdrant_payload_index_create(c, coll, "color", QDRANT_FIELD_KEYWORD, NULL), 0,
           "keyword index");
    is_int(qdrant_payload_index_create(c, coll, "n", QDRANT_FIELD_INTEGER, NULL), 0,
           "integer index");
    is_int(qdrant_payload_index_create(c, coll, "even", QDRANT_FIELD_BOOL, NULL), 0, "bool index");
    int existed = -1;
    is_int(qdrant_collection_delete(&existed, c, missing), 0, "delete a missing collection");
    is_int(existed, 0, "reported as not existing");
}

static void test_upsert_count(void)
{
    const char *pl[NPTS];
    for (int i = 0; i < NPTS; i++)
        pl[i] = payloads[i];
    is_int(qdrant_point_upsert(c, coll, NPTS, ids, &vecs[0][0], DIM, pl, NULL), 0, "upsert");
    if (tap_failed)
        diag("%s", qdrant_client_errmsg(c));
    is_int(qdrant_point_upsert(c, coll, NPTS, ids, &vecs[0][0], DIM, pl, NULL), 0,
           "upsert again (idempotent)");
    ok(count(NULL) == NPTS, "count all");
    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_filter_match_keyword(f, QDRANT_MUST, "color", "red");
    ok(count(f) == 8, "count red (i % 3 == 0)");
    qdrant_filter_free(f);
    float bad[3] = {1, 2, 3};
    qdrant_point_id one = qdrant_point_id_num(999);
    is_int(qdrant_point_upsert(c, coll, 1, &one, bad, 3, NULL, NULL), QDRANT_EINVAL,
           "wrong dimension refused by the server");
    ok(strstr(qdrant_client_errmsg(c), "dim") != NULL, "message mentions the dimension");
    ok(count(NULL) == NPTS, "nothing added");
}

static void test_get(void)
{
    qdrant_point_id want[3] = {ids[21], ids[20], qdrant_point_id_num(12345)};
    qdrant_point_list *l = NULL;
    is_int(qdrant_point_get(&l, c, coll, want, 3, 1, 1), 0, "get");
    is_int(qdrant_point_list_count(l), 2, "missing id left out");
    int seen_big = 0, seen_uuid = 0;
    for (size_t i = 0; i < qdrant_point_list_count(l); i++) {
        int k = index_of(qdrant_point_list_id(l, i));
        if (k == 21)
            seen_big = 1;
        if (k == 20)
            seen_uuid = 1;
        const char *p = qdrant_point_list_payload(l, i);
        char needle[32];
        snprintf(needle, sizeof needle, "\"n\":%d", k);
        ok(p && strstr(p, needle), "payload round trip");
        ok(p && strstr(p, "p\xc3\xa9-"), "UTF-8 in payload");
        size_t dim = 0;
        const float *v = qdrant_point_list_vector(l, i, &dim);
        /* Cosine collections store normalised vectors: compare directions. */
        ok(v && dim == DIM && k >= 0 && fabs(cosine(v, vecs[k]) - 1.0) < 1e-5, "vector back");
    }
    ok(seen_big && seen_uuid, "id above INT64_MAX and UUID id both back exactly");
    qdrant_point_list_free(l);
}

static void test_query(void)
{
    float q[DIM] = {1.0f, 0.2f, 0.3f, 0.5f};
    /* expected order: by cosine, ties by nothing (none expected) */
    int order[NPTS];
    double score[NPTS];
    for (int i = 0; i < NPTS; i++) {
        order[i] = i;
        score[i] = cosine(q, vecs[i]);
    }
    for (int i = 0; i < NPTS; i++)
        for (int j = i + 1; j < NPTS; j++)
            if (score[order[j]] > score[order[i]]) {
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
    qdrant_query_options o = QDRANT_QUERY_OPTIONS_INIT;
    o.limit = 5;
    o.with_vector = 0;
    qdrant_point_list *l = NULL;
    is_int(qdrant_point_query(&l, c, coll, q, DIM, &o), 0, "query");
    is_int(qdrant_point_list_count(l), 5, "limit 5");
    int good_order = 1, good_scores = 1;
    for (size_t i = 0; i < qdrant_point_list_count(l); i++) {
        int k = index_of(qdrant_point_list_id(l, i));
        if (k != order[i])
            good_order = 0;
        if (fabs(qdrant_point_list_score(l, i) - score[order[i]]) > 1e-4)
            good_scores = 0;
    }
    ok(good_order, "results in cosine order");
    ok(good_scores, "scores match cosine similarity");
    ok(qdrant_point_list_payload(l, 0) != NULL, "payload by default");
    ok(qdrant_point_list_vector(l, 0, NULL) == NULL, "no vector unless asked");
    qdrant_point_list_free(l);

    o.offset = 2;
    o.limit = 3;
    is_int(qdrant_point_query(&l, c, coll, q, DIM, &o), 0, "query with offset");
    ok(qdrant_point_list_count(l) == 3 && index_of(qdrant_point_list_id(l, 0)) == order[2],
       "offset skips the first two");
    qdrant_point_list_free(l);

    o.offset = 0;
    o.limit = 50;
    o.use_score_threshold = 1;
    o.score_threshold = (float)score[order[3]] - 1e-4f;
    is_int(qdrant_point_query(&l, c, coll, q, DIM, &o), 0, "query with score threshold");
    is_int(qdrant_point_list_count(l), 4, "only the four best pass");
    qdrant_point_list_free(l);

    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_filter_match_keyword(f, QDRANT_MUST, "color", "green");
    qdrant_filter_match_bool(f, QDRANT_MUST_NOT, "even", 1);
    qdrant_query_options fo = QDRANT_QUERY_OPTIONS_INIT;
    fo.filter = f;
    fo.limit = 50;
    fo.with_payload = 0;
    fo.with_vector = 1;
    is_int(qdrant_point_query(&l, c, coll, q, DIM, &fo), 0, "filtered query");
    int all_match = qdrant_point_list_count(l) > 0;
    for (size_t i = 0; i < qdrant_point_list_count(l); i++) {
        int k = index_of(qdrant_point_list_id(l, i));
        if (k < 0 || k % 3 != 1 || k % 2 == 0)
            all_match = 0;
    }
    ok(all_match, "green and odd only");
    is_int(qdrant_point_list_count(l), 4, "i in {1, 7, 13, 19}");
    ok(qdrant_point_list_payload(l, 0) == NULL, "no payload when not asked");
    ok(qdrant_point_list_vector(l, 0, NULL) != NULL, "vector when asked");
    qdrant_point_list_free(l);
    qdrant_filter_free(f);

    float wrong[2] = {1, 0};
    is_int(qdrant_point_query(&l, c, coll, wrong, 2, NULL), QDRANT_EINVAL, "wrong dimension");
    ok(strstr(qdrant_client_errmsg(c), "dim") != NULL, "dimension message");
    char missing[96];
    ts_unique("qc-missing", missing, sizeof missing);
    is_int(qdrant_point_query(&l, c, missing, q, DIM, NULL), QDRANT_ENOTFOUND,
           "query on an unknown collection");
}

static int seen[NPTS];
static int stop_after;
static int on_point(const qdrant_point_list *page, size_t i, void *ud)
{
    int *n = ud;
    (*n)++;
    int k = index_of(qdrant_point_list_id(page, i));
    if (k >= 0)
        seen[k]++;
    return stop_after && *n >= stop_after;
}

static void test_scroll(void)
{
    qdrant_scroll_options o = QDRANT_SCROLL_OPTIONS_INIT;
    o.limit = 7;
    qdrant_point_id next;
    int pages = 0, total = 0, dup = 0;
    memset(seen, 0, sizeof seen);
    for (;;) {
        qdrant_point_list *l = NULL;
        int rc = qdrant_point_scroll(&l, c, coll, &o);
        if (rc) {
            is_int(rc, 0, "scroll page");
            break;
        }
        pages++;
        for (size_t i = 0; i < qdrant_point_list_count(l); i++) {
            int k = index_of(qdrant_point_list_id(l, i));
            if (k >= 0 && seen[k]++)
                dup = 1;
            total++;
        }
        const qdrant_point_id *np = qdrant_point_list_next_page(l);
        if (np)
            next = *np;
        qdrant_point_list_free(l);
        if (!np || pages > 10)
            break;
        o.offset = &next;
    }
    is_int(total, NPTS, "scroll saw every point");
    is_int(pages, 4, "in pages of 7");
    ok(!dup, "no point twice");

    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_range r = {QDRANT_RANGE_GTE | QDRANT_RANGE_LT, 0, 5, 10, 0};
    qdrant_filter_range(f, QDRANT_MUST, "n", &r);
    qdrant_scroll_options fo = QDRANT_SCROLL_OPTIONS_INIT;
    fo.filter = f;
    fo.limit = 100;
    qdrant_point_list *l = NULL;
    is_int(qdrant_point_scroll(&l, c, coll, &fo), 0, "scroll with a range filter");
    is_int(qdrant_point_list_count(l), 5, "n in [5, 10)");
    ok(qdrant_point_list_next_page(l) == NULL, "single page");
    qdrant_point_list_free(l);
    qdrant_filter_free(f);

    int n = 0;
    memset(seen, 0, sizeof seen);
    qdrant_scroll_options eo = QDRANT_SCROLL_OPTIONS_INIT;
    eo.limit = 5;
    eo.with_payload = 0;
    is_int(qdrant_point_scroll_each(c, coll, &eo, on_point, &n), 0, "scroll_each");
    is_int(n, NPTS, "every point once");
    n = 0;
    stop_after = 3;
    is_int(qdrant_point_scroll_each(c, coll, &eo, on_point, &n), QDRANT_ESTOPPED,
           "scroll_each stopped by the callback");
    is_int(n, 3, "stopped at once");
    stop_after = 0;
}

static void test_filters_delete(void)
{
    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_point_id some[3] = {ids[0], ids[20], ids[21]};
    qdrant_filter_has_id(f, QDRANT_MUST, some, 3);
    ok(count(f) == 3, "has_id");
    qdrant_filter_free(f);

    qdrant_filter_new(&f);
    qdrant_filter_match_int(f, QDRANT_SHOULD, "n", 4);
    qdrant_filter_match_int(f, QDRANT_SHOULD, "n", 5);
    ok(count(f) == 2, "should: either value");
    qdrant_filter_free(f);

    qdrant_filter_new(&f);
    qdrant_filter_raw(f, QDRANT_MUST, "{\"key\":\"n\",\"range\":{\"gte\":18}}");
    qdrant_filter_match_keyword(f, QDRANT_MUST_NOT, "color", "red");
    ok(count(f) == 2, "raw condition + must_not: n >= 18 and not red leaves 19, 20");
    qdrant_filter_free(f);

    qdrant_point_id del[2] = {ids[0], ids[21]};
    is_int(qdrant_point_delete(c, coll, del, 2, NULL), 0, "delete by ids");
    ok(count(NULL) == NPTS - 2, "two fewer");
    is_int(qdrant_point_delete(c, coll, del, 2, NULL), 0, "deleting again is harmless");

    qdrant_filter_new(&f);
    qdrant_filter_match_keyword(f, QDRANT_MUST, "color", "blue");
    uint64_t blue = count(f);
    qdrant_write_options w = QDRANT_WRITE_OPTIONS_INIT;
    w.ordering = QDRANT_ORDERING_STRONG;
    is_int(qdrant_point_delete_by_filter(c, coll, f, &w), 0, "delete by filter");
    ok(count(f) == 0, "no blue left");
    ok(blue > 0 && count(NULL) == NPTS - 2 - blue, "the rest stays");
    qdrant_filter_free(f);
    char missing[96];
    ts_unique("qc-missing", missing, sizeof missing);
    uint64_t n;
    is_int(qdrant_point_count(&n, c, missing, NULL), QDRANT_ENOTFOUND, "count: unknown coll");
}

static void test_aliases(void)
{
    is_int(qdrant_alias_switch(c, alias, coll), 0, "switch a new alias");
    qdrant_alias_list *l = NULL;
    is_int(qdrant_collection_alias_list_get(&l, c, coll), 0, "aliases of the collection");
    is_str(qdrant_alias_list_find(l, alias), coll, "alias points at coll");
    qdrant_alias_list_free(l);
    uint64_t n = 0;
    is_int(qdrant_point_count(&n, c, alias, NULL), 0, "count through the alias");
    is_int(qdrant_alias_switch(c, alias, coll2), 0, "switch to coll2 (delete + create)");
    is_int(qdrant_alias_list_get(&l, c), 0, "all aliases");
    is_str(qdrant_alias_list_find(l, alias), coll2, "alias now points at coll2");
    qdrant_alias_list_free(l);
    is_int(qdrant_point_count(&n, c, alias, NULL), 0, "count through the switched alias");
    is_int(n, 0, "coll2 is empty");
    is_int(qdrant_alias_rename(c, alias, alias2), 0, "rename");
    is_int(qdrant_alias_list_get(&l, c), 0, "all aliases again");
    ok(qdrant_alias_list_find(l, alias) == NULL, "old name gone");
    is_str(qdrant_alias_list_find(l, alias2), coll2, "new name there");
    qdrant_alias_list_free(l);
    is_int(qdrant_alias_create(c, alias, coll), 0, "create");
    char missing[96];
    ts_unique("qc-missing", missing, sizeof missing);
    is_int(qdrant_alias_create(c, alias, missing), QDRANT_ENOTFOUND,
           "alias to a missing collection");
    is_int(qdrant_alias_delete(c, alias), 0, "delete alias");
    is_int(qdrant_alias_delete(c, alias2), 0, "delete alias2");
    is_int(qdrant_collection_alias_list_get(&l, c, coll2), 0, "aliases of coll2");
    is_int(qdrant_alias_list_count(l), 0, "none left");
    qdrant_alias_list_free(l);
}

static void cleanup(void)
{
    int existed = -1;
    is_int(qdrant_collection_delete(&existed, c, coll), 0, "delete collection");
    is_int(existed, 1, "it existed");
    is_int(qdrant_collection_delete(&existed, c, coll2), 0, "delete collection 2");
    is_int(existed, 1, "it existed");
    qdrant_alias_delete(c, alias);
    qdrant_alias_delete(c, alias2);
}

int main(void)
{
    const char *url = ts_qdrant_url();
    if (!url)
        skip_all("no Qdrant server (set QDRANT_TEST_URL or install python3-jsonschema)");
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = url;
    o.api_key = getenv("QDRANT_TEST_API_KEY");
    o.request_timeout_ms = 60000;
    if (qdrant_client_new(&c, &o) != 0) {
        ok(0, "client");
        return tap_done();
    }
    ts_unique("qc-it", coll, sizeof coll);
    ts_unique("qc-it2", coll2, sizeof coll2);
    ts_unique("qc-alias", alias, sizeof alias);
    ts_unique("qc-alias2", alias2, sizeof alias2);
    make_points();
    test_server();
    test_collections();
    test_upsert_count();
    test_get();
    test_query();
    test_scroll();
    test_filters_delete();
    test_aliases();
    cleanup();
    qdrant_client_free(c);
    const char *vf = getenv("QDRANT_VIOLATIONS_FILE");
    if (vf && *vf) {
        struct stat st;
        ok(stat(vf, &st) != 0 || st.st_size == 0, "no OpenAPI violations recorded");
    }
    return tap_done();
}
