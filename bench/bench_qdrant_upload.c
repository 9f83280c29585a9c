/* libqdrantc upload benchmark: client CPU per upserted point.
 *
 * Uploads N points (384-d float vectors, random, L2-normalised, plus a small payload
 * {"doc":"doc-<i/16>","chunk":<i%16>}) into a fresh Cosine collection, in batches of B points,
 * one PUT /collections/{name}/points?wait=true per batch, and measures per repetition:
 *   - the CPU time of this (client) process: getrusage(RUSAGE_SELF) user+sys; the server runs in
 *     another process, so its work is not counted;
 *   - the wall time.
 * Rows:
 *   libqdrantc upsert  qdrant_point_upsert() per batch (wait=true): request body built from the
 *                      float array, HTTP via libcurl, reply parsed and checked;
 *   raw floor          the very same request bodies, built before the clock starts, sent by a
 *                      minimal blocking-socket HTTP/1.1 loop (keep-alive, hand-written request
 *                      head, Content-Length framing of the reply, status check only): the
 *                      kernel + syscall cost that no HTTP client can go below.
 * The vectors, ids and payload texts are generated before the clock starts (the JS twin,
 * bench/js/upload.mjs, does the same with the same generator, so both send the same points).
 * Each repetition uses a fresh collection (created before and deleted after the timed part;
 * the point count is checked after each upload). Medians over the repetitions are reported.
 *
 * Server: QDRANT_BENCH_URL (or QDRANT_TEST_URL) when set, else the loopback test server
 * (tests/servers/qdrant_server.py) is started for the run.
 *
 * Usage: bench_qdrant_upload [-n POINTS] [-r REPS] [-b BATCH] [-d DIM] [-j] [-v]
 *   -j  also print one JSON line with the results (for bench/run_upload_bench.sh)
 */
#include <errno.h>
#include <math.h>
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

#include "qdrant/qdrant.h"
#include "fmt_float.h"
#include "bench_util.h"
#include "servers.h"

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

static void die(const char *what, qdrant_client *c, int rc)
{
    fprintf(stderr, "bench_qdrant_upload: %s: %s (%s)\n", what, qdrant_strerror(rc),
            c ? qdrant_client_errmsg(c) : "");
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_qdrant_upload: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- configuration and the data set ---- */

static size_t n_points = 20000, batch = 256, dim = 384;
static int reps = 5, verbose = 0, json_out = 0;
static float *vectors;       /* n_points * dim */
static qdrant_point_id *ids; /* n_points */
static char **payloads;      /* n_points JSON texts */
static char **bodies;        /* per batch: the upsert body, as libqdrantc writes it */
static size_t *body_lens, n_batches, body_bytes;

/* mulberry32: a 32-bit generator that bench/js/upload.mjs reproduces bit for bit. */
static uint32_t rng_state = 0x5eed1234u;
static uint32_t rng_next(void)
{
    uint32_t t = rng_state += 0x6D2B79F5u;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
}

/* Components uniform in [-1, 1) (exact in a double), L2-normalised in double, rounded to float.
 * The same operations in the same order in JS give the same bits. */
static void make_data(void)
{
    vectors = xmalloc(n_points * dim * sizeof *vectors);
    ids = xmalloc(n_points * sizeof *ids);
    payloads = xmalloc(n_points * sizeof *payloads);
    double *u = xmalloc(dim * sizeof *u);
    for (size_t i = 0; i < n_points; i++) {
        double ss = 0;
        for (size_t k = 0; k < dim; k++) {
            u[k] = (double)(rng_next() >> 8) / 16777216.0 * 2.0 - 1.0;
            ss += u[k] * u[k];
        }
        double norm = sqrt(ss);
        for (size_t k = 0; k < dim; k++)
            vectors[i * dim + k] = (float)(u[k] / norm);
        ids[i] = qdrant_point_id_num(i);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "{\"doc\":\"doc-%zu\",\"chunk\":%zu}", i / 16, i % 16);
        payloads[i] = strdup(tmp);
        if (!payloads[i])
            die("strdup", NULL, QDRANT_ENOMEM);
    }
    free(u);
}

/* FNV-1a over the float32 bits (low byte first): bench/js/upload.mjs prints the same hash when
 * it generated the same vectors. */
