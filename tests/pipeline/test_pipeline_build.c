/* The build driver, driven directly (rp_build_create / execute / replay, rp_rollback, rp_gc,
 * rp_history_repair) in local mode: versions, ownership metadata, failure and replay, the
 * replay of a promoted run, a run busy in another process, a foreign collection in the way. */
#include "build.h"
#include "pipeline.h"
#include "tap.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char base[64];

typedef struct {
    rp_state *s;
    qdrant_client *q;
    rp_embedder *e;
    rp_cache *cache;
    rp_build_config cfg;
    char docs[128];
} env;

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static int env_open(env *x)
{
    memset(x, 0, sizeof *x);
    char p[256], err[512];
    snprintf(x->docs, sizeof x->docs, "%s/docs", base);
    mkdir(x->docs, 0700);
    snprintf(p, sizeof p, "%s/a.md", x->docs);
    put(p, "Rolling back moves the alias to an earlier version.\n\nEach build makes a new "
           "collection and checks it before readers see it.\n");
    snprintf(p, sizeof p, "%s/b.md", x->docs);
    put(p, "The embedding cache keeps vectors by text hash, so a replay embeds nothing twice.\n");
    snprintf(p, sizeof p, "%s/state", base);
    if (rp_state_open(&x->s, p, err, sizeof err)) {
        diag("state: %s", err);
        return -1;
    }
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    char url[300];
    snprintf(url, sizeof url, "file://%s/state/qdrant", base);
    o.url = url;
    if (qdrant_client_new(&x->q, &o) || rp_embedder_hash_new(&x->e, 64))
        return -1;
    snprintf(p, sizeof p, "%s/state/cache", base);
    if (rp_cache_open(&x->cache, p, err, sizeof err))
        return -1;
    rp_chunk_options co = RP_CHUNK_OPTIONS_INIT;
    x->cfg.index = "t";
    x->cfg.docs_dir = x->docs;
    x->cfg.chunk = co;
    x->cfg.qdrant = x->q;
    x->cfg.embedder = x->e;
    x->cfg.cache = x->cache;
    return 0;
}

static void env_close(env *x)
{
    rp_cache_free(x->cache);
    rp_embedder_free(x->e);
    qdrant_client_free(x->q);
    rp_state_free(x->s);
}

static int active_of(env *x)
{
    int v = -1;
    rp_index_active(x->s, &v, "t");
    return v;
}

static const char *alias_target(env *x, char *buf, size_t cap)
{
    qdrant_alias_list *l = NULL;
    buf[0] = 0;
    if (qdrant_alias_list_get(&l, x->q) == QDRANT_OK) {
        const char *t = qdrant_alias_list_find(l, "rag_t_active");
        snprintf(buf, cap, "%s", t ? t : "");
    }
    qdrant_alias_list_free(l);
    return buf;
}

/* An integer of the collection's metadata, -1 when absent. */
static long long meta_int(env *x, const char *collection, const char *key)
{
    qdrant_collection_info *info = NULL;
    long long v = -1;
    if (qdrant_collection_info_get(&info, x->q, collection) == QDRANT_OK) {
        const char *m = qdrant_collection_info_metadata(info);
        json_object *o = m ? json_tokener_parse(m) : NULL, *f;
        if (o && json_object_object_get_ex(o, key, &f))
            v = json_object_get_int64(f);
        json_object_put(o);
    }
    qdrant_collection_info_free(info);
    return v;
}

static uint64_t points(env *x, const char *collection)
{
    uint64_t n = 0;
    if (qdrant_point_count(&n, x->q, collection, NULL))
        return (uint64_t)-1;
    return n;
}

static int build(env *x, char *run, size_t cap, char *err, size_t errlen)
{
    int rc = rp_build_create(x->s, run, cap, &x->cfg, err, errlen);
    return rc ? rc : rp_build_execute(x->s, run, &x->cfg, err, errlen);
}

