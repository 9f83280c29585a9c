/* state: run and index state as JSON files, replaced atomically, writers serialised by flock. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"

struct rp_state {
    char *dir;
    int lockfd;
    int runfd;           /* the run lock held by this handle (rp_run_lock), -1 when none */
    char run_id[65];     /* whose */
    char deployment[33]; /* the state directory's id, read or made at open */
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
    if (s->runfd >= 0)
        close(s->runfd);
    free(s->dir);
    free(s);
}

static int lock(rp_state *s);
static void unlock(rp_state *s);

/* The deployment id: 32 hex digits in <dir>/deployment, made once (under the lock) from the
 * kernel's random bytes. It names this state directory in the metadata of every collection a
 * build creates, so two state directories sharing one Qdrant never take each other's. */
static int read_deployment(rp_state *s, const char *path, int *absent)
{
    *absent = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) {
            *absent = 1;
            return RP_OK;
        }
        return SFAIL(s, RP_EIO, "%s: %s", path, strerror(errno));
    }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    if (n != 33 || buf[32] != '\n')
        return SFAIL(s, RP_ECORRUPT, "%s: damaged (want 32 hex digits and a newline)", path);
    for (int i = 0; i < 32; i++)
        if (!((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f')))
            return SFAIL(s, RP_ECORRUPT, "%s: damaged (want 32 hex digits and a newline)", path);
    memcpy(s->deployment, buf, 32);
    s->deployment[32] = 0;
    return RP_OK;
}

static int load_deployment(rp_state *s)
{
    char path[3100];
    snprintf(path, sizeof path, "%s/deployment", s->dir);
    int absent, rc = read_deployment(s, path, &absent);
    if (rc || !absent)
        return rc;
    if ((rc = lock(s)))
        return rc;
    rc = read_deployment(s, path, &absent); /* another process may have made it meanwhile */
    if (rc == RP_OK && absent) {
        unsigned char r[16];
        int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
        ssize_t got = fd >= 0 ? read(fd, r, sizeof r) : -1;
        if (fd >= 0)
            close(fd);
        if (got != (ssize_t)sizeof r) {
            rc = SFAIL(s, RP_EIO, "/dev/urandom: %s", strerror(errno));
        } else {
            char text[34];
            for (int i = 0; i < 16; i++)
                snprintf(text + 2 * i, 3, "%02x", r[i]);
            text[32] = '\n';
            text[33] = 0;
            rc = rp_atomic_write(path, text, 33, s->err, sizeof s->err);
            if (rc == RP_OK) {
                memcpy(s->deployment, text, 32);
                s->deployment[32] = 0;
            }
        }
    }
    unlock(s);
    return rc;
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
    s->runfd = -1;
    snprintf(sub, sizeof sub, "%s/state.lock", dir);
    s->lockfd = open(sub, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0) {
        rc = rp_err(err, errlen, RP_EIO, "%s: %s", sub, strerror(errno));
        rp_state_free(s);
        return rc;
    }
    if ((rc = load_deployment(s))) {
        rp_err(err, errlen, rc, "%s", s->err);
        rp_state_free(s);
        return rc;
    }
    *out = s;
    return RP_OK;
}

const char *rp_state_deployment(const rp_state *s)
{
    return s ? s->deployment : NULL;
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
    size_t got = b.len;
    rc_buf_free(&b);
    if (!j || !json_object_is_type(j, json_type_object)) {
        json_object_put(j);
        return SFAIL(s, RP_ECORRUPT, "%s: damaged (%s)", path,
                     got ? "not a JSON object" : "empty file");
    }
    *out = j;
    return RP_OK;
}

/* ---- validation: every state file read is checked for the types its readers rely on ---- */

enum { T_NULL = 1, T_STR = 2, T_INT = 4, T_OBJ = 8, T_ARR = 16, T_BOOL = 32 };

static int type_ok(json_object *v, int types)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return types & T_NULL;
    case json_type_string:
        return types & T_STR;
    case json_type_int:
        return types & T_INT;
    case json_type_object:
        return types & T_OBJ;
    case json_type_array:
        return types & T_ARR;
    case json_type_boolean:
        return types & T_BOOL;
    default:
        return 0;
    }
}

