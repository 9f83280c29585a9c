/* Local mode: point ids (Qdrant's ExtendedPointId) and their keys in the database. */
#include "store_int.h"

#include "hex.h"

#include <stdio.h>
#include <string.h>

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
    if (rc_uuid_parse(id.uuid, p, n, 1) != 0)
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

/* ---- id keys ---------------------------------------------------------------------------- */

/* 9 bytes (0x00 + big-endian u64) or 17 bytes (0x01 + uuid): memcmp order = Qdrant's order. */
size_t ls_key_encode(unsigned char out[17], const ls_id *id)
{
    if (id->kind == LS_ID_NUM) {
        out[0] = 0;
        for (int i = 0; i < 8; i++)
            out[1 + i] = (unsigned char)(id->num >> (56 - 8 * i));
        return 9;
    }
    out[0] = 1;
    memcpy(out + 1, id->uuid, 16);
    return 17;
}

int ls_key_decode(ls_id *id, const unsigned char *k, int len)
{
    memset(id, 0, sizeof *id);
    if (len == 9 && k[0] == 0) {
        id->kind = LS_ID_NUM;
        for (int i = 0; i < 8; i++)
            id->num = id->num << 8 | k[1 + i];
        return 0;
    }
    if (len == 17 && k[0] == 1) {
        id->kind = LS_ID_UUID;
        memcpy(id->uuid, k + 1, 16);
        return 0;
    }
    return -1;
}

int ls_id_valid(const ls_id *id)
{
    return id->kind == LS_ID_NUM || id->kind == LS_ID_UUID;
}
