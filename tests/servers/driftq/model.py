"""The broker model's errors and records, and the retry backoff."""

import bisect
import collections
import os

from .gojson import jmap, jstr
from .gostrings import blen, go_trim, wrap64


# ---------------------------------------------------------------------------
# Broker model
# ---------------------------------------------------------------------------

class BrokerError(Exception):
    pass


class NotOwnerError(BrokerError):
    def __init__(self):
        BrokerError.__init__(self, 'not owner')


class OverloadError(BrokerError):
    def __init__(self, reason):
        BrokerError.__init__(self, 'producer overload: ' + reason)
        self.reason = reason


class IdemError(BrokerError):
    pass


ERR_IDEM_INFLIGHT = 'idempotency: key already in-flight'
ERR_IDEM_HELD = 'idempotency: lease held by another worker'
ERR_IDEM_LOST = 'idempotency: lease lost or expired'
ERR_IDEM_NOTFOUND = 'idempotency: key not found'
ERR_IDEM_BADLEASE = 'idempotency: invalid lease duration'

IDEM_PENDING, IDEM_COMMITTED, IDEM_FAILED = 'PENDING', 'COMMITTED', 'FAILED'


class RetryPolicy:
    __slots__ = ('max_attempts', 'backoff_ms', 'max_backoff_ms')

    def __init__(self, a=0, b=0, c=0):
        self.max_attempts = a
        self.backoff_ms = b
        self.max_backoff_ms = c


class DLQMeta:
    __slots__ = ('topic', 'partition', 'offset', 'attempts', 'last_error', 'routed_at_ms')

    def __init__(self, topic, partition, offset, attempts, last_error, routed_at_ms):
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.attempts = attempts
        self.last_error = last_error
        self.routed_at_ms = routed_at_ms


class Envelope:
    __slots__ = ('run_id', 'step_id', 'parent_step_id', 'tenant_id', 'idempotency_key',
                 'target_topic', 'deadline', 'retry_policy', 'partition_override',
                 'labels', 'dlq')

    def __init__(self):
        self.run_id = ''
        self.step_id = ''
        self.parent_step_id = ''
        self.tenant_id = ''
        self.idempotency_key = ''
        self.target_topic = ''
        self.deadline = None
        self.retry_policy = None
        self.partition_override = None
        self.labels = None
        self.dlq = None

    def copy(self):
        e = Envelope()
        for k in Envelope.__slots__:
            setattr(e, k, getattr(self, k))
        return e

    def to_json(self):
        parts = []
        for k in ('run_id', 'step_id', 'parent_step_id', 'tenant_id',
                  'idempotency_key', 'target_topic'):
            v = getattr(self, k)
            if v:
                parts.append('"%s":%s' % (k, jstr(v)))
        if self.deadline is not None:
            parts.append('"deadline":"%s"' % self.deadline.rfc3339nano())
        rp = self.retry_policy
        if rp is not None:
            rps = []
            if rp.max_attempts:
                rps.append('"max_attempts":%d' % rp.max_attempts)
            if rp.backoff_ms:
                rps.append('"backoff_ms":%d' % rp.backoff_ms)
            if rp.max_backoff_ms:
                rps.append('"max_backoff_ms":%d' % rp.max_backoff_ms)
            parts.append('"retry_policy":{' + ','.join(rps) + '}')
        if self.partition_override is not None:
            parts.append('"partition_override":%d' % self.partition_override)
        return '{' + ','.join(parts) + '}'


class Message:
    __slots__ = ('offset', 'partition', 'key', 'value', 'env', 'routing', 'nbytes', '_kv', '_tail')

    def __init__(self, key, value, env, routing):
        self.offset = 0
        self.partition = 0
        self.key = key
        self.value = value
        self.env = env
        self.routing = routing     # (label, meta) or None
        self.nbytes = blen(key) + blen(value)
        self._kv = None
        self._tail = None

    def line(self, attempts, last_error):
        if self._kv is None:
            self._kv = ',"key":' + jstr(self.key) + ',"value":' + jstr(self.value)
            tail = ''
            if self.routing is not None:
                label, meta = self.routing
                tail += ',"routing":{"label":' + jstr(label)
                if meta:
                    tail += ',"meta":' + jmap(meta)
                tail += '}'
            if self.env is not None:
                tail += ',"envelope":' + self.env.to_json()
            self._tail = tail + '}\n'
        s = ('{"partition":%d,"offset":%d,"attempts":%d' % (self.partition, self.offset, attempts)
             + self._kv + ',"last_error":' + jstr(last_error) + self._tail)
        return s.encode('utf-8', 'surrogatepass')


class Partition:
    __slots__ = ('msgs', 'offs', 'cum')

    def __init__(self):
        self.msgs = []
        self.offs = []
        self.cum = [0]

    def append(self, m):
        self.msgs.append(m)
        self.offs.append(m.offset)
        self.cum.append(self.cum[-1] + m.nbytes)


class Topic:
    __slots__ = ('nparts', 'parts', 'pids', 'next_offset')

    def __init__(self, nparts):
        self.nparts = nparts
        self.parts = {}          # partition -> Partition (only non-empty ones)
        self.pids = []           # sorted keys of parts
        self.next_offset = 0

    def part(self, p):
        pt = self.parts.get(p)
        if pt is None:
            pt = Partition()
            self.parts[p] = pt
            bisect.insort(self.pids, p)
        return pt


class Inflight:
    __slots__ = ('msg', 'sent_at', 'attempts', 'next_at', 'last_error', 'owner')

    def __init__(self, msg, sent_at, attempts, last_error, owner):
        self.msg = msg
        self.sent_at = sent_at
        self.attempts = attempts
        self.next_at = None
        self.last_error = last_error
        self.owner = owner


class IdemItem:
    __slots__ = ('status', 'updated', 'owner', 'lease_until')

    def __init__(self, status, updated, owner='', lease_until=0):
        self.status = status
        self.updated = updated
        self.owner = owner
        self.lease_until = lease_until


class Stream:
    """One consume stream (the real broker's consumer channel)."""
    __slots__ = ('topic', 'group', 'owner', 'lease_ns', 'q', 'rfd', 'wfd', 'signaled', 'closed')

    def __init__(self, topic, group, owner, lease_ns):
        self.topic = topic
        self.group = group
        self.owner = owner
        self.lease_ns = lease_ns
        self.q = collections.deque()
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.signaled = False
        self.closed = False

    def push(self, data):
        self.q.append(data)
        self.wake()

    def wake(self):
        # Only called under the broker lock while the stream is registered;
        # the fds are closed after it has been unregistered.
        if not self.signaled and self.wfd >= 0:
            self.signaled = True
            try:
                os.write(self.wfd, b'x')
            except OSError:
                pass

    def close_fds(self):
        fds = (self.rfd, self.wfd)
        self.rfd = self.wfd = -1
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass


def append_last_error(existing, addition):
    addition = go_trim(addition)
    if addition == '':
        return existing
    existing = go_trim(existing)
    if existing == '':
        return addition
    return existing + ' | ' + addition


def compute_backoff_ns(rp, n):
    if rp is None or rp.backoff_ms <= 0 or n <= 0:
        return 0
    b = wrap64(rp.backoff_ms * 1_000_000)
    mx = wrap64(rp.max_backoff_ms * 1_000_000) if rp.max_backoff_ms > 0 else None
    if mx is not None and b > mx:
        return mx
    for _ in range(1, n):
        if mx is not None and b >= mx:
            return mx
        b = wrap64(b * 2)
        if mx is not None and b > mx:
            return mx
    return b
