/* The versioned index build driver (see build.h): the step table, the run's record as the
 * steps go, reuse of earlier steps' artifacts, and creating, executing and replaying runs. The
 * steps themselves live in step_source.c, step_embed.c, step_index.c and publish.c. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "owner.h"
#include "steps.h"

/* One call of a step, whatever its parameters. */
typedef struct step_call {
    rp_state *s;
    const char *run_id;
    const rp_build_config *cfg;
    const rc_buf *p; /* every step's parameters (JSON), by step number */
    const char *collection;
    int version;
    char *err;
    size_t errlen;
} step_call;

static int run_discover(const step_call *c);
static int run_chunk(const step_call *c);
static int run_embed(const step_call *c);
static int run_upsert(const step_call *c);
static int run_smoketest(const step_call *c);
static int run_promote(const step_call *c);

/* The steps, in order: their numbers, names, artifacts and functions from one list. */
#define STEPS(X)                                                                                   \
    X(S_DISCOVER, "discover", "docs.ndjson", run_discover)                                         \
    X(S_CHUNK, "chunk", "chunks.ndjson", run_chunk)                                                \
    X(S_EMBED, "embed", "embed.ndjson", run_embed)                                                 \
    X(S_UPSERT, "upsert", "upsert.json", run_upsert)                                               \
    X(S_SMOKE, "smoketest", "smoke.json", run_smoketest)                                           \
    X(S_PROMOTE, "promote", NULL, run_promote)
#define AS_ENUM(e, name, artifact, fn) e,
#define AS_NAME(e, name, artifact, fn) name,
#define AS_DEF(e, name, artifact, fn) {artifact, fn},
enum { STEPS(AS_ENUM) S_COUNT };
const char *const rp_build_steps[RP_NSTEPS] = {STEPS(AS_NAME)};
static const struct {
    const char *artifact; /* NULL: none */
    int (*run)(const step_call *c);
} step_def[RP_NSTEPS] = {STEPS(AS_DEF)};
_Static_assert(S_COUNT == RP_NSTEPS, "RP_NSTEPS counts the steps");

static int run_discover(const step_call *c)
{
    return rp_step_discover(c->s, c->run_id, c->cfg, c->p[S_DISCOVER].data, c->err, c->errlen);
}

static int run_chunk(const step_call *c)
{
    return rp_step_chunk(c->s, c->run_id, c->cfg, c->p[S_CHUNK].data, c->p[S_DISCOVER].data, c->err,
                         c->errlen);
}

static int run_embed(const step_call *c)
{
    return rp_step_embed(c->s, c->run_id, c->cfg, c->p[S_EMBED].data, c->p[S_CHUNK].data, c->err,
                         c->errlen);
}

static int run_upsert(const step_call *c)
{
    return rp_step_upsert(c->s, c->run_id, c->cfg, c->p[S_UPSERT].data, c->p[S_CHUNK].data,
                          c->collection, c->version, c->err, c->errlen);
}

static int run_smoketest(const step_call *c)
{
    return rp_step_smoketest(c->s, c->run_id, c->cfg, c->p[S_SMOKE].data, c->p[S_CHUNK].data,
                             c->collection, c->err, c->errlen);
}

static int run_promote(const step_call *c)
{
    return rp_step_promote(c->s, c->run_id, c->cfg, c->collection, c->version, c->err, c->errlen);
}

int rp_step_index(const char *name)
{
    for (int i = 0; name && i < RP_NSTEPS; i++)
        if (strcmp(name, rp_build_steps[i]) == 0)
            return i;
    return -1;
}

uint64_t rp_point_id(const char *index, const char *doc_id, size_t n)
{
    rc_buf b = RC_BUF_INIT;
    uint64_t h[2] = {0, 0};
    if (rc_buf_printf(&b, "%s\n%s\n%zu", index, doc_id, n) == 0)
        rp_hash128(h, b.data, b.len);
    rc_buf_free(&b);
    return h[0];
}

void rp_progress(const rp_build_config *cfg, const char *step, const char *fmt, ...)
{
    if (!cfg->progress)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg->progress(cfg->progress_ud, step, msg);
}

