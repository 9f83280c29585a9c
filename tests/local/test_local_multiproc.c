/* Local mode engine across processes: kill -9 in the middle of upserts (every acknowledged
 * batch survives, no batch is half there, the database passes integrity_check), a reader that
 * sees a writer's commits, two writers serialising, and alias switches seen atomically. */
#include "lstore.h"
#include "tap.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define B 64
#define BMAX 320

/* the crash test's batch size: 64 (vectors in the rows) or 300 (in the vector segment) */
static int cb = B;
#define DIM 8

static char dir[256];

/* n points of batch batch */
static void fill(float *v, uint64_t batch, int n)
{
    for (int i = 0; i < n * DIM; i++)
        v[i] = (float)(batch * 1000 + (uint64_t)i % 997) + 0.5f;
}

/* Upserts batches first, first+1, ... forever; writes each acknowledged batch number to fd. */
static void writer_child(int fd, uint64_t first, const char *coll)
{
    ls_store *s = NULL;
    char err[256];
    if (ls_open(&s, dir, NULL, err, sizeof err))
        _exit(2);
    float v[BMAX * DIM];
    ls_id ids[BMAX];
    char pls[BMAX][48];
    const char *pl[BMAX];
    for (uint64_t b = first;; b++) {
        for (int i = 0; i < cb; i++) {
            ids[i] = ls_id_num(b * cb + (uint64_t)i);
            snprintf(pls[i], sizeof pls[i], "{\"batch\":%llu,\"i\":%d}", (unsigned long long)b, i);
            pl[i] = pls[i];
        }
        fill(v, b, cb);
        if (ls_upsert(s, coll, cb, ids, v, DIM, pl))
            _exit(3);
        if (write(fd, &b, sizeof b) != sizeof b)
            _exit(4);
    }
}

static int integrity_ok(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/store.db", dir);
    sqlite3 *db = NULL;
    int good = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            good = strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return good;
}

/* kill -9 of a writer of batches of cb points into coll, six times */
static void test_crash(const char *coll)
{
    ls_store *s = NULL;
    char err[256];
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0 &&
           ls_collection_create(s, coll, DIM, LS_EUCLID) == 0,
       "crash collection");
    ls_close(s);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    uint64_t next = 0;
    for (int round = 0; round < 6; round++) {
        int fds[2];
        if (pipe(fds))
            return;
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            writer_child(fds[1], next, coll);
        }
        close(fds[1]);
        /* let it run a random while, reading acknowledgements, then kill -9 */
        struct timespec ts = {0, (long)(20 + rand() % 180) * 1000000L};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int st;
        waitpid(pid, &st, 0);
        int64_t last_ack = -1;
        uint64_t b;
        while (read(fds[0], &b, sizeof b) == sizeof b)
            last_ack = (int64_t)b;
        close(fds[0]);
        ok(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "writer killed with -9");

        s = NULL;
        ok(ls_open(&s, dir, NULL, err, sizeof err) == 0, "reopen after the kill");
        ok(integrity_ok(), "  database integrity_check ok");
        uint64_t count = 0;
        ok(ls_count(&count, s, coll, NULL) == 0, "  count");
        ok(count % cb == 0, "  no batch half written");
        uint64_t batches = count / cb;
        char what[160];
        snprintf(what, sizeof what,
                 "  every acknowledged batch is there (last ack %lld, %llu "
                 "batches stored)",
                 (long long)last_ack, (unsigned long long)batches);
        /* the child wrote batches next, next + 1, ...: all acknowledged ones are there, and at
         * most the one in flight besides */
        uint64_t acked = last_ack >= 0 ? (uint64_t)last_ack + 1 : next;
        ok(batches >= acked && batches <= acked + 1, what);
        /* contents of the last stored batch are complete and right */
        if (batches) {
            ls_id ids[BMAX];
            for (int i = 0; i < cb; i++)
                ids[i] = ls_id_num((batches - 1) * cb + (uint64_t)i);
            ls_points *r = NULL;
            float v[BMAX * DIM];
            fill(v, batches - 1, cb);
            int good = ls_get(&r, s, coll, ids, (size_t)cb, 1, 1) == 0 && r->count == (size_t)cb;
            for (int i = 0; good && i < cb; i++) {
                char want[48];
                snprintf(want, sizeof want, "{\"batch\":%llu,\"i\":%d}",
                         (unsigned long long)(batches - 1), i);
                good = !strcmp(r->points[i].payload, want) &&
                       !memcmp(r->points[i].vector, v + i * DIM, sizeof(float) * DIM);
            }
            ok(good, "  last batch complete, payloads and vectors intact");
            ls_points_free(r);
        }
        ls_close(s);
        next = batches;
    }
}

