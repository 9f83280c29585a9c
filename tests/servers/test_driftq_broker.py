#!/usr/bin/python3
"""Self-test for driftq_broker.py (stdlib unittest, raw http.client/socket).

Starts the broker as a subprocess on a free port and checks the DriftQ v1
behaviour points against it.  Run:

    /usr/bin/python3 tests/servers/test_driftq_broker.py
"""

import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
BROKER = os.path.join(HERE, 'driftq_broker.py')
PY = '/usr/bin/python3' if os.path.exists('/usr/bin/python3') else sys.executable


def fnv32a(data):
    h = 0x811C9DC5
    for x in data:
        h = ((h ^ x) * 0x01000193) & 0xFFFFFFFF
    return h


def uniq(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


class Broker:
    """A broker subprocess."""

    def __init__(self, *extra):
        self.proc = subprocess.Popen([PY, BROKER, '--port', '0'] + list(extra),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode()
        m = re.fullmatch(r'DRIFTQ_URL=http://127\.0\.0\.1:(\d+)\n', line)
        if not m:
            self.proc.kill()
            raise RuntimeError('bad startup line %r: %s' % (line, self.proc.stderr.read()))
        self.line = line
        self.port = int(m.group(1))

    def stop(self):
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=5)
        dt = time.monotonic() - t0
        self.stderr = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc, dt

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Client:
    def __init__(self, port):
        self.port = port
        self.conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)

    def req(self, method, path, body=None, headers=None):
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, r, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
                if attempt:
                    raise

    def close(self):
        self.conn.close()


