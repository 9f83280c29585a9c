/* An index's record (indexes/<index>.json): reserving versions, their states, the active
 * version, and rebuilding the record from versions found elsewhere. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "state_int.h"

/* ---- indexes ---- */

static json_object *find_version(json_object *idx, int v)
{
    json_object *vs, *n;
    if (!json_object_object_get_ex(idx, "versions", &vs))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(vs); i++) {
        json_object *e = json_object_array_get_idx(vs, i);
        if (json_object_object_get_ex(e, "version", &n) && json_object_get_int(n) == v)
            return e;
    }
    return NULL;
}

int rp_index_reserve(rp_state *s, int *out_version, const char *index, const char *run_id)
{
    return rp_index_reserve_from(s, out_version, index, run_id, 1);
}

static json_object *new_index(const char *index)
{
    json_object *idx = json_object_new_object();
    json_object_object_add(idx, "index", rp_jstr_(index));
    json_object_object_add(idx, "next_version", json_object_new_int(1));
    json_object_object_add(idx, "active", NULL);
    json_object_object_add(idx, "versions", json_object_new_array());
    return idx;
}

int rp_index_reserve_from(rp_state *s, int *out_version, const char *index, const char *run_id,
                          int min_version)
{
    if (!s || !out_version)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    if (run_id && !rp_name_valid(run_id))
        return SFAIL(s, RP_EINVAL, "invalid run id");
    if ((rc = rp_state_lock_(s)))
        return rc;
    json_object *idx = NULL, *vs, *n;
    rc = rp_state_load_(s, &idx, path, K_INDEX);
    if (rc == RP_ENOTFOUND) {
        idx = new_index(index);
        rc = RP_OK;
    }
    if (rc)
        goto out;
    if (!json_object_object_get_ex(idx, "next_version", &n) ||
        !json_object_object_get_ex(idx, "versions", &vs) || json_object_get_int(n) < 1) {
        rc = SFAIL(s, RP_ECORRUPT, "%s: bad index state", path);
        goto out;
    }
    int v = json_object_get_int(n);
    if (v < min_version) /* numbers whose collections exist already are never handed out */
        v = min_version;
    if (v > RP_MAX_VERSION) {
        rc = SFAIL(s, RP_ESTATE, "%s: no version number left (%d is the last)", path,
                   RP_MAX_VERSION);
        goto out;
    }
    int64_t now = rc_wall_ms();
    json_object *e = json_object_new_object();
    json_object_object_add(e, "version", json_object_new_int(v));
    json_object_object_add(e, "run_id", rp_jstr_(run_id));
    json_object_object_add(e, "state", rp_jstr_("building"));
    json_object_object_add(e, "created_ms", json_object_new_int64(now));
    json_object_object_add(e, "updated_ms", json_object_new_int64(now));
    json_object_array_add(vs, e);
    json_object_object_add(idx, "next_version", json_object_new_int(v + 1));
    if ((rc = rp_state_save_(s, path, idx)) == RP_OK)
        *out_version = v;
out:
    json_object_put(idx);
    rp_state_unlock_(s);
    return rc;
}

static int vstate_of(json_object *e)
{
    json_object *st;
    if (!json_object_object_get_ex(e, "state", &st))
        return -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(json_object_get_string(st), rp_vstate_names_[i]))
            return i;
    return -1;
}

