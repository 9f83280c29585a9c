/* Produces messages to a DriftQ topic.
 *
 *   driftq_producer URL TOPIC [COUNT]
 *
 * Creates the topic if needed, then produces COUNT (default 10) messages with an envelope whose
 * idempotency key makes each one safe to retry. */
#include <driftq/driftq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL TOPIC [COUNT]\n", argv[0]);
        return 2;
    }
    int count = argc > 3 ? atoi(argv[3]) : 10;
    driftq_client_options opts = DRIFTQ_CLIENT_OPTIONS_INIT;
    opts.url = argv[1];
    driftq_client *client = NULL;
    int rc = driftq_client_new(&client, &opts);
    if (rc != DRIFTQ_OK) {
        fprintf(stderr, "client: %s\n", driftq_strerror(rc));
        return 1;
    }
    rc = driftq_topic_ensure(client, argv[2], 1);
    if (rc != DRIFTQ_OK) {
        fprintf(stderr, "topic: %s (%s)\n", driftq_strerror(rc), driftq_client_errmsg(client));
        driftq_client_free(client);
        return 1;
    }
    for (int i = 0; i < count; i++) {
        char key[32], value[64], idem[96];
        snprintf(key, sizeof key, "doc-%d", i);
        snprintf(value, sizeof value, "{\"doc\":%d}", i);
        snprintf(idem, sizeof idem, "example-%s-%d", driftq_client_owner(client), i);
        driftq_envelope env = DRIFTQ_ENVELOPE_INIT;
        env.run_id = "example-run";
        env.step_id = "produce";
        env.idempotency_key = idem;
        env.retry_max_attempts = 3;
        rc = driftq_produce(client, argv[2], key, value, strlen(value), &env);
        if (rc != DRIFTQ_OK) {
            fprintf(stderr, "produce %d: %s (%s)\n", i, driftq_strerror(rc),
                    driftq_client_errmsg(client));
            driftq_client_free(client);
            return 1;
        }
    }
    printf("produced %d messages to %s\n", count, argv[2]);
    driftq_client_free(client);
    return 0;
}
