/* What the tools share (internal to tools/, not installed): the settings in force (flags, then
 * the environment, then a config file, then defaults), the context a command opens (the state
 * directory, the Qdrant client, the embedder, the embedding cache), exit codes and messages,
 * and progress output. ragctl's commands and ragworker both build on it. */
#ifndef TOOL_H
#define TOOL_H

#include <limits.h>
#include <stddef.h>

#include "build.h"
#include "pipeline.h"
#include "qdrant/qdrant.h"

/* The program's name in messages ("ragctl"); set by main. */
extern const char *tool_name;

typedef struct tool_settings {
    const char *state_dir;
    const char *qdrant_url; /* NULL: local mode in <state>/qdrant */
    const char *api_key;
    const char *embedder; /* hash | openai */
    const char *dim_text; /* RAG_EMBED_DIM as given; dim once checked */
    size_t dim;
    const char *embed_url, *embed_model, *embed_key;
    const char *prefix;
    const char *docs;
    const char *smoke_file; /* lines "<expected doc id>\t<query>" */
    const char *config;     /* the config file read, or NULL */
    int json;
    int color;
    char local_url[PATH_MAX + 16];
} tool_settings;

/* Fills st from the config file (--config FILE among argv, else RAG_CONFIG, else
 * default_config when it exists), the environment and defaults. Flags are the caller's.
 * Returns 0, or an exit code after printing why. */
int tool_settings_load(tool_settings *st, int argc, char **argv, const char *default_config);
/* Checks the settings that need it (RAG_EMBED_DIM, RAG_PREFIX); a usage error exits. */
void tool_settings_check(tool_settings *st);
/* A whole number from text in [lo, hi], else a usage error naming what (exits). */
long tool_parse_int(const char *what, const char *text, long lo, long hi);
/* An index name, run id or prefix must be 1-64 of [a-z0-9_-]; else a usage error naming what
 * (exits). */
void tool_check_name(const char *what, const char *name);
/* url with any user:password@ masked, for printing. */
void tool_mask_url(char *out, size_t cap, const char *url);

typedef struct tool_ctx {
    tool_settings *st;
    rp_state *state;
    qdrant_client *q;
    rp_embedder *emb;
    rp_cache *cache;
} tool_ctx;

/* Opens the state directory, and the Qdrant client and the embedder with its cache when asked.
 * On failure everything is closed again, the reason printed and an exit code returned. */
int tool_open(tool_ctx *c, tool_settings *st, int need_qdrant, int need_embed);
void tool_close(tool_ctx *c);

/* Prints "<tool>: <message>" and a hint, exits with EX_USAGE. */
void tool_die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* The exit code for a pipeline error code. */
int tool_exit_for(int rc);
/* A state read that failed: damaged (65) or missing (66), with the library's message (it names
 * the file). Returns the exit code. */
int tool_state_error(tool_ctx *c, int rc, const char *what, const char *name);

/* Progress (ud: the tool_settings): one line per notable thing on stderr, none with --json. */
void tool_on_progress(void *ud, const char *step, const char *msg);
/* A bar for long steps, for terminals only, redrawn at most ten times a second. */
void tool_on_count(void *ud, const char *step, size_t done, size_t total);
void tool_on_warn(void *ud, const char *msg);

#endif
