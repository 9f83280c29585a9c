/* libFuzzer target: local mode's payload shortcut (ls_json_canonical_object) against json-c.
 * Whenever the shortcut says a payload is already in the form json-c prints, json-c (strict,
 * UTF-8 validated, as ls_upsert parses payloads) must parse it to an object and print exactly
 * the same bytes; otherwise the store would keep text json-c would have refused or rewritten. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 16) || memchr(data, 0, size))
        return 0; /* payloads are C strings */
    if (!ls_json_canonical_object((const char *)data, size))
        return 0;
    json_tokener *tok = json_tokener_new();
    if (!tok)
        return 0;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)size);
    if (json_tokener_get_error(tok) != json_tokener_success ||
        json_tokener_get_parse_end(tok) != size || !json_object_is_type(o, json_type_object))
        abort(); /* accepted text json-c refuses */
    const char *p =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!p || strlen(p) != size || memcmp(p, data, size) != 0)
        abort(); /* accepted text json-c would rewrite */
    json_object_put(o);
    json_tokener_free(tok);
    return 0;
}
