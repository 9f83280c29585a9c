/* The build's steps and what they share with the driver (internal to lib/pipeline): each step
 * in its own file by what it touches (step_source.c: discover, chunk; step_embed.c: embed;
 * step_index.c: upsert, smoketest; publish.c: promote, beside rollback), and the driver's
 * helpers (build.c). The artifacts they pass on are read with records.h. */
#ifndef RP_STEPS_H
#define RP_STEPS_H

#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "build.h"
#include "internal.h"
#include "records.h"

/* ---- the driver's helpers (build.c) ---- */

/* The configured prefix, "rag" when none. */
const char *rp_prefix_of(const rp_build_config *cfg);
/* One progress line, when the configuration asks for them. */
void rp_progress(const rp_build_config *cfg, const char *step, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Batch progress of a long step: done of total chunks. */
void rp_count(const rp_build_config *cfg, const char *step, size_t done, size_t total);
/* The run's record, parsed (the caller's), or NULL. */
json_object *rp_read_run(rp_state *s, const char *run_id);
/* The recorded content hash of a run's artifact (borrowed from run), or NULL. */
const char *rp_artifact_hash(json_object *run, const char *name);
/* The number of chunks recorded with the chunk artifact (0 when unknown). */
size_t rp_recorded_chunks(rp_state *s, const char *run_id);

/* ---- the steps: each returns 0 or an RP_E* code with the message in err ---- */

/* params: the step's own parameters (JSON); docs_params / chunk_params: those its input
 * artifact was made with. */
int rp_step_discover(rp_state *s, const char *run_id, const rp_build_config *cfg,
                     const char *params, char *err, size_t errlen);
int rp_step_chunk(rp_state *s, const char *run_id, const rp_build_config *cfg, const char *params,
                  const char *docs_params, char *err, size_t errlen);
int rp_step_embed(rp_state *s, const char *run_id, const rp_build_config *cfg, const char *params,
                  const char *chunk_params, char *err, size_t errlen);
int rp_step_upsert(rp_state *s, const char *run_id, const rp_build_config *cfg, const char *params,
                   const char *chunk_params, const char *collection, int version, char *err,
                   size_t errlen);
int rp_step_smoketest(rp_state *s, const char *run_id, const rp_build_config *cfg,
                      const char *params, const char *chunk_params, const char *collection,
                      char *err, size_t errlen);
int rp_step_promote(rp_state *s, const char *run_id, const rp_build_config *cfg,
                    const char *collection, int version, char *err, size_t errlen);

/* Embeds chunks [from, to) of cl through the cache into *vecs (the caller's) (step_embed.c). */
int rp_embed_range(const rp_build_config *cfg, const rp_chunk_list *cl, size_t from, size_t to,
                   float **vecs, size_t *hits, char *err, size_t errlen);

/* ---- an index's versions as recorded (versions.c) ---- */

typedef struct rp_vrec {
    int version, state; /* RP_V_* */
    char run_id[96];
} rp_vrec;
/* The versions of an index's history, in recorded order (*out the caller's); *active gets the
 * active one. */
int rp_read_versions(rp_state *s, const char *index, rp_vrec **out, size_t *n, int *active,
                     char *err, size_t errlen);
/* The state (RP_V_*) of one version in the index's history; -1 when not recorded or unreadable. */
int rp_version_state(rp_state *s, const char *index, int version);

#endif
