/* Stream message decoding (an NDJSON line of the consume stream -> driftq_message) and the
 * driftq_message accessors. No I/O here: the stream loop is in consume.c. */
#include "message.h"

#include "hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
    F_KEY,
    F_VALUE,
    F_LASTERR,
    F_JSON,
    F_RLABEL,
    F_RMETA,
    F_RUN,
    F_STEP,
    F_PARENT,
    F_TENANT,
    F_IDEM,
    F_TARGET,
    F_TOPIC,
    F_GROUP,
    F_OWNER,
    F_COUNT
};

typedef struct {
    size_t off[F_COUNT];
    int set[F_COUNT];
} offsets;

static int arena_put(rc_buf *a, offsets *o, int f, const char *s, size_t len)
{
    o->off[f] = a->len;
    o->set[f] = 1;
    if (rc_buf_append(a, s, len) < 0 || rc_buf_putc(a, '\0') < 0)
        return -1;
    return 0;
}

static const char *at(const rc_buf *a, const offsets *o, int f)
{
    return o->set[f] ? a->data + o->off[f] : NULL;
}

/* Parses an RFC 3339 timestamp into Unix ms; 0 when unparsable. */
static int64_t parse_rfc3339(const char *s)
{
    int Y, M, D, h, m, sec, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &Y, &M, &D, &h, &m, &sec, &n) != 6)
        return 0;
    const char *p = s + n;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int64_t off = 0;
    if (*p == '+' || *p == '-') {
        int oh, om;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return 0;
        off = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
    } else if (*p != 'Z' && *p != 'z') {
        return 0;
    }
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    return ((int64_t)t - off) * 1000 + ms;
}

static int get_str(json_object *o, const char *k, const char **s, size_t *len)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v) || json_object_is_type(v, json_type_null))
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        *s = json_object_get_string(v);
        *len = (size_t)json_object_get_string_len(v);
    } else {
        *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
        *len = strlen(*s);
    }
    return 1;
}

/* ---- fast path ----
 * The broker's lines have one shape: a flat object of known keys with small nested objects
 * (routing, envelope, retry_policy). fast_decode() reads that shape directly, without building a
 * json-c tree (about a fifth of the instructions); anything it does not handle exactly
 * (floats, booleans, odd nesting, whitespace inside routing.meta, ...) makes it return 1 and
 * dq_message_decode() falls back to json-c. A fuzz target checks both paths give the same
 * message. */

typedef struct {
    const char *p, *end;
} cur;

static void ws(cur *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

/* Reads a JSON string at c->p into out (unescaped, UTF-8). 0, 1 (not handled), -2 (nomem). */
static int fstr(cur *c, rc_buf *out)
{
    if (c->p >= c->end || *c->p != '"')
        return 1;
    c->p++;
    const char *run = c->p;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '"') {
            if (rc_buf_append(out, run, (size_t)(c->p - run)) < 0)
                return -2;
            c->p++;
            return 0;
        }
        if (ch < 0x20)
            return 1;
        if (ch != '\\') {
            c->p++;
            continue;
        }
        if (rc_buf_append(out, run, (size_t)(c->p - run)) < 0)
            return -2;
        if (c->end - c->p < 2)
            return 1;
        char e = c->p[1], o;
        c->p += 2;
        switch (e) {
        case '"':
            o = '"';
            break;
        case '\\':
            o = '\\';
            break;
        case '/':
            o = '/';
            break;
        case 'b':
            o = '\b';
            break;
        case 'f':
            o = '\f';
            break;
        case 'n':
            o = '\n';
            break;
        case 'r':
            o = '\r';
            break;
        case 't':
            o = '\t';
            break;
        case 'u': {
            if (c->end - c->p < 4)
                return 1;
            unsigned u = 0;
            for (int i = 0; i < 4; i++) {
                int h = rc_hexval(c->p[i]);
                if (h < 0)
                    return 1;
                u = u * 16 + (unsigned)h;
            }
            c->p += 4;
            if ((u >= 0xD800 && u <= 0xDFFF) || u == 0)
                return 1; /* surrogates and NUL: leave to json-c */
            char b[3];
            size_t n;
            if (u < 0x80) {
                b[0] = (char)u;
                n = 1;
            } else if (u < 0x800) {
                b[0] = (char)(0xC0 | (u >> 6));
                b[1] = (char)(0x80 | (u & 0x3F));
                n = 2;
            } else {
                b[0] = (char)(0xE0 | (u >> 12));
                b[1] = (char)(0x80 | ((u >> 6) & 0x3F));
                b[2] = (char)(0x80 | (u & 0x3F));
                n = 3;
            }
            if (rc_buf_append(out, b, n) < 0)
                return -2;
            run = c->p;
            continue;
        }
        default:
            return 1;
        }
        if (rc_buf_putc(out, o) < 0)
            return -2;
        run = c->p;
    }
    return 1;
}

