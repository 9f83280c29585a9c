/* Local mode engine: a Qdrant-compatible point store in a directory, no server (internal).
 *
 * A store is a directory holding a marker file (LS_MARKER_NAME), one SQLite database in WAL
 * mode (store.db) and, for collections that received batches of 256 points or more, a vector
 * segment file each (the vectors of those batches, written once; the database names their
 * records). Every write is one SQLite transaction: a crash or kill -9 at any moment leaves
 * the store as of the last acknowledged call. Several processes may use one store at once:
 * writers serialise on SQLite's write lock (waiting up to busy_timeout_ms), readers never block
 * and see another process's committed writes on their next call.
 *
 * Vectors of each collection are held in memory as one contiguous float array (loaded on first
 * use of the collection, kept up to date incrementally through a per-collection change counter),
 * and searched exactly by brute force.
 *
 * Conventions: functions return 0 or a negative LS_E* code; on failure the message is kept on
 * the store handle (ls_errmsg) until the next call, and output parameters are left untouched.
 * Output parameters come first. What comes back through `T **out` is the caller's, freed with
 * the NULL-safe `T_free`. Every string and array passed in is copied or only read during the
 * call. The library never prints, exits or aborts. One thread at a time per ls_store; separate
 * handles (in one process or several) are independent.
 *
 * Semantics are Qdrant 1.19's for a collection of one unnamed dense vector, as each call below
 * states them: names, ids, payloads, filters, scores, orders and error cases are Qdrant's, and
 * messages use Qdrant's wording where Qdrant has one. A call that reads or writes a collection
 * (its existence, info, metadata or points) takes an alias of it too, as Qdrant resolves names
 * (TableOfContent::resolve_name: an alias first, then the collection itself); the alias calls
 * and ls_collection_delete take names as they are. Two deliberate differences, both stricter:
 * ls_aliases_update applies its actions all-or-nothing (Qdrant applies them in order and keeps
 * those before a failing one), and it refuses to rename an alias onto a collection's name
 * (Qdrant does not check). */
#ifndef LS_LSTORE_H
#define LS_LSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (append-only). */
enum {
    LS_OK = 0,
    LS_EINVAL = -1,       /* bad argument, bad JSON, bad name, bad filter */
    LS_ENOMEM = -2,       /* out of memory */
    LS_ENOTFOUND = -3,    /* unknown collection or alias ("Not found: ...") */
    LS_EEXISTS = -4,      /* the collection already exists (Qdrant's 409) */
    LS_ENAMECLASH = -5,   /* an alias name clashes with a collection name, or the reverse */
    LS_EDIM = -6,         /* vector of the wrong dimension */
    LS_ENONFINITE = -7,   /* NaN or infinity in a vector */
    LS_EUNSUPPORTED = -8, /* a Qdrant feature that local mode does not implement */
    LS_ENOTSTORE = -9,    /* the directory is not a store (non-empty, no marker) */
    LS_EACCES = -10,      /* the directory or database cannot be created or written */
    LS_EIO = -11,         /* I/O or database error (disk full, ...) */
    LS_EBUSY = -12,       /* the store stayed locked by another writer past busy_timeout_ms */
    LS_ECORRUPT = -13,    /* the store is damaged (database garbage, or missing or empty in a
                             directory that is a store) or of an unknown format version */
};

/* A static, never-NULL name for an error code. */
const char *ls_strerror(int code);

/* The marker file that makes a directory a store. */
#define LS_MARKER_NAME ".qdrant-local-store"

/* ---- Point ids (same layout as qdrant_point_id) ---------------------------------------- */

enum { LS_ID_NUM = 1, LS_ID_UUID = 2 };
typedef struct ls_id {
    int kind;               /* LS_ID_NUM or LS_ID_UUID */
    uint64_t num;           /* LS_ID_NUM */
    unsigned char uuid[16]; /* LS_ID_UUID, RFC 4122 byte order */
} ls_id;

ls_id ls_id_num(uint64_t num);
/* Qdrant's order: every integer id before every UUID, integers ascending, UUIDs by bytes. */
int ls_id_cmp(const ls_id *a, const ls_id *b);
/* Parses an id as Qdrant's JSON carries it: a decimal uint64 (no sign) or a UUID string in any
 * form Qdrant takes (hyphenated, 32 hex digits, {braced}, urn:uuid:). 0 or LS_EINVAL. */
int ls_id_parse(ls_id *out, const char *text, size_t len);
/* Decimal or lower-case hyphenated UUID; cap >= 37 always suffices. Returns the length or -1. */
int ls_id_format(char *out, size_t cap, const ls_id *id);

/* ---- Store ----------------------------------------------------------------------------- */

typedef struct ls_store ls_store;

