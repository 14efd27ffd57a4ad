"""Helpers for the proxy (30_proxy) and HTTP/1.1 (40_http1) tests against a live `dwaar run`.

    cfg = proxy_config([be.addr], block="lb_policy cookie", timeouts="read_header 1s")
    c = RawConn(srv.port)               a raw client socket with a response reader
    c.send(b"GET / HTTP/1.1\\r\\n...")
    r = c.response()                    one parsed RawResponse (status, headers, body)
    c.wait_closed()                     "closed" | "reset" | "open" | "data"
    rs = RawServer(handler)             a raw-socket upstream; handler(sock, server) per connection
    live.backends.append(rs)            (so the `live` fixture stops it)
    served_by(resp)                     the backend name from the default "<name> <path>" body

Everything is loopback and every wait is bounded.
"""
import re
import socket
import threading
import time
from dataclasses import dataclass

from dwaartest import DWAAR_BIN
from livetest import Fields, close_sockets

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


# --- configuration ------------------------------------------------------------------------------

def proxy_config(upstreams, block="", timeouts="", global_extra="", site_extra="",
                 extra_sites=""):
    """A Dwaarfile with one catch-all plain site `:{PORT}` proxying to upstreams.

    block: lines of the reverse_proxy block; timeouts: lines of servers { timeouts { } };
    site_extra: more directives in the site; extra_sites: more site blocks."""
    g = ["{", "\thttp_port {PORT}"]
    if timeouts:
        g += ["\tservers {", "\t\ttimeouts {"]
        g += ["\t\t\t" + l.strip() for l in timeouts.strip().splitlines()]
        g += ["\t\t}", "\t}"]
    if global_extra:
        g += ["\t" + l.strip() for l in global_extra.strip().splitlines()]
    g.append("}")
    rp = "\treverse_proxy " + " ".join(upstreams)
    if block:
        rp += " {\n" + "\n".join("\t\t" + l.strip() for l in block.strip().splitlines()) + "\n\t}"
    site = [":{PORT} {"]
    if site_extra:
        site += ["\t" + l.strip() for l in site_extra.strip().splitlines()]
    site += [rp, "}"]
    return "\n".join(g) + "\n" + "\n".join(site) + "\n" + extra_sites


