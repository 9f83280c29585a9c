/* The embedder front end and the built-in "hash" embedder (feature hashing). */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *rp_embedder_name(const rp_embedder *e)
{
    return e && e->vt ? e->vt->name(e) : NULL;
}

const char *rp_embedder_model(const rp_embedder *e)
{
    return e && e->vt ? e->vt->model(e) : NULL;
}

size_t rp_embedder_dim(const rp_embedder *e)
{
    return e && e->vt ? e->vt->dim(e) : 0;
}

int rp_embed_batch(rp_embedder *e, float **out, const char *const *texts, size_t n)
{
    if (!e || !e->vt || !out || (!texts && n))
        return RP_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return RP_EINVAL;
    return e->vt->embed_batch(e, out, texts, n);
}

const char *rp_embedder_errmsg(const rp_embedder *e)
{
    return e && e->vt && e->vt->errmsg ? e->vt->errmsg(e) : "";
}

void rp_embedder_free(rp_embedder *e)
{
    if (e && e->vt)
        e->vt->free(e);
}

/* ---- hash ---- */

/* Per-text term frequencies: an open-addressing table of 32-bit feature keys (collisions of 32-bit
 * keys within one text are negligible), stamped with a generation so it never needs clearing;
 * 8-byte slots keep a 600-character chunk's table in L1. */
typedef struct slot {
    uint32_t key;
    uint16_t count;
    uint16_t gen;
} slot;

typedef struct hash_emb {
    rp_embedder base;
    size_t dim;
    slot *tab;
    size_t cap;  /* power of two */
    size_t mask; /* of the part of the table used for the current text */
    uint16_t gen;
    uint32_t *used;
    size_t nused;
    float wtab[65536]; /* 1 + ln(tf) */
} hash_emb;

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* A cheaper mix for the many character n-gram keys: the 32 high bits of a multiply-xorshift. */
static inline uint32_t key32(uint64_t x)
{
    x *= 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(x >> 32);
}

static const char *h_name(const rp_embedder *e)
{
    return "hash";
}

static const char *h_model(const rp_embedder *e)
{
    return "fh-v1";
}

static size_t h_dim(const rp_embedder *e)
{
    return ((const hash_emb *)e)->dim;
}

static const char *h_errmsg(const rp_embedder *e)
{
    return "";
}

static void h_free(rp_embedder *e)
{
    hash_emb *h = (hash_emb *)e;
    if (!h)
        return;
    free(h->tab);
    free(h->used);
    free(h);
}

static int h_reserve(hash_emb *h, size_t features)
{
    size_t want = 1024;
    while (want < features * 2)
        want *= 2;
    if (want <= h->cap)
        return 0;
    slot *t = calloc(want, sizeof *t);
    uint32_t *u = malloc(want * sizeof *u);
    if (!t || !u) {
        free(t);
        free(u);
        return -1;
    }
    free(h->tab);
    free(h->used);
    h->tab = t;
    h->used = u;
    h->cap = want;
    h->gen = 0;
    return 0;
}

static inline void h_add(hash_emb *h, uint32_t key)
{
    size_t i = key & h->mask;
    for (;;) {
        slot *s = &h->tab[i];
        if (s->gen != h->gen) {
            s->gen = h->gen;
            s->key = key;
            s->count = 1;
            h->used[h->nused++] = (uint32_t)i;
            return;
        }
        if (s->key == key) {
            if (s->count < 65535)
                s->count++;
            return;
        }
        i = (i + 1) & h->mask;
    }
}

/* Decodes the code point at p (end e), robust to invalid input; advances *p. */
static inline uint32_t next_cp(const unsigned char **pp, const unsigned char *e)
{
    const unsigned char *p = *pp;
    unsigned c = *p;
    if (c < 0x80) {
        *pp = p + 1;
        return c;
    }
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (n == 1 || (size_t)(e - p) < n) {
        *pp = p + 1;
        return 0xFFFD;
    }
    uint32_t v = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++)
        v = (v << 6) | (p[i] & 0x3F);
    *pp = p + n;
    return v;
}

