/* Local mode engine: every operation and its errors, scores against independent double
 * computations, scroll paging, aliases, persistence and incremental refresh between handles. */
#include "lstore.h"
#include "tap.h"

#include <math.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char root[256];

static const char *mkpath(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", root, name);
    return buf;
}

static ls_id uuid_id(unsigned char first, unsigned char last)
{
    ls_id id;
    memset(&id, 0, sizeof id);
    id.kind = LS_ID_UUID;
    id.uuid[0] = first;
    id.uuid[15] = last;
    return id;
}

static int has_text(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* ---- reference math in double ---------------------------------------------------------- */

static void ref_normalise(double *out, const float *v, size_t n)
{
    double acc = 0;
    for (size_t i = 0; i < n; i++)
        acc += (double)v[i] * v[i];
    double len = sqrt(acc);
    for (size_t i = 0; i < n; i++)
        out[i] = acc < 1.1920929e-07 || fabs(acc - 1.0) <= 1e-6 ? v[i] : v[i] / len;
}

static double ref_score(ls_distance d, const float *q, const float *v, size_t n)
{
    double qn[64], vn[64], s = 0;
    if (d == LS_COSINE) {
        ref_normalise(qn, q, n);
        ref_normalise(vn, v, n);
    } else {
        for (size_t i = 0; i < n; i++) {
            qn[i] = q[i];
            vn[i] = v[i];
        }
    }
    for (size_t i = 0; i < n; i++) {
        double x = qn[i] - vn[i];
        if (d == LS_COSINE || d == LS_DOT)
            s += qn[i] * vn[i];
        else if (d == LS_EUCLID)
            s += x * x;
        else
            s += fabs(x);
    }
    return d == LS_EUCLID ? sqrt(s) : s;
}

static void test_open_errors(void)
{
    char p[512], err[512];
    ls_store *s = NULL;
    ls_open_options o = LS_OPEN_OPTIONS_INIT;

    ok(ls_open(&s, NULL, NULL, err, sizeof err) == LS_EINVAL, "open: NULL dir");
    o.create = 0;
    is_int(ls_open(&s, mkpath(p, sizeof p, "missing"), &o, err, sizeof err), LS_ENOTFOUND,
           "open: missing directory without create");
    ok(s == NULL, "open: out untouched on failure");

    mkpath(p, sizeof p, "notempty");
    mkdir(p, 0755);
    char f[600];
    snprintf(f, sizeof f, "%s/readme.txt", p);
    FILE *fp = fopen(f, "w");
    fputs("hello", fp);
    fclose(fp);
    is_int(ls_open(&s, p, NULL, err, sizeof err), LS_ENOTSTORE, "open: non-empty dir");
    ok(has_text(err, "not a local store") && has_text(err, "readme.txt"), "  message says why");
    is_int(ls_open(&s, f, NULL, err, sizeof err), LS_ENOTSTORE, "open: a regular file");
    snprintf(f, sizeof f, "%s/readme.txt/sub", p);
    ok(ls_open(&s, f, NULL, err, sizeof err) == LS_ENOTSTORE, "open: path under a file");

    /* marker present but the database is garbage */
    mkpath(p, sizeof p, "garbage");
    mkdir(p, 0755);
    snprintf(f, sizeof f, "%s/%s", p, LS_MARKER_NAME);
    fp = fopen(f, "w");
    fclose(fp);
    snprintf(f, sizeof f, "%s/store.db", p);
    fp = fopen(f, "w");
    for (int i = 0; i < 400; i++)
        fputs("this is not a database ", fp);
    fclose(fp);
    is_int(ls_open(&s, p, NULL, err, sizeof err), LS_ECORRUPT, "open: garbage database");

    /* unwritable directory: as root, drop privileges in a child first */
    mkpath(p, sizeof p, "readonly");
    mkdir(p, 0755);
    chmod(p, 0555);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (!pw || setgid(pw->pw_gid) || setuid(pw->pw_uid))
                _exit(77);
        }
        ls_store *x = NULL;
        char e[512];
        int rc = ls_open(&x, p, NULL, e, sizeof e);
        _exit(rc == LS_EACCES && strstr(e, "not writable") ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        ok(1, "open: unwritable directory (skipped: cannot drop privileges)");
    else
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "open: unwritable directory -> LS_EACCES");

    /* an empty existing directory becomes a store; reopening works */
    mkpath(p, sizeof p, "empty");
    mkdir(p, 0755);
    ok(ls_open(&s, p, NULL, err, sizeof err) == 0 && s, "open: empty directory becomes a store");
    ls_close(s);
    s = NULL;
    snprintf(f, sizeof f, "%s/%s", p, LS_MARKER_NAME);
    ok(access(f, F_OK) == 0, "  marker written");
    ok(ls_open(&s, p, NULL, err, sizeof err) == 0, "open: reopen");
    ls_close(s);
    ls_close(NULL);
}

