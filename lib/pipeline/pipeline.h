/* The index build pipeline's core (internal, static, not exported): discover a docs folder,
 * chunk documents, embed chunks (pluggable embedders, a persistent embedding cache), and keep the
 * run and index state on disk with the artifacts a replay may reuse. Nothing here talks to Qdrant.
 *
 * Conventions (as lib/local and the public libraries): functions return 0 or a negative RP_E*
 * code; output parameters come first; what comes back through `T **out` is the caller's, freed
 * with the NULL-safe `T_free` (plain malloc'ed strings and arrays with free()); every string passed
 * in is copied or only read during the call; on failure output parameters are left untouched and
 * a message goes to the caller's buffer (err, errlen; may be NULL) or stays on the handle
 * (`*_errmsg`) until its next call. The library never prints, exits or aborts: warnings go to an
 * optional rp_warn_fn. One thread at a time per handle; separate handles are independent.
 *
 * Hashes: rp_hash128() is MurmurHash3_x64_128 (seed 0), written as 32 lower-case hex digits
 * (h1 then h2, each big-endian) — fast, stable across platforms, not cryptographic. */
#ifndef RP_PIPELINE_H
#define RP_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Error codes (append-only). */
enum {
    RP_OK = 0,
    RP_EINVAL = -1,     /* bad argument or name */
    RP_ENOMEM = -2,     /* out of memory */
    RP_EIO = -3,        /* file system error */
    RP_ENOTFOUND = -4,  /* no such run, index, version, artifact or directory */
    RP_EEXISTS = -5,    /* the run already exists */
    RP_EEMPTY = -6,     /* discover found no document */
    RP_EENCODING = -7,  /* invalid UTF-8 where it is not allowed */
    RP_ECHANGED = -8,   /* a document changed on disk since discover */
    RP_ETRANSPORT = -9, /* embedding service unreachable (after retries) */
    RP_EHTTP = -10,     /* embedding service answered an error status (after retries) */
    RP_EPROTOCOL = -11, /* embedding service reply malformed or of the wrong length */
    RP_EDIM = -12,      /* embedding dimension changed or does not match */
    RP_ECORRUPT = -13,  /* a state, artifact or cache file is unreadable */
    RP_ESTOPPED = -14,  /* a callback returned non-zero */
    RP_ESTATE = -15,    /* transition not allowed (e.g. promote a failed version) */
    RP_EBUSY = -16,     /* the run is being executed by another process */
    RP_EQDRANT = -17,   /* Qdrant failed or could not be reached (the build driver) */
};
const char *rp_strerror(int code); /* static, never NULL */

typedef void (*rp_warn_fn)(void *ud, const char *msg);

/* ---- Hashing ----------------------------------------------------------------------------- */

#define RP_HASH_HEX 33 /* 32 hex digits + NUL */
void rp_hash128(uint64_t out[2], const void *data, size_t len);
/* Writes the 32-digit hex form of rp_hash128(data) to out (RP_HASH_HEX bytes). */
void rp_hash_hex(char out[RP_HASH_HEX], const void *data, size_t len);

/* Incremental form of the same hash (identical result for the same byte sequence). */
typedef struct rp_hasher {
    uint64_t h1, h2;
    uint64_t total;
    unsigned char tail[16];
    size_t ntail;
} rp_hasher;
void rp_hasher_init(rp_hasher *h);
void rp_hasher_update(rp_hasher *h, const void *data, size_t len);
void rp_hasher_hex(const rp_hasher *h, char out[RP_HASH_HEX]);

/* 1 when s is a valid run id or index name: [a-z0-9_-]{1,64}. */
int rp_name_valid(const char *s);

/* ---- Discover ---------------------------------------------------------------------------- */

enum { RP_UTF8_REPLACE = 0, RP_UTF8_SKIP = 1 };

