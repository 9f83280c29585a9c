/* Creates a collection, upserts a few points with payloads, and queries it with a filter.
 *
 *   qdrant_quickstart URL COLLECTION
 */
#include <qdrant/qdrant.h>
#include <stdio.h>

#define DIM 4

static int fail(qdrant_client *c, const char *what, int rc)
{
    fprintf(stderr, "%s: %s (%s)\n", what, qdrant_strerror(rc), qdrant_client_errmsg(c));
    qdrant_client_free(c);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL COLLECTION\n", argv[0]);
        return 2;
    }
    qdrant_client_options opts = QDRANT_CLIENT_OPTIONS_INIT;
    opts.url = argv[1];
    qdrant_client *c = NULL;
    int rc = qdrant_client_new(&c, &opts);
    if (rc != QDRANT_OK)
        return 1;
    const char *name = argv[2];
    qdrant_collection_options copts = QDRANT_COLLECTION_OPTIONS_INIT;
    if ((rc = qdrant_collection_create(c, name, DIM, QDRANT_DISTANCE_COSINE, &copts)))
        return fail(c, "create", rc);

    qdrant_point_id ids[3] = {qdrant_point_id_num(1), qdrant_point_id_num(2),
                              qdrant_point_id_num(3)};
    const float vectors[3 * DIM] = {0.9f, 0.1f, 0.0f, 0.0f, 0.1f, 0.9f,
                                    0.0f, 0.0f, 0.7f, 0.7f, 0.1f, 0.0f};
    const char *payloads[3] = {"{\"lang\":\"en\",\"title\":\"apples\"}",
                               "{\"lang\":\"de\",\"title\":\"Birnen\"}",
                               "{\"lang\":\"en\",\"title\":\"apples and pears\"}"};
    if ((rc = qdrant_point_upsert(c, name, 3, ids, vectors, DIM, payloads, NULL)))
        return fail(c, "upsert", rc);

    qdrant_filter *f = NULL;
    qdrant_filter_new(&f);
    qdrant_filter_match_keyword(f, QDRANT_MUST, "lang", "en");
    const float query[DIM] = {1.0f, 0.2f, 0.0f, 0.0f};
    qdrant_query_options q = QDRANT_QUERY_OPTIONS_INIT;
    q.limit = 2;
    q.filter = f;
    q.with_payload = 1;
    qdrant_point_list *hits = NULL;
    rc = qdrant_point_query(&hits, c, name, query, DIM, &q);
    qdrant_filter_free(f);
    if (rc)
        return fail(c, "query", rc);
    for (size_t i = 0; i < qdrant_point_list_count(hits); i++) {
        char id[QDRANT_POINT_ID_STRLEN];
        qdrant_point_id_format(id, sizeof id, qdrant_point_list_id(hits, i));
        printf("hit %zu: id %s score %.4f payload %s\n", i + 1, id,
               (double)qdrant_point_list_score(hits, i), qdrant_point_list_payload(hits, i));
    }
    qdrant_point_list_free(hits);
    int existed = 0;
    qdrant_collection_delete(&existed, c, name);
    qdrant_client_free(c);
    return 0;
}
