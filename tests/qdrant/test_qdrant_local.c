/* libqdrantc local mode without any server: which URLs select it, the lazy opening of the
 * store and its failures (not a store, unwritable, missing parent), the local-mode-only
 * behaviours (server info, no-op payload indexes, all-or-nothing alias switch, the in-process
 * uploader) and the error codes and messages of its failure paths. */
#include <math.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qdrant/qdrant.h"
#include "tap.h"

static char root[128];

static const char *path_in(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s", root, name);
    return buf;
}

static int exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static int has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

static int new_client(qdrant_client **c, const char *url)
{
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = url;
    *c = NULL;
    return qdrant_client_new(c, &o);
}

static void test_urls(void)
{
    static const char *const bad[] = {"",
                                      "store",
                                      "data/store",
                                      ".hidden",
                                      "ftp://host/x",
                                      "file:relative",
                                      "file://tmp/x",
                                      "file://otherhost/tmp/x",
                                      "file:///tmp/x?y=1",
                                      "file:///tmp/x#frag",
                                      "file:///tmp/a%2",
                                      "file:///tmp/a%zz",
                                      "file:///tmp/a%00b",
                                      "HTTP://127.0.0.1:6333"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        qdrant_client *c = (qdrant_client *)1;
        qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
        o.url = bad[i];
        char what[128];
        snprintf(what, sizeof what, "url \"%s\" refused", bad[i]);
        is_int(qdrant_client_new(&c, &o), QDRANT_EINVAL, what);
        ok(c == (qdrant_client *)1, "  out untouched");
    }
    qdrant_client *c = NULL;
    ok(new_client(&c, "http://127.0.0.1:1") == 0 && c, "http URL: a server client");
    qdrant_client_free(c);
    ok(new_client(&c, "https://example.invalid/prefix/") == 0 && c, "https URL");
    qdrant_client_free(c);

    char p[256], url[300];
    /* absolute path: nothing is created until the first call */
    path_in(p, sizeof p, "abs");
    ok(new_client(&c, p) == 0 && c, "absolute path: local mode");
    ok(!exists(p), "  the store is not created by qdrant_client_new");
    is_int(qdrant_health(c), 0, "  healthz");
    ok(!exists(p), "  nor by healthz");
    is_int(qdrant_ready(c), 0, "  readyz opens the store");
    ok(exists(p), "  directory created");
    char marker[300];
    snprintf(marker, sizeof marker, "%s/.qdrant-local-store", p);
    ok(exists(marker), "  and made a store");
    is_int(qdrant_client_connections(c), 0, "  no connections");
    is_int(qdrant_client_is_local(c), 1, "  qdrant_client_is_local");
    qdrant_client_free(c);

    /* file:// URLs, with a host of localhost, escapes and trailing slashes */
    snprintf(url, sizeof url, "file://%s/with%%20space/", root);
    ok(new_client(&c, url) == 0, "file:///...%20.../ : local mode");
    qdrant_name_list *l = NULL;
    ok(qdrant_collection_list_get(&l, c) == 0 && qdrant_name_list_count(l) == 0, "  empty list");
    qdrant_name_list_free(l);
    ok(exists(path_in(p, sizeof p, "with space")), "  %20 decoded, trailing / dropped");
    qdrant_client_free(c);
    snprintf(url, sizeof url, "file://localhost%s/lh", root);
    ok(new_client(&c, url) == 0 && qdrant_ready(c) == 0 && exists(path_in(p, sizeof p, "lh")),
       "file://localhost/...: local mode");
    qdrant_client_free(c);

    /* relative paths: ./ and ../ */
    char cwd[512];
    ok(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    ok(chdir(path_in(p, sizeof p, "lh")) == 0, "chdir");
    ok(new_client(&c, "./rel") == 0 && qdrant_ready(c) == 0 && exists("rel"), "./rel");
    qdrant_client_free(c);
    ok(new_client(&c, "../up") == 0 && qdrant_ready(c) == 0 && exists(path_in(p, sizeof p, "up")),
       "../up");
    qdrant_client_free(c);
    ok(new_client(&c, "./later") == 0, "./later: client made");
    ok(chdir(cwd) == 0, "chdir back");
    ok(qdrant_ready(c) == 0 && exists(path_in(p, sizeof p, "lh/later")),
       "  resolved against the directory current at qdrant_client_new");
    qdrant_client_free(c);
}

static void test_server_calls(qdrant_client *c)
{
    is_int(qdrant_health(c), 0, "healthz");
    is_int(qdrant_ready(c), 0, "readyz");
    qdrant_server_info *si = NULL;
    is_int(qdrant_server_info_get(&si, c), 0, "server info");
    is_str(qdrant_server_info_title(si), "qdrant local mode", "  title");
    is_str(qdrant_server_info_version(si), qdrant_version_string(), "  version: the library's");
    is_str(qdrant_server_info_commit(si), "", "  no commit");
    qdrant_server_info_free(si);
    is_str(qdrant_strerror(QDRANT_EUNSUPPORTED), "not supported in local mode", "strerror");
    is_str(qdrant_strerror(QDRANT_EIO), "local store I/O error", "strerror EIO");
}

static void test_open_errors(void)
{
    char p[256], f[300];
    qdrant_client *c = NULL;

    /* a non-empty directory without the marker */
    path_in(p, sizeof p, "notastore");
    mkdir(p, 0755);
    snprintf(f, sizeof f, "%s/precious.txt", p);
    FILE *fp = fopen(f, "w");
    fputs("keep me", fp);
    fclose(fp);
    ok(new_client(&c, p) == 0, "not a store: qdrant_client_new succeeds (opened lazily)");
    is_int(qdrant_health(c), 0, "  healthz still answers");
    is_int(qdrant_ready(c), QDRANT_EINVAL, "  readyz: QDRANT_EINVAL");
    ok(has(qdrant_client_errmsg(c), "not a local store") &&
           has(qdrant_client_errmsg(c), "precious.txt"),
       "  the message says why");
    diag("%s", qdrant_client_errmsg(c));
    qdrant_name_list *l = NULL;
    is_int(qdrant_collection_list_get(&l, c), QDRANT_EINVAL, "  first real call: QDRANT_EINVAL");
    ok(l == NULL, "  out untouched");
    is_int(qdrant_collection_create(c, "x", 2, QDRANT_DISTANCE_DOT, NULL), QDRANT_EINVAL,
           "  create: QDRANT_EINVAL");
    ok(has(qdrant_client_errmsg(c), "not a local store"), "  message on the handle");
    /* fixed behind the client's back: the next call opens it */
    unlink(f);
    is_int(qdrant_collection_list_get(&l, c), 0, "  after the directory is emptied: opens");
    qdrant_name_list_free(l);
    qdrant_client_free(c);

    /* a regular file */
    ok(new_client(&c, f) == 0, "a regular file: client made");
    fp = fopen(f, "w");
    fclose(fp);
    is_int(qdrant_ready(c), QDRANT_EINVAL, "  first call: QDRANT_EINVAL");
    ok(has(qdrant_client_errmsg(c), "not a directory"), "  message");
    qdrant_client_free(c);

    /* a missing parent: only one level is created */
    path_in(p, sizeof p, "no/such/parent");
    ok(new_client(&c, p) == 0, "missing parent: client made");
    is_int(qdrant_ready(c), QDRANT_EIO, "  first call: QDRANT_EIO");
    ok(has(qdrant_client_errmsg(c), "cannot create"), "  message");
    diag("%s", qdrant_client_errmsg(c));
    qdrant_client_free(c);

    /* unwritable directory: as root, drop privileges in a child first */
    path_in(p, sizeof p, "readonly");
    mkdir(p, 0755);
    chmod(p, 0555);
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        if (geteuid() == 0) {
            struct passwd *pw = getpwnam("nobody");
            if (!pw || setgid(pw->pw_gid) || setuid(pw->pw_uid))
                _exit(77);
        }
        qdrant_client *x = NULL;
        if (new_client(&x, p) != 0)
            _exit(2);
        int rc = qdrant_collection_create(x, "c", 2, QDRANT_DISTANCE_DOT, NULL);
        int good = rc == QDRANT_EIO && has(qdrant_client_errmsg(x), "not writable");
        int rc2 = qdrant_ready(x);
        qdrant_client_free(x);
        _exit(good && rc2 == QDRANT_EIO ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        ok(1, "unwritable directory (skipped: cannot drop privileges)");
    else
        ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "unwritable directory: QDRANT_EIO, message");
}

/* A store whose database was truncated to 0 bytes (or removed) is reported damaged: never a
 * new empty store in which every collection has vanished. */
static void test_damaged_store(void)
{
    char p[256], db[300];
    qdrant_client *c = NULL;
    path_in(p, sizeof p, "damaged");
    ok(new_client(&c, p) == 0, "a store for the damage test");
    qdrant_point_id id = qdrant_point_id_num(7);
    float v[2] = {1, 2};
    ok(qdrant_collection_create(c, "kept", 2, QDRANT_DISTANCE_DOT, NULL) == 0 &&
           qdrant_point_upsert(c, "kept", 1, &id, v, 2, NULL, NULL) == 0,
       "  a collection with a point");
    qdrant_client_free(c);
    snprintf(db, sizeof db, "%s/store.db", p);
    ok(truncate(db, 0) == 0, "store.db truncated to 0 bytes");
    for (int round = 0; round < 2; round++) {
        ok(new_client(&c, p) == 0,
           round ? "a client on the store without a database" : "a client on the truncated store");
        qdrant_name_list *l = NULL;
        is_int(qdrant_collection_list_get(&l, c), QDRANT_EIO,
               "  listing: QDRANT_EIO, not an empty list");
        ok(l == NULL, "  out untouched");
        ok(has(qdrant_client_errmsg(c), "damaged") && has(qdrant_client_errmsg(c), p),
           "  the message says the store is damaged, and where");
        diag("%s", qdrant_client_errmsg(c));
        int ex = -1;
        is_int(qdrant_collection_exists(&ex, c, "kept"), QDRANT_EIO, "  exists: QDRANT_EIO");
        ok(ex == -1, "  not answered 0");
        is_int(qdrant_collection_create(c, "new", 2, QDRANT_DISTANCE_DOT, NULL), QDRANT_EIO,
               "  nothing can be created in it");
        is_int(qdrant_ready(c), QDRANT_EIO, "  readyz: QDRANT_EIO");
        qdrant_client_free(c);
        c = NULL;
        if (!round) {
            struct stat st;
            ok(stat(db, &st) == 0 && st.st_size == 0, "  store.db left as it was (0 bytes)");
            ok(unlink(db) == 0, "store.db removed");
        } else {
            ok(!exists(db), "  store.db was not created");
        }
    }
}

static int progress_calls, stop_after;
static int on_progress(const qdrant_upload_progress *p, void *ud)
{
    (void)ud;
    progress_calls++;
    return stop_after && (int)p->batches_done >= stop_after;
}

static void test_local_behaviour(qdrant_client *c)
{
    is_int(qdrant_collection_create(c, "a", 3, QDRANT_DISTANCE_EUCLID, NULL), 0, "create a");
    qdrant_collection_options o = QDRANT_COLLECTION_OPTIONS_INIT;
    o.hnsw_m = 32;
    o.hnsw_ef_construct = 200;
    o.indexing_threshold = 0;
    o.on_disk = 1;
    is_int(qdrant_collection_create(c, "b", 3, QDRANT_DISTANCE_COSINE, &o), 0,
           "create b with HNSW/optimizer knobs (accepted, ignored)");
    o.hnsw_ef_construct = 2;
    is_int(qdrant_collection_create(c, "bad", 3, QDRANT_DISTANCE_COSINE, &o), QDRANT_EINVAL,
           "knobs are still validated");
    is_int(qdrant_collection_create(c, "a", 3, QDRANT_DISTANCE_EUCLID, NULL), QDRANT_ECONFLICT,
           "create again: QDRANT_ECONFLICT");
    is_str(qdrant_client_errmsg(c), "Wrong input: Collection `a` already exists!",
           "  Qdrant's message");
    is_int(qdrant_collection_create(c, "a/b", 3, QDRANT_DISTANCE_DOT, NULL), QDRANT_EINVAL,
           "a name the server refuses: QDRANT_EINVAL");
    qdrant_collection_info *info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "b"), 0, "info");
    ok(qdrant_collection_info_status(info) == QDRANT_STATUS_GREEN &&
           qdrant_collection_info_vector_size(info) == 3 &&
           qdrant_collection_info_distance(info) == QDRANT_DISTANCE_COSINE &&
           qdrant_collection_info_points_count(info) == 0,
       "  green, size, distance, count");
    ok(has(qdrant_collection_info_json(info), "\"distance\":\"Cosine\""), "  JSON");
    ok(qdrant_collection_info_metadata(info) == NULL &&
           !has(qdrant_collection_info_json(info), "metadata"),
       "  no metadata: none, and none in the JSON (as a server leaves it out)");
    qdrant_collection_info_free(info);

    /* metadata in local mode */
    qdrant_collection_options mo = QDRANT_COLLECTION_OPTIONS_INIT;
    mo.metadata = "{\"team\":\"x\",\"gone\":null}";
    is_int(qdrant_collection_create(c, "md", 3, QDRANT_DISTANCE_DOT, &mo), 0,
           "create with metadata");
    is_int(qdrant_collection_metadata_update(c, "md", "{\"gone\":null,\"v\":[1]}"), 0,
           "metadata update");
    info = NULL;
    is_int(qdrant_collection_info_get(&info, c, "md"), 0, "info");
    is_str(qdrant_collection_info_metadata(info), "{\"team\":\"x\",\"v\":[1]}",
           "  merged metadata");
    is_str(qdrant_collection_info_json(info),
           "{\"status\":\"green\",\"optimizer_status\":\"ok\",\"points_count\":0,\"config\":{"
           "\"params\":{\"vectors\":{\"size\":3,\"distance\":\"Dot\"}},\"metadata\":{\"team\":"
           "\"x\",\"v\":[1]}}}",
           "  and in the JSON at config.metadata");
    qdrant_collection_info_free(info);
    is_int(qdrant_collection_metadata_update(c, "nope", "{}"), QDRANT_ENOTFOUND,
           "metadata update of a missing collection: QDRANT_ENOTFOUND");
    is_str(qdrant_client_errmsg(c), "Not found: Collection `nope` doesn't exist!", "  message");
    is_int(qdrant_collection_metadata_update(c, "md", "[]"), QDRANT_EINVAL,
           "metadata that is not an object: QDRANT_EINVAL");
    int gone = 0;
    ok(qdrant_collection_delete(&gone, c, "md") == 0 && gone == 1, "delete md");

    is_int(qdrant_payload_index_create(c, "a", "color", QDRANT_FIELD_KEYWORD, NULL), 0,
           "payload index: a no-op success");
    is_int(qdrant_payload_index_create(c, "nope", "color", QDRANT_FIELD_KEYWORD, NULL),
           QDRANT_ENOTFOUND, "payload index on a missing collection: QDRANT_ENOTFOUND");
    is_str(qdrant_client_errmsg(c), "Not found: Collection `nope` doesn't exist!", "  message");

    /* aliases */
    is_int(qdrant_alias_create(c, "live", "a"), 0, "alias live -> a");
    is_int(qdrant_alias_create(c, "b", "a"), QDRANT_ECONFLICT,
           "alias named like a collection: QDRANT_ECONFLICT (the server's 409)");
    is_int(qdrant_collection_create(c, "live", 3, QDRANT_DISTANCE_DOT, NULL), QDRANT_EINVAL,
           "collection named like an alias: QDRANT_EINVAL (the server's 400)");
    ok(has(qdrant_client_errmsg(c), "Alias with the same name already exists"), "  message");
    is_int(qdrant_alias_switch(c, "live", "missing"), QDRANT_ENOTFOUND,
           "switch to a missing collection: QDRANT_ENOTFOUND");
    qdrant_alias_list *al = NULL;
    ok(qdrant_alias_list_get(&al, c) == 0 && qdrant_alias_list_find(al, "live") &&
           strcmp(qdrant_alias_list_find(al, "live"), "a") == 0,
       "  all or nothing: the alias still points at a");
    qdrant_alias_list_free(al);
    is_int(qdrant_alias_switch(c, "live", "b"), 0, "switch live -> b");
    ok(qdrant_collection_alias_list_get(&al, c, "b") == 0 && qdrant_alias_list_count(al) == 1 &&
           strcmp(qdrant_alias_list_alias(al, 0), "live") == 0,
       "  b's aliases");
    qdrant_alias_list_free(al);
    is_int(qdrant_alias_rename(c, "nolias", "x"), QDRANT_ENOTFOUND, "rename a missing alias");
    is_int(qdrant_alias_rename(c, "live", "a"), QDRANT_ECONFLICT,
           "rename onto a collection's name: QDRANT_ECONFLICT");
    is_int(qdrant_alias_rename(c, "live", "prod"), 0, "rename live -> prod");
    is_int(qdrant_alias_delete(c, "prod"), 0, "delete prod");
    is_int(qdrant_alias_delete(c, "prod"), 0, "delete it again: not an error");

    /* points: the checks made before anything is written */
    qdrant_point_id ids[10];
    float v[10 * 3];
    const char *pl[10];
    char pbuf[10][64];
    for (int i = 0; i < 10; i++) {
        ids[i] = qdrant_point_id_num((uint64_t)i + 1);
        for (int k = 0; k < 3; k++)
            v[i * 3 + k] = (float)(i + k);
        snprintf(pbuf[i], sizeof pbuf[i], "{\"i\":%d}", i);
        pl[i] = pbuf[i];
    }
    v[4] = NAN;
    is_int(qdrant_point_upsert(c, "a", 10, ids, v, 3, pl, NULL), QDRANT_EINVAL, "NaN refused");
    is_str(qdrant_client_errmsg(c), "point 1: vector element 1 is NaN or infinite", "  message");
    v[4] = 1.0f;
    pl[3] = "[1]";
    is_int(qdrant_point_upsert(c, "a", 10, ids, v, 3, pl, NULL), QDRANT_EINVAL,
           "payload not an object refused");
    pl[3] = "{\"a\":01}";
    is_int(qdrant_point_upsert(c, "a", 10, ids, v, 3, pl, NULL), QDRANT_EINVAL,
           "payload that is not strict JSON refused");
    pl[3] = pbuf[3];
    ids[2].kind = 9;
    is_int(qdrant_point_upsert(c, "a", 10, ids, v, 3, pl, NULL), QDRANT_EINVAL, "bad id refused");
    ids[2] = qdrant_point_id_num(3);
    uint64_t n = 99;
    ok(qdrant_point_count(&n, c, "a", NULL) == 0 && n == 0, "  nothing was written");
    is_int(qdrant_point_upsert(c, "a", 10, ids, v, 2, pl, NULL), QDRANT_EINVAL,
           "wrong dimension: QDRANT_EINVAL");
    is_str(qdrant_client_errmsg(c), "Wrong input: Vector dimension error: expected dim: 3, got 2",
           "  Qdrant's message");

    /* the uploader, in process */
    qdrant_upload_options uo = QDRANT_UPLOAD_OPTIONS_INIT;
    uo.batch_points = 3;
    uo.progress = on_progress;
    qdrant_upload_result *res = NULL;
    progress_calls = 0;
    is_int(qdrant_point_upload(&res, c, "a", 10, ids, v, 3, pl, &uo), 0, "upload 10 in 4 batches");
    is_int(progress_calls, 4, "  progress after each batch");
    is_int(qdrant_upload_result_failed_count(res), 0, "  none failed");
    qdrant_upload_result_free(res);
    res = NULL;
    ok(qdrant_point_count(&n, c, "a", NULL) == 0 && n == 10, "  10 stored");
    is_int(qdrant_point_upload(&res, c, "missing", 10, ids, v, 3, pl, &uo), QDRANT_ENOTFOUND,
           "upload to a missing collection");
    is_int(qdrant_upload_result_failed_count(res), 10, "  every point reported");
    ok(has(qdrant_upload_result_failed_message(res, 0), "doesn't exist"), "  with the message");
    qdrant_upload_result_free(res);
    res = NULL;
    stop_after = 2;
    is_int(qdrant_point_upload(&res, c, "b", 10, ids, v, 3, pl, &uo), QDRANT_ESTOPPED,
           "upload stopped by the progress callback");
    is_int(qdrant_upload_result_failed_count(res), 4, "  the last 4 points not stored");
    is_int(qdrant_upload_result_failed_index(res, 0), 6, "  from index 6");
    qdrant_upload_result_free(res);
    stop_after = 0;
    ok(qdrant_point_count(&n, c, "b", NULL) == 0 && n == 6, "  6 stored");

    /* filters the engine does not implement: refused, never answered wrongly */
    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_filter_raw(f, QDRANT_MUST,
                      "{\"key\":\"loc\",\"geo_radius\":{\"center\":{\"lat\":1,\"lon\":2},"
                      "\"radius\":3}}");
    is_int(qdrant_point_count(&n, c, "a", f), QDRANT_EUNSUPPORTED, "geo filter: unsupported");
    ok(has(qdrant_client_errmsg(c), "not supported in local mode"), "  message");
    diag("%s", qdrant_client_errmsg(c));
    qdrant_point_list *pts = NULL;
    qdrant_query_options q = QDRANT_QUERY_OPTIONS_INIT;
    q.filter = f;
    float qv[3] = {1, 2, 3};
    is_int(qdrant_point_query(&pts, c, "a", qv, 3, &q), QDRANT_EUNSUPPORTED, "  in a query");
    is_int(qdrant_point_delete_by_filter(c, "a", f, NULL), QDRANT_EUNSUPPORTED, "  in a delete");
    ok(qdrant_point_count(&n, c, "a", NULL) == 0 && n == 10, "  nothing deleted");
    qdrant_filter_free(f);
    qv[1] = INFINITY;
    q.filter = NULL;
    is_int(qdrant_point_query(&pts, c, "a", qv, 3, &q), QDRANT_EINVAL, "infinite query vector");
    is_str(qdrant_client_errmsg(c), "query vector element 1 is NaN or infinite", "  message");
    qv[1] = 2;
    float bq[6] = {1, 2, 3, 4, 5, NAN};
    qdrant_point_list *bl[2] = {NULL, NULL};
    is_int(qdrant_point_query_batch(bl, c, "a", bq, 2, 3, NULL), QDRANT_EINVAL,
           "a NaN in the second query of a batch");
    is_str(qdrant_client_errmsg(c), "query 1: vector element 2 is NaN or infinite", "  message");
    ok(!bl[0] && !bl[1], "  nothing answered");
    is_int(qdrant_point_query(&pts, c, "a", qv, 2, &q), QDRANT_EINVAL, "query: wrong dimension");
    is_int(qdrant_point_query(&pts, c, "nope", qv, 3, &q), QDRANT_ENOTFOUND,
           "query: unknown collection");
    ok(pts == NULL, "  out untouched");
    is_int(qdrant_client_http_status(c), 0, "no HTTP status in local mode");

    int existed = -1;
    ok(qdrant_collection_delete(&existed, c, "b") == 0 && existed == 1, "delete b");
    ok(qdrant_collection_delete(&existed, c, "b") == 0 && existed == 0, "delete b again");
}

