/* Parity: one set of cases run through the same public calls against both backends in one
 * process — local mode on a temporary directory and a server (the loopback test server, or the
 * Qdrant named by QDRANT_TEST_URL) — comparing what they answer (ids, order, scores within
 * 1e-6, payloads, vectors, paging, counts, alias lists, error codes and messages), plus absolute
 * checks against references computed here in double precision. */
#include <json-c/json.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "qdrant/qdrant.h"
#include "servers.h"
#include "tap.h"

#define DIM 6
#define NPTS 40 /* 36 numbered, 3 UUIDs, one id above INT64_MAX */
#define NB 2    /* backends: 0 local, 1 server */

static const char *const bname[NB] = {"local", "server"};
static qdrant_client *cl[NB];
static char local_url[200]; /* to reopen the local store */
static int local_scan;
static char coll[4][96]; /* one per distance: Cosine, Dot, Euclid, Manhattan */
static char alias[96], missing[96];
static const qdrant_distance dists[4] = {QDRANT_DISTANCE_COSINE, QDRANT_DISTANCE_DOT,
                                         QDRANT_DISTANCE_EUCLID, QDRANT_DISTANCE_MANHATTAN};
static const char *const dnames[4] = {"Cosine", "Dot", "Euclid", "Manhattan"};

static qdrant_point_id ids[NPTS];
static float vecs[NPTS][DIM];
static char payloads[NPTS][200];
static const char *pls[NPTS];
static int alive[NPTS]; /* not deleted yet */
static const char *const colors[3] = {"red", "green", "blue"};

/* ---- data and references ---------------------------------------------------------------- */

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void) /* [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void make_points(void)
{
    static const char *const uuids[3] = {"0a2a1c7e-1d2b-4c3a-9e8f-0123456789ab",
                                         "f6b0a3c4-5d6e-4f70-8192-a3b4c5d6e7f8",
                                         "7c9e6679-7425-40de-944b-e07fc1f90ae7"};
    for (int i = 0; i < NPTS; i++) {
        if (i < 36)
            ids[i] = qdrant_point_id_num((uint64_t)i * 3 + 1);
        else if (i < 39)
            qdrant_point_id_parse(&ids[i], uuids[i - 36]);
        else
            ids[i] = qdrant_point_id_num(UINT64_MAX - 5);
        for (int k = 0; k < DIM; k++)
            vecs[i][k] = frand();
        snprintf(payloads[i], sizeof payloads[i],
                 "{\"n\":%d,\"color\":\"%s\",\"even\":%s,\"price\":%g,\"name\":\"p\\u00e9-%d\","
                 "\"tags\":[\"t%d\",\"all\"],\"nested\":{\"k\":%d}}",
                 i, colors[i % 3], i % 2 == 0 ? "true" : "false", i * 0.5, i, i % 4, i % 5);
        pls[i] = payloads[i];
        alive[i] = 1;
    }
}

static int index_of(const qdrant_point_id *id)
{
    for (int i = 0; id && i < NPTS; i++)
        if (qdrant_point_id_equal(&ids[i], id))
            return i;
    return -1;
}

static double ref_score(int d, const float *q, const float *v)
{
    double s = 0, qq = 0, vv = 0;
    for (int k = 0; k < DIM; k++) {
        double x = (double)q[k] - v[k];
        if (d <= 1)
            s += (double)q[k] * v[k];
        else if (d == 2)
            s += x * x;
        else
            s += fabs(x);
        qq += (double)q[k] * q[k];
        vv += (double)v[k] * v[k];
    }
    if (d == 0)
        return s / sqrt(qq * vv);
    return d == 2 ? sqrt(s) : s;
}

static int better(int d, double a, double b)
{
    return d <= 1 ? a > b : a < b;
}

/* The filters used below, and the same predicates evaluated here. */
enum { F_NONE, F_RED, F_RANGE_ODD, F_BLUE_OR_IDS, F_NESTED_TAGS, F_COUNT };

static qdrant_filter *make_filter(int which)
{
    if (which == F_NONE)
        return NULL;
    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    if (which == F_RED) {
        qdrant_filter_match_keyword(f, QDRANT_MUST, "color", "red");
    } else if (which == F_RANGE_ODD) {
        qdrant_range r = {QDRANT_RANGE_GTE | QDRANT_RANGE_LT, 0, 5, 30, 0};
        qdrant_filter_range(f, QDRANT_MUST, "n", &r);
        qdrant_filter_match_bool(f, QDRANT_MUST_NOT, "even", 1);
    } else if (which == F_BLUE_OR_IDS) {
        qdrant_filter_match_keyword(f, QDRANT_SHOULD, "color", "blue");
        qdrant_filter_has_id(f, QDRANT_SHOULD, ids, 5);
        qdrant_filter_has_id(f, QDRANT_SHOULD, &ids[37], 1);
    } else {
        qdrant_filter_match_keyword(f, QDRANT_MUST, "tags", "t1");
        qdrant_filter_raw(f, QDRANT_MUST_NOT, "{\"key\":\"nested.k\",\"match\":{\"any\":[0,2]}}");
    }
    return f;
}

