"""The HTTP layer: a small HTTP/1.1 server that behaves like Go's net/http."""

import errno
import os
import re
import select
import socket
import threading
import time

from . import common
from .common import (BUFFER_BEFORE_CHUNKING, HTTP_TIMEOUT, MAX_HEADER_BYTES, MAX_POST_HANDLER_READ,
                     log)
from .gojson import jerr
from .gostrings import go_trim
from .gourl import parse_query, url_unescape
from .model import Stream


# ---------------------------------------------------------------------------
# HTTP layer (a small HTTP/1.1 server that behaves like Go's net/http)
# ---------------------------------------------------------------------------

REASONS = {
    100: 'Continue', 200: 'OK', 201: 'Created', 204: 'No Content', 301: 'Moved Permanently',
    400: 'Bad Request', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
    417: 'Expectation Failed', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
    500: 'Internal Server Error', 501: 'Not Implemented', 505: 'HTTP Version Not Supported',
}
CT_JSON = 'application/json; charset=utf-8'
CT_NDJSON = 'application/x-ndjson; charset=utf-8'
CT_TEXT = 'text/plain; charset=utf-8'
METRICS_CT = 'text/plain; version=0.0.4; charset=utf-8; escaping=underscores'
_ERR_HDRS = b'\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n'
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_BAD_VALUE_RE = re.compile(rb'[\x00-\x08\x0a-\x1f\x7f]')
_HEAD_END_RE = re.compile(rb'\n\r?\n')
_WDAYS = ('Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun')
_MONTHS = ('', 'Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')
_date_cache = [0, '']


def http_date():
    now = int(time.time())
    if _date_cache[0] != now:
        t = time.gmtime(now)
        _date_cache[1] = '%s, %02d %s %04d %02d:%02d:%02d GMT' % (
            _WDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon], t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)
        _date_cache[0] = now
    return _date_cache[1]


def canonical_key(k):
    if not _TOKEN_RE.match(k):
        return k.decode('latin-1')
    return '-'.join(w[:1].upper() + w[1:].lower() for w in k.decode('latin-1').split('-'))


def has_token(v, tok):
    if not v:
        return False
    for part in v.split(','):
        if part.strip(' \t').lower() == tok:
            return True
    return False


class ConnClosed(Exception):
    pass


class ReadTimeout(Exception):
    pass


class BodyError(Exception):
    pass


class Response:
    __slots__ = ('status', 'headers', 'body')

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body


class Request:
    __slots__ = ('method', 'target', 'path', 'raw_query', 'proto', 'headers', 'content_length',
                 'chunked', 'deadline', 'body_state', 'body_left', 'expect_continue', 'continue_sent',
                 'req_id', 'conn', '_query')

    def header(self, name):
        v = self.headers.get(name)
        return v[0] if v else ''

    def query(self):
        if self._query is None:
            self._query = parse_query(self.raw_query)
        return self._query

    @property
    def has_body(self):
        return self.content_length != 0


