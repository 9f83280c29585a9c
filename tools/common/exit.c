/* Exit codes (sysexits.h) for the pipeline's error codes, usage errors, and the message for a
 * state file that cannot be read. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "tool.h"

const char *tool_name = "ragctl";

void tool_die_usage(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", tool_name);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry '%s help'.\n", tool_name);
    va_end(ap);
    exit(EX_USAGE);
}

int tool_exit_for(int rc)
{
    switch (rc) {
    case RP_OK:
        return EX_OK;
    case RP_EINVAL:
        return EX_USAGE;
    case RP_ENOTFOUND:
    case RP_EEMPTY:
        return EX_NOINPUT;
    case RP_EENCODING:
    case RP_ECORRUPT:
        return EX_DATAERR;
    case RP_ETRANSPORT:
    case RP_EHTTP:
        return EX_UNAVAILABLE;
    case RP_EIO:
        return EX_IOERR;
    case RP_EQDRANT:
        return EX_UNAVAILABLE;
    case RP_EBUSY:
        return EX_TEMPFAIL;
    default:
        return EX_SOFTWARE;
    }
}

/* A state read that failed: damaged (65) or missing (66), with the library's message (it
 * names the file). */
int tool_state_error(tool_ctx *c, int rc, const char *what, const char *name)
{
    if (rc == RP_ECORRUPT)
        fprintf(stderr, "%s: %s %s is damaged: %s\n", tool_name, what, name,
                rp_state_errmsg(c->state));
    else if (rc == RP_ENOTFOUND)
        fprintf(stderr, "%s: no %s %s\n", tool_name, what, name);
    else
        fprintf(stderr, "%s: %s %s: %s\n", tool_name, what, name, rp_state_errmsg(c->state));
    return tool_exit_for(rc);
}