static void test_collections(ls_store *s)
{
    ok(ls_collection_create(s, "c1", 4, LS_COSINE) == 0, "create c1");
    is_int(ls_collection_create(s, "c1", 4, LS_COSINE), LS_EEXISTS, "create c1 again");
    is_str(ls_errmsg(s), "Wrong input: Collection `c1` already exists!", "  Qdrant's message");
    is_int(ls_collection_create(s, "a/b", 4, LS_DOT), LS_EINVAL, "bad name");
    is_int(ls_collection_create(s, "", 4, LS_DOT), LS_EINVAL, "empty name");
    is_int(ls_collection_create(s, "x", 0, LS_DOT), LS_EINVAL, "dim 0");
    is_int(ls_collection_create(s, "x", 4, (ls_distance)9), LS_EINVAL, "bad distance");
    ok(ls_collection_create(s, "dot", 3, LS_DOT) == 0, "create dot");
    ok(ls_collection_create(s, "euc", 3, LS_EUCLID) == 0, "create euc");
    ok(ls_collection_create(s, "man", 3, LS_MANHATTAN) == 0, "create man");
    int e = -1;
    ok(ls_collection_exists(&e, s, "c1") == 0 && e == 1, "exists c1");
    ok(ls_collection_exists(&e, s, "nope") == 0 && e == 0, "exists nope");
    ls_collection_info info;
    ok(ls_collection_info_get(&info, s, "dot") == 0 && info.dim == 3 && info.distance == LS_DOT &&
           info.points_count == 0 && strcmp(info.name, "dot") == 0,
       "info dot");
    is_int(ls_collection_info_get(&info, s, "nope"), LS_ENOTFOUND, "info of unknown collection");
    is_str(ls_errmsg(s), "Not found: Collection `nope` doesn't exist!", "  Qdrant's message");
    ls_names *l = NULL;
    ok(ls_collection_list(&l, s) == 0 && l->count == 4 && !strcmp(l->names[0], "c1") &&
           !strcmp(l->names[1], "dot") && !strcmp(l->names[2], "euc") &&
           !strcmp(l->names[3], "man"),
       "list sorted");
    ls_names_free(l);
    ok(ls_collection_create(s, "tmp", 2, LS_DOT) == 0, "create tmp");
    ok(ls_collection_delete(&e, s, "tmp") == 0 && e == 1, "delete tmp");
    ok(ls_collection_delete(&e, s, "tmp") == 0 && e == 0, "delete tmp again: not there");
    ok(ls_collection_exists(&e, s, "tmp") == 0 && e == 0, "tmp gone");
    ok(ls_collection_create(s, "tmp", 5, LS_EUCLID) == 0, "recreate tmp, other dim");
    ok(ls_collection_info_get(&info, s, "tmp") == 0 && info.dim == 5 && info.points_count == 0,
       "recreated tmp is new");
    ls_collection_delete(NULL, s, "tmp");
}