typedef struct rp_discover_options {
    unsigned version;
    /* NULL-terminated fnmatch() globs; a glob without '/' matches the file name, one with '/'
     * the whole relative path. NULL: "*.md", "*.markdown", "*.txt", "*.rst". Case-sensitive. */
    const char *const *globs;
    /* Invalid UTF-8 policy. RP_UTF8_REPLACE (default): each maximal invalid subsequence becomes
     * U+FFFD when the document is read, with a warning; RP_UTF8_SKIP: the file is left out with a
     * warning. */
    int invalid_utf8;
    int include_hidden;     /* 0 (default): skip files and directories whose name starts with '.' */
    uint64_t max_file_size; /* larger files are skipped with a warning; 0: 64 MiB */
    rp_warn_fn warn;
    void *warn_ud;
} rp_discover_options;
#define RP_DISCOVER_OPTIONS_INIT                                                                   \
    {                                                                                              \
        1, NULL, RP_UTF8_REPLACE, 0, 0, NULL, NULL                                                 \
    }

typedef struct rp_doc {
    char *id;               /* relative path, '/'-separated: valid UTF-8, no control characters,
                               no empty, "." or ".." component, at most 1024 bytes */
    uint64_t size;          /* bytes on disk */
    char hash[RP_HASH_HEX]; /* rp_hash of the bytes on disk */
    int invalid_utf8;       /* 1 when the text needs U+FFFD replacements */
} rp_doc;

typedef struct rp_corpus {
    char *root;   /* the root as given */
    rp_doc *docs; /* sorted by id, byte-wise (strcmp) */
    size_t n;
    uint64_t total_bytes;
    int invalid_utf8; /* the policy it was discovered with */
} rp_corpus;

/* Walks root recursively. Only regular files are documents. Symbolic links: a link to a regular
 * file whose real path is inside the root is a document under the link's own path; links to
 * directories are never followed (no loops, no escape); links leading out of the root are skipped
 * with a warning. Files with a NUL byte in their first 8 KiB are skipped as binary (warning).
 * Unreadable files and invalid ids are skipped with a warning. Returns RP_EEMPTY when nothing
 * matched, RP_ENOTFOUND when root is not a directory. Memory holds metadata only (no text). */
int rp_discover(rp_corpus **out, const char *root, const rp_discover_options *opts, char *err,
                size_t errlen);
void rp_corpus_free(rp_corpus *c);

/* Reads document i of c (as text: NUL-terminated, invalid UTF-8 replaced by U+FFFD). Returns
 * RP_ECHANGED when its size or hash differs from what discover saw. *out is the caller's. */
int rp_doc_load(char **out, size_t *out_len, const rp_corpus *c, size_t i, char *err,
                size_t errlen);

/* Copies s[0..len) into a new NUL-terminated string, each maximal invalid UTF-8 subsequence
 * replaced by U+FFFD (the "substitution of maximal subparts" practice of Unicode ch. 3). */
int rp_utf8_repair(char **out, size_t *out_len, const char *s, size_t len);

/* ---- Chunk ------------------------------------------------------------------------------- */

typedef struct rp_chunk_options {
    unsigned version;
    size_t size;    /* target chunk length in code points (default 600) */
    size_t overlap; /* code points shared with the previous chunk (default 80; < size) */
} rp_chunk_options;
#define RP_CHUNK_OPTIONS_INIT                                                                      \
    {                                                                                              \
        1, 600, 80                                                                                 \
    }

typedef struct rp_chunk {
    const char *id; /* "<doc id>#<n>" */
    const char *doc_id;
    size_t n;          /* 0, 1, 2, ... within the document */
    const char *text;  /* NUL-terminated copy of the chunk's text */
    size_t len;        /* bytes */
    size_t char_start; /* code point offsets into the document: [char_start, char_end) */
    size_t char_end;
    size_t byte_start; /* the same range in bytes */
    size_t byte_end;
    char hash[RP_HASH_HEX]; /* rp_hash of text */
} rp_chunk;

/* Called once per chunk, in order; everything in *c is valid only during the call. A non-zero
 * return stops chunking (rp_chunk_text then returns RP_ESTOPPED). */