int rp_index_repair(rp_state *s, size_t *out_changes, char *aside, size_t asidecap,
                    const char *index, const rp_found_version *found, size_t n, int active)
{
    if (!s || (n && !found) || active < 0)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        if (found[i].version < 1 || found[i].version > RP_MAX_VERSION ||
            !rp_vstate_name(found[i].vstate) ||
            (found[i].run_id && !rp_name_valid(found[i].run_id)))
            return SFAIL(s, RP_EINVAL, "bad version to repair");
    if (aside && asidecap)
        aside[0] = 0;
    if ((rc = rp_state_lock_(s)))
        return rc;
    size_t changes = 0;
    json_object *idx = NULL, *vs, *nv;
    rc = rp_state_load_(s, &idx, path, K_INDEX);
    int damaged = rc == RP_ECORRUPT; /* set aside when the new history is saved, not before */
    if (damaged) {
        changes++;
        rc = RP_ENOTFOUND;
    }
    if (rc == RP_ENOTFOUND) {
        idx = new_index(index);
        rc = RP_OK;
    }
    if (rc)
        goto out;
    json_object_object_get_ex(idx, "versions", &vs);
    json_object_object_get_ex(idx, "next_version", &nv);
    int next = json_object_get_int(nv);
    int64_t now = rc_wall_ms();
    for (size_t i = 0; i < n; i++) {
        json_object *e = find_version(idx, found[i].version);
        if (!e) {
            e = json_object_new_object();
            json_object_object_add(e, "version", json_object_new_int(found[i].version));
            json_object_object_add(e, "run_id", rp_jstr_(found[i].run_id));
            json_object_object_add(e, "state", rp_jstr_(rp_vstate_name(found[i].vstate)));
            json_object_object_add(e, "created_ms", json_object_new_int64(now));
            json_object_object_add(e, "updated_ms", json_object_new_int64(now));
            json_object_object_add(e, "repaired", json_object_new_boolean(1));
            json_object_array_add(vs, e);
            changes++;
        }
        if (found[i].version >= next)
            next = found[i].version + 1;
    }
    /* Keep the versions in order (added ones may fall between recorded ones). */
    size_t nvs = json_object_array_length(vs);
    for (size_t i = 1; i < nvs; i++)
        for (size_t j = i; j > 0; j--) {
            json_object *a = json_object_array_get_idx(vs, j - 1),
                        *b = json_object_array_get_idx(vs, j), *va, *vb;
            json_object_object_get_ex(a, "version", &va);
            json_object_object_get_ex(b, "version", &vb);
            if (json_object_get_int(va) <= json_object_get_int(vb))
                break;
            json_object_get(a);
            json_object_get(b);
            json_object_array_put_idx(vs, j - 1, b);
            json_object_array_put_idx(vs, j, a);
        }
    if (next != json_object_get_int(nv)) {
        json_object_object_add(idx, "next_version", json_object_new_int(next));
        changes++;
    }
    /* What readers see (the alias) is the truth about which version is active. */
    json_object *a;
    int cur = json_object_object_get_ex(idx, "active", &a) && a ? json_object_get_int(a) : 0;
    json_object *ae = active ? find_version(idx, active) : NULL;
    if (active && !ae) {
        rc = SFAIL(s, RP_EINVAL, "the active version %d is not among the versions", active);
        goto out;
    }
    if (ae && vstate_of(ae) != RP_V_PROMOTED) {
        json_object_object_add(ae, "state", rp_jstr_("promoted"));
        json_object_object_add(ae, "updated_ms", json_object_new_int64(now));
        changes++;
    }
    if (cur != active) {
        json_object_object_add(idx, "active", active ? json_object_new_int(active) : NULL);
        changes++;
    }
    if (damaged) {
        /* Set the damaged file aside (never delete what a person may want to look at), under a
         * name no file has yet. */
        char moved[4300];
        int64_t ms = rc_wall_ms();
        for (int k = 0;; k++, ms++) {
            snprintf(moved, sizeof moved, "%s.damaged-%lld", path, (long long)ms);
            if (access(moved, F_OK) < 0 || k == 1000)
                break;
        }
        if (rename(path, moved) < 0) {
            rc = SFAIL(s, RP_EIO, "rename %s: %s", path, strerror(errno));
            goto out;
        }
        if (aside && asidecap)
            snprintf(aside, asidecap, "%s", moved);
    }
    if (changes)
        rc = rp_state_save_(s, path, idx);
    if (rc == RP_OK && out_changes)
        *out_changes = changes;
out:
    json_object_put(idx);
    rp_state_unlock_(s);
    return rc;
}

