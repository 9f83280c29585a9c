/* A tiny TAP producer for the test programs. */
#ifndef TESTS_TAP_H
#define TESTS_TAP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

#define TAP_LOC __FILE__, __LINE__

static inline int tap_ok_(int cond, const char *file, int line, const char *what)
{
    tap_n++;
    printf("%sok %d - %s\n", cond ? "" : "not ", tap_n, what);
    if (!cond) {
        tap_failed++;
        printf("#   failed at %s:%d\n", file, line);
    }
    fflush(stdout);
    return cond;
}

#define ok(cond, what) tap_ok_(!!(cond), TAP_LOC, (what))
#define is_int(got, want, what)                                                                    \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (!tap_ok_(g_ == w_, TAP_LOC, (what)))                                                   \
            printf("#   got %lld, want %lld\n", g_, w_);                                           \
    } while (0)
#define is_str(got, want, what)                                                                    \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        int c_ = g_ && w_ ? strcmp(g_, w_) == 0 : g_ == w_;                                        \
        if (!tap_ok_(c_, TAP_LOC, (what)))                                                         \
            printf("#   got  \"%s\"\n#   want \"%s\"\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)");  \
    } while (0)
#define diag(...)                                                                                  \
    do {                                                                                           \
        printf("# ");                                                                              \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
        fflush(stdout);                                                                            \
    } while (0)
#define skip_all(why)                                                                              \
    do {                                                                                           \
        printf("1..0 # SKIP %s\n", why);                                                           \
        return 0;                                                                                  \
    } while (0)

/* Removes a test's scratch directory (rm -rf), saying so when that fails. */
static inline void tap_rmrf(const char *path)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        diag("rm failed for %s", path);
}

static inline int tap_done(void)
{
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

#endif
