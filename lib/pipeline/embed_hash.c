/* The embedder front end and the built-in "hash" embedder (feature hashing). */
#include "internal.h"

#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "swar.h"

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

/* The texts are embedded in passes over small buffers, each a loop without data-dependent branches
 * in its common path: fold the text (decode, lower-case, white space runs to one space) into code
 * points; walk them once for the character 3- and 4-gram keys (rolling) and the word hashes; turn
 * the word hashes into unigram and bigram keys in their places among the n-gram keys; count the
 * keys in an open-addressing table that gives each distinct key a rank in the order of first
 * occurrence, with its key and count in dense arrays; add each distinct key's weight to its bucket
 * in rank order. Where AVX-512 (with VBMI) is present the fold runs 64 bytes at a time; its output
 * is the same, and rp_embedder_hash_portable() turns it off for tests.
 *
 * The output must stay bit-identical (model "fh-v1", cached embeddings): the keys are the same
 * 32-bit values in the same order as the one-pass embedder before (cc244f7, frozen in
 * bench/pipeline/embed_hash_ref.c, which bench_embed_hash --verify compares with), distinct keys
 * are added to their buckets in the order of their first occurrence with the same float weights,
 * and the norm is summed in the same order. Distinct features whose 32-bit keys collide are one
 * feature, as before. */

#define CP_MASK 0x1FFFFFu    /* decoded code points have at most 21 bits */
#define CP_WORD 0x80000000u  /* in the folded buffer: a word character */
#define CP_SPACE 0x40000000u /* in the folded buffer: ' ' from white space */
#define MAX_TEXT (1u << 30)  /* bytes: keeps key positions and counts in 32 bits */
#define SLACK 16             /* cps entries past the end: the AVX-512 fold stores 16 at a time */