int rp_index_set_state(rp_state *s, const char *index, int version, int vstate)
{
    if (!s)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    if (!rp_vstate_name(vstate))
        return SFAIL(s, RP_EINVAL, "bad version state");
    if ((rc = rp_state_lock_(s)))
        return rc;
    json_object *idx = NULL, *a;
    if ((rc = rp_state_load_(s, &idx, path, K_INDEX)))
        goto out;
    json_object *e = find_version(idx, version);
    if (!e) {
        rc = SFAIL(s, RP_ENOTFOUND, "index %s has no version %d", index, version);
        goto out;
    }
    int cur = vstate_of(e);
    int active = json_object_object_get_ex(idx, "active", &a) && a ? json_object_get_int(a) : 0;
    if (vstate == RP_V_BUILDING) { /* a replay of a failed run revives its version */
        if (cur != RP_V_FAILED) {
            rc = SFAIL(s, RP_ESTATE, "version %d is %s, not failed", version,
                       rp_vstate_name(cur) ? rp_vstate_name(cur) : "?");
            goto out;
        }
    } else if (vstate == RP_V_FAILED || vstate == RP_V_PROMOTED) {
        if (cur != RP_V_BUILDING) {
            rc = SFAIL(s, RP_ESTATE, "version %d is %s, not building", version,
                       rp_vstate_name(cur) ? rp_vstate_name(cur) : "?");
            goto out;
        }
        if (vstate == RP_V_PROMOTED)
            json_object_object_add(idx, "active", json_object_new_int(version));
    } else { /* rolled_back */
        if (cur != RP_V_PROMOTED || active != version) {
            rc = SFAIL(s, RP_ESTATE, "version %d is not the active version", version);
            goto out;
        }
        int prev = 0;
        json_object *vs;
        json_object_object_get_ex(idx, "versions", &vs);
        for (size_t i = 0; i < json_object_array_length(vs); i++) {
            json_object *o = json_object_array_get_idx(vs, i), *n;
            json_object_object_get_ex(o, "version", &n);
            int ov = json_object_get_int(n);
            if (ov != version && vstate_of(o) == RP_V_PROMOTED && ov > prev)
                prev = ov;
        }
        json_object_object_add(idx, "active", prev ? json_object_new_int(prev) : NULL);
    }
    json_object_object_add(e, "state", rp_jstr_(rp_vstate_name(vstate)));
    json_object_object_add(e, "updated_ms", json_object_new_int64(rc_wall_ms()));
    rc = rp_state_save_(s, path, idx);
out:
    json_object_put(idx);
    rp_state_unlock_(s);
    return rc;
}

int rp_index_active(rp_state *s, int *out_version, const char *index)
{
    if (!s || !out_version)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "indexes", index, NULL);
    if (rc)
        return rc;
    json_object *idx = NULL, *a;
    if ((rc = rp_state_load_(s, &idx, path, K_INDEX)))
        return rc;
    *out_version = json_object_object_get_ex(idx, "active", &a) && a ? json_object_get_int(a) : 0;
    json_object_put(idx);
    return RP_OK;
}

int rp_index_read(rp_state *s, char **out, const char *index)
{
    if (!s || !out)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "indexes", index, NULL);
    return rc ? rc : rp_state_read_text_(s, out, path, K_INDEX);
}

int rp_collection_name(char *buf, size_t cap, const char *prefix, const char *index, int version)
{
    if (!buf || !rp_name_valid(prefix) || !rp_name_valid(index) || version < 1)
        return RP_EINVAL;
    int n = snprintf(buf, cap, "%s_%s_v%d", prefix, index, version);
    return n < 0 || (size_t)n >= cap ? RP_EINVAL : RP_OK;
}
