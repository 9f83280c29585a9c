/* ragctl: build, replay, roll back and query versioned RAG indexes.
 *
 * Uses libqdrantc's public API (local mode by default: no server) and the internal pipeline
 * library through tools/common. One file per command group; this one parses the global options
 * and dispatches through the command table. Exit codes follow sysexits.h. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

static void usage(void)
{
    printf("usage: ragctl [--json] [--state-dir DIR] [--config FILE] COMMAND ...\n"
           "       ragctl --version | --help\n"
           "commands:\n"
           "  build --index NAME [--docs DIR] [--smoke FILE]\n"
           "        [--fail-at STEP [--fail-mode once|always|N]]   build a new version\n"
           "  replay RUN --from STEP [--set KEY=VALUE ...]    run again from a step (KEY: docs,\n"
           "        chunk_size, overlap, fail_at); a promoted run's replay builds a new version\n"
           "  rollback --index NAME [--steps N | --to-version V]\n"
           "  status RUN [--follow]                            steps and timeline\n"
           "  runs                                             every run\n"
           "  log RUN                                          a run's timeline\n"
           "  history --index NAME [--repair]                  versions and the alias\n"
           "  query --index NAME [-k N] [--] \"text\"\n"
           "  gc --index NAME --keep N                         delete old versions' collections\n"
           "  config                                           the settings in force\n"
           "  demo [--docs DIR]                                the whole cycle, in local mode\n"
           "steps: discover chunk embed upsert smoketest promote\n"
           "environment: RAG_STATE_DIR QDRANT_URL QDRANT_API_KEY RAG_EMBEDDER RAG_EMBED_DIM\n"
           "             RAG_EMBED_URL RAG_EMBED_MODEL RAG_EMBED_API_KEY RAG_PREFIX RAG_DOCS_DIR\n"
           "             RAG_SMOKE_QUERIES RAG_CONFIG\n");
}

static void version(void)
{
    printf("ragctl %s\n", RAGCTL_VERSION);
    printf("libqdrantc %s (ABI %d)\n", qdrant_version_string(), QDRANT_ABI_MAJOR);
    printf("json-c %s\n", json_c_version());
}

static int cmd_help(tool_settings *st, int argc, char **argv)
{
    (void)st, (void)argc, (void)argv;
    usage();
    return EX_OK;
}

static int cmd_version(tool_settings *st, int argc, char **argv)
{
    (void)st, (void)argc, (void)argv;
    version();
    return EX_OK;
}

static const cmd_spec commands[] = {
    {"build", cmd_build},     {"replay", cmd_replay}, {"rollback", cmd_rollback},
    {"status", cmd_status},   {"runs", cmd_runs},     {"log", cmd_log},
    {"history", cmd_history}, {"query", cmd_query},   {"gc", cmd_gc},
    {"config", cmd_config},   {"demo", cmd_demo},     {"version", cmd_version},
    {"help", cmd_help},
};

int main(int argc, char **argv)
{
    /* State, artifacts, the local store and the cache hold the documents' text: private by
     * default, whatever the user's umask. */
    umask(077);
    tool_name = "ragctl";
    tool_settings st;
    int ex = tool_settings_load(&st, argc, argv, "ragctl.conf");
    if (ex)
        return ex;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0)
            st.json = 1;
        else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            i++; /* read by tool_settings_load */
        else if (strcmp(argv[i], "--state-dir") == 0 && i + 1 < argc)
            st.state_dir = argv[++i];
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage();
            return EX_OK;
        } else if (strcmp(argv[i], "--version") == 0) {
            version();
            return EX_OK;
        } else
            tool_die_usage("unknown option \"%s\"", argv[i]);
    }
    if (i >= argc) {
        usage();
        return EX_USAGE;
    }
    tool_settings_check(&st);
    const char *cmd = argv[i++];
    int rest = argc - i;
    char **args = argv + i;
    /* Options may also follow the command. */
    for (int k = 0; k < rest; k++)
        if (strcmp(args[k], "--json") == 0) {
            st.json = 1;
            memmove(&args[k], &args[k + 1], (size_t)(rest - k - 1) * sizeof *args);
            rest--;
            k--;
        }
    for (size_t k = 0; k < sizeof commands / sizeof *commands; k++)
        if (strcmp(cmd, commands[k].name) == 0)
            return commands[k].fn(&st, rest, args);
    tool_die_usage("unknown command \"%s\"", cmd);
}
