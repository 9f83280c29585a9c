/*
 * libqdrantc: a C client for the Qdrant vector database's REST API (written against 1.19, works
 * with servers from 1.8; queries fall back to the legacy search endpoint before 1.10), or for a
 * local store directory without a server (see "Local mode" below).
 *
 * Names, errors, ownership (owned out-parameters, borrowed return values), versioned options
 * structs and callbacks follow doc/conventions.md, shared with libdriftq; a function whose
 * comment says otherwise departs from it there.
 *
 * Threading: a qdrant_client may be used by one thread at a time. Separate clients are fully
 * independent. Filters and result lists are plain values: any number of threads may read one
 * concurrently, one thread may modify a filter while no other thread uses it.
 */
#ifndef QDRANT_QDRANT_H
#define QDRANT_QDRANT_H

#include <stddef.h>
#include <stdint.h>

#if defined(QDRANT_BUILDING) && defined(__GNUC__)
#define QDRANT_API __attribute__((visibility("default")))
#else
#define QDRANT_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define QDRANT_VERSION_MAJOR 0
#define QDRANT_VERSION_MINOR 2
#define QDRANT_VERSION_PATCH 0
/* The shared library's ABI major (the soname's number). */
#define QDRANT_ABI_MAJOR 1

/* Error codes. Append-only: values are never renumbered. */
typedef enum qdrant_error {
    QDRANT_OK = 0,
    QDRANT_EINVAL = -1,      /* invalid argument (caught locally, or a 400/422 from the server) */
    QDRANT_ENOMEM = -2,      /* out of memory */
    QDRANT_ETRANSPORT = -3,  /* connection refused/reset, DNS, TLS, cut-off response */
    QDRANT_ETIMEOUT = -4,    /* connect or request timeout */
    QDRANT_ENOTFOUND = -5,   /* 404: unknown collection, alias or point */
    QDRANT_ECONFLICT = -6,   /* 409: e.g. the collection already exists */
    QDRANT_EAUTH = -7,       /* 401 / 403: missing or wrong API key */
    QDRANT_EOVERLOADED = -8, /* 429 after the retry budget was spent */
    QDRANT_EPROTOCOL = -9,   /* a reply that does not follow the API, or is too large */
    QDRANT_ESTOPPED = -10,   /* a callback returned non-zero */
    QDRANT_ESERVER = -11,    /* 5xx (after the retry budget, where retried) */
    /* A write with wait=true answered status "wait_timeout": the server accepted the operation
     * but had not applied it when its timeout ran out. It will normally still be applied. */
    QDRANT_EWAITTIMEOUT = -12,
    /* Local mode (see qdrant_client_options.url): the call or one of its options (e.g. a filter
     * condition the local engine does not implement) is not supported without a server. */
    QDRANT_EUNSUPPORTED = -13,
    /* Local mode: the store directory or its database cannot be created, read or written
     * (permissions, disk full, a damaged database). */
    QDRANT_EIO = -14
} qdrant_error;

/* A static, never-NULL description of an error code. */
QDRANT_API const char *qdrant_strerror(int code);

/* The library's version as "MAJOR.MINOR.PATCH" (static, never NULL). */
QDRANT_API const char *qdrant_version_string(void);

/* ---- Point ids ------------------------------------------------------------------------- */

/* Qdrant ids are either unsigned 64-bit integers or UUIDs. Ids cross this API as this small
 * value type, never as a double: every uint64 value up to UINT64_MAX is kept exactly. */
typedef enum qdrant_id_kind { QDRANT_ID_NUM = 1, QDRANT_ID_UUID = 2 } qdrant_id_kind;

typedef struct qdrant_point_id {
    int kind;               /* qdrant_id_kind */
    uint64_t num;           /* QDRANT_ID_NUM */
    unsigned char uuid[16]; /* QDRANT_ID_UUID: the 16 bytes in RFC 4122 (network) order */
} qdrant_point_id;

/* Space for a formatted id: 20 digits or a 36-character UUID, plus the NUL. */
#define QDRANT_POINT_ID_STRLEN 37

QDRANT_API qdrant_point_id qdrant_point_id_num(uint64_t num);
/* Parses a decimal uint64 ("0".."18446744073709551615", no sign, no leading zeros except "0")
 * or a UUID in its canonical 8-4-4-4-12 hex form (either case). QDRANT_EINVAL otherwise. */
QDRANT_API int qdrant_point_id_parse(qdrant_point_id *out, const char *text);
/* Writes the decimal number or the lower-case canonical UUID into out (cap bytes, at least
 * QDRANT_POINT_ID_STRLEN is always enough). QDRANT_EINVAL for a bad id or a short buffer. */
