/* Local mode: Qdrant filters, compiled from their JSON text and checked against payloads.
 *
 * Semantics follow segment/src/payload_storage/query_checker.rs and condition_checker.rs as
 * tests/servers/qdrant/filters.py mirrors them (check_filter, _field_condition, _match_check,
 * payload_values; payload_values is in tests/servers/qdrant/payload.py). Supported: must / should /
 * must_not / min_should (each a condition or a list), nested filters as conditions, field
 * conditions with match value / any / except and numeric range, is_empty and is_null (as field
 * condition flags or as their own conditions), has_id and nested. Anything else is refused at
 * compile time with LS_EUNSUPPORTED, so a filter is never silently evaluated differently from
 * Qdrant. */
#include "lstore.h"

#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 64

enum { SEG_KEY, SEG_IDX, SEG_ALL };
typedef struct pseg {
    int kind;
    char *key;
    size_t idx;
} pseg;
typedef struct lpath {
    char *first;
    size_t nseg;
    pseg *segs;
} lpath;

enum { C_FILTER, C_FIELD, C_IS_EMPTY, C_IS_NULL, C_HAS_ID, C_NESTED };
enum { M_NONE, M_VALUE, M_ANY, M_EXCEPT };
enum { V_BOOL, V_STR, V_INT };

/* A JSON number kept exactly: Python (the reference) compares ints and floats exactly, and long
 * double cannot be trusted for it (valgrind runs it as double). */
enum { N_I64, N_U64, N_DBL };
typedef struct num {
    int kind;
    int64_t i;
    uint64_t u; /* N_U64: > INT64_MAX */
    double d;
} num;

typedef struct cond cond;
typedef struct clist {
    int present;
    size_t n;
    cond **c;
} clist;
typedef struct fnode {
    clist should, must, must_not, min_conds;
    int has_min;
    uint64_t min_count;
} fnode;

struct cond {
    int kind;
    lpath path;
    fnode *filter; /* C_FILTER, C_NESTED */
    /* C_FIELD */
    int mkind, vtype;
    int bval;
    size_t nvals;
    char **strs;
    size_t *lens;
    int64_t *ints;
    int has_range;
    int has_gt, has_gte, has_lt, has_lte;
    num gt, gte, lt, lte;
    int is_empty, is_null; /* -1 unset */
    /* C_HAS_ID */
    ls_id *ids;
    size_t nids;
};

struct ls_filter {
    fnode *root;
};

typedef struct cctx {
    char *msg;
    size_t cap;
} cctx;

