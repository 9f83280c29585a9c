/* Pipeline core, state side: runs (steps, events, replays), index versions (reserved by many
 * processes at once, transitions), atomic replacement under kill -9, and artifacts (hash and
 * params checks for replay reuse). */
#include "pipeline.h"
#include "buf.h"
#include "state_json.h"
#include "tap.h"

#include <json-c/json.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static void test_runs(rp_state *s)
{
    const char *steps[] = {"discover", "chunk", "embed", "upsert", "promote", "smoketest"};
    is_int(rp_run_create(s, "r1", "demo", steps, 6, "{\"chunk_size\":600}"), 0, "create run");
    is_int(rp_run_create(s, "r1", "demo", steps, 6, NULL), RP_EEXISTS, "run ids are unique");
    is_int(rp_run_create(s, "../x", "demo", steps, 6, NULL), RP_EINVAL, "run id validated");
    is_int(rp_run_create(s, "r2", "De mo", steps, 6, NULL), RP_EINVAL, "index validated");
    is_int(rp_run_create(s, "r2", "demo", steps, 6, "[1]"), RP_EINVAL, "params must be object");
    json_object *j = read_run(s, "r1");
    is_str(jget(j, "status"), "QUEUED", "queued");
    is_str(jget(j, "steps.2.name"), "embed", "steps listed");
    is_str(jget(j, "steps.2.status"), "PENDING", "steps pending");
    is_str(jget(j, "params.chunk_size"), "600", "params kept");
    json_object_put(j);

    is_int(rp_step_update(s, "r1", "discover", RP_RUNNING, NULL), 0, "discover running");
    usleep(2000);
    is_int(rp_step_update_cpu(s, "r1", "discover", RP_SUCCEEDED, NULL, 1234), 0, "discover done");
    is_int(rp_step_update(s, "r1", "chunk", RP_RUNNING, NULL), 0, "chunk running");
    is_int(rp_step_update(s, "r1", "chunk", RP_FAILED, "disk full"), 0, "chunk failed");
    is_int(rp_step_update(s, "r1", "nope", RP_RUNNING, NULL), RP_ENOTFOUND, "unknown step");
    is_int(rp_run_set_status(s, "r1", RP_FAILED, "chunk failed"), 0, "run failed");
    is_int(rp_run_event(s, "r1", "note", "chunk", "operator looked"), 0, "event");
    j = read_run(s, "r1");
    is_str(jget(j, "status"), "FAILED", "run status");
    is_str(jget(j, "steps.0.status"), "SUCCEEDED", "step status");
    is_str(jget(j, "steps.0.attempts"), "1", "attempt counted");
    ok(atoi(jget(j, "steps.0.duration_ms")) >= 2, "duration measured");
    is_str(jget(j, "steps.0.cpu_ms"), "1234", "CPU time recorded");
    is_str(jget(j, "steps.1.cpu_ms"), "null", "no CPU time given: null");
    is_str(jget(j, "steps.1.error"), "disk full", "step error");
    ok(json_object_array_length(json_object_object_get(j, "events")) == 7, "event timeline");
    is_str(jget(j, "events.6.msg"), "operator looked", "event text");
    ok(atoll(jget(j, "events.6.t_ms")) > 1600000000000LL, "millisecond wall timestamps");
    json_object_put(j);

    is_int(rp_run_replay(s, "r1", "chunk"), 0, "replay from chunk");
    is_int(rp_step_update(s, "r1", "chunk", RP_RUNNING, NULL), 0, "chunk again");
    is_int(rp_run_set_version(s, "r1", 3), 0, "version recorded");
    j = read_run(s, "r1");
    is_str(jget(j, "status"), "RUNNING", "running again");
    is_str(jget(j, "steps.0.status"), "SUCCEEDED", "earlier step kept");
    is_str(jget(j, "steps.1.attempts"), "2", "second attempt");
    is_str(jget(j, "steps.2.status"), "PENDING", "later steps pending");
    is_str(jget(j, "replays.0.from"), "chunk", "replay sequence");
    is_str(jget(j, "version"), "3", "version");
    json_object_put(j);
    char *t = NULL;
    is_int(rp_run_read(s, &t, "missing"), RP_ENOTFOUND, "missing run");
    ok(t == NULL, "out untouched");
}