QDRANT_API int qdrant_point_id_format(char *out, size_t cap, const qdrant_point_id *id);
/* 1 when both ids are valid and equal, else 0. */
QDRANT_API int qdrant_point_id_equal(const qdrant_point_id *a, const qdrant_point_id *b);

/* ---- Client ---------------------------------------------------------------------------- */

typedef struct qdrant_client qdrant_client;

enum { QDRANT_LOG_DEBUG = 0, QDRANT_LOG_INFO = 1, QDRANT_LOG_WARN = 2, QDRANT_LOG_ERROR = 3 };
typedef void (*qdrant_log_fn)(int level, const char *message, void *userdata);

/* 2 adds local_scan; a program built with version 1 keeps working unchanged. */
#define QDRANT_CLIENT_OPTIONS_VERSION 2
typedef struct qdrant_client_options {
    unsigned int version;
    /* Base URL, e.g. "http://127.0.0.1:6333" (a path prefix and a trailing "/" are accepted),
     * or a local store directory (local mode, see "Local mode" below). */
    const char *url;
    /* Sent as the "api-key" header on every request; NULL: none. Never logged. */
    const char *api_key;
    long connect_timeout_ms; /* default 5000 */
    long request_timeout_ms; /* per attempt; default 30000; 0: none */
    /* Retries with exponential backoff and full jitter. Retried: 429 (honouring Retry-After),
     * and for idempotent requests only (reads, point upserts with explicit ids, point and
     * index writes, deletes of points) also 502/503/504 and connections dropped before a reply.
     * Collection create/delete and alias changes are only retried after a 429 or when no
     * connection could be made at all. Timeouts are never retried. */
    int max_retries;           /* default 3; 0 disables retries */
    long retry_backoff_ms;     /* first backoff, default 100 */
    long retry_max_backoff_ms; /* cap on one backoff, default 5000 */
    int tls_verify;            /* verify the server's certificate and host name; default 1 */
    const char *ca_file;       /* optional CA bundle (PEM) */
    const char *ca_path;       /* optional CA directory */
    const char *user_agent;    /* default "libqdrantc/<version>" */
    qdrant_log_fn log;         /* optional */
    void *log_userdata;
    size_t max_response_bytes; /* cap on a reply body; default 64 MiB */
    /* Local mode only (version 2). 0 (default): a collection's points are held in memory from
     * its first read on, so repeated queries are fast; memory grows with the collection.
     * 1: nothing of a collection is held: each get, scroll, count and query reads the store on
     * disk (memory stays flat whatever the collection's size; a query reads the whole
     * collection, so send several together with qdrant_point_query_batch). Same answers. */
    int local_scan;
} qdrant_client_options;

#define QDRANT_CLIENT_OPTIONS_INIT                                                                 \
    {                                                                                              \
        QDRANT_CLIENT_OPTIONS_VERSION, NULL, NULL, 5000, 30000, 3, 100, 5000, 1, NULL, NULL, NULL, \
            NULL, NULL, 64u << 20, 0                                                               \
    }

/* Fills opts with the defaults for the given version (1 or 2: only that version's fields are
 * written). Returns QDRANT_EINVAL for an unknown one. */
QDRANT_API int qdrant_client_options_init(qdrant_client_options *opts, unsigned int version);

/* Creates a client. No connection is made (and no local store opened) until the first call.
 * QDRANT_EINVAL for options or a URL that cannot be used (see below). */
QDRANT_API int qdrant_client_new(qdrant_client **out, const qdrant_client_options *opts);

