#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""DriftQ v1 loopback test broker.

Speaks the DriftQ v1 HTTP API the way the real broker (``driftqd`` from
DriftQ-Core, commit dd3f222) does on the wire, as described in
``/work/shared/spec/driftq-v1.md``.  Written from scratch in Python (standard
library only); it models the observable behaviour of the Go broker, including
Go's ``encoding/json``, ``time.Parse``, ``net/url`` and ``net/http`` quirks that
leak into responses.

Usage::

    /usr/bin/python3 driftq_broker.py [--host 127.0.0.1] [--port 0]
                                      [--data-dir DIR] [--fsync] [--verbose]

On start it prints exactly one line ``DRIFTQ_URL=http://HOST:PORT`` to stdout,
then serves until SIGTERM/SIGINT and exits 0.  Logs go to stderr and are quiet
unless ``--verbose`` is given.  ``--data-dir`` enables a write-ahead log
(``DIR/driftq.wal``) so that a restart keeps what the real broker keeps.
"""

import argparse
import base64
import bisect
import codecs
import collections
import errno
import gzip
import json
import json.scanner
import os
import re
import select
import signal
import socket
import sys
import threading
import time

# ---------------------------------------------------------------------------
# Constants taken from the real broker's behaviour
# ---------------------------------------------------------------------------

ACK_TIMEOUT_NS = 2_000_000_000        # default lease / ack timeout (2 s)
REDELIVER_TICK = 0.25                 # redelivery loop period
MAX_INFLIGHT = 2                      # per (topic, group, partition)
MAX_PARTITION_MSGS = 100              # backpressure: messages
MAX_PARTITION_BYTES = 64 * 1024       # backpressure: key+value bytes
IDEM_TTL_NS = 10 * 60 * 1_000_000_000  # idempotency key lifetime
IDEM_MIN_LEASE_NS = 250_000_000
IDEM_MAX_LEASE_NS = 10 * 60 * 1_000_000_000
ROUTING_LABEL = 'test-label'          # stock driftqd installs a TestRouter
ROUTING_META = {'source': 'router'}
HTTP_TIMEOUT = 5.0                    # ReadTimeout (and idle timeout) of driftqd
MAX_HEADER_BYTES = (1 << 20) + 4096
MAX_POST_HANDLER_READ = 256 << 10
BUFFER_BEFORE_CHUNKING = 2048
INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1

VERBOSE = False


def log(msg):
    sys.stderr.write('driftq_broker: %s\n' % msg)
    sys.stderr.flush()


def wrap64(x):
    """Go int64 arithmetic wrap-around."""
    x &= 0xFFFFFFFFFFFFFFFF
    return x - (1 << 64) if x & 0x8000000000000000 else x


# ---------------------------------------------------------------------------
# Go string helpers.  Go strings are byte strings; we keep them as Python str
# where bytes that are not valid UTF-8 are represented with surrogateescape
# (U+DC80..U+DCFF), exactly one per invalid byte, as Go's decoders see them.
# ---------------------------------------------------------------------------

def _gofffd(err):
    # Go replaces every invalid byte by one U+FFFD.
    return ('\ufffd', err.start + 1)


codecs.register_error('driftq_gofffd', _gofffd)


def b2s(b):
    return b.decode('utf-8', 'surrogateescape')


def s2b(s):
    return s.encode('utf-8', 'surrogateescape')


def blen(s):
    if s.isascii():
        return len(s)
    return len(s.encode('utf-8', 'surrogateescape'))


_GO_SPACE = ('\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005'
             '\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000')


def go_trim(s):
    """strings.TrimSpace."""
    return s.strip(_GO_SPACE)


def go_quote(s):
    """strconv.Quote (s may hold surrogate-escaped invalid bytes)."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append('\\x%02x' % (o - 0xDC00))
        elif ch == '"' or ch == '\\':
            out.append('\\' + ch)
        elif o < 0x80 and 0x20 <= o < 0x7F:
            out.append(ch)
        elif o >= 0x80 and ch.isprintable():
            out.append(ch)
        elif ch == '\a':
            out.append('\\a')
        elif ch == '\b':
            out.append('\\b')
        elif ch == '\f':
            out.append('\\f')
        elif ch == '\n':
            out.append('\\n')
        elif ch == '\r':
            out.append('\\r')
        elif ch == '\t':
            out.append('\\t')
        elif ch == '\v':
            out.append('\\v')
        elif o < 0x20 or o == 0x7F:
            out.append('\\x%02x' % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append('\\ufffd')
        elif o < 0x10000:
            out.append('\\u%04x' % o)
        else:
            out.append('\\U%08x' % o)
    out.append('"')
    return ''.join(out)


def fnv32a(data):
    h = 0x811C9DC5
    for x in data:
        h = ((h ^ x) * 0x01000193) & 0xFFFFFFFF
    return h


_INT_RE = re.compile(r'[+-]?[0-9]+\Z')


def go_parse_int(s, bits=64):
    """strconv.ParseInt(s, 10, bits): returns (value, None) or (None, 'syntax'|'range')."""
    if not _INT_RE.match(s):
        return None, 'syntax'
    v = int(s)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if v < lo or v > hi:
        return None, 'range'
    return v, None


def go_strconv_err(fn, s, kind):
    return 'strconv.%s: parsing %s: %s' % (
        fn, go_quote(s), 'invalid syntax' if kind == 'syntax' else 'value out of range')


# ---------------------------------------------------------------------------
# Go encoding/json: encoder (compact, HTML-escaped, invalid UTF-8 -> \ufffd)
# ---------------------------------------------------------------------------

_enc_basestring = json.encoder.encode_basestring
_JESC_RE = re.compile('[<>&\u2028\u2029\ud800-\udfff]')
_JESC_MAP = {'<': '\\u003c', '>': '\\u003e', '&': '\\u0026',
             '\u2028': '\\u2028', '\u2029': '\\u2029'}


def _jesc_sub(m):
    return _JESC_MAP.get(m.group(), '\\ufffd')


def jstr(s):
    r = _enc_basestring(s)
    if _JESC_RE.search(r):
        r = _JESC_RE.sub(_jesc_sub, r)
    return r


def jmap(d):
    """map[string]string, keys sorted by bytes."""
    items = sorted(d.items(), key=lambda kv: s2b(kv[0]))
    return '{' + ','.join(jstr(k) + ':' + jstr(v) for k, v in items) + '}'


def jerr(code, msg):
    return '{"error":%s,"message":%s}\n' % (jstr(code), jstr(msg))


# ---------------------------------------------------------------------------
# Go encoding/json: scanner (used to produce Go's syntax error messages)
# ---------------------------------------------------------------------------

_SPACE = frozenset(b' \t\r\n')
_SC_CONT, _SC_END, _SC_ERR, _SC_CLOSE = 0, 1, 2, 3
_PS_OBJKEY, _PS_OBJVAL, _PS_ARRVAL = 0, 1, 2
_MAX_DEPTH = 10000


def _quote_char(c):
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    q = go_quote(chr(c))
    return "'" + q[1:-1] + "'"


class _GoScanner:
    def __init__(self):
        self.step = self.begin_value
        self.ps = []
        self.err = None
        self.end_top = False

    def error(self, c, ctx):
        self.step = self.s_error
        self.err = 'invalid character ' + _quote_char(c) + ' ' + ctx
        return _SC_ERR

    def s_error(self, c):
        return _SC_ERR

    def push(self, c, st):
        self.ps.append(st)
        if len(self.ps) > _MAX_DEPTH:
            return self.error(c, 'exceeded max depth')
        return _SC_CONT

    def begin_value_or_empty(self, c):
        if c in _SPACE:
            return _SC_CONT
        if c == 0x5D:
            return self.end_value(c)
        return self.begin_value(c)

    def begin_value(self, c):
        if c in _SPACE:
            return _SC_CONT
        if c == 0x7B:
            self.step = self.begin_string_or_empty
            return self.push(c, _PS_OBJKEY)
        if c == 0x5B:
            self.step = self.begin_value_or_empty
            return self.push(c, _PS_ARRVAL)
        if c == 0x22:
            self.step = self.in_string
            return _SC_CONT
        if c == 0x2D:
            self.step = self.neg
            return _SC_CONT
        if c == 0x30:
            self.step = self.s0
            return _SC_CONT
        if c == 0x74:
            self.step = self.lit('rue', 'true')
            return _SC_CONT
        if c == 0x66:
            self.step = self.lit('alse', 'false')
            return _SC_CONT
        if c == 0x6E:
            self.step = self.lit('ull', 'null')
            return _SC_CONT
        if 0x31 <= c <= 0x39:
            self.step = self.s1
            return _SC_CONT
        return self.error(c, 'looking for beginning of value')

    def begin_string_or_empty(self, c):
        if c in _SPACE:
            return _SC_CONT
        if c == 0x7D:
            self.ps[-1] = _PS_OBJVAL
            return self.end_value(c)
        return self.begin_string(c)

    def begin_string(self, c):
        if c in _SPACE:
            return _SC_CONT
        if c == 0x22:
            self.step = self.in_string
            return _SC_CONT
        return self.error(c, 'looking for beginning of object key string')

    def end_value(self, c):
        if not self.ps:
            self.step = self.end_top_st
            self.end_top = True
            return self.end_top_st(c)
        if c in _SPACE:
            self.step = self.end_value
            return _SC_CONT
        top = self.ps[-1]
        if top == _PS_OBJKEY:
            if c == 0x3A:
                self.ps[-1] = _PS_OBJVAL
                self.step = self.begin_value
                return _SC_CONT
            return self.error(c, 'after object key')
        if top == _PS_OBJVAL:
            if c == 0x2C:
                self.ps[-1] = _PS_OBJKEY
                self.step = self.begin_string
                return _SC_CONT
            if c == 0x7D:
                return self.pop()
            return self.error(c, 'after object key:value pair')
        if c == 0x2C:
            self.step = self.begin_value
            return _SC_CONT
        if c == 0x5D:
            return self.pop()
        return self.error(c, 'after array element')

    def pop(self):
        self.ps.pop()
        if not self.ps:
            self.step = self.end_top_st
            self.end_top = True
        else:
            self.step = self.end_value
        return _SC_CLOSE

    def end_top_st(self, c):
        if c not in _SPACE:
            self.error(c, 'after top-level value')
        return _SC_END

    def in_string(self, c):
        if c == 0x22:
            self.step = self.end_value
            return _SC_CONT
        if c == 0x5C:
            self.step = self.in_string_esc
            return _SC_CONT
        if c < 0x20:
            return self.error(c, 'in string literal')
        return _SC_CONT

    def in_string_esc(self, c):
        if c in b'bfnrt\\/"':
            self.step = self.in_string
            return _SC_CONT
        if c == 0x75:
            self.hexleft = 4
            self.step = self.in_string_esc_u
            return _SC_CONT
        return self.error(c, 'in string escape code')

    def in_string_esc_u(self, c):
        if c in b'0123456789abcdefABCDEF':
            self.hexleft -= 1
            if self.hexleft == 0:
                self.step = self.in_string
            return _SC_CONT
        return self.error(c, 'in \\u hexadecimal character escape')

    def neg(self, c):
        if c == 0x30:
            self.step = self.s0
            return _SC_CONT
        if 0x31 <= c <= 0x39:
            self.step = self.s1
            return _SC_CONT
        return self.error(c, 'in numeric literal')

    def s1(self, c):
        if 0x30 <= c <= 0x39:
            return _SC_CONT
        return self.s0(c)

    def s0(self, c):
        if c == 0x2E:
            self.step = self.dot
            return _SC_CONT
        if c in (0x65, 0x45):
            self.step = self.e
            return _SC_CONT
        return self.end_value(c)

    def dot(self, c):
        if 0x30 <= c <= 0x39:
            self.step = self.dot0
            return _SC_CONT
        return self.error(c, 'after decimal point in numeric literal')

    def dot0(self, c):
        if 0x30 <= c <= 0x39:
            return _SC_CONT
        if c in (0x65, 0x45):
            self.step = self.e
            return _SC_CONT
        return self.end_value(c)

    def e(self, c):
        if c in (0x2B, 0x2D):
            self.step = self.esign
            return _SC_CONT
        return self.esign(c)

    def esign(self, c):
        if 0x30 <= c <= 0x39:
            self.step = self.e0
            return _SC_CONT
        return self.error(c, 'in exponent of numeric literal')

    def e0(self, c):
        if 0x30 <= c <= 0x39:
            return _SC_CONT
        return self.end_value(c)

    def lit(self, rest, word):
        idx = [0]

        def st(c):
            exp = rest[idx[0]]
            if c == ord(exp):
                idx[0] += 1
                if idx[0] == len(rest):
                    self.step = self.end_value
                return _SC_CONT
            return self.error(c, "in literal %s (expecting '%s')" % (word, exp))
        return st

    def eof(self):
        if self.err is not None:
            return _SC_ERR
        if self.end_top:
            return _SC_END
        self.step(0x20)
        if self.end_top:
            return _SC_END
        if self.err is None:
            self.err = 'unexpected end of JSON input'
        return _SC_ERR


def _decoder_syntax(data, at_eof=True):
    """json.Decoder.Decode's view of data: None when a complete first value is
    present, else Go's error text ('EOF', 'unexpected EOF', syntax errors)."""
    sc = _GoScanner()
    for c in data:
        r = sc.step(c)
        if r == _SC_END:
            return None
        if r == _SC_CLOSE and not sc.ps:
            return None
        if r == _SC_ERR:
            return sc.err
    if not at_eof:
        return 'incomplete'
    if sc.step(0x20) == _SC_END:
        return None
    for c in data:
        if c not in _SPACE:
            return 'unexpected EOF'
    return 'EOF'


def _unmarshal_syntax(data):
    """json.Unmarshal's syntax check (checkValid)."""
    sc = _GoScanner()
    for c in data:
        if sc.step(c) == _SC_ERR:
            return sc.err
    if sc.eof() == _SC_ERR:
        return sc.err
    return None


# ---------------------------------------------------------------------------
# Go encoding/json: decoding into the request structs
# ---------------------------------------------------------------------------

class GoNum(str):
    """A JSON number literal, kept as text."""


class GoObj(list):
    """A JSON object as an ordered list of (key, value) pairs."""


class RawStr(str):
    """A JSON string that also remembers its raw (still escaped) text."""
    raw = None


def _raise_const(name):
    raise ValueError('constant')


_DEC = json.JSONDecoder(object_pairs_hook=GoObj, parse_int=GoNum,
                        parse_float=GoNum, parse_constant=_raise_const)


def _raw_decoder():
    d = json.JSONDecoder(object_pairs_hook=GoObj, parse_int=GoNum,
                         parse_float=GoNum, parse_constant=_raise_const)
    scanstring = json.decoder.scanstring

    def parse_string(s, end, strict):
        val, e = scanstring(s, end, strict)
        r = RawStr(val)
        r.raw = s[end:e - 1]
        return r, e
    d.parse_string = parse_string
    d.scan_once = json.scanner.py_make_scanner(d)
    return d


_SURR_RE = re.compile('[\ud800-\udfff]')


def _sanitize(v):
    """Go's unquote replaces invalid surrogate escapes with U+FFFD."""
    if isinstance(v, GoObj):
        return GoObj((_sanitize(k), _sanitize(x)) for k, x in v)
    if isinstance(v, list):
        return [_sanitize(x) for x in v]
    if isinstance(v, str) and not isinstance(v, GoNum):
        if _SURR_RE.search(v):
            raw = getattr(v, 'raw', None)
            v2 = RawStr(_SURR_RE.sub('\ufffd', v))
            v2.raw = raw
            return v2
    return v


_NOVAL = object()
_JSON_WS = ' \t\r\n'


def go_decoder_decode(body):
    """json.NewDecoder(body).Decode: (value, None) or (None, errtext)."""
    text = body.decode('utf-8', 'driftq_gofffd')
    n = len(text)
    i = 0
    while i < n and text[i] in _JSON_WS:
        i += 1
    if i == n:
        return _NOVAL, 'EOF'
    has_bs = '\\' in text
    try:
        val, _end = (_raw_decoder() if has_bs else _DEC).raw_decode(text, i)
    except (ValueError, RecursionError):
        err = _decoder_syntax(body)
        return _NOVAL, err or 'exceeded max depth'
    if has_bs:
        val = _sanitize(val)
    return val, None


def go_unmarshal_value(body):
    """json.Unmarshal syntax + value: (value, None) or (None, errtext)."""
    text = body.decode('utf-8', 'driftq_gofffd')
    try:
        val = _DEC.decode(text)
    except (ValueError, RecursionError):
        err = _unmarshal_syntax(body)
        return _NOVAL, err or 'exceeded max depth'
    if '\\' in text:
        val = _sanitize(val)
    return val, None


def _kind(v):
    if v is None:
        return 'null'
    if isinstance(v, bool):
        return 'bool'
    if isinstance(v, GoNum):
        return 'number'
    if isinstance(v, GoObj):
        return 'object'
    if isinstance(v, list):
        return 'array'
    return 'string'


class _Abort(Exception):
    pass


class _DecState:
    __slots__ = ('saved',)

    def __init__(self):
        self.saved = None

    def save(self, msg):
        if self.saved is None:
            self.saved = msg


T_STR, T_INT, T_INT64, T_PINT, T_TIME = 'string', 'int', 'int64', '*int', 'time'


class Spec:
    def __init__(self, name, tname, fields):
        self.name = name
        self.tname = tname
        self.fields = fields
        self.folded = {k.lower(): k for k in fields}


RETRY_SPEC = Spec('RetryPolicy', 'v1.RetryPolicy', {
    'max_attempts': T_INT, 'backoff_ms': T_INT64, 'max_backoff_ms': T_INT64})
ENV_SPEC = Spec('Envelope', 'v1.Envelope', {
    'run_id': T_STR, 'step_id': T_STR, 'parent_step_id': T_STR,
    'tenant_id': T_STR, 'idempotency_key': T_STR, 'target_topic': T_STR,
    'deadline': T_TIME, 'retry_policy': RETRY_SPEC, 'partition_override': T_PINT})
PRODUCE_SPEC = Spec('ProduceRequest', 'v1.ProduceRequest', {
    'topic': T_STR, 'key': T_STR, 'value': T_STR, 'envelope': ENV_SPEC})
TOPICS_SPEC = Spec('TopicsCreateRequest', 'v1.TopicsCreateRequest', {
    'name': T_STR, 'partitions': T_INT})
CONSUME_SPEC = Spec('ConsumeRequest', 'v1.ConsumeRequest', {
    'topic': T_STR, 'group': T_STR, 'owner': T_STR, 'lease_ms': T_INT64})

_FOLD_TABLE = {0x17F: 's', 0x212A: 'k'}


def _match_field(key, spec):
    if key in spec.fields:
        return key
    k = key.translate(_FOLD_TABLE)
    if not k.isascii():
        return None
    return spec.folded.get(k.lower())


def _decode_struct(pairs, spec, out, stack, st):
    for key, val in pairs:
        fname = _match_field(key, spec)
        if fname is None:
            st.save('json: unknown field ' + go_quote(key))
            continue
        _decode_field(val, spec.fields[fname], out, fname, stack + (fname,), spec.name, st)


def _decode_field(val, ftype, out, fname, path, sname, st):
    kind = _kind(val)

    def type_err(desc, tname):
        st.save('json: cannot unmarshal %s into Go struct field %s.%s of type %s'
                % (desc, sname, '.'.join(path), tname))

    if isinstance(ftype, Spec):
        if kind == 'null':
            out[fname] = None
        elif kind == 'object':
            sub = out.get(fname)
            if not isinstance(sub, dict):
                sub = {}
                out[fname] = sub
            _decode_struct(val, ftype, sub, path, st)
        else:
            type_err(kind, ftype.tname)
        return
    if ftype == T_STR:
        if kind == 'string':
            out[fname] = str(val)
        elif kind != 'null':
            type_err(kind, 'string')
        return
    if ftype == T_TIME:
        if kind == 'null':
            out[fname] = None
        elif kind == 'string':
            raw = getattr(val, 'raw', None)
            if raw is None:
                raw = str(val)
            try:
                out[fname] = go_time_parse_rfc3339(raw)
            except GoTimeError as e:
                raise _Abort(str(e))
        else:
            raise _Abort('Time.UnmarshalJSON: input is not a JSON string')
        return
    # integer kinds
    tname = 'int64' if ftype == T_INT64 else 'int'
    if kind == 'number':
        v, _e = go_parse_int(str(val), 64)
        if v is None:
            type_err('number ' + str(val), tname)
        else:
            out[fname] = v
    elif kind == 'null':
        if ftype == T_PINT:
            out[fname] = None
    else:
        type_err(kind, tname)


def go_decode_struct(val, spec):
    """Decode a parsed JSON value into `spec` with DisallowUnknownFields.
    Returns (fields_dict, None) or (None, errtext)."""
    st = _DecState()
    out = {}
    kind = _kind(val)
    try:
        if kind == 'object':
            _decode_struct(val, spec, out, (), st)
        elif kind != 'null':
            st.save('json: cannot unmarshal %s into Go value of type %s' % (kind, spec.tname))
    except _Abort as e:
        return None, str(e)
    if st.saved is not None:
        return None, st.saved
    return out, None


# ---------------------------------------------------------------------------
# Go time: Parse(time.RFC3339, s) and Format(time.RFC3339Nano)
# ---------------------------------------------------------------------------

RFC3339 = '2006-01-02T15:04:05Z07:00'


class GoTimeError(Exception):
    pass


def _time_quote(s):
    out = ['"']
    for ch in s:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append('\\x%02x' % (o - 0xDC00))
        elif o >= 0x80 or o < 0x20:
            for b in ch.encode('utf-8', 'surrogatepass'):
                out.append('\\x%02x' % b)
        else:
            if ch == '"' or ch == '\\':
                out.append('\\')
            out.append(ch)
    out.append('"')
    return ''.join(out)


def _perr(value, velem, lelem):
    return GoTimeError('parsing time %s as %s: cannot parse %s as %s' % (
        _time_quote(value), _time_quote(RFC3339), _time_quote(velem), _time_quote(lelem)))


def _perr_msg(value, msg):
    return GoTimeError('parsing time %s%s' % (_time_quote(value), msg))


def _isdigit(s, i):
    return i < len(s) and '0' <= s[i] <= '9'


def _getnum(s, fixed):
    if not _isdigit(s, 0):
        return None, s
    if not _isdigit(s, 1):
        if fixed:
            return None, s
        return ord(s[0]) - 48, s[1:]
    return (ord(s[0]) - 48) * 10 + ord(s[1]) - 48, s[2:]


def _is_leap(y):
    return y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)


