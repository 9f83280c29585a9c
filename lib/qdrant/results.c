/* libqdrantc: the result types both backends fill (declared in internal.h): their accessors and
 * destructors. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/* ---- point lists ---- */

QDRANT_API size_t qdrant_point_list_count(const qdrant_point_list *l)
{
    return l ? l->n : 0;
}
QDRANT_API const qdrant_point_id *qdrant_point_list_id(const qdrant_point_list *l, size_t i)
{
    return l && i < l->n ? &l->pts[i].id : NULL;
}
QDRANT_API float qdrant_point_list_score(const qdrant_point_list *l, size_t i)
{
    return l && i < l->n ? l->pts[i].score : 0.0f;
}
QDRANT_API const char *qdrant_point_list_payload(const qdrant_point_list *l, size_t i)
{
    return l && i < l->n ? l->pts[i].payload : NULL;
}
QDRANT_API const float *qdrant_point_list_vector(const qdrant_point_list *l, size_t i, size_t *dim)
{
    if (!l || i >= l->n || !l->pts[i].vector) {
        if (dim)
            *dim = 0;
        return NULL;
    }
    if (dim)
        *dim = l->pts[i].dim;
    return l->pts[i].vector;
}
QDRANT_API const qdrant_point_id *qdrant_point_list_next_page(const qdrant_point_list *l)
{
    return l && l->has_next ? &l->next : NULL;
}
QDRANT_API void qdrant_point_list_free(qdrant_point_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->pts[i].payload);
        free(l->pts[i].vector);
    }
    free(l->pts);
    free(l);
}

/* ---- server info ---- */

QDRANT_API const char *qdrant_server_info_title(const qdrant_server_info *v)
{
    return v ? v->title : "";
}
QDRANT_API const char *qdrant_server_info_version(const qdrant_server_info *v)
{
    return v ? v->version : "";
}
QDRANT_API const char *qdrant_server_info_commit(const qdrant_server_info *v)
{
    return v ? v->commit : "";
}
QDRANT_API void qdrant_server_info_free(qdrant_server_info *v)
{
    if (!v)
        return;
    free(v->title);
    free(v->version);
    free(v->commit);
    free(v);
}

/* ---- collection info ---- */

QDRANT_API qdrant_collection_status
qdrant_collection_info_status(const qdrant_collection_info *info)
{
    return info ? info->status : QDRANT_STATUS_UNKNOWN;
}
QDRANT_API int64_t qdrant_collection_info_points_count(const qdrant_collection_info *info)
{
    return info ? info->points : -1;
}
QDRANT_API size_t qdrant_collection_info_vector_size(const qdrant_collection_info *info)
{
    return info ? info->size : 0;
}
QDRANT_API qdrant_distance qdrant_collection_info_distance(const qdrant_collection_info *info)
{
    return info ? info->distance : QDRANT_DISTANCE_UNKNOWN;
}
QDRANT_API const char *qdrant_collection_info_json(const qdrant_collection_info *info)
{
    return info ? info->json : "";
}
QDRANT_API const char *qdrant_collection_info_metadata(const qdrant_collection_info *info)
{
    return info ? info->metadata : NULL;
}
QDRANT_API void qdrant_collection_info_free(qdrant_collection_info *info)
{
    if (!info)
        return;
    free(info->json);
    free(info->metadata);
    free(info);
}

/* ---- name lists ---- */

QDRANT_API size_t qdrant_name_list_count(const qdrant_name_list *l)
{
    return l ? l->names.n : 0;
}
QDRANT_API const char *qdrant_name_list_at(const qdrant_name_list *l, size_t i)
{
    return l ? rc_strlist_at(&l->names, i) : NULL;
}
QDRANT_API int qdrant_name_list_contains(const qdrant_name_list *l, const char *name)
{
    return l && rc_strlist_contains(&l->names, name);
}
QDRANT_API void qdrant_name_list_free(qdrant_name_list *l)
{
    if (!l)
        return;
    rc_strlist_free(&l->names);
    free(l);
}

/* ---- alias lists ---- */

QDRANT_API size_t qdrant_alias_list_count(const qdrant_alias_list *l)
{
    return l ? l->n : 0;
}
QDRANT_API const char *qdrant_alias_list_alias(const qdrant_alias_list *l, size_t i)
{
    return l && i < l->n ? l->alias[i] : NULL;
}
QDRANT_API const char *qdrant_alias_list_collection(const qdrant_alias_list *l, size_t i)
{
    return l && i < l->n ? l->coll[i] : NULL;
}
QDRANT_API const char *qdrant_alias_list_find(const qdrant_alias_list *l, const char *alias)
{
    if (!l || !alias)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->alias[i], alias) == 0)
            return l->coll[i];
    return NULL;
}
QDRANT_API void qdrant_alias_list_free(qdrant_alias_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->alias[i]);
        free(l->coll[i]);
    }
    free(l->alias);
    free(l->coll);
    free(l);
}
