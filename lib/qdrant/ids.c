/* libqdrantc: point ids, and writing ids and floats as JSON. */
#include "internal.h"

#include "hex.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fmt_float.h"

QDRANT_API qdrant_point_id qdrant_point_id_num(uint64_t num)
{
    qdrant_point_id id;
    memset(&id, 0, sizeof id);
    id.kind = QDRANT_ID_NUM;
    id.num = num;
    return id;
}

static int parse_u64(uint64_t *out, const char *s, size_t len)
{
    if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

QDRANT_API int qdrant_point_id_parse(qdrant_point_id *out, const char *text)
{
    if (!out || !text)
        return QDRANT_EINVAL;
    size_t len = strlen(text);
    qdrant_point_id id;
    memset(&id, 0, sizeof id);
    if (len == 36 && rc_uuid_parse(id.uuid, text, len, 0) == 0) {
        id.kind = QDRANT_ID_UUID;
    } else if (parse_u64(&id.num, text, len) == 0) {
        id.kind = QDRANT_ID_NUM;
    } else {
        return QDRANT_EINVAL;
    }
    *out = id;
    return QDRANT_OK;
}

QDRANT_API int qdrant_point_id_format(char *out, size_t cap, const qdrant_point_id *id)
{
    if (!out || !id)
        return QDRANT_EINVAL;
    char tmp[QDRANT_POINT_ID_STRLEN];
    if (id->kind == QDRANT_ID_NUM) {
        snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)id->num);
    } else if (id->kind == QDRANT_ID_UUID) {
        rc_uuid_format(tmp, id->uuid);
    } else {
        return QDRANT_EINVAL;
    }
    size_t n = strlen(tmp);
    if (n >= cap)
        return QDRANT_EINVAL;
    memcpy(out, tmp, n + 1);
    return QDRANT_OK;
}

QDRANT_API int qdrant_point_id_equal(const qdrant_point_id *a, const qdrant_point_id *b)
{
    if (!a || !b || a->kind != b->kind)
        return 0;
    if (a->kind == QDRANT_ID_NUM)
        return a->num == b->num;
    if (a->kind == QDRANT_ID_UUID)
        return memcmp(a->uuid, b->uuid, 16) == 0;
    return 0;
}

/* What qdrant_point_id_format accepts (its QDRANT_POINT_ID_STRLEN bytes always suffice), without
 * formatting the id. */
int qd_id_valid(const qdrant_point_id *id)
{
    return id->kind == QDRANT_ID_NUM || id->kind == QDRANT_ID_UUID;
}

int qd_put_id(rc_buf *b, const qdrant_point_id *id)
{
    if (id->kind == QDRANT_ID_NUM) /* the usual case, once per point of a body: no snprintf */
        return rc_buf_put_u64(b, id->num);
    char tmp[QDRANT_POINT_ID_STRLEN];
    if (qdrant_point_id_format(tmp, sizeof tmp, id) != QDRANT_OK)
        return -2;
    return rc_buf_printf(b, "\"%s\"", tmp);
}

int qd_decode_id(qdrant_point_id *out, json_object *v)
{
    qdrant_point_id id;
    memset(&id, 0, sizeof id);
    if (json_object_is_type(v, json_type_int)) {
        /* json-c keeps values above INT64_MAX as uint64; negative ones read back as 0 here. */
        uint64_t u = json_object_get_uint64(v);
        if (u == 0 && json_object_get_int64(v) != 0)
            return QDRANT_EPROTOCOL;
        id.kind = QDRANT_ID_NUM;
        id.num = u;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (rc_uuid_parse(id.uuid, s, (size_t)json_object_get_string_len(v), 0) != 0)
            return QDRANT_EPROTOCOL;
        id.kind = QDRANT_ID_UUID;
    } else {
        return QDRANT_EPROTOCOL;
    }
    *out = id;
    return QDRANT_OK;
}

/* printf's %g follows LC_NUMERIC; JSON wants '.': whatever the decimal point came out as (the
 * only byte run that is not a digit, sign or exponent) becomes '.'. */
static int put_num(rc_buf *b, int prec, double v)
{
    char tmp[64], out[64];
    snprintf(tmp, sizeof tmp, "%.*g", prec, v);
    size_t k = 0;
    int in_point = 0;
    for (const char *p = tmp; *p && k < sizeof out - 1; p++) {
        int plain = (*p >= '0' && *p <= '9') || *p == '-' || *p == '+' || *p == 'e';
        if (plain) {
            out[k++] = *p;
            in_point = 0;
        } else if (!in_point) {
            out[k++] = '.';
            in_point = 1;
        }
    }
    out[k] = '\0';
    return rc_buf_puts(b, out);
}

int qd_put_double(rc_buf *b, double v)
{
    if (!isfinite(v))
        return -2;
    /* The shortest of %.15g/%.16g/%.17g that reads back exactly (0.1 stays "0.1"). */
    for (int prec = 15; prec < 17; prec++) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            return put_num(b, prec, v);
    }
    return put_num(b, 17, v);
}

/* The one place floats become text: rc_fmt_f32, the shortest text that reads back the same. */
int qd_put_f32(rc_buf *b, float v)
{
    if (!isfinite(v))
        return -2;
    if (rc_buf_reserve(b, RC_FMT_F32_MAX + 1) < 0)
        return -1;
    size_t n = rc_fmt_f32(b->data + b->len, v);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int qd_put_vector(rc_buf *b, const float *v, size_t dim, size_t *bad)
{
    /* The hot loop of every upsert body: reserve once, then format straight into the buffer
     * (no per-float bounds check, call or terminator), checking for NaN and infinities on the
     * way; the buffer is left as it was when there is one. */
    if (dim > (SIZE_MAX - 3) / (RC_FMT_F32_MAX + 1) ||
        rc_buf_reserve(b, dim * (RC_FMT_F32_MAX + 1) + 2) < 0)
        return -1;
    char *p = b->data + b->len;
    size_t at = 0, n = rc_fmt_f32_array_checked(p + 1, v, dim, &at);
    if (n == SIZE_MAX) {
        b->data[b->len] = '\0';
        if (bad)
            *bad = at;
        return -2;
    }
    p[0] = '[';
    p[n + 1] = ']';
    b->len += n + 2;
    b->data[b->len] = '\0';
    return 0;
    if (rc_buf_putc(b, '[') < 0)
        return -1;
    for (size_t i = 0; i < dim; i++) {
        if (i && rc_buf_putc(b, ',') < 0)
            return -1;
        int r = qd_put_f32(b, v[i]);
        if (r == -2 && bad)
            *bad = i;
        if (r)
            return r;
    }
    return rc_buf_putc(b, ']');
}