static int ref_match(int which, int i)
{
    switch (which) {
    case F_RED:
        return i % 3 == 0;
    case F_RANGE_ODD:
        return i >= 5 && i < 30 && i % 2 == 1;
    case F_BLUE_OR_IDS:
        return i % 3 == 2 || i < 5 || i == 37;
    case F_NESTED_TAGS:
        return i % 4 == 1 && i % 5 != 0 && i % 5 != 2;
    default:
        return 1;
    }
}

/* The reference ranking: indices of live matching points, best first, ties by id order. */
static int ref_rank(int *out, int d, const float *q, int which)
{
    int n = 0;
    double sc[NPTS];
    for (int i = 0; i < NPTS; i++)
        if (alive[i] && ref_match(which, i)) {
            sc[i] = ref_score(d, q, vecs[i]);
            out[n++] = i;
        }
    for (int a = 1; a < n; a++) /* insertion sort */
        for (int b = a; b > 0 && better(d, sc[out[b]], sc[out[b - 1]]); b--) {
            int t = out[b];
            out[b] = out[b - 1];
            out[b - 1] = t;
        }
    return n;
}

/* ---- comparisons ------------------------------------------------------------------------- */

static int close_enough(double a, double b)
{
    double m = fabs(a) > 1 ? fabs(a) : 1;
    return fabs(a - b) <= 1e-6 * m;
}

static int json_same(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    json_object *x = json_tokener_parse(a), *y = json_tokener_parse(b);
    int same = x && y && json_object_equal(x, y);
    json_object_put(x);
    json_object_put(y);
    return same;
}

/* Both lists the same: ids in order, scores within 1e-6, payloads as JSON, vectors, paging. */
static int same_lists(const qdrant_point_list *a, const qdrant_point_list *b, double *max_diff)
{
    size_t n = qdrant_point_list_count(a);
    if (!a || !b || n != qdrant_point_list_count(b)) {
        diag("  counts differ: %zu vs %zu", n, qdrant_point_list_count(b));
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char s1[QDRANT_POINT_ID_STRLEN] = "", s2[QDRANT_POINT_ID_STRLEN] = "";
        qdrant_point_id_format(s1, sizeof s1, qdrant_point_list_id(a, i));
        qdrant_point_id_format(s2, sizeof s2, qdrant_point_list_id(b, i));
        if (strcmp(s1, s2) != 0) {
            diag("  #%zu: id %s vs %s", i, s1, s2);
            return 0;
        }
        double sa = qdrant_point_list_score(a, i), sb = qdrant_point_list_score(b, i);
        if (max_diff && fabs(sa - sb) > *max_diff)
            *max_diff = fabs(sa - sb);
        if (!close_enough(sa, sb)) {
            diag("  #%zu (%s): score %.9g vs %.9g", i, s1, sa, sb);
            return 0;
        }
        if (!json_same(qdrant_point_list_payload(a, i), qdrant_point_list_payload(b, i))) {
            diag("  #%zu (%s): payload %s vs %s", i, s1, qdrant_point_list_payload(a, i),
                 qdrant_point_list_payload(b, i));
            return 0;
        }
        size_t da = 0, db = 0;
        const float *va = qdrant_point_list_vector(a, i, &da);
        const float *vb = qdrant_point_list_vector(b, i, &db);
        if (da != db || (va == NULL) != (vb == NULL)) {
            diag("  #%zu (%s): vector dims %zu vs %zu", i, s1, da, db);
            return 0;
        }
        for (size_t k = 0; k < da; k++)
            if (!close_enough(va[k], vb[k])) {
                diag("  #%zu (%s): vector[%zu] %.9g vs %.9g", i, s1, k, va[k], vb[k]);
                return 0;
            }
    }
    const qdrant_point_id *na = qdrant_point_list_next_page(a),
                          *nb = qdrant_point_list_next_page(b);
    if ((na == NULL) != (nb == NULL) || (na && !qdrant_point_id_equal(na, nb))) {
        diag("  next pages differ");
        return 0;
    }
    return 1;
}

static double max_score_diff;

/* Runs a query on both backends, compares them, and checks the local answer against the
 * reference (ids: the reference ranking sliced by offset/limit/threshold; scores). */
