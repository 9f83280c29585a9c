"""The HTTP/1.1 front (http.server) and the log."""

import socket
import sys
import time
import traceback
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .app import _JSON
from .values import json_dumps


VERBOSE = False  # --verbose (set by qdrant_server.py)


def log(msg):
    if VERBOSE:
        sys.stderr.write(msg + "\n")
        sys.stderr.flush()


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