class Stream:
    """A raw NDJSON consume stream."""

    def __init__(self, port, query, headers=''):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=10)
        self.sock.sendall(('GET /v1/consume?%s HTTP/1.1\r\nHost: x\r\n%s\r\n' % (query, headers)).encode())
        self.buf = b''
        self.status = None
        self.headers = {}
        self.raw_head = b''

    def _fill(self, deadline):
        t = deadline - time.monotonic()
        if t <= 0:
            raise TimeoutError()
        r, _, _ = select.select([self.sock], [], [], t)
        if not r:
            raise TimeoutError()
        d = self.sock.recv(65536)
        if not d:
            raise EOFError()
        self.buf += d

    def nothing_for(self, secs):
        r, _, _ = select.select([self.sock], [], [], secs)
        return not r

    def read_head(self, timeout=5):
        deadline = time.monotonic() + timeout
        while b'\r\n\r\n' not in self.buf:
            self._fill(deadline)
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        self.raw_head = head
        lines = head.decode('latin-1').split('\r\n')
        self.status = int(lines[0].split()[1])
        for ln in lines[1:]:
            k, v = ln.split(':', 1)
            self.headers[k.strip()] = v.strip()
        return self.status

    def next_raw(self, timeout=5):
        deadline = time.monotonic() + timeout
        if self.status is None:
            self.read_head(timeout)
        while b'\r\n' not in self.buf:
            self._fill(deadline)
        size_s, rest = self.buf.split(b'\r\n', 1)
        size = int(size_s, 16)
        self.buf = rest
        while len(self.buf) < size + 2:
            self._fill(deadline)
        chunk = self.buf[:size]
        assert self.buf[size:size + 2] == b'\r\n'
        self.buf = self.buf[size + 2:]
        return chunk

    def next(self, timeout=5):
        raw = self.next_raw(timeout)
        assert raw.endswith(b'\n') and raw.count(b'\n') == 1, raw
        return json.loads(raw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def go_json(obj):
    """Encode like Go's encoding/json (compact, HTML-escaped, trailing newline)."""
    s = json.dumps(obj, separators=(',', ':'), ensure_ascii=False)
    s = s.replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
    return (s + '\n').encode('utf-8')


def prom_value(text, name, labels):
    want = name + '{' + ','.join('%s="%s"' % kv for kv in labels) + '} '
    for line in text.splitlines():
        if line.startswith(want):
            return float(line[len(want):])
    return None


class BrokerTest(unittest.TestCase):
    broker = None

    @classmethod
    def setUpClass(cls):
        cls.broker = Broker()
        cls.port = cls.broker.port

    @classmethod
    def tearDownClass(cls):
        rc, dt = cls.broker.stop()
        assert rc == 0, rc
        assert dt < 1.0, dt
        assert cls.broker.stderr == b'', cls.broker.stderr

    def setUp(self):
        self.c = Client(self.port)
        self.streams = []

    def tearDown(self):
        self.c.close()
        for s in self.streams:
            s.close()

    # ---- helpers ----

    def stream(self, topic, group, owner, lease_ms=None, extra=''):
        q = 'topic=%s&group=%s&owner=%s' % (topic, group, owner)
        if lease_ms is not None:
            q += '&lease_ms=%d' % lease_ms
        s = Stream(self.port, q + extra)
        self.streams.append(s)
        return s

    def topic(self, partitions=1, prefix='t'):
        name = uniq(prefix)
        st, _, body = self.c.req('POST', '/v1/topics', {'name': name, 'partitions': partitions})
        self.assertEqual(st, 201, body)
        return name

    def produce(self, topic, value='v', key=None, envelope=None, expect=200):
        b = {'topic': topic, 'value': value}
        if key is not None:
            b['key'] = key
        if envelope is not None:
            b['envelope'] = envelope
        st, r, body = self.c.req('POST', '/v1/produce', b)
        self.assertEqual(st, expect, body)
        return body

    def ack(self, topic, group, owner, m, path='/v1/ack', **extra):
        b = {'topic': topic, 'group': group, 'owner': owner, 'partition': m['partition'], 'offset': m['offset']}
        b.update(extra)
        st, _, body = self.c.req('POST', path, b)
        return st, body

    def assertErr(self, resp, status, code, msg):
        st, r, body = resp
        self.assertEqual(st, status, body)
        self.assertEqual(r.getheader('Content-Type'), 'application/json; charset=utf-8')
        self.assertEqual(body, go_json({'error': code, 'message': msg}))

    def bad(self, resp, msg):
        self.assertErr(resp, 400, 'INVALID_ARGUMENT', msg)

    def metrics(self):
        st, r, body = self.c.req('GET', '/metrics')
        self.assertEqual(st, 200)
        return body.decode()

    def sync(self):
        # a round trip so that streams opened before are registered
        time.sleep(0.15)

    # ---- tests ----

    def test_01_startup_health_version_reqid(self):
        self.assertRegex(self.broker.line, r'^DRIFTQ_URL=http://127\.0\.0\.1:\d+\n$')
        st, r, body = self.c.req('GET', '/v1/healthz')
        self.assertEqual((st, body), (200, b'{"status":"ok"}\n'))
        self.assertEqual(r.getheader('Content-Type'), 'application/json; charset=utf-8')
        self.assertRegex(r.getheader('X-Request-Id'), r'^[0-9a-f]{24}$')
        st, r, body = self.c.req('GET', '/v1/version', headers={'X-Request-Id': '  my-id-1 '})
        self.assertEqual((st, body), (200, b'{"version":"dev","commit":"unknown","wal_enabled":true}\n'))
        self.assertEqual(r.getheader('X-Request-Id'), 'my-id-1')
        st, r, body = self.c.req('GET', '/nope', headers={'X-Request-Id': 'abc'})
        self.assertEqual(r.getheader('X-Request-Id'), 'abc')

    def test_02_routing_404_405(self):
        for p in ('/', '/foo', '/metrics/', '/v2/topics'):
            self.assertErr(self.c.req('GET', p), 404, 'NOT_FOUND', 'use /v1/* endpoints')
        for p in ('/v1/foo', '/v1/topics/', '/v1/'):
            st, r, body = self.c.req('GET', p)
            self.assertEqual((st, body), (404, b'404 page not found\n'))
            self.assertEqual(r.getheader('Content-Type'), 'text/plain; charset=utf-8')
            self.assertIsNotNone(r.getheader('X-Request-Id'))
        st, r, body = self.c.req('GET', '/v1')
        self.assertEqual((st, r.getheader('Location')), (301, '/v1/'))
        st, r, body = self.c.req('GET', '/v1//healthz')
        self.assertEqual((st, r.getheader('Location')), (301, '/v1/healthz'))
        cases = [('POST', '/v1/healthz', 'GET'), ('POST', '/v1/version', 'GET'), ('GET', '/v1/produce', 'POST'),
                 ('POST', '/v1/consume', 'GET'), ('GET', '/v1/ack', 'POST'), ('GET', '/v1/nack', 'POST'),
                 ('DELETE', '/v1/topics', 'GET, POST'), ('PUT', '/v1/topics', 'GET, POST')]
        for method, path, allow in cases:
            resp = self.c.req(method, path)
            self.assertErr(resp, 405, 'METHOD_NOT_ALLOWED', 'method not allowed')
            self.assertEqual(resp[1].getheader('Allow'), allow, (method, path))

    def test_03_json_encoding(self):
        name = uniq('x<y>&z-é')
        st, r, body = self.c.req('POST', '/v1/topics', {'name': name})
        self.assertEqual(st, 201)
        esc = name.replace('<', '\\u003c').replace('>', '\\u003e').replace('&', '\\u0026')
        self.assertEqual(body, ('{"status":"created","name":"%s","partitions":1}\n' % esc).encode('utf-8'))
        st, r, body = self.c.req('GET', '/v1/topics')
        self.assertIn(('"%s"' % esc).encode('utf-8'), body)
        self.assertTrue(body.endswith(b']}\n'))
        self.assertNotIn(b' ', body)
        # invalid UTF-8 stored via the query form comes back as \ufffd
        t = self.topic()
        st, _, body = self.c.req('POST', '/v1/produce?topic=%s&value=a%%FFb%%3C&key=k%%E2%%82' % t)
        self.assertEqual(st, 200, body)
        s = self.stream(t, 'g', 'o')
        raw = s.next_raw()
        self.assertIn(b'"key":"k\\ufffd\\ufffd","value":"a\\ufffdb\\u003c"', raw)

    def test_04_topics(self):
        name = uniq('tp')
        st, _, body = self.c.req('POST', '/v1/topics', {'name': '  %s ' % name, 'partitions': 2})
        self.assertEqual((st, body), (201, ('{"status":"created","name":"%s","partitions":2}\n' % name).encode()))
        st, _, body = self.c.req('POST', '/v1/topics', {'name': name, 'partitions': 7})
        self.assertEqual((st, body), (201, ('{"status":"created","name":"%s","partitions":7}\n' % name).encode()))
        # partitions did not change (still 2)
        self.bad(self.c.req('POST', '/v1/produce', {'topic': name, 'value': 'v',
                                                    'envelope': {'partition_override': 2}}),
                 'partition_override out of range')
        q = uniq('tq')
        st, _, body = self.c.req('POST', '/v1/topics?name=%s' % q)
        self.assertEqual((st, body), (201, ('{"status":"created","name":"%s","partitions":1}\n' % q).encode()))
        st, _, body = self.c.req('POST', '/v1/topics', {'name': uniq('z'), 'partitions': 0})
        self.assertIn(b'"partitions":1}', body)
        self.bad(self.c.req('POST', '/v1/topics', {'name': 'x', 'partitions': -1}), 'invalid partitions')
        self.bad(self.c.req('POST', '/v1/topics?name=x&partitions=-3'), 'invalid partitions')
        self.bad(self.c.req('POST', '/v1/topics?name=x&partitions=abc'), 'invalid partitions')
        self.bad(self.c.req('POST', '/v1/topics', {'partitions': 1}), 'name is required')
        self.bad(self.c.req('POST', '/v1/topics?name=%20'), 'name is required')
        self.bad(self.c.req('POST', '/v1/topics', {'name': 'x', 'x': 1}),
                 'invalid json body: json: unknown field "x"')
        self.bad(self.c.req('POST', '/v1/topics', {'name': 'x', 'partitions': 1.5}),
                 'invalid json body: json: cannot unmarshal number 1.5 into Go struct field '
                 'TopicsCreateRequest.partitions of type int')
        self.bad(self.c.req('POST', '/v1/topics', '{"name":'), 'invalid json body: unexpected EOF')
        self.bad(self.c.req('POST', '/v1/topics', '{"name" 1}'),
                 "invalid json body: invalid character '1' after object key")
        self.bad(self.c.req('POST', '/v1/topics', '[1]'),
                 'invalid json body: json: cannot unmarshal array into Go value of type v1.TopicsCreateRequest')
        # case-insensitive field names, like Go
        n2 = uniq('ci')
        st, _, body = self.c.req('POST', '/v1/topics', '{"NAME":"%s"}' % n2)
        self.assertEqual(st, 201, body)
        # body replaces query completely
        b1, q1 = uniq('body'), uniq('query')
        st, _, body = self.c.req('POST', '/v1/topics?name=%s' % q1, {'name': b1})
        self.assertEqual(st, 201)
        st, _, body = self.c.req('GET', '/v1/topics')
        topics = json.loads(body)['topics']
        self.assertIn(b1, topics)
        self.assertNotIn(q1, topics)
        self.assertEqual(topics, sorted(topics, key=lambda s: s.encode()))

    def test_05_produce_validation(self):
        t = self.topic(2)
        st, r, body = self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v'})
        self.assertEqual((st, body), (200, ('{"status":"produced","topic":"%s"}\n' % t).encode()))
        self.bad(self.c.req('POST', '/v1/produce', {'topic': uniq('none'), 'value': 'v'}),
                 'topic does not exist (create it first)')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': ''}), 'topic and value are required')
        self.bad(self.c.req('POST', '/v1/produce', {'value': 'v'}), 'topic and value are required')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': {'a': 1}}),
                 'invalid json body: json: cannot unmarshal object into Go struct field '
                 'ProduceRequest.value of type string')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v', 'envelope': {'foo': 1}}),
                 'invalid json body: json: unknown field "foo"')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v', 'extra': 1}),
                 'invalid json body: json: unknown field "extra"')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v',
                                                    'envelope': {'retry_policy': {'max_attempts': 'x'}}}),
                 'invalid json body: json: cannot unmarshal string into Go struct field '
                 'RetryPolicy.envelope.retry_policy.max_attempts of type int')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v',
                                                    'envelope': {'deadline': '2020-01-01T00:00:00Z'}}),
                 'message deadline exceeded')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v',
                                                    'envelope': {'deadline': 'tomorrow'}}),
                 'invalid json body: parsing time "tomorrow" as "2006-01-02T15:04:05Z07:00": '
                 'cannot parse "tomorrow" as "2006"')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v', 'envelope': {'deadline': 5}}),
                 'invalid json body: Time.UnmarshalJSON: input is not a JSON string')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v',
                                                    'envelope': {'partition_override': 2}}),
                 'partition_override out of range')
        self.bad(self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'v',
                                                    'envelope': {'partition_override': -1}}),
                 'partition_override out of range')
        # query form
        st, _, body = self.c.req('POST', '/v1/produce?topic=%s&value=hello' % t)
        self.assertEqual(st, 200)
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&partition_override=-1' % t),
                 'invalid partition_override')
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&retry_backoff_ms=10' % t),
                 'retry_max_attempts must be > 0 when using retry backoff params')
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&retry_max_attempts=x' % t),
                 'invalid retry_max_attempts')
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&retry_max_attempts=-1' % t),
                 'invalid retry_max_attempts')
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&deadline_ms=1000' % t),
                 'message deadline exceeded')
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&deadline_ms=soon' % t),
                 'invalid deadline_ms: strconv.ParseInt: parsing "soon": invalid syntax')
        self.bad(self.c.req('POST', '/v1/produce?topic=%s&value=v&deadline_rfc3339=2020-13-01T00:00:00Z' % t),
                 'invalid deadline_rfc3339: parsing time "2020-13-01T00:00:00Z": month out of range')
        # a plain "deadline" query parameter is not read (docs differ)
        st, _, body = self.c.req('POST', '/v1/produce?topic=%s&value=v&deadline=2020-01-01T00:00:00Z' % t)
        self.assertEqual(st, 200, body)

    def test_06_query_envelope_and_partitioning(self):
        t = self.topic(4)
        keys = ['alpha', 'beta', 'gamma', 'delta', 'k1', 'k2']
        for k in keys:
            self.produce(t, 'v-' + k, key=k)
        self.produce(t, 'nokey')
        self.produce(t, 'forced', key='alpha', envelope={'partition_override': 3})
        q = ('topic=%s&value=qv&key=qk&run_id=r1&step_id=s1&parent_step_id=p0&tenant=ten&idem_key=ik-%s'
             '&retry_max_attempts=3&retry_backoff_ms=10&retry_max_backoff_ms=50'
             '&deadline_rfc3339=2099-01-02T03:04:05.5%%2B02:00&partition_override=2') % (t, uuid.uuid4().hex)
        st, _, body = self.c.req('POST', '/v1/produce?' + q)
        self.assertEqual(st, 200, body)
        s = self.stream(t, 'g', 'o', 60000)
        got = {}
        for _ in range(len(keys) + 3):
            m = s.next()
            got[m['value']] = m
            self.ack(t, 'g', 'o', m)
        for k in keys:
            self.assertEqual(got['v-' + k]['partition'], fnv32a(k.encode()) % 4, k)
        self.assertEqual(got['nokey']['partition'], 0)
        self.assertEqual(got['forced']['partition'], 3)
        self.assertEqual(got['forced']['envelope'], {'partition_override': 3})
        offsets = sorted(m['offset'] for m in got.values())
        self.assertEqual(offsets, list(range(len(keys) + 3)))
        qm = got['qv']
        self.assertEqual(qm['partition'], 2)
        self.assertEqual(qm['envelope']['tenant_id'], 'ten')
        self.assertEqual(qm['envelope']['deadline'], '2099-01-02T03:04:05.5+02:00')
        self.assertEqual(qm['envelope']['retry_policy'], {'max_attempts': 3, 'backoff_ms': 10, 'max_backoff_ms': 50})
        self.assertEqual(list(qm['envelope']), ['run_id', 'step_id', 'parent_step_id', 'tenant_id',
                                                'idempotency_key', 'deadline', 'retry_policy',
                                                'partition_override'])
        self.assertEqual(list(qm), ['partition', 'offset', 'attempts', 'key', 'value', 'last_error',
                                    'routing', 'envelope'])
        self.assertNotIn('envelope', got['nokey'])
        self.assertEqual(got['nokey']['routing'], {'label': 'test-label', 'meta': {'source': 'router'}})

    def test_07_target_topic_redirect(self):
        a, b = self.topic(), self.topic()
        st, _, body = self.c.req('POST', '/v1/produce', {'topic': a, 'value': 'x', 'envelope': {'target_topic': b}})
        self.assertEqual((st, body), (200, ('{"status":"produced","topic":"%s"}\n' % a).encode()))
        s = self.stream(b, 'g', 'o')
        m = s.next()
        self.assertEqual((m['value'], m['envelope']), ('x', {'target_topic': b}))
        sa = self.stream(a, 'g', 'o')
        self.assertTrue(sa.nothing_for(0.3))
        self.bad(self.c.req('POST', '/v1/produce', {'topic': a, 'value': 'x',
                                                    'envelope': {'target_topic': uniq('missing')}}),
                 'topic does not exist (create it first)')

    def test_08_producer_idempotency(self):
        t = self.topic()
        key = uniq('idem')
        env = {'idempotency_key': key, 'tenant_id': 'tA'}
        b1 = self.produce(t, 'one', envelope=env)
        b2 = self.produce(t, 'two', envelope=env)
        self.assertEqual(b1, b2)
        self.produce(t, 'three', envelope={'idempotency_key': key, 'tenant_id': 'tB'})
        # the Idempotency-Key header is ignored
        for v in ('h1', 'h2'):
            st, _, _ = self.c.req('POST', '/v1/produce', {'topic': t, 'value': v},
                                  headers={'Idempotency-Key': 'same'})
            self.assertEqual(st, 200)
        s = self.stream(t, 'g', 'o', 60000)
        vals = []
        for _ in range(4):
            m = s.next()
            vals.append(m['value'])
            self.ack(t, 'g', 'o', m)
        self.assertEqual(sorted(vals), ['h1', 'h2', 'one', 'three'])
        self.assertTrue(s.nothing_for(0.3))

    def test_09_backpressure(self):
        t = self.topic()
        for i in range(100):
            self.produce(t, 'm%d' % i)
        st, r, body = self.c.req('POST', '/v1/produce', {'topic': t, 'value': 'overflow'})
        self.assertEqual(st, 429)
        self.assertEqual(r.getheader('Retry-After'), '1')
        self.assertEqual(r.getheader('Content-Type'), 'application/json; charset=utf-8')
        self.assertEqual(body, b'{"error":"RESOURCE_EXHAUSTED","message":"producer overload: partition_buffer_full",'
                               b'"reason":"partition_buffer_full","retry_after_ms":1000}\n')
        # ack one message: the group's committed offset frees one slot
        s = self.stream(t, 'g', 'o', 60000)
        m = s.next()
        self.assertEqual(self.ack(t, 'g', 'o', m)[0], 204)
        self.produce(t, 'fits')
        self.produce(t, 'nope', expect=429)
        # bytes limit
        t2 = self.topic()
        self.produce(t2, 'x' * 40000)
        st, r, body = self.c.req('POST', '/v1/produce', {'topic': t2, 'value': 'y' * 25000, 'key': 'k' * 536})
        self.assertEqual(st, 429)
        self.assertIn(b'"reason":"partition_buffer_bytes_full"', body)
        self.assertIn(b'"message":"producer overload: partition_buffer_bytes_full"', body)
        t3 = self.topic()
        self.produce(t3, 'z' * 65535, key='', expect=200)
        t4 = self.topic()
        self.produce(t4, 'z' * 65535, key='k', expect=429)
        text = self.metrics()
        self.assertGreaterEqual(prom_value(text, 'produce_rejected_total', [('reason', 'partition_buffer_full')]), 2)
        self.assertGreaterEqual(prom_value(text, 'produce_rejected_total',
                                           [('reason', 'partition_buffer_bytes_full')]), 2)

    def test_10_consume_validation(self):
        t = self.topic()
        self.bad(self.c.req('GET', '/v1/consume?topic=%s&group=g' % t), 'topic, group, and owner are required')
        self.bad(self.c.req('GET', '/v1/consume?topic=%s&group=g&owner=o&lease_ms=-1' % t), 'invalid lease_ms')
        self.bad(self.c.req('GET', '/v1/consume?topic=%s&group=g&owner=o&lease_ms=x' % t), 'invalid lease_ms')
        self.bad(self.c.req('GET', '/v1/consume?topic=%s&group=g&owner=o' % uniq('none')), 'topic does not exist')
        self.bad(self.c.req('GET', '/v1/consume', {'topic': t, 'group': 'g', 'owner': 'o', 'x': 1}),
                 'invalid json body: json: unknown field "x"')
        self.bad(self.c.req('GET', '/v1/consume', {'topic': t, 'group': 'g', 'owner': 'o', 'lease_ms': '5'}),
                 'invalid json body: json: cannot unmarshal string into Go struct field '
                 'ConsumeRequest.lease_ms of type int64')
        # a JSON body also works for consume (GET with a body)
        body = json.dumps({'topic': t, 'group': 'g', 'owner': 'o', 'lease_ms': 5000}).encode()
        s = Stream.__new__(Stream)
        s.sock = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        s.sock.sendall(b'GET /v1/consume HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n' % len(body) + body)
        s.buf, s.status, s.headers = b'', None, {}
        self.streams.append(s)
        self.produce(t, 'jb')
        self.assertEqual(s.next()['value'], 'jb')

    def test_11_quiet_stream_then_message(self):
        t = self.topic()
        s = self.stream(t, 'g', 'o')
        self.assertTrue(s.nothing_for(0.5), 'headers must not be sent before the first message')
        self.produce(t, 'hello', key='k')
        raw = s.next_raw()
        self.assertEqual(s.status, 200)
        self.assertEqual(s.headers['Content-Type'], 'application/x-ndjson; charset=utf-8')
        self.assertEqual(s.headers['Transfer-Encoding'], 'chunked')
        self.assertRegex(s.headers['X-Request-Id'], r'^[0-9a-f]{24}$')
        self.assertEqual(raw, b'{"partition":0,"offset":0,"attempts":1,"key":"k","value":"hello","last_error":"",'
                              b'"routing":{"label":"test-label","meta":{"source":"router"}}}\n')
        self.assertTrue(s.nothing_for(0.6), 'no heartbeats')

    def test_12_round_robin_and_inflight_limit(self):
        t = self.topic()
        a = self.stream(t, 'g', 'A', 60000)
        self.sync()
        b = self.stream(t, 'g', 'B', 60000)
        self.sync()
        for i in range(5):
            self.produce(t, 'm%d' % i)
        ma, mb = a.next(), b.next()
        self.assertEqual((ma['offset'], mb['offset']), (0, 1))
        self.assertTrue(a.nothing_for(0.3) and b.nothing_for(0.01), 'at most 2 unacked per partition')
        self.assertEqual(self.ack(t, 'g', 'B', ma), (409, b'{"error":"FAILED_PRECONDITION","message":"not owner"}\n'))
        self.assertEqual(self.ack(t, 'g', 'A', ma)[0], 204)
        m2 = a.next()
        self.assertEqual(m2['offset'], 2)
        self.assertEqual(self.ack(t, 'g', 'B', mb)[0], 204)
        self.assertEqual(b.next()['offset'], 3)
        # another group starts at the earliest message
        c = self.stream(t, 'g2', 'C', 60000)
        self.assertEqual(c.next()['offset'], 0)

    def test_13_lease_expiry_and_nack(self):
        t = self.topic()
        s = self.stream(t, 'g', 'o', 300)
        self.produce(t, 'v')
        m1 = s.next()
        self.assertEqual((m1['attempts'], m1['last_error']), (1, ''))
        t0 = time.monotonic()
        m2 = s.next(3)
        self.assertGreater(time.monotonic() - t0, 0.2)
        self.assertEqual((m2['offset'], m2['attempts'], m2['last_error']), (0, 2, 'ack_timeout'))
        st, body = self.ack(t, 'g', 'o', m2, path='/v1/nack', reason=' boom ')
        self.assertEqual(st, 204, body)
        t0 = time.monotonic()
        m3 = s.next()
        self.assertLess(time.monotonic() - t0, 0.2)
        self.assertEqual((m3['attempts'], m3['last_error']), (3, 'ack_timeout | boom'))
        # JSON "error" is rejected like any unknown field
        st, body = self.ack(t, 'g', 'o', m3, path='/v1/nack', error='x')
        self.assertEqual((st, body), (400, b'{"error":"INVALID_ARGUMENT","message":"unknown field: error"}\n'))
        # query form: "error" is ignored, reason becomes "nack"
        st, _, body = self.c.req('POST', '/v1/nack?topic=%s&group=g&owner=o&partition=0&offset=0&error=xx' % t)
        self.assertEqual(st, 204, body)
        m4 = s.next()
        self.assertEqual((m4['attempts'], m4['last_error']), (4, 'ack_timeout | boom | nack'))
        self.assertEqual(self.ack(t, 'g', 'o', m4)[0], 204)
        self.bad(self.c.req('POST', '/v1/ack', {'topic': t, 'group': 'g', 'owner': 'o', 'partition': 0, 'offset': 0}),
                 'message is not in-flight')
        self.assertTrue(s.nothing_for(0.5))

    def test_14_ack_validation(self):
        t = self.topic(2)
        base = {'topic': t, 'group': 'g', 'owner': 'o', 'partition': 0, 'offset': 0}

        def with_(**kw):
            d = dict(base)
            d.update(kw)
            return d
        self.bad(self.c.req('POST', '/v1/ack', with_(x=1)), 'unknown field: x')
        self.bad(self.c.req('POST', '/v1/ack', with_(reason='r')), 'unknown field: reason')
        self.bad(self.c.req('POST', '/v1/ack', with_(partition='0')), 'invalid partition')
        self.bad(self.c.req('POST', '/v1/ack', with_(offset=1.5)), 'invalid offset')
        self.bad(self.c.req('POST', '/v1/ack', with_(owner='')), 'topic, group, and owner are required')
        self.bad(self.c.req('POST', '/v1/ack', with_(partition=-1)), 'partition cannot be negative')
        self.bad(self.c.req('POST', '/v1/ack', with_(offset=-1)), 'offset cannot be negative')
        self.bad(self.c.req('POST', '/v1/ack', with_(topic=uniq('no'))), 'topic does not exist')
        self.bad(self.c.req('POST', '/v1/ack', with_(partition=2)), 'partition out of range')
        self.bad(self.c.req('POST', '/v1/ack', base), 'message is not in-flight')
        self.bad(self.c.req('POST', '/v1/ack', '[]'),
                 'invalid json body: json: cannot unmarshal array into Go value of type map[string]json.RawMessage')
        self.bad(self.c.req('POST', '/v1/ack', json.dumps(base) + 'x'),
                 "invalid json body: invalid character 'x' after top-level value")
        self.bad(self.c.req('POST', '/v1/ack?topic=%s&group=g&owner=o' % t), 'partition and offset are required')
        self.bad(self.c.req('POST', '/v1/nack?topic=%s&group=g&owner=o&partition=x&offset=0' % t),
                 'invalid partition')
        self.bad(self.c.req('POST', '/v1/nack', dict(base, error='e')), 'unknown field: error')

    def test_15_high_water_mark(self):
        t = self.topic()
        s = self.stream(t, 'g', 'o', 60000)
        self.produce(t, 'a')
        self.produce(t, 'b')
        m0, m1 = s.next(), s.next()
        self.assertEqual(self.ack(t, 'g', 'o', m1)[0], 204)
        text = self.metrics()
        self.assertEqual(prom_value(text, 'consumer_lag', [('group', 'g'), ('partition', '0'), ('topic', t)]), 0)
        self.assertEqual(prom_value(text, 'inflight_messages', [('group', 'g'), ('partition', '0'), ('topic', t)]), 1)
        self.assertEqual(self.ack(t, 'g', 'o', m0)[0], 204)

    def test_16_retry_policy_and_dlq(self):
        t = self.topic(3)
        s = self.stream(t, 'g', 'o', 300)
        env = {'run_id': 'r1', 'retry_policy': {'max_attempts': 2}, 'partition_override': 2}
        self.produce(t, 'payload', key='kk', envelope=env)
        self.produce(t, 'plain', key='kk', envelope={'retry_policy': {'max_attempts': 1}, 'partition_override': 0})
        seen = [s.next(), s.next(), s.next(3)]
        self.assertEqual(sorted((m['value'], m['attempts']) for m in seen),
                         [('payload', 1), ('payload', 2), ('plain', 1)])
        self.assertTrue(s.nothing_for(1.0), 'max_attempts is the total number of deliveries')
        st, _, body = self.c.req('GET', '/v1/topics')
        self.assertIn('dlq.' + t, json.loads(body)['topics'])
        d = self.stream('dlq.' + t, 'g', 'o', 60000)
        got = {}
        for _ in range(2):
            m = d.next()
            got[m['value']] = m
        p = got['payload']
        self.assertEqual((p['attempts'], p['last_error'], p['key']), (1, '', 'kk'))
        self.assertEqual(p['envelope'], {'run_id': 'r1'})
        self.assertEqual(p['routing'], {'label': 'test-label', 'meta': {'source': 'router'}})
        self.assertEqual(p['partition'], fnv32a(b'kk') % 3)
        self.assertEqual(got['plain']['envelope'], {})
        text = self.metrics()
        self.assertEqual(prom_value(text, 'dlq_messages_total', [('reason', 'max_attempts_reached'), ('topic', t)]), 2)
        self.assertEqual(prom_value(text, 'consumer_lag', [('group', 'g'), ('partition', '2'), ('topic', t)]), 0)
        # nack also counts as a delivery towards max_attempts
        t2 = self.topic()
        s2 = self.stream(t2, 'g', 'o', 60000)
        self.produce(t2, 'n', envelope={'retry_policy': {'max_attempts': 2}})
        m = s2.next()
        self.assertEqual(self.ack(t2, 'g', 'o', m, path='/v1/nack', reason='r1')[0], 204)
        m = s2.next()
        self.assertEqual((m['attempts'], m['last_error']), (2, 'r1'))
        self.assertEqual(self.ack(t2, 'g', 'o', m, path='/v1/nack', reason='r2')[0], 204)
        self.assertTrue(s2.nothing_for(0.4))
        self.bad(self.c.req('POST', '/v1/ack', {'topic': t2, 'group': 'g', 'owner': 'o', 'partition': 0,
                                                'offset': 0}), 'message is not in-flight')

    def test_17_backoff_and_nack_skips_it(self):
        t = self.topic()
        s = self.stream(t, 'g', 'o', 300)
        self.produce(t, 'b', envelope={'retry_policy': {'max_attempts': 10, 'backoff_ms': 1000,
                                                        'max_backoff_ms': 5000}})
        s.next()
        m2 = s.next(3)
        t2 = time.monotonic()
        self.assertEqual(m2['attempts'], 2)
        m3 = s.next(4)
        gap = time.monotonic() - t2
        self.assertEqual(m3['attempts'], 3)
        self.assertGreater(gap, 0.9, 'backoff_ms*2^(n-1) must hold back the redelivery')
        t3 = time.monotonic()
        self.assertEqual(self.ack(t, 'g', 'o', m3, path='/v1/nack')[0], 204)
        m4 = s.next()
        self.assertLess(time.monotonic() - t3, 0.25)
        self.assertEqual((m4['attempts'], m4['last_error']), (4, 'ack_timeout | nack'))

    def test_18_no_stream_no_redelivery(self):
        t = self.topic()
        s = self.stream(t, 'g', 'o1', 300)
        self.produce(t, 'x')
        s.next()
        s.close()
        time.sleep(0.8)
        text = self.metrics()
        self.assertEqual(prom_value(text, 'inflight_messages', [('group', 'g'), ('partition', '0'), ('topic', t)]), 1)
        s2 = self.stream(t, 'g', 'o2', 300)
        m = s2.next(2)
        self.assertEqual((m['attempts'], m['last_error']), (2, 'ack_timeout'))

    def test_19_disconnected_owner_falls_back_to_default_lease(self):
        # The real broker looks the lease up by owner among connected streams;
        # once the owner's stream is gone its messages expire after 2 s.
        t = self.topic()
        a = self.stream(t, 'g', 'A', 30000)
        self.sync()
        b = self.stream(t, 'g', 'B', 30000)
        self.sync()
        self.produce(t, 'x')
        t0 = time.monotonic()
        m = a.next()
        a.close()
        m2 = b.next(4)
        dt = time.monotonic() - t0
        self.assertTrue(1.7 < dt < 3.0, dt)
        self.assertEqual((m2['offset'], m2['attempts'], m2['last_error']), (m['offset'], 2, 'ack_timeout'))
        self.assertEqual(self.ack(t, 'g', 'B', m2)[0], 204)

    def test_20_consume_idempotency(self):
        # lease_ms outside [250, 600000] never gets a keyed message
        t = self.topic()
        self.produce(t, 'keyed', envelope={'idempotency_key': uniq('k')})
        bad = self.stream(t, 'g', 'o', 100)
        self.assertTrue(bad.nothing_for(0.5))
        bad.close()
        self.sync()
        good = self.stream(t, 'g', 'o', 1000)
        m = good.next()
        self.assertEqual((m['value'], m['attempts']), ('keyed', 1))
        self.assertEqual(m['last_error'], 'idem_begin_failed: idempotency: invalid lease duration')
        # once acked, a later message with the same key is skipped by that group
        src = self.topic()
        key = uniq('dup')
        ss = self.stream(src, 'g', 'o', 300)
        self.produce(src, 'first', envelope={'idempotency_key': key, 'retry_policy': {'max_attempts': 1}})
        ss.next()
        self._wait_topic('dlq.' + src)
        d = self.stream('dlq.' + src, 'gd', 'o', 60000)
        m = d.next()
        self.assertEqual(m['envelope'], {'idempotency_key': key})
        self.assertEqual(self.ack('dlq.' + src, 'gd', 'o', m)[0], 204)
        st, _, body = self.c.req('POST', '/v1/produce', {'topic': 'dlq.' + src, 'value': 'second',
                                                         'envelope': {'idempotency_key': key}})
        self.assertEqual(st, 200, body)
        self.assertTrue(d.nothing_for(0.4), 'consume-side de-dup')
        text = self.metrics()
        self.assertEqual(prom_value(text, 'consumer_lag', [('group', 'gd'), ('partition', '0'),
                                                           ('topic', 'dlq.' + src)]), 0)
        other = self.stream('dlq.' + src, 'gx', 'o', 60000)
        self.assertEqual(other.next()['value'], 'first')

    def _wait_topic(self, name, timeout=3):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st, _, body = self.c.req('GET', '/v1/topics')
            if name in json.loads(body)['topics']:
                return True
            time.sleep(0.05)
        self.fail('topic %s never appeared' % name)

    def test_21_metrics_format(self):
        t = self.topic()
        s = self.stream(t, 'g', 'o', 60000)
        self.produce(t, 'a')
        s.next()
        st, r, body = self.c.req('GET', '/metrics')
        self.assertEqual(r.getheader('Content-Type'), 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores')
        text = body.decode()
        for line in ('# HELP consumer_lag Consumer lag per topic/group/partition (messages after committed offset).',
                     '# TYPE consumer_lag gauge',
                     '# HELP inflight_messages Current number of in-flight messages per topic/group/partition.',
                     '# TYPE inflight_messages gauge',
                     '# HELP produce_rejected_total Total number of produce calls rejected (backpressure/overload).',
                     '# TYPE produce_rejected_total counter',
                     '# HELP dlq_messages_total Total number of messages routed to DLQ.',
                     '# TYPE dlq_messages_total counter',
                     'consumer_lag{group="g",partition="0",topic="%s"} 1' % t,
                     'inflight_messages{group="g",partition="0",topic="%s"} 1' % t):
            self.assertIn(line + '\n', text)
        st, r, body = self.c.req('GET', '/metrics', headers={'Accept-Encoding': 'gzip'})
        self.assertEqual(r.getheader('Content-Encoding'), 'gzip')

    def test_22_keepalive_and_timeouts(self):
        res = {}

        def idle():
            sock = socket.create_connection(('127.0.0.1', self.port))
            sock.sendall(b'GET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/healthz HTTP/1.1\r\nHost: x\r\n\r\n')
            data = b''
            t0 = time.monotonic()
            sock.settimeout(8)
            while True:
                d = sock.recv(65536)
                if not d:
                    break
                data += d
            res['idle'] = (data.count(b'HTTP/1.1 200 OK'), time.monotonic() - t0)
            sock.close()

        def slow_headers():
            sock = socket.create_connection(('127.0.0.1', self.port))
            sock.sendall(b'GET /v1/healthz HTTP/1.1\r\nHost: x\r\n')
            t0 = time.monotonic()
            sock.settimeout(8)
            data = sock.recv(65536)
            res['slow'] = (data, time.monotonic() - t0)
            sock.close()

        def slow_body():
            sock = socket.create_connection(('127.0.0.1', self.port))
            sock.sendall(b'POST /v1/topics HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{"name":')
            t0 = time.monotonic()
            sock.settimeout(8)
            data = b''
            while True:
                d = sock.recv(65536)
                if not d:
                    break
                data += d
            res['body'] = (data, time.monotonic() - t0)
            sock.close()
        ths = [threading.Thread(target=f) for f in (idle, slow_headers, slow_body)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        n, dt = res['idle']
        self.assertEqual(n, 2)
        self.assertTrue(4.5 < dt < 6.5, dt)
        data, dt = res['slow']
        self.assertEqual(data, b'')
        self.assertTrue(4.5 < dt < 6.5, dt)
        data, dt = res['body']
        self.assertIn(b'HTTP/1.1 400 Bad Request', data)
        self.assertIn(b'"message":"invalid json body: read tcp 127.0.0.1:', data)
        self.assertIn(b': i/o timeout"}', data)
        self.assertTrue(4.5 < dt < 6.5, dt)

    def test_23_chunked_and_http10(self):
        t = uniq('chunk')
        body = json.dumps({'name': t}).encode()
        sock = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        sock.sendall(b'POST /v1/topics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
                     + b'%x\r\n' % len(body) + body + b'\r\n0\r\n\r\n')
        data = sock.recv(65536)
        self.assertIn(b'201 Created', data)
        sock.sendall(b'GET /v1/healthz HTTP/1.0\r\n\r\n')
        data = b''
        while True:
            d = sock.recv(65536)
            if not d:
                break
            data += d
        # Go's net/http answers an HTTP/1.0 request with an HTTP/1.0 status line (seen on driftqd)
        self.assertTrue(data.startswith(b'HTTP/1.0 200 OK\r\n'), data[:40])
        self.assertTrue(data.endswith(b'\r\n\r\n{"status":"ok"}\n'))
        sock.close()
        sock = socket.create_connection(('127.0.0.1', self.port), timeout=5)
        sock.sendall(b'GET /v1/healthz HTTP/1.1\r\n\r\n')
        self.assertEqual(sock.recv(65536), b'HTTP/1.1 400 Bad Request: missing required Host header\r\n'
                         b'Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n'
                         b'400 Bad Request: missing required Host header')
        sock.close()

    def test_24_concurrent_exactly_once(self):
        # Produce while a consumer acks: every message is delivered and acked exactly once.
        # (Speed is measured by the benchmarks, never asserted in a test.)
        t = self.topic(4)
        n = 1500
        acked = []
        errors = []
        st_ = self.stream(t, 'g', 'o', 60000)

        def consumer():
            try:
                c = Client(self.port)
                for _ in range(n):
                    m = st_.next(30)
                    st, _, body = c.req('POST', '/v1/ack', {'topic': t, 'group': 'g', 'owner': 'o',
                                                            'partition': m['partition'],
                                                            'offset': m['offset']})
                    assert st == 204, body
                    acked.append(m['offset'])
                c.close()
            except Exception as e:  # reported by the main thread
                errors.append(repr(e))
        th = threading.Thread(target=consumer)
        t0 = time.monotonic()
        th.start()
        pc = Client(self.port)
        for i in range(n):
            while True:  # a partition full of unacked messages answers 429: wait and retry
                st, _, body = pc.req('POST', '/v1/produce', {'topic': t, 'key': 'k%d' % i,
                                                             'value': 'p%d' % i})
                if st != 429:
                    break
                time.sleep(0.02)
            self.assertEqual(st, 200, body)
        pc.close()
        th.join(120)
        dt = time.monotonic() - t0
        self.assertEqual(errors, [])
        self.assertEqual(sorted(acked), list(range(n)))
        sys.stderr.write('\n[%d produce+deliver+ack ops in %.2fs] ' % (3 * n, dt))


class RestartTest(unittest.TestCase):
    def test_wal_restart_and_shutdown(self):
        d = tempfile.mkdtemp()
        try:
            b = Broker('--data-dir', d)
            c = Client(b.port)
            for name, parts in (('r', 3), ('unused', 2)):
                st, _, _ = c.req('POST', '/v1/topics', {'name': name, 'partitions': parts})
                self.assertEqual(st, 201)

            def produce(value, **env):
                st, _, body = c.req('POST', '/v1/produce', {'topic': 'r', 'value': value, 'envelope': env})
                self.assertEqual(st, 200, body)
            produce('m0', partition_override=0)
            produce('m1', partition_override=1)
            produce('m2', partition_override=1)
            produce('m3', idempotency_key='K1')
            s = Stream(b.port, 'topic=r&group=g&owner=o&lease_ms=60000')
            got = {}
            for _ in range(4):
                m = s.next()
                got[m['value']] = m
            c.req('POST', '/v1/ack', {'topic': 'r', 'group': 'g', 'owner': 'o', 'partition': 0, 'offset': 0})
            st, _, _ = c.req('POST', '/v1/nack', {'topic': 'r', 'group': 'g', 'owner': 'o', 'partition': 1,
                                                  'offset': 1, 'reason': 'bad'})
            self.assertEqual(st, 204)
            self.assertEqual(s.next()['last_error'], 'bad')
            rc, dt = b.stop()
            self.assertEqual(rc, 0)
            self.assertLess(dt, 1.0)
            with self.assertRaises(EOFError):
                while True:
                    s.next(2)
            s.close()
            c.close()

            b = Broker('--data-dir', d)
            c = Client(b.port)
            st, _, body = c.req('GET', '/v1/topics')
            self.assertEqual(body, b'{"topics":["r"]}\n')
            st, _, body = c.req('POST', '/v1/produce', {'topic': 'r', 'value': 'x',
                                                        'envelope': {'partition_override': 2}})
            self.assertEqual(body, b'{"error":"INVALID_ARGUMENT","message":"partition_override out of range"}\n')
            st, _, body = c.req('POST', '/v1/produce', {'topic': 'r', 'value': 'again',
                                                        'envelope': {'idempotency_key': 'K1'}})
            self.assertEqual(st, 200)
            s = Stream(b.port, 'topic=r&group=g&owner=o&lease_ms=60000')
            got = {}
            for _ in range(3):
                m = s.next()
                got[m['value']] = m
            self.assertEqual(sorted(got), ['m1', 'm2', 'm3'])
            self.assertEqual((got['m1']['attempts'], got['m1']['last_error']), (1, 'bad'))
            self.assertEqual((got['m2']['attempts'], got['m2']['last_error']), (1, ''))
            self.assertEqual(got['m3']['envelope'], {'idempotency_key': 'K1'})
            self.assertTrue(s.nothing_for(0.3))
            s.close()
            c.close()
            rc, dt = b.stop()
            self.assertEqual(rc, 0)
        finally:
            shutil.rmtree(d)


def load_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('driftq_broker_mod', BROKER)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class GoCompatUnitTest(unittest.TestCase):
    """In-process checks of the Go-compatibility helpers the broker relies on."""

    @classmethod
    def setUpClass(cls):
        cls.m = load_module()

    def test_time_parse_and_format(self):
        m = self.m
        t = m.go_time_parse_rfc3339('2006-01-02T15:04:05Z')
        self.assertEqual((t.ns, t.off), (1136214245 * 10 ** 9, 0))
        self.assertEqual(m.go_time_parse_rfc3339('2006-01-02T15:04:05.500+00:00').rfc3339nano(),
                         '2006-01-02T15:04:05.5Z')
        self.assertEqual(m.go_time_parse_rfc3339('2006-01-02T15:04:05.1234567891+05:30').rfc3339nano(),
                         '2006-01-02T15:04:05.123456789+05:30')
        self.assertEqual(m.go_time_parse_rfc3339('0000-01-01T00:00:00-01:00').rfc3339nano(),
                         '0000-01-01T00:00:00-01:00')
        errs = {
            '2006-01-02T25:00:00Z': 'parsing time "2006-01-02T25:00:00Z": hour out of range',
            '2006-02-30T00:00:00Z': 'parsing time "2006-02-30T00:00:00Z": day out of range',
            '2006-01-02T15:04:05': 'parsing time "2006-01-02T15:04:05" as "2006-01-02T15:04:05Z07:00": '
                                   'cannot parse "" as "Z07:00"',
            '2006-01-02T15:04:05Zjunk': 'parsing time "2006-01-02T15:04:05Zjunk": extra text: "junk"',
            '2006-01-02 15:04:05Z': 'parsing time "2006-01-02 15:04:05Z" as "2006-01-02T15:04:05Z07:00": '
                                    'cannot parse " 15:04:05Z" as "T"',
            '2006-01-02T15:04:05+25:00': 'parsing time "2006-01-02T15:04:05+25:00": '
                                         'time zone offset hour out of range',
            '2006-01-02T15:04:60Z': 'parsing time "2006-01-02T15:04:60Z": second out of range',
            '20x6-01-02T15:04:05Z': 'parsing time "20x6-01-02T15:04:05Z" as "2006-01-02T15:04:05Z07:00": '
                                    'cannot parse "20x6-01-02T15:04:05Z" as "2006"',
            '2006-1-02T15:04:05Z': 'parsing time "2006-1-02T15:04:05Z" as "2006-01-02T15:04:05Z07:00": '
                                   'cannot parse "1-02T15:04:05Z" as "01"',
        }
        for value, msg in errs.items():
            with self.assertRaises(m.GoTimeError) as cm:
                m.go_time_parse_rfc3339(value)
            self.assertEqual(str(cm.exception), msg)
        # single-digit hours are accepted by time.Parse
        self.assertEqual(m.go_time_parse_rfc3339('2006-01-02T5:04:05Z').rfc3339nano(), '2006-01-02T05:04:05Z')

    def test_json_errors(self):
        m = self.m
        dec = {
            b'': 'EOF', b' \n': 'EOF', b'{"a":': 'unexpected EOF', b'tr': 'unexpected EOF',
            b'{"a" 1}': "invalid character '1' after object key",
            b'{"a":1,}': "invalid character '}' looking for beginning of object key string",
            b'{"a":1 "b"': "invalid character '\"' after object key:value pair",
            b'\xff': "invalid character '\u00ff' looking for beginning of value",
            b'{"a":"x\x01"}': "invalid character '\\x01' in string literal",
            b'{"a":1.}': "invalid character '}' after decimal point in numeric literal",
            b'{"a":nul}': "invalid character '}' in literal null (expecting 'l')",
            b'{"a":"\\q"}': "invalid character 'q' in string escape code",
        }
        for body, msg in dec.items():
            v, err = m.go_decoder_decode(body)
            self.assertEqual(err, msg, body)
        um = {
            b'': 'unexpected end of JSON input', b'tr': "invalid character ' ' in literal true (expecting 'u')",
            b'{}x': "invalid character 'x' after top-level value", b'{"a":1}}': "invalid character '}' "
            "after top-level value",
        }
        for body, msg in um.items():
            v, err = m.go_unmarshal_value(body)
            self.assertEqual(err, msg, body)
        v, err = m.go_decoder_decode(b'{"TOPIC":"t","\xe2\x84\xaaey":"k","Value":"v","envelope":{"run_id":"a"},'
                                     b'"envelope":{"\xc5\xbftep_id":"b"}} trailing')
        f, err = m.go_decode_struct(v, m.PRODUCE_SPEC)
        self.assertIsNone(err)
        self.assertEqual(f, {'topic': 't', 'key': 'k', 'value': 'v', 'envelope': {'run_id': 'a', 'step_id': 'b'}})
        v, _ = m.go_decoder_decode(b'{"x":1,"envelope":{"deadline":"bad"}}')
        self.assertEqual(m.go_decode_struct(v, m.PRODUCE_SPEC)[1],
                         'parsing time "bad" as "2006-01-02T15:04:05Z07:00": cannot parse "bad" as "2006"')
        v, _ = m.go_decoder_decode(b'{"envelope":{"partition_override":1e2},"x":1}')
        self.assertEqual(m.go_decode_struct(v, m.PRODUCE_SPEC)[1],
                         'json: cannot unmarshal number 1e2 into Go struct field '
                         'Envelope.envelope.partition_override of type int')
        v, _ = m.go_decoder_decode(b'{"envelope":"x"}')
        self.assertEqual(m.go_decode_struct(v, m.PRODUCE_SPEC)[1],
                         'json: cannot unmarshal string into Go struct field ProduceRequest.envelope '
                         'of type v1.Envelope')
        v, _ = m.go_decoder_decode(b'{"value":"a\\ud800b"}')
        self.assertEqual(m.go_decode_struct(v, m.PRODUCE_SPEC)[0]['value'], 'a\ufffdb')

    def test_encoding_and_formatting(self):
        m = self.m
        self.assertEqual(m.jstr('\x00<>&\u2028\b\x7f\udcff\u00e9'),
                         '"\\u0000\\u003c\\u003e\\u0026\\u2028\\b\x7f\\ufffd\u00e9"')
        for f, want in ((123456, '123456'), (1e6, '1e+06'), (21610496, '2.1610496e+07'), (0.0001, '0.0001'),
                        (0.00001, '1e-05'), (1.5, '1.5'), (0, '0'), (1, '1')):
            self.assertEqual(m.go_float(f), want)
        self.assertEqual(m.go_quote('a"\n\x01\u00e9\udcff'), '"a\\"\\n\\x01\u00e9\\xff"')
        self.assertEqual(m.fnv32a(b'hello'), 0x4F9F2CAB)
        rp = m.RetryPolicy(5, 100, 1000)
        self.assertEqual([m.compute_backoff_ns(rp, n) // 1000000 for n in range(6)], [0, 100, 200, 400, 800, 1000])
        self.assertEqual(m.parse_query(b'a=1&b=%zz&c=x+y&a=2&d;e=3'), {'a': ['1', '2'], 'c': ['x y']})

    def test_producer_key_in_flight(self):
        m = self.m
        b = m.Broker()
        b.create_topic('t', 1)
        env = m.Envelope()
        env.idempotency_key = 'k'
        b.idem[('p', '', 't', '', 'k')] = m.IdemItem(m.IDEM_PENDING, time.time_ns())
        with self.assertRaises(m.BrokerError) as cm:
            b.produce('t', '', 'v', env)
        self.assertEqual(str(cm.exception), 'idempotency: key already in-flight')
        # a failed first attempt may be retried
        b.idem[('p', '', 't', '', 'k')] = m.IdemItem(m.IDEM_FAILED, time.time_ns())
        b.produce('t', '', 'v', env)
        b.produce('t', '', 'v', env)
        self.assertEqual(len(b.topics['t'].parts[0].msgs), 1)
        # keys expire after 10 minutes
        b.idem[('p', '', 't', '', 'k')].updated -= 601 * 10 ** 9
        b.produce('t', '', 'v', env)
        self.assertEqual(len(b.topics['t'].parts[0].msgs), 2)


if __name__ == '__main__':
    unittest.main(verbosity=2)
