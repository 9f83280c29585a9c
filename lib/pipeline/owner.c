/* Which collections are ours: ownership metadata written at creation, read before every
 * write, promotion, rollback and deletion (see owner.h). */
#include "owner.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

int rp_qerr(char *err, size_t errlen, qdrant_client *q, const char *what, int qrc)
{
    const char *m = qdrant_client_errmsg(q);
    if (err && errlen)
        snprintf(err, errlen, "%s: %s%s%s%s", what, qdrant_strerror(qrc), m && *m ? " (" : "",
                 m && *m ? m : "", m && *m ? ")" : "");
    return RP_EQDRANT;
}

static const char *str_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string)
               ? json_object_get_string(v)
               : NULL;
}

static int64_t int_of(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_int)
               ? json_object_get_int64(v)
               : 0;
}

int rp_owner_read(rp_owner *out, qdrant_client *q, const char *collection, const char *deployment,
                  const char *index, int version, char *err, size_t errlen)
{
    rp_owner o;
    memset(&o, 0, sizeof o);
    qdrant_collection_info *info = NULL;
    int qrc = qdrant_collection_info_get(&info, q, collection);
    if (qrc == QDRANT_ENOTFOUND) {
        o.state = RP_OWN_ABSENT;
        *out = o;
        return RP_OK;
    }
    if (qrc)
        return rp_qerr(err, errlen, q, "reading the collection's metadata", qrc);
    const char *meta = qdrant_collection_info_metadata(info);
    json_object *m = meta ? json_tokener_parse(meta) : NULL;
    const char *dep = m ? str_of(m, "ragkit_deployment") : NULL;
    if (!dep) {
        o.state = RP_OWN_LEGACY;
    } else {
        const char *ix = str_of(m, "ragkit_index"), *run = str_of(m, "ragkit_run_id");
        snprintf(o.deployment, sizeof o.deployment, "%s", dep);
        snprintf(o.index, sizeof o.index, "%s", ix ? ix : "");
        snprintf(o.run_id, sizeof o.run_id, "%s", run ? run : "");
        o.version = (int)int_of(m, "ragkit_version");
        o.promoted_ms = int_of(m, "ragkit_promoted_ms");
        o.rolled_back_ms = int_of(m, "ragkit_rolled_back_ms");
        o.state = deployment && !strcmp(dep, deployment) && index && !strcmp(o.index, index) &&
                          o.version == version
                      ? RP_OWN_MINE
                      : RP_OWN_FOREIGN;
    }
    json_object_put(m);
    qdrant_collection_info_free(info);
    *out = o;
    return RP_OK;
}

const char *rp_owner_describe(const rp_owner *o, char *buf, size_t cap)
{
    switch (o->state) {
    case RP_OWN_ABSENT:
        snprintf(buf, cap, "absent");
        break;
    case RP_OWN_LEGACY:
        snprintf(buf, cap, "made without ownership metadata");
        break;
    default:
        snprintf(buf, cap, "owned by deployment %s (index %s, version %d, run %s)", o->deployment,
                 o->index, o->version, o->run_id[0] ? o->run_id : "?");
    }
    return buf;
}

int rp_owner_ours(const rp_owner *o, qdrant_client *q)
{
    return o->state == RP_OWN_MINE || (o->state == RP_OWN_LEGACY && qdrant_client_is_local(q));
}

int rp_owner_metadata(rc_buf *b, const char *deployment, const char *index, int version,
                      const char *run_id, const char *embedder, const char *model, size_t dim)
{
    rc_buf_puts(b, "{\"ragkit_deployment\":");
    rc_buf_json_str(b, deployment, strlen(deployment));
    rc_buf_puts(b, ",\"ragkit_index\":");
    rc_buf_json_str(b, index, strlen(index));
    rc_buf_printf(b, ",\"ragkit_version\":%d,\"ragkit_run_id\":", version);
    rc_buf_json_str(b, run_id, strlen(run_id));
    rc_buf_puts(b, ",\"ragkit_embedder\":");
    rc_buf_json_str(b, embedder, strlen(embedder));
    rc_buf_puts(b, ",\"ragkit_model\":");
    rc_buf_json_str(b, model, strlen(model));
    return rc_buf_printf(b, ",\"ragkit_dim\":%zu,\"ragkit_created_ms\":%lld}", dim,
                         (long long)rc_wall_ms());
}

int rp_owner_stamp(qdrant_client *q, const char *collection, const char *key)
{
    char m[160];
    snprintf(m, sizeof m, "{\"ragkit_%s_ms\":%lld}", key, (long long)rc_wall_ms());
    return qdrant_collection_metadata_update(q, collection, m);
}