static void query_case(int d, const char *target, const float *q, int which, uint32_t limit,
                       uint32_t offset, int use_thr, float thr, int with_vector, const char *what)
{
    qdrant_point_list *r[NB] = {NULL, NULL};
    qdrant_filter *f = make_filter(which);
    qdrant_query_options o = QDRANT_QUERY_OPTIONS_INIT;
    o.limit = limit;
    o.offset = offset;
    o.filter = f;
    o.use_score_threshold = use_thr;
    o.score_threshold = thr;
    o.with_vector = with_vector;
    int rc[NB];
    for (int b = 0; b < NB; b++) {
        rc[b] = qdrant_point_query(&r[b], cl[b], target, q, DIM, &o);
        if (rc[b])
            diag("%s %s: %d %s", bname[b], what, rc[b], qdrant_client_errmsg(cl[b]));
    }
    char label[200];
    snprintf(label, sizeof label, "%s %s: both answer, the same", dnames[d], what);
    ok(rc[0] == 0 && rc[1] == 0 && same_lists(r[0], r[1], &max_score_diff), label);

    int rank[NPTS], n = ref_rank(rank, d, q, which), want = 0, good = 1;
    for (int k = (int)offset; k < n && want < (int)limit; k++) {
        double s = ref_score(d, q, vecs[rank[k]]);
        if (use_thr && !better(d, s, thr))
            break;
        const qdrant_point_id *got = qdrant_point_list_id(r[0], (size_t)want);
        double gs = qdrant_point_list_score(r[0], (size_t)want);
        if (index_of(got) != rank[k] || fabs(gs - s) > 1e-5 * (fabs(s) > 1 ? fabs(s) : 1)) {
            diag("  #%d: got index %d score %.9g, want %d score %.9g", want, index_of(got), gs,
                 rank[k], s);
            good = 0;
        }
        want++;
    }
    snprintf(label, sizeof label, "%s %s: %d results, the reference ranking and scores", dnames[d],
             what, want);
    ok(good && qdrant_point_list_count(r[0]) == (size_t)want, label);
    for (int b = 0; b < NB; b++)
        qdrant_point_list_free(r[b]);
    qdrant_filter_free(f);
}

/* ---- cases ------------------------------------------------------------------------------- */

static void test_create(void)
{
    for (int b = 0; b < NB; b++)
        for (int d = 0; d < 4; d++) {
            qdrant_collection_options o = QDRANT_COLLECTION_OPTIONS_INIT;
            o.hnsw_m = 8; /* accepted by both; ignored by local mode */
            char label[128];
            snprintf(label, sizeof label, "%s: create %s collection", bname[b], dnames[d]);
            is_int(qdrant_collection_create(cl[b], coll[d], DIM, dists[d], &o), 0, label);
        }
    for (int b = 0; b < NB; b++) {
        qdrant_collection_info *info = NULL;
        ok(qdrant_collection_info_get(&info, cl[b], coll[2]) == 0 &&
               qdrant_collection_info_vector_size(info) == DIM &&
               qdrant_collection_info_distance(info) == QDRANT_DISTANCE_EUCLID &&
               qdrant_collection_info_points_count(info) == 0,
           bname[b]);
        qdrant_collection_info_free(info);
    }
    for (int d = 0; d < 4; d++) {
        int hit[NB] = {0, 0};
        for (int b = 0; b < NB; b++) {
            qdrant_name_list *l = NULL;
            if (qdrant_collection_list_get(&l, cl[b]) == 0)
                hit[b] = qdrant_name_list_contains(l, coll[d]);
            qdrant_name_list_free(l);
        }
        ok(hit[0] && hit[1], "listed by both");
    }
}

static void test_upsert(void)
{
    for (int b = 0; b < NB; b++)
        for (int d = 0; d < 4; d++) {
            /* the first 24 in one upsert, the rest through the uploader in batches of 5 */
            int rc = qdrant_point_upsert(cl[b], coll[d], 24, ids, &vecs[0][0], DIM, pls, NULL);
            qdrant_upload_options uo = QDRANT_UPLOAD_OPTIONS_INIT;
            uo.batch_points = 5;
            qdrant_upload_result *res = NULL;
            int rc2 = rc ? rc
                         : qdrant_point_upload(&res, cl[b], coll[d], NPTS - 24, ids + 24,
                                               &vecs[24][0], DIM, pls + 24, &uo);
            if (rc || rc2)
                diag("%s: %d %d %s", bname[b], rc, rc2, qdrant_client_errmsg(cl[b]));
            ok(rc == 0 && rc2 == 0 && qdrant_upload_result_failed_count(res) == 0,
               "upsert + upload");
            qdrant_upload_result_free(res);
        }
    /* overwrite by id: point 0 gets point 1's vector and a new payload, then its own back */
    const char *np = "{\"n\":0,\"color\":\"red\",\"even\":true,\"price\":0,\"name\":\"new\","
                     "\"tags\":[\"t0\",\"all\"],\"nested\":{\"k\":0}}";
    for (int b = 0; b < NB; b++) {
        ok(qdrant_point_upsert(cl[b], coll[1], 1, ids, vecs[1], DIM, &np, NULL) == 0,
           "overwrite point 0");
    }
    qdrant_point_list *g[NB] = {NULL, NULL};
    qdrant_point_id want[4] = {ids[0], ids[37], qdrant_point_id_num(2), ids[0]};
    for (int b = 0; b < NB; b++)
        if (qdrant_point_get(&g[b], cl[b], coll[1], want, 4, 1, 1))
            diag("%s get: %s", bname[b], qdrant_client_errmsg(cl[b]));
    ok(same_lists(g[0], g[1], NULL), "get (a missing id, a repeated id): the same");
    ok(qdrant_point_list_count(g[0]) == 2 &&
           strstr(qdrant_point_list_payload(g[0], 0), "\"new\"") &&
           qdrant_point_list_vector(g[0], 0, NULL) &&
           qdrant_point_list_vector(g[0], 0, NULL)[3] == vecs[1][3],
       "  the overwrite took: new payload and vector");
    for (int b = 0; b < NB; b++) {
        qdrant_point_list_free(g[b]);
        ok(qdrant_point_upsert(cl[b], coll[1], 1, ids, vecs[0], DIM, pls, NULL) == 0, "  and back");
        uint64_t n = 0;
        ok(qdrant_point_count(&n, cl[b], coll[1], NULL) == 0 && n == NPTS, "  count unchanged");
    }
}