_DAYS_IN = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def _days_in(m, y):
    if m == 2 and _is_leap(y):
        return 29
    return _DAYS_IN[m]


def _days_from_civil(y, m, d):
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z):
    z += 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


class GoTime:
    """An instant (Unix nanoseconds) plus the zone offset it is displayed in."""
    __slots__ = ('ns', 'off')

    def __init__(self, ns, off):
        self.ns = ns
        self.off = off

    def rfc3339nano(self):
        local = self.ns + self.off * 1_000_000_000
        secs, nsec = divmod(local, 1_000_000_000)
        days, sod = divmod(secs, 86400)
        y, mo, d = _civil_from_days(days)
        hh, rem = divmod(sod, 3600)
        mi, ss = divmod(rem, 60)
        if y < 0:
            ys = '-%04d' % -y
        else:
            ys = '%04d' % y
        s = '%s-%02d-%02dT%02d:%02d:%02d' % (ys, mo, d, hh, mi, ss)
        if nsec:
            s += ('.%09d' % nsec).rstrip('0')
        if self.off == 0:
            s += 'Z'
        else:
            o = self.off // 60
            sign = '+'
            if o < 0:
                sign = '-'
                o = -o
            s += '%s%02d:%02d' % (sign, o // 60, o % 60)
        return s


def _local_offset(unix_s):
    try:
        return time.localtime(unix_s).tm_gmtoff or 0
    except (OverflowError, OSError, ValueError):
        return 0


def go_time_parse_rfc3339(value):
    """time.Parse(time.RFC3339, value) (also what Time.UnmarshalJSON does,
    its extra strictness being disabled in Go)."""
    v = value
    # 2006
    if len(v) < 4 or not _isdigit(v, 0):
        raise _perr(value, v, '2006')
    p = v[:4]
    if not all('0' <= c <= '9' for c in p):
        raise _perr(value, v, '2006')
    year = int(p)
    v = v[4:]
    # -01
    if not v.startswith('-'):
        raise _perr(value, v, '-')
    v = v[1:]
    hold = v
    month, v = _getnum(v, True)
    if month is None:
        raise _perr(value, hold, '01')
    if month <= 0 or month > 12:
        raise _perr_msg(value, ': month out of range')
    if not v.startswith('-'):
        raise _perr(value, v, '-')
    v = v[1:]
    hold = v
    day, v = _getnum(v, True)
    if day is None:
        raise _perr(value, hold, '02')
    if not v.startswith('T'):
        raise _perr(value, v, 'T')
    v = v[1:]
    hold = v
    hour, v = _getnum(v, False)
    if hour is None:
        raise _perr(value, hold, '15')
    if hour >= 24:
        raise _perr_msg(value, ': hour out of range')
    if not v.startswith(':'):
        raise _perr(value, v, ':')
    v = v[1:]
    hold = v
    minute, v = _getnum(v, True)
    if minute is None:
        raise _perr(value, hold, '04')
    if minute >= 60:
        raise _perr_msg(value, ': minute out of range')
    if not v.startswith(':'):
        raise _perr(value, v, ':')
    v = v[1:]
    hold = v
    sec, v = _getnum(v, True)
    if sec is None:
        raise _perr(value, hold, '05')
    if sec >= 60:
        raise _perr_msg(value, ': second out of range')
    nsec = 0
    if len(v) >= 2 and v[0] in '.,' and _isdigit(v, 1):
        n = 2
        while n < len(v) and _isdigit(v, n):
            n += 1
        digits = v[1:min(n, 10)]
        nsec = int(digits) * 10 ** (9 - len(digits))
        v = v[n:]
    # Z07:00
    hold = v
    if v.startswith('Z'):
        v = v[1:]
        off = 0
    else:
        if len(v) < 6 or v[3] != ':':
            raise _perr(value, hold, 'Z07:00')
        sign, hs, ms = v[0], v[1:3], v[4:6]
        v = v[6:]
        hr, _ = _getnum(hs, True)
        mm = None
        if hr is not None:
            mm, _ = _getnum(ms, True)
        rng = None
        if hr is not None and hr > 24:
            rng = 'time zone offset hour'
        if mm is not None and mm > 60:
            rng = 'time zone offset minute'
        if rng:
            raise _perr_msg(value, ': ' + rng + ' out of range')
        if hr is None or mm is None or sign not in '+-':
            raise _perr(value, hold, 'Z07:00')
        off = (hr * 60 + mm) * 60
        if sign == '-':
            off = -off
    if v:
        raise _perr_msg(value, ': extra text: ' + _time_quote(v))
    if day < 1 or day > _days_in(month, year):
        raise _perr_msg(value, ': day out of range')
    secs = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + sec - off
    return GoTime(secs * 1_000_000_000 + nsec, off)


def go_time_from_unix_ms(ms):
    """time.Unix(0, ms*int64(time.Millisecond)) in the Local zone."""
    ns = wrap64(ms * 1_000_000)
    return GoTime(ns, _local_offset(ns // 1_000_000_000))


# ---------------------------------------------------------------------------
# net/url helpers
# ---------------------------------------------------------------------------

_PCT_BAD_RE = re.compile(rb'%(?![0-9A-Fa-f]{2})')
_PCT_RE = re.compile(rb'%([0-9A-Fa-f]{2})')


def _pct_sub(m):
    return bytes((int(m.group(1), 16),))


def url_unescape(b, query):
    if b'%' in b:
        if _PCT_BAD_RE.search(b):
            return None
    if query and b'+' in b:
        b = b.replace(b'+', b' ')
    if b'%' in b:
        b = _PCT_RE.sub(_pct_sub, b)
    return b


def parse_query(raw):
    """url.ParseQuery semantics (bad pairs are skipped)."""
    m = {}
    if not raw:
        return m
    for part in raw.split(b'&'):
        if not part or b';' in part:
            continue
        k, _, v = part.partition(b'=')
        k = url_unescape(k, True)
        if k is None:
            continue
        v = url_unescape(v, True)
        if v is None:
            continue
        m.setdefault(b2s(k), []).append(b2s(v))
    return m


def qget(q, name):
    v = q.get(name)
    return v[0] if v else ''


def go_path_clean(p):
    rooted = p.startswith('/')
    out = []
    for seg in p.split('/'):
        if seg == '' or seg == '.':
            continue
        if seg == '..':
            if out and out[-1] != '..':
                out.pop()
            elif not rooted:
                out.append('..')
            continue
        out.append(seg)
    s = '/'.join(out)
    if rooted:
        s = '/' + s
    return s or ('/' if rooted else '.')


def mux_clean_path(p):
    if p == '':
        return '/'
    if p[0] != '/':
        p = '/' + p
    np = go_path_clean(p)
    if p[-1] == '/' and np != '/':
        np += '/'
    return np


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


class Broker:
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


# ---------------------------------------------------------------------------
# HTTP layer (a small HTTP/1.1 server that behaves like Go's net/http)
# ---------------------------------------------------------------------------

REASONS = {
    100: 'Continue', 200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently',
    400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
    417: 'Expectation Failed', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
    500: 'Internal Server Error', 501: 'Not Implemented', 505: 'HTTP Version Not Supported',
}
CT_JSON = 'application/json; charset=utf-8'
CT_NDJSON = 'application/x-ndjson; charset=utf-8'
CT_TEXT = 'text/plain; charset=utf-8'
METRICS_CT = 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'
_ERR_HDRS = b'\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n'
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE_RE = re.compile(rb'[\x00-\x08\x0a-\x1f\x7f]')
_HEAD_END_RE = re.compile(rb'\n\r?\n')
_WDAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
_MONTHS = ('', 'Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
_date_cache = [0, '']


def http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        _date_cache[1] = '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
            _WDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
        _date_cache[0] = now
    return _date_cache[1]


def canonical_key(k):
    if not _TOKEN_RE.match(k):
        return k.decode('latin-1')
    return '-'.join(w[:1].upper() + w[1:].lower() for w in k.decode('latin-1').split('-'))


def has_token(v, tok):
    if not v:
        return False
    for part in v.split(','):
        if part.strip(' \t').lower() == tok:
            return True
    return False


class ConnClosed(Exception):
    pass


class ReadTimeout(Exception):
    pass


class BodyError(Exception):
    pass


class Response:
    __slots__ = ('status', 'headers', 'body')

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class Request:
    __slots__ = ('method', 'target', 'path', 'raw_query', 'proto', 'headers', 'content_length',
                 'chunked', 'deadline', 'body_state', 'body_left', 'expect_continue', 'continue_sent',
                 'req_id', 'conn', '_query')

    def header(self, name):
        v = self.headers.get(name)
        return v[0] if v else ''

    def query(self):
        if self._query is None:
            self._query = parse_query(self.raw_query)
        return self._query

    @property
    def has_body(self):
        return self.content_length != 0


class Conn:
    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        self.addr = addr
        self.buf = b''
        self.state = 'idle'
        self.stream = None
        try:
            la = sock.getsockname()
            self.local = '%s:%d' % (la[0], la[1])
        except OSError:
            self.local = '?'
        self.remote = '%s:%d' % (addr[0], addr[1]) if isinstance(addr, tuple) else str(addr)

    # ---- low level reading ----

    def _recv(self, deadline):
        t = deadline - time.monotonic()
        if t <= 0:
            raise ReadTimeout()
        self.sock.settimeout(t)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise ReadTimeout()
        except OSError:
            raise ConnClosed()
        if not data:
            raise ConnClosed()
        self.buf += data

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._recv(deadline)
        d = self.buf[:n]
        self.buf = self.buf[n:]
        return d

    def _read_line(self, deadline, limit=4096):
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 1:]
                if line.endswith(b'\r'):
                    line = line[:-1]
                return line
            if len(self.buf) > limit:
                raise BodyError('header line too long')
            self._recv(deadline)

    def _io_timeout_msg(self):
        return 'read tcp %s->%s: i/o timeout' % (self.local, self.remote)

    # ---- request bodies ----

    def _send_continue(self, req):
        if req.expect_continue and not req.continue_sent:
            req.continue_sent = True
            try:
                self.sock.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
            except OSError:
                pass

    def read_body(self, req, max_bytes=None):
        """Read the rest of the request body.  Returns (data, errtext)."""
        if req.body_state == 'done':
            return b'', None
        self._send_continue(req)
        chunks = []
        got = 0
        try:
            if not req.chunked:
                n = req.body_left
                if max_bytes is not None:
                    n = min(n, max_bytes)
                while got < n:
                    if not self.buf:
                        self._recv(req.deadline)
                    take = self.buf[:n - got]
                    self.buf = self.buf[len(take):]
                    chunks.append(take)
                    got += len(take)
                req.body_left -= got
                if req.body_left == 0:
                    req.body_state = 'done'
            else:
                while True:
                    if req.body_left == 0:
                        line = self._read_line(req.deadline)
                        size_s = line.split(b';', 1)[0].strip(b' \t')
                        if not size_s or not re.match(rb'[0-9a-fA-F]+\Z', size_s):
                            raise BodyError('invalid byte in chunk length')
                        if len(size_s) > 16:
                            raise BodyError('http chunk length too large')
                        size = int(size_s, 16)
                        if size == 0:
                            while True:
                                tl = self._read_line(req.deadline)
                                if tl == b'':
                                    break
                            req.body_state = 'done'
                            break
                        req.body_left = size
                    want = req.body_left
                    if max_bytes is not None:
                        want = min(want, max_bytes - got)
                        if want <= 0:
                            break
                    d = self._read_exact(want, req.deadline)
                    chunks.append(d)
                    got += len(d)
                    req.body_left -= len(d)
                    if req.body_left == 0:
                        crlf = self._read_exact(2, req.deadline)
                        if crlf != b'\r\n':
                            raise BodyError('malformed chunked encoding')
        except ReadTimeout:
            req.body_state = 'error'
            return b''.join(chunks), self._io_timeout_msg()
        except ConnClosed:
            req.body_state = 'error'
            return b''.join(chunks), 'unexpected EOF'
        except BodyError as e:
            req.body_state = 'error'
            return b''.join(chunks), str(e)
        return b''.join(chunks), None

    # ---- the connection loop ----

    def serve(self):
        srv = self.server
        first = True
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            while not srv.stopping:
                if not first:
                    idle_deadline = time.monotonic() + HTTP_TIMEOUT
                    try:
                        while len(self.buf) < 4:
                            self._recv(idle_deadline)
                    except (ReadTimeout, ConnClosed):
                        return
                req = self._read_request(first)
                first = False
                if req is None:
                    return
                self.state = 'active'
                keep = self._handle(req)
                if not keep:
                    return
                self.state = 'idle'
        finally:
            srv.forget(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _raw_error(self, status_line, body):
        try:
            self.sock.sendall(b'HTTP/1.1 ' + status_line + _ERR_HDRS + body)
        except OSError:
            pass

    def _bad_request(self, detail=None):
        if detail:
            s = ('400 Bad Request: ' + detail).encode('latin-1', 'replace')
            self._raw_error(s, s)
        else:
            self._raw_error(b'400 Bad Request', b'400 Bad Request')

    def _read_request(self, first):
        deadline = time.monotonic() + HTTP_TIMEOUT
        while True:
            m = _HEAD_END_RE.search(self.buf)
            if m:
                break
            if len(self.buf) > MAX_HEADER_BYTES:
                self._raw_error(b'431 Request Header Fields Too Large', b'431 Request Header Fields Too Large')
                return None
            try:
                self._recv(deadline)
            except ReadTimeout:
                return None
            except ConnClosed:
                if self.buf.strip():
                    self._bad_request()
                return None
        head = self.buf[:m.start()]
        self.buf = self.buf[m.end():]
        lines = head.split(b'\n')
        lines = [ln[:-1] if ln.endswith(b'\r') else ln for ln in lines]
        reqline = lines[0]
        method, sp1, rest = reqline.partition(b' ')
        target, sp2, proto = rest.partition(b' ')
        if not sp1 or not sp2:
            self._bad_request()
            return None
        if not _TOKEN_RE.match(method):
            self._bad_request()
            return None
        if proto == b'HTTP/1.1':
            ver = (1, 1)
        elif proto == b'HTTP/1.0':
            ver = (1, 0)
        elif (len(proto) == 8 and proto.startswith(b'HTTP/') and proto[6:7] == b'.'
              and proto[5:6].isdigit() and proto[7:8].isdigit()):
            ver = (int(proto[5:6]), int(proto[7:8]))
        else:
            self._bad_request()
            return None
        headers = {}
        prev = None
        for ln in lines[1:]:
            if ln[:1] in (b' ', b'\t'):
                if prev is None:
                    self._bad_request()
                    return None
                headers[prev][-1] += ' ' + ln.strip(b' \t').decode('latin-1')
                continue
            k, colon, v = ln.partition(b':')
            if not colon or not _TOKEN_RE.match(k):
                self._bad_request()
                return None
            ck = canonical_key(k)
            headers.setdefault(ck, []).append(v.strip(b' \t').decode('latin-1'))
            prev = ck
        if ver[0] != 1:
            s = b'505 HTTP Version Not Supported: unsupported protocol version'
            self._raw_error(s, s)
            return None
        for vs in headers.values():
            for v in vs:
                if _BAD_VALUE_RE.search(v.encode('latin-1')):
                    self._bad_request('invalid header value')
                    return None
        hosts = headers.get('Host')
        if hosts is not None and len(hosts) > 1:
            self._bad_request()
            return None
        if ver >= (1, 1) and not hosts and method != b'CONNECT':
            self._bad_request('missing required Host header')
            return None
        # target
        if any(c < 0x21 or c == 0x7F for c in target):
            self._bad_request()
            return None
        if target == b'*':
            path, rawq = b'*', b''
        elif target.startswith(b'/'):
            path, _, rawq = target.partition(b'?')
        else:
            mm = re.match(rb'[A-Za-z][A-Za-z0-9+.\-]*://([^/?]*)(.*)\Z', target)
            if not mm:
                self._bad_request()
                return None
            path, _, rawq = mm.group(2).partition(b'?')
        if url_unescape(path, False) is None:
            self._bad_request()
            return None
        req = Request()
        req.method = method.decode('latin-1')
        req.target = target
        req.path = path
        req.raw_query = rawq
        req.proto = ver
        req.headers = headers
        req.deadline = deadline
        req.conn = self
        req._query = None
        req.expect_continue = False
        req.continue_sent = False
        req.chunked = False
        req.body_left = 0
        req.body_state = 'done'
        te = headers.get('Transfer-Encoding')
        if te is not None and ver >= (1, 1):
            if len(te) != 1 or te[0].strip().lower() != 'chunked':
                self._raw_error(b'501 Not Implemented', b'Unsupported transfer encoding')
                return None
            req.chunked = True
            req.content_length = -1
            req.body_state = 'open'
        else:
            cls = headers.get('Content-Length')
            if cls:
                vals = set(v.strip(' \t') for v in cls)
                if len(vals) != 1:
                    self._bad_request()
                    return None
                cl = vals.pop()
                if not cl.isdigit() or not cl.isascii():
                    self._bad_request()
                    return None
                req.content_length = int(cl)
                req.body_left = req.content_length
                if req.body_left:
                    req.body_state = 'open'
            else:
                req.content_length = 0
        exp = req.header('Expect')
        if exp:
            if has_token(exp, '100-continue') and ver >= (1, 1) and req.content_length != 0:
                req.expect_continue = True
            else:
                resp = b'HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: %s\r\nContent-Length: 0\r\n\r\n' \
                    % http_date().encode()
                try:
                    self.sock.sendall(resp)
                except OSError:
                    pass
                return None
        return req

    def _handle(self, req):
        srv = self.server
        if req.target == b'*' and req.method == 'OPTIONS':
            return self._write(req, Response(200, [], b''), with_reqid=False)
        rid = go_trim(req.header('X-Request-Id'))
        if rid == '':
            rid = os.urandom(12).hex()
        req.req_id = rid
        t0 = time.monotonic() if VERBOSE else 0
        try:
            resp = srv.app.route(req)
        except Exception as e:  # pragma: no cover - defensive
            log('internal error: %r' % (e,))
            resp = Response(500, [('Content-Type', CT_JSON)], jerr('INTERNAL', str(e)).encode())
        if isinstance(resp, Stream):
            self._run_stream(req, resp)
            return False
        keep = self._write(req, resp)
        if VERBOSE:
            log('%s %s -> %d (%.1f ms)' % (req.method, req.target.decode('latin-1'), resp.status,
                                           (time.monotonic() - t0) * 1000))
        return keep

    def _write(self, req, resp, with_reqid=True):
        """Serialize like Go's net/http response writer.  Returns keep-alive."""
        status = resp.status
        body = resp.body
        hdrs = list(resp.headers)
        if with_reqid:
            hdrs.append(('X-Request-Id', req.req_id))
        conn_hdr = None
        close = False
        for k, v in hdrs:
            if k == 'Connection':
                conn_hdr = v
                if has_token(v, 'close'):
                    close = True
        is_head = req.method == 'HEAD'
        body_allowed = status >= 200 and status not in (204, 304)
        v11 = req.proto >= (1, 1)
        reqconn = req.header('Connection')
        wants10ka = (not v11) and has_token(reqconn, 'keep-alive')
        wants_close = (v11 and has_token(reqconn, 'close')) or (not v11 and not wants10ka)
        if req.expect_continue and req.body_state != 'done':
            close = True
        # decide framing
        cl = None
        chunked = False
        if not body_allowed:
            pass
        elif is_head:
            if 0 < len(body) <= BUFFER_BEFORE_CHUNKING:
                cl = len(body)
        elif len(body) <= BUFFER_BEFORE_CHUNKING:
            cl = len(body)
        elif v11:
            chunked = True
        else:
            close = True
        extra_conn = None
        if wants10ka and (is_head or cl is not None or not body_allowed):
            if conn_hdr is None:
                extra_conn = 'keep-alive'
        elif (not v11) or wants_close:
            close = True
        # discard what the handler left of the request body (Go does this first)
        if req.content_length != 0 and not close and req.body_state == 'open':
            data, err = self.read_body(req, MAX_POST_HANDLER_READ + 1)
            if err is not None:
                close = True
            elif req.body_state != 'done':
                close = True
        elif req.body_state == 'error':
            close = True
        if close and v11 and not has_token(conn_hdr or '', 'close'):
            hdrs = [(k, v) for k, v in hdrs if k != 'Connection']
            extra_conn = 'close'
        out = ['%s %d %s\r\n' % ('HTTP/1.1' if v11 else 'HTTP/1.0', status, REASONS.get(status, 'Status'))]
        for k, v in sorted(hdrs, key=lambda kv: kv[0]):
            out.append('%s: %s\r\n' % (k, v))
        out.append('Date: %s\r\n' % http_date())
        if cl is not None:
            out.append('Content-Length: %d\r\n' % cl)
        if extra_conn:
            out.append('Connection: %s\r\n' % extra_conn)
        if chunked and not is_head:
            out.append('Transfer-Encoding: chunked\r\n')
        out.append('\r\n')
        data = ''.join(out).encode('latin-1', 'replace')
        if body_allowed and not is_head:
            if chunked:
                data += b'%x\r\n' % len(body) + body + b'\r\n0\r\n\r\n'
            else:
                data += body
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return not close

    def _run_stream(self, req, st):
        srv = self.server
        sock = self.sock
        self.state = 'stream'
        self.stream = st
        srv.track_stream(self, st)
        chunked = req.proto >= (1, 1)
        head = ('HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Request-Id: %s\r\nDate: %s\r\n%s\r\n' % (
            CT_NDJSON, req.req_id, http_date(),
            'Transfer-Encoding: chunked\r\n' if chunked else '')).encode('latin-1', 'replace')
        headers_sent = False
        client_gone = False
        if VERBOSE:
            log('%s %s -> stream (topic=%s group=%s owner=%s lease=%dms)' % (
                req.method, req.target.decode('latin-1'), st.topic, st.group, st.owner, st.lease_ns // 1000000))
        try:
            poller = select.poll()
            poller.register(st.rfd, select.POLLIN)
            poller.register(sock, select.POLLIN)
            sock.settimeout(None)
            if self.buf:
                poller.unregister(sock)
            while not st.closed and not srv.stopping:
                st.signaled = False
                try:
                    while os.read(st.rfd, 4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
                if st.q:
                    parts = []
                    if not headers_sent:
                        parts.append(head)
                        head = None
                    while st.q:
                        line = st.q.popleft()
                        if chunked:
                            parts.append(b'%x\r\n' % len(line) + line + b'\r\n')
                        else:
                            parts.append(line)
                    sock.sendall(b''.join(parts))
                    headers_sent = True
                    continue
                events = poller.poll()
                for fd, ev in events:
                    if fd == st.rfd:
                        continue
                    try:
                        d = sock.recv(4096)
                    except OSError:
                        d = b''
                    if not d:
                        client_gone = True
                    else:
                        poller.unregister(sock)
                if client_gone:
                    break
        except OSError:
            pass
        finally:
            srv.app.broker.unregister(st)
            srv.untrack_stream(self, st)
            if client_gone and not srv.stopping and not st.closed:
                try:
                    if headers_sent:
                        if chunked:
                            sock.sendall(b'0\r\n\r\n')
                    else:
                        sock.sendall(('HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Request-Id: %s\r\nDate: %s\r\n'
                                      'Content-Length: 0\r\n\r\n' % (CT_NDJSON, req.req_id, http_date())
                                      ).encode('latin-1', 'replace'))
                except OSError:
                    pass
            st.close_fds()
            if VERBOSE:
                log('stream closed (topic=%s group=%s owner=%s%s)' % (
                    st.topic, st.group, st.owner, ', client gone' if client_gone else ''))


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


class Server:
    def __init__(self, host, port, app):
        self.app = app
        self.stopping = False
        self.conns = set()
        self.streams = {}
        self.cmu = threading.Lock()
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]

    def forget(self, conn):
        with self.cmu:
            self.conns.discard(conn)

    def track_stream(self, conn, st):
        with self.cmu:
            self.streams[conn] = st

    def untrack_stream(self, conn, st):
        with self.cmu:
            self.streams.pop(conn, None)

    def accept_loop(self):
        while not self.stopping:
            try:
                s, addr = self.lsock.accept()
            except OSError as e:
                if self.stopping:
                    return
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.05)
                continue
            c = Conn(self, s, addr)
            with self.cmu:
                if self.stopping:
                    s.close()
                    return
                self.conns.add(c)
            t = threading.Thread(target=c.serve, daemon=True)
            t.start()

    def shutdown(self):
        self.stopping = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.cmu:
            conns = list(self.conns)
            streams = dict(self.streams)
        # end consume streams (the client sees EOF, like a broker exit)
        for c, st in streams.items():
            st.closed = True
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for c in conns:
            if c.state == 'idle':
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        # give in-progress requests a moment to finish
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            with self.cmu:
                busy = [c for c in self.conns if c.state == 'active']
            if not busy:
                break
            time.sleep(0.01)


def main(argv=None):
    global VERBOSE
    ap = argparse.ArgumentParser(description='DriftQ v1 loopback test broker')
    ap.add_argument('--host', default='127.0.0.1')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--data-dir', default=None, help='keep a write-ahead log in DIR/driftq.wal')
    ap.add_argument('--fsync', action='store_true', help='fsync the WAL after every record')
    ap.add_argument('--verbose', action='store_true', help='log requests to stderr')
    args = ap.parse_args(argv)
    VERBOSE = args.verbose
    threading.stack_size(1 << 20)

    wal = None
    broker = Broker()
    if args.data_dir:
        os.makedirs(args.data_dir, exist_ok=True)
        path = os.path.join(args.data_dir, 'driftq.wal')
        broker.replay(path)
        wal = WAL(path, args.fsync)
        broker.wal = wal

    app = App(broker)
    try:
        srv = Server(args.host, args.port, app)
    except OSError as e:
        log('listen failed: %s' % e)
        return 1

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    except (AttributeError, ValueError):
        pass

    host = args.host
    if ':' in host:
        host = '[' + host + ']'
    sys.stdout.write('DRIFTQ_URL=http://%s:%d\n' % (host, srv.port))
    sys.stdout.flush()
    if VERBOSE:
        log('listening on %s:%d (wal=%s)' % (host, srv.port, wal.path if wal else 'off'))

    threading.Thread(target=srv.accept_loop, daemon=True).start()

    def ticker():
        while not stop.wait(REDELIVER_TICK):
            try:
                broker.tick()
            except Exception as e:  # pragma: no cover - defensive
                log('redelivery error: %r' % (e,))
    threading.Thread(target=ticker, daemon=True).start()

    while not stop.wait(1.0):
        pass
    srv.shutdown()
    broker.mu.acquire(timeout=0.3)   # let an in-progress WAL write finish
    if wal is not None:
        wal.close()
    if VERBOSE:
        log('stopped')
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == '__main__':
    sys.exit(main())