static void test_reader_writer(void)
{
    ls_store *s = NULL;
    char err[256];
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0 &&
           ls_collection_create(s, "rw", DIM, LS_DOT) == 0,
       "rw collection");
    uint64_t n = 0;
    ok(ls_count(&n, s, "rw", NULL) == 0 && n == 0, "reader loaded (empty)");
    enum { BATCHES = 40 };
    pid_t w[2];
    for (int k = 0; k < 2; k++) {
        w[k] = fork();
        if (w[k] == 0) {
            ls_store *ws = NULL;
            char e[256];
            if (ls_open(&ws, dir, NULL, e, sizeof e))
                _exit(2);
            float v[B * DIM];
            ls_id ids[B];
            for (uint64_t b = 0; b < BATCHES; b++) {
                for (int i = 0; i < B; i++)
                    ids[i] = ls_id_num((uint64_t)k * 1000000 + b * B + (uint64_t)i);
                fill(v, b, B);
                if (ls_upsert(ws, "rw", B, ids, v, DIM, NULL))
                    _exit(3);
            }
            ls_close(ws);
            _exit(0);
        }
    }
    /* the reader polls while both write: counts only grow, in whole batches */
    uint64_t prev = 0;
    int monotonic = 1, whole = 1, polls = 0;
    for (;;) {
        if (ls_count(&n, s, "rw", NULL) != 0)
            break;
        polls++;
        if (n < prev)
            monotonic = 0;
        if (n % B)
            whole = 0;
        prev = n;
        int st, done = 0;
        for (int k = 0; k < 2; k++)
            done += waitpid(w[k], &st, WNOHANG) == w[k] || (w[k] == -1);
        if (n == 2 * BATCHES * B)
            break;
        if (polls > 200000)
            break;
    }
    int st0 = 0, st1 = 0;
    waitpid(w[0], &st0, 0);
    waitpid(w[1], &st1, 0);
    ok(WIFEXITED(st0) && WEXITSTATUS(st0) == 0 && WIFEXITED(st1) && WEXITSTATUS(st1) == 0,
       "two writers finished (serialised, no busy errors)");
    ok(ls_count(&n, s, "rw", NULL) == 0 && n == 2 * BATCHES * B, "reader sees every write");
    ok(monotonic && whole, "reader saw only whole committed batches, never going back");
    diag("reader polled %d times while the writers ran", polls);
    /* the reader's incremental view equals a fresh load */
    ls_store *fresh = NULL;
    ls_open(&fresh, dir, NULL, err, sizeof err);
    float q[DIM] = {1, -1, 0.5f, 2, 0, 0, 1, 3};
    ls_query_params p = {20, 0, NULL, 0, 0, 1, 1};
    ls_points *a = NULL, *b = NULL;
    int same = ls_query(&a, s, "rw", q, DIM, &p) == 0 &&
               ls_query(&b, fresh, "rw", q, DIM, &p) == 0 && a->count == b->count;
    for (size_t i = 0; same && i < a->count; i++)
        same = ls_id_cmp(&a->points[i].id, &b->points[i].id) == 0 &&
               a->points[i].score == b->points[i].score;
    ok(same, "incrementally refreshed reader answers as a fresh one");
    ls_points_free(a);
    ls_points_free(b);
    ls_close(fresh);
    ls_close(s);
}

static void test_alias_switch(void)
{
    ls_store *s = NULL;
    char err[256];
    ok(ls_open(&s, dir, NULL, err, sizeof err) == 0 &&
           ls_collection_create(s, "blue", 2, LS_DOT) == 0 &&
           ls_collection_create(s, "green", 2, LS_DOT) == 0,
       "blue and green");
    ls_alias_action a = {LS_ALIAS_CREATE, "prod", "blue", NULL};
    ok(ls_aliases_update(s, &a, 1) == 0, "prod -> blue");
    pid_t pid = fork();
    if (pid == 0) {
        ls_store *ws = NULL;
        char e[256];
        if (ls_open(&ws, dir, NULL, e, sizeof e))
            _exit(2);
        for (int i = 0; i < 300; i++) {
            ls_alias_action sw[2] = {{LS_ALIAS_DELETE, "prod", NULL, NULL},
                                     {LS_ALIAS_CREATE, "prod", i % 2 ? "blue" : "green", NULL}};
            if (ls_aliases_update(ws, sw, 2))
                _exit(3);
            /* and a failing switch, which must change nothing */
            ls_alias_action bad[2] = {{LS_ALIAS_DELETE, "prod", NULL, NULL},
                                      {LS_ALIAS_CREATE, "prod", "nowhere", NULL}};
            if (ls_aliases_update(ws, bad, 2) != LS_ENOTFOUND)
                _exit(4);
        }
        ls_close(ws);
        _exit(0);
    }
    int always = 1, reads = 0, st = 0;
    while (waitpid(pid, &st, WNOHANG) == 0) {
        ls_collection_info info;
        int rc = ls_collection_info_get(&info, s, "prod");
        reads++;
        if (rc != 0 || (strcmp(info.name, "blue") && strcmp(info.name, "green")))
            always = 0;
    }
    ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "switcher finished");
    ok(always, "prod always resolved to blue or green, never missing");
    diag("%d reads during 600 switches", reads);
    ls_close(s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/ls_multi_%ld", (long)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    test_crash("crash");
    cb = 300;
    test_crash("crash_seg");
    test_reader_writer();
    test_alias_switch();
    if (system(cmd) != 0)
        return 1;
    return tap_done();
}
