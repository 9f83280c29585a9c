/* Integration tests: libdriftq against a DriftQ broker. Runs unchanged against the real broker
 * (DRIFTQ_TEST_URL) or, by default, the loopback test broker started for this process. Every
 * topic is unique to the run, so a long-lived broker's state does not matter. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "driftq/driftq.h"
#include "servers.h"
#include "tap.h"

static const char *url;

static driftq_client *new_client(int retries)
{
    driftq_client_options o = DRIFTQ_CLIENT_OPTIONS_INIT;
    o.url = url;
    o.max_retries = retries;
    o.retry_backoff_ms = 20;
    o.retry_max_backoff_ms = 200;
    driftq_client *c = NULL;
    return driftq_client_new(&c, &o) == 0 ? c : NULL;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- a consume helper: collects messages until a condition or a deadline ---- */

typedef struct {
    int max;       /* stop after this many messages */
    int ack;       /* 1: ack each, 2: nack each with "boom" */
    int64_t until; /* deadline (monotonic ms): a watchdog thread stops the consume */
    int n;
    int partition[64];
    int64_t offset[64];
    int attempts[64];
    char value[64][96];
    char last_error[64][160];
    char run_id[64][32];
    char idem[64][48];
    int ack_rc[64];
} collect;

static int on_msg(driftq_client *c, const driftq_message *m, void *ud)
{
    collect *x = ud;
    if (x->n < 64) {
        int i = x->n;
        x->partition[i] = driftq_message_partition(m);
        x->offset[i] = driftq_message_offset(m);
        x->attempts[i] = driftq_message_attempts(m);
        snprintf(x->value[i], sizeof x->value[i], "%s", driftq_message_value(m, NULL));
        snprintf(x->last_error[i], sizeof x->last_error[i], "%s", driftq_message_last_error(m));
        const driftq_envelope *e = driftq_message_envelope(m);
        snprintf(x->run_id[i], sizeof x->run_id[i], "%s", e && e->run_id ? e->run_id : "");
        snprintf(x->idem[i], sizeof x->idem[i], "%s",
                 e && e->idempotency_key ? e->idempotency_key : "");
        if (x->ack == 1)
            x->ack_rc[i] = driftq_message_ack(c, m);
        else if (x->ack == 2)
            x->ack_rc[i] = driftq_message_nack(c, m, "boom");
    }
    x->n++;
    return x->n >= x->max ? 1 : 0;
}

typedef struct {
    driftq_client *c;
    int64_t until;
    atomic_int done;
} watchdog;

static void *watch(void *arg)
{
    watchdog *w = arg;
    while (!atomic_load(&w->done)) {
        if (now_ms() >= w->until) {
            driftq_consume_stop(w->c);
            break;
        }
        usleep(20000);
    }
    return NULL;
}

/* Consumes until x->max messages or timeout_ms; returns driftq_consume's result. */
static int consume_for(driftq_client *c, const char *topic, const char *group, int64_t lease_ms,
                       collect *x, int timeout_ms)
{
    driftq_consume_options o = DRIFTQ_CONSUME_OPTIONS_INIT;
    o.lease_ms = lease_ms;
    o.reconnect_backoff_ms = 50;
    watchdog w = {c, now_ms() + timeout_ms, 0};
    pthread_t th;
    pthread_create(&th, NULL, watch, &w);
    int rc = driftq_consume(c, topic, group, &o, on_msg, x);
    atomic_store(&w.done, 1);
    pthread_join(th, NULL);
    return rc;
}

static void test_server_and_topics(driftq_client *c)
{
    char t[96];
    ts_unique("it-topics", t, sizeof t);
    is_int(driftq_health(c), 0, "health");
    driftq_server_info *v = NULL;
    is_int(driftq_server_info_get(&v, c), 0, "version");
    ok(v && strlen(driftq_server_info_version(v)) > 0, "version string present");
    driftq_server_info_free(v);
    is_int(driftq_topic_ensure(c, t, 3), 0, "ensure a new topic with 3 partitions");
    is_int(driftq_topic_create(c, t, 5), 0, "creating it again also succeeds (201)");
    driftq_topic_list *l = NULL;
    is_int(driftq_topic_list_get(&l, c), 0, "list topics");
    ok(driftq_topic_list_contains(l, t), "new topic listed");
    int sorted = 1;
    for (size_t i = 1; i < driftq_topic_list_count(l); i++)
        if (strcmp(driftq_topic_list_name(l, i - 1), driftq_topic_list_name(l, i)) > 0)
            sorted = 0;
    ok(sorted, "list is sorted");
    driftq_topic_list_free(l);
    is_int(driftq_produce(c, "no-such-topic-xyz", "k", "v", 1, NULL), DRIFTQ_ENOTFOUND,
           "produce to an unknown topic: ENOTFOUND");
    ok(strstr(driftq_client_errmsg(c), "topic does not exist") != NULL, "with the broker's words");
    is_int(driftq_client_http_status(c), 400, "a 400 on the wire");
    collect x = {.max = 1};
    is_int(consume_for(c, "no-such-topic-xyz", "g", 0, &x, 3000), DRIFTQ_ENOTFOUND,
           "consume of an unknown topic: ENOTFOUND before the stream starts");
}

