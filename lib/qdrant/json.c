/* libqdrantc: a strict RFC 8259 JSON syntax check for caller-supplied JSON text (payloads, raw
 * filter conditions), which is then sent verbatim. json-c's tokener accepts NaN, single quotes
 * and other extensions even in strict mode, so it is not used for this. qd_put_json_object
 * writes such text into a request body. */
#include "internal.h"

#include <string.h>

#include "swar.h"

typedef struct jv {
    const char *p, *end;
    int depth;
} jv;

static void ws(jv *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static int digits(jv *v)
{
    const char *s = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > s;
}

static int number(jv *v)
{
    if (v->p < v->end && *v->p == '-')
        v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (!(v->p < v->end && *v->p >= '1' && *v->p <= '9') || !digits(v))
        return -1;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (!digits(v))
            return -1;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-'))
            v->p++;
        if (!digits(v))
            return -1;
    }
    return 0;
}

static int hex4(jv *v)
{
    for (int i = 0; i < 4; i++, v->p++) {
        char c = v->p < v->end ? *v->p : 0;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return -1;
    }
    return 0;
}

static int string(jv *v)
{
    v->p++; /* opening quote */
    while (v->p < v->end) {
        /* eight plain bytes at a time: none below 0x20, no quote, no backslash */
        while (v->end - v->p >= 8) {
            if (rc_json_special(rc_load8(v->p)))
                break;
            v->p += 8;
        }
        if (v->p >= v->end)
            break;
        unsigned char c = (unsigned char)*v->p;
        if (c == '"') {
            v->p++;
            return 0;
        }
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            v->p++;
            if (v->p >= v->end)
                return -1;
            char e = *v->p;
            if (e == 'u') {
                v->p++;
                if (hex4(v))
                    return -1;
                continue;
            }
            if (!strchr("\"\\/bfnrt", e) || e == '\0')
                return -1;
        }
        v->p++;
    }
    return -1;
}

static int literal(jv *v, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(v->end - v->p) < n || memcmp(v->p, word, n) != 0)
        return -1;
    v->p += n;
    return 0;
}

static int value(jv *v);

static int container(jv *v, char close, int is_obj)
{
    if (++v->depth > QD_JSON_DEPTH)
        return -1;
    v->p++;
    ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return 0;
    }
    for (;;) {
        if (is_obj) {
            if (v->p >= v->end || *v->p != '"' || string(v))
                return -1;
            ws(v);
            if (v->p >= v->end || *v->p != ':')
                return -1;
            v->p++;
            ws(v);
        }
        if (value(v))
            return -1;
        ws(v);
        if (v->p >= v->end)
            return -1;
        if (*v->p == ',') {
            v->p++;
            ws(v);
            continue;
        }
        if (*v->p != close)
            return -1;
        v->p++;
        v->depth--;
        return 0;
    }
}

static int value(jv *v)
{
    if (v->p >= v->end)
        return -1;
    switch (*v->p) {
    case '{':
        return container(v, '}', 1);
    case '[':
        return container(v, ']', 0);
    case '"':
        return string(v);
    case 't':
        return literal(v, "true");
    case 'f':
        return literal(v, "false");
    case 'n':
        return literal(v, "null");
    default:
        return number(v);
    }
}

int qd_json_valid(const char *text, size_t len, int want_object)
{
    if (!text || !rc_utf8_valid(text, len))
        return 0;
    jv v = {text, text + len, 0};
    ws(&v);
    if (want_object && (v.p >= v.end || *v.p != '{'))
        return 0;
    if (value(&v))
        return 0;
    ws(&v);
    return v.p == v.end;
}

int qd_put_json_object(rc_buf *b, const char *text)
{
    size_t len = strlen(text);
    if (!qd_json_valid(text, len, 1))
        return QDRANT_EINVAL;
    const char *s = text, *e = text + len;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    return rc_buf_append(b, s, (size_t)(e - s)) ? QDRANT_ENOMEM : QDRANT_OK;
}