const char *rp_prefix_of(const rp_build_config *cfg)
{
    return cfg->prefix && *cfg->prefix ? cfg->prefix : "rag";
}

/* ---- run.json helpers ---- */

json_object *rp_read_run(rp_state *s, const char *run_id)
{
    char *text = NULL;
    if (rp_run_read(s, &text, run_id) != RP_OK)
        return NULL;
    json_object *o = json_tokener_parse(text);
    free(text);
    return o;
}

static int run_step_status(json_object *run, int i)
{
    json_object *steps, *st, *status;
    if (!json_object_object_get_ex(run, "steps", &steps))
        return -1;
    st = json_object_array_get_idx(steps, (size_t)i);
    if (!st || !json_object_object_get_ex(st, "status", &status))
        return -1;
    const char *n = json_object_get_string(status);
    for (int k = 0; k <= RP_SKIPPED; k++)
        if (strcmp(n, rp_status_name(k)) == 0)
            return k;
    return -1;
}

static int run_step_attempts(json_object *run, int i)
{
    json_object *steps, *st, *a;
    if (!json_object_object_get_ex(run, "steps", &steps))
        return 0;
    st = json_object_array_get_idx(steps, (size_t)i);
    return st && json_object_object_get_ex(st, "attempts", &a) ? json_object_get_int(a) : 0;
}

static int run_version(json_object *run)
{
    json_object *v;
    return json_object_object_get_ex(run, "version", &v) ? json_object_get_int(v) : 0;
}

const char *rp_artifact_hash(json_object *run, const char *name)
{
    json_object *arts, *a, *h;
    if (!json_object_object_get_ex(run, "artifacts", &arts) ||
        !json_object_object_get_ex(arts, name, &a) || !json_object_object_get_ex(a, "hash", &h))
        return NULL;
    return json_object_get_string(h);
}

/* ---- artifact parameters (what each step's output depends on) ---- */

static int step_params(rc_buf *b, int step, const rp_build_config *cfg, json_object *run,
                       const char *collection)
{
    rc_buf_reset(b);
    char real[PATH_MAX];
    const char *h;
    switch (step) {
    case S_DISCOVER:
        if (!realpath(cfg->docs_dir, real))
            snprintf(real, sizeof real, "%s", cfg->docs_dir);
        rc_buf_puts(b, "{\"docs\":");
        rc_buf_json_str(b, real, strlen(real));
        return rc_buf_puts(b, "}");
    case S_CHUNK:
        h = rp_artifact_hash(run, "docs.ndjson");
        return rc_buf_printf(b, "{\"docs_hash\":\"%s\",\"size\":%zu,\"overlap\":%zu}", h ? h : "",
                             cfg->chunk.size, cfg->chunk.overlap);
    case S_EMBED:
        h = rp_artifact_hash(run, "chunks.ndjson");
        return rc_buf_printf(b, "{\"chunks_hash\":\"%s\",\"embedder\":\"%s\",\"model\":\"%s\"}",
                             h ? h : "", rp_embedder_name(cfg->embedder),
                             rp_embedder_model(cfg->embedder));
    case S_UPSERT:
        h = rp_artifact_hash(run, "embed.ndjson");
        return rc_buf_printf(b, "{\"embed_hash\":\"%s\",\"collection\":\"%s\"}", h ? h : "",
                             collection);
    case S_SMOKE:
        h = rp_artifact_hash(run, "upsert.json");
        return rc_buf_printf(b, "{\"upsert_hash\":\"%s\",\"samples\":%zu}", h ? h : "",
                             cfg->smoke_samples ? cfg->smoke_samples : 5);
    default:
        return rc_buf_puts(b, "{}");
    }
}

/* The number of chunks recorded with the chunk artifact (0 when unknown). */
size_t rp_recorded_chunks(rp_state *s, const char *run_id)
{
    json_object *run = rp_read_run(s, run_id), *arts, *a, *rec;
    size_t n = run && json_object_object_get_ex(run, "artifacts", &arts) &&
                       json_object_object_get_ex(arts, "chunks.ndjson", &a) &&
                       json_object_object_get_ex(a, "records", &rec)
                   ? (size_t)json_object_get_int64(rec)
                   : 0;
    json_object_put(run);
    return n;
}