static void test_points(ls_store *s)
{
    float v[4 * 4] = {3, 4, 0, 0, /* norm 5 */ 0, 0, 1, 0, /* unit */ 0, 0, 0, 0, /* zero */
                      1, 2, 3, 4};
    ls_id ids[4] = {ls_id_num(1), ls_id_num(UINT64_MAX), uuid_id(0xab, 1), ls_id_num(7)};
    const char *pl[4] = {"{\"a\": 1,  \"s\":\"x\"}", NULL, "{\"big\":18446744073709551615}",
                         "{\"f\":1.5e300}"};
    ok(ls_upsert(s, "c1", 4, ids, v, 4, pl) == 0, "upsert 4 points");

    is_int(ls_upsert(s, "c1", 1, ids, v, 3, pl), LS_EDIM, "upsert wrong dim");
    is_str(ls_errmsg(s), "Wrong input: Vector dimension error: expected dim: 4, got 3",
           "  Qdrant's message");
    float bad[4] = {1, NAN, 0, 0};
    is_int(ls_upsert(s, "c1", 1, ids, bad, 4, NULL), LS_ENONFINITE, "upsert NaN");
    bad[1] = INFINITY;
    is_int(ls_upsert(s, "c1", 1, ids, bad, 4, NULL), LS_ENONFINITE, "upsert Inf");
    const char *badpl[1] = {"[1,2]"};
    is_int(ls_upsert(s, "c1", 1, ids, v, 4, badpl), LS_EINVAL, "payload not an object");
    badpl[0] = "{\"a\":NaN}";
    is_int(ls_upsert(s, "c1", 1, ids, v, 4, badpl), LS_EINVAL, "payload with NaN");
    badpl[0] = "{\"a\":1} x";
    is_int(ls_upsert(s, "c1", 1, ids, v, 4, badpl), LS_EINVAL, "payload with trailing text");
    is_int(ls_upsert(s, "nope", 1, ids, v, 4, NULL), LS_ENOTFOUND, "upsert unknown collection");
    ls_id badid = {7, 0, {0}};
    is_int(ls_upsert(s, "c1", 1, &badid, v, 4, NULL), LS_EINVAL, "upsert bad id kind");

    ls_points *r = NULL;
    ls_id want[5] = {ls_id_num(UINT64_MAX), ls_id_num(1), ls_id_num(999), ls_id_num(1),
                     uuid_id(0xab, 1)};
    ok(ls_get(&r, s, "c1", want, 5, 1, 1) == 0, "get");
    ok(r && r->count == 3, "get: existing ids once each");
    if (r && r->count == 3) {
        ok(r->points[0].id.kind == LS_ID_NUM && r->points[0].id.num == UINT64_MAX,
           "get: u64 max id kept exactly, request order");
        ok(r->points[1].id.num == 1 && ls_id_cmp(&r->points[2].id, &want[4]) == 0, "get: order");
        is_str(r->points[0].payload, "{}", "get: missing payload is {}");
        is_str(r->points[1].payload, "{\"a\":1,\"s\":\"x\"}", "get: payload compact JSON");
        is_str(r->points[2].payload, "{\"big\":18446744073709551615}", "get: u64 in payload");
        double ref[4];
        ref_normalise(ref, v, 4);
        int close = 1;
        for (int k = 0; k < 4; k++)
            close &= fabs(r->points[1].vector[k] - ref[k]) < 1e-6;
        ok(close && r->points[1].vector[0] == 0.6f, "get: cosine vector returned normalised");
        ok(r->points[0].vector[2] == 1.0f && r->points[0].vector[0] == 0.0f,
           "get: unit vector unchanged");
        ok(r->points[2].vector[0] == 0 && r->points[2].vector[3] == 0, "get: zero vector kept");
    }
    ls_points_free(r);
    r = NULL;
    ok(ls_get(&r, s, "c1", want, 2, 0, 0) == 0 && r->count == 2 && !r->points[0].payload &&
           !r->points[0].vector,
       "get without payload and vector");
    ls_points_free(r);

    /* overwrite */
    float v2[4] = {0, 0, 0, 2};
    const char *pl2[1] = {"{\"b\":true}"};
    ok(ls_upsert(s, "c1", 1, &ids[0], v2, 4, pl2) == 0, "overwrite id 1");
    r = NULL;
    ok(ls_get(&r, s, "c1", &ids[0], 1, 1, 1) == 0 && r->count == 1 &&
           !strcmp(r->points[0].payload, "{\"b\":true}") && r->points[0].vector[3] == 1.0f,
       "overwrite replaced payload and vector");
    ls_points_free(r);
    /* duplicate ids in one batch: the later one wins */
    float v3[8] = {1, 0, 0, 0, 0, 1, 0, 0};
    ls_id dup[2] = {ls_id_num(50), ls_id_num(50)};
    const char *pl3[2] = {"{\"n\":1}", "{\"n\":2}"};
    ok(ls_upsert(s, "c1", 2, dup, v3, 4, pl3) == 0, "batch with a duplicate id");
    r = NULL;
    ok(ls_get(&r, s, "c1", dup, 1, 1, 1) == 0 && r->count == 1 &&
           !strcmp(r->points[0].payload, "{\"n\":2}") && r->points[0].vector[1] == 1.0f,
       "  the later duplicate wins");
    ls_points_free(r);

    uint64_t n = 0;
    ok(ls_count(&n, s, "c1", NULL) == 0 && n == 5, "count 5");
    ls_id del[3] = {ls_id_num(50), ls_id_num(12345), ls_id_num(50)};
    ok(ls_delete(&n, s, "c1", del, 3) == 0 && n == 1, "delete by ids counts deleted");
    ok(ls_count(&n, s, "c1", NULL) == 0 && n == 4, "count 4");
    ok(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"a\",\"match\":{\"value\":1}}]}") == 0 && n == 0,
       "count with filter (a=1 was overwritten)");
    ok(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"b\",\"match\":{\"value\":true}}]}") == 0 &&
           n == 1,
       "count with filter b=true");
    ok(ls_delete_by_filter(&n, s, "c1",
                           "{\"must\":[{\"key\":\"b\",\"match\":{\"value\":true}}]}") == 0 &&
           n == 1,
       "delete by filter");
    ok(ls_count(&n, s, "c1", NULL) == 0 && n == 3, "count 3");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"g\",\"geo_radius\":{}}]}"), LS_EUNSUPPORTED,
           "geo filter unsupported");
    ok(has_text(ls_errmsg(s), "not supported in local mode"), "  clear message");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"has_vector\":\"v\"}]}"), LS_EUNSUPPORTED,
           "has_vector unsupported");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"t\",\"match\":{\"text\":\"x\"}}]}"),
           LS_EUNSUPPORTED, "text match unsupported");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"t\",\"range\":{\"gt\":\"2020-01-01\"}}]}"),
           LS_EUNSUPPORTED, "datetime range unsupported");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"t\",\"values_count\":{\"gt\":1}}]}"),
           LS_EUNSUPPORTED, "values_count unsupported");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"weird\":1}]}"), LS_EUNSUPPORTED,
           "unknown condition unsupported");
    is_int(ls_count(&n, s, "c1", "{\"must\":[{\"key\":\"t\"}]}"), LS_EINVAL,
           "field condition without a condition");
    ok(has_text(ls_errmsg(s), "At least one field condition must be specified"),
       "  Qdrant's message");
    is_int(ls_count(&n, s, "c1", "{\"must\":["), LS_EINVAL, "filter: bad JSON");
}

