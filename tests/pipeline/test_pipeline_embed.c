/* Pipeline core, embedding side: the hash embedder's retrieval quality, the OpenAI-compatible
 * embedder against a scripted server (exact requests, batching, 429 retry, wrong lengths,
 * dimension changes, errors, the key never in messages) and the persistent embedding cache. */
#include "pipeline.h"
#include "buf.h"
#include "scripted.h"
#include "tap.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static float dot(const float *a, const float *b, size_t d)
{
    double s = 0;
    for (size_t i = 0; i < d; i++)
        s += (double)a[i] * b[i];
    return (float)s;
}

#define NCH 200
static void test_hash_embedder(void)
{
    static const char *syl[] = {"ka", "lo",  "mi",  "ne",  "ru",  "sa",  "ti",  "vo",  "ze",
                                "qu", "pra", "ste", "dor", "fin", "gal", "hem", "jun", "bex"};
    char vocab[400][16];
    for (int i = 0; i < 400; i++) {
        vocab[i][0] = 0;
        int ns = 2 + (int)(rnd() % 2);
        for (int s = 0; s < ns; s++)
            strcat(vocab[i], syl[rnd() % 18]);
    }
    char *text[NCH], *query[NCH];
    for (int c = 0; c < NCH; c++) {
        rc_buf b = RC_BUF_INIT, q = RC_BUF_INIT;
        int nw = 60 + (int)(rnd() % 40);
        for (int w = 0; w < nw; w++) {
            /* Zipf-ish: common words shared by all chunks, rarer ones more distinctive */
            uint32_t r = rnd() % 400;
            const char *word = vocab[(r * r) / 400];
            rc_buf_printf(&b, "%s%s%s", w ? " " : "", w % 11 == 0 ? "The " : "", word);
            if (w >= nw / 4 && w < nw / 4 + nw / 2)
                rc_buf_printf(&q, "%s%s", q.len ? " " : "", word);
        }
        text[c] = rc_buf_steal(&b);
        query[c] = rc_buf_steal(&q);
    }
    rp_embedder *e = NULL;
    is_int(rp_embedder_hash_new(&e, 0), 0, "hash embedder");
    is_str(rp_embedder_name(e), "hash", "name");
    is_str(rp_embedder_model(e), "fh-v1", "model");
    is_int(rp_embedder_dim(e), 384, "default dim 384");
    float *v = NULL, *qv = NULL, *v2 = NULL;
    is_int(rp_embed_batch(e, &v, (const char *const *)text, NCH), 0, "embed 200 chunks");
    is_int(rp_embed_batch(e, &qv, (const char *const *)query, NCH), 0, "embed 200 queries");
    is_int(rp_embed_batch(e, &v2, (const char *const *)text, NCH), 0, "embed again");
    ok(v && v2 && !memcmp(v, v2, NCH * 384 * sizeof *v), "deterministic");
    int unit = 1, self = 0, sub = 0;
    for (int i = 0; i < NCH; i++) {
        unit &= fabsf(dot(v + i * 384, v + i * 384, 384) - 1.0f) < 1e-4f;
        int best = -1, qbest = -1;
        float bs = -2, qs = -2;
        for (int j = 0; j < NCH; j++) {
            float s = dot(v + i * 384, v + j * 384, 384);
            float t = dot(qv + i * 384, v + j * 384, 384);
            if (s > bs)
                bs = s, best = j;
            if (t > qs)
                qs = t, qbest = j;
        }
        self += best == i;
        sub += qbest == i;
    }
    ok(unit, "L2-normalised");
    is_int(self, NCH, "each chunk's own embedding is its nearest neighbour");
    is_int(sub, NCH, "the middle half of each chunk's words finds that chunk first");
    /* case and white space insensitivity of the features */
    const char *pair[] = {"Hello \t World", "hello world"};
    float *pv = NULL;
    is_int(rp_embed_batch(e, &pv, pair, 2), 0, "embed pair");
    ok(pv && dot(pv, pv + 384, 384) > 0.99f, "lower-cased, white space folded");
    free(pv);
    const char *empty[] = {""};
    is_int(rp_embed_batch(e, &pv, empty, 1), 0, "empty text");
    ok(pv && pv[0] == 1.0f, "empty text gets a fixed unit vector");
    free(pv);
    rp_embedder *e2 = NULL;
    rp_embedder_hash_new(&e2, 1000);
    is_int(rp_embedder_dim(e2), 1000, "dim configurable");
    rp_embedder_free(e2);
    free(v);
    free(v2);
    free(qv);
    rp_embedder_free(e);
    rp_embedder_free(NULL);
    for (int c = 0; c < NCH; c++) {
        free(text[c]);
        free(query[c]);
    }
}

/* The exact output of model "fh-v1": cached embeddings and stored vectors depend on every bit, so
 * a change of any feature, weight or the order of the float sums must fail here (and then needs a
 * new model name). The FNV-1a hash of the output floats' bits, and one component's bits. */
static uint64_t fnv_bits(const float *v, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t b;
        memcpy(&b, &v[i], 4);
        for (int k = 0; k < 4; k++)
            h = (h ^ ((b >> (8 * k)) & 0xFF)) * 0x100000001b3ULL;
    }
    return h;
}

static void test_hash_exact_bits(void)
{
    static char longer[4096];
    longer[0] = 0;
    for (int i = 0; strlen(longer) < sizeof longer - 64; i++)
        snprintf(longer + strlen(longer), sizeof longer - strlen(longer),
                 "%s Word%d repeat repeat\t\n%s ", i % 3 ? "the" : "The", i % 17,
                 i % 5 ? "x" : "émoji 😀");
    static const struct {
        const char *text;
        size_t dim;
        uint64_t fnv;
        size_t at;
        uint32_t bits;
    } cases[] = {
        {"Hello, World! The quick brown fox jumps over the lazy dog.", 384, 0x743e0f09d3fed11fULL,
         40, 0xbe326191},
        {"Hello, World! The quick brown fox jumps over the lazy dog.", 7, 0x98f386b9d3a8c259ULL, 4,
         0xbf45b1a0},
        {"Hello, World! The quick brown fox jumps over the lazy dog.", 1, 0x4b72c77f9c5d0918ULL, 0,
         0xbf800000},
        {"", 384, 0xb3897cefec35a218ULL, 0, 0x3f800000},
        {" \t\n ", 384, 0xb3897cefec35a218ULL, 0, 0x3f800000},
        {"ab", 384, 0x6014bb57c81d8728ULL, 11, 0xbf800000},
        {"Ünïcödé \t TEXT, 123 \xC3 invalid", 1024, 0xea7f943c5b28be9dULL, 4, 0x3e0e00d5},
        {"aaaa aaaa aaaa aaaa aaaa aaaa", 384, 0xc4eef7e9b3d6e3e0ULL, 332, 0x3ec4cb0e},
        {longer, 384, 0x79b76049601d0a46ULL, 137, 0x3e5c5338},
        {longer, 7, 0xfff6ef6bae796d22ULL, 5, 0xbf3fa7d5},
    };
    /* both the default passes (AVX-512 where present) and the portable ones */
    for (size_t c = 0; c < 2 * (sizeof cases / sizeof *cases); c++) {
        size_t portable = c % 2;
        rp_embedder *e = NULL;
        float *v = NULL;
        if (rp_embedder_hash_new(&e, cases[c / 2].dim) ||
            rp_embedder_hash_portable(e, (int)portable) < 0 ||
            rp_embed_batch(e, &v, &cases[c / 2].text, 1)) {
            ok(0, "embed");
            rp_embedder_free(e);
            continue;
        }
        uint64_t h = fnv_bits(v, cases[c / 2].dim);
        size_t at = 0;
        for (size_t i = 0; i < cases[c / 2].dim; i++)
            if (fabsf(v[i]) > fabsf(v[at]))
                at = i;
        uint32_t bits;
        memcpy(&bits, &v[at], 4);
        if (h != cases[c / 2].fnv || at != cases[c / 2].at || bits != cases[c / 2].bits)
            diag("case %zu (portable %zu): fnv 0x%016llxULL, largest component %zu bits 0x%08x",
                 c / 2, portable, (unsigned long long)h, at, bits);
        ok(h == cases[c / 2].fnv && at == cases[c / 2].at && bits == cases[c / 2].bits,
           "fh-v1 output bits unchanged");
        free(v);
        rp_embedder_free(e);
    }
}

