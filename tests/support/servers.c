#include "servers.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    const char *env;
    const char *script;
    const char *prefix; /* what the server prints before its URL */
    pid_t pid;
    char url[256];
    char port[16];
    char datadir[256];
    int started;
} server;

static server driftq = {"DRIFTQ_TEST_URL", "driftq_broker.py", "DRIFTQ_URL=", 0, "", "", "", 0};
static server qdrant = {"QDRANT_TEST_URL", "qdrant_server.py", "QDRANT_URL=", 0, "", "", "", 0};

static void stop_one(server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
                s->pid = 0;
                return;
            }
            usleep(20000);
        }
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

static void stop_all(void)
{
    stop_one(&driftq);
    stop_one(&qdrant);
    if (driftq.datadir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", driftq.datadir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", driftq.datadir);
    }
}

static int spawn(server *s, const char *port)
{
    char script[512];
    snprintf(script, sizeof script, "%s/tests/servers/%s", TS_SRCDIR, s->script);
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    char *argv[10];
    int a = 0;
    argv[a++] = (char *)TS_PYTHON;
    argv[a++] = script;
    argv[a++] = (char *)"--port";
    argv[a++] = (char *)port;
    if (s == &driftq) {
        argv[a++] = (char *)"--data-dir";
        argv[a++] = s->datadir;
    }
    argv[a] = NULL;
    int r = posix_spawn(&s->pid, TS_PYTHON, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (r != 0) {
        close(pfd[0]);
        fprintf(stderr, "cannot start %s: %s\n", script, strerror(r));
        return -1;
    }
    /* Read the first line: PREFIX + URL. */
    char line[512];
    size_t n = 0;
    int64_t deadline = (int64_t)time(NULL) + 20;
    while (n < sizeof line - 1 && time(NULL) < deadline) {
        struct pollfd p = {pfd[0], POLLIN, 0};
        if (poll(&p, 1, 200) <= 0)
            continue;
        ssize_t k = read(pfd[0], line + n, 1);
        if (k <= 0)
            break;
        if (line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(pfd[0]);
    size_t plen = strlen(s->prefix);
    if (strncmp(line, s->prefix, plen) != 0) {
        fprintf(stderr, "%s did not print its URL (got \"%s\")\n", script, line);
        stop_one(s);
        return -1;
    }
    snprintf(s->url, sizeof s->url, "%s", line + plen);
    const char *colon = strrchr(s->url, ':');
    snprintf(s->port, sizeof s->port, "%s", colon ? colon + 1 : "0");
    return 0;
}

static const char *get(server *s)
{
    const char *e = getenv(s->env);
    if (e && *e)
        return e;
    if (s->url[0])
        return s->url;
    if (!s->started) {
        s->started = 1;
        if (s == &driftq) {
            snprintf(s->datadir, sizeof s->datadir, "/tmp/driftq-test-XXXXXX");
            if (!mkdtemp(s->datadir))
                return NULL;
        }
        signal(SIGPIPE, SIG_IGN);
        atexit(stop_all);
        if (spawn(s, "0") != 0)
            return NULL;
    }
    return s->url[0] ? s->url : NULL;
}

const char *ts_driftq_url(void)
{
    return get(&driftq);
}

const char *ts_qdrant_url(void)
{
    return get(&qdrant);
}

int ts_driftq_is_ours(void)
{
    const char *e = getenv(driftq.env);
    return !(e && *e) && driftq.pid > 0;
}

int ts_driftq_stop(void)
{
    if (!ts_driftq_is_ours())
        return -1;
    stop_one(&driftq);
    return 0;
}

int ts_driftq_start_again(void)
{
    if (driftq.pid > 0 || !driftq.port[0])
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%s", driftq.port);
    for (int i = 0; i < 50; i++) {
        if (spawn(&driftq, port) == 0)
            return 0;
        usleep(100000);
    }
    return -1;
}

int ts_driftq_restart(void)
{
    if (ts_driftq_stop() != 0)
        return -1;
    return ts_driftq_start_again();
}

const char *ts_unique(const char *prefix, char *buf, size_t cap)
{
    static unsigned counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(buf, cap, "%s-%ld-%lx%03lx-%u", prefix, (long)getpid(), (long)ts.tv_sec,
             (long)(ts.tv_nsec / 1000000), ++counter);
    return buf;
}
