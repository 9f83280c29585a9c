/* state: run and index state as JSON files, replaced atomically, writers serialised by flock. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "http.h"

struct rp_state {
    char *dir;
    int lockfd;
    char err[512];
};

#define SFAIL(s, code, ...) rp_err((s)->err, sizeof(s)->err, (code), __VA_ARGS__)

const char *rp_state_errmsg(const rp_state *s)
{
    return s ? s->err : "";
}

const char *rp_state_dir(const rp_state *s)
{
    return s ? s->dir : NULL;
}

void rp_state_free(rp_state *s)
{
    if (!s)
        return;
    if (s->lockfd >= 0)
        close(s->lockfd);
    free(s->dir);
    free(s);
}

int rp_state_open(rp_state **out, const char *dir, char *err, size_t errlen)
{
    if (!out || !dir || !*dir || strlen(dir) > 3000)
        return rp_err(err, errlen, RP_EINVAL, "rp_state_open: bad directory");
    char sub[3100];
    int rc;
    snprintf(sub, sizeof sub, "%s/runs", dir);
    if ((rc = rp_mkdir_p(sub, err, errlen)))
        return rc;
    snprintf(sub, sizeof sub, "%s/indexes", dir);
    if ((rc = rp_mkdir_p(sub, err, errlen)))
        return rc;
    rp_state *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
    }
    snprintf(sub, sizeof sub, "%s/state.lock", dir);
    s->lockfd = open(sub, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s->lockfd < 0) {
        rc = rp_err(err, errlen, RP_EIO, "%s: %s", sub, strerror(errno));
        rp_state_free(s);
        return rc;
    }
    *out = s;
    return RP_OK;
}

static int lock(rp_state *s)
{
    while (flock(s->lockfd, LOCK_EX) < 0) {
        if (errno != EINTR)
            return SFAIL(s, RP_EIO, "lock: %s", strerror(errno));
    }
    return RP_OK;
}

static void unlock(rp_state *s)
{
    flock(s->lockfd, LOCK_UN);
}

static const char *const status_names[] = {"QUEUED", "RUNNING", "SUCCEEDED",
                                           "FAILED", "PENDING", "SKIPPED"};
static const char *const vstate_names[] = {"building", "failed", "promoted", "rolled_back"};

const char *rp_status_name(int st)
{
    return st >= 0 && st < 6 ? status_names[st] : NULL;
}

const char *rp_vstate_name(int v)
{
    return v >= 0 && v < 4 ? vstate_names[v] : NULL;
}

static int path_of(rp_state *s, char *buf, size_t cap, const char *kind, const char *name,
                   const char *file)
{
    if (!rp_name_valid(name))
        return SFAIL(s, RP_EINVAL, "invalid name \"%.80s\" (want [a-z0-9_-]{1,64})",
                     name ? name : "(null)");
    int n = !strcmp(kind, "runs") ? snprintf(buf, cap, "%s/runs/%s/%s", s->dir, name, file)
                                  : snprintf(buf, cap, "%s/indexes/%s.json", s->dir, name);
    if (n < 0 || (size_t)n >= cap)
        return SFAIL(s, RP_EINVAL, "path too long");
    return RP_OK;
}

/* Reads a JSON object from path. */
static int load(rp_state *s, json_object **out, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? SFAIL(s, RP_ENOTFOUND, "%s: not found", path)
                               : SFAIL(s, RP_EIO, "%s: %s", path, strerror(errno));
    rc_buf b = RC_BUF_INIT;
    char tmp[65536];
    size_t r;
    int rc = RP_OK;
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0)
        if (rc_buf_append(&b, tmp, r) < 0) {
            rc = SFAIL(s, RP_ENOMEM, "out of memory");
            break;
        }
    if (ferror(f))
        rc = SFAIL(s, RP_EIO, "%s: read error", path);
    fclose(f);
    if (rc) {
        rc_buf_free(&b);
        return rc;
    }
    json_object *j = b.data ? json_tokener_parse(b.data) : NULL;
    rc_buf_free(&b);
    if (!j || !json_object_is_type(j, json_type_object)) {
        json_object_put(j);
        return SFAIL(s, RP_ECORRUPT, "%s: not a JSON object", path);
    }
    *out = j;
    return RP_OK;
}

static int save(rp_state *s, const char *path, json_object *j)
{
    const char *txt = json_object_to_json_string_ext(
        j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!txt)
        return SFAIL(s, RP_ENOMEM, "out of memory");
    size_t n = strlen(txt);
    char *buf = malloc(n + 2);
    if (!buf)
        return SFAIL(s, RP_ENOMEM, "out of memory");
    memcpy(buf, txt, n);
    buf[n] = '\n';
    int rc = rp_atomic_write(path, buf, n + 1, s->err, sizeof s->err);
    free(buf);
    return rc;
}

