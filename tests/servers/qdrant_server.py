#!/usr/bin/env python3
"""Loopback stand-in for the Qdrant 1.19 REST API, for the libqdrantc test suite.

Usage:
    /usr/bin/python3 tests/servers/qdrant_server.py [--host 127.0.0.1] [--port 0]
        [--api-key KEY] [--version 1.19.0] [--spec PATH] [--verbose]

Prints exactly one line ``QDRANT_URL=http://HOST:PORT`` on stdout and serves until
SIGTERM/SIGINT.  Everything else goes to stderr (and only with --verbose, or on
internal errors).

Every request is validated against the operation it matches in Qdrant's OpenAPI
document (path parameters, query parameters, JSON body).  A request the real
server would refuse at its extractor/validator layer is answered with Qdrant's
status code (400 for deserialisation errors, 422 for validation errors), the
standard error envelope, and a message starting ``OpenAPI validation failed:``;
a line is also appended to the file named by $QDRANT_VIOLATIONS_FILE.

State is kept in memory and searched by brute force.  The behaviour (messages,
status codes, defaults, ordering, score post-processing) follows the Qdrant
1.19.0 sources (qdrant/qdrant, tag v1.19.0); see the comments next to each
piece.  Standard library + jsonschema only.
"""

import argparse
import bisect
import datetime
import heapq
import itertools
import json
import math
import operator
import os
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import uuid as uuidlib
from array import array
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, unquote

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

# Commit of the v1.19.0 release ("Bump version to 1.19.0").
RELEASE_COMMIT = "74f3e85b9473c62560006c043e13737ce6b48412"

VERBOSE = False


def log(msg):
    if VERBOSE:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


# --------------------------------------------------------------------------
# Errors

class ApiError(Exception):
    """An error answered with Qdrant's error envelope."""

    def __init__(self, status, message, violation=False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.violation = violation


def not_found(desc):
    return ApiError(404, "Not found: " + desc)


def bad_input(desc):  # StorageError::BadInput -> 400
    return ApiError(400, "Wrong input: " + desc)


def bad_request(desc):  # StorageError::BadRequest -> 400
    return ApiError(400, "Bad request: " + desc)


def already_exists(desc):  # StorageError::AlreadyExists -> 409
    return ApiError(409, "Wrong input: " + desc)


def unsupported(what):
    return ApiError(400, "Bad request: %s is not supported by the qdrant test server" % what)


def violation(status, detail):
    return ApiError(status, "OpenAPI validation failed: " + detail, violation=True)


def collection_missing(name):
    return not_found("Collection `%s` doesn't exist!" % name)


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


# --------------------------------------------------------------------------
# OpenAPI -> JSON Schema (draft 4) translation and validators

_ANNOTATIONS = frozenset(("description", "example", "examples", "deprecated", "default",
                          "title", "externalDocs", "readOnly", "writeOnly", "xml"))
_INT_FORMATS = {
    "uint": (0, 2 ** 64 - 1), "uint64": (0, 2 ** 64 - 1), "uint32": (0, 2 ** 32 - 1),
    "uint16": (0, 2 ** 16 - 1), "uint8": (0, 255),
    "int64": (-2 ** 63, 2 ** 63 - 1), "int32": (-2 ** 31, 2 ** 31 - 1),
}
_NUMBER_TYPES = frozenset((int, float))


def _kw_min(validator, lo, instance, schema):
    if type(instance) is int and instance < lo:
        yield ValidationError("%r is less than the minimum of %r (out of range for %s)"
                              % (instance, lo, schema.get("x-format", "integer")))


def _kw_max(validator, hi, instance, schema):
    if type(instance) is int and instance > hi:
        yield ValidationError("%r is greater than the maximum of %r (out of range for %s)"
                              % (instance, hi, schema.get("x-format", "integer")))


def _kw_uuid(validator, value, instance, schema):
    if type(instance) is str and not _UUID_RE.match(instance):
        yield ValidationError("%r is not a valid UUID" % (instance,))


def _kw_datetime(validator, value, instance, schema):
    if type(instance) is str and parse_datetime(instance) is None:
        yield ValidationError("%r is not a valid date-time" % (instance,))


def _kw_numbers(validator, value, instance, schema):
    # Fast path for "array of float": one C-level pass over the element types.
    if type(instance) is list and not set(map(type, instance)) <= _NUMBER_TYPES:
        for i, x in enumerate(instance):
            if type(x) not in _NUMBER_TYPES:
                yield ValidationError("%r is not of type 'number'" % (x,), path=[i])
                return


QValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator,
    {"x-min": _kw_min, "x-max": _kw_max, "x-uuid": _kw_uuid, "x-numbers": _kw_numbers,
     "x-datetime": _kw_datetime},
)

_BASE_EVOLVE = QValidator.evolve


def _fast_evolve(self, **changes):
    # Validator.evolve (jsonschema 4.x) re-resolves the validator class and walks the attrs
    # fields on every descend; ours never changes class, resolver or format checker.
    if len(changes) != 1 or "schema" not in changes:
        return _BASE_EVOLVE(self, **changes)
    new = object.__new__(self.__class__)
    new.__dict__.update(self.__dict__)
    new.schema = changes["schema"]
    return new


_DRAFT4_TYPES = {
    "object": lambda i: type(i) is dict,
    "array": lambda i: type(i) is list,
    "string": lambda i: type(i) is str,
    "integer": lambda i: type(i) is int,
    "number": lambda i: type(i) is int or type(i) is float,
    "boolean": lambda i: type(i) is bool,
    "null": lambda i: i is None,
}
_BASE_IS_TYPE = QValidator.is_type


def _fast_is_type(self, instance, type_name):
    # Same answers as draft 4's type checker for what json.loads produces (bool is not
    # an integer, 1.0 is not an integer), without the pyrsistent lookups.
    f = _DRAFT4_TYPES.get(type_name)
    if f is None:
        return _BASE_IS_TYPE(self, instance, type_name)
    return f(instance)


QValidator.is_type = _fast_is_type


def _install_fast_evolve():
    try:
        v = QValidator({"type": "object"})
        QValidator.evolve = _fast_evolve
        w = v.evolve(schema={"type": "string"})
        if w.schema != {"type": "string"} or w.resolver is not v.resolver or not w.is_valid("x"):
            raise TypeError("unexpected validator layout")
    except Exception:
        QValidator.evolve = _BASE_EVOLVE


_install_fast_evolve()

# Errors from these keywords come from Qdrant's `validator` crate (HTTP 422);
# everything else is a serde deserialisation error (HTTP 400).
_VALIDATE_KEYWORDS = frozenset(("minimum", "maximum", "minLength", "maxLength", "minItems",
                                "maxItems", "exclusiveMinimum", "exclusiveMaximum"))


class SchemaTranslator:
    """Turns OpenAPI 3.0 schemas into draft-4 JSON Schema.

    * ``nullable: true`` -> ``anyOf: [schema, {type: null}]``; a bare
      ``{nullable: true}`` (Qdrant's way to spell Option<T>) -> ``{type: null}``;
    * integer formats -> range keywords; ``uuid`` -> a check matching
      Rust's ``Uuid::parse_str``; float/double/date-time formats are not checked;
    * ``$ref`` are inlined, except recursive ones (Filter -> Condition -> Filter)
      which stay as refs into a translated copy of ``components``;
    * ``array of number`` uses a fast C-level check.
    """

    def __init__(self, raw_schemas):
        self.raw = raw_schemas
        self.memo = {}
        self.root = {"components": {"schemas": {}}}
        self.lock = threading.Lock()

    def translate(self, schema):
        with self.lock:
            out = self._tr(schema, ())
            self.root["components"]["schemas"].update(self.memo)
            return out

    def _tr(self, s, stack):
        if not isinstance(s, dict):
            return s
        ref = s.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[1]
            if name in stack:
                return {"$ref": "#/components/schemas/" + name}
            r = self.memo.get(name)
            if r is None:
                r = self._tr(self.raw[name], stack + (name,))
                self.memo[name] = r
            return r
        out = {}
        for k, v in s.items():
            if k in _ANNOTATIONS or k == "nullable":
                continue
            if k == "properties":
                out[k] = {pn: self._tr(ps, stack) for pn, ps in v.items()}
            elif k in ("items", "additionalProperties", "not"):
                out[k] = self._tr(v, stack)
            elif k in ("anyOf", "oneOf", "allOf"):
                out[k] = [self._tr(x, stack) for x in v]
            elif k == "format":
                if v in _INT_FORMATS:
                    out["x-min"], out["x-max"] = _INT_FORMATS[v]
                    out["x-format"] = v
                elif v == "uuid":
                    out["x-uuid"] = True
                elif v == "date-time":
                    out["x-datetime"] = True
            else:
                out[k] = v
        items = out.get("items")
        if out.get("type") == "array" and isinstance(items, dict) and items == {"type": "number"}:
            del out["items"]
            out["x-numbers"] = True
        if s.get("nullable") is True:
            if not out:
                return {"type": "null"}
            return self._or_null(out)
        alts = out.get("anyOf")
        if alts is not None and len(out) == 1 and len(alts) == 2 and alts[1] == {"type": "null"}:
            return self._or_null(alts[0])
        return out

    @staticmethod
    def _or_null(schema):
        # Option<T>: fold null into the type list when that is equivalent (cheaper than anyOf).
        t = schema.get("type")
        if isinstance(t, str) and not any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref", "enum", "not")):
            merged = dict(schema)
            merged["type"] = [t, "null"]
            return merged
        return {"anyOf": [schema, {"type": "null"}]}

    def validator(self, schema):
        translated = self.translate(schema)
        resolver = jsonschema.RefResolver(base_uri="", referrer=self.root)
        return QValidator(translated, resolver=resolver)