#define LS_OPEN_OPTIONS_VERSION 2 /* 1: without scan */
typedef struct ls_open_options {
    unsigned int version;
    /* 1: create the directory (one level) when it does not exist. An existing empty directory
     * is always made a store. */
    int create;
    /* 0 (default): a write is durable against process crashes (kill -9) as soon as the call
     * returns; a power loss may drop the last writes but never corrupts the store (SQLite WAL,
     * synchronous=NORMAL). 1: every write is also fsync'ed before the call returns
     * (synchronous=FULL), durable against power loss. */
    int sync_full;
    /* How long a write waits for another process's write lock, in ms; 0: 10000. */
    long busy_timeout_ms;
    /* 0 (default): a collection's points are held in memory from its first read on (fast
     * repeated queries; memory grows with the collection). 1: nothing is held: every get,
     * scroll, count and query reads the database (memory stays flat whatever the collection's
     * size; each query reads the whole collection, so batch queries with ls_query_batch). The
     * answers are the same either way. (Version 2.) */
    int scan;
} ls_open_options;
#define LS_OPEN_OPTIONS_INIT                                                                       \
    {                                                                                              \
        LS_OPEN_OPTIONS_VERSION, 1, 0, 0, 0                                                        \
    }

/* Opens (creating when allowed) the store in directory dir. opts may be NULL (defaults).
 * On failure *out is untouched and, when errbuf is non-NULL, a message is written there
 * (errcap bytes, NUL-terminated). Errors: LS_ENOTSTORE (non-empty directory without the marker,
 * or not a directory), LS_EACCES (cannot create or write), LS_ENOTFOUND (missing and create=0),
 * LS_ECORRUPT (the database is not a store database, or of an unknown format; or the directory
 * is a store — it has the marker, or segment files — but its database is missing, empty or
 * has no store tables: a damaged store is never made a new empty one; the message names the
 * path), LS_EIO, LS_ENOMEM, LS_EINVAL. */
int ls_open(ls_store **out, const char *dir, const ls_open_options *opts, char *errbuf,
            size_t errcap);
/* Closes the store and frees everything it holds. NULL-safe. */
void ls_close(ls_store *s);
/* The last failure's message (borrowed; "" after a success; valid until the next call). */
const char *ls_errmsg(const ls_store *s);

/* ---- Collections ----------------------------------------------------------------------- */

typedef enum ls_distance {
    LS_COSINE = 1,   /* larger is better; vectors normalised on insert */
    LS_DOT = 2,      /* larger is better */
    LS_EUCLID = 3,   /* a distance: smaller is better */
    LS_MANHATTAN = 4 /* a distance: smaller is better */
} ls_distance;

#define LS_MAX_DIM 65536
#define LS_MAX_NAME 255

/* A new empty collection of one unnamed dense vector of dim (1..LS_MAX_DIM) floats. Names:
 * 1..255 bytes of UTF-8 without any of <>:"/\|?* NUL or 0x1f. LS_EEXISTS when a collection of
 * that name exists, LS_ENAMECLASH when an alias has that name. */
int ls_collection_create(ls_store *s, const char *name, size_t dim, ls_distance distance);
/* Deletes the collection name (an alias name is not followed) and its aliases. *out
 * (optional) receives 1 when it existed, 0 when there was nothing to delete (not an error). */
int ls_collection_delete(int *out, ls_store *s, const char *name);
/* *out: 1 when name is a collection or an alias of one, else 0. */
int ls_collection_exists(int *out, ls_store *s, const char *name);

typedef struct ls_collection_info {
    char name[LS_MAX_NAME + 1]; /* the collection's own name (an alias resolved) */
    size_t dim;
    ls_distance distance;
    uint64_t points_count;
} ls_collection_info;
/* Fills *out for the collection or alias name; LS_ENOTFOUND when there is none. */
int ls_collection_info_get(ls_collection_info *out, ls_store *s, const char *name);

/* Collection metadata (Qdrant's CollectionConfig.metadata): an arbitrary JSON object kept with
 * the collection, or none. It is stored as json-c prints it (keys in the order given, numbers
 * with the text they were given in). Metadata JSON passed in must be one JSON object (strict,
 * UTF-8, no NaN or infinity, nested at most 128 deep): LS_EINVAL otherwise. */

/* ls_collection_create with metadata_json (NULL: none) stored as given, keys set to null
 * included (as Qdrant stores a CreateCollection's metadata). */
int ls_collection_create_with_metadata(ls_store *s, const char *name, size_t dim,
                                       ls_distance distance, const char *metadata_json);
/* ls_collection_info_get, and from the same snapshot *metadata (when metadata is non-NULL):
 * the collection's metadata as JSON object text (malloc'ed, the caller's to free), or NULL
 * when it has none. Nothing is written to either on failure. */