static json_object *jstr(const char *v)
{
    return v ? json_object_new_string(v) : NULL;
}

static void add_event(json_object *run, const char *type, const char *step, const char *msg)
{
    json_object *ev = NULL, *e = json_object_new_object();
    if (!json_object_object_get_ex(run, "events", &ev) || !e) {
        json_object_put(e);
        return;
    }
    json_object_object_add(e, "t_ms", json_object_new_int64(rc_wall_ms()));
    json_object_object_add(e, "type", jstr(type));
    json_object_object_add(e, "step", jstr(step));
    json_object_object_add(e, "msg", jstr(msg));
    json_object_array_add(ev, e);
}

/* Locks, loads the run, calls fn, stamps updated_ms, saves, unlocks. */
typedef int (*run_fn)(rp_state *s, json_object *run, void *ud);

static int with_run(rp_state *s, const char *run_id, run_fn fn, void *ud)
{
    char path[4200];
    int rc = path_of(s, path, sizeof path, "runs", run_id, "run.json");
    if (rc)
        return rc;
    if ((rc = lock(s)))
        return rc;
    json_object *run = NULL;
    if ((rc = load(s, &run, path)) == RP_OK && (rc = fn(s, run, ud)) == RP_OK) {
        json_object_object_add(run, "updated_ms", json_object_new_int64(rc_wall_ms()));
        rc = save(s, path, run);
    }
    json_object_put(run);
    unlock(s);
    return rc;
}

int rp_run_create(rp_state *s, const char *run_id, const char *index, const char *const *steps,
                  size_t nsteps, const char *params_json)
{
    if (!s)
        return RP_EINVAL;
    char path[4200], dir[4200];
    int rc = path_of(s, path, sizeof path, "runs", run_id, "run.json");
    if (rc)
        return rc;
    if (!rp_name_valid(index))
        return SFAIL(s, RP_EINVAL, "invalid index name");
    if (!steps && nsteps)
        return SFAIL(s, RP_EINVAL, "steps missing");
    for (size_t i = 0; i < nsteps; i++)
        if (!rp_name_valid(steps[i]))
            return SFAIL(s, RP_EINVAL, "invalid step name");
    json_object *params = params_json ? json_tokener_parse(params_json) : json_object_new_object();
    if (!params || !json_object_is_type(params, json_type_object)) {
        json_object_put(params);
        return SFAIL(s, RP_EINVAL, "params must be a JSON object");
    }
    snprintf(dir, sizeof dir, "%s/runs/%s", s->dir, run_id);
    if ((rc = lock(s))) {
        json_object_put(params);
        return rc;
    }
    json_object *run = json_object_new_object(), *arr = json_object_new_array();
    if (mkdir(dir, 0755) < 0) {
        rc = errno == EEXIST ? SFAIL(s, RP_EEXISTS, "run %s exists", run_id)
                             : SFAIL(s, RP_EIO, "mkdir %s: %s", dir, strerror(errno));
        json_object_put(params);
        goto out;
    }
    int64_t now = rc_wall_ms();
    json_object_object_add(run, "run_id", jstr(run_id));
    json_object_object_add(run, "index", jstr(index));
    json_object_object_add(run, "status", jstr("QUEUED"));
    json_object_object_add(run, "created_ms", json_object_new_int64(now));
    json_object_object_add(run, "updated_ms", json_object_new_int64(now));
    json_object_object_add(run, "params", params);
    json_object_object_add(run, "version", NULL);
    json_object_object_add(run, "error", NULL);
    for (size_t i = 0; i < nsteps; i++) {
        json_object *st = json_object_new_object();
        json_object_object_add(st, "name", jstr(steps[i]));
        json_object_object_add(st, "status", jstr("PENDING"));
        json_object_object_add(st, "attempts", json_object_new_int(0));
        json_object_object_add(st, "started_ms", NULL);
        json_object_object_add(st, "finished_ms", NULL);
        json_object_object_add(st, "duration_ms", NULL);
        json_object_object_add(st, "cpu_ms", NULL);
        json_object_object_add(st, "error", NULL);
        json_object_array_add(arr, st);
    }
    json_object_object_add(run, "steps", arr);
    arr = NULL;
    json_object_object_add(run, "replays", json_object_new_array());
    json_object_object_add(run, "artifacts", json_object_new_object());
    json_object_object_add(run, "events", json_object_new_array());
    add_event(run, "created", NULL, NULL);
    rc = save(s, path, run);
out:
    json_object_put(arr);
    json_object_put(run);
    unlock(s);
    return rc;
}

