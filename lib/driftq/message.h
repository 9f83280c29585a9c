/* libdriftq's stream messages, private to the library: the value behind driftq_message and the
 * decoder that turns one NDJSON line of the consume stream into it. The decoder (message.c) is
 * pure code with no I/O; the stream loop (consume.c), the unit test and the fuzzer use it. */
#ifndef DRIFTQ_MESSAGE_H
#define DRIFTQ_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "driftq/driftq.h"
#include "buf.h"

/* A decoded message. All strings live in one arena; the pointers are fixed up after decoding. */
struct driftq_message {
    const char *topic, *group, *owner; /* borrowed from the consume, or in the arena (dup) */
    int partition;
    int64_t offset;
    int attempts;
    size_t key_len, value_len;
    const char *key, *value, *last_error, *json;
    const char *routing_label, *routing_meta;
    int has_env;
    driftq_envelope env;
    rc_buf arena;
    int owned; /* 1 for driftq_message_dup copies: free() the struct too */
};

/* Decodes one NDJSON line into m (which is reset first): the fast path, json-c when it declines.
 * Returns 0, -1 (bad line, the reason in why), -2 (nomem). */
int dq_message_decode(struct driftq_message *m, json_tokener *tok, const char *line, size_t len,
                      char *why, size_t why_cap);

/* Internal entry points for unit tests and fuzzers (not exported). */
int dq_decode_line(const char *line, size_t len, driftq_message **out);
/* path: 0 the library's choice, 1 the fast path only, 2 json-c only. */
int dq_decode_line_path(const char *line, size_t len, driftq_message **out, int path);

#endif
