/* Progress output on stderr: one line per notable thing, a bar for long steps on terminals,
 * warnings. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tool.h"

static int tool_bar_shown; /* a progress bar is on the terminal's current line */

/* A progress bar on stderr, for terminals only, redrawn at most ten times a second. */
void tool_on_count(void *ud, const char *step, size_t done, size_t total)
{
    (void)ud;
    static struct timespec last;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - last.tv_sec) * 1000 + (now.tv_nsec - last.tv_nsec) / 1000000;
    if (done < total && ms < 100 && tool_bar_shown)
        return;
    last = now;
    int width = 30, fill = total ? (int)((double)done / (double)total * width) : 0;
    if (fill > width)
        fill = width;
    char bar[64];
    memset(bar, '#', (size_t)fill);
    memset(bar + fill, '.', (size_t)(width - fill));
    bar[width] = '\0';
    fprintf(stderr, "\r  %-9s [%s] %zu/%zu chunks\033[K", step, bar, done, total);
    fflush(stderr);
    tool_bar_shown = 1;
}

void tool_on_progress(void *ud, const char *step, const char *msg)
{
    tool_settings *st = ud;
    if (st->json)
        return;
    if (tool_bar_shown) {
        fprintf(stderr, "\r\033[K");
        tool_bar_shown = 0;
    }
    const char *b = st->color ? "\033[1m" : "", *r = st->color ? "\033[0m" : "";
    fprintf(stderr, "  %s%-9s%s %s\n", b, step, r, msg);
}

void tool_on_warn(void *ud, const char *msg)
{
    (void)ud;
    fprintf(stderr, "%s: warning: %s\n", tool_name, msg);
}
