/* Blue/green index deployment with an alias: readers always query ALIAS; each rebuild writes a
 * new collection and switches the alias to it atomically, in one request.
 *
 *   qdrant_blue_green URL ALIAS
 */
#include <qdrant/qdrant.h>
#include <stdio.h>

#define DIM 3

static int build(qdrant_client *c, const char *name, float x)
{
    qdrant_collection_options o = QDRANT_COLLECTION_OPTIONS_INIT;
    int rc = qdrant_collection_create(c, name, DIM, QDRANT_DISTANCE_DOT, &o);
    if (rc)
        return rc;
    qdrant_point_id id = qdrant_point_id_num(1);
    float v[DIM] = {x, 0.0f, 0.0f};
    char payload[64];
    snprintf(payload, sizeof payload, "{\"built_as\":\"%s\"}", name);
    const char *p = payload;
    return qdrant_point_upsert(c, name, 1, &id, v, DIM, &p, NULL);
}

static int show(qdrant_client *c, const char *alias)
{
    const float q[DIM] = {1.0f, 0.0f, 0.0f};
    qdrant_query_options o = QDRANT_QUERY_OPTIONS_INIT;
    o.limit = 1;
    o.with_payload = 1;
    qdrant_point_list *hits = NULL;
    int rc = qdrant_point_query(&hits, c, alias, q, DIM, &o);
    if (rc)
        return rc;
    printf("%s serves %s\n", alias,
           qdrant_point_list_count(hits) ? qdrant_point_list_payload(hits, 0) : "nothing");
    qdrant_point_list_free(hits);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s URL ALIAS\n", argv[0]);
        return 2;
    }
    qdrant_client_options opts = QDRANT_CLIENT_OPTIONS_INIT;
    opts.url = argv[1];
    qdrant_client *c = NULL;
    if (qdrant_client_new(&c, &opts) != QDRANT_OK)
        return 1;
    const char *alias = argv[2];
    char blue[160], green[160];
    snprintf(blue, sizeof blue, "%s_blue", alias);
    snprintf(green, sizeof green, "%s_green", alias);
    int rc = build(c, blue, 1.0f);
    if (!rc)
        rc = qdrant_alias_switch(c, alias, blue); /* creates the alias the first time */
    if (!rc)
        rc = show(c, alias);
    if (!rc)
        rc = build(c, green, 2.0f);
    if (!rc)
        rc = qdrant_alias_switch(c, alias, green); /* delete + create in one request */
    if (!rc)
        rc = show(c, alias);
    if (rc)
        fprintf(stderr, "error: %s (%s)\n", qdrant_strerror(rc), qdrant_client_errmsg(c));
    int existed;
    qdrant_alias_delete(c, alias);
    qdrant_collection_delete(&existed, c, blue);
    qdrant_collection_delete(&existed, c, green);
    qdrant_client_free(c);
    return rc ? 1 : 0;
}
