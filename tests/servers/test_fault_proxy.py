#!/usr/bin/env python3
"""Self-test of tests/servers/fault_proxy.py (stdlib unittest + raw sockets).

Run:  /usr/bin/python3 tests/servers/test_fault_proxy.py
It starts a small upstream in this process and the proxy as a subprocess, and checks the
forwarding (keep-alive, Content-Length and chunked bodies, responses passed on as they arrive,
a client that leaves a stream), each fault, reproducibility, the control endpoints, and a
DriftQ consume stream through the proxy (tests/servers/driftq_broker.py).
"""

import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
PROXY = os.path.join(HERE, "fault_proxy.py")
BROKER = os.path.join(HERE, "driftq_broker.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def start_script(path, prefix, *args):
    p = subprocess.Popen([PYTHON, path, "--port", "0"] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    line = p.stdout.readline().decode()
    assert line.startswith(prefix + "http://127.0.0.1:"), (line, p.stderr.read().decode())
    return p, int(line.strip().rsplit(":", 1)[1])


def stop_script(p):
    p.send_signal(signal.SIGTERM)
    t = time.time()
    rc = p.wait(5)
    p.stdout.close()
    p.stderr.close()
    return rc, time.time() - t


# --------------------------------------------------------------------------
# The upstream

class Upstream(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), UpstreamHandler)
        self.lock = threading.Lock()
        self.applied = 0
        self.connections = set()
        self.hold_closed = threading.Event()
        self.stream_gate = threading.Event()
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()

    @property
    def port(self):
        return self.server_address[1]


class UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            out = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return b"".join(out)
                out.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def send_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def handle_any(self):
        srv = self.server
        body = self.body()
        with srv.lock:
            srv.connections.add(self.client_address[1])
        path = self.path.split("?")[0]
        if path in ("/echo", "/apply"):
            if path == "/apply":
                with srv.lock:
                    srv.applied += 1
            self.send_json(200, {"method": self.command, "path": self.path,
                                 "headers": {k.lower(): v for k, v in self.headers.items()},
                                 "body": body.decode("latin-1"),
                                 "conn": self.client_address[1]})
        elif path == "/applied":
            with srv.lock:
                self.send_json(200, {"applied": srv.applied})
        elif path == "/stream":  # two lines, the second only once the test opens the gate
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b'{"n":1}\n')
            srv.stream_gate.wait(10)
            self.chunk(b'{"n":2}\n')
            self.wfile.write(b"0\r\n\r\n")
        elif path == "/hold":  # one line, then nothing until the peer goes away
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.chunk(b"first\n")
            r, _, _ = select.select([self.connection], [], [], 10)
            if r and not self.connection.recv(1):
                srv.hold_closed.set()
            self.close_connection = True
        elif path == "/until-close":  # a body delimited by the end of the connection
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"all of it")
            self.close_connection = True
        elif path == "/empty":
            self.send_response(204)
            self.end_headers()
        else:
            self.send_json(404, {"error": "no such path"})

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


# --------------------------------------------------------------------------
# Raw client helpers

