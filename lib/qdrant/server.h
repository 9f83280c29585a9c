/* libqdrantc's server backend: what its files share. Included by the server backend only:
 *   server.c              the handle, the service calls, the backend's table
 *   server_http.c         requests and replies (URLs, the retry loop, error mapping)
 *   server_collections.c  collections, payload indexes, aliases
 *   server_points.c       points: request bodies, calls, decoding
 *   server_upload.c       running an upload's batches over a connection pool
 * Calls go from server.c to the other files and from them to server_http.c, never back. */
#ifndef QDRANT_SERVER_H
#define QDRANT_SERVER_H

#include "backend.h"

/* Retry classes for qd_call. */
enum {
    QD_IDEMPOTENT = 0,    /* retried after 429, 502/503/504, dropped connections */
    QD_NOT_IDEMPOTENT = 1 /* retried only after 429 or when no connection could be made */
};

/* ---- requests (server_http.c) ---- */

/* Builds base + path segments into c->url: each NULL-terminated vararg alternates a literal
 * piece (sent as is) and a name (percent-encoded); e.g. qd_url(c, "/collections/", name,
 * "/points", NULL, NULL). query (may be NULL) is appended as given. NULL on no memory. */
const char *qd_url(qdrant_client *c, const char *query, ...);

/* Sends a request, retrying per class; the response is left in c->resp. Returns QDRANT_OK for
 * a 2xx, else the mapped error with the detail on the handle. */
int qd_call(qdrant_client *c, const char *method, const char *url, const char *body, size_t len,
            int retry_class);
/* qd_call, then parses the {"result":...,"status":"ok"} envelope. *result is borrowed from
 * *root, which the caller puts. */
int qd_call_result(qdrant_client *c, const char *method, const char *url, const char *body,
                   size_t len, int retry_class, json_object **root, json_object **result);
/* The result of a write (UpdateResult): QDRANT_OK for "completed"/"acknowledged",
 * QDRANT_EWAITTIMEOUT for "wait_timeout", QDRANT_EPROTOCOL otherwise. */
int qd_check_update_result(qdrant_client *c, json_object *result);

/* 1 when the last reply was a 404 without Qdrant's error envelope: the route itself does not
 * exist on this (older) server, as opposed to a missing collection or point. */
int qd_route_missing(qdrant_client *c);

/* Appends "?wait=true&ordering=...&timeout=..." for w (NULL: defaults) to b. */
int qd_write_query(rc_buf *b, const qdrant_write_options *w);

/* ---- the table's entries (backend.h says what each receives) ---- */

/* server_collections.c */
int qs_collection_create(qdrant_client *c, const char *name, size_t dim, qdrant_distance d,
                         const qdrant_collection_options *o, const char *metadata);
int qs_collection_delete(int *out, qdrant_client *c, const char *name);
int qs_collection_exists(int *out, qdrant_client *c, const char *name);
int qs_collection_info(qdrant_collection_info **out, qdrant_client *c, const char *name);
int qs_collection_metadata_update(qdrant_client *c, const char *name, const char *metadata);
int qs_collection_list(qdrant_name_list **out, qdrant_client *c);
int qs_payload_index_create(qdrant_client *c, const char *collection, const char *field,
                            qdrant_field_type type, const qdrant_write_options *w);
int qs_alias_create(qdrant_client *c, const char *alias, const char *collection);
int qs_alias_delete(qdrant_client *c, const char *alias);
int qs_alias_rename(qdrant_client *c, const char *old_alias, const char *new_alias);
int qs_alias_switch(qdrant_client *c, const char *alias, const char *collection);
int qs_alias_list(qdrant_alias_list **out, qdrant_client *c, const char *collection);

/* server_points.c */
int qs_point_upsert(qdrant_client *c, const char *collection, size_t n, const qdrant_point_id *ids,
                    const float *vectors, size_t dim, const char *const *payloads,
                    const qdrant_write_options *w);
int qs_point_delete(qdrant_client *c, const char *collection, const qdrant_point_id *ids, size_t n,
                    const qdrant_write_options *w);
int qs_point_delete_by_filter(qdrant_client *c, const char *collection, const qdrant_filter *f,
                              const qdrant_write_options *w);
int qs_point_get(qdrant_point_list **out, qdrant_client *c, const char *collection,
                 const qdrant_point_id *ids, size_t n, int with_payload, int with_vector);
int qs_point_scroll(qdrant_point_list **out, qdrant_client *c, const char *collection,
                    const qdrant_scroll_options *o);
int qs_point_count(uint64_t *out, qdrant_client *c, const char *collection, const qdrant_filter *f);
int qs_point_query(qdrant_point_list **out, qdrant_client *c, const char *collection,
                   const float *vector, size_t dim, const qdrant_query_options *o);
int qs_point_query_batch(qdrant_point_list **out, qdrant_client *c, const char *collection,
                         const float *vectors, size_t n, size_t dim,
                         const qdrant_query_options *opts);

/* server_upload.c: a batch as this backend keeps it (the upload allocates this much). */
typedef struct qs_batch {
    qd_batch b;      /* first: what the front and batch.c see */
    rc_buf body;     /* built once, kept for the retries until the batch settles */
    rc_http_job job; /* the pool holds a pointer to it while the batch runs */
} qs_batch;
#define QS_UPLOAD_BATCH_SIZE sizeof(qs_batch)
int qs_upload_run(qd_upload *u);

#endif
