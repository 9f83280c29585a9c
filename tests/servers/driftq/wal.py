"""The write-ahead log (``--data-dir``): the file, the records, the replay at start."""

import base64
import json
import os
import time

from .common import log
from .gojson import jmap, jstr
from .gostrings import b2s, s2b
from .gotime import GoTime, GoTimeError, go_time_parse_rfc3339
from .model import (DLQMeta, Envelope, IDEM_COMMITTED, IDEM_FAILED, IdemItem, Message, RetryPolicy,
                    Topic)


def _fmt_time_ns(ns):
    return GoTime(ns, 0).rfc3339nano()


class WAL:
    """Append-only JSON-lines log in the same record layout as driftqd's."""

    def __init__(self, path, fsync):
        self.path = path
        self.fsync = fsync
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, rec):
        data = rec.encode('utf-8', 'surrogatepass') + b'\n'
        os.write(self.fd, data)
        if self.fsync:
            os.fsync(self.fd)

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass


def _b64(s):
    return base64.b64encode(s2b(s)).decode('ascii')


class BrokerWAL:
    """The broker's side of the WAL: the records it appends (driftqd's layout) and their
    replay at start.  A base of Broker, whose state (wal, topics, offsets, idem, _rs) it uses."""

    # ---------------- WAL records ----------------

    def _wal(self, rec):
        if self.wal is not None:
            self.wal.append(rec)

    def _wal_message(self, topic, m):
        if self.wal is None:
            return
        p = ['"type":1', '"topic":' + jstr(topic)]
        if m.partition:
            p.append('"partition":%d' % m.partition)
        if m.offset:
            p.append('"offset":%d' % m.offset)
        if m.key:
            p.append('"key":"%s"' % _b64(m.key))
        if m.value:
            p.append('"value":"%s"' % _b64(m.value))
        if m.routing is not None:
            label, meta = m.routing
            if label:
                p.append('"routing_label":' + jstr(label))
            if meta:
                p.append('"routing_meta":' + jmap(meta))
        e = m.env
        if e is not None:
            for k in ('run_id', 'step_id', 'parent_step_id'):
                v = getattr(e, k)
                if v:
                    p.append('"%s":%s' % (k, jstr(v)))
            if e.labels:
                p.append('"labels":' + jmap(e.labels))
            if e.target_topic:
                p.append('"target_topic":' + jstr(e.target_topic))
            if e.partition_override is not None:
                p.append('"partition_override":%d' % e.partition_override)
            if e.idempotency_key:
                p.append('"idempotency_key":' + jstr(e.idempotency_key))
            if e.deadline is not None:
                p.append('"deadline":"%s"' % e.deadline.rfc3339nano())
            rp = e.retry_policy
            if rp is not None:
                if rp.max_attempts:
                    p.append('"retry_max_attempts":%d' % rp.max_attempts)
                if rp.backoff_ms:
                    p.append('"retry_backoff_ms":%d' % rp.backoff_ms)
                if rp.max_backoff_ms:
                    p.append('"retry_max_backoff_ms":%d' % rp.max_backoff_ms)
            if e.tenant_id:
                p.append('"tenant_id":' + jstr(e.tenant_id))
            d = e.dlq
            if d is not None:
                if d.topic:
                    p.append('"dlq_original_topic":' + jstr(d.topic))
                if d.partition:
                    p.append('"dlq_original_partition":%d' % d.partition)
                if d.offset:
                    p.append('"dlq_original_offset":%d' % d.offset)
                if d.attempts:
                    p.append('"dlq_attempts":%d' % d.attempts)
                if d.last_error:
                    p.append('"dlq_last_error":' + jstr(d.last_error))
                if d.routed_at_ms:
                    p.append('"dlq_routed_at_ms":%d' % d.routed_at_ms)
        self.wal.append('{' + ','.join(p) + '}')

    def _wal_offset(self, topic, group, p, off):
        if self.wal is None:
            return
        r = ['"type":2', '"topic":' + jstr(topic)]
        if p:
            r.append('"partition":%d' % p)
        if off:
            r.append('"offset":%d' % off)
        r.append('"group":' + jstr(group))
        self.wal.append('{' + ','.join(r) + '}')

    def _wal_retry(self, topic, group, p, off, last_error):
        if self.wal is None:
            return
        r = ['"type":4', '"topic":' + jstr(topic)]
        if p:
            r.append('"partition":%d' % p)
        if off:
            r.append('"offset":%d' % off)
        r.append('"group":' + jstr(group))
        if last_error:
            r.append('"last_error":' + jstr(last_error))
        r.append('"last_error_at":"%s"' % _fmt_time_ns(time.time_ns()))
        self.wal.append('{' + ','.join(r) + '}')

    def _wal_cidem(self, tenant, topic, group, key, status, owner, lease_until_ns, last_error):
        if self.wal is None:
            return
        r = ['"type":5', '"topic":' + jstr(topic), '"group":' + jstr(group),
             '"idempotency_key":' + jstr(key)]
        if tenant:
            r.append('"tenant_id":' + jstr(tenant))
        if last_error:
            r.append('"last_error":' + jstr(last_error))
        r.append('"idempotency_scope":"consume"')
        r.append('"idempotency_status":"%s"' % status)
        if owner:
            r.append('"lease_owner":' + jstr(owner))
        if lease_until_ns:
            r.append('"lease_until":"%s"' % _fmt_time_ns(lease_until_ns))
        r.append('"updated_at":"%s"' % _fmt_time_ns(time.time_ns()))
        self.wal.append('{' + ','.join(r) + '}')

    # ---------------- WAL replay ----------------

    def replay(self, path):
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return
        lines = data.split(b'\n')
        torn = lines[-1] != b''
        now_ns = time.time_ns()
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                e = json.loads(line.decode('utf-8', 'replace'))
                if not isinstance(e, dict):
                    raise ValueError('not an object')
            except ValueError as ex:
                if torn and i == len(lines) - 1:
                    log('ignoring torn last WAL record')
                    with open(path, 'r+b') as f:
                        f.truncate(len(data) - len(line))
                    break
                raise SystemExit('driftq_broker: failed to replay WAL: decode WAL entry: %s' % ex)
            t = e.get('type')
            topic = e.get('topic', '') or ''
            part = int(e.get('partition', 0) or 0)
            off = int(e.get('offset', 0) or 0)
            group = e.get('group', '') or ''
            if t == 1:
                ts = self.topics.get(topic)
                if ts is None:
                    ts = Topic(0)
                    self.topics[topic] = ts
                if ts.nparts <= part:
                    ts.nparts = part + 1
                key = b2s(base64.b64decode(e['key'])) if e.get('key') else ''
                value = b2s(base64.b64decode(e['value'])) if e.get('value') else ''
                env = self._env_from_entry(e)
                routing = None
                label = e.get('routing_label') or ''
                meta = e.get('routing_meta') or None
                if label or meta:
                    routing = (label, meta)
                m = Message(key, value, env, routing)
                m.offset = off
                m.partition = part
                if env is not None and env.idempotency_key:
                    self.idem[('p', env.tenant_id, topic, '', env.idempotency_key)] = \
                        IdemItem(IDEM_COMMITTED, now_ns)
                ts.part(part).append(m)
                if off >= ts.next_offset:
                    ts.next_offset = off + 1
            elif t == 2:
                byp = self.offsets.setdefault(topic, {}).setdefault(group, {})
                cur = byp.get(part)
                if cur is None or off > cur:
                    byp[part] = off
            elif t == 4:
                if not topic or not group:
                    continue
                self._rs(topic, group, part)[off] = e.get('last_error', '') or ''
            elif t == 5:
                if e.get('idempotency_scope') != 'consume':
                    continue
                key = e.get('idempotency_key', '') or ''
                if not topic or not group or not key:
                    continue
                st = e.get('idempotency_status')
                upd = now_ns
                if e.get('updated_at'):
                    try:
                        upd = go_time_parse_rfc3339(e['updated_at']).ns
                    except GoTimeError:
                        pass
                k = ('c', e.get('tenant_id', '') or '', topic, group, key)
                if st == IDEM_COMMITTED:
                    self.idem[k] = IdemItem(IDEM_COMMITTED, upd)
                elif st == IDEM_FAILED:
                    self.idem[k] = IdemItem(IDEM_FAILED, upd)
        # purge retry state for anything already acked
        for topic, byg in self.offsets.items():
            for group, byp in byg.items():
                for p, acked in byp.items():
                    rs = self.retry_state.get(topic, {}).get(group, {}).get(p)
                    if rs:
                        for o in [o for o in rs if o <= acked]:
                            del rs[o]

    def _env_from_entry(self, e):
        has_dlq = bool(e.get('dlq_original_topic') or e.get('dlq_routed_at_ms') or e.get('dlq_last_error'))
        keys = ('run_id', 'step_id', 'parent_step_id', 'labels', 'target_topic', 'idempotency_key',
                'deadline', 'retry_max_attempts', 'retry_backoff_ms', 'retry_max_backoff_ms', 'tenant_id')
        if not (has_dlq or any(e.get(k) for k in keys) or e.get('partition_override') is not None):
            return None
        env = Envelope()
        env.run_id = e.get('run_id', '') or ''
        env.step_id = e.get('step_id', '') or ''
        env.parent_step_id = e.get('parent_step_id', '') or ''
        env.labels = e.get('labels') or None
        env.target_topic = e.get('target_topic', '') or ''
        po = e.get('partition_override')
        env.partition_override = int(po) if po is not None else None
        env.idempotency_key = e.get('idempotency_key', '') or ''
        if e.get('deadline'):
            try:
                env.deadline = go_time_parse_rfc3339(e['deadline'])
            except GoTimeError:
                env.deadline = None
        env.tenant_id = e.get('tenant_id', '') or ''
        a, b, c = (int(e.get('retry_max_attempts', 0) or 0), int(e.get('retry_backoff_ms', 0) or 0),
                   int(e.get('retry_max_backoff_ms', 0) or 0))
        if a or b or c:
            env.retry_policy = RetryPolicy(a, b, c)
        if has_dlq:
            env.dlq = DLQMeta(e.get('dlq_original_topic', '') or '', int(e.get('dlq_original_partition', 0) or 0),
                              int(e.get('dlq_original_offset', 0) or 0), int(e.get('dlq_attempts', 0) or 0),
                              e.get('dlq_last_error', '') or '', int(e.get('dlq_routed_at_ms', 0) or 0))
        return env
