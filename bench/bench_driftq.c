/* libdriftq client-side cost benchmark.
 *
 * Measures, per operation, the CPU time spent in this (client) process - getrusage(RUSAGE_SELF)
 * user+sys; the broker runs in another process - and the wall time, for:
 *   produce       driftq_produce() of a ~100-byte message;
 *   consume+ack   one message delivered by driftq_consume() and acked (driftq_message_ack) from
 *                 its callback;
 *   floor         the same produce requests sent by a minimal raw-socket HTTP/1.1 loop (blocking
 *                 socket, keep-alive, hand-written request bytes, Content-Length parsing only):
 *                 the kernel + syscall cost that no HTTP client can go below.
 *
 * Broker: DRIFTQ_BENCH_URL (or DRIFTQ_TEST_URL) when set, else the loopback test broker
 * (tests/servers/driftq_broker.py) is started for the run.
 *
 * Broker limits respected: a partition takes 100 messages beyond the slowest committed offset of
 * the groups that ever acked (a fresh topic: 100 in all), and at most 2 messages per (topic,
 * group, partition) are in flight. Each repetition therefore uses fresh topics with P partitions
 * and keys chosen (by the broker's fnv32a % P) so the messages spread evenly, N / P <= 100.
 * The consume phase drains the topic the produce phase filled; acks happen at once in the
 * callback, so in-flight never exceeds 1 per partition.
 *
 * Usage: bench_driftq [-n OPS_PER_REP] [-r REPS] [-p PARTITIONS] [-v]
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include "driftq/driftq.h"
#include "bench_util.h"
#include "servers.h"

#define VALUE_LEN 100
#define MAX_PARTS 256

static double minv(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static double maxv(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static uint32_t fnv32a(const char *s)
{
    uint32_t h = 0x811C9DC5u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x01000193u;
    return h;
}

static void die(const char *what, driftq_client *c, int rc)
{
    fprintf(stderr, "bench_driftq: %s: %s (%s)\n", what, driftq_strerror(rc),
            c ? driftq_client_errmsg(c) : "");
    exit(1);
}

/* ---- configuration shared by the phases ---- */

static int n_ops = 2000, reps = 7, parts = 32, verbose = 0;
static char keys[MAX_PARTS][32]; /* keys[p] hashes to partition p */
static char value[VALUE_LEN + 1];

static void pick_keys(void)
{
    for (int p = 0; p < parts; p++) {
        for (unsigned j = 0;; j++) {
            snprintf(keys[p], sizeof keys[p], "key-%u", j);
            if ((int)(fnv32a(keys[p]) % (uint32_t)parts) != p)
                continue;
            int dup = 0;
            for (int q = 0; q < p; q++)
                dup |= strcmp(keys[q], keys[p]) == 0;
            if (!dup)
                break;
        }
    }
    for (int i = 0; i < VALUE_LEN; i++)
        value[i] = (char)('a' + i % 26);
    value[VALUE_LEN] = '\0';
}

/* ---- libdriftq phases ---- */

static sample bench_produce(driftq_client *c, const char *topic)
{
    sample t0 = mark();
    for (int i = 0; i < n_ops; i++) {
        int rc = driftq_produce(c, topic, keys[i % parts], value, VALUE_LEN, NULL);
        if (rc)
            die("produce", c, rc);
    }
    return since(t0);
}

typedef struct {
    int want, got, ack_failed;
} consume_state;

static int on_message(driftq_client *c, const driftq_message *m, void *ud)
{
    consume_state *st = ud;
    int rc = driftq_message_ack(c, m);
    if (rc) {
        st->ack_failed = rc;
        return 2;
    }
    return ++st->got >= st->want;
}

static driftq_client *alarm_client;
static void on_alarm(int sig)
{
    (void)sig;
    if (alarm_client)
        driftq_consume_stop(alarm_client);
}

