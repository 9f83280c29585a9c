/* ragctl: build, replay, roll back and query versioned RAG indexes.
 *
 * Uses libqdrantc's public API (local mode by default: no server) and the internal pipeline
 * library. Settings: flags, then environment (RAG_STATE_DIR, QDRANT_URL, QDRANT_API_KEY,
 * RAG_EMBEDDER, RAG_EMBED_DIM, RAG_EMBED_URL, RAG_EMBED_MODEL, RAG_EMBED_API_KEY, RAG_PREFIX,
 * RAG_DOCS_DIR), then defaults. Exit codes follow sysexits.h. */
#include <dirent.h>
#include <errno.h>
#include <time.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "build.h"
#include "pipeline.h"
#include "qdrant/qdrant.h"

typedef struct {
    const char *state_dir;
    const char *qdrant_url; /* NULL: local mode in <state>/qdrant */
    const char *api_key;
    const char *embedder; /* hash | openai */
    size_t dim;
    const char *embed_url, *embed_model, *embed_key;
    const char *prefix;
    const char *docs;
    const char *smoke_file; /* lines "<expected doc id>\t<query>" */
    const char *config;     /* the config file read, or NULL */
    int json;
    int color;
    char local_url[PATH_MAX + 16];
} settings;

typedef struct {
    settings *st;
    rp_state *state;
    qdrant_client *q;
    rp_embedder *emb;
    rp_cache *cache;
} ctx;

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "ragctl: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'ragctl help'.\n");
    va_end(ap);
    exit(EX_USAGE);
}

static int exit_for(int rc)
{
    switch (rc) {
    case RP_OK:
        return EX_OK;
    case RP_EINVAL:
        return EX_USAGE;
    case RP_ENOTFOUND:
    case RP_EEMPTY:
        return EX_NOINPUT;
    case RP_EENCODING:
    case RP_ECORRUPT:
        return EX_DATAERR;
    case RP_ETRANSPORT:
    case RP_EHTTP:
        return EX_UNAVAILABLE;
    case RP_EIO:
        return EX_IOERR;
    case RP_EQDRANT:
        return EX_UNAVAILABLE;
    case RP_EBUSY:
        return EX_TEMPFAIL;
    default:
        return EX_SOFTWARE;
    }
}

/* Strict numbers: the whole text, in [lo, hi]; anything else is a usage error naming what. */
static long parse_int(const char *what, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = text && *text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < lo || v > hi)
        die_usage("%s takes a whole number from %ld to %ld, not \"%s\"", what, lo, hi,
                  text ? text : "");
    return v;
}

/* A state read that failed: damaged (65) or missing (66), with the library's message (it
 * names the file). */
static int state_error(ctx *c, int rc, const char *what, const char *name)
{
    if (rc == RP_ECORRUPT)
        fprintf(stderr, "ragctl: %s %s is damaged: %s\n", what, name, rp_state_errmsg(c->state));
    else if (rc == RP_ENOTFOUND)
        fprintf(stderr, "ragctl: no %s %s\n", what, name);
    else
        fprintf(stderr, "ragctl: %s %s: %s\n", what, name, rp_state_errmsg(c->state));
    return exit_for(rc);
}

/* QDRANT_URL with any user:password@ masked, for printing. */
static void mask_url(char *out, size_t cap, const char *url)
{
    const char *scheme = strstr(url, "://"), *host = scheme ? scheme + 3 : url;
    const char *at = NULL;
    for (const char *p = host; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == '@')
            at = p;
    if (!at)
        snprintf(out, cap, "%s", url);
    else
        snprintf(out, cap, "%.*s********%s", (int)(host - url), url, at);
}

static int bar_shown; /* a progress bar is on the terminal's current line */

/* A progress bar on stderr, for terminals only, redrawn at most ten times a second. */
static void on_count(void *ud, const char *step, size_t done, size_t total)
{
    (void)ud;
    static struct timespec last;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
    if (done < total && ms < 100 && bar_shown)
        return;
    last = now;
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : 0;
    if (fill > width)
        fill = width;
    char bar[64];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    fprintf(stderr, "\r  %-9s [%s] %zu/%zu chunks\033[K", step, bar, done, total);
    fflush(stderr);
    bar_shown = 1;
}

static void on_progress(void *ud, const char *step, const char *msg)
{
    settings *st = ud;
    if (st->json)
        return;
    if (bar_shown) {
        fprintf(stderr, "\r\033[K");
        bar_shown = 0;
    }
    const char *b = st->color ? "\033[1m" : "", *r = st->color ? "\033[0m" : "";
    fprintf(stderr, "  %s%-9s%s %s\n", b, step, r, msg);
}

static void on_warn(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "ragctl: warning: %s\n", msg);
}

static void close_ctx(ctx *c);

static int open_ctx_(ctx *c, settings *st, int need_qdrant, int need_embed);

/* Opens what a command needs; on failure everything is closed again and the exit code returned. */
static int open_ctx(ctx *c, settings *st, int need_qdrant, int need_embed)
{
    int ex = open_ctx_(c, st, need_qdrant, need_embed);
    if (ex)
        close_ctx(c);
    return ex;
}

static int open_ctx_(ctx *c, settings *st, int need_qdrant, int need_embed)
{
    memset(c, 0, sizeof *c);
    c->st = st;
    char err[512];
    if (rp_mkdir_p(st->state_dir, err, sizeof err) != RP_OK) {
        fprintf(stderr, "ragctl: cannot create state directory %s: %s\n", st->state_dir, err);
        return EX_CANTCREAT;
    }
    int src = rp_state_open(&c->state, st->state_dir, err, sizeof err);
    if (src != RP_OK) {
        fprintf(stderr, "ragctl: state directory %s: %s\n", st->state_dir, err);
        return src == RP_ECORRUPT ? EX_DATAERR : EX_IOERR;
    }
    if (need_qdrant) {
        qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
        /* local mode: read the store on each call instead of holding whole collections in
         * memory, so a build's memory does not grow with the corpus */
        o.local_scan = 1;
        if (st->qdrant_url) {
            o.url = st->qdrant_url;
        } else {
            char abs[PATH_MAX];
            if (!realpath(st->state_dir, abs))
                snprintf(abs, sizeof abs, "%s", st->state_dir);
            snprintf(st->local_url, sizeof st->local_url, "file://%s/qdrant", abs);
            o.url = st->local_url;
        }
        o.api_key = st->api_key;
        /* A build makes many requests: ride out a flaky server or proxy (the library retries
         * only what is safe to send again; the pipeline checks the outcome of the rest). */
        o.max_retries = 6;
        if (qdrant_client_new(&c->q, &o) != QDRANT_OK) {
            char shown[PATH_MAX];
            mask_url(shown, sizeof shown, o.url);
            fprintf(stderr, "ragctl: invalid QDRANT_URL \"%s\"\n", shown);
            return EX_CONFIG;
        }
    }
    if (need_embed) {
        int rc;
        if (strcmp(st->embedder, "hash") == 0) {
            rc = rp_embedder_hash_new(&c->emb, st->dim);
        } else if (strcmp(st->embedder, "openai") == 0) {
            rp_openai_options oo = RP_OPENAI_OPTIONS_INIT;
            oo.base_url = st->embed_url;
            oo.model = st->embed_model;
            oo.api_key = st->embed_key;
            rc = rp_embedder_openai_new(&c->emb, &oo, err, sizeof err);
            if (rc)
                fprintf(stderr, "ragctl: openai embedder: %s\n", err);
        } else {
            fprintf(stderr, "ragctl: unknown embedder \"%s\" (hash, openai)\n", st->embedder);
            return EX_CONFIG;
        }
        if (rc)
            return EX_CONFIG;
        char cdir[PATH_MAX];
        snprintf(cdir, sizeof cdir, "%s/cache", st->state_dir);
        if (rp_cache_open(&c->cache, cdir, err, sizeof err) != RP_OK) {
            fprintf(stderr, "ragctl: embedding cache %s: %s\n", cdir, err);
            return EX_IOERR;
        }
        rp_cache_set_warn(c->cache, on_warn, NULL);
    }
    return EX_OK;
}

