/* Which collections are ours (internal to the build driver): every collection a build creates
 * records who made it in its Qdrant metadata, and nothing in the pipeline writes into,
 * promotes, rolls back to or deletes a collection whose metadata does not say it belongs to
 * this deployment (state directory), index and version.
 *
 * The metadata keys (flat, so that a metadata update merges them one by one):
 *   ragkit_deployment, ragkit_index, ragkit_version, ragkit_run_id, ragkit_embedder,
 *   ragkit_model, ragkit_dim, ragkit_created_ms   written when the build creates it
 *   ragkit_promoted_ms                             when it is promoted (alias moved to it)
 *   ragkit_rolled_back_ms                          when a rollback moves the alias off it */
#ifndef RP_OWNER_H
#define RP_OWNER_H

#include <stdint.h>

#include "build.h"
#include "buf.h"

enum {
    RP_OWN_ABSENT = 0,  /* no such collection */
    RP_OWN_MINE = 1,    /* this deployment's, this index's, this version's */
    RP_OWN_LEGACY = 2,  /* no ragkit metadata: made before ownership was recorded */
    RP_OWN_FOREIGN = 3, /* another deployment's, index's or version's */
};

typedef struct rp_owner {
    int state; /* RP_OWN_* */
    int version;
    char deployment[64], index[80], run_id[96];
    int64_t promoted_ms, rolled_back_ms; /* 0 when not recorded */
} rp_owner;

/* Reads collection's metadata and decides whose it is, for deployment/index/version.
 * Qdrant errors: RP_EQDRANT with the message in err. */
int rp_owner_read(rp_owner *out, qdrant_client *q, const char *collection, const char *deployment,
                  const char *index, int version, char *err, size_t errlen);
/* "owned by deployment X (index Y, version Z)" or "made without ownership metadata". */
const char *rp_owner_describe(const rp_owner *o, char *buf, size_t cap);
/* 1 when the pipeline may treat it as its own for reading, rollback and deletion: MINE, or
 * LEGACY in local mode (a local store lives inside its state directory, so whatever it holds
 * is this deployment's). Writes need MINE. */
int rp_owner_ours(const rp_owner *o, qdrant_client *q);

/* The metadata of a new collection (JSON object text into b). */
int rp_owner_metadata(rc_buf *b, const char *deployment, const char *index, int version,
                      const char *run_id, const char *embedder, const char *model, size_t dim);
/* Sets ragkit_<key>_ms to now on collection (best effort is the caller's choice). */
int rp_owner_stamp(qdrant_client *q, const char *collection, const char *key);

/* The version number after every collection named <prefix>_<index>_v<N> on the server,
 * whoever made it (1 when there is none). */
int rp_versions_floor(int *out, qdrant_client *q, const char *prefix, const char *index, char *err,
                      size_t errlen);

/* The collection alias points at into out ("" when none); a qdrant error code. */
int rp_alias_target(char *out, size_t cap, qdrant_client *q, const char *alias);
/* Checks a collection is fit to serve before readers are sent to it: it has points, and a
 * query with one of its own vectors answers (which reads every vector in local mode). */
int rp_collection_check(uint64_t *out_points, qdrant_client *q, const char *collection, char *err,
                        size_t errlen);
/* Points alias at collection, reads it back and counts through it; when any of that fails the
 * alias is put back on `previous` ("" or NULL: removed again), and err says so. */
int rp_alias_move(qdrant_client *q, const char *alias, const char *collection, const char *previous,
                  char *err, size_t errlen);

/* Qdrant does not make these safe to send again after an unclear answer (a 5xx, a broken
 * connection, a timeout): each is sent again only after looking at what happened. */
/* Creates collection with metadata; an unclear answer followed by a collection holding this
 * run's metadata is success; someone else's is QDRANT_ECONFLICT. */
int rp_q_create(qdrant_client *q, const char *collection, size_t dim, const char *metadata,
                const char *run_id);
/* Points alias at collection (NULL or "": removes the alias); success once the alias is seen
 * pointing there. */
int rp_q_alias_switch(qdrant_client *q, const char *alias, const char *collection);
/* Deletes collection; success once it is seen gone. */
int rp_q_delete(int *existed, qdrant_client *q, const char *collection);
/* rp_owner_stamp, sent again after an unclear answer (a merge of the same keys is harmless). */
int rp_q_stamp(qdrant_client *q, const char *collection, const char *key);

/* Qdrant's error as an RP_EQDRANT with "what: <qdrant error> (<message>)". */
int rp_qerr(char *err, size_t errlen, qdrant_client *q, const char *what, int qrc);

#endif