typedef struct status_args {
    int status;
    const char *error;
    const char *step;
    const char *type;
    const char *msg;
    int version;
    int64_t cpu_ms;
} status_args;

static int do_set_status(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    json_object_object_add(run, "status", jstr(rp_status_name(a->status)));
    json_object_object_add(run, "error", jstr(a->error));
    if (a->status == RP_SUCCEEDED || a->status == RP_FAILED)
        json_object_object_add(run, "finished_ms", json_object_new_int64(rc_wall_ms()));
    add_event(run, "run_status", NULL, a->error ? a->error : rp_status_name(a->status));
    return RP_OK;
}

int rp_run_set_status(rp_state *s, const char *run_id, int status, const char *error)
{
    if (!s)
        return RP_EINVAL;
    if (status != RP_QUEUED && status != RP_RUNNING && status != RP_SUCCEEDED &&
        status != RP_FAILED)
        return SFAIL(s, RP_EINVAL, "bad run status");
    status_args a = {.status = status, .error = error};
    return with_run(s, run_id, do_set_status, &a);
}

static json_object *find_step(json_object *run, const char *name, size_t *idx)
{
    json_object *steps;
    if (!json_object_object_get_ex(run, "steps", &steps))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(steps); i++) {
        json_object *st = json_object_array_get_idx(steps, i), *n;
        if (json_object_object_get_ex(st, "name", &n) && !strcmp(json_object_get_string(n), name)) {
            if (idx)
                *idx = i;
            return st;
        }
    }
    return NULL;
}

static int do_step(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    json_object *st = find_step(run, a->step, NULL), *v;
    if (!st)
        return SFAIL(s, RP_ENOTFOUND, "no step %s", a->step);
    int64_t now = rc_wall_ms();
    json_object_object_add(st, "status", jstr(rp_status_name(a->status)));
    json_object_object_add(st, "error", jstr(a->error));
    if (a->status == RP_RUNNING) {
        int att = json_object_object_get_ex(st, "attempts", &v) ? json_object_get_int(v) : 0;
        json_object_object_add(st, "attempts", json_object_new_int(att + 1));
        json_object_object_add(st, "started_ms", json_object_new_int64(now));
        json_object_object_add(st, "finished_ms", NULL);
        json_object_object_add(st, "duration_ms", NULL);
        json_object_object_add(st, "cpu_ms", NULL);
        json_object_object_add(run, "status", jstr("RUNNING"));
    } else if (a->status != RP_PENDING) {
        json_object_object_add(st, "finished_ms", json_object_new_int64(now));
        if (json_object_object_get_ex(st, "started_ms", &v) && v)
            json_object_object_add(st, "duration_ms",
                                   json_object_new_int64(now - json_object_get_int64(v)));
        json_object_object_add(st, "cpu_ms",
                               a->cpu_ms >= 0 ? json_object_new_int64(a->cpu_ms) : NULL);
    }
    add_event(run, "step_status", a->step, a->error ? a->error : rp_status_name(a->status));
    return RP_OK;
}

int rp_step_update_cpu(rp_state *s, const char *run_id, const char *step, int status,
                       const char *error, int64_t cpu_ms)
{
    if (!s)
        return RP_EINVAL;
    if (!step || !rp_status_name(status) || status == RP_QUEUED)
        return SFAIL(s, RP_EINVAL, "bad step or status");
    status_args a = {.status = status, .error = error, .step = step, .cpu_ms = cpu_ms};
    return with_run(s, run_id, do_step, &a);
}

int rp_step_update(rp_state *s, const char *run_id, const char *step, int status, const char *error)
{
    return rp_step_update_cpu(s, run_id, step, status, error, -1);
}

static int do_event(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    add_event(run, a->type, a->step, a->msg);
    return RP_OK;
}

int rp_run_event(rp_state *s, const char *run_id, const char *type, const char *step,
                 const char *msg)
{
    if (!s)
        return RP_EINVAL;
    if (!type)
        return SFAIL(s, RP_EINVAL, "event type required");
    status_args a = {.type = type, .step = step, .msg = msg};
    return with_run(s, run_id, do_event, &a);
}

