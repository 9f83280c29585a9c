/* qdrant_point_upload against a scripted server: batching, body-size splitting, retries,
 * exact failure reporting, progress and stop, and bad input that sends nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "qdrant/qdrant.h"
#include "scripted.h"
#include "tap.h"

#define OK_REPLY                                                                                   \
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 77\r\n\r\n"              \
    "{\"result\":{\"operation_id\":1,\"status\":\"completed\"},\"status\":\"ok\",\"time\":0.001}"
#define R503 "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
/* Qdrant's error envelope on a 503, as a real server (or a proxy in front of it) sends it. */
#define R503_MSG                                                                                   \
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: "       \
    "75\r\n\r\n{\"status\":{\"error\":\"Service internal error: the shard is busy\"},"             \
    "\"time\":0.0}"
#define R503_RETRY_AFTER                                                                           \
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n"
#define R429 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 0\r\nContent-Length: 0\r\n\r\n"
#define R400                                                                                       \
    "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 93\r\n\r\n"     \
    "{\"status\":{\"error\":\"Wrong input: Vector dimension error: expected dim: 9, got 8\"},"     \
    "\"time\":0.0}"

enum { N = 10, DIM = 8 };
static qdrant_point_id ids[N];
static float vecs[N * DIM];
static const char *payloads[N];

static qdrant_client *client_for(scripted *s)
{
    qdrant_client_options o = QDRANT_CLIENT_OPTIONS_INIT;
    o.url = ss_url(s);
    o.request_timeout_ms = 3000;
    qdrant_client *c = NULL;
    return qdrant_client_new(&c, &o) == 0 ? c : NULL;
}

typedef struct {
    int calls;
    qdrant_upload_progress last;
    int stop_after;
} progress_log;

static int on_progress(const qdrant_upload_progress *p, void *ud)
{
    progress_log *l = ud;
    l->calls++;
    l->last = *p;
    return l->stop_after && l->calls >= l->stop_after;
}

static int count_points(const char *body)
{
    int n = 0;
    for (const char *p = body; (p = strstr(p, "\"id\":")); p++)
        n++;
    return n;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Retries are counted per batch: two batches share six 503s (more than max_retries 5 in all,
 * never more than 5 for one batch) and both are stored; a single batch that gets three 503s
 * and then 200 is stored too. */
static void per_batch_retries(void)
{
    ss_step st[10];
    for (int i = 0; i < 10; i++)
        st[i] = (ss_step){i < 6 ? R503_MSG : OK_REPLY, SS_KEEP, 0};
    scripted *s = ss_start(st, 10);
    qdrant_client *c = client_for(s);
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT; /* max_retries 5 */
    o.batch_points = 5;
    o.parallel = 1;
    o.retry_backoff_ms = 1;
    o.retry_max_backoff_ms = 4;
    progress_log pl = {0};
    o.progress = on_progress;
    o.progress_userdata = &pl;
    qdrant_upload_result *r = NULL;
    is_int(qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &o), 0,
           "two batches, six 503s between them: stored");
    is_int(qdrant_upload_result_failed_count(r), 0, "nothing failed");
    is_int(ss_count(s), 8, "2 batches + 6 retries");
    is_int(pl.last.retries, 6, "progress: 6 retries in all");
    is_int(pl.last.points_done, N, "progress: every point done");
    qdrant_upload_result_free(r);
    qdrant_client_free(c);
    ss_stop(s);

    for (int i = 0; i < 10; i++)
        st[i] = (ss_step){i < 3 ? R503_MSG : OK_REPLY, SS_KEEP, 0};
    s = ss_start(st, 10);
    c = client_for(s);
    o.batch_points = N;
    o.max_retries = 3;
    r = NULL;
    is_int(qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &o), 0,
           "one batch: 503, 503, 503, 200 with max_retries 3: stored");
    is_int(qdrant_upload_result_failed_count(r), 0, "nothing failed");
    is_int(ss_count(s), 4, "4 requests");
    is_str(ss_req(s, 0)->body, ss_req(s, 3)->body, "the same batch each time");
    is_str(qdrant_client_errmsg(c), "", "no error left on the client");
    qdrant_upload_result_free(r);
    qdrant_client_free(c);
    ss_stop(s);
}

