/* Local mode: reads of a collection held in memory: get, scroll, count and query (its top-k
 * selection: topk.h). */
#include "store_int.h"
#include "topk.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- reads ------------------------------------------------------------------------------ */

void ls_points_free(ls_points *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++) {
        free(l->points[i].payload);
        free(l->points[i].vector);
    }
    free(l->points);
    free(l);
}

ls_points *ls_points_new(size_t n, size_t dim)
{
    ls_points *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->points = calloc(n ? n : 1, sizeof *l->points);
    if (!l->points) {
        free(l);
        return NULL;
    }
    l->dim = dim;
    return l;
}

static int points_add(ls_points *l, lcoll *c, size_t slot, float score, int wp, int wv)
{
    ls_point *p = &l->points[l->count];
    memset(p, 0, sizeof *p);
    p->id = c->ids[slot];
    p->score = score;
    if (wp && !(p->payload = strdup(c->pl[slot] ? c->pl[slot] : "{}")))
        return -1;
    if (wv) {
        p->vector = malloc(c->dim * sizeof(float));
        if (!p->vector) {
            free(p->payload);
            p->payload = NULL;
            return -1;
        }
        memcpy(p->vector, c->vecs + slot * c->dim, c->dim * sizeof(float));
    }
    l->count++;
    return 0;
}

/* Read prologue: a snapshot, the collection resolved and its cache up to date. */
static int read_coll(ls_store *s, const char *collection, lcoll **out)
{
    for (int tries = 0;; tries++) {
        int r = ls_begin_read(s);
        if (r)
            return r;
        lcoll *c = ls_resolve(s, collection);
        if (!c) {
            ls_end_read(s);
            return LS_ENOTFOUND;
        }
        r = ls_seg_map(s, c);
        if (r == SEG_GONE) {
            /* compacted by another process after this snapshot began: a newer one names the new
             * generation */
            ls_end_read(s);
            if (tries < 16)
                continue;
            return ls_seterr(s, LS_ECORRUPT, "collection `%s`: its vector segment file is missing",
                             c->name);
        }
        if (!r && !s->scan)
            r = ls_cache_sync(s, c);
        if (r) {
            ls_end_read(s);
            return r;
        }
        *out = c;
        return 0;
    }
}

int ls_get(ls_points **out, ls_store *s, const char *collection, const ls_id *ids, size_t n,
           int with_payload, int with_vector)
{
    ENTER(s);
    if (!out || !collection || (n && !ids))
        return ls_seterr(s, LS_EINVAL, "out, collection and ids are required");
    lcoll *c;
    int r = read_coll(s, collection, &c);
    if (r)
        return r;
    if (s->scan) {
        r = ls_scan_get(out, s, c, ids, n, with_payload, with_vector);
        ls_end_read(s);
        return r;
    }
    ls_points *l = ls_points_new(n, c->dim);
    long *seen = malloc((n ? n : 1) * sizeof *seen);
    size_t nseen = 0;
    if (!l || !seen)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        if (!ls_id_valid(&ids[i]))
            continue;
        long slot = ls_cache_find(c, &ids[i]);
        if (slot < 0)
            continue;
        int dup = 0;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = seen[k] == slot;
        if (dup)
            continue;
        seen[nseen++] = slot;
        if (points_add(l, c, (size_t)slot, 0, with_payload, with_vector))
            goto oom;
    }
    free(seen);
    ls_end_read(s);
    *out = l;
    return 0;
oom:
    free(seen);
    ls_points_free(l);
    ls_end_read(s);
    return ls_nomem(s);
}