static sample bench_consume(driftq_client *c, const char *topic)
{
    consume_state st = {n_ops, 0, 0};
    driftq_consume_options o = DRIFTQ_CONSUME_OPTIONS_INIT;
    o.lease_ms = 30000;
    o.max_reconnects = 3;
    alarm_client = c;
    alarm(120); /* never hang: a stop makes driftq_consume return */
    sample t0 = mark();
    int rc = driftq_consume(c, topic, "bench", &o, on_message, &st);
    sample d = since(t0);
    alarm(0);
    if (st.ack_failed)
        die("ack", c, st.ack_failed);
    if (rc != DRIFTQ_ESTOPPED || st.got != n_ops) {
        fprintf(stderr, "bench_driftq: consume returned %s after %d of %d messages (%s)\n",
                driftq_strerror(rc), st.got, n_ops, driftq_client_errmsg(c));
        exit(1);
    }
    return d;
}

/* ---- the raw-socket floor ---- */

typedef struct {
    int fd;
    char host[128]; /* Host header */
    char path[256]; /* ".../v1/produce" */
    char buf[65536];
    size_t have;
} raw_conn;

/* Splits http://host[:port][/prefix] into host, port and prefix. */
static int parse_url(const char *url, char *host, size_t hcap, char *port, size_t pcap,
                     char *prefix, size_t xcap)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= hcap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *colon = strrchr(host, ':');
    if (colon && !strchr(colon, ']')) {
        snprintf(port, pcap, "%s", colon + 1);
        *colon = '\0';
    } else {
        snprintf(port, pcap, "80");
    }
    snprintf(prefix, xcap, "%s", slash ? slash : "");
    size_t xl = strlen(prefix);
    while (xl && prefix[xl - 1] == '/')
        prefix[--xl] = '\0';
    if (xl >= 3 && strcmp(prefix + xl - 3, "/v1") == 0)
        prefix[xl - 3] = '\0';
    return 0;
}

static int raw_open(raw_conn *rc, const char *url)
{
    char host[128], port[16], prefix[200];
    if (parse_url(url, host, sizeof host, port, sizeof port, prefix, sizeof prefix) < 0)
        return -1;
    char *h = host;
    size_t hl = strlen(h);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(h, port, &hints, &ai) != 0)
        return -1;
    rc->fd = -1;
    for (struct addrinfo *a = ai; a && rc->fd < 0; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
            rc->fd = fd;
        else
            close(fd);
    }
    freeaddrinfo(ai);
    if (rc->fd < 0)
        return -1;
    int one = 1;
    setsockopt(rc->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    snprintf(rc->host, sizeof rc->host, "%s:%s", host, port);
    snprintf(rc->path, sizeof rc->path, "%s/v1/produce", prefix);
    rc->have = 0;
    return 0;
}

/* One request/response; returns the HTTP status, or -1 on a transport or parse failure. */
static int raw_roundtrip(raw_conn *rc, char *body, size_t body_len)
{
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      rc->path, rc->host, body_len);
    struct iovec iov[2] = {{head, (size_t)hl}, {body, body_len}};
    size_t left = (size_t)hl + body_len;
    while (left) {
        ssize_t w = writev(rc->fd, iov, 2);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        left -= (size_t)w;
        for (int i = 0; i < 2 && w; i++) {
            size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            w -= (ssize_t)k;
        }
    }
    /* Read the head, then Content-Length bytes of body. */
    size_t head_end = 0;
    long clen = -1;
    for (;;) {
        if (!head_end) {
            char *e = memmem(rc->buf, rc->have, "\r\n\r\n", 4);
            if (e) {
                head_end = (size_t)(e - rc->buf) + 4;
                for (char *p = rc->buf; p < e;) {
                    char *nl = memmem(p, (size_t)(e - p), "\r\n", 2);
                    if (!nl)
                        nl = e;
                    if (nl - p > 15 && strncasecmp(p, "content-length:", 15) == 0)
                        clen = strtol(p + 15, NULL, 10);
                    p = nl + 2;
                }
                if (clen < 0)
                    return -1; /* the broker always sends Content-Length on produce */
            }
        }
        if (head_end && rc->have >= head_end + (size_t)clen)
            break;
        if (rc->have == sizeof rc->buf)
            return -1;
        ssize_t r = read(rc->fd, rc->buf + rc->have, sizeof rc->buf - rc->have);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        rc->have += (size_t)r;
    }
    int status = rc->have > 12 && memcmp(rc->buf, "HTTP/1.", 7) == 0 ? atoi(rc->buf + 9) : -1;
    size_t used = head_end + (size_t)clen;
    memmove(rc->buf, rc->buf + used, rc->have - used);
    rc->have -= used;
    return status;
}