/* ---- Local mode -------------------------------------------------------------------------
 *
 * The URL chooses the backend:
 *  - "http://..." or "https://...": a Qdrant server over its REST API.
 *  - "file:///abs/path" (or "file://localhost/abs/path"; %XX escapes are decoded, "?" and "#"
 *    are refused), an absolute path "/abs/path", or a relative path starting with "./" or
 *    "../" (resolved against the working directory at qdrant_client_new): local mode, on a
 *    store directory. No server: points live in an SQLite database (WAL) in that directory,
 *    vectors are searched exactly (brute force) in memory. Several clients and processes may
 *    share a store. Anything else (e.g. "data" or "ftp://...") is refused with QDRANT_EINVAL.
 *
 * The store is opened lazily, at the first call that needs it, so that a failure's message
 * lands on the handle (qdrant_client_errmsg); a failed open is tried again at the next call.
 * The directory is created (one level) when missing; an empty directory becomes a store.
 * Opening fails with QDRANT_EINVAL when the path is not a store (a file, or a non-empty
 * directory without the store's marker file) and with QDRANT_EIO when it cannot be created or
 * written (permissions), or the store is damaged: its database is garbage, or is missing or
 * empty though the directory is a store (marker or segment files) — such a store is never
 * silently replaced by a new empty one.
 *
 * Code written against this header runs unchanged on either backend, with the same error codes
 * for the same situations (wrong dimension: QDRANT_EINVAL, unknown collection: QDRANT_ENOTFOUND,
 * existing collection: QDRANT_ECONFLICT, an alias named like a collection: QDRANT_ECONFLICT, a
 * collection named like an alias: QDRANT_EINVAL) and the server's messages. Differences:
 *  - qdrant_health always succeeds; qdrant_ready succeeds when the store opens. Server info:
 *    title "qdrant local mode", version qdrant_version_string(), commit "".
 *  - Collection options (HNSW, on_disk, indexing threshold) are accepted and ignored; payload
 *    index creation is a no-op success (indexes only make a server faster), QDRANT_ENOTFOUND
 *    for an unknown collection as on a server. Collection info reports status green and only
 *    size, distance, points_count and metadata in its JSON. Metadata is kept with the same
 *    keys, order and merge rules as on a server; a number keeps the text it was given in (a
 *    server may write 1.50 as 1.5).
 *  - Writes are applied (and durable against a process crash) before the call returns: the
 *    write options' wait/ordering/timeout do not apply. The uploader writes its batches one
 *    after the other in the calling thread (no parallelism, no retries); progress, stopping
 *    and the failed-point result work as with a server.
 *  - Alias changes are all-or-nothing: qdrant_alias_switch either points the alias at the new
 *    collection or changes nothing. Renaming an alias onto a collection's name is refused
 *    (QDRANT_ECONFLICT).
 *  - Filter conditions the local engine does not implement (geo, full-text, values_count,
 *    datetime ranges, ...) fail with QDRANT_EUNSUPPORTED, never with a wrong answer.
 *  - qdrant_client_http_status() is 0 and qdrant_client_connections() 0; api_key, timeouts,
 *    retries, TLS and user agent options are ignored. A write waiting on another process's
 *    lock fails with QDRANT_ETIMEOUT after request_timeout_ms (10 s when 0). */
QDRANT_API void qdrant_client_free(qdrant_client *client);

/* Detail of the client's last failed call (borrowed, valid until the next call on the client):
 * the server's message ({"status":{"error":...}} or a plain-text body) or a local reason. */
QDRANT_API const char *qdrant_client_errmsg(const qdrant_client *client);
QDRANT_API int qdrant_client_http_status(const qdrant_client *client);     /* 0: none */
QDRANT_API long qdrant_client_retry_after_ms(const qdrant_client *client); /* -1: none */
/* TCP connections opened so far (connection reuse shows as a number that stays put). */
QDRANT_API long qdrant_client_connections(const qdrant_client *client);
/* 1 when the client works on a local store (local mode), 0 for a server or a NULL client.
 * Useful to size batches: in local mode each qdrant_point_upload batch is one transaction,
 * and larger transactions (thousands of points) write much less. */
QDRANT_API int qdrant_client_is_local(const qdrant_client *client);

/* ---- Server ---------------------------------------------------------------------------- */

/* qdrant_health: GET /healthz, qdrant_ready: GET /readyz; 0 when the server answers 200. Not
 * behind the API key. */
QDRANT_API int qdrant_health(qdrant_client *client);
QDRANT_API int qdrant_ready(qdrant_client *client);

/* GET /: the server's title, version and commit. The version is also remembered by the client
 * (it decides whether queries use /points/query or the pre-1.10 /points/search). */
typedef struct qdrant_server_info qdrant_server_info;
QDRANT_API int qdrant_server_info_get(qdrant_server_info **out, qdrant_client *client);
/* Borrowed from info, valid until qdrant_server_info_free(info). */
QDRANT_API const char *qdrant_server_info_title(const qdrant_server_info *info);
QDRANT_API const char *qdrant_server_info_version(const qdrant_server_info *info);
QDRANT_API const char *qdrant_server_info_commit(const qdrant_server_info *info); /* "" if none */
QDRANT_API void qdrant_server_info_free(qdrant_server_info *info);

/* ---- Collections ----------------------------------------------------------------------- */

typedef enum qdrant_distance {
    QDRANT_DISTANCE_UNKNOWN = 0, /* only ever reported, never accepted */
    QDRANT_DISTANCE_COSINE = 1,
    QDRANT_DISTANCE_DOT = 2,
    QDRANT_DISTANCE_EUCLID = 3,
    QDRANT_DISTANCE_MANHATTAN = 4
} qdrant_distance;