/* A non-negative integer without fraction or exponent. */
static int fint(cur *c, int64_t *out)
{
    const char *p = c->p;
    if (p >= c->end || *p < '0' || *p > '9' ||
        (*p == '0' && p + 1 < c->end && p[1] >= '0' && p[1] <= '9'))
        return 1;
    int64_t v = 0;
    while (p < c->end && *p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return 1;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (p < c->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return 1;
    c->p = p;
    *out = v;
    return 0;
}

/* Matches the next key; returns its text (escape-free keys only) or NULL. */
static const char *fkey(cur *c, size_t *klen)
{
    ws(c);
    if (c->p >= c->end || *c->p != '"')
        return NULL;
    const char *k = ++c->p;
    while (c->p < c->end && *c->p != '"') {
        if (*c->p == '\\' || (unsigned char)*c->p < 0x20)
            return NULL;
        c->p++;
    }
    if (c->p >= c->end)
        return NULL;
    *klen = (size_t)(c->p - k);
    c->p++;
    ws(c);
    if (c->p >= c->end || *c->p != ':')
        return NULL;
    c->p++;
    ws(c);
    return k;
}

#define KEYIS(k, n, lit) ((n) == sizeof(lit) - 1 && memcmp((k), (lit), (n)) == 0)

/* After a value: ',' (returns 0, more), '}' (returns 2, done), else 1. */
static int fnext(cur *c)
{
    ws(c);
    if (c->p < c->end && *c->p == ',') {
        c->p++;
        return 0;
    }
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 2;
    }
    return 1;
}

static int fobject_open(cur *c)
{
    ws(c);
    if (c->p >= c->end || *c->p != '{')
        return 1;
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return 3; /* empty, and consumed */
    }
    return 0;
}