/* 1 when o has key with one of types; else writes why. A missing key counts as null. */
static int field_ok(json_object *o, const char *key, int types, const char *where, char *why,
                    size_t cap)
{
    json_object *v = NULL;
    int has = json_object_object_get_ex(o, key, &v);
    if ((!has && (types & T_NULL)) || (has && type_ok(v, types)))
        return 1;
    snprintf(why, cap, "%s\"%s\" is missing or of the wrong type", where, key);
    return 0;
}

static int name_in(json_object *o, const char *key, const char *const *names, int n)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(json_object_get_string(v), names[i]))
            return i;
    return -1;
}

static int run_valid(json_object *run, char *why, size_t cap)
{
    json_object *a;
    if (!field_ok(run, "run_id", T_STR, "", why, cap) ||
        !field_ok(run, "index", T_STR, "", why, cap) ||
        !field_ok(run, "status", T_STR, "", why, cap) ||
        !field_ok(run, "created_ms", T_INT, "", why, cap) ||
        !field_ok(run, "updated_ms", T_INT | T_NULL, "", why, cap) ||
        !field_ok(run, "finished_ms", T_INT | T_NULL, "", why, cap) ||
        !field_ok(run, "params", T_OBJ, "", why, cap) ||
        !field_ok(run, "version", T_INT | T_NULL, "", why, cap) ||
        !field_ok(run, "error", T_STR | T_NULL, "", why, cap) ||
        !field_ok(run, "steps", T_ARR, "", why, cap) ||
        !field_ok(run, "replays", T_ARR | T_NULL, "", why, cap) ||
        !field_ok(run, "artifacts", T_OBJ, "", why, cap) ||
        !field_ok(run, "events", T_ARR, "", why, cap))
        return 0;
    if (name_in(run, "status", status_names, 4) < 0) {
        snprintf(why, cap, "unknown run status");
        return 0;
    }
    json_object_object_get_ex(run, "steps", &a);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *st = json_object_array_get_idx(a, i);
        if (!json_object_is_type(st, json_type_object) ||
            !field_ok(st, "name", T_STR, "a step's ", why, cap) ||
            !field_ok(st, "status", T_STR, "a step's ", why, cap) ||
            !field_ok(st, "attempts", T_INT, "a step's ", why, cap) ||
            !field_ok(st, "started_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "finished_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "duration_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "cpu_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "error", T_STR | T_NULL, "a step's ", why, cap)) {
            if (!json_object_is_type(st, json_type_object))
                snprintf(why, cap, "a step is not an object");
            return 0;
        }
        if (name_in(st, "status", status_names, 6) < 0) {
            snprintf(why, cap, "unknown step status");
            return 0;
        }
    }
    json_object_object_get_ex(run, "events", &a);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *ev = json_object_array_get_idx(a, i);
        if (!json_object_is_type(ev, json_type_object) ||
            !field_ok(ev, "t_ms", T_INT, "an event's ", why, cap) ||
            !field_ok(ev, "type", T_STR, "an event's ", why, cap) ||
            !field_ok(ev, "step", T_STR | T_NULL, "an event's ", why, cap) ||
            !field_ok(ev, "msg", T_STR | T_NULL, "an event's ", why, cap)) {
            if (!json_object_is_type(ev, json_type_object))
                snprintf(why, cap, "an event is not an object");
            return 0;
        }
    }
    json_object_object_get_ex(run, "artifacts", &a);
    json_object_object_foreach(a, key, art)
    {
        (void)key;
        if (!json_object_is_type(art, json_type_object) ||
            !field_ok(art, "file", T_STR, "an artifact's ", why, cap) ||
            !field_ok(art, "hash", T_STR, "an artifact's ", why, cap) ||
            !field_ok(art, "bytes", T_INT, "an artifact's ", why, cap) ||
            !field_ok(art, "records", T_INT | T_NULL, "an artifact's ", why, cap) ||
            !field_ok(art, "step", T_STR | T_NULL, "an artifact's ", why, cap) ||
            !field_ok(art, "params", T_OBJ | T_NULL, "an artifact's ", why, cap) ||
            !field_ok(art, "params_hash", T_STR, "an artifact's ", why, cap)) {
            if (!json_object_is_type(art, json_type_object))
                snprintf(why, cap, "an artifact is not an object");
            return 0;
        }
    }
    return 1;
}