typedef int (*rp_chunk_fn)(const rp_chunk *c, void *ud);

/* Splits one document (valid UTF-8, e.g. from rp_doc_load) into chunks of at most opts->size
 * code points, never inside a code point. Each cut is placed at the last paragraph break (after
 * a blank line) in the second half of the window, else after the last sentence end ([.!?]
 * followed by white space), else after the last white space, else at the window's end. The next
 * chunk starts opts->overlap code points before the cut (moved forward to a word start when one
 * is within the overlap). Chunks holding only white space are dropped. Memory use is
 * proportional to the one document. Returns RP_EENCODING for invalid UTF-8. */
int rp_chunk_text(const char *doc_id, const char *text, size_t len, const rp_chunk_options *opts,
                  rp_chunk_fn fn, void *ud);

/* ---- Embed ------------------------------------------------------------------------------- */

/* An embedder is any struct whose first member is an rp_embedder pointing at its vtable. */
typedef struct rp_embedder rp_embedder;
typedef struct rp_embedder_vtable {
    const char *(*name)(const rp_embedder *e);
    const char *(*model)(const rp_embedder *e);
    size_t (*dim)(const rp_embedder *e); /* 0 while unknown (learned on first use) */
    /* Embeds n texts into *out (n * dim floats, malloc'ed, the caller's). */
    int (*embed_batch)(rp_embedder *e, float **out, const char *const *texts, size_t n);
    const char *(*errmsg)(const rp_embedder *e);
    void (*free)(rp_embedder *e);
} rp_embedder_vtable;
struct rp_embedder {
    const rp_embedder_vtable *vt;
};

const char *rp_embedder_name(const rp_embedder *e);
const char *rp_embedder_model(const rp_embedder *e);
size_t rp_embedder_dim(const rp_embedder *e);
int rp_embed_batch(rp_embedder *e, float **out, const char *const *texts, size_t n);
const char *rp_embedder_errmsg(const rp_embedder *e);
void rp_embedder_free(rp_embedder *e);

/* "hash": deterministic feature hashing (no model, no network). Features: lower-cased (ASCII)
 * word unigrams and bigrams, character 3- and 4-grams over the lower-cased text with white space
 * runs folded to one space; each hashed to a bucket with a sign; weight 1 + ln(tf) per distinct
 * feature; L2-normalised. Model name "fh-v1". dim 0 means 384. */
int rp_embedder_hash_new(rp_embedder **out, size_t dim);
/* For tests and benchmarks: portable != 0 makes a "hash" embedder use its portable C passes
 * even where its AVX-512 ones can run (the output is the same bits either way); 0 restores the
 * default. Returns 1 when the AVX-512 passes are in use, 0 when not, -1 when e is not one. */
int rp_embedder_hash_portable(rp_embedder *e, int portable);

/* "openai": any OpenAI-compatible POST {base_url}/v1/embeddings. */
typedef struct rp_openai_options {
    unsigned version;
    const char *base_url; /* e.g. "http://127.0.0.1:8080" (a trailing "/v1" or "/" is fine) */
    const char *model;    /* required */
    const char *api_key;  /* optional; sent as "Authorization: Bearer", never logged */
    size_t batch_size;    /* texts per request (default 64) */
    int max_retries;      /* on 429, 5xx and transport errors (default 5) */
    long backoff_ms;      /* first backoff, doubled each retry, Retry-After honoured (200) */
    long timeout_ms;      /* per request (default 60000) */
    size_t dim;           /* expected dimension; 0: learned from the first answer */
    size_t max_response;  /* cap on a reply body (default 256 MiB) */
    rp_warn_fn warn;      /* told about each retry */
    void *warn_ud;
} rp_openai_options;
#define RP_OPENAI_OPTIONS_INIT                                                                     \
    {                                                                                              \
        1, NULL, NULL, NULL, 64, 5, 200, 60000, 0, 0, NULL, NULL                                   \
    }