/* A 503 that comes back after every other batch was done (and nothing was pending) is still
 * retried: the uploader asked the pool for no more work as soon as nothing was pending, and the
 * late batch was left unsent, reported as "stopped by callback" with no message. */
static void late_503_retried(void)
{
    /* Batches A and B go out together; whichever arrives second is answered 503 after 300 ms,
     * while the other and then C are answered at once. */
    ss_step st[] = {{OK_REPLY, SS_KEEP, 0},
                    {R503_MSG, SS_KEEP, 300},
                    {OK_REPLY, SS_KEEP, 0},
                    {OK_REPLY, SS_KEEP, 0}};
    scripted *s = ss_start(st, 4);
    qdrant_client *c = client_for(s);
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = 4;
    o.parallel = 2;
    o.retry_backoff_ms = 1;
    qdrant_upload_result *r = NULL;
    int rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &o);
    is_int(rc, 0, "a late 503 is retried");
    if (rc)
        diag("%s", qdrant_client_errmsg(c));
    is_int(qdrant_upload_result_failed_count(r), 0, "nothing failed");
    is_int(ss_count(s), 4, "3 batches + 1 retry");
    qdrant_upload_result_free(r);
    qdrant_client_free(c);
    ss_stop(s);
}

/* A batch that exhausts its retries: the status and the server's message reach the result and
 * the summary on the client, and the error code is the 503's (no callback stopped anything). */
static void exhausted_names_cause(void)
{
    ss_step st[] = {{R503_MSG, SS_KEEP, 0},
                    {R503_MSG, SS_KEEP, 0},
                    {OK_REPLY, SS_KEEP, 0},
                    {R503_MSG, SS_KEEP, 0}};
    scripted *s = ss_start(st, 4);
    qdrant_client *c = client_for(s);
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = 5;
    o.parallel = 1;
    o.max_retries = 1;
    /* long enough that batch 2 always goes before batch 1's retry (with 1 ms the retry could be
     * ready first under valgrind, and batch 2 then succeeded at once: 3 requests, not 4) */
    o.retry_backoff_ms = 100;
    qdrant_upload_result *r = NULL;
    int rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &o);
    is_int(rc, QDRANT_ESERVER, "the 503's error code, not ESTOPPED");
    is_int(ss_count(s), 4, "each batch sent twice (max_retries 1)");
    is_int(qdrant_upload_result_failed_count(r), 5, "one batch of 5 failed");
    is_int(qdrant_upload_result_failed_error(r, 0), QDRANT_ESERVER, "its error code");
    is_str(qdrant_upload_result_failed_message(r, 0),
           "503 Service Unavailable: Service internal error: the shard is busy (after 1 retry)",
           "its message: status, reason, the server's message");
    diag("%s", qdrant_client_errmsg(c));
    ok(strstr(qdrant_client_errmsg(c), "5 of 10 points were not stored") &&
           strstr(qdrant_client_errmsg(c), "first: 503 Service Unavailable: Service internal "
                                           "error: the shard is busy"),
       "the summary on the client names the cause");
    qdrant_upload_result_free(r);
    qdrant_client_free(c);
    ss_stop(s);

    /* The connection dropped each time: a transport error, with curl's reason. */
    ss_step d[] = {{"", SS_DROP, 0}, {"", SS_DROP, 0}, {"", SS_DROP, 0}, {"", SS_DROP, 0}};
    s = ss_start(d, 4);
    c = client_for(s);
    o.batch_points = N;
    r = NULL;
    rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &o);
    is_int(rc, QDRANT_ETRANSPORT, "dropped connections: ETRANSPORT");
    const char *first = strstr(qdrant_client_errmsg(c), "first: ");
    ok(qdrant_upload_result_failed_message(r, 0)[0] != '\0' && first && first[7] != '\0' &&
           !strstr(qdrant_client_errmsg(c), "stopped"),
       "with a cause");
    diag("%s", qdrant_client_errmsg(c));
    qdrant_upload_result_free(r);
    qdrant_client_free(c);
    ss_stop(s);
}