def _error_path(err, prefix=None):
    path = prefix or ""
    for p in err.absolute_path:
        path += "[%d]" % p if isinstance(p, int) else ("." + p if path else p)
    return path


def _range_message(err):
    """The wording of Qdrant's validation::describe_error for `range` errors."""
    schema = err.schema if isinstance(err.schema, dict) else {}
    lo, hi = schema.get("minimum"), schema.get("maximum")
    num = lambda x: json.dumps(x)
    if lo is not None and hi is not None:
        msg = "must be from %s to %s" % (num(lo), num(hi))
    elif lo is not None:
        msg = "must be %s or larger" % num(lo)
    else:
        msg = "must be %s or smaller" % num(hi)
    return "value %s invalid, %s" % (num(err.instance), msg)


def check_schema(validator, instance, where, prefix=None):
    """Raise a violation if instance does not match; returns None.

    where: "JSON body" | "query parameters" | "path parameters"; prefix: parameter name.
    Wording follows src/actix/mod.rs validation_error_handler: serde errors are
    "Format error in JSON body: ..." / "Deserialize error in ...: ..." (400), validator
    crate errors are "Validation error in ...: [field: message]" (422).
    """
    first = next(validator.iter_errors(instance), None)
    if first is None:
        return
    err = best_match(validator.iter_errors(instance)) or first
    # Inside anyOf (untagged enums) report the failure that got furthest into the instance.
    leaf = err
    while leaf.context:
        leaf = max(leaf.context, key=lambda e: (len(e.absolute_path), e.validator not in ("anyOf", "oneOf", "type")))
    if len(leaf.absolute_path) > len(err.absolute_path):
        err = leaf
    kind = err.validator if not err.context else leaf.validator
    path = _error_path(err, prefix)
    if kind in _VALIDATE_KEYWORDS:
        msg = _range_message(err) if kind in ("minimum", "maximum") else err.message
        raise violation(422, "Validation error in %s: [%s: %s]" % (where, path or "body", msg))
    msg = err.message
    if len(msg) > 400:
        msg = msg[:400] + "..."
    label = "Format error in" if where == "JSON body" else "Deserialize error in"
    raise violation(400, "%s %s: %s%s" % (label, where, (path + ": ") if path else "", msg))


# Legacy search endpoints: still routed by Qdrant 1.19 (src/actix/api/search_api.rs)
# but removed from its OpenAPI document (#9982).  Shape from the 1.18 document.
_LEGACY_NAMED_VECTOR_STRUCT = {"anyOf": [
    {"type": "array", "items": {"type": "number", "format": "float"}},
    {"type": "object", "required": ["name", "vector"], "properties": {
        "name": {"type": "string"},
        "vector": {"type": "array", "items": {"type": "number", "format": "float"}}}},
    {"type": "object", "required": ["name", "vector"], "properties": {
        "name": {"type": "string"},
        "vector": {"$ref": "#/components/schemas/SparseVector"}}},
]}
_LEGACY_SEARCH_REQUEST = {
    "type": "object", "required": ["limit", "vector"], "properties": {
        "shard_key": {"anyOf": [{"$ref": "#/components/schemas/ShardKeySelector"}, {"nullable": True}]},
        "vector": _LEGACY_NAMED_VECTOR_STRUCT,
        "filter": {"anyOf": [{"$ref": "#/components/schemas/Filter"}, {"nullable": True}]},
        "params": {"anyOf": [{"$ref": "#/components/schemas/SearchParams"}, {"nullable": True}]},
        "limit": {"type": "integer", "format": "uint", "minimum": 1},
        "offset": {"type": "integer", "format": "uint", "minimum": 0, "nullable": True},
        "with_payload": {"anyOf": [{"$ref": "#/components/schemas/WithPayloadInterface"}, {"nullable": True}]},
        "with_vector": {"anyOf": [{"$ref": "#/components/schemas/WithVector"}, {"nullable": True}]},
        "score_threshold": {"type": "number", "format": "float", "nullable": True},
    }}
_READ_PARAMS = [
    {"name": "collection_name", "in": "path", "required": True, "schema": {"type": "string"}},
    {"name": "consistency", "in": "query", "required": False,
     "schema": {"$ref": "#/components/schemas/ReadConsistency"}},
    {"name": "timeout", "in": "query", "required": False, "schema": {"type": "integer", "minimum": 1}},
]
LEGACY_OPERATIONS = [
    ("post", "/collections/{collection_name}/points/search", {
        "operationId": "search_points", "parameters": _READ_PARAMS,
        "requestBody": {"content": {"application/json": {"schema": _LEGACY_SEARCH_REQUEST}}}}),
    ("post", "/collections/{collection_name}/points/search/batch", {
        "operationId": "search_batch_points", "parameters": _READ_PARAMS,
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "required": ["searches"], "properties": {
                "searches": {"type": "array", "items": _LEGACY_SEARCH_REQUEST}}}}}}}),
]

# Operations introduced after 1.0; absent (404) when --version is older.
MIN_VERSION = {
    "query_points": (1, 10, 0), "query_batch_points": (1, 10, 0),
    "query_points_groups": (1, 11, 0), "facet": (1, 12, 0),
    "search_matrix_pairs": (1, 12, 0), "search_matrix_offsets": (1, 12, 0),
    "collection_exists": (1, 8, 0), "get_optimizations": (1, 17, 0),
    "create_vector_name": (1, 19, 0), "delete_vector_name": (1, 19, 0),
    "get_quotas": (1, 19, 0), "update_quotas": (1, 19, 0),
}

_INT_RE = re.compile(r"^-?[0-9]+$")
_FLOAT_RE = re.compile(r"^-?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$")


def _string_candidates(s):
    """Typed readings of a query/path string, most specific first."""
    out = []
    if s == "true":
        out.append(True)
    elif s == "false":
        out.append(False)
    if _INT_RE.match(s):
        out.append(int(s))
    elif _FLOAT_RE.match(s):
        out.append(float(s))
    out.append(s)
    return out


