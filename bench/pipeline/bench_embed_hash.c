/* The built-in "hash" embedder alone: ns per ~600-character chunk and MB/s of chunk text on one
 * core (median of several runs), over real text cut into pieces; and, with --verify, a check that
 * its output is bit-identical to the frozen pre-speed-up copy in embed_hash_ref.c (model "fh-v1"
 * and every cached embedding depend on it) over those chunks, edge cases and random texts, at
 * dims 1, 7, 384 and 1024.
 *
 *   ./build/bench/pipeline/bench_embed_hash [--verify] [--ref] [--portable] [--runs N] [--limit
 * CHUNKS] [--dim D] [DIR]
 *
 * --ref also times the frozen copy, in the same process (the VM's timing drifts between runs).
 * --portable times the library's portable passes even where its AVX-512 ones can run; --verify
 * checks both.
 * DIR defaults to /tmp/linuxdoc (Debian's linux-doc-6.1 with its reST files gunzipped, see
 * bench_pipeline.c); its .rst and .txt files (all files if there are none) without NUL bytes are
 * read in path order.
 * The VM's timing is noisy: for a stable figure count instructions with a small --limit, e.g.
 *   valgrind --tool=callgrind ./build/bench/pipeline/bench_embed_hash --runs 1 --limit 2000 */
#define _XOPEN_SOURCE 700
#include "../bench_util.h"
#include "pipeline.h"
#include "embed_hash_ref.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 64
#define PIECE 600

typedef struct strv {
    char **v;
    size_t n, cap;
} strv;

static void push(strv *s, char *str)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 1024;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) {
            perror("realloc");
            exit(1);
        }
    }
    s->v[s->n++] = str;
}