/* Every field left at QDRANT_UNSET is left out of the request, so the server's default (or its
 * configuration file) applies. */
#define QDRANT_UNSET (-1)

/* 2 adds metadata; a program built with version 1 keeps working unchanged. */
#define QDRANT_COLLECTION_OPTIONS_VERSION 2
typedef struct qdrant_collection_options {
    unsigned int version;
    int on_disk;                  /* vectors on disk: 0/1, or QDRANT_UNSET */
    long hnsw_m;                  /* >= 0 (0 disables the HNSW graph), or QDRANT_UNSET */
    long hnsw_ef_construct;       /* >= 4, or QDRANT_UNSET */
    long long indexing_threshold; /* KB, >= 0 (0 disables indexing), or QDRANT_UNSET */
    /* Version 2. The collection's metadata: any JSON object (text, copied), stored with the
     * collection as given (keys set to null included) and reported by
     * qdrant_collection_info_metadata(); NULL (default): none. Not a JSON object: QDRANT_EINVAL
     * and nothing is sent. Needs Qdrant 1.15.4 or later (older servers ignore it). */
    const char *metadata;
} qdrant_collection_options;

#define QDRANT_COLLECTION_OPTIONS_INIT                                                             \
    {                                                                                              \
        QDRANT_COLLECTION_OPTIONS_VERSION, QDRANT_UNSET, QDRANT_UNSET, QDRANT_UNSET, QDRANT_UNSET, \
            NULL                                                                                   \
    }
/* Fills opts with the defaults for the given version (1 or 2: only that version's fields are
 * written). Returns QDRANT_EINVAL for an unknown one. */
QDRANT_API int qdrant_collection_options_init(qdrant_collection_options *opts,
                                              unsigned int version);

/* PUT /collections/{name}: one unnamed dense vector of dim floats per point. opts may be NULL;
 * a version-1 struct is read only up to its last field. QDRANT_ECONFLICT when the collection
 * exists. Names: 1..255 bytes of UTF-8. */
QDRANT_API int qdrant_collection_create(qdrant_client *client, const char *name, size_t dim,
                                        qdrant_distance distance,
                                        const qdrant_collection_options *opts);

/* DELETE /collections/{name}. Deleting a missing collection is not an error: *out (optional)
 * receives 1 when the collection existed and was deleted, 0 when there was none. */
QDRANT_API int qdrant_collection_delete(int *out, qdrant_client *client, const char *name);

/* GET /collections/{name}/exists: *out receives 1 or 0 (aliases count as existing). Falls back
 * to GET /collections/{name} on servers older than 1.8. */
QDRANT_API int qdrant_collection_exists(int *out, qdrant_client *client, const char *name);

typedef enum qdrant_collection_status {
    QDRANT_STATUS_UNKNOWN = 0,
    QDRANT_STATUS_GREEN = 1,
    QDRANT_STATUS_YELLOW = 2,
    QDRANT_STATUS_GREY = 3,
    QDRANT_STATUS_RED = 4
} qdrant_collection_status;

/* GET /collections/{name}. */
typedef struct qdrant_collection_info qdrant_collection_info;
QDRANT_API int qdrant_collection_info_get(qdrant_collection_info **out, qdrant_client *client,
                                          const char *name);
QDRANT_API qdrant_collection_status
qdrant_collection_info_status(const qdrant_collection_info *info);
/* Points count; -1 when the server did not report it. */
QDRANT_API int64_t qdrant_collection_info_points_count(const qdrant_collection_info *info);
/* Of the unnamed vector; 0 / QDRANT_DISTANCE_UNKNOWN for collections with named vectors. */
QDRANT_API size_t qdrant_collection_info_vector_size(const qdrant_collection_info *info);
QDRANT_API qdrant_distance qdrant_collection_info_distance(const qdrant_collection_info *info);
/* The whole "result" object as JSON text, for anything without an accessor; borrowed from info,
 * valid until qdrant_collection_info_free(info). */
QDRANT_API const char *qdrant_collection_info_json(const qdrant_collection_info *info);
/* The collection's metadata (config.metadata) as JSON object text, borrowed from info, valid
 * until qdrant_collection_info_free(info); NULL when the collection has none (never given, as a
 * server omits it then). An object whose keys were all removed is "{}", not NULL, as on a
 * server. */
QDRANT_API const char *qdrant_collection_info_metadata(const qdrant_collection_info *info);
QDRANT_API void qdrant_collection_info_free(qdrant_collection_info *info);

