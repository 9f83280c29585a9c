"""Filters: which points a filter selects."""

import datetime
import math
import re

from .errors import unsupported, violation
from .payload import payload_values
from .values import id_key


# --------------------------------------------------------------------------
# Filters (segment/src/payload_storage/query_checker.rs, condition_checker.rs)

def _as_list(v):
    if v is None:
        return None
    if type(v) is list:
        return v
    return [v]


def _is_int(v):
    return type(v) is int and -2 ** 63 <= v < 2 ** 63  # serde_json as_i64


def _is_number(v):
    return type(v) is int or type(v) is float


_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?$")


def parse_datetime(s):
    """DateTimePayloadType::from_str (segment/src/types.rs): RFC 3339, 'YYYY-MM-DD HH:MM[:SS[.f]]'
    with or without a zone, or a bare date -> UTC timestamp in seconds (None if invalid)."""
    if type(s) is not str:
        return None
    m = _DATETIME_RE.match(s)
    if m is None:
        return None
    y, mo, d, hh, mi, ss, frac, z, sign, oh, om = m.groups()
    if hh is None and (z or sign):
        return None
    try:
        tz = datetime.timezone.utc
        if sign:
            off = datetime.timedelta(hours=int(oh), minutes=int(om))
            tz = datetime.timezone(off if sign == "+" else -off)
        dt = datetime.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0),
                               int((frac or "0")[:6].ljust(6, "0")), tzinfo=tz)
    except ValueError:
        return None
    return dt.timestamp()


def _range_check(r, x):
    lt, gt, lte, gte = r.get("lt"), r.get("gt"), r.get("lte"), r.get("gte")
    return ((lt is None or x < lt) and (gt is None or x > gt)
            and (lte is None or x <= lte) and (gte is None or x >= gte))


def _is_datetime_range(r):
    return any(type(r.get(k)) is str for k in ("lt", "gt", "lte", "gte"))


_TOKEN_RE = re.compile(r"\w+", re.UNICODE)
EARTH_RADIUS_M = 6371.0 * 1000.0


