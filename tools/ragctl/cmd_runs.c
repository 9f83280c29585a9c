/* ragctl status, runs and log: a run's steps and timeline, every run, abandoned runs. */
#include <dirent.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

/* One timeline event: "+<ms since t0>" when t0 >= 0, else the wall-clock time. */
void print_event(json_object *ev, int64_t t0)
{
    json_object *t, *ty, *sp, *m;
    json_object_object_get_ex(ev, "t_ms", &t);
    json_object_object_get_ex(ev, "type", &ty);
    int64_t tm = json_object_get_int64(t);
    int hs = json_object_object_get_ex(ev, "step", &sp) && !json_object_is_type(sp, json_type_null);
    int hm = json_object_object_get_ex(ev, "msg", &m) && !json_object_is_type(m, json_type_null);
    if (t0 >= 0) {
        printf("  +%6lld ms  ", (long long)(tm - t0));
    } else {
        time_t secs = (time_t)(tm / 1000);
        struct tm g;
        char when[32];
        gmtime_r(&secs, &g);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &g);
        printf("%s.%03dZ ", when, (int)(tm % 1000));
    }
    printf("%-12s %-10s %s\n", json_object_get_string(ty), hs ? json_object_get_string(sp) : "",
           hm ? json_object_get_string(m) : "");
}

/* 1 when the run is QUEUED or RUNNING but no process holds it: it was killed (or could not
 * record its end) and will not finish by itself. */
int run_abandoned(tool_ctx *c, const char *run_id, const char *status)
{
    int alive = 1;
    if (strcmp(status, "QUEUED") != 0 && strcmp(status, "RUNNING") != 0)
        return 0;
    return rp_run_alive(c->state, &alive, run_id) == RP_OK && !alive;
}

/* The first step of a run that did not succeed ("discover" when all did). */
const char *first_unfinished(json_object *o)
{
    json_object *steps, *n, *st;
    if (json_object_object_get_ex(o, "steps", &steps))
        for (size_t i = 0; i < json_object_array_length(steps); i++) {
            json_object *s = json_object_array_get_idx(steps, i);
            if (json_object_object_get_ex(s, "status", &st) &&
                strcmp(json_object_get_string(st), "SUCCEEDED") != 0 &&
                json_object_object_get_ex(s, "name", &n))
                return json_object_get_string(n);
        }
    return "discover";
}

/* Prints a run: a step table and its timeline, or the JSON (with "abandoned"). *status (may be
 * NULL) gets its status. Returns an exit code. */
int show_run(tool_ctx *c, const char *run_id, int with_events, int *status)
{
    char *text = NULL;
    int rc = rp_run_read(c->state, &text, run_id);
    if (rc != RP_OK)
        return tool_state_error(c, rc, "run", run_id);
    json_object *o = json_tokener_parse(text), *v; /* its types were checked by the read */
    free(text);
    const char *sname =
        json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v) : "?";
    for (int k = 0; status && k <= RP_SKIPPED; k++)
        if (strcmp(sname, rp_status_name(k)) == 0)
            *status = k;
    int abandoned = run_abandoned(c, run_id, sname);
    if (c->st->json) {
        json_object_object_add(o, "abandoned", json_object_new_boolean(abandoned));
        printf("%s\n",
               json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
    } else {
        json_object *ver, *steps, *events;
        printf("run %s  index %s  version %d  %s%s\n", run_id,
               json_object_object_get_ex(o, "index", &v) ? json_object_get_string(v) : "?",
               json_object_object_get_ex(o, "version", &ver) ? json_object_get_int(ver) : 0, sname,
               abandoned ? " (abandoned: no process is running it)" : "");
        if (json_object_object_get_ex(o, "steps", &steps))
            for (size_t i = 0; i < json_object_array_length(steps); i++) {
                json_object *s = json_object_array_get_idx(steps, i), *n, *st, *a, *d, *e, *cpu;
                json_object_object_get_ex(s, "name", &n);
                json_object_object_get_ex(s, "status", &st);
                json_object_object_get_ex(s, "attempts", &a);
                int hd = json_object_object_get_ex(s, "duration_ms", &d) &&
                         !json_object_is_type(d, json_type_null);
                int hc = json_object_object_get_ex(s, "cpu_ms", &cpu) &&
                         !json_object_is_type(cpu, json_type_null);
                int he = json_object_object_get_ex(s, "error", &e) &&
                         !json_object_is_type(e, json_type_null);
                printf("  %-10s %-9s attempts %d", json_object_get_string(n),
                       json_object_get_string(st), json_object_get_int(a));
                if (hd)
                    printf("  %s ms", json_object_get_string(d));
                if (hc)
                    printf(" (cpu %s ms)", json_object_get_string(cpu));
                printf("\n");
                if (he)
                    printf("             error: %s\n", json_object_get_string(e));
            }
        if (abandoned)
            printf("  replay it with: ragctl replay %s --from %s\n", run_id, first_unfinished(o));
        if (with_events && json_object_object_get_ex(o, "events", &events)) {
            json_object *first = json_object_array_get_idx(events, 0), *t;
            int64_t t0 = first && json_object_object_get_ex(first, "t_ms", &t)
                             ? json_object_get_int64(t)
                             : 0;
            for (size_t i = 0; i < json_object_array_length(events); i++)
                print_event(json_object_array_get_idx(events, i), t0);
        }
    }
    json_object_put(o);
    return EX_OK;
}