static const char *reply(const char *status, const char *headers, const char *body)
{
    static char pool[32][2048];
    static int n;
    char *p = pool[n++ % 32];
    snprintf(p, sizeof pool[0],
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%sContent-Length: %zu\r\n\r\n%s",
             status, headers, strlen(body), body);
    return p;
}

static char warned[4096];
static void on_warn(void *ud, const char *msg)
{
    (void)ud;
    strncat(warned, msg, sizeof warned - strlen(warned) - 2);
    strcat(warned, "\n");
}

static rp_embedder *openai_for(scripted *s, size_t batch, int retries)
{
    rp_openai_options o = RP_OPENAI_OPTIONS_INIT;
    o.base_url = ss_url(s);
    o.model = "m1";
    o.api_key = "sk-secret-123";
    o.batch_size = batch;
    o.max_retries = retries;
    o.backoff_ms = 5;
    o.warn = on_warn;
    rp_embedder *e = NULL;
    char err[256];
    if (rp_embedder_openai_new(&e, &o, err, sizeof err))
        diag("openai_new: %s", err);
    return e;
}

static void test_openai(void)
{
    /* exact request; data answered out of order */
    ss_step a[] = {
        {reply("200 OK", "",
               "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":1,"
               "\"embedding\":[4,5,6]},{\"object\":\"embedding\",\"index\":0,\"embedding\":"
               "[0.5,-1.25,3e-2]}],\"model\":\"m1\",\"usage\":{\"prompt_tokens\":2}}"),
         SS_KEEP, 0},
        {reply("200 OK", "", "{\"data\":[{\"index\":0,\"embedding\":[1,2,3]}]}"), SS_KEEP, 0},
        {reply("200 OK", "", "{\"data\":[{\"index\":0,\"embedding\":[1,2,3,4]}]}"), SS_KEEP, 0},
    };
    scripted *s = ss_start(a, 3);
    rp_embedder *e = openai_for(s, 64, 2);
    ok(e != NULL, "openai embedder");
    is_int(rp_embedder_dim(e), 0, "dim unknown before the first answer");
    const char *texts[] = {"hello", "w\xC3\xB6rld \"q\""};
    float *v = NULL;
    is_int(rp_embed_batch(e, &v, texts, 2), 0, "embed 2");
    is_int(rp_embedder_dim(e), 3, "dim learned from the answer");
    ok(v && v[0] == 0.5f && v[1] == -1.25f && fabsf(v[2] - 0.03f) < 1e-7f && v[3] == 4 && v[5] == 6,
       "vectors placed by index");
    free(v);
    v = NULL;
    const ss_request *r = ss_req(s, 0);
    char hb[256];
    is_str(r ? r->method : NULL, "POST", "method");
    is_str(r ? r->target : NULL, "/v1/embeddings", "path");
    is_str(r ? ss_header(r, "Authorization", hb, sizeof hb) : NULL, "Bearer sk-secret-123",
           "bearer key");
    is_str(r ? ss_header(r, "Content-Type", hb, sizeof hb) : NULL, "application/json",
           "content type");
    is_str(r ? r->body : NULL,
           "{\"model\":\"m1\",\"input\":[\"hello\",\"w\xC3\xB6rld \\\"q\\\"\"]}", "exact body");
    is_int(rp_embed_batch(e, &v, texts, 1), 0, "same dim again");
    free(v);
    v = NULL;
    is_int(rp_embed_batch(e, &v, texts, 1), RP_EDIM, "a dimension change is an error");
    ok(strstr(rp_embedder_errmsg(e), "dimension 4, expected 3") != NULL, "dim message");
    ok(v == NULL, "out untouched on failure");
    rp_embedder_free(e);
    ss_stop(s);

    /* batching, 429 then success (Retry-After honoured), a wrong-length answer */
    warned[0] = 0;
    ss_step b[] = {
        {reply("429 Too Many Requests", "Retry-After: 0\r\n",
               "{\"error\":{\"message\":\"slow down\"}}"),
         SS_KEEP, 0},
        {reply("200 OK", "",
               "{\"data\":[{\"index\":0,\"embedding\":[1,0]},{\"index\":1,\"embedding\":[0,1]}]}"),
         SS_KEEP, 0},
        {reply("200 OK", "", "{\"data\":[{\"index\":0,\"embedding\":[1,1]}]}"), SS_KEEP, 0},
        {reply("200 OK", "", "{\"data\":[{\"index\":0,\"embedding\":[1,1]}]}"), SS_KEEP, 0},
    };
    s = ss_start(b, 4);
    e = openai_for(s, 2, 3);
    const char *three[] = {"a", "b", "c"};
    is_int(rp_embed_batch(e, &v, three, 3), 0, "3 texts in batches of 2 after a 429");
    is_int(ss_count(s), 3, "429 + 2 batches");
    ok(v && v[0] == 1 && v[3] == 1 && v[4] == 1 && v[5] == 1, "batches joined in order");
    ok(strstr(warned, "HTTP 429: slow down; retry 1/3") != NULL, "retry warned");
    ok(!strstr(warned, "sk-secret"), "key never in warnings");
    r = ss_req(s, 2);
    is_str(r ? r->body : NULL, "{\"model\":\"m1\",\"input\":[\"c\"]}", "second batch body");
    free(v);
    v = NULL;
    is_int(rp_embed_batch(e, &v, three, 2), RP_EPROTOCOL, "wrong-length answer");
    ok(strstr(rp_embedder_errmsg(e), "1 embeddings for 2 inputs") != NULL, "length message");
    rp_embedder_free(e);
    ss_stop(s);

    /* a 4xx is final; 5xx retried until exhausted; malformed JSON */
    ss_step c[] = {
        {reply("401 Unauthorized", "", "{\"error\":{\"message\":\"bad key\"}}"), SS_KEEP, 0},
        {reply("503 Service Unavailable", "", "{}"), SS_KEEP, 0},
        {reply("503 Service Unavailable", "", "{}"), SS_KEEP, 0},
        {reply("200 OK", "", "{\"data\":[{\"index\":0,\"embedding\":[1,"), SS_KEEP, 0},
        {reply("200 OK", "", "{\"data\":[{\"index\":5,\"embedding\":[1]}]}"), SS_KEEP, 0},
    };
    s = ss_start(c, 5);
    e = openai_for(s, 8, 1);
    is_int(rp_embed_batch(e, &v, three, 1), RP_EHTTP, "401 is final");
    ok(strstr(rp_embedder_errmsg(e), "HTTP 401: bad key") != NULL, "error text kept");
    ok(!strstr(rp_embedder_errmsg(e), "sk-secret"), "key never in messages");
    is_int(ss_count(s), 1, "no retry on 401");
    is_int(rp_embed_batch(e, &v, three, 1), RP_EHTTP, "503 until retries run out");
    ok(strstr(rp_embedder_errmsg(e), "retries exhausted") != NULL, "exhausted message");
    is_int(rp_embed_batch(e, &v, three, 1), RP_EPROTOCOL, "truncated JSON");
    is_int(rp_embed_batch(e, &v, three, 1), RP_EPROTOCOL, "index out of range");
    rp_embedder_free(e);
    ss_stop(s);

    /* base URL forms, required options */
    rp_openai_options o = RP_OPENAI_OPTIONS_INIT;
    char err[256];
    is_int(rp_embedder_openai_new(&e, &o, err, sizeof err), RP_EINVAL, "base_url required");
    ss_step d[] = {
        {reply("200 OK", "", "{\"data\":[{\"index\":0,\"embedding\":[1]}]}"), SS_KEEP, 0}};
    s = ss_start(d, 1);
    char base[256];
    snprintf(base, sizeof base, "%s/v1/", ss_url(s));
    o.base_url = base;
    o.model = "m";
    e = NULL;
    is_int(rp_embedder_openai_new(&e, &o, err, sizeof err), 0, "base with /v1/");
    is_int(rp_embed_batch(e, &v, three, 1), 0, "embed");
    is_str(ss_req(s, 0) ? ss_req(s, 0)->target : NULL, "/v1/embeddings", "no doubled /v1");
    ok(ss_req(s, 0) && !ss_header(ss_req(s, 0), "Authorization", base, sizeof base),
       "no Authorization without a key");
    free(v);
    v = NULL;
    rp_embedder_free(e);
    ss_stop(s);
}

