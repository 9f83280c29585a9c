/* libqdrantc internals shared by its source files (never exported). */
#ifndef QDRANT_INTERNAL_H
#define QDRANT_INTERNAL_H

#include <stdint.h>

#include <json-c/json.h>

#include "qdrant/qdrant.h"
#include "buf.h"
#include "http.h"

/* Nesting depth accepted in replies and payloads (json-c's default is 32). */
#define QD_JSON_DEPTH 128

struct ls_store; /* lib/local/lstore.h */

struct qdrant_client {
    rc_http *http; /* NULL in local mode */
    /* Local mode: the store directory (non-NULL selects local mode) and the store, opened at
     * the first call that needs it (lib/qdrant/local.c). */
    char *local_dir;
    int local_scan; /* qdrant_client_options.local_scan */
    struct ls_store *local;
    char *base; /* scheme://host:port[/prefix], no trailing '/' */
    int max_retries;
    long backoff_ms;
    long max_backoff_ms;
    long request_timeout_ms;
    qdrant_log_fn log;
    void *log_ud;
    uint64_t rng;
    /* 1: /points/query exists; 0: use /points/search; -1: not known yet */
    int has_query_api;
    /* detail of the last call */
    char errmsg[512];
    int http_status;
    long retry_after_ms;
    /* scratch */
    rc_buf body;
    rc_buf url;
    rc_http_resp resp;
    json_tokener *tok;
};

/* Retry classes for qd_call. */
enum {
    QD_IDEMPOTENT = 0,    /* retried after 429, 502/503/504, dropped connections */
    QD_NOT_IDEMPOTENT = 1 /* retried only after 429 or when no connection could be made */
};

