/* libFuzzer target: libdriftq's stream message decoding (dq_decode_line) and its Prometheus
 * metrics parser (dq_metrics_parse), both fed the same input.
 *
 * dq_decode_line gets the input as the consume stream hands lines over: NUL-terminated (the
 * NDJSON splitter always terminates its lines), possibly with embedded NULs or newlines.
 * dq_metrics_parse gets an exact-size copy with no terminator: it is length-bounded. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void touch(const char *s, size_t len)
{
    size_t h = 0;
    for (size_t i = 0; i < len; i++)
        h = h * 31 + (unsigned char)s[i];
    sink += h;
}

static void touch_str(const char *s)
{
    if (s)
        touch(s, strlen(s) + 1);
}

static void check_message(const driftq_message *m)
{
    if (driftq_message_partition(m) < 0 || driftq_message_offset(m) < 0)
        abort();
    size_t kl, vl;
    const char *k = driftq_message_key(m, &kl);
    const char *v = driftq_message_value(m, &vl);
    if (!k || !v || k[kl] != '\0' || v[vl] != '\0')
        abort();
    touch(k, kl);
    touch(v, vl);
    touch_str(driftq_message_topic(m));
    touch_str(driftq_message_group(m));
    touch_str(driftq_message_owner(m));
    touch_str(driftq_message_last_error(m));
    touch_str(driftq_message_routing_label(m));
    touch_str(driftq_message_routing_meta_json(m));
    touch_str(driftq_message_json(m));
    sink += (size_t)driftq_message_attempts(m);
    const driftq_envelope *e = driftq_message_envelope(m);
    if (e) {
        touch_str(e->run_id);
        touch_str(e->step_id);
        touch_str(e->parent_step_id);
        touch_str(e->tenant_id);
        touch_str(e->idempotency_key);
        touch_str(e->target_topic);
        sink += (size_t)e->deadline_ms + (size_t)e->partition_override +
                (size_t)e->retry_policy.max_attempts + (size_t)e->retry_policy.backoff_ms +
                (size_t)e->retry_policy.max_backoff_ms;
    }
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return;
    memcpy(line, data, size);
    line[size] = '\0';
    driftq_message *m = NULL;
    int r = dq_decode_line(line, size, &m);
    if (r == DRIFTQ_OK) {
        if (!m)
            abort();
        check_message(m);
        /* The raw JSON is kept verbatim. */
        if (memcmp(driftq_message_json(m), line, size) != 0)
            abort();
        /* A copy decodes the kept JSON again and must agree. */
        driftq_message *d = NULL;
        if (driftq_message_dup(&d, m) == DRIFTQ_OK) {
            check_message(d);
            size_t a, b;
            driftq_message_value(m, &a);
            driftq_message_value(d, &b);
            if (a != b || driftq_message_offset(m) != driftq_message_offset(d) ||
                driftq_message_partition(m) != driftq_message_partition(d))
                abort();
            driftq_message_free(d);
        }
        driftq_message_free(m);
    } else if (r != DRIFTQ_EPROTOCOL && r != DRIFTQ_ENOMEM) {
        abort();
    }
    free(line);
}

static void fuzz_metrics(const uint8_t *data, size_t size)
{
    char *text = malloc(size ? size : 1);
    if (!text)
        return;
    memcpy(text, data, size);
    driftq_metrics *mt = NULL;
    if (dq_metrics_parse(&mt, text, size) == DRIFTQ_OK) {
        size_t n = driftq_metrics_count(mt);
        for (size_t i = 0; i < n; i++) {
            const driftq_partition_stats *s = driftq_metrics_at(mt, i);
            if (!s || !s->topic || !s->group)
                abort();
            touch_str(s->topic);
            touch_str(s->group);
            sink += (size_t)driftq_metrics_lag(mt, s->topic, s->group) +
                    (size_t)driftq_metrics_inflight(mt, s->topic, NULL) +
                    (size_t)driftq_metrics_dlq_total(mt, s->topic);
        }
        if (driftq_metrics_at(mt, n) != NULL)
            abort();
        sink += (size_t)driftq_metrics_rejected_total(mt, NULL) +
                (size_t)driftq_metrics_rejected_total(mt, "partition_buffer_full") +
                (size_t)driftq_metrics_lag(mt, "t", NULL);
        driftq_metrics_free(mt);
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_decode(data, size);
    fuzz_metrics(data, size);
    return 0;
}