static void test_queries(void)
{
    float q[DIM];
    for (int round = 0; round < 2; round++) {
        for (int k = 0; k < DIM; k++)
            q[k] = frand();
        for (int d = 0; d < 4; d++) {
            query_case(d, coll[d], q, F_NONE, 5, 0, 0, 0, 0, "top 5");
            query_case(d, coll[d], q, F_NONE, 100, 0, 0, 0, 0, "full ranking");
            query_case(d, coll[d], q, F_NONE, 4, 3, 0, 0, 0, "offset 3, limit 4");
            query_case(d, coll[d], q, F_NONE, 3, 0, 0, 0, 1, "with vectors");
            for (int f = F_RED; f < F_COUNT; f++) {
                char what[64];
                snprintf(what, sizeof what, "filter %d", f);
                query_case(d, coll[d], q, f, 6, 0, 0, 0, 0, what);
                snprintf(what, sizeof what, "filter %d, offset 2", f);
                query_case(d, coll[d], q, f, 3, 2, 0, 0, 0, what);
            }
            /* a threshold halfway between the 6th and 7th best scores */
            int rank[NPTS];
            ref_rank(rank, d, q, F_NONE);
            float thr =
                (float)((ref_score(d, q, vecs[rank[5]]) + ref_score(d, q, vecs[rank[6]])) / 2);
            query_case(d, coll[d], q, F_NONE, 20, 0, 1, thr, 0, "score threshold");
            ref_rank(rank, d, q, F_RED);
            thr = (float)((ref_score(d, q, vecs[rank[1]]) + ref_score(d, q, vecs[rank[2]])) / 2);
            query_case(d, coll[d], q, F_RED, 20, 0, 1, thr, 0, "threshold + filter");
        }
    }
    diag("largest score difference between the backends: %.3g", max_score_diff);
}

static int cmp_ids(const void *a, const void *b)
{
    const qdrant_point_id *x = &ids[*(const int *)a], *y = &ids[*(const int *)b];
    if (x->kind != y->kind)
        return x->kind == QDRANT_ID_NUM ? -1 : 1;
    if (x->kind == QDRANT_ID_NUM)
        return x->num < y->num ? -1 : x->num > y->num;
    return memcmp(x->uuid, y->uuid, 16);
}

static void test_scroll_count(void)
{
    for (int which = F_NONE; which < F_COUNT; which++) {
        qdrant_filter *f = make_filter(which);
        int order[NPTS], n = 0;
        for (int i = 0; i < NPTS; i++)
            if (alive[i] && ref_match(which, i))
                order[n++] = i;
        qsort(order, (size_t)n, sizeof order[0], cmp_ids);
        qdrant_scroll_options o = QDRANT_SCROLL_OPTIONS_INIT;
        o.limit = 7;
        o.filter = f;
        qdrant_point_id next[NB];
        int same = 1, seen = 0, inorder = 1, pages = 0;
        for (;;) {
            qdrant_point_list *p[NB] = {NULL, NULL};
            int rc0 = qdrant_point_scroll(&p[0], cl[0], coll[0], &o);
            o.offset = o.offset ? &next[1] : NULL;
            int rc1 = qdrant_point_scroll(&p[1], cl[1], coll[0], &o);
            if (rc0 || rc1 || !same_lists(p[0], p[1], NULL)) {
                diag("scroll: %d %d %s", rc0, rc1, qdrant_client_errmsg(cl[0]));
                same = 0;
            }
            for (size_t i = 0; i < qdrant_point_list_count(p[0]); i++, seen++)
                if (seen >= n || index_of(qdrant_point_list_id(p[0], i)) != order[seen])
                    inorder = 0;
            pages++;
            const qdrant_point_id *n0 = qdrant_point_list_next_page(p[0]);
            const qdrant_point_id *n1 = qdrant_point_list_next_page(p[1]);
            if (n0)
                next[0] = *n0;
            if (n1)
                next[1] = *n1;
            qdrant_point_list_free(p[0]);
            qdrant_point_list_free(p[1]);
            if (!n0 || !n1 || !same || pages > 20)
                break;
            o.offset = &next[0];
        }
        char label[128];
        snprintf(label, sizeof label, "scroll, filter %d: the same pages of 7 on both", which);
        ok(same, label);
        snprintf(label, sizeof label, "  %d points in Qdrant's id order, %d pages", n, pages);
        ok(inorder && seen == n && pages == (n ? (n + 6) / 7 : 1), label);
        for (int b = 0; b < NB; b++) {
            uint64_t c = UINT64_MAX;
            int rc = qdrant_point_count(&c, cl[b], coll[0], f);
            snprintf(label, sizeof label, "%s: count, filter %d = %d", bname[b], which, n);
            ok(rc == 0 && c == (uint64_t)n, label);
        }
        qdrant_filter_free(f);
    }
}