static char *dupn(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s) {
        perror("malloc");
        exit(1);
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

static strv paths, others;

static int ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

/* The reST and .txt files; all files when there are none. */
static int on_file(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    if (type == FTW_F)
        push(ends_with(path, ".rst") || ends_with(path, ".txt") ? &paths : &others,
             dupn(path, strlen(path)));
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Cuts text into pieces of about PIECE bytes, ending after a white space when one comes within
 * 100 bytes, else on a UTF-8 boundary. */
static void cut(strv *out, const char *t, size_t len, size_t limit)
{
    size_t pos = 0;
    while (pos < len && out->n < limit) {
        size_t end = pos + PIECE;
        if (end >= len) {
            end = len;
        } else {
            size_t e = end;
            while (e < len && e < end + 100 && t[e] != ' ' && t[e] != '\n')
                e++;
            if (e < len && e < end + 100)
                end = e + 1;
            else
                while (end > pos + 1 && ((unsigned char)t[end] & 0xC0) == 0x80)
                    end--;
        }
        push(out, dupn(t + pos, end - pos));
        pos = end;
    }
}

static void load_chunks(strv *chunks, const char *dir, size_t limit)
{
    if (nftw(dir, on_file, 32, FTW_PHYS) != 0) {
        fprintf(stderr, "cannot walk %s\n", dir);
        exit(1);
    }
    if (!paths.n) {
        paths = others;
        others = (strv){0};
    }
    for (size_t i = 0; i < others.n; i++)
        free(others.v[i]);
    free(others.v);
    qsort(paths.v, paths.n, sizeof *paths.v, cmp_str);
    for (size_t i = 0; i < paths.n && chunks->n < limit; i++) {
        FILE *f = fopen(paths.v[i], "rb");
        if (!f)
            continue;
        char *buf = NULL;
        size_t len = 0, cap = 0, got;
        do {
            if (cap - len < 65536) {
                cap = cap ? cap * 2 : 65536;
                buf = realloc(buf, cap);
                if (!buf) {
                    perror("realloc");
                    exit(1);
                }
            }
            got = fread(buf + len, 1, cap - len, f);
            len += got;
        } while (got);
        fclose(f);
        if (!memchr(buf, 0, len))
            cut(chunks, buf, len, limit);
        free(buf);
    }
}

/* ---- verification ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    if (!s) {
        perror("malloc");
        exit(1);
    }
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = 0;
    return s;
}

/* Edge cases and random texts over an alphabet meant to hit every branch: upper and lower case,
 * digits, punctuation, every white space, runs of them, valid and invalid UTF-8, long words,
 * features that repeat past the 16-bit count limit. Deterministic. */
static void synth_texts(strv *s)
{
    static const char *fixed[] = {
        "",
        " ",
        "\t",
        " \t\n\r\f\v ",
        "a",
        "A",
        "ab",
        "abc",
        "Ab ",
        " aB",
        "é",
        "日本",
        "x y",
        "a b c",
        ".",
        "..",
        "...",
        "a.b",
        "1",
        "12",
        "123",
        "Hello, World!",
        "Hello \t World",
        "hello world",
        "THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG 0123456789",
        "tabs\t\t\tand\n\n\nnewlines\r\n\r\nand\f\vothers   ",
        "  leading and trailing  ",
        "Ünïcödé wörds ÀÉÎ ß ΑΒΓ αβγ Привет мир 中文字符 😀😁 emoji",
        "invalid \x80\x81 bytes \xC3 \xE2\x82 \xF0\x9F\x98 \xFF\xFE end",
        "truncated at end \xE2\x82",
        "\xF8\x88\x80\x80\x80 \xC0\x80 \xED\xA0\x80",
        "snake_case camelCase kebab-case dotted.name path/to/file.c func(arg1, arg2);",
        "mixed123numbers 4567 v6.1 0x1F 3.14159 -42 1e10",
        "!@#$%^&*()_+-=[]{}|;':\",./<>?`~",
        "a\tb\nc\rd\fe\vf g",
        "The the THE tHe the the the",
        "word",
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        push(s, dupn(fixed[i], strlen(fixed[i])));
    push(s, repeat("a", 1));
    push(s, repeat("a", 70000)); /* "aaa" past 65535 */
    push(s, repeat("ab ", 70000));
    push(s, repeat("Z", 5000)); /* one long word */
    push(s, repeat("\xC3\xA9", 3000));
    push(s, repeat(" ", 3000));
    push(s, repeat("\t\n", 3000));
    push(s, repeat("x ", 20000));
    push(s, repeat("Lorem ipsum dolor sit amet, ", 500));
    static const char *atoms[] = {
        "a",    "b",    "e",    "t",    "z",        "A",    "Q",    "Z",    "0",  "9",
        "5",    " ",    " ",    " ",    "\t",       "\n",   "\r",   "\f",   "\v", ".",
        ",",    "-",    "_",    "(",    ")",        "'",    "\"",   "/",    "\\", "@",
        "[",    "`",    "{",    "\x7f", "\x01",     "é",    "É",    "ß",    "中", "😀",
        "\xC3", "\x80", "\xBF", "\xFF", "\xE2\x82", "the ", "The ", "ing ", "  ", "\n\n"};
    size_t natoms = sizeof atoms / sizeof *atoms;
    for (int t = 0; t < 20000; t++) {
        size_t want = t < 2000 ? rnd() % 8 : t < 15000 ? rnd() % 1200 : rnd() % 6000;
        char *b = malloc(want * 8 + 1);
        size_t n = 0;
        /* a small alphabet per text makes repeated features (tf > 1) common */
        size_t span = 2 + rnd() % natoms;
        size_t base = rnd() % natoms;
        while (n < want) {
            const char *a = atoms[(base + rnd() % span) % natoms];
            size_t l = strlen(a);
            memcpy(b + n, a, l);
            n += l;
        }
        b[n] = 0;
        push(s, b);
    }
}

typedef struct h128 {
    uint64_t a, b;
} h128;

static void h128_add(h128 *h, const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], 4);
        h->a = (h->a ^ bits) * 0x100000001b3ULL;
        h->b = (h->b + bits) * 0x9e3779b97f4a7c15ULL;
        h->b ^= h->b >> 29;
    }
}

