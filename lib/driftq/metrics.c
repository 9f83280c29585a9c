#include "internal.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *topic, *reason;
    int64_t value;
} named_total;

struct driftq_metrics {
    driftq_partition_stats *parts;
    size_t n, cap;
    named_total *dlq;
    size_t ndlq;
    named_total *rejected;
    size_t nrej;
};

static char *dupn(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

typedef struct {
    char *topic, *group, *reason;
    int partition;
} labels;

static void labels_free(labels *l)
{
    free(l->topic);
    free(l->group);
    free(l->reason);
}

/* Parses {k="v",...} starting at p (just after '{'); returns the position after '}' or NULL. */
static const char *parse_labels(const char *p, const char *end, labels *l, int *nomem)
{
    while (p < end && *p != '}') {
        const char *k = p;
        while (p < end && *p != '=')
            p++;
        if (p + 1 >= end || p[1] != '"')
            return NULL;
        size_t klen = (size_t)(p - k);
        p += 2;
        rc_buf v = RC_BUF_INIT;
        while (p < end && *p != '"') {
            char ch = *p;
            if (ch == '\\' && p + 1 < end) {
                p++;
                ch = *p == 'n' ? '\n' : *p;
            }
            if (rc_buf_putc(&v, ch) < 0) {
                *nomem = 1;
                rc_buf_free(&v);
                return NULL;
            }
            p++;
        }
        if (p >= end) {
            rc_buf_free(&v);
            return NULL;
        }
        p++; /* closing quote */
        char *val = rc_buf_steal(&v);
        if (!val) {
            *nomem = 1;
            return NULL;
        }
        char **slot = NULL;
        if (klen == 5 && memcmp(k, "topic", 5) == 0)
            slot = &l->topic;
        else if (klen == 5 && memcmp(k, "group", 5) == 0)
            slot = &l->group;
        else if (klen == 6 && memcmp(k, "reason", 6) == 0)
            slot = &l->reason;
        if (klen == 9 && memcmp(k, "partition", 9) == 0)
            l->partition = atoi(val);
        if (slot) {
            free(*slot);
            *slot = val;
        } else {
            free(val);
        }
        if (p < end && *p == ',')
            p++;
    }
    return p < end ? p + 1 : NULL;
}

static driftq_partition_stats *find_part(driftq_metrics *m, const labels *l, int *nomem)
{
    for (size_t i = 0; i < m->n; i++) {
        driftq_partition_stats *s = &m->parts[i];
        if (s->partition == l->partition && strcmp(s->topic, l->topic) == 0 &&
            strcmp(s->group, l->group) == 0)
            return s;
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        driftq_partition_stats *p = realloc(m->parts, cap * sizeof *p);
        if (!p) {
            *nomem = 1;
            return NULL;
        }
        m->parts = p;
        m->cap = cap;
    }
    driftq_partition_stats *s = &m->parts[m->n];
    s->topic = dupn(l->topic, strlen(l->topic));
    s->group = dupn(l->group, strlen(l->group));
    if (!s->topic || !s->group) {
        free((char *)s->topic);
        free((char *)s->group);
        *nomem = 1;
        return NULL;
    }
    s->partition = l->partition;
    s->lag = s->inflight = -1;
    m->n++;
    return s;
}

static int add_total(named_total **arr, size_t *n, const char *topic, const char *reason, int64_t v)
{
    named_total *p = realloc(*arr, (*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *arr = p;
    p[*n].topic = topic ? dupn(topic, strlen(topic)) : NULL;
    p[*n].reason = reason ? dupn(reason, strlen(reason)) : NULL;
    p[*n].value = v;
    (*n)++;
    return ((topic && !p[*n - 1].topic) || (reason && !p[*n - 1].reason)) ? -1 : 0;
}

/* Exposed for the fuzzer and unit tests through the internal header. */
int dq_metrics_parse(driftq_metrics **out, const char *text, size_t len);
int dq_metrics_parse(driftq_metrics **out, const char *text, size_t len)
{
    driftq_metrics *m = calloc(1, sizeof *m);
    if (!m)
        return DRIFTQ_ENOMEM;
    const char *p = text, *end = text + len;
    int nomem = 0;
    while (p < end && !nomem) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *line = p;
        p = eol + 1;
        if (line == eol || *line == '#')
            continue;
        const char *q = line;
        while (q < eol && *q != '{' && *q != ' ')
            q++;
        size_t nlen = (size_t)(q - line);
        int kind = 0;
        if (nlen == 12 && memcmp(line, "consumer_lag", 12) == 0)
            kind = 1;
        else if (nlen == 17 && memcmp(line, "inflight_messages", 17) == 0)
            kind = 2;
        else if (nlen == 18 && memcmp(line, "dlq_messages_total", 18) == 0)
            kind = 3;
        else if (nlen == 22 && memcmp(line, "produce_rejected_total", 22) == 0)
            kind = 4;
        if (!kind)
            continue;
        labels l = {NULL, NULL, NULL, 0};
        if (q < eol && *q == '{') {
            q = parse_labels(q + 1, eol, &l, &nomem);
            if (!q) {
                labels_free(&l);
                continue;
            }
        }
        while (q < eol && *q == ' ')
            q++;
        char num[48];
        size_t vlen = 0;
        while (q < eol && *q != ' ' && vlen < sizeof num - 1)
            num[vlen++] = *q++;
        num[vlen] = '\0';
        char *e;
        double dv = strtod(num, &e);
        if (vlen == 0 || *e != '\0' || !(dv > -9.2e18 && dv < 9.2e18)) { /* NaN, Inf, huge */
            labels_free(&l);
            continue;
        }
        int64_t v = (int64_t)dv;
        if ((kind == 1 || kind == 2) && l.topic && l.group) {
            driftq_partition_stats *s = find_part(m, &l, &nomem);
            if (s) {
                if (kind == 1)
                    s->lag = v;
                else
                    s->inflight = v;
            }
        } else if (kind == 3 && l.topic) {
            nomem |= add_total(&m->dlq, &m->ndlq, l.topic, l.reason, v) < 0;
        } else if (kind == 4) {
            nomem |= add_total(&m->rejected, &m->nrej, NULL, l.reason, v) < 0;
        }
        labels_free(&l);
    }
    if (nomem) {
        driftq_metrics_free(m);
        return DRIFTQ_ENOMEM;
    }
    *out = m;
    return DRIFTQ_OK;
}

DRIFTQ_API int driftq_metrics_get(driftq_metrics **out, driftq_client *c)
{
    if (!out || !c)
        return DRIFTQ_EINVAL;
    dq_reset_err(c);
    rc_buf url = RC_BUF_INIT;
    if (rc_buf_puts(&url, c->root) < 0 || rc_buf_puts(&url, "/metrics") < 0) {
        rc_buf_free(&url);
        return dq_set_err(c, DRIFTQ_ENOMEM, "out of memory");
    }
    int hr = rc_http_request(c->http, "GET", url.data, NULL, 0, NULL, &c->resp);
    rc_buf_free(&url);
    int rc = hr == RC_OK ? dq_map_status(c, &c->resp) : dq_map_rc(c, hr, &c->resp);
    if (rc)
        return rc;
    rc = dq_metrics_parse(out, c->resp.body.data ? c->resp.body.data : "", c->resp.body.len);
    if (rc)
        return dq_set_err(c, rc, "out of memory");
    return DRIFTQ_OK;
}

DRIFTQ_API size_t driftq_metrics_count(const driftq_metrics *m)
{
    return m ? m->n : 0;
}

DRIFTQ_API const driftq_partition_stats *driftq_metrics_at(const driftq_metrics *m, size_t i)
{
    return m && i < m->n ? &m->parts[i] : NULL;
}

static int64_t sum_parts(const driftq_metrics *m, const char *topic, const char *group, int lag)
{
    if (!m || !topic)
        return -1;
    int64_t sum = -1;
    for (size_t i = 0; i < m->n; i++) {
        const driftq_partition_stats *s = &m->parts[i];
        if (strcmp(s->topic, topic) != 0 || (group && strcmp(s->group, group) != 0))
            continue;
        int64_t v = lag ? s->lag : s->inflight;
        if (v < 0)
            continue;
        sum = (sum < 0 ? 0 : sum) + v;
    }
    return sum;
}

DRIFTQ_API int64_t driftq_metrics_lag(const driftq_metrics *m, const char *topic, const char *group)
{
    return sum_parts(m, topic, group, 1);
}

DRIFTQ_API int64_t driftq_metrics_inflight(const driftq_metrics *m, const char *topic,
                                           const char *group)
{
    return sum_parts(m, topic, group, 0);
}

DRIFTQ_API int64_t driftq_metrics_dlq_total(const driftq_metrics *m, const char *topic)
{
    int64_t sum = 0;
    for (size_t i = 0; m && topic && i < m->ndlq; i++)
        if (strcmp(m->dlq[i].topic, topic) == 0)
            sum += m->dlq[i].value;
    return sum;
}

DRIFTQ_API int64_t driftq_metrics_rejected_total(const driftq_metrics *m, const char *reason)
{
    int64_t sum = 0;
    for (size_t i = 0; m && i < m->nrej; i++)
        if (!reason || (m->rejected[i].reason && strcmp(m->rejected[i].reason, reason) == 0))
            sum += m->rejected[i].value;
    return sum;
}

DRIFTQ_API void driftq_metrics_free(driftq_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free((char *)m->parts[i].topic);
        free((char *)m->parts[i].group);
    }
    free(m->parts);
    for (size_t i = 0; i < m->ndlq; i++) {
        free(m->dlq[i].topic);
        free(m->dlq[i].reason);
    }
    free(m->dlq);
    for (size_t i = 0; i < m->nrej; i++) {
        free(m->rejected[i].topic);
        free(m->rejected[i].reason);
    }
    free(m->rejected);
    free(m);
}
