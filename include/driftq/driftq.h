/*
 * libdriftq: a C client for the DriftQ broker's v1 HTTP API.
 *
 * Names, errors, ownership (owned out-parameters, borrowed return values), versioned options
 * structs and callbacks follow doc/conventions.md, shared with libqdrantc; a function whose
 * comment says otherwise departs from it there. Message keys, values and envelopes are never
 * logged.
 *
 * Threading: a driftq_client may be used by one thread at a time. Separate clients are fully
 * independent. The single exception is driftq_consume_stop(), which may be called from any thread
 * or from a signal handler while another thread runs driftq_consume() on the same client.
 */
#ifndef DRIFTQ_DRIFTQ_H
#define DRIFTQ_DRIFTQ_H

#include <stddef.h>
#include <stdint.h>

#if defined(DRIFTQ_BUILDING) && defined(__GNUC__)
#define DRIFTQ_API __attribute__((visibility("default")))
#else
#define DRIFTQ_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define DRIFTQ_VERSION_MAJOR 0
#define DRIFTQ_VERSION_MINOR 2
#define DRIFTQ_VERSION_PATCH 0
/* The shared library's ABI major (the soname's number). */
#define DRIFTQ_ABI_MAJOR 1

/* Error codes. Append-only: values are never renumbered. */
typedef enum driftq_error {
    DRIFTQ_OK = 0,
    DRIFTQ_EINVAL = -1,      /* invalid argument (caught locally, or a 400 from the broker) */
    DRIFTQ_ENOMEM = -2,      /* out of memory */
    DRIFTQ_ETRANSPORT = -3,  /* connection refused/reset, DNS, TLS, cut-off response */
    DRIFTQ_ETIMEOUT = -4,    /* connect or request timeout */
    DRIFTQ_ENOTFOUND = -5,   /* 404, or "topic does not exist" */
    DRIFTQ_ECONFLICT = -6,   /* 409 other than "not owner"; idempotency key still in flight */
    DRIFTQ_EAUTH = -7,       /* 401 / 403 */
    DRIFTQ_EOVERLOADED = -8, /* 429 after the retry budget was spent */
    DRIFTQ_EPROTOCOL = -9,   /* a reply that does not follow the protocol, or is too large */
    DRIFTQ_ESTOPPED = -10,   /* a consume callback returned non-zero */
    DRIFTQ_ENOTOWNER = -11,  /* ack/nack: 409 "not owner" (the lease moved to another owner) */
    DRIFTQ_ENOTINFLIGHT =
        -12,               /* ack/nack: 400 "message is not in-flight" (acked, DLQ'd, restart) */
    DRIFTQ_ESERVER = -13,  /* 5xx after the retry budget was spent */
    DRIFTQ_ETOOLARGE = -14 /* the broker can never accept this message (key+value >= 64 KiB) */
} driftq_error;

/* A static, never-NULL description of an error code. */
DRIFTQ_API const char *driftq_strerror(int code);

/* The library's version as "MAJOR.MINOR.PATCH" (static, never NULL). */
DRIFTQ_API const char *driftq_version_string(void);

typedef struct driftq_client driftq_client;

enum { DRIFTQ_LOG_DEBUG = 0, DRIFTQ_LOG_INFO = 1, DRIFTQ_LOG_WARN = 2, DRIFTQ_LOG_ERROR = 3 };
typedef void (*driftq_log_fn)(int level, const char *message, void *userdata);

#define DRIFTQ_CLIENT_OPTIONS_VERSION 1
typedef struct driftq_client_options {
    unsigned int version;
    /* Broker base URL, e.g. "http://127.0.0.1:8080" (a trailing "/" or "/v1" is accepted). */
    const char *url;
    long connect_timeout_ms; /* default 5000 */
    long request_timeout_ms; /* per request, not applied to consume; default 30000 */
    /* Retries of 429 and 5xx answers and of failed connections, with exponential backoff and
     * full jitter, honouring Retry-After / retry_after_ms. A produce is retried after a 5xx or a
     * transport failure only when it carries an idempotency key (otherwise it might be appended
     * twice); a 429 means nothing was appended, so it is always retried. */
    int max_retries;           /* default 5; 0 disables retries */
    long retry_backoff_ms;     /* first backoff, default 100 */
    long retry_max_backoff_ms; /* cap on one backoff, default 5000 */
    const char *user_agent;    /* default "libdriftq/<version>" */
    driftq_log_fn log;         /* optional */
    void *log_userdata;
    size_t max_response_bytes; /* cap on a reply body; default 8 MiB */
} driftq_client_options;

