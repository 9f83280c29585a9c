/* A run's record (run.json): creating it, its steps, events, replays and version, reading it,
 * and a new run taking over an earlier run's finished steps. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "state_int.h"

int rp_run_create(rp_state *s, const char *run_id, const char *index, const char *const *steps,
                  size_t nsteps, const char *params_json)
{
    if (!s)
        return RP_EINVAL;
    char path[4200], dir[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "run.json");
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
    if ((rc = rp_state_lock_(s))) {
        json_object_put(params);
        return rc;
    }
    json_object *run = json_object_new_object(), *arr = json_object_new_array();
    if (mkdir(dir, 0700) < 0) {
        rc = errno == EEXIST ? SFAIL(s, RP_EEXISTS, "run %s exists", run_id)
                             : SFAIL(s, RP_EIO, "mkdir %s: %s", dir, strerror(errno));
        json_object_put(params);
        goto out;
    }
    int64_t now = rc_wall_ms();
    json_object_object_add(run, "run_id", rp_jstr_(run_id));
    json_object_object_add(run, "index", rp_jstr_(index));
    json_object_object_add(run, "status", rp_jstr_("QUEUED"));
    json_object_object_add(run, "created_ms", json_object_new_int64(now));
    json_object_object_add(run, "updated_ms", json_object_new_int64(now));
    json_object_object_add(run, "params", params);
    json_object_object_add(run, "version", NULL);
    json_object_object_add(run, "error", NULL);
    for (size_t i = 0; i < nsteps; i++) {
        json_object *st = json_object_new_object();
        json_object_object_add(st, "name", rp_jstr_(steps[i]));
        json_object_object_add(st, "status", rp_jstr_("PENDING"));
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
    rp_run_add_event_(run, "created", NULL, NULL);
    rc = rp_state_save_(s, path, run);
    if (rc) /* no half-made run is left behind: the directory holds nothing else yet */
        rmdir(dir);
out:
    json_object_put(arr);
    json_object_put(run);
    rp_state_unlock_(s);
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
    json_object_object_add(run, "status", rp_jstr_(rp_status_name(a->status)));
    json_object_object_add(run, "error", rp_jstr_(a->error));
    if (a->status == RP_SUCCEEDED || a->status == RP_FAILED)
        json_object_object_add(run, "finished_ms", json_object_new_int64(rc_wall_ms()));
    rp_run_add_event_(run, "run_status", NULL, a->error ? a->error : rp_status_name(a->status));
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
    return rp_state_with_run(s, run_id, do_set_status, &a);
}

json_object *rp_run_find_step_(json_object *run, const char *name, size_t *idx)
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
    json_object *st = rp_run_find_step_(run, a->step, NULL), *v;
    if (!st)
        return SFAIL(s, RP_ENOTFOUND, "no step %s", a->step);
    int64_t now = rc_wall_ms();
    json_object_object_add(st, "status", rp_jstr_(rp_status_name(a->status)));
    json_object_object_add(st, "error", rp_jstr_(a->error));
    if (a->status == RP_RUNNING) {
        int att = json_object_object_get_ex(st, "attempts", &v) ? json_object_get_int(v) : 0;
        json_object_object_add(st, "attempts", json_object_new_int(att + 1));
        json_object_object_add(st, "started_ms", json_object_new_int64(now));
        json_object_object_add(st, "finished_ms", NULL);
        json_object_object_add(st, "duration_ms", NULL);
        json_object_object_add(st, "cpu_ms", NULL);
        json_object_object_add(run, "status", rp_jstr_("RUNNING"));
    } else if (a->status != RP_PENDING) {
        json_object_object_add(st, "finished_ms", json_object_new_int64(now));
        if (json_object_object_get_ex(st, "started_ms", &v) && v)
            json_object_object_add(st, "duration_ms",
                                   json_object_new_int64(now - json_object_get_int64(v)));
        json_object_object_add(st, "cpu_ms",
                               a->cpu_ms >= 0 ? json_object_new_int64(a->cpu_ms) : NULL);
    }
    rp_run_add_event_(run, "step_status", a->step, a->error ? a->error : rp_status_name(a->status));
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
    return rp_state_with_run(s, run_id, do_step, &a);
}

int rp_step_update(rp_state *s, const char *run_id, const char *step, int status, const char *error)
{
    return rp_step_update_cpu(s, run_id, step, status, error, -1);
}

static int do_event(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    rp_run_add_event_(run, a->type, a->step, a->msg);
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
    return rp_state_with_run(s, run_id, do_event, &a);
}

static int do_replay(rp_state *s, json_object *run, void *ud)
{
    status_args *a = ud;
    size_t from;
    json_object *steps, *rep, *r;
    if (!rp_run_find_step_(run, a->step, &from))
        return SFAIL(s, RP_ENOTFOUND, "no step %s", a->step);
    json_object_object_get_ex(run, "steps", &steps);
    for (size_t i = from; i < json_object_array_length(steps); i++) {
        json_object *st = json_object_array_get_idx(steps, i);
        json_object_object_add(st, "status", rp_jstr_("PENDING"));
        json_object_object_add(st, "error", NULL);
    }
    json_object_object_add(run, "status", rp_jstr_("QUEUED"));
    json_object_object_add(run, "error", NULL);
    if (!json_object_object_get_ex(run, "replays", &rep)) {
        rep = json_object_new_array();
        json_object_object_add(run, "replays", rep);
    }
    r = json_object_new_object();
    json_object_object_add(r, "from", rp_jstr_(a->step));
    json_object_object_add(r, "at_ms", json_object_new_int64(rc_wall_ms()));
    json_object_array_add(rep, r);
    rp_run_add_event_(run, "replay", a->step, NULL);
    return RP_OK;
}

