/* Reading the state's JSON back in the pipeline's state tests (header-only). */
#ifndef TEST_STATE_JSON_H
#define TEST_STATE_JSON_H

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static inline json_object *jparse(const char *t)
{
    return t ? json_tokener_parse(t) : NULL;
}

/* Dotted path with array indexes ("steps.1.status"): the value's text, "null" for a JSON null,
 * NULL when the path does not exist. */
static inline const char *jget(json_object *j, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_object *cur = j;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, ".")) {
        if (json_object_is_type(cur, json_type_array)) {
            if ((size_t)atoi(tok) >= json_object_array_length(cur))
                return NULL;
            cur = json_object_array_get_idx(cur, (size_t)atoi(tok));
        } else if (!json_object_object_get_ex(cur, tok, &cur)) {
            return NULL;
        }
    }
    return cur ? json_object_get_string(cur) : "null";
}

static inline json_object *read_run(rp_state *s, const char *id)
{
    char *t = NULL;
    if (rp_run_read(s, &t, id))
        return NULL;
    json_object *j = jparse(t);
    free(t);
    return j;
}

static inline json_object *read_index(rp_state *s, const char *index)
{
    char *t = NULL;
    if (rp_index_read(s, &t, index))
        return NULL;
    json_object *j = jparse(t);
    free(t);
    return j;
}

#endif