static void test_index(rp_state *s)
{
    int v = 0, a = -1;
    is_int(rp_index_active(s, &a, "demo"), RP_ENOTFOUND, "no index yet");
    is_int(rp_index_reserve(s, &v, "demo", "r1"), 0, "reserve");
    is_int(v, 1, "version 1");
    is_int(rp_index_reserve(s, &v, "demo", "r2"), 0, "reserve");
    is_int(v, 2, "version 2");
    is_int(rp_index_reserve(s, &v, "Bad!", "r2"), RP_EINVAL, "index name validated");
    is_int(rp_index_set_state(s, "demo", 1, RP_V_PROMOTED), 0, "promote 1");
    is_int(rp_index_set_state(s, "demo", 2, RP_V_PROMOTED), 0, "promote 2");
    is_int(rp_index_active(s, &a, "demo"), 0, "active");
    is_int(a, 2, "2 active");
    is_int(rp_index_set_state(s, "demo", 1, RP_V_ROLLED_BACK), RP_ESTATE,
           "only the active version rolls back");
    is_int(rp_index_set_state(s, "demo", 2, RP_V_ROLLED_BACK), 0, "roll back 2");
    rp_index_active(s, &a, "demo");
    is_int(a, 1, "1 active again");
    is_int(rp_index_reserve(s, &v, "demo", NULL), 0, "reserve 3");
    is_int(rp_index_set_state(s, "demo", 3, RP_V_FAILED), 0, "3 failed");
    is_int(rp_index_set_state(s, "demo", 3, RP_V_PROMOTED), RP_ESTATE, "failed never promoted");
    is_int(rp_index_set_state(s, "demo", 9, RP_V_FAILED), RP_ENOTFOUND, "unknown version");
    char *t = NULL;
    is_int(rp_index_read(s, &t, "demo"), 0, "read index");
    json_object *j = t ? json_tokener_parse(t) : NULL;
    is_str(jget(j, "next_version"), "4", "next version");
    is_str(jget(j, "versions.1.state"), "rolled_back", "rolled_back state");
    is_str(jget(j, "versions.2.state"), "failed", "failed state");
    is_str(jget(j, "active"), "1", "active in file");
    json_object_put(j);
    free(t);

    /* N processes reserving at once get N * K distinct versions */
    enum { NP = 8, K = 10 };
    int fds[2];
    ok(pipe(fds) == 0, "pipe");
    pid_t pids[NP];
    for (int p = 0; p < NP; p++) {
        if ((pids[p] = fork()) == 0) {
            close(fds[0]);
            rp_state *cs = NULL;
            if (rp_state_open(&cs, dir, NULL, 0))
                _exit(2);
            for (int k = 0; k < K; k++) {
                int cv = 0;
                if (rp_index_reserve(cs, &cv, "race", NULL))
                    _exit(3);
                if (write(fds[1], &cv, sizeof cv) != sizeof cv)
                    _exit(4);
            }
            rp_state_free(cs);
            _exit(0);
        }
    }
    close(fds[1]);
    int seen[NP * K + 1] = {0}, got = 0, dup = 0, cv;
    while (read(fds[0], &cv, sizeof cv) == sizeof cv) {
        got++;
        if (cv < 1 || cv > NP * K || seen[cv]++)
            dup++;
    }
    close(fds[0]);
    int clean = 1;
    for (int p = 0; p < NP; p++) {
        int st;
        waitpid(pids[p], &st, 0);
        clean &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    ok(clean, "all reservers succeeded");
    is_int(got, NP * K, "80 reservations");
    is_int(dup, 0, "all distinct, 1..80");
}

static void test_crash(rp_state *s)
{
    const char *steps[] = {"discover"};
    is_int(rp_run_create(s, "crash", "demo", steps, 1, NULL), 0, "crash run");
    long prev = 0;
    int intact = 1, monotonic = 1, iters = 40;
    char pad[300];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = 0;
    srand((unsigned)time(NULL));
    for (int i = 0; i < iters; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            rp_state *cs = NULL;
            if (rp_state_open(&cs, dir, NULL, 0))
                _exit(2);
            for (;;)
                rp_run_event(cs, "crash", "tick", NULL, pad);
        }
        usleep((useconds_t)(1000 + rand() % 20000));
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        json_object *j = read_run(s, "crash");
        json_object *ev = j ? json_object_object_get(j, "events") : NULL;
        if (!ev) {
            intact = 0;
            json_object_put(j);
            break;
        }
        long n = (long)json_object_array_length(ev);
        monotonic &= n >= prev;
        prev = n;
        json_object_put(j);
    }
    ok(intact, "after each kill -9 the state file is a complete JSON document");
    ok(monotonic, "and never older than the previous one");
    ok(prev > 1, "writes happened");
    diag("%d kills, %ld events survived", iters, prev);
    is_int(rp_step_update(s, "crash", "discover", RP_RUNNING, NULL), 0,
           "writable after the kills (lock released)");
}

static int count_lines(const char *line, size_t len, void *ud)
{
    (void)line;
    (void)len;
    (*(int *)ud)++;
    return 0;
}

