/* Opening what a command needs: the state directory, the Qdrant client (local mode in
 * <state>/qdrant when no URL is set), the embedder and the embedding cache. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "tool.h"

static int open_(tool_ctx *c, tool_settings *st, int need_qdrant, int need_embed);

/* Opens what a command needs; on failure everything is closed again and the exit code returned. */
int tool_open(tool_ctx *c, tool_settings *st, int need_qdrant, int need_embed)
{
    int ex = open_(c, st, need_qdrant, need_embed);
    if (ex)
        tool_close(c);
    return ex;
}

static int open_(tool_ctx *c, tool_settings *st, int need_qdrant, int need_embed)
{
    memset(c, 0, sizeof *c);
    c->st = st;
    char err[512];
    if (rp_mkdir_p(st->state_dir, err, sizeof err) != RP_OK) {
        fprintf(stderr, "%s: cannot create state directory %s: %s\n", tool_name, st->state_dir,
                err);
        return EX_CANTCREAT;
    }
    int src = rp_state_open(&c->state, st->state_dir, err, sizeof err);
    if (src != RP_OK) {
        fprintf(stderr, "%s: state directory %s: %s\n", tool_name, st->state_dir, err);
        return src == RP_ECORRUPT ? EX_DATAERR : EX_IOERR;
    }
    if (need_qdrant) {
        qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
        /* local mode: read the store on each call instead of holding whole collections in
         * memory, so a build's memory does not grow with the corpus */
        o.local_scan = 1;
        if (st->qdrant_url) {
            o.url = st->qdrant_url;
        } else {
            char abs[PATH_MAX];
            if (!realpath(st->state_dir, abs))
                snprintf(abs, sizeof abs, "%s", st->state_dir);
            snprintf(st->local_url, sizeof st->local_url, "file://%s/qdrant", abs);
            o.url = st->local_url;
        }
        o.api_key = st->api_key;
        /* A build makes many requests: ride out a flaky server or proxy (the library retries
         * only what is safe to send again; the pipeline checks the outcome of the rest). */
        o.max_retries = 6;
        if (qdrant_client_new(&c->q, &o) != QDRANT_OK) {
            char shown[PATH_MAX];
            tool_mask_url(shown, sizeof shown, o.url);
            fprintf(stderr, "%s: invalid QDRANT_URL \"%s\"\n", tool_name, shown);
            return EX_CONFIG;
        }
    }
    if (need_embed) {
        int rc;
        if (strcmp(st->embedder, "hash") == 0) {
            rc = rp_embedder_hash_new(&c->emb, st->dim);
        } else if (strcmp(st->embedder, "openai") == 0) {
            rp_openai_options oo = RP_OPENAI_OPTIONS_INIT;
            oo.base_url = st->embed_url;
            oo.model = st->embed_model;
            oo.api_key = st->embed_key;
            rc = rp_embedder_openai_new(&c->emb, &oo, err, sizeof err);
            if (rc)
                fprintf(stderr, "%s: openai embedder: %s\n", tool_name, err);
        } else {
            fprintf(stderr, "%s: unknown embedder \"%s\" (hash, openai)\n", tool_name,
                    st->embedder);
            return EX_CONFIG;
        }
        if (rc)
            return EX_CONFIG;
        char cdir[PATH_MAX];
        snprintf(cdir, sizeof cdir, "%s/cache", st->state_dir);
        if (rp_cache_open(&c->cache, cdir, err, sizeof err) != RP_OK) {
            fprintf(stderr, "%s: embedding cache %s: %s\n", tool_name, cdir, err);
            return EX_IOERR;
        }
        rp_cache_set_warn(c->cache, tool_on_warn, NULL);
    }
    return EX_OK;
}

void tool_close(tool_ctx *c)
{
    rp_cache_free(c->cache);
    rp_embedder_free(c->emb);
    qdrant_client_free(c->q);
    rp_state_free(c->state);
}
