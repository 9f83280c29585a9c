/* An index's versions after they are built: rollback, garbage collection, and rebuilding the
 * history from the server's collections. Every change is checked against the collections'
 * ownership metadata (owner.h): nothing here moves the alias to, or deletes, a collection that
 * is not this deployment's. */
#include "build.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owner.h"

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

typedef struct {
    int version, state; /* RP_V_* */
    char run_id[96];
} vrec;

/* The versions of an index's history, in recorded order; *active gets the active one. */
static int read_versions(rp_state *s, const char *index, vrec **out, size_t *n, int *active,
                         char *err, size_t errlen)
{
    char *text = NULL;
    int rc = rp_index_read(s, &text, index);
    if (rc)
        return fail(err, errlen, rc, "%s", rp_state_errmsg(s));
    json_object *o = json_tokener_parse(text), *vs, *a;
    free(text);
    size_t len =
        o && json_object_object_get_ex(o, "versions", &vs) ? json_object_array_length(vs) : 0;
    vrec *v = calloc(len ? len : 1, sizeof *v);
    if (!v) {
        json_object_put(o);
        return fail(err, errlen, RP_ENOMEM, "out of memory");
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

int rp_rollback(int *out_version, rp_state *s, qdrant_client *q, const char *prefix,
                const char *index, int steps, int to_version, char *err, size_t errlen)
{
    if (!out_version || !s || !q || !index || (steps < 1 && to_version <= 0) ||
        (steps > 0 && to_version > 0))
        return fail(err, errlen, RP_EINVAL,
                    "roll back by a number of steps (>= 1) or to a "
                    "version (>= 1)");
    if (!prefix || !*prefix)
        prefix = "rag";
    vrec *vs = NULL;
    size_t nv = 0;
    int active = 0;
    int rc = read_versions(s, index, &vs, &nv, &active, err, errlen);
    if (rc == RP_ENOTFOUND)
        return fail(err, errlen, RP_ENOTFOUND, "index %s is unknown", index);
    if (rc)
        return rc;
    /* Promoted versions, oldest first; the active one is the newest of them. */
    int *pv = malloc((nv ? nv : 1) * sizeof *pv), n = 0, pos = -1;
    if (!pv) {
        free(vs);
        return fail(err, errlen, RP_ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < nv; i++)
        if (vs[i].state == RP_V_PROMOTED) {
            if (vs[i].version == active)
                pos = n;
            pv[n++] = vs[i].version;
        }
    free(vs);
    int target = 0;
    if (active == 0 || pos < 0)
        rc = fail(err, errlen, RP_ENOTFOUND, "index %s has no active version", index);
    else if (to_version > 0) {
        for (int i = 0; i < pos; i++)
            if (pv[i] == to_version)
                target = to_version;
        if (!target)
            rc = fail(err, errlen, RP_EINVAL,
                      "version %d is not an earlier promoted (complete, not rolled back) version "
                      "of %s",
                      to_version, index);
    } else if (pos - steps < 0) {
        rc = fail(err, errlen, RP_EINVAL,
                  "cannot roll back %d step(s): %s has %d earlier promoted version(s)", steps,
                  index, pos);
    } else {
        target = pv[pos - steps];
    }
    char collection[256], alias[256], current[256], who[256];
    if (rc == RP_OK &&
        rp_collection_name(collection, sizeof collection, prefix, index, target) != RP_OK)
        rc = fail(err, errlen, RP_EINVAL, "bad collection name");
    rp_owner o;
    if (rc == RP_OK)
        rc = rp_owner_read(&o, q, collection, rp_state_deployment(s), index, target, err, errlen);
    if (rc == RP_OK && o.state == RP_OWN_ABSENT)
        rc = fail(err, errlen, RP_ENOTFOUND, "collection %s of version %d is gone", collection,
                  target);
    if (rc == RP_OK && !rp_owner_ours(&o, q) && o.state != RP_OWN_LEGACY)
        rc = fail(err, errlen, RP_ESTATE,
                  "collection %s is not this deployment's version %d (%s): the alias is not "
                  "moved to it",
                  collection, target, rp_owner_describe(&o, who, sizeof who));
    /* Check the target before any reader is sent to it. */
    if (rc == RP_OK && (rc = rp_collection_check(NULL, q, collection, err, errlen))) {
        size_t used = strlen(err);
        snprintf(err + used, errlen - used, "; version %d is not fit to serve: nothing changed",
                 target);
    }
    snprintf(alias, sizeof alias, "%s_%s_active", prefix, index);
    int qrc = rc == RP_OK ? rp_alias_target(current, sizeof current, q, alias) : QDRANT_OK;
    if (qrc)
        rc = rp_qerr(err, errlen, q, "reading the aliases", qrc);
    if (rc == RP_OK)
        rc = rp_alias_move(q, alias, collection, current, err, errlen);
    /* Record: each version above the target becomes rolled back, newest first. */
    for (int i = pos; rc == RP_OK && i >= 0 && pv[i] != target; i--) {
        rc = rp_index_set_state(s, index, pv[i], RP_V_ROLLED_BACK);
        if (rc) {
            char e2[512];
            snprintf(e2, sizeof e2, "%s", rp_state_errmsg(s));
            int back = rp_q_alias_switch(q, alias, current);
            fail(err, errlen, rc, "recording the rollback: %s; the alias %s", e2,
                 back ? "could NOT be put back" : "was put back");
        } else {
            char c2[256];
            if (rp_collection_name(c2, sizeof c2, prefix, index, pv[i]) == RP_OK)
                rp_q_stamp(q, c2, "rolled_back"); /* for rp_history_repair; best effort */
        }
    }
    free(pv);
    if (rc == RP_OK)
        *out_version = target;
    return rc;
}

int rp_history_repair(rp_state *s, qdrant_client *q, const char *prefix, const char *index,
                      size_t *changes, char *aside, size_t asidecap, char *err, size_t errlen)
{
    if (!s || !q || !index)
        return fail(err, errlen, RP_EINVAL, "invalid arguments");
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
        rc = fail(err, errlen, RP_ENOMEM, "out of memory");
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
            fail(err, errlen, rc, "%s", rp_state_errmsg(s));
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
        return fail(err, errlen, RP_EINVAL, "gc keeps at least one version");
    if (!prefix || !*prefix)
        prefix = "rag";
    rp_state_sweep(s, NULL, NULL);
    vrec *vs = NULL;
    size_t nv = 0, gone = 0;
    int active = 0, rc = read_versions(s, index, &vs, &nv, &active, err, errlen), failures = 0;
    if (rc)
        return rc;
    char ferr[1024] = "";
    for (size_t i = 0; i < nv; i++) {
        vrec *v = &vs[i];
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
        return fail(err, errlen, RP_EQDRANT, "%d collection(s) could not be collected; %s",
                    failures, ferr);
    return RP_OK;
}
