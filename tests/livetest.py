"""Helpers for tests against a running `dwaar run` and real backends (loopback only).

    srv = live.start(config)            write the Dwaarfile, start `dwaar run`, wait for its ports
    srv.get("/x", host="a.test")        one request on a fresh connection -> Response
    srv.request("POST", "/u", body=b"..", headers={...})
    srv.raw(b"GET / HTTP/1.1\\r\\n...")  send raw bytes, read until close/timeout -> bytes
    srv.connect()                      a raw socket to the plain port
    srv.reload(config)                 rewrite the Dwaarfile and send SIGHUP
    srv.admin_request("GET", "/routes") one admin API call (token: the server's DWAAR_ADMIN_TOKEN)
    srv.admin_port, srv.ctl_endpoint   its admin API port (every instance gets its own, never
                                       6190) and dwaarctl endpoint
    be = live.backend(handler=None)    a threaded HTTP/1.1 backend recording every request
    be.requests                        list of Recorded(method, path, headers, body)

Everything started is stopped by PID when the test ends (fixture `live`). On stop, dwaar's
stderr is checked for sanitizer reports, which fail the test.
"""
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from dwaartest import DWAAR_BIN

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "SUMMARY: UndefinedBehaviorSanitizer")


def free_port():
    """A currently unused loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout=10.0, step=0.05):
    """Polls pred until it is true (True) or timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


def wait_port(port, host="127.0.0.1", timeout=15.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"port {port} did not open")


class Fields:
    """Header lookups over .headers, a list of (name, value); names case-insensitive."""

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")


@dataclass
class Response(Fields):
    status: int
    reason: str
    headers: list  # [(name, value)] in order
    body: bytes


def http_request(port, method="GET", path="/", host="localhost", headers=None, body=None,
                 timeout=10.0, conn=None):
    """One request with http.client (HTTP/1.1). Pass conn to reuse a keep-alive connection."""
    own = conn is None
    if own:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    hdrs = {"Host": host} if host is not None else {}
    hdrs.update(headers or {})
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for k, v in hdrs.items():
        conn.putheader(k, v)
    if body is not None and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    r = conn.getresponse()
    data = r.read()
    resp = Response(r.status, r.reason, list(r.getheaders()), data)
    if own:
        conn.close()
    return resp


def raw_exchange(port, data, timeout=5.0, host="127.0.0.1", shut_write=False):
    """Sends data, reads until the server closes or timeout passes. Returns the bytes read."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(data)
        if shut_write:
            s.shutdown(socket.SHUT_WR)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def split_responses(data):
    """Splits raw bytes holding several HTTP/1.1 responses (Content-Length framed or no body)
    into (status, headers dict lower-case, body) tuples."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