typedef struct hash_emb {
    rp_embedder base;
    size_t dim;
    /* Term frequencies: an open-addressing table (linear probing) of each key's rank, 1 for the
     * first distinct key of the text, 2 for the next ..., 0 when free; all free between texts
     * (each text frees the slots it used). Per rank, in dense arrays: the key, its count (0
     * between texts), its slot. */
    uint32_t *idx;
    size_t cap; /* slots, a power of two */
    /* Scratch sized for texts of up to room bytes: */
    size_t room;
    uint32_t *cps;      /* the folded text, CP_WORD set on word characters */
    uint32_t *keys;     /* the feature keys in order */
    uint64_t *wh;       /* per word: its running hash ... */
    uint32_t *wpos;     /* ... and where its unigram (and bigram) key goes in keys */
    uint32_t *dkey;     /* per rank (from 1): the key; dkey[0] is the probe's sentinel */
    uint32_t *dcnt;     /* ... its count */
    uint32_t *dslot;    /* ... its slot in idx */
    int simd;           /* 1: the AVX-512 passes (same output), 0: the portable ones */
    uint32_t fold[128]; /* ASCII: lower-cased, white space to ' ' | CP_SPACE, CP_WORD on [a-z0-9] */
    /* fold as bytes for the AVX-512 fold (vpermi2b): the folded character, 0x80 on [a-z0-9] */
    unsigned char foldb[128];
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

static void h_free_scratch(hash_emb *h)
{
    free(h->cps);
    free(h->keys);
    free(h->wh);
    free(h->wpos);
    free(h->dkey);
    free(h->dcnt);
    free(h->dslot);
}

static void h_free(rp_embedder *e)
{
    hash_emb *h = (hash_emb *)e;
    if (!h)
        return;
    free(h->idx);
    h_free_scratch(h);
    free(h);
}

/* Keys per text of len bytes: per code point at most two n-grams, and a unigram and a bigram per
 * word end (a word end needs two code points), so at most 3 per byte, plus the final word's 2. */
static size_t max_keys(size_t len)
{
    return 3 * len + 2;
}

/* Table slots for a text: a power of two, for chunk-sized texts (up to 2 KiB) at least 8 times
 * their keys, so that a first probe rarely finds another key: 16384 slots (64 KiB) for a 600-byte
 * chunk; half as many cost about 8% more time in mispredicted probes, twice as many more in cache
 * misses. Past 2 KiB, 2 more slots per key: those texts leave the cache anyway. It never shrinks
 * as len grows: h_reserve sizes the table for the longest text of a batch. */
static size_t table_part(size_t len)
{
    size_t want = len <= 2048 ? 24 * len : 24 * 2048 + 6 * (len - 2048), part = 1024;
    while (part < want + 64)
        part *= 2;
    return part;
}

static int h_reserve(hash_emb *h, size_t len)
{
    size_t want = table_part(len);
    if (want > h->cap) {
        uint32_t *t = calloc(want, sizeof *t);
        if (!t)
            return -1;
        free(h->idx);
        h->idx = t;
        h->cap = want;
    }
    if (len <= h->room && h->cps)
        return 0;
    size_t room = len < 4096 ? 4096 : len;
    hash_emb n = *h;
    n.cps = malloc((room + SLACK) * sizeof *n.cps);
    n.keys = malloc(max_keys(room) * sizeof *n.keys);
    n.wh = malloc((room / 2 + 2) * sizeof *n.wh);
    n.wpos = malloc((room / 2 + 2) * sizeof *n.wpos);
    /* per rank (from 1); dcnt zeroed (each text zeroes the counts it used) */
    n.dkey = malloc((max_keys(room) + 1) * sizeof *n.dkey);
    n.dcnt = calloc(max_keys(room) + 1, sizeof *n.dcnt);
    n.dslot = malloc((max_keys(room) + 1) * sizeof *n.dslot);
    if (!n.cps || !n.keys || !n.wh || !n.wpos || !n.dkey || !n.dcnt || !n.dslot) {
        h_free_scratch(&n);
        return -1;
    }
    h_free_scratch(h);
    h->cps = n.cps;
    h->keys = n.keys;
    h->wh = n.wh;
    h->wpos = n.wpos;
    h->dkey = n.dkey;
    h->dcnt = n.dcnt;
    h->dslot = n.dslot;
    h->room = room;
    return 0;
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

/* The folded text into h->cps; returns its length in code points. */
static size_t fold_text(const hash_emb *h, const unsigned char *p, size_t len)
{
    const unsigned char *e = p + len;
    const uint32_t *fold = h->fold;
    uint32_t *q = h->cps, prev = 0;
/* one ASCII byte: folded, stored, kept unless it and the one before are white space */
#define FOLD1(b)                                                                                   \
    do {                                                                                           \
        uint32_t c_ = fold[b];                                                                     \
        *q = c_;                                                                                   \
        q += 1 - (((c_ & prev) >> 30) & 1);                                                        \
        prev = c_;                                                                                 \
    } while (0)
    while (p < e) {
        if (e - p >= 8 && !(rc_load8(p) & RC_HIGHS)) {
            FOLD1(p[0]);
            FOLD1(p[1]);
            FOLD1(p[2]);
            FOLD1(p[3]);
            FOLD1(p[4]);
            FOLD1(p[5]);
            FOLD1(p[6]);
            FOLD1(p[7]);
            p += 8;
            continue;
        }
        uint32_t c = *p;
        if (c < 0x80) {
            p++;
        } else {
            c = next_cp(&p, e);
            if (c >= 0x80) {
                c |= CP_WORD;
                *q++ = c;
                prev = c;
                continue;
            }
            /* an overlong form of an ASCII character: folded as that character */
        }
        FOLD1(c);
    }
#undef FOLD1
    return (size_t)(q - h->cps);
}

/* The word part of one step over the folded text, without branches: a word ends before a
 * non-word character (or the end); its hash is kept with the place of its keys (two are left free
 * for them: the first word's second is removed later), which are made after the walk. */
#define WORD_STEP(x)                                                                               \
    do {                                                                                           \
        uint64_t isw_ = (x) >> 31, end_ = inword & ~isw_;                                          \
        wh[nw] = hash;                                                                             \
        wpos[nw] = (uint32_t)nk;                                                                   \
        nk += 2 * end_;                                                                            \
        nw += end_;                                                                                \
        hash =                                                                                     \
            ((hash ^ ((x)&CP_MASK)) * 0x100000001b3ULL + (0x9e3779b97f4a7c15ULL & (inword - 1))) & \
            (0 - isw_);                                                                            \
        inword = isw_;                                                                             \
    } while (0)

/* Character n-gram keys and word keys into h->keys, in order; returns the number of keys. The
 * first word has no bigram: its slot, *hole, is to be skipped (SIZE_MAX when there is no word). */
static size_t text_keys(const hash_emb *h, size_t m, size_t *hole)
{
    const uint32_t *cps = h->cps;
    uint32_t *keys = h->keys, *wpos = h->wpos;
    uint64_t *wh = h->wh;
    uint64_t hash = 0, inword = 0; /* of the current word (0 outside words); 0 or 1 */
    size_t nk = 0, nw = 0, i = 0;
    uint64_t k3 = 0; /* (c2 << 42) ^ (c1 << 21) ^ cp */
    for (; i < m && i < 3; i++) {
        WORD_STEP(cps[i]);
        k3 = ((k3 << 21) ^ (cps[i] & CP_MASK)) & 0x7FFFFFFFFFFFFFFFULL;
        if (i == 2)
            keys[nk++] = key32(k3 ^ 0x3333333333333333ULL);
    }
    for (; i < m; i++) {
        uint32_t x = cps[i];
        WORD_STEP(x);
        k3 = ((k3 << 21) ^ (x & CP_MASK)) & 0x7FFFFFFFFFFFFFFFULL;
        uint64_t c3 = cps[i - 3] & CP_MASK;
        keys[nk] = key32(k3 ^ 0x3333333333333333ULL);
        keys[nk + 1] = key32((k3 ^ 0x4444444444444444ULL) + c3 * 0xd6e8feb86659fd93ULL);
        nk += 2;
    }
    WORD_STEP(' '); /* the end flushes the last word */
    *hole = SIZE_MAX;
    if (!nw)
        return nk;
    /* the word keys in their places: a unigram, and a bigram after the first word */
    uint64_t prev = mix64(wh[0] ^ 0x1111111111111111ULL);
    keys[wpos[0]] = (uint32_t)(prev >> 32);
    for (size_t k = 1; k < nw; k++) {
        uint64_t u = mix64(wh[k] ^ 0x1111111111111111ULL);
        keys[wpos[k]] = (uint32_t)(u >> 32);
        keys[wpos[k] + 1] = key32(prev * 0x9e3779b97f4a7c15ULL ^ u ^ 0x2222222222222222ULL);
        prev = u;
    }
    *hole = wpos[0] + 1;
    return nk;
}

/* Counts keys[from..to) into h's table and dense arrays, ranks from nu + 1 on for new keys;
 * returns the new number of distinct keys. */
static size_t count_keys(const hash_emb *h, size_t mask, size_t from, size_t to, size_t nu)
{
    const uint32_t *keys = h->keys;
    uint32_t *idx = h->idx, *dkey = h->dkey, *dcnt = h->dcnt, *dslot = h->dslot;
    for (size_t k = from; k < to; k++) {
        uint32_t key = keys[k];
        size_t i = key & mask;
        /* The sentinel makes a free slot (rank 0) compare equal, so that the one branch,
         * rarely taken (the table is at most a quarter full for chunk-sized texts, half for
         * longer ones, and mostly far less), is for a slot holding another key. A new key and a
         * repeated one take the same path: a branch on either would mispredict about every third
         * key. */
        dkey[0] = key;
        uint32_t r = idx[i];
        if (__builtin_expect(dkey[r] != key, 0)) {
            do {
                i = (i + 1) & mask;
                r = idx[i];
            } while (dkey[r] != key);
        }
        uint32_t rn = r ? r : (uint32_t)nu + 1;
        nu += r == 0;
        idx[i] = rn;
        dkey[rn] = key;
        dslot[rn] = (uint32_t)i;
        dcnt[rn]++;
    }
    return nu;
}

/* ---- hash: the AVX-512 fold ----
 *
 * The same folded text as fold_text, 64 ASCII bytes per step: a table lookup by vpermi2b, white
 * space runs dropped by vpcompressd. Only "light" 512-bit instructions (no multiplies): on this
 * kind of core a stream of 512-bit multiplies lowers the clock for everything after it (measured:
 * the scalar passes that follow ran ~8% slower), which cost more than 512-bit n-gram keys saved. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define EH_X86 1
#include <immintrin.h>

#define EH_AVX512                                                                                  \
    __attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,bmi,bmi2,popcnt")))

static EH_AVX512 size_t fold_text_avx512(const hash_emb *h, const unsigned char *p, size_t len)
{
    const unsigned char *e = p + len;
    const uint32_t *fold = h->fold;
    uint32_t *q = h->cps, prev = 0;
    const __m512i tlo = _mm512_loadu_si512(h->foldb), thi = _mm512_loadu_si512(h->foldb + 64);
    const __m512i low7 = _mm512_set1_epi8(0x7F), sp = _mm512_set1_epi8(' ');
    const __m512i word = _mm512_set1_epi32((int)CP_WORD), space = _mm512_set1_epi32(CP_SPACE);
    while (p < e) {
        size_t rem = (size_t)(e - p);
        __m512i raw = _mm512_maskz_loadu_epi8(_bzhi_u64(~0ULL, rem < 64 ? rem : 64), p);
        uint64_t high = _mm512_movepi8_mask(raw);
        size_t n = high ? _tzcnt_u64(high) : rem < 64 ? rem : 64; /* ASCII bytes */
        if (n) {
            __m512i fb = _mm512_permutex2var_epi8(tlo, raw, thi);
            uint64_t kw = _mm512_movepi8_mask(fb), ks = _mm512_cmpeq_epi8_mask(fb, sp);
            /* a white space after white space (or after prev's) is dropped */
            uint64_t keep = _bzhi_u64(~0ULL, n) & ~(ks & ((ks << 1) | ((prev >> 30) & 1)));
            fb = _mm512_and_si512(fb, low7);
#define EH_QUARTER(j)                                                                              \
    do {                                                                                           \
        __m512i x_ = _mm512_cvtepu8_epi32(_mm512_extracti32x4_epi32(fb, j));                       \
        x_ = _mm512_mask_or_epi32(x_, (__mmask16)(kw >> 16 * (j)), x_, word);                      \
        x_ = _mm512_mask_or_epi32(x_, (__mmask16)(ks >> 16 * (j)), x_, space);                     \
        __mmask16 k_ = (__mmask16)(keep >> 16 * (j));                                              \
        _mm512_storeu_si512(q, _mm512_maskz_compress_epi32(k_, x_));                               \
        q += _mm_popcnt_u32(k_);                                                                   \
    } while (0)
            EH_QUARTER(0);
            EH_QUARTER(1);
            EH_QUARTER(2);
            EH_QUARTER(3);
#undef EH_QUARTER
            prev = (uint32_t)((ks >> (n - 1)) & 1) << 30;
            p += n;
        }
        if (high) { /* one code point as fold_text does */
            uint32_t c = next_cp(&p, e);
            if (c >= 0x80) {
                c |= CP_WORD;
                *q++ = c;
                prev = c;
            } else {
                uint32_t f = fold[c];
                *q = f;
                q += 1 - (((f & prev) >> 30) & 1);
                prev = f;
            }
        }
    }
    return (size_t)(q - h->cps);
}

