#!/usr/bin/env python3
"""Fault-injecting HTTP/1.1 proxy for the test suite (Python standard library only).

Usage:
    /usr/bin/python3 tests/servers/fault_proxy.py --upstream URL [--host 127.0.0.1] [--port 0]
        [--rate-503 R] [--rate-drop R] [--rate-drop-after R] [--delay-ms MS] [--rate-delay R]
        [--seed N] [--retry-after S] [--error-style qdrant|driftq|plain] [--match REGEX]
        [--verbose]

Prints exactly one line ``PROXY_URL=http://HOST:PORT`` on stdout (as the other test servers
print theirs) and serves until SIGTERM/SIGINT.  Everything else goes to stderr (and only with
--verbose, or on internal errors).

Every request that arrives is forwarded to the upstream URL (http:// or https://; a path in it
is prepended to each request's target), byte for byte except Host (rewritten to the upstream)
and Expect (the proxy answers ``100 Continue`` itself).  Keep-alive works on both sides,
request bodies may be Content-Length or chunked (chunked is forwarded as chunked), and
response bytes are passed on as they arrive, so long-lived streams such as DriftQ's consume
stream keep working; a client that goes away during a stream closes the upstream connection
too.

Faults, for requests that match --match (a regular expression searched in "METHOD TARGET";
every request when unset):

  rate_503         answer 503 without forwarding.  The body is Qdrant's error envelope
                   {"status":{"error":"injected by fault_proxy"},"time":0.0}
                   by default (--error-style qdrant): libqdrantc reads the message out of it,
                   so a test can check that the cause reaches the caller.  --error-style driftq
                   sends DriftQ's {"error":"UNAVAILABLE","message":...}; plain sends a
                   text/plain body.  --retry-after S adds a Retry-After header.
  rate_drop        read the whole request, then close the connection without forwarding it.
  rate_drop_after  forward the request, wait until the upstream's status line and headers
                   arrived (the request was applied), then close both connections: the reply
                   is lost — the nasty case for operations that are not idempotent.
  delay_ms         wait this long before handling the request, for a fraction rate_delay of
                   the requests (default 1: all of them).

The three fault rates share one draw (their sum must be at most 1).  Decisions are
reproducible and do not depend on how requests from parallel connections interleave: the
k-th time the proxy sees a given request (its method and body; target and headers are left
out so that unique collection names or request ids do not change the outcome) gets a decision
derived from (seed, method, body, k) alone.  A retried request thus gets a fresh decision, and
the same run with the same seed injects the same faults.

Control endpoints (never faulted, never forwarded):
  GET  /__proxy/config  the configuration as JSON
  POST /__proxy/config  a JSON object with any of the keys rate_503, rate_drop,
                        rate_drop_after, delay_ms, rate_delay, seed, retry_after, error_style,
                        match; answers the new configuration.  Setting seed restarts the
                        decision sequence.
  GET  /__proxy/stats   {"requests": proxied requests seen, "matched", "forwarded", "503",
                        "drop", "drop_after", "delay", "upstream_error", "control"}
  POST /__proxy/reset   zeroes the counts and restarts the decision sequence.
"""

import argparse
import hashlib
import json
import re
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
from urllib.parse import urlsplit

VERBOSE = False
MAX_HEAD = 64 * 1024
MAX_LINE = 64 * 1024
MAX_BODY = 256 * 1024 * 1024
UPSTREAM_IDLE_S = 2.0  # reconnect rather than reuse an upstream connection idle this long
CONNECT_TIMEOUT_S = 10.0

REASONS = {
    100: "Continue", 200: "OK", 400: "Bad Request", 404: "Not Found",
    502: "Bad Gateway", 503: "Service Unavailable",
}


def log(msg):
    if VERBOSE:
        sys.stderr.write("fault_proxy: " + msg + "\n")
        sys.stderr.flush()


class ClientGone(Exception):
    """The client closed its connection."""


