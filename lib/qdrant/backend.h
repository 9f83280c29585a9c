/* libqdrantc's backends: the table of functions between the front and what serves a handle.
 *
 * The front (client.c, collections.c, points.c, upload.c) checks every argument of a public
 * call, resets the error detail, then calls the same operation on c->ops; it never looks at a
 * backend's state. Two backends fill a table each:
 *   qd_server_backend  (server.c, server_collections.c, server_points.c, server_upload.c):
 *                      HTTP to a Qdrant server, with retries;
 *   qd_local_backend   (local.c): a store directory through lib/local, in process.
 * A backend answers as a server would for the same situation (code and message on the handle);
 * the parity suite (tests/qdrant/test_qdrant_parity.c) runs the same calls on both.
 *
 * Every entry is required unless its comment says otherwise. An entry receives arguments the
 * front has already checked as its comment in the front says (names, options versions, counts,
 * point ids where noted); the values inside vectors and payloads are the backend's to check,
 * since the server backend checks them while it writes the request body. */
#ifndef QDRANT_BACKEND_H
#define QDRANT_BACKEND_H

#include "internal.h"

typedef struct qd_upload qd_upload;

typedef struct qd_backend_ops {
    int is_local; /* qdrant_client_is_local() */

    /* ---- the handle ---- */
    /* 1 when url is this backend's (then *target, malloc'ed, is handed to open), 0 when it is
     * not, QDRANT_EINVAL when it is malformed for this backend, QDRANT_ENOMEM. */
    int (*parse_url)(char **target, const char *url);
    /* Sets up the backend's part of a new handle whose common fields are filled in; takes over
     * target (also on failure: close frees what open left). Returns QDRANT_OK or ENOMEM. */
    int (*open)(qdrant_client *c, const qdrant_client_options *o, char *target);
    /* Frees the backend's part (also of a handle whose open failed). */
    void (*close)(qdrant_client *c);
    long (*connections)(const qdrant_client *c);

    /* ---- service ---- */
    int (*health)(qdrant_client *c);
    int (*ready)(qdrant_client *c);
    int (*server_info)(qdrant_server_info **out, qdrant_client *c);

    /* ---- collections ---- */
    /* o: checked (never NULL); metadata: a checked JSON object or NULL. */
    int (*collection_create)(qdrant_client *c, const char *name, size_t dim, qdrant_distance d,
                             const qdrant_collection_options *o, const char *metadata);
    int (*collection_delete)(int *out, qdrant_client *c, const char *name); /* out may be NULL */
    int (*collection_exists)(int *out, qdrant_client *c, const char *name);
    int (*collection_info)(qdrant_collection_info **out, qdrant_client *c, const char *name);
    int (*collection_metadata_update)(qdrant_client *c, const char *name, const char *metadata);
    int (*collection_list)(qdrant_name_list **out, qdrant_client *c);
    int (*payload_index_create)(qdrant_client *c, const char *collection, const char *field,
                                qdrant_field_type type, const qdrant_write_options *w);

    /* ---- aliases ---- */
    int (*alias_create)(qdrant_client *c, const char *alias, const char *collection);
    int (*alias_delete)(qdrant_client *c, const char *alias);
    int (*alias_rename)(qdrant_client *c, const char *old_alias, const char *new_alias);
    /* Points alias at collection, whether or not it exists yet. */
    int (*alias_switch)(qdrant_client *c, const char *alias, const char *collection);
    /* collection NULL: every alias. */
    int (*alias_list)(qdrant_alias_list **out, qdrant_client *c, const char *collection);

    /* ---- points ---- */
    /* n > 0, ids and vectors given, dim > 0, n * dim checked; ids, floats and payloads not. */
    int (*point_upsert)(qdrant_client *c, const char *collection, size_t n,
                        const qdrant_point_id *ids, const float *vectors, size_t dim,
                        const char *const *payloads, const qdrant_write_options *w);
    /* ids: n > 0, each one valid. */
    int (*point_delete)(qdrant_client *c, const char *collection, const qdrant_point_id *ids,
                        size_t n, const qdrant_write_options *w);
    int (*point_delete_by_filter)(qdrant_client *c, const char *collection, const qdrant_filter *f,
                                  const qdrant_write_options *w);
    /* ids: n > 0, each one valid. */
    int (*point_get)(qdrant_point_list **out, qdrant_client *c, const char *collection,
                     const qdrant_point_id *ids, size_t n, int with_payload, int with_vector);
    /* o: never NULL, its offset (when set) a valid id. */
    int (*point_scroll)(qdrant_point_list **out, qdrant_client *c, const char *collection,
                        const qdrant_scroll_options *o);
    int (*point_count)(uint64_t *out, qdrant_client *c, const char *collection,
                       const qdrant_filter *f); /* f may be NULL */
    /* o: never NULL; the vector's floats are not checked. */
    int (*point_query)(qdrant_point_list **out, qdrant_client *c, const char *collection,
                       const float *vector, size_t dim, const qdrant_query_options *o);
    /* out: n slots; opts: n options (versions checked) or NULL for defaults. */
    int (*point_query_batch)(qdrant_point_list **out, qdrant_client *c, const char *collection,
                             const float *vectors, size_t n, size_t dim,
                             const qdrant_query_options *opts);

    /* ---- batch upload (upload.c checks, splits and reports; the backend sends) ---- */
    /* The size of the backend's batch struct, which starts with a qd_batch. */
    size_t upload_batch_size;
    /* Optional: 1 when the backend takes payload text as it is, without another check (then
     * u->canon[i] says so to upload_run); 0 sends it through the common check. */
    int (*payload_canonical)(const char *text, size_t len);
    /* Runs every batch of u (at least one) until each is settled (qd_upload_settle). Returns
     * QDRANT_OK, or QDRANT_ENOMEM when the upload as a whole failed for lack of memory. */
    int (*upload_run)(qd_upload *u);
} qd_backend_ops;

