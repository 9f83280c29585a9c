/* Local mode: point ids (Qdrant's ExtendedPointId) and error names. */
#include "lstore.h"

#include <stdio.h>
#include <string.h>

const char *ls_strerror(int code)
{
    switch (code) {
    case LS_OK:
        return "success";
    case LS_EINVAL:
        return "invalid argument";
    case LS_ENOMEM:
        return "out of memory";
    case LS_ENOTFOUND:
        return "not found";
    case LS_EEXISTS:
        return "already exists";
    case LS_ENAMECLASH:
        return "alias and collection name clash";
    case LS_EDIM:
        return "wrong vector dimension";
    case LS_ENONFINITE:
        return "NaN or infinity in a vector";
    case LS_EUNSUPPORTED:
        return "not supported in local mode";
    case LS_ENOTSTORE:
        return "not a local store";
    case LS_EACCES:
        return "permission denied";
    case LS_EIO:
        return "I/O or database error";
    case LS_EBUSY:
        return "store locked by another writer";
    case LS_ECORRUPT:
        return "store damaged or of an unknown format";
    default:
        return "unknown error";
    }
}

ls_id ls_id_num(uint64_t num)
{
    ls_id id;
    memset(&id, 0, sizeof id);
    id.kind = LS_ID_NUM;
    id.num = num;
    return id;
}

int ls_id_cmp(const ls_id *a, const ls_id *b)
{
    if (a->kind != b->kind)
        return a->kind == LS_ID_NUM ? -1 : 1;
    if (a->kind == LS_ID_NUM)
        return a->num < b->num ? -1 : a->num > b->num;
    return memcmp(a->uuid, b->uuid, 16);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* 32 hex digits, with hyphens allowed only at the canonical places when hyphenated. */
static int parse_hex_uuid(unsigned char out[16], const char *s, size_t len)
{
    int hyph = len == 36;
    if (len != 32 && len != 36)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (hyph && (i == 8 || i == 13 || i == 18 || i == 23)) {
            if (s[i] != '-')
                return -1;
            i++;
            continue;
        }
        if (i + 1 >= len)
            return -1;
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0 || k >= 16)
            return -1;
        out[k++] = (unsigned char)(hi << 4 | lo);
        i += 2;
    }
    return k == 16 ? 0 : -1;
}

int ls_id_parse(ls_id *out, const char *s, size_t len)
{
    if (!out || !s)
        return LS_EINVAL;
    ls_id id;
    memset(&id, 0, sizeof id);
    if (len > 0 && s[0] >= '0' && s[0] <= '9' && len <= 20) {
        uint64_t v = 0;
        size_t i = 0;
        for (; i < len; i++) {
            if (s[i] < '0' || s[i] > '9')
                break;
            unsigned d = (unsigned)(s[i] - '0');
            if (v > (UINT64_MAX - d) / 10)
                break;
            v = v * 10 + d;
        }
        if (i == len && !(len > 1 && s[0] == '0')) {
            id.kind = LS_ID_NUM;
            id.num = v;
            *out = id;
            return 0;
        }
    }
    const char *p = s;
    size_t n = len;
    if (n == 38 && p[0] == '{' && p[37] == '}') {
        p++;
        n -= 2;
    } else if (n == 45 && strncmp(p, "urn:uuid:", 9) == 0) {
        p += 9;
        n -= 9;
    }
    if (parse_hex_uuid(id.uuid, p, n) != 0)
        return LS_EINVAL;
    id.kind = LS_ID_UUID;
    *out = id;
    return 0;
}

int ls_id_format(char *out, size_t cap, const ls_id *id)
{
    if (!out || !id)
        return -1;
    int n;
    if (id->kind == LS_ID_NUM) {
        n = snprintf(out, cap, "%llu", (unsigned long long)id->num);
    } else if (id->kind == LS_ID_UUID) {
        const unsigned char *u = id->uuid;
        n = snprintf(out, cap,
                     "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                     u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
                     u[13], u[14], u[15]);
    } else {
        return -1;
    }
    return n < 0 || (size_t)n >= cap ? -1 : n;
}