int ls_collection_describe(ls_collection_info *out, char **metadata, ls_store *s, const char *name);
/* Merges patch_json into the metadata of the collection (or alias) name, in one transaction, as
 * Qdrant's UpdateCollection does (Collection::update_metadata):
 *  - no metadata yet: patch_json becomes the metadata exactly as given (null values stay);
 *  - otherwise, for each key of the patch in order: null removes the key, and the last key
 *    moves into its place (serde_json's Map::remove with preserve_order is a swap_remove); any
 *    other value replaces the key's value where it stands, or is added at the end.
 * LS_ENOTFOUND for an unknown collection, LS_EINVAL for a patch that is not a JSON object. */
int ls_collection_metadata_update(ls_store *s, const char *name, const char *patch_json);

/* A list of strings: collection names, or (alias, collection) pairs. */
typedef struct ls_names {
    size_t count;
    char **names;       /* count names (collection names; alias names for alias lists) */
    char **collections; /* alias lists: the collection of each alias; NULL otherwise */
} ls_names;
void ls_names_free(ls_names *list);

/* Every collection, sorted by name (aliases are not listed). */
int ls_collection_list(ls_names **out, ls_store *s);

/* ---- Aliases --------------------------------------------------------------------------- */

typedef enum ls_alias_op {
    LS_ALIAS_CREATE = 1, /* alias -> collection (replaces the alias's target if it exists) */
    LS_ALIAS_DELETE = 2, /* alias (a missing alias is not an error, as in Qdrant) */
    LS_ALIAS_RENAME = 3  /* alias -> new_alias (alias must exist) */
} ls_alias_op;

typedef struct ls_alias_action {
    ls_alias_op op;
    const char *alias;
    const char *collection; /* LS_ALIAS_CREATE */
    const char *new_alias;  /* LS_ALIAS_RENAME */
} ls_alias_action;

/* Applies the n actions in order, as one transaction: either all of them or none (on any
 * error nothing changes, for this process and every other). Errors: LS_ENOTFOUND (create: the
 * collection does not exist; rename: no such alias), LS_ENAMECLASH (the alias, or a rename's
 * new name, is a collection's name), LS_EINVAL. */
int ls_aliases_update(ls_store *s, const ls_alias_action *actions, size_t n);
/* Aliases as (names[i] -> collections[i]) pairs, sorted by collection then alias; collection
 * NULL: every alias, else only that collection's (an unknown collection has none). */
int ls_aliases_list(ls_names **out, ls_store *s, const char *collection);

/* ---- Points ---------------------------------------------------------------------------- */

/* Inserts or overwrites n points (one transaction): point i has id ids[i], the dim floats at
 * vectors[i * dim] and payload payloads[i] (JSON object text) when payloads and payloads[i] are
 * non-NULL, else the empty payload {}. An existing point is replaced whole (vector and payload), as
 * Qdrant's upsert does; a later duplicate id in the batch wins. Cosine vectors are normalised as
 * Qdrant does (ls_cosine_preprocess). Errors: LS_ENOTFOUND, LS_EDIM, LS_ENONFINITE, LS_EINVAL
 * (payload not a JSON object, bad id), LS_EBUSY, LS_EIO. Nothing is written on error. */
int ls_upsert(ls_store *s, const char *collection, size_t n, const ls_id *ids, const float *vectors,
              size_t dim, const char *const *payloads);
/* ls_upsert for a caller that has already run ls_json_canonical_object on the payloads:
 * canonical[i] != 0 when payloads[i] passed it (it is not checked again). canonical may be NULL. */
int ls_upsert_known(ls_store *s, const char *collection, size_t n, const ls_id *ids,
                    const float *vectors, size_t dim, const char *const *payloads,
                    const unsigned char *canonical);

/* Deletes the points among ids that exist (one transaction; as in Qdrant, an id that does not
 * exist is not an error); *out (optional): how many. */
int ls_delete(uint64_t *out, ls_store *s, const char *collection, const ls_id *ids, size_t n);
/* Deletes the points that match filter_json (a Qdrant Filter object; NULL or "" matches all). */
int ls_delete_by_filter(uint64_t *out, ls_store *s, const char *collection,
                        const char *filter_json);

/* A result list. Everything in it is owned by the list. */
typedef struct ls_point {
    ls_id id;
    float score;   /* query results; 0 otherwise */
    char *payload; /* JSON object text, or NULL when not requested */
    float *vector; /* dim floats (cosine: normalised), or NULL when not requested */
} ls_point;
typedef struct ls_points {
    size_t count;
    ls_point *points;
    size_t dim;
    int has_next; /* scroll: 1 when next_page holds the next page's offset */
    ls_id next_page;
} ls_points;
void ls_points_free(ls_points *list);