static void test_query(ls_store *s)
{
    const ls_distance dists[4] = {LS_COSINE, LS_DOT, LS_EUCLID, LS_MANHATTAN};
    const char *names[4] = {"qcos", "qdot", "qeuc", "qman"};
    enum { N = 40, D = 7 };
    float v[N * D];
    ls_id ids[N];
    uint64_t x = 12345;
    for (int i = 0; i < N * D; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        v[i] = (float)((double)(x >> 40) / (double)(1 << 24) * 2.0 - 1.0);
    }
    for (int i = 0; i < N; i++)
        ids[i] = i < 30 ? ls_id_num((uint64_t)(N - i) * 3) : uuid_id((unsigned char)(200 - i), 9);
    /* ties: points 5, 6 and 31 share point 4's vector */
    memcpy(v + 5 * D, v + 4 * D, sizeof(float) * D);
    memcpy(v + 6 * D, v + 4 * D, sizeof(float) * D);
    memcpy(v + 31 * D, v + 4 * D, sizeof(float) * D);
    float q[D] = {0.5f, -0.25f, 1.0f, 0.125f, -0.75f, 0.3f, 0.2f};
    for (int di = 0; di < 4; di++) {
        char what[128];
        ok(ls_collection_create(s, names[di], D, dists[di]) == 0 &&
               ls_upsert(s, names[di], N, ids, v, D, NULL) == 0,
           "query collection filled");
        ls_query_params p = {N, 0, NULL, 0, 0, 0, 1};
        ls_points *r = NULL;
        ok(ls_query(&r, s, names[di], q, D, &p) == 0 && r->count == N, "query all");
        int larger = di < 2, maxerr_ok = 1, order_ok = 1;
        double worst = 0;
        for (size_t i = 0; r && i < r->count; i++) {
            int src = -1;
            for (int k = 0; k < N; k++)
                if (ls_id_cmp(&ids[k], &r->points[i].id) == 0)
                    src = k;
            double ref = ref_score(dists[di], q, v + src * D, D);
            double err = fabs(ref - r->points[i].score);
            worst = err > worst ? err : worst;
            maxerr_ok &= err < 1e-6;
            if (i) {
                float a = r->points[i - 1].score, b = r->points[i].score;
                if (larger ? a < b : a > b)
                    order_ok = 0;
                if (a == b && ls_id_cmp(&r->points[i - 1].id, &r->points[i].id) >= 0)
                    order_ok = 0;
            }
        }
        snprintf(what, sizeof what, "%s: scores within 1e-6 of double reference (worst %.2g)",
                 names[di], worst);
        ok(maxerr_ok, what);
        snprintf(what, sizeof what, "%s: %s order, ties by id (ints before uuids)", names[di],
                 larger ? "descending" : "ascending");
        ok(order_ok, what);
        /* tie group: ids of points 6 (=72), 5 (=75), 4 (=78), 31 (uuid) appear in that order */
        int pos[4] = {-1, -1, -1, -1};
        const int tie[4] = {6, 5, 4, 31};
        for (size_t i = 0; r && i < r->count; i++)
            for (int k = 0; k < 4; k++)
                if (ls_id_cmp(&r->points[i].id, &ids[tie[k]]) == 0)
                    pos[k] = (int)i;
        ok(pos[0] >= 0 && pos[1] == pos[0] + 1 && pos[2] == pos[1] + 1 && pos[3] == pos[2] + 1,
           "equal scores ordered by id");
        ok(r && !r->points[0].payload && r->points[0].vector, "with_vector, no payload");
        /* offset + limit = a window of the full ranking */
        ls_query_params p2 = {5, 7, NULL, 0, 0, 1, 0};
        ls_points *r2 = NULL;
        int win = ls_query(&r2, s, names[di], q, D, &p2) == 0 && r2->count == 5;
        for (size_t i = 0; win && i < 5; i++)
            win = ls_id_cmp(&r2->points[i].id, &r->points[7 + i].id) == 0 &&
                  r2->points[i].score == r->points[7 + i].score;
        ok(win && r2->points[0].payload && !strcmp(r2->points[0].payload, "{}"),
           "limit 5 offset 7 = window of the ranking");
        ls_points_free(r2);
        /* score threshold: strict; an upper bound for distances */
        float thr = r->points[9].score;
        size_t better_n = 0;
        while (larger ? r->points[better_n].score > thr : r->points[better_n].score < thr)
            better_n++;
        ls_query_params p3 = {N, 0, NULL, 1, thr, 0, 0};
        r2 = NULL;
        ok(ls_query(&r2, s, names[di], q, D, &p3) == 0 && r2->count == better_n && better_n > 0 &&
               (larger ? r2->points[better_n - 1].score > thr
                       : r2->points[better_n - 1].score < thr),
           "score_threshold keeps strictly better scores");
        ls_points_free(r2);
        /* filter: has_id */
        ls_query_params p4 = {
            3, 0, "{\"must\":{\"has_id\":[33,36,39,\"00000000-0000-0000-0000-0000000000ff\"]}}",
            0, 0, 0,
            0};
        r2 = NULL;
        ok(ls_query(&r2, s, names[di], q, D, &p4) == 0 && r2->count == 3 &&
               r2->points[0].id.kind == LS_ID_NUM && r2->points[0].id.num % 3 == 0 &&
               r2->points[0].id.num <= 39,
           "query with filter");
        ls_points_free(r2);
        ls_points_free(r);
    }
    ls_query_params p = {3, 0, NULL, 0, 0, 0, 0};
    ls_points *r = NULL;
    is_int(ls_query(&r, s, "qcos", q, D - 1, &p), LS_EDIM, "query wrong dim");
    is_str(ls_errmsg(s), "Wrong input: Vector dimension error: expected dim: 7, got 6",
           "  Qdrant's message");
    float nanq[D] = {NAN};
    is_int(ls_query(&r, s, "qcos", nanq, D, &p), LS_ENONFINITE, "query NaN");
    p.limit = 0;
    is_int(ls_query(&r, s, "qcos", q, D, &p), LS_EINVAL, "query limit 0");
    p.limit = 3;
    is_int(ls_query(&r, s, "nope", q, D, &p), LS_ENOTFOUND, "query unknown collection");
    ok(r == NULL, "out untouched");
}