int rp_run_replay(rp_state *s, const char *run_id, const char *from)
{
    if (!s)
        return RP_EINVAL;
    if (!from)
        return SFAIL(s, RP_EINVAL, "from step required");
    status_args a = {.step = from};
    return rp_state_with_run(s, run_id, do_replay, &a);
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
    return rp_state_with_run(s, run_id, do_version, &a);
}

int rp_run_read(rp_state *s, char **out, const char *run_id)
{
    if (!s || !out)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "run.json");
    return rc ? rc : rp_state_read_text_(s, out, path, K_RUN);
}

int rp_state_load_run(rp_state *s, json_object **out, const char *run_id)
{
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "run.json");
    return rc ? rc : rp_state_load_(s, out, path, K_RUN);
}

/* ---- a new run taking over an earlier run's finished steps ---- */

typedef struct inherit_args {
    const char *run_id, *from_run;
    json_object *from; /* the earlier run */
    const char *const *steps;
    size_t n;
} inherit_args;

static int link_or_copy(const char *from, const char *to)
{
    unlink(to);
    if (link(from, to) == 0)
        return 0;
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -1;
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    char buf[65536];
    ssize_t r = 0;
    while (out >= 0 && (r = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)r) != r) {
            r = -1;
            break;
        }
    close(in);
    if (out < 0 || r < 0 || fsync(out) < 0) {
        if (out >= 0)
            close(out);
        unlink(to);
        return -1;
    }
    return close(out);
}

static int do_inherit(rp_state *s, json_object *run, void *ud)
{
    inherit_args *a = ud;
    json_object *arts, *from_arts;
    json_object_object_get_ex(run, "artifacts", &arts);
    json_object_object_get_ex(a->from, "artifacts", &from_arts);
    for (size_t i = 0; i < a->n; i++) /* every step known on both sides before any file moves */
        if (!rp_run_find_step_(a->from, a->steps[i], NULL) ||
            !rp_run_find_step_(run, a->steps[i], NULL))
            return SFAIL(s, RP_ENOTFOUND, "no step %s", a->steps[i]);
    for (size_t i = 0; i < a->n; i++) {
        json_object *src = rp_run_find_step_(a->from, a->steps[i], NULL), *dst, *v;
        dst = rp_run_find_step_(run, a->steps[i], NULL);
        if (!src || !dst)
            return SFAIL(s, RP_ENOTFOUND, "no step %s", a->steps[i]);
        if (!json_object_object_get_ex(src, "status", &v) ||
            strcmp(json_object_get_string(v), "SUCCEEDED") != 0)
            break; /* only finished steps, in order */
        json_object_object_foreach(from_arts, name, art)
        {
            json_object *st, *file;
            if (!json_object_object_get_ex(art, "step", &st) ||
                !json_object_is_type(st, json_type_string) ||
                strcmp(json_object_get_string(st), a->steps[i]) != 0 ||
                !json_object_object_get_ex(art, "file", &file))
                continue;
            const char *f = json_object_get_string(file);
            if (!rp_name_valid(a->from_run) || strchr(f, '/') || f[0] == '.')
                return SFAIL(s, RP_ECORRUPT, "artifact %s: bad file name", name);
            char from[4300], to[4300];
            snprintf(from, sizeof from, "%s/runs/%s/%s", s->dir, a->from_run, f);
            snprintf(to, sizeof to, "%s/runs/%s/%s", s->dir, a->run_id, f);
            if (link_or_copy(from, to) < 0)
                continue; /* gone: the step will run again (its artifact does not check) */
            json_object_object_add(arts, name, json_object_get(art));
        }
        static const char *const keep[] = {"status",      "attempts",    "started_ms",
                                           "finished_ms", "duration_ms", "cpu_ms"};
        for (size_t k = 0; k < sizeof keep / sizeof *keep; k++)
            if (json_object_object_get_ex(src, keep[k], &v))
                json_object_object_add(dst, keep[k], json_object_get(v));
        char msg[200];
        snprintf(msg, sizeof msg, "taken over from run %s", a->from_run);
        rp_run_add_event_(run, "inherited", a->steps[i], msg);
    }
    return RP_OK;
}

int rp_run_inherit(rp_state *s, const char *run_id, const char *from_run, const char *const *steps,
                   size_t n)
{
    if (!s || (n && !steps))
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", from_run, "run.json");
    if (rc)
        return rc;
    if (!rp_name_valid(run_id) || !strcmp(run_id, from_run))
        return SFAIL(s, RP_EINVAL, "a run inherits from another, valid run");
    inherit_args a = {run_id, from_run, NULL, steps, n};
    if ((rc = rp_state_load_(s, &a.from, path, K_RUN)))
        return rc;
    rc = rp_state_with_run(s, run_id, do_inherit, &a);
    json_object_put(a.from);
    return rc;
}
