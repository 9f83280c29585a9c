/* The state directory: opening it (and its deployment id), the writers' lock, paths, and
 * reading and replacing its JSON files atomically (checked by state_check.c). Runs are in
 * runs.c, run locks and the temp-file sweep in runlock.c, indexes in indexes.c. */
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

#include "buf.h"
#include "clock.h"
#include "state_int.h"

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

/* The deployment id: 32 hex digits in <dir>/deployment, made once (under the rp_state_lock_) from
 * the kernel's random bytes. It names this state directory in the metadata of every collection a
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
    if ((rc = rp_state_lock_(s)))
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
    rp_state_unlock_(s);
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

int rp_state_lock_(rp_state *s)
{
    while (flock(s->lockfd, LOCK_EX) < 0) {
        if (errno != EINTR)
            return SFAIL(s, RP_EIO, "lock: %s", strerror(errno));
    }
    return RP_OK;
}

void rp_state_unlock_(rp_state *s)
{
    flock(s->lockfd, LOCK_UN);
}

const char *const rp_status_names_[6] = {"QUEUED", "RUNNING", "SUCCEEDED",
                                         "FAILED", "PENDING", "SKIPPED"};
const char *const rp_vstate_names_[4] = {"building", "failed", "promoted", "rolled_back"};

const char *rp_status_name(int st)
{
    return st >= 0 && st < 6 ? rp_status_names_[st] : NULL;
}

const char *rp_vstate_name(int v)
{
    return v >= 0 && v < 4 ? rp_vstate_names_[v] : NULL;
}

int rp_state_path_(rp_state *s, char *buf, size_t cap, const char *kind, const char *name,
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

/* load(), then the checks of its kind: a file that parses but does not hold what its readers
 * rely on is damaged (RP_ECORRUPT, with the path and what is wrong), never "missing". */
int rp_state_load_(rp_state *s, json_object **out, const char *path, int kind)
{
    json_object *j = NULL;
    int rc = load(s, &j, path);
    if (rc)
        return rc;
    char why[200] = "";
    if ((kind == K_RUN && !rp_run_valid_(j, why, sizeof why)) ||
        (kind == K_INDEX && !rp_index_valid_(j, why, sizeof why))) {
        json_object_put(j);
        return SFAIL(s, RP_ECORRUPT, "%s: damaged (%s)", path, why);
    }
    *out = j;
    return RP_OK;
}

int rp_state_save_(rp_state *s, const char *path, json_object *j)
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

json_object *rp_jstr_(const char *v)
{
    return v ? json_object_new_string(v) : NULL;
}

void rp_run_add_event_(json_object *run, const char *type, const char *step, const char *msg)
{
    json_object *ev = NULL, *e = json_object_new_object();
    if (!json_object_object_get_ex(run, "events", &ev) || !e) {
        json_object_put(e);
        return;
    }
    json_object_object_add(e, "t_ms", json_object_new_int64(rc_wall_ms()));
    json_object_object_add(e, "type", rp_jstr_(type));
    json_object_object_add(e, "step", rp_jstr_(step));
    json_object_object_add(e, "msg", rp_jstr_(msg));
    json_object_array_add(ev, e);
}

/* Locks, loads the run, calls fn, stamps updated_ms, saves, unlocks. */

int rp_state_with_run(rp_state *s, const char *run_id, rp_run_fn fn, void *ud)
{
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "run.json");
    if (rc)
        return rc;
    if ((rc = rp_state_lock_(s)))
        return rc;
    json_object *run = NULL;
    if ((rc = rp_state_load_(s, &run, path, K_RUN)) == RP_OK && (rc = fn(s, run, ud)) == RP_OK) {
        json_object_object_add(run, "updated_ms", json_object_new_int64(rc_wall_ms()));
        rc = rp_state_save_(s, path, run);
    }
    json_object_put(run);
    rp_state_unlock_(s);
    return rc;
}

int rp_state_read_text_(rp_state *s, char **out, const char *path, int kind)
{
    json_object *j = NULL;
    int rc = rp_state_load_(s, &j, path, kind);
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