/* The AVX-512 passes (where present) against the portable ones, bit for bit, on random texts over
 * an alphabet that reaches every branch of the fold: ASCII of every class, white space runs,
 * multi-byte, invalid and truncated UTF-8, overlong forms; lengths across the 64-byte steps. */
static void test_hash_paths_agree(void)
{
    static const char *atoms[] = {"a",    "Z",    "q",        "0",        "7",        " ",   "  ",
                                  "\t",   "\n",   "\r",       "\f",       "\v",       ".",   "-",
                                  "_",    "\x7f", "\x01",     "é",        "中",       "😀",   "\xC3",
                                  "\x80", "\xFF", "\xC1\xA1", "\xE2\x82", "\xC0\xA0", "The "};
    size_t natoms = sizeof atoms / sizeof *atoms;
    rp_embedder *simd = NULL, *port = NULL;
    rp_embedder_hash_new(&simd, 384);
    rp_embedder_hash_new(&port, 384);
    int on = rp_embedder_hash_portable(simd, 0);
    rp_embedder_hash_portable(port, 1);
    int same = 1;
    char buf[1600];
    for (int t = 0; t < 3000 && same; t++) {
        size_t want = rnd() % (t < 1000 ? 80 : 1500), n = 0;
        size_t span = 1 + rnd() % natoms, base = rnd() % natoms;
        while (n < want) {
            const char *a = atoms[(base + rnd() % span) % natoms];
            size_t l = strlen(a);
            memcpy(buf + n, a, l);
            n += l;
        }
        buf[n] = 0;
        const char *text = buf;
        float *a = NULL, *b = NULL;
        if (rp_embed_batch(simd, &a, &text, 1) || rp_embed_batch(port, &b, &text, 1))
            same = 0;
        else if (memcmp(a, b, 384 * sizeof *a)) {
            diag("text %d (%zu bytes) differs", t, n);
            same = 0;
        }
        free(a);
        free(b);
    }
    diag("hash: AVX-512 passes %s", on == 1 ? "in use" : "not available here");
    ok(same, "hash: the default passes and the portable ones give the same bits");
    rp_embedder_free(simd);
    rp_embedder_free(port);
}

/* One batch whose longest text is just past 16 KiB and another just under: the table, sized for
 * the longest, must fit every text of the batch (it once did not: a larger mask for the shorter
 * one, writing past the table). */
static void test_hash_batch_lengths(void)
{
    static char a[16386], b[16385];
    for (size_t i = 0; i < sizeof a - 1; i++)
        a[i] = (char)('a' + (i * 7919) % 26);
    for (size_t i = 0; i < sizeof b - 1; i++)
        b[i] = i % 6 ? (char)('a' + (i * 104729) % 23) : ' ';
    const char *texts[2] = {a, b};
    int good = 1;
    for (int portable = 0; portable < 2; portable++) {
        rp_embedder *e = NULL, *one = NULL;
        float *v = NULL, *w = NULL;
        rp_embedder_hash_new(&e, 384);
        rp_embedder_hash_new(&one, 384);
        rp_embedder_hash_portable(e, portable);
        rp_embedder_hash_portable(one, portable);
        good &= rp_embed_batch(e, &v, texts, 2) == 0 &&
                rp_embed_batch(one, &w, texts + 1, 1) == 0 && v && w &&
                !memcmp(v + 384, w, 384 * sizeof *w);
        free(v);
        free(w);
        rp_embedder_free(e);
        rp_embedder_free(one);
    }
    ok(good, "hash: a 16385- and a 16384-byte text in one batch (the second as when alone)");
}

/* A counting embedder around the hash embedder; its dimension is unknown until first use when
 * lazy is set (as the openai embedder's). */
typedef struct counting {
    rp_embedder base;
    rp_embedder *inner;
    size_t embedded;
    int lazy, used;
} counting;
static const char *c_name(const rp_embedder *e)
{
    return "counting";
}
static const char *c_model(const rp_embedder *e)
{
    return "m";
}
static size_t c_dim(const rp_embedder *e)
{
    const counting *c = (const counting *)e;
    return c->lazy && !c->used ? 0 : rp_embedder_dim(c->inner);
}
static int c_embed(rp_embedder *e, float **out, const char *const *t, size_t n)
{
    counting *c = (counting *)e;
    c->embedded += n;
    c->used = 1;
    return rp_embed_batch(c->inner, out, t, n);
}
static const char *c_err(const rp_embedder *e)
{
    return "";
}
static void c_free(rp_embedder *e) {}
static const rp_embedder_vtable counting_vt = {c_name, c_model, c_dim, c_embed, c_err, c_free};

static void test_cache(void)
{
    char dir[64] = "/tmp/rp_cache_XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cdir[128];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    counting ce = {{&counting_vt}, NULL, 0, 0, 0};
    rp_embedder_hash_new(&ce.inner, 16);
    const char *texts[] = {"alpha beta", "gamma delta", "alpha beta", "epsilon"};
    char h[4][RP_HASH_HEX];
    const char *hp[4];
    for (int i = 0; i < 4; i++) {
        rp_hash_hex(h[i], texts[i], strlen(texts[i]));
        hp[i] = h[i];
    }
    rp_cache *c = NULL;
    char err[256];
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "cache open");
    float *v1 = NULL, *v2 = NULL;
    size_t hits = 99;
    is_int(rp_embed_cached(&v1, &hits, c, &ce.base, texts, hp, 3), 0, "first run");
    is_int(hits, 0, "no hits");
    is_int(ce.embedded, 3, "3 embedded");
    rp_cache_free(c);
    c = NULL;
    /* a new run (new handle): nothing is embedded twice */
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "cache reopen");
    ce.embedded = 0;
    is_int(rp_embed_cached(&v2, &hits, c, &ce.base, texts, hp, 4), 0, "second run");
    is_int(hits, 3, "3 hits");
    is_int(ce.embedded, 1, "only the new text embedded");
    ok(v1 && v2 && !memcmp(v1, v2, 3 * 16 * sizeof(float)), "cached vectors identical");
    free(v2);
    v2 = NULL;
    /* dimension not known yet: the cache's dimension is assumed, then verified */
    counting lazy = {{&counting_vt}, ce.inner, 0, 1, 0};
    is_int(rp_embed_cached(&v2, &hits, c, &lazy.base, texts, hp, 4), 0, "lazy-dim embedder");
    is_int(hits, 4, "all hits with the assumed dimension");
    is_int(lazy.embedded, 0, "nothing embedded");
    free(v2);
    v2 = NULL;
    /* key includes the dimension */
    float one[16];
    int found = 1;
    is_int(rp_cache_get(c, one, &found, "counting", "m", 8, hp[0]), 0, "get other dim");
    is_int(found, 0, "other dimension is another key");
    is_int(rp_cache_get(c, one, &found, "counting", "m", 16, hp[0]), 0, "get");
    ok(found && !memcmp(one, v1, sizeof one), "get returns the stored vector");
    free(v1);
    rp_cache_free(c);
    rp_cache_free(NULL);
    rp_embedder_free(ce.inner);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ok(system(cmd) == 0, "cleanup");
}

