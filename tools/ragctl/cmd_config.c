/* ragctl config: the settings in force, secrets masked. */
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

static json_object *jstr_or_null(const char *v)
{
    return v ? json_object_new_string(v) : NULL;
}

int cmd_config(tool_settings *st, int argc, char **argv)
{
    (void)argc, (void)argv; /* (extra arguments are ignored) */
    const char *masked = st->api_key ? "********" : "(none)";
    const char *emasked = st->embed_key ? "********" : "(none)";
    /* credentials inside a URL (http://user:pass@host) are secrets too */
    char qurl[PATH_MAX] = "", eurl[PATH_MAX] = "";
    if (st->qdrant_url)
        tool_mask_url(qurl, sizeof qurl, st->qdrant_url);
    if (st->embed_url)
        tool_mask_url(eurl, sizeof eurl, st->embed_url);
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