static void h_embed_one(hash_emb *h, float *out, const char *text)
{
    size_t len = strlen(text);
    memset(out, 0, h->dim * sizeof *out);
    if (++h->gen == 0) { /* wrapped: clear the stamps */
        memset(h->tab, 0, h->cap * sizeof *h->tab);
        h->gen = 1;
    }
    h->nused = 0;
    /* at most 3 features per byte: use a table part at least twice that */
    size_t part = 1024;
    while (part < len * 6 + 64)
        part *= 2;
    h->mask = part - 1;
    const unsigned char *p = (const unsigned char *)text, *e = p + len;
    uint64_t c1 = 0, c2 = 0, c3 = 0; /* previous code points (folded) */
    size_t seen = 0;
    uint64_t wh = 0, prev_word = 0;
    int in_word = 0, have_prev = 0;
    for (;;) {
        int at_end = p >= e; /* then one sentinel space flushes the last word */
        uint32_t cp = at_end ? ' ' : next_cp(&p, e);
        if (cp >= 'A' && cp <= 'Z')
            cp += 32;
        int ws = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v';
        int word = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || cp >= 0x80;
        /* words: unigrams and bigrams */
        if (word) {
            wh = (wh ^ cp) * 0x100000001b3ULL + (in_word ? 0 : 0x9e3779b97f4a7c15ULL);
            in_word = 1;
        } else if (in_word) {
            uint64_t u = mix64(wh ^ 0x1111111111111111ULL);
            h_add(h, (uint32_t)(u >> 32));
            if (have_prev)
                h_add(h, key32(prev_word * 0x9e3779b97f4a7c15ULL ^ u ^ 0x2222222222222222ULL));
            prev_word = u;
            have_prev = 1;
            in_word = 0;
            wh = 0;
        }
        if (at_end)
            break;
        /* character 3- and 4-grams over the folded sequence */
        if (ws) {
            if (seen && c1 == ' ')
                continue;
            cp = ' ';
        }
        if (seen >= 2) {
            uint64_t k3 = (c2 << 42) ^ (c1 << 21) ^ cp;
            h_add(h, key32(k3 ^ 0x3333333333333333ULL));
            if (seen >= 3)
                h_add(h, key32((k3 ^ 0x4444444444444444ULL) + c3 * 0xd6e8feb86659fd93ULL));
        }
        c3 = c2;
        c2 = c1;
        c1 = cp;
        seen++;
    }
    double norm = 0;
    for (size_t k = 0; k < h->nused; k++) {
        const slot *s = &h->tab[h->used[k]];
        float w = h->wtab[s->count];
        size_t b = (size_t)(((uint64_t)s->key * h->dim) >> 32);
        out[b] += (s->key >> 15) & 1 ? -w : w;
    }
    for (size_t k = 0; k < h->dim; k++)
        norm += (double)out[k] * out[k];
    if (norm <= 0) {
        out[0] = 1.0f; /* empty text: a fixed unit vector (cosine needs a non-zero norm) */
        return;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t k = 0; k < h->dim; k++)
        out[k] *= inv;
}

static int h_embed(rp_embedder *e, float **out, const char *const *texts, size_t n)
{
    hash_emb *h = (hash_emb *)e;
    size_t maxlen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(texts[i]);
        if (l > maxlen)
            maxlen = l;
    }
    if (maxlen > (SIZE_MAX / 8) || h_reserve(h, maxlen * 3 + 32) < 0)
        return RP_ENOMEM;
    float *v = malloc((n ? n : 1) * h->dim * sizeof *v);
    if (!v)
        return RP_ENOMEM;
    for (size_t i = 0; i < n; i++)
        h_embed_one(h, v + i * h->dim, texts[i]);
    *out = v;
    return RP_OK;
}

static const rp_embedder_vtable hash_vt = {h_name, h_model, h_dim, h_embed, h_errmsg, h_free};

int rp_embedder_hash_new(rp_embedder **out, size_t dim)
{
    if (!out || dim > 65536)
        return RP_EINVAL;
    hash_emb *h = calloc(1, sizeof *h);
    if (!h)
        return RP_ENOMEM;
    h->base.vt = &hash_vt;
    h->dim = dim ? dim : 384;
    for (int i = 1; i < 65536; i++)
        h->wtab[i] = 1.0f + logf((float)i);
    if (h_reserve(h, 4096) < 0) {
        h_free(&h->base);
        return RP_ENOMEM;
    }
    *out = &h->base;
    return RP_OK;
}
