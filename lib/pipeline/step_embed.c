/* The embed step: every chunk through the embedding cache (misses embedded in batches). */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps.h"

#define EMBED_BATCH 64

/* Embeds chunks [from, to) through the cache into *vecs (the caller's). */
int rp_embed_range(const rp_build_config *cfg, const rp_chunk_list *cl, size_t from, size_t to,
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
        rp_err(err, errlen, rc, "embedding: %s", m && *m ? m : rp_strerror(rc));
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

static int embed_batch(const rp_chunk_list *l, size_t first, void *ud)
{
    embed_ctx *x = ud;
    float *v = NULL;
    size_t hits = 0;
    int rc = rp_embed_range(x->cfg, l, 0, l->n, &v, &hits, x->err, x->errlen);
    free(v);
    x->hits += hits;
    rp_count(x->cfg, "embed", first + l->n, x->total);
    for (size_t k = 0; rc == RP_OK && k < l->n; k++) {
        rc_buf_reset(&x->line);
        rc_buf_puts(&x->line, "{\"id\":");
        rc_buf_json_str(&x->line, l->v[k].id, strlen(l->v[k].id));
        rc_buf_printf(&x->line, ",\"hash\":\"%s\"}", l->v[k].hash);
        rc = rp_artifact_write(x->w, x->line.data, x->line.len);
    }
    return rc;
}

int rp_step_embed(rp_state *s, const char *run_id, const rp_build_config *cfg, const char *params,
                  const char *chunk_params, char *err, size_t errlen)
{
    rp_artifact_writer *w = NULL;
    int rc = rp_artifact_begin(&w, s, run_id, "embed.ndjson", "embed");
    embed_ctx x = {cfg, w, RC_BUF_INIT, 0, rp_recorded_chunks(s, run_id), err, errlen};
    size_t total = 0;
    if (rc == RP_OK)
        rc = rp_stream_chunks(s, run_id, chunk_params, EMBED_BATCH, embed_batch, &x, &total, err,
                              errlen);
    if (rc == RP_OK)
        rc = rp_artifact_commit(w, params, NULL);
    if (rc == RP_OK)
        rp_progress(cfg, "embed", "%zu chunks embedded with %s/%s (dim %zu): %zu from the cache",
                    total, rp_embedder_name(cfg->embedder), rp_embedder_model(cfg->embedder),
                    rp_embedder_dim(cfg->embedder), x.hits);
    rp_artifact_writer_free(w);
    rc_buf_free(&x.line);
    return rc;
}
