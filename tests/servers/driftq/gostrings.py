"""Go strings (byte strings, kept as Python str), strconv and int64 arithmetic."""

import codecs
import re


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
# Go int64 arithmetic
# ---------------------------------------------------------------------------


def wrap64(x):
    """Go int64 arithmetic wrap-around."""
    x &= 0xFFFFFFFFFFFFFFFF
    return x - (1 << 64) if x & 0x8000000000000000 else x
