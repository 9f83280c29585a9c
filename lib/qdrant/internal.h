/* libqdrantc internals shared by its source files (never exported).
 *
 * The library is one front and two backends behind a table of functions (backend.h):
 *
 *   front     client.c collections.c points.c upload.c   the public calls: check every argument,
 *                                                        then c->ops->x(...)
 *   backends  server.c server_*.c (server.h)             HTTP to a Qdrant server
 *             local.c                                    lib/local, in process (local mode)
 *   shared    handle.c results.c ids.c json.c filter.c   error detail, result types, ids, JSON
 *             batch.c                                    text, filters, an upload's batch list
 *
 * Calls go down only: the front calls the backends (through the table) and the shared files;
 * a backend calls the shared files and its own; the shared files call nothing above them. Only
 * local.c includes lib/local's header. */
#ifndef QDRANT_INTERNAL_H
#define QDRANT_INTERNAL_H

#include <stdint.h>

#include <json-c/json.h>

#include "qdrant/qdrant.h"
#include "buf.h"
#include "clock.h"
#include "http.h"

/* Nesting depth accepted in replies and payloads (json-c's default is 32). */
#define QD_JSON_DEPTH 128

struct ls_store;       /* lib/local/lstore.h */
struct qd_backend_ops; /* backend.h */

struct qdrant_client {
    const struct qd_backend_ops *ops; /* the backend serving this handle, chosen by the URL */
    /* options, for every backend */
    int max_retries;
    long backoff_ms;
    long max_backoff_ms;
    long request_timeout_ms;
    qdrant_log_fn log;
    void *log_ud;
    uint64_t rng;
    /* detail of the last call */
    char errmsg[512];
    int http_status;
    long retry_after_ms;
    /* the server backend's (server.c); zero in local mode */
    rc_http *http;
    char *base; /* scheme://host:port[/prefix], no trailing '/' */
    /* 1: /points/query exists; 0: use /points/search; -1: not known yet */
    int has_query_api;
    rc_buf body; /* scratch */
    rc_buf url;
    rc_http_resp resp;
    json_tokener *tok;
    /* the local backend's (local.c); zero in server mode */
    char *local_dir;        /* the store directory */
    int local_scan;         /* qdrant_client_options.local_scan */
    struct ls_store *local; /* opened at the first call that needs it */
};

/* ---- error detail and argument checks (handle.c) ---- */

void qd_reset_err(qdrant_client *c);
int qd_set_err(qdrant_client *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void qd_log(qdrant_client *c, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int qd_nomem(qdrant_client *c);

/* Validates a collection / alias / field name (non-empty, valid UTF-8, at most 255 bytes). */
int qd_check_name(qdrant_client *c, const char *what, const char *s);
int qd_check_write_options(qdrant_client *c, const qdrant_write_options *w);

/* ---- result types (results.c: accessors and destructors; filled by the backends) ---- */

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

/* ---- pure functions (unit-tested through the static archive) ---- */

/* 1 when id is a valid point id (what qdrant_point_id_format accepts) (ids.c). */
int qd_id_valid(const qdrant_point_id *id);
/* Maps a non-2xx status + body to an error code and a message ("" when none)
 * (server_http.c). */
int qd_error_for_status(long status, const char *body, size_t len, char *msg, size_t cap);
/* Parses JSON text strictly (one value, nothing but whitespace after). NULL when invalid
 * (server_http.c). */
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
/* Writes the upsert body {"points":[...]}. Returns a qdrant_error; err gets the reason
 * (server_points.c). */
int qd_upsert_body(rc_buf *b, size_t n, const qdrant_point_id *ids, const float *vectors,
                   size_t dim, const char *const *payloads, char *err, size_t errcap);
/* 1 when text[0..len) is exactly one strict RFC 8259 JSON value (an object when want_object),
 * valid UTF-8, nested at most QD_JSON_DEPTH deep, with only whitespace around it (json.c). */
int qd_json_valid(const char *text, size_t len, int want_object);
/* Checks that text is one JSON object (strict JSON, valid UTF-8); writes it to b trimmed
 * (json.c). */
int qd_put_json_object(rc_buf *b, const char *text);
/* Decodes an array of records or scored points (points) and an optional next_page_offset
 * (next, may be NULL or JSON null) into a new list. Returns a qdrant_error; err the reason
 * (server_points.c). */
int qd_decode_points(qdrant_point_list **out, json_object *points, json_object *next, char *err,
                     size_t errcap);
/* Renders a filter; NULL on allocation failure (filter.c). */
const char *qd_filter_render(const qdrant_filter *f);

#endif
