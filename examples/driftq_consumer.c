/* Consumes a DriftQ topic, acking each message, until COUNT messages or SIGINT/SIGTERM.
 *
 *   driftq_consumer URL TOPIC GROUP [COUNT]
 */
#include <driftq/driftq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static driftq_client *client;

static void on_signal(int sig)
{
    (void)sig;
    driftq_consume_stop(client); /* async-signal-safe */
}

typedef struct {
    int seen;
    int limit;
} state;

static int on_message(driftq_client *c, const driftq_message *m, void *userdata)
{
    state *st = userdata;
    size_t len;
    const char *value = driftq_message_value(m, &len);
    printf("partition %d offset %lld attempt %d: %.*s\n", driftq_message_partition(m),
           (long long)driftq_message_offset(m), driftq_message_attempts(m), (int)len, value);
    int rc = driftq_message_ack(c, m);
    if (rc == DRIFTQ_ENOTOWNER || rc == DRIFTQ_ENOTINFLIGHT)
        fprintf(stderr, "lease lost (%s): another consumer has it\n", driftq_strerror(rc));
    else if (rc != DRIFTQ_OK)
        fprintf(stderr, "ack: %s\n", driftq_client_errmsg(c));
    st->seen++;
    return st->limit > 0 && st->seen >= st->limit; /* non-zero stops the consume */
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s URL TOPIC GROUP [COUNT]\n", argv[0]);
        return 2;
    }
    driftq_client_options opts = DRIFTQ_CLIENT_OPTIONS_INIT;
    opts.url = argv[1];
    if (driftq_client_new(&client, &opts) != DRIFTQ_OK)
        return 1;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    state st = {0, argc > 4 ? atoi(argv[4]) : 0};
    driftq_consume_options copts = DRIFTQ_CONSUME_OPTIONS_INIT;
    copts.lease_ms = 30000;
    int rc = driftq_consume(client, argv[2], argv[3], &copts, on_message, &st);
    if (rc != DRIFTQ_OK && rc != DRIFTQ_ESTOPPED) {
        fprintf(stderr, "consume: %s (%s)\n", driftq_strerror(rc), driftq_client_errmsg(client));
        driftq_client_free(client);
        return 1;
    }
    printf("consumed %d messages\n", st.seen);
    driftq_client_free(client);
    return 0;
}