static uint32_t data_hash(void)
{
    uint32_t h = 0x811C9DC5u;
    for (size_t i = 0; i < n_points * dim; i++) {
        uint32_t x;
        memcpy(&x, &vectors[i], sizeof x);
        for (int b = 0; b < 4; b++, x >>= 8)
            h = (h ^ (x & 0xFFu)) * 0x01000193u;
    }
    return h;
}

/* The floor's request bodies: byte for byte what qdrant_point_upsert() sends (the shared
 * shortest round-trip float formatter, numeric ids, the payload text as given). */
static void make_bodies(void)
{
    n_batches = (n_points + batch - 1) / batch;
    bodies = xmalloc(n_batches * sizeof *bodies);
    body_lens = xmalloc(n_batches * sizeof *body_lens);
    body_bytes = 0;
    for (size_t b = 0; b < n_batches; b++) {
        size_t lo = b * batch, hi = lo + batch < n_points ? lo + batch : n_points;
        size_t cap = 16 + (hi - lo) * (64 + dim * (RC_FMT_F32_MAX + 1));
        char *p = xmalloc(cap), *w = p;
        w += sprintf(w, "{\"points\":[");
        for (size_t i = lo; i < hi; i++) {
            w += sprintf(w, "%s{\"id\":%zu,\"vector\":[", i > lo ? "," : "", i);
            w += rc_fmt_f32_array(w, vectors + i * dim, dim); /* as libqdrantc writes vectors */
            w += sprintf(w, "],\"payload\":%s}", payloads[i]);
        }
        w += sprintf(w, "]}");
        bodies[b] = p;
        body_lens[b] = (size_t)(w - p);
        body_bytes += body_lens[b];
    }
}

/* ---- libqdrantc ---- */

static sample bench_upsert(qdrant_client *c, const char *coll)
{
    qdrant_write_options w = QDRANT_WRITE_OPTIONS_INIT;
    w.wait = 1;
    sample t0 = mark();
    for (size_t lo = 0; lo < n_points; lo += batch) {
        size_t k = n_points - lo < batch ? n_points - lo : batch;
        int rc = qdrant_point_upsert(c, coll, k, ids + lo, vectors + lo * dim, dim,
                                     (const char *const *)payloads + lo, &w);
        if (rc)
            die("upsert", c, rc);
    }
    return since(t0);
}

/* The batch uploader: the same batches, 3 requests in flight over kept-alive connections. */
static sample bench_upload(qdrant_client *c, const char *coll)
{
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = batch;
    o.parallel = 3;
    o.wait = 1;
    sample t0 = mark();
    int rc = qdrant_point_upload(NULL, c, coll, n_points, ids, vectors, dim,
                                 (const char *const *)payloads, &o);
    if (rc)
        die("upload", c, rc);
    return since(t0);
}

/* ---- the raw-socket floor ---- */

typedef struct {
    int fd;
    char host[160];   /* Host header */
    char prefix[200]; /* path prefix of the base URL, without a trailing '/' */
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
    return 0;
}

static int raw_open(raw_conn *rc, const char *url)
{
    char host[128], port[16];
    if (parse_url(url, host, sizeof host, port, sizeof port, rc->prefix, sizeof rc->prefix) < 0)
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
    rc->have = 0;
    return 0;
}

/* One request/response; returns the HTTP status, or -1 on a transport or parse failure. */
static int raw_roundtrip(raw_conn *rc, const char *head, size_t head_len, const char *body,
                         size_t body_len)
{
    struct iovec iov[2] = {{(void *)head, head_len}, {(void *)body, body_len}};
    size_t left = head_len + body_len;
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
                    return -1; /* the server always sends Content-Length here */
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
    if (status == 200 && !memmem(rc->buf + head_end, (size_t)clen, "\"completed\"", 11))
        status = -2; /* not {"result":{"status":"completed",...},...} */
    size_t used = head_end + (size_t)clen;
    memmove(rc->buf, rc->buf + used, rc->have - used);
    rc->have -= used;
    return status;
}

