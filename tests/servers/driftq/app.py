"""Routing and handlers (the real broker's muxes and handlers)."""

import gzip

from .common import ACK_TIMEOUT_NS
from .gojson import (CONSUME_SPEC, PRODUCE_SPEC, TOPICS_SPEC, _NOVAL, _decoder_syntax, _kind,
                     go_decode_struct, go_decoder_decode, go_unmarshal_value, jerr, jstr)
from .gostrings import b2s, go_parse_int, go_strconv_err, go_trim, wrap64
from .gotime import GoTimeError, go_time_from_unix_ms, go_time_parse_rfc3339
from .gourl import mux_clean_path, qget, url_unescape
from .httpserver import CT_JSON, CT_TEXT, METRICS_CT, Response
from .metrics import PromState, render_metrics
from .model import BrokerError, Envelope, NotOwnerError, OverloadError, RetryPolicy


class App:
    """Routing and handlers (the real broker's muxes and handlers)."""

    V1 = {'healthz', 'produce', 'consume', 'ack', 'nack', 'topics', 'version'}

    def __init__(self, broker):
        self.broker = broker
        self.prom = PromState()

    # ---- response helpers ----

    @staticmethod
    def json(status, body, extra=None):
        hdrs = [('Content-Type', CT_JSON)]
        if extra:
            hdrs.extend(extra)
        return Response(status, hdrs, body.encode('utf-8', 'surrogatepass'))

    def err(self, status, code, msg, extra=None):
        return self.json(status, jerr(code, msg), extra)

    def bad(self, msg):
        return self.err(400, 'INVALID_ARGUMENT', msg)

    def method_not_allowed(self, allow):
        return self.err(405, 'METHOD_NOT_ALLOWED', 'method not allowed', [('Allow', allow)])

    @staticmethod
    def text_not_found():
        return Response(404, [('Content-Type', CT_TEXT), ('X-Content-Type-Options', 'nosniff')],
                        b'404 page not found\n')

    @staticmethod
    def redirect(req, url):
        hdrs = [('Location', url)]
        body = b''
        if req.method in ('GET', 'HEAD'):
            hdrs.append(('Content-Type', 'text/html; charset=utf-8'))
        if req.method == 'GET':
            esc = url.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;') \
                .replace('"', '&#34;').replace("'", '&#39;')
            body = ('<a href="%s">Moved Permanently</a>.\n\n' % esc).encode('latin-1', 'replace')
        return Response(301, hdrs, body)

    # ---- routing ----

    def route(self, req):
        if req.path == b'*':
            hdrs = [('Connection', 'close')] if req.proto >= (1, 1) else []
            return Response(400, hdrs, b'')
        escaped = req.path.decode('latin-1')
        clean = mux_clean_path(escaped)
        segs = clean[1:].split('/')
        first = b2s(url_unescape(segs[0].encode('latin-1'), False) or b'')
        q = ('?' + req.raw_query.decode('latin-1')) if req.raw_query else ''
        if len(segs) == 1 and first == 'v1':
            return self.redirect(req, clean + '/' + q)
        if clean != escaped:
            return self.redirect(req, clean + q)
        if first == 'v1' and len(segs) >= 2:
            if not escaped.startswith('/v1/'):
                return self.text_not_found()
            rest = segs[1:]
            name = b2s(url_unescape(rest[0].encode('latin-1'), False) or b'')
            if len(rest) != 1 or name not in self.V1:
                return self.text_not_found()
            return getattr(self, 'h_' + name)(req)
        if len(segs) == 1 and first == 'metrics':
            return self.h_metrics(req)
        return self.err(404, 'NOT_FOUND', 'use /v1/* endpoints')

    # ---- handlers ----

    def h_healthz(self, req):
        if req.method != 'GET':
            return self.method_not_allowed('GET')
        return self.json(200, '{"status":"ok"}\n')

    def h_version(self, req):
        if req.method != 'GET':
            return self.method_not_allowed('GET')
        return self.json(200, '{"version":"dev","commit":"unknown","wal_enabled":true}\n')

    def h_topics(self, req):
        if req.method == 'GET':
            names = self.broker.list_topics()
            return self.json(200, '{"topics":[' + ','.join(jstr(n) for n in names) + ']}\n')
        if req.method != 'POST':
            return self.method_not_allowed('GET, POST')
        if req.has_body:
            val, err = self._decode_body(req)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            f, err = go_decode_struct(val, TOPICS_SPEC)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            name = f.get('name', '')
            partitions = f.get('partitions', 0)
        else:
            q = req.query()
            name = go_trim(qget(q, 'name'))
            partitions = 0
            ps = go_trim(qget(q, 'partitions'))
            if ps != '':
                v, e = go_parse_int(ps, 64)
                if v is None:
                    return self.bad('invalid partitions')
                partitions = v
        name = go_trim(name)
        if name == '':
            return self.bad('name is required')
        if partitions == 0:
            partitions = 1
        if partitions <= 0:
            return self.bad('invalid partitions')
        self.broker.create_topic(name, partitions)
        return self.json(201, '{"status":"created","name":%s,"partitions":%d}\n' % (jstr(name), partitions))

    def _decode_body(self, req):
        """Read the body and decode its first JSON value like json.Decoder."""
        body, rerr = req.conn.read_body(req)
        if rerr is not None:
            syn = _decoder_syntax(body, at_eof=False)
            if syn is None:
                return go_decoder_decode(body)
            if syn != 'incomplete':
                return _NOVAL, syn
            return _NOVAL, rerr
        return go_decoder_decode(body)

    def h_produce(self, req):
        if req.method != 'POST':
            return self.method_not_allowed('POST')
        env = None
        if req.has_body:
            val, err = self._decode_body(req)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            f, err = go_decode_struct(val, PRODUCE_SPEC)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            topic = f.get('topic', '')
            key = f.get('key', '')
            value = f.get('value', '')
            ed = f.get('envelope')
            if ed is not None:
                env = Envelope()
                for k in ('run_id', 'step_id', 'parent_step_id', 'tenant_id', 'idempotency_key', 'target_topic'):
                    if k in ed:
                        setattr(env, k, ed[k])
                env.deadline = ed.get('deadline')
                env.partition_override = ed.get('partition_override')
                rd = ed.get('retry_policy')
                if rd is not None:
                    env.retry_policy = RetryPolicy(rd.get('max_attempts', 0), rd.get('backoff_ms', 0),
                                                   rd.get('max_backoff_ms', 0))
        else:
            q = req.query()
            topic = qget(q, 'topic')
            key = qget(q, 'key')
            value = qget(q, 'value')
            e = Envelope()
            any_set = False
            for k in ('run_id', 'step_id', 'parent_step_id'):
                v = go_trim(qget(q, k))
                if v:
                    setattr(e, k, v)
                    any_set = True
            v = go_trim(qget(q, 'tenant_id')) or go_trim(qget(q, 'tenant'))
            if v:
                e.tenant_id = v
                any_set = True
            v = go_trim(qget(q, 'idempotency_key')) or go_trim(qget(q, 'idem_key'))
            if v:
                e.idempotency_key = v
                any_set = True
            v = go_trim(qget(q, 'target_topic'))
            if v:
                e.target_topic = v
                any_set = True
            v = go_trim(qget(q, 'partition_override'))
            if v:
                pi, _x = go_parse_int(v, 64)
                if pi is None or pi < 0:
                    return self.bad('invalid partition_override')
                e.partition_override = pi
                any_set = True
            v = go_trim(qget(q, 'deadline_rfc3339'))
            if v:
                try:
                    e.deadline = go_time_parse_rfc3339(v)
                except GoTimeError as ex:
                    return self.bad('invalid deadline_rfc3339: ' + str(ex))
                any_set = True
            else:
                v = go_trim(qget(q, 'deadline_ms'))
                if v:
                    ms, kind = go_parse_int(v, 64)
                    if ms is None:
                        return self.bad('invalid deadline_ms: ' + go_strconv_err('ParseInt', v, kind))
                    e.deadline = go_time_from_unix_ms(ms)
                    any_set = True
            opt = {}
            for name in ('retry_max_attempts', 'retry_backoff_ms', 'retry_max_backoff_ms'):
                v = go_trim(qget(q, name))
                if v == '':
                    opt[name] = None
                    continue
                n, _x = go_parse_int(v, 64)
                if n is None:
                    return self.bad('invalid ' + name)
                opt[name] = n
            ma, bo, mbo = opt['retry_max_attempts'], opt['retry_backoff_ms'], opt['retry_max_backoff_ms']
            if ma is not None or bo is not None or mbo is not None:
                rp = RetryPolicy()
                if ma is not None:
                    if ma < 0:
                        return self.bad('invalid retry_max_attempts')
                    rp.max_attempts = ma
                if bo is not None:
                    if bo < 0:
                        return self.bad('invalid retry_backoff_ms')
                    rp.backoff_ms = bo
                if mbo is not None:
                    if mbo < 0:
                        return self.bad('invalid retry_max_backoff_ms')
                    rp.max_backoff_ms = mbo
                if (bo is not None or mbo is not None) and rp.max_attempts <= 0:
                    return self.bad('retry_max_attempts must be > 0 when using retry backoff params')
                if rp.max_attempts or rp.backoff_ms or rp.max_backoff_ms:
                    e.retry_policy = rp
                    any_set = True
            if any_set:
                env = e
        if go_trim(topic) == '' or value == '':
            return self.bad('topic and value are required')
        try:
            self.broker.produce(topic, key, value, env)
        except OverloadError as ex:
            body = ('{"error":"RESOURCE_EXHAUSTED","message":%s,"reason":%s,"retry_after_ms":1000}\n'
                    % (jstr(str(ex)), jstr(ex.reason)))
            return self.json(429, body, [('Retry-After', '1')])
        except BrokerError as ex:
            return self.bad(str(ex))
        return self.json(200, '{"status":"produced","topic":%s}\n' % jstr(topic))

    def h_consume(self, req):
        if req.method != 'GET':
            return self.method_not_allowed('GET')
        lease_ms = 0
        if req.has_body:
            val, err = self._decode_body(req)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            f, err = go_decode_struct(val, CONSUME_SPEC)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            topic, group, owner = f.get('topic', ''), f.get('group', ''), f.get('owner', '')
            lease_ms = f.get('lease_ms', 0)
        else:
            q = req.query()
            topic, group, owner = qget(q, 'topic'), qget(q, 'group'), qget(q, 'owner')
            v = go_trim(qget(q, 'lease_ms'))
            if v:
                lease_ms, _x = go_parse_int(v, 64)
                if lease_ms is None:
                    return self.bad('invalid lease_ms')
        topic, group, owner = go_trim(topic), go_trim(group), go_trim(owner)
        if topic == '' or group == '' or owner == '':
            return self.bad('topic, group, and owner are required')
        if lease_ms < 0:
            return self.bad('invalid lease_ms')
        lease_ns = ACK_TIMEOUT_NS
        if lease_ms > 0:
            lease_ns = wrap64(lease_ms * 1_000_000)
        try:
            return self.broker.consume(topic, group, owner, lease_ns)
        except BrokerError as ex:
            return self.bad(str(ex))

    def _ack_args(self, req, allow_reason):
        """Parse ack/nack arguments; returns tuple or Response."""
        topic = group = owner = reason = ''
        part = off = 0
        if req.has_body:
            body, rerr = req.conn.read_body(req)
            if rerr is not None:
                return self.bad('failed to read body')
            val, err = go_unmarshal_value(body)
            if err is not None:
                return self.bad('invalid json body: ' + err)
            kind = _kind(val)
            if kind == 'object':
                raw = {}
                for k, v in val:
                    raw[k] = v
            elif kind == 'null':
                raw = {}
            else:
                return self.bad('invalid json body: json: cannot unmarshal %s into Go value of type '
                                'map[string]json.RawMessage' % kind)
            allowed = ('topic', 'group', 'owner', 'partition', 'offset') + (('reason',) if allow_reason else ())
            for k in raw:
                if k not in allowed:
                    return self.bad('unknown field: ' + k)

            def sval(name):
                v = raw.get(name)
                return str(v) if _kind(v) == 'string' else ''

            def ival(name):
                if name not in raw:
                    return 0, True
                v = raw[name]
                k = _kind(v)
                if k == 'null':
                    return 0, True
                if k == 'number':
                    n, _x = go_parse_int(str(v), 64)
                    if n is not None:
                        return n, True
                return 0, False
            topic, group, owner = sval('topic'), sval('group'), sval('owner')
            if allow_reason:
                reason = sval('reason')
            part, ok = ival('partition')
            if not ok:
                return self.bad('invalid partition')
            off, ok = ival('offset')
            if not ok:
                return self.bad('invalid offset')
        else:
            q = req.query()
            topic, group, owner = qget(q, 'topic'), qget(q, 'group'), qget(q, 'owner')
            if allow_reason:
                reason = qget(q, 'reason')
            ps = go_trim(qget(q, 'partition'))
            os_ = go_trim(qget(q, 'offset'))
            if ps == '' or os_ == '':
                return self.bad('partition and offset are required')
            part, _x = go_parse_int(ps, 32)
            if part is None:
                return self.bad('invalid partition')
            off, _x = go_parse_int(os_, 64)
            if off is None:
                return self.bad('invalid offset')
        topic, group, owner = go_trim(topic), go_trim(group), go_trim(owner)
        if topic == '' or group == '' or owner == '':
            return self.bad('topic, group, and owner are required')
        return topic, group, owner, part, off, go_trim(reason)

    def h_ack(self, req):
        if req.method != 'POST':
            return self.method_not_allowed('POST')
        a = self._ack_args(req, False)
        if isinstance(a, Response):
            return a
        topic, group, owner, part, off, _r = a
        try:
            self.broker.ack(topic, group, part, off, owner)
        except NotOwnerError:
            return self.err(409, 'FAILED_PRECONDITION', 'not owner')
        except BrokerError as ex:
            return self.bad(str(ex))
        return Response(204, [], b'')

    def h_nack(self, req):
        if req.method != 'POST':
            return self.method_not_allowed('POST')
        a = self._ack_args(req, True)
        if isinstance(a, Response):
            return a
        topic, group, owner, part, off, reason = a
        try:
            self.broker.nack(topic, group, part, off, owner, reason)
        except NotOwnerError:
            return self.err(409, 'FAILED_PRECONDITION', 'not owner')
        except BrokerError as ex:
            return self.bad(str(ex))
        return Response(204, [], b'')

    def h_metrics(self, req):
        prom = self.prom
        with prom.mu:
            prom.in_flight += 1
        try:
            text = render_metrics(self.broker, prom).encode('utf-8')
        finally:
            with prom.mu:
                prom.in_flight -= 1
                prom.by_code['200'] = prom.by_code.get('200', 0) + 1
        hdrs = [('Content-Type', METRICS_CT)]
        if _negotiate_gzip(req.header('Accept-Encoding')):
            text = gzip.compress(text, mtime=0)
            hdrs.append(('Content-Encoding', 'gzip'))
        return Response(200, hdrs, text)


def _negotiate_gzip(ae):
    """httputil.NegotiateContentEncoding(r, ["identity", "gzip"]) == "gzip"."""
    if not ae:
        return False
    specs = []
    for part in ae.split(','):
        part = part.strip()
        if not part:
            continue
        name, _, params = part.partition(';')
        qv = 1.0
        for prm in params.split(';'):
            k, _, v = prm.strip().partition('=')
            if k.strip().lower() == 'q':
                try:
                    qv = float(v)
                except ValueError:
                    qv = 0.0
        specs.append((name.strip().lower(), qv))
    best, bestq = 'identity', -1.0
    for offer in ('identity', 'gzip'):
        for name, qv in specs:
            if qv > bestq and (name == '*' or name == offer):
                bestq = qv
                best = offer
    return best == 'gzip' and bestq != 0