/* PATCH /collections/{name} with {"metadata": metadata_json} (a JSON object, checked; nothing
 * is sent when it is not one): merges it into the collection's metadata as Qdrant does, one
 * level deep: each key given replaces that key's value (objects are not merged further), a key
 * given as null is removed, keys not given are kept. When the collection has no metadata yet,
 * the object becomes its metadata exactly as given (keys set to null stay, as null). An alias
 * names its collection; QDRANT_ENOTFOUND for an unknown collection. Not retried after a
 * dropped connection or a 5xx (with null keys a second application is not the same change).
 * Servers before Qdrant 1.15.4 accept the request and ignore the metadata. */
QDRANT_API int qdrant_collection_metadata_update(qdrant_client *client, const char *name,
                                                 const char *metadata_json);

/* A list of names (collections). */
typedef struct qdrant_name_list qdrant_name_list;
/* GET /collections: every collection (aliases are not listed). */
QDRANT_API int qdrant_collection_list_get(qdrant_name_list **out, qdrant_client *client);
QDRANT_API size_t qdrant_name_list_count(const qdrant_name_list *list);
/* The i-th name, borrowed from list, valid until qdrant_name_list_free(list); NULL when i is out
 * of range. */
QDRANT_API const char *qdrant_name_list_at(const qdrant_name_list *list, size_t i);
QDRANT_API int qdrant_name_list_contains(const qdrant_name_list *list, const char *name);
QDRANT_API void qdrant_name_list_free(qdrant_name_list *list);

/* ---- Writes ---------------------------------------------------------------------------- */

typedef enum qdrant_ordering {
    QDRANT_ORDERING_DEFAULT = 0, /* left out: the server's default (weak) */
    QDRANT_ORDERING_WEAK = 1,
    QDRANT_ORDERING_MEDIUM = 2,
    QDRANT_ORDERING_STRONG = 3
} qdrant_ordering;

#define QDRANT_WRITE_OPTIONS_VERSION 1
typedef struct qdrant_write_options {
    unsigned int version;
    /* 1 (the default here, unlike the server's): return once the change is applied and
     * visible to reads. 0: return once it is in the server's write-ahead log. */
    int wait;
    int ordering;   /* qdrant_ordering */
    long timeout_s; /* the server-side wait timeout in seconds; 0: the server's default */
} qdrant_write_options;

#define QDRANT_WRITE_OPTIONS_INIT                                                                  \
    {                                                                                              \
        QDRANT_WRITE_OPTIONS_VERSION, 1, QDRANT_ORDERING_DEFAULT, 0                                \
    }
QDRANT_API int qdrant_write_options_init(qdrant_write_options *opts, unsigned int version);

typedef enum qdrant_field_type {
    QDRANT_FIELD_KEYWORD = 1,
    QDRANT_FIELD_INTEGER = 2,
    QDRANT_FIELD_FLOAT = 3,
    QDRANT_FIELD_BOOL = 4,
    QDRANT_FIELD_GEO = 5,
    QDRANT_FIELD_TEXT = 6,
    QDRANT_FIELD_DATETIME = 7,
    QDRANT_FIELD_UUID = 8
} qdrant_field_type;

/* PUT /collections/{name}/index: a payload index on field (a payload key or JSON path).
 * w may be NULL. */
QDRANT_API int qdrant_payload_index_create(qdrant_client *client, const char *collection,
                                           const char *field, qdrant_field_type type,
                                           const qdrant_write_options *w);

/* ---- Points ---------------------------------------------------------------------------- */

/* PUT /collections/{name}/points: n points, point i has id ids[i], the dim floats at
 * vectors[i * dim] and, when payloads and payloads[i] are non-NULL, the payload payloads[i]
 * (JSON object text; the point's old payload is replaced). NaN and infinities are refused
 * locally (QDRANT_EINVAL), as are payloads that are not a JSON object. Idempotent: retried.
 * The whole batch is one request (the server refuses bodies over 32 MiB by default). */
QDRANT_API int qdrant_point_upsert(qdrant_client *client, const char *collection, size_t n,
                                   const qdrant_point_id *ids, const float *vectors, size_t dim,
                                   const char *const *payloads, const qdrant_write_options *w);

/* ---- Batch upload --------------------------------------------------------------------- */

/* Progress of qdrant_point_upload, reported after each batch settles. */
typedef struct qdrant_upload_progress {
    size_t points_total;
    size_t points_done;   /* acknowledged by the server */
    size_t points_failed; /* given up on (see the result) */
    size_t batches_total; /* grows when a batch is split to fit the body limit */
    size_t batches_done;
    size_t retries; /* batch retries so far */
} qdrant_upload_progress;

/* Return non-zero to stop: batches not yet sent fail with QDRANT_ESTOPPED. */
typedef int (*qdrant_upload_progress_fn)(const qdrant_upload_progress *progress, void *userdata);