def _haversine(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dl = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class FilterContext:
    def __init__(self, coll):
        self.coll = coll


def _match_check(m, v, ctx, key):
    if "value" in m:
        want = m["value"]
        if type(want) is bool:
            return type(v) is bool and v == want
        if type(want) is str:
            return type(v) is str and v == want
        return _is_int(v) and v == want
    if "any" in m:
        lst = m["any"]
        if lst and type(lst[0]) is int:
            return _is_int(v) and v in lst
        return type(v) is str and v in lst
    if "except" in m:
        lst = m["except"]
        ints = bool(lst) and type(lst[0]) is int
        if type(v) is str and not ints:
            return v not in lst
        if type(v) in (int, float) and ints:
            return (v not in lst) if _is_int(v) else True
        if v is None:
            return False
        return True
    if "text" in m or "phrase" in m:
        text = m.get("text", m.get("phrase"))
        if type(v) is not str:
            return False
        idx = ctx.coll.indexes.get(key) if ctx is not None else None
        if idx is not None and idx[0] == "text":
            doc = set(t.lower() for t in _TOKEN_RE.findall(v))
            return all(t.lower() in doc for t in _TOKEN_RE.findall(text))
        return text in v
    if "text_any" in m:
        if type(v) is not str:
            return False
        return any(tok in v for tok in m["text_any"].split())
    if "prefix" in m:
        return type(v) is str and v.startswith(m["prefix"])
    return False


def _field_check_match(c, v, ctx):
    key = c["key"]
    m = c.get("match")
    if m is not None and _match_check(m, v, ctx, key):
        return True
    r = c.get("range")
    if r is not None:
        if _is_datetime_range(r):
            ts = parse_datetime(v)
            if ts is not None:
                bounds = {k: parse_datetime(r[k]) for k in ("lt", "gt", "lte", "gte") if r.get(k) is not None}
                if _range_check(bounds, ts):
                    return True
        elif _is_number(v) and _range_check(r, v):
            return True
    gr = c.get("geo_radius")
    if gr is not None and type(v) is dict and _is_number(v.get("lat")) and _is_number(v.get("lon")):
        cen = gr["center"]
        if _haversine(cen["lat"], cen["lon"], v["lat"], v["lon"]) < gr["radius"]:
            return True
    gb = c.get("geo_bounding_box")
    if gb is not None and type(v) is dict and _is_number(v.get("lat")) and _is_number(v.get("lon")):
        tl, br = gb["top_left"], gb["bottom_right"]
        lat, lon = v["lat"], v["lon"]
        if br["lat"] <= lat <= tl["lat"]:
            if tl["lon"] <= br["lon"]:
                if tl["lon"] <= lon <= br["lon"]:
                    return True
            elif lon >= tl["lon"] or lon <= br["lon"]:
                return True
    vc = c.get("values_count")
    if vc is not None and _values_count_check(vc, v):
        return True
    ie = c.get("is_empty")
    if ie is not None and _cond_is_empty(ie, v):
        return True
    inull = c.get("is_null")
    if inull is not None and _cond_is_null(inull, v):
        return True
    return False


def _values_count_check(vc, v):
    if v is None:
        n = 0
    elif type(v) is list:
        n = len(v)
    else:
        n = 1
    return _range_check(vc, n)


def _cond_is_empty(flag, v):
    if v is None:
        return flag
    if type(v) is list:
        return (len(v) == 0) == flag
    return not flag


def _cond_is_null(flag, v):
    if v is None:
        return flag
    if type(v) is list:
        return any(x is None for x in v) == flag
    return not flag


def _field_condition(c, payload, ctx):
    values = payload_values(payload, c["key"])
    if not values:
        # FieldCondition::check_empty
        if c.get("values_count") is not None:
            return _range_check(c["values_count"], 0)
        if c.get("is_empty") is not None:
            return bool(c["is_empty"])
        if c.get("is_null") is not None:
            return not c["is_null"]
        return False
    for v in values:
        if c.get("values_count") is not None:
            ok = _values_count_check(c["values_count"], v)
        elif c.get("is_empty") is not None:
            ok = _cond_is_empty(c["is_empty"], v)
        elif c.get("is_null") is not None:
            ok = _cond_is_null(c["is_null"], v)
        elif type(v) is list:
            ok = any(_field_check_match(c, x, ctx) for x in v)
        else:
            ok = _field_check_match(c, v, ctx)
        if ok:
            return True
    return False


def check_condition(c, point, payload, ctx):
    if "key" in c:
        return _field_condition(c, payload, ctx)
    if "is_empty" in c:
        vals = payload_values(payload, c["is_empty"]["key"])
        return all(v is None or (type(v) is list and not v) for v in vals)
    if "is_null" in c:
        vals = payload_values(payload, c["is_null"]["key"])
        return any(v is None for v in vals)
    if "has_id" in c:
        if point is None:
            return False
        return point.key in ctx_has_id_set(c)
    if "has_vector" in c:
        if point is None:
            return False
        return c["has_vector"] in point.vectors
    if "nested" in c:
        nested = c["nested"]
        f = nested["filter"]
        for arr in payload_values(payload, nested["key"]):
            elems = arr if type(arr) is list else [arr]
            for el in elems:
                if type(el) is dict and check_filter(f, None, el, ctx):
                    return True
        return False
    if "slice" in c:
        raise unsupported("the `slice` condition")
    return check_filter(c, point, payload, ctx)


def ctx_has_id_set(c):
    s = c.get("__ids")
    if s is None:
        s = frozenset(id_key(x) for x in c["has_id"])
        c["__ids"] = s
    return s


def check_filter(f, point, payload, ctx):
    if f is None:
        return True
    should = _as_list(f.get("should"))
    if should is not None and not any(check_condition(c, point, payload, ctx) for c in should):
        return False
    ms = f.get("min_should")
    if ms is not None:
        n = 0
        need = ms["min_count"]
        for c in ms["conditions"]:
            if check_condition(c, point, payload, ctx):
                n += 1
                if n >= need:
                    break
        if n < need:
            return False
    must = _as_list(f.get("must"))
    if must is not None and not all(check_condition(c, point, payload, ctx) for c in must):
        return False
    must_not = _as_list(f.get("must_not"))
    if must_not is not None and any(check_condition(c, point, payload, ctx) for c in must_not):
        return False
    return True


def validate_filter(f, where="filter"):
    """Checks Qdrant runs after deserialising (validator crate): 422."""
    if f is None:
        return

    def cond(c, path):
        if "key" in c:
            if not any(c.get(k) is not None for k in ("match", "range", "geo_bounding_box", "geo_radius",
                                                      "geo_polygon", "values_count", "is_empty", "is_null")):
                raise violation(422, "Validation error in JSON body: [%s: At least one field condition "
                                     "must be specified]" % path)
            if c.get("geo_polygon") is not None:
                raise unsupported("the `geo_polygon` condition")
        elif "nested" in c:
            validate_filter(c["nested"]["filter"], path + ".nested.filter")
        elif not any(k in c for k in ("is_empty", "is_null", "has_id", "has_vector", "slice")):
            validate_filter(c, path)

    for k in ("should", "must", "must_not"):
        lst = _as_list(f.get(k))
        for i, c in enumerate(lst or ()):
            cond(c, "%s.%s[%d]" % (where, k, i))
    ms = f.get("min_should")
    if ms is not None:
        for i, c in enumerate(ms["conditions"]):
            cond(c, "%s.min_should.conditions[%d]" % (where, i))
