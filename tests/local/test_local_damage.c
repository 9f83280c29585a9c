/* Local mode engine: a store whose database is gone is damaged, never a new empty store. A
 * directory that is a store (it has the marker file, or vector segment files) but whose
 * store.db was truncated to 0 bytes, removed, or replaced by a database without the store's
 * tables fails to open with LS_ECORRUPT and a message naming the path, and the attempt leaves
 * the directory as it found it; a new directory, or one where a store's creation stopped before
 * its marker was written, still becomes a store. */
#include "lstore.h"
#include "tap.h"

#include <dirent.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIM 4

static char root[256];

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

/* A store in dir with collection "c": n points (n >= 256: their vectors in a segment file). */
static int make_store(const char *dir, int n)
{
    ls_store *s = NULL;
    char err[512];
    if (ls_open(&s, dir, NULL, err, sizeof err)) {
        diag("open %s: %s", dir, err);
        return -1;
    }
    static ls_id ids[300];
    static float v[300 * DIM];
    for (int i = 0; i < n; i++) {
        ids[i] = ls_id_num((uint64_t)i + 1);
        for (int k = 0; k < DIM; k++)
            v[i * DIM + k] = (float)(i + k);
    }
    int rc = ls_collection_create(s, "c", DIM, LS_EUCLID);
    if (!rc)
        rc = ls_upsert(s, "c", (size_t)n, ids, v, DIM, NULL);
    ls_close(s);
    return rc;
}

/* Opening dir fails with LS_ECORRUPT, a message naming the directory and saying damaged, and
 * leaves store.db at the size it had (-1: missing). */
static void expect_damaged(const char *dir, const char *why, const char *word)
{
    char db[400], err[512] = "", label[200];
    snprintf(db, sizeof db, "%s/store.db", dir);
    long before = file_size(db);
    int files = count_files(dir);
    ls_store *s = NULL;
    int rc = ls_open(&s, dir, NULL, err, sizeof err);
    snprintf(label, sizeof label, "%s: LS_ECORRUPT", why);
    is_int(rc, LS_ECORRUPT, label);
    ok(s == NULL, "  no store handle");
    snprintf(label, sizeof label, "  the message names the store, says damaged and %s", word);
    ok(strstr(err, dir) && strstr(err, "damaged") && strstr(err, word), label);
    diag("  %s", err);
    ok(file_size(db) == before && count_files(dir) == files,
       "  nothing was created or changed in the directory");
    ls_close(s);
}

static void test_truncated(void)
{
    char dir[300], db[400];
    snprintf(dir, sizeof dir, "%s/trunc", root);
    ok(make_store(dir, 10) == 0, "a store with 10 points");
    snprintf(db, sizeof db, "%s/store.db", dir);
    ok(file_size(db) > 0, "  its database has content");
    ok(truncate(db, 0) == 0, "store.db truncated to 0 bytes (: > store.db)");
    expect_damaged(dir, "0-byte database with the marker", "empty");
    expect_damaged(dir, "  and again (the failed open made no store)", "empty");
}

static void test_missing(void)
{
    char dir[300], db[400];
    snprintf(dir, sizeof dir, "%s/gone", root);
    ok(make_store(dir, 10) == 0, "a store with 10 points");
    snprintf(db, sizeof db, "%s/store.db", dir);
    ok(unlink(db) == 0, "store.db removed");
    expect_damaged(dir, "missing database with the marker", "missing");
    ok(file_size(db) == -1, "  store.db was not created");
}

static void test_segments_only(void)
{
    char dir[300], p[400];
    snprintf(dir, sizeof dir, "%s/segs", root);
    ok(make_store(dir, 300) == 0, "a store with 300 points (a segment file)");
    snprintf(p, sizeof p, "%s/v1-1.seg", dir);
    ok(file_size(p) > 0, "  the segment file is there");
    snprintf(p, sizeof p, "%s/%s", dir, LS_MARKER_NAME);
    ok(unlink(p) == 0, "the marker removed");
    snprintf(p, sizeof p, "%s/store.db", dir);
    ok(truncate(p, 0) == 0, "store.db truncated to 0 bytes");
    expect_damaged(dir, "segment files and a 0-byte database, no marker", "segment");
    ok(unlink(p) == 0, "store.db removed");
    expect_damaged(dir, "segment files, no database, no marker", "missing");
}

static void test_no_tables(void)
{
    char dir[300], db[400];
    snprintf(dir, sizeof dir, "%s/other", root);
    ok(make_store(dir, 10) == 0, "a store with 10 points");
    snprintf(db, sizeof db, "%s/store.db", dir);
    ok(unlink(db) == 0, "store.db removed");
    sqlite3 *h = NULL;
    ok(sqlite3_open(db, &h) == SQLITE_OK &&
           sqlite3_exec(h, "CREATE TABLE unrelated(x)", NULL, NULL, NULL) == SQLITE_OK,
       "another SQLite database put in its place");
    sqlite3_close(h);
    expect_damaged(dir, "a database without the store's tables, with the marker",
                   "no store tables");
}

static void test_new_stores(void)
{
    char dir[300], err[512], p[400];
    ls_store *s = NULL;
    snprintf(dir, sizeof dir, "%s/fresh", root);
    ok(mkdir(dir, 0755) == 0, "an empty directory");
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0 && s, "  becomes a store");
    ls_names *l = NULL;
    ok(s && ls_collection_list(&l, s) == 0 && l->count == 0, "  an empty one");
    ls_names_free(l);
    ls_close(s);
    s = NULL;
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0, "  which opens again");
    ls_close(s);
    s = NULL;

    snprintf(dir, sizeof dir, "%s/fresh-missing", root);
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0 && s, "a missing directory becomes a store");
    ls_close(s);
    s = NULL;

    /* a creation stopped before the marker was written (or another process is creating the
     * store right now): not damaged, the store is made */
    snprintf(dir, sizeof dir, "%s/half-made", root);
    mkdir(dir, 0755);
    snprintf(p, sizeof p, "%s/store.db", dir);
    FILE *f = fopen(p, "w");
    ok(f != NULL, "a directory holding only a 0-byte store.db");
    if (f)
        fclose(f);
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0 && s, "  becomes a store (no marker yet)");
    if (!s)
        diag("  %s", err);
    ok(s && ls_collection_create(s, "c", DIM, LS_DOT) == 0, "  that works");
    ls_close(s);
    snprintf(p, sizeof p, "%s/%s", dir, LS_MARKER_NAME);
    ok(access(p, F_OK) == 0, "  and has its marker now");
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/ls_damage_%ld", (long)getpid());
    tap_rmrf(root);
    mkdir(root, 0755);
    test_truncated();
    test_missing();
    test_segments_only();
    test_no_tables();
    test_new_stores();
    tap_rmrf(root);
    return tap_done();
}