static void close_ctx(ctx *c)
{
    rp_cache_free(c->cache);
    rp_embedder_free(c->emb);
    qdrant_client_free(c->q);
    rp_state_free(c->state);
}

static rp_build_config build_cfg(ctx *c, const char *index, const char *docs)
{
    rp_build_config b;
    memset(&b, 0, sizeof b);
    rp_chunk_options co = RP_CHUNK_OPTIONS_INIT;
    b.index = index;
    b.docs_dir = docs;
    b.prefix = c->st->prefix;
    b.chunk = co;
    b.qdrant = c->q;
    b.embedder = c->emb;
    b.cache = c->cache;
    b.smoke_samples = 5;
    b.progress = on_progress;
    b.progress_ud = c->st;
    b.count = !c->st->json && isatty(2) ? on_count : NULL;
    b.warn = on_warn;
    return b;
}

/* Smoke queries from a file of "<expected doc id><TAB><query>" lines ('#' comments). */
typedef struct {
    rp_smoke_query *q;
    size_t n;
    char *buf;
} smoke_set;

static int load_smoke(smoke_set *out, const char *path)
{
    memset(out, 0, sizeof *out);
    if (!path)
        return 0;
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "ragctl: smoke queries %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || line[0] == '#')
            continue;
        char *tab = strchr(line, '\t');
        if (!tab || tab == line || !tab[1]) {
            fprintf(stderr, "ragctl: %s:%d: want \"<doc id><TAB><query>\"\n", path, lineno);
            fclose(f);
            return -1;
        }
        *tab = '\0';
        rp_smoke_query *nq = realloc(out->q, (out->n + 1) * sizeof *nq);
        if (!nq)
            break;
        out->q = nq;
        out->q[out->n].expect_doc_id = strdup(line);
        out->q[out->n].text = strdup(tab + 1);
        out->n++;
    }
    fclose(f);
    return 0;
}

static void free_smoke(smoke_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->q[i].expect_doc_id);
        free((char *)s->q[i].text);
    }
    free(s->q);
}

static int parse_fail_mode(const char *m)
{
    if (!m || strcmp(m, "once") == 0)
        return 1;
    if (strcmp(m, "always") == 0)
        return -1;
    char *e;
    long n = strtol(m, &e, 10);
    if (*e || n < 1 || n > 1000)
        die_usage("--fail-mode takes once, always or a count 1..1000");
    return (int)n;
}

/* One timeline event: "+<ms since t0>" when t0 >= 0, else the wall-clock time. */
static void print_event(json_object *ev, int64_t t0)
{
    json_object *t, *ty, *sp, *m;
    json_object_object_get_ex(ev, "t_ms", &t);
    json_object_object_get_ex(ev, "type", &ty);
    int64_t tm = json_object_get_int64(t);
    int hs = json_object_object_get_ex(ev, "step", &sp) && !json_object_is_type(sp, json_type_null);
    int hm = json_object_object_get_ex(ev, "msg", &m) && !json_object_is_type(m, json_type_null);
    if (t0 >= 0) {
        printf("  +%6lld ms  ", (long long)(tm - t0));
    } else {
        time_t secs = (time_t)(tm / 1000);
        struct tm g;
        char when[32];
        gmtime_r(&secs, &g);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &g);
        printf("%s.%03dZ ", when, (int)(tm % 1000));
    }
    printf("%-12s %-10s %s\n", json_object_get_string(ty), hs ? json_object_get_string(sp) : "",
           hm ? json_object_get_string(m) : "");
}

/* 1 when the run is QUEUED or RUNNING but no process holds it: it was killed (or could not
 * record its end) and will not finish by itself. */
static int run_abandoned(ctx *c, const char *run_id, const char *status)
{
    int alive = 1;
    if (strcmp(status, "QUEUED") != 0 && strcmp(status, "RUNNING") != 0)
        return 0;
    return rp_run_alive(c->state, &alive, run_id) == RP_OK && !alive;
}

/* The first step of a run that did not succeed ("discover" when all did). */
static const char *first_unfinished(json_object *o)
{
    json_object *steps, *n, *st;
    if (json_object_object_get_ex(o, "steps", &steps))
        for (size_t i = 0; i < json_object_array_length(steps); i++) {
            json_object *s = json_object_array_get_idx(steps, i);
            if (json_object_object_get_ex(s, "status", &st) &&
                strcmp(json_object_get_string(st), "SUCCEEDED") != 0 &&
                json_object_object_get_ex(s, "name", &n))
                return json_object_get_string(n);
        }
    return "discover";
}

/* Prints a run: a step table and its timeline, or the JSON (with "abandoned"). *status (may be
 * NULL) gets its status. Returns an exit code. */
static int show_run(ctx *c, const char *run_id, int with_events, int *status)
{
    char *text = NULL;
    int rc = rp_run_read(c->state, &text, run_id);
    if (rc != RP_OK)
        return state_error(c, rc, "run", run_id);
    json_object *o = json_tokener_parse(text), *v; /* its types were checked by the read */
    free(text);
    const char *sname =
        json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v) : "?";
    for (int k = 0; status && k <= RP_SKIPPED; k++)
        if (strcmp(sname, rp_status_name(k)) == 0)
            *status = k;
    int abandoned = run_abandoned(c, run_id, sname);
    if (c->st->json) {
        json_object_object_add(o, "abandoned", json_object_new_boolean(abandoned));
        printf("%s\n",
               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        json_object *ver, *steps, *events;
        printf("run %s  index %s  version %d  %s%s\n", run_id,
               json_object_object_get_ex(o, "index", &v) ? json_object_get_string(v) : "?",
               json_object_object_get_ex(o, "version", &ver) ? json_object_get_int(ver) : 0, sname,
               abandoned ? " (abandoned: no process is running it)" : "");
        if (json_object_object_get_ex(o, "steps", &steps))
            for (size_t i = 0; i < json_object_array_length(steps); i++) {
                json_object *s = json_object_array_get_idx(steps, i), *n, *st, *a, *d, *e, *cpu;
                json_object_object_get_ex(s, "name", &n);
                json_object_object_get_ex(s, "status", &st);
                json_object_object_get_ex(s, "attempts", &a);
                int hd = json_object_object_get_ex(s, "duration_ms", &d) &&
                         !json_object_is_type(d, json_type_null);
                int hc = json_object_object_get_ex(s, "cpu_ms", &cpu) &&
                         !json_object_is_type(cpu, json_type_null);
                int he = json_object_object_get_ex(s, "error", &e) &&
                         !json_object_is_type(e, json_type_null);
                printf("  %-10s %-9s attempts %d", json_object_get_string(n),
                       json_object_get_string(st), json_object_get_int(a));
                if (hd)
                    printf("  %s ms", json_object_get_string(d));
                if (hc)
                    printf(" (cpu %s ms)", json_object_get_string(cpu));
                printf("\n");
                if (he)
                    printf("             error: %s\n", json_object_get_string(e));
            }
        if (abandoned)
            printf("  replay it with: ragctl replay %s --from %s\n", run_id, first_unfinished(o));
        if (with_events && json_object_object_get_ex(o, "events", &events)) {
            json_object *first = json_object_array_get_idx(events, 0), *t;
            int64_t t0 = first && json_object_object_get_ex(first, "t_ms", &t)
                             ? json_object_get_int64(t)
                             : 0;
            for (size_t i = 0; i < json_object_array_length(events); i++)
                print_event(json_object_array_get_idx(events, i), t0);
        }
    }
    json_object_put(o);
    return EX_OK;
}

