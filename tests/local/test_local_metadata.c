/* Local mode engine: collection metadata (Qdrant's CollectionConfig.metadata). Stored as given
 * at creation, merged by updates as Qdrant 1.19 merges an UpdateCollection's metadata (one level
 * deep, null removes a key with the last key taking its place, the first patch of a collection
 * without metadata stored as given), read in the same snapshot as the collection's info, kept
 * across reopening, seen by another handle; a store from before metadata (no column) opens,
 * gets the column and keeps its format. */
#include "lstore.h"
#include "tap.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static ls_store *open_store(const char *dir)
{
    ls_store *s = NULL;
    char err[512];
    if (ls_open(&s, dir, NULL, err, sizeof err))
        diag("open %s: %s", dir, err);
    return s;
}

/* The metadata of name equals want (NULL: none). */
static int md_is(ls_store *s, const char *name, const char *want)
{
    ls_collection_info info;
    char *md = (char *)1;
    int rc = ls_collection_describe(&info, &md, s, name);
    int good = rc == 0 && (want ? md && strcmp(md, want) == 0 : md == NULL);
    if (!good)
        diag("  %s: rc %d, metadata %s (want %s) %s", name, rc, rc == 0 && md ? md : "(none)",
             want ? want : "(none)", ls_errmsg(s));
    if (rc == 0)
        free(md);
    return good;
}

static int sql_run(const char *dir, const char *sql)
{
    char p[512];
    snprintf(p, sizeof p, "%s/store.db", dir);
    sqlite3 *db = NULL;
    int rc = sqlite3_open(p, &db) == SQLITE_OK ? sqlite3_exec(db, sql, NULL, NULL, NULL) : -1;
    sqlite3_close(db);
    return rc;
}