static void test_roundtrip(driftq_client *c)
{
    char t[96], g[96];
    ts_unique("it-rt", t, sizeof t);
    ts_unique("g", g, sizeof g);
    driftq_topic_ensure(c, t, 2);
    driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
    env.run_id = "run-42";
    env.step_id = "embed";
    env.tenant_id = "acme";
    const char *vals[] = {"first", "s\xc3\xa9\x63ond <&>", "third \"quoted\"\n"};
    for (int i = 0; i < 3; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        is_int(driftq_produce(c, t, key, vals[i], strlen(vals[i]), &env), 0, "produce");
    }
    collect x = {.max = 3, .ack = 1};
    is_int(consume_for(c, t, g, 5000, &x, 10000), DRIFTQ_ESTOPPED, "consumed three");
    is_int(x.n, 3, "three messages");
    int found[3] = {0};
    for (int i = 0; i < x.n && i < 3; i++) {
        for (int j = 0; j < 3; j++)
            if (strcmp(x.value[i], vals[j]) == 0)
                found[j] = 1;
        is_int(x.attempts[i], 1, "first delivery");
        is_str(x.run_id[i], "run-42", "envelope run_id round-trips");
        is_int(x.ack_rc[i], 0, "ack");
    }
    ok(found[0] && found[1] && found[2], "every value arrived intact (UTF-8, escapes)");
    /* All acked: a new consume of the same group gets nothing within a short wait. */
    collect y = {.max = 1};
    is_int(consume_for(c, t, g, 5000, &y, 700), 0, "stopped by the watchdog");
    is_int(y.n, 0, "acked messages are not delivered again");
    /* A new group starts at the earliest message. */
    collect z = {.max = 3, .ack = 1};
    char g2[96];
    ts_unique("g2", g2, sizeof g2);
    consume_for(c, t, g2, 5000, &z, 10000);
    is_int(z.n, 3, "a new group reads from the earliest offset");
}

static void test_nack_and_dlq(driftq_client *c)
{
    char t[96], g[96], dlq[128];
    ts_unique("it-dlq", t, sizeof t);
    ts_unique("g", g, sizeof g);
    snprintf(dlq, sizeof dlq, "dlq.%s", t);
    driftq_topic_ensure(c, t, 1);
    driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
    env.run_id = "run-dlq";
    env.retry_max_attempts = 2;
    is_int(driftq_produce(c, t, "k", "poison", 6, &env), 0, "produce with max_attempts 2");
    /* Nack each delivery: attempt 1 and 2, then the broker moves it to dlq.<topic>. */
    collect x = {.max = 2, .ack = 2};
    consume_for(c, t, g, 5000, &x, 10000);
    is_int(x.n, 2, "delivered twice");
    is_int(x.attempts[0], 1, "attempt 1");
    is_int(x.attempts[1], 2, "nack redelivers at once with attempts+1");
    ok(strstr(x.last_error[1], "boom") != NULL, "last_error carries the nack reason");
    is_int(x.ack_rc[0], 0, "nack accepted");
    /* The broker routes to the DLQ on the next redelivery tick, while a stream is connected. */
    collect more = {.max = 1};
    consume_for(c, t, g, 5000, &more, 1500);
    is_int(more.n, 0, "not delivered a third time");
    driftq_topic_list *l = NULL;
    driftq_topic_list_get(&l, c);
    ok(driftq_topic_list_contains(l, dlq), "dlq.<topic> was created");
    driftq_topic_list_free(l);
    collect d = {.max = 1, .ack = 1};
    consume_for(c, dlq, g, 5000, &d, 5000);
    is_int(d.n, 1, "the message is in the DLQ");
    is_str(d.value[0], "poison", "with its value");
    is_str(d.run_id[0], "run-dlq", "and its envelope");
    is_int(d.attempts[0], 1, "attempts restart at 1 in the DLQ");
}