static int fast_decode(struct driftq_message *m, const char *line, size_t len)
{
    cur c = {line, line + len};
    rc_buf *a = &m->arena;
    rc_buf_reset(a);
    offsets o;
    memset(&o, 0, sizeof o);
    driftq_envelope d = DRIFTQ_ENVELOPE_INIT;
    m->env = d;
    m->has_env = 0;
    m->key_len = m->value_len = 0;
    int have_p = 0, have_o = 0, r;
    int64_t iv;
    m->attempts = 0;
    if (fobject_open(&c) != 0)
        return 1;
    for (;;) {
        size_t kl;
        const char *k = fkey(&c, &kl);
        if (!k)
            return 1;
        int f = -1;
        if (KEYIS(k, kl, "partition") || KEYIS(k, kl, "offset") || KEYIS(k, kl, "attempts")) {
            if (fint(&c, &iv))
                return 1;
            if (k[0] == 'p') {
                if (iv > INT32_MAX)
                    return 1;
                m->partition = (int)iv;
                have_p = 1;
            } else if (k[0] == 'o') {
                m->offset = iv;
                have_o = 1;
            } else {
                if (iv > INT32_MAX)
                    return 1;
                m->attempts = (int)iv;
            }
        } else if ((KEYIS(k, kl, "key") && (f = F_KEY) >= 0) ||
                   (KEYIS(k, kl, "value") && (f = F_VALUE) >= 0) ||
                   (KEYIS(k, kl, "last_error") && (f = F_LASTERR) >= 0)) {
            if (o.set[f])
                return 1; /* duplicate key: json-c keeps the last; let it decide */
            o.off[f] = a->len;
            o.set[f] = 1;
            size_t before = a->len;
            if ((r = fstr(&c, a)) != 0)
                return r;
            if (f == F_KEY)
                m->key_len = a->len - before;
            if (f == F_VALUE)
                m->value_len = a->len - before;
            if (rc_buf_putc(a, '\0') < 0)
                return -2;
        } else if (KEYIS(k, kl, "routing")) {
            if ((r = fobject_open(&c)) == 3)
                goto next;
            if (r)
                return 1;
            for (;;) {
                const char *rk = fkey(&c, &kl);
                if (!rk)
                    return 1;
                if (KEYIS(rk, kl, "label") && !o.set[F_RLABEL]) {
                    o.off[F_RLABEL] = a->len;
                    o.set[F_RLABEL] = 1;
                    if ((r = fstr(&c, a)) != 0)
                        return r;
                    if (rc_buf_putc(a, '\0') < 0)
                        return -2;
                } else if (KEYIS(rk, kl, "meta") && !o.set[F_RMETA]) {
                    /* Kept as text: only a flat object of plain strings, copied as is (it is
                     * then exactly what json-c would print). */
                    const char *start = c.p;
                    if (c.p >= c.end || *c.p != '{')
                        return 1;
                    c.p++;
                    int depth_ok = 1;
                    while (c.p < c.end && *c.p != '}') {
                        char ch = *c.p;
                        if (ch == '\\' || ch == ' ' || ch == '{' || ch == '[' || ch == '\n' ||
                            ch == '\t' || ch == '\r' || (unsigned char)ch < 0x20 ||
                            (unsigned char)ch >= 0x80 || ch == '/') {
                            depth_ok = 0;
                            break;
                        }
                        c.p++;
                    }
                    if (!depth_ok || c.p >= c.end)
                        return 1;
                    c.p++;
                    /* only "k":"v" pairs: every value must be a string */
                    cur chk = {start + 1, c.p - 1};
                    if (chk.p < chk.end) {
                        for (;;) {
                            rc_buf tmp = RC_BUF_INIT;
                            int ok = fstr(&chk, &tmp) == 0 && chk.p < chk.end && *chk.p == ':';
                            if (ok) {
                                chk.p++;
                                rc_buf_reset(&tmp);
                                ok = fstr(&chk, &tmp) == 0;
                            }
                            rc_buf_free(&tmp);
                            if (!ok)
                                return 1;
                            if (chk.p == chk.end)
                                break;
                            if (*chk.p != ',')
                                return 1;
                            chk.p++;
                        }
                    }
                    o.off[F_RMETA] = a->len;
                    o.set[F_RMETA] = 1;
                    if (rc_buf_append(a, start, (size_t)(c.p - start)) < 0 ||
                        rc_buf_putc(a, '\0') < 0)
                        return -2;
                } else {
                    return 1;
                }
                if ((r = fnext(&c)) == 2)
                    break;
                if (r)
                    return 1;
            }
        } else if (KEYIS(k, kl, "envelope")) {
            if (m->has_env)
                return 1;
            m->has_env = 1;
            if ((r = fobject_open(&c)) == 3)
                goto next;
            if (r)
                return 1;
            static const char *const names[] = {"run_id",    "step_id",         "parent_step_id",
                                                "tenant_id", "idempotency_key", "target_topic"};
            for (;;) {
                const char *ek = fkey(&c, &kl);
                if (!ek)
                    return 1;
                int fi = -1;
                for (int i = 0; i < 6; i++)
                    if (strlen(names[i]) == kl && memcmp(names[i], ek, kl) == 0)
                        fi = F_RUN + i;
                if (fi >= 0) {
                    if (o.set[fi])
                        return 1;
                    o.off[fi] = a->len;
                    o.set[fi] = 1;
                    if ((r = fstr(&c, a)) != 0)
                        return r;
                    if (rc_buf_putc(a, '\0') < 0)
                        return -2;
                } else if (KEYIS(ek, kl, "deadline")) {
                    rc_buf tmp = RC_BUF_INIT;
                    r = fstr(&c, &tmp);
                    if (r == 0)
                        m->env.deadline_ms = parse_rfc3339(tmp.data ? tmp.data : "");
                    rc_buf_free(&tmp);
                    if (r)
                        return r;
                } else if (KEYIS(ek, kl, "partition_override")) {
                    if (fint(&c, &iv) || iv > INT32_MAX)
                        return 1;
                    m->env.partition_override = (int)iv;
                } else if (KEYIS(ek, kl, "retry_policy")) {
                    if ((r = fobject_open(&c)) == 3)
                        goto env_next;
                    if (r)
                        return 1;
                    for (;;) {
                        const char *pk = fkey(&c, &kl);
                        if (!pk || fint(&c, &iv))
                            return 1;
                        if (KEYIS(pk, kl, "max_attempts") && iv <= INT32_MAX)
                            m->env.retry_max_attempts = (int)iv;
                        else if (KEYIS(pk, kl, "backoff_ms"))
                            m->env.retry_backoff_ms = iv;
                        else if (KEYIS(pk, kl, "max_backoff_ms"))
                            m->env.retry_max_backoff_ms = iv;
                        else
                            return 1;
                        if ((r = fnext(&c)) == 2)
                            break;
                        if (r)
                            return 1;
                    }
                } else {
                    return 1;
                }
            env_next:
                if ((r = fnext(&c)) == 2)
                    break;
                if (r)
                    return 1;
            }
        } else {
            return 1; /* an unknown key: json-c knows how to skip anything */
        }
    next:
        if ((r = fnext(&c)) == 2)
            break;
        if (r)
            return 1;
    }
    ws(&c);
    if (c.p != c.end || !have_p || !have_o)
        return 1;
    if (!o.set[F_KEY] || !o.set[F_VALUE] || !o.set[F_LASTERR])
        return 1; /* the broker always sends them; anything else goes the careful way */
    o.off[F_JSON] = a->len;
    o.set[F_JSON] = 1;
    if (rc_buf_append(a, line, len) < 0 || rc_buf_putc(a, '\0') < 0)
        return -2;
    if (m->owned) {
        int e = arena_put(a, &o, F_TOPIC, m->topic, strlen(m->topic));
        e |= arena_put(a, &o, F_GROUP, m->group, strlen(m->group));
        e |= arena_put(a, &o, F_OWNER, m->owner, strlen(m->owner));
        if (e)
            return -2;
    }
    m->key = at(a, &o, F_KEY);
    m->value = at(a, &o, F_VALUE);
    m->last_error = at(a, &o, F_LASTERR);
    m->json = at(a, &o, F_JSON);
    m->routing_label = at(a, &o, F_RLABEL);
    m->routing_meta = at(a, &o, F_RMETA);
    m->env.run_id = at(a, &o, F_RUN);
    m->env.step_id = at(a, &o, F_STEP);
    m->env.parent_step_id = at(a, &o, F_PARENT);
    m->env.tenant_id = at(a, &o, F_TENANT);
    m->env.idempotency_key = at(a, &o, F_IDEM);
    m->env.target_topic = at(a, &o, F_TARGET);
    if (m->owned) {
        m->topic = at(a, &o, F_TOPIC);
        m->group = at(a, &o, F_GROUP);
        m->owner = at(a, &o, F_OWNER);
    }
    return 0;
}

