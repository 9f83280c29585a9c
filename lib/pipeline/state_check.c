/* Every state file read is checked for the types its readers rely on: a file that parses but
 * does not hold them is damaged, never "missing" (state.c's load calls these). */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "state_int.h"

enum { T_NULL = 1, T_STR = 2, T_INT = 4, T_OBJ = 8, T_ARR = 16, T_BOOL = 32 };

static int type_ok(json_object *v, int types)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return types & T_NULL;
    case json_type_string:
        return types & T_STR;
    case json_type_int:
        return types & T_INT;
    case json_type_object:
        return types & T_OBJ;
    case json_type_array:
        return types & T_ARR;
    case json_type_boolean:
        return types & T_BOOL;
    default:
        return 0;
    }
}

/* 1 when o has key with one of types; else writes why. A missing key counts as null. */
static int field_ok(json_object *o, const char *key, int types, const char *where, char *why,
                    size_t cap)
{
    json_object *v = NULL;
    int has = json_object_object_get_ex(o, key, &v);
    if ((!has && (types & T_NULL)) || (has && type_ok(v, types)))
        return 1;
    snprintf(why, cap, "%s\"%s\" is missing or of the wrong type", where, key);
    return 0;
}

static int name_in(json_object *o, const char *key, const char *const *names, int n)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(json_object_get_string(v), names[i]))
            return i;
    return -1;
}

int rp_run_valid_(json_object *run, char *why, size_t cap)
{
    json_object *a;
    if (!field_ok(run, "run_id", T_STR, "", why, cap) ||
        !field_ok(run, "index", T_STR, "", why, cap) ||
        !field_ok(run, "status", T_STR, "", why, cap) ||
        !field_ok(run, "created_ms", T_INT, "", why, cap) ||
        !field_ok(run, "updated_ms", T_INT | T_NULL, "", why, cap) ||
        !field_ok(run, "finished_ms", T_INT | T_NULL, "", why, cap) ||
        !field_ok(run, "params", T_OBJ, "", why, cap) ||
        !field_ok(run, "version", T_INT | T_NULL, "", why, cap) ||
        !field_ok(run, "error", T_STR | T_NULL, "", why, cap) ||
        !field_ok(run, "steps", T_ARR, "", why, cap) ||
        !field_ok(run, "replays", T_ARR | T_NULL, "", why, cap) ||
        !field_ok(run, "artifacts", T_OBJ, "", why, cap) ||
        !field_ok(run, "events", T_ARR, "", why, cap))
        return 0;
    if (name_in(run, "status", rp_status_names_, 4) < 0) {
        snprintf(why, cap, "unknown run status");
        return 0;
    }
    json_object_object_get_ex(run, "steps", &a);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *st = json_object_array_get_idx(a, i);
        if (!json_object_is_type(st, json_type_object) ||
            !field_ok(st, "name", T_STR, "a step's ", why, cap) ||
            !field_ok(st, "status", T_STR, "a step's ", why, cap) ||
            !field_ok(st, "attempts", T_INT, "a step's ", why, cap) ||
            !field_ok(st, "started_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "finished_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "duration_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "cpu_ms", T_INT | T_NULL, "a step's ", why, cap) ||
            !field_ok(st, "error", T_STR | T_NULL, "a step's ", why, cap)) {
            if (!json_object_is_type(st, json_type_object))
                snprintf(why, cap, "a step is not an object");
            return 0;
        }
        if (name_in(st, "status", rp_status_names_, 6) < 0) {
            snprintf(why, cap, "unknown step status");
            return 0;
        }
    }
    json_object_object_get_ex(run, "events", &a);
    for (size_t i = 0; i < json_object_array_length(a); i++) {
        json_object *ev = json_object_array_get_idx(a, i);
        if (!json_object_is_type(ev, json_type_object) ||
            !field_ok(ev, "t_ms", T_INT, "an event's ", why, cap) ||
            !field_ok(ev, "type", T_STR, "an event's ", why, cap) ||
            !field_ok(ev, "step", T_STR | T_NULL, "an event's ", why, cap) ||
            !field_ok(ev, "msg", T_STR | T_NULL, "an event's ", why, cap)) {
            if (!json_object_is_type(ev, json_type_object))
                snprintf(why, cap, "an event is not an object");
            return 0;
        }
    }
    json_object_object_get_ex(run, "artifacts", &a);
    json_object_object_foreach(a, key, art)
    {
        (void)key;
        if (!json_object_is_type(art, json_type_object) ||
            !field_ok(art, "file", T_STR, "an artifact's ", why, cap) ||
            !field_ok(art, "hash", T_STR, "an artifact's ", why, cap) ||
            !field_ok(art, "bytes", T_INT, "an artifact's ", why, cap) ||
            !field_ok(art, "records", T_INT | T_NULL, "an artifact's ", why, cap) ||
            !field_ok(art, "step", T_STR | T_NULL, "an artifact's ", why, cap) ||
            !field_ok(art, "params", T_OBJ | T_NULL, "an artifact's ", why, cap) ||
            !field_ok(art, "params_hash", T_STR, "an artifact's ", why, cap)) {
            if (!json_object_is_type(art, json_type_object))
                snprintf(why, cap, "an artifact is not an object");
            return 0;
        }
    }
    return 1;
}

int rp_index_valid_(json_object *idx, char *why, size_t cap)
{
    json_object *vs, *n;
    if (!field_ok(idx, "index", T_STR, "", why, cap) ||
        !field_ok(idx, "next_version", T_INT, "", why, cap) ||
        !field_ok(idx, "active", T_INT | T_NULL, "", why, cap) ||
        !field_ok(idx, "versions", T_ARR, "", why, cap))
        return 0;
    json_object_object_get_ex(idx, "next_version", &n);
    if (json_object_get_int64(n) < 1 || json_object_get_int64(n) > RP_MAX_VERSION + 1) {
        snprintf(why, cap, "next_version out of 1..%d", RP_MAX_VERSION + 1);
        return 0;
    }
    json_object_object_get_ex(idx, "versions", &vs);
    for (size_t i = 0; i < json_object_array_length(vs); i++) {
        json_object *e = json_object_array_get_idx(vs, i);
        if (!json_object_is_type(e, json_type_object) ||
            !field_ok(e, "version", T_INT, "a version's ", why, cap) ||
            !field_ok(e, "run_id", T_STR | T_NULL, "a version's ", why, cap) ||
            !field_ok(e, "state", T_STR, "a version's ", why, cap) ||
            !field_ok(e, "created_ms", T_INT | T_NULL, "a version's ", why, cap) ||
            !field_ok(e, "updated_ms", T_INT | T_NULL, "a version's ", why, cap)) {
            if (!json_object_is_type(e, json_type_object))
                snprintf(why, cap, "a version is not an object");
            return 0;
        }
        if (name_in(e, "state", rp_vstate_names_, 4) < 0) {
            snprintf(why, cap, "unknown version state");
            return 0;
        }
        json_object *v;
        json_object_object_get_ex(e, "version", &v);
        if (json_object_get_int64(v) < 1 || json_object_get_int64(v) > RP_MAX_VERSION) {
            snprintf(why, cap, "a version out of 1..%d", RP_MAX_VERSION);
            return 0;
        }
    }
    return 1;
}