def raw_request(port, data, timeout=5.0):
    """Sends raw bytes; returns everything the proxy sent until it closed or went quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = Upstream()
        cls.proc, cls.port = start_script(PROXY, "PROXY_URL=", "--upstream",
                                          "http://127.0.0.1:%d" % cls.up.port)

    @classmethod
    def tearDownClass(cls):
        rc, took = stop_script(cls.proc)
        cls.up.shutdown()
        cls.up.server_close()
        assert rc == 0 and took < 2.0, (rc, took)

    def setUp(self):
        self.configure(rate_503=0.0, rate_drop=0.0, rate_drop_after=0.0, delay_ms=0,
                       rate_delay=1.0, seed=0, retry_after=None, error_style="qdrant",
                       match=None)
        self.reset()

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def call(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if not conn:
            c.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def configure(self, **kw):
        st, _, data = self.call("POST", "/__proxy/config", json.dumps(kw))
        self.assertEqual(st, 200, data)
        return json.loads(data)

    def stats(self):
        return json.loads(self.call("GET", "/__proxy/stats")[2])

    def reset(self):
        self.assertEqual(self.call("POST", "/__proxy/reset")[0], 200)

    def applied(self):
        return json.loads(self.call("GET", "/applied")[2])["applied"]


class Forwarding(Base):
    def test_keep_alive_and_bodies(self):
        c = self.conn()
        conns = set()
        for i in range(5):
            body = ("x" * i * 1000).encode()
            st, h, data = self.call("POST", "/echo?i=%d" % i, body,
                                    {"Content-Type": "text/plain", "X-Test": "yes"}, conn=c)
            self.assertEqual(st, 200)
            js = json.loads(data)
            self.assertEqual(js["path"], "/echo?i=%d" % i)
            self.assertEqual(js["body"], body.decode())
            self.assertEqual(js["headers"]["x-test"], "yes")
            self.assertEqual(js["headers"]["host"], "127.0.0.1:%d" % self.up.port)
            conns.add(js["conn"])
        c.close()
        self.assertEqual(len(conns), 1, "one upstream connection for one kept-alive client")
        s = self.stats()
        self.assertEqual((s["requests"], s["forwarded"], s["503"]), (5, 5, 0))

    def test_chunked_request_body(self):
        data = raw_request(self.port, b"POST /echo HTTP/1.1\r\nHost: x\r\n"
                           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                           b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        self.assertTrue(head.startswith(b"HTTP/1.1 200"), data)
        self.assertEqual(json.loads(body)["body"], "hello world")

    def test_expect_continue(self):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                  b"Expect: 100-continue\r\nConnection: close\r\n\r\n")
        self.assertTrue(s.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n"))
        s.sendall(b"abc")
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
        s.close()
        self.assertIn(b'"body": "abc"', out)
        self.assertNotIn(b"expect", out.lower().partition(b"\r\n\r\n")[2])

    def test_stream_passed_on_as_it_arrives(self):
        self.up.stream_gate.clear()
        c = self.conn()
        c.request("GET", "/stream")
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        self.assertEqual(r.readline(), b'{"n":1}\n', "the first line before the second exists")
        self.up.stream_gate.set()
        self.assertEqual(r.readline(), b'{"n":2}\n')
        self.assertEqual(r.read(), b"")
        # the connection stays usable
        c.request("GET", "/echo")
        self.assertEqual(c.getresponse().status, 200)
        c.close()

    def test_client_leaving_a_stream_closes_upstream(self):
        self.up.hold_closed.clear()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while b"first\n" not in got:
            got += s.recv(1000)
        s.close()
        self.assertTrue(self.up.hold_closed.wait(3), "the upstream saw the stream end")

    def test_close_delimited_and_no_content(self):
        data = raw_request(self.port, b"GET /until-close HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertTrue(data.startswith(b"HTTP/1.1 200"))
        self.assertTrue(data.endswith(b"\r\n\r\nall of it"), data)
        c = self.conn()
        for _ in range(2):
            st, _, body = self.call("GET", "/empty", conn=c)
            self.assertEqual((st, body), (204, b""))
            st, _, body = self.call("HEAD", "/echo", conn=c)
            self.assertEqual((st, body), (200, b""))
        c.close()

    def test_upstream_down(self):
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        dead = free.getsockname()[1]
        free.close()  # nothing listens there now
        p, port = start_script(PROXY, "PROXY_URL=", "--upstream", "http://127.0.0.1:%d" % dead)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/x")
            r = c.getresponse()
            self.assertEqual(r.status, 502)
            self.assertIn("upstream error", json.loads(r.read())["status"]["error"])
            c.close()
        finally:
            stop_script(p)


class Faults(Base):
    def test_503(self):
        self.configure(rate_503=1.0)
        st, h, data = self.call("PUT", "/apply", b"{}")
        self.assertEqual(st, 503)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(json.loads(data)["status"]["error"], "injected by fault_proxy")
        self.assertNotIn("retry-after", h)
        self.configure(error_style="driftq", retry_after=2)
        st, h, data = self.call("PUT", "/apply", b"{}")
        self.assertEqual(json.loads(data), {"error": "UNAVAILABLE",
                                            "message": "injected by fault_proxy"})
        self.assertEqual(h["retry-after"], "2")
        self.configure(error_style="plain")
        st, h, data = self.call("PUT", "/apply", b"{}")
        self.assertTrue(h["content-type"].startswith("text/plain"))
        self.assertEqual(data, b"injected by fault_proxy\n")
        self.configure(rate_503=0.0)
        s = self.stats()
        self.assertEqual((s["requests"], s["503"], s["forwarded"]), (3, 3, 0),
                         "a 503 is never forwarded")

    def test_503_keeps_the_connection(self):
        self.configure(rate_503=1.0, match="^PUT ")
        c = self.conn()
        self.assertEqual(self.call("PUT", "/apply", b"1", conn=c)[0], 503)
        self.assertEqual(self.call("GET", "/echo", conn=c)[0], 200, "not matched: forwarded")
        self.assertEqual(self.call("PUT", "/apply", b"2", conn=c)[0], 503)
        c.close()
        s = self.stats()
        self.assertEqual((s["requests"], s["matched"], s["503"]), (3, 2, 2))

    def test_drop_before(self):
        before = self.applied()
        self.configure(rate_drop=1.0)
        data = raw_request(self.port, b"POST /apply HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           b"\r\n{}")
        self.assertEqual(data, b"", "closed without a byte")
        self.configure(rate_drop=0.0)
        self.assertEqual(self.applied(), before, "not forwarded")
        self.assertEqual(self.stats()["drop"], 1)

    def test_drop_after(self):
        before = self.applied()
        self.reset()
        self.configure(rate_drop_after=1.0, match="^POST /apply")
        data = raw_request(self.port, b"POST /apply HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                           b"\r\n{}")
        self.assertEqual(data, b"", "the reply is lost")
        self.assertEqual(self.applied(), before + 1, "but the request was applied")
        s = self.stats()
        self.assertEqual((s["drop_after"], s["forwarded"]), (1, 2))

    def test_delay(self):
        self.configure(delay_ms=300)
        t = time.monotonic()
        self.assertEqual(self.call("GET", "/echo")[0], 200)
        self.assertGreaterEqual(time.monotonic() - t, 0.29)
        self.configure(rate_delay=0.0)
        t = time.monotonic()
        self.assertEqual(self.call("GET", "/echo")[0], 200)
        self.assertLess(time.monotonic() - t, 0.29)
        self.assertEqual(self.stats()["delay"], 1)

    def outcomes(self, bodies, conn=None):
        c = conn or self.conn()
        out = {}
        for b in bodies:
            try:
                st = self.call("POST", "/echo", b, conn=c)[0]
            except (http.client.HTTPException, OSError):
                st = "dropped"
                c.close()
                c = self.conn()
            out[b] = st
        c.close()
        return out

    def test_reproducible(self):
        bodies = [b"body %d" % i for i in range(400)]
        self.configure(rate_503=0.3, rate_drop=0.1, seed=7)
        first = self.outcomes(bodies)
        n503 = sum(1 for v in first.values() if v == 503)
        ndrop = sum(1 for v in first.values() if v == "dropped")
        self.assertTrue(90 <= n503 <= 150, n503)
        self.assertTrue(20 <= ndrop <= 60, ndrop)
        s = self.stats()
        self.assertEqual((s["503"], s["drop"]), (n503, ndrop))
        self.configure(seed=7)  # restarts the decisions
        self.assertEqual(self.outcomes(list(reversed(bodies))), first,
                         "the same decisions, whatever the order")
        again = self.outcomes(bodies)  # the second time each body is seen: other decisions
        self.assertNotEqual(again, first)
        self.configure(seed=8)
        self.assertNotEqual(self.outcomes(bodies), first, "another seed, other decisions")
        self.reset()
        self.configure(seed=7)
        self.assertEqual(self.outcomes(bodies), first, "after a reset: the same again")

    def test_parallel_clients(self):
        self.configure(rate_503=0.5, seed=3)
        results = {}

        def worker(k):
            results[k] = self.outcomes([b"w%d-%d" % (k, i) for i in range(30)])

        ts = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        total = sum(len(r) for r in results.values())
        n503 = sum(1 for r in results.values() for v in r.values() if v == 503)
        self.assertEqual(total, 180)
        s = self.stats()
        self.assertEqual((s["requests"], s["503"], s["forwarded"]), (180, n503, 180 - n503))


class Control(Base):
    def test_config_validation(self):
        for bad in ({"rate_503": 1.5}, {"rate_503": 0.6, "rate_drop": 0.5}, {"nope": 1},
                    {"delay_ms": -1}, {"seed": "x"}, {"match": "("}, {"error_style": "x"}, [1]):
            st, _, data = self.call("POST", "/__proxy/config", json.dumps(bad))
            self.assertEqual(st, 400, (bad, data))
        cfg = json.loads(self.call("GET", "/__proxy/config")[2])
        self.assertEqual(cfg["rate_503"], 0.0, "a refused change changes nothing")
        self.assertEqual(self.call("GET", "/__proxy/nothing")[0], 404)
        self.assertEqual(self.stats()["requests"], 0, "control requests are not proxied")

    def test_command_line(self):
        p, port = start_script(PROXY, "PROXY_URL=", "--upstream",
                               "http://127.0.0.1:%d" % self.up.port, "--rate-503", "0.25",
                               "--seed", "5", "--delay-ms", "10", "--match", "^PUT")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/__proxy/config")
            cfg = json.loads(c.getresponse().read())
            c.close()
            self.assertEqual((cfg["rate_503"], cfg["seed"], cfg["delay_ms"], cfg["match"]),
                             (0.25, 5, 10, "^PUT"))
        finally:
            rc, took = stop_script(p)
        self.assertEqual(rc, 0)
        self.assertLess(took, 2.0)
        bad = subprocess.run([PYTHON, PROXY, "--upstream", "ftp://x", "--port", "0"],
                             capture_output=True)
        self.assertEqual(bad.returncode, 2)
        self.assertEqual(bad.stdout, b"")


@unittest.skipUnless(os.path.exists(BROKER), "no DriftQ test broker")
class DriftqStream(unittest.TestCase):
    """DriftQ's consume stream (no headers until a message is ready, then one NDJSON line per
    message) through the proxy, with produces through the proxy on another connection."""

    def test_consume_through_proxy(self):
        datadir = tempfile.mkdtemp(prefix="fault-proxy-driftq-")
        broker, bport = start_script(BROKER, "DRIFTQ_URL=", "--data-dir", datadir)
        proxy, port = start_script(PROXY, "PROXY_URL=", "--upstream",
                                   "http://127.0.0.1:%d" % bport)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/v1/topics", json.dumps({"name": "t", "partitions": 1}),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            self.assertEqual(r.status, 201, r.read())
            r.read()
            stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            stream.request("GET", "/v1/consume?topic=t&group=g&owner=o&lease_ms=30000")
            time.sleep(0.3)  # the consumer is waiting; nothing has been sent yet
            r = None
            for i in range(2):  # each message arrives while the stream stays open
                c.request("POST", "/v1/produce",
                          json.dumps({"topic": "t", "key": "k", "value": "v%d" % i}),
                          {"Content-Type": "application/json"})
                pr = c.getresponse()
                self.assertEqual(pr.status, 200, pr.read())
                pr.read()
                if r is None:
                    r = stream.getresponse()
                    self.assertEqual(r.status, 200)
                    self.assertTrue(
                        r.getheader("Content-Type").startswith("application/x-ndjson"))
                self.assertEqual(json.loads(r.readline())["value"], "v%d" % i)
            stream.close()
            c.close()
        finally:
            stop_script(proxy)
            stop_script(broker)
            shutil.rmtree(datadir, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