/* The value of a one-row, one-column query (into out), or "?". */
static void sql_get(const char *dir, const char *sql, char *out, size_t cap)
{
    char p[512];
    snprintf(p, sizeof p, "%s/store.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(out, cap, "?");
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s",
                 sqlite3_column_type(st, 0) == SQLITE_NULL
                     ? "NULL"
                     : (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_create_and_read(ls_store *s)
{
    ok(ls_collection_create_with_metadata(s, "m", 2, LS_DOT,
                                          " {\"owner\":\"me\",\"gone\":null,\"n\":[1,{\"x\":null}],"
                                          "\"f\":1.50,\"u\":\"\\u00e9\"}\n") == 0,
       "create with metadata (white space around it)");
    ok(md_is(
           s, "m",
           "{\"owner\":\"me\",\"gone\":null,\"n\":[1,{\"x\":null}],\"f\":1.50,\"u\":\"\xc3\xa9\"}"),
       "  kept as given: order, null values, a number's text; printed as json-c prints");
    ok(ls_collection_create(s, "plain", 2, LS_DOT) == 0, "create without metadata");
    ok(md_is(s, "plain", NULL), "  none");
    ok(ls_collection_create_with_metadata(s, "empty", 2, LS_DOT, "{}") == 0, "create with {}");
    ok(md_is(s, "empty", "{}"), "  {} (not none)");
    ls_collection_info info;
    ok(ls_collection_describe(&info, NULL, s, "m") == 0 && info.dim == 2 &&
           info.distance == LS_DOT && info.points_count == 0,
       "describe without asking for the metadata");

    static const char *const bad[] = {"[1]",         "1",           "null",          "{\"a\":}",
                                      "{\"a\":1} x", "{\"a\":NaN}", "{\"a\":1e999}", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char label[96];
        snprintf(label, sizeof label, "create with metadata '%s': LS_EINVAL", bad[i]);
        is_int(ls_collection_create_with_metadata(s, "bad", 2, LS_DOT, bad[i]), LS_EINVAL, label);
        snprintf(label, sizeof label, "update with '%s': LS_EINVAL", bad[i]);
        is_int(ls_collection_metadata_update(s, "m", bad[i]), LS_EINVAL, label);
    }
    ok(strstr(ls_errmsg(s), "not a JSON object") != NULL, "  the message says why");
    int e = 1;
    ok(ls_collection_exists(&e, s, "bad") == 0 && e == 0, "  no collection was made");
    ok(md_is(
           s, "m",
           "{\"owner\":\"me\",\"gone\":null,\"n\":[1,{\"x\":null}],\"f\":1.50,\"u\":\"\xc3\xa9\"}"),
       "  and the metadata did not change");
    is_int(ls_collection_create_with_metadata(s, "m", 2, LS_DOT, "{}"), LS_EEXISTS,
           "a duplicate create with metadata: LS_EEXISTS");
}

static void test_updates(ls_store *s)
{
    /* Qdrant's tests/openapi/test_collection_metadata.py */
    ok(ls_collection_create(s, "q", 2, LS_DOT) == 0, "create q");
    ok(ls_collection_metadata_update(s, "q", "{\"new_meta\":\"value\"}") == 0 &&
           ls_collection_metadata_update(s, "q", "{\"new_meta_2\":\"value2\"}") == 0 &&
           ls_collection_metadata_update(s, "q", "{\"new_meta\":\"value3\"}") == 0 &&
           ls_collection_metadata_update(s, "q", "{\"new_meta_2\":null}") == 0,
       "Qdrant's own sequence of four updates");
    ok(md_is(s, "q", "{\"new_meta\":\"value3\"}"), "  ends as Qdrant's test expects");

    /* order: replaced in place, appended, the last key moves into a removed key's place */
    ok(ls_collection_metadata_update(s, "q", "{\"a\":1,\"b\":{\"x\":1},\"c\":[1],\"d\":\"d\"}") ==
           0,
       "four keys appended");
    ok(md_is(s, "q", "{\"new_meta\":\"value3\",\"a\":1,\"b\":{\"x\":1},\"c\":[1],\"d\":\"d\"}"),
       "  in order");
    ok(ls_collection_metadata_update(s, "q", "{\"a\":null,\"b\":{\"y\":2},\"zz\":null}") == 0,
       "remove a, replace b, remove a missing key");
    ok(md_is(s, "q", "{\"new_meta\":\"value3\",\"d\":\"d\",\"b\":{\"y\":2},\"c\":[1]}"),
       "  d took a's place; b replaced, not merged deeper");
    ok(ls_collection_metadata_update(s, "q", "{\"c\":null}") == 0, "remove the last key");
    ok(md_is(s, "q", "{\"new_meta\":\"value3\",\"d\":\"d\",\"b\":{\"y\":2}}"), "  nothing moved");
    ok(ls_collection_metadata_update(s, "q", "{\"e\":null,\"e\":5}") == 0,
       "a duplicate key in the patch: the later value");
    ok(md_is(s, "q", "{\"new_meta\":\"value3\",\"d\":\"d\",\"b\":{\"y\":2},\"e\":5}"),
       "  as a JSON map reads it");
    ok(ls_collection_metadata_update(s, "q", "{}") == 0, "an empty patch");
    ok(md_is(s, "q", "{\"new_meta\":\"value3\",\"d\":\"d\",\"b\":{\"y\":2},\"e\":5}"),
       "  changes nothing");
    ok(ls_collection_metadata_update(s, "q",
                                     "{\"new_meta\":null,\"d\":null,\"b\":null,\"e\":null}") == 0,
       "remove every key");
    ok(md_is(s, "q", "{}"), "  {} remains");

    /* no metadata yet: the patch as given, nulls kept; later patches merge */
    ok(ls_collection_metadata_update(s, "plain", "{\"a\":null,\"b\":2}") == 0,
       "first update of a collection without metadata");
    ok(md_is(s, "plain", "{\"a\":null,\"b\":2}"), "  stored as given, null and all");
    ok(ls_collection_metadata_update(s, "plain", "{\"a\":null}") == 0, "then a removal");
    ok(md_is(s, "plain", "{\"b\":2}"), "  removes the null key");

    /* aliases and errors */
    ls_alias_action act = {LS_ALIAS_CREATE, "q-alias", "q", NULL};
    ok(ls_aliases_update(s, &act, 1) == 0, "an alias of q");
    ok(ls_collection_metadata_update(s, "q-alias", "{\"via\":\"alias\"}") == 0,
       "update through the alias");
    ok(md_is(s, "q", "{\"via\":\"alias\"}") && md_is(s, "q-alias", "{\"via\":\"alias\"}"),
       "  the collection's metadata, read either way");
    is_int(ls_collection_metadata_update(s, "nope", "{\"a\":1}"), LS_ENOTFOUND,
           "update of an unknown collection");
    is_str(ls_errmsg(s), "Not found: Collection `nope` doesn't exist!", "  Qdrant's message");
    is_int(ls_collection_metadata_update(s, NULL, "{}"), LS_EINVAL, "NULL name");
    is_int(ls_collection_metadata_update(s, "q", NULL), LS_EINVAL, "NULL patch");
    char *md = (char *)1;
    ls_collection_info info;
    is_int(ls_collection_describe(&info, &md, s, "nope"), LS_ENOTFOUND, "describe unknown");
    ok(md == (char *)1, "  metadata untouched");

    /* a collection deleted and made again has no metadata */
    int e = 0;
    ok(ls_collection_delete(&e, s, "plain") == 0 && e == 1 &&
           ls_collection_create(s, "plain", 3, LS_EUCLID) == 0,
       "plain deleted and created again");
    ok(md_is(s, "plain", NULL), "  without metadata");
    ok(ls_collection_metadata_update(s, "plain", "{\"v\":2}") == 0, "  given some");
}

static void test_other_handle(const char *dir, ls_store *s)
{
    ls_store *o = open_store(dir);
    ok(o && md_is(o, "q", "{\"via\":\"alias\"}"), "another handle reads the metadata");
    ok(o && ls_collection_metadata_update(o, "q", "{\"by\":\"other\"}") == 0, "  and updates it");
    ok(md_is(s, "q", "{\"via\":\"alias\",\"by\":\"other\"}"), "  the first handle sees it");
    ls_close(o);
}

/* A store made before metadata: the collections table without the column. */
static void test_old_store(void)
{
    char dir[300], v[64];
    snprintf(dir, sizeof dir, "%s/old", root);
    ls_store *s = open_store(dir);
    ok(s && ls_collection_create(s, "c", 2, LS_DOT) == 0, "a store with a collection");
    ls_close(s);
    ok(sql_run(dir, "ALTER TABLE collections DROP COLUMN metadata") == 0,
       "the metadata column dropped: a store from before metadata");
    sql_get(dir, "SELECT count(*) FROM pragma_table_info('collections') WHERE name = 'metadata'", v,
            sizeof v);
    is_str(v, "0", "  no metadata column");
    s = open_store(dir);
    ok(s && md_is(s, "c", NULL), "it opens; its collection has no metadata");
    sql_get(dir, "SELECT count(*) FROM pragma_table_info('collections') WHERE name = 'metadata'", v,
            sizeof v);
    is_str(v, "1", "  the column was added");
    ok(s && ls_collection_metadata_update(s, "c", "{\"k\":1}") == 0 && md_is(s, "c", "{\"k\":1}"),
       "  and takes metadata");
    ok(s && ls_collection_create_with_metadata(s, "d", 2, LS_DOT, "{\"j\":2}") == 0 &&
           md_is(s, "d", "{\"j\":2}"),
       "  and new collections with metadata");
    ls_close(s);
    sql_get(dir, "SELECT value FROM meta WHERE key = 'format'", v, sizeof v);
    is_str(v, "1", "the format stays 1 (older libraries read and write such a store)");
    /* what an older library writes: a collection row without the column */
    ok(sql_run(dir, "INSERT INTO collections(name, cid, dim, distance) VALUES('e', 99, 2, 2);"
                    "CREATE TABLE p99(rid INTEGER PRIMARY KEY, pkey BLOB NOT NULL UNIQUE,"
                    " seq INTEGER NOT NULL, vec BLOB NOT NULL, payload TEXT NOT NULL);"
                    "CREATE TABLE t99(pkey BLOB PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;"
                    "UPDATE meta SET value = '100' WHERE key = 'next_cid'") == 0,
       "a collection created as an older library does");
    s = open_store(dir);
    ok(s && md_is(s, "e", NULL) && md_is(s, "c", "{\"k\":1}"),
       "  reads as one without metadata, beside the others");
    ls_close(s);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/ls_metadata_%ld", (long)getpid());
    tap_rmrf(root);
    mkdir(root, 0755);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/store", root);
    ls_store *s = open_store(dir);
    if (!s) {
        printf("Bail out! cannot open %s\n", dir);
        return 1;
    }
    test_create_and_read(s);
    test_updates(s);
    test_other_handle(dir, s);
    ls_close(s);

    s = open_store(dir);
    ok(s && md_is(s, "m",
                  "{\"owner\":\"me\",\"gone\":null,\"n\":[1,{\"x\":null}],\"f\":1.50,\"u\":"
                  "\"\xc3\xa9\"}"),
       "reopened: the created metadata kept");
    ok(s && md_is(s, "q", "{\"via\":\"alias\",\"by\":\"other\"}") &&
           md_is(s, "q-alias", "{\"via\":\"alias\",\"by\":\"other\"}"),
       "  the updated metadata kept (and the alias)");
    ok(s && md_is(s, "empty", "{}") && md_is(s, "plain", "{\"v\":2}"), "  {} and the rest kept");
    ls_close(s);

    test_old_store();
    tap_rmrf(root);
    return tap_done();
}
