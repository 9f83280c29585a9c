/* ragctl demo: the whole cycle on the embedded default, each stage checked. */
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

static int demo_check(int cond, const char *what)
{
    printf("%s %s\n", cond ? "  [ok]  " : "  [FAIL]", what);
    return cond ? 0 : 1;
}

static int run_status(tool_ctx *c, const char *run_id, const char *step, char *status, size_t cap)
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

static int count_events(tool_ctx *c, const char *run_id, const char *type, const char *step)
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

/* The sample corpus: installed with ragctl (<prefix>/<datadir>/ragkit/corpus, found next to
 * the executable first, so a relocated or staged install finds its own), else the source
 * tree's when ragctl runs from its build directory. */
static int demo_corpus(char *out, size_t cap)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    struct stat sb;
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            int w = snprintf(out, cap, "%s/%s/ragkit/corpus", exe, RAGCTL_BIN_TO_DATA);
            if (w > 0 && (size_t)w < cap && stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
                return 1;
        }
    }
    const char *const places[] = {RAGCTL_DATADIR "/corpus", RAGCTL_SOURCE_CORPUS};
    for (size_t i = 0; i < sizeof places / sizeof *places; i++) {
        snprintf(out, cap, "%s", places[i]);
        if (stat(out, &sb) == 0 && S_ISDIR(sb.st_mode))
            return 1;
    }
    return 0;
}

int cmd_demo(tool_settings *st, int argc, char **argv)
{
    const char *docs = NULL;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--docs") == 0 && i + 1 < argc)
            docs = argv[++i];
        else
            tool_die_usage("demo: unexpected argument \"%s\"", argv[i]);
    }
    char corpus[PATH_MAX + 64];
    if (!docs && !demo_corpus(corpus, sizeof corpus)) {
        fprintf(stderr,
                "ragctl: the sample corpus is not installed (looked in %s/corpus); give "
                "one with --docs DIR\n",
                RAGCTL_DATADIR);
        return EX_NOINPUT;
    }
    if (!docs)
        docs = corpus;
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 1);
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
    if (qdrant_alias_list_get(&al, c.q) == QDRANT_OK)
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
        if (qdrant_point_query(&hits, c.q, alias, v, rp_embedder_dim(c.emb), &qo) == QDRANT_OK) {
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
    tool_close(&c);
    return failures ? EX_SOFTWARE : EX_OK;
}