/* The documents folder must exist before anything is created for a build. */
static int docs_ok(const settings *st, const char *docs)
{
    struct stat sb;
    if (stat(docs, &sb) == 0 && S_ISDIR(sb.st_mode))
        return 1;
    fprintf(stderr,
            "ragctl: documents folder \"%s\": %s\n"
            "ragctl: give the folder to index with --docs DIR, RAG_DOCS_DIR=DIR or a line "
            "\"docs = DIR\" in the config file (%s)\n",
            docs, errno == ENOENT ? "no such directory" : "not a directory",
            st->config ? st->config : "ragctl.conf");
    return 0;
}

static int cmd_build(settings *st, int argc, char **argv)
{
    const char *index = NULL, *docs = st->docs, *fail_at = NULL, *fail_mode = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--docs") == 0 && i + 1 < argc)
            docs = argv[++i];
        else if (strcmp(argv[i], "--fail-at") == 0 && i + 1 < argc)
            fail_at = argv[++i];
        else if (strcmp(argv[i], "--fail-mode") == 0 && i + 1 < argc)
            fail_mode = argv[++i];
        else if (strcmp(argv[i], "--smoke") == 0 && i + 1 < argc)
            st->smoke_file = argv[++i];
        else
            die_usage("build: unexpected argument \"%s\"", argv[i]);
    }
    if (!index)
        die_usage("build needs --index NAME");
    if (!rp_name_valid(index))
        die_usage("index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]", index);
    if (fail_at && rp_step_index(fail_at) < 0)
        die_usage("--fail-at: unknown step \"%s\"", fail_at);
    if (fail_mode && !fail_at)
        die_usage("--fail-mode needs --fail-at STEP");
    if (!docs_ok(st, docs))
        return EX_NOINPUT;
    ctx c;
    int ex = open_ctx(&c, st, 1, 1);
    if (ex)
        return ex;
    rp_build_config b = build_cfg(&c, index, docs);
    b.fail.step = fail_at;
    b.fail.times = fail_at ? parse_fail_mode(fail_mode) : 0;
    smoke_set smoke;
    if (load_smoke(&smoke, st->smoke_file) != 0) {
        close_ctx(&c);
        return EX_NOINPUT;
    }
    b.smoke_queries = smoke.q;
    b.n_smoke_queries = smoke.n;
    char run_id[96], err[1024];
    int rc = rp_build_create(c.state, run_id, sizeof run_id, &b, err, sizeof err);
    if (rc) {
        fprintf(stderr, "ragctl: %s\n", err);
        if (rc == RP_ECORRUPT)
            fprintf(stderr,
                    "ragctl: nothing was built; 'ragctl history --index %s --repair' "
                    "rebuilds the history from the collections\n",
                    index);
        free_smoke(&smoke);
        close_ctx(&c);
        return exit_for(rc);
    }
    if (!st->json)
        fprintf(stderr, "build %s of index %s from %s\n", run_id, index, docs);
    rc = rp_build_execute(c.state, run_id, &b, err, sizeof err);
    if (st->json)
        show_run(&c, run_id, 0, NULL);
    else
        printf("%s %s%s\n", run_id, rc ? "FAILED: " : "SUCCEEDED", rc ? err : "");
    free_smoke(&smoke);
    close_ctx(&c);
    return exit_for(rc);
}

/* Reads a run's params back into a build configuration (docs, fail spec) for a replay. */
/* Reads a run's params back into a build configuration (docs, fail spec) for a replay.
 * Returns an exit code, with the message printed. */
static int run_params(ctx *c, const char *run_id, char *index, size_t icap, char *docs, size_t dcap,
                      char *fail_step, size_t fcap, int *fail_times, rp_chunk_options *chunk)
{
    char *text = NULL;
    int rc = rp_run_read(c->state, &text, run_id);
    if (rc != RP_OK)
        return state_error(c, rc, "run", run_id);
    json_object *o = json_tokener_parse(text), *p = NULL, *v;
    free(text);
    json_object_object_get_ex(o, "params", &p); /* an object: checked by the read */
    const char *ix =
        json_object_object_get_ex(p, "index", &v) && json_object_is_type(v, json_type_string)
            ? json_object_get_string(v)
            : NULL;
    const char *dc =
        json_object_object_get_ex(p, "docs", &v) && json_object_is_type(v, json_type_string)
            ? json_object_get_string(v)
            : NULL;
    int ok = ix && rp_name_valid(ix) && dc && *dc;
    if (ok) {
        snprintf(index, icap, "%s", ix);
        snprintf(docs, dcap, "%s", dc);
        fail_step[0] = '\0';
        if (json_object_object_get_ex(p, "fail_step", &v) &&
            json_object_is_type(v, json_type_string))
            snprintf(fail_step, fcap, "%s", json_object_get_string(v));
        *fail_times =
            json_object_object_get_ex(p, "fail_times", &v) && json_object_is_type(v, json_type_int)
                ? json_object_get_int(v)
                : 0;
        if (json_object_object_get_ex(p, "chunk_size", &v) &&
            json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 16 &&
            json_object_get_int64(v) <= 100000)
            chunk->size = (size_t)json_object_get_int64(v);
        if (json_object_object_get_ex(p, "overlap", &v) && json_object_is_type(v, json_type_int) &&
            json_object_get_int64(v) >= 0 && json_object_get_int64(v) <= 100000)
            chunk->overlap = (size_t)json_object_get_int64(v);
    }
    json_object_put(o);
    if (!ok) {
        fprintf(stderr,
                "ragctl: run %s is damaged: %s/runs/%s/run.json: its params lack a valid "
                "index or docs\n",
                run_id, c->st->state_dir, run_id);
        return EX_DATAERR;
    }
    return EX_OK;
}