/* The one cache file of (counting, m, 16) under cdir (not the ones set aside). */
static int cache_file(char *out, size_t cap, const char *cdir)
{
    DIR *d = opendir(cdir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)))
        if (strncmp(de->d_name, "emb-", 4) == 0 && strlen(de->d_name) > 7 &&
            strcmp(de->d_name + strlen(de->d_name) - 7, "-d16.v1") == 0) {
            snprintf(out, cap, "%s/%s", cdir, de->d_name);
            n++;
        }
    if (d)
        closedir(d);
    return n;
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The cache file: torn tails, damaged records, foreign headers, two handles at once. */
/* The end of a cache test: frees what it made and removes its directory. */
static void cache_test_done(const char *dir, rp_embedder *inner, float *ref, rp_cache **caches,
                            size_t n)
{
    free(ref);
    for (size_t i = 0; i < n; i++)
        rp_cache_free(caches[i]);
    rp_embedder_free(inner);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ok(system(cmd) == 0, "cleanup");
}

static void test_cache_files(void)
{
    char dir[64] = "/tmp/rp_cachef_XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cdir[128], path[512], err[256];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    counting ce = {{&counting_vt}, NULL, 0, 0, 0};
    rp_embedder_hash_new(&ce.inner, 16);
    const char *texts[] = {"one fish", "two fish", "red fish", "blue fish"};
    char h[4][RP_HASH_HEX];
    const char *hp[4];
    for (int i = 0; i < 4; i++) {
        rp_hash_hex(h[i], texts[i], strlen(texts[i]));
        hp[i] = h[i];
    }
    rp_cache *a = NULL, *b = NULL;
    is_int(rp_cache_open(&a, cdir, err, sizeof err), 0, "open a");
    is_int(rp_cache_open(&b, cdir, err, sizeof err), 0, "open b");
    float *v = NULL, *ref = NULL;
    size_t hits = 9;
    /* b looks first (no file yet), then a stores: b sees a's entries on its next miss */
    is_int(rp_embed_cached(&v, &hits, b, &ce.base, texts, hp, 0), 0, "b: empty batch");
    free(v);
    float one[16];
    int found = 1;
    is_int(rp_cache_get(b, one, &found, "counting", "m", 16, hp[0]), 0, "b: get before");
    is_int(found, 0, "b: nothing yet");
    is_int(rp_embed_cached(&ref, &hits, a, &ce.base, texts, hp, 2), 0, "a stores 2");
    is_int(cache_file(path, sizeof path, cdir), 1, "one file for (counting, m, 16)");
    off_t rec = 16 + 16 * 4 + 8, size2 = file_size(path);
    is_int((long)((size2 - 1024) / rec), 2, "two records after the header");
    is_int(rp_cache_get(b, one, &found, "counting", "m", 16, hp[1]), 0, "b: get after");
    ok(found && !memcmp(one, ref + 16, sizeof one), "b sees a's entry");

    /* a torn tail (a writer killed mid-record) is ignored, then cut off by the next writer */
    FILE *f = fopen(path, "ab");
    ok(f && fwrite("garbage-partial-record", 1, 22, f) == 22, "torn tail appended");
    if (f)
        fclose(f);
    rp_cache *c = NULL;
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open c");
    ce.embedded = 0;
    float *v2 = NULL;
    is_int(rp_embed_cached(&v2, &hits, c, &ce.base, texts, hp, 3), 0, "c: 2 hits, 1 new");
    is_int(hits, 2, "c: the 2 records before the torn tail are hits");
    is_int(ce.embedded, 1, "c: only the new text embedded");
    is_int((long)file_size(path), (long)(size2 + rec), "torn tail cut, one record appended");
    free(v2);

    /* a damaged record is a miss (embedded again and stored again), never a wrong vector */
    f = fopen(path, "r+b");
    ok(f && fseek(f, 1024 + 16 + 4, SEEK_SET) == 0 && fputc(0x5a, f) != EOF, "record 0 damaged");
    if (f)
        fclose(f);
    rp_cache *d = NULL;
    is_int(rp_cache_open(&d, cdir, err, sizeof err), 0, "open d");
    ce.embedded = 0;
    is_int(rp_embed_cached(&v2, &hits, d, &ce.base, texts, hp, 3), 0, "d: lookup");
    is_int(hits, 2, "d: the damaged record is not a hit");
    is_int(ce.embedded, 1, "d: its text embedded again");
    ok(v2 && !memcmp(v2, ref, 16 * sizeof(float)), "d: the right vector");
    free(v2);
    /* c had indexed the record before it was damaged: its read checks it again */
    found = 1;
    rp_cache *e = NULL;
    is_int(rp_cache_open(&e, cdir, err, sizeof err), 0, "open e");
    is_int(rp_cache_get(e, one, &found, "counting", "m", 16, hp[0]), 0, "e: get");
    ok(found && !memcmp(one, ref, sizeof one), "e: the re-stored record wins");
    f = fopen(path, "r+b");
    ok(f && fseek(f, 1024 + rec + 16, SEEK_SET) == 0 && fputc(0x11, f) != EOF,
       "record 1 damaged after c indexed it");
    if (f)
        fclose(f);
    found = 1;
    is_int(rp_cache_get(c, one, &found, "counting", "m", 16, hp[1]), 0, "c: get damaged");
    is_int(found, 0, "c: a record damaged after indexing is a miss");

    /* a file that is not this space's cache is set aside with a warning: a miss, not an error
     * (test_cache_damaged has the cases) */
    rp_cache_free(e);
    e = NULL;
    f = fopen(path, "r+b");
    ok(f && fseek(f, 40, SEEK_SET) == 0 && fputc('X', f) != EOF, "header damaged");
    if (f)
        fclose(f);
    is_int(rp_cache_open(&e, cdir, err, sizeof err), 0, "open e again");
    warned[0] = 0;
    rp_cache_set_warn(e, on_warn, NULL);
    found = 1;
    is_int(rp_cache_get(e, one, &found, "counting", "m", 16, hp[0]), 0,
           "damaged header: not an error");
    is_int(found, 0, "damaged header: a miss");
    ok(strstr(warned, "its header is damaged") && strstr(warned, "set aside as"),
       "warning says what is wrong");

    cache_test_done(dir, ce.inner, ref, (rp_cache *[]){a, b, c, d, e}, 5);
}

/* Overwrites len bytes at off of path with byte b (b < 0: flips each byte). */
static int damage(const char *path, long off, size_t len, int b)
{
    FILE *f = fopen(path, "r+b");
    int ok_ = f != NULL;
    for (size_t i = 0; ok_ && i < len; i++) {
        int c = 0;
        if (b < 0)
            ok_ = fseek(f, off + (long)i, SEEK_SET) == 0 && (c = fgetc(f)) != EOF;
        ok_ =
            ok_ && fseek(f, off + (long)i, SEEK_SET) == 0 && fputc(b < 0 ? c ^ 0xff : b, f) != EOF;
    }
    if (f)
        ok_ = fclose(f) == 0 && ok_;
    return ok_;
}

#define NLAZY 1500
/* Records are checked when hit, not when indexed: big batches in any order (runs, duplicates,
 * misses among hits), damage present when the file is indexed (floats, key bytes, a zeroed
 * record, a torn record of whole size) is a miss at the hit, then stored again and found. */
