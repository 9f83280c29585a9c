/* libqdrantc's front: collections, payload indexes and aliases. Each call checks its arguments,
 * then hands over to the handle's backend (backend.h). */
#include "backend.h"

#include <stddef.h>
#include <string.h>

static int prologue(qdrant_client *c, const char *what, const char *name)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return qd_check_name(c, what, name);
}

/* A version-1 struct ends after indexing_threshold. */
#define COLL_OPTS_V1_SIZE                                                                          \
    (offsetof(qdrant_collection_options, indexing_threshold) + sizeof(long long))

QDRANT_API int qdrant_collection_options_init(qdrant_collection_options *o, unsigned int version)
{
    if (!o || version < 1 || version > QDRANT_COLLECTION_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_collection_options d = QDRANT_COLLECTION_OPTIONS_INIT;
    d.version = version;
    memcpy(o, &d, version == 1 ? COLL_OPTS_V1_SIZE : sizeof d);
    return QDRANT_OK;
}

/* Checks a metadata argument: one JSON object. */
static int check_metadata(qdrant_client *c, const char *what, const char *md)
{
    if (!md || !qd_json_valid(md, strlen(md), 1))
        return qd_set_err(c, QDRANT_EINVAL, "%s is not a JSON object", what);
    return QDRANT_OK;
}

QDRANT_API int qdrant_collection_create(qdrant_client *c, const char *name, size_t dim,
                                        qdrant_distance distance,
                                        const qdrant_collection_options *o)
{
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    qdrant_collection_options d = QDRANT_COLLECTION_OPTIONS_INIT;
    if (!o)
        o = &d;
    if (o->version < 1 || o->version > QDRANT_COLLECTION_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown collection options version %u", o->version);
    /* a version-1 struct has no metadata field: it is not read */
    const char *md = o->version >= 2 ? o->metadata : NULL;
    if (dim == 0)
        return qd_set_err(c, QDRANT_EINVAL, "vector size must be > 0");
    if (distance < QDRANT_DISTANCE_COSINE || distance > QDRANT_DISTANCE_MANHATTAN)
        return qd_set_err(c, QDRANT_EINVAL, "unknown distance %d", (int)distance);
    if (o->on_disk < QDRANT_UNSET || o->on_disk > 1)
        return qd_set_err(c, QDRANT_EINVAL, "on_disk must be 0, 1 or QDRANT_UNSET");
    if (o->hnsw_m < QDRANT_UNSET)
        return qd_set_err(c, QDRANT_EINVAL, "hnsw_m must be >= 0 or QDRANT_UNSET");
    if (o->hnsw_ef_construct != QDRANT_UNSET && o->hnsw_ef_construct < 4)
        return qd_set_err(c, QDRANT_EINVAL, "hnsw_ef_construct must be >= 4 or QDRANT_UNSET");
    if (o->indexing_threshold < QDRANT_UNSET)
        return qd_set_err(c, QDRANT_EINVAL, "indexing_threshold must be >= 0 or QDRANT_UNSET");
    if (md && (rc = check_metadata(c, "metadata", md)))
        return rc;
    return c->ops->collection_create(c, name, dim, distance, o, md);
}

QDRANT_API int qdrant_collection_delete(int *out, qdrant_client *c, const char *name)
{
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    return c->ops->collection_delete(out, c, name);
}

QDRANT_API int qdrant_collection_exists(int *out, qdrant_client *c, const char *name)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    return c->ops->collection_exists(out, c, name);
}

QDRANT_API int qdrant_collection_info_get(qdrant_collection_info **out, qdrant_client *c,
                                          const char *name)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, "collection name", name);
    if (rc)
        return rc;
    return c->ops->collection_info(out, c, name);
}

QDRANT_API int qdrant_collection_metadata_update(qdrant_client *c, const char *name,
                                                 const char *metadata_json)
{
    int rc = prologue(c, "collection name", name);
    if (rc || (rc = check_metadata(c, "metadata", metadata_json)))
        return rc;
    return c->ops->collection_metadata_update(c, name, metadata_json);
}

QDRANT_API int qdrant_collection_list_get(qdrant_name_list **out, qdrant_client *c)
{
    if (!out || !c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return c->ops->collection_list(out, c);
}

/* ---- payload index ---- */

QDRANT_API int qdrant_write_options_init(qdrant_write_options *o, unsigned int version)
{
    if (!o || version != QDRANT_WRITE_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_write_options d = QDRANT_WRITE_OPTIONS_INIT;
    *o = d;
    return QDRANT_OK;
}

QDRANT_API int qdrant_payload_index_create(qdrant_client *c, const char *collection,
                                           const char *field, qdrant_field_type type,
                                           const qdrant_write_options *w)
{
    int rc = prologue(c, "collection name", collection);
    if (rc || (rc = qd_check_write_options(c, w)))
        return rc;
    if (!field || !*field || !rc_utf8_valid(field, strlen(field)))
        return qd_set_err(c, QDRANT_EINVAL, "field name is required (UTF-8)");
    if (type < QDRANT_FIELD_KEYWORD || type > QDRANT_FIELD_UUID)
        return qd_set_err(c, QDRANT_EINVAL, "unknown field type %d", (int)type);
    return c->ops->payload_index_create(c, collection, field, type, w);
}

/* ---- aliases ---- */

QDRANT_API int qdrant_alias_create(qdrant_client *c, const char *alias, const char *collection)
{
    int rc = prologue(c, "alias", alias);
    if (rc || (rc = qd_check_name(c, "collection name", collection)))
        return rc;
    return c->ops->alias_create(c, alias, collection);
}

QDRANT_API int qdrant_alias_delete(qdrant_client *c, const char *alias)
{
    int rc = prologue(c, "alias", alias);
    if (rc)
        return rc;
    return c->ops->alias_delete(c, alias);
}

QDRANT_API int qdrant_alias_rename(qdrant_client *c, const char *old_alias, const char *new_alias)
{
    int rc = prologue(c, "old alias", old_alias);
    if (rc || (rc = qd_check_name(c, "new alias", new_alias)))
        return rc;
    return c->ops->alias_rename(c, old_alias, new_alias);
}

QDRANT_API int qdrant_alias_list_get(qdrant_alias_list **out, qdrant_client *c)
{
    if (!out || !c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return c->ops->alias_list(out, c, NULL);
}

QDRANT_API int qdrant_collection_alias_list_get(qdrant_alias_list **out, qdrant_client *c,
                                                const char *collection)
{
    if (!out)
        return QDRANT_EINVAL;
    int rc = prologue(c, "collection name", collection);
    if (rc)
        return rc;
    return c->ops->alias_list(out, c, collection);
}

QDRANT_API int qdrant_alias_switch(qdrant_client *c, const char *alias, const char *collection)
{
    int rc = prologue(c, "alias", alias);
    if (rc || (rc = qd_check_name(c, "collection name", collection)))
        return rc;
    return c->ops->alias_switch(c, alias, collection);
}