static int index_valid(json_object *idx, char *why, size_t cap)
{
    json_object *vs, *n;
    if (!field_ok(idx, "index", T_STR, "", why, cap) ||
        !field_ok(idx, "next_version", T_INT, "", why, cap) ||
        !field_ok(idx, "active", T_INT | T_NULL, "", why, cap) ||
        !field_ok(idx, "versions", T_ARR, "", why, cap))
        return 0;
    json_object_object_get_ex(idx, "next_version", &n);
    if (json_object_get_int64(n) < 1 || json_object_get_int64(n) > RP_MAX_VERSION + 1) {
        snprintf(why, cap, "next_version out of 1..%d", RP_MAX_VERSION + 1);
        return 0;
    }
    json_object_object_get_ex(idx, "versions", &vs);
    for (size_t i = 0; i < json_object_array_length(vs); i++) {
        json_object *e = json_object_array_get_idx(vs, i);
        if (!json_object_is_type(e, json_type_object) ||
            !field_ok(e, "version", T_INT, "a version's ", why, cap) ||
            !field_ok(e, "run_id", T_STR | T_NULL, "a version's ", why, cap) ||
            !field_ok(e, "state", T_STR, "a version's ", why, cap) ||
            !field_ok(e, "created_ms", T_INT | T_NULL, "a version's ", why, cap) ||
            !field_ok(e, "updated_ms", T_INT | T_NULL, "a version's ", why, cap)) {
            if (!json_object_is_type(e, json_type_object))
                snprintf(why, cap, "a version is not an object");
            return 0;
        }
        if (name_in(e, "state", vstate_names, 4) < 0) {
            snprintf(why, cap, "unknown version state");
            return 0;
        }
        json_object *v;
        json_object_object_get_ex(e, "version", &v);
        if (json_object_get_int64(v) < 1 || json_object_get_int64(v) > RP_MAX_VERSION) {
            snprintf(why, cap, "a version out of 1..%d", RP_MAX_VERSION);
            return 0;
        }
    }
    return 1;
}

enum { K_ANY, K_RUN, K_INDEX };

/* load(), then the checks of its kind: a file that parses but does not hold what its readers
 * rely on is damaged (RP_ECORRUPT, with the path and what is wrong), never "missing". */
