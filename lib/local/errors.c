/* Local mode: error names, the message a store handle keeps, and the mapping of SQLite and
 * errno codes to LS_E* codes. */
#include "store_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

/* ---- errors ----------------------------------------------------------------------------- */

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

int ls_seterr(ls_store *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->err, sizeof s->err, fmt, ap);
    va_end(ap);
    return code;
}

int ls_sqlerr_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return LS_EBUSY;
    case SQLITE_NOMEM:
        return LS_ENOMEM;
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return LS_EACCES;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return LS_ECORRUPT;
    default:
        return LS_EIO;
    }
}

int ls_dberr(ls_store *s, int rc, const char *what)
{
    int code = ls_sqlerr_code(rc);
    if (code == LS_EBUSY)
        return ls_seterr(s, code, "%s: the store is locked by another writer (%s)", what,
                         sqlite3_errmsg(s->db));
    return ls_seterr(s, code, "%s: %s", what, s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
}

int ls_nomem(ls_store *s)
{
    return ls_seterr(s, LS_ENOMEM, "out of memory");
}

const char *ls_errmsg(const ls_store *s)
{
    return s ? s->err : "no store";
}

int ls_errno_code(int e)
{
    switch (e) {
    case EACCES:
    case EPERM:
    case EROFS:
        return LS_EACCES;
    case ENOENT:
        return LS_ENOTFOUND;
    case ENOTDIR:
        return LS_ENOTSTORE;
    case ENOMEM:
        return LS_ENOMEM;
    default:
        return LS_EIO;
    }
}

int ls_begin_call(ls_store *s)
{
    if (!s)
        return LS_EINVAL;
    s->err[0] = '\0';
    return 0;
}
