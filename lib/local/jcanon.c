/* Recognises payload text that json-c would print back unchanged, so the store can keep it as
 * given instead of parsing and printing it (the slow part of a bulk upsert). Anything it is not
 * sure about answers 0 and takes the json-c path; a wrong 1 would store text json-c would have
 * rejected or rewritten, so the accepted subset is small and exact:
 *   no white space outside strings; objects (at most MAX_KEYS keys, no duplicate key), arrays,
 *   strings, true, false, null, and integers -?(0|[1-9][0-9]{0,17}) except -0; strings of valid
 *   UTF-8 (no surrogates, no overlong forms) whose only escapes are the ones json-c writes:
 *   \" \\ \b \t \n \f \r and \u00XX (lower-case hex) for the other bytes below 0x20.
 * Numbers with a fraction or exponent are left to json-c (it keeps their text but they need the
 * finiteness check). Nesting is limited to MAX_DEPTH. tests/local/test_local_basic.c checks the
 * answer against json-c on crafted and random inputs. */
#include "lstore.h"

#include <string.h>

#include "swar.h"

#define MAX_DEPTH 16
#define MAX_KEYS 32

typedef struct {
    const unsigned char *p, *end;
} cur;

/* A string at c->p (the opening quote); *k and *klen get its raw body. */
static int str(cur *c, const unsigned char **k, size_t *klen)
{
    const unsigned char *p = c->p, *end = c->end;
    if (p >= end || *p != '"')
        return 0;
    const unsigned char *body = ++p;
    while (p < end) {
        /* eight plain bytes at a time: none below 0x20, none above 0x7f, no quote, no backslash */
        while (end - p >= 8) {
            uint64_t w = rc_load8(p);
            if (rc_json_special(w) | (w & RC_HIGHS))
                break;
            p += 8;
        }
        if (p >= end)
            break;
        unsigned ch = *p;
        if (ch == '"') {
            if (k) {
                *k = body;
                *klen = (size_t)(p - body);
            }
            c->p = p + 1;
            return 1;
        }
        if (ch < 0x20)
            return 0;
        if (ch == '\\') {
            if (end - p < 2)
                return 0;
            unsigned e = p[1];
            if (e == '"' || e == '\\' || e == 'b' || e == 't' || e == 'n' || e == 'f' || e == 'r') {
                p += 2;
                continue;
            }
            if (e != 'u' || end - p < 6 || p[2] != '0' || p[3] != '0')
                return 0;
            unsigned hi = p[4], lo = p[5];
            if (hi != '0' && hi != '1')
                return 0;
            unsigned v;
            if (lo >= '0' && lo <= '9')
                v = lo - '0';
            else if (lo >= 'a' && lo <= 'f')
                v = lo - 'a' + 10;
            else
                return 0;
            v += (hi - '0') * 16;
            /* json-c writes these five short; \u0000 is left to json-c */
            if (v == 0 || v == 8 || v == 9 || v == 10 || v == 12 || v == 13)
                return 0;
            p += 6;
            continue;
        }
        if (ch < 0x80) {
            p++;
            continue;
        }
        /* UTF-8: 2..4 bytes, shortest form, no surrogates, at most U+10FFFF */
        size_t n;
        unsigned min;
        if (ch >= 0xc2 && ch <= 0xdf) {
            n = 2;
            min = 0x80;
        } else if (ch >= 0xe0 && ch <= 0xef) {
            n = 3;
            min = 0x800;
        } else if (ch >= 0xf0 && ch <= 0xf4) {
            n = 4;
            min = 0x10000;
        } else {
            return 0;
        }
        if ((size_t)(end - p) < n)
            return 0;
        unsigned cp = ch & (0x7f >> n);
        for (size_t i = 1; i < n; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (p[i] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += n;
    }
    return 0;
}

static int lit(cur *c, const char *w, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

static int integer(cur *c)
{
    const unsigned char *p = c->p, *end = c->end;
    int neg = p < end && *p == '-';
    p += neg;
    if (p >= end || *p < '0' || *p > '9')
        return 0;
    const unsigned char *d = p;
    if (*p == '0') {
        p++;
        if (neg)
            return 0; /* -0 prints as 0 */
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        if (p - d > 18)
            return 0;
    }
    if (p < end && (*p == '.' || *p == 'e' || *p == 'E' || (*p >= '0' && *p <= '9')))
        return 0;
    c->p = p;
    return 1;
}

static int value(cur *c, int depth);

static int object(cur *c, int depth)
{
    const unsigned char *keys[MAX_KEYS];
    size_t lens[MAX_KEYS], nk = 0;
    if (depth > MAX_DEPTH || !lit(c, "{", 1))
        return 0;
    if (lit(c, "}", 1))
        return 1;
    for (;;) {
        const unsigned char *k;
        size_t kl;
        if (nk == MAX_KEYS || !str(c, &k, &kl))
            return 0;
        for (size_t i = 0; i < nk; i++)
            if (lens[i] == kl && memcmp(keys[i], k, kl) == 0)
                return 0; /* json-c keeps one of them */
        keys[nk] = k;
        lens[nk++] = kl;
        if (!lit(c, ":", 1) || !value(c, depth + 1))
            return 0;
        if (lit(c, "}", 1))
            return 1;
        if (!lit(c, ",", 1))
            return 0;
    }
}

static int array(cur *c, int depth)
{
    if (depth > MAX_DEPTH || !lit(c, "[", 1))
        return 0;
    if (lit(c, "]", 1))
        return 1;
    for (;;) {
        if (!value(c, depth + 1))
            return 0;
        if (lit(c, "]", 1))
            return 1;
        if (!lit(c, ",", 1))
            return 0;
    }
}

static int value(cur *c, int depth)
{
    if (c->p >= c->end)
        return 0;
    switch (*c->p) {
    case '"':
        return str(c, NULL, NULL);
    case '{':
        return object(c, depth);
    case '[':
        return array(c, depth);
    case 't':
        return lit(c, "true", 4);
    case 'f':
        return lit(c, "false", 5);
    case 'n':
        return lit(c, "null", 4);
    default:
        return integer(c);
    }
}

int ls_json_canonical_object(const char *text, size_t len)
{
    if (!text)
        return 0;
    cur c = {(const unsigned char *)text, (const unsigned char *)text + len};
    return object(&c, 1) && c.p == c.end;
}
