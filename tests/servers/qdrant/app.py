"""The application: routing, auth, the response envelopes."""

import re
import sys
import threading
import time
import traceback

from .errors import ApiError
from .handlers import HANDLERS, Req, _NO_COLLECTION_CHECK, _check_collection_name
from .storage import Store
from .values import json_dumps


# Commit of the v1.19.0 release ("Bump version to 1.19.0").
RELEASE_COMMIT = "74f3e85b9473c62560006c043e13737ce6b48412"


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
