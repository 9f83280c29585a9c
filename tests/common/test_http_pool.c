/* The internal parallel HTTP pool against a scripted server. */
#include <unistd.h>

#include "http.h"
#include "scripted.h"
#include "tap.h"

typedef struct {
    rc_http_job jobs[8];
    char urls[8][128];
    int next, total, done_count;
    int order[8];
    int deferred_once;
} plan;

static int next_job(void *ud, rc_http_job **job, long *wait_ms)
{
    plan *p = ud;
    if (p->next >= p->total)
        return -1;
    if (p->next == 4 && !p->deferred_once) {
        /* Not ready yet (e.g. a backoff): asked again after the hint. */
        p->deferred_once = 1;
        *wait_ms = 20;
        return 0;
    }
    *job = &p->jobs[p->next++];
    return 1;
}

static void job_done(void *ud, rc_http_job *job)
{
    plan *p = ud;
    p->order[p->done_count++] = (int)(job - p->jobs);
}

int main(void)
{
    static char replies[6][128];
    ss_step steps[6];
    for (int i = 0; i < 6; i++) {
        snprintf(replies[i], sizeof replies[i], "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nr%d",
                 i);
        steps[i].reply = replies[i];
        steps[i].action = SS_KEEP;
        steps[i].delay_ms = 150;
    }
    scripted *s = ss_start(steps, 6);
    rc_http_config cfg = {0};
    cfg.user_agent = "pool-test";
    cfg.timeout_ms = 5000;
    rc_http_pool *pool = NULL;
    is_int(rc_http_pool_new(&pool, &cfg, 3), RC_OK, "pool of 3");
    plan p = {0};
    p.total = 6;
    for (int i = 0; i < 6; i++) {
        snprintf(p.urls[i], sizeof p.urls[i], "%s/job/%d", ss_url(s), i);
        p.jobs[i].method = "PUT";
        p.jobs[i].url = p.urls[i];
        p.jobs[i].body = "{\"x\":1}";
        p.jobs[i].body_len = 7;
        p.jobs[i].content_type = "application/json";
        rc_http_resp_init(&p.jobs[i].resp);
    }
    is_int(rc_http_pool_run(pool, next_job, job_done, &p), RC_OK, "run");
    is_int(p.done_count, 6, "every job came back");
    int all_ok = 1;
    for (int i = 0; i < 6; i++)
        all_ok &=
            p.jobs[i].rc == RC_OK && p.jobs[i].resp.status == 200 && p.jobs[i].resp.body.len == 2;
    ok(all_ok, "each with its own 200 reply");
    is_int(ss_connections(s), 3, "three connections: the jobs ran concurrently");
    is_int(rc_http_pool_connects(pool), 3, "and were reused for the second three");
    int puts = 0;
    for (int i = 0; i < 6; i++)
        puts += strcmp(ss_req(s, i)->method, "PUT") == 0 &&
                strcmp(ss_req(s, i)->body, "{\"x\":1}") == 0;
    is_int(puts, 6, "method and body as given");
    ok(p.deferred_once, "a job that was not ready yet was asked for again");
    for (int i = 0; i < 6; i++)
        rc_http_resp_free(&p.jobs[i].resp);
    rc_http_pool_free(pool);
    ss_stop(s);
    return tap_done();
}