/* The library's output over texts at dim (with its portable passes, or its default ones: AVX-512
 * where present), compared bit for bit with the reference; its hash is folded into *hash. Returns
 * the number of texts that differ. */
static size_t verify_set(const strv *texts, size_t dim, int portable, h128 *hash)
{
    rp_embedder *e = NULL;
    ref_hash *r = ref_hash_new(dim);
    if (rp_embedder_hash_new(&e, dim) || !r || rp_embedder_hash_portable(e, portable) < 0) {
        fprintf(stderr, "cannot create embedders\n");
        exit(1);
    }
    size_t bad = 0;
    float *want = malloc(BATCH * dim * sizeof *want);
    for (size_t i = 0; i < texts->n; i += BATCH) {
        size_t n = texts->n - i < BATCH ? texts->n - i : BATCH;
        float *got = NULL;
        if (rp_embed_batch(e, &got, (const char *const *)texts->v + i, n) ||
            ref_hash_embed(r, want, (const char *const *)texts->v + i, n)) {
            fprintf(stderr, "embed failed\n");
            exit(1);
        }
        for (size_t j = 0; j < n; j++) {
            if (memcmp(got + j * dim, want + j * dim, dim * sizeof *got)) {
                if (bad < 5)
                    fprintf(stderr, "  differs at dim %zu%s: text %zu (%zu bytes) \"%.40s\"\n", dim,
                            portable ? " (portable)" : "", i + j, strlen(texts->v[i + j]),
                            texts->v[i + j]);
                bad++;
            }
        }
        h128_add(hash, got, n * dim);
        free(got);
    }
    free(want);
    ref_hash_free(r);
    rp_embedder_free(e);
    return bad;
}

/* The hash of the synthetic set's output at dims 1, 7, 384, 1024, recorded from the library before
 * its speed-up (cc244f7): guards the frozen copy itself. */
#define SYNTH_A 0x9dca1c62f560f15dULL
#define SYNTH_B 0x951f3a91d6edb622ULL

/* Both the default passes and the portable ones against the reference. */
static int verify(const strv *chunks)
{
    static const size_t dims[] = {1, 7, 384, 1024};
    strv synth = {0};
    synth_texts(&synth);
    size_t bad = 0;
    int same = 1;
    for (int portable = 0; portable < 2; portable++) {
        h128 hs = {0xcbf29ce484222325ULL, 1}, hc = hs;
        for (size_t d = 0; d < 4; d++) {
            bad += verify_set(&synth, dims[d], portable, &hs);
            bad += verify_set(chunks, dims[d], portable, &hc);
        }
        printf("  %s passes: synthetic output hash %016llx%016llx (recorded %016llx%016llx)\n",
               portable ? "portable" : "default ", (unsigned long long)hs.a,
               (unsigned long long)hs.b, SYNTH_A, SYNTH_B);
        printf("  %s passes: chunk output hash     %016llx%016llx\n",
               portable ? "portable" : "default ", (unsigned long long)hc.a,
               (unsigned long long)hc.b);
        same &= hs.a == SYNTH_A && hs.b == SYNTH_B;
    }
    printf("verify: %zu synthetic texts and %zu chunks at dims 1, 7, 384, 1024, default and "
           "portable passes: %zu differ\n",
           synth.n, chunks->n, bad);
    for (size_t i = 0; i < synth.n; i++)
        free(synth.v[i]);
    free(synth.v);
    if (bad || !same) {
        printf("verify: FAILED\n");
        return 1;
    }
    printf("verify: bit-identical\n");
    return 0;
}