static void test_scroll(ls_store *s)
{
    ok(ls_collection_create(s, "sc", 2, LS_DOT) == 0, "scroll collection");
    enum { N = 25 };
    ls_id ids[N];
    float v[N * 2];
    char pls[N][32];
    const char *pl[N];
    for (int i = 0; i < N; i++) {
        /* inserted in scrambled order: uuids and integers mixed */
        ids[i] = i % 3 == 0 ? uuid_id((unsigned char)(i * 7), (unsigned char)i)
                            : ls_id_num((uint64_t)((i * 37) % 101));
        v[2 * i] = (float)i;
        v[2 * i + 1] = 1;
        snprintf(pls[i], sizeof pls[i], "{\"i\":%d,\"even\":%s}", i, i % 2 ? "false" : "true");
        pl[i] = pls[i];
    }
    ok(ls_upsert(s, "sc", N, ids, v, 2, pl) == 0, "scroll points");
    ls_id prev;
    int have_prev = 0, total = 0, sorted = 1, pages = 0, ints_first = 1, seen_uuid = 0;
    ls_scroll_params p = {4, NULL, NULL, 1, 0};
    ls_id off;
    for (;;) {
        ls_points *r = NULL;
        if (ls_scroll(&r, s, "sc", &p) != 0)
            break;
        pages++;
        for (size_t i = 0; i < r->count; i++) {
            if (have_prev && ls_id_cmp(&prev, &r->points[i].id) >= 0)
                sorted = 0;
            if (r->points[i].id.kind == LS_ID_UUID)
                seen_uuid = 1;
            else if (seen_uuid)
                ints_first = 0;
            prev = r->points[i].id;
            have_prev = 1;
            total++;
        }
        int more = r->has_next;
        if (more) {
            off = r->next_page;
            p.offset = &off;
        }
        ls_points_free(r);
        if (!more)
            break;
    }
    is_int(total, N, "scroll: every point once");
    is_int(pages, 7, "scroll: 7 pages of 4");
    ok(sorted && ints_first, "scroll: Qdrant order (integers ascending, then uuids)");
    /* offset id that does not exist: starts at the next greater id */
    ls_id mid = ls_id_num(50);
    ls_scroll_params p2 = {100, &mid, "{\"must\":[{\"key\":\"even\",\"match\":{\"value\":true}}]}",
                           1, 1};
    ls_points *r = NULL;
    ok(ls_scroll(&r, s, "sc", &p2) == 0, "scroll with offset and filter");
    int okf = r && !r->has_next;
    for (size_t i = 0; okf && i < r->count; i++) {
        ls_id m50 = ls_id_num(50);
        okf = ls_id_cmp(&r->points[i].id, &m50) >= 0 && strstr(r->points[i].payload, "true") &&
              r->points[i].vector != NULL;
    }
    ok(okf && r->count > 0, "  only matching points from the offset on, no next page");
    ls_points_free(r);
    p2.limit = 0;
    is_int(ls_scroll(&r, s, "sc", &p2), LS_EINVAL, "scroll limit 0");
}