int rp_embedder_openai_new(rp_embedder **out, const rp_openai_options *opts, char *err,
                           size_t errlen);

/* ---- Embedding cache --------------------------------------------------------------------- */

/* A persistent cache of embeddings keyed by (embedder name, model, dim, text hash): one
 * append-only file of checked fixed-size records per (name, model, dim) under dir, indexed in
 * memory when first used (cache.c describes the format). Several processes may share one cache;
 * a crash or power loss can lose recent entries (they are embedded again) but the cache never
 * answers a damaged vector. It is not fsync'ed: it is a cache, not state. */
typedef struct rp_cache rp_cache;
int rp_cache_open(rp_cache **out, const char *dir, char *err, size_t errlen);
void rp_cache_free(rp_cache *c);
const char *rp_cache_errmsg(const rp_cache *c);
/* Where the cache reports what it did not fail for: a damaged cache file set aside (renamed
 * "<file>.damaged-<ms>") and started anew, or vectors it could not store (a full disk): the
 * build goes on without them. fn may be NULL (silent). */
void rp_cache_set_warn(rp_cache *c, rp_warn_fn fn, void *ud);
/* Looks one vector up: *found = 1 and out[0..dim) filled, or *found = 0. */
int rp_cache_get(rp_cache *c, float *out, int *found, const char *name, const char *model,
                 size_t dim, const char *text_hash);
int rp_cache_put(rp_cache *c, const char *name, const char *model, size_t dim,
                 const char *text_hash, const float *v);
/* Embeds n texts (hashes[i] = rp_hash_hex of texts[i]) through the cache: hits are read, the
 * misses embedded with e in one rp_embed_batch call and stored (one transaction). *out is n * dim
 * floats; *hits (may be NULL) gets the number of hits. When e's dimension is not known yet, the
 * cache's only dimension for (name, model), if any, is assumed and verified (RP_EDIM). */
int rp_embed_cached(float **out, size_t *hits, rp_cache *c, rp_embedder *e,
                    const char *const *texts, const char *const *hashes, size_t n);

/* ---- State ------------------------------------------------------------------------------- */

/* A state directory:
 *   <dir>/state.lock                 flock()ed by every writer (readers need no lock)
 *   <dir>/runs/<run id>/run.json     a run's state
 *   <dir>/runs/<run id>/<artifact>   its artifacts
 *   <dir>/indexes/<index>.json       an index's versions and active version
 * Every file is replaced atomically (temp file, fsync, rename, fsync of the directory): a reader
 * or a crash sees the old or the new complete file. Run ids and index names must pass
 * rp_name_valid(). */
typedef struct rp_state rp_state;
/* Creates dir (and its missing parents) when needed. */
int rp_state_open(rp_state **out, const char *dir, char *err, size_t errlen);
/* mkdir -p: path and its missing parents (0700: state is private). RP_OK, or RP_EINVAL/RP_EIO with
 * a message. */
int rp_mkdir_p(const char *path, char *err, size_t errlen);
void rp_state_free(rp_state *s);
const char *rp_state_errmsg(const rp_state *s);
const char *rp_state_dir(const rp_state *s);
/* The state directory's deployment id (32 hex digits in <dir>/deployment, made at the first
 * open): every collection a build creates records it, so that two state directories sharing
 * one Qdrant never write, promote, roll back to or delete each other's collections. */
const char *rp_state_deployment(const rp_state *s);
/* Removes the temp files (*.tmp.<pid>[.<n>]) that processes which no longer exist left in the
 * state directory, indexes/ and runs/<run_id>/ (every run's directory when run_id is NULL);
 * files of live processes are left alone. *removed (may be NULL) gets their number. */
int rp_state_sweep(rp_state *s, size_t *removed, const char *run_id);

enum {
    RP_QUEUED = 0,
    RP_RUNNING = 1,
    RP_SUCCEEDED = 2,
    RP_FAILED = 3,
    RP_PENDING = 4,
    RP_SKIPPED = 5
};
const char *rp_status_name(int status); /* "QUEUED", ...; NULL when unknown */