/* The points among ids that exist, each once, in the order first asked for (as Qdrant's retrieve;
 * an id that does not exist is left out, not an error). */
int ls_get(ls_points **out, ls_store *s, const char *collection, const ls_id *ids, size_t n,
           int with_payload, int with_vector);

typedef struct ls_scroll_params {
    uint32_t limit;          /* >= 1 */
    const ls_id *offset;     /* the first id of the page (a next_page); NULL: from the start */
    const char *filter_json; /* NULL or "": every point */
    int with_payload;
    int with_vector;
} ls_scroll_params;
/* One page in id order (Qdrant's: integers before UUIDs): the first limit matching points from
 * offset on (offset itself included when it is a matching point), with next_page set to the id of
 * the next matching point when there is one. */
int ls_scroll(ls_points **out, ls_store *s, const char *collection, const ls_scroll_params *p);

/* Exact count of the points matching filter_json (NULL or "": all). */
int ls_count(uint64_t *out, ls_store *s, const char *collection, const char *filter_json);

typedef struct ls_query_params {
    uint32_t limit;  /* >= 1 */
    uint32_t offset; /* best results to skip */
    const char *filter_json;
    int use_score_threshold; /* 1: only scores strictly better than score_threshold (for Euclid
                                and Manhattan: strictly smaller) */
    float score_threshold;
    int with_payload;
    int with_vector;
} ls_query_params;
/* Exact nearest neighbours of vector (dim floats), best first; equal scores by id order. The
 * best offset results are skipped, and up to limit of the rest returned. Scores as Qdrant reports
 * them: Cosine and Dot similarities (the dot product, for Cosine of the query normalised as stored
 * vectors are), Euclid and Manhattan distances (the square root of the sum of squared differences;
 * the sum of absolute differences). */
int ls_query(ls_points **out, ls_store *s, const char *collection, const float *vector, size_t dim,
             const ls_query_params *p);

/* n queries on one collection, answered together (in scan mode, in one pass over the points):
 * query i has vector vectors[i * dim] and parameters params[i]. out receives n lists (out[i]
 * for query i; on failure nothing is left in out). The same errors as ls_query, for the first
 * query that has one. */
int ls_query_batch(ls_points **out, ls_store *s, const char *collection, const float *vectors,
                   size_t n, size_t dim, const ls_query_params *params);

/* ---- Engine helpers (shared by the lib/local sources, exposed for tests and benchmarks) -- */

/* Scoring kernels over n floats: plain restrict-qualified loops with 8 accumulators, written
 * so the compiler vectorises them at -O2. */
float ls_kernel_dot(const float *restrict a, const float *restrict b, size_t n);
float ls_kernel_l2sq(const float *restrict a, const float *restrict b, size_t n);
float ls_kernel_l1(const float *restrict a, const float *restrict b, size_t n);
/* The score Qdrant reports for stored vector v against prepared query q. */
float ls_score(ls_distance d, const float *restrict q, const float *restrict v, size_t n);
/* Qdrant's cosine_preprocess: in place; unchanged when the squared norm (f32) is below f32
 * epsilon or within 1e-6 of 1. */
void ls_cosine_preprocess(float *v, size_t n);
/* 1 when ls_cosine_preprocess would leave v unchanged (already unit length, or zero). */
int ls_cosine_unchanged(const float *v, size_t n);

/* 1 when text[0..len) is a JSON object that json-c (strict, UTF-8 validated) parses and prints
 * back byte for byte (plain, no slash escapes) with only integer numbers; 0 when not sure. */
int ls_json_canonical_object(const char *text, size_t len);

/* A compiled Qdrant filter. */
typedef struct ls_filter ls_filter;
/* Compiles filter JSON text. NULL/"" /"null" give *out = NULL (matches everything). Errors:
 * LS_EINVAL (bad JSON or a malformed condition), LS_EUNSUPPORTED; msg (cap bytes) says why. */
int ls_filter_compile(ls_filter **out, const char *json, char *msg, size_t cap);
/* 1 when the point (id, payload object; payload may be NULL for {}) matches. f NULL: 1. */
struct json_object;
int ls_filter_match(const ls_filter *f, const ls_id *id, struct json_object *payload);
void ls_filter_free(ls_filter *f);

/* Testing only (not exported by libqdrantc): when set, called with ls_test_seg_open_ud just
 * before a handle opens a vector segment file its snapshot names, so that a test can make
 * another handle compact the collection at that moment. NULL in normal use; not thread-safe. */
extern void (*ls_test_seg_open_hook)(void *ud);
extern void *ls_test_seg_open_ud;

#ifdef __cplusplus
}
#endif

#endif