static void test_cache_lazy_check(void)
{
    char dir[64] = "/tmp/rp_cachel_XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cdir[128], path[512], err[256];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    counting ce = {{&counting_vt}, NULL, 0, 0, 0};
    rp_embedder_hash_new(&ce.inner, 16);
    static char text[NLAZY + 10][32], hash[NLAZY + 10][RP_HASH_HEX];
    static const char *tp[NLAZY + 10], *hp[NLAZY + 10];
    for (int i = 0; i < NLAZY + 10; i++) {
        snprintf(text[i], sizeof text[i], "lazy text %d", i);
        rp_hash_hex(hash[i], text[i], strlen(text[i]));
        tp[i] = text[i];
        hp[i] = hash[i];
    }
    /* a stores NLAZY texts, 64 at a time (as the embed step does) */
    float *ref = malloc(NLAZY * 16 * sizeof *ref), *v = NULL;
    rp_cache *a = NULL;
    is_int(rp_cache_open(&a, cdir, err, sizeof err), 0, "open a");
    size_t hits = 0, stored = 0;
    for (int i = 0; i < NLAZY; i += 64) {
        int m = NLAZY - i < 64 ? NLAZY - i : 64;
        if (rp_embed_cached(&v, &hits, a, &ce.base, tp + i, hp + i, (size_t)m) == 0 && ref)
            memcpy(ref + i * 16, v, (size_t)m * 16 * sizeof *v);
        free(v);
        v = NULL;
        stored += (size_t)m - hits;
    }
    is_int(stored, NLAZY, "a: all stored");
    is_int(cache_file(path, sizeof path, cdir), 1, "one cache file");
    long rec = 16 + 16 * 4 + 8;
    is_int((long)file_size(path), 1024 + NLAZY * rec, "one record each");

    /* b (a fresh handle) in one batch: every other text backwards, then a run forwards, a
     * duplicate, and unknown texts among them */
    static const char *bt[NLAZY], *bh[NLAZY];
    static int want[NLAZY];
    size_t nb = 0;
    for (int i = NLAZY - 1; i >= 0; i -= 2)
        want[nb++] = i;
    for (int i = 100; i < 700; i++)
        want[nb++] = i;
    want[nb++] = 3;
    want[nb++] = 3;
    for (int i = 0; i < 10; i++)
        want[nb++] = NLAZY + i;
    for (size_t i = 0; i < nb; i++) {
        bt[i] = tp[want[i]];
        bh[i] = hp[want[i]];
    }
    rp_cache *b = NULL;
    is_int(rp_cache_open(&b, cdir, err, sizeof err), 0, "open b");
    ce.embedded = 0;
    is_int(rp_embed_cached(&v, &hits, b, &ce.base, bt, bh, nb), 0, "b: one big batch");
    is_int(hits, nb - 10, "b: every stored text is a hit");
    is_int(ce.embedded, 10, "b: only the unknown texts embedded");
    int same = v && ref;
    for (size_t i = 0; same && i < nb; i++)
        same = want[i] >= NLAZY || !memcmp(v + i * 16, ref + want[i] * 16, 16 * sizeof *v);
    ok(same, "b: each hit is its text's vector");
    free(v);
    v = NULL;

    /* damage before any handle indexes the file: record 5's floats, record 9's key, record 7
     * zeroed (a hole), record 11 a whole-size record whose floats were never written */
    long r5 = 1024 + 5 * rec, r7 = 1024 + 7 * rec, r9 = 1024 + 9 * rec, r11 = 1024 + 11 * rec;
    ok(damage(path, r5 + 16 + 8, 1, 0x77), "record 5: a float damaged");
    ok(damage(path, r7, (size_t)rec, 0), "record 7 zeroed");
    ok(damage(path, r9 + 3, 1, -1), "record 9: a key byte damaged");
    ok(damage(path, r11 + 16, (size_t)rec - 16, 0), "record 11: all but its key zeroed");
    rp_cache *c = NULL;
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open c");
    float one[16];
    int found = 0, lost[] = {5, 7, 9, 11}, kept[] = {4, 6, 8, 10, 12};
    int misses = 0, right = 0;
    for (int i = 0; i < 4; i++) {
        found = 1;
        rp_cache_get(c, one, &found, "counting", "m", 16, hp[lost[i]]);
        misses += !found;
    }
    is_int(misses, 4, "c: each damaged record is a miss when hit");
    for (int i = 0; i < 5; i++) {
        found = 0;
        rp_cache_get(c, one, &found, "counting", "m", 16, hp[kept[i]]);
        right += found && ref && !memcmp(one, ref + kept[i] * 16, sizeof one);
    }
    is_int(right, 5, "c: their neighbours are hits with their own vectors");
    /* the same batch again through c: the damaged ones are embedded and stored again */
    const char *lt[4] = {tp[5], tp[7], tp[9], tp[11]}, *lh[4] = {hp[5], hp[7], hp[9], hp[11]};
    ce.embedded = 0;
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, lt, lh, 4), 0, "c: the damaged texts");
    is_int(hits, 0, "c: no hits");
    is_int(ce.embedded, 4, "c: all 4 embedded again");
    same = v && ref;
    for (int i = 0; same && i < 4; i++)
        same = !memcmp(v + i * 16, ref + lost[i] * 16, 16 * sizeof *v);
    ok(same, "c: the right vectors");
    free(v);
    v = NULL;
    ce.embedded = 0;
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, lt, lh, 4), 0, "c: again");
    is_int(hits, 4, "c: the stored copies are hits");
    free(v);
    v = NULL;
    rp_cache *d = NULL;
    is_int(rp_cache_open(&d, cdir, err, sizeof err), 0, "open d");
    is_int(rp_embed_cached(&v, &hits, d, &ce.base, lt, lh, 4), 0, "d: a fresh handle");
    is_int(hits, 4, "d: the later intact copies win");
    same = v && ref;
    for (int i = 0; same && i < 4; i++)
        same = !memcmp(v + i * 16, ref + lost[i] * 16, 16 * sizeof *v);
    ok(same, "d: the right vectors");
    free(v);
    v = NULL;

    /* a later copy that is damaged may hide an intact older one (the scan does not check), but
     * it is never answered */
    float other[16];
    for (int i = 0; i < 16; i++)
        other[i] = (float)i;
    off_t before = file_size(path);
    is_int(rp_cache_put(a, "counting", "m", 16, hp[20], other), 0, "a: a second copy of 20");
    ok(damage(path, (long)before + 16, 4, 0x55), "the second copy damaged");
    rp_cache *e = NULL;
    is_int(rp_cache_open(&e, cdir, err, sizeof err), 0, "open e");
    found = 0;
    is_int(rp_cache_get(e, one, &found, "counting", "m", 16, hp[20]), 0, "e: get 20");
    ok(!found || (ref && !memcmp(one, ref + 20 * 16, sizeof one)),
       "e: a miss or the older intact copy, never the damaged one");

    cache_test_done(dir, ce.inner, ref, (rp_cache *[]){a, b, c, d, e}, 5);
}

/* ---- the cache's failures: damaged files set aside, a full disk, messages never empty ---- */