#define DRIFTQ_CLIENT_OPTIONS_INIT                                                                 \
    {                                                                                              \
        DRIFTQ_CLIENT_OPTIONS_VERSION, NULL, 5000, 30000, 5, 100, 5000, NULL, NULL, NULL, 8u << 20 \
    }

/* Fills opts with the defaults for the given version. Returns DRIFTQ_EINVAL for an unknown one. */
DRIFTQ_API int driftq_client_options_init(driftq_client_options *opts, unsigned int version);

/* Creates a client. No connection is made until the first call. */
DRIFTQ_API int driftq_client_new(driftq_client **out, const driftq_client_options *opts);
DRIFTQ_API void driftq_client_free(driftq_client *client);

/* Detail of the client's last failed call. The strings are borrowed from the client, valid until
 * its next call ("" when none). */
DRIFTQ_API const char *driftq_client_errmsg(const driftq_client *client);
DRIFTQ_API int driftq_client_http_status(const driftq_client *client); /* 0: none */
/* The broker's error code, e.g. "INVALID_ARGUMENT" ("" when none); borrowed from the client,
 * valid until its next call. */
DRIFTQ_API const char *driftq_client_server_code(const driftq_client *client);
DRIFTQ_API long driftq_client_retry_after_ms(const driftq_client *client); /* -1: none */
/* The request id of the last failed call ("" when none); borrowed from the client, valid until
 * its next call. */
DRIFTQ_API const char *driftq_client_request_id(const driftq_client *client);
/* This client's default consumer owner: "<host>-<pid>-<uuid>", unique per client; borrowed from
 * the client, valid until driftq_client_free(client). */
DRIFTQ_API const char *driftq_client_owner(const driftq_client *client);
/* TCP connections opened so far (connection reuse shows as a number that stays put). */
DRIFTQ_API long driftq_client_connections(const driftq_client *client);

/* ---- Server ---------------------------------------------------------------------------- */

/* GET /v1/healthz: 0 when the broker answers {"status":"ok"}. */
DRIFTQ_API int driftq_health(driftq_client *client);

/* GET /v1/version: the broker's version, commit and whether its write-ahead log is on. */
typedef struct driftq_server_info driftq_server_info;
DRIFTQ_API int driftq_server_info_get(driftq_server_info **out, driftq_client *client);
/* Borrowed from v, valid until driftq_server_info_free(v). */
DRIFTQ_API const char *driftq_server_info_version(const driftq_server_info *v);
DRIFTQ_API const char *driftq_server_info_commit(const driftq_server_info *v);
DRIFTQ_API int driftq_server_info_wal_enabled(const driftq_server_info *v); /* 1/0/-1 */
DRIFTQ_API void driftq_server_info_free(driftq_server_info *v);

/* ---- Topics ---------------------------------------------------------------------------- */

typedef struct driftq_topic_list driftq_topic_list;
/* GET /v1/topics: every topic, sorted, dlq.* topics included. */
DRIFTQ_API int driftq_topic_list_get(driftq_topic_list **out, driftq_client *client);
DRIFTQ_API size_t driftq_topic_list_count(const driftq_topic_list *list);
/* The i-th name, borrowed from list, valid until driftq_topic_list_free(list); NULL when i is out
 * of range. */
DRIFTQ_API const char *driftq_topic_list_name(const driftq_topic_list *list, size_t i);
DRIFTQ_API int driftq_topic_list_contains(const driftq_topic_list *list, const char *name);
DRIFTQ_API void driftq_topic_list_free(driftq_topic_list *list);

/* POST /v1/topics. partitions <= 0 means 1. The broker answers 201 even when the topic already
 * exists (and then changes nothing), so a 0 here does not prove the topic exists. */
DRIFTQ_API int driftq_topic_create(driftq_client *client, const char *name, int partitions);
/* Creates the topic, then verifies by listing that it exists. DRIFTQ_EPROTOCOL if it does not. */
DRIFTQ_API int driftq_topic_ensure(driftq_client *client, const char *name, int partitions);

/* ---- Produce --------------------------------------------------------------------------- */

#define DRIFTQ_ENVELOPE_VERSION 1
/* A message's envelope, versioned: it only ever grows at its end. Every string field may be NULL
 * (left out). */