static void test_lease_expiry(driftq_client *c)
{
    char t[96], g[96];
    ts_unique("it-lease", t, sizeof t);
    ts_unique("g", g, sizeof g);
    driftq_topic_ensure(c, t, 1);
    driftq_produce(c, t, "k", "slow", 4, NULL);
    /* Take it without acking, with a short lease; it comes back with attempts 2. */
    collect x = {.max = 2};
    int64_t t0 = now_ms();
    consume_for(c, t, g, 400, &x, 8000);
    int64_t took = now_ms() - t0;
    is_int(x.n, 2, "redelivered after the lease expired");
    is_int(x.attempts[1], 2, "attempts+1");
    ok(strncmp(x.last_error[1], "ack_timeout", 11) == 0, "last_error starts with ack_timeout");
    ok(took >= 400, "not before the lease ran out");
    /* The first delivery's lease moved on: acking it now is refused as final. */
    int rc = driftq_ack(c, t, g, "someone-else", x.partition[1], x.offset[1]);
    is_int(rc, DRIFTQ_ENOTOWNER, "ack by another owner: ENOTOWNER (409)");
    is_int(driftq_client_http_status(c), 409, "409 on the wire");
    rc = driftq_ack(c, t, g, driftq_client_owner(c), x.partition[1], x.offset[1]);
    is_int(rc, 0, "the owner's ack succeeds");
    rc = driftq_ack(c, t, g, driftq_client_owner(c), x.partition[1], x.offset[1]);
    is_int(rc, DRIFTQ_ENOTINFLIGHT, "acking twice: ENOTINFLIGHT");
}

static void test_idempotency(driftq_client *c)
{
    char t[96], g[96], key[96];
    ts_unique("it-idem", t, sizeof t);
    ts_unique("g", g, sizeof g);
    ts_unique("idem", key, sizeof key);
    driftq_topic_ensure(c, t, 1);
    driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
    env.idempotency_key = key;
    is_int(driftq_produce(c, t, "k", "once", 4, &env), 0, "first keyed produce");
    is_int(driftq_produce(c, t, "k", "once", 4, &env), 0, "the duplicate also answers 200");
    driftq_produce(c, t, "k", "marker", 6, NULL);
    collect x = {.max = 3, .ack = 1};
    consume_for(c, t, g, 5000, &x, 1500);
    is_int(x.n, 2, "the duplicate was not appended");
}

static void test_backpressure(driftq_client *c)
{
    char t[96];
    ts_unique("it-429", t, sizeof t);
    driftq_topic_ensure(c, t, 1);
    driftq_client *nr = new_client(0);
    int rc = 0, i;
    for (i = 0; i < 200 && rc == 0; i++)
        rc = driftq_produce(nr, t, "", "x", 1, NULL);
    is_int(rc, DRIFTQ_EOVERLOADED, "a topic nobody acks fills up: EOVERLOADED");
    is_int(i, 101, "after exactly 100 messages");
    is_int(driftq_client_http_status(nr), 429, "429 on the wire");
    is_int(driftq_client_retry_after_ms(nr), 1000, "retry_after_ms from the broker");
    is_str(driftq_client_server_code(nr), "RESOURCE_EXHAUSTED", "server code");
    driftq_metrics *m = NULL;
    if (driftq_metrics_get(&m, nr) == 0)
        ok(driftq_metrics_rejected_total(m, "partition_buffer_full") >= 1,
           "metrics count the rejection");
    else
        ok(0, "metrics");
    driftq_metrics_free(m);
    driftq_client_free(nr);
    /* A message that can never be accepted fails at once, without a request. */
    static char big[65536];
    memset(big, 'b', sizeof big);
    is_int(driftq_produce(c, t, NULL, big, sizeof big, NULL), DRIFTQ_ETOOLARGE,
           "64 KiB value: ETOOLARGE, no retry loop");
}

static void test_metrics_lag(driftq_client *c)
{
    char t[96], g[96];
    ts_unique("it-metrics", t, sizeof t);
    ts_unique("g", g, sizeof g);
    driftq_topic_ensure(c, t, 1);
    for (int i = 0; i < 5; i++)
        driftq_produce(c, t, "k", "m", 1, NULL);
    collect x = {.max = 1, .ack = 1};
    consume_for(c, t, g, 5000, &x, 5000);
    driftq_metrics *m = NULL;
    is_int(driftq_metrics_get(&m, c), 0, "metrics");
    int64_t lag = driftq_metrics_lag(m, t, g);
    ok(lag >= 3 && lag <= 4, "lag of the group after acking one of five");
    diag("lag=%lld inflight=%lld", (long long)lag, (long long)driftq_metrics_inflight(m, t, g));
    driftq_metrics_free(m);
}

static void test_keepalive(driftq_client *c)
{
    char t[96];
    ts_unique("it-ka", t, sizeof t);
    driftq_topic_ensure(c, t, 1);
    driftq_client *k = new_client(0);
    is_int(driftq_produce(k, t, "k", "a", 1, NULL), 0, "produce");
    long conns = driftq_client_connections(k);
    for (int i = 0; i < 20; i++)
        driftq_produce(k, t, "k", "b", 1, NULL);
    is_int(driftq_client_connections(k), conns, "20 more produces reuse the connection");
    /* The broker closes connections idle for more than 5 s; the next call reconnects. */
    sleep(6);
    is_int(driftq_produce(k, t, "k", "c", 1, NULL), 0, "produce after a 6 s idle succeeds");
    ok(driftq_client_connections(k) <= conns + 1, "by opening one new connection");
    driftq_client_free(k);
}