static int cmd_replay(settings *st, int argc, char **argv)
{
    const char *run_id = NULL, *from = NULL, *sets[16];
    int nsets = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--from") == 0 && i + 1 < argc)
            from = argv[++i];
        else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && nsets < 16)
            sets[nsets++] = argv[++i];
        else if (argv[i][0] != '-' && !run_id)
            run_id = argv[i];
        else
            die_usage("replay: unexpected argument \"%s\"", argv[i]);
    }
    if (!run_id || !from)
        die_usage("replay needs RUN --from STEP [--set key=value ...]");
    if (rp_step_index(from) < 0)
        die_usage("--from: unknown step \"%s\"", from);
    ctx c;
    int ex = open_ctx(&c, st, 1, 1);
    if (ex)
        return ex;
    char index[96], docs[PATH_MAX], fstep[32], err[1024];
    int ftimes = 0, fail_set = 0;
    rp_chunk_options chunk = RP_CHUNK_OPTIONS_INIT;
    ex = run_params(&c, run_id, index, sizeof index, docs, sizeof docs, fstep, sizeof fstep,
                    &ftimes, &chunk);
    if (ex) {
        close_ctx(&c);
        return ex;
    }
    /* --set changes a setting for this replay; steps whose inputs it changes run again. */
    for (int k = 0; k < nsets; k++) {
        const char *eq = strchr(sets[k], '=');
        char key[32];
        if (!eq || (size_t)(eq - sets[k]) >= sizeof key)
            die_usage("--set takes key=value");
        snprintf(key, sizeof key, "%.*s", (int)(eq - sets[k]), sets[k]);
        const char *val = eq + 1;
        char *end;
        long n = strtol(val, &end, 10);
        if (strcmp(key, "docs") == 0)
            snprintf(docs, sizeof docs, "%s", val);
        else if (strcmp(key, "chunk_size") == 0 && !*end && n >= 16 && n <= 100000)
            chunk.size = (size_t)n;
        else if (strcmp(key, "overlap") == 0 && !*end && n >= 0 && n <= 100000)
            chunk.overlap = (size_t)n;
        else if (strcmp(key, "fail_at") == 0 && (fail_set = 1))
            snprintf(fstep, sizeof fstep, "%s", strcmp(val, "none") == 0 ? "" : val);
        else
            die_usage("--set: unknown key or bad value \"%s\" (docs, chunk_size 16..100000, "
                      "overlap 0..100000, fail_at)",
                      sets[k]);
    }
    if (chunk.overlap >= chunk.size)
        die_usage("overlap must be smaller than chunk_size");
    if (fstep[0] && rp_step_index(fstep) < 0)
        die_usage("fail_at: unknown step \"%s\"", fstep);
    if (!docs_ok(st, docs)) {
        close_ctx(&c);
        return EX_NOINPUT;
    }
    for (int k = 0; k < nsets; k++) /* every setting checked: now recorded */
        rp_run_event(c.state, run_id, "set", NULL, sets[k]);
    rp_build_config b = build_cfg(&c, index, docs);
    b.chunk = chunk;
    b.fail.step = fstep[0] ? fstep : NULL;
    b.fail.times = fail_set && ftimes == 0 ? 1 : ftimes; /* a drill set now fails once */
    b.fail.from_params = !fail_set;
    if (!st->json)
        fprintf(stderr, "replay %s from %s\n", run_id, from);
    char ran[96] = "";
    int rc = rp_build_replay(c.state, ran, sizeof ran, run_id, from, &b, err, sizeof err);
    const char *shown = ran[0] ? ran : run_id;
    if (st->json)
        show_run(&c, shown, 0, NULL);
    else
        printf("%s %s%s\n", shown, rc ? "FAILED: " : "SUCCEEDED", rc ? err : "");
    if (!st->json && ran[0] && strcmp(ran, run_id) != 0)
        fprintf(stderr,
                "(run %s built a promoted version, which is never changed: the replay is "
                "run %s, a new version)\n",
                run_id, ran);
    close_ctx(&c);
    return exit_for(rc);
}

static int cmd_rollback(settings *st, int argc, char **argv)
{
    const char *index = NULL;
    int steps = 0, to = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = (int)parse_int("--steps", argv[++i], 1, 1000000);
        else if (strcmp(argv[i], "--to-version") == 0 && i + 1 < argc)
            to = (int)parse_int("--to-version", argv[++i], 1, 1000000000);
        else
            die_usage("rollback: unexpected argument \"%s\"", argv[i]);
    }
    if (!index)
        die_usage("rollback needs --index NAME");
    if (!rp_name_valid(index))
        die_usage("index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]", index);
    if (steps && to)
        die_usage("rollback takes --steps N or --to-version V, not both");
    if (!steps && !to)
        steps = 1;
    ctx c;
    int ex = open_ctx(&c, st, 1, 0);
    if (ex)
        return ex;
    int from = 0, now = 0;
    int rrc = rp_index_active(c.state, &from, index);
    if (rrc != RP_OK) {
        ex = state_error(&c, rrc, "index", index);
        close_ctx(&c);
        return ex;
    }
    char err[1024];
    int rc = rp_rollback(&now, c.state, c.q, st->prefix, index, steps, to, err, sizeof err);
    if (rc)
        fprintf(stderr, "ragctl: rollback of %s: %s\n", index, err);
    else if (st->json)
        printf("{\"index\":\"%s\",\"from_version\":%d,\"active_version\":%d}\n", index, from, now);
    else
        printf("%s: rolled back from v%d to v%d (alias %s_%s_active verified)\n", index, from, now,
               st->prefix, index);
    close_ctx(&c);
    return exit_for(rc);
}

static int cmd_status(settings *st, int argc, char **argv)
{
    const char *run_id = NULL;
    int follow = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0)
            follow = 1;
        else if (argv[i][0] != '-' && !run_id)
            run_id = argv[i];
        else
            die_usage("status: unexpected argument \"%s\"", argv[i]);
    }
    if (!run_id)
        die_usage("status needs RUN");
    if (!rp_name_valid(run_id))
        die_usage("run id \"%s\" is invalid: use 1-64 of [a-z0-9_-]", run_id);
    ctx c;
    int ex = open_ctx(&c, st, 0, 0);
    if (ex)
        return ex;
    if (!follow) {
        ex = show_run(&c, run_id, 1, NULL);
    } else {
        /* Print events as they are recorded until the run is finished, or abandoned (no
         * process holds it: nothing more will happen). */
        size_t printed = 0;
        for (;;) {
            char *text = NULL;
            int rc = rp_run_read(c.state, &text, run_id);
            if (rc != RP_OK) {
                ex = state_error(&c, rc, "run", run_id);
                break;
            }
            json_object *o = json_tokener_parse(text), *ev, *status;
            free(text);
            if (json_object_object_get_ex(o, "events", &ev)) {
                for (; printed < json_object_array_length(ev); printed++) {
                    json_object *e = json_object_array_get_idx(ev, printed);
                    if (st->json)
                        printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
                    else
                        print_event(e, -1);
                }
                fflush(stdout);
            }
            const char *sn = json_object_object_get_ex(o, "status", &status)
                                 ? json_object_get_string(status)
                                 : "";
            int done = strcmp(sn, "SUCCEEDED") == 0 || strcmp(sn, "FAILED") == 0;
            int gone = !done && run_abandoned(&c, run_id, sn);
            if (gone) {
                if (st->json)
                    printf("{\"run_id\":\"%s\",\"status\":\"%s\",\"abandoned\":true}\n", run_id,
                           sn);
                else
                    printf("run %s is %s but abandoned: no process is running it (replay it with: "
                           "ragctl replay %s --from %s)\n",
                           run_id, sn, run_id, first_unfinished(o));
            }
            json_object_put(o);
            if (done || gone)
                break;
            usleep(200000);
        }
    }
    close_ctx(&c);
    return ex;
}