void rp_count(const rp_build_config *cfg, const char *step, size_t done, size_t total)
{
    if (cfg->count)
        cfg->count(cfg->progress_ud, step, done, total);
}

/* CPU time of the process so far, in ms. */
static int64_t cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the driver ---- */

static int make_run_id(char *run_id, size_t cap, const char *index)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    uint64_t h[2];
    char seed[96];
    snprintf(seed, sizeof seed, "%s-%ld-%ld", index, (long)getpid(), ts.tv_nsec);
    rp_hash128(h, seed, strlen(seed));
    snprintf(run_id, cap, "%.20s-%s-%04x", index, stamp, (unsigned)(h[0] & 0xffff));
    for (char *p = run_id; *p; p++)
        if (*p == '_')
            *p = '-';
    return RP_OK;
}

/* Reserves the run's version: never a number whose collection exists on the server, whoever
 * made it. */
static int reserve_version(rp_state *s, int *out, const char *run_id, const rp_build_config *cfg,
                           char *err, size_t errlen)
{
    int floor = 1, version = 0;
    int rc = rp_versions_floor(&floor, cfg->qdrant, rp_prefix_of(cfg), cfg->index, err, errlen);
    if (rc)
        return rc;
    rc = rp_index_reserve_from(s, &version, cfg->index, run_id, floor);
    if (rc == RP_OK)
        rc = rp_run_set_version(s, run_id, version);
    if (rc)
        return rp_err(err, errlen, rc, "reserving a version: %s", rp_state_errmsg(s));
    *out = version;
    return RP_OK;
}

