/* The index steps that talk to Qdrant before readers see anything: upsert (the run's own,
 * fresh collection, with ownership metadata) and smoketest (point count and self-retrieval,
 * plus the user's checks). */
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steps.h"
#include "owner.h"

typedef struct {
    const rp_build_config *cfg;
    const char *run_id, *collection;
    int version;
    size_t done, total;
    rc_buf pl;
    char *err;
    size_t errlen;
} upsert_ctx;

static int upsert_batch(const rp_chunk_list *l, size_t first, void *ud)
{
    upsert_ctx *x = ud;
    size_t n = l->n, dim = rp_embedder_dim(x->cfg->embedder);
    float *v = NULL;
    int rc = rp_embed_range(x->cfg, l, 0, n, &v, NULL, x->err, x->errlen);
    if (rc)
        return rc;
    qdrant_point_id *ids = malloc(n * sizeof *ids);
    char **payloads = calloc(n, sizeof *payloads);
    int ok = ids && payloads;
    for (size_t k = 0; ok && k < n; k++) {
        const rp_chunk_rec *c = &l->v[k];
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
        int qrc = qdrant_point_upload(NULL, x->cfg->qdrant, x->collection, n, ids, v, dim,
                                      (const char *const *)payloads, &uo);
        if (qrc)
            rc = rp_qerr(x->err, x->errlen, x->cfg->qdrant, "uploading points", qrc);
        else
            x->done += n;
        rp_count(x->cfg, "upsert", first + n, x->total);
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
    snprintf(alias, sizeof alias, "%s_%s_active", rp_prefix_of(cfg), cfg->index);
    if (o.state != RP_OWN_ABSENT) {
        if (o.state != RP_OWN_MINE || strcmp(o.run_id, run_id) != 0)
            return rp_err(err, errlen, RP_ESTATE,
                          "collection %s exists and is not this run's (%s): it is left untouched; "
                          "build again for a new version",
                          collection, rp_owner_describe(&o, who, sizeof who));
        int qrc = rp_alias_target(live, sizeof live, q, alias);
        if (qrc)
            return rp_qerr(err, errlen, q, "reading the aliases", qrc);
        if (!strcmp(live, collection) || o.promoted_ms)
            return rp_err(err, errlen, RP_ESTATE,
                          "collection %s was promoted: it is never written again; build a new "
                          "version instead",
                          collection);
        qrc = rp_q_delete(NULL, q, collection);
        if (qrc)
            return rp_qerr(err, errlen, q, "dropping the earlier attempt's collection", qrc);
        rp_progress(cfg, "upsert", "dropped %s of an earlier attempt of this run", collection);
    }
    rc_buf meta = RC_BUF_INIT;
    rp_owner_metadata(&meta, dep, cfg->index, version, run_id, rp_embedder_name(cfg->embedder),
                      rp_embedder_model(cfg->embedder), rp_embedder_dim(cfg->embedder));
    int qrc = meta.data
                  ? rp_q_create(q, collection, rp_embedder_dim(cfg->embedder), meta.data, run_id)
                  : QDRANT_ENOMEM;
    rc_buf_free(&meta);
    if (qrc == QDRANT_ECONFLICT) /* made by someone else since we looked */
        return rp_err(err, errlen, RP_ESTATE,
                      "collection %s was created by someone else meanwhile: it is left untouched; "
                      "build again for a new version",
                      collection);
    if (qrc)
        return rp_qerr(err, errlen, q, "creating the collection", qrc);
    return RP_OK;
}

int rp_step_upsert(rp_state *s, const char *run_id, const rp_build_config *cfg, const char *params,
                   const char *chunk_params, const char *collection, int version, char *err,
                   size_t errlen)
{
    int rc = fresh_collection(s, run_id, cfg, collection, version, err, errlen);
    if (rc)
        return rc;
    upsert_ctx x = {cfg,         run_id, collection, version, 0, rp_recorded_chunks(s, run_id),
                    RC_BUF_INIT, err,    errlen};
    /* 4096 chunks a call: in local mode each call is one transaction, and fewer, larger
     * transactions rewrite far fewer index pages (192k points: 25.9 -> 15.0 us/point); to a
     * server the uploader still sends 256 points per request. Memory holds one such batch,
     * whatever the corpus size. */
    rc = rp_stream_chunks(s, run_id, chunk_params, 4096, upsert_batch, &x, NULL, err, errlen);
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
        rp_progress(cfg, "upsert", "%zu points in %s", x.done, collection);
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

static int count_batch(const rp_chunk_list *l, size_t first, void *ud)
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
    rp_chunk_list l;
    memset(&l, 0, sizeof l);
    if (rp_chunk_line(line, len, &l)) {
        rp_chunks_free(&l);
        r->rc = rp_err(x->err, x->errlen, l.bad == 2 ? RP_ENOMEM : RP_ECORRUPT,
                       "cannot read line %zu of the chunk artifact", at + 1);
        return 1;
    }
    size_t dim = rp_embedder_dim(x->cfg->embedder);
    /* a sample may repeat when there are fewer chunks than samples wanted */
    while (r->rc == RP_OK && x->taken < x->samples && sample_index(x, x->taken) == at) {
        float *v = NULL;
        r->rc = rp_embed_range(x->cfg, &l, 0, 1, &v, NULL, x->err, x->errlen);
        if (r->rc)
            break;
        memcpy(x->vecs + x->taken * dim, v, dim * sizeof *v);
        free(v);
        x->ids[x->taken] = rp_point_id(x->cfg->index, l.v[0].doc_id, l.v[0].n);
        snprintf(x->names[x->taken], sizeof x->names[x->taken], "%s", l.v[0].id);
        memcpy(x->hashes[x->taken], l.v[0].hash, RP_HASH_HEX);
        x->taken++;
    }
    rp_chunks_free(&l);
    return r->rc != RP_OK || x->taken >= x->samples;
}

int rp_step_smoketest(rp_state *s, const char *run_id, const rp_build_config *cfg,
                      const char *params, const char *chunk_params, const char *collection,
                      char *err, size_t errlen)
{
    smoke_ctx x = {cfg, 0, 0, 0, 0, NULL, NULL, NULL, NULL, err, errlen};
    /* The chunk count as recorded with the artifact (the artifact itself is hash-checked by
     * stream_chunks below). */
    x.total = rp_recorded_chunks(s, run_id);
    int rc = RP_OK;
    if (!x.total)
        rc =
            rp_stream_chunks(s, run_id, chunk_params, 1024, count_batch, &x, &x.total, err, errlen);
    if (rc)
        return rc;
    qdrant_client *q = cfg->qdrant;
    uint64_t count = 0;
    int qrc = qdrant_point_count(&count, q, collection, NULL);
    if (qrc)
        return rp_qerr(err, errlen, q, "counting points", qrc);
    if (count != x.total)
        return rp_err(err, errlen, RP_ESTATE, "%s holds %llu points, but there are %zu chunks",
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
        rc = rp_err(err, errlen, RP_ENOMEM, "out of memory");
        goto out;
    }
    char path[PATH_MAX];
    smoke_reader sr = {&x, 0, RP_OK};
    if (rp_artifact_valid(s, run_id, "chunks.ndjson", chunk_params, path) != 1) {
        rc = rp_err(err, errlen, RP_ENOTFOUND, "the chunk artifact is missing or stale");
    } else if (x.samples) {
        int rr = rp_artifact_read(path, 0, smoke_line, &sr);
        if (sr.rc)
            rc = sr.rc;
        else if (rr != RP_OK && rr != RP_ESTOPPED)
            rc = rp_err(err, errlen, RP_ECORRUPT, "cannot read the chunk artifact %s", path);
    }
    if (rc == RP_OK && x.taken < x.samples)
        rc =
            rp_err(err, errlen, RP_ECORRUPT, "the chunk artifact holds fewer chunks than recorded");
    for (size_t i = 0; rc == RP_OK && i < cfg->n_smoke_queries; i++) {
        float *v = NULL;
        const char *texts[1] = {cfg->smoke_queries[i].text};
        rc = rp_embed_batch(cfg->embedder, &v, texts, 1);
        if (rc) {
            rc = rp_err(err, errlen, rc, "embedding smoke query: %s",
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
        (qrc = qdrant_point_query_batch(hits, q, collection, x.vecs, nq, dim, qo)))
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
            rc = rp_err(err, errlen, RP_ESTATE,
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
            rc = rp_err(err, errlen, RP_ESTATE, "smoke query \"%s\" did not find %s in the top %zu",
                        sq->text, sq->expect_doc_id, k);
        else
            rp_progress(cfg, "smoketest", "query \"%s\" finds %s", sq->text, sq->expect_doc_id);
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
        rp_progress(cfg, "smoketest", "%llu points = %zu chunks; %zu/%zu samples find themselves",
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