static int cmd_history(settings *st, int argc, char **argv)
{
    const char *index = NULL;
    int repair = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--repair") == 0)
            repair = 1;
        else
            die_usage("history: unexpected argument \"%s\"", argv[i]);
    }
    if (!index)
        die_usage("history needs --index NAME [--repair]");
    if (!rp_name_valid(index))
        die_usage("index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]", index);
    ctx c;
    int ex = open_ctx(&c, st, 1, 0);
    if (ex)
        return ex;
    char err[1024];
    if (repair) {
        size_t changes = 0;
        char aside[PATH_MAX + 64] = "";
        int rc = rp_history_repair(c.state, c.q, st->prefix, index, &changes, aside, sizeof aside,
                                   err, sizeof err);
        if (rc) {
            fprintf(stderr, "ragctl: repairing the history of %s: %s\n", index, err);
            close_ctx(&c);
            return exit_for(rc);
        }
        if (aside[0])
            fprintf(stderr, "ragctl: the damaged history was set aside as %s\n", aside);
        fprintf(stderr, "ragctl: history of %s repaired from the collections: %zu change(s)\n",
                index, changes);
    }
    char *text = NULL;
    int rc = rp_index_read(c.state, &text, index);
    if (rc != RP_OK) {
        ex = state_error(&c, rc, "index", index);
        if (rc == RP_ECORRUPT)
            fprintf(stderr,
                    "ragctl: 'ragctl history --index %s --repair' rebuilds it from the "
                    "collections\n",
                    index);
        close_ctx(&c);
        return ex;
    }
    /* What readers see: an error reading it is an error, never "(none)". */
    char alias[256], live[256] = "";
    snprintf(alias, sizeof alias, "%s_%s_active", st->prefix, index);
    qdrant_alias_list *al = NULL;
    int qrc = qdrant_aliases_list(&al, c.q);
    if (qrc) {
        fprintf(stderr, "ragctl: reading the aliases: %s (%s)\n", qdrant_strerror(qrc),
                qdrant_client_errmsg(c.q));
        free(text);
        close_ctx(&c);
        return EX_UNAVAILABLE;
    }
    const char *t = qdrant_alias_list_find(al, alias);
    snprintf(live, sizeof live, "%s", t ? t : "");
    qdrant_alias_list_free(al);
    json_object *o = json_tokener_parse(text), *vs, *act;
    int active = json_object_object_get_ex(o, "active", &act) && act ? json_object_get_int(act) : 0;
    char want[256] = "";
    if (active)
        rp_collection_name(want, sizeof want, st->prefix, index, active);
    int agree = strcmp(want, live) == 0;
    if (st->json) {
        json_object_object_add(o, "alias", json_object_new_string(alias));
        json_object_object_add(o, "alias_target", live[0] ? json_object_new_string(live) : NULL);
        json_object_object_add(o, "alias_agrees", json_object_new_boolean(agree));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    } else {
        printf("index %s  active v%d  alias %s -> %s\n", index, active, alias,
               live[0] ? live : "(none)");
        if (json_object_object_get_ex(o, "versions", &vs))
            for (size_t i = 0; i < json_object_array_length(vs); i++) {
                json_object *v = json_object_array_get_idx(vs, i), *n, *s, *r;
                json_object_object_get_ex(v, "version", &n);
                json_object_object_get_ex(v, "state", &s);
                int hr = json_object_object_get_ex(v, "run_id", &r) &&
                         json_object_is_type(r, json_type_string);
                printf("  v%-4d %-12s run %s%s\n", json_object_get_int(n),
                       json_object_get_string(s), hr ? json_object_get_string(r) : "?",
                       json_object_get_int(n) == active ? "  <- active" : "");
            }
        if (!agree)
            fprintf(stderr,
                    "ragctl: warning: the history says v%d is active but the alias points at %s "
                    "('ragctl history --index %s --repair' makes the history follow the alias)\n",
                    active, live[0] ? live : "nothing", index);
    }
    json_object_put(o);
    free(text);
    close_ctx(&c);
    return EX_OK;
}

static int cmd_query(settings *st, int argc, char **argv)
{
    const char *index = NULL, *text = NULL;
    int k = 5;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            k = (int)parse_int("-k", argv[++i], 1, 1000);
        else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !text)
            text = argv[++i]; /* a query that starts with '-' */
        else if (argv[i][0] != '-' && !text)
            text = argv[i];
        else
            die_usage("query: unexpected argument \"%s\"%s", argv[i],
                      argv[i][0] == '-' ? " (a query starting with '-' goes after --)" : "");
    }
    if (!index || !text)
        die_usage("query needs --index NAME [--] \"text\"");
    if (!rp_name_valid(index))
        die_usage("index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]", index);
    ctx c;
    int ex = open_ctx(&c, st, 1, 1);
    if (ex)
        return ex;
    float *v = NULL;
    const char *texts[1] = {text};
    int rc = rp_embed_batch(c.emb, &v, texts, 1);
    if (rc) {
        fprintf(stderr, "ragctl: embedding the query: %s\n", rp_embedder_errmsg(c.emb));
        close_ctx(&c);
        return exit_for(rc);
    }
    char alias[256];
    snprintf(alias, sizeof alias, "%s_%s_active", st->prefix, index);
    qdrant_query_options qo = QDRANT_QUERY_OPTIONS_INIT;
    qo.limit = (uint32_t)k;
    qdrant_point_list *hits = NULL;
    int qrc = qdrant_points_query(&hits, c.q, alias, v, rp_embedder_dim(c.emb), &qo);
    free(v);
    if (qrc) {
        fprintf(stderr, "ragctl: query %s: %s (%s)\n", alias, qdrant_strerror(qrc),
                qdrant_client_errmsg(c.q));
        close_ctx(&c);
        return qrc == QDRANT_ENOTFOUND ? EX_NOINPUT : EX_UNAVAILABLE;
    }
    if (st->json)
        printf("[");
    for (size_t i = 0; i < qdrant_point_list_count(hits); i++) {
        const char *pl = qdrant_point_list_payload(hits, i);
        json_object *o = pl ? json_tokener_parse(pl) : NULL, *ci, *tx, *ver;
        if (st->json) {
            printf("%s{\"score\":%.6f,\"payload\":%s}", i ? "," : "",
                   (double)qdrant_point_list_score(hits, i), pl ? pl : "null");
        } else {
            const char *t =
                o && json_object_object_get_ex(o, "text", &tx) ? json_object_get_string(tx) : "";
            printf("%zu. %.4f  %s (v%d)\n   %.160s%s\n", i + 1,
                   (double)qdrant_point_list_score(hits, i),
                   o && json_object_object_get_ex(o, "chunk_id", &ci) ? json_object_get_string(ci)
                                                                      : "?",
                   o && json_object_object_get_ex(o, "version", &ver) ? json_object_get_int(ver)
                                                                      : 0,
                   t, strlen(t) > 160 ? "..." : "");
        }
        json_object_put(o);
    }
    if (st->json)
        printf("]\n");
    qdrant_point_list_free(hits);
    close_ctx(&c);
    return EX_OK;
}

