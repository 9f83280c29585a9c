/* artifacts: NDJSON files under a run's directory, hashed as written, recorded in run.json. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "ndjson.h"
#include "state_int.h"

#define WBUF (1u << 20) /* the writer's buffer */

struct rp_artifact_writer {
    rp_state *s;
    char *run_id, *name, *step;
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    int fd;           /* the temp file, -1 once closed */
    char *buf;        /* lines not written yet (WBUF bytes), hashed when written */
    size_t blen;      /* bytes in buf */
    uint64_t flushed; /* bytes written to fd */
    rp_hasher h;
    uint64_t bytes, records;
    int done;
    char err[512];
};

static int name_ok(const char *n)
{
    size_t len = n ? strlen(n) : 0;
    if (len == 0 || len > 64 || n[0] == '.' || !strcmp(n, "run.json") || !strcmp(n, "run.lock"))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = n[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return strstr(n, ".tmp.") == NULL;
}

/* Canonical JSON: objects with keys sorted byte-wise, no white space. */
static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int canon(rc_buf *b, json_object *j)
{
    switch (json_object_get_type(j)) {
    case json_type_object: {
        size_t n = (size_t)json_object_object_length(j), k = 0;
        const char **keys = malloc((n ? n : 1) * sizeof *keys);
        if (!keys)
            return -1;
        json_object_object_foreach(j, key, val)
        {
            (void)val;
            keys[k++] = key;
        }
        qsort(keys, n, sizeof *keys, cmp_key);
        int rc = rc_buf_putc(b, '{');
        for (size_t i = 0; i < n && rc >= 0; i++) {
            if (i)
                rc |= rc_buf_putc(b, ',');
            rc |= rc_buf_json_str(b, keys[i], strlen(keys[i]));
            rc |= rc_buf_putc(b, ':');
            rc |= rc < 0 ? -1 : canon(b, json_object_object_get(j, keys[i]));
        }
        free(keys);
        return rc < 0 ? -1 : rc_buf_putc(b, '}');
    }
    case json_type_array: {
        int rc = rc_buf_putc(b, '[');
        for (size_t i = 0; i < json_object_array_length(j) && rc >= 0; i++) {
            if (i)
                rc |= rc_buf_putc(b, ',');
            rc |= canon(b, json_object_array_get_idx(j, i));
        }
        return rc < 0 ? -1 : rc_buf_putc(b, ']');
    }
    default:
        return rc_buf_puts(b, json_object_to_json_string_ext(
                                  j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    }
}

/* Parses params (NULL: {}) and hashes its canonical form. */
static int params_hash(json_object **out, char hash[RP_HASH_HEX], const char *params_json)
{
    json_object *p = params_json ? json_tokener_parse(params_json) : json_object_new_object();
    if (!p || !json_object_is_type(p, json_type_object)) {
        json_object_put(p);
        return RP_EINVAL;
    }
    rc_buf b = RC_BUF_INIT;
    if (canon(&b, p) < 0) {
        rc_buf_free(&b);
        json_object_put(p);
        return RP_ENOMEM;
    }
    rp_hash_hex(hash, b.data, b.len);
    rc_buf_free(&b);
    if (out)
        *out = p;
    else
        json_object_put(p);
    return RP_OK;
}

const char *rp_artifact_errmsg(const rp_artifact_writer *w)
{
    return w ? w->err : "";
}

void rp_artifact_writer_free(rp_artifact_writer *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->tmp);
    }
    free(w->buf);
    free(w->run_id);
    free(w->name);
    free(w->step);
    free(w);
}

int rp_artifact_begin(rp_artifact_writer **out, rp_state *s, const char *run_id, const char *name,
                      const char *step)
{
    if (!out || !s || !rp_name_valid(run_id) || !name_ok(name) || !rp_name_valid(step))
        return RP_EINVAL;
    rp_artifact_writer *w = calloc(1, sizeof *w);
    if (!w)
        return RP_ENOMEM;
    w->s = s;
    w->fd = -1;
    if (!(w->buf = malloc(WBUF)) || !(w->run_id = strdup(run_id)) || !(w->name = strdup(name)) ||
        !(w->step = strdup(step))) {
        rp_artifact_writer_free(w);
        return RP_ENOMEM;
    }
    snprintf(w->path, sizeof w->path, "%s/runs/%s/%s", rp_state_dir(s), run_id, name);
    snprintf(w->tmp, sizeof w->tmp, "%s.tmp.%ld", w->path, (long)getpid());
    struct stat st;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/runs/%s", rp_state_dir(s), run_id);
    if (stat(dir, &st) < 0) {
        rp_artifact_writer_free(w);
        return RP_ENOTFOUND;
    }
    if ((w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        rp_artifact_writer_free(w);
        return RP_EIO;
    }
    rp_hasher_init(&w->h);
    *out = w;
    return RP_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t r = write(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Hashes and writes p[0..n) to the file. With a large file the kernel is asked to start
 * writing back what is written (Linux), so that the fsync at commit finds less to wait for;
 * durability still rests on that fsync alone. */
static int put_bytes(rp_artifact_writer *w, const char *p, size_t n)
{
    rp_hasher_update(&w->h, p, n);
    if (write_all(w->fd, p, n) < 0)
        return -1;
    w->flushed += n;
#ifdef SYNC_FILE_RANGE_WRITE
    uint64_t step = 8u << 20;
    if (w->flushed / step != (w->flushed - n) / step)
        (void)sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
#endif
    return 0;
}

static int flush_buf(rp_artifact_writer *w)
{
    if (w->blen && put_bytes(w, w->buf, w->blen) < 0)
        return -1;
    w->blen = 0;
    return 0;
}

int rp_artifact_write(rp_artifact_writer *w, const char *line, size_t len)
{
    if (!w || (!line && len))
        return RP_EINVAL;
    if (w->fd < 0 || w->done)
        return rp_err(w->err, sizeof w->err, RP_EINVAL, "writer already committed");
    if (memchr(line, '\n', len))
        return rp_err(w->err, sizeof w->err, RP_EINVAL, "a line may not contain a newline");
    /* Lines gather in w->buf; one longer than the buffer goes straight to the file. */
    if ((len >= WBUF - w->blen && flush_buf(w) < 0) || (len >= WBUF && put_bytes(w, line, len) < 0))
        return rp_err(w->err, sizeof w->err, RP_EIO, "%s: %s", w->tmp, strerror(errno));
    if (len < WBUF) {
        memcpy(w->buf + w->blen, line, len);
        w->blen += len;
    }
    w->buf[w->blen++] = '\n';
    w->bytes += len + 1;
    w->records++;
    return RP_OK;
}

typedef struct rec_args {
    rp_artifact_writer *w;
    json_object *params;
    const char *phash, *hash;
} rec_args;

static int do_record(rp_state *s, json_object *run, void *ud)
{
    rec_args *a = ud;
    json_object *arts, *e = json_object_new_object();
    if (!json_object_object_get_ex(run, "artifacts", &arts)) {
        arts = json_object_new_object();
        json_object_object_add(run, "artifacts", arts);
    }
    json_object_object_add(e, "step", json_object_new_string(a->w->step));
    json_object_object_add(e, "file", json_object_new_string(a->w->name));
    json_object_object_add(e, "hash", json_object_new_string(a->hash));
    json_object_object_add(e, "bytes", json_object_new_int64((int64_t)a->w->bytes));
    json_object_object_add(e, "records", json_object_new_int64((int64_t)a->w->records));
    json_object_object_add(e, "params", json_object_get(a->params));
    json_object_object_add(e, "params_hash", json_object_new_string(a->phash));
    json_object_object_add(arts, a->w->name, e);
    json_object *ev, *x = json_object_new_object();
    if (json_object_object_get_ex(run, "events", &ev)) {
        json_object_object_add(x, "t_ms", json_object_new_int64(rc_wall_ms()));
        json_object_object_add(x, "type", json_object_new_string("artifact"));
        json_object_object_add(x, "step", json_object_new_string(a->w->step));
        json_object_object_add(x, "msg", json_object_new_string(a->w->name));
        json_object_array_add(ev, x);
    } else {
        json_object_put(x);
    }
    return RP_OK;
}

int rp_artifact_commit(rp_artifact_writer *w, const char *params_json, char *out_hash)
{
    if (!w)
        return RP_EINVAL;
    if (w->fd < 0 || w->done)
        return rp_err(w->err, sizeof w->err, RP_EINVAL, "writer already committed");
    json_object *params = NULL;
    char phash[RP_HASH_HEX], hash[RP_HASH_HEX];
    int rc = params_hash(&params, phash, params_json);
    if (rc)
        return rp_err(w->err, sizeof w->err, rc, "params must be a JSON object");
    w->done = 1;
    int ok = flush_buf(w) == 0 && fsync(w->fd) == 0, e = errno;
    if (close(w->fd) < 0 && ok) {
        ok = 0;
        e = errno;
    }
    w->fd = -1;
    if (!ok) {
        unlink(w->tmp);
        json_object_put(params);
        return rp_err(w->err, sizeof w->err, RP_EIO, "%s: %s", w->tmp, strerror(e));
    }
    if (rename(w->tmp, w->path) < 0 || rp_fsync_dir_of(w->path) < 0) {
        unlink(w->tmp);
        json_object_put(params);
        return rp_err(w->err, sizeof w->err, RP_EIO, "%s: %s", w->path, strerror(errno));
    }
    rp_hasher_hex(&w->h, hash);
    rec_args a = {w, params, phash, hash};
    rc = rp_state_with_run(w->s, w->run_id, do_record, &a);
    json_object_put(params);
    if (rc)
        return rp_err(w->err, sizeof w->err, rc, "%s", w->s->err);
    if (out_hash)
        memcpy(out_hash, hash, RP_HASH_HEX);
    return RP_OK;
}

static int hash_file(const char *path, char hash[RP_HASH_HEX], uint64_t *bytes)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? RP_ENOTFOUND : RP_EIO;
    rp_hasher h;
    rp_hasher_init(&h);
    char buf[65536];
    ssize_t r;
    *bytes = 0;
    while ((r = read(fd, buf, sizeof buf)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            close(fd);
            return RP_EIO;
        }
        rp_hasher_update(&h, buf, (size_t)r);
        *bytes += (uint64_t)r;
    }
    close(fd);
    rp_hasher_hex(&h, hash);
    return RP_OK;
}

int rp_artifact_valid(rp_state *s, const char *run_id, const char *name, const char *params_json,
                      char *out_path)
{
    if (!s || !name_ok(name))
        return RP_EINVAL;
    char phash[RP_HASH_HEX];
    int rc = params_hash(NULL, phash, params_json);
    if (rc)
        return rc;
    json_object *run = NULL, *arts, *a, *h, *ph, *by;
    if ((rc = rp_state_load_run(s, &run, run_id)))
        return rc == RP_ENOTFOUND ? 0 : rc;
    int valid = 0;
    char path[PATH_MAX];
    if (json_object_object_get_ex(run, "artifacts", &arts) &&
        json_object_object_get_ex(arts, name, &a) && json_object_object_get_ex(a, "hash", &h) &&
        json_object_object_get_ex(a, "params_hash", &ph) &&
        json_object_object_get_ex(a, "bytes", &by) && !strcmp(json_object_get_string(ph), phash)) {
        snprintf(path, sizeof path, "%s/runs/%s/%s", rp_state_dir(s), run_id, name);
        char fh[RP_HASH_HEX];
        uint64_t bytes = 0;
        struct stat st;
        if (stat(path, &st) == 0 && (uint64_t)st.st_size == (uint64_t)json_object_get_int64(by) &&
            hash_file(path, fh, &bytes) == RP_OK && !strcmp(fh, json_object_get_string(h)))
            valid = 1;
    }
    json_object_put(run);
    if (valid && out_path)
        memcpy(out_path, path, strlen(path) + 1);
    return valid;
}

typedef int (*line_fn)(const char *line, size_t len, void *ud);

int rp_artifact_read(const char *path, size_t max_line, line_fn fn, void *ud)
{
    if (!path || !fn)
        return RP_EINVAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? RP_ENOTFOUND : RP_EIO;
    rc_ndjson nd;
    rc_ndjson_init(&nd, max_line ? max_line : (64u << 20), fn, ud);
    char buf[65536];
    int rc = RP_OK;
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = RP_EIO;
            break;
        }
        if (r == 0) {
            if (rc_ndjson_pending(&nd))
                rc = RP_ECORRUPT; /* an unterminated last line: the file was cut */
            break;
        }
        int fr = rc_ndjson_feed(&nd, buf, (size_t)r);
        if (fr == RC_NDJSON_ENOMEM)
            rc = RP_ENOMEM;
        else if (fr == RC_NDJSON_ETOOLONG)
            rc = RP_ECORRUPT;
        else if (fr)
            rc = RP_ESTOPPED;
        if (rc)
            break;
    }
    rc_ndjson_free(&nd);
    close(fd);
    return rc;
}
