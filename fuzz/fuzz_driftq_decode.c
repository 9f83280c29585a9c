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
#include "message.h"

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
                (size_t)e->retry_max_attempts + (size_t)e->retry_backoff_ms +
                (size_t)e->retry_max_backoff_ms;
    }
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The fast path and json-c must agree on every field of a message both accept. */
static void check_same(const driftq_message *a, const driftq_message *b)
{
    size_t ak, bk, av, bv;
    const char *ka = driftq_message_key(a, &ak), *kb = driftq_message_key(b, &bk);
    const char *va = driftq_message_value(a, &av), *vb = driftq_message_value(b, &bv);
    if (driftq_message_partition(a) != driftq_message_partition(b) ||
        driftq_message_offset(a) != driftq_message_offset(b) ||
        driftq_message_attempts(a) != driftq_message_attempts(b) || ak != bk || av != bv ||
        memcmp(ka, kb, ak) != 0 || memcmp(va, vb, av) != 0 ||
        !same_str(driftq_message_last_error(a), driftq_message_last_error(b)) ||
        !same_str(driftq_message_routing_label(a), driftq_message_routing_label(b)) ||
        !same_str(driftq_message_routing_meta_json(a), driftq_message_routing_meta_json(b)))
        abort();
    const driftq_envelope *x = driftq_message_envelope(a), *y = driftq_message_envelope(b);
    if (!x != !y)
        abort();
    if (x &&
        (!same_str(x->run_id, y->run_id) || !same_str(x->step_id, y->step_id) ||
         !same_str(x->parent_step_id, y->parent_step_id) || !same_str(x->tenant_id, y->tenant_id) ||
         !same_str(x->idempotency_key, y->idempotency_key) ||
         !same_str(x->target_topic, y->target_topic) || x->deadline_ms != y->deadline_ms ||
         x->partition_override != y->partition_override ||
         x->retry_max_attempts != y->retry_max_attempts ||
         x->retry_backoff_ms != y->retry_backoff_ms ||
         x->retry_max_backoff_ms != y->retry_max_backoff_ms))
        abort();
}

static void fuzz_paths(const char *line, size_t size)
{
    driftq_message *f = NULL, *j = NULL;
    if (dq_decode_line_path(line, size, &f, 1) == DRIFTQ_OK) {
        if (dq_decode_line_path(line, size, &j, 2) != DRIFTQ_OK)
            abort(); /* the fast path accepted what json-c refuses */
        check_same(f, j);
    }
    driftq_message_free(f);
    driftq_message_free(j);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    char *line = malloc(size + 1);
    if (!line)
        return;
    memcpy(line, data, size);
    line[size] = '\0';
    fuzz_paths(line, size);
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