/* run.json:
 * {"run_id":..,"index":..,"status":"QUEUED","created_ms":..,"updated_ms":..,"params":{..},
 *  "version":null,"error":null,
 *  "steps":[{"name":..,"status":"PENDING","attempts":0,"started_ms":null,"finished_ms":null,
 *            "duration_ms":null,"cpu_ms":null,"error":null}],
 *  "replays":[{"from":..,"at_ms":..}],
 *  "artifacts":{"<name>":{"step":..,"file":..,"hash":..,"bytes":..,"records":..,
 *                         "params":{..},"params_hash":..}},
 *  "events":[{"t_ms":..,"type":..,"step":..,"msg":..}]}
 * params (may be NULL: {}) must be a JSON object. */
int rp_run_create(rp_state *s, const char *run_id, const char *index, const char *const *steps,
                  size_t nsteps, const char *params_json);
/* Sets the run's status (and error text, may be NULL); appends an event. */
int rp_run_set_status(rp_state *s, const char *run_id, int status, const char *error);
/* Sets a step's status: RUNNING counts an attempt and stamps started_ms (and the run becomes
 * RUNNING); SUCCEEDED/FAILED/SKIPPED stamp finished_ms and duration_ms; error may be NULL.
 * Appends an event. */
int rp_step_update(rp_state *s, const char *run_id, const char *step, int status,
                   const char *error);
/* The same, also recording the step's "cpu_ms" (CPU time the process spent on it; < 0: null)
 * when status ends the step. */
int rp_step_update_cpu(rp_state *s, const char *run_id, const char *step, int status,
                       const char *error, int64_t cpu_ms);
/* Appends an event (step and msg may be NULL). */
int rp_run_event(rp_state *s, const char *run_id, const char *type, const char *step,
                 const char *msg);
/* Starts a replay from step `from`: that step and every later one go back to PENDING (attempts
 * kept), the run to QUEUED, and {"from","at_ms"} is appended to "replays". */
int rp_run_replay(rp_state *s, const char *run_id, const char *from);
/* Takes over, into run_id, the records and artifacts (hard-linked, else copied) of the steps
 * of from_run named in steps that SUCCEEDED there, in order, stopping at the first that did
 * not: a replay that must build a new version starts from what an earlier run finished. The
 * taken-over steps keep their timings; each gets an "inherited" event. */
int rp_run_inherit(rp_state *s, const char *run_id, const char *from_run, const char *const *steps,
                   size_t n);
/* Records the index version this run builds. */
int rp_run_set_version(rp_state *s, const char *run_id, int version);
/* The run's state as JSON text (the caller's). A run.json that is not what a run's readers
 * rely on (types of every field, known statuses) is RP_ECORRUPT ("<path>: damaged (...)"), a
 * missing one RP_ENOTFOUND. The same holds for every read of run and index files. */
int rp_run_read(rp_state *s, char **out, const char *run_id);

/* A run being executed is locked by its process (flock of runs/<id>/run.lock, held until
 * rp_run_unlock, the next rp_run_lock or rp_state_free): RP_EBUSY when another process holds
 * it. A handle holds one run lock at a time. */
int rp_run_lock(rp_state *s, const char *run_id);
void rp_run_unlock(rp_state *s);
/* *out = 1 when some process (this handle included) holds the run's lock, 0 when none does:
 * a QUEUED or RUNNING run whose lock nobody holds was abandoned (its process was killed or
 * could not record its end). */
int rp_run_alive(rp_state *s, int *out, const char *run_id);

enum { RP_V_BUILDING = 0, RP_V_FAILED = 1, RP_V_PROMOTED = 2, RP_V_ROLLED_BACK = 3 };
#define RP_MAX_VERSION 999999999 /* version numbers are 1..RP_MAX_VERSION */
const char *rp_vstate_name(int vstate);