def is_sanitized():
    """True when the dwaar binary was built with AddressSanitizer."""
    try:
        with open(DWAAR_BIN, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return b"__asan_init" in data or b"libasan.so" in data


# --- load balancing (spec 20 §3.3) ---------------------------------------------------------------

MASK64 = (1 << 64) - 1


def fnv1a64(data: bytes) -> int:
    h = 14695981039346656037
    for b in data:
        h ^= b
        h = (h * 1099511628211) & MASK64
    return h


def sticky_value(be):
    """The _dwaar_sticky value naming a loopback backend."""
    return f"{fnv1a64(f'127.0.0.1:{be.port}'.encode()):016x}"


# --- raw client ---------------------------------------------------------------------------------

@dataclass
class RawResponse(Fields):
    status: int
    reason: str
    version: str
    headers: list  # [(name, value)]
    body: bytes
    raw_head: bytes = b""


    def conn_tokens(self):
        return {t.strip().lower() for v in self.header_all("Connection") for t in v.split(",")}


class Closed(Exception):
    """The peer closed (or reset) the connection before a complete response."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


class RawConn:
    """A raw client connection to dwaar with a small HTTP/1.x response reader."""

    def __init__(self, port, timeout=10.0, host="127.0.0.1", source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""
        self.eof = False
        self.reset = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """sendall that returns False instead of raising when the peer has gone."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False

    def _fill(self, deadline):
        if self.eof:
            raise Closed("connection closed", self.buf)
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete response in time; have {self.buf[:300]!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError(f"no complete response in time; have {self.buf[:300]!r}")
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = self.reset = True
            raise Closed("connection reset", self.buf)
        if not chunk:
            self.eof = True
            raise Closed("connection closed", self.buf)
        self.buf += chunk

    def _take_until(self, sep, deadline):
        while sep not in self.buf:
            self._fill(deadline)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def _take(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, timeout=10.0, method="GET"):
        """Reads one response. Raises Closed when the connection ends before a whole response,
        TimeoutError when nothing complete arrives within timeout."""
        deadline = time.monotonic() + timeout
        head = self._take_until(b"\r\n\r\n", deadline)
        lines = head[:-4].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        status = int(code)
        headers = []
        for l in lines[1:]:
            k, _, v = l.partition(":")
            headers.append((k.strip(), v.strip()))
        r = RawResponse(status, reason, version, headers, b"", head)
        if status < 200 or status in (204, 304) or method == "HEAD":
            return r
        te = (r.header("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            body = b""
            while True:
                line = self._take_until(b"\r\n", deadline)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._take_until(b"\r\n", deadline) != b"\r\n":
                        pass
                    break
                body += self._take(size, deadline)
                self._take(2, deadline)
            r.body = body
        elif r.header("Content-Length") is not None:
            r.body = self._take(int(r.header("Content-Length")), deadline)
        elif status == 101:
            pass
        else:  # until close
            try:
                while True:
                    self._fill(deadline)
            except Closed:
                pass
            r.body, self.buf = self.buf, b""
        return r

    def wait_closed(self, timeout=5.0):
        """Waits for the peer to close. Returns "closed" (EOF), "reset", "open" (still open after
        timeout) or "data" (unexpected bytes arrived; they stay in .buf)."""
        if self.eof:
            return "reset" if self.reset else ("data" if self.buf else "closed")
        if self.buf:
            return "data"
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "open"
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return "open"
            except (ConnectionResetError, ConnectionAbortedError):
                self.eof = self.reset = True
                return "reset"
            if not chunk:
                self.eof = True
                return "closed"
            self.buf += chunk
            return "data"

    def read_all(self, timeout=5.0):
        """Everything until close/reset/timeout (including what is buffered)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
        except (Closed, TimeoutError):
            pass
        out, self.buf = self.buf, b""
        return out


def request_bytes(method="GET", target="/", host="localhost", headers=(), body=b"",
                  version="HTTP/1.1"):
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    if body and not any(k.lower() in ("content-length", "transfer-encoding") for k, _ in headers):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def served_by(resp):
    """The backend name of a default-handler answer "<name> <path>"."""
    return resp.body.decode("utf-8", "replace").split(" ", 1)[0] if resp.status == 200 else None


def wait_for(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until truthy (returns its value) or raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout} s")
        time.sleep(interval)


def app_requests(be, exclude=("/health",)):
    """Backend requests other than health probes."""
    return [r for r in list(be.requests) if r.path not in exclude]


def complete_requests(be):
    """Recorded requests whose body is as long as their Content-Length said (the recording
    backend stores a short body when the connection ends early)."""
    out = []
    for r in list(be.requests):
        cl = r.header("Content-Length")
        if cl is not None and cl.isdigit() and len(r.body) != int(cl):
            continue
        out.append(r)
    return out


# --- rejection checks (spec 40) ---------------------------------------------------------------

# A request hidden in (or pipelined behind) an attack; it must never reach the backend.
HIDDEN = b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n"


def head(lines, version="HTTP/1.1", method="POST", target="/upload", host="localhost"):
    out = [f"{method} {target} {version}"]
    if host is not None:
        out.append(f"Host: {host}")
    out += lines
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


def expect_rejected(srv, be, payload, statuses=(400,)):
    """Sends payload; asserts one rejection response, a closed connection, nothing upstream."""
    with RawConn(srv.port) as c:
        c.try_send(payload)
        try:
            r = c.response(timeout=10)
        except Closed as e:
            raise AssertionError(f"connection ended without a response (got {e.partial[:200]!r})")
        assert r.status in statuses, f"status {r.status}, expected {statuses}: {r.raw_head!r}"
        assert "close" in r.conn_tokens(), f"no Connection: close on the rejection: {r.raw_head!r}"
        assert r.header("X-Content-Type-Options") == "nosniff", \
            f"rejection lacks the baseline security headers: {r.raw_head!r}"
        # a clean close (recv returns b""), not a reset that could destroy the response
        state = c.wait_closed(5)
        assert state == "closed", \
            f"connection not closed after the rejection ({state}); extra bytes {c.buf[:300]!r}"
    time.sleep(0.3)  # let anything forwarded reach the backend before looking
    assert be.requests == [], \
        f"the backend received {[(r.method, r.path) for r in be.requests]}"
    return r



# --- raw upstream -------------------------------------------------------------------------------

class RawServer:
    """A raw TCP upstream on loopback. handler(sock, server) runs in a thread per connection;
    the socket is closed when it returns. .connections counts accepted connections; .heads
    holds request heads read with read_head()."""

    def __init__(self, handler, port=0):
        self.handler = handler
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.connections = 0
        self.heads = []
        self.errors = []
        self.socks = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.data = {}  # free-form results of handlers
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.socks.append(s)
            threading.Thread(target=self._run, args=(s,), daemon=True).start()

    def _run(self, s):
        try:
            s.settimeout(60)
            self.handler(s, self)
        except Exception as e:  # noqa: BLE001 - recorded for the test to inspect
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                s.close()
            except OSError:
                pass

    def read_head(self, s, timeout=30.0):
        """Reads a request head from s; returns (head bytes, leftover bytes) or (None, b"")."""
        buf = b""
        s.settimeout(timeout)
        while b"\r\n\r\n" not in buf:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, OSError):
                return None, b""
            if not chunk:
                return None, b""
            buf += chunk
        i = buf.index(b"\r\n\r\n") + 4
        with self.lock:
            self.heads.append(buf[:i])
        return buf[:i], buf[i:]

    def stop(self):
        self.stopping.set()
        with self.lock:
            close_sockets(self.lsock, self.socks)


def head_fields(head):
    """(request line, [(name, value)]) of a raw head."""
    lines = head.decode("latin-1").split("\r\n")
    fields = []
    for l in lines[1:]:
        if not l:
            continue
        k, _, v = l.partition(":")
        fields.append((k.strip(), v.strip()))
    return lines[0], fields


def field(fields, name, default=None):
    for k, v in fields:
        if k.lower() == name.lower():
            return v
    return default


class RssSampler:
    """Samples srv.rss_kib() every interval seconds in a thread until stop()."""

    def __init__(self, srv, interval=0.05):
        self.srv = srv
        self.samples = []  # (time, kib)
        self.interval = interval
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.done.is_set():
            try:
                self.samples.append((time.monotonic(), self.srv.rss_kib()))
            except OSError:
                return
            self.done.wait(self.interval)

    def stop(self):
        self.done.set()
        self.t.join(5)
        return self.samples

    @property
    def peak(self):
        return max((k for _, k in self.samples), default=0)
