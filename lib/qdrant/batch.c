/* libqdrantc: an upload's batch list, shared by the front (upload.c, which splits the points and
 * reports the result) and the backends' upload_run (which send the batches and settle them). */
#include "backend.h"

#include <stdio.h>
#include <stdlib.h>

int qd_upload_add_batch(qd_upload *u, size_t start, size_t count)
{
    if (u->nb == u->cap) {
        size_t cap = u->cap ? u->cap * 2 : 16;
        qd_batch **nb = realloc(u->b, cap * sizeof *nb);
        if (!nb)
            return -1;
        u->b = nb;
        u->cap = cap;
    }
    qd_batch *x = calloc(1, u->batch_size);
    if (!x)
        return -1;
    u->b[u->nb++] = x;
    x->start = start;
    x->count = count;
    x->state = QD_BATCH_PENDING;
    u->prog.batches_total++;
    return 0;
}

void qd_upload_settle(qd_upload *u, qd_batch *x, int state, int err, const char *msg)
{
    x->state = state;
    x->err = err;
    snprintf(x->msg, sizeof x->msg, "%s", msg ? msg : "");
    u->prog.batches_done++;
    if (state == QD_BATCH_DONE)
        u->prog.points_done += x->count;
    else
        u->prog.points_failed += x->count;
    if (u->o->progress && !u->stopped && u->o->progress(&u->prog, u->o->progress_userdata))
        u->stopped = 1;
}

void qd_upload_settle_stopped(qd_upload *u, qd_batch *x)
{
    char m[sizeof x->msg];
    if (x->msg[0])
        snprintf(m, sizeof m, "stopped by the progress callback (last attempt: %.200s)", x->msg);
    else
        snprintf(m, sizeof m, "stopped by the progress callback");
    qd_upload_settle(u, x, QD_BATCH_FAILED, QDRANT_ESTOPPED, m);
}

void qd_upload_free_batches(qd_upload *u)
{
    for (size_t i = 0; i < u->nb; i++)
        free(u->b[i]);
    free(u->b);
    u->b = NULL;
    u->nb = u->cap = 0;
}