#define QDRANT_UPLOAD_OPTIONS_VERSION 1
typedef struct qdrant_upload_options {
    unsigned int version;
    size_t batch_points;       /* points per request; default 256 */
    size_t max_body_bytes;     /* a batch whose body is larger is split (>= 64); default 30 MiB (the
                                  server     refuses bodies over 32 MiB by default) */
    int parallel;              /* requests in flight at once, 1..16; default 3 */
    int max_retries;           /* per batch (each batch is sent at most 1 + max_retries times,
                                  whatever the other batches used): 429, 502/503/504 (honouring
                                  Retry-After), timeouts and dropped connections; default 5 */
    long retry_backoff_ms;     /* default 200 */
    long retry_max_backoff_ms; /* default 10000 */
    int wait;                  /* as in qdrant_write_options; default 1 */
    int ordering;              /* qdrant_ordering */
    qdrant_upload_progress_fn progress; /* optional */
    void *progress_userdata;
} qdrant_upload_options;

#define QDRANT_UPLOAD_OPTIONS_INIT                                                                 \
    {                                                                                              \
        QDRANT_UPLOAD_OPTIONS_VERSION, 256, 30u << 20, 3, 5, 200, 10000, 1,                        \
            QDRANT_ORDERING_DEFAULT, NULL, NULL                                                    \
    }
QDRANT_API int qdrant_upload_options_init(qdrant_upload_options *opts, unsigned int version);

/* Which points an upload could not store, and why. */
typedef struct qdrant_upload_result qdrant_upload_result;
QDRANT_API size_t qdrant_upload_result_failed_count(const qdrant_upload_result *r);
/* The index (into the arrays given to qdrant_point_upload) of the i-th failed point, in
 * ascending order; (size_t)-1 when i is out of range. */
QDRANT_API size_t qdrant_upload_result_failed_index(const qdrant_upload_result *r, size_t i);
/* The error code and message of the batch the i-th failed point was in; the message is borrowed
 * from r, valid until qdrant_upload_result_free(r). */
QDRANT_API int qdrant_upload_result_failed_error(const qdrant_upload_result *r, size_t i);
QDRANT_API const char *qdrant_upload_result_failed_message(const qdrant_upload_result *r, size_t i);
QDRANT_API void qdrant_upload_result_free(qdrant_upload_result *r);

/* Uploads n points (same arrays as qdrant_point_upsert) in batches, several requests in
 * parallel over kept-alive connections, retrying failed batches with backoff. Every id, vector
 * and payload is checked before anything is sent: bad input fails the whole call with
 * QDRANT_EINVAL and sends nothing. Returns QDRANT_OK when every point was stored; otherwise the
 * first failed batch's error, with a summary on the client. Whenever anything was attempted,
 * *out (which may be NULL when not wanted) receives the result listing exactly the points that
 * failed, empty on success. Upserts are idempotent, so re-uploading the failed ones is safe. */
QDRANT_API int qdrant_point_upload(qdrant_upload_result **out, qdrant_client *client,
                                   const char *collection, size_t n, const qdrant_point_id *ids,
                                   const float *vectors, size_t dim, const char *const *payloads,
                                   const qdrant_upload_options *opts);

/* A list of points returned by get, scroll and query. Accessors take an index below
 * qdrant_point_list_count(); out of range they return NULL / 0. Every pointer they return is
 * borrowed from list, valid until qdrant_point_list_free(list). */
typedef struct qdrant_point_list qdrant_point_list;
QDRANT_API size_t qdrant_point_list_count(const qdrant_point_list *list);
QDRANT_API const qdrant_point_id *qdrant_point_list_id(const qdrant_point_list *list, size_t i);
/* The similarity score (query results); 0 for get and scroll. */
QDRANT_API float qdrant_point_list_score(const qdrant_point_list *list, size_t i);
/* The payload as JSON object text (borrowed from list); NULL when it was not requested. */
QDRANT_API const char *qdrant_point_list_payload(const qdrant_point_list *list, size_t i);
/* The unnamed dense vector (borrowed from list), its length in *dim (optional); NULL when not
 * requested. */
QDRANT_API const float *qdrant_point_list_vector(const qdrant_point_list *list, size_t i,
                                                 size_t *dim);
/* Scroll: the offset of the next page (borrowed from list), or NULL when this was the last
 * page. */
QDRANT_API const qdrant_point_id *qdrant_point_list_next_page(const qdrant_point_list *list);
QDRANT_API void qdrant_point_list_free(qdrant_point_list *list);

/* POST /collections/{name}/points: the points among ids that exist, each once. */
QDRANT_API int qdrant_point_get(qdrant_point_list **out, qdrant_client *client,
                                const char *collection, const qdrant_point_id *ids, size_t n,
                                int with_payload, int with_vector);

