/* libqdrantc: the filter builder. Conditions are kept as JSON text per clause; the whole filter
 * is rendered again after every change, so reading it never allocates. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct qdrant_filter {
    rc_buf clause[3]; /* comma-separated conditions of must, should, must_not */
    rc_buf json;      /* the rendered filter */
};

static const char *const clause_names[3] = {"must", "should", "must_not"};

static int render(qdrant_filter *f)
{
    rc_buf out = RC_BUF_INIT;
    int e = rc_buf_putc(&out, '{');
    int first = 1;
    for (int i = 0; i < 3; i++) {
        if (!f->clause[i].len)
            continue;
        e |= rc_buf_printf(&out, "%s\"%s\":[", first ? "" : ",", clause_names[i]);
        e |= rc_buf_append(&out, f->clause[i].data, f->clause[i].len);
        e |= rc_buf_putc(&out, ']');
        first = 0;
    }
    e |= rc_buf_putc(&out, '}');
    if (e) {
        rc_buf_free(&out);
        return QDRANT_ENOMEM;
    }
    rc_buf_free(&f->json);
    f->json = out;
    return QDRANT_OK;
}

QDRANT_API int qdrant_filter_new(qdrant_filter **out)
{
    if (!out)
        return QDRANT_EINVAL;
    qdrant_filter *f = calloc(1, sizeof *f);
    if (!f)
        return QDRANT_ENOMEM;
    if (render(f) != QDRANT_OK) {
        free(f);
        return QDRANT_ENOMEM;
    }
    *out = f;
    return QDRANT_OK;
}

QDRANT_API void qdrant_filter_free(qdrant_filter *f)
{
    if (!f)
        return;
    for (int i = 0; i < 3; i++)
        rc_buf_free(&f->clause[i]);
    rc_buf_free(&f->json);
    free(f);
}

QDRANT_API const char *qdrant_filter_json(const qdrant_filter *f)
{
    return f ? f->json.data : NULL;
}

const char *qd_filter_render(const qdrant_filter *f)
{
    return qdrant_filter_json(f);
}

/* Appends the condition text in cond to the clause (adding the separator), then re-renders.
 * On failure the filter is left as it was. */
static int add(qdrant_filter *f, int clause, rc_buf *cond)
{
    rc_buf *b = &f->clause[clause];
    size_t mark = b->len;
    int e = 0;
    if (b->len)
        e |= rc_buf_putc(b, ',');
    e |= rc_buf_append(b, cond->data, cond->len);
    int rc = e ? QDRANT_ENOMEM : render(f);
    if (rc && b->data) {
        b->len = mark;
        b->data[mark] = '\0';
    }
    rc_buf_free(cond);
    return rc;
}

static int check(const qdrant_filter *f, qdrant_clause clause, const char *key)
{
    if (!f || (int)clause < 0 || (int)clause > 2)
        return QDRANT_EINVAL;
    if (key && (!*key || !rc_utf8_valid(key, strlen(key))))
        return QDRANT_EINVAL;
    return QDRANT_OK;
}

/* {"key":<key>,"match":{"value":  (the value and "}}" follow) */
static int open_match(rc_buf *b, const char *key)
{
    int e = rc_buf_puts(b, "{\"key\":");
    e |= rc_buf_json_str(b, key, strlen(key)) ? -1 : 0;
    e |= rc_buf_puts(b, ",\"match\":{\"value\":");
    return e;
}

QDRANT_API int qdrant_filter_match_keyword(qdrant_filter *f, qdrant_clause clause, const char *key,
                                           const char *value)
{
    if (check(f, clause, key) || !key || !value)
        return QDRANT_EINVAL;
    rc_buf b = RC_BUF_INIT;
    int e = open_match(&b, key);
    int r = rc_buf_json_str(&b, value, strlen(value));
    if (r == -2) {
        rc_buf_free(&b);
        return QDRANT_EINVAL;
    }
    e |= r;
    e |= rc_buf_puts(&b, "}}");
    if (e) {
        rc_buf_free(&b);
        return QDRANT_ENOMEM;
    }
    return add(f, clause, &b);
}