static int do_replay(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    size_t from;
    json_object *steps, *rep, *r;
    if (!find_step(run, a->step, &from))
        return SFAIL(s, RP_ENOTFOUND, "no step %s", a->step);
    json_object_object_get_ex(run, "steps", &steps);
    for (size_t i = from; i < json_object_array_length(steps); i++) {
        json_object *st = json_object_array_get_idx(steps, i);
        json_object_object_add(st, "status", jstr("PENDING"));
        json_object_object_add(st, "error", NULL);
    }
    json_object_object_add(run, "status", jstr("QUEUED"));
    json_object_object_add(run, "error", NULL);
    if (!json_object_object_get_ex(run, "replays", &rep)) {
        rep = json_object_new_array();
        json_object_object_add(run, "replays", rep);
    }
    r = json_object_new_object();
    json_object_object_add(r, "from", jstr(a->step));
    json_object_object_add(r, "at_ms", json_object_new_int64(rc_wall_ms()));
    json_object_array_add(rep, r);
    add_event(run, "replay", a->step, NULL);
    return RP_OK;
}

int rp_run_replay(rp_state *s, const char *run_id, const char *from)
{
    if (!s)
        return RP_EINVAL;
    if (!from)
        return SFAIL(s, RP_EINVAL, "from step required");
    status_args a = {.step = from};
    return with_run(s, run_id, do_replay, &a);
}

static int do_version(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    json_object_object_add(run, "version", json_object_new_int(a->version));
    return RP_OK;
}

int rp_run_set_version(rp_state *s, const char *run_id, int version)
{
    if (!s)
        return RP_EINVAL;
    if (version < 1)
        return SFAIL(s, RP_EINVAL, "bad version");
    status_args a = {.version = version};
    return with_run(s, run_id, do_version, &a);
}

static int read_text(rp_state *s, char **out, const char *path)
{
    json_object *j = NULL;
    int rc = load(s, &j, path);
    if (rc)
        return rc;
    const char *t = json_object_to_json_string_ext(
        j, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
    char *copy = t ? strdup(t) : NULL;
    json_object_put(j);
    if (!copy)
        return SFAIL(s, RP_ENOMEM, "out of memory");
    *out = copy;
    return RP_OK;
}

int rp_run_read(rp_state *s, char **out, const char *run_id)
{
    if (!s || !out)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "runs", run_id, "run.json");
    return rc ? rc : read_text(s, out, path);
}

/* Internal to artifact.c: with_run for artifacts. */
int rp_state_with_run_(rp_state *s, const char *run_id,
                       int (*fn)(rp_state *, json_object *, void *), void *ud);
int rp_state_with_run_(rp_state *s, const char *run_id,
                       int (*fn)(rp_state *, json_object *, void *), void *ud)
{
    return with_run(s, run_id, fn, ud);
}
int rp_state_load_run_(rp_state *s, json_object **out, const char *run_id);
int rp_state_load_run_(rp_state *s, json_object **out, const char *run_id)
{
    char path[4200];
    int rc = path_of(s, path, sizeof path, "runs", run_id, "run.json");
    return rc ? rc : load(s, out, path);
}
char *rp_state_errbuf_(rp_state *s, size_t *cap);
char *rp_state_errbuf_(rp_state *s, size_t *cap)
{
    *cap = sizeof s->err;
    return s->err;
}

/* ---- indexes ---- */

static json_object *find_version(json_object *idx, int v)
{
    json_object *vs, *n;
    if (!json_object_object_get_ex(idx, "versions", &vs))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(vs); i++) {
        json_object *e = json_object_array_get_idx(vs, i);
        if (json_object_object_get_ex(e, "version", &n) && json_object_get_int(n) == v)
            return e;
    }
    return NULL;
}

int rp_index_reserve(rp_state *s, int *out_version, const char *index, const char *run_id)
{
    if (!s || !out_version)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    if (run_id && !rp_name_valid(run_id))
        return SFAIL(s, RP_EINVAL, "invalid run id");
    if ((rc = lock(s)))
        return rc;
    json_object *idx = NULL, *vs, *n;
    rc = load(s, &idx, path);
    if (rc == RP_ENOTFOUND) {
        idx = json_object_new_object();
        json_object_object_add(idx, "index", jstr(index));
        json_object_object_add(idx, "next_version", json_object_new_int(1));
        json_object_object_add(idx, "active", NULL);
        json_object_object_add(idx, "versions", json_object_new_array());
        rc = RP_OK;
    }
    if (rc)
        goto out;
    if (!json_object_object_get_ex(idx, "next_version", &n) ||
        !json_object_object_get_ex(idx, "versions", &vs) || json_object_get_int(n) < 1) {
        rc = SFAIL(s, RP_ECORRUPT, "%s: bad index state", path);
        goto out;
    }
    int v = json_object_get_int(n);
    int64_t now = rc_wall_ms();
    json_object *e = json_object_new_object();
    json_object_object_add(e, "version", json_object_new_int(v));
    json_object_object_add(e, "run_id", jstr(run_id));
    json_object_object_add(e, "state", jstr("building"));
    json_object_object_add(e, "created_ms", json_object_new_int64(now));
    json_object_object_add(e, "updated_ms", json_object_new_int64(now));
    json_object_array_add(vs, e);
    json_object_object_add(idx, "next_version", json_object_new_int(v + 1));
    if ((rc = save(s, path, idx)) == RP_OK)
        *out_version = v;
out:
    json_object_put(idx);
    unlock(s);
    return rc;
}