class Route:
    def __init__(self, spec, method, template, op):
        self.spec = spec
        self.method = method.upper()
        self.template = template
        self.op = op
        self.op_id = op.get("operationId", template)
        parts = template.strip("/").split("/") if template != "/" else []
        rx = ""
        self.literals = 0
        for part in parts:
            if part.startswith("{") and part.endswith("}"):
                rx += "/(?P<%s>[^/]+)" % part[1:-1]
            else:
                rx += "/" + re.escape(part)
                self.literals += 1
        self.regex = re.compile("^" + (rx or "/") + "$")
        self.segments = len(parts)
        self._compiled = None
        self._lock = threading.Lock()

    def compiled(self):
        c = self._compiled
        if c is None:
            with self._lock:
                if self._compiled is None:
                    tr = self.spec.translator
                    path_v, query_v = {}, {}
                    for prm in self.op.get("parameters", []):
                        v = tr.validator(prm.get("schema", {}))
                        if prm["in"] == "path":
                            path_v[prm["name"]] = v
                        elif prm["in"] == "query":
                            query_v[prm["name"]] = (v, prm.get("required", False))
                    body_v = None
                    rb = self.op.get("requestBody")
                    if rb is not None:
                        content = rb.get("content", {})
                        js = (content.get("application/json") or {}).get("schema")
                        if js is not None:
                            body_v = tr.validator(js)
                    self._compiled = (path_v, query_v, body_v)
                c = self._compiled
        return c

    def has_body(self):
        return "requestBody" in self.op

    def validate(self, path_params, query_string, headers, body):
        path_v, query_v, body_v = self.compiled()
        # Path parameters
        pvals = {}
        for name, raw in path_params.items():
            v = path_v.get(name)
            if v is None:
                pvals[name] = raw
                continue
            for cand in _string_candidates(raw):
                if v.is_valid(cand):
                    pvals[name] = cand
                    break
            else:
                if name == "id":
                    # src/actix/api/retrieve_api.rs
                    raise violation(400, 'Wrong input: Can not recognize "%s" as point id' % raw)
                check_schema(v, _string_candidates(raw)[0], "path parameters", name)
        # Query parameters
        qvals = {}
        for k, raw in parse_qsl(query_string, keep_blank_values=True):
            spec = query_v.get(k)
            if spec is None:
                raise violation(400, "Deserialize error in query parameters: unknown query parameter `%s`"
                                " (not in the OpenAPI operation %s)" % (k, self.op_id))
            v = spec[0]
            for cand in _string_candidates(raw):
                if v.is_valid(cand):
                    qvals[k] = cand
                    break
            else:
                check_schema(v, _string_candidates(raw)[0], "query parameters", k)
        for k, (v, required) in query_v.items():
            if required and k not in qvals:
                raise violation(400, "Deserialize error in query parameters: missing field `%s`" % k)
        # JSON body
        obj = None
        if self.has_body():
            ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
            if not (ctype == "application/json" or ctype.endswith("+json")):
                raise violation(400, "Content type error (expected application/json, got %r)"
                                % (headers.get("Content-Type"),))
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as e:
                raise violation(400, "Format error in JSON body: invalid UTF-8: %s" % e)
            if not text.strip():
                raise violation(400, "Format error in JSON body: EOF while parsing a value at line 1 column 0")
            try:
                obj = json_loads(text)
            except ValueError as e:
                raise violation(400, "Format error in JSON body: %s" % e)
            if body_v is not None:
                check_schema(body_v, obj, "JSON body")
        return pvals, qvals, obj


class Spec:
    def __init__(self, path, version):
        with open(path, "rb") as f:
            doc = json.loads(f.read())
        self.doc = doc
        self.translator = SchemaTranslator(doc.get("components", {}).get("schemas", {}))
        self.routes = []
        ops = []
        for template, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                    ops.append((method, template, op))
        present = {(m, t) for m, t, _ in ops}
        for method, template, op in LEGACY_OPERATIONS:
            if (method, template) not in present:
                ops.append((method, template, op))
        for method, template, op in ops:
            minv = MIN_VERSION.get(op.get("operationId"))
            if minv is not None and version < minv:
                continue
            self.routes.append(Route(self, method, template, op))
        # Literal segments win over parameters (e.g. /collections/aliases).
        self.routes.sort(key=lambda r: (-r.segments, -r.literals))
        self.by_op = {r.op_id: r for r in self.routes}

    def match(self, method, path):
        """-> (route, params) / (None, pattern-or-None)."""
        pattern = None
        for r in self.routes:
            m = r.regex.match(path)
            if m is None:
                continue
            if pattern is None:
                pattern = r.template
            if r.method == method:
                return r, {k: unquote(v) for k, v in m.groupdict().items()}
        return None, pattern

    def response_validator(self, op_id, status="200"):
        """For the self-test: validator of an operation's response body."""
        r = self.by_op[op_id]
        schema = r.op["responses"][status]["content"]["application/json"]["schema"]
        return self.translator.validator(schema)


def parse_version(s):
    nums = re.findall(r"\d+", s)
    return tuple(int(x) for x in (nums + ["0", "0", "0"])[:3])


# --------------------------------------------------------------------------
# JSON paths in payloads (segment/src/json_path)

def parse_json_path(s):
    """'a.b[].c[0]' -> ['a', ('key','b'), ('all',), ('key','c'), ('idx',0)] (first is a str)."""
    items = []
    i, n = 0, len(s)
    first = True
    while i < n:
        if s[i] == '"':
            j = s.find('"', i + 1)
            if j < 0:
                return None
            key = s[i + 1:j]
            i = j + 1
        else:
            j = i
            while j < n and s[j] not in ".[":
                j += 1
            key = s[i:j]
            i = j
        if not key and not first:
            return None
        items.append(key if first else ("key", key))
        first = False
        while i < n and s[i] == "[":
            j = s.find("]", i)
            if j < 0:
                return None
            inner = s[i + 1:j]
            if inner == "":
                items.append(("all",))
            elif inner.isdigit():
                items.append(("idx", int(inner)))
            else:
                return None
            i = j + 1
        if i < n:
            if s[i] != ".":
                return None
            i += 1
            if i == n:
                return None
    if not items:
        return None
    return items


_PATH_CACHE = {}


def json_path(s):
    p = _PATH_CACHE.get(s)
    if p is None:
        p = parse_json_path(s)
        if p is None:
            p = [s]
        if len(_PATH_CACHE) < 10000:
            _PATH_CACHE[s] = p
    return p


def _value_get(items, value, out):
    if not items:
        out.append(value)
        return
    head, tail = items[0], items[1:]
    kind = head[0]
    if kind == "key":
        if type(value) is dict and head[1] in value:
            _value_get(tail, value[head[1]], out)
    elif kind == "idx":
        if type(value) is list and head[1] < len(value):
            _value_get(tail, value[head[1]], out)
    elif type(value) is list:
        for v in value:
            _value_get(tail, v, out)


def payload_values(payload, key):
    items = json_path(key)
    out = []
    first = items[0]
    if first in payload:
        _value_get(items[1:], payload[first], out)
    return out


def payload_set_by_key(payload, key, src):
    """Payload::merge_by_key for simple paths (keys and [N]/[] over arrays)."""
    items = json_path(key)

    def set_in(container, its):
        head = its[0]
        rest = its[1:]
        if isinstance(head, str) or head[0] == "key":
            k = head if isinstance(head, str) else head[1]
            if type(container) is not dict:
                return
            if not rest:
                cur = container.get(k)
                if type(cur) is not dict:
                    cur = {}
                    container[k] = cur
                merge_map(cur, src)
                return
            if k not in container or type(container[k]) not in (dict, list):
                container[k] = {} if (isinstance(rest[0], str) or rest[0][0] == "key") else []
            set_in(container[k], rest)
        elif head[0] == "idx":
            if type(container) is list and head[1] < len(container):
                if not rest:
                    if type(container[head[1]]) is not dict:
                        container[head[1]] = {}
                    merge_map(container[head[1]], src)
                else:
                    set_in(container[head[1]], rest)
        else:
            if type(container) is list:
                for i in range(len(container)):
                    if not rest:
                        if type(container[i]) is not dict:
                            container[i] = {}
                        merge_map(container[i], src)
                    else:
                        set_in(container[i], rest)

    set_in(payload, items)


def payload_remove(payload, key):
    items = json_path(key)

    def rm(container, its):
        head = its[0]
        rest = its[1:]
        if isinstance(head, str) or head[0] == "key":
            k = head if isinstance(head, str) else head[1]
            if type(container) is dict and k in container:
                if rest:
                    rm(container[k], rest)
                else:
                    del container[k]
        elif head[0] == "idx":
            if type(container) is list and head[1] < len(container):
                if rest:
                    rm(container[head[1]], rest)
                else:
                    del container[head[1]]
        elif type(container) is list:
            if rest:
                for v in container:
                    rm(v, rest)
            else:
                del container[:]

    rm(payload, items)


def merge_map(dest, src):
    # segment/src/common/utils.rs: merge_map (null removes the key)
    for k, v in src.items():
        if v is None:
            dest.pop(k, None)
        else:
            dest[k] = deep_copy(v)


def merge_metadata(dest, src):
    """Collection metadata merge, as Qdrant 1.19.0 applies an UpdateCollection's metadata
    (lib/collection/src/collection/collection_ops.rs Collection::update_metadata ->
    segment Payload::merge -> lib/segment/src/common/utils.rs merge_map): one level deep, a null
    value removes the key, any other value replaces it.  Qdrant's serde_json is built with
    "preserve_order" (Cargo.toml), so its Map is an IndexMap: insert keeps an existing key's
    place and appends a new one, and Map::remove is swap_remove (serde_json src/map.rs) -- the
    last key moves into the removed key's place.  A new dict."""
    items = list(dest.items())
    index = {k: i for i, (k, _) in enumerate(items)}
    for k, v in src.items():
        i = index.get(k)
        if v is None:
            if i is None:
                continue
            del index[k]
            last = items.pop()
            if i < len(items):
                items[i] = last
                index[last[0]] = i
        elif i is None:
            index[k] = len(items)
            items.append((k, deep_copy(v)))
        else:
            items[i] = (k, deep_copy(v))
    return dict(items)