/* Decodes one NDJSON line into m (which is reset first). Returns 0, -1 (bad line), -2 (nomem). */
static int decode_slow(struct driftq_message *m, json_tokener *tok, const char *line, size_t len,
                       char *why, size_t why_cap);
int dq_message_decode(struct driftq_message *m, json_tokener *tok, const char *line, size_t len,
                      char *why, size_t why_cap)
{
    int r = fast_decode(m, line, len);
    if (r == 0 || r == -2)
        return r;
    return decode_slow(m, tok, line, len, why, why_cap);
}

static int decode_slow(struct driftq_message *m, json_tokener *tok, const char *line, size_t len,
                       char *why, size_t why_cap)
{
    rc_buf_reset(&m->arena);
    offsets o;
    memset(&o, 0, sizeof o);
    int shown = len < 120 ? (int)len : 120; /* the line need not be NUL-terminated */
    if (len > INT32_MAX)
        return -1;
    json_tokener_reset(tok);
    json_object *root = json_tokener_parse_ex(tok, line, (int)len);
    size_t end = root ? json_tokener_get_parse_end(tok) : 0;
    while (end < len && (line[end] == ' ' || line[end] == '\t' || line[end] == '\r'))
        end++;
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object) || end != len) {
        /* Anything after the object (a second message on the same line) is refused, never
         * dropped silently. */
        json_object_put(root);
        snprintf(why, why_cap, "stream line is not a JSON object: %.*s", shown, line);
        return -1;
    }
    json_object *v;
    int rc = 0;
    if (!json_object_object_get_ex(root, "partition", &v) ||
        !json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
        json_object_get_int64(v) > INT32_MAX) {
        snprintf(why, why_cap, "stream message has no valid partition: %.*s", shown, line);
        rc = -1;
        goto out;
    }
    m->partition = (int)json_object_get_int64(v);
    if (!json_object_object_get_ex(root, "offset", &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0) {
        snprintf(why, why_cap, "stream message has no valid offset: %.*s", shown, line);
        rc = -1;
        goto out;
    }
    m->offset = json_object_get_int64(v);
    m->attempts = json_object_object_get_ex(root, "attempts", &v) ? json_object_get_int(v) : 0;
    const char *s;
    size_t sl;
    rc_buf *a = &m->arena;
    int e = 0;
    m->key_len = m->value_len = 0;
    if (get_str(root, "key", &s, &sl)) {
        e |= arena_put(a, &o, F_KEY, s, sl);
        m->key_len = sl;
    }
    if (get_str(root, "value", &s, &sl)) {
        e |= arena_put(a, &o, F_VALUE, s, sl);
        m->value_len = sl;
    }
    if (get_str(root, "last_error", &s, &sl))
        e |= arena_put(a, &o, F_LASTERR, s, sl);
    e |= arena_put(a, &o, F_JSON, line, len);
    json_object *r;
    if (json_object_object_get_ex(root, "routing", &r) &&
        json_object_is_type(r, json_type_object)) {
        if (get_str(r, "label", &s, &sl))
            e |= arena_put(a, &o, F_RLABEL, s, sl);
        json_object *meta;
        if (json_object_object_get_ex(r, "meta", &meta) &&
            !json_object_is_type(meta, json_type_null)) {
            s = json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
            e |= arena_put(a, &o, F_RMETA, s, strlen(s));
        }
    }
    json_object *env;
    driftq_envelope d = DRIFTQ_ENVELOPE_INIT;
    m->env = d;
    m->has_env = json_object_object_get_ex(root, "envelope", &env) &&
                 json_object_is_type(env, json_type_object);
    if (m->has_env) {
        static const char *const names[] = {"run_id",    "step_id",         "parent_step_id",
                                            "tenant_id", "idempotency_key", "target_topic"};
        for (int i = 0; i < 6; i++)
            if (get_str(env, names[i], &s, &sl))
                e |= arena_put(a, &o, F_RUN + i, s, sl);
        if (json_object_object_get_ex(env, "deadline", &v) &&
            json_object_is_type(v, json_type_string))
            m->env.deadline_ms = parse_rfc3339(json_object_get_string(v));
        if (json_object_object_get_ex(env, "partition_override", &v) &&
            json_object_is_type(v, json_type_int))
            m->env.partition_override = json_object_get_int(v);
        json_object *rp;
        if (json_object_object_get_ex(env, "retry_policy", &rp) &&
            json_object_is_type(rp, json_type_object)) {
            if (json_object_object_get_ex(rp, "max_attempts", &v))
                m->env.retry_max_attempts = json_object_get_int(v);
            if (json_object_object_get_ex(rp, "backoff_ms", &v))
                m->env.retry_backoff_ms = json_object_get_int64(v);
            if (json_object_object_get_ex(rp, "max_backoff_ms", &v))
                m->env.retry_max_backoff_ms = json_object_get_int64(v);
        }
    }
    if (m->owned) {
        /* A copy owns its routing strings too. */
        e |= arena_put(a, &o, F_TOPIC, m->topic, strlen(m->topic));
        e |= arena_put(a, &o, F_GROUP, m->group, strlen(m->group));
        e |= arena_put(a, &o, F_OWNER, m->owner, strlen(m->owner));
    }
    if (e) {
        rc = -2;
        goto out;
    }
    /* The arena no longer moves: fix up the pointers. */
    m->key = at(a, &o, F_KEY);
    m->value = at(a, &o, F_VALUE);
    m->last_error = at(a, &o, F_LASTERR);
    m->json = at(a, &o, F_JSON);
    m->routing_label = at(a, &o, F_RLABEL);
    m->routing_meta = at(a, &o, F_RMETA);
    m->env.run_id = at(a, &o, F_RUN);
    m->env.step_id = at(a, &o, F_STEP);
    m->env.parent_step_id = at(a, &o, F_PARENT);
    m->env.tenant_id = at(a, &o, F_TENANT);
    m->env.idempotency_key = at(a, &o, F_IDEM);
    m->env.target_topic = at(a, &o, F_TARGET);
    if (m->owned) {
        m->topic = at(a, &o, F_TOPIC);
        m->group = at(a, &o, F_GROUP);
        m->owner = at(a, &o, F_OWNER);
    }
out:
    json_object_put(root);
    return rc;
}

