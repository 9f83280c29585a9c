/* Unit tests of libdriftq's stream message decoding and metrics parsing. */
#include "internal.h"
#include "message.h"
#include "tap.h"

static const char full[] =
    "{\"partition\":2,\"offset\":17,\"attempts\":3,\"key\":\"k\\u003c1\",\"value\":"
    "\"h\xc3\xa9llo\","
    "\"last_error\":\"ack_timeout | "
    "boom\",\"routing\":{\"label\":\"test-label\",\"meta\":{\"source\":"
    "\"router\"}},\"envelope\":{\"run_id\":\"r1\",\"step_id\":\"s1\",\"parent_step_id\":\"p0\","
    "\"tenant_id\":\"t9\",\"idempotency_key\":\"ik\",\"target_topic\":\"tt\",\"deadline\":"
    "\"2030-01-02T03:04:05.678Z\",\"partition_override\":1,\"retry_policy\":{\"max_attempts\":5,"
    "\"backoff_ms\":100,\"max_backoff_ms\":1000}},\"future_field\":[1,2]}";

/* The fast path must take the broker's usual lines and agree with json-c on them. */
static void check_paths(const char *line, const char *what)
{
    driftq_message *f = NULL, *j = NULL;
    int rf = dq_decode_line_path(line, strlen(line), &f, 1);
    int rj = dq_decode_line_path(line, strlen(line), &j, 2);
    ok(rf == DRIFTQ_OK && rj == DRIFTQ_OK, what);
    if (f && j) {
        size_t a, b;
        int same = strcmp(driftq_message_value(f, &a), driftq_message_value(j, &b)) == 0 &&
                   a == b &&
                   strcmp(driftq_message_key(f, NULL), driftq_message_key(j, NULL)) == 0 &&
                   driftq_message_offset(f) == driftq_message_offset(j) &&
                   driftq_message_partition(f) == driftq_message_partition(j) &&
                   driftq_message_attempts(f) == driftq_message_attempts(j) &&
                   strcmp(driftq_message_last_error(f), driftq_message_last_error(j)) == 0 &&
                   strcmp(driftq_message_routing_label(f), driftq_message_routing_label(j)) == 0 &&
                   !driftq_message_envelope(f) == !driftq_message_envelope(j);
        const char *mf = driftq_message_routing_meta_json(f),
                   *mj = driftq_message_routing_meta_json(j);
        same = same && ((!mf && !mj) || (mf && mj && strcmp(mf, mj) == 0));
        const driftq_envelope *ef = driftq_message_envelope(f), *ej = driftq_message_envelope(j);
        if (ef && ej)
            same = same && ef->deadline_ms == ej->deadline_ms &&
                   ef->retry_max_attempts == ej->retry_max_attempts &&
                   ((!ef->run_id && !ej->run_id) ||
                    (ef->run_id && ej->run_id && strcmp(ef->run_id, ej->run_id) == 0));
        ok(same, "  and agrees with json-c field by field");
    }
    driftq_message_free(f);
    driftq_message_free(j);
}