class _UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a unix stream socket (the admin API's --admin-socket)."""

    def __init__(self, path, timeout=10.0):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


_SERVER_TOKEN = object()


def read_request_body(h):
    """The body of the request a BaseHTTPRequestHandler h is reading: Content-Length or
    chunked (trailers skipped), else empty."""
    n = h.headers.get("Content-Length")
    if n is not None:
        return h.rfile.read(int(n))
    body = b""
    if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
        while True:
            size = int(h.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
            body += h.rfile.read(size)
            h.rfile.readline()
    return body


def close_sockets(lsock, socks):
    """Closes a test server's listening socket and its accepted ones, ignoring errors."""
    for s in [lsock] if lsock else []:
        try:
            s.close()
        except OSError:
            pass
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            s.close()
        except OSError:
            pass


class Server:
    def __init__(self, root: Path, config: str, port=None, workers=2, extra_args=(),
                 env=None, wait_ports=None):
        self.root = Path(root)
        self.port = port or free_port()
        self.config = config.replace("{PORT}", str(self.port)).replace("{ROOT}", str(self.root))
        self.path = self.root / "Dwaarfile"
        self.path.write_text(self.config)
        self.stderr_path = self.root / "dwaar.stderr"
        self.stdout_path = self.root / "dwaar.stdout"  # request records of `log` sites land here
        e = {k: v for k, v in os.environ.items() if not k.startswith("DWAAR_") or k == "DWAAR_BIN"}
        # the admin address file defaults to /tmp/dwaar-admin.addr; parallel tests keep their own
        e["DWAAR_ADMIN_ADDR_FILE"] = str(self.root / "dwaar-admin.addr")
        e.update(env or {})
        self.admin_token = e.get("DWAAR_ADMIN_TOKEN") or None
        # every instance gets its own admin port (never 6190), unless the test chose one
        args = list(extra_args)
        if "--admin-addr" in args:
            self.admin_port = int(args[args.index("--admin-addr") + 1].rsplit(":", 1)[1])
        else:
            self.admin_port = free_port()
            args += ["--admin-addr", f"127.0.0.1:{self.admin_port}"]
        self.ctl_endpoint = f"ipc:///tmp/dwaar-ctl-{self.admin_port}.ipc"
        if "--ctl-endpoint" in args:
            self.ctl_endpoint = args[args.index("--ctl-endpoint") + 1]
        self.admin_socket = None
        if "--admin-socket" in args:
            i = args.index("--admin-socket")
            nxt = args[i + 1] if i + 1 < len(args) else None
            self.admin_socket = nxt if nxt and not nxt.startswith("-") else "/var/run/dwaar-admin.sock"
        self.args = args
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen([DWAAR_BIN, "run", "-c", str(self.path), "--workers",
                                      str(workers), *args], cwd=self.root, env=e,
                                     stdout=self._out, stderr=self._err)
        try:
            for p in (wait_ports or [self.port]):
                wait_port(p, proc=self.proc)
        except (RuntimeError, TimeoutError):
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._err.close()
            self._out.close()
            raise

    # --- clients ---------------------------------------------------------------------------
    def request(self, method="GET", path="/", host="localhost", headers=None, body=None,
                port=None, timeout=10.0, conn=None):
        return http_request(port or self.port, method, path, host, headers, body, timeout, conn)

    def get(self, path="/", host="localhost", headers=None, **kw):
        return self.request("GET", path, host, headers, **kw)

    def connection(self, port=None, timeout=10.0):
        return http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)

    def raw(self, data, timeout=5.0, port=None, shut_write=False):
        return raw_exchange(port or self.port, data, timeout, shut_write=shut_write)

    def connect(self, port=None, timeout=10.0):
        return socket.create_connection(("127.0.0.1", port or self.port), timeout=timeout)

    def admin_request(self, method, path, body=None, token=_SERVER_TOKEN, headers=None,
                      timeout=10.0, unix=False):
        """One admin API call on a fresh connection -> Response. token: the server's
        DWAAR_ADMIN_TOKEN by default, None for no Authorization header, or a string. body: bytes,
        str, or a dict/list sent as JSON. unix=True (or a path) goes over the admin socket."""
        hdrs = {}
        tok = self.admin_token if token is _SERVER_TOKEN else token
        if tok is not None:
            hdrs["Authorization"] = f"Bearer {tok}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif isinstance(body, str):
            body = body.encode()
        hdrs.update(headers or {})
        if unix:
            conn = _UnixHTTPConnection(unix if isinstance(unix, str) else self.admin_socket,
                                       timeout)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=timeout)
        try:
            return http_request(None, method, path, "localhost", hdrs, body, timeout, conn=conn)
        finally:
            conn.close()

    # --- lifecycle -------------------------------------------------------------------------
    def reload(self, config):
        self.config = config.replace("{PORT}", str(self.port))
        self.path.write_text(self.config)
        self.proc.send_signal(signal.SIGHUP)

    def stderr(self):
        self._err.flush()
        return self.stderr_path.read_text(errors="replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def terminate(self, timeout=20):
        """SIGTERM and wait for the exit; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        return self.proc.returncode

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        self._out.close()
        err = self.stderr_path.read_text(errors="replace")
        bad = [m for m in SANITIZER_MARKERS if m in err]
        assert not bad, f"dwaar reported a sanitizer error:\n{err[-6000:]}"
        return err


@dataclass
class Recorded(Fields):
    method: str
    path: str
    headers: list
    body: bytes



class Backend:
    """A threaded HTTP/1.1 backend. handler(rec, h) may customise the answer: return
    (status, headers list, body bytes), or None for the default 200 echo of the path. `h` is the
    BaseHTTPRequestHandler (for raw access, e.g. to sleep or close). Every request is recorded
    in .requests (thread-safe append)."""

    def __init__(self, handler=None, name=None, port=0):
        self.requests = []
        self.handler = handler
        self.name = name
        self.lock = threading.Lock()
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                body = read_request_body(self)
                rec = Recorded(self.command, self.path, list(self.headers.items()), body)
                with outer.lock:
                    outer.requests.append(rec)
                res = outer.handler(rec, self) if outer.handler else None
                if res is False:  # the handler answered (or closed) by itself
                    self.close_connection = True
                    return
                if res is None:
                    text = (outer.name or "backend") + " " + self.path
                    res = (200, [("Content-Type", "text/plain")], text.encode())
                status, hdrs, out = res
                self.send_response(status)
                names = {k.lower() for k, _ in hdrs}
                for k, v in hdrs:
                    self.send_header(k, v)
                if "content-length" not in names and "transfer-encoding" not in names:
                    self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = do_PATCH = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Live:
    """The `live` fixture: starts servers/backends and stops them all at teardown."""

    def __init__(self, tmp_path):
        self.tmp = Path(tmp_path)
        self.servers = []
        self.backends = []
        self.procs = []

    def start(self, config, **kw):
        root = self.tmp / f"srv{len(self.servers)}"
        root.mkdir(parents=True, exist_ok=True)
        for attempt in range(3):
            try:
                s = Server(root, config, **kw)
                break
            except RuntimeError:
                # free_port() can race with another socket taking the port before dwaar binds it
                # (tests run in parallel); only then try again with a new port
                err = (root / "dwaar.stderr").read_text(errors="replace")
                if attempt == 2 or "port" in kw or "Address already in use" not in err:
                    raise
        self.servers.append(s)
        return s

    def backend(self, handler=None, name=None, port=0):
        b = Backend(handler, name, port)
        self.backends.append(b)
        return b

    def popen(self, *args, **kw):
        p = subprocess.Popen(*args, **kw)
        self.procs.append(p)
        return p

    def close(self):
        errors = []
        for s in self.servers:
            try:
                s.stop()
            except AssertionError as e:
                errors.append(str(e))
        for b in self.backends:
            b.stop()
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        assert not errors, "\n".join(errors)