def deep_copy(v):
    t = type(v)
    if t is dict:
        return {k: deep_copy(x) for k, x in v.items()}
    if t is list:
        return [deep_copy(x) for x in v]
    return v


def select_payload(payload, with_payload):
    """with_payload: bool | [keys] | {include: [...]} | {exclude: [...]} -> payload or None."""
    if with_payload is None or with_payload is False:
        return None
    if with_payload is True:
        return payload
    if type(with_payload) is list:
        include, exclude = with_payload, None
    else:
        include, exclude = with_payload.get("include"), with_payload.get("exclude")
    if include is not None:
        out = {}
        for key in include:
            items = json_path(key)
            first = items[0]
            if first not in payload:
                continue
            if len(items) == 1:
                out[first] = payload[first]
                continue
            if any(not (isinstance(it, str) or it[0] == "key") for it in items):
                out[first] = payload[first]  # array projections: keep the whole field
                continue
            vals = payload_values(payload, key)
            if not vals:
                continue
            node = out
            for it in items[:-1]:
                k = it if isinstance(it, str) else it[1]
                nxt = node.get(k)
                if type(nxt) is not dict:
                    nxt = {}
                    node[k] = nxt
                node = nxt
            node[items[-1][1]] = vals[0]
        return out
    out = deep_copy(payload)
    for key in exclude or ():
        payload_remove(out, key)
    return out


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


# --------------------------------------------------------------------------
# Storage

class Point:
    __slots__ = ("key", "vectors", "payload", "version", "_vjson")

    def __init__(self, key, vectors, payload, version):
        self.key = key
        self.vectors = vectors
        self.payload = payload
        self.version = version
        self._vjson = None

    def vectors_json(self, coll, with_vector):
        if with_vector is None or with_vector is False:
            return None
        if self._vjson is None:
            self._vjson = {k: vector_json(v) for k, v in self.vectors.items()}
        vj = self._vjson
        if with_vector is True:
            if coll.single:
                return vj.get("")
            return {k: vj[k] for k in coll.vector_names_sorted() if k in vj}
        # list of names
        if coll.single:
            return vj.get("") if "" in with_vector else None
        return {k: vj[k] for k in with_vector if k in vj}


HNSW_DEFAULTS = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000,
                 "max_indexing_threads": 0, "on_disk": False}
OPTIMIZER_DEFAULTS = {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000,
                      "default_segment_number": 0, "max_segment_size": None, "memmap_threshold": None,
                      "indexing_threshold": 10000, "flush_interval_sec": 5,
                      "max_optimization_threads": None, "prevent_unoptimized": None}
WAL_DEFAULTS = {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}
_VECTOR_PARAM_ORDER = ("size", "distance", "hnsw_config", "quantization_config", "on_disk",
                       "memory", "datatype", "multivector_config")


def _apply_diff(base, diff):
    for k, v in (diff or {}).items():
        if v is not None:
            base[k] = v
    return base