/* Times the library's embedder (or the frozen copy): runs passes over the chunks in batches. */
static int time_embed(const strv *chunks, size_t bytes, size_t dim, int runs, int use_ref,
                      int portable)
{
    rp_embedder *e = NULL;
    ref_hash *r = use_ref ? ref_hash_new(dim) : NULL;
    if (use_ref ? !r : rp_embedder_hash_new(&e, dim) != 0) {
        fprintf(stderr, "bad dim %zu\n", dim);
        return 1;
    }
    int simd = e ? rp_embedder_hash_portable(e, portable) : 0;
    double *t = malloc((size_t)runs * sizeof *t);
    if (!t) {
        perror("malloc");
        exit(1);
    }
    for (int k = 0; k < runs; k++) {
        double t0 = now_us() / 1e6;
        for (size_t i = 0; i < chunks->n; i += BATCH) {
            size_t n = chunks->n - i < BATCH ? chunks->n - i : BATCH;
            const char *const *texts = (const char *const *)chunks->v + i;
            if (use_ref) {
                /* the library's malloc of the output, as rp_embed_batch does */
                float *v = malloc(n * (dim ? dim : 384) * sizeof *v);
                if (!v || ref_hash_embed(r, v, texts, n)) {
                    fprintf(stderr, "embed failed\n");
                    return 1;
                }
                free(v);
            } else {
                float *v = NULL;
                if (rp_embed_batch(e, &v, texts, n)) {
                    fprintf(stderr, "embed failed\n");
                    return 1;
                }
                free(v);
            }
        }
        t[k] = now_us() / 1e6 - t0;
    }
    bench_sort(t, runs);
    double med = t[runs / 2], n = (double)chunks->n;
    printf("%s, dim %zu: %.0f ns/chunk  %.1f MB/s  (median of %d runs; min %.0f, max %.0f "
           "ns/chunk)\n",
           use_ref ? "frozen fh-v1 copy (before)"
           : simd  ? "hash embed (AVX-512 passes)"
                   : "hash embed (portable passes)",
           dim ? dim : 384, med * 1e9 / n, (double)bytes / 1e6 / med, runs, t[0] * 1e9 / n,
           t[runs - 1] * 1e9 / n);
    free(t);
    rp_embedder_free(e);
    ref_hash_free(r);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = "/tmp/linuxdoc";
    int runs = 7, check = 0, ref = 0, portable = 0;
    size_t limit = (size_t)-1, dim = 384;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--verify"))
            check = 1;
        else if (!strcmp(argv[i], "--ref"))
            ref = 1;
        else if (!strcmp(argv[i], "--portable"))
            portable = 1;
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = (size_t)strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dim") && i + 1 < argc)
            dim = (size_t)strtoull(argv[++i], NULL, 10);
        else if (argv[i][0] != '-')
            dir = argv[i];
        else {
            fprintf(
                stderr,
                "usage: %s [--verify] [--ref] [--portable] [--runs N] [--limit CHUNKS] [--dim D] "
                "[DIR]\n",
                argv[0]);
            return 2;
        }
    }
    if (runs < 1 || runs > 1000)
        runs = 7;
    strv chunks = {0};
    load_chunks(&chunks, dir, limit);
    size_t bytes = 0;
    for (size_t i = 0; i < chunks.n; i++)
        bytes += strlen(chunks.v[i]);
    if (!chunks.n) {
        fprintf(stderr, "no text under %s\n", dir);
        return 1;
    }
    printf("%zu files, %zu chunks, %.1f MB (%.0f bytes per chunk)\n", paths.n, chunks.n,
           (double)bytes / 1e6, (double)bytes / (double)chunks.n);
    int rc = 0;
    if (check)
        rc = verify(&chunks);

    rc |= time_embed(&chunks, bytes, dim, runs, 0, portable);
    if (ref)
        rc |= time_embed(&chunks, bytes, dim, runs, 1, 0);
    for (size_t i = 0; i < chunks.n; i++)
        free(chunks.v[i]);
    free(chunks.v);
    for (size_t i = 0; i < paths.n; i++)
        free(paths.v[i]);
    free(paths.v);
    return rc;
}
