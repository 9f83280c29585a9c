/* Local mode: scan mode (ls_open_options.scan): every read straight from the database. */
#include "store_int.h"
#include "topk.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scan mode: reads straight from the database, nothing of a collection kept -------- */

static float score_one(int dist, const float *q, const float *v, size_t dim)
{
    switch (dist) {
    case LS_EUCLID:
        return sqrtf(ls_kernel_l2sq(q, v, dim));
    case LS_MANHATTAN:
        return ls_kernel_l1(q, v, dim);
    default:
        return ls_kernel_dot(q, v, dim);
    }
}

/* Reads one stored point's vector and payload (when wanted) into the list's next entry. */
static int scan_add(ls_store *s, lcoll *c, ls_points *l, const ls_id *id, float score, int wp,
                    int wv, int *found)
{
    char sql[128];
    sqlite3_stmt *st =
        ls_stmt(s, ls_table(sql, sizeof sql, "SELECT vec, payload FROM p%lld WHERE pkey = ?1",
                            (long long)c->cid));
    if (!st)
        return LS_EIO;
    unsigned char key[17];
    size_t klen = ls_key_encode(key, id);
    sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *found = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        return rc == SQLITE_DONE ? 0 : ls_dberr(s, rc, "reading a point");
    }
    ls_point *p = &l->points[l->count];
    memset(p, 0, sizeof *p);
    p->id = *id;
    p->score = score;
    const char *txt = (const char *)sqlite3_column_text(st, 1);
    const float *vec = ls_row_vec(s, c, st, 0);
    int r = 0;
    if (!vec)
        r = LS_ECORRUPT;
    else if (wp && !(p->payload = strdup(txt ? txt : "{}")))
        r = ls_nomem(s);
    else if (wv && !(p->vector = malloc(c->dim * sizeof(float))))
        r = ls_nomem(s);
    if (!r && wv)
        memcpy(p->vector, vec, c->dim * sizeof(float));
    sqlite3_reset(st);
    if (r) {
        free(p->payload);
        free(p->vector);
        return r;
    }
    l->count++;
    return 0;
}

/* Walks the points of c: SELECT pkey, vec[, payload] FROM p<cid> [WHERE pkey >= from ORDER BY
 * pkey]. fn gets each point's id, vector (aligned copy), payload text (NULL unless with_payload)
 * and parsed payload (parsed lazily through *plo: fn sets it, the walk frees it); a non-zero
 * return stops the walk and is returned (1 is not an error). */
typedef int (*walk_fn)(void *ud, const ls_id *id, const float *vec, const char *payload,
                       json_object **plo);

static int walk(ls_store *s, lcoll *c, int with_payload, int ordered, const ls_id *from, walk_fn fn,
                void *ud)
{
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pkey, vec%s FROM p%lld%s%s", with_payload ? ", payload" : "",
             (long long)c->cid, from ? " WHERE pkey >= ?1" : "", ordered ? " ORDER BY pkey" : "");
    sqlite3_stmt *st = ls_stmt(s, sql);
    if (!st)
        return LS_EIO;
    unsigned char key[17];
    if (from) {
        size_t klen = ls_key_encode(key, from);
        sqlite3_bind_blob(st, 1, key, (int)klen, SQLITE_TRANSIENT);
    }
    float *v = malloc(c->dim * sizeof *v);
    if (!v) {
        sqlite3_reset(st);
        return ls_nomem(s);
    }
    int rc, r = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        ls_id id;
        const float *vec = ls_row_vec(s, c, st, 1);
        if (!vec || ls_key_decode(&id, sqlite3_column_blob(st, 0), sqlite3_column_bytes(st, 0))) {
            r = ls_seterr(s, LS_ECORRUPT, "collection `%s`: a stored point is damaged", c->name);
            break;
        }
        memcpy(v, vec, c->dim * sizeof *v);
        const char *txt = with_payload ? (const char *)sqlite3_column_text(st, 2) : NULL;
        json_object *plo = NULL;
        r = fn(ud, &id, v, with_payload ? (txt ? txt : "{}") : NULL, &plo);
        json_object_put(plo);
        if (r)
            break;
    }
    sqlite3_reset(st);
    free(v);
    if (!r && rc != SQLITE_DONE)
        r = ls_dberr(s, rc, "reading points");
    return r;
}

