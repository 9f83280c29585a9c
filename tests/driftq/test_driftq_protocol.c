/* Protocol tests: libdriftq against a scripted server, asserting the exact requests it sends
 * and its handling of each kind of reply. */
#include <pthread.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "driftq/driftq.h"
#include "scripted.h"
#include "tap.h"

#define R204 "HTTP/1.1 204 No Content\r\nX-Request-Id: srv-1\r\n\r\n"

/* A reply with a JSON body and a computed Content-Length (storage is static). */
static const char *reply_h(const char *status, const char *headers, const char *body)
{
    static char pool[48][8192];
    static int n;
    char *p = pool[n++ % 48];
    snprintf(p, sizeof pool[0],
             "HTTP/1.1 %s\r\nContent-Type: application/json\r\nX-Request-Id: srv-1\r\n%s"
             "Content-Length: %zu\r\n\r\n%s",
             status, headers, strlen(body), body);
    return p;
}
#define reply(status, body) reply_h(status, "", body)
#define produced reply("200 OK", "{\"status\":\"produced\",\"topic\":\"t\"}\n")

static driftq_client *client_for(scripted *s, const char *suffix, int retries)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", ss_url(s), suffix);
    driftq_client_options o = DRIFTQ_CLIENT_OPTIONS_INIT;
    o.url = url;
    o.max_retries = retries;
    o.retry_backoff_ms = 10;
    o.retry_max_backoff_ms = 50;
    o.request_timeout_ms = 3000;
    driftq_client *c = NULL;
    if (driftq_client_new(&c, &o) != 0)
        return NULL;
    return c;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_produce_exact(void)
{
    ss_step steps[] = {{produced, SS_KEEP, 0}, {produced, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 2);
    driftq_client *c = client_for(s, "/v1/", 0);
    driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
    env.run_id = "run-1";
    env.step_id = "embed";
    env.parent_step_id = "chunk";
    env.tenant_id = "acme";
    env.idempotency_key = "run-1/embed/7";
    env.target_topic = "other";
    env.deadline_ms = 1893553445678LL;
    env.partition_override = 0;
    env.retry_max_attempts = 3;
    env.retry_backoff_ms = 100;
    env.retry_max_backoff_ms = 2000;
    const char *value = "caf\xc3\xa9 \"q\" <b>\n";
    is_int(driftq_produce(c, "t", "k1", value, strlen(value), &env), 0, "produce with envelope");
    is_int(driftq_produce(c, "t", NULL, "v", 1, NULL), 0, "produce without key or envelope");
    const ss_request *r = ss_req(s, 0);
    char h[256];
    is_str(r->method, "POST", "produce is a POST");
    is_str(r->target, "/v1/produce", "to /v1/produce (base URL given with /v1/)");
    is_str(
        r->body,
        "{\"topic\":\"t\",\"key\":\"k1\",\"value\":\"caf\xc3\xa9 \\\"q\\\" <b>\\n\",\"envelope\":{"
        "\"run_id\":\"run-1\",\"step_id\":\"embed\",\"parent_step_id\":\"chunk\",\"tenant_id\":"
        "\"acme\",\"idempotency_key\":\"run-1/embed/7\",\"target_topic\":\"other\",\"deadline\":"
        "\"2030-01-02T03:04:05.678Z\",\"partition_override\":0,\"retry_policy\":{\"max_attempts\":"
        "3,"
        "\"backoff_ms\":100,\"max_backoff_ms\":2000}}}",
        "exact produce body, only spec fields");
    is_str(ss_header(r, "Content-Type", h, sizeof h), "application/json", "JSON content type");
    ok(ss_header(r, "Expect", h, sizeof h) == NULL, "no Expect: 100-continue");
    ok(ss_header(r, "X-Request-Id", h, sizeof h) && strncmp(h, "dq-", 3) == 0, "X-Request-Id sent");
    char first_id[256];
    snprintf(first_id, sizeof first_id, "%s", h);
    ok(ss_header(r, "User-Agent", h, sizeof h) && strncmp(h, "libdriftq/", 10) == 0, "user agent");
    r = ss_req(s, 1);
    is_str(r->body, "{\"topic\":\"t\",\"value\":\"v\"}", "no key and no envelope: both left out");
    ok(ss_header(r, "X-Request-Id", h, sizeof h) && strcmp(h, first_id) != 0,
       "each request gets its own id");
    is_int(ss_connections(s), 1, "both requests on one kept-alive connection");
    is_str(driftq_client_request_id(c), "srv-1", "server's X-Request-Id kept on the handle");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_produce_local_checks(void)
{
    ss_step steps[] = {{produced, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 1);
    driftq_client *c = client_for(s, "", 0);
    static char big[70000];
    memset(big, 'a', sizeof big);
    is_int(driftq_produce(c, "t", "k", big, 65535, NULL), DRIFTQ_ETOOLARGE,
           "key+value of 65536 bytes refused locally");
    ok(strstr(driftq_client_errmsg(c), "65536") != NULL, "message says the limit");
    is_int(driftq_produce(c, "t", "", "", 0, NULL), DRIFTQ_EINVAL, "empty value refused");
    is_int(driftq_produce(c, "t", "k", "\xff\xfe", 2, NULL), DRIFTQ_EINVAL,
           "invalid UTF-8 refused");
    is_int(driftq_produce(c, "", "k", "v", 1, NULL), DRIFTQ_EINVAL, "empty topic refused");
    driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
    env.retry_backoff_ms = 5;
    is_int(driftq_produce(c, "t", "k", "v", 1, &env), DRIFTQ_EINVAL,
           "backoff without attempts refused");
    env.retry_backoff_ms = 0;
    env.version = 42;
    is_int(driftq_produce(c, "t", "k", "v", 1, &env), DRIFTQ_EINVAL, "unknown envelope version");
    is_int(ss_count(s), 0, "nothing was sent for any of them");
    is_int(driftq_produce(c, "t", "k", big, 65534, NULL), 0, "65535 bytes of key+value sent");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_retries(void)
{
    const char *r429 = reply_h("429 Too Many Requests", "Retry-After: 0\r\n",
                               "{\"error\":\"RESOURCE_EXHAUSTED\",\"message\":\"producer overload: "
                               "partition_buffer_full\",\"reason\":\"partition_buffer_full\","
                               "\"retry_after_ms\":150}\n");
    const char *r503 = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
    /* 429 then 200: retried even without an idempotency key, after retry_after_ms */
    ss_step a[] = {{r429, SS_KEEP, 0}, {produced, SS_KEEP, 0}};
    scripted *s = ss_start(a, 2);
    driftq_client *c = client_for(s, "", 3);
    int64_t t0 = now_ms();
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), 0, "429 then 200: success");
    ok(now_ms() - t0 >= 150, "waited at least retry_after_ms");
    is_int(ss_count(s), 2, "two requests");
    driftq_client_free(c);
    ss_stop(s);

    /* 429 for ever: gives up with EOVERLOADED and the detail */
    ss_step b[] = {{r429, SS_KEEP, 0}, {r429, SS_KEEP, 0}};
    s = ss_start(b, 2);
    c = client_for(s, "", 1);
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), DRIFTQ_EOVERLOADED, "429 past the budget");
    is_int(ss_count(s), 2, "retry budget of 1 means two requests");
    is_int(driftq_client_http_status(c), 429, "status kept");
    is_str(driftq_client_server_code(c), "RESOURCE_EXHAUSTED", "server code kept");
    is_int(driftq_client_retry_after_ms(c), 150, "retry_after_ms kept");
    ok(strstr(driftq_client_errmsg(c), "partition_buffer_full") != NULL, "message kept");
    driftq_client_free(c);
    ss_stop(s);

    /* 503 without idempotency key: not retried */
    ss_step d[] = {{r503, SS_KEEP, 0}, {produced, SS_KEEP, 0}};
    s = ss_start(d, 2);
    c = client_for(s, "", 3);
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), DRIFTQ_ESERVER, "503 without key: error");
    is_int(ss_count(s), 1, "a keyless produce is not re-sent after a 5xx");
    driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
    env.idempotency_key = "key-1";
    ss_stop(s);
    ss_step e[] = {{r503, SS_KEEP, 0}, {produced, SS_KEEP, 0}};
    s = ss_start(e, 2);
    driftq_client_free(c);
    c = client_for(s, "", 3);
    is_int(driftq_produce(c, "t", "k", "v", 1, &env), 0, "503 with key: retried to success");
    is_int(ss_count(s), 2, "keyed produce re-sent");
    is_str(ss_req(s, 0)->body, ss_req(s, 1)->body, "the retry is byte-identical");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_stale_connection(void)
{
    /* The second request lands on a connection the server then closes without answering (as a
     * server does with a connection idle past its keep-alive timeout): resent on a new one. */
    ss_step steps[] = {{produced, SS_KEEP, 0}, {"", SS_DROP, 0}, {produced, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 3);
    driftq_client *c = client_for(s, "", 0);
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), 0, "first produce");
    is_int(driftq_produce(c, "t", "k", "w", 1, NULL), 0,
           "second produce succeeds although its kept-alive connection was closed");
    is_int(ss_count(s), 3, "sent twice");
    ok(ss_req(s, 1)->conn == 1 && ss_req(s, 2)->conn == 2, "resent on a fresh connection");
    is_int(driftq_client_connections(c), 2, "client counted two connections");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_errors(void)
{
    const char *nf = reply("400 Bad Request", "{\"error\":\"INVALID_ARGUMENT\",\"message\":"
                                              "\"topic does not exist (create it first)\"}\n");
    const char *owner =
        reply("409 Conflict", "{\"error\":\"FAILED_PRECONDITION\",\"message\":\"not owner\"}\n");
    const char *notin = reply("400 Bad Request", "{\"error\":\"INVALID_ARGUMENT\",\"message\":"
                                                 "\"message is not in-flight\"}\n");
    const char *inv = reply("400 Bad Request", "{\"error\":\"INVALID_ARGUMENT\",\"message\":"
                                               "\"message deadline exceeded\"}\n");
    const char *lost = reply("400 Bad Request", "{\"error\":\"INVALID_ARGUMENT\",\"message\":"
                                                "\"idempotency: lease lost or expired\"}\n");
    ss_step steps[] = {{nf, SS_KEEP, 0},    {R204, SS_KEEP, 0},  {R204, SS_KEEP, 0},
                       {owner, SS_KEEP, 0}, {notin, SS_KEEP, 0}, {inv, SS_KEEP, 0},
                       {lost, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 7);
    driftq_client *c = client_for(s, "", 3);
    is_int(driftq_produce(c, "nope", "k", "v", 1, NULL), DRIFTQ_ENOTFOUND, "unknown topic");
    is_int(driftq_client_http_status(c), 400, "HTTP status");
    is_str(driftq_client_server_code(c), "INVALID_ARGUMENT", "server code");
    is_str(driftq_client_request_id(c), "srv-1", "request id");
    ok(strstr(driftq_client_errmsg(c), "topic does not exist (create it first)") != NULL,
       "server message in errmsg");
    is_int(driftq_ack(c, "t", "g", "own er", 1, 42), 0, "ack 204");
    is_str(ss_req(s, 1)->target, "/v1/ack", "ack path");
    is_str(ss_req(s, 1)->body,
           "{\"topic\":\"t\",\"group\":\"g\",\"owner\":\"own er\",\"partition\":1,\"offset\":42}",
           "exact ack body");
    is_str(driftq_client_errmsg(c), "", "detail cleared by a successful call");
    is_int(driftq_nack(c, "t", "g", "o", 0, 7, "boom: \"x\""), 0, "nack 204");
    is_str(ss_req(s, 2)->target, "/v1/nack", "nack path");
    is_str(ss_req(s, 2)->body,
           "{\"topic\":\"t\",\"group\":\"g\",\"owner\":\"o\",\"partition\":0,\"offset\":7,"
           "\"reason\":\"boom: \\\"x\\\"\"}",
           "exact nack body with reason (not error)");
    is_int(driftq_ack(c, "t", "g", "o", 0, 7), DRIFTQ_ENOTOWNER, "409 not owner");
    is_int(driftq_ack(c, "t", "g", "o", 0, 7), DRIFTQ_ENOTINFLIGHT, "400 not in-flight");
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), DRIFTQ_EINVAL, "other 400");
    is_int(driftq_ack(c, "t", "g", "o", 0, 7), DRIFTQ_ENOTOWNER,
           "400 idempotency lease lost: ENOTOWNER too");
    is_int(ss_count(s), 7, "none of them retried");
    is_int(driftq_ack(c, "t", "g", "o", -1, 7), DRIFTQ_EINVAL, "negative partition refused");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_topics(void)
{
    const char *created = reply("201 Created", "{\"status\":\"created\",\"name\":\"a\\u0026b\","
                                               "\"partitions\":3}\n");
    const char *list = reply("200 OK", "{\"topics\":[\"a\\u0026b\",\"dlq.a\"]}\n");
    const char *list2 = reply("200 OK", "{\"topics\":[]}\n");
    const char *health = reply("200 OK", "{\"status\":\"ok\"}\n");
    const char *version =
        reply("200 OK", "{\"version\":\"dev\",\"commit\":\"unknown\",\"wal_enabled\":true}\n");
    ss_step steps[] = {{created, SS_KEEP, 0}, {list, SS_KEEP, 0},   {created, SS_KEEP, 0},
                       {list2, SS_KEEP, 0},   {health, SS_KEEP, 0}, {version, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 6);
    driftq_client *c = client_for(s, "/v1", 0);
    is_int(driftq_topic_ensure(c, "a&b", 3), 0, "ensure: created and listed");
    is_str(ss_req(s, 0)->body, "{\"name\":\"a&b\",\"partitions\":3}", "exact topic create body");
    is_str(ss_req(s, 0)->target, "/v1/topics", "create path (base given with /v1)");
    is_str(ss_req(s, 1)->method, "GET", "then a GET");
    is_int(driftq_topic_ensure(c, "a&b", 0), DRIFTQ_EPROTOCOL,
           "ensure fails when the topic is not listed after a 201");
    is_str(ss_req(s, 2)->body, "{\"name\":\"a&b\",\"partitions\":1}", "partitions 0 sent as 1");
    is_int(driftq_health(c), 0, "health");
    is_str(ss_req(s, 4)->target, "/v1/healthz", "health path");
    driftq_server_info *v = NULL;
    is_int(driftq_server_info_get(&v, c), 0, "version");
    is_str(driftq_server_info_version(v), "dev", "version string");
    is_int(driftq_server_info_wal_enabled(v), 1, "wal flag");
    driftq_server_info_free(v);
    driftq_client_free(c);
    ss_stop(s);
}

/* ---- consume ---- */

#define NDJSON_HEAD                                                                                \
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\nTransfer-Encoding: chunked\r\n\r\n"
#define MSG1                                                                                       \
    "{\"partition\":0,\"offset\":1,\"attempts\":1,\"key\":\"k\",\"value\":\"one\",\"last_error\":" \
    "\"\"}\n"
#define MSG2                                                                                       \
    "{\"partition\":1,\"offset\":2,\"attempts\":2,\"key\":\"k2\",\"value\":\"two\",\"last_"        \
    "error\":"                                                                                     \
    "\"ack_timeout\",\"envelope\":{\"run_id\":\"r\"}}\n"

typedef struct {
    int n;
    int stop_after;
    int ack;
    int ack_rc[8];
    char values[8][16];
    int attempts[8];
} seen;

static int on_msg(driftq_client *c, const driftq_message *m, void *ud)
{
    seen *x = ud;
    if (x->n < 8) {
        snprintf(x->values[x->n], sizeof x->values[0], "%s", driftq_message_value(m, NULL));
        x->attempts[x->n] = driftq_message_attempts(m);
        if (x->ack)
            x->ack_rc[x->n] = driftq_message_ack(c, m);
    }
    x->n++;
    return x->stop_after && x->n >= x->stop_after ? 5 : 0;
}

static char chunk_buf[4][512];
static const char *chunked(int slot, const char *head, const char *body, int last)
{
    snprintf(chunk_buf[slot], sizeof chunk_buf[slot], "%s%zx\r\n%s\r\n%s", head, strlen(body), body,
             last ? "0\r\n\r\n" : "");
    return chunk_buf[slot];
}

static void test_consume_stream(void)
{
    ss_step steps[] = {{chunked(0, NDJSON_HEAD, MSG1 MSG2, 0), SS_HOLD, 0},
                       {R204, SS_KEEP, 0},
                       {R204, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 3);
    driftq_client *c = client_for(s, "", 0);
    driftq_consume_options o = DRIFTQ_CONSUME_OPTIONS_INIT;
    o.owner = "me & you";
    o.lease_ms = 30000;
    seen x = {0};
    x.stop_after = 2;
    x.ack = 1;
    is_int(driftq_consume(c, "top ic", "g/1", &o, on_msg, &x), DRIFTQ_ESTOPPED,
           "callback's non-zero return stops the consume");
    is_int(x.n, 2, "two messages delivered");
    is_str(x.values[0], "one", "first value");
    is_str(x.values[1], "two", "second value");
    is_int(x.attempts[1], 2, "attempts");
    is_int(x.ack_rc[0], 0, "ack from inside the callback works");
    is_str(ss_req(s, 0)->target,
           "/v1/consume?topic=top%20ic&group=g%2F1&owner=me%20%26%20you&lease_ms=30000",
           "exact consume query");
    is_str(ss_req(s, 1)->body,
           "{\"topic\":\"top ic\",\"group\":\"g/1\",\"owner\":\"me & you\",\"partition\":0,"
           "\"offset\":1}",
           "ack carries the consume's topic, group and owner");
    is_str(ss_req(s, 2)->body,
           "{\"topic\":\"top ic\",\"group\":\"g/1\",\"owner\":\"me & you\",\"partition\":1,"
           "\"offset\":2}",
           "second ack");
    ok(strstr(driftq_client_errmsg(c), "5") != NULL, "errmsg tells the callback's value");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_consume_reconnect(void)
{
    /* First stream: one message then a clean end; second: a truncated chunk (shutdown);
     * third: one message. The consume reconnects each time. */
    ss_step steps[] = {{chunked(0, NDJSON_HEAD, MSG1, 1), SS_CLOSE, 0},
                       {NDJSON_HEAD "40\r\n{\"partition\":0,", SS_CLOSE, 0},
                       {chunked(1, NDJSON_HEAD, MSG2, 0), SS_HOLD, 0}};
    scripted *s = ss_start(steps, 3);
    driftq_client *c = client_for(s, "", 0);
    driftq_consume_options o = DRIFTQ_CONSUME_OPTIONS_INIT;
    o.reconnect_backoff_ms = 20;
    seen x = {0};
    x.stop_after = 2;
    is_int(driftq_consume(c, "t", "g", &o, on_msg, &x), DRIFTQ_ESTOPPED, "stopped after 2");
    is_int(x.n, 2, "a message from the first and the third stream, none from the cut one");
    is_int(ss_count(s), 3, "reconnected twice");
    is_str(ss_req(s, 2)->target, ss_req(s, 0)->target, "same consume request each time");
    ok(strstr(ss_req(s, 0)->target, "owner=") != NULL, "default owner sent");
    char owner[200];
    snprintf(owner, sizeof owner, "%s", driftq_client_owner(c));
    ok(strlen(owner) > 40 && strchr(owner, '-') != NULL, "default owner is host-pid-uuid");
    driftq_client *c2 = client_for(s, "", 0);
    ok(strcmp(owner, driftq_client_owner(c2)) != 0, "each client has its own owner");
    driftq_client_free(c2);
    driftq_client_free(c);
    ss_stop(s);

    /* max_reconnects bounds consecutive failures */
    ss_step f[] = {{"", SS_DROP, 0}, {"", SS_DROP, 0}, {"", SS_DROP, 0}};
    s = ss_start(f, 3);
    c = client_for(s, "", 0);
    o.max_reconnects = 2;
    is_int(driftq_consume(c, "t", "g", &o, on_msg, &x), DRIFTQ_ETRANSPORT,
           "gives up after max_reconnects failures in a row");
    is_int(ss_count(s), 3, "one try plus two reconnects");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_consume_errors(void)
{
    const char *nf = reply("400 Bad Request", "{\"error\":\"INVALID_ARGUMENT\",\"message\":"
                                              "\"topic does not exist (create it first)\"}\n");
    ss_step steps[] = {{nf, SS_KEEP, 0},
                       {chunked(0, NDJSON_HEAD, "{\"oops\":1}\n", 0), SS_HOLD, 0}};
    scripted *s = ss_start(steps, 2);
    driftq_client *c = client_for(s, "", 0);
    seen x = {0};
    is_int(driftq_consume(c, "nope", "g", NULL, on_msg, &x), DRIFTQ_ENOTFOUND,
           "unknown topic: an error, no reconnect loop");
    is_int(ss_count(s), 1, "asked once");
    is_int(driftq_consume(c, "t", "g", NULL, on_msg, &x), DRIFTQ_EPROTOCOL,
           "a line without partition/offset is a protocol error");
    is_int(x.n, 0, "callback never saw it");
    driftq_consume_options bad = DRIFTQ_CONSUME_OPTIONS_INIT;
    bad.lease_ms = -1;
    is_int(driftq_consume(c, "t", "g", &bad, on_msg, &x), DRIFTQ_EINVAL, "negative lease refused");
    is_int(driftq_consume(c, "t", "g", NULL, NULL, &x), DRIFTQ_EINVAL, "callback required");
    driftq_client_free(c);
    ss_stop(s);
}

typedef struct {
    driftq_client *c;
    int delay_ms;
} stopper;

static void *stop_later(void *arg)
{
    stopper *st = arg;
    usleep((useconds_t)st->delay_ms * 1000);
    driftq_consume_stop(st->c);
    return NULL;
}

static driftq_client *sig_client;
static void on_alarm(int sig)
{
    (void)sig;
    driftq_consume_stop(sig_client);
}

static void test_consume_stop(void)
{
    /* The broker sends nothing at all (not even headers) on a quiet topic. */
    ss_step steps[] = {{"", SS_HOLD, 0}, {"", SS_HOLD, 0}, {"", SS_HOLD, 0}};
    scripted *s = ss_start(steps, 3);
    driftq_client *c = client_for(s, "", 0);
    seen x = {0};
    stopper st = {c, 300};
    pthread_t th;
    pthread_create(&th, NULL, stop_later, &st);
    int64_t t0 = now_ms();
    is_int(driftq_consume(c, "t", "g", NULL, on_msg, &x), 0, "stop from another thread returns 0");
    int64_t took = now_ms() - t0;
    pthread_join(th, NULL);
    ok(took >= 250 && took < 1000, "returned promptly after the stop (silent stream, no headers)");
    diag("stop took %lld ms after a 300 ms delay", (long long)took);

    /* From a signal handler. */
    sig_client = c;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 0}, {0, 200000}};
    setitimer(ITIMER_REAL, &it, NULL);
    t0 = now_ms();
    is_int(driftq_consume(c, "t", "g", NULL, on_msg, &x), 0, "stop from a signal handler");
    took = now_ms() - t0;
    ok(took < 1000, "returned promptly after the signal");

    /* A stop requested while no consume runs makes the next one return at once. */
    driftq_consume_stop(c);
    t0 = now_ms();
    is_int(driftq_consume(c, "t", "g", NULL, on_msg, &x), 0, "pending stop honoured");
    ok(now_ms() - t0 < 200, "at once");
    driftq_client_free(c);
    ss_stop(s);
}

static void test_metrics(void)
{
    static const char body[] = "# HELP consumer_lag x\nconsumer_lag{topic=\"t\",group=\"g\","
                               "partition=\"0\"} 3\ninflight_messages{topic=\"t\",group=\"g\","
                               "partition=\"0\"} 2\n";
    char reply[512];
    snprintf(reply, sizeof reply,
             "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: "
             "%zu\r\n\r\n%s",
             strlen(body), body);
    ss_step steps[] = {{reply, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 1);
    driftq_client *c = client_for(s, "/v1", 0);
    driftq_metrics *m = NULL;
    is_int(driftq_metrics_get(&m, c), 0, "metrics");
    is_str(ss_req(s, 0)->target, "/metrics", "unversioned /metrics path");
    is_int(driftq_metrics_lag(m, "t", "g"), 3, "lag");
    is_int(driftq_metrics_inflight(m, "t", "g"), 2, "inflight");
    driftq_metrics_free(m);
    driftq_client_free(c);
    ss_stop(s);
}

typedef struct {
    int n;
    char last[256];
} logged;

static void on_log(int level, const char *msg, void *ud)
{
    logged *l = ud;
    l->n++;
    snprintf(l->last, sizeof l->last, "%d %s", level, msg);
}

static void test_options(void)
{
    /* A slow reply trips the request timeout; a huge one trips the size cap; the log callback
     * hears about the reconnect; a custom user agent is sent. */
    char huge[4096];
    memset(huge, 'x', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    char hugebody[4200];
    snprintf(hugebody, sizeof hugebody, "{\"status\":\"%s\"}", huge);
    ss_step steps[] = {{produced, SS_KEEP, 600},
                       {reply("200 OK", hugebody), SS_KEEP, 0},
                       {produced, SS_KEEP, 0},
                       {reply_h("429 Too Many Requests", "Retry-After: 0\r\n",
                                "{\"error\":\"RESOURCE_EXHAUSTED\",\"message\":\"full\"}\n"),
                        SS_KEEP, 0},
                       {produced, SS_KEEP, 0}};
    scripted *s = ss_start(steps, 5);
    logged lg = {0};
    driftq_client_options o = DRIFTQ_CLIENT_OPTIONS_INIT;
    o.url = ss_url(s);
    o.max_retries = 1;
    o.retry_backoff_ms = 10;
    o.request_timeout_ms = 200;
    o.max_response_bytes = 1024;
    o.user_agent = "my-app/1.0";
    o.log = on_log;
    o.log_userdata = &lg;
    driftq_client *c = NULL;
    is_int(driftq_client_new(&c, &o), 0, "client with options");
    int64_t t0 = now_ms();
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), DRIFTQ_ETIMEOUT, "request timeout");
    ok(now_ms() - t0 < 550, "returned at the timeout, not when the reply came");
    usleep(500000); /* let the slow reply drain */
    is_int(driftq_health(c), DRIFTQ_EPROTOCOL, "a reply over max_response_bytes is refused");
    ok(strstr(driftq_client_errmsg(c), "1024") != NULL, "errmsg names the cap");
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), 0, "next call works");
    char h[64];
    is_str(ss_header(ss_req(s, 2), "User-Agent", h, sizeof h), "my-app/1.0", "custom user agent");
    lg.n = 0;
    is_int(driftq_produce(c, "t", "k", "v", 1, NULL), 0, "retried after a 429");
    ok(lg.n == 1 && strstr(lg.last, "retry 1/1") != NULL, "the log callback heard about the retry");
    diag("log: %s", lg.last);
    driftq_client_free(c);
    ss_stop(s);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    test_produce_exact();
    test_produce_local_checks();
    test_retries();
    test_stale_connection();
    test_errors();
    test_topics();
    test_consume_stream();
    test_consume_reconnect();
    test_consume_errors();
    test_consume_stop();
    test_metrics();
    test_options();
    return tap_done();
}
