/* libqdrantc's server backend: the handle (one kept-alive connection), the service endpoints and
 * the backend's table. Requests and replies are in server_http.c, the collection and point calls
 * in server_collections.c and server_points.c, the upload in server_upload.c. */
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void http_log(int level, const char *msg, void *ud)
{
    qdrant_client *c = ud;
    if (c->log)
        c->log(level, msg, c->log_ud);
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, k, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

/* "1.9.3" -> 1 when at least 1.10 (the universal query API), 0 when older, -1 unparsable. */
static int version_has_query(const char *v)
{
    unsigned maj, min;
    if (sscanf(v, "%u.%u", &maj, &min) != 2)
        return -1;
    return maj > 1 || (maj == 1 && min >= 10);
}

static int probe(qdrant_client *c, const char *path)
{
    const char *url = qd_url(c, NULL, path, NULL, NULL);
    if (!url)
        return qd_nomem(c);
    return qd_call(c, "GET", url, NULL, 0, QD_IDEMPOTENT);
}

static int qs_health(qdrant_client *c)
{
    return probe(c, "/healthz");
}

static int qs_ready(qdrant_client *c)
{
    return probe(c, "/readyz");
}

static int qs_server_info(qdrant_server_info **out, qdrant_client *c)
{
    int rc = probe(c, "/");
    if (rc)
        return rc;
    json_object *o = qd_parse_json(c->tok, c->resp.body.data, c->resp.body.len);
    const char *ver = jstr(o, "version");
    if (!o || !ver) {
        json_object_put(o);
        return qd_set_err(c, QDRANT_EPROTOCOL, "GET / reply has no version");
    }
    const char *title = jstr(o, "title"), *commit = jstr(o, "commit");
    qdrant_server_info *v = calloc(1, sizeof *v);
    if (v) {
        v->title = rc_strdup(title ? title : "");
        v->version = rc_strdup(ver);
        v->commit = rc_strdup(commit ? commit : "");
    }
    int q = version_has_query(ver);
    if (q >= 0)
        c->has_query_api = q;
    json_object_put(o);
    if (!v || !v->title || !v->version || !v->commit) {
        qdrant_server_info_free(v);
        return qd_nomem(c);
    }
    *out = v;
    return QDRANT_OK;
}

/* ---- the handle ---- */

/* http:// and https:// URLs; the base keeps everything but trailing slashes. */
static int qs_parse_url(char **target, const char *url)
{
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return 0;
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    char *base = malloc(n + 1);
    if (!base)
        return QDRANT_ENOMEM;
    memcpy(base, url, n);
    base[n] = '\0';
    *target = base;
    return 1;
}

static int qs_open(qdrant_client *c, const qdrant_client_options *opts, char *base)
{
    c->base = base;
    c->has_query_api = -1;
    rc_http_resp_init(&c->resp);
    c->tok = json_tokener_new_ex(QD_JSON_DEPTH);
    char *keyhdr = NULL;
    if (opts->api_key) {
        size_t kl = strlen(opts->api_key) + 10;
        keyhdr = malloc(kl);
        if (keyhdr)
            snprintf(keyhdr, kl, "api-key: %s", opts->api_key);
    }
    if (!c->tok || (opts->api_key && !keyhdr)) {
        free(keyhdr);
        return QDRANT_ENOMEM;
    }
    json_tokener_set_flags(c->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    char ua[64];
    snprintf(ua, sizeof ua, "libqdrantc/%s", qdrant_version_string());
    const char *hdrs[2] = {keyhdr, NULL};
    rc_http_config hc = {0};
    hc.user_agent = opts->user_agent ? opts->user_agent : ua;
    hc.connect_timeout_ms = opts->connect_timeout_ms;
    hc.timeout_ms = opts->request_timeout_ms;
    hc.max_response = opts->max_response_bytes ? opts->max_response_bytes : (64u << 20);
    hc.verify_tls = opts->tls_verify ? 1 : 0;
    hc.ca_file = opts->ca_file;
    hc.ca_path = opts->ca_path;
    hc.extra_headers = keyhdr ? hdrs : NULL;
    hc.log = http_log;
    hc.log_ud = c;
    int hr = rc_http_new(&c->http, &hc);
    if (keyhdr) {
        /* curl copied the header; do not leave the key lying around in freed memory. */
        memset(keyhdr, 0, strlen(keyhdr));
        free(keyhdr);
    }
    return hr == RC_OK ? QDRANT_OK : QDRANT_ENOMEM;
}

static void qs_close(qdrant_client *c)
{
    rc_http_free(c->http);
    c->http = NULL;
    rc_http_resp_free(&c->resp);
    rc_buf_free(&c->body);
    rc_buf_free(&c->url);
    if (c->tok)
        json_tokener_free(c->tok);
    c->tok = NULL;
    free(c->base);
    c->base = NULL;
}

static long qs_connections(const qdrant_client *c)
{
    return rc_http_connects(c->http);
}

const qd_backend_ops qd_server_backend = {
    .is_local = 0,
    .parse_url = qs_parse_url,
    .open = qs_open,
    .close = qs_close,
    .connections = qs_connections,
    .health = qs_health,
    .ready = qs_ready,
    .server_info = qs_server_info,
    .collection_create = qs_collection_create,
    .collection_delete = qs_collection_delete,
    .collection_exists = qs_collection_exists,
    .collection_info = qs_collection_info,
    .collection_metadata_update = qs_collection_metadata_update,
    .collection_list = qs_collection_list,
    .payload_index_create = qs_payload_index_create,
    .alias_create = qs_alias_create,
    .alias_delete = qs_alias_delete,
    .alias_rename = qs_alias_rename,
    .alias_switch = qs_alias_switch,
    .alias_list = qs_alias_list,
    .point_upsert = qs_point_upsert,
    .point_delete = qs_point_delete,
    .point_delete_by_filter = qs_point_delete_by_filter,
    .point_get = qs_point_get,
    .point_scroll = qs_point_scroll,
    .point_count = qs_point_count,
    .point_query = qs_point_query,
    .point_query_batch = qs_point_query_batch,
    .upload_batch_size = QS_UPLOAD_BATCH_SIZE,
    .payload_canonical = NULL,
    .upload_run = qs_upload_run,
};
