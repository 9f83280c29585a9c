/* An index's versions after they are built: garbage collection, and rebuilding the history
 * from the server's collections (rollback is beside promote, in publish.c). Every change is checked
 * against the collections' ownership metadata (owner.h): nothing here moves the alias to, or
 * deletes, a collection that is not this deployment's. */
#include "steps.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owner.h"

int rp_read_versions(rp_state *s, const char *index, rp_vrec **out, size_t *n, int *active,
                     char *err, size_t errlen)
{
    char *text = NULL;
    int rc = rp_index_read(s, &text, index);
    if (rc)
        return rp_err(err, errlen, rc, "%s", rp_state_errmsg(s));
    json_object *o = json_tokener_parse(text), *vs, *a;
    free(text);
    size_t len =
        o && json_object_object_get_ex(o, "versions", &vs) ? json_object_array_length(vs) : 0;
    rp_vrec *v = calloc(len ? len : 1, sizeof *v);
    if (!v) {
        json_object_put(o);
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < len; i++) {
        json_object *e = json_object_array_get_idx(vs, i), *f;
        json_object_object_get_ex(e, "version", &f);
        v[i].version = json_object_get_int(f);
        v[i].state = -1;
        if (json_object_object_get_ex(e, "state", &f))
            for (int k = 0; k < 4; k++)
                if (!strcmp(json_object_get_string(f), rp_vstate_name(k)))
                    v[i].state = k;
        if (json_object_object_get_ex(e, "run_id", &f) && json_object_is_type(f, json_type_string))
            snprintf(v[i].run_id, sizeof v[i].run_id, "%s", json_object_get_string(f));
    }
    *active = o && json_object_object_get_ex(o, "active", &a) && a ? json_object_get_int(a) : 0;
    json_object_put(o);
    *out = v;
    *n = len;
    return RP_OK;
}

int rp_version_state(rp_state *s, const char *index, int version)
{
    rp_vrec *vs = NULL;
    size_t n = 0;
    int active = 0, st = -1;
    if (rp_read_versions(s, index, &vs, &n, &active, NULL, 0) != RP_OK)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (vs[i].version == version)
            st = vs[i].state;
    free(vs);
    return st;
}

int rp_history_repair(rp_state *s, qdrant_client *q, const char *prefix, const char *index,
                      size_t *changes, char *aside, size_t asidecap, char *err, size_t errlen)
{
    if (!s || !q || !index)
        return rp_err(err, errlen, RP_EINVAL, "invalid arguments");
    if (!prefix || !*prefix)
        prefix = "rag";
    int floor = 1;
    int rc = rp_versions_floor(&floor, q, prefix, index, err, errlen);
    if (rc)
        return rc;
    char alias[256], live[256];
    snprintf(alias, sizeof alias, "%s_%s_active", prefix, index);
    int qrc = rp_alias_target(live, sizeof live, q, alias);
    if (qrc)
        return rp_qerr(err, errlen, q, "reading the aliases", qrc);
    rp_found_version *found = calloc((size_t)floor, sizeof *found);
    rp_owner *owners = calloc((size_t)floor, sizeof *owners);
    size_t n = 0;
    int active = 0;
    if (!found || !owners)
        rc = rp_err(err, errlen, RP_ENOMEM, "out of memory");
    for (int v = 1; rc == RP_OK && v < floor; v++) {
        char c[256];
        if (rp_collection_name(c, sizeof c, prefix, index, v) != RP_OK)
            continue;
        rp_owner *o = &owners[n];
        rc = rp_owner_read(o, q, c, rp_state_deployment(s), index, v, err, errlen);
        if (rc || o->state != RP_OWN_MINE)
            continue; /* only what the metadata proves is ours */
        int alive = 0;
        if (o->run_id[0] && rp_name_valid(o->run_id))
            rp_run_alive(s, &alive, o->run_id);
        found[n].version = v;
        found[n].run_id = rp_name_valid(o->run_id) ? o->run_id : NULL;
        found[n].vstate = o->rolled_back_ms ? RP_V_ROLLED_BACK
                          : o->promoted_ms  ? RP_V_PROMOTED
                          : alive           ? RP_V_BUILDING
                                            : RP_V_FAILED;
        if (!strcmp(live, c))
            active = v;
        n++;
    }
    size_t ch = 0;
    if (rc == RP_OK) {
        rc = rp_index_repair(s, &ch, aside, asidecap, index, found, n, active);
        if (rc)
            rp_err(err, errlen, rc, "%s", rp_state_errmsg(s));
    }
    free(found);
    free(owners);
    if (rc == RP_OK && changes)
        *changes = ch;
    return rc;
}

