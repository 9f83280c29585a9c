#!/usr/bin/env python3
"""Self-test of tests/servers/qdrant_server.py (stdlib unittest + http.client).

Run:  /usr/bin/python3 tests/servers/test_qdrant_server.py
It starts the server as subprocesses (default, --api-key, --version 1.9.0) and
checks the behaviours the libqdrantc tests rely on.  Expected values come from
the Qdrant 1.19.0 sources/docs (see qdrant_server.py) and from the worked
examples in Qdrant's own OpenAPI document.
"""

import http.client
import importlib.util
import json
import math
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "qdrant_server.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

sys.dont_write_bytecode = True  # do not leave __pycache__ next to the server
_spec = importlib.util.spec_from_file_location("qdrant_server", SERVER)
qs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(qs)
SPEC = qs.Spec(qs.default_spec_path(), (1, 19, 0))


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def start_server(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.Popen([PYTHON, SERVER, "--port", "0"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=e)
    line = p.stdout.readline().decode()
    assert line.startswith("QDRANT_URL=http://127.0.0.1:"), line
    port = int(line.strip().rsplit(":", 1)[1])
    return p, port


class Client:
    def __init__(self, port, headers=None):
        self.port = port
        self.headers = headers or {}
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def raw(self, method, path, body=None, headers=None):
        h = dict(self.headers)
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=h)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                # The server closes connections idle for more than 5 s: reconnect once.
                self.conn.close()
                if attempt:
                    raise

    def call(self, method, path, body=None, headers=None):
        status, hdrs, data = self.raw(method, path, body, headers)
        return status, (json.loads(data) if data and hdrs.get("content-type", "").startswith("application/json")
                        else data)

    def ok(self, method, path, body=None, op=None):
        status, js = self.call(method, path, body)
        if status != 200:
            raise AssertionError("%s %s -> %s %s" % (method, path, status, js))
        assert js["status"] == "ok", js
        assert isinstance(js["time"], float), js
        if op is not None:
            check_response(op, js)
        return js["result"]


def check_response(op_id, body):
    v = SPEC.response_validator(op_id)
    errs = list(v.iter_errors(body))
    if errs:
        raise AssertionError("response of %s does not match the spec: %s\n%s"
                             % (op_id, errs[0].message[:300], json.dumps(body)[:500]))


class ServerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        fd, cls.vfile = tempfile.mkstemp(prefix="qdrant-violations-")
        os.close(fd)
        cls.proc, cls.port = start_server(env={"QDRANT_VIOLATIONS_FILE": cls.vfile})
        cls.c = Client(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        t = time.time()
        rc = cls.proc.wait(5)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        cls.c.conn.close()
        os.unlink(cls.vfile)
        assert rc == 0 and time.time() - t < 1.0, (rc, time.time() - t)

    def setUp(self):
        self.name = "t_%s_%d" % (self._testMethodName, random.randrange(1 << 30))

    def violations(self):
        with open(self.vfile, encoding="utf-8") as f:
            return f.read().splitlines()

    def expect_error(self, method, path, body, status, msg=None, violation=False, prefix=None):
        before = len(self.violations())
        st, js = self.c.call(method, path, body)
        self.assertEqual(st, status, js)
        self.assertIsInstance(js, dict, js)
        self.assertEqual(set(js), {"status", "time"}, js)
        err = js["status"]["error"]
        if msg is not None:
            self.assertEqual(err, msg)
        if prefix is not None:
            self.assertTrue(err.startswith(prefix), err)
        after = self.violations()
        if violation:
            self.assertTrue(err.startswith("OpenAPI validation failed: "), err)
            self.assertEqual(len(after), before + 1, after)
            self.assertIn(path.split("?")[0], after[-1])
        else:
            self.assertEqual(len(after), before, after[before:])
        return err

    def create(self, name=None, size=4, distance="Dot", **extra):
        body = {"vectors": {"size": size, "distance": distance}}
        body.update(extra)
        self.assertIs(self.c.ok("PUT", "/collections/%s" % (name or self.name), body, op="create_collection"), True)
        return name or self.name

    def upsert(self, points, name=None, wait=True):
        q = "?wait=true" if wait else ""
        return self.c.ok("PUT", "/collections/%s/points%s" % (name or self.name, q), {"points": points},
                         op="upsert_points")

    def docs_collection(self):
        # The worked example of Qdrant's OpenAPI description (and tests/openapi).
        self.create()
        self.upsert([
            {"id": 1, "vector": [0.05, 0.61, 0.76, 0.74], "payload": {"city": "Berlin"}},
            {"id": 2, "vector": [0.19, 0.81, 0.75, 0.11], "payload": {"city": ["Berlin", "London"]}},
            {"id": 3, "vector": [0.36, 0.55, 0.47, 0.94], "payload": {"city": ["Berlin", "Moscow"]}},
            {"id": 4, "vector": [0.18, 0.01, 0.85, 0.80], "payload": {"city": ["London", "Moscow"]}},
            {"id": 5, "vector": [0.24, 0.18, 0.22, 0.44], "payload": {"count": [0]}},
            {"id": 6, "vector": [0.35, 0.08, 0.11, 0.44]},
        ])

    # ---------------------------------------------------------------- service

    def test_root_and_health(self):
        st, hdrs, data = self.c.raw("GET", "/")
        self.assertEqual(st, 200)
        js = json.loads(data)
        self.assertEqual(js["title"], "qdrant - vector search engine")
        self.assertEqual(js["version"], "1.19.0")
        self.assertEqual(len(js["commit"]), 40)
        self.assertEqual(set(js), {"title", "version", "commit"})
        for path, text in (("/healthz", b"healthz check passed"), ("/livez", b"healthz check passed"),
                           ("/readyz", b"all shards are ready")):
            st, hdrs, data = self.c.raw("GET", path)
            self.assertEqual((st, data), (200, text))
            self.assertEqual(hdrs["content-type"], "text/plain; charset=utf-8")

    def test_unknown_routes(self):
        before = len(self.violations())
        for method, path in (("GET", "/nope"), ("POST", "/collections"), ("GET", "/collections/x/points/zz/yy"),
                             ("DELETE", "/healthz")):
            st, hdrs, data = self.c.raw(method, path)
            self.assertEqual((st, data), (404, b""), (method, path))
        self.assertEqual(len(self.violations()), before)
        # actix NormalizePath::trim()
        self.assertIn("collections", self.c.ok("GET", "/collections/"))
        self.assertIn("collections", self.c.ok("GET", "//collections"))

    def test_keep_alive_and_idle_close(self):
        s = socket.create_connection(("127.0.0.1", self.port))
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        s.sendall(req + req)
        buf = b""
        while buf.count(b"healthz check passed") < 2:
            chunk = s.recv(4096)
            self.assertTrue(chunk)
            buf += chunk
        self.assertEqual(buf.count(b"HTTP/1.1 200 OK"), 2)
        t = time.time()
        s.settimeout(10)
        self.assertEqual(s.recv(10), b"")  # closed by the server after 5 s idle
        self.assertTrue(4.5 < time.time() - t < 7.0, time.time() - t)
        s.close()

    # ---------------------------------------------------------------- collections

    def test_collection_lifecycle(self):
        n = self.create(size=3, distance="Cosine", hnsw_config={"m": 32}, optimizers_config={"indexing_threshold": 0},
                        on_disk_payload=None, wal_config={"wal_capacity_mb": None})
        err = self.expect_error("PUT", "/collections/" + n, {"vectors": {"size": 3, "distance": "Cosine"}}, 409)
        self.assertEqual(err, "Wrong input: Collection `%s` already exists!" % n)
        info = self.c.ok("GET", "/collections/" + n, op="get_collection")
        self.assertEqual(info["status"], "green")
        self.assertEqual(info["optimizer_status"], "ok")
        self.assertEqual(info["points_count"], 0)
        self.assertEqual(info["indexed_vectors_count"], 0)
        self.assertIsInstance(info["segments_count"], int)
        self.assertEqual(info["payload_schema"], {})
        cfg = info["config"]
        self.assertEqual(cfg["params"]["vectors"], {"size": 3, "distance": "Cosine"})
        self.assertEqual(cfg["hnsw_config"]["m"], 32)
        self.assertEqual(cfg["hnsw_config"]["ef_construct"], 100)
        self.assertEqual(cfg["optimizer_config"]["indexing_threshold"], 0)
        self.assertEqual(cfg["wal_config"]["wal_capacity_mb"], 32)
        self.assertEqual(self.c.ok("GET", "/collections/%s/exists" % n, op="collection_exists"), {"exists": True})
        self.assertEqual(self.c.ok("GET", "/collections/nope_%s/exists" % n), {"exists": False})
        names = [c["name"] for c in self.c.ok("GET", "/collections", op="get_collections")["collections"]]
        self.assertIn(n, names)
        self.assertEqual(names, sorted(names))
        self.assertIs(self.c.ok("DELETE", "/collections/" + n), True)
        self.assertIs(self.c.ok("DELETE", "/collections/" + n), False)
        err = self.expect_error("GET", "/collections/" + n, None, 404)
        self.assertEqual(err, "Not found: Collection `%s` doesn't exist!" % n)
        self.expect_error("PUT", "/collections/%s/points?wait=true" % n,
                          {"points": [{"id": 1, "vector": [1, 2, 3]}]}, 404,
                          "Not found: Collection `%s` doesn't exist!" % n)

    def test_vector_params_echo_and_update(self):
        n = self.name
        self.c.ok("PUT", "/collections/" + n, {"vectors": {"size": 2, "distance": "Euclid", "on_disk": True}})
        info = self.c.ok("GET", "/collections/" + n, op="get_collection")
        self.assertEqual(info["config"]["params"]["vectors"], {"size": 2, "distance": "Euclid", "on_disk": True})
        self.assertIs(self.c.ok("PATCH", "/collections/" + n, {"optimizers_config": {"indexing_threshold": 5000}}),
                      True)
        info = self.c.ok("GET", "/collections/" + n)
        self.assertEqual(info["config"]["optimizer_config"]["indexing_threshold"], 5000)

    def test_collection_metadata(self):
        # Qdrant 1.19.0: CollectionConfig.metadata is skipped when None; create stores it as
        # given; PATCH merges one level deep (null removes, swap_remove order), or stores the
        # patch as given when there is none yet; an unknown collection is 404.
        n = self.create()
        info = self.c.ok("GET", "/collections/" + n, op="get_collection")
        self.assertNotIn("metadata", info["config"])
        # Qdrant's own tests/openapi/test_collection_metadata.py, step by step
        for patch in ({"new_meta": "value"}, {"new_meta_2": "value2"}, {"new_meta": "value3"},
                      {"new_meta_2": None}):
            self.assertIs(self.c.ok("PATCH", "/collections/" + n, {"metadata": patch}, op="update_collection"),
                          True)
        info = self.c.ok("GET", "/collections/" + n, op="get_collection")
        self.assertEqual(info["config"]["metadata"], {"new_meta": "value3"})
        self.assertEqual(list(info["config"])[-1], "metadata")
        # order: a replaced key keeps its place, a new one is appended, a removed key's place
        # goes to the last key (IndexMap::swap_remove)
        self.c.ok("PATCH", "/collections/" + n, {"metadata": {"b": 1, "c": [1, 2], "d": {"x": 1}}})
        self.c.ok("PATCH", "/collections/" + n, {"metadata": {"new_meta": None, "c": {"y": 2}, "zz": None}})
        st, hdrs, data = self.c.raw("GET", "/collections/" + n)
        self.assertIn(b'"metadata":{"d":{"x":1},"b":1,"c":{"y":2}}', data)
        # objects are replaced, not merged deeper
        self.c.ok("PATCH", "/collections/" + n, {"metadata": {"d": {"z": 3}}})
        md = self.c.ok("GET", "/collections/" + n)["config"]["metadata"]
        self.assertEqual(list(md.items()), [("d", {"z": 3}), ("b", 1), ("c", {"y": 2})])
        # every key removed: {} stays, it is not None
        self.c.ok("PATCH", "/collections/" + n, {"metadata": {"d": None, "b": None, "c": None}})
        self.assertEqual(self.c.ok("GET", "/collections/" + n)["config"]["metadata"], {})
        # a PATCH without metadata, or with metadata null, changes nothing
        self.c.ok("PATCH", "/collections/" + n, {"metadata": None})
        self.c.ok("PATCH", "/collections/" + n, {"optimizers_config": {"indexing_threshold": 100}})
        self.assertEqual(self.c.ok("GET", "/collections/" + n)["config"]["metadata"], {})

        # no metadata yet: the patch is stored as sent, nulls included; a later patch removes them
        m = self.create(name=n + "_b")
        self.c.ok("PATCH", "/collections/" + m, {"metadata": {"a": None, "b": 2}})
        st, hdrs, data = self.c.raw("GET", "/collections/" + m)
        self.assertIn(b'"metadata":{"a":null,"b":2}', data)
        self.c.ok("PATCH", "/collections/" + m, {"metadata": {"a": None}})
        self.assertEqual(self.c.ok("GET", "/collections/" + m)["config"]["metadata"], {"b": 2})

        # create with metadata: kept as given (null values too); {} is reported as {}
        k = n + "_c"
        self.create(name=k, metadata={"owner": "me", "gone": None, "n": [1, {"x": None}]})
        st, hdrs, data = self.c.raw("GET", "/collections/" + k)
        self.assertIn(b'"metadata":{"owner":"me","gone":null,"n":[1,{"x":null}]}', data)
        e = n + "_e"
        self.create(name=e, metadata={})
        self.assertEqual(self.c.ok("GET", "/collections/" + e)["config"]["metadata"], {})
        z = n + "_z"
        self.create(name=z, metadata=None)
        self.assertNotIn("metadata", self.c.ok("GET", "/collections/" + z)["config"])

        # through an alias; an unknown collection is 404
        self.c.ok("POST", "/collections/aliases",
                  {"actions": [{"create_alias": {"collection_name": k, "alias_name": k + "_al"}}]})
        self.c.ok("PATCH", "/collections/" + k + "_al", {"metadata": {"owner": "you"}})
        self.assertEqual(self.c.ok("GET", "/collections/" + k)["config"]["metadata"]["owner"], "you")
        err = self.expect_error("PATCH", "/collections/" + n + "_nope", {"metadata": {"a": 1}}, 404)
        self.assertEqual(err, "Not found: Collection `%s_nope` doesn't exist!" % n)
        for name in (n, m, k, e, z):
            self.c.ok("DELETE", "/collections/" + name)

    def test_named_vectors(self):
        n = self.name
        self.c.ok("PUT", "/collections/" + n, {"vectors": {"img": {"size": 2, "distance": "Dot"},
                                                           "txt": {"size": 3, "distance": "Cosine"}}})
        self.upsert([{"id": 1, "vector": {"img": [1, 2], "txt": [3, 0, 4]}}, {"id": 2, "vector": {"img": [2, 2]}}])
        rec = self.c.ok("GET", "/collections/%s/points/1" % n)
        self.assertEqual(rec["vector"], {"img": [1.0, 2.0], "txt": [0.6, 0.0, 0.8]})
        res = self.c.ok("POST", "/collections/%s/points/query" % n, {"query": [1, 1, 0], "using": "txt"})["points"]
        self.assertEqual([p["id"] for p in res], [1])
        self.expect_error("POST", "/collections/%s/points/query" % n, {"query": [1, 1]}, 400,
                          "Wrong input: Not existing vector name error: ")
        self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": 3, "vector": {"zz": [1.0]}}]},
                          400, "Wrong input: Not existing vector name error: zz")

    def test_create_validation(self):
        n = self.name
        self.expect_error("PUT", "/collections/" + n, {"vectors": {"size": 0, "distance": "Dot"}}, 422,
                          violation=True)
        self.expect_error("PUT", "/collections/" + n, {"vectors": {"size": 4, "distance": "Hamming"}}, 400,
                          violation=True)
        self.expect_error("PUT", "/collections/" + n, {"vectors": {"size": 4}}, 400, violation=True)
        self.expect_error("PUT", "/collections/" + n, b"{not json", 400, violation=True)
        self.expect_error("PUT", "/collections/" + n, b"", 400, violation=True)
        # Content type
        before = len(self.violations())
        st, hdrs, data = self.c.raw("PUT", "/collections/" + n, body=b'{"vectors":{"size":4,"distance":"Dot"}}',
                                    headers={"Content-Type": "text/plain"})
        self.assertEqual(st, 400)
        self.assertTrue(json.loads(data)["status"]["error"].startswith("OpenAPI validation failed: "))
        self.assertEqual(len(self.violations()), before + 1)
        # Query parameters: unknown ones and badly typed ones
        self.expect_error("PUT", "/collections/%s?bogus=1" % n, {"vectors": {"size": 4, "distance": "Dot"}}, 400,
                          violation=True)
        self.expect_error("PUT", "/collections/%s?timeout=abc" % n, {"vectors": {"size": 4, "distance": "Dot"}},
                          400, violation=True)
        err = self.expect_error("PUT", "/collections/%s?timeout=0" % n, {"vectors": {"size": 4, "distance": "Dot"}},
                                422, violation=True)
        self.assertEqual(err, "OpenAPI validation failed: Validation error in query parameters: "
                              "[timeout: value 0 invalid, must be 1 or larger]")
        err = self.expect_error("PUT", "/collections/" + n, {"vectors": {"size": 4, "distance": "Dot"},
                                                             "hnsw_config": {"ef_construct": 0}}, 422, violation=True)
        self.assertIn("Validation error in JSON body: [hnsw_config.ef_construct: value 0 invalid", err)
        err = self.expect_error("PUT", "/collections/" + n, {"vectors": {"size": 4, "distance": "Dots"}}, 400,
                                violation=True)
        self.assertIn("Format error in JSON body: ", err)
        self.assertEqual(self.c.call("GET", "/collections/%s/exists" % n)[1]["result"], {"exists": False})
        self.create(n)
        self.assertIs(self.c.ok("DELETE", "/collections/%s?timeout=5" % n), True)

    # ---------------------------------------------------------------- points

    def test_upsert_formats_and_ids(self):
        n = self.create(size=2)
        r0 = self.upsert([{"id": 1, "vector": [1, 2]}], wait=True)
        self.assertEqual(r0, {"operation_id": 0, "status": "completed"})
        r1 = self.upsert([{"id": 2, "vector": [1, 2]}], wait=False)
        self.assertEqual(r1, {"operation_id": 1, "status": "acknowledged"})
        big = 2 ** 64 - 1
        u = uuid.uuid4()
        r2 = self.c.ok("PUT", "/collections/%s/points?wait=true&ordering=strong" % n, {"batch": {
            "ids": [big, str(u).upper(), 2 ** 53 + 1],
            "vectors": [[1, 1], [2, 2], [3, 3]],
            "payloads": [{"k": 2 ** 63 + 5}, None, {"f": 0.1}]}}, op="upsert_points")
        self.assertEqual(r2["operation_id"], 2)
        st, hdrs, data = self.c.raw("POST", "/collections/%s/points" % n,
                                    {"ids": [big, u.hex, "{%s}" % u, 2 ** 53 + 1, 77, 1]})
        self.assertEqual(st, 200)
        self.assertIn(b'"id":18446744073709551615', data)
        self.assertIn(b'"k":9223372036854775813', data)
        self.assertIn(b'"id":9007199254740993', data)
        res = json.loads(data)["result"]
        check_response("get_points", json.loads(data))
        self.assertEqual([r["id"] for r in res], [big, str(u), 2 ** 53 + 1, 1])  # request order, dedup, no 77
        self.assertEqual(res[1], {"id": str(u), "payload": {}})
        self.assertEqual(res[2]["payload"], {"f": 0.1})
        self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": 2 ** 64, "vector": [1, 1]}]},
                          400, violation=True)
        self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": -1, "vector": [1, 1]}]},
                          400, violation=True)
        self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": "not-a-uuid", "vector": [1, 1]}]},
                          400, violation=True)
        self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": 1.5, "vector": [1, 1]}]},
                          400, violation=True)
        self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": 1, "vector": [1, "x"]}]},
                          400, violation=True)
        self.expect_error("PUT", "/collections/%s/points" % n, {"batch": {"ids": [1, 2], "vectors": [[1, 1]]}},
                          422, violation=True)
        self.expect_error("PUT", "/collections/%s/points?wait=yes" % n, {"points": []}, 400, violation=True)
        err = self.expect_error("PUT", "/collections/%s/points" % n, {"points": [{"id": 9, "vector": [1, 2, 3]}]},
                                400)
        self.assertEqual(err, "Wrong input: Vector dimension error: expected dim: 2, got 3")
        self.expect_error("POST", "/collections/%s/points/query" % n, {"query": [1, 2, 3]}, 400,
                          "Wrong input: Vector dimension error: expected dim: 2, got 3")
        self.assertEqual(self.c.ok("POST", "/collections/%s/points/count" % n, {"exact": True},
                                   op="count_points"), {"count": 5})

    def test_upsert_modes(self):
        n = self.create(size=2)
        self.upsert([{"id": 1, "vector": [1, 1], "payload": {"v": 1}}])
        self.c.ok("PUT", "/collections/%s/points?wait=true" % n,
                  {"points": [{"id": 1, "vector": [1, 1], "payload": {"v": 2}},
                              {"id": 2, "vector": [1, 1], "payload": {"v": 2}}], "update_mode": "insert_only"})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/1" % n)["payload"], {"v": 1})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/2" % n)["payload"], {"v": 2})
        self.c.ok("PUT", "/collections/%s/points?wait=true" % n,
                  {"points": [{"id": 1, "vector": [1, 1], "payload": {"v": 3}}],
                   "update_filter": {"must": [{"key": "v", "match": {"value": 9}}]}})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/1" % n)["payload"], {"v": 1})

    def test_cosine_normalisation_and_get_point(self):
        n = self.create(size=2, distance="Cosine")
        self.upsert([{"id": 1, "vector": [3, 4], "payload": {"a": 1}}])
        rec = self.c.ok("GET", "/collections/%s/points/1" % n, op="get_point")
        self.assertEqual(rec, {"id": 1, "payload": {"a": 1}, "vector": [0.6, 0.8]})
        recs = self.c.ok("POST", "/collections/%s/points" % n, {"ids": [1], "with_vector": True,
                                                               "with_payload": False})
        self.assertEqual(recs, [{"id": 1, "vector": [0.6, 0.8]}])
        self.expect_error("GET", "/collections/%s/points/99" % n, None, 404,
                          "Not found: Point with id 99 does not exists!")
        self.expect_error("GET", "/collections/%s/points/abc" % n, None, 400, violation=True)
        u = str(uuid.uuid4())
        self.upsert([{"id": u, "vector": [1, 0]}])
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/%s" % (n, u))["id"], u)
        d = self.create(self.name + "_dot", size=2, distance="Dot")
        self.upsert([{"id": 1, "vector": [3, 4]}], name=d)
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/1" % d)["vector"], [3.0, 4.0])

    def test_delete_points_and_payload_ops(self):
        n = self.create(size=2)
        self.upsert([{"id": i, "vector": [i, 1], "payload": {"n": i, "keep": i % 2 == 0, "o": {"x": 1}}}
                     for i in range(1, 7)])
        r = self.c.ok("POST", "/collections/%s/points/delete?wait=true" % n, {"points": [1, 99]},
                      op="delete_points")
        self.assertEqual(r["status"], "completed")
        self.c.ok("POST", "/collections/%s/points/delete?wait=true" % n,
                  {"filter": {"must": [{"key": "keep", "match": {"value": False}}]}})
        ids = [p["id"] for p in self.c.ok("POST", "/collections/%s/points/scroll" % n, {})["points"]]
        self.assertEqual(ids, [2, 4, 6])
        self.c.ok("POST", "/collections/%s/points/payload?wait=true" % n, {"payload": {"a": 1, "n": None},
                                                                           "points": [2]}, op="set_payload")
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/2" % n)["payload"],
                         {"keep": True, "o": {"x": 1}, "a": 1})
        self.c.ok("POST", "/collections/%s/points/payload?wait=true" % n,
                  {"payload": {"y": 2}, "key": "o", "filter": {"must": [{"has_id": [4]}]}})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/4" % n)["payload"]["o"], {"x": 1, "y": 2})
        self.c.ok("PUT", "/collections/%s/points/payload?wait=true" % n, {"payload": {"z": 1}, "points": [4]})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/4" % n)["payload"], {"z": 1})
        self.c.ok("POST", "/collections/%s/points/payload/delete?wait=true" % n, {"keys": ["o.x"], "points": [6]})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/6" % n)["payload"],
                         {"n": 6, "keep": True, "o": {}})
        self.c.ok("POST", "/collections/%s/points/payload/clear?wait=true" % n, {"points": [6]})
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/6" % n)["payload"], {})
        self.expect_error("POST", "/collections/%s/points/payload" % n, {"payload": {"a": 1}, "points": [42]}, 404,
                          "Not found: No point with id 42 found")
        self.expect_error("POST", "/collections/%s/points/payload" % n, {"payload": {"a": 1}}, 400,
                          violation=True)
        self.expect_error("POST", "/collections/%s/points/delete" % n, {"nothing": 1}, 400, violation=True)

    def test_batch_update_and_vector_ops(self):
        n = self.name
        self.c.ok("PUT", "/collections/" + n, {"vectors": {"a": {"size": 2, "distance": "Dot"},
                                                           "b": {"size": 2, "distance": "Dot"}}})
        res = self.c.ok("POST", "/collections/%s/points/batch?wait=true" % n, {"operations": [
            {"upsert": {"points": [{"id": 1, "vector": {"a": [1, 0], "b": [0, 1]}},
                                   {"id": 2, "vector": {"a": [0, 1]}}]}},
            {"set_payload": {"payload": {"x": 1}, "points": [1, 2]}},
            {"delete": {"points": [2]}},
        ]}, op="batch_update")
        self.assertEqual([r["operation_id"] for r in res], [0, 1, 2])
        self.assertEqual({r["status"] for r in res}, {"completed"})
        self.c.ok("PUT", "/collections/%s/points/vectors?wait=true" % n,
                  {"points": [{"id": 1, "vector": {"a": [5, 5]}}]}, op="update_vectors")
        rec = self.c.ok("GET", "/collections/%s/points/1" % n)
        self.assertEqual(rec, {"id": 1, "payload": {"x": 1}, "vector": {"a": [5.0, 5.0], "b": [0.0, 1.0]}})
        self.c.ok("POST", "/collections/%s/points/vectors/delete?wait=true" % n, {"points": [1], "vector": ["b"]},
                  op="delete_vectors")
        self.assertEqual(self.c.ok("GET", "/collections/%s/points/1" % n)["vector"], {"a": [5.0, 5.0]})
        res = self.c.ok("POST", "/collections/%s/points/search/batch" % n,
                        {"searches": [{"vector": {"name": "a", "vector": [1, 1]}, "limit": 1}]})
        self.assertEqual(res, [[{"id": 1, "version": 4, "score": 10.0}]])  # ops 0-2 batch, 3, 4
        self.expect_error("PUT", "/collections/%s/points/vectors" % n, {"points": [{"id": 7, "vector": {"a": [1, 1]}}]},
                          404, "Not found: No point with id 7 found")

    def test_scroll(self):
        n = self.create(size=2)
        u1, u2 = "00000000-0000-0000-0000-000000000002", "ffffffff-0000-0000-0000-000000000001"
        pts = [{"id": i, "vector": [i, 0], "payload": {"i": i}} for i in (5, 1, 3, 2, 4)]
        pts += [{"id": u2, "vector": [0, 1]}, {"id": u1, "vector": [0, 2]}]
        self.upsert(pts)
        page = self.c.ok("POST", "/collections/%s/points/scroll" % n, {"limit": 2}, op="scroll_points")
        self.assertEqual(page, {"points": [{"id": 1, "payload": {"i": 1}}, {"id": 2, "payload": {"i": 2}}],
                                "next_page_offset": 3})
        page = self.c.ok("POST", "/collections/%s/points/scroll" % n,
                         {"limit": 3, "offset": 4, "with_payload": False, "with_vector": True})
        self.assertEqual(page["points"], [{"id": 4, "vector": [4.0, 0.0]}, {"id": 5, "vector": [5.0, 0.0]},
                                          {"id": u1, "vector": [0.0, 2.0]}])
        self.assertEqual(page["next_page_offset"], u2)
        page = self.c.ok("POST", "/collections/%s/points/scroll" % n, {"offset": u2})
        self.assertEqual(page, {"points": [{"id": u2, "payload": {}}], "next_page_offset": None})
        page = self.c.ok("POST", "/collections/%s/points/scroll" % n,
                         {"filter": {"must": [{"key": "i", "range": {"gt": 1, "lte": 4}}]}, "with_payload": ["i"]})
        self.assertEqual([p["id"] for p in page["points"]], [2, 3, 4])
        # order_by needs a range index
        self.expect_error("POST", "/collections/%s/points/scroll" % n, {"order_by": "i"}, 400,
                          prefix="Wrong input: No range index for `order_by` key: `i`.")
        self.c.ok("PUT", "/collections/%s/index?wait=true" % n, {"field_name": "i", "field_schema": "integer"})
        page = self.c.ok("POST", "/collections/%s/points/scroll" % n,
                         {"order_by": {"key": "i", "direction": "desc"}, "limit": 2})
        self.assertEqual(page["points"], [{"id": 5, "payload": {"i": 5}, "order_value": 5},
                                          {"id": 4, "payload": {"i": 4}, "order_value": 4}])
        self.assertIsNone(page["next_page_offset"])

    def test_query_docs_example_dot(self):
        # Expected scores are the ones printed in Qdrant's OpenAPI description.
        self.docs_collection()
        n = self.name
        res = self.c.ok("POST", "/collections/%s/points/search" % n, {"vector": [0.2, 0.1, 0.9, 0.7], "limit": 3},
                        op=None)
        self.assertEqual([p["id"] for p in res], [4, 1, 3])
        for p, want in zip(res, (1.362, 1.273, 1.208)):
            self.assertAlmostEqual(p["score"], want, places=6)
            self.assertEqual(set(p), {"id", "version", "score"})
        res = self.c.ok("POST", "/collections/%s/points/search" % n, {
            "vector": [0.2, 0.1, 0.9, 0.7], "limit": 3,
            "filter": {"should": [{"key": "city", "match": {"value": "London"}}]}})
        self.assertEqual([p["id"] for p in res], [4, 2])
        self.assertAlmostEqual(res[1]["score"], 0.871, places=6)
        q = self.c.ok("POST", "/collections/%s/points/query" % n, {"query": [0.2, 0.1, 0.9, 0.7], "limit": 3},
                      op="query_points")
        self.assertEqual([p["id"] for p in q["points"]], [4, 1, 3])
        self.assertAlmostEqual(q["points"][0]["score"], 1.362, places=6)
        q = self.c.ok("POST", "/collections/%s/points/query" % n,
                      {"query": {"nearest": [0.2, 0.1, 0.9, 0.7]}, "limit": 2, "offset": 1, "with_payload": True,
                       "with_vector": True, "score_threshold": 1.2})
        self.assertEqual([p["id"] for p in q["points"]], [1, 3])
        self.assertEqual(q["points"][0]["payload"], {"city": "Berlin"})
        self.assertEqual(q["points"][0]["vector"], [0.05, 0.61, 0.76, 0.74])
        q = self.c.ok("POST", "/collections/%s/points/query" % n, {"query": 4, "limit": 2})
        self.assertNotIn(4, [p["id"] for p in q["points"]])
        self.expect_error("POST", "/collections/%s/points/query" % n, {"query": 99}, 404,
                          "Not found: No point with id 99 found")
        q = self.c.ok("POST", "/collections/%s/points/query" % n, {"limit": 2})
        self.assertEqual(q["points"], [{"id": 1, "version": 0, "score": 1.0}, {"id": 2, "version": 0, "score": 1.0}])
        batch = self.c.ok("POST", "/collections/%s/points/query/batch" % n,
                          {"searches": [{"query": [0.2, 0.1, 0.9, 0.7], "limit": 1}, {"query": [1, 0, 0, 0], "limit": 1}]},
                          op="query_batch_points")
        self.assertEqual([b["points"][0]["id"] for b in batch], [4, 3])
        self.expect_error("POST", "/collections/%s/points/query" % n, {"query": [1, 2, 3, 4], "limit": 0}, 422,
                          violation=True)
        self.expect_error("POST", "/collections/%s/points/search" % n, {"vector": [1, 2, 3, 4]}, 400,
                          violation=True)

    def test_distances(self):
        random.seed(7)
        dim = 16
        vecs = {i: [random.uniform(-1, 1) for _ in range(dim)] for i in range(1, 41)}
        query = [random.uniform(-1, 1) for _ in range(dim)]

        def norm(v):
            v = [f32(x) for x in v]
            s = f32(sum(x * x for x in v))
            if abs(s - 1.0) <= 1e-6:
                return v
            ln = f32(math.sqrt(s))
            return [f32(x / ln) for x in v]

        def expected(dist, v):
            a, b = [f32(x) for x in query], [f32(x) for x in v]
            if dist == "Cosine":
                a, b = norm(query), norm(v)
                return sum(x * y for x, y in zip(a, b))
            if dist == "Dot":
                return sum(x * y for x, y in zip(a, b))
            if dist == "Euclid":
                return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b)))
            return sum(abs(x - y) for x, y in zip(a, b))

        for dist in ("Cosine", "Dot", "Euclid", "Manhattan"):
            n = self.create(self.name + dist, size=dim, distance=dist)
            self.upsert([{"id": i, "vector": v} for i, v in vecs.items()], name=n)
            exp = sorted(((expected(dist, v), i) for i, v in vecs.items()),
                         key=lambda t: (-t[0], t[1]) if dist in ("Cosine", "Dot") else (t[0], t[1]))
            res = self.c.ok("POST", "/collections/%s/points/query" % n, {"query": query, "limit": 40})["points"]
            self.assertEqual(len(res), 40)
            for got, (score, i) in zip(res, exp):
                self.assertAlmostEqual(got["score"], score, delta=1e-6, msg=dist)
            got_scores = [p["score"] for p in res]
            if dist in ("Cosine", "Dot"):
                self.assertEqual(got_scores, sorted(got_scores, reverse=True))
            else:
                self.assertEqual(got_scores, sorted(got_scores))
            # score_threshold: lower bound for similarities, upper bound for distances (strict)
            thr = res[9]["score"]
            res2 = self.c.ok("POST", "/collections/%s/points/query" % n,
                             {"query": query, "limit": 40, "score_threshold": thr})["points"]
            self.assertEqual([p["id"] for p in res2], [p["id"] for p in res[:9]], dist)

    def test_euclid_example_from_qdrant_tests(self):
        # tests/openapi/test_euclid_dist.py in qdrant/qdrant
        n = self.create(size=2, distance="Euclid")
        self.upsert([{"id": 1, "vector": [0.0, 0.0]}, {"id": 2, "vector": [0.0, 1.0]},
                     {"id": 3, "vector": [-1.0, -1.0]}])
        res = self.c.ok("POST", "/collections/%s/points/query" % n, {"query": [1.0, 1.0], "limit": 3})["points"]
        self.assertEqual([p["id"] for p in res], [2, 1, 3])
        self.assertEqual([p["score"] for p in res], [1.0, 1.4142135, 2.828427])
        res = self.c.ok("POST", "/collections/%s/points/query" % n,
                        {"query": [1.0, 1.0], "limit": 3, "score_threshold": 1.5})["points"]
        self.assertEqual([p["id"] for p in res], [2, 1])

    def test_filters(self):
        n = self.create(size=2)
        pts = [
            {"id": 1, "vector": [1, 0], "payload": {"city": "Berlin", "n": 1, "ok": True, "tags": ["a", "b"],
                                                    "geo": {"lat": 52.52, "lon": 13.40},
                                                    "nested": {"deep": {"v": 10}}, "text": "hello big world",
                                                    "arr": [{"x": 1, "y": "a"}, {"x": 2, "y": "b"}]}},
            {"id": 2, "vector": [1, 0], "payload": {"city": "London", "n": 2, "ok": False, "tags": [],
                                                    "nested": {"deep": {"v": 20}}, "text": "goodbye",
                                                    "arr": [{"x": 1, "y": "b"}]}},
            {"id": 3, "vector": [1, 0], "payload": {"city": ["Moscow", "London"], "n": 3.5, "tags": None,
                                                    "geo": {"lat": 51.5, "lon": -0.12}}},
            {"id": 4, "vector": [1, 0], "payload": {"n": 4, "city": None}},
            {"id": 5, "vector": [1, 0]},
        ]
        self.upsert(pts)

        def ids(flt):
            page = self.c.ok("POST", "/collections/%s/points/scroll" % n, {"filter": flt, "with_payload": False})
            cnt = self.c.ok("POST", "/collections/%s/points/count" % n, {"filter": flt})["count"]
            got = [p["id"] for p in page["points"]]
            self.assertEqual(cnt, len(got))
            return got

        m = lambda key, **kw: {"key": key, **kw}
        self.assertEqual(ids({"must": [m("city", match={"value": "London"})]}), [2, 3])
        self.assertEqual(ids({"must": m("city", match={"value": "London"})}), [2, 3])  # single condition
        self.assertEqual(ids({"must": [m("n", match={"value": 2})]}), [2])
        self.assertEqual(ids({"must": [m("n", match={"value": 3})]}), [])  # 3.5 is not the integer 3
        self.assertEqual(ids({"must": [m("ok", match={"value": True})]}), [1])
        self.assertEqual(ids({"must": [m("city", match={"any": ["Berlin", "Moscow"]})]}), [1, 3])
        self.assertEqual(ids({"must": [m("n", match={"any": [1, 4]})]}), [1, 4])
        self.assertEqual(ids({"must": [m("city", match={"except": ["Berlin"]})]}), [2, 3])
        self.assertEqual(ids({"must": [m("text", match={"text": "big"})]}), [1])
        self.assertEqual(ids({"must": [m("n", range={"gte": 2, "lt": 4})]}), [2, 3])
        self.assertEqual(ids({"must": [{"has_id": [1, 5, 77]}]}), [1, 5])
        self.assertEqual(ids({"must": [{"is_empty": {"key": "tags"}}]}), [2, 3, 4, 5])
        self.assertEqual(ids({"must": [{"is_null": {"key": "city"}}]}), [4])
        self.assertEqual(ids({"must": [m("nested.deep.v", range={"gt": 15})]}), [2])
        self.assertEqual(ids({"must": [m("arr[].x", match={"value": 2})]}), [1])
        self.assertEqual(ids({"must": [{"nested": {"key": "arr", "filter": {
            "must": [m("x", match={"value": 1}), m("y", match={"value": "b"})]}}}]}), [2])
        self.assertEqual(ids({"must": [m("tags", values_count={"gte": 2})]}), [1])
        self.assertEqual(ids({"should": [m("n", match={"value": 1}), m("n", match={"value": 4})],
                              "must_not": [{"has_id": [4]}]}), [1])
        self.assertEqual(ids({"must_not": [{"should": [m("city", match={"value": "London"}),
                                                       {"is_empty": {"key": "city"}}]}]}), [1])
        self.assertEqual(ids({"min_should": {"conditions": [m("n", range={"lte": 2}), m("ok", match={"value": True}),
                                                            m("city", match={"value": "Berlin"})],
                                             "min_count": 2}}), [1])
        self.assertEqual(ids({"must": [m("geo", geo_radius={"center": {"lat": 52.5, "lon": 13.4},
                                                            "radius": 10000.0})]}), [1])
        self.assertEqual(ids({"must": [m("geo", geo_bounding_box={"top_left": {"lat": 52, "lon": -1},
                                                                  "bottom_right": {"lat": 51, "lon": 1}})]}), [3])
        self.assertEqual(ids({"must": [m("missing", match={"value": "x"})]}), [])
        self.assertEqual(ids({"must_not": [m("missing", match={"value": "x"})]}), [1, 2, 3, 4, 5])
        # Spec violations in filters
        for bad in ({"must": [{"key": "n", "match": {"value": 1.5}}]},
                    {"must": [{"key": "n", "range": {"gt": "x"}}]},
                    {"must": [{"has_id": ["zzz"]}]},
                    {"bogus": []}):
            self.expect_error("POST", "/collections/%s/points/scroll" % n, {"filter": bad}, 400, violation=True)
        self.expect_error("POST", "/collections/%s/points/count" % n, {"filter": {"must": [{"key": "n"}]}}, 422,
                          violation=True)

    def test_payload_index(self):
        n = self.create(size=2)
        self.upsert([{"id": 1, "vector": [1, 0], "payload": {"city": "Berlin", "n": 1}},
                     {"id": 2, "vector": [1, 0], "payload": {"city": ["A", "B"]}}])
        r = self.c.ok("PUT", "/collections/%s/index?wait=true" % n, {"field_name": "city", "field_schema": "keyword"},
                      op="create_field_index")
        self.assertEqual(r, {"operation_id": 1, "status": "completed"})
        self.c.ok("PUT", "/collections/%s/index" % n, {"field_name": "n", "field_schema": {"type": "integer",
                                                                                          "range": True}})
        info = self.c.ok("GET", "/collections/" + n, op="get_collection")
        self.assertEqual(info["payload_schema"]["city"], {"data_type": "keyword", "points": 2})
        self.assertEqual(info["payload_schema"]["n"]["data_type"], "integer")
        self.assertEqual(info["payload_schema"]["n"]["params"], {"type": "integer", "range": True})
        self.expect_error("PUT", "/collections/%s/index" % n, {"field_name": "x"}, 400,
                          "Bad request: Can't auto-detect field type, please specify `field_schema` in the request")
        self.expect_error("PUT", "/collections/%s/index" % n, {"field_name": "x", "field_schema": "vector"}, 400,
                          violation=True)
        r = self.c.ok("DELETE", "/collections/%s/index/city?wait=true" % n, op="delete_field_index")
        self.assertEqual(r["status"], "completed")
        self.assertNotIn("city", self.c.ok("GET", "/collections/" + n)["payload_schema"])

    def test_aliases(self):
        a = self.create(self.name + "_a", size=2)
        b = self.create(self.name + "_b", size=2)
        self.upsert([{"id": 1, "vector": [1, 0]}], name=a)
        al = self.name + "_alias"
        self.assertIs(self.c.ok("POST", "/collections/aliases", {"actions": [
            {"create_alias": {"collection_name": a, "alias_name": al}}]}, op="update_aliases"), True)
        listed = self.c.ok("GET", "/aliases", op="get_collections_aliases")["aliases"]
        self.assertIn({"alias_name": al, "collection_name": a}, listed)
        self.assertEqual(self.c.ok("GET", "/collections/%s/aliases" % a, op="get_collection_aliases"),
                         {"aliases": [{"alias_name": al, "collection_name": a}]})
        # points operations and collection info resolve aliases
        self.assertEqual(self.c.ok("POST", "/collections/%s/points/count" % al, {})["count"], 1)
        self.upsert([{"id": 2, "vector": [0, 1]}], name=al)
        self.assertEqual(self.c.ok("GET", "/collections/%s" % al)["points_count"], 2)
        self.assertEqual(self.c.ok("GET", "/collections/%s/exists" % al), {"exists": True})
        # alias named like an existing collection: 409
        self.expect_error("POST", "/collections/aliases", {"actions": [
            {"create_alias": {"collection_name": a, "alias_name": b}}]}, 409,
            "Wrong input: Collection `%s` already exists!" % b)
        # collection named like an existing alias: 400
        self.expect_error("PUT", "/collections/" + al, {"vectors": {"size": 2, "distance": "Dot"}}, 400,
                          "Wrong input: Can't create collection with name %s. Alias with the same name already exists"
                          % al)
        # deleting a missing alias is fine; renaming one is 404
        self.assertIs(self.c.ok("POST", "/collections/aliases", {"actions": [
            {"delete_alias": {"alias_name": "no_such_alias_" + self.name}}]}), True)
        self.expect_error("POST", "/collections/aliases", {"actions": [
            {"rename_alias": {"old_alias_name": "no_such_" + self.name, "new_alias_name": "x"}}]}, 404,
            "Not found: Alias no_such_%s does not exists!" % self.name)
        # create over an existing alias re-points it
        self.c.ok("POST", "/collections/aliases", {"actions": [{"create_alias": {"collection_name": b,
                                                                                  "alias_name": al}}]})
        self.assertEqual(self.c.ok("GET", "/collections/%s/aliases" % b)["aliases"][0]["alias_name"], al)
        # actions apply in order, no rollback when a later one fails
        al2 = al + "2"
        self.expect_error("POST", "/collections/aliases", {"actions": [
            {"create_alias": {"collection_name": a, "alias_name": al2}},
            {"create_alias": {"collection_name": "missing_" + self.name, "alias_name": al + "3"}}]}, 404,
            "Not found: Collection `missing_%s` doesn't exist!" % self.name)
        self.assertEqual(self.c.ok("GET", "/collections/%s/exists" % al2), {"exists": True})
        self.c.ok("POST", "/collections/aliases", {"actions": [{"rename_alias": {"old_alias_name": al2,
                                                                                  "new_alias_name": al + "4"}}]})
        self.assertEqual(self.c.ok("GET", "/collections/%s/aliases" % a)["aliases"],
                         [{"alias_name": al + "4", "collection_name": a}])
        # deleting through an alias name deletes nothing; deleting the collection drops its aliases
        self.assertIs(self.c.ok("DELETE", "/collections/" + al), False)
        self.assertIs(self.c.ok("DELETE", "/collections/" + b), True)
        self.assertEqual(self.c.ok("GET", "/collections/%s/exists" % al), {"exists": False})
        self.assertNotIn(al, [x["alias_name"] for x in self.c.ok("GET", "/aliases")["aliases"]])
        self.expect_error("POST", "/collections/aliases", {"actions": [{"make_alias": {}}]}, 400, violation=True)

    def test_bulk_upsert_speed(self):
        n = self.create(size=384, distance="Cosine")
        random.seed(3)
        vecs = [[random.random() for _ in range(384)] for _ in range(256)]
        batches = []
        for b in range(4):
            batches.append(json.dumps({"points": [{"id": b * 256 + i, "vector": v, "payload": {"i": i}}
                                                  for i, v in enumerate(vecs)]}))
        batches.append(json.dumps({"batch": {"ids": list(range(1024, 1280)), "vectors": vecs}}))
        t = time.perf_counter()
        for body in batches:
            st, hdrs, data = self.c.raw("PUT", "/collections/%s/points?wait=true" % n, body,
                                        {"Content-Type": "application/json"})
            self.assertEqual(st, 200, data[:200])
        per = (time.perf_counter() - t) / len(batches)
        sys.stderr.write("\n[bulk upsert 256x384: %.1f ms/request] " % (per * 1000))
        self.assertLess(per, 0.25)
        self.assertEqual(self.c.ok("GET", "/collections/" + n)["points_count"], 1280)
        t = time.perf_counter()
        res = self.c.ok("POST", "/collections/%s/points/query" % n, {"query": vecs[0], "limit": 5})
        self.assertLess(time.perf_counter() - t, 1.0)
        self.assertAlmostEqual(res["points"][0]["score"], 1.0, delta=1e-6)

    def test_validation_cost(self):
        route = SPEC.by_op["upsert_points"]
        random.seed(5)
        body = json.dumps({"points": [{"id": i, "vector": [random.random() for _ in range(384)],
                                       "payload": {"i": i}} for i in range(256)]})
        obj = json.loads(body)
        _, _, v = route.compiled()
        qs.check_schema(v, obj, "x")
        t = time.perf_counter()
        for _ in range(10):
            qs.check_schema(v, obj, "JSON body")
        per = (time.perf_counter() - t) / 10
        sys.stderr.write("\n[schema validation of a 256x384 upsert: %.2f ms] " % (per * 1000))
        self.assertLess(per, 0.05)

    def test_concurrent_connections(self):
        n = self.create(size=2)
        clients = [Client(self.port) for _ in range(5)]
        for i, cl in enumerate(clients):
            cl.ok("PUT", "/collections/%s/points?wait=true" % n, {"points": [{"id": i, "vector": [i, 1]}]})
        for cl in clients:
            self.assertEqual(cl.ok("POST", "/collections/%s/points/count" % n, {})["count"], 5)
            cl.conn.close()

    def test_unimplemented_operation(self):
        st, js = self.c.call("GET", "/telemetry")
        self.assertEqual(st, 501)
        self.assertIn("not supported by the qdrant test server", js["status"]["error"])


class ApiKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_server("--api-key", "s3cret")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGINT)
        assert cls.proc.wait(5) == 0
        cls.proc.stdout.close()
        cls.proc.stderr.close()

    def test_auth(self):
        c = Client(self.port)
        st, hdrs, data = c.raw("GET", "/collections")
        self.assertEqual((st, data), (401, b"Must provide an API key or an Authorization bearer token"))
        st, hdrs, data = c.raw("GET", "/collections", headers={"api-key": "wrong"})
        self.assertEqual((st, data), (401, b"Invalid API key or JWT"))
        st, hdrs, data = c.raw("GET", "/no/such/path")
        self.assertEqual(st, 401)
        for path in ("/", "/healthz", "/readyz", "/livez"):
            st, hdrs, data = c.raw("GET", path)
            self.assertEqual(st, 200, path)
        st, hdrs, data = c.raw("GET", "/telemetry")
        self.assertEqual(st, 401)
        self.assertEqual(c.raw("GET", "/collections", headers={"api-key": "s3cret"})[0], 200)
        self.assertEqual(c.raw("GET", "/collections", headers={"Authorization": "Bearer s3cret"})[0], 200)
        self.assertEqual(c.raw("GET", "/no/such/path", headers={"api-key": "s3cret"})[0], 404)
        c.conn.close()


class OldVersionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port = start_server("--version", "1.9.0")

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        assert cls.proc.wait(5) == 0
        cls.proc.stdout.close()
        cls.proc.stderr.close()

    def test_query_missing_search_present(self):
        c = Client(self.port)
        st, hdrs, data = c.raw("GET", "/")
        self.assertEqual(json.loads(data)["version"], "1.9.0")
        c.ok("PUT", "/collections/old", {"vectors": {"size": 2, "distance": "Dot"}})
        c.ok("PUT", "/collections/old/points?wait=true", {"points": [{"id": 1, "vector": [1, 2]}]})
        st, hdrs, data = c.raw("POST", "/collections/old/points/query", {"query": [1, 1]})
        self.assertEqual((st, data), (404, b""))
        res = c.ok("POST", "/collections/old/points/search", {"vector": [1, 1], "limit": 1, "with_payload": True})
        self.assertEqual(res, [{"id": 1, "version": 0, "score": 3.0, "payload": {}}])
        c.conn.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
