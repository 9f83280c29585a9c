/* Settings: flags win over the environment, which wins over the config file, which wins over
 * the defaults. The config file holds "key = value" lines ('#' comments); its values live as
 * long as the process. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "pipeline.h"
#include "tool.h"

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

/* Strict numbers: the whole text, in [lo, hi]; anything else is a usage error naming what. */
long tool_parse_int(const char *what, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = text && *text ? strtol(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < lo || v > hi)
        tool_die_usage("%s takes a whole number from %ld to %ld, not \"%s\"", what, lo, hi,
                       text ? text : "");
    return v;
}

/* QDRANT_URL with any user:password@ masked, for printing. */
void tool_mask_url(char *out, size_t cap, const char *url)
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
            fprintf(stderr, "%s: config %s: %s\n", tool_name, path, strerror(errno));
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
            fprintf(stderr, "%s: %s:%d: want key = value\n", tool_name, path, lineno);
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
            fprintf(stderr, "%s: %s:%d: unknown key \"%s\"\n", tool_name, path, lineno, p);
            fclose(f);
            return -1;
        }
        vals[k] = strdup(v);
    }
    fclose(f);
    return 0;
}

int tool_settings_load(tool_settings *st, int argc, char **argv, const char *default_config)
{
    memset(st, 0, sizeof *st);
    static const char *conf[NCONF]; /* static: the values live as long as the process */
    const char *conf_path = getenv("RAG_CONFIG");
    int conf_required = conf_path != NULL;
    for (int k = 1; k + 1 < argc; k++)
        if (strcmp(argv[k], "--config") == 0) {
            conf_path = argv[k + 1];
            conf_required = 1;
        }
    if (!conf_path)
        conf_path = default_config;
    if (read_config(conf_path, conf, conf_required) != 0)
        return EX_CONFIG;
    if (conf_required || access(conf_path, R_OK) == 0)
        st->config = conf_path;
#define SETTING(env, idx, def) env_or(env, conf[idx] ? conf[idx] : (def))
    st->state_dir = SETTING("RAG_STATE_DIR", 0, ".ragctl");
    st->qdrant_url = SETTING("QDRANT_URL", 1, NULL);
    st->api_key = SETTING("QDRANT_API_KEY", 2, NULL);
    st->embedder = SETTING("RAG_EMBEDDER", 3, "hash");
    st->dim_text = SETTING("RAG_EMBED_DIM", 4, "384");
    st->embed_url = SETTING("RAG_EMBED_URL", 5, NULL);
    st->embed_model = SETTING("RAG_EMBED_MODEL", 6, NULL);
    st->embed_key = SETTING("RAG_EMBED_API_KEY", 7, NULL);
    st->prefix = SETTING("RAG_PREFIX", 8, "rag");
    st->docs = SETTING("RAG_DOCS_DIR", 9, "docs");
    st->smoke_file = SETTING("RAG_SMOKE_QUERIES", 10, NULL);
#undef SETTING
    st->color = isatty(2) && !getenv("NO_COLOR");
    return EX_OK;
}

void tool_settings_check(tool_settings *st)
{
    st->dim = (size_t)tool_parse_int("RAG_EMBED_DIM", st->dim_text, 8, 65536);
    tool_check_name("RAG_PREFIX", st->prefix);
}

void tool_check_name(const char *what, const char *name)
{
    if (!rp_name_valid(name))
        tool_die_usage("%s \"%s\" is invalid: use 1-64 of [a-z0-9_-]", what, name);
}