int cmd_status(tool_settings *st, int argc, char **argv)
{
    const char *run_id = NULL;
    int follow = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--follow") == 0)
            follow = 1;
        else if (argv[i][0] != '-' && !run_id)
            run_id = argv[i];
        else
            tool_die_usage("status: unexpected argument \"%s\"", argv[i]);
    }
    if (!run_id)
        tool_die_usage("status needs RUN");
    tool_check_name("run id", run_id);
    tool_ctx c;
    int ex = tool_open(&c, st, 0, 0);
    if (ex)
        return ex;
    if (!follow) {
        ex = show_run(&c, run_id, 1, NULL);
    } else {
        /* Print events as they are recorded until the run is finished, or abandoned (no
         * process holds it: nothing more will happen). */
        size_t printed = 0;
        for (;;) {
            char *text = NULL;
            int rc = rp_run_read(c.state, &text, run_id);
            if (rc != RP_OK) {
                ex = tool_state_error(&c, rc, "run", run_id);
                break;
            }
            json_object *o = json_tokener_parse(text), *ev, *status;
            free(text);
            if (json_object_object_get_ex(o, "events", &ev)) {
                for (; printed < json_object_array_length(ev); printed++) {
                    json_object *e = json_object_array_get_idx(ev, printed);
                    if (st->json)
                        printf("%s\n", json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN));
                    else
                        print_event(e, -1);
                }
                fflush(stdout);
            }
            const char *sn = json_object_object_get_ex(o, "status", &status)
                                 ? json_object_get_string(status)
                                 : "";
            int done = strcmp(sn, "SUCCEEDED") == 0 || strcmp(sn, "FAILED") == 0;
            int gone = !done && run_abandoned(&c, run_id, sn);
            if (gone) {
                if (st->json)
                    printf("{\"run_id\":\"%s\",\"status\":\"%s\",\"abandoned\":true}\n", run_id,
                           sn);
                else
                    printf("run %s is %s but abandoned: no process is running it (replay it with: "
                           "ragctl replay %s --from %s)\n",
                           run_id, sn, run_id, first_unfinished(o));
            }
            json_object_put(o);
            if (done || gone)
                break;
            usleep(200000);
        }
    }
    tool_close(&c);
    return ex;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_runs(tool_settings *st, int argc, char **argv)
{
    (void)argv;
    if (argc)
        tool_die_usage("runs takes no arguments");
    tool_ctx c;
    int ex = tool_open(&c, st, 0, 0);
    if (ex)
        return ex;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/runs", st->state_dir);
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!rp_name_valid(e->d_name))
            continue;
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn)
            break;
        names = nn;
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    if (d)
        closedir(d);
    if (n) /* qsort's array may not be NULL, even for no elements */
        qsort(names, n, sizeof *names, cmp_str);
    if (st->json)
        printf("[");
    int damaged = 0;
    for (size_t i = 0; i < n; i++) {
        char *text = NULL;
        int rc = rp_run_read(c.state, &text, names[i]);
        if (rc == RP_OK) {
            json_object *o = json_tokener_parse(text), *v, *ix, *ver;
            const char *sn =
                json_object_object_get_ex(o, "status", &v) ? json_object_get_string(v) : "";
            int gone = run_abandoned(&c, names[i], sn);
            json_object_object_get_ex(o, "index", &ix);
            int version =
                json_object_object_get_ex(o, "version", &ver) && ver ? json_object_get_int(ver) : 0;
            if (st->json)
                printf("%s{\"run_id\":\"%s\",\"index\":\"%s\",\"version\":%d,\"status\":\"%s\","
                       "\"abandoned\":%s}",
                       i ? "," : "", names[i], json_object_get_string(ix), version, sn,
                       gone ? "true" : "false");
            else
                printf("%-40s %-12s v%-4d %s%s\n", names[i], json_object_get_string(ix), version,
                       sn, gone ? " (abandoned)" : "");
            json_object_put(o);
            free(text);
        } else if (rc != RP_ENOTFOUND) {
            /* Listed, never dropped: a run whose file cannot be read is shown as such. */
            damaged++;
            if (st->json)
                printf("%s{\"run_id\":\"%s\",\"status\":\"DAMAGED\"}", i ? "," : "", names[i]);
            else
                printf("%-40s %-12s %-5s DAMAGED\n", names[i], "?", "?");
            fprintf(stderr, "ragctl: %s\n", rp_state_errmsg(c.state));
        }
        free(names[i]);
    }
    if (st->json)
        printf("]\n");
    free(names);
    tool_close(&c);
    return damaged ? EX_DATAERR : EX_OK;
}

int cmd_log(tool_settings *st, int argc, char **argv)
{
    if (argc != 1)
        tool_die_usage("log needs RUN");
    tool_check_name("run id", argv[0]);
    tool_ctx c;
    int ex = tool_open(&c, st, 0, 0);
    if (ex)
        return ex;
    char *text = NULL;
    int rc = rp_run_read(c.state, &text, argv[0]);
    if (rc != RP_OK) {
        ex = tool_state_error(&c, rc, "run", argv[0]);
        tool_close(&c);
        return ex;
    }
    json_object *o = json_tokener_parse(text), *events;
    if (json_object_object_get_ex(o, "events", &events)) {
        if (st->json) {
            printf("%s\n", json_object_to_json_string_ext(events, JSON_C_TO_STRING_PLAIN));
        } else {
            for (size_t i = 0; i < json_object_array_length(events); i++)
                print_event(json_object_array_get_idx(events, i), -1);
        }
    }
    json_object_put(o);
    free(text);
    tool_close(&c);
    return EX_OK;
}