DRIFTQ_API const char *driftq_message_topic(const driftq_message *m)
{
    return m ? m->topic : NULL;
}
DRIFTQ_API const char *driftq_message_group(const driftq_message *m)
{
    return m ? m->group : NULL;
}
DRIFTQ_API const char *driftq_message_owner(const driftq_message *m)
{
    return m ? m->owner : NULL;
}
DRIFTQ_API int driftq_message_partition(const driftq_message *m)
{
    return m ? m->partition : -1;
}
DRIFTQ_API int64_t driftq_message_offset(const driftq_message *m)
{
    return m ? m->offset : -1;
}
DRIFTQ_API int driftq_message_attempts(const driftq_message *m)
{
    return m ? m->attempts : 0;
}
DRIFTQ_API const char *driftq_message_key(const driftq_message *m, size_t *len)
{
    if (len)
        *len = m && m->key ? m->key_len : 0;
    return m && m->key ? m->key : "";
}
DRIFTQ_API const char *driftq_message_value(const driftq_message *m, size_t *len)
{
    if (len)
        *len = m && m->value ? m->value_len : 0;
    return m && m->value ? m->value : "";
}
DRIFTQ_API const char *driftq_message_last_error(const driftq_message *m)
{
    return m && m->last_error ? m->last_error : "";
}
DRIFTQ_API const driftq_envelope *driftq_message_envelope(const driftq_message *m)
{
    return m && m->has_env ? &m->env : NULL;
}
DRIFTQ_API const char *driftq_message_routing_label(const driftq_message *m)
{
    return m && m->routing_label ? m->routing_label : "";
}
DRIFTQ_API const char *driftq_message_routing_meta_json(const driftq_message *m)
{
    return m ? m->routing_meta : NULL;
}
DRIFTQ_API const char *driftq_message_json(const driftq_message *m)
{
    return m && m->json ? m->json : "";
}