int rp_build_create(rp_state *s, char *run_id, size_t cap, const rp_build_config *cfg, char *err,
                    size_t errlen)
{
    if (!s || !run_id || cap < 48 || !cfg || !cfg->index || !cfg->docs_dir || !cfg->embedder ||
        !cfg->qdrant)
        return rp_err(err, errlen, RP_EINVAL, "invalid build configuration");
    if (!rp_name_valid(cfg->index))
        return rp_err(err, errlen, RP_EINVAL,
                      "index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]", cfg->index);
    if (!rp_name_valid(rp_prefix_of(cfg)))
        return rp_err(err, errlen, RP_EINVAL, "prefix \"%s\" is invalid: use 1-64 of [a-z0-9_-]",
                      rp_prefix_of(cfg));
    /* Nothing is created for a build that cannot start: the documents folder exists, the
     * index's history is readable, the server answers. */
    struct stat st;
    if (stat(cfg->docs_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return rp_err(err, errlen, RP_ENOTFOUND, "documents folder %s: %s", cfg->docs_dir,
                      errno == ENOENT || !errno ? "no such directory" : strerror(errno));
    char *text = NULL;
    int rc = rp_index_read(s, &text, cfg->index);
    free(text);
    if (rc == RP_ENOTFOUND) {
        /* No history: rebuild what the server proves is this deployment's (nothing when the
         * index is new). */
        size_t changes = 0;
        rc = rp_history_repair(s, cfg->qdrant, rp_prefix_of(cfg), cfg->index, &changes, NULL, 0,
                               err, errlen);
        if (rc == RP_OK && changes)
            rp_progress(cfg, "discover",
                        "the history of %s was missing: rebuilt from %zu change(s) "
                        "found in the collections' metadata",
                        cfg->index, changes);
        if (rc)
            return rc;
    } else if (rc) {
        return rp_err(err, errlen, rc, "%s", rp_state_errmsg(s));
    }
    int floor = 1;
    if ((rc = rp_versions_floor(&floor, cfg->qdrant, rp_prefix_of(cfg), cfg->index, err, errlen)))
        return rc;
    make_run_id(run_id, cap, cfg->index);
    rc_buf params = RC_BUF_INIT;
    rc_buf_puts(&params, "{\"index\":");
    rc_buf_json_str(&params, cfg->index, strlen(cfg->index));
    rc_buf_puts(&params, ",\"docs\":");
    rc_buf_json_str(&params, cfg->docs_dir, strlen(cfg->docs_dir));
    rc_buf_printf(&params,
                  ",\"prefix\":\"%s\",\"chunk_size\":%zu,\"overlap\":%zu,\"embedder\":\"%s\","
                  "\"model\":\"%s\",\"dim\":%zu,\"fail_step\":%s%s%s,\"fail_times\":%d}",
                  rp_prefix_of(cfg), cfg->chunk.size, cfg->chunk.overlap,
                  rp_embedder_name(cfg->embedder), rp_embedder_model(cfg->embedder),
                  rp_embedder_dim(cfg->embedder), cfg->fail.step ? "\"" : "",
                  cfg->fail.step ? cfg->fail.step : "null", cfg->fail.step ? "\"" : "",
                  cfg->fail.times);
    rc = params.data ? rp_run_create(s, run_id, cfg->index, rp_build_steps, RP_NSTEPS, params.data)
                     : RP_ENOMEM;
    rc_buf_free(&params);
    if (rc)
        return rp_err(err, errlen, rc, "creating run: %s", rp_state_errmsg(s));
    /* Held until the run is executed and done (or this process ends): a run nobody holds is
     * known to be abandoned. */
    rc = rp_run_lock(s, run_id);
    if (rc)
        return rp_err(err, errlen, rc, "locking run: %s", rp_state_errmsg(s));
    int version = 0;
    rc = rp_index_reserve_from(s, &version, cfg->index, run_id, floor);
    if (rc == RP_OK)
        rc = rp_run_set_version(s, run_id, version);
    if (rc) {
        rp_err(err, errlen, rc, "reserving a version: %s", rp_state_errmsg(s));
        rp_run_set_status(s, run_id, RP_FAILED, err);
        return rc;
    }
    return RP_OK;
}

/* The run's record, or its read error (damaged or missing) with the state's message. */
static int read_run_or_err(json_object **out, rp_state *s, const char *run_id, char *err,
                           size_t errlen)
{
    if ((*out = rp_read_run(s, run_id)))
        return RP_OK;
    char *t = NULL;
    int rc = rp_run_read(s, &t, run_id);
    free(t);
    return rp_err(err, errlen, rc ? rc : RP_ENOTFOUND, "%s", rp_state_errmsg(s));
}

static int run_prepare(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                       size_t errlen);
static int run_steps(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen);

int rp_build_execute(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen)
{
    int rc = rp_run_lock(s, run_id); /* another process executing it: RP_EBUSY */
    if (rc)
        return rp_err(err, errlen, rc, "%s", rp_state_errmsg(s));
    rc = run_prepare(s, run_id, cfg, err, errlen);
    if (rc == RP_OK)
        rc = run_steps(s, run_id, cfg, err, errlen);
    rp_run_unlock(s);
    return rc;
}

/* The run's version, ready to build: a run killed before it had one gets one now; a failed
 * version is revived; a promoted one is never built again; one the history no longer knows is
 * replaced by a new number (never one whose collection exists). */
static int run_prepare(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                       size_t errlen)
{
    size_t swept = 0;
    rp_state_sweep(s, &swept, run_id); /* temp files its killed attempts left */
    json_object *run = NULL;
    int rrc = read_run_or_err(&run, s, run_id, err, errlen);
    if (rrc)
        return rrc;
    int version = run_version(run), rc = RP_OK;
    json_object_put(run);
    int vs = version > 0 ? rp_version_state(s, cfg->index, version) : -1;
    if (vs == RP_V_PROMOTED || vs == RP_V_ROLLED_BACK)
        return rp_err(
            err, errlen, RP_ESTATE,
            "version %d of %s was promoted: it is never built again (a replay builds a new "
            "version)",
            version, cfg->index);
    if (vs == RP_V_FAILED)
        rc = rp_index_set_state(s, cfg->index, version, RP_V_BUILDING);
    else if (vs < 0) {
        int v = 0;
        rc = reserve_version(s, &v, run_id, cfg, err, errlen);
        if (rc == RP_OK)
            rp_progress(cfg, "discover", "%s version %d for this run",
                        version > 0 ? "the history lost its version: reserved" : "reserved", v);
        return rc;
    }
    if (rc)
        return rp_err(err, errlen, rc, "%s", rp_state_errmsg(s));
    return RP_OK;
}

static int run_steps(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen)
{
    json_object *run = rp_read_run(s, run_id);
    if (!run)
        return rp_err(err, errlen, RP_ECORRUPT, "run %s disappeared", run_id);
    int version = run_version(run);
    char collection[256];
    if (version <= 0 || rp_collection_name(collection, sizeof collection, rp_prefix_of(cfg),
                                           cfg->index, version) != RP_OK) {
        json_object_put(run);
        return rp_err(err, errlen, RP_ECORRUPT, "run %s has no valid version", run_id);
    }
    int first = 0;
    while (first < RP_NSTEPS && run_step_status(run, first) == RP_SUCCEEDED)
        first++;
    rc_buf p[RP_NSTEPS];
    for (int i = 0; i < RP_NSTEPS; i++)
        p[i] = (rc_buf)RC_BUF_INIT;
    int rc = RP_OK;
    /* Steps before the first to run are reused only when their artifacts are still valid. */
    for (int i = 0; i < first; i++) {
        step_params(&p[i], i, cfg, run, collection);
        int valid = step_def[i].artifact
                        ? rp_artifact_valid(s, run_id, step_def[i].artifact, p[i].data, NULL) == 1
                        : 1;
        if (i == S_DISCOVER && valid) {
            /* The documents themselves are its input: re-walk and compare. */
            rp_discover_options o = RP_DISCOVER_OPTIONS_INIT;
            rp_corpus *c = NULL;
            char e2[256];
            valid = 0;
            if (rp_discover(&c, cfg->docs_dir, &o, e2, sizeof e2) == RP_OK) {
                rp_hasher h;
                rp_hasher_init(&h);
                rc_buf line = RC_BUF_INIT;
                for (size_t k = 0; k < c->n; k++) {
                    rc_buf_reset(&line);
                    rp_doc_json(&line, &c->docs[k]);
                    rp_hasher_update(&h, line.data, line.len);
                    rp_hasher_update(&h, "\n", 1);
                }
                char hex[RP_HASH_HEX];
                rp_hasher_hex(&h, hex);
                const char *rec = rp_artifact_hash(run, "docs.ndjson");
                valid = rec && strcmp(rec, hex) == 0;
                rc_buf_free(&line);
            }
            rp_corpus_free(c);
        }
        if (valid) {
            /* (its record keeps the timings of the attempt that made the artifact) */
            rp_run_event(s, run_id, "reused", rp_build_steps[i],
                         "artifact still matches its inputs");
            rp_progress(cfg, rp_build_steps[i], "reused (artifact matches its inputs)");
        } else {
            rp_run_event(s, run_id, "stale", rp_build_steps[i],
                         "artifact missing or changed: running the step again");
            rp_progress(cfg, rp_build_steps[i], "artifact missing or changed: running it again");
            first = i;
            break;
        }
    }
    for (int i = first; rc == RP_OK && i < RP_NSTEPS; i++) {
        const char *name = rp_build_steps[i];
        json_object_put(run);
        run = rp_read_run(s, run_id); /* artifacts recorded by the previous step */
        if (!run)
            return rp_err(err, errlen, RP_ECORRUPT, "run %s disappeared", run_id);
        step_params(&p[i], i, cfg, run, collection);
        rp_step_update(s, run_id, name, RP_RUNNING, NULL);
        json_object_put(run);
        run = rp_read_run(s, run_id);
        int attempt = run_step_attempts(run, i);
        rp_progress(cfg, name, "running (attempt %d)", attempt);
        int64_t cpu0 = cpu_ms();
        if (cfg->fail.step && strcmp(cfg->fail.step, name) == 0 &&
            (cfg->fail.times < 0 || attempt <= cfg->fail.times)) {
            rc = rp_err(err, errlen, RP_ESTOPPED, "failure injected at %s (attempt %d)", name,
                        attempt);
        } else {
            step_call call = {s, run_id, cfg, p, collection, version, err, errlen};
            rc = step_def[i].run(&call);
        }
        int64_t cpu = cpu_ms() - cpu0;
        if (rc) {
            rp_step_update_cpu(s, run_id, name, RP_FAILED, err, cpu);
            rp_run_set_status(s, run_id, RP_FAILED, err);
            rp_index_set_state(s, cfg->index, version, RP_V_FAILED); /* if still building */
            rp_progress(cfg, name, "FAILED: %s", err);
        } else {
            rp_step_update_cpu(s, run_id, name, RP_SUCCEEDED, NULL, cpu);
        }
    }
    if (rc == RP_OK)
        rp_run_set_status(s, run_id, RP_SUCCEEDED, NULL);
    json_object_put(run);
    for (int i = 0; i < RP_NSTEPS; i++)
        rc_buf_free(&p[i]);
    return rc;
}

int rp_build_replay(rp_state *s, char *out_run, size_t cap, const char *run_id, const char *from,
                    const rp_build_config *cfg, char *err, size_t errlen)
{
    int at = rp_step_index(from);
    if (at < 0)
        return rp_err(err, errlen, RP_EINVAL,
                      "unknown step \"%s\" (discover, chunk, embed, upsert, "
                      "smoketest, promote)",
                      from);
    if (!out_run || cap < 48)
        return rp_err(err, errlen, RP_EINVAL, "invalid arguments");
    json_object *run = NULL;
    int rrc = read_run_or_err(&run, s, run_id, err, errlen);
    if (rrc)
        return rrc;
    int version = run_version(run);
    json_object_put(run);
    int vstate = version > 0 ? rp_version_state(s, cfg->index, version) : -1;
    if (vstate == RP_V_PROMOTED || vstate == RP_V_ROLLED_BACK) {
        /* A promoted version is never written again: the replay is a new run building a new
         * version, starting from what this run finished before `from`. */
        rp_build_config c2 = *cfg;
        if (c2.fail.from_params)
            memset(&c2.fail, 0, sizeof c2.fail);
        cfg = &c2;
        char fresh[96];
        int rc = rp_build_create(s, fresh, sizeof fresh, cfg, err, errlen);
        if (rc)
            return rc;
        snprintf(out_run, cap, "%s", fresh);
        char msg[256];
        snprintf(msg, sizeof msg, "replay of run %s from %s (its version %d was promoted)", run_id,
                 from, version);
        rp_run_event(s, fresh, "replay_of", from, msg);
        snprintf(msg, sizeof msg, "replayed from %s as run %s (a new version)", from, fresh);
        rp_run_event(s, run_id, "replayed_as", from, msg);
        if (at > 0 && (rc = rp_run_inherit(s, fresh, run_id, rp_build_steps, (size_t)at))) {
            rp_err(err, errlen, rc, "taking over the steps of run %s: %s", run_id,
                   rp_state_errmsg(s));
            rp_run_set_status(s, fresh, RP_FAILED, err);
            return rc;
        }
        rp_progress(cfg, from,
                    "version %d of run %s was promoted: building a new version as run %s", version,
                    run_id, fresh);
        return rp_build_execute(s, fresh, cfg, err, errlen);
    }
    /* The run's own lock first: a run another process is executing is never reset. */
    int rc = rp_run_lock(s, run_id);
    if (rc)
        return rp_err(err, errlen, rc, "%s", rp_state_errmsg(s));
    rc = rp_run_replay(s, run_id, from);
    if (rc) {
        rp_run_unlock(s);
        return rp_err(err, errlen, rc, "replay: %s", rp_state_errmsg(s));
    }
    snprintf(out_run, cap, "%s", run_id);
    return rp_build_execute(s, run_id, cfg, err, errlen);
}