class UpstreamGone(Exception):
    """The upstream connection broke or could not be made."""

    def __init__(self, msg, got_bytes=False):
        super().__init__(msg)
        self.got_bytes = got_bytes


class BadRequest(Exception):
    pass


# --------------------------------------------------------------------------
# Configuration

FAULT_KEYS = ("rate_503", "rate_drop", "rate_drop_after")


def check_config(cfg):
    """Validates a full configuration dict; raises ValueError."""
    for k in FAULT_KEYS + ("rate_delay",):
        v = cfg[k]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            raise ValueError("%s must be a number in [0, 1]" % k)
        cfg[k] = float(v)
    if sum(cfg[k] for k in FAULT_KEYS) > 1.0 + 1e-9:
        raise ValueError("rate_503 + rate_drop + rate_drop_after must be at most 1")
    v = cfg["delay_ms"]
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ValueError("delay_ms must be a non-negative integer")
    v = cfg["seed"]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError("seed must be an integer")
    v = cfg["retry_after"]
    if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
        raise ValueError("retry_after must be null or a non-negative integer (seconds)")
    if cfg["error_style"] not in ("qdrant", "driftq", "plain"):
        raise ValueError("error_style must be qdrant, driftq or plain")
    m = cfg["match"]
    if m is not None:
        if not isinstance(m, str):
            raise ValueError("match must be null or a regular expression")
        try:
            re.compile(m)
        except re.error as e:
            raise ValueError("match: %s" % e)
    return cfg


class Proxy:
    def __init__(self, upstream, cfg):
        u = urlsplit(upstream)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError("upstream must be an http:// or https:// URL")
        self.tls = u.scheme == "https"
        self.up_host = u.hostname
        self.up_port = u.port or (443 if self.tls else 80)
        default_port = self.up_port == (443 if self.tls else 80)
        host = u.hostname if ":" not in u.hostname else "[%s]" % u.hostname
        self.up_authority = host if default_port else "%s:%d" % (host, self.up_port)
        self.up_prefix = u.path.rstrip("/")
        self.ssl_ctx = ssl.create_default_context() if self.tls else None
        self.lock = threading.Lock()
        self.cfg = check_config(dict(cfg))
        self.match_re = re.compile(self.cfg["match"]) if self.cfg["match"] else None
        self.seen = {}
        self.stats = self.zero_stats()

    @staticmethod
    def zero_stats():
        return {"requests": 0, "matched": 0, "forwarded": 0, "503": 0, "drop": 0,
                "drop_after": 0, "delay": 0, "upstream_error": 0, "control": 0}

    def count(self, key):
        with self.lock:
            self.stats[key] += 1

    def update_config(self, changes):
        if not isinstance(changes, dict):
            raise ValueError("the configuration must be a JSON object")
        with self.lock:
            cfg = dict(self.cfg)
            for k, v in changes.items():
                if k not in cfg:
                    raise ValueError("unknown key %r" % k)
                cfg[k] = v
            check_config(cfg)
            self.cfg = cfg
            self.match_re = re.compile(cfg["match"]) if cfg["match"] else None
            if "seed" in changes:
                self.seen.clear()
            return dict(cfg)

    def reset(self):
        with self.lock:
            self.stats = self.zero_stats()
            self.seen.clear()

    def decide(self, method, target, body):
        """Returns (cfg, fault or None, delay_ms) for one request."""
        with self.lock:
            cfg = self.cfg
            self.stats["requests"] += 1
            if self.match_re and not self.match_re.search("%s %s" % (method, target)):
                return cfg, None, 0
            self.stats["matched"] += 1
            digest = hashlib.blake2b(method.encode("latin-1") + b" " + body,
                                     digest_size=16).digest()
            k = self.seen.get(digest, 0)
            self.seen[digest] = k + 1
        h = hashlib.blake2b(b"%d:" % cfg["seed"] + digest + b":%d" % k, digest_size=16).digest()
        u_fault, u_delay = (x / 2.0 ** 64 for x in struct.unpack(">QQ", h))
        fault = None
        edge = 0.0
        for key, name in (("rate_503", "503"), ("rate_drop", "drop"),
                          ("rate_drop_after", "drop_after")):
            edge += cfg[key]
            if u_fault < edge:
                fault = name
                break
        delay = cfg["delay_ms"] if cfg["delay_ms"] and u_delay < cfg["rate_delay"] else 0
        return cfg, fault, delay

    def connect_upstream(self):
        try:
            s = socket.create_connection((self.up_host, self.up_port), timeout=CONNECT_TIMEOUT_S)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.ssl_ctx:
                s = self.ssl_ctx.wrap_socket(s, server_hostname=self.up_host)
            s.settimeout(None)
        except OSError as e:
            raise UpstreamGone("cannot connect to %s:%d: %s" % (self.up_host, self.up_port, e))
        return Stream(s)


