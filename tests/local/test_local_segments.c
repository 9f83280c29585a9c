/* Local mode engine: vector segments (large upserts keep their vectors in a per-collection file,
 * the rows name the records). Round trips against the inline path, overwrites and deletes that
 * make records dead, compaction to a new generation (and the old file's removal), damage found
 * rather than answered, the format marker, and a reader in another process that keeps reading
 * correct points while a writer compacts under it. */
#include "lstore.h"
#include "tap.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIM 8
#define REC (DIM * 4 + 8)
#define HDR 64

static char root[256];

/* The vector of point id at version ver: exact in float, different for every (id, ver). */
static void vec_of(float *v, uint64_t id, int ver)
{
    for (int k = 0; k < DIM; k++)
        v[k] = (float)(id % 4096) + (float)ver * 0.25f + (float)k * 8192.0f;
}

/* Upserts ids [first, first + n) at version ver in calls of batch points. */
static int put(ls_store *s, const char *coll, uint64_t first, size_t n, int ver, size_t batch)
{
    ls_id *ids = malloc(batch * sizeof *ids);
    float *v = malloc(batch * DIM * sizeof *v);
    char(*pls)[64] = malloc(batch * sizeof *pls);
    const char **pl = malloc(batch * sizeof *pl);
    int r = ids && v && pls && pl ? 0 : -1;
    for (size_t done = 0; !r && done < n; done += batch) {
        size_t m = n - done < batch ? n - done : batch;
        for (size_t i = 0; i < m; i++) {
            uint64_t id = first + done + i;
            ids[i] = ls_id_num(id);
            vec_of(v + i * DIM, id, ver);
            snprintf(pls[i], sizeof pls[i], "{\"id\":%llu,\"ver\":%d}", (unsigned long long)id,
                     ver);
            pl[i] = pls[i];
        }
        r = ls_upsert(s, coll, m, ids, v, DIM, pl);
    }
    free(ids);
    free(v);
    free(pls);
    free(pl);
    return r;
}

/* Every point of ids [first, first + n) is there at version ver, vector and payload. */
static int check_points(ls_store *s, const char *coll, uint64_t first, size_t n, int ver)
{
    ls_id *ids = malloc(n * sizeof *ids);
    for (size_t i = 0; i < n; i++)
        ids[i] = ls_id_num(first + i);
    ls_points *r = NULL;
    int good = ls_get(&r, s, coll, ids, n, 1, 1) == 0 && r->count == n;
    for (size_t i = 0; good && i < n; i++) {
        float want[DIM];
        char pl[64];
        uint64_t id = r->points[i].id.num;
        vec_of(want, id, ver);
        snprintf(pl, sizeof pl, "{\"id\":%llu,\"ver\":%d}", (unsigned long long)id, ver);
        good = id >= first && id < first + n && r->points[i].vector &&
               !memcmp(r->points[i].vector, want, sizeof want) && !strcmp(r->points[i].payload, pl);
        if (!good)
            diag("point %llu differs", (unsigned long long)id);
    }
    ls_points_free(r);
    free(ids);
    return good;
}

/* The segment files in dir: how many, and the highest generation (via *gen). */
static int seg_files(const char *dir, long *gen)
{
    DIR *d = opendir(dir);
    int n = 0;
    *gen = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long cid, g;
        char tail[8];
        if (sscanf(e->d_name, "v%ld-%ld%7s", &cid, &g, tail) == 3 && !strcmp(tail, ".seg")) {
            n++;
            if (g > *gen)
                *gen = g;
        }
    }
    if (d)
        closedir(d);
    return n;
}