static void test_persistence(const char *dir)
{
    qdrant_client *c = NULL;
    ok(new_client(&c, dir) == 0, "a second client on the same store");
    uint64_t n = 0;
    ok(qdrant_point_count(&n, c, "a", NULL) == 0 && n == 10, "  sees the 10 points");
    qdrant_point_list *l = NULL;
    qdrant_point_id id = qdrant_point_id_num(4);
    ok(qdrant_point_get(&l, c, "a", &id, 1, 1, 1) == 0 && qdrant_point_list_count(l) == 1 &&
           has(qdrant_point_list_payload(l, 0), "\"i\":3"),
       "  and their payloads");
    qdrant_point_list_free(l);
    qdrant_client_free(c);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/qdrant-local-unit-XXXXXX");
    if (!mkdtemp(root))
        skip_all("mkdtemp failed");
    chmod(root, 0755); /* the unprivileged child must reach its directory */
    test_urls();
    char dir[256];
    qdrant_client *c = NULL;
    ok(new_client(&c, path_in(dir, sizeof dir, "main")) == 0, "client on a fresh store");
    test_server_calls(c);
    test_open_errors();
    test_damaged_store();
    test_local_behaviour(c);
    qdrant_client_free(c);
    test_persistence(dir);
    qdrant_client_free(NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "chmod -R u+w '%s'; rm -rf '%s'", root, root);
    if (system(cmd) != 0)
        diag("cleanup of %s failed", root);
    return tap_done();
}