/* Reads up to cap bytes of path: the count, or -1. */
static long slurp(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

/* Replaces path's content with len bytes. */
static int spew(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok_ = f && fwrite(data, 1, len, f) == len;
    if (f)
        ok_ = fclose(f) == 0 && ok_;
    return ok_;
}

/* The number of files set aside ("<file>.damaged-<ms>") under cdir; the path of the one whose
 * name is greatest (the latest in one millisecond's step) into out. */
static int damaged_files(char *out, size_t cap, const char *cdir)
{
    DIR *d = opendir(cdir);
    struct dirent *de;
    int n = 0;
    char best[256] = "";
    while (d && (de = readdir(d))) {
        const char *m = strstr(de->d_name, ".v1.damaged-");
        if (!m)
            continue;
        n++;
        if (strlen(de->d_name) > strlen(best) ||
            (strlen(de->d_name) == strlen(best) && strcmp(de->d_name, best) > 0))
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    if (d)
        closedir(d);
    if (out)
        snprintf(out, cap, "%s/%s", cdir, best);
    return n;
}

/* The number of processes waiting for a flock() of inode ino (Linux /proc/locks; 0 elsewhere). */
static int lock_waiters(unsigned long ino)
{
    FILE *f = fopen("/proc/locks", "r");
    char line[256], tail[32];
    int n = 0;
    snprintf(tail, sizeof tail, ":%lu ", ino);
    while (f && fgets(line, sizeof line, f))
        n += strstr(line, "-> FLOCK") && strstr(line, tail);
    if (f)
        fclose(f);
    return n;
}

/* The number of lines in warned. */
static int warn_lines(void)
{
    int n = 0;
    for (const char *p = warned; (p = strchr(p, '\n')); p++)
        n++;
    return n;
}

/* A fresh handle on cdir embeds texts: the number of hits (-1 on failure), each vector checked
 * against ref. */
static long fresh_hits(const char *cdir, rp_embedder *e, const char *const *texts,
                       const char *const *hashes, size_t n, const float *ref)
{
    rp_cache *c = NULL;
    char err[256];
    float *v = NULL;
    size_t hits = 0;
    long r = -1;
    if (rp_cache_open(&c, cdir, err, sizeof err) == 0 &&
        rp_embed_cached(&v, &hits, c, e, texts, hashes, n) == 0 &&
        !memcmp(v, ref, n * 16 * sizeof *v))
        r = (long)hits;
    free(v);
    rp_cache_free(c);
    return r;
}

/* A cache file that is not one (random bytes, a foreign header, a short foreign header, a header
 * of another dimension) is set aside with a warning naming both paths, its bytes kept, and a new
 * one started: the embed misses and goes on, the next handle hits. A cut-short header of the
 * file's own (a creator that stopped) is simply completed. Several processes finding the same
 * damaged file at once set it aside once, never each other's fresh file. */
static void test_cache_damaged(void)
{
    char dir[64] = "/tmp/rp_cached_XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cdir[128], path[512], aside[600], err[256];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    counting ce = {{&counting_vt}, NULL, 0, 0, 0};
    rp_embedder_hash_new(&ce.inner, 16);
    const char *texts[] = {"one fish", "two fish", "red fish", "blue fish"};
    char h[4][RP_HASH_HEX];
    const char *hp[4];
    for (int i = 0; i < 4; i++) {
        rp_hash_hex(h[i], texts[i], strlen(texts[i]));
        hp[i] = h[i];
    }
    float *ref = NULL, *v = NULL;
    rp_embed_batch(ce.inner, &ref, texts, 4);
    rp_cache *a = NULL;
    size_t hits = 9;
    is_int(rp_cache_open(&a, cdir, err, sizeof err), 0, "open a");
    is_int(rp_embed_cached(&v, &hits, a, &ce.base, texts, hp, 4), 0, "a stores 4");
    free(v);
    v = NULL;
    rp_cache_free(a);
    is_int(cache_file(path, sizeof path, cdir), 1, "the cache file");
    static unsigned char own[1024], junk[5000], back[6000];
    is_int(slurp(path, own, sizeof own), 1024, "its header kept for later");

    /* random bytes */
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rnd();
    ok(spew(path, junk, sizeof junk), "the cache file replaced by 5000 random bytes");
    rp_cache *b = NULL;
    is_int(rp_cache_open(&b, cdir, err, sizeof err), 0, "open b");
    warned[0] = 0;
    rp_cache_set_warn(b, on_warn, NULL);
    ce.embedded = 0;
    is_int(rp_embed_cached(&v, &hits, b, &ce.base, texts, hp, 4), 0,
           "random bytes: the embed succeeds");
    is_int(hits, 0, "random bytes: all misses");
    is_int(ce.embedded, 4, "random bytes: all embedded");
    ok(v && ref && !memcmp(v, ref, 4 * 16 * sizeof *v), "random bytes: the right vectors");
    free(v);
    v = NULL;
    is_str(rp_cache_errmsg(b), "", "random bytes: no error message");
    is_int(damaged_files(aside, sizeof aside, cdir), 1, "random bytes: one file set aside");
    is_int(warn_lines(), 1, "random bytes: one warning");
    ok(strstr(warned, path) && strstr(warned, aside) && strstr(warned, "no cache file header"),
       "random bytes: the warning names both paths and what is wrong");
    diag("%.*s", (int)strcspn(warned, "\n"), warned);
    ok(slurp(aside, back, sizeof back) == (long)sizeof junk && !memcmp(back, junk, sizeof junk),
       "random bytes: the file set aside holds the old bytes");
    is_int((long)file_size(path), 1024 + 4 * 88, "random bytes: a new file with the 4 vectors");
    warned[0] = 0;
    is_int(fresh_hits(cdir, &ce.base, texts, hp, 4, ref), 4, "random bytes: a new handle hits");
    is_int(warned[0], 0, "random bytes: nothing more to warn about");
    rp_cache_free(b);

    /* a header of this space's names for another dimension (a file copied under the wrong
     * name), then a damaged one, then a foreign one cut short */
    float eight[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    rp_cache *c = NULL;
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open c");
    is_int(rp_cache_put(c, "counting", "m", 8, hp[0], eight), 0, "c: a dim-8 entry");
    char path8[512];
    snprintf(path8, sizeof path8, "%.*s8.v1", (int)(strlen(path) - 5), path);
    static unsigned char d8[1024 + 56];
    long n8 = slurp(path8, d8, sizeof d8);
    is_int(n8, 1024 + 16 + 32 + 8, "the dim-8 file");
    static const struct {
        const char *what, *why;
        size_t len;
    } foreign[] = {
        {"another dimension's header", "another embedder, model or dimension", 1024 + 56},
        {"a header with a damaged byte", "its header is damaged", 1024},
        {"a foreign header cut short", "100 bytes, not a whole 1024-byte header", 100},
        {"a foreign magic", "no cache file header", 1024 + 56},
    };
    for (size_t t = 0; t < sizeof foreign / sizeof *foreign; t++) {
        unsigned char bad[1024 + 56];
        memcpy(bad, d8, sizeof bad); /* the dim-8 file */
        if (t == 1) {
            memcpy(bad, own, 1024);
            bad[600] ^= 1;
        } else if (t == 2) {
            memset(bad + 8, 'x', 92);
        } else if (t == 3) {
            memcpy(bad, "SQLite format 3", 16);
        }
        char what[128];
        ok(spew(path, bad, foreign[t].len), foreign[t].what);
        warned[0] = 0;
        rp_cache_set_warn(c, on_warn, NULL);
        int found = 1;
        float one[16];
        snprintf(what, sizeof what, "%s: get is a miss, not an error", foreign[t].what);
        is_int(rp_cache_get(c, one, &found, "counting", "m", 16, hp[1]), 0, what);
        is_int(found, 0, what);
        snprintf(what, sizeof what, "%s: set aside, the warning says why", foreign[t].what);
        ok(damaged_files(aside, sizeof aside, cdir) == (int)t + 2 &&
               strstr(warned, foreign[t].why) && strstr(warned, path) && strstr(warned, aside),
           what);
        if (!strstr(warned, foreign[t].why))
            diag("warned: %.*s", (int)strcspn(warned, "\n"), warned);
        snprintf(what, sizeof what, "%s: the old bytes kept", foreign[t].what);
        ok(slurp(aside, back, sizeof back) == (long)foreign[t].len &&
               !memcmp(back, bad, foreign[t].len),
           what);
        ok(file_size(path) < 0, "a lookup starts no file (nothing to write yet)");
        ce.embedded = 0;
        snprintf(what, sizeof what, "%s: the embed succeeds and stores", foreign[t].what);
        ok(rp_embed_cached(&v, &hits, c, &ce.base, texts, hp, 4) == 0 && hits == 0 && v &&
               !memcmp(v, ref, 4 * 16 * sizeof *v) && file_size(path) == 1024 + 4 * 88,
           what);
        free(v);
        v = NULL;
        rp_cache_free(c);
        c = NULL;
        is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "reopen c");
        snprintf(what, sizeof what, "%s: a new handle hits", foreign[t].what);
        is_int(fresh_hits(cdir, &ce.base, texts, hp, 4, ref), 4, what);
    }
    ok(slurp(path8, back, sizeof back) == n8 && !memcmp(back, d8, sizeof d8),
       "the dim-8 file untouched");

    /* the file's own header cut short (its creator stopped): completed, nothing set aside */
    ok(spew(path, own, 300), "the file cut to 300 bytes of its own header");
    warned[0] = 0;
    int before = damaged_files(NULL, 0, cdir);
    rp_cache_set_warn(c, on_warn, NULL);
    ce.embedded = 0;
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, texts, hp, 4), 0, "own short header: embed");
    free(v);
    v = NULL;
    is_int(hits, 0, "own short header: misses");
    is_int(damaged_files(NULL, 0, cdir), before, "own short header: nothing set aside");
    is_int(warned[0], 0, "own short header: no warning");
    is_int((long)file_size(path), 1024 + 4 * 88, "own short header: completed, 4 stored");
    is_int(fresh_hits(cdir, &ce.base, texts, hp, 4, ref), 4, "own short header: then hits");

    /* without a warn callback: the same, silently */
    rp_cache_set_warn(c, NULL, NULL);
    rp_cache_free(c);
    c = NULL;
    ok(spew(path, junk, 2000), "random bytes again");
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open c again");
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, texts, hp, 4), 0, "no warn callback: embeds");
    free(v);
    v = NULL;
    is_int(damaged_files(NULL, 0, cdir), before + 1, "no warn callback: set aside all the same");
    rp_cache_set_warn(NULL, on_warn, NULL); /* a NULL handle is ignored */

    /* several processes find the same damaged file at once: it is set aside once, and each gets
     * its vectors; none sets another's fresh file aside. The test holds the damaged file's lock
     * until all of them have opened it and wait for that lock (seen in /proc/locks), so that all
     * but the first find it already set aside, some of them with a fresh file in its place. */
    ok(spew(path, junk, sizeof junk), "random bytes for 6 processes");
    before = damaged_files(NULL, 0, cdir);
    int held = open(path, O_RDWR);
    struct stat hst;
    ok(held >= 0 && fstat(held, &hst) == 0 && flock(held, LOCK_EX) == 0, "the damaged file locked");
    enum { NPROC = 6 };
    pid_t kids[NPROC];
    fflush(stdout);
    for (int k = 0; k < NPROC; k++) {
        kids[k] = fork();
        if (kids[k] == 0) {
            close(held);
            rp_cache *kc = NULL;
            float *kv = NULL;
            size_t kh = 0;
            int good = rp_cache_open(&kc, cdir, err, sizeof err) == 0 &&
                       rp_embed_cached(&kv, &kh, kc, &ce.base, texts, hp, 4) == 0 && ref &&
                       !memcmp(kv, ref, 4 * 16 * sizeof *kv);
            free(kv);
            rp_cache_free(kc);
            rp_embedder_free(ce.inner);
            free(ref);
            _exit(good ? 0 : 1);
        }
    }
    int waiting = 0;
    for (int t = 0; t < 1000 && (waiting = lock_waiters((unsigned long)hst.st_ino)) < NPROC; t++)
        usleep(10000);
    diag("%d processes waited for the damaged file's lock", waiting);
    flock(held, LOCK_UN);
    close(held);
    int all = 1;
    for (int k = 0; k < NPROC; k++) {
        int st = 0;
        all &= kids[k] > 0 && waitpid(kids[k], &st, 0) == kids[k] && WIFEXITED(st) &&
               WEXITSTATUS(st) == 0;
    }
    ok(all, "6 processes: each embeds through the damaged cache");
    is_int(damaged_files(NULL, 0, cdir), before + 1, "6 processes: the file set aside once");
    long size = (long)file_size(path);
    ok(size >= 1024 + 4 * 88 && (size - 1024) % 88 == 0, "6 processes: a valid new file");
    is_int(fresh_hits(cdir, &ce.base, texts, hp, 4, ref), 4, "6 processes: then hits");

    rp_cache_free(c);
    free(ref);
    rp_embedder_free(ce.inner);
    tap_rmrf(dir);
}

