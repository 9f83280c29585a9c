/* The source steps: discover (which documents, with their hashes) and chunk (their text in
 * pieces), each writing its artifact. */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps.h"

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

int rp_step_discover(rp_state *s, const char *run_id, const rp_build_config *cfg,
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
        rp_err(err, errlen, rc, "writing docs.ndjson: %s", w ? rp_artifact_errmsg(w) : "");
    else
        rp_progress(cfg, "discover", "%zu documents, %llu bytes", corpus->n,
                    (unsigned long long)corpus->total_bytes);
    rp_artifact_writer_free(w);
    rc_buf_free(&line);
    rp_corpus_free(corpus);
    return rc;
}

int rp_step_chunk(rp_state *s, const char *run_id, const rp_build_config *cfg, const char *params,
                  const char *docs_params, char *err, size_t errlen)
{
    char path[PATH_MAX];
    if (rp_artifact_valid(s, run_id, "docs.ndjson", docs_params, path) != 1)
        return rp_err(err, errlen, RP_ENOTFOUND, "the discover artifact is missing or stale");
    rp_corpus *corpus = NULL;
    int rc = rp_docs_read(&corpus, path, cfg->docs_dir);
    if (rc)
        return rp_err(err, errlen, rc == RP_ENOMEM ? rc : RP_ECORRUPT, "cannot read %s", path);
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
            rc = rp_err(err, errlen, RP_EIO, "writing chunks.ndjson: %s", rp_artifact_errmsg(w));
    }
    if (rc == RP_OK && x.chunks == 0)
        rc = rp_err(err, errlen, RP_EEMPTY, "the documents hold no text to chunk");
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
        rp_progress(cfg, "chunk", "%s", msg);
    }
    free(x.seen.v);
    rp_artifact_writer_free(w);
    rc_buf_free(&x.line);
    rp_corpus_free(corpus);
    return rc;
}