typedef struct driftq_envelope {
    unsigned int version;
    const char *run_id;
    const char *step_id;
    const char *parent_step_id;
    const char *tenant_id;
    /* De-duplicates produces per (tenant, final topic, key) for 10 minutes, and deliveries per
     * consumer group for ever once acked: make keys unique per request. */
    const char *idempotency_key;
    const char *target_topic; /* the broker appends to this topic instead */
    int64_t deadline_ms;      /* Unix epoch milliseconds; 0: none */
    int partition_override;   /* -1: none */
    /* The retry policy, sent as the envelope's "retry_policy" object. */
    int retry_max_attempts; /* total deliveries before dlq.<topic>; 0: no policy (retry for ever) */
    int64_t retry_backoff_ms; /* first backoff after a lease expiry; 0: none */
    int64_t retry_max_backoff_ms;
} driftq_envelope;

#define DRIFTQ_ENVELOPE_INIT                                                                       \
    {                                                                                              \
        DRIFTQ_ENVELOPE_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, 0, -1, 0, 0, 0                \
    }
DRIFTQ_API int driftq_envelope_init(driftq_envelope *env, unsigned int version);

/* Largest key+value the broker can ever accept (a partition holds at most 64 KiB). */
#define DRIFTQ_MAX_MESSAGE_BYTES 65535

/* POST /v1/produce. key may be NULL (empty: partition 0). value must be non-empty valid UTF-8
 * of value_len bytes. envelope may be NULL. Messages with key+value > DRIFTQ_MAX_MESSAGE_BYTES
 * fail at once with DRIFTQ_ETOOLARGE. */
DRIFTQ_API int driftq_produce(driftq_client *client, const char *topic, const char *key,
                              const char *value, size_t value_len, const driftq_envelope *envelope);

/* ---- Consume --------------------------------------------------------------------------- */

/* A delivered message. Inside a consume callback it is borrowed and valid only during the call;
 * driftq_message_dup() makes an owned copy. Every pointer its accessors return is borrowed from
 * m: valid until driftq_message_free(m), or for a message a consume callback receives, until the
 * callback returns. */
typedef struct driftq_message driftq_message;

DRIFTQ_API const char *driftq_message_topic(const driftq_message *m);
DRIFTQ_API const char *driftq_message_group(const driftq_message *m);
DRIFTQ_API const char *driftq_message_owner(const driftq_message *m);
DRIFTQ_API int driftq_message_partition(const driftq_message *m);
DRIFTQ_API int64_t driftq_message_offset(const driftq_message *m);
DRIFTQ_API int driftq_message_attempts(const driftq_message *m);
/* NUL-terminated; *len (optional) receives the length. Never NULL ("" when empty). Borrowed from
 * m, as above. */
DRIFTQ_API const char *driftq_message_key(const driftq_message *m, size_t *len);
DRIFTQ_API const char *driftq_message_value(const driftq_message *m, size_t *len);
DRIFTQ_API const char *driftq_message_last_error(const driftq_message *m);
/* The envelope, or NULL when the message had none; borrowed from m, its strings too. deadline_ms
 * is 0 when absent or unparsable, and so is a retry member the message did not carry. */
DRIFTQ_API const driftq_envelope *driftq_message_envelope(const driftq_message *m);
/* Routing label and metadata as JSON object text, "" / NULL when absent; borrowed from m. */
DRIFTQ_API const char *driftq_message_routing_label(const driftq_message *m);
DRIFTQ_API const char *driftq_message_routing_meta_json(const driftq_message *m);
/* The message exactly as the broker sent it (one JSON line); borrowed from m. */
DRIFTQ_API const char *driftq_message_json(const driftq_message *m);
DRIFTQ_API int driftq_message_dup(driftq_message **out, const driftq_message *m);
DRIFTQ_API void driftq_message_free(driftq_message *m);

/* Called once per delivered message. Return 0 to go on; any other value stops the consume,
 * which then returns DRIFTQ_ESTOPPED. The callback may ack/nack through the same client. */
typedef int (*driftq_message_fn)(driftq_client *client, const driftq_message *msg, void *userdata);