/* What a child on a "full disk" saw, for the parent to check. */
typedef struct full_report {
    int rc[3], right, nwarn, named, get_pre, put_full, put_after, get_after, embedded;
    char warned[1024], putmsg[600], path[512];
} full_report;

#define NFULL 13
/* A full disk, simulated with a file size limit (RLIMIT_FSIZE, SIGXFSZ ignored: writes past it
 * fail with EFBIG, the one across it stops short) in a child process: the embeds succeed with the
 * right vectors, one warning says how many, where and why; rp_cache_put says RP_EIO; reads keep
 * working. With the limit lifted, puts work again, the torn tail is cut, and every vector read
 * back is right. */
static void test_cache_full_disk(void)
{
    char dir[64] = "/tmp/rp_cachefull_XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cdir[128], path[512], err[256];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    counting ce = {{&counting_vt}, NULL, 0, 0, 0};
    rp_embedder_hash_new(&ce.inner, 16);
    static char text[NFULL + 1][32], hash[NFULL + 1][RP_HASH_HEX];
    const char *tp[NFULL + 1], *hp[NFULL + 1];
    for (int i = 0; i <= NFULL; i++) {
        snprintf(text[i], sizeof text[i], "full disk text %d", i);
        rp_hash_hex(hash[i], text[i], strlen(text[i]));
        tp[i] = text[i];
        hp[i] = hash[i];
    }
    float *ref = NULL, *v = NULL;
    rp_embed_batch(ce.inner, &ref, tp, NFULL + 1);
    rp_cache *a = NULL;
    size_t hits = 0;
    is_int(rp_cache_open(&a, cdir, err, sizeof err), 0, "open a");
    is_int(rp_embed_cached(&v, &hits, a, &ce.base, tp, hp, 1), 0, "text 0 stored");
    free(v);
    v = NULL;
    rp_cache_free(a);
    is_int(cache_file(path, sizeof path, cdir), 1, "the cache file");
    off_t size0 = file_size(path);
    is_int((long)size0, 1024 + 88, "a header and one record");

    int rp[2];
    ok(pipe(rp) == 0, "report pipe");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        static full_report r;
        memset(&r, 0, sizeof r);
        snprintf(r.path, sizeof r.path, "%s", path);
        close(rp[0]);
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit old, lim;
        getrlimit(RLIMIT_FSIZE, &old);
        lim = old;
        lim.rlim_cur = (rlim_t)size0 + 2 * 88 + 44; /* 2.5 records more */
        setrlimit(RLIMIT_FSIZE, &lim);
        rp_cache *b = NULL;
        rp_cache_open(&b, cdir, err, sizeof err);
        warned[0] = 0;
        rp_cache_set_warn(b, on_warn, NULL);
        r.right = 1;
        ce.embedded = 0;
        for (int k = 0; k < 3; k++) { /* 3 batches of 4 new texts: none fits */
            r.rc[k] = rp_embed_cached(&v, &hits, b, &ce.base, tp + 1 + 4 * k, hp + 1 + 4 * k, 4);
            r.right &= r.rc[k] == 0 && v && !memcmp(v, ref + (1 + 4 * k) * 16, 4 * 16 * sizeof *v);
            free(v);
            v = NULL;
        }
        r.embedded = (int)ce.embedded;
        r.nwarn = warn_lines();
        snprintf(r.warned, sizeof r.warned, "%s", warned);
        float one[16];
        r.put_full = rp_cache_put(b, "counting", "m", 16, hp[NFULL], ref + NFULL * 16);
        snprintf(r.putmsg, sizeof r.putmsg, "%s", rp_cache_errmsg(b));
        int found = 0;
        r.get_pre = rp_cache_get(b, one, &found, "counting", "m", 16, hp[0]) == 0 && found &&
                    !memcmp(one, ref, sizeof one);
        setrlimit(RLIMIT_FSIZE, &old); /* the disk has room again */
        r.put_after = rp_cache_put(b, "counting", "m", 16, hp[NFULL], ref + NFULL * 16);
        found = 0;
        r.get_after = rp_cache_get(b, one, &found, "counting", "m", 16, hp[NFULL]) == 0 && found &&
                      !memcmp(one, ref + NFULL * 16, sizeof one);
        ssize_t w = write(rp[1], &r, sizeof r);
        close(rp[1]);
        rp_cache_free(b);
        rp_embedder_free(ce.inner);
        free(ref);
        _exit(w == (ssize_t)sizeof r ? 0 : 1);
    }
    close(rp[1]);
    static full_report r;
    memset(&r, 0, sizeof r);
    size_t got = 0;
    ssize_t n;
    while (got < sizeof r && (n = read(rp[0], (char *)&r + got, sizeof r - got)) > 0)
        got += (size_t)n;
    close(rp[0]);
    int st = 0;
    ok(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
       "full disk: the child ran");
    is_int(got, sizeof r, "full disk: its report");
    is_int(r.rc[0], 0, "full disk: the first batch embeds (RP_OK)");
    is_int(r.rc[1] | r.rc[2], 0, "full disk: so do the next ones");
    is_int(r.embedded, 12, "full disk: all 12 texts embedded");
    ok(r.right, "full disk: with the right vectors");
    is_int(r.nwarn, 1, "full disk: one warning for 3 failed batches");
    diag("%.*s", (int)strcspn(r.warned, "\n"), r.warned);
    ok(strstr(r.warned, "4 vectors not cached") && strstr(r.warned, path) &&
           strstr(r.warned, strerror(EFBIG)),
       "full disk: the warning says how many, where and why");
    is_int(r.put_full, RP_EIO, "full disk: rp_cache_put says RP_EIO");
    ok(strstr(r.putmsg, path) && strstr(r.putmsg, strerror(EFBIG)),
       "full disk: its message names the file and the error");
    ok(r.get_pre, "full disk: reads keep working");
    is_int(r.put_after, 0, "room again: a put works");
    ok(r.get_after, "room again: and is read back");
    long size = (long)file_size(path);
    ok(size > 1024 && (size - 1024) % 88 == 0, "room again: the torn tail was cut");
    ce.embedded = 0;
    long h = fresh_hits(cdir, &ce.base, tp, hp, NFULL + 1, ref);
    diag("a new handle: %ld hits of %d, %zu embedded", h, NFULL + 1, ce.embedded);
    ok(h >= 2, "a new handle: the stored vectors hit, every vector right");
    is_int(fresh_hits(cdir, &ce.base, tp, hp, NFULL + 1, ref), NFULL + 1,
           "a new handle: then all hit");
    free(ref);
    rp_embedder_free(ce.inner);
    tap_rmrf(dir);
}