static json_object *jstr_or_null(const char *v)
{
    return v ? json_object_new_string(v) : NULL;
}

static int cmd_config(settings *st)
{
    const char *masked = st->api_key ? "********" : "(none)";
    const char *emasked = st->embed_key ? "********" : "(none)";
    /* credentials inside a URL (http://user:pass@host) are secrets too */
    char qurl[PATH_MAX] = "", eurl[PATH_MAX] = "";
    if (st->qdrant_url)
        mask_url(qurl, sizeof qurl, st->qdrant_url);
    if (st->embed_url)
        mask_url(eurl, sizeof eurl, st->embed_url);
    if (st->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "state_dir", json_object_new_string(st->state_dir));
        json_object_object_add(o, "qdrant_url", jstr_or_null(st->qdrant_url ? qurl : NULL));
        json_object_object_add(o, "qdrant_api_key", json_object_new_string(masked));
        json_object_object_add(o, "embedder", json_object_new_string(st->embedder));
        json_object_object_add(o, "dim", json_object_new_int64((int64_t)st->dim));
        json_object_object_add(o, "embed_url", json_object_new_string(eurl));
        json_object_object_add(o, "embed_model",
                               json_object_new_string(st->embed_model ? st->embed_model : ""));
        json_object_object_add(o, "embed_api_key", json_object_new_string(emasked));
        json_object_object_add(o, "prefix", json_object_new_string(st->prefix));
        json_object_object_add(o, "docs", json_object_new_string(st->docs));
        json_object_object_add(o, "config", jstr_or_null(st->config));
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
    } else {
        printf("state_dir      %s\n", st->state_dir);
        printf("qdrant         %s\n", st->qdrant_url ? qurl : "local mode (<state_dir>/qdrant)");
        printf("qdrant_api_key %s\n", masked);
        printf("embedder       %s (dim %zu)\n", st->embedder, st->dim);
        printf("embed_url      %s\n", eurl);
        printf("embed_model    %s\n", st->embed_model ? st->embed_model : "");
        printf("embed_api_key  %s\n", emasked);
        printf("prefix         %s\n", st->prefix);
        printf("docs           %s\n", st->docs);
        printf("config file    %s\n", st->config ? st->config : "(none)");
    }
    return EX_OK;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmd_runs(settings *st, int argc, char **argv)
{
    (void)argv;
    if (argc)
        die_usage("runs takes no arguments");
    ctx c;
    int ex = open_ctx(&c, st, 0, 0);
    if (ex)
        return ex;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/runs", st->state_dir);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!rp_name_valid(e->d_name))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn)
            break;
        names = nn;
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    if (d)
        closedir(d);
    if (n) /* qsort's array may not be NULL, even for no elements */
        qsort(names, n, sizeof *names, cmp_str);
    if (st->json)
        printf("[");
    int damaged = 0;
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        int rc = rp_run_read(c.state, &text, names[i]);
        if (rc == RP_OK) {
            json_object *o = json_tokener_parse(text), *v, *ix, *ver;
            const char *sn =
                json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v) : "";
            int gone = run_abandoned(&c, names[i], sn);
            json_object_object_get_ex(o, "index", &ix);
            int version =
                json_object_object_get_ex(o, "version", &ver) && ver ? json_object_get_int(ver) : 0;
            if (st->json)
                printf("%s{\"run_id\":\"%s\",\"index\":\"%s\",\"version\":%d,\"status\":\"%s\","
                       "\"abandoned\":%s}",
                       i ? "," : "", names[i], json_object_get_string(ix), version, sn,
                       gone ? "true" : "false");
            else
                printf("%-40s %-12s v%-4d %s%s\n", names[i], json_object_get_string(ix), version,
                       sn, gone ? " (abandoned)" : "");
            json_object_put(o);
            free(text);
        } else if (rc != RP_ENOTFOUND) {
            /* Listed, never dropped: a run whose file cannot be read is shown as such. */
            damaged++;
            if (st->json)
                printf("%s{\"run_id\":\"%s\",\"status\":\"DAMAGED\"}", i ? "," : "", names[i]);
            else
                printf("%-40s %-12s %-5s DAMAGED\n", names[i], "?", "?");
            fprintf(stderr, "ragctl: %s\n", rp_state_errmsg(c.state));
        }
        free(names[i]);
    }
    if (st->json)
        printf("]\n");
    free(names);
    close_ctx(&c);
    return damaged ? EX_DATAERR : EX_OK;
}

static int cmd_log(settings *st, int argc, char **argv)
{
    if (argc != 1)
        die_usage("log needs RUN");
    if (!rp_name_valid(argv[0]))
        die_usage("run id \"%s\" is invalid: use 1-64 of [a-z0-9_-]", argv[0]);
    ctx c;
    int ex = open_ctx(&c, st, 0, 0);
    if (ex)
        return ex;
    char *text = NULL;
    int rc = rp_run_read(c.state, &text, argv[0]);
    if (rc != RP_OK) {
        ex = state_error(&c, rc, "run", argv[0]);
        close_ctx(&c);
        return ex;
    }
    json_object *o = json_tokener_parse(text), *events;
    if (json_object_object_get_ex(o, "events", &events)) {
        if (st->json) {
            printf("%s\n", json_object_to_json_string_ext(events, JSON_C_TO_STRING_PLAIN));
        } else {
            for (size_t i = 0; i < json_object_array_length(events); i++)
                print_event(json_object_array_get_idx(events, i), -1);
        }
    }
    json_object_put(o);
    free(text);
    close_ctx(&c);
    return EX_OK;
}

static void on_gc(void *ud, int version, const char *collection, const char *what)
{
    settings *st = ud;
    if (st->json)
        return;
    if (strncmp(what, "kept", 4) == 0 || strncmp(what, "abandoned", 9) == 0)
        printf("%s (v%d): %s\n", collection, version, what);
    else
        printf("deleted %s (v%d, %s)\n", collection, version, what);
}

static int cmd_gc(settings *st, int argc, char **argv)
{
    const char *index = NULL;
    int keep = -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = (int)parse_int("--keep", argv[++i], 1, 1000000);
        else
            die_usage("gc: unexpected argument \"%s\"", argv[i]);
    }
    if (!index || keep < 1)
        die_usage("gc needs --index NAME --keep N (N >= 1)");
    if (!rp_name_valid(index))
        die_usage("index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]", index);
    ctx c;
    int ex = open_ctx(&c, st, 1, 0);
    if (ex)
        return ex;
    int active = 0;
    int rc = rp_index_active(c.state, &active, index);
    if (rc != RP_OK) {
        ex = state_error(&c, rc, "index", index);
        close_ctx(&c);
        return ex;
    }
    size_t deleted = 0;
    char err[1024];
    rc = rp_gc(&deleted, c.state, c.q, st->prefix, index, keep, on_gc, st, err, sizeof err);
    if (rc)
        fprintf(stderr, "ragctl: gc of %s: %s\n", index, err);
    if (st->json)
        printf("{\"index\":\"%s\",\"deleted\":%zu,\"kept_active\":%d}\n", index, deleted, active);
    else
        printf("%s: %zu collection(s) deleted; v%d stays active\n", index, deleted, active);
    close_ctx(&c);
    return exit_for(rc);
}

