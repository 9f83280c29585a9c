"""The broker: topics, produce, consume, redelivery, DLQ, idempotency, ack/nack."""

import bisect
import threading
import time

from .common import (ACK_TIMEOUT_NS, IDEM_MAX_LEASE_NS, IDEM_MIN_LEASE_NS, IDEM_TTL_NS,
                     MAX_INFLIGHT, MAX_PARTITION_BYTES, MAX_PARTITION_MSGS, ROUTING_LABEL,
                     ROUTING_META)
from .gostrings import fnv32a, go_trim, s2b
from .model import (BrokerError, DLQMeta, ERR_IDEM_BADLEASE, ERR_IDEM_HELD, ERR_IDEM_INFLIGHT,
                    ERR_IDEM_LOST, ERR_IDEM_NOTFOUND, Envelope, IDEM_COMMITTED, IDEM_FAILED,
                    IDEM_PENDING, IdemError, IdemItem, Inflight, Message, NotOwnerError,
                    OverloadError, Stream, Topic, append_last_error, compute_backoff_ns)
from .wal import BrokerWAL


class Broker(BrokerWAL):
    """Topics, consumer groups, leases, the idempotency store; the WAL records and their
    replay are BrokerWAL's (wal.py)."""

    def __init__(self, wal=None):
        self.mu = threading.Lock()
        self.topics = {}
        self.offsets = {}      # topic -> group -> partition -> committed offset
        self.streams = {}      # topic -> group -> [Stream]
        self.rr = {}           # topic -> group -> cursor
        self.inflight = {}     # topic -> group -> partition -> {offset: Inflight}
        self.next_index = {}   # topic -> group -> partition -> index
        self.retry_state = {}  # topic -> group -> partition -> {offset: last_error}
        self.idem = {}
        self.wal = wal
        self.produce_rejected = {}
        self.dlq_total = {}
        self.last_sweep = time.monotonic()

    # ---------------- small state helpers ----------------

    def _ensure_inflight(self, topic, group, p):
        byp = self.inflight.setdefault(topic, {}).setdefault(group, {})
        d = byp.get(p)
        if d is None:
            d = {}
            byp[p] = d
        return d

    def _rs(self, topic, group, p):
        return self.retry_state.setdefault(topic, {}).setdefault(group, {}).setdefault(p, {})

    def _purge_rs(self, topic, group, p, acked):
        rs = self._rs(topic, group, p)
        if rs:
            for o in [o for o in rs if o <= acked]:
                del rs[o]

    def _slowest_ack(self, topic, p):
        byg = self.offsets.get(topic)
        if not byg:
            return -1
        slowest = None
        for byp in byg.values():
            off = byp.get(p, -1)
            if slowest is None or off < slowest:
                slowest = off
        return -1 if slowest is None else slowest

    # ---------------- idempotency store ----------------

    def _idem_get(self, k, now):
        it = self.idem.get(k)
        if it is None:
            return None
        if k[0] == 'c':
            if it.status == IDEM_COMMITTED:
                return it
            if it.status == IDEM_PENDING and it.lease_until and now < it.lease_until:
                return it
        if it.updated < now - IDEM_TTL_NS:
            del self.idem[k]
            return None
        return it

    def _idem_sweep(self):
        now = time.time_ns()
        for k in list(self.idem):
            self._idem_get(k, now)

    def _consume_check(self, tenant, topic, group, key):
        return self._idem_get(('c', tenant, topic, group, key), time.time_ns())

    def _consume_begin_lease(self, tenant, topic, group, key, owner, lease_ns):
        if lease_ns <= 0 or lease_ns < IDEM_MIN_LEASE_NS or lease_ns > IDEM_MAX_LEASE_NS:
            raise IdemError(ERR_IDEM_BADLEASE)
        owner = owner or 'unknown'
        now = time.time_ns()
        k = ('c', tenant, topic, group, key)
        it = self._idem_get(k, now)
        if it is not None:
            if it.status == IDEM_COMMITTED:
                return True
            if it.status == IDEM_PENDING:
                active = it.lease_until and now < it.lease_until
                if active and it.owner != owner:
                    raise IdemError(ERR_IDEM_HELD)
        until = now + lease_ns
        self._wal_cidem(tenant, topic, group, key, IDEM_PENDING, owner, until, '')
        self.idem[k] = IdemItem(IDEM_PENDING, now, owner, until)
        return False

    def _consume_finish_if_owner(self, tenant, topic, group, key, owner, commit, cause=''):
        owner = owner or 'unknown'
        now = time.time_ns()
        k = ('c', tenant, topic, group, key)
        it = self._idem_get(k, now)
        if it is None:
            raise IdemError(ERR_IDEM_NOTFOUND)
        if commit and it.status == IDEM_COMMITTED:
            return
        if it.status != IDEM_PENDING:
            raise IdemError(ERR_IDEM_LOST)
        if it.owner != owner:
            raise IdemError(ERR_IDEM_HELD)
        if not it.lease_until or now >= it.lease_until:
            raise IdemError(ERR_IDEM_LOST)
        if commit:
            self._wal_cidem(tenant, topic, group, key, IDEM_COMMITTED, owner, it.lease_until, '')
            self.idem[k] = IdemItem(IDEM_COMMITTED, now)
        else:
            self._wal_cidem(tenant, topic, group, key, IDEM_FAILED, owner, 0, cause)
            self.idem[k] = IdemItem(IDEM_FAILED, now)

    # ---------------- topics ----------------

    def create_topic(self, name, partitions):
        with self.mu:
            if name not in self.topics:
                self.topics[name] = Topic(partitions)

    def list_topics(self):
        with self.mu:
            return sorted(self.topics, key=s2b)

    # ---------------- produce ----------------

    def produce(self, topic, key, value, env):
        routing = None
        if env is None or env.dlq is None:
            routing = (ROUTING_LABEL, ROUTING_META)
        if env is not None and env.deadline is not None:
            if time.time_ns() > env.deadline.ns:
                raise BrokerError('message deadline exceeded')
        final = topic
        if env is not None and env.target_topic:
            final = env.target_topic
        tenant = env.tenant_id if env is not None else ''
        ikey = env.idempotency_key if env is not None else ''
        m = Message(key, value, env, routing)
        if not ikey:
            with self.mu:
                self._produce_locked(final, m)
            return
        k = ('p', tenant, final, '', ikey)
        with self.mu:
            it = self._idem_get(k, time.time_ns())
            if it is not None:
                if it.status == IDEM_COMMITTED:
                    return
                if it.status == IDEM_PENDING:
                    raise BrokerError(ERR_IDEM_INFLIGHT)
            self.idem[k] = IdemItem(IDEM_PENDING, time.time_ns())
        ok = False
        try:
            with self.mu:
                self._produce_locked(final, m)
            ok = True
        finally:
            with self.mu:
                self.idem[k] = IdemItem(IDEM_COMMITTED if ok else IDEM_FAILED, time.time_ns())

    def _produce_locked(self, topic, m):
        ts = self.topics.get(topic)
        if ts is None:
            raise BrokerError('topic does not exist (create it first)')
        n = ts.nparts
        if n <= 0:
            raise BrokerError('topic has no partitions')
        p = 0
        if m.key:
            p = fnv32a(s2b(m.key)) % n
        env = m.env
        if env is not None and env.partition_override is not None:
            po = env.partition_override
            if po < 0 or po >= n:
                raise BrokerError('partition_override out of range')
            p = po
        pt = ts.parts.get(p)
        slowest = self._slowest_ack(topic, p)
        if pt is not None:
            idx = bisect.bisect_right(pt.offs, slowest)
            count = len(pt.offs) - idx
            nbytes = pt.cum[-1] - pt.cum[idx]
        else:
            count = 0
            nbytes = 0
        if count >= MAX_PARTITION_MSGS:
            self._reject('partition_buffer_full')
        if nbytes + m.nbytes >= MAX_PARTITION_BYTES:
            self._reject('partition_buffer_bytes_full')
        m.offset = ts.next_offset
        m.partition = p
        self._wal_message(topic, m)
        ts.next_offset += 1
        ts.part(p).append(m)
        self._dispatch(topic)

    def _reject(self, reason):
        self.produce_rejected[reason] = self.produce_rejected.get(reason, 0) + 1
        raise OverloadError(reason)

    # ---------------- consume ----------------

    def consume(self, topic, group, owner, lease_ns):
        if lease_ns <= 0:
            lease_ns = ACK_TIMEOUT_NS
        st = Stream(topic, group, owner, lease_ns)
        with self.mu:
            if topic not in self.topics:
                st.close_fds()
                raise BrokerError('topic does not exist')
            byg = self.streams.setdefault(topic, {})
            lst = byg.setdefault(group, [])
            kick = len(lst) == 0
            lst.append(st)
            if kick:
                self._dispatch(topic)
        return st

    def unregister(self, st):
        with self.mu:
            byg = self.streams.get(st.topic)
            if byg is None:
                return
            lst = byg.get(st.group, [])
            for i, x in enumerate(lst):
                if x is st:
                    del lst[i]
                    break
            if not lst:
                byg.pop(st.group, None)
            cur = self.rr.get(st.topic)
            if cur is not None:
                if st.group not in byg:
                    cur.pop(st.group, None)
                elif cur.get(st.group, 0) >= len(byg[st.group]):
                    cur[st.group] = cur[st.group] % len(byg[st.group])

    def all_streams(self):
        with self.mu:
            return [s for byg in self.streams.values() for lst in byg.values() for s in lst]

    def _send(self, st, m, attempts, last_error):
        st.push(m.line(attempts, last_error))

    def _advance_skip(self, topic, group, p, off):
        """Offset advance used by dispatch for consume-idempotent skips."""
        byp = self.offsets.setdefault(topic, {}).setdefault(group, {})
        cur = byp.get(p, -1)
        if off > cur:
            self._wal_offset(topic, group, p, off)
            byp[p] = off

    def _dispatch(self, topic):
        ts = self.topics.get(topic)
        if ts is None:
            return
        byg = self.streams.get(topic)
        if not byg:
            return
        rr = self.rr.setdefault(topic, {})
        for group, chans in list(byg.items()):
            if not chans:
                continue
            nexti = self.next_index.setdefault(topic, {}).setdefault(group, {})
            self.inflight.setdefault(topic, {}).setdefault(group, {})
            for p in list(ts.pids):
                if p >= ts.nparts:
                    continue
                inflight = self._ensure_inflight(topic, group, p)
                if len(inflight) >= MAX_INFLIGHT:
                    continue
                pt = ts.parts[p]
                msgs = pt.msgs
                idx = nexti.get(p)
                if idx is None:
                    last = self.offsets.get(topic, {}).get(group, {}).get(p, -1)
                    idx = bisect.bisect_right(pt.offs, last)
                    nexti[p] = idx
                while idx < len(msgs):
                    if len(inflight) >= MAX_INFLIGHT:
                        break
                    m = msgs[idx]
                    env = m.env
                    ikey = env.idempotency_key if env is not None else ''
                    if ikey:
                        it = self._consume_check(env.tenant_id, topic, group, ikey)
                        if it is not None and it.status == IDEM_COMMITTED:
                            self._advance_skip(topic, group, p, m.offset)
                            self._purge_rs(topic, group, p, m.offset)
                            idx += 1
                            nexti[p] = idx
                            continue
                    if m.offset in inflight:
                        idx += 1
                        nexti[p] = idx
                        continue
                    start = rr.get(group, 0) % len(chans)
                    if not ikey:
                        cs = chans[start]
                        rr[group] = (start + 1) % len(chans)
                    else:
                        cs = None
                        begin_err = None
                        already = False
                        for tries in range(len(chans)):
                            i = (start + tries) % len(chans)
                            cand = chans[i]
                            try:
                                already = self._consume_begin_lease(env.tenant_id, topic, group, ikey,
                                                                    cand.owner, cand.lease_ns)
                            except IdemError as e:
                                if str(e) == ERR_IDEM_HELD:
                                    continue
                                begin_err = str(e)
                                break
                            cs = cand
                            rr[group] = (i + 1) % len(chans)
                            break
                        if begin_err is not None:
                            le = 'idem_begin_failed: ' + begin_err
                            self._rs(topic, group, p)[m.offset] = le
                            self._wal_retry(topic, group, p, m.offset, le)
                            break
                        if cs is None:
                            break
                        if already:
                            self._advance_skip(topic, group, p, m.offset)
                            self._purge_rs(topic, group, p, m.offset)
                            idx += 1
                            nexti[p] = idx
                            continue
                    last_err = self._rs(topic, group, p).get(m.offset, '')
                    e = Inflight(m, time.monotonic_ns(), 1, last_err, cs.owner)
                    inflight[m.offset] = e
                    idx += 1
                    nexti[p] = idx
                    self._send(cs, m, 1, last_err)

    # ---------------- redelivery ----------------

    def tick(self):
        with self.mu:
            self._redeliver_expired()
            now = time.monotonic()
            if now - self.last_sweep > 60:
                self.last_sweep = now
                self._idem_sweep()

    def _lease_for_owner(self, chans, owner):
        own = go_trim(owner)
        for st in chans:
            if go_trim(st.owner) == own and st.lease_ns > 0:
                return st.lease_ns
        return ACK_TIMEOUT_NS

    def _redeliver_expired(self):
        now = time.monotonic_ns()
        for topic, byg in list(self.inflight.items()):
            gstreams = self.streams.get(topic)
            if gstreams is None:
                continue
            rr = self.rr.setdefault(topic, {})
            for group, byp in list(byg.items()):
                chans = gstreams.get(group)
                if not chans:
                    continue
                for p, infl in list(byp.items()):
                    if not infl:
                        continue
                    for off in sorted(infl):
                        e = infl.get(off)
                        if e is None:
                            continue
                        chans = gstreams.get(group)
                        if not chans:
                            break
                        lease = self._lease_for_owner(chans, e.owner)
                        if now - e.sent_at < lease:
                            continue
                        if e.last_error == '':
                            e.last_error = 'ack_timeout'
                            self._rs(topic, group, p)[off] = e.last_error
                            self._wal_retry(topic, group, p, off, e.last_error)
                        if e.next_at is not None and now < e.next_at:
                            continue
                        env = e.msg.env
                        rp = env.retry_policy if env is not None else None
                        ikey = env.idempotency_key if env is not None else ''
                        if ikey:
                            it = self._consume_check(env.tenant_id, topic, group, ikey)
                            if it is not None and it.status == IDEM_COMMITTED:
                                del infl[off]
                                self._advance_offset(topic, group, p, off)
                                self._purge_rs(topic, group, p, off)
                                continue
                        if rp is not None and rp.max_attempts > 0 and e.attempts >= rp.max_attempts:
                            try:
                                self._publish_dlq(topic, e.msg, e.attempts, e.last_error)
                            except BrokerError as err:
                                e.last_error = append_last_error(e.last_error, 'dlq_publish_failed: ' + str(err))
                                self._rs(topic, group, p)[off] = e.last_error
                                self._wal_retry(topic, group, p, off, e.last_error)
                                continue
                            k = (topic, 'max_attempts_reached')
                            self.dlq_total[k] = self.dlq_total.get(k, 0) + 1
                            del infl[off]
                            self._advance_offset(topic, group, p, off)
                            self._purge_rs(topic, group, p, off)
                            continue
                        if ikey:
                            start = rr.get(group, 0) % len(chans)
                            chosen = None
                            done = False
                            failed = False
                            for i in range(len(chans)):
                                idx = (start + i) % len(chans)
                                cand = chans[idx]
                                try:
                                    already = self._consume_begin_lease(env.tenant_id, topic, group, ikey,
                                                                        cand.owner, cand.lease_ns)
                                except IdemError as err:
                                    if str(err) == ERR_IDEM_HELD:
                                        continue
                                    e.last_error = append_last_error(e.last_error, 'idem_begin_failed: ' + str(err))
                                    self._rs(topic, group, p)[off] = e.last_error
                                    self._wal_retry(topic, group, p, off, e.last_error)
                                    failed = True
                                    break
                                if already:
                                    del infl[off]
                                    self._advance_offset(topic, group, p, off)
                                    self._purge_rs(topic, group, p, off)
                                    done = True
                                    break
                                chosen = idx
                                break
                            if done or failed or chosen is None:
                                continue
                            rr[group] = (chosen + 1) % len(chans)
                            cs = chans[chosen]
                        else:
                            idx = rr.get(group, 0) % len(chans)
                            rr[group] = (rr.get(group, 0) + 1) % len(chans)
                            cs = chans[idx]
                        e.owner = cs.owner
                        e.sent_at = now
                        e.attempts += 1
                        if rp is not None and (rp.backoff_ms > 0 or rp.max_backoff_ms > 0):
                            e.next_at = now + compute_backoff_ns(rp, e.attempts - 1)
                        else:
                            e.next_at = None
                        self._send(cs, e.msg, e.attempts, e.last_error)

    def _publish_dlq(self, topic, msg, attempts, last_error):
        dlq = 'dlq.' + topic
        if dlq not in self.topics:
            n = 1
            src = self.topics.get(topic)
            if src is not None and src.nparts > 0:
                n = src.nparts
            self.topics[dlq] = Topic(n)
        env = msg.env.copy() if msg.env is not None else Envelope()
        env.target_topic = ''
        env.partition_override = None
        env.retry_policy = None
        env.dlq = DLQMeta(topic, msg.partition, msg.offset, attempts, last_error, time.time_ns() // 1_000_000)
        m = Message(msg.key, msg.value, env, msg.routing)
        self._produce_locked(dlq, m)

    def _advance_offset(self, topic, group, p, off):
        ts = self.topics.get(topic)
        if ts is None or p >= ts.nparts or p < 0 or off < 0:
            return
        byp = self.offsets.setdefault(topic, {}).setdefault(group, {})
        cur = byp.get(p)
        if cur is not None and off <= cur:
            return
        self._wal_offset(topic, group, p, off)
        byp[p] = off
        self._dispatch(topic)

    # ---------------- ack / nack ----------------

    @staticmethod
    def _validate(topic, group, p, off, owner):
        if topic == '':
            raise BrokerError('topic cannot be empty')
        if group == '':
            raise BrokerError('group cannot be empty')
        if p < 0:
            raise BrokerError('partition cannot be negative')
        if off < 0:
            raise BrokerError('offset cannot be negative')
        if go_trim(owner) == '':
            raise BrokerError('owner cannot be empty')

    def ack(self, topic, group, p, off, owner):
        self._validate(topic, group, p, off, owner)
        owner = go_trim(owner)
        with self.mu:
            ts = self.topics.get(topic)
            if ts is None:
                raise BrokerError('topic does not exist')
            if p >= ts.nparts:
                raise BrokerError('partition out of range')
            infl = self._ensure_inflight(topic, group, p)
            e = infl.get(off)
            if e is None:
                raise BrokerError('message is not in-flight')
            if go_trim(e.owner) != owner:
                raise NotOwnerError()
            env = e.msg.env
            if env is not None and env.idempotency_key:
                try:
                    self._consume_finish_if_owner(env.tenant_id, topic, group, env.idempotency_key, owner, True)
                except IdemError as err:
                    if str(err) == ERR_IDEM_HELD:
                        raise NotOwnerError()
                    if str(err) != ERR_IDEM_NOTFOUND:
                        raise
            byp = self.offsets.setdefault(topic, {}).setdefault(group, {})
            cur = byp.get(p)
            if cur is not None and off <= cur:
                infl.pop(off, None)
                self._dispatch(topic)
                return
            self._wal_offset(topic, group, p, off)
            infl.pop(off, None)
            byp[p] = off
            self._dispatch(topic)

    def nack(self, topic, group, p, off, owner, reason):
        self._validate(topic, group, p, off, owner)
        owner = go_trim(owner)
        reason = go_trim(reason) or 'nack'
        with self.mu:
            ts = self.topics.get(topic)
            if ts is None:
                raise BrokerError('topic does not exist')
            if p >= ts.nparts:
                raise BrokerError('partition out of range')
            infl = self._ensure_inflight(topic, group, p)
            e = infl.get(off)
            if e is None:
                raise BrokerError('message is not in-flight')
            if go_trim(e.owner) != owner:
                raise NotOwnerError()
            merged = append_last_error(e.last_error, reason)
            rs = self._rs(topic, group, p)
            rs[off] = merged
            self._wal_retry(topic, group, p, off, merged)
            e.last_error = merged
            env = e.msg.env
            if env is not None and env.idempotency_key:
                try:
                    self._consume_finish_if_owner(env.tenant_id, topic, group, env.idempotency_key,
                                                  owner, False, reason)
                except IdemError as err:
                    if str(err) != ERR_IDEM_NOTFOUND:
                        merged2 = append_last_error(merged, 'idem_fail_failed: ' + str(err))
                        e.last_error = merged2
                        rs[off] = merged2
                        self._wal_retry(topic, group, p, off, merged2)
            e.next_at = None
            lease = ACK_TIMEOUT_NS
            for st in self.streams.get(topic, {}).get(group, []):
                if go_trim(st.owner) == go_trim(e.owner) and st.lease_ns > 0:
                    lease = st.lease_ns
                    break
            e.sent_at = time.monotonic_ns() - lease - 1_000_000
            self._redeliver_expired()

    # ---------------- metrics ----------------

    def metrics_snapshot(self):
        lag, infl_out = [], []
        with self.mu:
            for topic, ts in self.topics.items():
                groups = set()
                groups.update(self.offsets.get(topic, {}))
                groups.update(self.inflight.get(topic, {}))
                groups.update(self.streams.get(topic, {}))
                for group in groups:
                    committed = self.offsets.get(topic, {}).get(group, {})
                    ginfl = self.inflight.get(topic, {}).get(group, {})
                    for p in range(ts.nparts):
                        pt = ts.parts.get(p)
                        c = committed.get(p, -1)
                        lv = 0
                        if pt is not None:
                            lv = len(pt.offs) - bisect.bisect_right(pt.offs, c)
                        lag.append((topic, group, p, lv))
                        infl_out.append((topic, group, p, len(ginfl.get(p, ()))))
            rejected = dict(self.produce_rejected)
            dlq = dict(self.dlq_total)
        return lag, infl_out, rejected, dlq
