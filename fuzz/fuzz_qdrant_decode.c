/* libFuzzer target: libqdrantc's decoding of server replies — strict JSON parsing, the error
 * mapping of any status with any body, point ids, and lists of records / scored points. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* The first byte picks an HTTP status for the error mapping. */
    static const long statuses[] = {200, 400, 401, 403, 404, 409, 422, 429, 500, 503};
    long status = statuses[data[0] % (sizeof statuses / sizeof *statuses)];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    char msg[256];
    int code = qd_error_for_status(status, text, len, msg, sizeof msg);
    if (status >= 400 && code == QDRANT_OK)
        __builtin_trap(); /* an error status must never map to success */
    if (strlen(msg) >= sizeof msg)
        __builtin_trap();
    (void)qd_json_valid(text, len, 0);
    json_tokener *tok = json_tokener_new_ex(QD_JSON_DEPTH);
    if (!tok)
        return 0;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = qd_parse_json(tok, text, len);
    if (root) {
        json_object *result = NULL, *points = NULL, *next = NULL;
        json_object *list = root;
        if (json_object_object_get_ex(root, "result", &result)) {
            list = result;
            if (json_object_is_type(result, json_type_object)) {
                json_object_object_get_ex(result, "points", &points);
                json_object_object_get_ex(result, "next_page_offset", &next);
                if (points)
                    list = points;
            }
        }
        qdrant_point_list *pl = NULL;
        char err[256];
        if (qd_decode_points(&pl, list, next, err, sizeof err) == QDRANT_OK) {
            size_t n = qdrant_point_list_count(pl);
            for (size_t i = 0; i < n; i++) {
                const qdrant_point_id *id = qdrant_point_list_id(pl, i);
                char buf[QDRANT_POINT_ID_STRLEN];
                if (!id || qdrant_point_id_format(buf, sizeof buf, id) != QDRANT_OK)
                    __builtin_trap(); /* a decoded id must always format */
                qdrant_point_id back;
                if (qdrant_point_id_parse(&back, buf) != QDRANT_OK ||
                    !qdrant_point_id_equal(&back, id))
                    __builtin_trap(); /* and parse back to itself */
                size_t dim = 0;
                (void)qdrant_point_list_vector(pl, i, &dim);
                (void)qdrant_point_list_payload(pl, i);
                (void)qdrant_point_list_score(pl, i);
            }
            qdrant_point_list_free(pl);
        }
        qdrant_point_id id;
        (void)qd_decode_id(&id, root);
        json_object_put(root);
    }
    json_tokener_free(tok);
    return 0;
}