static int vstate_of(json_object *e)
{
    json_object *st;
    if (!json_object_object_get_ex(e, "state", &st))
        return -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(json_object_get_string(st), vstate_names[i]))
            return i;
    return -1;
}

int rp_index_set_state(rp_state *s, const char *index, int version, int vstate)
{
    if (!s)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    if (!rp_vstate_name(vstate))
        return SFAIL(s, RP_EINVAL, "bad version state");
    if ((rc = lock(s)))
        return rc;
    json_object *idx = NULL, *a;
    if ((rc = load(s, &idx, path)))
        goto out;
    json_object *e = find_version(idx, version);
    if (!e) {
        rc = SFAIL(s, RP_ENOTFOUND, "index %s has no version %d", index, version);
        goto out;
    }
    int cur = vstate_of(e);
    int active = json_object_object_get_ex(idx, "active", &a) && a ? json_object_get_int(a) : 0;
    if (vstate == RP_V_BUILDING) { /* a replay of a failed run revives its version */
        if (cur != RP_V_FAILED) {
            rc = SFAIL(s, RP_ESTATE, "version %d is %s, not failed", version,
                       rp_vstate_name(cur) ? rp_vstate_name(cur) : "?");
            goto out;
        }
    } else if (vstate == RP_V_FAILED || vstate == RP_V_PROMOTED) {
        if (cur != RP_V_BUILDING) {
            rc = SFAIL(s, RP_ESTATE, "version %d is %s, not building", version,
                       rp_vstate_name(cur) ? rp_vstate_name(cur) : "?");
            goto out;
        }
        if (vstate == RP_V_PROMOTED)
            json_object_object_add(idx, "active", json_object_new_int(version));
    } else { /* rolled_back */
        if (cur != RP_V_PROMOTED || active != version) {
            rc = SFAIL(s, RP_ESTATE, "version %d is not the active version", version);
            goto out;
        }
        int prev = 0;
        json_object *vs;
        json_object_object_get_ex(idx, "versions", &vs);
        for (size_t i = 0; i < json_object_array_length(vs); i++) {
            json_object *o = json_object_array_get_idx(vs, i), *n;
            json_object_object_get_ex(o, "version", &n);
            int ov = json_object_get_int(n);
            if (ov != version && vstate_of(o) == RP_V_PROMOTED && ov > prev)
                prev = ov;
        }
        json_object_object_add(idx, "active", prev ? json_object_new_int(prev) : NULL);
    }
    json_object_object_add(e, "state", jstr(rp_vstate_name(vstate)));
    json_object_object_add(e, "updated_ms", json_object_new_int64(rc_wall_ms()));
    rc = save(s, path, idx);
out:
    json_object_put(idx);
    unlock(s);
    return rc;
}

int rp_index_active(rp_state *s, int *out_version, const char *index)
{
    if (!s || !out_version)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    json_object *idx = NULL, *a;
    if ((rc = load(s, &idx, path)))
        return rc;
    *out_version = json_object_object_get_ex(idx, "active", &a) && a ? json_object_get_int(a) : 0;
    json_object_put(idx);
    return RP_OK;
}

int rp_index_read(rp_state *s, char **out, const char *index)
{
    if (!s || !out)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "indexes", index, NULL);
    return rc ? rc : read_text(s, out, path);
}

int rp_collection_name(char *buf, size_t cap, const char *prefix, const char *index, int version)
{
    if (!buf || !rp_name_valid(prefix) || !rp_name_valid(index) || version < 1)
        return RP_EINVAL;
    int n = snprintf(buf, cap, "%s_%s_v%d", prefix, index, version);
    return n < 0 || (size_t)n >= cap ? RP_EINVAL : RP_OK;
}