static void test_deletes(void)
{
    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_filter_match_keyword(f, QDRANT_MUST, "color", "green");
    for (int b = 0; b < NB; b++)
        for (int d = 0; d < 4; d++)
            ok(qdrant_point_delete_by_filter(cl[b], coll[d], f, NULL) == 0, "delete by filter");
    qdrant_filter_free(f);
    int n = 0;
    for (int i = 0; i < NPTS; i++) {
        if (i % 3 == 1)
            alive[i] = 0;
        n += alive[i];
    }
    qdrant_point_id del[2] = {ids[0], ids[38]};
    for (int b = 0; b < NB; b++)
        for (int d = 0; d < 4; d++)
            ok(qdrant_point_delete(cl[b], coll[d], del, 2, NULL) == 0, "delete by ids");
    alive[0] = alive[38] = 0;
    n -= 2;
    for (int b = 0; b < NB; b++) {
        uint64_t c = 0;
        char label[96];
        snprintf(label, sizeof label, "%s: %d points left", bname[b], n);
        ok(qdrant_point_count(&c, cl[b], coll[3], NULL) == 0 && c == (uint64_t)n, label);
    }
    float q[DIM] = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f};
    for (int d = 0; d < 4; d++)
        query_case(d, coll[d], q, F_NONE, 100, 0, 0, 0, 0, "after the deletes");
    test_scroll_count();
}

static void test_aliases(void)
{
    float q[DIM] = {0.3f, 0.1f, -0.4f, 0.2f, 0.0f, -0.1f};
    for (int b = 0; b < NB; b++) {
        is_int(qdrant_alias_switch(cl[b], alias, coll[0]), 0, "switch (create) alias -> Cosine");
        is_int(qdrant_alias_switch(cl[b], alias, coll[1]), 0, "switch alias -> Dot");
    }
    query_case(1, alias, q, F_RED, 5, 0, 0, 0, 0, "through the alias");
    qdrant_alias_list *l[NB] = {NULL, NULL}, *m[NB] = {NULL, NULL};
    for (int b = 0; b < NB; b++) {
        ok(qdrant_alias_list_get(&l[b], cl[b]) == 0 && qdrant_alias_list_find(l[b], alias) &&
               strcmp(qdrant_alias_list_find(l[b], alias), coll[1]) == 0,
           "alias listed, pointing at Dot");
        ok(qdrant_collection_alias_list_get(&m[b], cl[b], coll[1]) == 0, "collection aliases");
    }
    int same = qdrant_alias_list_count(m[0]) == qdrant_alias_list_count(m[1]);
    for (size_t i = 0; same && i < qdrant_alias_list_count(m[0]); i++)
        same =
            !strcmp(qdrant_alias_list_alias(m[0], i), qdrant_alias_list_alias(m[1], i)) &&
            !strcmp(qdrant_alias_list_collection(m[0], i), qdrant_alias_list_collection(m[1], i));
    ok(same && qdrant_alias_list_count(m[0]) == 1, "the Dot collection's aliases: the same");
    for (int b = 0; b < NB; b++) {
        qdrant_alias_list_free(l[b]);
        qdrant_alias_list_free(m[b]);
        ok(qdrant_collection_alias_list_get(&m[b], cl[b], coll[0]) == 0 &&
               qdrant_alias_list_count(m[b]) == 0,
           "  none left on Cosine");
        qdrant_alias_list_free(m[b]);
        int ex = 0;
        ok(qdrant_collection_exists(&ex, cl[b], alias) == 0 && ex == 1, "  an alias exists");
    }
}

/* The same call on both: the same error code (and, where the server's text is Qdrant's, the
 * same message). */
#define BOTH(expr_b, want, what, same_msg)                                                         \
    do {                                                                                           \
        int r_[NB];                                                                                \
        for (int b = 0; b < NB; b++)                                                               \
            r_[b] = (expr_b);                                                                      \
        char l_[200];                                                                              \
        snprintf(l_, sizeof l_, "%s: %s on both", what, qdrant_strerror(want));                    \
        ok(r_[0] == (want) && r_[1] == (want), l_);                                                \
        if (r_[0] != (want) || r_[1] != (want))                                                    \
            diag("  got %d (%s) / %d (%s)", r_[0], qdrant_client_errmsg(cl[0]), r_[1],             \
                 qdrant_client_errmsg(cl[1]));                                                     \
        if (same_msg)                                                                              \
            is_str(qdrant_client_errmsg(cl[0]), qdrant_client_errmsg(cl[1]), "  same message");    \
    } while (0)