/* ---- Filters --------------------------------------------------------------------------- */

/* A filter is built from conditions, each added to one of three clauses. An empty filter
 * matches every point. */
typedef struct qdrant_filter qdrant_filter;
typedef enum qdrant_clause {
    QDRANT_MUST = 0,    /* every condition must hold */
    QDRANT_SHOULD = 1,  /* at least one must hold */
    QDRANT_MUST_NOT = 2 /* none may hold */
} qdrant_clause;

#define QDRANT_RANGE_GT 1u
#define QDRANT_RANGE_GTE 2u
#define QDRANT_RANGE_LT 4u
#define QDRANT_RANGE_LTE 8u
/* A numeric range: only the bounds named in flags are sent. */
typedef struct qdrant_range {
    unsigned int flags;
    double gt, gte, lt, lte;
} qdrant_range;

QDRANT_API int qdrant_filter_new(qdrant_filter **out);
QDRANT_API void qdrant_filter_free(qdrant_filter *filter);
/* {"key":key,"match":{"value":...}}: a string (keyword), an integer or a boolean. */
QDRANT_API int qdrant_filter_match_keyword(qdrant_filter *filter, qdrant_clause clause,
                                           const char *key, const char *value);
QDRANT_API int qdrant_filter_match_int(qdrant_filter *filter, qdrant_clause clause, const char *key,
                                       int64_t value);
QDRANT_API int qdrant_filter_match_bool(qdrant_filter *filter, qdrant_clause clause,
                                        const char *key, int value);
/* {"key":key,"range":{...}}: at least one bound; NaN and infinities are refused. */
QDRANT_API int qdrant_filter_range(qdrant_filter *filter, qdrant_clause clause, const char *key,
                                   const qdrant_range *range);
/* {"has_id":[...]}: n >= 1 ids. */
QDRANT_API int qdrant_filter_has_id(qdrant_filter *filter, qdrant_clause clause,
                                    const qdrant_point_id *ids, size_t n);
/* Any other condition (a Condition object of the API, e.g. a nested filter or a geo radius),
 * as JSON object text; it is checked to be a JSON object and sent as given. */
QDRANT_API int qdrant_filter_raw(qdrant_filter *filter, qdrant_clause clause,
                                 const char *condition_json);
/* The filter as JSON text (borrowed, valid until the filter is changed or freed). */
QDRANT_API const char *qdrant_filter_json(const qdrant_filter *filter);

/* ---- Reading points -------------------------------------------------------------------- */

#define QDRANT_SCROLL_OPTIONS_VERSION 1
typedef struct qdrant_scroll_options {
    unsigned int version;
    uint32_t limit;                /* page size; 0: the server's default (10) */
    const qdrant_point_id *offset; /* first id of the page (a next_page); NULL: from the start */
    const qdrant_filter *filter;   /* NULL: every point */
    int with_payload;              /* default 1 */
    int with_vector;               /* default 0 */
} qdrant_scroll_options;

#define QDRANT_SCROLL_OPTIONS_INIT                                                                 \
    {                                                                                              \
        QDRANT_SCROLL_OPTIONS_VERSION, 0, NULL, NULL, 1, 0                                         \
    }
QDRANT_API int qdrant_scroll_options_init(qdrant_scroll_options *opts, unsigned int version);

/* POST /collections/{name}/points/scroll: one page in id order. Pass the page's
 * qdrant_point_list_next_page() as the next call's offset until it is NULL. opts may be NULL. */
QDRANT_API int qdrant_point_scroll(qdrant_point_list **out, qdrant_client *client,
                                   const char *collection, const qdrant_scroll_options *opts);

/* Called once per point of a qdrant_point_scroll_each(); the list and index are borrowed for
 * the call. Return 0 to go on, non-zero to stop (the scroll then returns QDRANT_ESTOPPED). */
typedef int (*qdrant_point_fn)(const qdrant_point_list *page, size_t i, void *userdata);
/* Scrolls every page from opts->offset on, calling fn per point. */
QDRANT_API int qdrant_point_scroll_each(qdrant_client *client, const char *collection,
                                        const qdrant_scroll_options *opts, qdrant_point_fn fn,
                                        void *userdata);

/* POST /collections/{name}/points/count with exact counting; filter may be NULL. */
QDRANT_API int qdrant_point_count(uint64_t *out, qdrant_client *client, const char *collection,
                                  const qdrant_filter *filter);

