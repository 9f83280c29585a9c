/* The versioned index build: discover -> chunk -> embed -> upsert -> smoketest -> promote, run
 * as resumable steps over the state directory (internal; used by ragctl, and by ragworker next).
 *
 * A build reserves version N of its index, writes collection <prefix>_<index>_v<N>, checks it
 * (point count and self-retrieval) BEFORE promotion, and only then moves the alias
 * <prefix>_<index>_active to it. A failed run can be replayed from any step: earlier steps are
 * reused only when their artifacts still exist and match their inputs and parameters. */
#ifndef RP_BUILD_H
#define RP_BUILD_H

#include <stddef.h>

#include "pipeline.h"
#include "qdrant/qdrant.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RP_NSTEPS 6
extern const char *const rp_build_steps[RP_NSTEPS]; /* "discover", ..., "promote" */
/* The index of a step name, or -1. */
int rp_step_index(const char *name);

/* Failure injection, for drills and tests: the step fails on its first `times` attempts
 * (-1: always). */
typedef struct rp_fail_spec {
    const char *step; /* NULL: none */
    int times;
} rp_fail_spec;

typedef void (*rp_progress_fn)(void *ud, const char *step, const char *msg);
/* Called after each batch of a long step (embed, upsert): done of total chunks. */
typedef void (*rp_count_fn)(void *ud, const char *step, size_t done, size_t total);

typedef struct rp_smoke_query {
    const char *text;
    const char *expect_doc_id;
} rp_smoke_query;

typedef struct rp_build_config {
    const char *index;
    const char *docs_dir;
    const char *prefix; /* default "rag" */
    rp_chunk_options chunk;
    qdrant_client *qdrant; /* borrowed */
    rp_embedder *embedder; /* borrowed */
    rp_cache *cache;       /* borrowed; required */
    rp_fail_spec fail;
    size_t smoke_samples; /* chunks checked for self-retrieval; default 5 */
    /* Optional user checks: each query must find a chunk of its expected document in the top
     * smoke_k (default 5) results. */
    const rp_smoke_query *smoke_queries;
    size_t n_smoke_queries;
    size_t smoke_k;
    rp_progress_fn progress; /* optional: one line per notable thing */
    rp_count_fn count;       /* optional: batch progress of embed and upsert (progress_ud) */
    void *progress_ud;
    rp_warn_fn warn; /* optional: discover's warnings */
    void *warn_ud;
} rp_build_config;

/* Creates a run (id generated into run_id, cap >= 48) with the configuration as its params and
 * reserves the index's next version. */
int rp_build_create(rp_state *s, char *run_id, size_t cap, const rp_build_config *cfg, char *err,
                    size_t errlen);
/* Runs every step of run_id that is not SUCCEEDED, in order, reusing valid artifacts of steps
 * before the first one to run. Returns RP_OK when the run SUCCEEDED; otherwise the failing
 * step's error (the run is then FAILED, with the step's error recorded). */
int rp_build_execute(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen);
/* Replays run_id from step `from` (rp_run_replay, then rp_build_execute). The configuration's
 * fail spec and settings are taken from cfg (the caller reads the run's params first). */
int rp_build_replay(rp_state *s, const char *run_id, const char *from, const rp_build_config *cfg,
                    char *err, size_t errlen);

/* Rolls the index back: `steps` promoted versions back, or to version `to_version` (> 0), which
 * must be an earlier promoted, not rolled back version. Moves the alias and verifies it.
 * *out_version gets the new active version. */
int rp_rollback(int *out_version, rp_state *s, qdrant_client *q, const char *prefix,
                const char *index, int steps, int to_version, char *err, size_t errlen);

/* The deterministic point id of chunk n of doc_id in index. */
uint64_t rp_point_id(const char *index, const char *doc_id, size_t n);

#ifdef __cplusplus
}
#endif

#endif