/* A failing embedder (its message set or empty). */
typedef struct failing {
    rp_embedder base;
    const char *msg;
} failing;
static const char *f_name(const rp_embedder *e)
{
    return "failing";
}
static size_t f_dim(const rp_embedder *e)
{
    return 16;
}
static int f_embed(rp_embedder *e, float **out, const char *const *t, size_t n)
{
    return RP_ETRANSPORT;
}
static const char *f_err(const rp_embedder *e)
{
    return ((const failing *)e)->msg;
}
static const rp_embedder_vtable failing_vt = {f_name, c_model, f_dim, f_embed, f_err, c_free};

/* When rp_embed_cached, rp_cache_get or rp_cache_put fail because of the cache, the handle's
 * message says what and where (path and the system's reason); the embedder's errors keep its
 * code and message, and never leave the message empty. Methods that fail as root too. */
static void test_cache_errors(void)
{
    char dir[64] = "/tmp/rp_cachee_XXXXXX";
    ok(mkdtemp(dir) != NULL, "temp dir");
    char cdir[128], err[256], path[512];
    snprintf(cdir, sizeof cdir, "%s/cache", dir);
    counting ce = {{&counting_vt}, NULL, 0, 0, 0};
    rp_embedder_hash_new(&ce.inner, 16);
    const char *texts[] = {"alpha", "beta"};
    char h[2][RP_HASH_HEX];
    const char *hp[2];
    for (int i = 0; i < 2; i++) {
        rp_hash_hex(h[i], texts[i], strlen(texts[i]));
        hp[i] = h[i];
    }
    rp_cache *c = NULL;
    float *v = NULL, one[16] = {0};
    size_t hits = 0;
    int found = 0;
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open");

    /* the embedder's failure: its code and message; an empty one gets a message still */
    failing fe = {{&failing_vt}, "HTTP 503: try later"};
    is_int(rp_embed_cached(&v, &hits, c, &fe.base, texts, hp, 2), RP_ETRANSPORT,
           "embedder failure: its code");
    is_str(rp_cache_errmsg(c), "HTTP 503: try later", "embedder failure: its message");
    fe.msg = "";
    is_int(rp_embed_cached(&v, &hits, c, &fe.base, texts, hp, 2), RP_ETRANSPORT,
           "embedder failure, no message: its code");
    ok(strstr(rp_cache_errmsg(c), "failing/m") && strstr(rp_cache_errmsg(c), "unreachable"),
       "embedder failure, no message: the cache says which embedder and what");
    ok(v == NULL, "out untouched on failure");

    /* bad arguments are told too */
    is_int(rp_embed_cached(NULL, &hits, c, &ce.base, texts, hp, 2), RP_EINVAL, "no out: EINVAL");
    ok(rp_cache_errmsg(c)[0] != 0, "no out: a message");
    is_int(rp_cache_get(c, one, &found, "counting", "m", 16, NULL), RP_EINVAL, "no hash: EINVAL");
    ok(rp_cache_errmsg(c)[0] != 0, "no hash: a message");
    is_int(rp_cache_put(c, "counting", "m", 0, hp[0], one), RP_EINVAL, "dim 0: EINVAL");
    ok(rp_cache_errmsg(c)[0] != 0, "dim 0: a message");

    /* the cache file's name taken by a directory */
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, texts, hp, 2), 0, "store 2");
    free(v);
    v = NULL;
    is_int(cache_file(path, sizeof path, cdir), 1, "the cache file");
    rp_cache_free(c);
    c = NULL;
    ok(unlink(path) == 0 && mkdir(path, 0755) == 0, "the cache file replaced by a directory");
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open again");
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, texts, hp, 2), RP_EIO,
           "a directory in its place: RP_EIO");
    ok(strstr(rp_cache_errmsg(c), path) && strstr(rp_cache_errmsg(c), strerror(EISDIR)),
       "a directory in its place: the message names the file and the error");
    diag("%s", rp_cache_errmsg(c));
    is_int(rp_cache_get(c, one, &found, "counting", "m", 16, hp[0]), RP_EIO,
           "a directory in its place: get RP_EIO");
    ok(strstr(rp_cache_errmsg(c), path) != NULL, "get: the message names the file");
    is_int(rp_cache_put(c, "counting", "m", 16, hp[0], one), RP_EIO,
           "a directory in its place: put RP_EIO");
    ok(strstr(rp_cache_errmsg(c), path) != NULL, "put: the message names the file");
    rp_cache_free(c);
    c = NULL;

    /* the cache directory replaced by a regular file after the open: the file's parent is not a
     * directory (permission bits would not stop root) */
    is_int(rp_cache_open(&c, cdir, err, sizeof err), 0, "open again");
    tap_rmrf(cdir);
    ok(spew(cdir, "x\n", 2), "the cache directory replaced by a file");
    is_int(rp_embed_cached(&v, &hits, c, &ce.base, texts, hp, 2), RP_EIO,
           "parent not a directory: RP_EIO");
    ok(strstr(rp_cache_errmsg(c), cdir) && strstr(rp_cache_errmsg(c), strerror(ENOTDIR)),
       "parent not a directory: the message names the file and the error");
    ok(v == NULL, "out untouched on failure");
    is_int(rp_cache_put(c, "counting", "m", 16, hp[0], one), RP_EIO,
           "parent not a directory: put RP_EIO");
    ok(strstr(rp_cache_errmsg(c), strerror(ENOTDIR)) != NULL, "put: the message says why");

    rp_cache_free(c);
    rp_embedder_free(ce.inner);
    tap_rmrf(dir);
}

int main(void)
{
    test_hash_embedder();
    test_hash_exact_bits();
    test_hash_paths_agree();
    test_hash_batch_lengths();
    test_openai();
    test_cache();
    test_cache_files();
    test_cache_lazy_check();
    test_cache_damaged();
    test_cache_full_disk();
    test_cache_errors();
    return tap_done();
}