int main(void)
{
    driftq_message *m = NULL;
    ok(dq_decode_line(full, sizeof full - 1, &m) == DRIFTQ_OK && m, "full message decodes");
    is_int(driftq_message_partition(m), 2, "partition");
    is_int(driftq_message_offset(m), 17, "offset");
    is_int(driftq_message_attempts(m), 3, "attempts");
    size_t kl, vl;
    is_str(driftq_message_key(m, &kl), "k<1", "key unescaped");
    is_int(kl, 3, "key length");
    is_str(driftq_message_value(m, &vl), "h\xc3\xa9llo", "UTF-8 value");
    is_int(vl, 6, "value length in bytes");
    is_str(driftq_message_last_error(m), "ack_timeout | boom", "last_error");
    is_str(driftq_message_routing_label(m), "test-label", "routing label");
    is_str(driftq_message_routing_meta_json(m), "{\"source\":\"router\"}", "routing meta JSON");
    const driftq_envelope *e = driftq_message_envelope(m);
    ok(e != NULL, "envelope present");
    if (e) {
        is_str(e->run_id, "r1", "run_id");
        is_str(e->step_id, "s1", "step_id");
        is_str(e->parent_step_id, "p0", "parent_step_id");
        is_str(e->tenant_id, "t9", "tenant_id");
        is_str(e->idempotency_key, "ik", "idempotency_key");
        is_str(e->target_topic, "tt", "target_topic");
        is_int(e->deadline_ms, 1893553445678LL, "deadline parsed to Unix ms");
        is_int(e->partition_override, 1, "partition_override");
        is_int(e->retry_max_attempts, 5, "retry max_attempts");
        is_int(e->retry_backoff_ms, 100, "retry backoff_ms");
        is_int(e->retry_max_backoff_ms, 1000, "retry max_backoff_ms");
    }
    is_str(driftq_message_json(m), full, "raw JSON kept");
    is_str(driftq_message_topic(m), "t", "topic carried");
    {
        /* the full message without its unknown key (which sends it to json-c) */
        char known[sizeof full];
        snprintf(known, sizeof known, "%s", full);
        char *fut = strstr(known, ",\"future_field\"");
        if (fut)
            strcpy(fut, "}");
        check_paths(known, "fast path decodes a full message (envelope, routing, escapes)");
        driftq_message *u = NULL;
        ok(dq_decode_line_path(full, sizeof full - 1, &u, 1) == DRIFTQ_EPROTOCOL,
           "an unknown key sends the line to json-c");
        driftq_message_free(u);
    }
    check_paths("{\"partition\":0,\"offset\":5,\"attempts\":1,\"key\":\"k\",\"value\":"
                "\"caf\u00e9 \\u003c \\\"x\\\" \\n\",\"last_error\":\"\",\"routing\":{\"label\":"
                "\"test-label\",\"meta\":{\"source\":\"router\"}}}",
                "fast path decodes escapes and a message without envelope");
    check_paths("{\"partition\":3,\"offset\":9,\"attempts\":2,\"key\":\"\",\"value\":\"v\","
                "\"last_error\":\"ack_timeout\",\"routing\":{\"label\":\"\",\"meta\":{}},"
                "\"envelope\":{}}",
                "fast path decodes an empty envelope and empty meta");
    driftq_message *d = NULL;
    ok(driftq_message_dup(&d, m) == DRIFTQ_OK, "dup");
    driftq_message_free(m);
    is_str(driftq_message_value(d, NULL), "h\xc3\xa9llo", "dup outlives the original");
    is_str(driftq_message_envelope(d)->run_id, "r1", "dup's envelope owned");
    driftq_message_free(d);

    const char minimal[] =
        "{\"partition\":0,\"offset\":0,\"attempts\":1,\"key\":\"\",\"value\":\"v\","
        "\"last_error\":\"\"}";
    ok(dq_decode_line(minimal, sizeof minimal - 1, &m) == DRIFTQ_OK, "minimal message decodes");
    ok(driftq_message_envelope(m) == NULL, "no envelope when absent");
    ok(driftq_message_routing_meta_json(m) == NULL, "no routing when absent");
    is_str(driftq_message_key(m, NULL), "", "empty key");
    driftq_message_free(m);

    const char *bad[] = {"{\"offset\":1}",
                         "{\"partition\":0}",
                         "[1,2]",
                         "{\"partition\":-1,\"offset\":1}",
                         "{\"partition\":0,\"offset\":\"1\"}",
                         "not json",
                         "{\"partition\":0,\"offset\":1",
                         "{\"partition\":0,\"offset\":1}{\"partition\":1,\"offset\":2}",
                         "{\"partition\":0,\"offset\":1} x"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        m = NULL;
        int r = dq_decode_line(bad[i], strlen(bad[i]), &m);
        ok(r == DRIFTQ_EPROTOCOL && m == NULL, bad[i]);
    }

    const char metrics[] = "# HELP consumer_lag Lag\n# TYPE consumer_lag gauge\n"
                           "consumer_lag{topic=\"t\",group=\"g\",partition=\"0\"} 5\n"
                           "consumer_lag{group=\"g\",partition=\"1\",topic=\"t\"} 2\n"
                           "inflight_messages{topic=\"t\",group=\"g\",partition=\"0\"} 2\n"
                           "consumer_lag{topic=\"t\",group=\"h\",partition=\"0\"} 7\n"
                           "dlq_messages_total{topic=\"t\",reason=\"max_attempts\"} 3\n"
                           "dlq_messages_total{topic=\"t\",reason=\"other\"} 1\n"
                           "produce_rejected_total{reason=\"partition_buffer_full\"} 4\n"
                           "produce_rejected_total{reason=\"partition_buffer_bytes_full\"} 1\n"
                           "go_goroutines 12\n"
                           "consumer_lag{topic=\"q\\\"x\",group=\"g\",partition=\"0\"} 1e3\n";
    driftq_metrics *mt = NULL;
    ok(dq_metrics_parse(&mt, metrics, sizeof metrics - 1) == DRIFTQ_OK, "metrics parse");
    is_int(driftq_metrics_count(mt), 4, "one entry per (topic, group, partition)");
    is_int(driftq_metrics_lag(mt, "t", "g"), 7, "lag summed over partitions");
    is_int(driftq_metrics_lag(mt, "t", NULL), 14, "lag over all groups");
    is_int(driftq_metrics_inflight(mt, "t", "g"), 2, "inflight");
    is_int(driftq_metrics_inflight(mt, "t", "h"), -1, "inflight absent");
    is_int(driftq_metrics_lag(mt, "nope", NULL), -1, "unknown topic");
    is_int(driftq_metrics_dlq_total(mt, "t"), 4, "dlq total over reasons");
    is_int(driftq_metrics_rejected_total(mt, NULL), 5, "rejections over reasons");
    is_int(driftq_metrics_rejected_total(mt, "partition_buffer_full"), 4, "rejections by reason");
    is_int(driftq_metrics_lag(mt, "q\"x", "g"), 1000, "escaped label and float value");
    const driftq_partition_stats *ps = driftq_metrics_at(mt, 0);
    ok(ps && strcmp(ps->topic, "t") == 0 && ps->partition == 0 && ps->lag == 5, "entry accessor");
    ok(driftq_metrics_at(mt, 99) == NULL, "out of range entry");
    driftq_metrics_free(mt);

    for (int code = 0; code >= -14; code--)
        ok(strcmp(driftq_strerror(code), "unknown error") != 0, driftq_strerror(code));
    is_str(driftq_strerror(-999), "unknown error", "unknown code");
    driftq_client_options o;
    ok(driftq_client_options_init(&o, 99) == DRIFTQ_EINVAL, "unknown options version refused");
    ok(driftq_client_options_init(&o, DRIFTQ_CLIENT_OPTIONS_VERSION) == 0 && o.max_retries == 5,
       "options defaults");
    driftq_client *c = NULL;
    ok(driftq_client_new(&c, &o) == DRIFTQ_EINVAL && c == NULL, "no URL refused, out untouched");
    o.url = "ftp://x";
    ok(driftq_client_new(&c, &o) == DRIFTQ_EINVAL, "non-HTTP URL refused");
    o.version = 0;
    o.url = "http://127.0.0.1:1";
    ok(driftq_client_new(&c, &o) == DRIFTQ_EINVAL, "zeroed options (no version) refused");
    driftq_client_free(NULL);
    driftq_message_free(NULL);
    driftq_metrics_free(NULL);
    driftq_topic_list_free(NULL);
    driftq_server_info_free(NULL);
    ok(1, "destructors accept NULL");
    return tap_done();
}