static int load_kind(rp_state *s, json_object **out, const char *path, int kind)
{
    json_object *j = NULL;
    int rc = load(s, &j, path);
    if (rc)
        return rc;
    char why[200] = "";
    if ((kind == K_RUN && !run_valid(j, why, sizeof why)) ||
        (kind == K_INDEX && !index_valid(j, why, sizeof why))) {
        json_object_put(j);
        return SFAIL(s, RP_ECORRUPT, "%s: damaged (%s)", path, why);
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
    if ((rc = load_kind(s, &run, path, K_RUN)) == RP_OK && (rc = fn(s, run, ud)) == RP_OK) {
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
    if (mkdir(dir, 0700) < 0) {
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
    if (rc) /* no half-made run is left behind: the directory holds nothing else yet */
        rmdir(dir);
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

static int read_text(rp_state *s, char **out, const char *path, int kind)
{
    json_object *j = NULL;
    int rc = load_kind(s, &j, path, kind);
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
    return rc ? rc : read_text(s, out, path, K_RUN);
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
    return rc ? rc : load_kind(s, out, path, K_RUN);
}
char *rp_state_errbuf_(rp_state *s, size_t *cap);
char *rp_state_errbuf_(rp_state *s, size_t *cap)
{
    *cap = sizeof s->err;
    return s->err;
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
        if (!find_step(a->from, a->steps[i], NULL) || !find_step(run, a->steps[i], NULL))
            return SFAIL(s, RP_ENOTFOUND, "no step %s", a->steps[i]);
    for (size_t i = 0; i < a->n; i++) {
        json_object *src = find_step(a->from, a->steps[i], NULL), *dst, *v;
        dst = find_step(run, a->steps[i], NULL);
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
        add_event(run, "inherited", a->steps[i], msg);
    }
    return RP_OK;
}

int rp_run_inherit(rp_state *s, const char *run_id, const char *from_run, const char *const *steps,
                   size_t n)
{
    if (!s || (n && !steps))
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "runs", from_run, "run.json");
    if (rc)
        return rc;
    if (!rp_name_valid(run_id) || !strcmp(run_id, from_run))
        return SFAIL(s, RP_EINVAL, "a run inherits from another, valid run");
    inherit_args a = {run_id, from_run, NULL, steps, n};
    if ((rc = load_kind(s, &a.from, path, K_RUN)))
        return rc;
    rc = with_run(s, run_id, do_inherit, &a);
    json_object_put(a.from);
    return rc;
}

/* ---- run locks: a run being executed is flock()ed by its process ---- */

int rp_run_lock(rp_state *s, const char *run_id)
{
    if (!s)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "runs", run_id, "run.lock");
    if (rc)
        return rc;
    if (s->runfd >= 0 && !strcmp(s->run_id, run_id))
        return RP_OK;
    char json[4200];
    path_of(s, json, sizeof json, "runs", run_id, "run.json");
    if (access(json, F_OK) < 0)
        return SFAIL(s, RP_ENOTFOUND, "no run %s", run_id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return SFAIL(s, RP_EIO, "%s: %s", path, strerror(errno));
    /* Someone checking whether the run is alive holds the lock shared for an instant: retry
     * for a while before calling the run busy. */
    for (int tries = 0;; tries++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK || tries >= 100) {
            int e = errno;
            char pid[32] = "";
            ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            close(fd);
            if (e == EWOULDBLOCK)
                return SFAIL(s, RP_EBUSY, "run %s is being executed by another process%s%s%s",
                             run_id, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
            return SFAIL(s, RP_EIO, "lock %s: %s", path, strerror(e));
        }
        usleep(10000);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
        /* the pid is only for messages */
    }
    rp_run_unlock(s); /* the run held before (only now: a failed lock keeps it held) */
    s->runfd = fd;
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    return RP_OK;
}

void rp_run_unlock(rp_state *s)
{
    if (!s || s->runfd < 0)
        return;
    close(s->runfd); /* releases the flock */
    s->runfd = -1;
    s->run_id[0] = 0;
}

int rp_run_alive(rp_state *s, int *out, const char *run_id)
{
    if (!s || !out)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "runs", run_id, "run.lock");
    if (rc)
        return rc;
    if (s->runfd >= 0 && !strcmp(s->run_id, run_id)) {
        *out = 1;
        return RP_OK;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return SFAIL(s, RP_EIO, "%s: %s", path, strerror(errno));
        *out = 0;
        return RP_OK;
    }
    int alive;
    for (;;) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            alive = 0;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK) {
            alive = 1;
            break;
        }
        rc = SFAIL(s, RP_EIO, "lock %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    close(fd);
    *out = alive;
    return RP_OK;
}

/* ---- temp files of dead processes ---- */

/* Digits only, at least one, no sign or space; the value (up to max) into *out. */
static int all_digits(const char *p, const char *end, long max, long *out)
{
    long v = 0;
    if (p == end)
        return 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10)
            return 0;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 1;
}

/* 1 when name ends in ".tmp.<pid>" or ".tmp.<pid>.<n>" (digits only, pid in 1..INT_MAX); *pid
 * gets the pid. */
static int tmp_name(const char *name, long *pid)
{
    const char *t = strstr(name, ".tmp.");
    if (!t)
        return 0;
    for (const char *n; (n = strstr(t + 1, ".tmp."));)
        t = n;
    const char *p = t + 5, *dot = strchr(p, '.'), *end = p + strlen(p);
    long v, k;
    if (dot && !all_digits(dot + 1, end, LONG_MAX, &k))
        return 0;
    if (!all_digits(p, dot ? dot : end, INT_MAX, &v) || v < 1)
        return 0;
    *pid = v;
    return 1;
}

static size_t sweep_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        if (!tmp_name(e->d_name, &pid) || pid == (long)getpid())
            continue;
        /* A process that is gone cannot be writing it; a live one (or a pid reused since) is
         * left alone: removing a live writer's file would lose its work. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[4400];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path &&
            unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int rp_state_sweep(rp_state *s, size_t *removed, const char *run_id)
{
    if (!s)
        return RP_EINVAL;
    char path[4200];
    int rc;
    if (run_id && (rc = path_of(s, path, sizeof path, "runs", run_id, "x")))
        return rc;
    if ((rc = lock(s)))
        return rc;
    size_t n = sweep_dir(s->dir);
    snprintf(path, sizeof path, "%s/indexes", s->dir);
    n += sweep_dir(path);
    if (run_id) {
        snprintf(path, sizeof path, "%s/runs/%s", s->dir, run_id);
        n += sweep_dir(path);
    } else {
        snprintf(path, sizeof path, "%s/runs", s->dir);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!rp_name_valid(e->d_name))
                continue;
            char sub[4400];
            snprintf(sub, sizeof sub, "%s/runs/%s", s->dir, e->d_name);
            n += sweep_dir(sub);
        }
        if (d)
            closedir(d);
    }
    unlock(s);
    if (removed)
        *removed = n;
    return RP_OK;
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
    return rp_index_reserve_from(s, out_version, index, run_id, 1);
}

static json_object *new_index(const char *index)
{
    json_object *idx = json_object_new_object();
    json_object_object_add(idx, "index", jstr(index));
    json_object_object_add(idx, "next_version", json_object_new_int(1));
    json_object_object_add(idx, "active", NULL);
    json_object_object_add(idx, "versions", json_object_new_array());
    return idx;
}

int rp_index_reserve_from(rp_state *s, int *out_version, const char *index, const char *run_id,
                          int min_version)
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
    rc = load_kind(s, &idx, path, K_INDEX);
    if (rc == RP_ENOTFOUND) {
        idx = new_index(index);
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
    if (v < min_version) /* numbers whose collections exist already are never handed out */
        v = min_version;
    if (v > RP_MAX_VERSION) {
        rc = SFAIL(s, RP_ESTATE, "%s: no version number left (%d is the last)", path,
                   RP_MAX_VERSION);
        goto out;
    }
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

int rp_index_repair(rp_state *s, size_t *out_changes, char *aside, size_t asidecap,
                    const char *index, const rp_found_version *found, size_t n, int active)
{
    if (!s || (n && !found) || active < 0)
        return RP_EINVAL;
    char path[4200];
    int rc = path_of(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (found[i].version < 1 || found[i].version > RP_MAX_VERSION ||
            !rp_vstate_name(found[i].vstate) ||
            (found[i].run_id && !rp_name_valid(found[i].run_id)))
            return SFAIL(s, RP_EINVAL, "bad version to repair");
    if (aside && asidecap)
        aside[0] = 0;
    if ((rc = lock(s)))
        return rc;
    size_t changes = 0;
    json_object *idx = NULL, *vs, *nv;
    rc = load_kind(s, &idx, path, K_INDEX);
    int damaged = rc == RP_ECORRUPT; /* set aside when the new history is saved, not before */
    if (damaged) {
        changes++;
        rc = RP_ENOTFOUND;
    }
    if (rc == RP_ENOTFOUND) {
        idx = new_index(index);
        rc = RP_OK;
    }
    if (rc)
        goto out;
    json_object_object_get_ex(idx, "versions", &vs);
    json_object_object_get_ex(idx, "next_version", &nv);
    int next = json_object_get_int(nv);
    int64_t now = rc_wall_ms();
    for (size_t i = 0; i < n; i++) {
        json_object *e = find_version(idx, found[i].version);
        if (!e) {
            e = json_object_new_object();
            json_object_object_add(e, "version", json_object_new_int(found[i].version));
            json_object_object_add(e, "run_id", jstr(found[i].run_id));
            json_object_object_add(e, "state", jstr(rp_vstate_name(found[i].vstate)));
            json_object_object_add(e, "created_ms", json_object_new_int64(now));
            json_object_object_add(e, "updated_ms", json_object_new_int64(now));
            json_object_object_add(e, "repaired", json_object_new_boolean(1));
            json_object_array_add(vs, e);
            changes++;
        }
        if (found[i].version >= next)
            next = found[i].version + 1;
    }
    /* Keep the versions in order (added ones may fall between recorded ones). */
    size_t nvs = json_object_array_length(vs);
    for (size_t i = 1; i < nvs; i++)
        for (size_t j = i; j > 0; j--) {
            json_object *a = json_object_array_get_idx(vs, j - 1),
                        *b = json_object_array_get_idx(vs, j), *va, *vb;
            json_object_object_get_ex(a, "version", &va);
            json_object_object_get_ex(b, "version", &vb);
            if (json_object_get_int(va) <= json_object_get_int(vb))
                break;
            json_object_get(a);
            json_object_get(b);
            json_object_array_put_idx(vs, j - 1, b);
            json_object_array_put_idx(vs, j, a);
        }
    if (next != json_object_get_int(nv)) {
        json_object_object_add(idx, "next_version", json_object_new_int(next));
        changes++;
    }
    /* What readers see (the alias) is the truth about which version is active. */
    json_object *a;
    int cur = json_object_object_get_ex(idx, "active", &a) && a ? json_object_get_int(a) : 0;
    json_object *ae = active ? find_version(idx, active) : NULL;
    if (active && !ae) {
        rc = SFAIL(s, RP_EINVAL, "the active version %d is not among the versions", active);
        goto out;
    }
    if (ae && vstate_of(ae) != RP_V_PROMOTED) {
        json_object_object_add(ae, "state", jstr("promoted"));
        json_object_object_add(ae, "updated_ms", json_object_new_int64(now));
        changes++;
    }
    if (cur != active) {
        json_object_object_add(idx, "active", active ? json_object_new_int(active) : NULL);
        changes++;
    }
    if (damaged) {
        /* Set the damaged file aside (never delete what a person may want to look at), under a
         * name no file has yet. */
        char moved[4300];
        int64_t ms = rc_wall_ms();
        for (int k = 0;; k++, ms++) {
            snprintf(moved, sizeof moved, "%s.damaged-%lld", path, (long long)ms);
            if (access(moved, F_OK) < 0 || k == 1000)
                break;
        }
        if (rename(path, moved) < 0) {
            rc = SFAIL(s, RP_EIO, "rename %s: %s", path, strerror(errno));
            goto out;
        }
        if (aside && asidecap)
            snprintf(aside, asidecap, "%s", moved);
    }
    if (changes)
        rc = save(s, path, idx);
    if (rc == RP_OK && out_changes)
        *out_changes = changes;
out:
    json_object_put(idx);
    unlock(s);
    return rc;
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
    if ((rc = load_kind(s, &idx, path, K_INDEX)))
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
    if ((rc = load_kind(s, &idx, path, K_INDEX)))
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
    return rc ? rc : read_text(s, out, path, K_INDEX);
}

int rp_collection_name(char *buf, size_t cap, const char *prefix, const char *index, int version)
{
    if (!buf || !rp_name_valid(prefix) || !rp_name_valid(index) || version < 1)
        return RP_EINVAL;
    int n = snprintf(buf, cap, "%s_%s_v%d", prefix, index, version);
    return n < 0 || (size_t)n >= cap ? RP_EINVAL : RP_OK;
}
