/* ragctl's commands (one file per group) and what they share (internal to tools/ragctl). */
#ifndef RAGCTL_CMD_H
#define RAGCTL_CMD_H

#include <json-c/json.h>
#include <stdint.h>

#include "tool.h"

/* A command: its name on the command line and the function that runs it with the arguments
 * after the name. Returns the exit code. */
typedef struct cmd_spec {
    const char *name;
    int (*fn)(tool_settings *st, int argc, char **argv);
} cmd_spec;

int cmd_build(tool_settings *st, int argc, char **argv);    /* cmd_build.c */
int cmd_replay(tool_settings *st, int argc, char **argv);   /* cmd_build.c */
int cmd_status(tool_settings *st, int argc, char **argv);   /* cmd_runs.c */
int cmd_runs(tool_settings *st, int argc, char **argv);     /* cmd_runs.c */
int cmd_log(tool_settings *st, int argc, char **argv);      /* cmd_runs.c */
int cmd_rollback(tool_settings *st, int argc, char **argv); /* cmd_index.c */
int cmd_history(tool_settings *st, int argc, char **argv);  /* cmd_index.c */
int cmd_gc(tool_settings *st, int argc, char **argv);       /* cmd_index.c */
int cmd_query(tool_settings *st, int argc, char **argv);    /* cmd_index.c */
int cmd_config(tool_settings *st, int argc, char **argv);   /* cmd_config.c */
int cmd_demo(tool_settings *st, int argc, char **argv);     /* cmd_demo.c */

/* A build's configuration from the settings (cmd_build.c). */
rp_build_config build_cfg(tool_ctx *c, const char *index, const char *docs);
/* The documents folder must exist before anything is created for a build; prints how to give
 * one when not (cmd_build.c). */
int docs_ok(const tool_settings *st, const char *docs);

/* One timeline event: "+<ms since t0>" when t0 >= 0, else the wall-clock time (cmd_runs.c). */
void print_event(json_object *ev, int64_t t0);
/* 1 when a QUEUED or RUNNING run is held by no process (cmd_runs.c). */
int run_abandoned(tool_ctx *c, const char *run_id, const char *status);
/* The first step of a run that did not succeed (cmd_runs.c). */
const char *first_unfinished(json_object *o);
/* Prints a run (steps and timeline, or JSON); *status (may be NULL) gets its status. Returns
 * an exit code (cmd_runs.c). */
int show_run(tool_ctx *c, const char *run_id, int with_events, int *status);

#endif
