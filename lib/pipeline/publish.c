/* What readers see: the promote step moves the alias to a checked build, rollback moves it back
 * to an earlier promoted version. Both move it only to this deployment's collections, check
 * before and after, and put it back when the check after fails. */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps.h"
#include "owner.h"

/* A collection the alias may be moved off: this deployment's (any version of this index), or
 * one made before ownership was recorded whose version this index's history knows. */
static int alias_holder_ours(rp_state *s, const rp_build_config *cfg, const char *holder, char *err,
                             size_t errlen)
{
    char head[200];
    int hn = snprintf(head, sizeof head, "%s_%s_v", rp_prefix_of(cfg), cfg->index);
    int v = strncmp(holder, head, (size_t)hn) == 0 ? atoi(holder + hn) : 0;
    char name[256];
    if (v < 1 || rp_collection_name(name, sizeof name, rp_prefix_of(cfg), cfg->index, v) != RP_OK ||
        strcmp(name, holder) != 0)
        return rp_err(err, errlen, RP_ESTATE,
                      "the alias %s_%s_active points at %s, which is not a version of this index: "
                      "nothing was changed (use another prefix)",
                      rp_prefix_of(cfg), cfg->index, holder);
    rp_owner o;
    int rc =
        rp_owner_read(&o, cfg->qdrant, holder, rp_state_deployment(s), cfg->index, v, err, errlen);
    if (rc)
        return rc;
    int known = o.state == RP_OWN_LEGACY && rp_version_state(s, cfg->index, v) >= 0;
    if (o.state == RP_OWN_MINE || o.state == RP_OWN_ABSENT || known ||
        (o.state == RP_OWN_LEGACY && qdrant_client_is_local(cfg->qdrant)))
        return RP_OK;
    char who[256];
    return rp_err(err, errlen, RP_ESTATE,
                  "the alias %s_%s_active points at %s, %s: it is not this deployment's, so it "
                  "is not moved (use another prefix)",
                  rp_prefix_of(cfg), cfg->index, holder, rp_owner_describe(&o, who, sizeof who));
}

int rp_step_promote(rp_state *s, const char *run_id, const rp_build_config *cfg,
                    const char *collection, int version, char *err, size_t errlen)
{
    qdrant_client *q = cfg->qdrant;
    char alias[256], prev[256], who[256];
    snprintf(alias, sizeof alias, "%s_%s_active", rp_prefix_of(cfg), cfg->index);
    rp_owner o;
    int rc =
        rp_owner_read(&o, q, collection, rp_state_deployment(s), cfg->index, version, err, errlen);
    if (rc)
        return rc;
    if (o.state != RP_OWN_MINE || strcmp(o.run_id, run_id) != 0)
        return rp_err(err, errlen, RP_ESTATE, "collection %s is not this run's (%s): not promoted",
                      collection, rp_owner_describe(&o, who, sizeof who));
    int qrc = rp_alias_target(prev, sizeof prev, q, alias);
    if (qrc)
        return rp_qerr(err, errlen, q, "reading the aliases", qrc);
    if (prev[0] && strcmp(prev, collection) != 0 &&
        (rc = alias_holder_ours(s, cfg, prev, err, errlen)))
        return rc;
    if ((rc = rp_alias_move(q, alias, collection, prev, err, errlen)))
        return rc;
    rc = rp_index_set_state(s, cfg->index, version, RP_V_PROMOTED);
    if (rc) {
        /* History could not say so: readers must not stay on a version it does not know as
         * promoted. */
        char e2[512];
        snprintf(e2, sizeof e2, "%s", rp_state_errmsg(s));
        int back = rp_q_alias_switch(q, alias, prev);
        return rp_err(err, errlen, rc, "recording the promotion: %s; the alias %s", e2,
                      back ? "could NOT be put back" : "was put back");
    }
    if (rp_q_stamp(q, collection, "promoted") != QDRANT_OK)
        rp_progress(cfg, "promote", "warning: could not record the promotion in %s's metadata: %s",
                    collection, qdrant_client_errmsg(q));
    rp_progress(cfg, "promote", "%s -> %s (version %d is active)", alias, collection, version);
    return RP_OK;
}

int rp_rollback(int *out_version, rp_state *s, qdrant_client *q, const char *prefix,
                const char *index, int steps, int to_version, char *err, size_t errlen)
{
    if (!out_version || !s || !q || !index || (steps < 1 && to_version <= 0) ||
        (steps > 0 && to_version > 0))
        return rp_err(err, errlen, RP_EINVAL,
                      "roll back by a number of steps (>= 1) or to a "
                      "version (>= 1)");
    if (!prefix || !*prefix)
        prefix = "rag";
    rp_vrec *vs = NULL;
    size_t nv = 0;
    int active = 0;
    int rc = rp_read_versions(s, index, &vs, &nv, &active, err, errlen);
    if (rc == RP_ENOTFOUND)
        return rp_err(err, errlen, RP_ENOTFOUND, "index %s is unknown", index);
    if (rc)
        return rc;
    /* Promoted versions, oldest first; the active one is the newest of them. */
    int *pv = malloc((nv ? nv : 1) * sizeof *pv), n = 0, pos = -1;
    if (!pv) {
        free(vs);
        return rp_err(err, errlen, RP_ENOMEM, "out of memory");
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
        rc = rp_err(err, errlen, RP_ENOTFOUND, "index %s has no active version", index);
    else if (to_version > 0) {
        for (int i = 0; i < pos; i++)
            if (pv[i] == to_version)
                target = to_version;
        if (!target)
            rc = rp_err(err, errlen, RP_EINVAL,
                        "version %d is not an earlier promoted (complete, not rolled back) version "
                        "of %s",
                        to_version, index);
    } else if (pos - steps < 0) {
        rc = rp_err(err, errlen, RP_EINVAL,
                    "cannot roll back %d step(s): %s has %d earlier promoted version(s)", steps,
                    index, pos);
    } else {
        target = pv[pos - steps];
    }
    char collection[256], alias[256], current[256], who[256];
    if (rc == RP_OK &&
        rp_collection_name(collection, sizeof collection, prefix, index, target) != RP_OK)
        rc = rp_err(err, errlen, RP_EINVAL, "bad collection name");
    rp_owner o;
    if (rc == RP_OK)
        rc = rp_owner_read(&o, q, collection, rp_state_deployment(s), index, target, err, errlen);
    if (rc == RP_OK && o.state == RP_OWN_ABSENT)
        rc = rp_err(err, errlen, RP_ENOTFOUND, "collection %s of version %d is gone", collection,
                    target);
    if (rc == RP_OK && !rp_owner_ours(&o, q) && o.state != RP_OWN_LEGACY)
        rc = rp_err(err, errlen, RP_ESTATE,
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
            rp_err(err, errlen, rc, "recording the rollback: %s; the alias %s", e2,
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