/* ---- demo ---- */

static int demo_check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "  [ok]  " : "  [FAIL]", what);
    return cond ? 0 : 1;
}

static int run_status(ctx *c, const char *run_id, const char *step, char *status, size_t cap)
{
    char *text = NULL;
    status[0] = '\0';
    if (rp_run_read(c->state, &text, run_id) != RP_OK)
        return -1;
    json_object *o = json_tokener_parse(text), *steps, *v;
    free(text);
    if (!step) {
        if (json_object_object_get_ex(o, "status", &v))
            snprintf(status, cap, "%s", json_object_get_string(v));
    } else if (json_object_object_get_ex(o, "steps", &steps)) {
        for (size_t i = 0; i < json_object_array_length(steps); i++) {
            json_object *s = json_object_array_get_idx(steps, i), *n, *st;
            if (json_object_object_get_ex(s, "name", &n) &&
                strcmp(json_object_get_string(n), step) == 0 &&
                json_object_object_get_ex(s, "status", &st))
                snprintf(status, cap, "%s", json_object_get_string(st));
        }
    }
    json_object_put(o);
    return 0;
}

static int count_events(ctx *c, const char *run_id, const char *type, const char *step)
{
    char *text = NULL;
    if (rp_run_read(c->state, &text, run_id) != RP_OK)
        return -1;
    json_object *o = json_tokener_parse(text), *ev, *t, *s;
    free(text);
    int n = 0;
    if (json_object_object_get_ex(o, "events", &ev))
        for (size_t i = 0; i < json_object_array_length(ev); i++) {
            json_object *e = json_object_array_get_idx(ev, i);
            if (json_object_object_get_ex(e, "type", &t) &&
                strcmp(json_object_get_string(t), type) == 0 &&
                json_object_object_get_ex(e, "step", &s) &&
                !json_object_is_type(s, json_type_null) &&
                strcmp(json_object_get_string(s), step) == 0)
                n++;
        }
    json_object_put(o);
    return n;
}

static int cmd_demo(settings *st, int argc, char **argv)
{
    const char *docs = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--docs") == 0 && i + 1 < argc)
            docs = argv[++i];
        else
            die_usage("demo: unexpected argument \"%s\"", argv[i]);
    }
    if (!docs)
        docs = RAGCTL_DEMO_CORPUS;
    ctx c;
    int ex = open_ctx(&c, st, 1, 1);
    if (ex)
        return ex;
    int failures = 0;
    char err[1024], run1[96], run2[96], status[32];
    const char *index = "demo";
    printf("ragctl demo: state in %s, %s, corpus %s\n\n", st->state_dir,
           st->qdrant_url ? st->qdrant_url : "local mode (no server)", docs);

    printf("1. build v1 with a failure injected at embed\n");
    rp_build_config b = build_cfg(&c, index, docs);
    b.fail.step = "embed";
    b.fail.times = 1;
    int rc = rp_build_create(c.state, run1, sizeof run1, &b, err, sizeof err);
    if (rc == RP_OK)
        rc = rp_build_execute(c.state, run1, &b, err, sizeof err);
    run_status(&c, run1, NULL, status, sizeof status);
    failures += demo_check(rc != RP_OK && strcmp(status, "FAILED") == 0, "the run is FAILED");
    run_status(&c, run1, "embed", status, sizeof status);
    failures += demo_check(strcmp(status, "FAILED") == 0, "at embed");
    int active = -1;
    rp_index_active(c.state, &active, index);
    failures += demo_check(active == 0, "and nothing was promoted");

    printf("\n2. replay from embed\n");
    char replayed[96];
    rc = rp_build_replay(c.state, replayed, sizeof replayed, run1, "embed", &b, err, sizeof err);
    run_status(&c, run1, NULL, status, sizeof status);
    failures += demo_check(rc == RP_OK && strcmp(status, "SUCCEEDED") == 0, "the run SUCCEEDED");
    failures += demo_check(count_events(&c, run1, "reused", "discover") == 1 &&
                               count_events(&c, run1, "reused", "chunk") == 1,
                           "discover and chunk were reused, not recomputed");
    rp_index_active(c.state, &active, index);
    failures += demo_check(active == 1, "v1 is active");

    printf("\n3. build v2\n");
    b.fail.step = NULL;
    b.fail.times = 0;
    rc = rp_build_create(c.state, run2, sizeof run2, &b, err, sizeof err);
    if (rc == RP_OK)
        rc = rp_build_execute(c.state, run2, &b, err, sizeof err);
    rp_index_active(c.state, &active, index);
    failures += demo_check(rc == RP_OK && active == 2, "v2 built and active");

    printf("\n4. roll back to v1\n");
    int now = 0;
    rc = rp_rollback(&now, c.state, c.q, st->prefix, index, 1, 0, err, sizeof err);
    rp_index_active(c.state, &active, index);
    failures += demo_check(rc == RP_OK && now == 1 && active == 1, "v1 is active again");
    char alias[256], want[256];
    snprintf(alias, sizeof alias, "%s_%s_active", st->prefix, index);
    rp_collection_name(want, sizeof want, st->prefix, index, 1);
    qdrant_alias_list *al = NULL;
    const char *target = NULL;
    if (qdrant_aliases_list(&al, c.q) == QDRANT_OK)
        target = qdrant_alias_list_find(al, alias);
    failures += demo_check(target && strcmp(target, want) == 0, "the alias points at v1");
    qdrant_alias_list_free(al);

    printf("\n5. query \"how are versions rolled back\" through the alias\n");
    float *v = NULL;
    const char *q[1] = {"how are versions rolled back"};
    qdrant_point_list *hits = NULL;
    int got_v1 = 0;
    if (rp_embed_batch(c.emb, &v, q, 1) == RP_OK) {
        qdrant_query_options qo = QDRANT_QUERY_OPTIONS_INIT;
        qo.limit = 3;
        if (qdrant_points_query(&hits, c.q, alias, v, rp_embedder_dim(c.emb), &qo) == QDRANT_OK) {
            for (size_t i = 0; i < qdrant_point_list_count(hits); i++) {
                json_object *o = json_tokener_parse(qdrant_point_list_payload(hits, i)), *ci, *ver;
                int vv =
                    json_object_object_get_ex(o, "version", &ver) ? json_object_get_int(ver) : 0;
                got_v1 += vv == 1;
                printf("     %.4f  %s (v%d)\n", (double)qdrant_point_list_score(hits, i),
                       json_object_object_get_ex(o, "chunk_id", &ci) ? json_object_get_string(ci)
                                                                     : "?",
                       vv);
                json_object_put(o);
            }
        }
    }
    free(v);
    failures += demo_check(hits && qdrant_point_list_count(hits) > 0 &&
                               got_v1 == (int)qdrant_point_list_count(hits),
                           "answers come from v1");
    qdrant_point_list_free(hits);

    printf("\ntimeline of %s:\n", run1);
    show_run(&c, run1, 1, NULL);
    printf("\n%s\n", failures ? "demo FAILED" : "demo passed: every stage held");
    close_ctx(&c);
    return failures ? EX_SOFTWARE : EX_OK;
}