#define DRIFTQ_CONSUME_OPTIONS_VERSION 1
typedef struct driftq_consume_options {
    unsigned int version;
    const char *owner;             /* NULL: driftq_client_owner() */
    int64_t lease_ms;              /* 0: broker default (2000). Keep within [250, 600000]. */
    long reconnect_backoff_ms;     /* first reconnect delay, default 200 */
    long reconnect_max_backoff_ms; /* default 5000 */
    int max_reconnects;            /* consecutive failed reconnects before giving up; -1: never */
    size_t max_line_bytes;         /* cap on one NDJSON line; default 1 MiB */
} driftq_consume_options;

#define DRIFTQ_CONSUME_OPTIONS_INIT                                                                \
    {                                                                                              \
        DRIFTQ_CONSUME_OPTIONS_VERSION, NULL, 0, 200, 5000, -1, 1u << 20                           \
    }
DRIFTQ_API int driftq_consume_options_init(driftq_consume_options *opts, unsigned int version);

/* GET /v1/consume: a long-lived stream. Runs until the callback returns non-zero
 * (DRIFTQ_ESTOPPED), driftq_consume_stop() is called (returns 0), a non-retryable error (e.g.
 * unknown topic: DRIFTQ_ENOTFOUND), or max_reconnects is exceeded. There is no idle or header
 * timeout: the broker sends nothing, not even headers, until a message is ready. When the stream
 * ends or breaks (EOF, reset, broker restart) it reconnects with backoff. */
DRIFTQ_API int driftq_consume(driftq_client *client, const char *topic, const char *group,
                              const driftq_consume_options *opts, driftq_message_fn fn,
                              void *userdata);

/* Asks a running driftq_consume() on this client to return (with 0) promptly, well under a
 * second. Thread-safe and async-signal-safe. A stop requested while no consume runs makes the
 * next driftq_consume() return at once; each consume that returns because of it clears it. */
DRIFTQ_API void driftq_consume_stop(driftq_client *client);

/* ---- Ack and nack ---------------------------------------------------------------------- */

/* POST /v1/ack. Acks commit a high-water mark per partition: ack in order where order matters.
 * DRIFTQ_ENOTOWNER and DRIFTQ_ENOTINFLIGHT are final: do not retry them. */
DRIFTQ_API int driftq_ack(driftq_client *client, const char *topic, const char *group,
                          const char *owner, int partition, int64_t offset);
/* POST /v1/nack: the broker redelivers at once, attempts+1; reason may be NULL. */
DRIFTQ_API int driftq_nack(driftq_client *client, const char *topic, const char *group,
                           const char *owner, int partition, int64_t offset, const char *reason);
/* The same, for a delivered message (topic, group, owner, partition, offset taken from it). */
DRIFTQ_API int driftq_message_ack(driftq_client *client, const driftq_message *m);
DRIFTQ_API int driftq_message_nack(driftq_client *client, const driftq_message *m,
                                   const char *reason);

/* ---- Metrics --------------------------------------------------------------------------- */

typedef struct driftq_partition_stats {
    const char *topic;
    const char *group;
    int partition;
    int64_t lag;      /* consumer_lag; -1 when the broker reported none */
    int64_t inflight; /* inflight_messages; -1 when the broker reported none */
} driftq_partition_stats;

typedef struct driftq_metrics driftq_metrics;
/* GET /metrics (Prometheus text), read into per (topic, group, partition) figures. */
DRIFTQ_API int driftq_metrics_get(driftq_metrics **out, driftq_client *client);
DRIFTQ_API size_t driftq_metrics_count(const driftq_metrics *m);
/* Borrowed from m (the stats and their strings), valid until driftq_metrics_free(m); NULL when
 * i is out of range. */
DRIFTQ_API const driftq_partition_stats *driftq_metrics_at(const driftq_metrics *m, size_t i);
/* Sums over partitions (group may be NULL for every group); -1 when nothing matched. */
DRIFTQ_API int64_t driftq_metrics_lag(const driftq_metrics *m, const char *topic,
                                      const char *group);
DRIFTQ_API int64_t driftq_metrics_inflight(const driftq_metrics *m, const char *topic,
                                           const char *group);
/* dlq_messages_total summed over reasons for a topic; produce_rejected_total for a reason
 * (NULL: all reasons). 0 when absent. */
DRIFTQ_API int64_t driftq_metrics_dlq_total(const driftq_metrics *m, const char *topic);
DRIFTQ_API int64_t driftq_metrics_rejected_total(const driftq_metrics *m, const char *reason);
DRIFTQ_API void driftq_metrics_free(driftq_metrics *m);

#ifdef __cplusplus
}
#endif

#endif /* DRIFTQ_DRIFTQ_H */
