/* libqdrantc: what every part of the library shares about a handle: the version, error codes
 * and the detail of the last call, the log, and the checks of names and write options. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define QD_STR_(x) #x
#define QD_STR(x) QD_STR_(x)
#define QD_VERSION                                                                                 \
    QD_STR(QDRANT_VERSION_MAJOR) "." QD_STR(QDRANT_VERSION_MINOR) "." QD_STR(QDRANT_VERSION_PATCH)

QDRANT_API const char *qdrant_version_string(void)
{
    return QD_VERSION;
}

QDRANT_API const char *qdrant_strerror(int code)
{
    switch (code) {
    case QDRANT_OK:
        return "success";
    case QDRANT_EINVAL:
        return "invalid argument";
    case QDRANT_ENOMEM:
        return "out of memory";
    case QDRANT_ETRANSPORT:
        return "transport error";
    case QDRANT_ETIMEOUT:
        return "timed out";
    case QDRANT_ENOTFOUND:
        return "not found";
    case QDRANT_ECONFLICT:
        return "conflict";
    case QDRANT_EAUTH:
        return "not authorised";
    case QDRANT_EOVERLOADED:
        return "server overloaded";
    case QDRANT_EPROTOCOL:
        return "protocol error";
    case QDRANT_ESTOPPED:
        return "stopped by callback";
    case QDRANT_ESERVER:
        return "server error";
    case QDRANT_EWAITTIMEOUT:
        return "write accepted but not applied within the wait timeout";
    case QDRANT_EUNSUPPORTED:
        return "not supported in local mode";
    case QDRANT_EIO:
        return "local store I/O error";
    default:
        return "unknown error";
    }
}

void qd_reset_err(qdrant_client *c)
{
    c->errmsg[0] = '\0';
    c->http_status = 0;
    c->retry_after_ms = -1;
}

int qd_set_err(qdrant_client *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->errmsg, sizeof c->errmsg, fmt, ap);
    va_end(ap);
    return code;
}

int qd_nomem(qdrant_client *c)
{
    return qd_set_err(c, QDRANT_ENOMEM, "out of memory");
}

void qd_log(qdrant_client *c, int level, const char *fmt, ...)
{
    if (!c->log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    c->log(level, msg, c->log_ud);
}

int qd_check_name(qdrant_client *c, const char *what, const char *s)
{
    if (!s || !*s)
        return qd_set_err(c, QDRANT_EINVAL, "%s is required", what);
    size_t n = strlen(s);
    if (n > 255)
        return qd_set_err(c, QDRANT_EINVAL, "%s is longer than 255 bytes", what);
    if (!rc_utf8_valid(s, n))
        return qd_set_err(c, QDRANT_EINVAL, "%s is not valid UTF-8", what);
    return QDRANT_OK;
}

int qd_check_write_options(qdrant_client *c, const qdrant_write_options *w)
{
    if (!w)
        return QDRANT_OK;
    if (w->version != QDRANT_WRITE_OPTIONS_VERSION)
        return qd_set_err(c, QDRANT_EINVAL, "unknown write options version %u", w->version);
    if (w->ordering < QDRANT_ORDERING_DEFAULT || w->ordering > QDRANT_ORDERING_STRONG)
        return qd_set_err(c, QDRANT_EINVAL, "unknown ordering %d", w->ordering);
    if (w->timeout_s < 0)
        return qd_set_err(c, QDRANT_EINVAL, "timeout_s must be >= 0");
    return QDRANT_OK;
}
