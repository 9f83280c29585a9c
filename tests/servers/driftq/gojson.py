"""Go encoding/json: what the broker writes, and what it says about what it reads."""

import json
import json.scanner
import re

from .gostrings import go_parse_int, go_quote, s2b
from .gotime import GoTimeError, go_time_parse_rfc3339


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
