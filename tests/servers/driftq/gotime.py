"""Go time: Parse(time.RFC3339, s) and Format(time.RFC3339Nano)."""

import time

from .gostrings import wrap64


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
