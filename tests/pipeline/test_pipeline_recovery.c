/* Pipeline core, state recovery: the deployment id, run locks (a killed runner's run is
 * abandoned, a live one busy), the sweep of dead processes' temp files, version reservation
 * above a floor, index repair from found versions, validation of every run and index file read
 * (a damaged file is RP_ECORRUPT and never rewritten), rp_run_create on a full disk and
 * rp_run_inherit. Processes are synchronised with pipes, never with sleeps. */
#include "pipeline.h"
#include "state_json.h"
#include "tap.h"

#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char base[64];
/* The handle the current test holds: a forked child frees its copy before it exits (valgrind
 * would count it as lost). */
static rp_state *held;

static void child_exit(int code)
{
    rp_state_free(held);
    _exit(code);
}

static void drop(rp_state *s)
{
    if (s == held)
        held = NULL;
    rp_state_free(s);
}

/* ---- helpers ---- */

static void put_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        diag("cannot write %s: %s", path, strerror(errno));
        return;
    }
    if (len && fwrite(data, 1, len, f) != len)
        diag("short write to %s", path);
    fclose(f);
}

/* The file's bytes (NUL-terminated, the caller's) or NULL when it cannot be read. */
static char *get_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0, r;
    char *b = malloc(cap);
    while (b && (r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (n + 1 == cap) {
            char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    fclose(f);
    if (b) {
        b[n] = 0;
        if (len)
            *len = n;
    }
    return b;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static int has(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

/* Waits for a child; its exit status, or -1 when it did not exit normally. */
static int reap(pid_t pid)
{
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The pid of a process that existed and is gone (exited and reaped). */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    if (pid == 0)
        child_exit(0);
    reap(pid);
    return pid;
}

static rp_state *open_state(const char *dir)
{
    rp_state *s = NULL;
    char err[600];
    if (rp_state_open(&s, dir, err, sizeof err)) {
        diag("open %s: %s", dir, err);
        return NULL;
    }
    return s;
}

/* ---- 1. the deployment id ---- */

static int is_hex32(const char *id)
{
    if (!id || strlen(id) != 32)
        return 0;
    for (int i = 0; i < 32; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static void test_deployment(void)
{
    char dir[256], path[320], id[33] = "";
    struct stat st;
    /* a fresh directory with missing parents, created under umask 022 */
    snprintf(dir, sizeof dir, "%s/dep/a/b", base);
    rp_state *s = held = open_state(dir);
    ok(s != NULL, "open a fresh state directory (parents missing)");
    if (!s)
        return;
    const char *d = rp_state_deployment(s);
    ok(is_hex32(d), "deployment id: 32 lower-case hex digits");
    snprintf(id, sizeof id, "%s", d ? d : "");
    ok(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700, "state directory is 0700");
    snprintf(path, sizeof path, "%s/runs", dir);
    ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700, "runs/ is 0700");
    snprintf(path, sizeof path, "%s/indexes", dir);
    ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0700, "indexes/ is 0700");
    snprintf(path, sizeof path, "%s/deployment", dir);
    ok(stat(path, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600,
       "deployment file is 0600");
    char *txt = get_file(path, NULL), want[40];
    snprintf(want, sizeof want, "%s\n", id);
    is_str(txt, want, "deployment file: the id and a newline");
    free(txt);
    drop(s);

    s = open_state(dir);
    is_str(s ? rp_state_deployment(s) : NULL, id, "the same id after reopening");
    drop(s);
    ok(rp_state_deployment(NULL) == NULL, "rp_state_deployment(NULL) is NULL");

    /* several processes opening one fresh directory at once all see one id */
    enum { NP = 8 };
    char dir2[256];
    snprintf(dir2, sizeof dir2, "%s/dep2", base);
    int go[2], res[2];
    ok(pipe(go) == 0 && pipe(res) == 0, "pipes");
    pid_t pids[NP];
    for (int p = 0; p < NP; p++) {
        if ((pids[p] = fork()) == 0) {
            char c, out[32];
            close(go[1]);
            close(res[0]);
            if (read(go[0], &c, 1) != 0) /* EOF: the parent said go */
                child_exit(2);
            rp_state *cs = open_state(dir2);
            if (cs && is_hex32(rp_state_deployment(cs)))
                memcpy(out, rp_state_deployment(cs), 32);
            else
                memset(out, 'X', sizeof out);
            rp_state_free(cs);
            child_exit(write(res[1], out, sizeof out) == sizeof out ? 0 : 3);
        }
    }
    close(go[0]);
    close(res[1]);
    close(go[1]); /* go */
    char ids[NP][33];
    int got = 0;
    for (; got < NP; got++) {
        size_t n = 0;
        while (n < 32) {
            ssize_t r = read(res[0], ids[got] + n, 32 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
        }
        if (n < 32)
            break;
        ids[got][32] = 0;
    }
    close(res[0]);
    int clean = 1;
    for (int p = 0; p < NP; p++)
        clean &= reap(pids[p]) == 0;
    ok(clean, "every opener succeeded");
    is_int(got, NP, "every opener reported its id");
    int same = got == NP && is_hex32(ids[0]);
    for (int p = 1; p < got; p++)
        same &= strcmp(ids[p], ids[0]) == 0;
    ok(same, "concurrent first opens all see the same id");
    s = open_state(dir2);
    is_str(s ? rp_state_deployment(s) : NULL, got ? ids[0] : "", "the id that was kept");
    ok(s && strcmp(rp_state_deployment(s), id) != 0, "another directory has another id");
    drop(s);

    /* a damaged deployment file: RP_ECORRUPT, a message naming the file, not rewritten */
    static const struct {
        const char *what, *text;
    } bad[] = {
        {"empty", ""},
        {"too short", "0123abcd\n"},
        {"no newline", "0123456789abcdef0123456789abcdef"},
        {"upper case", "0123456789ABCDEF0123456789abcdef\n"},
        {"not hex", "0123456789abcdefg123456789abcdef\n"},
        {"too long", "0123456789abcdef0123456789abcdef0\n"},
        {"trailing line", "0123456789abcdef0123456789abcdef\n\n"},
        {"spaces", "0123456789abcdef 123456789abcdef\n"},
    };
    snprintf(path, sizeof path, "%s/deployment", dir);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char label[200], err[600] = "";
        put_file(path, bad[i].text, strlen(bad[i].text));
        rp_state *bs = NULL;
        int rc = rp_state_open(&bs, dir, err, sizeof err);
        snprintf(label, sizeof label, "deployment %s: RP_ECORRUPT", bad[i].what);
        is_int(rc, RP_ECORRUPT, label);
        snprintf(label, sizeof label, "deployment %s: no handle", bad[i].what);
        ok(bs == NULL, label);
        rp_state_free(bs);
        snprintf(label, sizeof label, "deployment %s: the message names the file", bad[i].what);
        if (!ok(has(err, path) && has(err, "damaged"), label))
            diag("message: %s", err);
        size_t n = 0;
        char *now = get_file(path, &n);
        snprintf(label, sizeof label, "deployment %s: file left as it was", bad[i].what);
        ok(now && n == strlen(bad[i].text) && !memcmp(now, bad[i].text, n), label);
        free(now);
    }
    rp_state *bs = NULL;
    is_int(rp_state_open(&bs, dir, NULL, 0), RP_ECORRUPT, "damaged, no error buffer: no crash");
    put_file(path, want, strlen(want));
    s = open_state(dir);
    is_str(s ? rp_state_deployment(s) : NULL, id, "repaired file: the id again");
    drop(s);
}

/* ---- 2. run locks ---- */

/* In a child: a new handle's view of run_id's liveness (exit 10 + alive, or 1 on error). */
static int alive_elsewhere(const char *dir, const char *run_id)
{
    pid_t pid = fork();
    if (pid == 0) {
        rp_state *cs = open_state(dir);
        int a = -1;
        int rc = cs ? rp_run_alive(cs, &a, run_id) : -1;
        rp_state_free(cs);
        child_exit(rc == 0 && (a == 0 || a == 1) ? 10 + a : 1);
    }
    int st = reap(pid);
    return st == 10 || st == 11 ? st - 10 : -1;
}

static void test_run_locks(const char *dir)
{
    rp_state *s = held = open_state(dir);
    if (!ok(s != NULL, "open for run locks"))
        return;
    const char *steps[] = {"discover"};
    is_int(rp_run_create(s, "l1", "demo", steps, 1, NULL), 0, "run l1");
    is_int(rp_run_create(s, "l2", "demo", steps, 1, NULL), 0, "run l2");
    int a = -1;
    is_int(rp_run_alive(s, &a, "l1"), 0, "alive? never locked");
    is_int(a, 0, "a run never locked is not alive");

    /* a child holds l1 and waits */
    int up[2], hold[2];
    ok(pipe(up) == 0 && pipe(hold) == 0, "pipes");
    pid_t child = fork();
    if (child == 0) {
        close(up[0]);
        close(hold[1]);
        rp_state *cs = open_state(dir);
        int rc = cs ? rp_run_lock(cs, "l1") : -100;
        char c = (char)rc;
        if (write(up[1], &c, 1) != 1)
            child_exit(2);
        if (read(hold[0], &c, 1) < 0) /* until killed (or the parent is gone) */
            child_exit(3);
        rp_state_free(cs);
        child_exit(0);
    }
    close(up[1]);
    close(hold[0]);
    char c = 1;
    ok(read(up[0], &c, 1) == 1 && c == 0, "the child locked l1");
    close(up[0]);
    a = -1;
    is_int(rp_run_alive(s, &a, "l1"), 0, "alive? while the child holds it");
    is_int(a, 1, "l1 is alive");
    is_int(rp_run_lock(s, "l1"), RP_EBUSY, "locking a run another process holds: RP_EBUSY");
    char pidtxt[40];
    snprintf(pidtxt, sizeof pidtxt, "(pid %ld)", (long)child);
    if (!ok(has(rp_state_errmsg(s), pidtxt), "the message names the holder's pid"))
        diag("message: %s", rp_state_errmsg(s));
    is_int(alive_elsewhere(dir, "l1"), 1, "alive in a third process too");

    kill(child, SIGKILL);
    is_int(reap(child), -1, "the holder was killed");
    close(hold[1]);
    a = -1;
    is_int(rp_run_alive(s, &a, "l1"), 0, "alive? after the kill");
    is_int(a, 0, "a killed holder's run is not alive (abandoned)");
    is_int(rp_run_lock(s, "l1"), 0, "and can be locked again");
    a = -1;
    rp_run_alive(s, &a, "l1");
    is_int(a, 1, "alive for the handle holding it");
    is_int(alive_elsewhere(dir, "l1"), 1, "alive for another process");
    char lockpath[320], mypid[40];
    snprintf(lockpath, sizeof lockpath, "%s/runs/l1/run.lock", dir);
    snprintf(mypid, sizeof mypid, "%ld\n", (long)getpid());
    char *lt = get_file(lockpath, NULL);
    is_str(lt, mypid, "the lock file names the holder");
    free(lt);
    is_int(rp_run_lock(s, "l1"), 0, "the same handle locking the same run again: fine");
    is_int(alive_elsewhere(dir, "l1"), 1, "still held");

    /* a handle holds one run at a time */
    is_int(rp_run_lock(s, "l2"), 0, "lock l2");
    is_int(alive_elsewhere(dir, "l1"), 0, "locking l2 released l1");
    is_int(alive_elsewhere(dir, "l2"), 1, "l2 is held");
    rp_state *s2 = open_state(dir);
    is_int(s2 ? rp_run_lock(s2, "l1") : -100, 0, "another handle takes l1");
    is_int(alive_elsewhere(dir, "l1"), 1, "l1 held by that handle");
    rp_state_free(s2);
    is_int(alive_elsewhere(dir, "l1"), 0, "rp_state_free released it");
    rp_run_unlock(s);
    a = -1;
    rp_run_alive(s, &a, "l2");
    is_int(a, 0, "rp_run_unlock released l2");
    is_int(alive_elsewhere(dir, "l2"), 0, "for other processes too");
    rp_run_unlock(s);
    rp_run_unlock(NULL);
    ok(1, "rp_run_unlock twice and on NULL: no-ops");

    /* missing runs and bad ids */
    char nope[320];
    snprintf(nope, sizeof nope, "%s/runs/nope", dir);
    is_int(rp_run_lock(s, "nope"), RP_ENOTFOUND, "locking a missing run: RP_ENOTFOUND");
    ok(!exists(nope), "and makes no directory for it");
    a = -1;
    is_int(rp_run_alive(s, &a, "nope"), 0, "alive? a missing run");
    is_int(a, 0, "a missing run is not alive");
    static const char *const badids[] = {"../l1", "L1", "", "a/b", "l1 ", NULL};
    for (size_t i = 0; i < sizeof badids / sizeof *badids; i++) {
        char label[120];
        snprintf(label, sizeof label, "rp_run_lock(\"%s\"): RP_EINVAL",
                 badids[i] ? badids[i] : "NULL");
        is_int(rp_run_lock(s, badids[i]), RP_EINVAL, label);
        snprintf(label, sizeof label, "rp_run_alive(\"%s\"): RP_EINVAL",
                 badids[i] ? badids[i] : "NULL");
        is_int(rp_run_alive(s, &a, badids[i]), RP_EINVAL, label);
    }
    char longid[80];
    memset(longid, 'a', 65);
    longid[65] = 0;
    is_int(rp_run_lock(s, longid), RP_EINVAL, "a 65-character id: RP_EINVAL");
    is_int(rp_run_lock(NULL, "l1"), RP_EINVAL, "rp_run_lock(NULL)");
    is_int(rp_run_alive(NULL, &a, "l1"), RP_EINVAL, "rp_run_alive(NULL)");
    is_int(rp_run_alive(s, NULL, "l1"), RP_EINVAL, "rp_run_alive(out NULL)");
    drop(s);
}

/* ---- 3. sweep ---- */

static void touch(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    put_file(p, "x", 1);
}

static void test_sweep(void)
{
    char dir[256], idx[300], r1[300], r2[300], p[512];
    snprintf(dir, sizeof dir, "%s/sweep", base);
    rp_state *s = held = open_state(dir);
    if (!ok(s != NULL, "open for sweep"))
        return;
    const char *steps[] = {"discover"};
    is_int(rp_run_create(s, "sw1", "demo", steps, 1, NULL), 0, "run sw1");
    is_int(rp_run_create(s, "sw2", "demo", steps, 1, NULL), 0, "run sw2");
    snprintf(idx, sizeof idx, "%s/indexes", dir);
    snprintf(r1, sizeof r1, "%s/runs/sw1", dir);
    snprintf(r2, sizeof r2, "%s/runs/sw2", dir);

    long dead = (long)dead_pid(), me = (long)getpid();
    int hold[2];
    ok(pipe(hold) == 0, "pipe");
    pid_t live = fork();
    if (live == 0) {
        char c;
        close(hold[1]);
        child_exit(read(hold[0], &c, 1) < 0 ? 1 : 0); /* alive until the parent closes the pipe */
    }
    close(hold[0]);

    struct {
        const char *dir;
        char name[96];
        int gone_run; /* removed by the sweep of run sw1 */
        int gone_all; /* removed by the sweep of every run */
    } f[40];
    int nf = 0;
#define F(d, g1, g2, ...)                                                                          \
    do {                                                                                           \
        f[nf].dir = (d);                                                                           \
        snprintf(f[nf].name, sizeof f[nf].name, __VA_ARGS__);                                      \
        f[nf].gone_run = (g1);                                                                     \
        f[nf].gone_all = (g2);                                                                     \
        nf++;                                                                                      \
    } while (0)
    /* a dead process's files */
    F(dir, 1, 1, "deployment.tmp.%ld", dead);
    F(dir, 1, 1, "x.tmp.%ld.3", dead);
    F(idx, 1, 1, "demo.json.tmp.%ld.0", dead);
    F(idx, 1, 1, "other.json.tmp.%ld", dead);
    F(r1, 1, 1, "chunks.ndjson.tmp.%ld", dead);
    F(r1, 1, 1, "run.json.tmp.%ld.17", dead);
    F(r2, 0, 1, "chunks.ndjson.tmp.%ld", dead);
    F(r2, 0, 1, "run.json.tmp.%ld.0", dead);
    /* live processes' files */
    F(dir, 0, 0, "y.tmp.%ld", me);
    F(dir, 0, 0, "y.tmp.%ld.1", me);
    F(idx, 0, 0, "demo.json.tmp.%ld.2", me);
    F(r1, 0, 0, "run.json.tmp.%ld.4", me);
    F(dir, 0, 0, "z.tmp.%ld", (long)live);
    F(r1, 0, 0, "z.tmp.%ld.7", (long)live);
    F(r2, 0, 0, "z.tmp.%ld", (long)live);
    /* not of the shape */
    F(dir, 0, 0, "a.tmp.12x");
    F(dir, 0, 0, "a.tmp.");
    F(dir, 0, 0, "a.tmp.%ld.", dead);
    F(dir, 0, 0, "a.tmp.%ld.2.3", dead);
    F(dir, 0, 0, "a.tmp.%ldx", dead);
    F(dir, 0, 0, "a.tmp.%ld.x", dead);
    F(dir, 0, 0, "a.tmp.%ld.3x", dead);
    F(dir, 0, 0, "a.tmp.0");
    F(dir, 0, 0, "a.tmp.-%ld", dead);
    F(dir, 0, 0, "a.tmp.%ld.tmp.x", dead);
    F(dir, 0, 0, "a.tmp-%ld", dead);
    F(dir, 0, 0, "tmp.%ld", dead);
    F(idx, 0, 0, "b.tmp.%ldz", dead);
    F(r1, 0, 0, "c.tmp.%ld.", dead);
    F(r1, 0, 0, "c.tmpx%ld", dead);
#undef F
    for (int i = 0; i < nf; i++)
        touch(f[i].dir, f[i].name);
    /* a directory of the shape is not a temp file: left, and not counted */
    snprintf(p, sizeof p, "%s/d.tmp.%ld", dir, dead);
    ok(mkdir(p, 0700) == 0, "a directory named like a dead process's temp file");

    size_t removed = 99;
    is_int(rp_state_sweep(s, &removed, "sw1"), 0, "sweep (run sw1)");
    int want = 0, right = 1;
    for (int i = 0; i < nf; i++) {
        want += f[i].gone_run;
        snprintf(p, sizeof p, "%s/%s", f[i].dir, f[i].name);
        if (exists(p) == f[i].gone_run) {
            right = 0;
            diag("%s: %s, want %s", p, exists(p) ? "kept" : "removed",
                 f[i].gone_run ? "removed" : "kept");
        }
    }
    is_int(removed, want, "removed count (state dir, indexes/, runs/sw1/)");
    ok(right, "dead processes' temp files removed, live ones and other names kept");
    snprintf(p, sizeof p, "%s/d.tmp.%ld", dir, dead);
    ok(exists(p), "the directory is left");
    snprintf(p, sizeof p, "%s/run.json", r1);
    ok(exists(p), "run.json kept");
    snprintf(p, sizeof p, "%s/deployment", dir);
    ok(exists(p), "deployment kept");

    removed = 99;
    is_int(rp_state_sweep(s, &removed, NULL), 0, "sweep (every run)");
    want = 0;
    right = 1;
    for (int i = 0; i < nf; i++) {
        want += f[i].gone_all && !f[i].gone_run;
        snprintf(p, sizeof p, "%s/%s", f[i].dir, f[i].name);
        if (exists(p) == f[i].gone_all) {
            right = 0;
            diag("%s: %s, want %s", p, exists(p) ? "kept" : "removed",
                 f[i].gone_all ? "removed" : "kept");
        }
    }
    is_int(removed, want, "removed count (the other run's)");
    ok(right, "the other run's dead files removed too, the rest kept");
    removed = 99;
    is_int(rp_state_sweep(s, &removed, NULL), 0, "sweep again");
    is_int(removed, 0, "nothing more to remove");

    /* the live child is gone now: its files go too */
    close(hold[1]);
    is_int(reap(live), 0, "the live child ended");
    removed = 99;
    is_int(rp_state_sweep(s, &removed, NULL), 0, "sweep after the child ended");
    is_int(removed, 3, "its three files removed");
    is_int(rp_state_sweep(s, NULL, "missing"), 0, "sweep of a run with no directory, no count");
    is_int(rp_state_sweep(s, &removed, "../x"), RP_EINVAL, "bad run id: RP_EINVAL");
    is_int(rp_state_sweep(NULL, &removed, NULL), RP_EINVAL, "rp_state_sweep(NULL)");
    is_int(rp_step_update(s, "sw1", "discover", RP_RUNNING, NULL), 0, "state usable after");
    drop(s);
}

/* ---- 4. reservation above a floor ---- */

static void test_reserve_from(const char *dir)
{
    rp_state *s = held = open_state(dir);
    if (!ok(s != NULL, "open for reserve_from"))
        return;
    int v = 0;
    is_int(rp_index_reserve_from(s, &v, "rf", "r1", 5), 0, "reserve from 5 (new index)");
    is_int(v, 5, "got 5");
    is_int(rp_index_reserve(s, &v, "rf", NULL), 0, "reserve");
    is_int(v, 6, "continues at 6");
    is_int(rp_index_reserve_from(s, &v, "rf", NULL, 3), 0, "reserve from 3");
    is_int(v, 7, "a floor below next_version changes nothing: 7");
    is_int(rp_index_reserve_from(s, &v, "rf", NULL, 7), 0, "reserve from 7 (taken)");
    is_int(v, 8, "never a number already handed out: 8");
    is_int(rp_index_reserve_from(s, &v, "rf", NULL, 20), 0, "reserve from 20");
    is_int(v, 20, "got 20");
    is_int(rp_index_reserve(s, &v, "rf", NULL), 0, "reserve");
    is_int(v, 21, "continues at 21");
    json_object *j = read_index(s, "rf");
    is_str(jget(j, "next_version"), "22", "next_version 22");
    is_str(jget(j, "versions.0.version"), "5", "first version 5");
    is_str(jget(j, "versions.0.run_id"), "r1", "with its run");
    is_str(jget(j, "versions.0.state"), "building", "building");
    is_str(jget(j, "versions.4.version"), "20", "fifth version 20");
    ok(jget(j, "versions.6.version") == NULL, "six versions");
    is_str(jget(j, "active"), "null", "none active");
    json_object_put(j);
    is_int(rp_index_reserve_from(s, &v, "rz", NULL, 0), 0, "floor 0 on a new index");
    is_int(v, 1, "starts at 1");
    is_int(rp_index_reserve_from(s, &v, "rz", NULL, -5), 0, "negative floor");
    is_int(v, 2, "2");
    v = -7;
    is_int(rp_index_reserve_from(s, NULL, "rf", NULL, 1), RP_EINVAL, "out NULL");
    is_int(rp_index_reserve_from(s, &v, "Bad!", NULL, 1), RP_EINVAL, "bad index name");
    is_int(rp_index_reserve_from(s, &v, "rf", "Bad run", 1), RP_EINVAL, "bad run id");
    is_int(rp_index_reserve_from(NULL, &v, "rf", NULL, 1), RP_EINVAL, "NULL state");
    is_int(v, -7, "out untouched on failure");

    /* several processes, one floor: distinct numbers, from the floor up, no gaps */
    enum { NP = 6, K = 5, MIN = 100 };
    int fds[2], go[2];
    ok(pipe(fds) == 0 && pipe(go) == 0, "pipes");
    pid_t pids[NP];
    for (int p = 0; p < NP; p++) {
        if ((pids[p] = fork()) == 0) {
            char c;
            close(fds[0]);
            close(go[1]);
            if (read(go[0], &c, 1) != 0)
                child_exit(2);
            rp_state *cs = open_state(dir);
            int code = cs ? 0 : 3;
            for (int k = 0; k < K && !code; k++) {
                int cv = 0;
                if (rp_index_reserve_from(cs, &cv, "rfc", NULL, MIN))
                    code = 4;
                else if (write(fds[1], &cv, sizeof cv) != sizeof cv)
                    code = 5;
            }
            rp_state_free(cs);
            child_exit(code);
        }
    }
    close(fds[1]);
    close(go[0]);
    close(go[1]);
    int seen[NP * K] = {0}, got = 0, bad = 0, cv;
    while (read(fds[0], &cv, sizeof cv) == sizeof cv) {
        got++;
        if (cv < MIN || cv >= MIN + NP * K || seen[cv - MIN]++)
            bad++;
    }
    close(fds[0]);
    int clean = 1;
    for (int p = 0; p < NP; p++)
        clean &= reap(pids[p]) == 0;
    ok(clean, "every reserver succeeded");
    is_int(got, NP * K, "30 reservations");
    is_int(bad, 0, "all distinct, 100..129");
    j = read_index(s, "rfc");
    is_str(jget(j, "next_version"), "130", "next_version 130");
    json_object_put(j);
    drop(s);
}

/* ---- 5. index repair ---- */

static int file_is(const char *path, const char *want, size_t wlen)
{
    size_t n = 0;
    char *t = get_file(path, &n);
    int same = t && n == wlen && !memcmp(t, want, n);
    free(t);
    return same;
}

static void test_repair(const char *dir)
{
    rp_state *s = held = open_state(dir);
    if (!ok(s != NULL, "open for repair"))
        return;
    char path[320], aside[4400];
    size_t ch = 99;
    json_object *j;

    /* a missing index file */
    rp_found_version fv[] = {
        {3, "ra", RP_V_PROMOTED}, {1, NULL, RP_V_FAILED}, {2, "rb", RP_V_BUILDING}};
    strcpy(aside, "junk");
    is_int(rp_index_repair(s, &ch, aside, sizeof aside, "rp1", fv, 3, 2), 0, "repair: no file");
    is_str(aside, "", "nothing set aside");
    is_int(ch, 6, "changes: 3 versions, next_version, promotion of 2, active");
    j = read_index(s, "rp1");
    ok(j != NULL, "the index file exists and reads");
    is_str(jget(j, "index"), "rp1", "index name");
    is_str(jget(j, "versions.0.version"), "1", "sorted: 1");
    is_str(jget(j, "versions.1.version"), "2", "sorted: 2");
    is_str(jget(j, "versions.2.version"), "3", "sorted: 3");
    ok(jget(j, "versions.3") == NULL, "three versions");
    is_str(jget(j, "versions.0.repaired"), "true", "repaired: true (1)");
    is_str(jget(j, "versions.1.repaired"), "true", "repaired: true (2)");
    is_str(jget(j, "versions.2.repaired"), "true", "repaired: true (3)");
    is_str(jget(j, "versions.0.state"), "failed", "1 failed as found");
    is_str(jget(j, "versions.0.run_id"), "null", "1 without a run");
    is_str(jget(j, "versions.1.state"), "promoted", "2 (active) promoted");
    is_str(jget(j, "versions.1.run_id"), "rb", "2's run");
    is_str(jget(j, "versions.2.state"), "promoted", "3 promoted as found");
    is_str(jget(j, "next_version"), "4", "next_version past the highest");
    is_str(jget(j, "active"), "2", "active 2");
    json_object_put(j);
    int a = 0;
    rp_index_active(s, &a, "rp1");
    is_int(a, 2, "rp_index_active agrees");
    int v = 0;
    is_int(rp_index_reserve(s, &v, "rp1", NULL), 0, "reserve after repair");
    is_int(v, 4, "never a found number: 4");

    /* damaged files: set aside with their bytes, rebuilt */
    static const struct {
        const char *name, *text;
    } dmg[] = {
        {"rp2a", ""},
        {"rp2b", "garbage{"},
        {"rp2c", "{\"index\":\"rp2c\",\"next_version\":\"x\",\"active\":null,\"versions\":[]}"},
        {"rp2d", "{\"index\":\"rp2d\",\"next_version\":3,\"active\":null,\"versions\":{}}"},
        {"rp2e", "[1,2,3]"},
    };
    for (size_t i = 0; i < sizeof dmg / sizeof *dmg; i++) {
        char label[160], prefix[400];
        snprintf(path, sizeof path, "%s/indexes/%s.json", dir, dmg[i].name);
        put_file(path, dmg[i].text, strlen(dmg[i].text));
        rp_found_version one = {1, "r1", RP_V_PROMOTED};
        ch = 0;
        aside[0] = 0;
        int rc = rp_index_repair(s, &ch, aside, sizeof aside, dmg[i].name, &one, 1, 1);
        snprintf(label, sizeof label, "repair damaged %s (\"%.20s\")", dmg[i].name, dmg[i].text);
        is_int(rc, 0, label);
        snprintf(prefix, sizeof prefix, "%s.damaged-", path);
        snprintf(label, sizeof label, "%s: aside path <file>.damaged-<ms>", dmg[i].name);
        int shape = !strncmp(aside, prefix, strlen(prefix)) && aside[strlen(prefix)];
        for (const char *q = aside + strlen(prefix); shape && *q; q++)
            shape = *q >= '0' && *q <= '9';
        if (!ok(shape, label))
            diag("aside: %s", aside);
        snprintf(label, sizeof label, "%s: the old bytes kept aside", dmg[i].name);
        ok(file_is(aside, dmg[i].text, strlen(dmg[i].text)), label);
        snprintf(label, sizeof label, "%s: changes counted", dmg[i].name);
        ok(ch >= 2, label);
        j = read_index(s, dmg[i].name);
        snprintf(label, sizeof label, "%s: rebuilt with the found version, active", dmg[i].name);
        ok(j && !strcmp(jget(j, "versions.0.version"), "1") &&
               !strcmp(jget(j, "versions.0.state"), "promoted") &&
               !strcmp(jget(j, "versions.0.repaired"), "true") &&
               !strcmp(jget(j, "next_version"), "2") && !strcmp(jget(j, "active"), "1") &&
               jget(j, "versions.1") == NULL,
           label);
        json_object_put(j);
    }
    ch = 99;
    snprintf(path, sizeof path, "%s/indexes/rp2f.json", dir);
    put_file(path, "{", 1);
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp2f", NULL, 0, 0), 0,
           "damaged, nothing found, no aside buffer");
    is_int(ch, 1, "one change: the file set aside");
    j = read_index(s, "rp2f");
    ok(j && !strcmp(jget(j, "next_version"), "1") && !strcmp(jget(j, "active"), "null") &&
           jget(j, "versions.0") == NULL,
       "an empty history written");
    json_object_put(j);

    /* a good file: only what is missing is added */
    for (int i = 0; i < 3; i++)
        rp_index_reserve(s, &v, "rp3", i == 1 ? "orig" : NULL);
    rp_index_set_state(s, "rp3", 1, RP_V_PROMOTED);
    rp_found_version g1[] = {{2, "other", RP_V_FAILED}, {5, "r5", RP_V_PROMOTED}};
    ch = 99;
    strcpy(aside, "junk");
    is_int(rp_index_repair(s, &ch, aside, sizeof aside, "rp3", g1, 2, 5), 0, "repair a good file");
    is_str(aside, "", "nothing set aside");
    is_int(ch, 3, "changes: version 5, next_version, active");
    j = read_index(s, "rp3");
    is_str(jget(j, "versions.1.version"), "2", "2 kept");
    is_str(jget(j, "versions.1.state"), "building", "2 keeps its recorded state");
    is_str(jget(j, "versions.1.run_id"), "orig", "2 keeps its recorded run");
    is_str(jget(j, "versions.1.repaired"), NULL, "2 not marked repaired");
    is_str(jget(j, "versions.0.state"), "promoted", "1 stays promoted");
    is_str(jget(j, "versions.3.version"), "5", "5 added");
    is_str(jget(j, "versions.3.repaired"), "true", "5 marked repaired");
    is_str(jget(j, "next_version"), "6", "next_version 6");
    is_str(jget(j, "active"), "5", "active 5");
    json_object_put(j);
    rp_found_version g2[] = {{4, "r4", RP_V_FAILED}};
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp3", g2, 1, 5), 0, "add a version in between");
    is_int(ch, 1, "one change");
    j = read_index(s, "rp3");
    int order = 1;
    for (int i = 0; i < 5; i++) {
        char key[40], want[8];
        snprintf(key, sizeof key, "versions.%d.version", i);
        snprintf(want, sizeof want, "%d", i + 1);
        order &= jget(j, key) && !strcmp(jget(j, key), want);
    }
    ok(order, "versions in order 1..5");
    is_str(jget(j, "next_version"), "6", "next_version unchanged");
    json_object_put(j);
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp3", NULL, 0, 3), 0, "active: a building version");
    is_int(ch, 2, "two changes: promoted, active");
    j = read_index(s, "rp3");
    is_str(jget(j, "versions.2.state"), "promoted", "3 promoted");
    is_str(jget(j, "active"), "3", "3 active");
    json_object_put(j);

    /* nothing to change: nothing written */
    snprintf(path, sizeof path, "%s/indexes/rp3.json", dir);
    struct stat st0, st1;
    size_t n0 = 0;
    char *before = get_file(path, &n0);
    stat(path, &st0);
    ch = 99;
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp3", g1, 2, 3), 0, "repair with nothing new");
    is_int(ch, 0, "no change");
    stat(path, &st1);
    ok(file_is(path, before, n0), "file bytes unchanged");
    ok(st0.st_ino == st1.st_ino && st0.st_mtim.tv_sec == st1.st_mtim.tv_sec &&
           st0.st_mtim.tv_nsec == st1.st_mtim.tv_nsec,
       "file not rewritten (same inode and mtime)");
    is_int(rp_index_repair(s, NULL, NULL, 0, "rp3", g1, 2, 3), 0, "out_changes may be NULL");

    /* an active version that is not among the versions */
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp3", g1, 2, 9), RP_EINVAL, "active 9: RP_EINVAL");
    ok(has(rp_state_errmsg(s), "9"), "the message names the version");
    ok(file_is(path, before, n0), "the file unchanged");
    free(before);
    snprintf(path, sizeof path, "%s/indexes/rp4.json", dir);
    rp_found_version one = {1, NULL, RP_V_BUILDING};
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp4", &one, 1, 2), RP_EINVAL,
           "new index, active not found: RP_EINVAL");
    ok(!exists(path), "no file made");

    /* active 0: none */
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp3", NULL, 0, 0), 0, "active 0");
    is_int(ch, 1, "one change");
    a = -1;
    rp_index_active(s, &a, "rp3");
    is_int(a, 0, "no version active");

    /* bad input: nothing written */
    rp_found_version b0 = {0, NULL, RP_V_BUILDING}, b1 = {1, NULL, 7}, b2 = {1, "Bad!", 0},
                     b3 = {-3, NULL, RP_V_FAILED};
    snprintf(path, sizeof path, "%s/indexes/rp5.json", dir);
    is_int(rp_index_repair(NULL, &ch, NULL, 0, "rp5", NULL, 0, 0), RP_EINVAL, "NULL state");
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp5", NULL, 2, 0), RP_EINVAL, "n > 0, found NULL");
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp5", NULL, 0, -1), RP_EINVAL, "active < 0");
    is_int(rp_index_repair(s, &ch, NULL, 0, "Bad!", NULL, 0, 0), RP_EINVAL, "bad index name");
    is_int(rp_index_repair(s, &ch, NULL, 0, NULL, NULL, 0, 0), RP_EINVAL, "NULL index name");
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp5", &b0, 1, 0), RP_EINVAL, "version 0");
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp5", &b3, 1, 0), RP_EINVAL, "negative version");
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp5", &b1, 1, 0), RP_EINVAL, "unknown state");
    is_int(rp_index_repair(s, &ch, NULL, 0, "rp5", &b2, 1, 0), RP_EINVAL, "bad run id");
    ok(!exists(path), "nothing written for bad input");
    drop(s);
}

/* ---- 6. validation on read ---- */

/* good with the value at the dotted path replaced by raw (JSON text); the caller's. */
static char *variant(const char *good, const char *path, const char *raw)
{
    json_object *root = json_tokener_parse(good), *cur = root;
    json_object *val = json_tokener_parse(raw); /* "null" gives NULL: a JSON null */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *last = strrchr(buf, '.');
    if (last)
        *last++ = 0;
    else
        last = buf;
    for (char *tok = last == buf ? NULL : strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = json_object_is_type(cur, json_type_array)
                  ? json_object_array_get_idx(cur, (size_t)atoi(tok))
                  : json_object_object_get(cur, tok);
    if (!cur) {
        json_object_put(val);
        json_object_put(root);
        return NULL;
    }
    if (json_object_is_type(cur, json_type_array))
        json_object_array_put_idx(cur, (size_t)atoi(last), val);
    else
        json_object_object_add(cur, last, val);
    char *t = strdup(json_object_to_json_string(root));
    json_object_put(root);
    return t;
}

typedef struct check_ctx {
    rp_state *s;
    const char *path; /* the damaged file */
    const char *text; /* its bytes */
    const char *what; /* the variant */
} check_ctx;

/* rc is RP_ECORRUPT, the message names the file and the damage, the bytes are unchanged. */
static void corrupt_ok(check_ctx *c, int rc, const char *call)
{
    char label[300];
    snprintf(label, sizeof label, "%s on %s: RP_ECORRUPT, message, file untouched", call, c->what);
    const char *m = rp_state_errmsg(c->s);
    int good = rc == RP_ECORRUPT && has(m, c->path) && has(m, "damaged") &&
               file_is(c->path, c->text, strlen(c->text));
    if (!ok(good, label))
        diag("rc %d, message: %s", rc, m);
}

static void test_validation(const char *dir)
{
    rp_state *s = held = open_state(dir);
    if (!ok(s != NULL, "open for validation"))
        return;
    const char *steps[] = {"discover", "chunk"};
    is_int(rp_run_create(s, "val", "demo", steps, 2, "{\"k\":1}"), 0, "run val");
    is_int(rp_run_create(s, "val2", "demo", steps, 2, NULL), 0, "run val2");
    char rpath[320], ipath[320];
    snprintf(rpath, sizeof rpath, "%s/runs/val/run.json", dir);
    snprintf(ipath, sizeof ipath, "%s/indexes/vi.json", dir);
    char *good_run = get_file(rpath, NULL);
    int v = 0;
    rp_index_reserve(s, &v, "vi", "val");
    char *good_idx = get_file(ipath, NULL);
    ok(good_run && good_idx, "good files read");
    if (!good_run || !good_idx) {
        free(good_run);
        free(good_idx);
        drop(s);
        return;
    }

    static const struct {
        const char *path, *raw; /* path NULL: raw is the whole file */
    } rv[] = {
        {NULL, ""},
        {NULL, "{"},
        {NULL, "[1,2]"},
        {NULL, "42"},
        {NULL, "null"},
        {"status", "null"},
        {"status", "5"},
        {"status", "\"DONE\""},
        {"status", "\"PENDING\""},
        {"run_id", "7"},
        {"created_ms", "\"x\""},
        {"steps", "5"},
        {"steps", "null"},
        {"steps.0", "\"discover\""},
        {"steps.0.name", "3"},
        {"steps.0.attempts", "\"x\""},
        {"steps.0.status", "\"WEIRD\""},
        {"steps.1.started_ms", "\"soon\""},
        {"events", "{}"},
        {"events.0", "7"},
        {"events.0.t_ms", "\"x\""},
        {"events.0.type", "null"},
        {"artifacts", "[]"},
        {"artifacts.x", "5"},
        {"artifacts.x", "{\"file\":\"x\",\"hash\":\"h\",\"bytes\":\"1\"}"},
        {"version", "\"1\""},
        {"params", "[]"},
        {"params", "null"},
        {"replays", "{}"},
        {"error", "3"},
    };
    for (size_t i = 0; i < sizeof rv / sizeof *rv; i++) {
        char what[160];
        char *text = rv[i].path ? variant(good_run, rv[i].path, rv[i].raw) : strdup(rv[i].raw);
        snprintf(what, sizeof what, "run.json %s%s%s", rv[i].path ? rv[i].path : "file ",
                 rv[i].path ? "=" : "", rv[i].raw[0] ? rv[i].raw : "(empty)");
        if (!ok(text != NULL, what)) {
            free(text);
            continue;
        }
        put_file(rpath, text, strlen(text));
        check_ctx c = {s, rpath, text, what};
        char *out = (char *)"untouched";
        corrupt_ok(&c, rp_run_read(s, &out, "val"), "rp_run_read");
        if (!rv[i].path && !rv[i].raw[0])
            ok(has(rp_state_errmsg(s), "damaged (empty file)"), "empty: \"damaged (empty file)\"");
        ok(!strcmp(out, "untouched"), "rp_run_read leaves out untouched");
        corrupt_ok(&c, rp_run_set_status(s, "val", RP_RUNNING, NULL), "rp_run_set_status");
        corrupt_ok(&c, rp_step_update(s, "val", "discover", RP_RUNNING, NULL), "rp_step_update");
        corrupt_ok(&c, rp_run_event(s, "val", "note", NULL, "x"), "rp_run_event");
        corrupt_ok(&c, rp_run_replay(s, "val", "discover"), "rp_run_replay");
        corrupt_ok(&c, rp_run_set_version(s, "val", 2), "rp_run_set_version");
        const char *inh[] = {"discover"};
        corrupt_ok(&c, rp_run_inherit(s, "val", "val2", inh, 1), "rp_run_inherit (into)");
        corrupt_ok(&c, rp_run_inherit(s, "val2", "val", inh, 1), "rp_run_inherit (from)");
        corrupt_ok(&c, rp_artifact_valid(s, "val", "a.ndjson", NULL, NULL), "rp_artifact_valid");
        free(text);
    }
    put_file(rpath, good_run, strlen(good_run));
    json_object *j = read_run(s, "val");
    ok(j != NULL, "the good run.json reads again");
    json_object_put(j);
    is_int(rp_run_set_status(s, "val", RP_RUNNING, NULL), 0, "and writes again");

    static const struct {
        const char *path, *raw;
    } iv[] = {
        {NULL, ""},
        {NULL, "not json"},
        {NULL, "[]"},
        {"versions", "5"},
        {"versions", "null"},
        {"versions.0", "\"v\""},
        {"versions.0.state", "\"weird\""},
        {"versions.0.state", "null"},
        {"versions.0.version", "\"1\""},
        {"versions.0.run_id", "4"},
        {"next_version", "0"},
        {"next_version", "-3"},
        {"next_version", "\"3\""},
        {"next_version", "null"},
        {"active", "\"2\""},
        {"active", "{}"},
        {"index", "null"},
    };
    for (size_t i = 0; i < sizeof iv / sizeof *iv; i++) {
        char what[160];
        char *text = iv[i].path ? variant(good_idx, iv[i].path, iv[i].raw) : strdup(iv[i].raw);
        snprintf(what, sizeof what, "index %s%s%s", iv[i].path ? iv[i].path : "file ",
                 iv[i].path ? "=" : "", iv[i].raw[0] ? iv[i].raw : "(empty)");
        if (!ok(text != NULL, what)) {
            free(text);
            continue;
        }
        put_file(ipath, text, strlen(text));
        check_ctx c = {s, ipath, text, what};
        char *out = (char *)"untouched";
        corrupt_ok(&c, rp_index_read(s, &out, "vi"), "rp_index_read");
        if (!iv[i].path && !iv[i].raw[0])
            ok(has(rp_state_errmsg(s), "damaged (empty file)"), "empty: \"damaged (empty file)\"");
        ok(!strcmp(out, "untouched"), "rp_index_read leaves out untouched");
        int a = -5;
        corrupt_ok(&c, rp_index_active(s, &a, "vi"), "rp_index_active");
        ok(a == -5, "rp_index_active leaves out untouched");
        corrupt_ok(&c, rp_index_set_state(s, "vi", 1, RP_V_FAILED), "rp_index_set_state");
        corrupt_ok(&c, rp_index_reserve(s, &v, "vi", NULL), "rp_index_reserve");
        corrupt_ok(&c, rp_index_reserve_from(s, &v, "vi", NULL, 50), "rp_index_reserve_from");
        free(text);
    }
    put_file(ipath, good_idx, strlen(good_idx));
    is_int(rp_index_set_state(s, "vi", 1, RP_V_PROMOTED), 0, "the good index writes again");

    /* missing files */
    char *out = NULL;
    is_int(rp_run_read(s, &out, "nosuch"), RP_ENOTFOUND, "missing run.json: RP_ENOTFOUND");
    ok(has(rp_state_errmsg(s), "not found"), "message: not found");
    is_int(rp_index_read(s, &out, "nosuch"), RP_ENOTFOUND, "missing index: RP_ENOTFOUND");
    ok(out == NULL, "out untouched");
    is_int(rp_run_set_status(s, "nosuch", RP_RUNNING, NULL), RP_ENOTFOUND,
           "rp_run_set_status, missing run");
    is_int(rp_step_update(s, "nosuch", "discover", RP_RUNNING, NULL), RP_ENOTFOUND,
           "rp_step_update, missing run");
    is_int(rp_index_set_state(s, "nosuch", 1, RP_V_FAILED), RP_ENOTFOUND,
           "rp_index_set_state, missing index");
    int a = 0;
    is_int(rp_index_active(s, &a, "nosuch"), RP_ENOTFOUND, "rp_index_active, missing index");
    char np[320];
    snprintf(np, sizeof np, "%s/runs/nosuch", dir);
    ok(!exists(np), "no run directory made");
    snprintf(np, sizeof np, "%s/indexes/nosuch.json", dir);
    ok(!exists(np), "no index file made");
    free(good_run);
    free(good_idx);
    drop(s);
}

/* ---- 7. rp_run_create on a full disk ---- */

static void test_create_eio(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        rp_state *cs = open_state(dir);
        if (!cs)
            child_exit(2);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {0, 0};
        if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
            child_exit(3);
        const char *steps[] = {"discover"};
        int rc = rp_run_create(cs, "nofs", "demo", steps, 1, NULL);
        int code = rc == RP_EIO ? (has(rp_state_errmsg(cs), "nofs") ? 0 : 5) : 4;
        rp_state_free(cs);
        child_exit(code);
    }
    int st = reap(pid);
    is_int(st, 0, "run.json cannot be written: RP_EIO, with a message naming it");
    char p[320];
    snprintf(p, sizeof p, "%s/runs/nofs", dir);
    ok(!exists(p), "no runs/<id>/ directory left behind");
    rp_state *s = held = open_state(dir);
    const char *steps[] = {"discover"};
    is_int(s ? rp_run_create(s, "nofs", "demo", steps, 1, NULL) : -100, 0,
           "the same run can be created afterwards");
    drop(s);
}

/* ---- 8. rp_run_inherit ---- */

static int artifact(rp_state *s, const char *run, const char *name, const char *step, int lines,
                    const char *params)
{
    rp_artifact_writer *w = NULL;
    int rc = rp_artifact_begin(&w, s, run, name, step);
    for (int i = 0; !rc && i < lines; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "{\"%s\":%d}", name, i);
        rc = rp_artifact_write(w, line, (size_t)n);
    }
    if (!rc)
        rc = rp_artifact_commit(w, params, NULL);
    rp_artifact_writer_free(w);
    return rc;
}

static void test_inherit(const char *dir)
{
    rp_state *s = held = open_state(dir);
    if (!ok(s != NULL, "open for inherit"))
        return;
    const char *steps[] = {"discover", "chunk", "embed", "upsert"};
    is_int(rp_run_create(s, "ia", "demo", steps, 4, NULL), 0, "run A");
    is_int(rp_step_update(s, "ia", "discover", RP_RUNNING, NULL), 0, "A discover running");
    is_int(artifact(s, "ia", "docs.ndjson", "discover", 3, "{\"root\":\"/d\"}"), 0,
           "A discover artifact");
    is_int(rp_step_update_cpu(s, "ia", "discover", RP_SUCCEEDED, NULL, 11), 0, "A discover done");
    is_int(rp_step_update(s, "ia", "chunk", RP_RUNNING, NULL), 0, "A chunk running");
    is_int(artifact(s, "ia", "chunks.ndjson", "chunk", 5, "{\"size\":600}"), 0, "A chunk artifact");
    is_int(rp_step_update_cpu(s, "ia", "chunk", RP_SUCCEEDED, NULL, 22), 0, "A chunk done");
    is_int(rp_step_update(s, "ia", "embed", RP_RUNNING, NULL), 0, "A embed running");
    is_int(artifact(s, "ia", "vectors.ndjson", "embed", 2, NULL), 0, "A embed artifact");
    is_int(rp_step_update(s, "ia", "embed", RP_FAILED, "boom"), 0, "A embed failed");

    is_int(rp_run_create(s, "ib", "demo", steps, 4, NULL), 0, "run B");
    const char *inh[] = {"discover", "chunk", "embed"};
    is_int(rp_run_inherit(s, "ib", "ia", inh, 3), 0, "B inherits from A");
    json_object *ja = read_run(s, "ia"), *jb = read_run(s, "ib");
    ok(ja && jb, "both runs read");
    static const char *const keys[] = {"status",      "attempts",    "started_ms",
                                       "finished_ms", "duration_ms", "cpu_ms"};
    for (int st = 0; st < 2; st++)
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            char key[64], label[120];
            snprintf(key, sizeof key, "steps.%d.%s", st, keys[k]);
            snprintf(label, sizeof label, "B %s %s is A's", steps[st], keys[k]);
            const char *va = jget(ja, key), *vb = jget(jb, key);
            ok(va && vb && strcmp(va, "null") && !strcmp(va, vb), label);
        }
    is_str(jget(jb, "steps.0.status"), "SUCCEEDED", "B discover SUCCEEDED");
    is_str(jget(jb, "steps.1.cpu_ms"), "22", "B chunk cpu_ms 22");
    is_str(jget(jb, "steps.2.status"), "PENDING", "B embed PENDING (A's failed)");
    is_str(jget(jb, "steps.2.attempts"), "0", "B embed never attempted");
    is_str(jget(jb, "steps.2.started_ms"), "null", "B embed not started");
    is_str(jget(jb, "steps.3.status"), "PENDING", "B upsert PENDING");
    is_str(jget(jb, "status"), "QUEUED", "B still QUEUED");
    json_object *arts = NULL, *aa = NULL;
    json_object_object_get_ex(jb, "artifacts", &arts);
    json_object_object_get_ex(ja, "artifacts", &aa);
    static const char *const names[] = {"docs.ndjson", "chunks.ndjson"};
    static const char *const params[] = {"{\"root\":\"/d\"}", "{\"size\":600}"};
    for (int i = 0; i < 2; i++) {
        json_object *x = NULL, *y = NULL;
        char label[120], pa[320], pb[320];
        json_object_object_get_ex(arts, names[i], &x);
        json_object_object_get_ex(aa, names[i], &y);
        snprintf(label, sizeof label, "B records %s as A did", names[i]);
        ok(x && y && !strcmp(json_object_to_json_string(x), json_object_to_json_string(y)), label);
        snprintf(pa, sizeof pa, "%s/runs/ia/%s", dir, names[i]);
        snprintf(pb, sizeof pb, "%s/runs/ib/%s", dir, names[i]);
        size_t n = 0;
        char *ta = get_file(pa, &n);
        snprintf(label, sizeof label, "runs/ib/%s present with A's content", names[i]);
        ok(ta && n > 0 && file_is(pb, ta, n), label);
        free(ta);
        snprintf(label, sizeof label, "rp_artifact_valid(B, %s, same params) == 1", names[i]);
        is_int(rp_artifact_valid(s, "ib", names[i], params[i], NULL), 1, label);
        snprintf(label, sizeof label, "rp_artifact_valid(B, %s, other params) == 0", names[i]);
        is_int(rp_artifact_valid(s, "ib", names[i], "{\"other\":1}", NULL), 0, label);
        snprintf(label, sizeof label, "A's %s still valid", names[i]);
        is_int(rp_artifact_valid(s, "ia", names[i], params[i], NULL), 1, label);
    }
    json_object *x = NULL;
    ok(!json_object_object_get_ex(arts, "vectors.ndjson", &x), "embed's artifact not taken over");
    char p[320];
    snprintf(p, sizeof p, "%s/runs/ib/vectors.ndjson", dir);
    ok(!exists(p), "nor its file");
    int inherited[4] = {0}, other = 0;
    json_object *ev = NULL;
    json_object_object_get_ex(jb, "events", &ev);
    for (size_t i = 0; ev && i < json_object_array_length(ev); i++) {
        json_object *e = json_object_array_get_idx(ev, i), *t, *st;
        if (!json_object_object_get_ex(e, "type", &t) ||
            strcmp(json_object_get_string(t), "inherited"))
            continue;
        const char *sn =
            json_object_object_get_ex(e, "step", &st) && st ? json_object_get_string(st) : "";
        int found = 0;
        for (int k = 0; k < 4; k++)
            if (!strcmp(sn, steps[k])) {
                inherited[k]++;
                found = 1;
            }
        other += !found;
    }
    ok(inherited[0] == 1 && inherited[1] == 1 && inherited[2] == 0 && inherited[3] == 0 &&
           other == 0,
       "one \"inherited\" event each for discover and chunk, none for embed");
    json_object_put(ja);
    json_object_put(jb);

    /* stops at the first step that did not succeed */
    is_int(rp_run_create(s, "ic", "demo", steps, 4, NULL), 0, "run C");
    const char *inh2[] = {"embed", "discover"};
    is_int(rp_run_inherit(s, "ic", "ia", inh2, 2), 0, "C inherits [embed, discover]");
    json_object *jc = read_run(s, "ic");
    is_str(jget(jc, "steps.0.status"), "PENDING", "C discover not taken: embed came first");
    json_object_object_get_ex(jc, "artifacts", &arts);
    is_int(arts ? json_object_object_length(arts) : -1, 0, "C has no artifacts");
    json_object_put(jc);

    /* errors */
    is_int(rp_run_inherit(s, "ib", "missing", inh, 3), RP_ENOTFOUND, "from a missing run");
    is_int(rp_run_inherit(s, "missing", "ia", inh, 3), RP_ENOTFOUND, "into a missing run");
    is_int(rp_run_inherit(s, "ib", "../ia", inh, 3), RP_EINVAL, "bad from id");
    is_int(rp_run_inherit(s, "I B", "ia", inh, 3), RP_EINVAL, "bad run id");
    is_int(rp_run_inherit(s, "ib", "ia", NULL, 3), RP_EINVAL, "steps NULL");
    is_int(rp_run_inherit(NULL, "ib", "ia", inh, 3), RP_EINVAL, "NULL state");
    const char *nostep[] = {"nope"};
    is_int(rp_run_inherit(s, "ib", "ia", nostep, 1), RP_ENOTFOUND, "a step neither run has");
    is_int(rp_run_inherit(s, "ib", "ia", NULL, 0), 0, "no steps: nothing to do");
    drop(s);
}

/* ---- 9. what a review of the above found (each failed before its fix) ---- */

static void one_artifact(rp_state *s, const char *run, const char *name, const char *step)
{
    rp_step_update(s, run, step, RP_RUNNING, NULL);
    rp_artifact_writer *w = NULL;
    if (rp_artifact_begin(&w, s, run, name, step) == RP_OK) {
        rp_artifact_write(w, "{}", 2);
        rp_artifact_commit(w, NULL, NULL);
    }
    rp_artifact_writer_free(w);
    rp_step_update(s, run, step, RP_SUCCEEDED, NULL);
}

static void test_review_findings(void)
{
    char dir[128], path[512];
    snprintf(dir, sizeof dir, "%s/review", base);
    rp_state *s = held = open_state(dir);
    if (!s)
        return;

    /* A damaged index and an active version that is not among the versions: refused before
     * anything moves (the damaged file stays where it was). */
    snprintf(path, sizeof path, "%s/indexes/ix.json", dir);
    put_file(path, "garbage", 7);
    char aside[512] = "";
    size_t ch = 0;
    is_int(rp_index_repair(s, &ch, aside, sizeof aside, "ix", NULL, 0, 7), RP_EINVAL,
           "repair: an active version that is not found is refused");
    ok(exists(path) && aside[0] == 0, "  and the damaged index file is left in place");

    /* Inheriting from itself would unlink its own artifacts. */
    const char *one[] = {"discover"};
    rp_run_create(s, "a", "demo", one, 1, NULL);
    one_artifact(s, "a", "docs.ndjson", "discover");
    is_int(rp_run_inherit(s, "a", "a", one, 1), RP_EINVAL, "inherit: a run from itself is refused");
    is_int(rp_artifact_valid(s, "a", "docs.ndjson", NULL, NULL), 1, "  its artifact intact");

    /* An inherit that names a step one side lacks moves no file. */
    const char *two[] = {"discover", "chunk"};
    rp_run_create(s, "b", "demo", one, 1, NULL);
    is_int(rp_run_inherit(s, "b", "a", two, 2), RP_ENOTFOUND, "inherit: an unknown step");
    snprintf(path, sizeof path, "%s/runs/b/docs.ndjson", dir);
    ok(!exists(path), "  links nothing");

    /* An artifact record whose params_hash is not a string is damage, not a crash. */
    char *t = NULL;
    rp_run_read(s, &t, "a");
    json_object *j = t ? json_tokener_parse(t) : NULL, *arts, *art;
    free(t);
    if (j && json_object_object_get_ex(j, "artifacts", &arts) &&
        json_object_object_get_ex(arts, "docs.ndjson", &art))
        json_object_object_add(art, "params_hash", NULL);
    snprintf(path, sizeof path, "%s/runs/a/run.json", dir);
    const char *txt = j ? json_object_to_json_string(j) : "";
    put_file(path, txt, strlen(txt));
    json_object_put(j);
    is_int(rp_artifact_valid(s, "a", "docs.ndjson", NULL, NULL), RP_ECORRUPT,
           "an artifact with \"params_hash\": null is damage");

    /* Version numbers stay in range: no overflow, a clear refusal at the end. */
    snprintf(path, sizeof path, "%s/indexes/big.json", dir);
    const char *big = "{\"index\":\"big\",\"next_version\":2147483647,\"active\":null,"
                      "\"versions\":[]}";
    put_file(path, big, strlen(big));
    int v = 0;
    is_int(rp_index_reserve(s, &v, "big", NULL), RP_ECORRUPT, "next_version 2^31-1 is damage");
    is_int(rp_index_reserve_from(s, &v, "last", NULL, RP_MAX_VERSION), RP_OK,
           "the last version number can be reserved");
    is_int(v, RP_MAX_VERSION, "  it is RP_MAX_VERSION");
    is_int(rp_index_reserve(s, &v, "last", NULL), RP_ESTATE, "  and then there is none left");
    rp_found_version f = {RP_MAX_VERSION + 1, NULL, RP_V_FAILED};
    is_int(rp_index_repair(s, &ch, NULL, 0, "iz", &f, 1, 0), RP_EINVAL,
           "repair: a version above RP_MAX_VERSION is refused");

    /* A failed lock keeps the run held before. */
    rp_run_lock(s, "a");
    is_int(rp_run_lock(s, "missing"), RP_ENOTFOUND, "locking a missing run fails");
    int alive = alive_elsewhere(dir, "a");
    is_int(alive, 1, "  and run a is still held");

    /* Temp-file names: digits only, pids in range. */
    pid_t dead = dead_pid();
    char names[6][64];
    snprintf(names[0], sizeof names[0], "x.tmp.+%d", (int)dead);
    snprintf(names[1], sizeof names[1], "x.tmp. %d", (int)dead);
    snprintf(names[2], sizeof names[2], "x.tmp.\t%d.1", (int)dead);
    snprintf(names[3], sizeof names[3], "x.tmp.2147483648");
    snprintf(names[4], sizeof names[4], "x.tmp.%d.", (int)dead);
    snprintf(names[5], sizeof names[5], "x.tmp.%d.-1", (int)dead);
    for (size_t i = 0; i < 6; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        put_file(path, "x", 1);
    }
    size_t n = 99;
    is_int(rp_state_sweep(s, &n, NULL), RP_OK, "sweep");
    is_int((int)n, 0, "  names that are not .tmp.<pid>[.<n>] in digits are left alone");
    drop(s);
}

int main(void)
{
    umask(022);
    snprintf(base, sizeof base, "/tmp/rp_recovery_XXXXXX");
    if (!mkdtemp(base))
        return 1;
    char dir[128];
    snprintf(dir, sizeof dir, "%s/state", base);
    test_deployment();
    test_run_locks(dir);
    test_sweep();
    test_reserve_from(dir);
    test_repair(dir);
    test_validation(dir);
    test_create_eio(dir);
    test_inherit(dir);
    test_review_findings();
    tap_rmrf(base);
    return tap_done();
}
