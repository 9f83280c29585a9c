#include "scripted.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SS_MAX_REQ 256
#define SS_MAX_CONN 64

struct scripted {
    int lfd;
    char url[64];
    ss_step *steps;
    size_t nsteps, next;
    ss_request reqs[SS_MAX_REQ];
    int nreq;
    int nconn;
    pthread_t acceptor;
    pthread_t conns[SS_MAX_CONN];
    int conn_fds[SS_MAX_CONN];
    atomic_int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

typedef struct {
    scripted *s;
    int fd;
    int conn;
} conn_arg;

static int read_some(scripted *s, int fd, char *buf, size_t cap)
{
    for (;;) {
        if (atomic_load(&s->stop))
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int n = poll(&p, 1, 50);
        if (n == 0)
            continue;
        if (n < 0)
            return -1;
        ssize_t k = recv(fd, buf, cap, 0);
        return k <= 0 ? -1 : (int)k;
    }
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return;
        p += k;
        n -= (size_t)k;
    }
}

static void *conn_main(void *arg)
{
    conn_arg *ca = arg;
    scripted *s = ca->s;
    int fd = ca->fd;
    char *buf = malloc(1 << 20);
    size_t have = 0;
    for (;;) {
        /* Read one request: headers, then Content-Length bytes of body. */
        char *end;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            int k = read_some(s, fd, buf + have, (1 << 20) - have);
            if (k < 0)
                goto done;
            have += (size_t)k;
        }
        size_t hlen = (size_t)(end - buf) + 4;
        ss_request r;
        memset(&r, 0, sizeof r);
        r.conn = ca->conn;
        sscanf(buf, "%15s %2047s", r.method, r.target);
        char *hstart = memchr(buf, '\n', hlen);
        size_t hl = hstart ? hlen - (size_t)(hstart + 1 - buf) : 0;
        if (hl >= sizeof r.headers)
            hl = sizeof r.headers - 1;
        if (hstart)
            memcpy(r.headers, hstart + 1, hl);
        char cl[32];
        size_t blen = ss_header(&r, "Content-Length", cl, sizeof cl) ? strtoul(cl, NULL, 10) : 0;
        while (have < hlen + blen) {
            int k = read_some(s, fd, buf + have, (1 << 20) - have);
            if (k < 0)
                goto done;
            have += (size_t)k;
        }
        r.body = malloc(blen + 1);
        memcpy(r.body, buf + hlen, blen);
        r.body[blen] = '\0';
        r.body_len = blen;
        memmove(buf, buf + hlen + blen, have - hlen - blen);
        have -= hlen + blen;

        pthread_mutex_lock(&s->mu);
        ss_step step = {"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 16\r\n\r\n"
                        "script exhausted",
                        SS_CLOSE, 0};
        if (s->next < s->nsteps)
            step = s->steps[s->next];
        s->next++;
        if (s->nreq < SS_MAX_REQ)
            s->reqs[s->nreq++] = r;
        else
            free(r.body);
        pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);

        if (step.delay_ms)
            usleep((useconds_t)step.delay_ms * 1000);
        if (step.action == SS_DROP)
            goto done;
        send_all(fd, step.reply, strlen(step.reply));
        if (step.action == SS_CLOSE)
            goto done;
        if (step.action == SS_HOLD) {
            char tmp[4096];
            while (read_some(s, fd, tmp, sizeof tmp) > 0)
                ;
            goto done;
        }
    }
done:
    free(buf);
    close(fd);
    free(ca);
    return NULL;
}

static void *accept_main(void *arg)
{
    scripted *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->lfd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&s->mu);
        if (s->nconn >= SS_MAX_CONN) {
            pthread_mutex_unlock(&s->mu);
            close(fd);
            continue;
        }
        int idx = s->nconn++;
        pthread_mutex_unlock(&s->mu);
        conn_arg *ca = malloc(sizeof *ca);
        ca->s = s;
        ca->fd = fd;
        ca->conn = idx + 1;
        pthread_create(&s->conns[idx], NULL, conn_main, ca);
    }
    return NULL;
}

scripted *ss_start(const ss_step *steps, size_t n)
{
    scripted *s = calloc(1, sizeof *s);
    s->steps = calloc(n ? n : 1, sizeof *steps);
    memcpy(s->steps, steps, n * sizeof *steps);
    s->nsteps = n;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(s->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->lfd, 16) != 0 ||
        getsockname(s->lfd, (struct sockaddr *)&a, &al) != 0) {
        close(s->lfd);
        free(s->steps);
        free(s);
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", ntohs(a.sin_port));
    pthread_create(&s->acceptor, NULL, accept_main, s);
    return s;
}

const char *ss_url(const scripted *s)
{
    return s->url;
}

int ss_wait(scripted *s, int n, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&s->mu);
    while (s->nreq < n)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0)
            break;
    int got = s->nreq;
    pthread_mutex_unlock(&s->mu);
    return got;
}

int ss_count(scripted *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nreq;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int ss_connections(scripted *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->nconn;
    pthread_mutex_unlock(&s->mu);
    return n;
}

const ss_request *ss_req(scripted *s, int i)
{
    pthread_mutex_lock(&s->mu);
    const ss_request *r = i >= 0 && i < s->nreq ? &s->reqs[i] : NULL;
    pthread_mutex_unlock(&s->mu);
    return r;
}

const char *ss_header(const ss_request *r, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (*p) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            eol = p + strlen(p);
        if ((size_t)(eol - p) > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(eol - v);
            if (vl >= cap)
                vl = cap - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        if (!*eol)
            break;
        p = eol + 2;
    }
    return NULL;
}

void ss_stop(scripted *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->nconn; i++)
        pthread_join(s->conns[i], NULL);
    for (int i = 0; i < s->nreq; i++)
        free(s->reqs[i].body);
    close(s->lfd);
    free(s->steps);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
