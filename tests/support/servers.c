#include "servers.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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

static void stop_pid(pid_t *pid)
{
    if (*pid > 0) {
        kill(*pid, SIGTERM);
        for (int i = 0; i < 50; i++) {
            if (waitpid(*pid, NULL, WNOHANG) == *pid) {
                *pid = 0;
                return;
            }
            usleep(20000);
        }
        kill(*pid, SIGKILL);
        waitpid(*pid, NULL, 0);
        *pid = 0;
    }
}

static void stop_one(server *s)
{
    stop_pid(&s->pid);
}

struct ts_proxy {
    pid_t pid;
    char url[256];
    char host[64];
    int port;
    struct ts_proxy *next;
};

static ts_proxy *proxies; /* every proxy still running, stopped at exit */

static void stop_all(void)
{
    while (proxies)
        ts_proxy_stop(proxies);
    stop_one(&driftq);
    stop_one(&qdrant);
    if (driftq.datadir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", driftq.datadir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", driftq.datadir);
    }
}

static void at_exit_once(void)
{
    static int done;
    if (!done) {
        done = 1;
        signal(SIGPIPE, SIG_IGN);
        atexit(stop_all);
    }
}

/* Starts tests/servers/<name> with extra (NULL-terminated, may be NULL) and reads the first line
 * it prints, which must be prefix + URL. */
static int spawn_script(const char *name, const char *prefix, const char *const *extra, pid_t *pid,
                        char *url, size_t url_cap)
{
    char script[512];
    snprintf(script, sizeof script, "%s/tests/servers/%s", TS_SRCDIR, name);
    size_t nextra = 0;
    while (extra && extra[nextra])
        nextra++;
    char **argv = calloc(nextra + 3, sizeof *argv);
    if (!argv)
        return -1;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        free(argv);
        return -1;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    size_t a = 0;
    argv[a++] = (char *)TS_PYTHON;
    argv[a++] = script;
    for (size_t i = 0; i < nextra; i++)
        argv[a++] = (char *)extra[i];
    argv[a] = NULL;
    int r = posix_spawn(pid, TS_PYTHON, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    free(argv);
    close(pfd[1]);
    if (r != 0) {
        close(pfd[0]);
        *pid = 0;
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
    size_t plen = strlen(prefix);
    if (strncmp(line, prefix, plen) != 0) {
        fprintf(stderr, "%s did not print its URL (got \"%s\")\n", script, line);
        stop_pid(pid);
        return -1;
    }
    snprintf(url, url_cap, "%s", line + plen);
    return 0;
}

static int spawn(server *s, const char *port)
{
    const char *extra[5] = {"--port", port, NULL, NULL, NULL};
    if (s == &driftq) {
        extra[2] = "--data-dir";
        extra[3] = s->datadir;
    }
    if (spawn_script(s->script, s->prefix, extra, &s->pid, s->url, sizeof s->url) != 0)
        return -1;
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
        at_exit_once();
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

ts_proxy *ts_proxy_start(const char *upstream_url, const char *const *args)
{
    if (!upstream_url)
        return NULL;
    ts_proxy *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    size_t nargs = 0;
    while (args && args[nargs])
        nargs++;
    const char **extra = calloc(nargs + 5, sizeof *extra);
    if (!extra) {
        free(p);
        return NULL;
    }
    size_t a = 0;
    extra[a++] = "--port";
    extra[a++] = "0";
    extra[a++] = "--upstream";
    extra[a++] = upstream_url;
    for (size_t i = 0; i < nargs; i++)
        extra[a++] = args[i];
    extra[a] = NULL;
    at_exit_once();
    int r = spawn_script("fault_proxy.py", "PROXY_URL=", extra, &p->pid, p->url, sizeof p->url);
    free(extra);
    if (r != 0 || sscanf(p->url, "http://%63[^:/]:%d", p->host, &p->port) != 2) {
        stop_pid(&p->pid);
        free(p);
        return NULL;
    }
    p->next = proxies;
    proxies = p;
    return p;
}

const char *ts_proxy_url(const ts_proxy *p)
{
    return p ? p->url : NULL;
}

void ts_proxy_stop(ts_proxy *p)
{
    if (!p)
        return;
    for (ts_proxy **pp = &proxies; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    stop_pid(&p->pid);
    free(p);
}

/* One request to the proxy's control endpoint (Connection: close, read to EOF). Returns the
 * HTTP status, with the body in buf, or -1. */
static int proxy_call(ts_proxy *p, const char *method, const char *path, const char *body,
                      char *buf, size_t cap)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)p->port);
    if (inet_pton(AF_INET, p->host, &sa.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        close(fd);
        return -1;
    }
    size_t blen = body ? strlen(body) : 0;
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      method, path, p->host, p->port, blen);
    if (hl < 0 || (size_t)hl >= sizeof head || send(fd, head, (size_t)hl, MSG_NOSIGNAL) != hl ||
        (blen && send(fd, body, blen, MSG_NOSIGNAL) != (ssize_t)blen)) {
        close(fd);
        return -1;
    }
    char reply[8192];
    size_t n = 0;
    int64_t deadline = (int64_t)time(NULL) + 10;
    while (n < sizeof reply - 1 && time(NULL) < deadline) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 200) <= 0)
            continue;
        ssize_t k = recv(fd, reply + n, sizeof reply - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    close(fd);
    reply[n] = '\0';
    int status = 0;
    if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *b = strstr(reply, "\r\n\r\n");
    snprintf(buf, cap, "%s", b ? b + 4 : "");
    return status;
}

int ts_proxy_config(ts_proxy *p, const char *json)
{
    char buf[2048];
    if (!p || !json)
        return -1;
    int st = proxy_call(p, "POST", "/__proxy/config", json, buf, sizeof buf);
    if (st != 200) {
        fprintf(stderr, "fault proxy refused %s: %d %s\n", json, st, buf);
        return -1;
    }
    return 0;
}

long ts_proxy_stat(ts_proxy *p, const char *name)
{
    char buf[2048], key[64];
    if (!p || !name || proxy_call(p, "GET", "/__proxy/stats", NULL, buf, sizeof buf) != 200)
        return -1;
    snprintf(key, sizeof key, "\"%s\"", name);
    const char *k = strstr(buf, key);
    if (!k)
        return -1;
    k += strlen(key);
    while (*k == ' ' || *k == ':')
        k++;
    char *end;
    long v = strtol(k, &end, 10);
    return end == k ? -1 : v;
}

int ts_proxy_reset(ts_proxy *p)
{
    char buf[256];
    return p && proxy_call(p, "POST", "/__proxy/reset", "", buf, sizeof buf) == 200 ? 0 : -1;
}