static void test_aliases(ls_store *s)
{
    ok(ls_collection_create(s, "v1", 2, LS_DOT) == 0 &&
           ls_collection_create(s, "v2", 2, LS_DOT) == 0,
       "alias collections");
    float v[2] = {1, 2};
    ls_id id = ls_id_num(1);
    ls_upsert(s, "v1", 1, &id, v, 2, NULL);
    ls_alias_action a1[2] = {{LS_ALIAS_CREATE, "live", "v1", NULL},
                             {LS_ALIAS_CREATE, "backup", "v1", NULL}};
    ok(ls_aliases_update(s, a1, 2) == 0, "create two aliases");
    ls_collection_info info;
    ok(ls_collection_info_get(&info, s, "live") == 0 && !strcmp(info.name, "v1") &&
           info.points_count == 1,
       "info through alias");
    int e = 0;
    ok(ls_collection_exists(&e, s, "live") == 0 && e == 1, "alias exists");
    uint64_t n = 0;
    ok(ls_count(&n, s, "live", NULL) == 0 && n == 1, "count through alias");
    ls_alias_action clash = {LS_ALIAS_CREATE, "v2", "v1", NULL};
    is_int(ls_aliases_update(s, &clash, 1), LS_ENAMECLASH, "alias named like a collection");
    is_str(ls_errmsg(s), "Wrong input: Collection `v2` already exists!", "  Qdrant's message");
    is_int(ls_collection_create(s, "live", 2, LS_DOT), LS_ENAMECLASH,
           "collection named like an alias");
    is_str(ls_errmsg(s),
           "Wrong input: Can't create collection with name live. Alias with the same name already "
           "exists",
           "  Qdrant's message");
    /* atomic switch */
    ls_alias_action sw[2] = {{LS_ALIAS_DELETE, "live", NULL, NULL},
                             {LS_ALIAS_CREATE, "live", "v2", NULL}};
    ok(ls_aliases_update(s, sw, 2) == 0, "switch live -> v2");
    ok(ls_collection_info_get(&info, s, "live") == 0 && !strcmp(info.name, "v2"), "  switched");
    /* a failing batch changes nothing */
    ls_alias_action bad[3] = {{LS_ALIAS_DELETE, "live", NULL, NULL},
                              {LS_ALIAS_DELETE, "backup", NULL, NULL},
                              {LS_ALIAS_CREATE, "live", "missing", NULL}};
    is_int(ls_aliases_update(s, bad, 3), LS_ENOTFOUND, "switch to a missing collection fails");
    is_str(ls_errmsg(s), "Not found: Collection `missing` doesn't exist!", "  Qdrant's message");
    ok(ls_collection_info_get(&info, s, "live") == 0 && !strcmp(info.name, "v2") &&
           ls_collection_info_get(&info, s, "backup") == 0 && !strcmp(info.name, "v1"),
       "  all-or-nothing: both aliases untouched");
    ls_alias_action rn = {LS_ALIAS_RENAME, "backup", NULL, "old"};
    ok(ls_aliases_update(s, &rn, 1) == 0, "rename backup -> old");
    ok(ls_collection_exists(&e, s, "backup") == 0 && e == 0 &&
           ls_collection_info_get(&info, s, "old") == 0 && !strcmp(info.name, "v1"),
       "  renamed");
    ls_alias_action rn2 = {LS_ALIAS_RENAME, "nothere", NULL, "x"};
    is_int(ls_aliases_update(s, &rn2, 1), LS_ENOTFOUND, "rename a missing alias");
    is_str(ls_errmsg(s), "Not found: Alias nothere does not exists!", "  Qdrant's message");
    ls_alias_action rn3 = {LS_ALIAS_RENAME, "old", NULL, "v2"};
    is_int(ls_aliases_update(s, &rn3, 1), LS_ENAMECLASH, "rename onto a collection name");
    ls_alias_action more[2] = {{LS_ALIAS_CREATE, "zz", "v1", NULL},
                               {LS_ALIAS_CREATE, "aa", "v1", NULL}};
    ls_aliases_update(s, more, 2);
    ls_names *l = NULL;
    ok(ls_aliases_list(&l, s, NULL) == 0 && l->count == 4, "list all aliases");
    ok(l && !strcmp(l->names[0], "aa") && !strcmp(l->names[1], "old") &&
           !strcmp(l->names[2], "zz") && !strcmp(l->names[3], "live") &&
           !strcmp(l->collections[3], "v2"),
       "  sorted by collection, then alias");
    ls_names_free(l);
    l = NULL;
    ok(ls_aliases_list(&l, s, "v2") == 0 && l->count == 1 && !strcmp(l->names[0], "live"),
       "list one collection's aliases");
    ls_names_free(l);
    l = NULL;
    ok(ls_aliases_list(&l, s, "unknown") == 0 && l->count == 0, "unknown collection: none");
    ls_names_free(l);
    ok(ls_collection_delete(&e, s, "live") == 0 && e == 0, "delete by alias name deletes nothing");
    ok(ls_collection_delete(&e, s, "v1") == 0 && e == 1, "delete v1");
    l = NULL;
    ok(ls_aliases_list(&l, s, NULL) == 0 && l->count == 1 && !strcmp(l->names[0], "live"),
       "  its aliases went with it");
    ls_names_free(l);
}