static json_object *lazy_payload(const char *text, json_object **plo)
{
    if (!*plo && text)
        *plo = json_tokener_parse(text);
    return *plo;
}

typedef struct squery {
    ls_store *s;
    lcoll *c;
    size_t n;
    float **q;
    const ls_query_params *p;
    ls_filter *const *f;
    topk *t;
} squery;

static int squery_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                      json_object **plo)
{
    squery *x = ud;
    for (size_t i = 0; i < x->n; i++) {
        if (x->f[i] && !ls_filter_match(x->f[i], id, lazy_payload(payload, plo)))
            continue;
        float sc = score_one(x->c->dist, x->q[i], vec, x->c->dim);
        const ls_query_params *p = &x->p[i];
        if (p->use_score_threshold &&
            !(x->t[i].larger ? sc > p->score_threshold : sc < p->score_threshold))
            continue;
        topk_push(&x->t[i], sc, 0, id);
    }
    return 0;
}

/* n queries in one pass over the points of c. */
int ls_scan_query(ls_points **out, ls_store *s, lcoll *c, const float *vectors, size_t n,
                  const ls_query_params *params, ls_filter *const *filters)
{
    squery x = {s,
                c,
                n,
                calloc(n ? n : 1, sizeof(float *)),
                params,
                filters,
                calloc(n ? n : 1, sizeof(topk))};
    ls_points **l = calloc(n ? n : 1, sizeof *l);
    int r = 0, any_filter = 0;
    if (!x.q || !x.t || !l)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        uint64_t want = (uint64_t)params[i].limit + params[i].offset;
        x.t[i].k = want < SIZE_MAX / sizeof(hent) ? (size_t)want : SIZE_MAX / sizeof(hent);
        x.t[i].larger = c->dist == LS_COSINE || c->dist == LS_DOT;
        any_filter |= filters[i] != NULL;
        if (!(x.q[i] = ls_query_prepare(c, vectors + i * c->dim)))
            goto oom;
    }
    if ((r = walk(s, c, any_filter, 0, NULL, squery_row, &x)))
        goto done;
    for (size_t i = 0; i < n; i++)
        if (x.t[i].oom)
            goto oom;
    for (size_t i = 0; i < n; i++) {
        topk *t = &x.t[i];
        qsort_r(t->h, t->n, sizeof *t->h, hent_cmp, t);
        size_t skip = params[i].offset < t->n ? params[i].offset : t->n;
        if (!(l[i] = ls_points_new(t->n - skip, c->dim)))
            goto oom;
        for (size_t j = skip; j < t->n; j++) {
            int found = 0;
            if (!params[i].with_payload && !params[i].with_vector) {
                ls_point *pt = &l[i]->points[l[i]->count++];
                memset(pt, 0, sizeof *pt);
                pt->id = t->h[j].id;
                pt->score = t->h[j].score;
            } else if ((r = scan_add(s, c, l[i], &t->h[j].id, t->h[j].score, params[i].with_payload,
                                     params[i].with_vector, &found))) {
                goto done;
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        out[i] = l[i];
    free(l);
    l = NULL;
    goto done;
oom:
    r = ls_nomem(s);
done:
    for (size_t i = 0; l && i < n; i++)
        ls_points_free(l[i]);
    free(l);
    for (size_t i = 0; x.q && i < n; i++)
        free(x.q[i]);
    for (size_t i = 0; x.t && i < n; i++)
        free(x.t[i].h);
    free(x.q);
    free(x.t);
    return r;
}

typedef struct scount {
    const ls_filter *f;
    uint64_t n;
} scount;

static int scount_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                      json_object **plo)
{
    scount *x = ud;
    (void)vec;
    x->n += (uint64_t)ls_filter_match(x->f, id, lazy_payload(payload, plo));
    return 0;
}

int ls_scan_count(ls_store *s, lcoll *c, const ls_filter *f, uint64_t *out)
{
    if (f) {
        scount x = {f, 0};
        int r = walk(s, c, 1, 0, NULL, scount_row, &x);
        if (!r)
            *out = x.n;
        return r;
    }
    char sql[96];
    sqlite3_stmt *st =
        ls_stmt(s, ls_table(sql, sizeof sql, "SELECT count(*) FROM p%lld", (long long)c->cid));
    if (!st)
        return LS_EIO;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : ls_dberr(s, rc, "counting points");
}

int ls_scan_get(ls_points **out, ls_store *s, lcoll *c, const ls_id *ids, size_t n, int wp, int wv)
{
    ls_points *l = ls_points_new(n, c->dim);
    if (!l)
        return ls_nomem(s);
    for (size_t i = 0; i < n; i++) {
        if (!ls_id_valid(&ids[i]))
            continue;
        int dup = 0;
        for (size_t k = 0; k < l->count && !dup; k++)
            dup = ls_id_eq(&l->points[k].id, &ids[i]);
        int found, r;
        if (!dup && (r = scan_add(s, c, l, &ids[i], 0, wp, wv, &found))) {
            ls_points_free(l);
            return r;
        }
    }
    *out = l;
    return 0;
}

typedef struct sscroll {
    const ls_filter *f;
    const ls_scroll_params *p;
    ls_points *l;
    size_t dim;
    int oom;
} sscroll;

static int sscroll_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                       json_object **plo)
{
    sscroll *x = ud;
    if (x->f && !ls_filter_match(x->f, id, lazy_payload(payload, plo)))
        return 0;
    ls_points *l = x->l;
    if (l->count == x->p->limit) {
        l->has_next = 1;
        l->next_page = *id;
        return 1;
    }
    if (l->count % 64 == 0) {
        ls_point *pts = realloc(l->points, (l->count + 64) * sizeof *pts);
        if (!pts) {
            x->oom = 1;
            return 1;
        }
        l->points = pts;
    }
    ls_point *pt = &l->points[l->count];
    memset(pt, 0, sizeof *pt);
    pt->id = *id;
    if (x->p->with_payload && !(pt->payload = strdup(payload))) {
        x->oom = 1;
        return 1;
    }
    if (x->p->with_vector) {
        if (!(pt->vector = malloc(x->dim * sizeof(float)))) {
            free(pt->payload);
            x->oom = 1;
            return 1;
        }
        memcpy(pt->vector, vec, x->dim * sizeof(float));
    }
    l->count++;
    return 0;
}

