/* Pipeline core throughput on one core: discover (walk, read, validate, hash), chunk (load +
 * split) and hash-embed, in MB/s of corpus text per step and end to end, with the peak RSS
 * sampled along the stream (it must not grow with the corpus: documents are chunked and embedded
 * one at a time, only document metadata is kept).
 *
 *   ./build/bench/pipeline/bench_pipeline DIR [passes]
 *
 * A large real corpus: Debian's linux-doc-6.1 (its reST files are gzip-compressed):
 *   cp -r /usr/share/doc/linux-doc-6.1/Documentation /tmp/linuxdoc && gunzip -r /tmp/linuxdoc */
#include "pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BATCH 64

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long peak_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

typedef struct ctx {
    rp_embedder *e;
    char *texts[BATCH];
    size_t n;
    size_t chunks, chunk_bytes;
    double t_embed;
    int rc;
} ctx;

static void flush(ctx *c)
{
    if (!c->n)
        return;
    double t0 = now();
    float *v = NULL;
    if (rp_embed_batch(c->e, &v, (const char *const *)c->texts, c->n))
        c->rc = 1;
    free(v);
    c->t_embed += now() - t0;
    for (size_t i = 0; i < c->n; i++)
        free(c->texts[i]);
    c->n = 0;
}

static int on_chunk(const rp_chunk *ch, void *ud)
{
    ctx *c = ud;
    if (c->n == BATCH)
        flush(c);
    c->texts[c->n++] = strdup(ch->text);
    c->chunks++;
    c->chunk_bytes += ch->len;
    return 0;
}

static void on_warn(void *ud, const char *msg)
{
    (*(size_t *)ud)++;
    (void)msg;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [passes]\n", argv[0]);
        return 2;
    }
    int passes = argc > 2 ? atoi(argv[2]) : 1;
    size_t warnings = 0;
    rp_discover_options o = RP_DISCOVER_OPTIONS_INIT;
    o.warn = on_warn;
    o.warn_ud = &warnings;
    char err[512];
    rp_corpus *corpus = NULL;
    double t0 = now();
    int rc = rp_discover(&corpus, argv[1], &o, err, sizeof err);
    double t_disc = now() - t0;
    if (rc) {
        fprintf(stderr, "discover: %s\n", err);
        return 1;
    }
    long rss_disc = peak_kb();
    double mb = (double)corpus->total_bytes / 1e6;
    printf("corpus: %zu documents, %.1f MB (%zu skipped with warnings)\n", corpus->n, mb, warnings);
    printf("discover: %.3f s  %.1f MB/s   peak RSS %ld KiB\n", t_disc, mb / t_disc, rss_disc);

    ctx c = {0};
    rp_embedder_hash_new(&c.e, 384);
    rp_chunk_options co = RP_CHUNK_OPTIONS_INIT;
    double t_chunk = 0;
    for (int p = 0; p < passes; p++) {
        c.t_embed = 0;
        t_chunk = 0;
        c.chunks = c.chunk_bytes = 0;
        size_t next_mark = corpus->n / 10;
        for (size_t i = 0; i < corpus->n; i++) {
            double t1 = now();
            char *text = NULL;
            size_t len = 0;
            if (rp_doc_load(&text, &len, corpus, i, err, sizeof err)) {
                fprintf(stderr, "load: %s\n", err);
                return 1;
            }
            /* chunk time excludes the embedding done by the batch flushes */
            double te = c.t_embed;
            ctx *cp = &c;
            if (rp_chunk_text(corpus->docs[i].id, text, len, &co, on_chunk, cp)) {
                fprintf(stderr, "chunk failed on %s\n", corpus->docs[i].id);
                return 1;
            }
            free(text);
            t_chunk += now() - t1 - (c.t_embed - te);
            if (p == 0 && (i == next_mark || i + 1 == corpus->n)) {
                printf("  after %3zu%% of the documents: peak RSS %ld KiB\n",
                       (i + 1) * 100 / corpus->n, peak_kb());
                next_mark = i == corpus->n / 10 ? corpus->n / 2 : (size_t)-1;
            }
        }
        flush(&c);
        if (c.rc) {
            fprintf(stderr, "embed failed\n");
            return 1;
        }
        printf("pass %d: %zu chunks (%.1f MB of chunk text with overlap)\n", p + 1, c.chunks,
               (double)c.chunk_bytes / 1e6);
        printf("  chunk (load+split): %.3f s  %.1f MB/s\n", t_chunk, mb / t_chunk);
        printf("  embed (hash, 384):  %.3f s  %.1f MB/s  (%.0f chunks/s)\n", c.t_embed,
               mb / c.t_embed, (double)c.chunks / c.t_embed);
        printf("  end to end (discover+chunk+embed): %.1f MB/s\n",
               mb / (t_disc + t_chunk + c.t_embed));
    }
    printf("peak RSS: %ld KiB\n", peak_kb());
    rp_embedder_free(c.e);
    rp_corpus_free(corpus);
    return 0;
}