int main(void)
{
    snprintf(base, sizeof base, "/tmp/rp_build_XXXXXX");
    if (!mkdtemp(base))
        return 1;
    env x;
    if (env_open(&x)) {
        diag("set-up failed");
        return 1;
    }
    char run1[96], run2[96], run3[96], err[1024], t[256];

    /* A build: version 1, promoted, its collection recording who made it. */
    is_int(build(&x, run1, sizeof run1, err, sizeof err), RP_OK, "a build succeeds");
    is_int(active_of(&x), 1, "  v1 is active");
    is_str(alias_target(&x, t, sizeof t), "rag_t_v1", "  the alias points at rag_t_v1");
    ok(meta_int(&x, "rag_t_v1", "ragkit_version") == 1 &&
           meta_int(&x, "rag_t_v1", "ragkit_promoted_ms") > 0,
       "  its metadata records version 1 and the promotion");
    qdrant_collection_info *info = NULL;
    qdrant_collection_info_get(&info, x.q, "rag_t_v1");
    const char *m = info ? qdrant_collection_info_metadata(info) : NULL;
    ok(m && strstr(m, rp_state_deployment(x.s)), "  and this state directory's deployment id");
    qdrant_collection_info_free(info);
    uint64_t v1_points = points(&x, "rag_t_v1");

    /* A failure injected at embed, then a replay from embed: the same version, promoted. */
    x.cfg.fail.step = "embed";
    x.cfg.fail.times = 1;
    is_int(build(&x, run2, sizeof run2, err, sizeof err), RP_ESTOPPED, "a build failing at embed");
    is_int(active_of(&x), 1, "  leaves v1 active");
    char ran[96];
    is_int(rp_build_replay(x.s, ran, sizeof ran, run2, "embed", &x.cfg, err, sizeof err), RP_OK,
           "  its replay from embed succeeds");
    is_str(ran, run2, "  as the same run");
    is_int(active_of(&x), 2, "  v2 is active");
    x.cfg.fail.step = NULL;
    x.cfg.fail.times = 0;

    /* The replay of a promoted run with other settings: a new run and version; v1 untouched. */
    x.cfg.chunk.size = 40;
    x.cfg.chunk.overlap = 5;
    is_int(rp_build_replay(x.s, ran, sizeof ran, run1, "chunk", &x.cfg, err, sizeof err), RP_OK,
           "the replay of promoted run 1 with smaller chunks");
    ok(strcmp(ran, run1) != 0, "  is a new run");
    is_int(active_of(&x), 3, "  building and promoting v3");
    ok(points(&x, "rag_t_v1") == v1_points, "  v1's collection is untouched");
    ok(points(&x, "rag_t_v3") > v1_points, "  v3 holds the smaller chunks");
    x.cfg.chunk.size = 600;
    x.cfg.chunk.overlap = 80;

    /* A run another process is executing is refused. */
    char run4[96];
    is_int(rp_build_create(x.s, run4, sizeof run4, &x.cfg, err, sizeof err), RP_OK, "create v4");
    rp_run_unlock(x.s);
    int pfd[2], gfd[2];
    if (pipe(pfd) || pipe(gfd))
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        rp_state *cs = NULL;
        char p[256];
        snprintf(p, sizeof p, "%s/state", base);
        char c = rp_state_open(&cs, p, NULL, 0) == RP_OK && rp_run_lock(cs, run4) == RP_OK;
        if (write(pfd[1], &c, 1) != 1 || read(gfd[0], &c, 1) != 1)
            c = 0;
        rp_state_free(cs);
        _exit(0);
    }
    char c = 0;
    if (read(pfd[0], &c, 1) != 1)
        c = 0;
    ok(c == 1, "another process holds run 4");
    is_int(rp_build_execute(x.s, run4, &x.cfg, err, sizeof err), RP_EBUSY,
           "  executing it here is RP_EBUSY");
    ok(strstr(err, "another process") != NULL, "  saying why");
    if (write(gfd[1], &c, 1) != 1)
        diag("pipe");
    waitpid(pid, NULL, 0);
    is_int(rp_build_execute(x.s, run4, &x.cfg, err, sizeof err), RP_OK,
           "  once it is gone, the run executes here");
    is_int(active_of(&x), 4, "  v4 is active");

    /* A collection in the way, made by someone else: never taken, never written. */
    qdrant_collection_options co = QDRANT_COLLECTION_OPTIONS_INIT;
    co.metadata = "{\"ragkit_deployment\":\"someone-else\",\"ragkit_index\":\"t\","
                  "\"ragkit_version\":5}";
    is_int(qdrant_collection_create(x.q, "rag_t_v5", 64, QDRANT_DISTANCE_COSINE, &co), QDRANT_OK,
           "someone else's rag_t_v5 exists");
    is_int(build(&x, run3, sizeof run3, err, sizeof err), RP_OK, "the next build");
    is_int(active_of(&x), 6, "  is v6, past the foreign v5");
    ok(points(&x, "rag_t_v5") == 0, "  which holds nothing of ours");

    /* Rollback, then gc keeping one: the active version and the newest stay. */
    int now = 0;
    is_int(rp_rollback(&now, x.s, x.q, "rag", "t", 1, 0, err, sizeof err), RP_OK, "rollback");
    is_int(now, 4, "  to v4");
    is_str(alias_target(&x, t, sizeof t), "rag_t_v4", "  the alias on rag_t_v4");
    ok(meta_int(&x, "rag_t_v6", "ragkit_rolled_back_ms") > 0, "  v6's metadata records it");
    size_t deleted = 0;
    is_int(rp_gc(&deleted, x.s, x.q, "rag", "t", 1, NULL, NULL, err, sizeof err), RP_OK, "gc");
    int exists = 0;
    qdrant_collection_exists(&exists, x.q, "rag_t_v4");
    ok(exists, "  keeps the active v4");
    qdrant_collection_exists(&exists, x.q, "rag_t_v1");
    ok(!exists, "  deletes v1");
    qdrant_collection_exists(&exists, x.q, "rag_t_v5");
    ok(exists, "  never deletes someone else's v5");

    /* The history lost: rebuilt from the collections' metadata. */
    char p[256];
    snprintf(p, sizeof p, "%s/state/indexes/t.json", base);
    unlink(p);
    size_t changes = 0;
    is_int(rp_history_repair(x.s, x.q, "rag", "t", &changes, NULL, 0, err, sizeof err), RP_OK,
           "history repair after the history file was deleted");
    is_int(active_of(&x), 4, "  v4 active again, as the alias says");
    char *text = NULL;
    rp_index_read(x.s, &text, "t");
    json_object *o = text ? json_tokener_parse(text) : NULL, *vs, *nv;
    free(text);
    int n = 0, rolled = 0, foreign = 0;
    if (o && json_object_object_get_ex(o, "versions", &vs))
        for (size_t i = 0; i < json_object_array_length(vs); i++) {
            json_object *e = json_object_array_get_idx(vs, i), *f, *st;
            json_object_object_get_ex(e, "version", &f);
            json_object_object_get_ex(e, "state", &st);
            n++;
            foreign += json_object_get_int(f) == 5;
            rolled +=
                json_object_get_int(f) == 6 && !strcmp(json_object_get_string(st), "rolled_back");
        }
    ok(n >= 2 && rolled == 1 && foreign == 0,
       "  the surviving versions back, v6 rolled back, someone else's v5 not adopted");
    ok(o && json_object_object_get_ex(o, "next_version", &nv) && json_object_get_int(nv) == 7,
       "  next version 7");
    json_object_put(o);

    env_close(&x);
    tap_rmrf(base);
    return tap_done();
}
