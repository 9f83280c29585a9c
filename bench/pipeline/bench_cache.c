/* The embedding cache's lookups as the upsert step makes them: N vectors (dim 384, stored in
 * batches of 64 like the embed step stores them) looked up again in batches of 4096, by
 *   cold  a fresh handle (another process, or `ragctl replay --from upsert`): indexes the file
 *   warm  the same handle a second time: hits only
 *   own   the handle that appended them all (`ragctl build`: embed, then upsert)
 * CPU ns per vector (process CPU time, median of the runs); the file is in the page cache, but
 * not in the CPU caches: before each timed pass the bench writes --evict MB (default 256) of
 * other memory, as the upsert step's own work does between its lookups (without it the VM's
 * large last-level cache holds much of the file and the figures flatter random access).
 *
 *   ./build/bench/pipeline/bench_cache [--n N] [--runs R] [--evict MB] [--only cold|warm|own] DIR
 * DIR is made when missing (and filled once: N hash-embedder vectors); reused as it is otherwise.
 * With --only, one phase (after the filling) for perf stat or callgrind, e.g.
 *   perf stat -e instructions ./build/bench/pipeline/bench_cache --runs 1 --only cold DIR */
#define _XOPEN_SOURCE 700
#include "../bench_util.h"
#include "pipeline.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DIM 384
#define FILL_BATCH 64
#define LOOKUP_BATCH 4096

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_cache: %s: %s\n", what, msg);
    exit(1);
}

typedef struct texts {
    char **text;
    char **hash;
    size_t n;
} texts;

static texts make_texts(size_t n)
{
    texts t = {malloc(n * sizeof(char *)), malloc(n * sizeof(char *)), n};
    if (!t.text || !t.hash)
        die("texts", "out of memory");
    for (size_t i = 0; i < n; i++) {
        char buf[64];
        int len = snprintf(buf, sizeof buf, "cache bench chunk %zu", i);
        t.text[i] = strdup(buf);
        t.hash[i] = malloc(RP_HASH_HEX);
        if (!t.text[i] || !t.hash[i])
            die("texts", "out of memory");
        rp_hash_hex(t.hash[i], buf, (size_t)len);
    }
    return t;
}

/* Runs texts [0, n) through c in batches of batch; returns the number of hits. */
static size_t pass(rp_cache *c, rp_embedder *e, const texts *t, size_t batch)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n; i += batch) {
        size_t m = t->n - i < batch ? t->n - i : batch;
        float *v = NULL;
        size_t hits = 0;
        if (rp_embed_cached(&v, &hits, c, e, (const char *const *)t->text + i,
                            (const char *const *)t->hash + i, m) != RP_OK)
            die("rp_embed_cached", rp_cache_errmsg(c));
        free(v);
        total += hits;
    }
    return total;
}

static rp_cache *open_cache(const char *dir)
{
    rp_cache *c = NULL;
    char err[512];
    if (rp_cache_open(&c, dir, err, sizeof err) != RP_OK)
        die(dir, err);
    return c;
}

/* Pushes the cache file's lines out of the CPU caches (not timed). */
static void evict(unsigned char *junk, size_t len)
{
    for (size_t i = 0; i < len; i += 64)
        junk[i]++;
}

static void report(const char *name, double *s, int runs, size_t n)
{
    bench_sort(s, runs);
    printf("  %-5s %8.1f ns/vector CPU (median of %d; min %.1f, max %.1f)\n", name,
           s[runs / 2] * 1e9 / (double)n, runs, s[0] * 1e9 / (double)n,
           s[runs - 1] * 1e9 / (double)n);
}

int main(int argc, char **argv)
{
    size_t n = 64000;
    int runs = 7;
    size_t evict_mb = 256;
    const char *only = NULL, *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--evict") && i + 1 < argc)
            evict_mb = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--only") && i + 1 < argc)
            only = argv[++i];
        else
            dir = argv[i];
    }
    if (!dir || !n || runs < 1 || runs > 100) {
        fprintf(stderr,
                "usage: bench_cache [--n N] [--runs R] [--evict MB] [--only cold|warm|own] DIR\n");
        return 2;
    }
    rp_embedder *e = NULL;
    if (rp_embedder_hash_new(&e, DIM) != RP_OK)
        die("embedder", "cannot make the hash embedder");
    texts t = make_texts(n);
    struct stat st;
    if (stat(dir, &st) != 0) {
        rp_cache *c = open_cache(dir);
        pass(c, e, &t, FILL_BATCH);
        rp_cache_free(c);
    }
    double *cold = calloc((size_t)runs, sizeof *cold), *warm = calloc((size_t)runs, sizeof *warm),
           *own = calloc((size_t)runs, sizeof *own);
    size_t junk_len = evict_mb << 20;
    unsigned char *junk = calloc(junk_len ? junk_len : 1, 1);
    if (!cold || !warm || !own || !junk)
        die("samples", "out of memory");
    for (int r = 0; r < runs; r++) {
        if (!only || !strcmp(only, "cold") || !strcmp(only, "warm")) {
            rp_cache *c = open_cache(dir);
            evict(junk, junk_len);
            double t0 = cpu_us() / 1e6;
            if (pass(c, e, &t, LOOKUP_BATCH) != n)
                die("lookups", "not every vector was a hit");
            cold[r] = cpu_us() / 1e6 - t0;
            if (!only || !strcmp(only, "warm")) {
                evict(junk, junk_len);
                t0 = cpu_us() / 1e6;
                if (pass(c, e, &t, LOOKUP_BATCH) != n)
                    die("lookups", "not every vector was a hit");
                warm[r] = cpu_us() / 1e6 - t0;
            }
            rp_cache_free(c);
        }
        if (!only || !strcmp(only, "own")) {
            /* a fresh directory filled by the handle that then looks everything up */
            char odir[4096];
            snprintf(odir, sizeof odir, "%s/own-%d", dir, (int)getpid());
            rp_cache *c = open_cache(odir);
            pass(c, e, &t, FILL_BATCH);
            evict(junk, junk_len);
            double t0 = cpu_us() / 1e6;
            if (pass(c, e, &t, LOOKUP_BATCH) != n)
                die("lookups", "not every vector was a hit");
            own[r] = cpu_us() / 1e6 - t0;
            rp_cache_free(c);
            char cmd[4200];
            snprintf(cmd, sizeof cmd, "rm -rf '%s'", odir);
            if (system(cmd) != 0)
                die(odir, "cannot remove");
        }
    }
    printf("embedding cache lookups: %zu vectors, dim %d, batches of %d\n", n, DIM, LOOKUP_BATCH);
    if (!only || !strcmp(only, "cold") || !strcmp(only, "warm"))
        report("cold", cold, runs, n);
    if (!only || !strcmp(only, "warm"))
        report("warm", warm, runs, n);
    if (!only || !strcmp(only, "own"))
        report("own", own, runs, n);
    free(cold);
    free(warm);
    free(own);
    free(junk);
    for (size_t i = 0; i < n; i++) {
        free(t.text[i]);
        free(t.hash[i]);
    }
    free(t.text);
    free(t.hash);
    rp_embedder_free(e);
    return 0;
}