static void test_errors(void)
{
    float v[DIM + 1] = {0};
    qdrant_point_id id = qdrant_point_id_num(1);
    qdrant_point_list *pl = NULL;
    qdrant_collection_info *info = NULL;
    uint64_t n = 0;
    BOTH(qdrant_point_upsert(cl[b], coll[0], 1, &id, v, DIM + 1, NULL, NULL), QDRANT_EINVAL,
         "upsert of the wrong dimension", 1);
    BOTH(qdrant_point_query(&pl, cl[b], coll[0], v, DIM - 1, NULL), QDRANT_EINVAL,
         "query of the wrong dimension", 1);
    BOTH(qdrant_collection_info_get(&info, cl[b], missing), QDRANT_ENOTFOUND,
         "info of an unknown collection", 1);
    BOTH(qdrant_point_query(&pl, cl[b], missing, v, DIM, NULL), QDRANT_ENOTFOUND,
         "query of an unknown collection", 1);
    BOTH(qdrant_point_upsert(cl[b], missing, 1, &id, v, DIM, NULL, NULL), QDRANT_ENOTFOUND,
         "upsert into an unknown collection", 1);
    BOTH(qdrant_point_count(&n, cl[b], missing, NULL), QDRANT_ENOTFOUND,
         "count of an unknown collection", 1);
    BOTH(qdrant_point_scroll(&pl, cl[b], missing, NULL), QDRANT_ENOTFOUND,
         "scroll of an unknown collection", 1);
    BOTH(qdrant_point_delete(cl[b], missing, &id, 1, NULL), QDRANT_ENOTFOUND,
         "delete from an unknown collection", 1);
    BOTH(qdrant_alias_create(cl[b], "x-alias", missing), QDRANT_ENOTFOUND,
         "alias to an unknown collection", 1);
    BOTH(qdrant_collection_create(cl[b], coll[0], DIM, QDRANT_DISTANCE_COSINE, NULL),
         QDRANT_ECONFLICT, "duplicate create", 1);
    BOTH(qdrant_alias_create(cl[b], coll[2], coll[0]), QDRANT_ECONFLICT,
         "alias named like a collection", 1);
    BOTH(qdrant_collection_create(cl[b], alias, DIM, QDRANT_DISTANCE_COSINE, NULL), QDRANT_EINVAL,
         "collection named like an alias", 1);
    BOTH(qdrant_alias_rename(cl[b], missing, "x-alias"), QDRANT_ENOTFOUND,
         "rename of an unknown alias", 1);
    ok(pl == NULL && info == NULL, "outputs untouched on failure");
}

/* ---- collection metadata ----------------------------------------------------------------- */

/* The metadata of name on both backends: the same text, and want (NULL: none). */
static void md_both(const char *name, const char *want, const char *what)
{
    char *got[NB] = {NULL, NULL};
    int rc[NB], has_json[NB] = {0, 0};
    for (int b = 0; b < NB; b++) {
        qdrant_collection_info *info = NULL;
        rc[b] = qdrant_collection_info_get(&info, cl[b], name);
        if (rc[b]) {
            diag("%s: info %s: %d %s", bname[b], name, rc[b], qdrant_client_errmsg(cl[b]));
            continue;
        }
        const char *m = qdrant_collection_info_metadata(info);
        got[b] = m ? strdup(m) : NULL;
        /* the whole info JSON carries it at config.metadata, or leaves it out */
        json_object *j = json_tokener_parse(qdrant_collection_info_json(info)), *cfg, *jm;
        int there = j && json_object_object_get_ex(j, "config", &cfg) &&
                    json_object_object_get_ex(cfg, "metadata", &jm);
        has_json[b] =
            there ? (m && json_same(json_object_to_json_string_ext(jm, JSON_C_TO_STRING_PLAIN), m))
                        ? 1
                        : -1
                  : 0;
        json_object_put(j);
        qdrant_collection_info_free(info);
    }
    int same = !rc[0] && !rc[1] && (got[0] == NULL) == (got[1] == NULL) &&
               (!got[0] || strcmp(got[0], got[1]) == 0);
    int right = same && (want ? got[0] && strcmp(got[0], want) == 0 : got[0] == NULL);
    int json_ok = has_json[0] == (want ? 1 : 0) && has_json[1] == has_json[0];
    char label[200];
    snprintf(label, sizeof label, "metadata %s: the same text on both, %s", what,
             want ? want : "none");
    ok(same && right && json_ok, label);
    if (!same || !right || !json_ok)
        diag("  local %s / server %s (in the info JSON: %d / %d)", got[0] ? got[0] : "(none)",
             got[1] ? got[1] : "(none)", has_json[0], has_json[1]);
    free(got[0]);
    free(got[1]);
}

static void md_update_both(const char *name, const char *patch, const char *what)
{
    for (int b = 0; b < NB; b++) {
        int rc = qdrant_collection_metadata_update(cl[b], name, patch);
        char label[200];
        snprintf(label, sizeof label, "%s: metadata update %s", bname[b], what);
        if (!ok(rc == 0, label))
            diag("  %d %s", rc, qdrant_client_errmsg(cl[b]));
    }
}