static sample bench_floor(raw_conn *rc, const char *coll)
{
    /* Request heads, like the bodies, are ready before the clock starts. */
    char(*heads)[512] = xmalloc(n_batches * sizeof *heads);
    size_t *head_lens = xmalloc(n_batches * sizeof *head_lens);
    for (size_t b = 0; b < n_batches; b++)
        head_lens[b] = (size_t)snprintf(heads[b], sizeof heads[b],
                                        "PUT %s/collections/%s/points?wait=true HTTP/1.1\r\n"
                                        "Host: %s\r\nContent-Type: application/json\r\n"
                                        "Content-Length: %zu\r\n\r\n",
                                        rc->prefix, coll, rc->host, body_lens[b]);
    sample t0 = mark();
    for (size_t b = 0; b < n_batches; b++) {
        int st = raw_roundtrip(rc, heads[b], head_lens[b], bodies[b], body_lens[b]);
        if (st != 200) {
            fprintf(stderr, "bench_qdrant_upload: raw upsert failed (status %d)\n", st);
            exit(1);
        }
    }
    sample d = since(t0);
    free(heads);
    free(head_lens);
    return d;
}

/* ---- main ---- */

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_qdrant_upload [-n POINTS] [-r REPS] [-b BATCH] [-d DIM] [-j] [-v]\n"
            "  server: QDRANT_BENCH_URL (or QDRANT_TEST_URL), else the loopback test "
            "server\n");
    exit(2);
}

static void fresh_collection(qdrant_client *c, char *buf, size_t cap)
{
    ts_unique("bench_upload_", buf, cap);
    int rc = qdrant_collection_create(c, buf, dim, QDRANT_DISTANCE_COSINE, NULL);
    if (rc)
        die("collection create", c, rc);
}

static void check_and_drop(qdrant_client *c, const char *coll)
{
    uint64_t count = 0;
    int rc = qdrant_point_count(&count, c, coll, NULL);
    if (rc)
        die("count", c, rc);
    if (count != n_points) {
        fprintf(stderr, "bench_qdrant_upload: %s holds %llu points, expected %zu\n", coll,
                (unsigned long long)count, n_points);
        exit(1);
    }
    int existed = 0;
    rc = qdrant_collection_delete(&existed, c, coll);
    if (rc)
        die("collection delete", c, rc);
}

typedef struct {
    const char *name, *key;
    double cpu[BENCH_MAX_REPS], wall[BENCH_MAX_REPS];
} row_data;

static double per_point(double us)
{
    return us / (double)n_points;
}

static void print_row(const row_data *r)
{
    double c[BENCH_MAX_REPS], w[BENCH_MAX_REPS];
    for (int i = 0; i < reps; i++) {
        c[i] = per_point(r->cpu[i]);
        w[i] = per_point(r->wall[i]);
    }
    double mw = median(r->wall, reps);
    printf("%-20s %10.3f  %7.3f-%-7.3f %10.2f %12.0f\n", r->name, median(c, reps), minv(c, reps),
           maxv(c, reps), median(w, reps), (double)n_points / (mw / 1e6));
}