def default_segments():
    return min(8, max(2, (os.cpu_count() or 2) // 2))


def _vector_params_echo(p):
    out = {}
    for k in _VECTOR_PARAM_ORDER:
        v = p.get(k)
        if v is None:
            continue
        if k == "hnsw_config":
            v = {hk: hv for hk, hv in v.items() if hv is not None}
            if not v:
                continue
        out[k] = v
    return out


class Collection:
    def __init__(self, name, body):
        self.name = name
        vectors = body.get("vectors")
        self.vectors = {}
        if isinstance(vectors, dict) and "size" in vectors and isinstance(vectors.get("size"), int):
            self.single = True
            self.vectors[""] = _vector_params_echo(vectors)
        else:
            self.single = False
            for vname, p in (vectors or {}).items():
                self.vectors[vname] = _vector_params_echo(p)
        for p in self.vectors.values():
            if p.get("multivector_config") is not None:
                raise unsupported("multivector_config")
            if p.get("datatype") not in (None, "float32"):
                raise unsupported("datatype `%s`" % p.get("datatype"))
        # Sparse vectors: the configuration is accepted and echoed, sparse data is refused.
        self.sparse = {n: {k: v for k, v in (p or {}).items() if v is not None}
                       for n, p in (body.get("sparse_vectors") or {}).items()}
        params = {"vectors": self.vectors_echo(), "shard_number": body.get("shard_number") or 1}
        if body.get("sharding_method") is not None:
            params["sharding_method"] = body["sharding_method"]
        params["replication_factor"] = body.get("replication_factor") or 1
        params["write_consistency_factor"] = body.get("write_consistency_factor") or 1
        params["on_disk_payload"] = True if body.get("on_disk_payload") is None else body["on_disk_payload"]
        if body.get("payload") is not None and body.get("on_disk_payload") is None:
            params["payload"] = body["payload"]
        if body.get("sparse_vectors") is not None:
            params["sparse_vectors"] = self.sparse
        self.params = params
        self.hnsw = _apply_diff(dict(HNSW_DEFAULTS), body.get("hnsw_config"))
        opt = dict(OPTIMIZER_DEFAULTS)
        for k, v in (body.get("optimizers_config") or {}).items():
            if v is None:
                continue
            if k == "max_optimization_threads" and v == "auto":
                v = None
            opt[k] = v
        self.optimizers = opt
        self.wal = _apply_diff(dict(WAL_DEFAULTS), body.get("wal_config"))
        self.quantization = body.get("quantization_config")
        self.strict_mode = body.get("strict_mode_config")
        # lib/storage/src/content_manager/toc/create_collection.rs: CreateCollection.metadata
        # goes into the collection's config as given (keys set to null included); "metadata":
        # null or absent is None, which GET leaves out (CollectionConfig.metadata is
        # skip_serializing_if Option::is_none, lib/collection/src/operations/types.rs).
        self.metadata = deep_copy(body.get("metadata"))
        self.points = {}
        self._sorted = None
        self.indexes = {}  # field -> (type, schema as given)
        self.op_num = 0

    def vectors_echo(self):
        if self.single:
            return self.vectors[""]
        return {k: self.vectors[k] for k in sorted(self.vectors)}  # BTreeMap order

    def vector_names_sorted(self):
        return sorted(self.vectors)

    def next_op(self):
        n = self.op_num
        self.op_num += 1
        return n

    def sorted_keys(self):
        if self._sorted is None:
            self._sorted = sorted(self.points, key=id_sort_key)
        return self._sorted

    def put_point(self, p):
        if p.key not in self.points:
            self._sorted = None
        self.points[p.key] = p

    def remove_point(self, key):
        if self.points.pop(key, None) is not None:
            self._sorted = None

    def distance(self, name):
        return self.vectors[name]["distance"]

    def index_points(self, field, kind):
        n = 0
        for p in self.points.values():
            for v in payload_values(p.payload, field):
                vals = v if type(v) is list else [v]
                if any(_index_accepts(kind, x) for x in vals):
                    n += 1
                    break
        return n

    def info(self):
        cfg = {"params": self.params, "hnsw_config": self.hnsw, "optimizer_config": self.optimizers,
               "wal_config": self.wal, "quantization_config": self.quantization}
        if self.strict_mode is not None:
            cfg["strict_mode_config"] = self.strict_mode
        if self.metadata is not None:
            cfg["metadata"] = self.metadata
        schema = {}
        for field, (kind, given) in self.indexes.items():
            entry = {"data_type": kind}
            if isinstance(given, dict):
                entry["params"] = given
            entry["points"] = self.index_points(field, kind)
            schema[field] = entry
        segs = self.optimizers.get("default_segment_number") or default_segments()
        return {"status": "green", "optimizer_status": "ok",
                "indexed_vectors_count": 0, "points_count": len(self.points),
                "segments_count": segs, "config": cfg, "payload_schema": schema,
                "update_queue": {"length": 0}}


def _index_accepts(kind, v):
    if v is None:
        return False
    if kind in ("keyword", "text"):
        return type(v) is str
    if kind == "integer":
        return _is_int(v)
    if kind == "float":
        return _is_number(v)
    if kind == "bool":
        return type(v) is bool
    if kind == "datetime":
        return parse_datetime(v) is not None
    if kind == "uuid":
        return type(v) is str and bool(_UUID_RE.match(v))
    if kind == "geo":
        return type(v) is dict and _is_number(v.get("lat")) and _is_number(v.get("lon"))
    return True


_INVALID_NAME_CHARS = '<>:"/\\|?*\0\x1f'


class Store:
    def __init__(self):
        self.collections = {}
        self.aliases = {}
        self.lock = threading.RLock()

    def resolve(self, name):
        # TableOfContent::resolve_name: alias first, then the collection itself.
        real = self.aliases.get(name, name)
        c = self.collections.get(real)
        if c is None:
            raise collection_missing(real)
        return c


# --------------------------------------------------------------------------
# Request helpers

def _with_vector_arg(v):
    return v if v is not None else False


def record_json(coll, p, with_payload, with_vector, order_value=None):
    out = {"id": id_out(p.key)}
    pl = select_payload(p.payload, with_payload)
    if pl is not None:
        out["payload"] = pl
    vj = p.vectors_json(coll, with_vector)
    if vj is not None:
        out["vector"] = vj
    if order_value is not None:
        out["order_value"] = order_value
    return out


def scored_json(coll, p, score, with_payload, with_vector, version=None):
    out = {"id": id_out(p.key), "version": p.version if version is None else version,
           "score": f32_json(score)}
    pl = select_payload(p.payload, with_payload)
    if pl is not None:
        out["payload"] = pl
    vj = p.vectors_json(coll, with_vector)
    if vj is not None:
        out["vector"] = vj
    return out


def update_result(op_id, wait):
    return {"operation_id": op_id, "status": "completed" if wait else "acknowledged"}


def _is_inference_object(v):
    return isinstance(v, dict) and "model" in v and ("text" in v or "image" in v or "object" in v)


def make_dense(coll, name, values):
    if name in coll.sparse and name not in coll.vectors:
        if isinstance(values, dict) and "indices" in values:
            raise unsupported("sparse vectors")
        raise bad_input("Conversion between sparse and regular vectors failed")
    if name not in coll.vectors:
        raise bad_input("Not existing vector name error: %s" % name)
    if isinstance(values, dict):
        if _is_inference_object(values):
            raise unsupported("inference (Document/Image/InferenceObject)")
        raise bad_input("Conversion between sparse and regular vectors failed")
    if values and isinstance(values[0], list):
        raise bad_input("Conversion between multi and regular vectors failed")
    dim = coll.vectors[name]["size"]
    if len(values) != dim:
        raise bad_input("Vector dimension error: expected dim: %d, got %d" % (dim, len(values)))
    vec = array("f", values)
    if coll.vectors[name]["distance"] == "Cosine":
        vec = cosine_preprocess(vec)
    return vec


def prepare_point_vectors(coll, vs, where):
    """VectorStruct -> {name: array('f')}"""
    if isinstance(vs, list):
        if not vs:
            raise violation(422, "Validation error in JSON body: [%s: dense vector must not be empty]" % where)
        if isinstance(vs[0], list):
            raise unsupported("multivectors")
        return {"": make_dense(coll, "", vs)}
    if _is_inference_object(vs):
        raise unsupported("inference (Document/Image/InferenceObject)")
    out = {}
    for name, v in vs.items():
        if isinstance(v, list) and not v:
            raise violation(422, "Validation error in JSON body: [%s.%s: dense vector must not be empty]"
                            % (where, name))
        out[name] = make_dense(coll, name, v)
    return out


def parse_insert_operation(coll, body):
    """PointInsertOperations (batch or list) -> [(key, vectors, payload)]."""
    entries = []
    if "batch" in body:
        b = body["batch"]
        ids = b["ids"]
        vecs = b["vectors"]
        payloads = b.get("payloads")
        if isinstance(vecs, list):
            if len(ids) != len(vecs):
                raise violation(422, "Validation error in JSON body: [batch: number of ids and vectors must "
                                     "be equal (%d != %d)]" % (len(ids), len(vecs)))
            for v in vecs:
                if isinstance(v, list) and not v:
                    raise violation(422, "Validation error in JSON body: [vector: dense vector must not be empty]")
        else:
            for name, lst in vecs.items():
                if len(ids) != len(lst):
                    raise violation(422, "Validation error in JSON body: [batch: number of ids and vectors "
                                         "must be equal (%d != %d)]" % (len(ids), len(lst)))
        if payloads is not None and len(payloads) != len(ids):
            raise violation(422, "Validation error in JSON body: [batch: number of ids and payloads must be "
                                 "equal (%d != %d)]" % (len(ids), len(payloads)))
        for i, raw_id in enumerate(ids):
            if isinstance(vecs, list):
                v = vecs[i]
                if _is_inference_object(v):
                    raise unsupported("inference (Document/Image/InferenceObject)")
                if v and isinstance(v[0], list):
                    raise unsupported("multivectors")
                vectors = {"": make_dense(coll, "", v)}
            else:
                vectors = {}
                for name, lst in vecs.items():
                    vectors[name] = make_dense(coll, name, lst[i])
            pl = payloads[i] if payloads is not None else None
            entries.append((id_key(raw_id), vectors, pl))
    else:
        for i, pt in enumerate(body["points"]):
            vectors = prepare_point_vectors(coll, pt["vector"], "points[%d].vector" % i)
            entries.append((id_key(pt["id"]), vectors, pt.get("payload")))
    return entries


def select_points(coll, body):
    """PointsSelector-like bodies: {points: [...]} or {filter: ...} -> [keys]."""
    if body.get("points") is not None:
        return [id_key(x) for x in body["points"]], True
    f = body.get("filter")
    validate_filter(f)
    ctx = FilterContext(coll)
    return [k for k in coll.sorted_keys()
            if check_filter(f, coll.points[k], coll.points[k].payload, ctx)], False


def require_points(coll, keys):
    for k in keys:
        if k not in coll.points:
            raise not_found("No point with id %s found" % id_out(k))


# --------------------------------------------------------------------------
# Search

def parse_query_vector(coll, q, using):
    """-> (kind, payload) with kind in nearest/point/none."""
    if q is None:
        return "none", None
    if isinstance(q, dict):
        if "nearest" in q:
            if q.get("mmr") is not None:
                raise unsupported("MMR queries")
            return parse_query_vector(coll, q["nearest"], using)
        if "indices" in q and "values" in q:
            raise unsupported("sparse vectors")
        if _is_inference_object(q):
            raise unsupported("inference (Document/Image/InferenceObject)")
        kind = next(iter(q), "?")
        raise unsupported("the `%s` query" % kind)
    if isinstance(q, list):
        if q and isinstance(q[0], list):
            raise unsupported("multivector queries")
        return "nearest", q
    return "point", id_key(q)


def search(coll, vector_name, qvec, flt, limit, offset, threshold, exclude_key=None):
    """-> [(score, point)] best first; ties by id ascending."""
    if vector_name not in coll.vectors:
        if vector_name in coll.sparse:
            raise unsupported("sparse vectors")
        raise bad_input("Not existing vector name error: %s" % vector_name)
    params = coll.vectors[vector_name]
    dim = params["size"]
    if len(qvec) != dim:
        raise bad_input("Vector dimension error: expected dim: %d, got %d" % (dim, len(qvec)))
    distance = params["distance"]
    q = array("f", qvec)
    if distance == "Cosine":
        q = cosine_preprocess(q)
    larger = larger_is_better(distance)
    thr = f32(threshold) if threshold is not None else None
    validate_filter(flt)
    ctx = FilterContext(coll)
    scored = []
    for key, p in coll.points.items():
        if key == exclude_key:
            continue
        v = p.vectors.get(vector_name)
        if v is None:
            continue
        if flt is not None and not check_filter(flt, p, p.payload, ctx):
            continue
        s = raw_score(distance, q, v)
        if thr is not None:
            # Distance::check_threshold: strict comparison on the post-processed score
            if larger and not s > thr:
                continue
            if not larger and not s < thr:
                continue
        scored.append((s, p))
    n = limit + offset
    if larger:
        top = heapq.nsmallest(n, scored, key=lambda t: (-t[0], id_sort_key(t[1].key)))
    else:
        top = heapq.nsmallest(n, scored, key=lambda t: (t[0], id_sort_key(t[1].key)))
    return top[offset:]


def run_query(coll, req):
    """Universal query API (QueryRequest) -> [ScoredPoint json]."""
    if req.get("prefetch"):
        raise unsupported("prefetch")
    if req.get("lookup_from") is not None:
        raise unsupported("lookup_from")
    using = req.get("using") or ""
    limit = req.get("limit")
    limit = 10 if limit is None else limit
    offset = req.get("offset") or 0
    wp = req.get("with_payload")
    wv = _with_vector_arg(req.get("with_vector"))
    flt = req.get("filter")
    kind, q = parse_query_vector(coll, req.get("query"), using)
    if kind == "none":
        validate_filter(flt)
        ctx = FilterContext(coll)
        out = []
        skip = offset
        for k in coll.sorted_keys():
            p = coll.points[k]
            if flt is not None and not check_filter(flt, p, p.payload, ctx):
                continue
            if skip:
                skip -= 1
                continue
            out.append(scored_json(coll, p, 1.0, wp, wv, version=0))
            if len(out) >= limit:
                break
        return out
    exclude = None
    if kind == "point":
        p = coll.points.get(q)
        if p is None:
            raise not_found("No point with id %s found" % id_out(q))
        if using not in coll.vectors:
            raise bad_input("Not existing vector name error: %s" % using)
        v = p.vectors.get(using)
        if v is None:
            raise bad_input("Vector %s is not found for point %s" % (using or "\"\"", id_out(q)))
        exclude = q
        q = list(v)
    elif not q:
        raise violation(422, "Validation error in JSON body: [query: dense vector must not be empty]")
    res = search(coll, using, q, flt, limit, offset, req.get("score_threshold"), exclude)
    return [scored_json(coll, p, s, wp, wv) for s, p in res]


def run_legacy_search(coll, req):
    vec = req["vector"]
    name = ""
    if isinstance(vec, dict):
        name = vec["name"]
        vec = vec["vector"]
        if isinstance(vec, dict):
            raise unsupported("sparse vectors")
    if not vec:
        raise violation(422, "Validation error in JSON body: [vector: dense vector must not be empty]")
    res = search(coll, name, vec, req.get("filter"), req["limit"], req.get("offset") or 0,
                 req.get("score_threshold"))
    wp = req.get("with_payload")
    wv = _with_vector_arg(req.get("with_vector"))
    return [scored_json(coll, p, s, wp, wv) for s, p in res]


# --------------------------------------------------------------------------
# Handlers.  Each gets (app, req) and returns the `result` value (or raises).

class Req:
    __slots__ = ("path", "query", "body", "headers")

    def __init__(self, path, query, body, headers):
        self.path = path
        self.query = query
        self.body = body
        self.headers = headers


def h_get_collections(app, r):
    return {"collections": [{"name": n} for n in sorted(app.store.collections)]}


def h_get_collection(app, r):
    return app.store.resolve(r.path["collection_name"]).info()


def _check_collection_name(name, strict):
    # src/actix/api/mod.rs: StrictCollectionPath / CollectionPath
    if not 1 <= len(name.encode("utf-8")) <= 255:
        raise violation(422, "Validation error in path parameters: [collection_name: must be from 1 to "
                             "255 characters]")
    bad = _INVALID_NAME_CHARS if strict else "/\0"
    for ch in bad:
        if ch in name:
            raise violation(422, 'Validation error in path parameters: [collection_name: collection name '
                                 'cannot contain "%s" char]' % ch)


def h_create_collection(app, r):
    name = r.path["collection_name"]
    _check_collection_name(name, True)
    body = r.body
    vectors = body.get("vectors")
    if isinstance(vectors, dict) and not ("size" in vectors and isinstance(vectors.get("size"), int)):
        for vname in vectors:
            if len(vname.encode("utf-8")) > 200:
                raise bad_input("Validation error in body: [vectors: vector name must be at most 200 bytes long]")
            for ch in _INVALID_NAME_CHARS:
                if ch in vname:
                    raise bad_input('Validation error in body: [vectors: vector name cannot contain "%s" char]' % ch)
    st = app.store
    if name in st.collections:
        raise already_exists("Collection `%s` already exists!" % name)
    if name in st.aliases:
        raise bad_input("Can't create collection with name %s. Alias with the same name already exists" % name)
    if body.get("shard_number") == 0:
        raise bad_input("`shard_number` cannot be 0")
    st.collections[name] = Collection(name, body)
    return True


def h_update_collection(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    b = r.body
    if b.get("vectors"):
        for vname, diff in b["vectors"].items():
            if vname not in coll.vectors:
                raise bad_input("Not existing vector name error: %s" % vname)
            p = coll.vectors[vname]
            for k, v in (diff or {}).items():
                if v is None:
                    continue
                if k == "hnsw_config":
                    p[k] = _apply_diff(dict(p.get(k) or {}), v)
                else:
                    p[k] = v
            coll.vectors[vname] = _vector_params_echo(p)
        coll.params["vectors"] = coll.vectors_echo()
    for n, p in (b.get("sparse_vectors") or {}).items():
        coll.sparse[n] = _apply_diff(dict(coll.sparse.get(n) or {}), p)
        coll.params["sparse_vectors"] = coll.sparse
    for k, v in (b.get("params") or {}).items():
        if v is not None:
            coll.params[k] = v
    if b.get("hnsw_config"):
        _apply_diff(coll.hnsw, b["hnsw_config"])
    for k, v in (b.get("optimizers_config") or {}).items():
        if v is not None:
            coll.optimizers[k] = None if (k == "max_optimization_threads" and v == "auto") else v
    if b.get("quantization_config") is not None:
        q = b["quantization_config"]
        coll.quantization = None if q == "Disabled" else q
    if b.get("strict_mode_config") is not None:
        coll.strict_mode = _apply_diff(dict(coll.strict_mode or {}), b["strict_mode_config"])
    # lib/storage/src/content_manager/toc/collection_meta_ops.rs update_collection -> Collection::
    # update_metadata (1.19.0): with no metadata yet the patch becomes the metadata exactly as
    # sent (its null values stay, as null); otherwise merge_map (see merge_metadata).  The
    # collection is looked up first (get_collection_unchecked: an alias resolves, an unknown name
    # is 404 "Collection `x` doesn't exist!", as for every other part of the PATCH).
    if b.get("metadata") is not None:
        if coll.metadata is None:
            coll.metadata = deep_copy(b["metadata"])
        else:
            coll.metadata = merge_metadata(coll.metadata, b["metadata"])
    return True


def h_delete_collection(app, r):
    name = r.path["collection_name"]
    st = app.store
    # TableOfContent::delete_collection: aliases of the collection go first; an alias name
    # does not delete its target.
    for a in [a for a, c in st.aliases.items() if c == name]:
        del st.aliases[a]
    return st.collections.pop(name, None) is not None


def h_collection_exists(app, r):
    try:
        app.store.resolve(r.path["collection_name"])
        return {"exists": True}
    except ApiError:
        return {"exists": False}


def h_update_aliases(app, r):
    st = app.store
    # TableOfContent::update_aliases: applied in order, no rollback on failure.
    for action in r.body["actions"]:
        if "create_alias" in action:
            a = action["create_alias"]
            if a["collection_name"] not in st.collections:
                raise collection_missing(a["collection_name"])
            if a["alias_name"] in st.collections:
                raise already_exists("Collection `%s` already exists!" % a["alias_name"])
            st.aliases[a["alias_name"]] = a["collection_name"]
        elif "delete_alias" in action:
            st.aliases.pop(action["delete_alias"]["alias_name"], None)
        elif "rename_alias" in action:
            a = action["rename_alias"]
            old = a["old_alias_name"]
            if old not in st.aliases:
                raise not_found("Alias %s does not exists!" % old)
            target = st.aliases.pop(old)
            st.aliases[a["new_alias_name"]] = target
    return True


def h_get_aliases(app, r):
    st = app.store
    out = []
    for cname in sorted(st.collections):
        for a in sorted(a for a, c in st.aliases.items() if c == cname):
            out.append({"alias_name": a, "collection_name": cname})
    return {"aliases": out}


def h_get_collection_aliases(app, r):
    name = r.path["collection_name"]
    st = app.store
    return {"aliases": [{"alias_name": a, "collection_name": name}
                        for a in sorted(a for a, c in st.aliases.items() if c == name)]}


def _wait(r):
    return bool(r.query.get("wait", False))


def h_create_field_index(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    fs = r.body.get("field_schema")
    if fs is None:
        raise bad_request("Can't auto-detect field type, please specify `field_schema` in the request")
    kind = fs if isinstance(fs, str) else fs["type"]
    coll.indexes[r.body["field_name"]] = (kind, fs)
    return update_result(coll.next_op(), _wait(r))


def h_delete_field_index(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    coll.indexes.pop(r.path["field_name"], None)
    return update_result(coll.next_op(), _wait(r))


def _apply_upsert(coll, body, op):
    entries = parse_insert_operation(coll, body)
    mode = body.get("update_mode") or "upsert"
    uf = body.get("update_filter")
    validate_filter(uf)
    ctx = FilterContext(coll)
    for key, vectors, payload in entries:
        old = coll.points.get(key)
        if old is not None:
            if mode == "insert_only":
                continue
            if uf is not None and not check_filter(uf, old, old.payload, ctx):
                continue
        elif mode == "update_only":
            continue
        coll.put_point(Point(key, vectors, payload if payload is not None else {}, op))


def h_upsert_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_upsert(coll, r.body, op)
    return update_result(op, _wait(r))


def _apply_delete(coll, body):
    keys, _ = select_points(coll, body)
    for k in keys:
        coll.remove_point(k)


def h_delete_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_delete(coll, r.body)
    return update_result(op, _wait(r))


def _touch(p, op):
    p.version = op


def _apply_set_payload(coll, body, op, overwrite):
    keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    key = body.get("key")
    for k in keys:
        p = coll.points[k]
        if overwrite:
            p.payload = deep_copy(body["payload"])
        elif key is not None:
            payload_set_by_key(p.payload, key, body["payload"])
        else:
            merge_map(p.payload, body["payload"])
        _touch(p, op)


def _apply_delete_payload(coll, body, op):
    keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    for k in keys:
        p = coll.points[k]
        for key in body["keys"]:
            payload_remove(p.payload, key)
        _touch(p, op)


def _apply_clear_payload(coll, body, op):
    keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    for k in keys:
        p = coll.points[k]
        p.payload = {}
        _touch(p, op)


def _apply_update_vectors(coll, body, op):
    uf = body.get("update_filter")
    validate_filter(uf)
    ctx = FilterContext(coll)
    updates = []
    for i, pv in enumerate(body["points"]):
        key = id_key(pv["id"])
        updates.append((key, prepare_point_vectors(coll, pv["vector"], "points[%d].vector" % i)))
    require_points(coll, [k for k, _ in updates])
    for key, vectors in updates:
        p = coll.points[key]
        if uf is not None and not check_filter(uf, p, p.payload, ctx):
            continue
        p.vectors = dict(p.vectors)
        p.vectors.update(vectors)
        p._vjson = None
        _touch(p, op)


def _apply_delete_vectors(coll, body, op):
    if body.get("points") is None and body.get("filter") is None:
        keys, explicit = [], False
    else:
        keys, explicit = select_points(coll, body)
    if explicit:
        require_points(coll, keys)
    for name in body["vector"]:
        if name not in coll.vectors:
            raise bad_input("Not existing vector name error: %s" % name)
    for k in keys:
        p = coll.points[k]
        p.vectors = {n: v for n, v in p.vectors.items() if n not in body["vector"]}
        p._vjson = None
        _touch(p, op)


def _payload_op(apply, **kw):
    def handler(app, r):
        coll = app.store.resolve(r.path["collection_name"])
        if r.body.get("points") is None and r.body.get("filter") is None and apply is not _apply_delete_vectors:
            # shard/src/operations/payload_ops.rs: PointsSelectorValidationError (serde)
            raise violation(400, "Format error in JSON body: Either list of point ids or filter must be provided")
        op = coll.next_op()
        apply(coll, r.body, op, **kw)
        return update_result(op, _wait(r))
    return handler


def h_clear_payload(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_clear_payload(coll, r.body, op)
    return update_result(op, _wait(r))


def h_update_vectors(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    op = coll.next_op()
    _apply_update_vectors(coll, r.body, op)
    return update_result(op, _wait(r))


def h_batch_update(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    wait = _wait(r)
    results = []
    for operation in r.body["operations"]:
        (kind, body), = operation.items()
        if kind in ("set_payload", "overwrite_payload", "delete_payload") and \
                body.get("points") is None and body.get("filter") is None:
            raise violation(400, "Format error in JSON body: Either list of point ids or filter must be provided")
        op = coll.next_op()
        if kind == "upsert":
            _apply_upsert(coll, body, op)
        elif kind == "delete":
            _apply_delete(coll, body)
        elif kind == "set_payload":
            _apply_set_payload(coll, body, op, False)
        elif kind == "overwrite_payload":
            _apply_set_payload(coll, body, op, True)
        elif kind == "delete_payload":
            _apply_delete_payload(coll, body, op)
        elif kind == "clear_payload":
            _apply_clear_payload(coll, body, op)
        elif kind == "update_vectors":
            _apply_update_vectors(coll, body, op)
        elif kind == "delete_vectors":
            _apply_delete_vectors(coll, body, op)
        results.append(update_result(op, wait))
    return results


def h_get_point(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    key = id_key(r.path["id"])
    p = coll.points.get(key)
    if p is None:
        raise not_found("Point with id %s does not exists!" % id_out(key))
    return record_json(coll, p, True, True)


def h_get_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    wp = r.body.get("with_payload")
    wp = True if wp is None else wp
    wv = _with_vector_arg(r.body.get("with_vector"))
    out, seen = [], set()
    for raw in r.body["ids"]:
        k = id_key(raw)
        if k in seen:
            continue
        p = coll.points.get(k)
        if p is not None:
            seen.add(k)
            out.append(record_json(coll, p, wp, wv))
    return out


def h_scroll_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    b = r.body
    limit = b.get("limit")
    limit = 10 if limit is None else limit
    wp = b.get("with_payload")
    wp = True if wp is None else wp
    wv = _with_vector_arg(b.get("with_vector"))
    flt = b.get("filter")
    validate_filter(flt)
    ctx = FilterContext(coll)
    order_by = b.get("order_by")
    if order_by is not None:
        if b.get("offset") is not None:
            raise bad_input("Cannot use an `offset` when using `order_by`. The alternative for paging is to use "
                            "`order_by.start_from` and a filter to exclude the IDs that you've already seen for "
                            "the `order_by.start_from` value")
        if isinstance(order_by, str):
            order_by = {"key": order_by}
        key = order_by["key"]
        idx = coll.indexes.get(key)
        if idx is None or idx[0] not in ("integer", "float", "datetime"):
            raise bad_input("No range index for `order_by` key: `%s`. Please create one to use `order_by`. Check "
                            "https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which "
                            "payload schemas support Range conditions" % key)
        desc = order_by.get("direction") == "desc"
        start = order_by.get("start_from")
        if isinstance(start, str):
            ts = parse_datetime(start)
            start = int(ts) if ts is not None else None
        entries = []
        for k in coll.sorted_keys():
            p = coll.points[k]
            if flt is not None and not check_filter(flt, p, p.payload, ctx):
                continue
            seen = set()
            for v in payload_values(p.payload, key):
                for x in (v if type(v) is list else [v]):
                    if idx[0] == "datetime":
                        ts = parse_datetime(x)
                        if ts is None:
                            continue
                        ov = int(ts)
                    elif idx[0] == "integer":
                        if not _is_int(x):
                            continue
                        ov = x
                    else:
                        if not _is_number(x):
                            continue
                        ov = float(x)
                    if ov in seen:
                        continue
                    seen.add(ov)
                    if start is not None and ((ov < start) if not desc else (ov > start)):
                        continue
                    entries.append((ov, id_sort_key(k), p))
        entries.sort(key=lambda e: (e[0], e[1]), reverse=desc)
        pts = [record_json(coll, p, wp, wv, order_value=ov) for ov, _, p in entries[:limit]]
        return {"points": pts, "next_page_offset": None}
    offset = b.get("offset")
    start_key = id_sort_key(id_key(offset)) if offset is not None else None
    keys = coll.sorted_keys()
    i = 0
    if start_key is not None:
        i = bisect.bisect_left([id_sort_key(k) for k in keys], start_key)
    found = []
    n = len(keys)
    while i < n and len(found) < limit + 1:
        p = coll.points[keys[i]]
        i += 1
        if flt is not None and not check_filter(flt, p, p.payload, ctx):
            continue
        found.append(p)
    nxt = None
    if len(found) > limit:
        nxt = id_out(found.pop().key)
    return {"points": [record_json(coll, p, wp, wv) for p in found], "next_page_offset": nxt}


def h_count_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    flt = r.body.get("filter")
    if flt is None:
        return {"count": len(coll.points)}
    validate_filter(flt)
    ctx = FilterContext(coll)
    return {"count": sum(1 for p in coll.points.values() if check_filter(flt, p, p.payload, ctx))}


def h_query_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return {"points": run_query(coll, r.body)}


def h_query_batch_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return [{"points": run_query(coll, q)} for q in r.body["searches"]]


def h_search_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return run_legacy_search(coll, r.body)


def h_search_batch_points(app, r):
    coll = app.store.resolve(r.path["collection_name"])
    return [run_legacy_search(coll, q) for q in r.body["searches"]]


def h_cluster_status(app, r):
    return {"status": "disabled"}


HANDLERS = {
    "get_collections": h_get_collections,
    "get_collection": h_get_collection,
    "create_collection": h_create_collection,
    "update_collection": h_update_collection,
    "delete_collection": h_delete_collection,
    "collection_exists": h_collection_exists,
    "update_aliases": h_update_aliases,
    "get_collections_aliases": h_get_aliases,
    "get_collection_aliases": h_get_collection_aliases,
    "create_field_index": h_create_field_index,
    "delete_field_index": h_delete_field_index,
    "upsert_points": h_upsert_points,
    "delete_points": h_delete_points,
    "set_payload": _payload_op(_apply_set_payload, overwrite=False),
    "overwrite_payload": _payload_op(_apply_set_payload, overwrite=True),
    "delete_payload": _payload_op(_apply_delete_payload),
    "clear_payload": h_clear_payload,
    "update_vectors": h_update_vectors,
    "delete_vectors": _payload_op(_apply_delete_vectors),
    "batch_update": h_batch_update,
    "get_point": h_get_point,
    "get_points": h_get_points,
    "scroll_points": h_scroll_points,
    "count_points": h_count_points,
    "query_points": h_query_points,
    "query_batch_points": h_query_batch_points,
    "search_points": h_search_points,
    "search_batch_points": h_search_batch_points,
    "cluster_status": h_cluster_status,
}

# Operations whose `collection_name` must use the strict path validation, or the basic one.
_NO_COLLECTION_CHECK = {"create_collection"}


# --------------------------------------------------------------------------
# Application: routing, auth, envelopes

_PLAIN = "text/plain; charset=utf-8"
_JSON = "application/json"


class App:
    def __init__(self, spec, version_str, api_key, violations_file):
        self.spec = spec
        self.version = version_str
        self.api_key = api_key or None
        self.violations_file = violations_file
        self.vlock = threading.Lock()
        self.store = Store()

    def record_violation(self, method, target, message):
        sys.stderr.write("qdrant_server: VIOLATION %s %s: %s\n" % (method, target, message))
        sys.stderr.flush()
        if self.violations_file:
            line = "%s %s: %s\n" % (method, target, message.replace("\n", " "))
            with self.vlock:
                with open(self.violations_file, "a", encoding="utf-8") as f:
                    f.write(line)

    @staticmethod
    def normalize(path):
        # actix NormalizePath::trim(): merge slashes, drop the trailing one.
        path = re.sub("/{2,}", "/", path)
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/") or "/"
        return path

    def authorized(self, headers):
        """-> None if ok, else the 401 body (src/common/auth/mod.rs)."""
        key = headers.get("api-key")
        if key is None:
            auth = headers.get("authorization")
            if auth is not None and auth.startswith("Bearer "):
                key = auth[len("Bearer "):]
        if key is None:
            return "Must provide an API key or an Authorization bearer token"
        if key != self.api_key:
            return "Invalid API key or JWT"
        return None

    def handle(self, method, target, headers, body):
        """-> (status, content_type or None, body bytes)"""
        t0 = time.perf_counter()
        path, _, query = target.partition("?")
        path = self.normalize(path)
        route, params = self.spec.match(method, path)
        pattern = route.template if route is not None else params
        if self.api_key is not None:
            # src/actix/mod.rs whitelist: exact "/", "/healthz"; prefix "/readyz", "/livez"
            white = pattern is not None and (pattern in ("/", "/healthz") or pattern.startswith("/readyz")
                                             or pattern.startswith("/livez"))
            if not white:
                msg = self.authorized(headers)
                if msg is not None:
                    return 401, None, msg.encode("utf-8")
        if route is None:
            return 404, None, b""
        op_id = route.op_id
        try:
            pvals, qvals, obj = route.validate(params, query, headers, body)
            if op_id == "root":
                return 200, _JSON, json_dumps({"title": "qdrant - vector search engine",
                                               "version": self.version, "commit": RELEASE_COMMIT})
            if op_id in ("healthz", "livez"):
                return 200, _PLAIN, b"healthz check passed"
            if op_id == "readyz":
                return 200, _PLAIN, b"all shards are ready"
            handler = HANDLERS.get(op_id)
            if handler is None:
                return 501, _JSON, json_dumps({"status": {"error": "Not implemented: operation `%s` is not supported "
                                                                  "by the qdrant test server" % op_id},
                                               "time": time.perf_counter() - t0})
            if "collection_name" in pvals and op_id not in _NO_COLLECTION_CHECK \
                    and route.template.startswith("/collections/{collection_name}"):
                _check_collection_name(pvals["collection_name"], False)
            req = Req(pvals, qvals, obj, headers)
            with self.store.lock:
                result = handler(self, req)
            return 200, _JSON, json_dumps({"result": result, "status": "ok",
                                           "time": time.perf_counter() - t0})
        except ApiError as e:
            if e.violation:
                self.record_violation(method, target, e.message)
                t = 0.0
            else:
                t = time.perf_counter() - t0
            return e.status, _JSON, json_dumps({"status": {"error": e.message}, "time": t})
        except Exception as e:  # pragma: no cover - bug in the test server
            traceback.print_exc(file=sys.stderr)
            return 500, _JSON, json_dumps({"status": {"error": "Service internal error: %s: %s"
                                                               % (type(e).__name__, e)},
                                           "time": time.perf_counter() - t0})


# --------------------------------------------------------------------------
# HTTP

_STATUS_TEXT = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Entity",
                500: "Internal Server Error", 501: "Not Implemented"}
_DATE = [0, ""]
MAX_BODY = 32 * 1024 * 1024  # service.max_request_size_mb default


def http_date():
    now = int(time.time())
    if _DATE[0] != now:
        _DATE[0] = now
        _DATE[1] = formatdate(now, usegmt=True)
    return _DATE[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5.0  # idle keep-alive connections are closed after 5 s
    app = None

    def setup(self):
        super().setup()
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def log_message(self, fmt, *args):
        log("qdrant_server: " + (fmt % args))

    def log_request(self, code="-", size="-"):
        pass

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    break
                total += size
                if total > MAX_BODY:
                    raise OverflowError(total)
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise OverflowError(n)
        if n <= 0:
            return b""
        data = self.rfile.read(n)
        if len(data) != n:
            raise ConnectionError("short body")
        return data

    def _dispatch(self):
        try:
            body = self._read_body()
        except OverflowError as e:
            # JsonPayloadError::Overflow goes through validation_error_handler: 400.
            msg = ("OpenAPI validation failed: JSON payload (%s bytes) is larger than allowed (limit: %d bytes)."
                   % (e.args[0], MAX_BODY))
            self.app.record_violation(self.command, self.path, msg)
            self.close_connection = True
            self._send(400, _JSON, json_dumps({"status": {"error": msg}, "time": 0.0}))
            return
        except (ConnectionError, ValueError):
            self.close_connection = True
            return
        log("qdrant_server: %s %s" % (self.command, self.path))
        status, ctype, payload = self.app.handle(self.command, self.path, self.headers, body)
        self._send(status, ctype, payload)

    def _send(self, status, ctype, payload):
        head = "HTTP/1.1 %d %s\r\ncontent-length: %d\r\n" % (status, _STATUS_TEXT.get(status, "Unknown"),
                                                             len(payload))
        if ctype is not None:
            head += "content-type: %s\r\n" % ctype
        if self.close_connection:
            head += "connection: close\r\n"
        head += "date: %s\r\n\r\n" % http_date()
        data = head.encode("latin-1") + (payload if self.command != "HEAD" else b"")
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        traceback.print_exc(file=sys.stderr)


def default_spec_path():
    env = os.environ.get("QDRANT_OPENAPI_SPEC")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "spec", "qdrant-openapi-v1.19.json"))


def main(argv=None):
    global VERBOSE
    ap = argparse.ArgumentParser(description="Qdrant REST test server")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--api-key", default=None)
    ap.add_argument("--version", default="1.19.0")
    ap.add_argument("--spec", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    VERBOSE = args.verbose
    spec_path = args.spec or default_spec_path()
    try:
        spec = Spec(spec_path, parse_version(args.version))
    except (OSError, ValueError) as e:
        sys.stderr.write("qdrant_server: cannot load OpenAPI spec %s: %s\n" % (spec_path, e))
        return 2
    app = App(spec, args.version, args.api_key, os.environ.get("QDRANT_VIOLATIONS_FILE"))
    Handler.app = app
    httpd = Server((args.host, args.port), Handler)
    host, port = httpd.server_address[:2]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    shown = host if ":" not in host else "[%s]" % host
    sys.stdout.write("QDRANT_URL=http://%s:%d\n" % (shown, port))
    sys.stdout.flush()
    while not stop.wait(0.2):
        pass
    httpd.shutdown()
    httpd.server_close()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