static void test_metadata(void)
{
    char m[4][96], al[96];
    ts_unique("parity-md", m[0], sizeof m[0]);
    ts_unique("parity-md-none", m[1], sizeof m[1]);
    ts_unique("parity-md-v1", m[2], sizeof m[2]);
    ts_unique("parity-md-empty", m[3], sizeof m[3]);
    ts_unique("parity-md-alias", al, sizeof al);
    for (int b = 0; b < NB; b++) {
        qdrant_collection_options o = QDRANT_COLLECTION_OPTIONS_INIT;
        o.metadata = "{\"owner\":\"team \\u00e9/x\",\"gone\":null,\"n\":[1,{\"x\":null}],"
                     "\"k\":{\"a\":1}}";
        ok(qdrant_collection_create(cl[b], m[0], 2, QDRANT_DISTANCE_DOT, &o) == 0,
           "create with metadata");
        ok(qdrant_collection_create(cl[b], m[1], 2, QDRANT_DISTANCE_DOT, NULL) == 0,
           "create without");
        /* a version-1 struct: the field past its end is not read */
        union {
            qdrant_collection_options o;
            unsigned char b[sizeof(qdrant_collection_options)];
        } v1;
        memset(&v1, 0x5a, sizeof v1);
        qdrant_collection_options_init(&v1.o, 1);
        ok(qdrant_collection_create(cl[b], m[2], 2, QDRANT_DISTANCE_DOT, &v1.o) == 0,
           "create with a version-1 options struct");
        o.metadata = "{}";
        ok(qdrant_collection_create(cl[b], m[3], 2, QDRANT_DISTANCE_DOT, &o) == 0,
           "create with {}");
    }
    md_both(m[0],
            "{\"owner\":\"team \xc3\xa9/x\",\"gone\":null,\"n\":[1,{\"x\":null}],"
            "\"k\":{\"a\":1}}",
            "as created (null values kept)");
    md_both(m[1], NULL, "of a collection created without");
    md_both(m[2], NULL, "of a collection created with a version-1 struct");
    md_both(m[3], "{}", "created as {}");

    /* Qdrant's own tests/openapi/test_collection_metadata.py, on m[3] */
    md_update_both(m[3], "{\"new_meta\":\"value\"}", "add a key");
    md_update_both(m[3], "{\"new_meta_2\":\"value2\"}", "add another");
    md_update_both(m[3], "{\"new_meta\":\"value3\"}", "replace the first");
    md_update_both(m[3], "{\"new_meta_2\":null}", "remove the second");
    md_both(m[3], "{\"new_meta\":\"value3\"}", "after Qdrant's own sequence");

    /* one level deep; a removed key's place goes to the last key */
    md_update_both(m[0], "{\"gone\":null,\"k\":{\"b\":2},\"zz\":null,\"new\":true}",
                   "remove, replace an object, add");
    md_both(m[0],
            "{\"owner\":\"team \xc3\xa9/x\",\"k\":{\"b\":2},\"n\":[1,{\"x\":null}],"
            "\"new\":true}",
            "merged (objects replaced, not merged deeper; the last key took the hole)");

    /* no metadata yet: the patch as given, nulls and all; then removed like any key */
    md_update_both(m[1], "{\"a\":null,\"b\":2}", "on a collection without metadata");
    md_both(m[1], "{\"a\":null,\"b\":2}", "first patch stored as given");
    md_update_both(m[1], "{\"a\":null,\"b\":null}", "remove every key");
    md_both(m[1], "{}", "with every key removed");

    /* through an alias */
    for (int b = 0; b < NB; b++)
        ok(qdrant_alias_create(cl[b], al, m[2]) == 0, "alias to the version-1 collection");
    md_update_both(al, "{\"via\":\"alias\"}", "through an alias");
    md_both(m[2], "{\"via\":\"alias\"}", "updated through the alias");
    md_both(al, "{\"via\":\"alias\"}", "read through the alias");

    /* errors: the same codes and messages; nothing changes */
    BOTH(qdrant_collection_metadata_update(cl[b], missing, "{\"a\":1}"), QDRANT_ENOTFOUND,
         "metadata update of an unknown collection", 1);
    BOTH(qdrant_collection_metadata_update(cl[b], m[0], "[1]"), QDRANT_EINVAL,
         "metadata update with an array", 1);

    /* the local store is closed and opened again: the metadata is kept */
    qdrant_client_free(cl[0]);
    cl[0] = NULL;
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = local_url;
    o.local_scan = local_scan;
    if (!ok(qdrant_client_new(&cl[0], &o) == 0, "local store reopened")) {
        printf("Bail out! cannot reopen the local store %s\n", local_url);
        exit(1);
    }
    md_both(m[0],
            "{\"owner\":\"team \xc3\xa9/x\",\"k\":{\"b\":2},\"n\":[1,{\"x\":null}],"
            "\"new\":true}",
            "after the reopen");
    md_both(m[1], "{}", "{} after the reopen");
    md_both(m[2], "{\"via\":\"alias\"}", "updated through the alias, after the reopen");
    md_update_both(m[0], "{\"owner\":null}", "after the reopen");
    md_both(m[0], "{\"new\":true,\"k\":{\"b\":2},\"n\":[1,{\"x\":null}]}",
            "merged after the reopen");

    for (int b = 0; b < NB; b++) {
        qdrant_alias_delete(cl[b], al);
        for (int i = 0; i < 4; i++) {
            int existed = 0;
            ok(qdrant_collection_delete(&existed, cl[b], m[i]) == 0 && existed == 1,
               "delete a metadata collection");
        }
    }
}