static void json_row(const row_data *r, int last)
{
    double mw = median(r->wall, reps);
    printf("\"%s\":{\"cpu_us_per_point\":%.4f,\"wall_us_per_point\":%.3f,\"points_per_s\":%.1f,"
           "\"cpu_s\":[",
           r->key, per_point(median(r->cpu, reps)), per_point(mw), (double)n_points / (mw / 1e6));
    for (int i = 0; i < reps; i++)
        printf("%s%.4f", i ? "," : "", r->cpu[i] / 1e6);
    printf("],\"wall_s\":[");
    for (int i = 0; i < reps; i++)
        printf("%s%.4f", i ? "," : "", r->wall[i] / 1e6);
    printf("]}%s", last ? "" : ",");
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
            n_points = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
            batch = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc)
            dim = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "-j") == 0)
            json_out = 1;
        else if (strcmp(argv[i], "-v") == 0)
            verbose = 1;
        else
            usage();
    }
    if (reps < 1 || reps > BENCH_MAX_REPS || n_points < 1 || batch < 1 || dim < 1 || dim > 65536) {
        fprintf(stderr,
                "bench_qdrant_upload: need 1 <= reps <= %d, n >= 1, batch >= 1, "
                "1 <= dim <= 65536\n",
                BENCH_MAX_REPS);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    const char *url = getenv("QDRANT_BENCH_URL");
    if (!url || !*url)
        url = ts_qdrant_url();
    if (!url)
        return 1;

    make_data();
    sample sb = mark();
    make_bodies();
    sb = since(sb); /* serialising alone: what libqdrantc does per batch, minus the HTTP */

    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = url;
    o.request_timeout_ms = 300000;
    qdrant_client *c = NULL;
    int rc = qdrant_client_new(&c, &o);
    if (rc)
        die("client", NULL, rc);
    qdrant_server_info *si = NULL;
    if ((rc = qdrant_server_info_get(&si, c)))
        die("server info", c, rc);
    char server_version[64];
    snprintf(server_version, sizeof server_version, "%s", qdrant_server_info_version(si));
    qdrant_server_info_free(si);

    raw_conn *raw = xmalloc(sizeof *raw);
    if (raw_open(raw, url) < 0) {
        fprintf(stderr, "bench_qdrant_upload: cannot connect to %s\n", url);
        return 1;
    }

    row_data rows[3] = {{"libqdrantc upsert", "upsert", {0}, {0}},
                        {"raw floor", "floor", {0}, {0}},
                        {"libqdrantc upload", "upload", {0}, {0}}};
    long conns0 = qdrant_client_connections(c);
    char coll[128];
    for (int r = 0; r < reps; r++) {
        /* libqdrantc: the client's connection is already open (made by the create). */
        fresh_collection(c, coll, sizeof coll);
        sample s = bench_upsert(c, coll);
        rows[0].cpu[r] = s.cpu_us;
        rows[0].wall[r] = s.wall_us;
        check_and_drop(c, coll);

        fresh_collection(c, coll, sizeof coll);
        s = bench_floor(raw, coll);
        rows[1].cpu[r] = s.cpu_us;
        rows[1].wall[r] = s.wall_us;
        check_and_drop(c, coll);

        fresh_collection(c, coll, sizeof coll);
        s = bench_upload(c, coll);
        rows[2].cpu[r] = s.cpu_us;
        rows[2].wall[r] = s.wall_us;
        check_and_drop(c, coll);
        if (verbose)
            fprintf(stderr, "rep %d: upsert %.3f s cpu %.3f s wall; floor %.3f s cpu %.3f s wall\n",
                    r, rows[0].cpu[r] / 1e6, rows[0].wall[r] / 1e6, rows[1].cpu[r] / 1e6,
                    rows[1].wall[r] / 1e6);
    }
    long conns = qdrant_client_connections(c) - conns0;

    printf("libqdrantc %s upload benchmark: %s (Qdrant %s)\n", qdrant_version_string(), url,
           server_version);
    printf("%zu points x %zu-d float32, batches of %zu, wait=true; %zu requests, %.0f body "
           "bytes/point; %d reps\n",
           n_points, dim, batch, n_batches, (double)body_bytes / (double)n_points, reps);
    printf("%-20s %10s  %15s %10s %12s\n", "", "us CPU/pt", "min-max", "us wall/pt", "points/s");
    print_row(&rows[0]);
    print_row(&rows[1]);
    print_row(&rows[2]);
    double ratio = median(rows[0].cpu, reps) / median(rows[1].cpu, reps);
    printf("libqdrantc / floor CPU: %.2fx; new connections during the timed uploads: %ld\n", ratio,
           conns);
    printf("(building the same bodies once, outside the timed part: %.3f us CPU/point)\n",
           per_point(sb.cpu_us));
    if (json_out) {
        printf("{\"client\":\"libqdrantc\",\"version\":\"%s\",\"server_version\":\"%s\","
               "\"n\":%zu,\"dim\":%zu,\"batch\":%zu,\"reps\":%d,\"data_hash\":\"%08x\","
               "\"body_bytes_per_point\":%.1f,",
               qdrant_version_string(), server_version, n_points, dim, batch, reps,
               (unsigned)data_hash(), (double)body_bytes / (double)n_points);
        json_row(&rows[0], 0);
        json_row(&rows[1], 0);
        json_row(&rows[2], 1);
        printf(",\"upsert_over_floor\":%.3f,\"body_build_cpu_us_per_point\":%.4f}\n", ratio,
               per_point(sb.cpu_us));
    }

    close(raw->fd);
    free(raw);
    qdrant_client_free(c);
    for (size_t b = 0; b < n_batches; b++)
        free(bodies[b]);
    for (size_t i = 0; i < n_points; i++)
        free(payloads[i]);
    free(bodies);
    free(body_lens);
    free(payloads);
    free(ids);
    free(vectors);
    return 0;
}
