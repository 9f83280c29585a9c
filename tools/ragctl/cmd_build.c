/* ragctl build and replay: a build's configuration from the settings, smoke queries, and a
 * replay's settings read back from its run. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

rp_build_config build_cfg(tool_ctx *c, const char *index, const char *docs)
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
    b.progress = tool_on_progress;
    b.progress_ud = c->st;
    b.count = !c->st->json && isatty(2) ? tool_on_count : NULL;
    b.warn = tool_on_warn;
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
        tool_die_usage("--fail-mode takes once, always or a count 1..1000");
    return (int)n;
}

/* The documents folder must exist before anything is created for a build. */
int docs_ok(const tool_settings *st, const char *docs)
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

int cmd_build(tool_settings *st, int argc, char **argv)
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
            tool_die_usage("build: unexpected argument \"%s\"", argv[i]);
    }
    if (!index)
        tool_die_usage("build needs --index NAME");
    tool_check_name("index name", index);
    if (fail_at && rp_step_index(fail_at) < 0)
        tool_die_usage("--fail-at: unknown step \"%s\"", fail_at);
    if (fail_mode && !fail_at)
        tool_die_usage("--fail-mode needs --fail-at STEP");
    if (!docs_ok(st, docs))
        return EX_NOINPUT;
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 1);
    if (ex)
        return ex;
    rp_build_config b = build_cfg(&c, index, docs);
    b.fail.step = fail_at;
    b.fail.times = fail_at ? parse_fail_mode(fail_mode) : 0;
    smoke_set smoke;
    if (load_smoke(&smoke, st->smoke_file) != 0) {
        tool_close(&c);
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
        tool_close(&c);
        return tool_exit_for(rc);
    }
    if (!st->json)
        fprintf(stderr, "build %s of index %s from %s\n", run_id, index, docs);
    rc = rp_build_execute(c.state, run_id, &b, err, sizeof err);
    if (st->json)
        show_run(&c, run_id, 0, NULL);
    else
        printf("%s %s%s\n", run_id, rc ? "FAILED: " : "SUCCEEDED", rc ? err : "");
    free_smoke(&smoke);
    tool_close(&c);
    return tool_exit_for(rc);
}

/* Reads a run's params back into a build configuration (docs, fail spec) for a replay. */
/* Reads a run's params back into a build configuration (docs, fail spec) for a replay.
 * Returns an exit code, with the message printed. */
static int run_params(tool_ctx *c, const char *run_id, char *index, size_t icap, char *docs,
                      size_t dcap, char *fail_step, size_t fcap, int *fail_times,
                      rp_chunk_options *chunk)
{
    char *text = NULL;
    int rc = rp_run_read(c->state, &text, run_id);
    if (rc != RP_OK)
        return tool_state_error(c, rc, "run", run_id);
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

int cmd_replay(tool_settings *st, int argc, char **argv)
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
            tool_die_usage("replay: unexpected argument \"%s\"", argv[i]);
    }
    if (!run_id || !from)
        tool_die_usage("replay needs RUN --from STEP [--set key=value ...]");
    if (rp_step_index(from) < 0)
        tool_die_usage("--from: unknown step \"%s\"", from);
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 1);
    if (ex)
        return ex;
    char index[96], docs[PATH_MAX], fstep[32], err[1024];
    int ftimes = 0, fail_set = 0;
    rp_chunk_options chunk = RP_CHUNK_OPTIONS_INIT;
    ex = run_params(&c, run_id, index, sizeof index, docs, sizeof docs, fstep, sizeof fstep,
                    &ftimes, &chunk);
    if (ex) {
        tool_close(&c);
        return ex;
    }
    /* --set changes a setting for this replay; steps whose inputs it changes run again. */
    for (int k = 0; k < nsets; k++) {
        const char *eq = strchr(sets[k], '=');
        char key[32];
        if (!eq || (size_t)(eq - sets[k]) >= sizeof key)
            tool_die_usage("--set takes key=value");
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
            tool_die_usage("--set: unknown key or bad value \"%s\" (docs, chunk_size 16..100000, "
                           "overlap 0..100000, fail_at)",
                           sets[k]);
    }
    if (chunk.overlap >= chunk.size)
        tool_die_usage("overlap must be smaller than chunk_size");
    if (fstep[0] && rp_step_index(fstep) < 0)
        tool_die_usage("fail_at: unknown step \"%s\"", fstep);
    if (!docs_ok(st, docs)) {
        tool_close(&c);
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
    tool_close(&c);
    return tool_exit_for(rc);
}
