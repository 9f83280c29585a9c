/* The versioned index build driver (see build.h). */
#include "build.h"

#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "owner.h"

const char *const rp_build_steps[RP_NSTEPS] = {"discover", "chunk",     "embed",
                                               "upsert",   "smoketest", "promote"};
enum { S_DISCOVER, S_CHUNK, S_EMBED, S_UPSERT, S_SMOKE, S_PROMOTE };

#define EMBED_BATCH 64

int rp_step_index(const char *name)
{
    for (int i = 0; name && i < RP_NSTEPS; i++)
        if (strcmp(name, rp_build_steps[i]) == 0)
            return i;
    return -1;
}

uint64_t rp_point_id(const char *index, const char *doc_id, size_t n)
{
    rc_buf b = RC_BUF_INIT;
    uint64_t h[2] = {0, 0};
    if (rc_buf_printf(&b, "%s\n%s\n%zu", index, doc_id, n) == 0)
        rp_hash128(h, b.data, b.len);
    rc_buf_free(&b);
    return h[0];
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

static void progress(const rp_build_config *cfg, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void progress(const rp_build_config *cfg, const char *step, const char *fmt, ...)
{
    if (!cfg->progress)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cfg->progress(cfg->progress_ud, step, msg);
}

static const char *prefix_of(const rp_build_config *cfg)
{
    return cfg->prefix && *cfg->prefix ? cfg->prefix : "rag";
}

/* ---- run.json helpers ---- */

static json_object *read_run(rp_state *s, const char *run_id)
{
    char *text = NULL;
    if (rp_run_read(s, &text, run_id) != RP_OK)
        return NULL;
    json_object *o = json_tokener_parse(text);
    free(text);
    return o;
}

static int run_step_status(json_object *run, int i)
{
    json_object *steps, *st, *status;
    if (!json_object_object_get_ex(run, "steps", &steps))
        return -1;
    st = json_object_array_get_idx(steps, (size_t)i);
    if (!st || !json_object_object_get_ex(st, "status", &status))
        return -1;
    const char *n = json_object_get_string(status);
    for (int k = 0; k <= RP_SKIPPED; k++)
        if (strcmp(n, rp_status_name(k)) == 0)
            return k;
    return -1;
}

static int run_step_attempts(json_object *run, int i)
{
    json_object *steps, *st, *a;
    if (!json_object_object_get_ex(run, "steps", &steps))
        return 0;
    st = json_object_array_get_idx(steps, (size_t)i);
    return st && json_object_object_get_ex(st, "attempts", &a) ? json_object_get_int(a) : 0;
}

static int run_version(json_object *run)
{
    json_object *v;
    return json_object_object_get_ex(run, "version", &v) ? json_object_get_int(v) : 0;
}

static const char *artifact_hash(json_object *run, const char *name)
{
    json_object *arts, *a, *h;
    if (!json_object_object_get_ex(run, "artifacts", &arts) ||
        !json_object_object_get_ex(arts, name, &a) || !json_object_object_get_ex(a, "hash", &h))
        return NULL;
    return json_object_get_string(h);
}

/* ---- artifact parameters (what each step's output depends on) ---- */

static const char *const artifact_of[RP_NSTEPS] = {"docs.ndjson", "chunks.ndjson", "embed.ndjson",
                                                   "upsert.json", "smoke.json",    NULL};

static int step_params(rc_buf *b, int step, const rp_build_config *cfg, json_object *run,
                       const char *collection)
{
    rc_buf_reset(b);
    char real[PATH_MAX];
    const char *h;
    switch (step) {
    case S_DISCOVER:
        if (!realpath(cfg->docs_dir, real))
            snprintf(real, sizeof real, "%s", cfg->docs_dir);
        rc_buf_puts(b, "{\"docs\":");
        rc_buf_json_str(b, real, strlen(real));
        return rc_buf_puts(b, "}");
    case S_CHUNK:
        h = artifact_hash(run, "docs.ndjson");
        return rc_buf_printf(b, "{\"docs_hash\":\"%s\",\"size\":%zu,\"overlap\":%zu}", h ? h : "",
                             cfg->chunk.size, cfg->chunk.overlap);
    case S_EMBED:
        h = artifact_hash(run, "chunks.ndjson");
        return rc_buf_printf(b, "{\"chunks_hash\":\"%s\",\"embedder\":\"%s\",\"model\":\"%s\"}",
                             h ? h : "", rp_embedder_name(cfg->embedder),
                             rp_embedder_model(cfg->embedder));
    case S_UPSERT:
        h = artifact_hash(run, "embed.ndjson");
        return rc_buf_printf(b, "{\"embed_hash\":\"%s\",\"collection\":\"%s\"}", h ? h : "",
                             collection);
    case S_SMOKE:
        h = artifact_hash(run, "upsert.json");
        return rc_buf_printf(b, "{\"upsert_hash\":\"%s\",\"samples\":%zu}", h ? h : "",
                             cfg->smoke_samples ? cfg->smoke_samples : 5);
    default:
        return rc_buf_puts(b, "{}");
    }
}

/* ---- reading chunks back ---- */

typedef struct {
    char *id, *doc_id, *text, hash[RP_HASH_HEX];
    size_t n;
    /* the text as a JSON string (quotes included) when the line had it in the form
     * rc_buf_json_str writes; NULL otherwise */
    char *text_json;
    size_t text_json_len;
} chunk_rec;

typedef struct {
    chunk_rec *v;
    size_t n, cap;
    int bad;
} chunk_list;

static void chunk_rec_free(chunk_rec *r)
{
    free(r->id);
    free(r->doc_id);
    free(r->text);
    free(r->text_json);
}

static void chunks_free(chunk_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        chunk_rec_free(&l->v[i]);
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
static int chunk_line_fast(chunk_rec *r, const char *line, size_t len)
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
    chunk_rec_free(r);
    memset(r, 0, sizeof *r);
    return 0;
}

static int on_chunk_line(const char *line, size_t len, void *ud)
{
    chunk_list *l = ud;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        chunk_rec *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->bad = 2;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    chunk_rec *r = &l->v[l->n];
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

/* Streams the chunk artifact in batches of up to `batch` records: fn(list, first index, ud) for
 * each batch (a non-zero return stops). Memory holds one batch, whatever the corpus size. */
typedef int (*batch_fn)(const chunk_list *l, size_t first, void *ud);

typedef struct {
    chunk_list l;
    size_t batch, seen;
    batch_fn fn;
    void *ud;
    int rc;
} stream_ctx;

static int on_stream_line(const char *line, size_t len, void *ud)
{
    stream_ctx *x = ud;
    if (on_chunk_line(line, len, &x->l))
        return 1;
    if (x->l.n == x->batch) {
        x->rc = x->fn(&x->l, x->seen, x->ud);
        x->seen += x->l.n;
        for (size_t i = 0; i < x->l.n; i++)
            chunk_rec_free(&x->l.v[i]);
        x->l.n = 0;
        if (x->rc)
            return 1;
    }
    return 0;
}

static int stream_chunks(rp_state *s, const char *run_id, const char *params, size_t batch,
                         batch_fn fn, void *ud, size_t *total, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (rp_artifact_valid(s, run_id, "chunks.ndjson", params, path) != 1)
        return fail(err, errlen, RP_ENOTFOUND, "the chunk artifact is missing or stale");
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
    chunks_free(&x.l);
    if (x.rc)
        return x.rc;
    if (bad || rc != RP_OK)
        return fail(err, errlen, RP_ECORRUPT, "cannot read the chunk artifact %s", path);
    if (total)
        *total = x.seen;
    return RP_OK;
}

/* The number of chunks recorded with the chunk artifact (0 when unknown). */
static size_t recorded_chunks(rp_state *s, const char *run_id)
{
    json_object *run = read_run(s, run_id), *arts, *a, *rec;
    size_t n = run && json_object_object_get_ex(run, "artifacts", &arts) &&
                       json_object_object_get_ex(arts, "chunks.ndjson", &a) &&
                       json_object_object_get_ex(a, "records", &rec)
                   ? (size_t)json_object_get_int64(rec)
                   : 0;
    json_object_put(run);
    return n;
}

static void count(const rp_build_config *cfg, const char *step, size_t done, size_t total)
{
    if (cfg->count)
        cfg->count(cfg->progress_ud, step, done, total);
}

/* CPU time of the process so far, in ms. */
static int64_t cpu_ms(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the steps ---- */

/* A set of chunk text hashes (their first 64 bits), to count chunks that repeat the text of an
 * earlier one. */
typedef struct {
    uint64_t *v; /* 0 = empty slot */
    size_t cap, n;
} hash_set;

/* 1 when h was in the set already (it is added when not); -1 when out of memory. */
static int hash_seen(hash_set *hs, const char *hex)
{
    uint64_t h = 0;
    for (int i = 0; i < 16; i++) /* rp_hash_hex: lower-case hex */
        h = h << 4 | (uint64_t)(hex[i] <= '9' ? hex[i] - '0' : hex[i] - 'a' + 10);
    h |= 1; /* never 0 */
    if (2 * (hs->n + 1) > hs->cap) {
        size_t cap = hs->cap ? hs->cap * 2 : 1024;
        uint64_t *v = calloc(cap, sizeof *v);
        if (!v)
            return -1;
        for (size_t i = 0; i < hs->cap; i++)
            if (hs->v[i]) {
                size_t j = (size_t)(hs->v[i] >> 7) & (cap - 1);
                while (v[j])
                    j = (j + 1) & (cap - 1);
                v[j] = hs->v[i];
            }
        free(hs->v);
        hs->v = v;
        hs->cap = cap;
    }
    size_t j = (size_t)(h >> 7) & (hs->cap - 1);
    while (hs->v[j]) {
        if (hs->v[j] == h)
            return 1;
        j = (j + 1) & (hs->cap - 1);
    }
    hs->v[j] = h;
    hs->n++;
    return 0;
}

typedef struct {
    rp_artifact_writer *w;
    rc_buf line;
    size_t chunks, repeats;
    hash_set seen;
    int err;
} chunk_ctx;

static int on_chunk(const rp_chunk *c, void *ud)
{
    chunk_ctx *x = ud;
    rc_buf_reset(&x->line);
    int seen = hash_seen(&x->seen, c->hash);
    if (seen < 0 || rp_chunk_json(&x->line, c) != RP_OK ||
        rp_artifact_write(x->w, x->line.data, x->line.len) != RP_OK) {
        x->err = 1;
        return 1;
    }
    x->repeats += (size_t)seen;
    x->chunks++;
    return 0;
}

static int step_discover(rp_state *s, const char *run_id, const rp_build_config *cfg,
                         const char *params, char *err, size_t errlen)
{
    rp_discover_options o = RP_DISCOVER_OPTIONS_INIT;
    o.warn = cfg->warn;
    o.warn_ud = cfg->warn_ud;
    rp_corpus *corpus = NULL;
    int rc = rp_discover(&corpus, cfg->docs_dir, &o, err, errlen);
    if (rc)
        return rc;
    rp_artifact_writer *w = NULL;
    rc = rp_artifact_begin(&w, s, run_id, "docs.ndjson", "discover");
    rc_buf line = RC_BUF_INIT;
    for (size_t i = 0; rc == RP_OK && i < corpus->n; i++) {
        rc_buf_reset(&line);
        rc = rp_doc_json(&line, &corpus->docs[i]);
        if (rc == RP_OK)
            rc = rp_artifact_write(w, line.data, line.len);
    }
    if (rc == RP_OK)
        rc = rp_artifact_commit(w, params, NULL);
    if (rc)
        fail(err, errlen, rc, "writing docs.ndjson: %s", w ? rp_artifact_errmsg(w) : "");
    else
        progress(cfg, "discover", "%zu documents, %llu bytes", corpus->n,
                 (unsigned long long)corpus->total_bytes);
    rp_artifact_writer_free(w);
    rc_buf_free(&line);
    rp_corpus_free(corpus);
    return rc;
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

static int step_chunk(rp_state *s, const char *run_id, const rp_build_config *cfg,
                      const char *params, const char *docs_params, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (rp_artifact_valid(s, run_id, "docs.ndjson", docs_params, path) != 1)
        return fail(err, errlen, RP_ENOTFOUND, "the discover artifact is missing or stale");
    rp_corpus *corpus = calloc(1, sizeof *corpus);
    if (!corpus)
        return RP_ENOMEM;
    corpus->root = strdup(cfg->docs_dir);
    doc_reader reader = {corpus, 0};
    int rc = rp_artifact_read(path, 0, on_doc_line, &reader);
    if (rc || !corpus->root) {
        rp_corpus_free(corpus);
        return fail(err, errlen, RP_ECORRUPT, "cannot read %s", path);
    }
    rp_artifact_writer *w = NULL;
    rc = rp_artifact_begin(&w, s, run_id, "chunks.ndjson", "chunk");
    chunk_ctx x;
    memset(&x, 0, sizeof x);
    x.w = w;
    for (size_t i = 0; rc == RP_OK && i < corpus->n; i++) {
        char *text = NULL;
        size_t len = 0;
        rc = rp_doc_load(&text, &len, corpus, i, err, errlen);
        if (rc)
            break;
        rc = rp_chunk_text(corpus->docs[i].id, text, len, &cfg->chunk, on_chunk, &x);
        free(text);
        if (x.err)
            rc = fail(err, errlen, RP_EIO, "writing chunks.ndjson: %s", rp_artifact_errmsg(w));
    }
    if (rc == RP_OK && x.chunks == 0)
        rc = fail(err, errlen, RP_EEMPTY, "the documents hold no text to chunk");
    if (rc == RP_OK)
        rc = rp_artifact_commit(w, params, NULL);
    if (rc == RP_OK) {
        /* Repeated text (licence headers, boilerplate, copies) is stored once per place it
         * occurs: each chunk keeps its own document, so a hit can be cited wherever it is. */
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%zu chunks from %zu documents; %zu repeat the text of an "
                 "earlier chunk (each is kept, with its own document)",
                 x.chunks, corpus->n, x.repeats);
        rp_run_event(s, run_id, "summary", "chunk", msg);
        progress(cfg, "chunk", "%s", msg);
    }
    free(x.seen.v);
    rp_artifact_writer_free(w);
    rc_buf_free(&x.line);
    rp_corpus_free(corpus);
    return rc;
}

/* Embeds chunks [from, to) through the cache into *vecs (the caller's). */
static int embed_range(const rp_build_config *cfg, const chunk_list *cl, size_t from, size_t to,
                       float **vecs, size_t *hits, char *err, size_t errlen)
{
    size_t n = to - from;
    const char **texts = malloc(n * sizeof *texts);
    const char **hashes = malloc(n * sizeof *hashes);
    if (!texts || !hashes) {
        free(texts);
        free(hashes);
        return RP_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        texts[i] = cl->v[from + i].text;
        hashes[i] = cl->v[from + i].hash;
    }
    int rc = rp_embed_cached(vecs, hits, cfg->cache, cfg->embedder, texts, hashes, n);
    if (rc) {
        /* the cache's message when the cache failed (it says what and where; it is cleared
         * at each call), else the embedder's */
        const char *m = rp_cache_errmsg(cfg->cache);
        if (!m || !*m)
            m = rp_embedder_errmsg(cfg->embedder);
        fail(err, errlen, rc, "embedding: %s", m && *m ? m : rp_strerror(rc));
    }
    free(texts);
    free(hashes);
    return rc;
}

typedef struct {
    const rp_build_config *cfg;
    rp_artifact_writer *w;
    rc_buf line;
    size_t hits, total;
    char *err;
    size_t errlen;
} embed_ctx;

static int embed_batch(const chunk_list *l, size_t first, void *ud)
{
    embed_ctx *x = ud;
    float *v = NULL;
    size_t hits = 0;
    int rc = embed_range(x->cfg, l, 0, l->n, &v, &hits, x->err, x->errlen);
    free(v);
    x->hits += hits;
    count(x->cfg, "embed", first + l->n, x->total);
    for (size_t k = 0; rc == RP_OK && k < l->n; k++) {
        rc_buf_reset(&x->line);
        rc_buf_puts(&x->line, "{\"id\":");
        rc_buf_json_str(&x->line, l->v[k].id, strlen(l->v[k].id));
        rc_buf_printf(&x->line, ",\"hash\":\"%s\"}", l->v[k].hash);
        rc = rp_artifact_write(x->w, x->line.data, x->line.len);
    }
    return rc;
}

static int step_embed(rp_state *s, const char *run_id, const rp_build_config *cfg,
                      const char *params, const char *chunk_params, char *err, size_t errlen)
{
    rp_artifact_writer *w = NULL;
    int rc = rp_artifact_begin(&w, s, run_id, "embed.ndjson", "embed");
    embed_ctx x = {cfg, w, RC_BUF_INIT, 0, recorded_chunks(s, run_id), err, errlen};
    size_t total = 0;
    if (rc == RP_OK)
        rc = stream_chunks(s, run_id, chunk_params, EMBED_BATCH, embed_batch, &x, &total, err,
                           errlen);
    if (rc == RP_OK)
        rc = rp_artifact_commit(w, params, NULL);
    if (rc == RP_OK)
        progress(cfg, "embed", "%zu chunks embedded with %s/%s (dim %zu): %zu from the cache",
                 total, rp_embedder_name(cfg->embedder), rp_embedder_model(cfg->embedder),
                 rp_embedder_dim(cfg->embedder), x.hits);
    rp_artifact_writer_free(w);
    rc_buf_free(&x.line);
    return rc;
}

typedef struct {
    const rp_build_config *cfg;
    const char *run_id, *collection;
    int version;
    size_t done, total;
    rc_buf pl;
    char *err;
    size_t errlen;
} upsert_ctx;

static int upsert_batch(const chunk_list *l, size_t first, void *ud)
{
    upsert_ctx *x = ud;
    size_t n = l->n, dim = rp_embedder_dim(x->cfg->embedder);
    float *v = NULL;
    int rc = embed_range(x->cfg, l, 0, n, &v, NULL, x->err, x->errlen);
    if (rc)
        return rc;
    qdrant_point_id *ids = malloc(n * sizeof *ids);
    char **payloads = calloc(n, sizeof *payloads);
    int ok = ids && payloads;
    for (size_t k = 0; ok && k < n; k++) {
        const chunk_rec *c = &l->v[k];
        /* Deterministic ids: running this step twice overwrites, never duplicates. */
        ids[k] = qdrant_point_id_num(rp_point_id(x->cfg->index, c->doc_id, c->n));
        rc_buf *b = &x->pl;
        rc_buf_reset(b);
        rc_buf_puts(b, "{\"doc_id\":");
        rc_buf_json_str(b, c->doc_id, strlen(c->doc_id));
        rc_buf_puts(b, ",\"chunk_id\":");
        rc_buf_json_str(b, c->id, strlen(c->id));
        rc_buf_puts(b, ",\"path\":");
        rc_buf_json_str(b, c->doc_id, strlen(c->doc_id));
        rc_buf_printf(b,
                      ",\"chunk\":%zu,\"hash\":\"%s\",\"run_id\":\"%s\",\"version\":%d,"
                      "\"text\":",
                      c->n, c->hash, x->run_id, x->version);
        if (c->text_json) /* as the chunk artifact holds it: the same bytes, not escaped again */
            rc_buf_append(b, c->text_json, c->text_json_len);
        else
            rc_buf_json_str(b, c->text, strlen(c->text));
        rc_buf_putc(b, '}');
        payloads[k] = b->data ? strdup(b->data) : NULL;
        ok = payloads[k] != NULL;
    }
    if (!ok) {
        rc = RP_ENOMEM;
    } else {
        qdrant_upload_options uo = QDRANT_UPLOAD_OPTIONS_INIT;
        if (qdrant_client_is_local(x->cfg->qdrant))
            uo.batch_points = 4096; /* one transaction per 4096 points (see step_upsert) */
        int qrc = qdrant_points_upload(NULL, x->cfg->qdrant, x->collection, n, ids, v, dim,
                                       (const char *const *)payloads, &uo);
        if (qrc)
            rc = rp_qerr(x->err, x->errlen, x->cfg->qdrant, "uploading points", qrc);
        else
            x->done += n;
        count(x->cfg, "upsert", first + n, x->total);
    }
    for (size_t k = 0; payloads && k < n; k++)
        free(payloads[k]);
    free(payloads);
    free(ids);
    free(v);
    return rc;
}

/* The build's collection, made fresh for this attempt: it must not exist, or be this run's own
 * (an earlier attempt of this run, never promoted: it is dropped and made again, so no point of
 * an earlier attempt with other settings survives). Anything else is never touched. */
static int fresh_collection(rp_state *s, const char *run_id, const rp_build_config *cfg,
                            const char *collection, int version, char *err, size_t errlen)
{
    qdrant_client *q = cfg->qdrant;
    const char *dep = rp_state_deployment(s);
    rp_owner o;
    int rc = rp_owner_read(&o, q, collection, dep, cfg->index, version, err, errlen);
    if (rc)
        return rc;
    char alias[256], live[256], who[256];
    snprintf(alias, sizeof alias, "%s_%s_active", prefix_of(cfg), cfg->index);
    if (o.state != RP_OWN_ABSENT) {
        if (o.state != RP_OWN_MINE || strcmp(o.run_id, run_id) != 0)
            return fail(err, errlen, RP_ESTATE,
                        "collection %s exists and is not this run's (%s): it is left untouched; "
                        "build again for a new version",
                        collection, rp_owner_describe(&o, who, sizeof who));
        int qrc = rp_alias_target(live, sizeof live, q, alias);
        if (qrc)
            return rp_qerr(err, errlen, q, "reading the aliases", qrc);
        if (!strcmp(live, collection) || o.promoted_ms)
            return fail(err, errlen, RP_ESTATE,
                        "collection %s was promoted: it is never written again; build a new "
                        "version instead",
                        collection);
        qrc = rp_q_delete(NULL, q, collection);
        if (qrc)
            return rp_qerr(err, errlen, q, "dropping the earlier attempt's collection", qrc);
        progress(cfg, "upsert", "dropped %s of an earlier attempt of this run", collection);
    }
    rc_buf meta = RC_BUF_INIT;
    rp_owner_metadata(&meta, dep, cfg->index, version, run_id, rp_embedder_name(cfg->embedder),
                      rp_embedder_model(cfg->embedder), rp_embedder_dim(cfg->embedder));
    int qrc = meta.data
                  ? rp_q_create(q, collection, rp_embedder_dim(cfg->embedder), meta.data, run_id)
                  : QDRANT_ENOMEM;
    rc_buf_free(&meta);
    if (qrc == QDRANT_ECONFLICT) /* made by someone else since we looked */
        return fail(err, errlen, RP_ESTATE,
                    "collection %s was created by someone else meanwhile: it is left untouched; "
                    "build again for a new version",
                    collection);
    if (qrc)
        return rp_qerr(err, errlen, q, "creating the collection", qrc);
    return RP_OK;
}

static int step_upsert(rp_state *s, const char *run_id, const rp_build_config *cfg,
                       const char *params, const char *chunk_params, const char *collection,
                       int version, char *err, size_t errlen)
{
    int rc = fresh_collection(s, run_id, cfg, collection, version, err, errlen);
    if (rc)
        return rc;
    upsert_ctx x = {cfg,         run_id, collection, version, 0, recorded_chunks(s, run_id),
                    RC_BUF_INIT, err,    errlen};
    /* 4096 chunks a call: in local mode each call is one transaction, and fewer, larger
     * transactions rewrite far fewer index pages (192k points: 25.9 -> 15.0 us/point); to a
     * server the uploader still sends 256 points per request. Memory holds one such batch,
     * whatever the corpus size. */
    rc = stream_chunks(s, run_id, chunk_params, 4096, upsert_batch, &x, NULL, err, errlen);
    rc_buf_free(&x.pl);
    if (rc == RP_OK) {
        rp_artifact_writer *w = NULL;
        rc = rp_artifact_begin(&w, s, run_id, "upsert.json", "upsert");
        char line[320];
        snprintf(line, sizeof line, "{\"collection\":\"%s\",\"points\":%zu}", collection, x.done);
        if (rc == RP_OK)
            rc = rp_artifact_write(w, line, strlen(line));
        if (rc == RP_OK)
            rc = rp_artifact_commit(w, params, NULL);
        rp_artifact_writer_free(w);
        progress(cfg, "upsert", "%zu points in %s", x.done, collection);
    }
    return rc;
}

typedef struct {
    const rp_build_config *cfg;
    size_t total, samples, taken, passed;
    float *vecs;                 /* samples * dim: each sample chunk's embedding */
    uint64_t *ids;               /* its point id */
    char (*names)[160];          /* its chunk id, for messages */
    char (*hashes)[RP_HASH_HEX]; /* its text's hash: a hit with the same text finds it too */
    char *err;
    size_t errlen;
} smoke_ctx;

static int count_batch(const chunk_list *l, size_t first, void *ud)
{
    (void)l;
    (void)first;
    (void)ud;
    return 0;
}

static size_t sample_index(const smoke_ctx *x, size_t k)
{
    return x->samples > 1 ? k * (x->total - 1) / (x->samples - 1) : 0;
}

/* Collects the sample chunks (their embeddings come from the cache); only the sample lines of
 * the chunk artifact are parsed. */
typedef struct {
    smoke_ctx *x;
    size_t line;
    int rc;
} smoke_reader;

static int smoke_line(const char *line, size_t len, void *ud)
{
    smoke_reader *r = ud;
    smoke_ctx *x = r->x;
    size_t at = r->line++;
    if (x->taken >= x->samples)
        return 1;
    if (at != sample_index(x, x->taken))
        return 0;
    chunk_list l;
    memset(&l, 0, sizeof l);
    if (on_chunk_line(line, len, &l)) {
        chunks_free(&l);
        r->rc = fail(x->err, x->errlen, l.bad == 2 ? RP_ENOMEM : RP_ECORRUPT,
                     "cannot read line %zu of the chunk artifact", at + 1);
        return 1;
    }
    size_t dim = rp_embedder_dim(x->cfg->embedder);
    /* a sample may repeat when there are fewer chunks than samples wanted */
    while (r->rc == RP_OK && x->taken < x->samples && sample_index(x, x->taken) == at) {
        float *v = NULL;
        r->rc = embed_range(x->cfg, &l, 0, 1, &v, NULL, x->err, x->errlen);
        if (r->rc)
            break;
        memcpy(x->vecs + x->taken * dim, v, dim * sizeof *v);
        free(v);
        x->ids[x->taken] = rp_point_id(x->cfg->index, l.v[0].doc_id, l.v[0].n);
        snprintf(x->names[x->taken], sizeof x->names[x->taken], "%s", l.v[0].id);
        memcpy(x->hashes[x->taken], l.v[0].hash, RP_HASH_HEX);
        x->taken++;
    }
    chunks_free(&l);
    return r->rc != RP_OK || x->taken >= x->samples;
}

static int step_smoketest(rp_state *s, const char *run_id, const rp_build_config *cfg,
                          const char *params, const char *chunk_params, const char *collection,
                          char *err, size_t errlen)
{
    smoke_ctx x = {cfg, 0, 0, 0, 0, NULL, NULL, NULL, NULL, err, errlen};
    /* The chunk count as recorded with the artifact (the artifact itself is hash-checked by
     * stream_chunks below). */
    x.total = recorded_chunks(s, run_id);
    int rc = RP_OK;
    if (!x.total)
        rc = stream_chunks(s, run_id, chunk_params, 1024, count_batch, &x, &x.total, err, errlen);
    if (rc)
        return rc;
    qdrant_client *q = cfg->qdrant;
    uint64_t count = 0;
    int qrc = qdrant_points_count(&count, q, collection, NULL);
    if (qrc)
        return rp_qerr(err, errlen, q, "counting points", qrc);
    if (count != x.total)
        return fail(err, errlen, RP_ESTATE, "%s holds %llu points, but there are %zu chunks",
                    collection, (unsigned long long)count, x.total);
    /* A deterministic sample spread over the corpus, each to find itself in the top 3, and the
     * user's own checks (each to find its expected document in the top k): one batch of
     * queries, answered in one pass over the points in local mode. */
    x.samples = cfg->smoke_samples ? cfg->smoke_samples : 5;
    if (x.samples > x.total)
        x.samples = x.total;
    size_t dim = rp_embedder_dim(cfg->embedder), k = cfg->smoke_k ? cfg->smoke_k : 5;
    size_t nq = x.samples + cfg->n_smoke_queries;
    x.vecs = malloc((nq ? nq : 1) * (dim ? dim : 1) * sizeof *x.vecs);
    x.ids = malloc((x.samples ? x.samples : 1) * sizeof *x.ids);
    x.names = malloc((x.samples ? x.samples : 1) * sizeof *x.names);
    x.hashes = malloc((x.samples ? x.samples : 1) * sizeof *x.hashes);
    qdrant_query_options *qo = malloc((nq ? nq : 1) * sizeof *qo);
    qdrant_point_list **hits = calloc(nq ? nq : 1, sizeof *hits);
    if (!x.vecs || !x.ids || !x.names || !x.hashes || !qo || !hits) {
        rc = fail(err, errlen, RP_ENOMEM, "out of memory");
        goto out;
    }
    char path[PATH_MAX];
    smoke_reader sr = {&x, 0, RP_OK};
    if (rp_artifact_valid(s, run_id, "chunks.ndjson", chunk_params, path) != 1) {
        rc = fail(err, errlen, RP_ENOTFOUND, "the chunk artifact is missing or stale");
    } else if (x.samples) {
        int rr = rp_artifact_read(path, 0, smoke_line, &sr);
        if (sr.rc)
            rc = sr.rc;
        else if (rr != RP_OK && rr != RP_ESTOPPED)
            rc = fail(err, errlen, RP_ECORRUPT, "cannot read the chunk artifact %s", path);
    }
    if (rc == RP_OK && x.taken < x.samples)
        rc = fail(err, errlen, RP_ECORRUPT, "the chunk artifact holds fewer chunks than recorded");
    for (size_t i = 0; rc == RP_OK && i < cfg->n_smoke_queries; i++) {
        float *v = NULL;
        const char *texts[1] = {cfg->smoke_queries[i].text};
        rc = rp_embed_batch(cfg->embedder, &v, texts, 1);
        if (rc) {
            rc = fail(err, errlen, rc, "embedding smoke query: %s",
                      rp_embedder_errmsg(cfg->embedder));
            break;
        }
        memcpy(x.vecs + (x.samples + i) * dim, v, dim * sizeof *v);
        free(v);
    }
    for (size_t i = 0; rc == RP_OK && i < nq; i++) {
        qdrant_query_options d = QDRANT_QUERY_OPTIONS_INIT;
        qo[i] = d;
        qo[i].limit = i < x.samples ? 3 : (uint32_t)k;
        qo[i].with_payload = 1; /* samples: the hits' text hashes */
    }
    if (rc == RP_OK && nq &&
        (qrc = qdrant_points_query_batch(hits, q, collection, x.vecs, nq, dim, qo)))
        rc = rp_qerr(err, errlen, q, "querying", qrc);
    for (size_t i = 0; rc == RP_OK && i < x.samples; i++) {
        qdrant_point_id id = qdrant_point_id_num(x.ids[i]);
        int found = 0;
        size_t nh = qdrant_point_list_count(hits[i]);
        /* Three hits as close as the sample is to itself (cosine 1: identical embeddings, e.g.
         * chunks of one long run of padding) are a tie the index cannot break: the sample is
         * among the best whichever of them comes first. */
        if (nh == 3 && qdrant_point_list_score(hits[i], 2) >= 1.0f - 1e-4f)
            found = 1;
        for (size_t h = 0; h < nh && !found; h++) {
            found = qdrant_point_id_equal(qdrant_point_list_id(hits[i], h), &id);
            /* A chunk whose text is the sample's (a repeated licence header, a copied file)
             * is as good an answer: with several identical chunks, any of them may come
             * first. */
            const char *pl = found ? NULL : qdrant_point_list_payload(hits[i], h);
            json_object *o = pl ? json_tokener_parse(pl) : NULL, *hv;
            if (o && json_object_object_get_ex(o, "hash", &hv) &&
                json_object_is_type(hv, json_type_string) &&
                !strcmp(json_object_get_string(hv), x.hashes[i]))
                found = 1;
            json_object_put(o);
        }
        if (!found)
            rc = fail(err, errlen, RP_ESTATE,
                      "chunk %s is not in the top 3 when queried with its own text (nor is any "
                      "chunk with the same text)",
                      x.names[i]);
        else
            x.passed++;
    }
    for (size_t i = 0; rc == RP_OK && i < cfg->n_smoke_queries; i++) {
        const rp_smoke_query *sq = &cfg->smoke_queries[i];
        const qdrant_point_list *l = hits[x.samples + i];
        int found = 0;
        for (size_t h = 0; h < qdrant_point_list_count(l) && !found; h++) {
            json_object *o = json_tokener_parse(qdrant_point_list_payload(l, h)), *d;
            found = o && json_object_object_get_ex(o, "doc_id", &d) &&
                    strcmp(json_object_get_string(d), sq->expect_doc_id) == 0;
            json_object_put(o);
        }
        if (!found)
            rc = fail(err, errlen, RP_ESTATE, "smoke query \"%s\" did not find %s in the top %zu",
                      sq->text, sq->expect_doc_id, k);
        else
            progress(cfg, "smoketest", "query \"%s\" finds %s", sq->text, sq->expect_doc_id);
    }
    if (rc == RP_OK) {
        rp_artifact_writer *w = NULL;
        rc = rp_artifact_begin(&w, s, run_id, "smoke.json", "smoketest");
        char line[256];
        snprintf(line, sizeof line, "{\"points\":%llu,\"samples\":%zu,\"passed\":%zu}",
                 (unsigned long long)count, x.samples, x.passed);
        if (rc == RP_OK)
            rc = rp_artifact_write(w, line, strlen(line));
        if (rc == RP_OK)
            rc = rp_artifact_commit(w, params, NULL);
        rp_artifact_writer_free(w);
        progress(cfg, "smoketest", "%llu points = %zu chunks; %zu/%zu samples find themselves",
                 (unsigned long long)count, x.total, x.passed, x.samples);
    }
out:
    for (size_t i = 0; hits && i < nq; i++)
        qdrant_point_list_free(hits[i]);
    free(hits);
    free(qo);
    free(x.vecs);
    free(x.ids);
    free(x.names);
    free(x.hashes);
    return rc;
}

/* A collection the alias may be moved off: this deployment's (any version of this index), or
 * one made before ownership was recorded whose version this index's history knows. */
static int alias_holder_ours(rp_state *s, const rp_build_config *cfg, const char *holder, char *err,
                             size_t errlen)
{
    char head[200];
    int hn = snprintf(head, sizeof head, "%s_%s_v", prefix_of(cfg), cfg->index);
    int v = strncmp(holder, head, (size_t)hn) == 0 ? atoi(holder + hn) : 0;
    char name[256];
    if (v < 1 || rp_collection_name(name, sizeof name, prefix_of(cfg), cfg->index, v) != RP_OK ||
        strcmp(name, holder) != 0)
        return fail(err, errlen, RP_ESTATE,
                    "the alias %s_%s_active points at %s, which is not a version of this index: "
                    "nothing was changed (use another prefix)",
                    prefix_of(cfg), cfg->index, holder);
    rp_owner o;
    int rc =
        rp_owner_read(&o, cfg->qdrant, holder, rp_state_deployment(s), cfg->index, v, err, errlen);
    if (rc)
        return rc;
    char *text = NULL;
    int known = 0;
    if (o.state == RP_OWN_LEGACY && rp_index_read(s, &text, cfg->index) == RP_OK) {
        char pat[64];
        snprintf(pat, sizeof pat, "\"version\": %d,", v);
        known = strstr(text, pat) != NULL;
    }
    free(text);
    if (o.state == RP_OWN_MINE || o.state == RP_OWN_ABSENT || known ||
        (o.state == RP_OWN_LEGACY && qdrant_client_is_local(cfg->qdrant)))
        return RP_OK;
    char who[256];
    return fail(err, errlen, RP_ESTATE,
                "the alias %s_%s_active points at %s, %s: it is not this deployment's, so it "
                "is not moved (use another prefix)",
                prefix_of(cfg), cfg->index, holder, rp_owner_describe(&o, who, sizeof who));
}

static int step_promote(rp_state *s, const char *run_id, const rp_build_config *cfg,
                        const char *collection, int version, char *err, size_t errlen)
{
    qdrant_client *q = cfg->qdrant;
    char alias[256], prev[256], who[256];
    snprintf(alias, sizeof alias, "%s_%s_active", prefix_of(cfg), cfg->index);
    rp_owner o;
    int rc =
        rp_owner_read(&o, q, collection, rp_state_deployment(s), cfg->index, version, err, errlen);
    if (rc)
        return rc;
    if (o.state != RP_OWN_MINE || strcmp(o.run_id, run_id) != 0)
        return fail(err, errlen, RP_ESTATE, "collection %s is not this run's (%s): not promoted",
                    collection, rp_owner_describe(&o, who, sizeof who));
    int qrc = rp_alias_target(prev, sizeof prev, q, alias);
    if (qrc)
        return rp_qerr(err, errlen, q, "reading the aliases", qrc);
    if (prev[0] && strcmp(prev, collection) != 0 &&
        (rc = alias_holder_ours(s, cfg, prev, err, errlen)))
        return rc;
    if ((rc = rp_alias_move(q, alias, collection, prev, err, errlen)))
        return rc;
    rc = rp_index_set_state(s, cfg->index, version, RP_V_PROMOTED);
    if (rc) {
        /* History could not say so: readers must not stay on a version it does not know as
         * promoted. */
        char e2[512];
        snprintf(e2, sizeof e2, "%s", rp_state_errmsg(s));
        int back = rp_q_alias_switch(q, alias, prev);
        return fail(err, errlen, rc, "recording the promotion: %s; the alias %s", e2,
                    back ? "could NOT be put back" : "was put back");
    }
    if (rp_q_stamp(q, collection, "promoted") != QDRANT_OK)
        progress(cfg, "promote", "warning: could not record the promotion in %s's metadata: %s",
                 collection, qdrant_client_errmsg(q));
    progress(cfg, "promote", "%s -> %s (version %d is active)", alias, collection, version);
    return RP_OK;
}

/* ---- the driver ---- */

static int make_run_id(char *run_id, size_t cap, const char *index)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    uint64_t h[2];
    char seed[96];
    snprintf(seed, sizeof seed, "%s-%ld-%ld", index, (long)getpid(), ts.tv_nsec);
    rp_hash128(h, seed, strlen(seed));
    snprintf(run_id, cap, "%.20s-%s-%04x", index, stamp, (unsigned)(h[0] & 0xffff));
    for (char *p = run_id; *p; p++)
        if (*p == '_')
            *p = '-';
    return RP_OK;
}

/* Reserves the run's version: never a number whose collection exists on the server, whoever
 * made it. */
static int reserve_version(rp_state *s, int *out, const char *run_id, const rp_build_config *cfg,
                           char *err, size_t errlen)
{
    int floor = 1, version = 0;
    int rc = rp_versions_floor(&floor, cfg->qdrant, prefix_of(cfg), cfg->index, err, errlen);
    if (rc)
        return rc;
    rc = rp_index_reserve_from(s, &version, cfg->index, run_id, floor);
    if (rc == RP_OK)
        rc = rp_run_set_version(s, run_id, version);
    if (rc)
        return fail(err, errlen, rc, "reserving a version: %s", rp_state_errmsg(s));
    *out = version;
    return RP_OK;
}

int rp_build_create(rp_state *s, char *run_id, size_t cap, const rp_build_config *cfg, char *err,
                    size_t errlen)
{
    if (!s || !run_id || cap < 48 || !cfg || !cfg->index || !cfg->docs_dir || !cfg->embedder ||
        !cfg->qdrant)
        return fail(err, errlen, RP_EINVAL, "invalid build configuration");
    if (!rp_name_valid(cfg->index))
        return fail(err, errlen, RP_EINVAL, "index name \"%s\" is invalid: use 1-64 of [a-z0-9_-]",
                    cfg->index);
    if (!rp_name_valid(prefix_of(cfg)))
        return fail(err, errlen, RP_EINVAL, "prefix \"%s\" is invalid: use 1-64 of [a-z0-9_-]",
                    prefix_of(cfg));
    /* Nothing is created for a build that cannot start: the documents folder exists, the
     * index's history is readable, the server answers. */
    struct stat st;
    if (stat(cfg->docs_dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return fail(err, errlen, RP_ENOTFOUND, "documents folder %s: %s", cfg->docs_dir,
                    errno == ENOENT || !errno ? "no such directory" : strerror(errno));
    char *text = NULL;
    int rc = rp_index_read(s, &text, cfg->index);
    free(text);
    if (rc == RP_ENOTFOUND) {
        /* No history: rebuild what the server proves is this deployment's (nothing when the
         * index is new). */
        size_t changes = 0;
        rc = rp_history_repair(s, cfg->qdrant, prefix_of(cfg), cfg->index, &changes, NULL, 0, err,
                               errlen);
        if (rc == RP_OK && changes)
            progress(cfg, "discover",
                     "the history of %s was missing: rebuilt from %zu change(s) "
                     "found in the collections' metadata",
                     cfg->index, changes);
        if (rc)
            return rc;
    } else if (rc) {
        return fail(err, errlen, rc, "%s", rp_state_errmsg(s));
    }
    int floor = 1;
    if ((rc = rp_versions_floor(&floor, cfg->qdrant, prefix_of(cfg), cfg->index, err, errlen)))
        return rc;
    make_run_id(run_id, cap, cfg->index);
    rc_buf params = RC_BUF_INIT;
    rc_buf_puts(&params, "{\"index\":");
    rc_buf_json_str(&params, cfg->index, strlen(cfg->index));
    rc_buf_puts(&params, ",\"docs\":");
    rc_buf_json_str(&params, cfg->docs_dir, strlen(cfg->docs_dir));
    rc_buf_printf(&params,
                  ",\"prefix\":\"%s\",\"chunk_size\":%zu,\"overlap\":%zu,\"embedder\":\"%s\","
                  "\"model\":\"%s\",\"dim\":%zu,\"fail_step\":%s%s%s,\"fail_times\":%d}",
                  prefix_of(cfg), cfg->chunk.size, cfg->chunk.overlap,
                  rp_embedder_name(cfg->embedder), rp_embedder_model(cfg->embedder),
                  rp_embedder_dim(cfg->embedder), cfg->fail.step ? "\"" : "",
                  cfg->fail.step ? cfg->fail.step : "null", cfg->fail.step ? "\"" : "",
                  cfg->fail.times);
    rc = params.data ? rp_run_create(s, run_id, cfg->index, rp_build_steps, RP_NSTEPS, params.data)
                     : RP_ENOMEM;
    rc_buf_free(&params);
    if (rc)
        return fail(err, errlen, rc, "creating run: %s", rp_state_errmsg(s));
    /* Held until the run is executed and done (or this process ends): a run nobody holds is
     * known to be abandoned. */
    rc = rp_run_lock(s, run_id);
    if (rc)
        return fail(err, errlen, rc, "locking run: %s", rp_state_errmsg(s));
    int version = 0;
    rc = rp_index_reserve_from(s, &version, cfg->index, run_id, floor);
    if (rc == RP_OK)
        rc = rp_run_set_version(s, run_id, version);
    if (rc) {
        fail(err, errlen, rc, "reserving a version: %s", rp_state_errmsg(s));
        rp_run_set_status(s, run_id, RP_FAILED, err);
        return rc;
    }
    return RP_OK;
}

/* The state of an index's version in its history, -1 when not recorded (or unreadable). */
static int version_state(rp_state *s, const char *index, int version)
{
    char *text = NULL;
    if (rp_index_read(s, &text, index) != RP_OK)
        return -1;
    json_object *o = json_tokener_parse(text), *vs;
    free(text);
    int st = -1;
    if (o && json_object_object_get_ex(o, "versions", &vs))
        for (size_t i = 0; i < json_object_array_length(vs); i++) {
            json_object *e = json_object_array_get_idx(vs, i), *n, *v;
            if (json_object_object_get_ex(e, "version", &n) && json_object_get_int(n) == version &&
                json_object_object_get_ex(e, "state", &v))
                for (int k = 0; k < 4; k++)
                    if (!strcmp(json_object_get_string(v), rp_vstate_name(k)))
                        st = k;
        }
    json_object_put(o);
    return st;
}

static int run_prepare(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                       size_t errlen);
static int run_steps(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen);

int rp_build_execute(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen)
{
    int rc = rp_run_lock(s, run_id); /* another process executing it: RP_EBUSY */
    if (rc)
        return fail(err, errlen, rc, "%s", rp_state_errmsg(s));
    rc = run_prepare(s, run_id, cfg, err, errlen);
    if (rc == RP_OK)
        rc = run_steps(s, run_id, cfg, err, errlen);
    rp_run_unlock(s);
    return rc;
}

/* The run's version, ready to build: a run killed before it had one gets one now; a failed
 * version is revived; a promoted one is never built again; one the history no longer knows is
 * replaced by a new number (never one whose collection exists). */
static int run_prepare(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                       size_t errlen)
{
    size_t swept = 0;
    rp_state_sweep(s, &swept, run_id); /* temp files its killed attempts left */
    json_object *run = read_run(s, run_id);
    if (!run) {
        char *t = NULL;
        int rc = rp_run_read(s, &t, run_id);
        free(t);
        return fail(err, errlen, rc ? rc : RP_ENOTFOUND, "%s", rp_state_errmsg(s));
    }
    int version = run_version(run), rc = RP_OK;
    json_object_put(run);
    int vs = version > 0 ? version_state(s, cfg->index, version) : -1;
    if (vs == RP_V_PROMOTED || vs == RP_V_ROLLED_BACK)
        return fail(err, errlen, RP_ESTATE,
                    "version %d of %s was promoted: it is never built again (a replay builds a new "
                    "version)",
                    version, cfg->index);
    if (vs == RP_V_FAILED)
        rc = rp_index_set_state(s, cfg->index, version, RP_V_BUILDING);
    else if (vs < 0) {
        int v = 0;
        rc = reserve_version(s, &v, run_id, cfg, err, errlen);
        if (rc == RP_OK)
            progress(cfg, "discover", "%s version %d for this run",
                     version > 0 ? "the history lost its version: reserved" : "reserved", v);
        return rc;
    }
    if (rc)
        return fail(err, errlen, rc, "%s", rp_state_errmsg(s));
    return RP_OK;
}

static int run_steps(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen)
{
    json_object *run = read_run(s, run_id);
    if (!run)
        return fail(err, errlen, RP_ECORRUPT, "run %s disappeared", run_id);
    int version = run_version(run);
    char collection[256];
    if (version <= 0 || rp_collection_name(collection, sizeof collection, prefix_of(cfg),
                                           cfg->index, version) != RP_OK) {
        json_object_put(run);
        return fail(err, errlen, RP_ECORRUPT, "run %s has no valid version", run_id);
    }
    int first = 0;
    while (first < RP_NSTEPS && run_step_status(run, first) == RP_SUCCEEDED)
        first++;
    rc_buf p[RP_NSTEPS];
    for (int i = 0; i < RP_NSTEPS; i++)
        p[i] = (rc_buf)RC_BUF_INIT;
    int rc = RP_OK;
    /* Steps before the first to run are reused only when their artifacts are still valid. */
    for (int i = 0; i < first; i++) {
        step_params(&p[i], i, cfg, run, collection);
        int valid =
            artifact_of[i] ? rp_artifact_valid(s, run_id, artifact_of[i], p[i].data, NULL) == 1 : 1;
        if (i == S_DISCOVER && valid) {
            /* The documents themselves are its input: re-walk and compare. */
            rp_discover_options o = RP_DISCOVER_OPTIONS_INIT;
            rp_corpus *c = NULL;
            char e2[256];
            valid = 0;
            if (rp_discover(&c, cfg->docs_dir, &o, e2, sizeof e2) == RP_OK) {
                rp_hasher h;
                rp_hasher_init(&h);
                rc_buf line = RC_BUF_INIT;
                for (size_t k = 0; k < c->n; k++) {
                    rc_buf_reset(&line);
                    rp_doc_json(&line, &c->docs[k]);
                    rp_hasher_update(&h, line.data, line.len);
                    rp_hasher_update(&h, "\n", 1);
                }
                char hex[RP_HASH_HEX];
                rp_hasher_hex(&h, hex);
                const char *rec = artifact_hash(run, "docs.ndjson");
                valid = rec && strcmp(rec, hex) == 0;
                rc_buf_free(&line);
            }
            rp_corpus_free(c);
        }
        if (valid) {
            /* (its record keeps the timings of the attempt that made the artifact) */
            rp_run_event(s, run_id, "reused", rp_build_steps[i],
                         "artifact still matches its inputs");
            progress(cfg, rp_build_steps[i], "reused (artifact matches its inputs)");
        } else {
            rp_run_event(s, run_id, "stale", rp_build_steps[i],
                         "artifact missing or changed: running the step again");
            progress(cfg, rp_build_steps[i], "artifact missing or changed: running it again");
            first = i;
            break;
        }
    }
    for (int i = first; rc == RP_OK && i < RP_NSTEPS; i++) {
        const char *name = rp_build_steps[i];
        json_object_put(run);
        run = read_run(s, run_id); /* artifacts recorded by the previous step */
        if (!run)
            return fail(err, errlen, RP_ECORRUPT, "run %s disappeared", run_id);
        step_params(&p[i], i, cfg, run, collection);
        rp_step_update(s, run_id, name, RP_RUNNING, NULL);
        json_object_put(run);
        run = read_run(s, run_id);
        int attempt = run_step_attempts(run, i);
        progress(cfg, name, "running (attempt %d)", attempt);
        int64_t cpu0 = cpu_ms();
        if (cfg->fail.step && strcmp(cfg->fail.step, name) == 0 &&
            (cfg->fail.times < 0 || attempt <= cfg->fail.times)) {
            rc = fail(err, errlen, RP_ESTOPPED, "failure injected at %s (attempt %d)", name,
                      attempt);
        } else {
            switch (i) {
            case S_DISCOVER:
                rc = step_discover(s, run_id, cfg, p[i].data, err, errlen);
                break;
            case S_CHUNK:
                rc = step_chunk(s, run_id, cfg, p[i].data, p[S_DISCOVER].data, err, errlen);
                break;
            case S_EMBED:
                rc = step_embed(s, run_id, cfg, p[i].data, p[S_CHUNK].data, err, errlen);
                break;
            case S_UPSERT:
                rc = step_upsert(s, run_id, cfg, p[i].data, p[S_CHUNK].data, collection, version,
                                 err, errlen);
                break;
            case S_SMOKE:
                rc = step_smoketest(s, run_id, cfg, p[i].data, p[S_CHUNK].data, collection, err,
                                    errlen);
                break;
            default:
                rc = step_promote(s, run_id, cfg, collection, version, err, errlen);
                break;
            }
        }
        int64_t cpu = cpu_ms() - cpu0;
        if (rc) {
            rp_step_update_cpu(s, run_id, name, RP_FAILED, err, cpu);
            rp_run_set_status(s, run_id, RP_FAILED, err);
            rp_index_set_state(s, cfg->index, version, RP_V_FAILED); /* if still building */
            progress(cfg, name, "FAILED: %s", err);
        } else {
            rp_step_update_cpu(s, run_id, name, RP_SUCCEEDED, NULL, cpu);
        }
    }
    if (rc == RP_OK)
        rp_run_set_status(s, run_id, RP_SUCCEEDED, NULL);
    json_object_put(run);
    for (int i = 0; i < RP_NSTEPS; i++)
        rc_buf_free(&p[i]);
    return rc;
}

int rp_build_replay(rp_state *s, char *out_run, size_t cap, const char *run_id, const char *from,
                    const rp_build_config *cfg, char *err, size_t errlen)
{
    int at = rp_step_index(from);
    if (at < 0)
        return fail(err, errlen, RP_EINVAL,
                    "unknown step \"%s\" (discover, chunk, embed, upsert, "
                    "smoketest, promote)",
                    from);
    if (!out_run || cap < 48)
        return fail(err, errlen, RP_EINVAL, "invalid arguments");
    json_object *run = read_run(s, run_id);
    if (!run) {
        char *t = NULL;
        int rc = rp_run_read(s, &t, run_id);
        free(t);
        return fail(err, errlen, rc ? rc : RP_ENOTFOUND, "%s", rp_state_errmsg(s));
    }
    int version = run_version(run);
    json_object_put(run);
    int vstate = version > 0 ? version_state(s, cfg->index, version) : -1;
    if (vstate == RP_V_PROMOTED || vstate == RP_V_ROLLED_BACK) {
        /* A promoted version is never written again: the replay is a new run building a new
         * version, starting from what this run finished before `from`. */
        rp_build_config c2 = *cfg;
        if (c2.fail.from_params)
            memset(&c2.fail, 0, sizeof c2.fail);
        cfg = &c2;
        char fresh[96];
        int rc = rp_build_create(s, fresh, sizeof fresh, cfg, err, errlen);
        if (rc)
            return rc;
        snprintf(out_run, cap, "%s", fresh);
        char msg[256];
        snprintf(msg, sizeof msg, "replay of run %s from %s (its version %d was promoted)", run_id,
                 from, version);
        rp_run_event(s, fresh, "replay_of", from, msg);
        snprintf(msg, sizeof msg, "replayed from %s as run %s (a new version)", from, fresh);
        rp_run_event(s, run_id, "replayed_as", from, msg);
        if (at > 0 && (rc = rp_run_inherit(s, fresh, run_id, rp_build_steps, (size_t)at))) {
            fail(err, errlen, rc, "taking over the steps of run %s: %s", run_id,
                 rp_state_errmsg(s));
            rp_run_set_status(s, fresh, RP_FAILED, err);
            return rc;
        }
        progress(cfg, from, "version %d of run %s was promoted: building a new version as run %s",
                 version, run_id, fresh);
        return rp_build_execute(s, fresh, cfg, err, errlen);
    }
    /* The run's own lock first: a run another process is executing is never reset. */
    int rc = rp_run_lock(s, run_id);
    if (rc)
        return fail(err, errlen, rc, "%s", rp_state_errmsg(s));
    rc = rp_run_replay(s, run_id, from);
    if (rc) {
        rp_run_unlock(s);
        return fail(err, errlen, rc, "replay: %s", rp_state_errmsg(s));
    }
    snprintf(out_run, cap, "%s", run_id);
    return rp_build_execute(s, run_id, cfg, err, errlen);
}