int ls_scroll(ls_points **out, ls_store *s, const char *collection, const ls_scroll_params *p)
{
    ENTER(s);
    if (!out || !collection || !p)
        return ls_seterr(s, LS_EINVAL, "out, collection and params are required");
    if (p->limit < 1)
        return ls_seterr(s, LS_EINVAL,
                         "Validation error in JSON body: [limit: value 0 invalid, "
                         "must be 1 or more]");
    if (p->offset && !ls_id_valid(p->offset))
        return ls_seterr(s, LS_EINVAL, "offset: invalid id");
    ls_filter *f = NULL;
    int r = ls_filter_compile(&f, p->filter_json, s->err, sizeof s->err);
    if (r)
        return r;
    lcoll *c;
    if ((r = read_coll(s, collection, &c))) {
        ls_filter_free(f);
        return r;
    }
    ls_points *l = NULL;
    if (s->scan) {
        r = ls_scan_scroll(out, s, c, p, f);
        ls_end_read(s);
        ls_filter_free(f);
        return r;
    }
    if (ls_cache_order(c))
        goto oom;
    size_t lo = 0, hi = c->n;
    if (p->offset) {
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (ls_id_cmp(&c->ids[c->order[mid]], p->offset) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    size_t cap = p->limit < c->n ? p->limit : c->n;
    l = ls_points_new(cap, c->dim);
    if (!l)
        goto oom;
    for (size_t i = lo; i < c->n; i++) {
        size_t slot = c->order[i];
        if (f && !ls_filter_match(f, &c->ids[slot], ls_cache_payload(c, slot)))
            continue;
        if (l->count == p->limit) {
            l->has_next = 1;
            l->next_page = c->ids[slot];
            break;
        }
        if (points_add(l, c, slot, 0, p->with_payload, p->with_vector))
            goto oom;
    }
    ls_end_read(s);
    ls_filter_free(f);
    *out = l;
    return 0;
oom:
    ls_points_free(l);
    ls_end_read(s);
    ls_filter_free(f);
    return ls_nomem(s);
}

int ls_count(uint64_t *out, ls_store *s, const char *collection, const char *filter_json)
{
    ENTER(s);
    if (!out || !collection)
        return ls_seterr(s, LS_EINVAL, "out and collection are required");
    ls_filter *f = NULL;
    int r = ls_filter_compile(&f, filter_json, s->err, sizeof s->err);
    if (r)
        return r;
    lcoll *c;
    if ((r = read_coll(s, collection, &c))) {
        ls_filter_free(f);
        return r;
    }
    uint64_t n = 0;
    if (s->scan)
        r = ls_scan_count(s, c, f, &n);
    else if (!f)
        n = c->n;
    else
        for (size_t i = 0; i < c->n; i++)
            n += (uint64_t)ls_filter_match(f, &c->ids[i], ls_cache_payload(c, i));
    ls_end_read(s);
    ls_filter_free(f);
    if (!r)
        *out = n;
    return r;
}

#define SCORE_BLOCK 256

/* Checks one query's parameters and compiles its filter. */
static int query_check(ls_store *s, ls_filter **f, const float *vector, size_t dim,
                       const ls_query_params *p)
{
    if (!vector || !p)
        return ls_seterr(s, LS_EINVAL, "out, collection, vector and params are required");
    if (p->limit < 1)
        return ls_seterr(s, LS_EINVAL,
                         "Validation error in JSON body: [limit: value 0 invalid, "
                         "must be 1 or more]");
    int r = ls_check_vectors(s, vector, 1, dim);
    if (r)
        return r;
    if (p->use_score_threshold && isnan(p->score_threshold))
        return ls_seterr(s, LS_EINVAL, "score_threshold is NaN");
    return ls_filter_compile(f, p->filter_json, s->err, sizeof s->err);
}

/* The query vector as scored: a copy, normalised for cosine. NULL when out of memory. */
float *ls_query_prepare(const lcoll *c, const float *vector)
{
    float *q = malloc(c->dim * sizeof *q);
    if (!q)
        return NULL;
    memcpy(q, vector, c->dim * sizeof *q);
    if (c->dist == LS_COSINE)
        ls_cosine_preprocess(q, c->dim);
    return q;
}

/* One query over c's points held in memory. */
static int query_cached(ls_points **out, ls_store *s, lcoll *c, const float *vector,
                        const ls_query_params *p, const ls_filter *f)
{
    size_t dim = c->dim;
    float *q = NULL;
    topk t = {NULL, 0, 0, 0, 0, 0};
    ls_points *l = NULL;
    q = ls_query_prepare(c, vector);
    uint64_t want = (uint64_t)p->limit + p->offset;
    t.k = want < c->n ? (size_t)want : c->n;
    t.h = malloc((t.k ? t.k : 1) * sizeof *t.h);
    t.cap = t.k;
    if (!q || !t.h)
        goto oom;
    ls_distance d = (ls_distance)c->dist;
    t.larger = d == LS_COSINE || d == LS_DOT;
    int use_thr = p->use_score_threshold;
    float thr = p->score_threshold;
    float sc[SCORE_BLOCK];
    uint32_t sl[SCORE_BLOCK];
    if (t.k) {
        for (size_t base = 0; base < c->n; base += SCORE_BLOCK) {
            size_t end = base + SCORE_BLOCK < c->n ? base + SCORE_BLOCK : c->n, m = 0;
            if (f) {
                for (size_t i = base; i < end; i++)
                    if (ls_filter_match(f, &c->ids[i], ls_cache_payload(c, i)))
                        sl[m++] = (uint32_t)i;
            } else {
                for (size_t i = base; i < end; i++)
                    sl[m++] = (uint32_t)i;
            }
            const float *vs = c->vecs;
            switch (d) {
            case LS_EUCLID:
                for (size_t j = 0; j < m; j++)
                    sc[j] = sqrtf(ls_kernel_l2sq(q, vs + (size_t)sl[j] * dim, dim));
                break;
            case LS_MANHATTAN:
                for (size_t j = 0; j < m; j++)
                    sc[j] = ls_kernel_l1(q, vs + (size_t)sl[j] * dim, dim);
                break;
            default:
                for (size_t j = 0; j < m; j++)
                    sc[j] = ls_kernel_dot(q, vs + (size_t)sl[j] * dim, dim);
                break;
            }
            for (size_t j = 0; j < m; j++) {
                /* Distance::check_threshold: strict, on the reported score */
                if (use_thr && !(t.larger ? sc[j] > thr : sc[j] < thr))
                    continue;
                topk_push(&t, sc[j], sl[j], &c->ids[sl[j]]);
            }
        }
    }
    qsort_r(t.h, t.n, sizeof *t.h, hent_cmp, &t);
    size_t skip = p->offset < t.n ? p->offset : t.n;
    l = ls_points_new(t.n - skip, dim);
    if (!l)
        goto oom;
    for (size_t i = skip; i < t.n; i++)
        if (points_add(l, c, t.h[i].slot, t.h[i].score, p->with_payload, p->with_vector))
            goto oom;
    free(q);
    free(t.h);
    *out = l;
    return 0;
oom:
    ls_points_free(l);
    free(q);
    free(t.h);
    return ls_nomem(s);
}

int ls_query_batch(ls_points **out, ls_store *s, const char *collection, const float *vectors,
                   size_t n, size_t dim, const ls_query_params *params)
{
    ENTER(s);
    if (!out || !collection || (n && (!vectors || !params)))
        return ls_seterr(s, LS_EINVAL, "out, collection, vector and params are required");
    ls_filter **f = calloc(n ? n : 1, sizeof *f);
    if (!f)
        return ls_nomem(s);
    int r = 0;
    for (size_t i = 0; i < n && !r; i++)
        r = query_check(s, &f[i], vectors + i * dim, dim, &params[i]);
    lcoll *c = NULL;
    if (!r && (r = read_coll(s, collection, &c)))
        c = NULL;
    if (!r && dim != c->dim)
        r = ls_seterr(s, LS_EDIM, "Wrong input: Vector dimension error: expected dim: %zu, got %zu",
                      c->dim, dim);
    if (!r && s->scan) {
        r = ls_scan_query(out, s, c, vectors, n, params, f);
    } else if (!r) {
        for (size_t i = 0; i < n && !r; i++)
            if ((r = query_cached(&out[i], s, c, vectors + i * dim, &params[i], f[i])))
                while (i--)
                    ls_points_free(out[i]), out[i] = NULL;
    }
    if (c)
        ls_end_read(s);
    for (size_t i = 0; i < n; i++)
        ls_filter_free(f[i]);
    free(f);
    return r;
}

int ls_query(ls_points **out, ls_store *s, const char *collection, const float *vector, size_t dim,
             const ls_query_params *p)
{
    if (!out || !vector || !p)
        return s ? ls_seterr(s, LS_EINVAL, "out, collection, vector and params are required")
                 : LS_EINVAL;
    ls_points *l[1] = {NULL};
    int r = ls_query_batch(l, s, collection, vector, 1, dim, p);
    if (!r)
        *out = l[0];
    return r;
}