int rp_gc(size_t *deleted, rp_state *s, qdrant_client *q, const char *prefix, const char *index,
          int keep, rp_gc_fn fn, void *ud, char *err, size_t errlen)
{
    if (!s || !q || !index || keep < 1)
        return rp_err(err, errlen, RP_EINVAL, "gc keeps at least one version");
    if (!prefix || !*prefix)
        prefix = "rag";
    rp_state_sweep(s, NULL, NULL);
    rp_vrec *vs = NULL;
    size_t nv = 0, gone = 0;
    int active = 0, rc = rp_read_versions(s, index, &vs, &nv, &active, err, errlen), failures = 0;
    if (rc)
        return rc;
    char ferr[1024] = "";
    for (size_t i = 0; i < nv; i++) {
        rp_vrec *v = &vs[i];
        char coll[256], who[256];
        if (rp_collection_name(coll, sizeof coll, prefix, index, v->version) != RP_OK)
            continue;
        if (v->state == RP_V_BUILDING) {
            /* Still being built, unless its run's process is gone. */
            int alive = 1;
            if (!v->run_id[0] || rp_run_alive(s, &alive, v->run_id) != RP_OK)
                alive = v->run_id[0] != 0; /* unreadable: assume alive, never collect it */
            if (alive) {
                if (fn)
                    fn(ud, v->version, coll, "kept: still building");
                continue;
            }
            if (rp_index_set_state(s, index, v->version, RP_V_FAILED) == RP_OK) {
                v->state = RP_V_FAILED;
                if (v->run_id[0]) {
                    rp_run_event(s, v->run_id, "abandoned", NULL,
                                 "its process is gone: gc marked its version failed");
                    rp_run_set_status(s, v->run_id, RP_FAILED,
                                      "abandoned: its process ended before the run did");
                }
                if (fn)
                    fn(ud, v->version, coll, "abandoned build: marked failed");
            }
        }
        if (v->version == active || i + (size_t)keep >= nv || v->state == RP_V_BUILDING)
            continue;
        rp_owner o;
        char oerr[512];
        if (rp_owner_read(&o, q, coll, rp_state_deployment(s), index, v->version, oerr,
                          sizeof oerr) != RP_OK) {
            failures++;
            snprintf(ferr, sizeof ferr, "%s: %s", coll, oerr);
            continue;
        }
        if (o.state == RP_OWN_ABSENT)
            continue;
        if (!rp_owner_ours(&o, q)) {
            char what[320];
            snprintf(what, sizeof what, "kept: %s", rp_owner_describe(&o, who, sizeof who));
            if (fn)
                fn(ud, v->version, coll, what);
            continue;
        }
        int existed = 0;
        int qrc = rp_q_delete(&existed, q, coll);
        if (qrc) {
            failures++;
            rp_qerr(ferr, sizeof ferr, q, coll, qrc);
        } else if (existed) {
            gone++;
            if (fn)
                fn(ud, v->version, coll, rp_vstate_name(v->state));
        }
    }
    free(vs);
    if (deleted)
        *deleted = gone;
    if (failures)
        return rp_err(err, errlen, RP_EQDRANT, "%d collection(s) could not be collected; %s",
                      failures, ferr);
    return RP_OK;
}