static void test_refresh(const char *dir)
{
    ls_store *a = NULL, *b = NULL;
    char err[256];
    ok(ls_open(&a, dir, NULL, err, sizeof err) == 0 && ls_open(&b, dir, NULL, err, sizeof err) == 0,
       "two handles");
    ls_collection_create(a, "r", 2, LS_EUCLID);
    enum { N = 5000 };
    static ls_id ids[N];
    static float v[N * 2];
    for (int i = 0; i < N; i++) {
        ids[i] = ls_id_num((uint64_t)i);
        v[2 * i] = (float)i;
        v[2 * i + 1] = 0;
    }
    ok(ls_upsert(b, "r", N, ids, v, 2, NULL) == 0, "b upserts");
    uint64_t n = 0;
    ok(ls_count(&n, a, "r", NULL) == 0 && n == N, "a sees b's points");
    ok(ls_delete(&n, b, "r", ids, 10) == 0 && n == 10, "b deletes 10");
    ok(ls_count(&n, a, "r", NULL) == 0 && n == N - 10, "a sees the deletion (incremental)");
    const char *pl[1] = {"{\"x\":1}"};
    float nv[2] = {-1, 0};
    ok(ls_upsert(b, "r", 1, &ids[20], nv, 2, pl) == 0, "b overwrites one");
    ls_points *r = NULL;
    ok(ls_get(&r, a, "r", &ids[20], 1, 1, 1) == 0 && r->count == 1 &&
           r->points[0].vector[0] == -1 && !strcmp(r->points[0].payload, "{\"x\":1}"),
       "a sees the overwrite");
    ls_points_free(r);
    ok(ls_delete(&n, b, "r", ids, N) == 0 && n == N - 10, "b deletes everything (prunes)");
    ok(ls_count(&n, a, "r", NULL) == 0 && n == 0, "a sees an empty collection (reload)");
    ok(ls_upsert(a, "r", 3, ids, v, 2, NULL) == 0 && ls_count(&n, b, "r", NULL) == 0 && n == 3,
       "b sees a's points after the prune");
    int e;
    ok(ls_collection_delete(&e, b, "r") == 0 && ls_collection_create(b, "r", 3, LS_DOT) == 0,
       "b recreates r with another dim");
    float v3[3] = {1, 2, 3};
    is_int(ls_upsert(a, "r", 1, ids, v, 2, NULL), LS_EDIM, "a notices the new dimension");
    ok(ls_upsert(a, "r", 1, ids, v3, 3, NULL) == 0 && ls_count(&n, a, "r", NULL) == 0 && n == 1,
       "a works on the new collection");
    ls_close(a);
    ls_close(b);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/ls_basic_%ld", (long)getpid());
    tap_rmrf(root);
    mkdir(root, 0755);
    test_open_errors();

    char dir[512], err[512];
    mkpath(dir, sizeof dir, "store");
    ls_store *s = NULL;
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0, "open new store");
    test_collections(s);
    test_points(s);
    test_query(s);
    test_scroll(s);
    test_aliases(s);
    ls_close(s);

    /* persistence */
    s = NULL;
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0, "reopen");
    uint64_t n = 0;
    ok(ls_count(&n, s, "c1", NULL) == 0 && n == 3, "points persisted");
    ls_collection_info info;
    ok(ls_collection_info_get(&info, s, "live") == 0 && !strcmp(info.name, "v2"),
       "aliases persisted");
    ls_points *r = NULL;
    ls_id big = ls_id_num(UINT64_MAX);
    ok(ls_get(&r, s, "c1", &big, 1, 1, 0) == 0 && r->count == 1 &&
           r->points[0].id.num == UINT64_MAX,
       "u64 max id persisted exactly");
    ls_points_free(r);
    ls_close(s);

    mkpath(dir, sizeof dir, "refresh");
    test_refresh(dir);

    /* ids */
    ls_id id;
    ok(ls_id_parse(&id, "18446744073709551615", 20) == 0 && id.kind == LS_ID_NUM &&
           id.num == UINT64_MAX,
       "parse u64 max");
    ok(ls_id_parse(&id, "18446744073709551616", 20) != 0, "parse u64 overflow");
    const char *forms[4] = {
        "550e8400-e29b-41d4-a716-446655440000", "550E8400E29B41D4A716446655440000",
        "{550e8400-e29b-41d4-a716-446655440000}", "urn:uuid:550e8400-e29b-41d4-a716-446655440000"};
    for (int i = 0; i < 4; i++) {
        char buf[64];
        ok(ls_id_parse(&id, forms[i], strlen(forms[i])) == 0 && id.kind == LS_ID_UUID &&
               ls_id_format(buf, sizeof buf, &id) == 36 &&
               !strcmp(buf, "550e8400-e29b-41d4-a716-446655440000"),
           "uuid forms parse to one id");
    }
    ok(ls_id_parse(&id, "-1", 2) != 0 && ls_id_parse(&id, "01", 2) != 0, "bad ids refused");
    tap_rmrf(root);
    return tap_done();
}
