"""Go net/url: unescaping, url.ParseQuery, and the path cleaning of http.ServeMux."""

import re

from .gostrings import b2s


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