int rp_versions_floor(int *out, qdrant_client *q, const char *prefix, const char *index, char *err,
                      size_t errlen)
{
    qdrant_name_list *l = NULL;
    int qrc = qdrant_collection_list_get(&l, q);
    if (qrc)
        return rp_qerr(err, errlen, q, "listing collections", qrc);
    char head[160];
    int hn = snprintf(head, sizeof head, "%s_%s_v", prefix, index);
    long max = 0;
    for (size_t i = 0; i < qdrant_name_list_count(l); i++) {
        const char *n = qdrant_name_list_at(l, i);
        if (!n || strncmp(n, head, (size_t)hn) != 0 || !n[hn])
            continue;
        char *end;
        long v = strtol(n + hn, &end, 10);
        if (*end || n[hn] < '1' || n[hn] > '9' || v < 1 || v >= 1000000000)
            continue;
        if (v > max)
            max = v;
    }
    qdrant_name_list_free(l);
    *out = (int)max + 1;
    return RP_OK;
}

int rp_alias_target(char *out, size_t cap, qdrant_client *q, const char *alias)
{
    qdrant_alias_list *l = NULL;
    int qrc = qdrant_alias_list_get(&l, q);
    if (qrc)
        return qrc;
    const char *t = qdrant_alias_list_find(l, alias);
    snprintf(out, cap, "%s", t ? t : "");
    qdrant_alias_list_free(l);
    return QDRANT_OK;
}

int rp_collection_check(uint64_t *out_points, qdrant_client *q, const char *collection, char *err,
                        size_t errlen)
{
    uint64_t n = 0;
    int qrc = qdrant_point_count(&n, q, collection, NULL);
    if (qrc)
        return rp_qerr(err, errlen, q, "counting points", qrc);
    if (n == 0) {
        snprintf(err, errlen, "%s holds no points", collection);
        return RP_ESTATE;
    }
    /* One point's vector, then a query with it: a query reads every vector (in local mode the
     * whole store), so a damaged collection fails here, before any reader is sent to it. */
    qdrant_scroll_options so = QDRANT_SCROLL_OPTIONS_INIT;
    so.limit = 1;
    so.with_payload = 0;
    so.with_vector = 1;
    qdrant_point_list *p = NULL, *hits = NULL;
    qrc = qdrant_point_scroll(&p, q, collection, &so);
    size_t dim = 0;
    const float *v = qrc ? NULL : qdrant_point_list_vector(p, 0, &dim);
    if (!qrc && (!v || !dim)) {
        qdrant_point_list_free(p);
        snprintf(err, errlen, "%s: a point without a vector", collection);
        return RP_ESTATE;
    }
    if (!qrc) {
        qdrant_query_options qo = QDRANT_QUERY_OPTIONS_INIT;
        qo.limit = 1;
        qo.with_payload = 0;
        qrc = qdrant_point_query(&hits, q, collection, v, dim, &qo);
    }
    int found = !qrc && qdrant_point_list_count(hits) == 1;
    qdrant_point_list_free(p);
    qdrant_point_list_free(hits);
    if (qrc)
        return rp_qerr(err, errlen, q, "reading the collection back", qrc);
    if (!found) {
        snprintf(err, errlen, "%s: a query with one of its own vectors found nothing", collection);
        return RP_ESTATE;
    }
    if (out_points)
        *out_points = n;
    return RP_OK;
}

/* Points alias at collection, reads it back and counts through it. */
static int move_and_verify(qdrant_client *q, const char *alias, const char *collection, char *err,
                           size_t errlen)
{
    int qrc = rp_q_alias_switch(q, alias, collection);
    if (qrc)
        return rp_qerr(err, errlen, q, "switching the alias", qrc);
    char now[256];
    qrc = rp_alias_target(now, sizeof now, q, alias);
    if (qrc)
        return rp_qerr(err, errlen, q, "reading the aliases back", qrc);
    if (strcmp(now, collection) != 0) {
        snprintf(err, errlen, "alias %s points at \"%s\", not %s", alias, now, collection);
        return RP_ESTATE;
    }
    /* Readers go through the alias: it must answer with every point of the collection. */
    uint64_t via = 0, direct = 0;
    if ((qrc = qdrant_point_count(&via, q, alias, NULL)) ||
        (qrc = qdrant_point_count(&direct, q, collection, NULL)))
        return rp_qerr(err, errlen, q, "counting through the alias", qrc);
    if (via == 0 || via != direct) {
        snprintf(err, errlen, "through %s: %llu points, %s holds %llu", alias,
                 (unsigned long long)via, collection, (unsigned long long)direct);
        return RP_ESTATE;
    }
    return RP_OK;
}

