/* The records of the discover and chunk artifacts (docs.ndjson, chunks.ndjson): how each is
 * written and how it is read back, in one place. Lines in exactly the shape the writers produce
 * are read without a JSON DOM; any other line goes through json-c. */
#include <json-c/json.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "internal.h"
#include "records.h"

/* ---- docs.ndjson ---- */

int rp_doc_json(struct rc_buf *b, const rp_doc *d)
{
    if (!b || !d || !d->id)
        return RP_EINVAL;
    int rc = rc_buf_puts(b, "{\"id\":");
    rc |= rc_buf_json_str(b, d->id, strlen(d->id));
    rc |= rc_buf_puts(b, ",\"size\":");
    rc |= rc_buf_put_u64(b, d->size);
    rc |= rc_buf_puts(b, ",\"hash\":\"");
    rc |= rc_buf_puts(b, d->hash);
    rc |= rc_buf_puts(b,
                      d->invalid_utf8 ? "\",\"invalid_utf8\":true}" : "\",\"invalid_utf8\":false}");
    return rc < 0 ? RP_ENOMEM : RP_OK;
}

/* Parses a docs.ndjson line exactly as rp_doc_json writes it, with an id holding no escape:
 * {"id":"...","size":N,"hash":"<32 hex>","invalid_utf8":true|false}. Returns 1 and fills the
 * fields (id points into line), or 0 for anything else (left to json-c). */