static long file_size(const char *dir, long cid, long gen)
{
    char p[512];
    snprintf(p, sizeof p, "%s/v%ld-%ld.seg", dir, cid, gen);
    struct stat st;
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void store_format(const char *dir, char *out, size_t cap)
{
    char p[512];
    snprintf(p, sizeof p, "%s/store.db", dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(out, cap, "?");
    if (sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'format'", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static ls_store *open_store(const char *dir, int scan)
{
    ls_open_options o = LS_OPEN_OPTIONS_INIT;
    o.scan = scan;
    ls_store *s = NULL;
    char err[256];
    if (ls_open(&s, dir, &o, err, sizeof err))
        diag("open %s: %s", dir, err);
    return s;
}

/* The same points through the segment (one call) and inline (calls of 10): same answers. */
static void test_roundtrip(void)
{
    char dir[300], fmt[16];
    snprintf(dir, sizeof dir, "%s/rt", root);
    ls_store *s = open_store(dir, 0);
    ok(s && ls_collection_create(s, "seg", DIM, LS_EUCLID) == 0 &&
           ls_collection_create(s, "inl", DIM, LS_EUCLID) == 0 &&
           ls_collection_create(s, "cos", DIM, LS_COSINE) == 0 &&
           ls_collection_create(s, "cos_inl", DIM, LS_COSINE) == 0,
       "collections");
    store_format(dir, fmt, sizeof fmt);
    is_str(fmt, "1", "a store without segments keeps format 1 (older libraries read it)");
    long gen;
    ok(put(s, "inl", 0, 300, 1, 10) == 0 && seg_files(dir, &gen) == 0,
       "small batches keep their vectors in the rows (no segment file)");
    ok(put(s, "seg", 0, 300, 1, 300) == 0 && seg_files(dir, &gen) == 1 && gen == 1,
       "a 300-point batch writes a segment file (generation 1)");
    store_format(dir, fmt, sizeof fmt);
    is_str(fmt, "2", "the store is marked format 2 once a segment exists");
    ok(file_size(dir, 1, 1) == HDR + 300 * REC, "the segment holds a header and 300 records");
    ok(check_points(s, "seg", 0, 300, 1), "every point reads back exactly (same handle)");
    ls_store *r0 = open_store(dir, 0), *r1 = open_store(dir, 1);
    ok(r0 && check_points(r0, "seg", 0, 300, 1), "... from another handle (held in memory)");
    ok(r1 && check_points(r1, "seg", 0, 300, 1), "... from another handle (scan mode)");
    int same = 1;
    for (uint64_t q = 0; q < 300 && same; q += 37) {
        float v[DIM];
        vec_of(v, q, 1);
        v[0] += 0.1f;
        ls_query_params qp = {5, 0, NULL, 0, 0.0f, 1, 1};
        ls_points *a = NULL, *b = NULL, *c = NULL;
        same = ls_query(&a, r1, "seg", v, DIM, &qp) == 0 &&
               ls_query(&b, r1, "inl", v, DIM, &qp) == 0 &&
               ls_query(&c, r0, "seg", v, DIM, &qp) == 0 && a->count == 5 && b->count == 5 &&
               c->count == 5 && a->points[0].id.num == q;
        for (size_t i = 0; same && i < 5; i++)
            same = a->points[i].id.num == b->points[i].id.num &&
                   a->points[i].score == b->points[i].score &&
                   c->points[i].id.num == b->points[i].id.num &&
                   c->points[i].score == b->points[i].score &&
                   !memcmp(a->points[i].vector, b->points[i].vector, sizeof(float) * DIM);
        ls_points_free(a);
        ls_points_free(b);
        ls_points_free(c);
    }
    ok(same, "queries answer the same ids, scores and vectors as the inline collection");
    /* cosine: the stored (normalised) vectors are the same either way */
    ok(put(s, "cos", 0, 300, 1, 300) == 0 && put(s, "cos_inl", 0, 300, 1, 30) == 0,
       "cosine collections filled both ways");
    ls_id ids[300];
    for (int i = 0; i < 300; i++)
        ids[i] = ls_id_num((uint64_t)i);
    ls_points *a = NULL, *b = NULL;
    same = ls_get(&a, r1, "cos", ids, 300, 0, 1) == 0 &&
           ls_get(&b, r1, "cos_inl", ids, 300, 0, 1) == 0 && a->count == 300 && b->count == 300;
    for (size_t i = 0; same && i < 300; i++)
        same = !memcmp(a->points[i].vector, b->points[i].vector, sizeof(float) * DIM);
    ok(same, "cosine: normalised vectors identical through the segment and inline");
    ls_points_free(a);
    ls_points_free(b);
    /* a mixed collection: a small overwrite goes inline, the rest stays in the segment */
    ok(put(s, "seg", 10, 5, 2, 5) == 0 && check_points(r1, "seg", 10, 5, 2) &&
           check_points(r0, "seg", 0, 10, 1) && check_points(r0, "seg", 15, 285, 1) &&
           check_points(r0, "seg", 10, 5, 2),
       "inline and segment rows side by side in one collection");
    /* a later duplicate in one batch wins, as inline */
    ls_id dup[300];
    float dv[300 * DIM];
    for (int i = 0; i < 300; i++) {
        dup[i] = ls_id_num(i < 299 ? 1000 + (uint64_t)i : 1000);
        vec_of(dv + i * DIM, 1000 + (uint64_t)i, 3);
    }
    ls_points *d = NULL;
    ok(ls_upsert(s, "seg", 300, dup, dv, DIM, NULL) == 0 &&
           ls_get(&d, r1, "seg", dup, 1, 0, 1) == 0 && d->count == 1 &&
           !memcmp(d->points[0].vector, dv + 299 * DIM, sizeof(float) * DIM),
       "a later duplicate id in a segment batch wins");
    ls_points_free(d);
    int del = 0;
    ok(ls_collection_delete(&del, s, "seg") == 0 && del && seg_files(dir, &gen) == 1,
       "deleting a collection removes its segment file (the cosine one's stays)");
    ls_close(r0);
    ls_close(r1);
    ls_close(s);
    s = open_store(dir, 0);
    ok(s && check_points(s, "inl", 0, 300, 1), "reopened: the inline collection intact");
    ls_close(s);
}

/* Overwrites and deletes make records dead; enough of them compact to a new generation. */
static void test_compaction(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/cp", root);
    ls_store *s = open_store(dir, 0), *held = open_store(dir, 0), *scan = open_store(dir, 1);
    ok(s && held && scan && ls_collection_create(s, "c", DIM, LS_EUCLID) == 0, "collection");
    long gen;
    ok(put(s, "c", 0, 4096, 1, 4096) == 0 && check_points(held, "c", 0, 4096, 1),
       "4096 points in generation 1 (a reader holds them in memory)");
    ok(put(s, "c", 0, 3072, 2, 1024) == 0 && seg_files(dir, &gen) == 1 && gen == 1 &&
           file_size(dir, 1, 1) == HDR + 7168L * REC,
       "3072 overwritten: 3072 of 7168 records dead, not compacted (fewer than 4096)");
    ok(check_points(held, "c", 0, 3072, 2) && check_points(scan, "c", 0, 3072, 2) &&
           check_points(held, "c", 3072, 1024, 1),
       "readers see the overwrite");
    ok(put(s, "c", 0, 4096, 3, 4096) == 0 && seg_files(dir, &gen) == 1 && gen == 2 &&
           file_size(dir, 1, 2) == HDR + 4096L * REC,
       "all overwritten: 7168 of 11264 dead, compacted into generation 2 (4096 live records), "
       "generation 1 removed");
    ok(check_points(s, "c", 0, 4096, 3), "the writer reads every point after compaction");
    ok(check_points(held, "c", 0, 4096, 3), "a reader that held generation 1 reads generation 2");
    ok(check_points(scan, "c", 0, 4096, 3), "a scan-mode reader too");
    /* overwrites of segment records by small (inline) batches count as dead too */
    ok(put(s, "c", 0, 4096, 4, 128) == 0 && put(s, "c", 4096, 4096, 4, 4096) == 0 &&
           seg_files(dir, &gen) == 1 && gen == 3 && file_size(dir, 1, 3) == HDR + 4096L * REC,
       "inline overwrites make records dead: compacted into generation 3 (the new 4096 only)");
    ok(check_points(held, "c", 0, 8192, 4), "all 8192 points right after it");
    /* deletes */
    ls_id ids[5000];
    for (int i = 0; i < 5000; i++)
        ids[i] = ls_id_num(4096 + (uint64_t)i % 4096);
    uint64_t n = 0, cnt = 0;
    ok(ls_delete(&n, s, "c", ids, 3000) == 0 && n == 3000 && seg_files(dir, &gen) == 1 && gen == 3,
       "3000 of the 4096 segment points deleted: not compacted yet (fewer than 4096 dead)");
    ok(put(s, "c", 20000, 2000, 4, 2000) == 0 && seg_files(dir, &gen) == 1 && gen == 3,
       "2000 more appended (6096 records, 3000 dead)");
    ok(ls_delete_by_filter(&n, s, "c",
                           "{\"must\":[{\"key\":\"id\",\"range\":{\"gte\":20000,"
                           "\"lt\":21500}}]}") == 0 &&
           n == 1500 && seg_files(dir, &gen) == 1 && gen == 4 &&
           file_size(dir, 1, 4) == HDR + (1096L + 500) * REC,
       "deleting 1500 by filter: 4500 of 6096 dead, compacted to generation 4 (1596 live)");
    ok(ls_count(&cnt, scan, "c", NULL) == 0 && cnt == 4096 + 1096 + 500, "count after deletes");
    ok(check_points(held, "c", 0, 4096, 4) && check_points(held, "c", 7096, 1096, 4) &&
           check_points(scan, "c", 21500, 500, 4),
       "the survivors read back exactly");
    ls_close(s);
    ls_close(held);
    ls_close(scan);
    s = open_store(dir, 1);
    ok(s && check_points(s, "c", 7096, 1096, 4) && ls_count(&cnt, s, "c", NULL) == 0 && cnt == 5692,
       "reopened: the same");
    ls_close(s);
}

/* A damaged or short segment is an error (LS_ECORRUPT), never a wrong vector. */
static void test_damage(void)
{
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/dm", root);
    ls_store *s = open_store(dir, 0);
    ok(s && ls_collection_create(s, "d", DIM, LS_EUCLID) == 0 && put(s, "d", 0, 300, 1, 300) == 0,
       "300 points in a segment");
    ls_close(s);
    snprintf(path, sizeof path, "%s/v1-1.seg", dir);
    int fd = open(path, O_RDWR);
    unsigned char b = 0;
    ok(fd >= 0 && pread(fd, &b, 1, HDR + 5 * REC + 3) == 1, "read a byte of record 5");
    b ^= 0x10;
    ok(pwrite(fd, &b, 1, HDR + 5 * REC + 3) == 1, "flipped one bit of it");
    for (int scan = 0; scan < 2; scan++) {
        s = open_store(dir, scan);
        ls_id id = ls_id_num(5), other = ls_id_num(6);
        ls_points *r = NULL;
        is_int(ls_get(&r, s, "d", &id, 1, 1, 1), LS_ECORRUPT,
               scan ? "scan mode: the damaged point is reported damaged"
                    : "the collection with a damaged record does not load");
        ok(strstr(ls_errmsg(s), "damaged") != NULL, "  with a message saying so");
        if (scan) {
            ok(ls_get(&r, s, "d", &other, 1, 1, 1) == 0 && r->count == 1,
               "scan mode: an intact point still reads");
            ls_points_free(r);
        }
        ls_close(s);
    }
    b ^= 0x10;
    static unsigned char tail[200 * REC];
    ok(pwrite(fd, &b, 1, HDR + 5 * REC + 3) == 1 &&
           pread(fd, tail, sizeof tail, HDR + 100 * REC) == (ssize_t)sizeof tail &&
           ftruncate(fd, HDR + 100 * REC) == 0,
       "bit restored, file cut to 100 records");
    s = open_store(dir, 1);
    ls_points *r = NULL;
    uint64_t cnt;
    is_int(ls_scroll(&r, s, "d", &(ls_scroll_params){10, NULL, NULL, 1, 1}), LS_ECORRUPT,
           "a short segment is reported");
    ok(strstr(ls_errmsg(s), "shorter") != NULL, "  as shorter than its points need");
    is_int(ls_count(&cnt, s, "d", NULL), LS_ECORRUPT, "every read of the collection reports it");
    ls_close(s);
    unsigned char h = 0;
    ok(pwrite(fd, tail, sizeof tail, HDR + 100 * REC) == (ssize_t)sizeof tail &&
           pread(fd, &h, 1, 20) == 1,
       "records restored");
    h ^= 1;
    ok(pwrite(fd, &h, 1, 20) == 1, "a header byte changed");
    s = open_store(dir, 0);
    is_int(ls_scroll(&r, s, "d", &(ls_scroll_params){10, NULL, NULL, 1, 1}), LS_ECORRUPT,
           "a segment whose header does not match is reported");
    ok(strstr(ls_errmsg(s), "not the vector segment") != NULL, "  as not this collection's");
    ls_close(s);
    h ^= 1;
    ok(pwrite(fd, &h, 1, 20) == 1, "header restored");
    close(fd);
    s = open_store(dir, 0);
    ok(s && check_points(s, "d", 0, 300, 1), "all reads well again");
    ls_close(s);
    char away[420];
    snprintf(away, sizeof away, "%s.away", path);
    ok(rename(path, away) == 0, "the segment file moved away");
    for (int scan = 0; scan < 2; scan++) {
        s = open_store(dir, scan);
        is_int(ls_count(&cnt, s, "d", NULL), LS_ECORRUPT, "a missing segment file is reported");
        ok(strstr(ls_errmsg(s), "missing") != NULL, "  as missing");
        is_int(put(s, "d", 0, 300, 2, 300), LS_ECORRUPT, "  to a writer too, which writes nothing");
        ls_close(s);
    }
    ok(rename(away, path) == 0, "moved back");
    s = open_store(dir, 1);
    ok(s && check_points(s, "d", 0, 300, 1), "all there again, unchanged");
    ls_close(s);
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

/* A store as libraries before segments left it (format 1, no segs table) opens, reads and takes
 * segments; a format this library does not know is refused. */
static void test_formats(void)
{
    char dir[300], fmt[16], err[256];
    snprintf(dir, sizeof dir, "%s/fm", root);
    ls_store *s = open_store(dir, 0);
    ok(s && ls_collection_create(s, "f", DIM, LS_EUCLID) == 0 && put(s, "f", 0, 100, 1, 50) == 0,
       "100 points in the rows");
    ls_close(s);
    ok(sql_run(dir, "DROP TABLE segs") == 0,
       "the segs table dropped: a store from before segments");
    s = open_store(dir, 1);
    ok(s && check_points(s, "f", 0, 100, 1), "it opens and reads");
    ok(put(s, "f", 100, 300, 1, 300) == 0 && check_points(s, "f", 0, 400, 1),
       "a segment batch goes in beside the old rows");
    store_format(dir, fmt, sizeof fmt);
    is_str(fmt, "2", "and marks the store format 2");
    ls_close(s);
    ok(sql_run(dir, "UPDATE meta SET value = '3' WHERE key = 'format'") == 0, "format set to 3");
    s = NULL;
    is_int(ls_open(&s, dir, NULL, err, sizeof err), LS_ECORRUPT, "an unknown format is refused");
    ok(strstr(err, "format 3") != NULL, "  saying which");
    ls_close(s);
}

/* The moment the retry is for: a reader's snapshot names generation 1, and before it opens that
 * file another handle compacts the collection and removes it. The read starts again on a newer
 * snapshot and answers from generation 2. */
static ls_store *hook_writer;
static int hook_ver, hook_ran;

static void compact_now(void *ud)
{
    ls_test_seg_open_hook = NULL; /* once: the writer's own opens pass here too */
    hook_ran = put(hook_writer, "h", 0, 4096, hook_ver, 4096) == 0;
}

static void test_generation_removed_under_a_reader(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/hk", root);
    hook_writer = open_store(dir, 0);
    ok(hook_writer && ls_collection_create(hook_writer, "h", DIM, LS_EUCLID) == 0 &&
           put(hook_writer, "h", 0, 4096, 1, 4096) == 0,
       "4096 points in generation 1");
    for (int scan = 0; scan < 2; scan++) {
        ls_store *r = open_store(dir, scan);
        long before, after;
        seg_files(dir, &before);
        hook_ver = 2 + scan;
        hook_ran = 0;
        ls_test_seg_open_hook = compact_now;
        ok(r && check_points(r, "h", 0, 4096, hook_ver),
           scan ? "scan mode: the read answers from the new generation"
                : "the read answers from the new generation");
        ok(hook_ran && seg_files(dir, &after) == 1 && after == before + 1,
           "  the generation its snapshot named was removed before it opened it");
        ls_test_seg_open_hook = NULL;
        ls_close(r);
    }
    ls_close(hook_writer);
}

/* A writer compacting again and again in one process, readers in another: every read
 * succeeds and every point it returns is consistent (its vector is its payload's version). */
static void test_readers_during_compaction(void)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/mp", root);
    ls_store *s = open_store(dir, 0);
    ok(s && ls_collection_create(s, "m", DIM, LS_EUCLID) == 0 && put(s, "m", 0, 4096, 1, 4096) == 0,
       "4096 points");
    ls_close(s);
    int fds[2];
    if (pipe(fds))
        return;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        ls_store *w = open_store(dir, 0);
        int ver = 2;
        for (;; ver++) {
            if (!w || put(w, "m", 0, 4096, ver, 4096))
                _exit(3);
            if (write(fds[1], &ver, sizeof ver) != sizeof ver)
                _exit(4);
        }
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    ls_store *held = open_store(dir, 0), *scan = open_store(dir, 1);
    int reads = 0, bad = 0, fails = 0, last = 0, v;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ls_id ids[64];
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
        while (read(fds[0], &v, sizeof v) == sizeof v)
            last = v;
        /* at least 1.5 s and 5 versions (each one a compaction); slow machines and valgrind
         * get up to 5 minutes */
        if ((ms > 1500 && last >= 6) || ms > 300000)
            break;
        ls_store *r = reads % 2 ? scan : held;
        for (int i = 0; i < 64; i++)
            ids[i] = ls_id_num((uint64_t)(reads * 61 + i * 64) % 4096);
        ls_points *p = NULL;
        if (ls_get(&p, r, "m", ids, 64, 1, 1) != 0 || p->count != 64) {
            if (fails++ < 3)
                diag("read failed: %s", ls_errmsg(r));
            ls_points_free(p);
            reads++;
            continue;
        }
        for (size_t i = 0; i < p->count; i++) {
            int ver = 0;
            const char *vp = strstr(p->points[i].payload, "\"ver\":");
            if (vp)
                ver = atoi(vp + 6);
            float want[DIM];
            vec_of(want, p->points[i].id.num, ver);
            bad += memcmp(want, p->points[i].vector, sizeof want) != 0;
        }
        ls_points_free(p);
        reads++;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fds[0]);
    diag("%d reads while the writer reached version %d", reads, last);
    ok(last >= 4, "the writer compacted several times meanwhile");
    ok(reads > 20 && fails == 0, "every read succeeded");
    ok(bad == 0, "every point read was consistent (vector = its payload's version)");
    ls_close(held);
    ls_close(scan);
    s = open_store(dir, 1);
    long gen;
    ok(s && seg_files(dir, &gen) <= 2, "after a kill -9 mid-write: at most one stray file");
    uint64_t cnt = 0;
    ok(ls_count(&cnt, s, "m", NULL) == 0 && cnt == 4096, "all 4096 points there");
    ok(put(s, "m", 0, 4096, 1000, 4096) == 0 && put(s, "m", 0, 4096, 1001, 4096) == 0 &&
           check_points(s, "m", 0, 4096, 1001) && seg_files(dir, &gen) == 1,
       "writes go on after the kill; the next compaction removes stray files");
    ls_close(s);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/test_local_seg_%ld", (long)getpid());
    tap_rmrf(root);
    mkdir(root, 0755);
    test_roundtrip();
    test_compaction();
    test_damage();
    test_formats();
    test_generation_removed_under_a_reader();
    test_readers_during_compaction();
    tap_rmrf(root);
    return tap_done();
}