void qd_reset_err(qdrant_client *c);
int qd_set_err(qdrant_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void qd_log(qdrant_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int qd_nomem(qdrant_client *c);

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

/* Validates a collection / alias / field name (non-empty, valid UTF-8, at most 255 bytes). */
int qd_check_name(qdrant_client *c, const char *what, const char *s);
/* Appends "?wait=true&ordering=...&timeout=..." for w (NULL: defaults) to b. */
int qd_write_query(rc_buf *b, const qdrant_write_options *w);
int qd_check_write_options(qdrant_client *c, const qdrant_write_options *w);

/* ---- result types (shared by the HTTP code and local.c) ---- */

typedef struct qd_point {
    qdrant_point_id id;
    float score;
    char *payload; /* JSON text or NULL */
    float *vector; /* or NULL */
    size_t dim;
} qd_point;

struct qdrant_point_list {
    size_t n;
    qd_point *pts;
    int has_next;
    qdrant_point_id next;
};

struct qdrant_server_info {
    char *title;
    char *version;
    char *commit;
};

struct qdrant_collection_info {
    qdrant_collection_status status;
    int64_t points;
    size_t size;
    qdrant_distance distance;
    char *json;
    char *metadata; /* config.metadata as JSON text, NULL when none */
};

struct qdrant_name_list {
    rc_strlist names;
};

struct qdrant_alias_list {
    size_t n;
    char **alias;
    char **coll;
};

/* ---- local mode (local.c): each public call checks c->local_dir after validating its
 * arguments and hands over to its ql_* twin, which converts to and from lib/local. ---- */

/* Parses a client URL: 1 and *dir (malloc'ed) for local mode, 0 for http(s), QDRANT_EINVAL for
 * anything else, QDRANT_ENOMEM. */
int ql_parse_url(char **dir, const char *url);
void ql_close(qdrant_client *c);
int ql_readyz(qdrant_client *c);
int ql_server_info(qdrant_server_info **out, qdrant_client *c);
/* metadata: JSON object text (checked by the caller) or NULL. */
int ql_collection_create(qdrant_client *c, const char *name, size_t dim, qdrant_distance d,
                         const char *metadata);
int ql_collection_metadata_update(qdrant_client *c, const char *name, const char *metadata);
int ql_collection_delete(int *out, qdrant_client *c, const char *name);
int ql_collection_exists(int *out, qdrant_client *c, const char *name);
int ql_collection_info(qdrant_collection_info **out, qdrant_client *c, const char *name);
int ql_collections_list(qdrant_name_list **out, qdrant_client *c);
int ql_payload_index_create(qdrant_client *c, const char *collection);
enum { QL_ALIAS_CREATE = 1, QL_ALIAS_DELETE = 2, QL_ALIAS_RENAME = 3, QL_ALIAS_SWITCH = 4 };
/* a, b: (alias, collection) for create and switch, (alias, NULL) for delete, (old, new) for
 * rename. */
int ql_alias_update(qdrant_client *c, int op, const char *a, const char *b);
int ql_aliases_list(qdrant_alias_list **out, qdrant_client *c, const char *collection);
/* Checks every point as the HTTP path does (ids, finite floats, payloads), then writes them
 * in one transaction. */
/* checked: 1 when the caller has already checked ids, vectors and payloads (the uploader);
 * canon (optional): canon[i] != 0 when payloads[i] passed ls_json_canonical_object. */
int ql_upsert(qdrant_client *c, const char *collection, size_t n, const qdrant_point_id *ids,
              const float *vectors, size_t dim, const char *const *payloads, int checked,
              const unsigned char *canon);
int ql_delete(qdrant_client *c, const char *collection, const qdrant_point_id *ids, size_t n);
int ql_delete_by_filter(qdrant_client *c, const char *collection, const qdrant_filter *f);
int ql_get(qdrant_point_list **out, qdrant_client *c, const char *collection,
           const qdrant_point_id *ids, size_t n, int with_payload, int with_vector);
int ql_scroll(qdrant_point_list **out, qdrant_client *c, const char *collection,
              const qdrant_scroll_options *o);
int ql_count(uint64_t *out, qdrant_client *c, const char *collection, const qdrant_filter *f);
int ql_query(qdrant_point_list **out, qdrant_client *c, const char *collection, const float *vector,
             size_t dim, const qdrant_query_options *o);
int ql_query_batch(qdrant_point_list **out, qdrant_client *c, const char *collection,
                   const float *vectors, size_t n, size_t dim, const qdrant_query_options *o);

/* ---- pure functions (unit-tested through the static archive) ---- */

/* Maps a non-2xx status + body to an error code and a message ("" when none). */
int qd_error_for_status(long status, const char *body, size_t len, char *msg, size_t cap);
/* Parses JSON text strictly (one value, nothing but whitespace after). NULL when invalid. */
json_object *qd_parse_json(json_tokener *tok, const char *text, size_t len);

/* Writes one float as a JSON number (shortest round-trip form). -2 when v is not finite. */
int qd_put_f32(rc_buf *b, float v);
/* Writes a double (%.17g, locale-independent). -2 when v is not finite. */
int qd_put_double(rc_buf *b, double v);
/* Writes a JSON array of dim floats. -2 when one is not finite (then *bad receives its index). */
int qd_put_vector(rc_buf *b, const float *v, size_t dim, size_t *bad);
/* Writes an id as a JSON number or string. -2 for an invalid id. */
int qd_put_id(rc_buf *b, const qdrant_point_id *id);
/* Reads an id from a JSON number or UUID string. QDRANT_EPROTOCOL when it is neither. */
int qd_decode_id(qdrant_point_id *out, json_object *v);
/* Writes the upsert body {"points":[...]}. Returns a qdrant_error; err gets the reason. */
int qd_upsert_body(rc_buf *b, size_t n, const qdrant_point_id *ids, const float *vectors,
                   size_t dim, const char *const *payloads, char *err, size_t errcap);
/* 1 when text[0..len) is exactly one strict RFC 8259 JSON value (an object when want_object),
 * valid UTF-8, nested at most QD_JSON_DEPTH deep, with only whitespace around it. */
int qd_json_valid(const char *text, size_t len, int want_object);
/* Checks that text is one JSON object (strict JSON, valid UTF-8); writes it to b trimmed. */
int qd_put_json_object(rc_buf *b, const char *text);
/* Decodes an array of records or scored points (points) and an optional next_page_offset
 * (next, may be NULL or JSON null) into a new list. Returns a qdrant_error; err the reason. */
int qd_decode_points(qdrant_point_list **out, json_object *points, json_object *next, char *err,
                     size_t errcap);
/* Renders a filter; NULL on allocation failure. */
const char *qd_filter_render(const qdrant_filter *f);

#endif