static int parse_doc_line(const char *line, size_t len, const char **id, size_t *idlen,
                          uint64_t *size, const char **hash, int *bad)
{
    const char *p = line, *end = line + len;
#define LIT(s)                                                                                     \
    (((size_t)(end - p) >= sizeof s - 1 && !memcmp(p, s, sizeof s - 1)) ? (p += sizeof s - 1, 1)   \
                                                                        : 0)
    if (!LIT("{\"id\":\""))
        return 0;
    const char *q = p;
    while (q < end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
        q++;
    if (q == end || *q != '"')
        return 0;
    *id = p;
    *idlen = (size_t)(q - p);
    p = q + 1;
    if (!LIT(",\"size\":") || p == end || *p < '0' || *p > '9' ||
        (*p == '0' && end - p > 1 && p[1] >= '0' && p[1] <= '9'))
        return 0;
    uint64_t v = 0;
    int digits = 0;
    for (; p < end && *p >= '0' && *p <= '9'; p++, digits++)
        v = v * 10 + (uint64_t)(*p - '0');
    if (digits > 18 || !LIT(",\"hash\":\""))
        return 0; /* (larger numbers: json-c decides) */
    for (int k = 0; k < 32; k++)
        if (p + k >= end || !((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'a' && p[k] <= 'f')))
            return 0;
    *hash = p;
    p += 32;
    if (LIT("\",\"invalid_utf8\":true}"))
        *bad = 1;
    else if (LIT("\",\"invalid_utf8\":false}"))
        *bad = 0;
    else
        return 0;
#undef LIT
    *size = v;
    return p == end;
}

/* Rebuilds the corpus from the discover artifact, so chunk reads exactly what discover saw.
 * The lines rp_doc_json writes are parsed directly; any other line goes through json-c. */
typedef struct {
    rp_corpus *c;
    size_t cap; /* of c->docs */
} doc_reader;

static int on_doc_line(const char *line, size_t len, void *ud)
{
    doc_reader *r = ud;
    rp_corpus *c = r->c;
    const char *fid, *fhash;
    size_t fidlen;
    uint64_t fsize;
    int fbad;
    json_object *o = NULL, *id, *size, *hash, *bad;
    if (!parse_doc_line(line, len, &fid, &fidlen, &fsize, &fhash, &fbad)) {
        fid = NULL;
        o = json_tokener_parse(line);
        if (!o || !json_object_object_get_ex(o, "id", &id) ||
            !json_object_object_get_ex(o, "size", &size) ||
            !json_object_object_get_ex(o, "hash", &hash)) {
            json_object_put(o);
            return 1;
        }
    }
    if (c->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 256;
        rp_doc *d = realloc(c->docs, cap * sizeof *d);
        if (!d) {
            json_object_put(o);
            return 1;
        }
        c->docs = d;
        r->cap = cap;
    }
    rp_doc *d = &c->docs[c->n];
    memset(d, 0, sizeof *d);
    if (fid) {
        if ((d->id = malloc(fidlen + 1))) {
            memcpy(d->id, fid, fidlen);
            d->id[fidlen] = 0;
        }
        d->size = fsize;
        memcpy(d->hash, fhash, 32);
        d->hash[32] = 0;
        d->invalid_utf8 = fbad;
    } else {
        d->id = strdup(json_object_get_string(id));
        d->size = (uint64_t)json_object_get_int64(size);
        snprintf(d->hash, sizeof d->hash, "%s", json_object_get_string(hash));
        d->invalid_utf8 =
            json_object_object_get_ex(o, "invalid_utf8", &bad) && json_object_get_boolean(bad);
        json_object_put(o);
    }
    if (!d->id)
        return 1;
    c->n++;
    c->total_bytes += d->size;
    return 0;
}

/* ---- chunks.ndjson ---- */

int rp_chunk_json(struct rc_buf *b, const rp_chunk *c)
{
    if (!b || !c || !c->id || !c->doc_id || !c->text)
        return RP_EINVAL;
    int rc = rc_buf_puts(b, "{\"id\":");
    rc |= rc_buf_json_str(b, c->id, strlen(c->id));
    rc |= rc_buf_puts(b, ",\"doc_id\":");
    rc |= rc_buf_json_str(b, c->doc_id, strlen(c->doc_id));
    /* Numbers through rc_buf_put_u64 (the same digits as %zu, without vsnprintf's cost). */
    rc |= rc_buf_puts(b, ",\"n\":");
    rc |= rc_buf_put_u64(b, c->n);
    rc |= rc_buf_puts(b, ",\"char_start\":");
    rc |= rc_buf_put_u64(b, c->char_start);
    rc |= rc_buf_puts(b, ",\"char_end\":");
    rc |= rc_buf_put_u64(b, c->char_end);
    rc |= rc_buf_puts(b, ",\"byte_start\":");
    rc |= rc_buf_put_u64(b, c->byte_start);
    rc |= rc_buf_puts(b, ",\"byte_end\":");
    rc |= rc_buf_put_u64(b, c->byte_end);
    rc |= rc_buf_puts(b, ",\"hash\":\"");
    rc |= rc_buf_puts(b, c->hash);
    rc |= rc_buf_puts(b, "\",\"text\":");
    if (rc < 0)
        return RP_ENOMEM;
    int jr = rc_buf_json_str(b, c->text, c->len);
    if (jr == -2)
        return RP_EENCODING;
    return jr < 0 || rc_buf_putc(b, '}') < 0 ? RP_ENOMEM : RP_OK;
}

void rp_chunk_rec_free(rp_chunk_rec *r)
{
    free(r->id);
    free(r->doc_id);
    free(r->text);
    free(r->text_json);
}

void rp_chunks_free(rp_chunk_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        rp_chunk_rec_free(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* ---- the exact shape rp_chunk_json writes, read without a JSON DOM ---- */

typedef struct {
    const char *p, *end;
} lcur;

static int lit(lcur *c, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0)
        return 0;
    c->p += n;
    return 1;
}

/* A string as rc_buf_json_str writes it: escapes \" \\ \n \t \r and \u00XX only. *raw gets its
 * bytes with the quotes, *out (malloc'ed) its value. */
static int lstr(lcur *c, char **out, const char **raw, size_t *rawlen)
{
    const char *p = c->p, *end = c->end;
    if (p >= end || *p != '"')
        return 0;
    const char *q = ++p;
    /* the closing quote: the first one after an even run of backslashes */
    for (;;) {
        q = memchr(q, '"', (size_t)(end - q));
        if (!q)
            return 0;
        size_t bs = 0;
        while (q - bs > p && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            break;
        q++;
    }
    int esc = memchr(p, '\\', (size_t)(q - p)) != NULL;
    char *o = malloc((size_t)(q - p) + 1), *w = o;
    if (!o)
        return 0;
    while (p < q) {
        const char *bs = esc ? memchr(p, '\\', (size_t)(q - p)) : NULL;
        size_t run = bs ? (size_t)(bs - p) : (size_t)(q - p);
        memcpy(w, p, run);
        w += run;
        p += run;
        if (!bs)
            break;
        char e = p[1];
        if (e == '"' || e == '\\') {
            *w++ = e;
        } else if (e == 'n') {
            *w++ = '\n';
        } else if (e == 't') {
            *w++ = '\t';
        } else if (e == 'r') {
            *w++ = '\r';
        } else if (e == 'u' && q - p >= 6 && p[2] == '0' && p[3] == '0' &&
                   (p[4] == '0' || p[4] == '1') &&
                   ((p[5] >= '0' && p[5] <= '9') || (p[5] >= 'a' && p[5] <= 'f'))) {
            int v = (p[4] - '0') * 16 + (p[5] <= '9' ? p[5] - '0' : p[5] - 'a' + 10);
            if (!v) {
                free(o);
                return 0; /* a NUL inside: leave it to json-c */
            }
            *w++ = (char)v;
            p += 4;
        } else {
            free(o);
            return 0;
        }
        p += 2;
    }
    *w = 0;
    if (raw) {
        *raw = c->p;
        *rawlen = (size_t)(q + 1 - c->p);
    }
    *out = o;
    c->p = q + 1;
    return 1;
}

static int luint(lcur *c, size_t *out)
{
    size_t v = 0;
    const char *p = c->p;
    while (p < c->end && *p >= '0' && *p <= '9' && p - c->p < 18)
        v = v * 10 + (size_t)(*p++ - '0');
    if (p == c->p)
        return 0;
    c->p = p;
    *out = v;
    return 1;
}

/* Fills *r from a line in rp_chunk_json's exact shape; 0 (nothing kept) when it is not. */
static int chunk_line_fast(rp_chunk_rec *r, const char *line, size_t len)
{
    lcur c = {line, line + len};
    size_t skip;
    const char *raw;
    size_t rawlen;
    memset(r, 0, sizeof *r);
    if (!lit(&c, "{\"id\":") || !lstr(&c, &r->id, NULL, NULL) || !lit(&c, ",\"doc_id\":") ||
        !lstr(&c, &r->doc_id, NULL, NULL) || !lit(&c, ",\"n\":") || !luint(&c, &r->n) ||
        !lit(&c, ",\"char_start\":") || !luint(&c, &skip) || !lit(&c, ",\"char_end\":") ||
        !luint(&c, &skip) || !lit(&c, ",\"byte_start\":") || !luint(&c, &skip) ||
        !lit(&c, ",\"byte_end\":") || !luint(&c, &skip) || !lit(&c, ",\"hash\":\"") ||
        c.end - c.p < RP_HASH_HEX || c.p[RP_HASH_HEX - 1] != '"')
        goto no;
    memcpy(r->hash, c.p, RP_HASH_HEX - 1);
    r->hash[RP_HASH_HEX - 1] = 0;
    c.p += RP_HASH_HEX;
    if (!lit(&c, ",\"text\":") || !lstr(&c, &r->text, &raw, &rawlen) || !lit(&c, "}") ||
        c.p != c.end || !(r->text_json = malloc(rawlen + 1)))
        goto no;
    memcpy(r->text_json, raw, rawlen);
    r->text_json[rawlen] = 0;
    r->text_json_len = rawlen;
    return 1;
no:
    rp_chunk_rec_free(r);
    memset(r, 0, sizeof *r);
    return 0;
}

int rp_chunk_line(const char *line, size_t len, void *ud)
{
    rp_chunk_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        rp_chunk_rec *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->bad = 2;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    rp_chunk_rec *r = &l->v[l->n];
    if (chunk_line_fast(r, line, len)) {
        l->n++;
        return 0;
    }
    json_object *o = json_tokener_parse(line);
    json_object *id, *doc, *text, *hash, *n;
    if (!o || !json_object_object_get_ex(o, "id", &id) ||
        !json_object_object_get_ex(o, "doc_id", &doc) ||
        !json_object_object_get_ex(o, "text", &text) ||
        !json_object_object_get_ex(o, "hash", &hash) || !json_object_object_get_ex(o, "n", &n)) {
        json_object_put(o);
        l->bad = 1;
        return 1;
    }
    r->id = strdup(json_object_get_string(id));
    r->doc_id = strdup(json_object_get_string(doc));
    r->text = strdup(json_object_get_string(text));
    snprintf(r->hash, sizeof r->hash, "%s", json_object_get_string(hash));
    r->n = (size_t)json_object_get_int64(n);
    json_object_put(o);
    l->n++;
    if (!r->id || !r->doc_id || !r->text) {
        l->bad = 2;
        return 1;
    }
    return 0;
}

typedef struct {
    rp_chunk_list l;
    size_t batch, seen;
    rp_batch_fn fn;
    void *ud;
    int rc;
} stream_ctx;

static int on_stream_line(const char *line, size_t len, void *ud)
{
    stream_ctx *x = ud;
    if (rp_chunk_line(line, len, &x->l))
        return 1;
    if (x->l.n == x->batch) {
        x->rc = x->fn(&x->l, x->seen, x->ud);
        x->seen += x->l.n;
        for (size_t i = 0; i < x->l.n; i++)
            rp_chunk_rec_free(&x->l.v[i]);
        x->l.n = 0;
        if (x->rc)
            return 1;
    }
    return 0;
}

int rp_stream_chunks(rp_state *s, const char *run_id, const char *params, size_t batch,
                     rp_batch_fn fn, void *ud, size_t *total, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (rp_artifact_valid(s, run_id, "chunks.ndjson", params, path) != 1)
        return rp_err(err, errlen, RP_ENOTFOUND, "the chunk artifact is missing or stale");
    stream_ctx x;
    memset(&x, 0, sizeof x);
    x.batch = batch;
    x.fn = fn;
    x.ud = ud;
    int rc = rp_artifact_read(path, 0, on_stream_line, &x);
    if (x.rc == RP_OK && !x.l.bad && rc == RP_OK && x.l.n) {
        x.rc = fn(&x.l, x.seen, ud);
        x.seen += x.l.n;
    }
    int bad = x.l.bad;
    rp_chunks_free(&x.l);
    if (x.rc)
        return x.rc;
    if (bad || rc != RP_OK)
        return rp_err(err, errlen, RP_ECORRUPT, "cannot read the chunk artifact %s", path);
    if (total)
        *total = x.seen;
    return RP_OK;
}

int rp_docs_read(rp_corpus **out, const char *path, const char *root)
{
    rp_corpus *corpus = calloc(1, sizeof *corpus);
    if (!corpus)
        return RP_ENOMEM;
    corpus->root = strdup(root);
    doc_reader reader = {corpus, 0};
    int rc = rp_artifact_read(path, 0, on_doc_line, &reader);
    if (rc || !corpus->root) {
        rp_corpus_free(corpus);
        return rc ? rc : RP_ENOMEM;
    }
    *out = corpus;
    return RP_OK;
}