static void test_artifacts(rp_state *s)
{
    const char *steps[] = {"discover", "chunk"};
    is_int(rp_run_create(s, "art", "demo", steps, 2, NULL), 0, "artifact run");
    rp_artifact_writer *w = NULL;
    is_int(rp_artifact_begin(&w, s, "art", "../evil", "chunk"), RP_EINVAL, "name validated");
    is_int(rp_artifact_begin(&w, s, "nope", "chunks.ndjson", "chunk"), RP_ENOTFOUND, "unknown run");
    is_int(rp_artifact_begin(&w, s, "art", "chunks.ndjson", "chunk"), 0, "begin");
    rp_chunk c = {"a.md#0", "a.md", 0, "hello \"world\"", 13, 0, 13, 0, 13, ""};
    rp_hash_hex(c.hash, c.text, c.len);
    rc_buf b = RC_BUF_INIT;
    is_int(rp_chunk_json(&b, &c), 0, "chunk json");
    json_object *cj = json_tokener_parse(b.data);
    is_str(jget(cj, "text"), "hello \"world\"", "chunk json text");
    is_str(jget(cj, "id"), "a.md#0", "chunk json id");
    json_object_put(cj);
    for (int i = 0; i < 100; i++)
        is_int(rp_artifact_write(w, b.data, b.len), 0, i == 0 ? "write" : "write more");
    is_int(rp_artifact_write(w, "a\nb", 3), RP_EINVAL, "no newline inside a line");
    char path[4096], hash[RP_HASH_HEX];
    is_int(rp_artifact_valid(s, "art", "chunks.ndjson", NULL, NULL), 0, "not valid before commit");
    is_int(
        rp_artifact_commit(w, "{\"size\":600,\"overlap\":80,\"sub\":{\"b\":1,\"a\":[1,2]}}", hash),
        0, "commit");
    rp_artifact_writer_free(w);
    is_int(rp_artifact_valid(s, "art", "chunks.ndjson",
                             "{\"sub\":{\"a\":[1,2],\"b\":1},\"overlap\":80,\"size\":600}", path),
           1, "valid with the same params in another key order");
    is_int(rp_artifact_valid(s, "art", "chunks.ndjson",
                             "{\"sub\":{\"a\":[1,2],\"b\":1},\"overlap\":80,\"size\":500}", NULL),
           0, "invalid with other params");
    int lines = 0;
    is_int(rp_artifact_read(path, 0, count_lines, &lines), 0, "read back");
    is_int(lines, 100, "100 lines");
    json_object *j = read_run(s, "art");
    json_object *a = NULL;
    json_object_object_get_ex(json_object_object_get(j, "artifacts"), "chunks.ndjson", &a);
    is_str(a ? json_object_get_string(json_object_object_get(a, "hash")) : NULL, hash,
           "hash recorded");
    is_str(a ? json_object_get_string(json_object_object_get(a, "records")) : NULL, "100",
           "records recorded");
    is_str(a ? json_object_get_string(json_object_object_get(a, "step")) : NULL, "chunk",
           "step recorded");
    json_object_put(j);
    /* tamper: same size, other bytes -> invalid; missing -> invalid */
    FILE *f = fopen(path, "r+b");
    fseek(f, 10, SEEK_SET);
    fputc('Z', f);
    fclose(f);
    is_int(rp_artifact_valid(s, "art", "chunks.ndjson",
                             "{\"size\":600,\"overlap\":80,\"sub\":{\"b\":1,\"a\":[1,2]}}", NULL),
           0, "modified file is not reused");
    unlink(path);
    is_int(rp_artifact_valid(s, "art", "chunks.ndjson",
                             "{\"size\":600,\"overlap\":80,\"sub\":{\"b\":1,\"a\":[1,2]}}", NULL),
           0, "missing file is not reused");
    /* an abandoned writer leaves nothing behind */
    is_int(rp_artifact_begin(&w, s, "art", "docs.ndjson", "discover"), 0, "begin docs");
    rp_artifact_write(w, "{}", 2);
    rp_artifact_writer_free(w);
    snprintf(path, sizeof path, "%s/runs/art/docs.ndjson", dir);
    struct stat st;
    ok(stat(path, &st) < 0, "uncommitted artifact not visible");
    rc_buf_free(&b);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/rp_state_XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    rp_state *s = NULL;
    char err[256];
    is_int(rp_state_open(&s, dir, err, sizeof err), 0, "open state");
    test_runs(s);
    test_index(s);
    test_crash(s);
    test_artifacts(s);
    rp_state_free(s);
    rp_state_free(NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ok(system(cmd) == 0, "cleanup");
    return tap_done();
}
