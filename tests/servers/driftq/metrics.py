"""Prometheus text exposition of /metrics."""

import os
import threading

from .gostrings import s2b


# ---------------------------------------------------------------------------
# Prometheus text exposition
# ---------------------------------------------------------------------------

def go_float(f):
    if f == 1:
        return '1'
    if f == 0:
        return '0'
    if f == -1:
        return '-1'
    if f != f:
        return 'NaN'
    if f in (float('inf'), float('-inf')):
        return '+Inf' if f > 0 else '-Inf'
    r = repr(float(f))
    neg = r.startswith('-')
    if neg:
        r = r[1:]
    mant, _, exp = r.partition('e')
    exp = int(exp) if exp else 0
    ip, _, fp = mant.partition('.')
    digits = (ip + fp).lstrip('0')
    lead_zeros = len(ip + fp) - len((ip + fp).lstrip('0'))
    dp = len(ip) + exp - lead_zeros
    digits = digits.rstrip('0') or '0'
    nd = len(digits)
    x = dp - 1
    if x < -4 or x >= 6:
        m = digits[0] + ('.' + digits[1:] if nd > 1 else '')
        s = '%se%s%02d' % (m, '+' if x >= 0 else '-', abs(x))
    elif dp <= 0:
        s = '0.' + '0' * (-dp) + digits
    elif dp >= nd:
        s = digits + '0' * (dp - nd)
    else:
        s = digits[:dp] + '.' + digits[dp:]
    return ('-' if neg else '') + s


def _prom_label(v):
    v = s2b(v).decode('utf-8', 'replace')
    return v.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n')


def _proc_stats():
    out = {}
    try:
        with open('/proc/self/stat', 'rb') as f:
            parts = f.read().rsplit(b')', 1)[1].split()
        tck = os.sysconf('SC_CLK_TCK')
        out['cpu'] = (int(parts[11]) + int(parts[12])) / tck
        out['vsize'] = int(parts[20])
        out['rss'] = int(parts[21]) * os.sysconf('SC_PAGE_SIZE')
        start_ticks = int(parts[19])
        with open('/proc/stat', 'rb') as f:
            for line in f:
                if line.startswith(b'btime'):
                    out['start'] = int(line.split()[1]) + start_ticks / tck
        out['fds'] = len(os.listdir('/proc/self/fd'))
        import resource
        out['maxfds'] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except Exception:
        pass
    return out


class PromState:
    def __init__(self):
        self.mu = threading.Lock()
        self.in_flight = 0
        self.by_code = {'200': 0, '500': 0, '503': 0}


def render_metrics(broker, prom):
    lag, infl, rejected, dlq = broker.metrics_snapshot()
    fams = []

    def fam(name, help_, typ, samples):
        if not samples:
            return
        lines = ['# HELP %s %s\n' % (name, help_.replace('\\', '\\\\').replace('\n', '\\n')),
                 '# TYPE %s %s\n' % (name, typ)]
        for labels, value in sorted(samples, key=lambda s: [s2b(v) for _, v in s[0]]):
            if labels:
                ls = '{' + ','.join('%s="%s"' % (k, _prom_label(v)) for k, v in labels) + '}'
            else:
                ls = ''
            lines.append('%s%s %s\n' % (name, ls, go_float(value)))
        fams.append((name, ''.join(lines)))

    def tgp(rows):
        return [((('group', g), ('partition', str(p)), ('topic', t)), v) for t, g, p, v in rows]

    fam('consumer_lag', 'Consumer lag per topic/group/partition (messages after committed offset).',
        'gauge', tgp(lag))
    fam('inflight_messages', 'Current number of in-flight messages per topic/group/partition.',
        'gauge', tgp(infl))
    fam('dlq_messages_total', 'Total number of messages routed to DLQ.', 'counter',
        [((('reason', r), ('topic', t)), v) for (t, r), v in dlq.items()])
    fam('produce_rejected_total', 'Total number of produce calls rejected (backpressure/overload).',
        'counter', [((('reason', r),), v) for r, v in rejected.items()])
    ps = _proc_stats()
    if 'cpu' in ps:
        fam('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', 'counter',
            [((), ps['cpu'])])
        fam('process_resident_memory_bytes', 'Resident memory size in bytes.', 'gauge', [((), ps['rss'])])
        fam('process_virtual_memory_bytes', 'Virtual memory size in bytes.', 'gauge', [((), ps['vsize'])])
    if 'start' in ps:
        fam('process_start_time_seconds', 'Start time of the process since unix epoch in seconds.', 'gauge',
            [((), ps['start'])])
    if 'fds' in ps:
        fam('process_open_fds', 'Number of open file descriptors.', 'gauge', [((), ps['fds'])])
    if 'maxfds' in ps:
        fam('process_max_fds', 'Maximum number of open file descriptors.', 'gauge', [((), ps['maxfds'])])
    with prom.mu:
        fam('promhttp_metric_handler_requests_in_flight', 'Current number of scrapes being served.', 'gauge',
            [((), prom.in_flight)])
        fam('promhttp_metric_handler_requests_total', 'Total number of scrapes by HTTP status code.', 'counter',
            [((('code', c),), v) for c, v in prom.by_code.items()])
    fams.sort(key=lambda f: f[0])
    return ''.join(f[1] for f in fams)
