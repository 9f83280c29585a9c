"""The values on the wire: float32 numbers and distances, JSON text, point ids."""

import itertools
import json
import math
import operator
import re
import struct
import uuid as uuidlib
from array import array


# --------------------------------------------------------------------------
# float32 helpers

_F32 = struct.Struct("<f")


def f32(x):
    """Round a Python float to the nearest float32 value."""
    try:
        return _F32.unpack(_F32.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


def f32_json(v):
    """Float whose repr is the shortest decimal that round-trips as float32
    (what serde_json/ryu prints for an f32)."""
    if v != v or v in (math.inf, -math.inf):
        return None
    if v == 0.0:
        return v
    lo, hi = 1, 9
    while lo < hi:
        mid = (lo + hi) // 2
        if f32(float("%.*g" % (mid, v))) == v:
            hi = mid
        else:
            lo = mid + 1
    return float("%.*g" % (lo, v))


def vector_json(arr):
    return [f32_json(x) for x in arr]


def cosine_preprocess(vec):
    """segment/src/spaces/simple.rs: cosine_preprocess (float32 arithmetic)."""
    length = f32(sum(map(operator.mul, vec, vec)))
    if length < 1.1920929e-07 or abs(length - 1.0) <= 1.0e-6:
        return vec
    length = f32(math.sqrt(length))
    return array("f", map(operator.truediv, vec, itertools.repeat(length, len(vec))))


DISTANCES = ("Cosine", "Euclid", "Dot", "Manhattan")


def raw_score(distance, q, v):
    if distance == "Cosine" or distance == "Dot":
        return f32(sum(map(operator.mul, q, v)))
    if distance == "Euclid":
        d = list(map(operator.sub, q, v))
        # similarity = -sum(d^2) (f32); postprocess = sqrt(|score|)
        return f32(math.sqrt(f32(sum(map(operator.mul, d, d)))))
    # Manhattan: similarity = -sum|d|; postprocess = |score|
    return f32(sum(map(abs, map(operator.sub, q, v))))


def larger_is_better(distance):
    return distance in ("Cosine", "Dot")


# --------------------------------------------------------------------------
# JSON

def _reject_constant(name):
    raise ValueError("invalid number %s" % name)


def json_loads(data):
    return json.loads(data, parse_constant=_reject_constant)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=True)


def json_dumps(obj):
    return _ENCODER.encode(obj).encode("utf-8")


# --------------------------------------------------------------------------
# Point ids

_UUID_RE = re.compile(
    r"^(?:[0-9a-fA-F]{32}"
    r"|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\}"
    r"|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")


def id_key(raw):
    """JSON point id (already validated) -> internal key: int or uuid.UUID."""
    if type(raw) is int:
        return raw
    return uuidlib.UUID(raw)


def id_out(key):
    return key if type(key) is int else str(key)


def id_sort_key(key):
    # ExtendedPointId's derived Ord: NumId < Uuid, uuids by bytes.
    return (0, key) if type(key) is int else (1, key.int)
