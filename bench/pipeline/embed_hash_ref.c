/* A frozen copy of the "hash" embedder (model "fh-v1") as it was before its speed-up (commit
 * cc244f7, lib/pipeline/embed_hash.c), compiled into bench_embed_hash only: its --verify mode
 * checks that the library's output stays bit-identical to this one. Do not change it. */
#include "embed_hash_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    uint32_t key;
    uint16_t count;
    uint16_t gen;
} slot;

struct ref_hash {
    size_t dim;
    slot *tab;
    size_t cap;
    size_t mask;
    uint16_t gen;
    uint32_t *used;
    size_t nused;
    float wtab[65536];
};

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static inline uint32_t key32(uint64_t x)
{
    x *= 0x9e3779b97f4a7c15ULL;
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(x >> 32);
}

void ref_hash_free(ref_hash *h)
{
    if (!h)
        return;
    free(h->tab);
    free(h->used);
    free(h);
}

static int h_reserve(ref_hash *h, size_t features)
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

static inline void h_add(ref_hash *h, uint32_t key)
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

static void h_embed_one(ref_hash *h, float *out, const char *text)
{
    size_t len = strlen(text);
    memset(out, 0, h->dim * sizeof *out);
    if (++h->gen == 0) {
        memset(h->tab, 0, h->cap * sizeof *h->tab);
        h->gen = 1;
    }
    h->nused = 0;
    size_t part = 1024;
    while (part < len * 6 + 64)
        part *= 2;
    h->mask = part - 1;
    const unsigned char *p = (const unsigned char *)text, *e = p + len;
    uint64_t c1 = 0, c2 = 0, c3 = 0;
    size_t seen = 0;
    uint64_t wh = 0, prev_word = 0;
    int in_word = 0, have_prev = 0;
    for (;;) {
        int at_end = p >= e;
        uint32_t cp = at_end ? ' ' : next_cp(&p, e);
        if (cp >= 'A' && cp <= 'Z')
            cp += 32;
        int ws = cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\f' || cp == '\v';
        int word = (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9') || cp >= 0x80;
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
        out[0] = 1.0f;
        return;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (size_t k = 0; k < h->dim; k++)
        out[k] *= inv;
}

int ref_hash_embed(ref_hash *h, float *out, const char *const *texts, size_t n)
{
    size_t maxlen = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(texts[i]);
        if (l > maxlen)
            maxlen = l;
    }
    if (maxlen > (SIZE_MAX / 8) || h_reserve(h, maxlen * 3 + 32) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        h_embed_one(h, out + i * h->dim, texts[i]);
    return 0;
}

ref_hash *ref_hash_new(size_t dim)
{
    ref_hash *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->dim = dim ? dim : 384;
    for (int i = 1; i < 65536; i++)
        h->wtab[i] = 1.0f + logf((float)i);
    if (h_reserve(h, 4096) < 0) {
        ref_hash_free(h);
        return NULL;
    }
    return h;
}