DRIFTQ_API int driftq_message_dup(driftq_message **out, const driftq_message *src)
{
    if (!out || !src || !src->json)
        return DRIFTQ_EINVAL;
    struct driftq_message *m = calloc(1, sizeof *m);
    json_tokener *tok = json_tokener_new();
    if (!m || !tok) {
        free(m);
        if (tok)
            json_tokener_free(tok);
        return DRIFTQ_ENOMEM;
    }
    m->owned = 1;
    m->topic = src->topic ? src->topic : "";
    m->group = src->group ? src->group : "";
    m->owner = src->owner ? src->owner : "";
    char why[200];
    int r = dq_message_decode(m, tok, src->json, strlen(src->json), why, sizeof why);
    json_tokener_free(tok);
    if (r) {
        driftq_message_free(m);
        return r == -2 ? DRIFTQ_ENOMEM : DRIFTQ_EPROTOCOL;
    }
    *out = m;
    return DRIFTQ_OK;
}

DRIFTQ_API void driftq_message_free(driftq_message *m)
{
    if (!m || !m->owned)
        return;
    rc_buf_free(&m->arena);
    free(m);
}

/* Decodes one stream line into a throw-away message (for the fuzzer and unit tests).
 * path: 0 as the library does (fast path, json-c fallback), 1 fast path only (DRIFTQ_EPROTOCOL
 * when it declines), 2 json-c only. */
int dq_decode_line_path(const char *line, size_t len, driftq_message **out, int path);
int dq_decode_line(const char *line, size_t len, driftq_message **out)
{
    return dq_decode_line_path(line, len, out, 0);
}

int dq_decode_line_path(const char *line, size_t len, driftq_message **out, int path)
{
    struct driftq_message *m = calloc(1, sizeof *m);
    json_tokener *tok = json_tokener_new();
    if (!m || !tok) {
        free(m);
        if (tok)
            json_tokener_free(tok);
        return DRIFTQ_ENOMEM;
    }
    m->owned = 1;
    m->topic = "t";
    m->group = "g";
    m->owner = "o";
    char why[200];
    int r = path == 1   ? fast_decode(m, line, len)
            : path == 2 ? decode_slow(m, tok, line, len, why, sizeof why)
                        : dq_message_decode(m, tok, line, len, why, sizeof why);
    json_tokener_free(tok);
    if (r) {
        driftq_message_free(m);
        return r == -2 ? DRIFTQ_ENOMEM : DRIFTQ_EPROTOCOL;
    }
    *out = m;
    return DRIFTQ_OK;
}