class Conn:
    def __init__(self, server, sock, addr):
        self.server = server
        self.sock = sock
        self.addr = addr
        self.buf = b''
        self.state = 'idle'
        self.stream = None
        try:
            la = sock.getsockname()
            self.local = '%s:%d' % (la[0], la[1])
        except OSError:
            self.local = '?'
        self.remote = '%s:%d' % (addr[0], addr[1]) if isinstance(addr, tuple) else str(addr)

    # ---- low level reading ----

    def _recv(self, deadline):
        t = deadline - time.monotonic()
        if t <= 0:
            raise ReadTimeout()
        self.sock.settimeout(t)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise ReadTimeout()
        except OSError:
            raise ConnClosed()
        if not data:
            raise ConnClosed()
        self.buf += data

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._recv(deadline)
        d = self.buf[:n]
        self.buf = self.buf[n:]
        return d

    def _read_line(self, deadline, limit=4096):
        while True:
            i = self.buf.find(b'\n')
            if i >= 0:
                line = self.buf[:i]
                self.buf = self.buf[i + 1:]
                if line.endswith(b'\r'):
                    line = line[:-1]
                return line
            if len(self.buf) > limit:
                raise BodyError('header line too long')
            self._recv(deadline)

    def _io_timeout_msg(self):
        return 'read tcp %s->%s: i/o timeout' % (self.local, self.remote)

    # ---- request bodies ----

    def _send_continue(self, req):
        if req.expect_continue and not req.continue_sent:
            req.continue_sent = True
            try:
                self.sock.sendall(b'HTTP/1.1 100 Continue\r\n\r\n')
            except OSError:
                pass

    def read_body(self, req, max_bytes=None):
        """Read the rest of the request body.  Returns (data, errtext)."""
        if req.body_state == 'done':
            return b'', None
        self._send_continue(req)
        chunks = []
        got = 0
        try:
            if not req.chunked:
                n = req.body_left
                if max_bytes is not None:
                    n = min(n, max_bytes)
                while got < n:
                    if not self.buf:
                        self._recv(req.deadline)
                    take = self.buf[:n - got]
                    self.buf = self.buf[len(take):]
                    chunks.append(take)
                    got += len(take)
                req.body_left -= got
                if req.body_left == 0:
                    req.body_state = 'done'
            else:
                while True:
                    if req.body_left == 0:
                        line = self._read_line(req.deadline)
                        size_s = line.split(b';', 1)[0].strip(b' \t')
                        if not size_s or not re.match(rb'[0-9a-fA-F]+\Z', size_s):
                            raise BodyError('invalid byte in chunk length')
                        if len(size_s) > 16:
                            raise BodyError('http chunk length too large')
                        size = int(size_s, 16)
                        if size == 0:
                            while True:
                                tl = self._read_line(req.deadline)
                                if tl == b'':
                                    break
                            req.body_state = 'done'
                            break
                        req.body_left = size
                    want = req.body_left
                    if max_bytes is not None:
                        want = min(want, max_bytes - got)
                        if want <= 0:
                            break
                    d = self._read_exact(want, req.deadline)
                    chunks.append(d)
                    got += len(d)
                    req.body_left -= len(d)
                    if req.body_left == 0:
                        crlf = self._read_exact(2, req.deadline)
                        if crlf != b'\r\n':
                            raise BodyError('malformed chunked encoding')
        except ReadTimeout:
            req.body_state = 'error'
            return b''.join(chunks), self._io_timeout_msg()
        except ConnClosed:
            req.body_state = 'error'
            return b''.join(chunks), 'unexpected EOF'
        except BodyError as e:
            req.body_state = 'error'
            return b''.join(chunks), str(e)
        return b''.join(chunks), None

    # ---- the connection loop ----

    def serve(self):
        srv = self.server
        first = True
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        try:
            while not srv.stopping:
                if not first:
                    idle_deadline = time.monotonic() + HTTP_TIMEOUT
                    try:
                        while len(self.buf) < 4:
                            self._recv(idle_deadline)
                    except (ReadTimeout, ConnClosed):
                        return
                req = self._read_request(first)
                first = False
                if req is None:
                    return
                self.state = 'active'
                keep = self._handle(req)
                if not keep:
                    return
                self.state = 'idle'
        finally:
            srv.forget(self)
            try:
                self.sock.close()
            except OSError:
                pass

    def _raw_error(self, status_line, body):
        try:
            self.sock.sendall(b'HTTP/1.1 ' + status_line + _ERR_HDRS + body)
        except OSError:
            pass

    def _bad_request(self, detail=None):
        if detail:
            s = ('400 Bad Request: ' + detail).encode('latin-1', 'replace')
            self._raw_error(s, s)
        else:
            self._raw_error(b'400 Bad Request', b'400 Bad Request')

    def _read_request(self, first):
        deadline = time.monotonic() + HTTP_TIMEOUT
        while True:
            m = _HEAD_END_RE.search(self.buf)
            if m:
                break
            if len(self.buf) > MAX_HEADER_BYTES:
                self._raw_error(b'431 Request Header Fields Too Large', b'431 Request Header Fields Too Large')
                return None
            try:
                self._recv(deadline)
            except ReadTimeout:
                return None
            except ConnClosed:
                if self.buf.strip():
                    self._bad_request()
                return None
        head = self.buf[:m.start()]
        self.buf = self.buf[m.end():]
        lines = head.split(b'\n')
        lines = [ln[:-1] if ln.endswith(b'\r') else ln for ln in lines]
        reqline = lines[0]
        method, sp1, rest = reqline.partition(b' ')
        target, sp2, proto = rest.partition(b' ')
        if not sp1 or not sp2:
            self._bad_request()
            return None
        if not _TOKEN_RE.match(method):
            self._bad_request()
            return None
        if proto == b'HTTP/1.1':
            ver = (1, 1)
        elif proto == b'HTTP/1.0':
            ver = (1, 0)
        elif (len(proto) == 8 and proto.startswith(b'HTTP/') and proto[6:7] == b'.'
              and proto[5:6].isdigit() and proto[7:8].isdigit()):
            ver = (int(proto[5:6]), int(proto[7:8]))
        else:
            self._bad_request()
            return None
        headers = {}
        prev = None
        for ln in lines[1:]:
            if ln[:1] in (b' ', b'\t'):
                if prev is None:
                    self._bad_request()
                    return None
                headers[prev][-1] += ' ' + ln.strip(b' \t').decode('latin-1')
                continue
            k, colon, v = ln.partition(b':')
            if not colon or not _TOKEN_RE.match(k):
                self._bad_request()
                return None
            ck = canonical_key(k)
            headers.setdefault(ck, []).append(v.strip(b' \t').decode('latin-1'))
            prev = ck
        if ver[0] != 1:
            s = b'505 HTTP Version Not Supported: unsupported protocol version'
            self._raw_error(s, s)
            return None
        for vs in headers.values():
            for v in vs:
                if _BAD_VALUE_RE.search(v.encode('latin-1')):
                    self._bad_request('invalid header value')
                    return None
        hosts = headers.get('Host')
        if hosts is not None and len(hosts) > 1:
            self._bad_request()
            return None
        if ver >= (1, 1) and not hosts and method != b'CONNECT':
            self._bad_request('missing required Host header')
            return None
        # target
        if any(c < 0x21 or c == 0x7F for c in target):
            self._bad_request()
            return None
        if target == b'*':
            path, rawq = b'*', b''
        elif target.startswith(b'/'):
            path, _, rawq = target.partition(b'?')
        else:
            mm = re.match(rb'[A-Za-z][A-Za-z0-9+.\-]*://([^/?]*)(.*)\Z', target)
            if not mm:
                self._bad_request()
                return None
            path, _, rawq = mm.group(2).partition(b'?')
        if url_unescape(path, False) is None:
            self._bad_request()
            return None
        req = Request()
        req.method = method.decode('latin-1')
        req.target = target
        req.path = path
        req.raw_query = rawq
        req.proto = ver
        req.headers = headers
        req.deadline = deadline
        req.conn = self
        req._query = None
        req.expect_continue = False
        req.continue_sent = False
        req.chunked = False
        req.body_left = 0
        req.body_state = 'done'
        te = headers.get('Transfer-Encoding')
        if te is not None and ver >= (1, 1):
            if len(te) != 1 or te[0].strip().lower() != 'chunked':
                self._raw_error(b'501 Not Implemented', b'Unsupported transfer encoding')
                return None
            req.chunked = True
            req.content_length = -1
            req.body_state = 'open'
        else:
            cls = headers.get('Content-Length')
            if cls:
                vals = set(v.strip(' \t') for v in cls)
                if len(vals) != 1:
                    self._bad_request()
                    return None
                cl = vals.pop()
                if not cl.isdigit() or not cl.isascii():
                    self._bad_request()
                    return None
                req.content_length = int(cl)
                req.body_left = req.content_length
                if req.body_left:
                    req.body_state = 'open'
            else:
                req.content_length = 0
        exp = req.header('Expect')
        if exp:
            if has_token(exp, '100-continue') and ver >= (1, 1) and req.content_length != 0:
                req.expect_continue = True
            else:
                resp = b'HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: %s\r\nContent-Length: 0\r\n\r\n' \
                    % http_date().encode()
                try:
                    self.sock.sendall(resp)
                except OSError:
                    pass
                return None
        return req

    def _handle(self, req):
        srv = self.server
        if req.target == b'*' and req.method == 'OPTIONS':
            return self._write(req, Response(200, [], b''), with_reqid=False)
        rid = go_trim(req.header('X-Request-Id'))
        if rid == '':
            rid = os.urandom(12).hex()
        req.req_id = rid
        t0 = time.monotonic() if common.VERBOSE else 0
        try:
            resp = srv.app.route(req)
        except Exception as e:  # pragma: no cover - defensive
            log('internal error: %r' % (e,))
            resp = Response(500, [('Content-Type', CT_JSON)], jerr('INTERNAL', str(e)).encode())
        if isinstance(resp, Stream):
            self._run_stream(req, resp)
            return False
        keep = self._write(req, resp)
        if common.VERBOSE:
            log('%s %s -> %d (%.1f ms)' % (req.method, req.target.decode('latin-1'), resp.status,
                                           (time.monotonic() - t0) * 1000))
        return keep

    def _write(self, req, resp, with_reqid=True):
        """Serialize like Go's net/http response writer.  Returns keep-alive."""
        status = resp.status
        body = resp.body
        hdrs = list(resp.headers)
        if with_reqid:
            hdrs.append(('X-Request-Id', req.req_id))
        conn_hdr = None
        close = False
        for k, v in hdrs:
            if k == 'Connection':
                conn_hdr = v
                if has_token(v, 'close'):
                    close = True
        is_head = req.method == 'HEAD'
        body_allowed = status >= 200 and status not in (204, 304)
        v11 = req.proto >= (1, 1)
        reqconn = req.header('Connection')
        wants10ka = (not v11) and has_token(reqconn, 'keep-alive')
        wants_close = (v11 and has_token(reqconn, 'close')) or (not v11 and not wants10ka)
        if req.expect_continue and req.body_state != 'done':
            close = True
        # decide framing
        cl = None
        chunked = False
        if not body_allowed:
            pass
        elif is_head:
            if 0 < len(body) <= BUFFER_BEFORE_CHUNKING:
                cl = len(body)
        elif len(body) <= BUFFER_BEFORE_CHUNKING:
            cl = len(body)
        elif v11:
            chunked = True
        else:
            close = True
        extra_conn = None
        if wants10ka and (is_head or cl is not None or not body_allowed):
            if conn_hdr is None:
                extra_conn = 'keep-alive'
        elif (not v11) or wants_close:
            close = True
        # discard what the handler left of the request body (Go does this first)
        if req.content_length != 0 and not close and req.body_state == 'open':
            data, err = self.read_body(req, MAX_POST_HANDLER_READ + 1)
            if err is not None:
                close = True
            elif req.body_state != 'done':
                close = True
        elif req.body_state == 'error':
            close = True
        if close and v11 and not has_token(conn_hdr or '', 'close'):
            hdrs = [(k, v) for k, v in hdrs if k != 'Connection']
            extra_conn = 'close'
        out = ['%s %d %s\r\n' % ('HTTP/1.1' if v11 else 'HTTP/1.0', status, REASONS.get(status, 'Status'))]
        for k, v in sorted(hdrs, key=lambda kv: kv[0]):
            out.append('%s: %s\r\n' % (k, v))
        out.append('Date: %s\r\n' % http_date())
        if cl is not None:
            out.append('Content-Length: %d\r\n' % cl)
        if extra_conn:
            out.append('Connection: %s\r\n' % extra_conn)
        if chunked and not is_head:
            out.append('Transfer-Encoding: chunked\r\n')
        out.append('\r\n')
        data = ''.join(out).encode('latin-1', 'replace')
        if body_allowed and not is_head:
            if chunked:
                data += b'%x\r\n' % len(body) + body + b'\r\n0\r\n\r\n'
            else:
                data += body
        try:
            self.sock.sendall(data)
        except OSError:
            return False
        return not close

    def _run_stream(self, req, st):
        srv = self.server
        sock = self.sock
        self.state = 'stream'
        self.stream = st
        srv.track_stream(self, st)
        chunked = req.proto >= (1, 1)
        head = ('HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Request-Id: %s\r\nDate: %s\r\n%s\r\n' % (
            CT_NDJSON, req.req_id, http_date(),
            'Transfer-Encoding: chunked\r\n' if chunked else '')).encode('latin-1', 'replace')
        headers_sent = False
        client_gone = False
        if common.VERBOSE:
            log('%s %s -> stream (topic=%s group=%s owner=%s lease=%dms)' % (
                req.method, req.target.decode('latin-1'), st.topic, st.group, st.owner, st.lease_ns // 1000000))
        try:
            poller = select.poll()
            poller.register(st.rfd, select.POLLIN)
            poller.register(sock, select.POLLIN)
            sock.settimeout(None)
            if self.buf:
                poller.unregister(sock)
            while not st.closed and not srv.stopping:
                st.signaled = False
                try:
                    while os.read(st.rfd, 4096):
                        pass
                except (BlockingIOError, OSError):
                    pass
                if st.q:
                    parts = []
                    if not headers_sent:
                        parts.append(head)
                        head = None
                    while st.q:
                        line = st.q.popleft()
                        if chunked:
                            parts.append(b'%x\r\n' % len(line) + line + b'\r\n')
                        else:
                            parts.append(line)
                    sock.sendall(b''.join(parts))
                    headers_sent = True
                    continue
                events = poller.poll()
                for fd, ev in events:
                    if fd == st.rfd:
                        continue
                    try:
                        d = sock.recv(4096)
                    except OSError:
                        d = b''
                    if not d:
                        client_gone = True
                    else:
                        poller.unregister(sock)
                if client_gone:
                    break
        except OSError:
            pass
        finally:
            srv.app.broker.unregister(st)
            srv.untrack_stream(self, st)
            if client_gone and not srv.stopping and not st.closed:
                try:
                    if headers_sent:
                        if chunked:
                            sock.sendall(b'0\r\n\r\n')
                    else:
                        sock.sendall(('HTTP/1.1 200 OK\r\nContent-Type: %s\r\nX-Request-Id: %s\r\nDate: %s\r\n'
                                      'Content-Length: 0\r\n\r\n' % (CT_NDJSON, req.req_id, http_date())
                                      ).encode('latin-1', 'replace'))
                except OSError:
                    pass
            st.close_fds()
            if common.VERBOSE:
                log('stream closed (topic=%s group=%s owner=%s%s)' % (
                    st.topic, st.group, st.owner, ', client gone' if client_gone else ''))


class Server:
    def __init__(self, host, port, app):
        self.app = app
        self.stopping = False
        self.conns = set()
        self.streams = {}
        self.cmu = threading.Lock()
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        self.lsock = socket.socket(fam, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((host, port))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]

    def forget(self, conn):
        with self.cmu:
            self.conns.discard(conn)

    def track_stream(self, conn, st):
        with self.cmu:
            self.streams[conn] = st

    def untrack_stream(self, conn, st):
        with self.cmu:
            self.streams.pop(conn, None)

    def accept_loop(self):
        while not self.stopping:
            try:
                s, addr = self.lsock.accept()
            except OSError as e:
                if self.stopping:
                    return
                if e.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    time.sleep(0.05)
                continue
            c = Conn(self, s, addr)
            with self.cmu:
                if self.stopping:
                    s.close()
                    return
                self.conns.add(c)
            t = threading.Thread(target=c.serve, daemon=True)
            t.start()

    def shutdown(self):
        self.stopping = True
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.lsock.close()
        except OSError:
            pass
        with self.cmu:
            conns = list(self.conns)
            streams = dict(self.streams)
        # end consume streams (the client sees EOF, like a broker exit)
        for c, st in streams.items():
            st.closed = True
            try:
                c.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for c in conns:
            if c.state == 'idle':
                try:
                    c.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        # give in-progress requests a moment to finish
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            with self.cmu:
                busy = [c for c in self.conns if c.state == 'active']
            if not busy:
                break
            time.sleep(0.01)
