/* What processes leave behind: the lock a run's executor holds (so a run nobody holds is known
 * to be abandoned), and the temp files of processes that are gone. */
#include <dirent.h>
#include <signal.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "state_int.h"

/* ---- run locks: a run being executed is flock()ed by its process ---- */

int rp_run_lock(rp_state *s, const char *run_id)
{
    if (!s)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "run.lock");
    if (rc)
        return rc;
    if (s->runfd >= 0 && !strcmp(s->run_id, run_id))
        return RP_OK;
    char json[4200];
    rp_state_path_(s, json, sizeof json, "runs", run_id, "run.json");
    if (access(json, F_OK) < 0)
        return SFAIL(s, RP_ENOTFOUND, "no run %s", run_id);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return SFAIL(s, RP_EIO, "%s: %s", path, strerror(errno));
    /* Someone checking whether the run is alive holds the lock shared for an instant: retry
     * for a while before calling the run busy. */
    for (int tries = 0;; tries++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno != EWOULDBLOCK || tries >= 100) {
            int e = errno;
            char pid[32] = "";
            ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
            pid[n > 0 ? n : 0] = 0;
            pid[strcspn(pid, "\n")] = 0;
            close(fd);
            if (e == EWOULDBLOCK)
                return SFAIL(s, RP_EBUSY, "run %s is being executed by another process%s%s%s",
                             run_id, pid[0] ? " (pid " : "", pid, pid[0] ? ")" : "");
            return SFAIL(s, RP_EIO, "lock %s: %s", path, strerror(e));
        }
        usleep(10000);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)n, 0) < 0) {
        /* the pid is only for messages */
    }
    rp_run_unlock(s); /* the run held before (only now: a failed lock keeps it held) */
    s->runfd = fd;
    snprintf(s->run_id, sizeof s->run_id, "%s", run_id);
    return RP_OK;
}

void rp_run_unlock(rp_state *s)
{
    if (!s || s->runfd < 0)
        return;
    close(s->runfd); /* releases the flock */
    s->runfd = -1;
    s->run_id[0] = 0;
}

int rp_run_alive(rp_state *s, int *out, const char *run_id)
{
    if (!s || !out)
        return RP_EINVAL;
    char path[4200];
    int rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "run.lock");
    if (rc)
        return rc;
    if (s->runfd >= 0 && !strcmp(s->run_id, run_id)) {
        *out = 1;
        return RP_OK;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT)
            return SFAIL(s, RP_EIO, "%s: %s", path, strerror(errno));
        *out = 0;
        return RP_OK;
    }
    int alive;
    for (;;) {
        if (flock(fd, LOCK_SH | LOCK_NB) == 0) {
            alive = 0;
            break;
        }
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK) {
            alive = 1;
            break;
        }
        rc = SFAIL(s, RP_EIO, "lock %s: %s", path, strerror(errno));
        close(fd);
        return rc;
    }
    close(fd);
    *out = alive;
    return RP_OK;
}

/* ---- temp files of dead processes ---- */

/* Digits only, at least one, no sign or space; the value (up to max) into *out. */
static int all_digits(const char *p, const char *end, long max, long *out)
{
    long v = 0;
    if (p == end)
        return 0;
    for (; p < end; p++) {
        if (*p < '0' || *p > '9' || v > (max - (*p - '0')) / 10)
            return 0;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return 1;
}

/* 1 when name ends in ".tmp.<pid>" or ".tmp.<pid>.<n>" (digits only, pid in 1..INT_MAX); *pid
 * gets the pid. */
static int tmp_name(const char *name, long *pid)
{
    const char *t = strstr(name, ".tmp.");
    if (!t)
        return 0;
    for (const char *n; (n = strstr(t + 1, ".tmp."));)
        t = n;
    const char *p = t + 5, *dot = strchr(p, '.'), *end = p + strlen(p);
    long v, k;
    if (dot && !all_digits(dot + 1, end, LONG_MAX, &k))
        return 0;
    if (!all_digits(p, dot ? dot : end, INT_MAX, &v) || v < 1)
        return 0;
    *pid = v;
    return 1;
}

static size_t sweep_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        long pid;
        if (!tmp_name(e->d_name, &pid) || pid == (long)getpid())
            continue;
        /* A process that is gone cannot be writing it; a live one (or a pid reused since) is
         * left alone: removing a live writer's file would lose its work. */
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[4400];
        if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) < (int)sizeof path &&
            unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int rp_state_sweep(rp_state *s, size_t *removed, const char *run_id)
{
    if (!s)
        return RP_EINVAL;
    char path[4200];
    int rc;
    if (run_id && (rc = rp_state_path_(s, path, sizeof path, "runs", run_id, "x")))
        return rc;
    if ((rc = rp_state_lock_(s)))
        return rc;
    size_t n = sweep_dir(s->dir);
    snprintf(path, sizeof path, "%s/indexes", s->dir);
    n += sweep_dir(path);
    if (run_id) {
        snprintf(path, sizeof path, "%s/runs/%s", s->dir, run_id);
        n += sweep_dir(path);
    } else {
        snprintf(path, sizeof path, "%s/runs", s->dir);
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!rp_name_valid(e->d_name))
                continue;
            char sub[4400];
            snprintf(sub, sizeof sub, "%s/runs/%s", s->dir, e->d_name);
            n += sweep_dir(sub);
        }
        if (d)
            closedir(d);
    }
    rp_state_unlock_(s);
    if (removed)
        *removed = n;
    return RP_OK;
}
