"""Validation of every request against Qdrant's OpenAPI document."""

import json
import os
import re
import threading
from urllib.parse import parse_qsl, unquote

import jsonschema
from jsonschema.exceptions import ValidationError, best_match

from .errors import violation
from .filters import parse_datetime
from .values import _UUID_RE, json_loads


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


def default_spec_path():
    env = os.environ.get("QDRANT_OPENAPI_SPEC")
    if env:
        return env
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # tests/servers
    return os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "spec", "qdrant-openapi-v1.19.json"))
