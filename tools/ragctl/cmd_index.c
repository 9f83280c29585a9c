/* ragctl rollback, history, gc and query: an index's versions and what readers see. */
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

int cmd_rollback(tool_settings *st, int argc, char **argv)
{
    const char *index = NULL;
    int steps = 0, to = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = (int)tool_parse_int("--steps", argv[++i], 1, 1000000);
        else if (strcmp(argv[i], "--to-version") == 0 && i + 1 < argc)
            to = (int)tool_parse_int("--to-version", argv[++i], 1, 1000000000);
        else
            tool_die_usage("rollback: unexpected argument \"%s\"", argv[i]);
    }
    if (!index)
        tool_die_usage("rollback needs --index NAME");
    tool_check_name("index name", index);
    if (steps && to)
        tool_die_usage("rollback takes --steps N or --to-version V, not both");
    if (!steps && !to)
        steps = 1;
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 0);
    if (ex)
        return ex;
    int from = 0, now = 0;
    int rrc = rp_index_active(c.state, &from, index);
    if (rrc != RP_OK) {
        ex = tool_state_error(&c, rrc, "index", index);
        tool_close(&c);
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
    tool_close(&c);
    return tool_exit_for(rc);
}

int cmd_history(tool_settings *st, int argc, char **argv)
{
    const char *index = NULL;
    int repair = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--repair") == 0)
            repair = 1;
        else
            tool_die_usage("history: unexpected argument \"%s\"", argv[i]);
    }
    if (!index)
        tool_die_usage("history needs --index NAME [--repair]");
    tool_check_name("index name", index);
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 0);
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
            tool_close(&c);
            return tool_exit_for(rc);
        }
        if (aside[0])
            fprintf(stderr, "ragctl: the damaged history was set aside as %s\n", aside);
        fprintf(stderr, "ragctl: history of %s repaired from the collections: %zu change(s)\n",
                index, changes);
    }
    char *text = NULL;
    int rc = rp_index_read(c.state, &text, index);
    if (rc != RP_OK) {
        ex = tool_state_error(&c, rc, "index", index);
        if (rc == RP_ECORRUPT)
            fprintf(stderr,
                    "ragctl: 'ragctl history --index %s --repair' rebuilds it from the "
                    "collections\n",
                    index);
        tool_close(&c);
        return ex;
    }
    /* What readers see: an error reading it is an error, never "(none)". */
    char alias[256], live[256] = "";
    snprintf(alias, sizeof alias, "%s_%s_active", st->prefix, index);
    qdrant_alias_list *al = NULL;
    int qrc = qdrant_alias_list_get(&al, c.q);
    if (qrc) {
        fprintf(stderr, "ragctl: reading the aliases: %s (%s)\n", qdrant_strerror(qrc),
                qdrant_client_errmsg(c.q));
        free(text);
        tool_close(&c);
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
    tool_close(&c);
    return EX_OK;
}

static void on_gc(void *ud, int version, const char *collection, const char *what)
{
    tool_settings *st = ud;
    if (st->json)
        return;
    if (strncmp(what, "kept", 4) == 0 || strncmp(what, "abandoned", 9) == 0)
        printf("%s (v%d): %s\n", collection, version, what);
    else
        printf("deleted %s (v%d, %s)\n", collection, version, what);
}

int cmd_gc(tool_settings *st, int argc, char **argv)
{
    const char *index = NULL;
    int keep = -1;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc)
            keep = (int)tool_parse_int("--keep", argv[++i], 1, 1000000);
        else
            tool_die_usage("gc: unexpected argument \"%s\"", argv[i]);
    }
    if (!index || keep < 1)
        tool_die_usage("gc needs --index NAME --keep N (N >= 1)");
    tool_check_name("index name", index);
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 0);
    if (ex)
        return ex;
    int active = 0;
    int rc = rp_index_active(c.state, &active, index);
    if (rc != RP_OK) {
        ex = tool_state_error(&c, rc, "index", index);
        tool_close(&c);
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
    tool_close(&c);
    return tool_exit_for(rc);
}

int cmd_query(tool_settings *st, int argc, char **argv)
{
    const char *index = NULL, *text = NULL;
    int k = 5;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--index") == 0 && i + 1 < argc)
            index = argv[++i];
        else if (strcmp(argv[i], "-k") == 0 && i + 1 < argc)
            k = (int)tool_parse_int("-k", argv[++i], 1, 1000);
        else if (strcmp(argv[i], "--") == 0 && i + 1 < argc && !text)
            text = argv[++i]; /* a query that starts with '-' */
        else if (argv[i][0] != '-' && !text)
            text = argv[i];
        else
            tool_die_usage("query: unexpected argument \"%s\"%s", argv[i],
                           argv[i][0] == '-' ? " (a query starting with '-' goes after --)" : "");
    }
    if (!index || !text)
        tool_die_usage("query needs --index NAME [--] \"text\"");
    tool_check_name("index name", index);
    tool_ctx c;
    int ex = tool_open(&c, st, 1, 1);
    if (ex)
        return ex;
    float *v = NULL;
    const char *texts[1] = {text};
    int rc = rp_embed_batch(c.emb, &v, texts, 1);
    if (rc) {
        fprintf(stderr, "ragctl: embedding the query: %s\n", rp_embedder_errmsg(c.emb));
        tool_close(&c);
        return tool_exit_for(rc);
    }
    char alias[256];
    snprintf(alias, sizeof alias, "%s_%s_active", st->prefix, index);
    qdrant_query_options qo = QDRANT_QUERY_OPTIONS_INIT;
    qo.limit = (uint32_t)k;
    qdrant_point_list *hits = NULL;
    int qrc = qdrant_point_query(&hits, c.q, alias, v, rp_embedder_dim(c.emb), &qo);
    free(v);
    if (qrc) {
        fprintf(stderr, "ragctl: query %s: %s (%s)\n", alias, qdrant_strerror(qrc),
                qdrant_client_errmsg(c.q));
        tool_close(&c);
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
    tool_close(&c);
    return EX_OK;
}