#define QDRANT_QUERY_OPTIONS_VERSION 1
typedef struct qdrant_query_options {
    unsigned int version;
    uint32_t limit;              /* 0: 10 */
    uint32_t offset;             /* results to skip */
    const qdrant_filter *filter; /* NULL: none */
    int use_score_threshold;     /* 1: send score_threshold */
    float score_threshold;       /* only scores better than this (strictly) */
    int with_payload;            /* default 1 */
    int with_vector;             /* default 0 */
} qdrant_query_options;

#define QDRANT_QUERY_OPTIONS_INIT                                                                  \
    {                                                                                              \
        QDRANT_QUERY_OPTIONS_VERSION, 0, 0, NULL, 0, 0.0f, 1, 0                                    \
    }
QDRANT_API int qdrant_query_options_init(qdrant_query_options *opts, unsigned int version);

/* Nearest neighbours of vector (dim floats), best first, with their scores. Uses
 * POST /collections/{name}/points/query; against a server older than 1.10 (known from
 * qdrant_server_info_get(), or from a 404 without an error envelope on /points/query, then
 * remembered by the client) it uses POST /collections/{name}/points/search instead, with the
 * same results. opts may be NULL. */
QDRANT_API int qdrant_point_query(qdrant_point_list **out, qdrant_client *client,
                                  const char *collection, const float *vector, size_t dim,
                                  const qdrant_query_options *opts);

/* n >= 1 queries in one request: POST /collections/{name}/points/query/batch (before 1.10:
 * /points/search/batch). Query i has the dim floats at vectors[i * dim] and options opts[i]
 * (opts may be NULL: the defaults for all). On success out[0..n) receive one list each (each
 * freed with qdrant_point_list_free); on failure out is left untouched. In local mode with
 * local_scan the n queries share one pass over the points. */
QDRANT_API int qdrant_point_query_batch(qdrant_point_list **out, qdrant_client *client,
                                        const char *collection, const float *vectors, size_t n,
                                        size_t dim, const qdrant_query_options *opts);

/* ---- Deleting points ------------------------------------------------------------------- */

/* POST /collections/{name}/points/delete by ids (n >= 1) or by a filter. w may be NULL. */
QDRANT_API int qdrant_point_delete(qdrant_client *client, const char *collection,
                                   const qdrant_point_id *ids, size_t n,
                                   const qdrant_write_options *w);
QDRANT_API int qdrant_point_delete_by_filter(qdrant_client *client, const char *collection,
                                             const qdrant_filter *filter,
                                             const qdrant_write_options *w);

/* ---- Aliases --------------------------------------------------------------------------- */

/* Each change is one POST /collections/aliases. The server applies its actions in order and
 * does NOT roll back earlier actions when a later one fails. */
QDRANT_API int qdrant_alias_create(qdrant_client *client, const char *alias,
                                   const char *collection);
QDRANT_API int qdrant_alias_delete(qdrant_client *client, const char *alias);
QDRANT_API int qdrant_alias_rename(qdrant_client *client, const char *old_alias,
                                   const char *new_alias);
/* Points alias at collection in one request: [delete_alias, create_alias] when the alias
 * exists (looked up first with GET /aliases), [create_alias] alone when it does not yet.
 * Readers never see the alias missing when it existed before. If create_alias fails (e.g. the
 * collection does not exist) the delete is NOT undone: the alias is then gone. Another client
 * creating or deleting the same alias between the lookup and the change makes it fail. */
QDRANT_API int qdrant_alias_switch(qdrant_client *client, const char *alias,
                                   const char *collection);

typedef struct qdrant_alias_list qdrant_alias_list;
/* GET /aliases: every alias. */
QDRANT_API int qdrant_alias_list_get(qdrant_alias_list **out, qdrant_client *client);
/* GET /collections/{name}/aliases: the aliases of one collection. */
QDRANT_API int qdrant_collection_alias_list_get(qdrant_alias_list **out, qdrant_client *client,
                                                const char *collection);
QDRANT_API size_t qdrant_alias_list_count(const qdrant_alias_list *list);
/* The i-th alias and its collection, borrowed from list, valid until qdrant_alias_list_free(list);
 * NULL when i is out of range. */
QDRANT_API const char *qdrant_alias_list_alias(const qdrant_alias_list *list, size_t i);
QDRANT_API const char *qdrant_alias_list_collection(const qdrant_alias_list *list, size_t i);
/* The collection alias points at (borrowed from list, as above), or NULL when the list does not
 * have it. */
QDRANT_API const char *qdrant_alias_list_find(const qdrant_alias_list *list, const char *alias);
QDRANT_API void qdrant_alias_list_free(qdrant_alias_list *list);

#ifdef __cplusplus
}
#endif

#endif /* QDRANT_QDRANT_H */