int rp_alias_move(qdrant_client *q, const char *alias, const char *collection, const char *previous,
                  char *err, size_t errlen)
{
    int rc = move_and_verify(q, alias, collection, err, errlen);
    if (rc == RP_OK)
        return RP_OK;
    /* Put readers back where they were. */
    size_t used = strlen(err);
    int qrc = rp_q_alias_switch(q, alias, previous);
    if (used + 1 < errlen) {
        if (qrc)
            snprintf(err + used, errlen - used, "; the alias could NOT be put back: %s",
                     qdrant_client_errmsg(q));
        else
            snprintf(err + used, errlen - used, "; the alias is back on %s",
                     previous && *previous ? previous : "nothing (it did not exist before)");
    }
    return rc;
}

/* ---- operations Qdrant does not make safe to retry, made safe by checking their outcome ---- */

#define OUTCOME_TRIES 6

/* An answer that leaves unknown whether the request was applied (or that it was not, but
 * asking again may work): the caller looks at the outcome and decides. */
static int unsure(int qrc)
{
    return qrc == QDRANT_ETRANSPORT || qrc == QDRANT_ETIMEOUT || qrc == QDRANT_ESERVER ||
           qrc == QDRANT_EOVERLOADED;
}

static void pause_ms(int attempt)
{
    struct timespec ts = {0, (long)(50 + 100 * attempt) * 1000000L};
    nanosleep(&ts, NULL);
}

int rp_q_create(qdrant_client *q, const char *collection, size_t dim, const char *metadata,
                const char *run_id)
{
    qdrant_collection_options co = QDRANT_COLLECTION_OPTIONS_INIT;
    co.metadata = metadata;
    int qrc = QDRANT_OK;
    for (int attempt = 0; attempt < OUTCOME_TRIES; attempt++) {
        qrc = qdrant_collection_create(q, collection, dim, QDRANT_DISTANCE_COSINE, &co);
        if (!unsure(qrc) && !(qrc == QDRANT_ECONFLICT && attempt > 0))
            return qrc;
        /* Did it happen? Ours (this run's metadata) when it did. */
        rp_owner o; /* (a failed look is asked again, like the create) */
        if (rp_owner_read(&o, q, collection, NULL, NULL, 0, NULL, 0) == RP_OK &&
            o.state != RP_OWN_ABSENT)
            return !strcmp(o.run_id, run_id) ? QDRANT_OK : QDRANT_ECONFLICT;
        pause_ms(attempt);
    }
    return qrc;
}

int rp_q_alias_switch(qdrant_client *q, const char *alias, const char *collection)
{
    int qrc = QDRANT_OK;
    for (int attempt = 0; attempt < OUTCOME_TRIES; attempt++) {
        qrc = collection && *collection ? qdrant_alias_switch(q, alias, collection)
                                        : qdrant_alias_delete(q, alias);
        if (qrc == QDRANT_ENOTFOUND && !(collection && *collection))
            return QDRANT_OK; /* no alias to delete: none there */
        if (!unsure(qrc) && !(attempt > 0 && (qrc == QDRANT_ECONFLICT || qrc == QDRANT_ENOTFOUND)))
            return qrc;
        char now[256];
        int arc = rp_alias_target(now, sizeof now, q, alias);
        if (arc == QDRANT_OK && !strcmp(now, collection ? collection : ""))
            return QDRANT_OK; /* it was applied */
        if (arc != QDRANT_OK && !unsure(arc))
            return qrc;
        pause_ms(attempt);
    }
    return qrc;
}

int rp_q_delete(int *existed, qdrant_client *q, const char *collection)
{
    int qrc = QDRANT_OK, had = -1;
    for (int attempt = 0; attempt < OUTCOME_TRIES; attempt++) {
        int e = 0;
        qrc = qdrant_collection_delete(&e, q, collection);
        if (had < 0 && qrc == QDRANT_OK)
            had = e;
        if (!unsure(qrc))
            break;
        int ex = 1, xrc = qdrant_collection_exists(&ex, q, collection);
        if (xrc == QDRANT_OK && !ex) {
            qrc = QDRANT_OK;
            had = 1; /* (it existed when asked first, or we would not know it) */
            break;
        }
        pause_ms(attempt);
    }
    if (qrc == QDRANT_OK && existed)
        *existed = had > 0;
    return qrc;
}

int rp_q_stamp(qdrant_client *q, const char *collection, const char *key)
{
    int qrc = QDRANT_OK;
    for (int attempt = 0; attempt < OUTCOME_TRIES; attempt++) {
        qrc = rp_owner_stamp(q, collection, key); /* a merge: the same again changes nothing */
        if (!unsure(qrc))
            return qrc;
        pause_ms(attempt);
    }
    return qrc;
}