QDRANT_API int qdrant_filter_match_int(qdrant_filter *f, qdrant_clause clause, const char *key,
                                       int64_t value)
{
    if (check(f, clause, key) || !key)
        return QDRANT_EINVAL;
    rc_buf b = RC_BUF_INIT;
    int e = open_match(&b, key);
    e |= rc_buf_put_i64(&b, value);
    e |= rc_buf_puts(&b, "}}");
    if (e) {
        rc_buf_free(&b);
        return QDRANT_ENOMEM;
    }
    return add(f, clause, &b);
}

QDRANT_API int qdrant_filter_match_bool(qdrant_filter *f, qdrant_clause clause, const char *key,
                                        int value)
{
    if (check(f, clause, key) || !key)
        return QDRANT_EINVAL;
    rc_buf b = RC_BUF_INIT;
    int e = open_match(&b, key);
    e |= rc_buf_puts(&b, value ? "true}}" : "false}}");
    if (e) {
        rc_buf_free(&b);
        return QDRANT_ENOMEM;
    }
    return add(f, clause, &b);
}

QDRANT_API int qdrant_filter_range(qdrant_filter *f, qdrant_clause clause, const char *key,
                                   const qdrant_range *r)
{
    if (check(f, clause, key) || !key || !r)
        return QDRANT_EINVAL;
    const unsigned all = QDRANT_RANGE_GT | QDRANT_RANGE_GTE | QDRANT_RANGE_LT | QDRANT_RANGE_LTE;
    if (!(r->flags & all) || (r->flags & ~all))
        return QDRANT_EINVAL;
    const char *names[4] = {"gt", "gte", "lt", "lte"};
    const double vals[4] = {r->gt, r->gte, r->lt, r->lte};
    for (int i = 0; i < 4; i++)
        if ((r->flags & (1u << i)) && !isfinite(vals[i]))
            return QDRANT_EINVAL;
    rc_buf b = RC_BUF_INIT;
    int e = rc_buf_puts(&b, "{\"key\":");
    e |= rc_buf_json_str(&b, key, strlen(key)) ? -1 : 0;
    e |= rc_buf_puts(&b, ",\"range\":{");
    int first = 1;
    for (int i = 0; i < 4; i++) {
        if (!(r->flags & (1u << i)))
            continue;
        /* %.17g round-trips every double; the spec's Range bounds are doubles. */
        e |= rc_buf_printf(&b, "%s\"%s\":", first ? "" : ",", names[i]);
        e |= qd_put_double(&b, vals[i]) ? -1 : 0;
        first = 0;
    }
    e |= rc_buf_puts(&b, "}}");
    if (e) {
        rc_buf_free(&b);
        return QDRANT_ENOMEM;
    }
    return add(f, clause, &b);
}

QDRANT_API int qdrant_filter_has_id(qdrant_filter *f, qdrant_clause clause,
                                    const qdrant_point_id *ids, size_t n)
{
    if (check(f, clause, NULL) || !ids || n == 0)
        return QDRANT_EINVAL;
    rc_buf b = RC_BUF_INIT;
    int e = rc_buf_puts(&b, "{\"has_id\":[");
    for (size_t i = 0; i < n && !e; i++) {
        if (i)
            e |= rc_buf_putc(&b, ',');
        int r = qd_put_id(&b, &ids[i]);
        if (r == -2) {
            rc_buf_free(&b);
            return QDRANT_EINVAL;
        }
        e |= r;
    }
    e |= rc_buf_puts(&b, "]}");
    if (e) {
        rc_buf_free(&b);
        return QDRANT_ENOMEM;
    }
    return add(f, clause, &b);
}

QDRANT_API int qdrant_filter_raw(qdrant_filter *f, qdrant_clause clause, const char *condition_json)
{
    if (check(f, clause, NULL) || !condition_json)
        return QDRANT_EINVAL;
    rc_buf b = RC_BUF_INIT;
    int rc = qd_put_json_object(&b, condition_json);
    if (rc) {
        rc_buf_free(&b);
        return rc;
    }
    return add(f, clause, &b);
}