static void usage(void)
{
    printf("usage: ragctl [--json] [--state-dir DIR] [--config FILE] COMMAND ...\n"
           "       ragctl --version | --help\n"
           "commands:\n"
           "  build --index NAME [--docs DIR] [--smoke FILE]\n"
           "        [--fail-at STEP [--fail-mode once|always|N]]   build a new version\n"
           "  replay RUN --from STEP [--set KEY=VALUE ...]    run again from a step (KEY: docs,\n"
           "        chunk_size, overlap, fail_at); a promoted run's replay builds a new version\n"
           "  rollback --index NAME [--steps N | --to-version V]\n"
           "  status RUN [--follow]                            steps and timeline\n"
           "  runs                                             every run\n"
           "  log RUN                                          a run's timeline\n"
           "  history --index NAME [--repair]                  versions and the alias\n"
           "  query --index NAME [-k N] [--] \"text\"\n"
           "  gc --index NAME --keep N                         delete old versions' collections\n"
           "  config                                           the settings in force\n"
           "  demo [--docs DIR]                                the whole cycle, in local mode\n"
           "steps: discover chunk embed upsert smoketest promote\n"
           "environment: RAG_STATE_DIR QDRANT_URL QDRANT_API_KEY RAG_EMBEDDER RAG_EMBED_DIM\n"
           "             RAG_EMBED_URL RAG_EMBED_MODEL RAG_EMBED_API_KEY RAG_PREFIX RAG_DOCS_DIR\n"
           "             RAG_SMOKE_QUERIES RAG_CONFIG\n");
}

static void version(void)
{
    printf("ragctl %s\n", RAGCTL_VERSION);
    printf("libqdrantc %s (ABI %d)\n", qdrant_version_string(), QDRANT_ABI_MAJOR);
    printf("json-c %s\n", json_c_version());
}

/* The config file: "key = value" lines, '#' comments. Values are kept for the process's life. */
static const char *const conf_keys[] = {
    "state_dir",   "qdrant_url",    "qdrant_api_key", "embedder", "embed_dim",    "embed_url",
    "embed_model", "embed_api_key", "prefix",         "docs",     "smoke_queries"};
#define NCONF (sizeof conf_keys / sizeof *conf_keys)

static int read_config(const char *path, const char **vals, int required)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        if (required) {
            fprintf(stderr, "ragctl: config %s: %s\n", path, strerror(errno));
            return -1;
        }
        return 0;
    }
    char line[4096];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        p[strcspn(p, "\r\n")] = '\0';
        if (!*p || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (!eq) {
            fprintf(stderr, "ragctl: %s:%d: want key = value\n", path, lineno);
            fclose(f);
            return -1;
        }
        char *ke = eq;
        while (ke > p && (ke[-1] == ' ' || ke[-1] == '\t'))
            ke--;
        *ke = '\0';
        char *v = eq + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t k;
        for (k = 0; k < NCONF; k++)
            if (strcmp(p, conf_keys[k]) == 0)
                break;
        if (k == NCONF) {
            fprintf(stderr, "ragctl: %s:%d: unknown key \"%s\"\n", path, lineno, p);
            fclose(f);
            return -1;
        }
        vals[k] = strdup(v);
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    /* State, artifacts, the local store and the cache hold the documents' text: private by
     * default, whatever the user's umask. */
    umask(077);
    settings st;
    memset(&st, 0, sizeof st);
    /* Precedence: flags, then environment, then the config file, then defaults. */
    static const char *conf[NCONF]; /* static: the values live as long as the process */
    const char *conf_path = getenv("RAG_CONFIG");
    int conf_required = conf_path != NULL;
    for (int k = 1; k + 1 < argc; k++)
        if (strcmp(argv[k], "--config") == 0) {
            conf_path = argv[k + 1];
            conf_required = 1;
        }
    if (!conf_path)
        conf_path = "ragctl.conf";
    if (read_config(conf_path, conf, conf_required) != 0)
        return EX_CONFIG;
    if (conf_required || access(conf_path, R_OK) == 0)
        st.config = conf_path;
#define SETTING(env, idx, def) env_or(env, conf[idx] ? conf[idx] : (def))
    st.state_dir = SETTING("RAG_STATE_DIR", 0, ".ragctl");
    st.qdrant_url = SETTING("QDRANT_URL", 1, NULL);
    st.api_key = SETTING("QDRANT_API_KEY", 2, NULL);
    st.embedder = SETTING("RAG_EMBEDDER", 3, "hash");
    const char *dim_text = SETTING("RAG_EMBED_DIM", 4, "384");
    st.embed_url = SETTING("RAG_EMBED_URL", 5, NULL);
    st.embed_model = SETTING("RAG_EMBED_MODEL", 6, NULL);
    st.embed_key = SETTING("RAG_EMBED_API_KEY", 7, NULL);
    st.prefix = SETTING("RAG_PREFIX", 8, "rag");
    st.docs = SETTING("RAG_DOCS_DIR", 9, "docs");
    st.smoke_file = SETTING("RAG_SMOKE_QUERIES", 10, NULL);
#undef SETTING
    st.color = isatty(2) && !getenv("NO_COLOR");
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0)
            st.json = 1;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            i++;
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            st.state_dir = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return EX_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            version();
            return EX_OK;
        } else
            die_usage("unknown option \"%s\"", argv[i]);
    }
    if (i >= argc) {
        usage();
        return EX_USAGE;
    }
    st.dim = (size_t)parse_int("RAG_EMBED_DIM", dim_text, 8, 65536);
    if (!rp_name_valid(st.prefix))
        die_usage("RAG_PREFIX \"%s\" is invalid: use 1-64 of [a-z0-9_-]", st.prefix);
    const char *cmd = argv[i++];
    int rest = argc - i;
    char **args = argv + i;
    /* Options may also follow the command. */
    for (int k = 0; k < rest; k++)
        if (strcmp(args[k], "--json") == 0) {
            st.json = 1;
            memmove(&args[k], &args[k + 1], (size_t)(rest - k - 1) * sizeof *args);
            rest--;
            k--;
        }
    if (strcmp(cmd, "build") == 0)
        return cmd_build(&st, rest, args);
    if (strcmp(cmd, "replay") == 0)
        return cmd_replay(&st, rest, args);
    if (strcmp(cmd, "rollback") == 0)
        return cmd_rollback(&st, rest, args);
    if (strcmp(cmd, "status") == 0)
        return cmd_status(&st, rest, args);
    if (strcmp(cmd, "history") == 0)
        return cmd_history(&st, rest, args);
    if (strcmp(cmd, "query") == 0)
        return cmd_query(&st, rest, args);
    if (strcmp(cmd, "config") == 0)
        return cmd_config(&st);
    if (strcmp(cmd, "runs") == 0)
        return cmd_runs(&st, rest, args);
    if (strcmp(cmd, "log") == 0)
        return cmd_log(&st, rest, args);
    if (strcmp(cmd, "gc") == 0)
        return cmd_gc(&st, rest, args);
    if (strcmp(cmd, "demo") == 0)
        return cmd_demo(&st, rest, args);
    if (strcmp(cmd, "version") == 0) {
        version();
        return EX_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        usage();
        return EX_OK;
    }
    die_usage("unknown command \"%s\"", cmd);
}