# --------------------------------------------------------------------------
# A buffered socket

class Stream:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.last_used = time.monotonic()

    def _recv(self):
        try:
            data = self.sock.recv(65536)
        except (OSError, ssl.SSLError):
            data = b""
        return data

    def pending(self):
        if self.buf:
            return True
        p = getattr(self.sock, "pending", None)
        return bool(p and p())

    def fill(self):
        data = self._recv()
        if not data:
            return False
        self.buf += data
        return True

    def read_head(self):
        """The bytes up to and including the empty line; None on EOF before any byte."""
        start = 0
        while True:
            i = self.buf.find(b"\r\n\r\n", start)
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise BadRequest("header section too large")
            start = max(0, len(self.buf) - 3)
            if not self.fill():
                if self.buf.strip():
                    raise EOFError("connection closed in the middle of a header section")
                return None

    def readline(self):
        start = 0
        while True:
            i = self.buf.find(b"\n", start)
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > MAX_LINE:
                raise BadRequest("line too long")
            start = len(self.buf)
            if not self.fill():
                raise EOFError("connection closed in the middle of a line")

    def read_some(self, n):
        if not self.buf and not self.fill():
            return b""
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_exact(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError("connection closed in the middle of a body")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def send(self, data):
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def parse_head(head):
    lines = head[:-4].split(b"\r\n")
    first = lines[0].decode("latin-1")
    headers = []
    for raw in lines[1:]:
        if not raw:
            continue
        if raw[:1] in (b" ", b"\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, value + " " + raw.decode("latin-1").strip())
            continue
        name, sep, value = raw.decode("latin-1").partition(":")
        if not sep or not name or name != name.strip():
            raise BadRequest("malformed header line")
        headers.append((name, value.strip()))
    return first, headers


def header(headers, name):
    name = name.lower()
    vals = [v for k, v in headers if k.lower() == name]
    return ", ".join(vals) if vals else None


def tokens(value):
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


def body_framing(headers):
    """('chunked', None), ('length', n) or ('none', 0) for a request."""
    te = tokens(header(headers, "Transfer-Encoding"))
    if te:
        if te[-1] != "chunked":
            raise BadRequest("unsupported Transfer-Encoding")
        return "chunked", None
    cl = header(headers, "Content-Length")
    if cl is None:
        return "none", 0
    vals = set(v.strip() for v in cl.split(","))
    if len(vals) != 1 or not next(iter(vals)).isdigit():
        raise BadRequest("bad Content-Length")
    n = int(next(iter(vals)))
    if n > MAX_BODY:
        raise BadRequest("body too large")
    return "length", n


def read_chunked(stream, on_raw=None):
    """Reads a chunked body; returns (raw bytes, decoded body).  With on_raw, raw bytes are
    handed over as they arrive instead of being collected (and the decoded body is empty)."""
    raw = []
    decoded = []
    total = 0

    def emit(b):
        if on_raw:
            on_raw(b)
        else:
            raw.append(b)

    while True:
        line = stream.readline()
        emit(line)
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise BadRequest("malformed chunk size")
        if size == 0:
            while True:
                t = stream.readline()
                emit(t)
                if t in (b"\r\n", b"\n"):
                    break
            break
        total += size
        if not on_raw and total > MAX_BODY:
            raise BadRequest("body too large")
        left = size + 2  # the data and its CRLF
        while left:
            piece = stream.read_some(min(left, 65536)) if on_raw else stream.read_exact(left)
            if not piece:
                raise EOFError("connection closed in the middle of a chunk")
            emit(piece)
            if not on_raw:
                decoded.append(piece[:size] if len(piece) == size + 2 else piece)
            left -= len(piece)
    return b"".join(raw), b"".join(decoded)


# --------------------------------------------------------------------------
# One client connection

class Handler:
    def __init__(self, proxy, sock):
        self.p = proxy
        self.client = Stream(sock)
        self.up = None  # Stream to the upstream, kept alive between requests

    def run(self):
        try:
            while self.handle_one():
                pass
        except (ClientGone, EOFError, OSError, ssl.SSLError):
            pass
        except BadRequest as e:
            try:
                self.reply_simple(400, "text/plain", ("fault_proxy: %s\n" % e).encode(),
                                  close=True)
            except ClientGone:
                pass
        except Exception:  # a bug: say so, drop the connection
            traceback.print_exc(file=sys.stderr)
        finally:
            self.client.close()
            self.close_upstream()

    def close_upstream(self):
        if self.up:
            self.up.close()
            self.up = None

    def reply_simple(self, status, ctype, body, close=False, extra=()):
        head = ["HTTP/1.1 %d %s" % (status, REASONS.get(status, "Status"))]
        if ctype:
            head.append("Content-Type: " + ctype)
        head.append("Content-Length: %d" % len(body))
        head.extend(extra)
        if close:
            head.append("Connection: close")
        try:
            self.client.send(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except OSError:
            raise ClientGone()

    def handle_one(self):
        head = self.client.read_head()
        if head is None:
            return False
        first, headers = parse_head(head)
        parts = first.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("malformed request line")
        method, target, version = parts
        if target.startswith(("http://", "https://")):  # absolute form
            u = urlsplit(target)
            target = (u.path or "/") + ("?" + u.query if u.query else "")
        client_close = ("close" in tokens(header(headers, "Connection")) or
                        (version == "HTTP/1.0" and
                         "keep-alive" not in tokens(header(headers, "Connection"))))
        expect = header(headers, "Expect")
        if expect and expect.lower() == "100-continue":
            self.client.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        framing, n = body_framing(headers)
        if framing == "chunked":
            raw_body, body = read_chunked(self.client)
        elif framing == "length":
            raw_body = body = self.client.read_exact(n)
        else:
            raw_body = body = b""

        if target.startswith("/__proxy/"):
            return self.control(method, target, body, client_close)

        cfg, fault, delay = self.p.decide(method, target, body)
        if delay:
            self.p.count("delay")
            time.sleep(delay / 1000.0)
        if fault == "503":
            self.p.count("503")
            log("%s %s -> injected 503" % (method, target))
            self.reply_503(cfg, client_close)
            return not client_close
        if fault == "drop":
            self.p.count("drop")
            log("%s %s -> dropped before forwarding" % (method, target))
            return False

        out = [("%s %s%s %s" % (method, self.p.up_prefix, target, version))]
        for k, v in headers:
            lk = k.lower()
            if lk == "host":
                v = self.p.up_authority
            elif lk == "expect":
                continue
            out.append("%s: %s" % (k, v))
        if header(headers, "Host") is None:
            out.append("Host: " + self.p.up_authority)
        req = ("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + raw_body
        keep = self.forward(method, target, req, fault == "drop_after")
        return keep and not client_close

    def reply_503(self, cfg, close):
        msg = "injected by fault_proxy"
        style = cfg["error_style"]
        if style == "qdrant":
            ctype = "application/json"
            body = json.dumps({"status": {"error": msg}, "time": 0.0}).encode()
        elif style == "driftq":
            ctype = "application/json"
            body = json.dumps({"error": "UNAVAILABLE", "message": msg}).encode()
        else:
            ctype = "text/plain; charset=utf-8"
            body = (msg + "\n").encode()
        extra = []
        if cfg["retry_after"] is not None:
            extra.append("Retry-After: %d" % cfg["retry_after"])
        self.reply_simple(503, ctype, body, close=close, extra=extra)

    def forward(self, method, target, req, drop_after):
        """Sends req upstream and relays the response.  Returns whether the client connection
        may be kept."""
        for attempt in (0, 1):
            reused = self.up is not None
            if reused and time.monotonic() - self.up.last_used > UPSTREAM_IDLE_S:
                self.close_upstream()
                reused = False
            try:
                if not self.up:
                    self.up = self.p.connect_upstream()
                try:
                    self.up.send(req)
                except OSError as e:
                    raise UpstreamGone("send: %s" % e)
                head = self.up.read_head()
                if head is None:
                    raise UpstreamGone("upstream closed without replying")
                while True:
                    status_line, rheaders = parse_head(head)
                    try:
                        status = int(status_line.split(" ")[1])
                    except (IndexError, ValueError):
                        raise UpstreamGone("malformed status line", True)
                    if 100 <= status < 200 and status != 101:
                        if not drop_after:
                            self.client.send(head)
                        head = self.up.read_head()
                        if head is None:
                            raise UpstreamGone("upstream closed after an interim reply", True)
                        continue
                    break
            except (UpstreamGone, EOFError, BadRequest) as e:
                # Part of a reply arrived: the request reached the upstream, never resend it.
                got = not isinstance(e, UpstreamGone) or e.got_bytes
                self.close_upstream()
                if attempt == 0 and reused and not got:
                    log("%s %s: stale upstream connection (%s); once more" % (method, target, e))
                    continue  # an idle connection the upstream had closed: resend once
                self.p.count("upstream_error")
                log("%s %s: upstream error: %s" % (method, target, e))
                if got:
                    return False
                msg = "fault_proxy: upstream error: %s" % e
                self.reply_simple(502, "application/json",
                                  json.dumps({"status": {"error": msg}, "time": 0.0}).encode(),
                                  close=True)
                return False
            break
        self.p.count("forwarded")
        if drop_after:
            self.p.count("drop_after")
            log("%s %s -> %s applied upstream, reply dropped" % (method, target, status))
            self.close_upstream()
            return False
        self.client.send(head)
        keep = self.relay_body(method, status, rheaders)
        self.up.last_used = time.monotonic()
        version = status_line.split(" ")[0]
        conn = tokens(header(rheaders, "Connection"))
        if "close" in conn or (version == "HTTP/1.0" and "keep-alive" not in conn):
            keep = False
        if not keep:
            self.close_upstream()
        return keep

    def wait_upstream(self, watch):
        """Blocks until the upstream has data (True), or the client went away (raises).  While
        watching, data from the client (a pipelined request) stops the watch."""
        if self.up.pending() or not watch[0]:
            return
        while True:
            r, _, _ = select.select([self.up.sock, self.client.sock], [], [])
            if self.up.sock in r:
                return
            if self.client.buf:
                watch[0] = False
                return
            try:
                peek = self.client.sock.recv(1, socket.MSG_PEEK)
            except OSError:
                peek = b""
            if not peek:
                raise ClientGone()
            watch[0] = False
            return

    def relay_body(self, method, status, rheaders):
        """Passes the response body on as it arrives.  Returns False when it was delimited by
        the end of the connection."""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return True
        watch = [True]
        te = tokens(header(rheaders, "Transfer-Encoding"))
        cl = header(rheaders, "Content-Length")

        def send(b):
            try:
                self.client.send(b)
            except OSError:
                raise ClientGone()

        up = self.up
        if te and te[-1] == "chunked":
            orig_fill = up.fill

            def fill():
                self.wait_upstream(watch)
                return orig_fill()

            up.fill = fill
            try:
                read_chunked(up, on_raw=send)
            finally:
                up.fill = orig_fill
            return True
        if cl is not None:
            left = int(cl.split(",")[0].strip())
            while left:
                self.wait_upstream(watch)
                piece = up.read_some(min(left, 65536))
                if not piece:
                    raise EOFError("upstream closed in the middle of a body")
                send(piece)
                left -= len(piece)
            return True
        while True:  # delimited by the end of the connection
            self.wait_upstream(watch)
            piece = up.read_some(65536)
            if not piece:
                return False
            send(piece)

    def control(self, method, target, body, close):
        self.p.count("control")
        path = target.split("?", 1)[0]

        def answer(status, obj):
            self.reply_simple(status, "application/json", json.dumps(obj).encode(), close=close)
            return not close

        if path == "/__proxy/config" and method == "GET":
            with self.p.lock:
                return answer(200, self.p.cfg)
        if path == "/__proxy/config" and method in ("POST", "PUT"):
            try:
                changes = json.loads(body.decode("utf-8") or "null")
                cfg = self.p.update_config(changes)
            except (ValueError, UnicodeDecodeError) as e:
                return answer(400, {"error": str(e)})
            log("config: %s" % json.dumps(cfg))
            return answer(200, cfg)
        if path == "/__proxy/stats" and method == "GET":
            with self.p.lock:
                return answer(200, dict(self.p.stats))
        if path == "/__proxy/reset" and method == "POST":
            self.p.reset()
            return answer(200, {"reset": True})
        return answer(404, {"error": "unknown control endpoint %s %s" % (method, path)})


# --------------------------------------------------------------------------

def serve(proxy, lsock, stop):
    while not stop.is_set():
        try:
            r, _, _ = select.select([lsock], [], [], 0.1)
            if not r:
                continue
            sock, _ = lsock.accept()
        except OSError:
            if stop.is_set():
                return
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        t = threading.Thread(target=Handler(proxy, sock).run, daemon=True)
        t.start()


def rate(text):
    v = float(text)
    if not 0.0 <= v <= 1.0:
        raise argparse.ArgumentTypeError("a rate is a number in [0, 1]")
    return v


def main(argv=None):
    global VERBOSE
    ap = argparse.ArgumentParser(description="Fault-injecting HTTP/1.1 proxy for tests")
    ap.add_argument("--upstream", required=True, help="http(s)://host:port[/prefix]")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--rate-503", type=rate, default=0.0)
    ap.add_argument("--rate-drop", type=rate, default=0.0)
    ap.add_argument("--rate-drop-after", type=rate, default=0.0)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--rate-delay", type=rate, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retry-after", type=int, default=None)
    ap.add_argument("--error-style", choices=("qdrant", "driftq", "plain"), default="qdrant")
    ap.add_argument("--match", default=None)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    VERBOSE = args.verbose
    cfg = {"rate_503": args.rate_503, "rate_drop": args.rate_drop,
           "rate_drop_after": args.rate_drop_after, "delay_ms": args.delay_ms,
           "rate_delay": args.rate_delay, "seed": args.seed, "retry_after": args.retry_after,
           "error_style": args.error_style, "match": args.match}
    try:
        proxy = Proxy(args.upstream, cfg)
    except ValueError as e:
        sys.stderr.write("fault_proxy: %s\n" % e)
        return 2
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    lsock = socket.socket(family, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.host, args.port))
    lsock.listen(128)
    host, port = lsock.getsockname()[:2]
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t = threading.Thread(target=serve, args=(proxy, lsock, stop), daemon=True)
    t.start()
    shown = host if ":" not in host else "[%s]" % host
    sys.stdout.write("PROXY_URL=http://%s:%d\n" % (shown, port))
    sys.stdout.flush()
    while not stop.wait(0.2):
        pass
    t.join(1.0)
    lsock.close()
    sys.stderr.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