/* Retry-After is honoured even when the backoff would be shorter. */
static void retry_after_honoured(void)
{
    ss_step st[] = {{R503_RETRY_AFTER, SS_KEEP, 0}, {OK_REPLY, SS_KEEP, 0}};
    scripted *s = ss_start(st, 2);
    qdrant_client *c = client_for(s);
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = N;
    o.retry_backoff_ms = 1;
    long t0 = now_ms();
    is_int(qdrant_point_upload(NULL, c, "col", N, ids, vecs, DIM, payloads, &o), 0,
           "503 with Retry-After: 1, then 200");
    long took = now_ms() - t0;
    ok(took >= 950, "the retry waited for Retry-After");
    diag("took %ld ms", took);
    is_int(ss_count(s), 2, "2 requests");
    qdrant_client_free(c);
    ss_stop(s);
}

int main(void)
{
    for (int i = 0; i < N; i++) {
        ids[i] = qdrant_point_id_num(1000 + (uint64_t)i);
        for (int k = 0; k < DIM; k++)
            vecs[i * DIM + k] = (float)(i + 1) / (float)(k + 2);
        payloads[i] = i % 2 ? "{\"doc\":\"odd\"}" : NULL;
    }

    /* Batches of 4 (4 + 4 + 2), one at a time: the 2nd is answered 503 (retried after its
     * backoff while the 3rd goes ahead), the 3rd 400 (final): exactly points 8 and 9 fail. */
    ss_step a[] = {
        {OK_REPLY, SS_KEEP, 0}, {R503, SS_KEEP, 0}, {R400, SS_KEEP, 0}, {OK_REPLY, SS_KEEP, 0}};
    scripted *s = ss_start(a, 4);
    qdrant_client *c = client_for(s);
    qdrant_upload_options o = QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = 4;
    o.parallel = 1;
    o.retry_backoff_ms = 5;
    progress_log pl = {0};
    o.progress = on_progress;
    o.progress_userdata = &pl;
    qdrant_upload_result *r = NULL;
    int rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &o);
    is_int(rc, QDRANT_EINVAL, "the 400'd batch's error is returned");
    is_int(ss_count(s), 4, "three batches, one retried");
    is_str(ss_req(s, 0)->method, "PUT", "PUT");
    is_str(ss_req(s, 0)->target, "/collections/col/points?wait=true", "upsert path with wait");
    is_int(count_points(ss_req(s, 0)->body), 4, "first batch has 4 points");
    is_str(ss_req(s, 1)->body, ss_req(s, 3)->body, "the retry resends the same batch");
    is_int(count_points(ss_req(s, 2)->body), 2, "last batch has the remaining 2");
    ok(strstr(ss_req(s, 0)->body, "\"id\":1000,") &&
           strstr(ss_req(s, 0)->body, "\"payload\":{\"doc\":\"odd\"}"),
       "ids and payloads in the body");
    is_int(qdrant_upload_result_failed_count(r), 2, "two points failed");
    is_int(qdrant_upload_result_failed_index(r, 0), 8, "point 8");
    is_int(qdrant_upload_result_failed_index(r, 1), 9, "point 9");
    is_int(qdrant_upload_result_failed_index(r, 2), -1, "out of range");
    is_int(qdrant_upload_result_failed_error(r, 0), QDRANT_EINVAL, "their error code");
    ok(strstr(qdrant_upload_result_failed_message(r, 1), "Vector dimension error") != NULL,
       "and the server's message");
    ok(strstr(qdrant_client_errmsg(c), "2 of 10 points were not stored") != NULL,
       "summary on the client");
    is_int(pl.calls, 3, "progress after each batch settled");
    is_int(pl.last.points_done, 8, "progress: 8 done");
    is_int(pl.last.points_failed, 2, "progress: 2 failed");
    is_int(pl.last.retries, 1, "progress: 1 retry");
    qdrant_upload_result_free(r);
    qdrant_client_free(c);
    ss_stop(s);

    /* A body limit that fits about 3 points: batches are split; everything is stored. */
    ss_step b[16];
    for (int i = 0; i < 16; i++)
        b[i] = (ss_step){OK_REPLY, SS_KEEP, 0};
    s = ss_start(b, 16);
    c = client_for(s);
    o.progress = NULL;
    o.batch_points = 10;
    o.max_body_bytes = 300;
    qdrant_upload_options small = o;
    /* find the size of one point's JSON to set a limit of ~3 points */
    r = NULL;
    rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, payloads, &small);
    is_int(rc, 0, "split upload succeeds");
    ok(r && qdrant_upload_result_failed_count(r) == 0, "empty result on success");
    qdrant_upload_result_free(r);
    int total = 0, max_len = 0;
    for (int i = 0; i < ss_count(s); i++) {
        total += count_points(ss_req(s, i)->body);
        if ((int)ss_req(s, i)->body_len > max_len)
            max_len = (int)ss_req(s, i)->body_len;
    }
    is_int(total, N, "every point sent exactly once");
    ok(ss_count(s) > 1 && max_len <= 300, "each body within max_body_bytes");
    diag("%d requests, largest body %d bytes", ss_count(s), max_len);
    qdrant_client_free(c);
    ss_stop(s);

    /* Parallel: 5 batches over 3 connections; a 429 is retried. */
    ss_step p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (ss_step){OK_REPLY, SS_KEEP, 50};
    p[1] = (ss_step){R429, SS_KEEP, 0};
    s = ss_start(p, 8);
    c = client_for(s);
    o = (qdrant_upload_options)QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = 2;
    o.parallel = 3;
    o.retry_backoff_ms = 5;
    o.wait = 0;
    o.ordering = QDRANT_ORDERING_STRONG;
    rc = qdrant_point_upload(NULL, c, "col", N, ids, vecs, DIM, NULL, &o);
    is_int(rc, 0, "parallel upload succeeds (result not wanted)");
    is_int(ss_count(s), 6, "5 batches + 1 retry");
    is_int(ss_connections(s), 3, "three connections in parallel");
    is_str(ss_req(s, 0)->target, "/collections/col/points?wait=false&ordering=strong",
           "wait/ordering");
    qdrant_client_free(c);
    ss_stop(s);

    /* Stop from the progress callback: the batches not yet sent fail with ESTOPPED. */
    s = ss_start(b, 16);
    c = client_for(s);
    o = (qdrant_upload_options)QDRANT_UPLOAD_OPTIONS_INIT;
    o.batch_points = 2;
    o.parallel = 1;
    pl = (progress_log){0};
    pl.stop_after = 2;
    o.progress = on_progress;
    o.progress_userdata = &pl;
    r = NULL;
    rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, NULL, &o);
    is_int(rc, QDRANT_ESTOPPED, "stopped");
    is_int(ss_count(s), 2, "no request after the stop");
    is_int(qdrant_upload_result_failed_count(r), 6, "the 6 unsent points are reported");
    is_int(qdrant_upload_result_failed_index(r, 0), 4, "from point 4 on");
    qdrant_upload_result_free(r);

    /* Bad input: nothing is sent. */
    vecs[7 * DIM + 3] = NAN;
    r = NULL;
    rc = qdrant_point_upload(&r, c, "col", N, ids, vecs, DIM, NULL, NULL);
    is_int(rc, QDRANT_EINVAL, "NaN refused");
    ok(strstr(qdrant_client_errmsg(c), "point 7") != NULL, "message names the point");
    ok(r == NULL, "no result when nothing was attempted");
    vecs[7 * DIM + 3] = 1.0f;
    payloads[2] = "[1,2]";
    is_int(qdrant_point_upload(NULL, c, "col", N, ids, vecs, DIM, payloads, NULL), QDRANT_EINVAL,
           "non-object payload refused");
    payloads[2] = NULL;
    ids[3].kind = 7;
    is_int(qdrant_point_upload(NULL, c, "col", N, ids, vecs, DIM, NULL, NULL), QDRANT_EINVAL,
           "invalid id refused");
    ids[3] = qdrant_point_id_num(1003);
    o.parallel = 0;
    is_int(qdrant_point_upload(NULL, c, "col", N, ids, vecs, DIM, NULL, &o), QDRANT_EINVAL,
           "parallel 0 refused");
    is_int(ss_count(s), 2, "nothing more was sent");
    is_int(qdrant_point_upload(NULL, c, "col", 0, NULL, NULL, DIM, NULL, NULL), 0,
           "zero points: nothing to do");
    qdrant_client_free(c);
    ss_stop(s);

    per_batch_retries();
    late_503_retried();
    exhausted_names_cause();
    retry_after_honoured();
    return tap_done();
}
