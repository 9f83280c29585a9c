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
    /* 1: read back from the params of the run being replayed. Such a drill was spent by that
     * run's attempts, so a replay that starts a new run (of a promoted version) leaves it out. */
    int from_params;
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
 * reserves the index's next version: never a number whose collection exists on the server,
 * whoever made it. The run stays locked by this handle (rp_run_lock) until executed. Nothing
 * is created when the build cannot start: the documents folder must be a directory
 * (RP_ENOTFOUND), the index's history readable (a damaged one: RP_ECORRUPT; a missing one is
 * rebuilt from the server's collections first, see rp_history_repair), the server reachable
 * (RP_EQDRANT). */
int rp_build_create(rp_state *s, char *run_id, size_t cap, const rp_build_config *cfg, char *err,
                    size_t errlen);
/* Runs every step of run_id that is not SUCCEEDED, in order, reusing valid artifacts of steps
 * before the first one to run, with the run locked (RP_EBUSY when another process executes
 * it). Returns RP_OK when the run SUCCEEDED; otherwise the failing step's error (the run is
 * then FAILED, with the step's error recorded, and its version failed). A run killed before it
 * had a version gets one; a promoted version is never built again (RP_ESTATE).
 *
 * Collections: the upsert step creates the run's collection with ownership metadata (see
 * owner.h) or, when it exists as this run's own unpromoted collection from an earlier attempt,
 * drops and recreates it; any other existing collection is never written (RP_ESTATE).
 * Promotion checks the collection is this run's and that the alias, if it exists, points at
 * this deployment's collection; a failed check after moving the alias moves it back. */
int rp_build_execute(rp_state *s, const char *run_id, const rp_build_config *cfg, char *err,
                     size_t errlen);
/* Replays run_id from step `from`. A run whose version is building or failed is reset from
 * `from` (rp_run_replay) and executed again (out_run gets run_id); a run whose version was
 * promoted (or since rolled back) is never changed: a new run (id into out_run, cap >= 48)
 * builds a new version, taking over what run_id finished before `from` (rp_run_inherit). The
 * configuration's fail spec and settings are taken from cfg (the caller reads the run's params
 * first). */
int rp_build_replay(rp_state *s, char *out_run, size_t cap, const char *run_id, const char *from,
                    const rp_build_config *cfg, char *err, size_t errlen);

/* Rolls the index back: `steps` (>= 1) promoted versions back, or to version `to_version`
 * (> 0), which must be an earlier promoted, not rolled back version whose collection is this
 * deployment's. The target is checked (points, a query reading its vectors) before the alias
 * moves; the alias is verified after, and moved back when that fails. *out_version gets the
 * new active version. */
int rp_rollback(int *out_version, rp_state *s, qdrant_client *q, const char *prefix,
                const char *index, int steps, int to_version, char *err, size_t errlen);

/* Rebuilds an index's history from the server: every collection <prefix>_<index>_v<N> whose
 * metadata says it is this deployment's is a version (promoted, rolled back or failed as its
 * metadata records; building while its run is alive), and the alias's target the active one.
 * A damaged history file is set aside (its new path in aside, may be NULL). *changes (may be
 * NULL) gets the number of changes made. */
int rp_history_repair(rp_state *s, qdrant_client *q, const char *prefix, const char *index,
                      size_t *changes, char *aside, size_t asidecap, char *err, size_t errlen);

/* What rp_gc did with one version. */
typedef void (*rp_gc_fn)(void *ud, int version, const char *collection, const char *what);
/* Collects an index's old versions: keeps the active version and the `keep` (>= 1) newest; a
 * version whose run is still alive is never touched; a building version whose run was
 * abandoned (its process is gone) is marked failed and collected like the others. Deletes only
 * collections that are this deployment's (see rp_owner_ours); others are reported and kept.
 * Also removes temp files that dead processes left. *deleted gets the number of collections
 * deleted; RP_EQDRANT when a deletion failed (the others are still done). */
int rp_gc(size_t *deleted, rp_state *s, qdrant_client *q, const char *prefix, const char *index,
          int keep, rp_gc_fn fn, void *ud, char *err, size_t errlen);

/* The deterministic point id of chunk n of doc_id in index. */
uint64_t rp_point_id(const char *index, const char *doc_id, size_t n);

#ifdef __cplusplus
}
#endif

#endif