/* 1 when the AVX-512 passes can run here (the same answer for every thread; racing first calls
 * only ask twice) */
static int have_avx512(void)
{
    static atomic_int have = -1;
    int u = atomic_load_explicit(&have, memory_order_relaxed);
    if (u < 0) {
        __builtin_cpu_init();
        u = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
            __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("bmi2") &&
            __builtin_cpu_supports("popcnt");
        atomic_store_explicit(&have, u, memory_order_relaxed);
    }
    return u;
}
#else
static int have_avx512(void)
{
    return 0;
}
#endif

static void h_embed_one(hash_emb *h, float *out, const char *text)
{
    size_t len = strlen(text);
    memset(out, 0, h->dim * sizeof *out);
    size_t m, nk, hole;
#if defined(EH_X86)
    if (h->simd)
        m = fold_text_avx512(h, (const unsigned char *)text, len);
    else
#endif
        m = fold_text(h, (const unsigned char *)text, len);
    nk = text_keys(h, m, &hole);
    /* term frequencies; counts fit 32 bits (MAX_TEXT) and are capped at 65535 below */
    size_t mask = table_part(len) - 1, nu, end1 = hole < nk ? hole : nk;
    nu = count_keys(h, mask, 0, end1, 0);
    if (hole < nk)
        nu = count_keys(h, mask, hole + 1, nk, nu);
    /* each distinct key's weight into its bucket, in the order of first occurrence */
    const uint32_t *dkey = h->dkey, *dslot = h->dslot;
    uint32_t *idx = h->idx, *dcnt = h->dcnt;
    const uint64_t dim = h->dim;
    const float *wtab = h->wtab;
    for (size_t r = 1; r <= nu; r++) {
        uint32_t key = dkey[r], count = dcnt[r];
        dcnt[r] = 0;
        idx[dslot[r]] = 0;
        float w = wtab[count < 65535 ? count : 65535];
        size_t b = (size_t)(((uint64_t)key * dim) >> 32);
        /* the sign as a bit flip: a branch on this random bit would mispredict half the time */
        uint32_t wb;
        memcpy(&wb, &w, sizeof wb);
        wb ^= (key << 16) & 0x80000000u;
        memcpy(&w, &wb, sizeof w);
        out[b] += w;
    }
    /* The norm is a chain of dependent adds in a fixed order; the squares are not, nor is the
     * scaling: four per step, for the compiler to put in vector registers (SSE2 at -O2). */
    double norm = 0;
    size_t k = 0;
    for (; k + 4 <= dim; k += 4) {
        double s0 = (double)out[k] * out[k], s1 = (double)out[k + 1] * out[k + 1];
        double s2 = (double)out[k + 2] * out[k + 2], s3 = (double)out[k + 3] * out[k + 3];
        norm += s0;
        norm += s1;
        norm += s2;
        norm += s3;
    }
    for (; k < dim; k++)
        norm += (double)out[k] * out[k];
    if (norm <= 0) {
        out[0] = 1.0f; /* empty text: a fixed unit vector (cosine needs a non-zero norm) */
        return;
    }
    float inv = (float)(1.0 / sqrt(norm));
    for (k = 0; k + 4 <= dim; k += 4) {
        out[k] *= inv;
        out[k + 1] *= inv;
        out[k + 2] *= inv;
        out[k + 3] *= inv;
    }
    for (; k < dim; k++)
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
    if (maxlen >= MAX_TEXT || h_reserve(h, maxlen) < 0)
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

int rp_embedder_hash_portable(rp_embedder *e, int portable)
{
    if (!e || e->vt != &hash_vt)
        return -1;
    hash_emb *h = (hash_emb *)e;
    h->simd = !portable && have_avx512();
    return h->simd;
}

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
    for (uint32_t c = 0; c < 128; c++) {
        uint32_t f = c >= 'A' && c <= 'Z' ? c + 32 : c;
        if (f == ' ' || f == '\t' || f == '\n' || f == '\r' || f == '\f' || f == '\v')
            f = ' ' | CP_SPACE;
        if ((f >= 'a' && f <= 'z') || (f >= '0' && f <= '9'))
            f |= CP_WORD;
        h->fold[c] = f;
        h->foldb[c] = (unsigned char)((f & 0x7F) | (f & CP_WORD ? 0x80 : 0));
    }
    h->simd = have_avx512();
    if (h_reserve(h, 600) < 0) {
        h_free(&h->base);
        return RP_ENOMEM;
    }
    *out = &h->base;
    return RP_OK;
}