/* <index>.json: {"index":..,"next_version":N,"active":null|v,
 *               "versions":[{"version":v,"run_id":..,"state":"building","created_ms":..,
 *                            "updated_ms":..}]}
 * Reserves the next version number for index (creating the index) under the lock: no two
 * callers, in any process, ever get the same number. The version starts as "building". */
int rp_index_reserve(rp_state *s, int *out_version, const char *index, const char *run_id);
/* The same, never handing out a number below min_version (the caller passes one above every
 * collection of the index that exists already). */
int rp_index_reserve_from(rp_state *s, int *out_version, const char *index, const char *run_id,
                          int min_version);
/* building -> failed; failed -> building (a replay); building -> promoted (it becomes the active
 * version); promoted and active
 * -> rolled_back (the previous promoted, not rolled back version becomes active, or none). */
int rp_index_set_state(rp_state *s, const char *index, int version, int vstate);
/* *out_version = the active version, 0 when none. */
int rp_index_active(rp_state *s, int *out_version, const char *index);

/* A version known from elsewhere (the collections' metadata), for rp_index_repair. */
typedef struct rp_found_version {
    int version;
    const char *run_id; /* may be NULL */
    int vstate;         /* RP_V_* */
} rp_found_version;
/* Rebuilds an index's history from what was found: a damaged index file is set aside
 * ("<file>.damaged-<ms>", its path in aside) and started anew, a missing one created; found
 * versions the history lacks are added ("repaired": true), next_version moves past every
 * found version, and `active` (the version the alias points at; 0: none) becomes the active,
 * promoted version. Recorded versions are otherwise kept. *out_changes (may be NULL) gets the
 * number of changes made (0: nothing written). */
int rp_index_repair(rp_state *s, size_t *out_changes, char *aside, size_t asidecap,
                    const char *index, const rp_found_version *found, size_t n, int active);
int rp_index_read(rp_state *s, char **out, const char *index);
/* "<prefix>_<index>_v<N>" into buf; RP_EINVAL when it does not fit or a name is invalid. */
int rp_collection_name(char *buf, size_t cap, const char *prefix, const char *index, int version);

/* ---- Artifacts --------------------------------------------------------------------------- */

/* An artifact is a file under the run's directory written line by line (NDJSON), committed
 * atomically and recorded in run.json with its content hash and the parameters that made it. */
typedef struct rp_artifact_writer rp_artifact_writer;
int rp_artifact_begin(rp_artifact_writer **out, rp_state *s, const char *run_id, const char *name,
                      const char *step);
/* Appends one line (a '\n' is added). */
int rp_artifact_write(rp_artifact_writer *w, const char *line, size_t len);
/* Makes the file visible and records it (params: a JSON object, may be NULL). The writer is
 * spent either way; free it. out_hash (may be NULL) gets the content hash. */
int rp_artifact_commit(rp_artifact_writer *w, const char *params_json, char *out_hash);
/* Frees; an uncommitted file is removed. */
void rp_artifact_writer_free(rp_artifact_writer *w);
const char *rp_artifact_errmsg(const rp_artifact_writer *w);

/* 1 when the run records artifact `name`, its file exists with the recorded hash and size, and
 * it was made with exactly these params (compared as canonical JSON); 0 when not; < 0 on error.
 * out_path (may be NULL, PATH_MAX bytes) gets the file's path when valid. */
int rp_artifact_valid(rp_state *s, const char *run_id, const char *name, const char *params_json,
                      char *out_path);
/* Reads an artifact file line by line (lines up to max_line bytes; 0: 64 MiB). */
int rp_artifact_read(const char *path, size_t max_line,
                     int (*fn)(const char *line, size_t len, void *ud), void *ud);

/* NDJSON records of the two artifacts (appended to *b, an rc_buf; no newline). */
struct rc_buf;
int rp_doc_json(struct rc_buf *b, const rp_doc *d);
int rp_chunk_json(struct rc_buf *b, const rp_chunk *c);

#ifdef __cplusplus
}
#endif

#endif