int ls_scan_scroll(ls_points **out, ls_store *s, lcoll *c, const ls_scroll_params *p,
                   const ls_filter *f)
{
    sscroll x = {f, p, ls_points_new(0, c->dim), c->dim, 0};
    if (!x.l)
        return ls_nomem(s);
    int r = walk(s, c, p->with_payload || f, 1, p->offset, sscroll_row, &x);
    if (r == 1)
        r = 0;
    if (!r && x.oom)
        r = ls_nomem(s);
    if (r) {
        ls_points_free(x.l);
        return r;
    }
    *out = x.l;
    return 0;
}

typedef struct sdel {
    const ls_filter *f;
    ls_id *ids;
    size_t n, cap;
} sdel;

static int sdel_row(void *ud, const ls_id *id, const float *vec, const char *payload,
                    json_object **plo)
{
    sdel *x = ud;
    (void)vec;
    if (x->f && !ls_filter_match(x->f, id, lazy_payload(payload, plo)))
        return 0;
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 256;
        ls_id *v = realloc(x->ids, cap * sizeof *v);
        if (!v)
            return LS_ENOMEM;
        x->ids = v;
        x->cap = cap;
    }
    x->ids[x->n++] = *id;
    return 0;
}

/* The ids of the points of c matching f (NULL: all), in *ids (the caller's) and *n. */
int ls_scan_matching(ls_store *s, lcoll *c, const ls_filter *f, ls_id **ids, size_t *n)
{
    sdel x = {f, NULL, 0, 0};
    int r = walk(s, c, f != NULL, 0, NULL, sdel_row, &x);
    if (r == LS_ENOMEM)
        r = ls_nomem(s);
    if (r) {
        free(x.ids);
        return r;
    }
    *ids = x.ids;
    *n = x.n;
    return 0;
}