static sample bench_floor(raw_conn *rc, const char *topic)
{
    char body[512];
    sample t0 = mark();
    for (int i = 0; i < n_ops; i++) {
        int bl = snprintf(body, sizeof body, "{\"topic\":\"%s\",\"key\":\"%s\",\"value\":\"%s\"}",
                          topic, keys[i % parts], value);
        int st = raw_roundtrip(rc, body, (size_t)bl);
        if (st != 200) {
            fprintf(stderr, "bench_driftq: raw produce failed (status %d)\n", st);
            exit(1);
        }
    }
    return since(t0);
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr, "usage: bench_driftq [-n OPS_PER_REP] [-r REPS] [-p PARTITIONS] [-v]\n"
                    "  broker: DRIFTQ_BENCH_URL, else the loopback test broker\n");
    exit(2);
}

static void fresh_topic(driftq_client *c, const char *prefix, char *buf, size_t cap)
{
    ts_unique(prefix, buf, cap);
    int rc = driftq_topic_create(c, buf, parts);
    if (rc)
        die("topic create", c, rc);
}

static void row(const char *name, const double *cpu, const double *wall, long opened)
{
    double mc = median(cpu, reps), mw = median(wall, reps);
    printf("%-27s %9.1f  %7.1f-%-7.1f %10.1f %10.0f  %ld\n", name, mc, minv(cpu, reps),
           maxv(cpu, reps), mw, 1e6 / mw, opened);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n_ops = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-p") == 0 && i + 1 < argc)
            parts = atoi(argv[++i]);
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            usage();
    }
    if (reps < 1 || reps > BENCH_MAX_REPS || parts < 1 || parts > MAX_PARTS || n_ops < 1) {
        fprintf(stderr, "bench_driftq: need 1 <= reps <= %d, 1 <= partitions <= %d, n >= 1\n",
                BENCH_MAX_REPS, MAX_PARTS);
        return 2;
    }
    if ((n_ops + parts - 1) / parts > 100) {
        fprintf(stderr,
                "bench_driftq: %d ops over %d partitions exceeds the broker's 100 unacked "
                "messages per partition; raise -p\n",
                n_ops, parts);
        return 2;
    }
    double load[1] = {0};
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int busy = getloadavg(load, 1) == 1 && load[0] > 0.75 * (double)ncpu;
    const char *bench_url = getenv("DRIFTQ_BENCH_URL");
    if (bench_url && *bench_url)
        setenv("DRIFTQ_TEST_URL", bench_url, 1);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    const char *url = ts_driftq_url();
    if (!url)
        return 1;
    pick_keys();

    driftq_client_options co = DRIFTQ_CLIENT_OPTIONS_INIT;
    co.url = url;
    co.max_retries = 0; /* a 429 would be a benchmark bug: fail instead of sleeping */
    driftq_client *c = NULL;
    int rc = driftq_client_new(&c, &co);
    if (rc)
        die("client_new", NULL, rc);
    if ((rc = driftq_health(c)) != 0)
        die("health", c, rc);

    raw_conn *raw = calloc(1, sizeof *raw);
    if (!raw || raw_open(raw, url) < 0) {
        fprintf(stderr, "bench_driftq: cannot connect a raw socket to %s\n", url);
        return 1;
    }

    /* Warm-up (not measured): connections, allocator, broker code paths. */
    char topic[128];
    {
        int saved = n_ops;
        n_ops = parts < 50 ? parts * 2 : 100;
        fresh_topic(c, "bench-warm", topic, sizeof topic);
        bench_produce(c, topic);
        bench_consume(c, topic);
        fresh_topic(c, "bench-warm-raw", topic, sizeof topic);
        bench_floor(raw, topic);
        n_ops = saved;
    }

    double p_cpu[64], p_wall[64], c_cpu[64], c_wall[64], f_cpu[64], f_wall[64];
    long p_new = 0, c_new = 0, conns_start = driftq_client_connections(c);
    for (int r = 0; r < reps; r++) {
        fresh_topic(c, "bench-p", topic, sizeof topic);
        long c0 = driftq_client_connections(c);
        sample s = bench_produce(c, topic);
        long c1 = driftq_client_connections(c);
        p_cpu[r] = s.cpu_us / n_ops;
        p_wall[r] = s.wall_us / n_ops;

        s = bench_consume(c, topic);
        long c2 = driftq_client_connections(c);
        c_cpu[r] = s.cpu_us / n_ops;
        c_wall[r] = s.wall_us / n_ops;
        p_new += c1 - c0;
        c_new += c2 - c1;

        char ftopic[128];
        fresh_topic(c, "bench-raw", ftopic, sizeof ftopic);
        s = bench_floor(raw, ftopic);
        f_cpu[r] = s.cpu_us / n_ops;
        f_wall[r] = s.wall_us / n_ops;
        if (verbose)
            fprintf(stderr,
                    "rep %d: cpu/wall us per op: produce %.1f/%.1f, consume+ack %.1f/%.1f, "
                    "floor %.1f/%.1f; connections %ld -> %ld (produce) -> %ld (consume+ack)\n",
                    r + 1, p_cpu[r], p_wall[r], c_cpu[r], c_wall[r], f_cpu[r], f_wall[r], c0, c1,
                    c2);
    }
    long conns_end = driftq_client_connections(c);

    printf("libdriftq %s benchmark: broker %s\n", driftq_version_string(), url);
    if (busy)
        printf("WARNING: load average %.1f on %ld CPUs before the run (other jobs): CPU and wall "
               "figures are inflated and noisy; compare the min column\n",
               load[0], ncpu);
    printf("%d ops per repetition, %d repetitions, %d partitions, %d-byte values; medians over "
           "repetitions\n",
           n_ops, reps, parts, VALUE_LEN);
    printf("CPU = getrusage(RUSAGE_SELF) user+sys of the client process (the broker is another "
           "process)\n\n");
    printf("%-27s %9s  %-15s %10s %10s  %s\n", "operation", "CPU us/op", "CPU min-max",
           "wall us/op", "ops/s", "new connections");
    row("produce (libdriftq)", p_cpu, p_wall, p_new);
    row("consume+ack (libdriftq)", c_cpu, c_wall, c_new);
    row("produce (raw socket floor)", f_cpu, f_wall, 0);
    double mp = median(p_cpu, reps), mcons = median(c_cpu, reps), mf = median(f_cpu, reps);
    printf("\nproduce CPU vs raw-socket floor: %.2fx (%.1f us/op above it)\n", mp / mf, mp - mf);
    printf("target <= 20 us client CPU per op: produce %s, consume+ack %s\n",
           mp <= 20 ? "met" : "MISSED", mcons <= 20 ? "met" : "MISSED");
    printf("driftq_client_connections(): %ld before the measured runs, %ld after, over %ld "
           "requests\n(%d produce + %d ack + %d topic create) and %d consume streams; each "
           "consume\nopens one stream connection, which is closed when the callback stops it.\n",
           conns_start, conns_end, (long)n_ops * reps * 2 + 2L * reps, n_ops * reps, n_ops * reps,
           2 * reps, reps);

    close(raw->fd);
    free(raw);
    driftq_client_free(c);
    return 0;
}
