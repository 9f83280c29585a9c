/* libqdrantc's front: the client handle (made, freed, asked about its last call) and the service
 * calls. Every public call checks its arguments here or in collections.c, points.c and upload.c,
 * then hands over to the backend the URL chose (backend.h). */
#include "backend.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Asked in turn which of them a URL is for. */
static const qd_backend_ops *const backends[] = {&qd_server_backend, &qd_local_backend};

QDRANT_API int qdrant_client_options_init(qdrant_client_options *opts, unsigned int version)
{
    if (!opts || version < 1 || version > QDRANT_CLIENT_OPTIONS_VERSION)
        return QDRANT_EINVAL;
    qdrant_client_options d = QDRANT_CLIENT_OPTIONS_INIT;
    d.version = version;
    /* a version-1 struct ends after max_response_bytes */
    memcpy(opts, &d,
           version == 1 ? offsetof(qdrant_client_options, max_response_bytes) + sizeof(size_t)
                        : sizeof d);
    return QDRANT_OK;
}

static int header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 0;
    return 1;
}

QDRANT_API int qdrant_client_new(qdrant_client **out, const qdrant_client_options *opts)
{
    if (!out || !opts || opts->version < 1 || opts->version > QDRANT_CLIENT_OPTIONS_VERSION ||
        !opts->url)
        return QDRANT_EINVAL;
    const qd_backend_ops *ops = NULL;
    char *target = NULL;
    for (size_t i = 0; !ops && i < sizeof backends / sizeof backends[0]; i++) {
        int r = backends[i]->parse_url(&target, opts->url);
        if (r < 0)
            return r;
        if (r == 1)
            ops = backends[i];
    }
    if (!ops)
        return QDRANT_EINVAL; /* neither http(s) nor a store directory */
    if (opts->max_retries < 0 || opts->retry_backoff_ms < 0 || opts->retry_max_backoff_ms < 0 ||
        opts->connect_timeout_ms < 0 || opts->request_timeout_ms < 0) {
        free(target);
        return QDRANT_EINVAL;
    }
    if ((opts->api_key && (!*opts->api_key || !header_safe(opts->api_key))) ||
        (opts->user_agent && !header_safe(opts->user_agent))) {
        free(target);
        return QDRANT_EINVAL;
    }
    qdrant_client *c = calloc(1, sizeof *c);
    if (!c) {
        free(target);
        return QDRANT_ENOMEM;
    }
    c->ops = ops;
    c->max_retries = opts->max_retries;
    c->backoff_ms = opts->retry_backoff_ms;
    c->max_backoff_ms = opts->retry_max_backoff_ms;
    c->request_timeout_ms = opts->request_timeout_ms;
    c->log = opts->log;
    c->log_ud = opts->log_userdata;
    c->rng = (uint64_t)rc_wall_ms() * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^
             (uint64_t)(uintptr_t)c;
    c->rng |= 1;
    int rc = ops->open(c, opts, target);
    if (rc) {
        qdrant_client_free(c);
        return rc;
    }
    qd_reset_err(c);
    *out = c;
    return QDRANT_OK;
}

QDRANT_API void qdrant_client_free(qdrant_client *c)
{
    if (!c)
        return;
    c->ops->close(c);
    free(c);
}

QDRANT_API const char *qdrant_client_errmsg(const qdrant_client *c)
{
    return c ? c->errmsg : "";
}
QDRANT_API int qdrant_client_http_status(const qdrant_client *c)
{
    return c ? c->http_status : 0;
}
QDRANT_API long qdrant_client_retry_after_ms(const qdrant_client *c)
{
    return c ? c->retry_after_ms : -1;
}
QDRANT_API long qdrant_client_connections(const qdrant_client *c)
{
    return c ? c->ops->connections(c) : 0;
}
QDRANT_API int qdrant_client_is_local(const qdrant_client *c)
{
    return c && c->ops->is_local ? 1 : 0;
}

/* ---- service ---- */

QDRANT_API int qdrant_health(qdrant_client *c)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return c->ops->health(c);
}

QDRANT_API int qdrant_ready(qdrant_client *c)
{
    if (!c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return c->ops->ready(c);
}

QDRANT_API int qdrant_server_info_get(qdrant_server_info **out, qdrant_client *c)
{
    if (!out || !c)
        return QDRANT_EINVAL;
    qd_reset_err(c);
    return c->ops->server_info(out, c);
}