static void cleanup(void)
{
    for (int b = 0; b < NB; b++) {
        qdrant_alias_delete(cl[b], alias);
        for (int d = 0; d < 4; d++) {
            int existed = 0;
            ok(qdrant_collection_delete(&existed, cl[b], coll[d]) == 0 && existed == 1,
               "delete collection");
        }
    }
}

/* Batches: each answer equals the same query sent alone, on each backend, and the backends
 * agree; one pass in local scan mode. */
static void test_query_batch(void)
{
    float q[5][DIM];
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < DIM; k++)
            q[i][k] = frand();
    for (int d = 0; d < 4; d++) {
        qdrant_filter *fr = make_filter(F_RED), *fb = make_filter(F_COUNT - 1);
        qdrant_query_options o[5];
        for (int i = 0; i < 5; i++) {
            qdrant_query_options x = QDRANT_QUERY_OPTIONS_INIT;
            o[i] = x;
        }
        o[0].limit = 5;
        o[1].limit = 3, o[1].offset = 2, o[1].filter = fr;
        o[2].limit = 4, o[2].with_vector = 1, o[2].with_payload = 0;
        o[3].limit = 50, o[3].filter = fb;
        o[4].limit = 1, o[4].with_payload = 0;
        qdrant_point_list *r[NB][5];
        int good = 1;
        for (int b = 0; b < NB; b++) {
            int rc = qdrant_point_query_batch(r[b], cl[b], coll[d], &q[0][0], 5, DIM, o);
            char label[160];
            snprintf(label, sizeof label, "%s %s: a batch of 5 queries", bname[b], dnames[d]);
            if (!ok(rc == 0, label)) {
                diag("%d %s", rc, qdrant_client_errmsg(cl[b]));
                good = 0;
                continue;
            }
            int same = 1;
            for (int i = 0; i < 5; i++) {
                qdrant_point_list *one = NULL;
                same &= qdrant_point_query(&one, cl[b], coll[d], q[i], DIM, &o[i]) == 0 &&
                        same_lists(r[b][i], one, NULL);
                qdrant_point_list_free(one);
            }
            snprintf(label, sizeof label, "%s %s: each answer is the query's own", bname[b],
                     dnames[d]);
            ok(same, label);
        }
        if (good) {
            int same = 1;
            for (int i = 0; i < 5; i++)
                same &= same_lists(r[0][i], r[1][i], &max_score_diff);
            char label[160];
            snprintf(label, sizeof label, "%s: the backends' batch answers agree", dnames[d]);
            ok(same, label);
            for (int b = 0; b < NB; b++)
                for (int i = 0; i < 5; i++)
                    qdrant_point_list_free(r[b][i]);
        }
        qdrant_filter_free(fr);
        qdrant_filter_free(fb);
    }
    /* a wrong dimension fails the batch the same way on both, leaving out untouched */
    qdrant_point_list *r[2] = {NULL, NULL};
    float v[2][DIM + 1] = {{0}};
    v[0][0] = v[1][1] = 1;
    int rc[NB];
    for (int b = 0; b < NB; b++)
        rc[b] = qdrant_point_query_batch(r, cl[b], coll[0], &v[0][0], 2, DIM + 1, NULL);
    ok(rc[0] == rc[1] && rc[0] == QDRANT_EINVAL && !r[0] && !r[1],
       "batch with a wrong dimension: QDRANT_EINVAL on both, out untouched");
    ok(qdrant_point_query_batch(r, cl[0], coll[0], &v[0][0], 0, DIM, NULL) == QDRANT_EINVAL,
       "empty batch refused");
}

int main(int argc, char **argv)
{
    int scan = argc > 1 && strcmp(argv[1], "scan") == 0;
    const char *url = ts_qdrant_url();
    if (!url)
        skip_all("no Qdrant server (set QDRANT_TEST_URL, or install python3-jsonschema)");
    char dir[128] = "/tmp/qdrant-parity-XXXXXX";
    if (!mkdtemp(dir))
        skip_all("mkdtemp failed");
    snprintf(local_url, sizeof local_url, "file://%s/store", dir);
    local_scan = scan;
    const char *urls[NB] = {local_url, url};
    for (int b = 0; b < NB; b++) {
        qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
        o.url = urls[b];
        o.local_scan = b == 0 && scan;
        if (qdrant_client_new(&cl[b], &o) != 0) {
            printf("Bail out! cannot make the %s client for %s\n", bname[b], urls[b]);
            return 1;
        }
    }
    diag("local%s: %s, server: %s", scan ? " (scan mode)" : "", local_url, url);
    for (int d = 0; d < 4; d++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "parity-%s", dnames[d]);
        ts_unique(prefix, coll[d], sizeof coll[d]);
    }
    ts_unique("parity-alias", alias, sizeof alias);
    ts_unique("parity-missing", missing, sizeof missing);
    make_points();

    test_create();
    test_upsert();
    test_queries();
    test_query_batch();
    test_scroll_count();
    test_aliases();
    test_errors();
    test_metadata();
    test_deletes();
    cleanup();

    for (int b = 0; b < NB; b++)
        qdrant_client_free(cl[b]);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        diag("cleanup of %s failed", dir);
    return tap_done();
}