static int fail(cctx *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(cctx *c, int code, const char *fmt, ...)
{
    if (c->msg && c->cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->msg, c->cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* ---- freeing ---------------------------------------------------------------------------- */

static void fnode_free(fnode *f);

static void path_free(lpath *p)
{
    free(p->first);
    for (size_t i = 0; i < p->nseg; i++)
        free(p->segs[i].key);
    free(p->segs);
}

static void cond_free(cond *c)
{
    if (!c)
        return;
    path_free(&c->path);
    fnode_free(c->filter);
    for (size_t i = 0; c->strs && i < c->nvals; i++)
        free(c->strs[i]);
    free(c->strs);
    free(c->lens);
    free(c->ints);
    free(c->ids);
    free(c);
}

static void clist_free(clist *l)
{
    for (size_t i = 0; i < l->n; i++)
        cond_free(l->c[i]);
    free(l->c);
}

static void fnode_free(fnode *f)
{
    if (!f)
        return;
    clist_free(&f->should);
    clist_free(&f->must);
    clist_free(&f->must_not);
    clist_free(&f->min_conds);
    free(f);
}

void ls_filter_free(ls_filter *f)
{
    if (!f)
        return;
    fnode_free(f->root);
    free(f);
}

/* ---- JSON paths (segment/src/json_path, the server's parse_json_path) ------------------- */

static int path_push(lpath *p, int kind, const char *key, size_t klen, size_t idx)
{
    pseg *ns = realloc(p->segs, (p->nseg + 1) * sizeof *ns);
    if (!ns)
        return -1;
    p->segs = ns;
    pseg *s = &p->segs[p->nseg];
    s->kind = kind;
    s->idx = idx;
    s->key = NULL;
    if (kind == SEG_KEY) {
        s->key = strndup(key, klen);
        if (!s->key)
            return -1;
    }
    p->nseg++;
    return 0;
}

/* Returns 0, -1 on allocation failure, 1 when s is not a valid path. */
static int path_parse_strict(lpath *p, const char *s)
{
    size_t i = 0, n = strlen(s);
    int first = 1;
    while (i < n) {
        const char *key;
        size_t klen;
        if (s[i] == '"') {
            const char *q = memchr(s + i + 1, '"', n - i - 1);
            if (!q)
                return 1;
            key = s + i + 1;
            klen = (size_t)(q - key);
            i = (size_t)(q - s) + 1;
        } else {
            size_t j = i;
            while (j < n && s[j] != '.' && s[j] != '[')
                j++;
            key = s + i;
            klen = j - i;
            i = j;
        }
        if (klen == 0 && !first)
            return 1;
        if (first) {
            p->first = strndup(key, klen);
            if (!p->first)
                return -1;
        } else if (path_push(p, SEG_KEY, key, klen, 0)) {
            return -1;
        }
        first = 0;
        while (i < n && s[i] == '[') {
            const char *q = memchr(s + i, ']', n - i);
            if (!q)
                return 1;
            size_t j = (size_t)(q - s);
            const char *inner = s + i + 1;
            size_t ilen = j - i - 1;
            if (ilen == 0) {
                if (path_push(p, SEG_ALL, NULL, 0, 0))
                    return -1;
            } else {
                size_t v = 0;
                for (size_t k = 0; k < ilen; k++) {
                    if (inner[k] < '0' || inner[k] > '9' || v > (SIZE_MAX - 9) / 10)
                        return 1;
                    v = v * 10 + (size_t)(inner[k] - '0');
                }
                if (path_push(p, SEG_IDX, NULL, 0, v))
                    return -1;
            }
            i = j + 1;
        }
        if (i < n) {
            if (s[i] != '.')
                return 1;
            i++;
            if (i == n)
                return 1;
        }
    }
    return first ? 1 : 0;
}

static int path_parse(lpath *p, const char *s)
{
    memset(p, 0, sizeof *p);
    int r = path_parse_strict(p, s);
    if (r == 0)
        return 0;
    path_free(p);
    memset(p, 0, sizeof *p);
    if (r < 0)
        return -1;
    /* Not a valid path: the whole string is one top-level key (as the server does). */
    p->first = strdup(s);
    return p->first ? 0 : -1;
}

/* Values found at a path: JSON null is a NULL entry. */
typedef struct vals {
    size_t n, cap;
    json_object **v;
    json_object *inl[8];
} vals;

static void vals_init(vals *vs)
{
    vs->n = 0;
    vs->cap = 8;
    vs->v = vs->inl;
}

static void vals_free(vals *vs)
{
    if (vs->v != vs->inl)
        free(vs->v);
}

static int vals_push(vals *vs, json_object *o)
{
    if (vs->n == vs->cap) {
        size_t nc = vs->cap * 2;
        json_object **nv = malloc(nc * sizeof *nv);
        if (!nv)
            return -1;
        memcpy(nv, vs->v, vs->n * sizeof *nv);
        if (vs->v != vs->inl)
            free(vs->v);
        vs->v = nv;
        vs->cap = nc;
    }
    vs->v[vs->n++] = o;
    return 0;
}

static void value_get(const pseg *segs, size_t nseg, json_object *value, vals *out)
{
    if (nseg == 0) {
        vals_push(out, value); /* on allocation failure the value is just not seen */
        return;
    }
    const pseg *h = &segs[0];
    if (h->kind == SEG_KEY) {
        json_object *child;
        if (json_object_is_type(value, json_type_object) &&
            json_object_object_get_ex(value, h->key, &child))
            value_get(segs + 1, nseg - 1, child, out);
    } else if (h->kind == SEG_IDX) {
        if (json_object_is_type(value, json_type_array) && h->idx < json_object_array_length(value))
            value_get(segs + 1, nseg - 1, json_object_array_get_idx(value, h->idx), out);
    } else if (json_object_is_type(value, json_type_array)) {
        size_t n = json_object_array_length(value);
        for (size_t i = 0; i < n; i++)
            value_get(segs + 1, nseg - 1, json_object_array_get_idx(value, i), out);
    }
}

static void payload_values(const lpath *p, json_object *payload, vals *out)
{
    json_object *v;
    if (payload && json_object_is_type(payload, json_type_object) &&
        json_object_object_get_ex(payload, p->first, &v))
        value_get(p->segs, p->nseg, v, out);
}

/* ---- compiling -------------------------------------------------------------------------- */

static int compile_filter(fnode **out, json_object *o, const char *where, int depth, cctx *c);

static int is_null_or_absent(json_object *o, const char *key, json_object **v)
{
    json_object *x = NULL;
    if (!json_object_object_get_ex(o, key, &x) || x == NULL)
        return 1;
    *v = x;
    return 0;
}

/* An integer that fits int64 (serde_json's as_i64). */
static int json_i64(json_object *o, int64_t *out)
{
    if (!json_object_is_type(o, json_type_int))
        return 0;
    int64_t v = json_object_get_int64(o);
    if (v == INT64_MAX && json_object_get_uint64(o) != (uint64_t)INT64_MAX)
        return 0;
    *out = v;
    return 1;
}

static int json_number(json_object *o, num *out)
{
    if (json_object_is_type(o, json_type_double)) {
        out->kind = N_DBL;
        out->d = json_object_get_double(o);
        return 1;
    }
    if (json_object_is_type(o, json_type_int)) {
        if (json_i64(o, &out->i)) {
            out->kind = N_I64;
        } else {
            out->kind = N_U64;
            out->u = json_object_get_uint64(o);
        }
        return 1;
    }
    return 0;
}

static int cmp_dd(double a, double b)
{
    return a < b ? -1 : a > b ? 1 : 0; /* no NaN in JSON */
}

/* integer (i64, or u64 above INT64_MAX) against a double, exactly */
static int cmp_int_d(const num *a, double d)
{
    if (a->kind == N_I64) {
        if (d >= 9223372036854775808.0)
            return -1;
        if (d < -9223372036854775808.0)
            return 1;
        int64_t t = (int64_t)d; /* truncates toward zero, exact in range */
        if (a->i != t)
            return a->i < t ? -1 : 1;
        double frac = d - (double)t;
        return frac > 0 ? -1 : frac < 0 ? 1 : 0;
    }
    if (d >= 18446744073709551616.0)
        return -1;
    if (d < 9223372036854775808.0)
        return 1;
    uint64_t t = (uint64_t)d;
    if (a->u != t)
        return a->u < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int num_cmp(const num *a, const num *b)
{
    if (a->kind == N_DBL && b->kind == N_DBL)
        return cmp_dd(a->d, b->d);
    if (b->kind == N_DBL)
        return cmp_int_d(a, b->d);
    if (a->kind == N_DBL)
        return -cmp_int_d(b, a->d);
    if (a->kind == N_U64 || b->kind == N_U64) {
        if (a->kind != b->kind)
            return a->kind == N_U64 ? 1 : -1;
        return a->u < b->u ? -1 : a->u > b->u;
    }
    return a->i < b->i ? -1 : a->i > b->i;
}

static int compile_match(cond *k, json_object *m, const char *where, cctx *c)
{
    if (!json_object_is_type(m, json_type_object))
        return fail(c, LS_EINVAL, "%s.match: must be an object", where);
    json_object *v = NULL;
    int nkeys = json_object_object_length(m);
    if (nkeys != 1)
        goto unsup;
    if (json_object_object_get_ex(m, "value", &v)) {
        k->mkind = M_VALUE;
        int64_t iv;
        if (json_object_is_type(v, json_type_boolean)) {
            k->vtype = V_BOOL;
            k->bval = json_object_get_boolean(v);
        } else if (json_object_is_type(v, json_type_string)) {
            k->vtype = V_STR;
            k->nvals = 1;
            k->strs = calloc(1, sizeof *k->strs);
            k->lens = calloc(1, sizeof *k->lens);
            if (!k->strs || !k->lens)
                return fail(c, LS_ENOMEM, "out of memory");
            k->lens[0] = (size_t)json_object_get_string_len(v);
            k->strs[0] = malloc(k->lens[0] + 1);
            if (!k->strs[0])
                return fail(c, LS_ENOMEM, "out of memory");
            memcpy(k->strs[0], json_object_get_string(v), k->lens[0] + 1);
        } else if (json_i64(v, &iv)) {
            k->vtype = V_INT;
            k->nvals = 1;
            k->ints = malloc(sizeof *k->ints);
            if (!k->ints)
                return fail(c, LS_ENOMEM, "out of memory");
            k->ints[0] = iv;
        } else {
            return fail(c, LS_EINVAL,
                        "%s.match.value: must be a string, an integer (int64) or a boolean", where);
        }
        return 0;
    }
    int any = json_object_object_get_ex(m, "any", &v);
    if (any || json_object_object_get_ex(m, "except", &v)) {
        k->mkind = any ? M_ANY : M_EXCEPT;
        if (!json_object_is_type(v, json_type_array))
            return fail(c, LS_EINVAL, "%s.match.%s: must be an array", where,
                        any ? "any" : "except");
        size_t n = json_object_array_length(v);
        k->vtype = V_STR;
        if (n && json_object_is_type(json_object_array_get_idx(v, 0), json_type_int))
            k->vtype = V_INT;
        k->nvals = n;
        if (k->vtype == V_INT) {
            k->ints = calloc(n ? n : 1, sizeof *k->ints);
            if (!k->ints)
                return fail(c, LS_ENOMEM, "out of memory");
        } else {
            k->strs = calloc(n ? n : 1, sizeof *k->strs);
            k->lens = calloc(n ? n : 1, sizeof *k->lens);
            if (!k->strs || !k->lens)
                return fail(c, LS_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            json_object *e = json_object_array_get_idx(v, i);
            if (k->vtype == V_INT) {
                if (!json_i64(e, &k->ints[i]))
                    return fail(c, LS_EINVAL,
                                "%s.match.%s: all elements must be integers (int64) or all strings",
                                where, any ? "any" : "except");
            } else {
                if (!json_object_is_type(e, json_type_string))
                    return fail(c, LS_EINVAL,
                                "%s.match.%s: all elements must be integers (int64) or all strings",
                                where, any ? "any" : "except");
                k->lens[i] = (size_t)json_object_get_string_len(e);
                k->strs[i] = malloc(k->lens[i] + 1);
                if (!k->strs[i])
                    return fail(c, LS_ENOMEM, "out of memory");
                memcpy(k->strs[i], json_object_get_string(e), k->lens[i] + 1);
            }
        }
        return 0;
    }
unsup:;
    const char *what = "?";
    json_object_object_foreach(m, key, val)
    {
        (void)val;
        if (strcmp(key, "value") && strcmp(key, "any") && strcmp(key, "except")) {
            what = key;
            break;
        }
    }
    return fail(c, LS_EUNSUPPORTED, "%s.match: `%s` matching is not supported in local mode", where,
                what);
}

static int compile_range(cond *k, json_object *r, const char *where, cctx *c)
{
    if (!json_object_is_type(r, json_type_object))
        return fail(c, LS_EINVAL, "%s.range: must be an object", where);
    json_object_object_foreach(r, key, val)
    {
        num x;
        int *has;
        num *dst;
        if (!strcmp(key, "gt"))
            has = &k->has_gt, dst = &k->gt;
        else if (!strcmp(key, "gte"))
            has = &k->has_gte, dst = &k->gte;
        else if (!strcmp(key, "lt"))
            has = &k->has_lt, dst = &k->lt;
        else if (!strcmp(key, "lte"))
            has = &k->has_lte, dst = &k->lte;
        else
            return fail(c, LS_EINVAL, "%s.range: unknown bound `%s`", where, key);
        if (val == NULL)
            continue;
        if (json_object_is_type(val, json_type_string))
            return fail(c, LS_EUNSUPPORTED,
                        "%s.range: datetime ranges are not supported in local mode", where);
        if (!json_number(val, &x))
            return fail(c, LS_EINVAL, "%s.range.%s: must be a number", where, key);
        *has = 1;
        *dst = x;
    }
    k->has_range = 1;
    return 0;
}

static int get_flag(json_object *o, const char *key, int *out, const char *where, cctx *c)
{
    json_object *v;
    *out = -1;
    if (is_null_or_absent(o, key, &v))
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return fail(c, LS_EINVAL, "%s.%s: must be a boolean", where, key);
    *out = json_object_get_boolean(v);
    return 0;
}

static int compile_key(lpath *p, json_object *o, const char *where, cctx *c)
{
    json_object *k;
    if (!json_object_object_get_ex(o, "key", &k) || !json_object_is_type(k, json_type_string))
        return fail(c, LS_EINVAL, "%s.key: must be a string", where);
    if (path_parse(p, json_object_get_string(k)))
        return fail(c, LS_ENOMEM, "out of memory");
    return 0;
}

static int compile_field(cond *k, json_object *o, const char *where, cctx *c)
{
    int r;
    k->kind = C_FIELD;
    if ((r = compile_key(&k->path, o, where, c)))
        return r;
    json_object_object_foreach(o, key, val)
    {
        if (!strcmp(key, "key"))
            continue;
        if (!strcmp(key, "match") || !strcmp(key, "range") || !strcmp(key, "is_empty") ||
            !strcmp(key, "is_null"))
            continue;
        if (val == NULL)
            continue;
        if (!strcmp(key, "geo_bounding_box") || !strcmp(key, "geo_radius") ||
            !strcmp(key, "geo_polygon") || !strcmp(key, "values_count") ||
            !strcmp(key, "datetime_range"))
            return fail(c, LS_EUNSUPPORTED, "%s: the `%s` condition is not supported in local mode",
                        where, key);
        return fail(c, LS_EUNSUPPORTED, "%s: field condition `%s` is not supported in local mode",
                    where, key);
    }
    json_object *v;
    k->mkind = M_NONE;
    if (!is_null_or_absent(o, "match", &v) && (r = compile_match(k, v, where, c)))
        return r;
    if (!is_null_or_absent(o, "range", &v) && (r = compile_range(k, v, where, c)))
        return r;
    if ((r = get_flag(o, "is_empty", &k->is_empty, where, c)) ||
        (r = get_flag(o, "is_null", &k->is_null, where, c)))
        return r;
    if (k->mkind == M_NONE && !k->has_range && k->is_empty < 0 && k->is_null < 0)
        return fail(c, LS_EINVAL,
                    "Validation error in JSON body: [%s: At least one field "
                    "condition must be specified]",
                    where);
    return 0;
}

static int id_cmp_v(const void *a, const void *b)
{
    return ls_id_cmp(a, b);
}

static int compile_has_id(cond *k, json_object *arr, const char *where, cctx *c)
{
    k->kind = C_HAS_ID;
    if (!json_object_is_type(arr, json_type_array))
        return fail(c, LS_EINVAL, "%s.has_id: must be an array of point ids", where);
    size_t n = json_object_array_length(arr);
    k->ids = calloc(n ? n : 1, sizeof *k->ids);
    if (!k->ids)
        return fail(c, LS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (json_object_is_type(e, json_type_int)) {
            int64_t v;
            if (json_i64(e, &v) && v < 0)
                return fail(c, LS_EINVAL, "%s.has_id[%zu]: a point id cannot be negative", where,
                            i);
            k->ids[i] = ls_id_num(json_object_get_uint64(e));
        } else if (!json_object_is_type(e, json_type_string) ||
                   ls_id_parse(&k->ids[i], json_object_get_string(e),
                               (size_t)json_object_get_string_len(e))) {
            return fail(c, LS_EINVAL,
                        "%s.has_id[%zu]: not a valid point id (an unsigned integer "
                        "or a UUID)",
                        where, i);
        }
    }
    qsort(k->ids, n, sizeof *k->ids, id_cmp_v);
    k->nids = n;
    return 0;
}

static int compile_cond(cond **out, json_object *o, const char *where, int depth, cctx *c)
{
    if (depth > MAX_DEPTH)
        return fail(c, LS_EINVAL, "%s: filter nested too deeply", where);
    if (!json_object_is_type(o, json_type_object))
        return fail(c, LS_EINVAL, "%s: a condition must be a JSON object", where);
    cond *k = calloc(1, sizeof *k);
    if (!k)
        return fail(c, LS_ENOMEM, "out of memory");
    k->is_empty = k->is_null = -1;
    int r = 0;
    json_object *v;
    if (json_object_object_get_ex(o, "key", &v)) {
        r = compile_field(k, o, where, c);
    } else if (json_object_object_get_ex(o, "is_empty", &v) ||
               json_object_object_get_ex(o, "is_null", &v)) {
        k->kind = json_object_object_get_ex(o, "is_empty", NULL) ? C_IS_EMPTY : C_IS_NULL;
        if (!json_object_is_type(v, json_type_object))
            r = fail(c, LS_EINVAL, "%s.%s: must be an object with a key", where,
                     k->kind == C_IS_EMPTY ? "is_empty" : "is_null");
        else
            r = compile_key(&k->path, v, where, c);
    } else if (json_object_object_get_ex(o, "has_id", &v)) {
        r = compile_has_id(k, v, where, c);
    } else if (json_object_object_get_ex(o, "nested", &v)) {
        k->kind = C_NESTED;
        json_object *f;
        if (!json_object_is_type(v, json_type_object) ||
            !json_object_object_get_ex(v, "filter", &f))
            r = fail(c, LS_EINVAL, "%s.nested: must have a key and a filter", where);
        else if (!(r = compile_key(&k->path, v, where, c)))
            r = compile_filter(&k->filter, f, where, depth + 1, c);
    } else if (json_object_object_get_ex(o, "has_vector", &v)) {
        r = fail(c, LS_EUNSUPPORTED,
                 "%s: the `has_vector` condition (named vectors) is not supported in local mode",
                 where);
    } else if (json_object_object_get_ex(o, "must", &v) ||
               json_object_object_get_ex(o, "should", &v) ||
               json_object_object_get_ex(o, "must_not", &v) ||
               json_object_object_get_ex(o, "min_should", &v) ||
               json_object_object_length(o) == 0) {
        k->kind = C_FILTER;
        r = compile_filter(&k->filter, o, where, depth + 1, c);
    } else {
        const char *what = "?";
        json_object_object_foreach(o, key, val)
        {
            (void)val;
            what = key;
            break;
        }
        r = fail(c, LS_EUNSUPPORTED, "%s: the `%s` condition is not supported in local mode", where,
                 what);
    }
    if (r) {
        cond_free(k);
        return r;
    }
    *out = k;
    return 0;
}

static int compile_list(clist *l, json_object *v, const char *where, const char *name, int depth,
                        cctx *c)
{
    char sub[256];
    l->present = 1;
    if (!json_object_is_type(v, json_type_array)) {
        l->c = calloc(1, sizeof *l->c);
        if (!l->c)
            return fail(c, LS_ENOMEM, "out of memory");
        snprintf(sub, sizeof sub, "%s.%s", where, name);
        int r = compile_cond(&l->c[0], v, sub, depth, c);
        if (!r)
            l->n = 1;
        return r;
    }
    size_t n = json_object_array_length(v);
    l->c = calloc(n ? n : 1, sizeof *l->c);
    if (!l->c)
        return fail(c, LS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        snprintf(sub, sizeof sub, "%s.%s[%zu]", where, name, i);
        int r = compile_cond(&l->c[i], json_object_array_get_idx(v, i), sub, depth, c);
        if (r)
            return r;
        l->n = i + 1;
    }
    return 0;
}

static int compile_filter(fnode **out, json_object *o, const char *where, int depth, cctx *c)
{
    if (depth > MAX_DEPTH)
        return fail(c, LS_EINVAL, "%s: filter nested too deeply", where);
    if (!json_object_is_type(o, json_type_object))
        return fail(c, LS_EINVAL, "%s: a filter must be a JSON object", where);
    fnode *f = calloc(1, sizeof *f);
    if (!f)
        return fail(c, LS_ENOMEM, "out of memory");
    int r = 0;
    json_object_object_foreach(o, key, val)
    {
        if (val == NULL)
            continue;
        if (!strcmp(key, "must")) {
            r = compile_list(&f->must, val, where, key, depth + 1, c);
        } else if (!strcmp(key, "should")) {
            r = compile_list(&f->should, val, where, key, depth + 1, c);
        } else if (!strcmp(key, "must_not")) {
            r = compile_list(&f->must_not, val, where, key, depth + 1, c);
        } else if (!strcmp(key, "min_should")) {
            json_object *conds, *mc;
            char sub[256];
            snprintf(sub, sizeof sub, "%s.min_should", where);
            if (!json_object_is_type(val, json_type_object) ||
                !json_object_object_get_ex(val, "conditions", &conds) ||
                !json_object_object_get_ex(val, "min_count", &mc) ||
                !json_object_is_type(mc, json_type_int) || json_object_get_int64(mc) < 0) {
                r = fail(c, LS_EINVAL, "%s: must have conditions and a min_count >= 0", sub);
            } else {
                f->has_min = 1;
                f->min_count = json_object_get_uint64(mc);
                r = compile_list(&f->min_conds, conds, sub, "conditions", depth + 1, c);
            }
        } else {
            r = fail(c, LS_EUNSUPPORTED, "%s: filter clause `%s` is not supported in local mode",
                     where, key);
        }
        if (r)
            break;
    }
    if (r) {
        fnode_free(f);
        return r;
    }
    *out = f;
    return 0;
}

int ls_filter_compile(ls_filter **out, const char *text, char *msg, size_t cap)
{
    cctx c = {msg, cap};
    if (msg && cap)
        msg[0] = '\0';
    if (!out)
        return fail(&c, LS_EINVAL, "filter: no output");
    while (text && (*text == ' ' || *text == '\t' || *text == '\n' || *text == '\r'))
        text++;
    if (!text || !*text || strcmp(text, "null") == 0) {
        *out = NULL;
        return 0;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return fail(&c, LS_ENOMEM, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    size_t len = strlen(text);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t used = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (je != json_tokener_success || used != len) {
        json_object_put(o);
        return fail(&c, LS_EINVAL, "filter: not valid JSON (%s)",
                    je != json_tokener_success ? json_tokener_error_desc(je)
                                               : "trailing characters");
    }
    if (o == NULL) { /* "null" */
        *out = NULL;
        return 0;
    }
    ls_filter *f = calloc(1, sizeof *f);
    if (!f) {
        json_object_put(o);
        return fail(&c, LS_ENOMEM, "out of memory");
    }
    int r = compile_filter(&f->root, o, "filter", 0, &c);
    json_object_put(o);
    if (r) {
        free(f);
        return r;
    }
    *out = f;
    return 0;
}

/* ---- checking --------------------------------------------------------------------------- */

static int check_filter(const fnode *f, const ls_id *id, json_object *payload);

static int str_in(const cond *k, const char *s, size_t len)
{
    for (size_t i = 0; i < k->nvals; i++)
        if (k->lens[i] == len && memcmp(k->strs[i], s, len) == 0)
            return 1;
    return 0;
}

static int int_in(const cond *k, int64_t v)
{
    for (size_t i = 0; i < k->nvals; i++)
        if (k->ints[i] == v)
            return 1;
    return 0;
}

/* _match_check for one value v (not a list). */
static int match_check(const cond *k, json_object *v)
{
    enum json_type t = json_object_get_type(v);
    int64_t iv;
    switch (k->mkind) {
    case M_VALUE:
        if (k->vtype == V_BOOL)
            return t == json_type_boolean && json_object_get_boolean(v) == k->bval;
        if (k->vtype == V_STR)
            return t == json_type_string &&
                   str_in(k, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        return json_i64(v, &iv) && iv == k->ints[0];
    case M_ANY:
        if (k->vtype == V_INT)
            return json_i64(v, &iv) && int_in(k, iv);
        return t == json_type_string &&
               str_in(k, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    case M_EXCEPT:
        if (t == json_type_string && k->vtype != V_INT)
            return !str_in(k, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        if ((t == json_type_int || t == json_type_double) && k->vtype == V_INT)
            return json_i64(v, &iv) ? !int_in(k, iv) : 1;
        if (t == json_type_null)
            return 0;
        return 1;
    default:
        return 0;
    }
}

static int range_check(const cond *k, const num *x)
{
    return (!k->has_lt || num_cmp(x, &k->lt) < 0) && (!k->has_gt || num_cmp(x, &k->gt) > 0) &&
           (!k->has_lte || num_cmp(x, &k->lte) <= 0) && (!k->has_gte || num_cmp(x, &k->gte) >= 0);
}

/* _field_check_match */
static int field_check_match(const cond *k, json_object *v)
{
    if (k->mkind != M_NONE && match_check(k, v))
        return 1;
    num x;
    if (k->has_range && json_number(v, &x) && range_check(k, &x))
        return 1;
    return 0;
}

static int field_condition(const cond *k, json_object *payload)
{
    vals vs;
    vals_init(&vs);
    payload_values(&k->path, payload, &vs);
    int res = 0;
    if (vs.n == 0) {
        if (k->is_empty >= 0)
            res = k->is_empty;
        else if (k->is_null >= 0)
            res = !k->is_null;
        vals_free(&vs);
        return res;
    }
    for (size_t i = 0; i < vs.n && !res; i++) {
        json_object *v = vs.v[i];
        int isarr = json_object_is_type(v, json_type_array);
        if (k->is_empty >= 0) {
            if (v == NULL)
                res = k->is_empty;
            else if (isarr)
                res = (json_object_array_length(v) == 0) == k->is_empty;
            else
                res = !k->is_empty;
        } else if (k->is_null >= 0) {
            if (v == NULL) {
                res = k->is_null;
            } else if (isarr) {
                int anynull = 0;
                size_t n = json_object_array_length(v);
                for (size_t j = 0; j < n && !anynull; j++)
                    anynull = json_object_array_get_idx(v, j) == NULL;
                res = anynull == k->is_null;
            } else {
                res = !k->is_null;
            }
        } else if (isarr) {
            size_t n = json_object_array_length(v);
            for (size_t j = 0; j < n && !res; j++)
                res = field_check_match(k, json_object_array_get_idx(v, j));
        } else {
            res = field_check_match(k, v);
        }
    }
    vals_free(&vs);
    return res;
}

static int check_cond(const cond *k, const ls_id *id, json_object *payload)
{
    switch (k->kind) {
    case C_FIELD:
        return field_condition(k, payload);
    case C_IS_EMPTY:
    case C_IS_NULL: {
        vals vs;
        vals_init(&vs);
        payload_values(&k->path, payload, &vs);
        int res = k->kind == C_IS_EMPTY;
        for (size_t i = 0; i < vs.n; i++) {
            json_object *v = vs.v[i];
            if (k->kind == C_IS_EMPTY) {
                if (!(v == NULL ||
                      (json_object_is_type(v, json_type_array) && !json_object_array_length(v)))) {
                    res = 0;
                    break;
                }
            } else if (v == NULL) {
                res = 1;
                break;
            }
        }
        vals_free(&vs);
        return res;
    }
    case C_HAS_ID:
        return id && bsearch(id, k->ids, k->nids, sizeof *k->ids, id_cmp_v) != NULL;
    case C_NESTED: {
        vals vs;
        vals_init(&vs);
        payload_values(&k->path, payload, &vs);
        int res = 0;
        for (size_t i = 0; i < vs.n && !res; i++) {
            json_object *arr = vs.v[i];
            if (json_object_is_type(arr, json_type_array)) {
                size_t n = json_object_array_length(arr);
                for (size_t j = 0; j < n && !res; j++) {
                    json_object *el = json_object_array_get_idx(arr, j);
                    res = json_object_is_type(el, json_type_object) &&
                          check_filter(k->filter, NULL, el);
                }
            } else {
                res = json_object_is_type(arr, json_type_object) &&
                      check_filter(k->filter, NULL, arr);
            }
        }
        vals_free(&vs);
        return res;
    }
    default:
        return check_filter(k->filter, id, payload);
    }
}

static int check_filter(const fnode *f, const ls_id *id, json_object *payload)
{
    if (!f)
        return 1;
    if (f->should.present) {
        int any = 0;
        for (size_t i = 0; i < f->should.n && !any; i++)
            any = check_cond(f->should.c[i], id, payload);
        if (!any)
            return 0;
    }
    if (f->has_min) {
        uint64_t n = 0;
        for (size_t i = 0; i < f->min_conds.n && n < f->min_count; i++)
            n += (uint64_t)check_cond(f->min_conds.c[i], id, payload);
        if (n < f->min_count)
            return 0;
    }
    for (size_t i = 0; i < f->must.n; i++)
        if (!check_cond(f->must.c[i], id, payload))
            return 0;
    for (size_t i = 0; i < f->must_not.n; i++)
        if (check_cond(f->must_not.c[i], id, payload))
            return 0;
    return 1;
}

int ls_filter_match(const ls_filter *f, const ls_id *id, json_object *payload)
{
    return f ? check_filter(f->root, id, payload) : 1;
}