extern const qd_backend_ops qd_server_backend;
extern const qd_backend_ops qd_local_backend;

/* ---- an upload's batch list (batch.c), shared by upload.c and the backends' upload_run ---- */

enum { QD_BATCH_PENDING, QD_BATCH_RUNNING, QD_BATCH_DONE, QD_BATCH_FAILED };

typedef struct qd_batch {
    size_t start, count; /* points [start, start + count) */
    int state;
    int attempts;       /* requests sent for this batch: its retries are attempts - 1 */
    int64_t not_before; /* monotonic ms */
    int err;            /* the final error once failed; before that, the last attempt's */
    char msg[256];      /* the same for the message ("" when no attempt failed yet) */
} qd_batch;

struct qd_upload {
    qdrant_client *c;
    const qdrant_upload_options *o;
    const char *collection;
    const qdrant_write_options *w; /* wait and ordering of o, checked */
    size_t n, dim;
    const qdrant_point_id *ids; /* checked, as are the vectors and payloads */
    const float *vectors;
    const char *const *payloads;
    const unsigned char *canon; /* see payload_canonical; NULL when not used */
    size_t batch_size;          /* bytes allocated per batch: the backend's upload_batch_size */
    qd_batch **b; /* each batch allocated on its own: a backend may hand out pointers into it */
    size_t nb, cap;
    int stopped; /* the progress callback asked to stop */
    qdrant_upload_progress prog;
};

/* Appends a pending batch of points [start, start + count). -1 on no memory. */
int qd_upload_add_batch(qd_upload *u, size_t start, size_t count);
/* Settles x (QD_BATCH_DONE or QD_BATCH_FAILED with err and msg), counts it in the progress and
 * calls the progress callback, which may set u->stopped. */
void qd_upload_settle(qd_upload *u, qd_batch *x, int state, int err, const char *msg);
/* Fails x as stopped by the progress callback; a batch that had failed attempts keeps its last
 * cause in the message. */
void qd_upload_settle_stopped(qd_upload *u, qd_batch *x);
/* Frees every batch. */
void qd_upload_free_batches(qd_upload *u);

#endif