typedef struct {
    const char *topic;
    int delay_ms;
} late_producer;

static void *produce_later(void *arg)
{
    late_producer *p = arg;
    usleep((useconds_t)p->delay_ms * 1000);
    driftq_client *c = new_client(5);
    driftq_produce(c, p->topic, "k", "late", 4, NULL);
    driftq_client_free(c);
    return NULL;
}

static void test_quiet_stream(driftq_client *c)
{
    /* A consume on a quiet topic receives nothing at all (no headers) until a message arrives. */
    char t[96], g[96];
    ts_unique("it-quiet", t, sizeof t);
    ts_unique("g", g, sizeof g);
    driftq_topic_ensure(c, t, 1);
    late_producer p = {t, 1500};
    pthread_t th;
    pthread_create(&th, NULL, produce_later, &p);
    collect x = {.max = 1, .ack = 1};
    int64_t t0 = now_ms();
    int rc = consume_for(c, t, g, 5000, &x, 8000);
    int64_t took = now_ms() - t0;
    pthread_join(th, NULL);
    is_int(rc, DRIFTQ_ESTOPPED, "message arrived on a stream that was silent at first");
    ok(took >= 1400, "the consume waited (no header timeout)");
    is_str(x.value[0], "late", "the late message");
    /* Stop a silent stream promptly. */
    collect y = {.max = 1};
    t0 = now_ms();
    rc = consume_for(c, t, g, 5000, &y, 300);
    took = now_ms() - t0;
    is_int(rc, 0, "stop on a silent stream returns 0");
    ok(took < 1300, "promptly");
}

static void test_restart(driftq_client *c)
{
    if (!ts_driftq_is_ours()) {
        ok(1, "# SKIP broker restart needs the test broker");
        return;
    }
    char t[96], g[96];
    ts_unique("it-restart", t, sizeof t);
    ts_unique("g", g, sizeof g);
    driftq_topic_ensure(c, t, 1);
    driftq_produce(c, t, "k", "before", 6, NULL);
    collect x = {.max = 1, .ack = 1};
    consume_for(c, t, g, 5000, &x, 5000);
    is_str(x.value[0], "before", "consumed before the restart");
    ok(ts_driftq_restart() == 0, "broker restarted");
    /* Produce after the restart (the topic exists again once it has a message). */
    is_int(driftq_produce(c, t, "k", "after", 5, NULL), 0, "produce after restart reconnects");
    collect y = {.max = 1, .ack = 1};
    consume_for(c, t, g, 5000, &y, 5000);
    is_str(y.value[0], "after", "committed offset survived: only the new message is delivered");
}

static void *restart_later(void *arg)
{
    (void)arg;
    usleep(500000);
    ts_driftq_restart();
    return NULL;
}

static void test_consume_across_restart(driftq_client *c)
{
    if (!ts_driftq_is_ours()) {
        ok(1, "# SKIP broker restart needs the test broker");
        return;
    }
    char t[96], g[96];
    ts_unique("it-rs", t, sizeof t);
    ts_unique("g", g, sizeof g);
    driftq_topic_ensure(c, t, 1);
    driftq_produce(c, t, "k", "seed", 4, NULL);
    collect x = {.max = 1, .ack = 1};
    consume_for(c, t, g, 5000, &x, 5000);
    /* A consume is running on a silent stream when the broker goes away and comes back. */
    pthread_t th;
    pthread_create(&th, NULL, restart_later, NULL);
    late_producer p = {t, 2000};
    pthread_t th2;
    pthread_create(&th2, NULL, produce_later, &p);
    collect y = {.max = 1, .ack = 1};
    int rc = consume_for(c, t, g, 5000, &y, 10000);
    pthread_join(th, NULL);
    pthread_join(th2, NULL);
    is_int(rc, DRIFTQ_ESTOPPED, "the consume survived the restart");
    is_str(y.value[0], "late", "and received the message produced after it");
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    url = ts_driftq_url();
    if (!url)
        skip_all("no DriftQ broker (set DRIFTQ_TEST_URL or install python3)");
    diag("broker: %s", url);
    driftq_client *c = new_client(3);
    ok(c != NULL, "client");
    test_server_and_topics(c);
    test_roundtrip(c);
    test_nack_and_dlq(c);
    test_lease_expiry(c);
    test_idempotency(c);
    test_backpressure(c);
    test_metrics_lag(c);
    test_quiet_stream(c);
    test_keepalive(c);
    test_restart(c);
    test_consume_across_restart(c);
    driftq_client_free(c);
    return tap_done();
}
