/* What the state directory's files share (internal to lib/pipeline's state.c, state_check.c,
 * runs.c, runlock.c and indexes.c). */
#ifndef RP_STATE_INT_H
#define RP_STATE_INT_H

#include <json-c/json.h>
#include <stddef.h>

#include "internal.h"

struct rp_state {
    char *dir;
    int lockfd;
    int runfd;           /* the run lock held by this handle (rp_run_lock), -1 when none */
    char run_id[65];     /* whose */
    char deployment[33]; /* the state directory's id, read or made at open */
    char err[512];
};

#define SFAIL(s, code, ...) rp_err((s)->err, sizeof(s)->err, (code), __VA_ARGS__)

extern const char *const rp_status_names_[6];
extern const char *const rp_vstate_names_[4];

/* The writers' lock (flock of state.lock), serialising every read-modify-write. */
int rp_state_lock_(rp_state *s);
void rp_state_unlock_(rp_state *s);
/* <dir>/runs/<name>/<file> (kind "runs") or <dir>/indexes/<name>.json; the name checked. */
int rp_state_path_(rp_state *s, char *buf, size_t cap, const char *kind, const char *name,
                   const char *file);

enum { K_ANY, K_RUN, K_INDEX };
/* Reads a JSON object from path and checks it as a run or an index file (kind): RP_ENOTFOUND,
 * RP_ECORRUPT ("<path>: damaged (...)") or RP_EIO with the message on s. */
int rp_state_load_(rp_state *s, json_object **out, const char *path, int kind);
/* Replaces path with j atomically. */
int rp_state_save_(rp_state *s, const char *path, json_object *j);
/* The file as JSON text (the caller's), checked as rp_state_load_ does. */
int rp_state_read_text_(rp_state *s, char **out, const char *path, int kind);
/* A JSON string, or NULL (JSON null) for NULL. */
json_object *rp_jstr_(const char *v);

/* The checks of state_check.c: 1 when valid, else 0 with why. */
int rp_run_valid_(json_object *run, char *why, size_t cap);
int rp_index_valid_(json_object *idx, char *why, size_t cap);

/* Appends an event to a run record. */
void rp_run_add_event_(json_object *run, const char *type, const char *step, const char *msg);
/* A run's step record by name (and its index), or NULL. */
json_object *rp_run_find_step_(json_object *run, const char *name, size_t *idx);
/* Locks, loads the run, calls fn, stamps updated_ms, saves, unlocks. */
typedef int (*rp_run_fn)(rp_state *s, json_object *run, void *ud);
int rp_state_with_run(rp_state *s, const char *run_id, rp_run_fn fn, void *ud);
/* A run's record, checked (rp_state_load_ of runs/<run_id>/run.json). */
int rp_state_load_run(rp_state *s, json_object **out, const char *run_id);

#endif
