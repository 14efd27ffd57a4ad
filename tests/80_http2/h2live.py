"""HTTP/2 clients for tests against a live `dwaar run` (tests/80_http2): python3-h2 connections
over cleartext with prior knowledge (scheme "http", decision 34) or TLS with ALPN h2 (scheme
"https"), raw-frame connections (python3-hyperframe, python3-hpack) for protocol abuse, curl and
h2load wrappers, and a self-signed certificate maker.

    c = H2Client(port, scheme="http")            one connection (closed by c.close())
    r = c.get("/x", authority="a.test")          -> H2Response(status, headers, body, trailers,
                                                    reset); r.header("x"), r.text
    sid = c.request(...); r = c.response(sid)    several streams at once
    raw = RawH2(port)                            preface + SETTINGS sent; raw.send(frame, ...)
    raw.outcome(timeout)                         ("goaway", code) | ("closed", None) |
                                                 ("open", None); raw.goaway, raw.frames
    curl_h2(port, path, host, scheme)            -> (status, http_version, body)
    make_cert(dir, names)                        -> (cert.pem, key.pem) paths

Every wait is bounded; nothing here starts processes that outlive the call.
"""
import socket
import ssl
import subprocess
import time
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hpack import Encoder
from hyperframe.frame import Frame, GoAwayFrame, HeadersFrame, SettingsFrame

from livetest import Fields

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# RFC 9113 §7 error codes
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 7, 8, 11


@dataclass
class H2Response(Fields):
    status: int = 0
    headers: list = field(default_factory=list)  # [(name, value)] without pseudo-fields
    body: bytes = b""
    trailers: list = field(default_factory=list)
    reset: int = None  # RST_STREAM error code, None when the stream ended normally


def _wrap_tls(sock, server_name):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(sock, server_hostname=server_name)
    assert s.selected_alpn_protocol() == "h2", "the server did not choose h2"
    return s


class H2Client:
    """One HTTP/2 client connection. validate=False lets the test send what python-h2 would
    refuse (a Host differing from :authority, no :authority). settings: initial SETTINGS, e.g.
    {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}. auto_window=False never opens windows."""

    def __init__(self, port, scheme="http", server_name="a.test", settings=None, timeout=10.0,
                 validate=True, auto_window=True):
        self.scheme = scheme
        self.timeout = timeout
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = _wrap_tls(sock, server_name) if scheme == "https" else sock
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="utf-8",
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.auto_window = auto_window
        self.resp = {}
        self.done = set()
        self.goaway = None
        self.closed = False
        self._flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _flush(self):
        data = self.conn.data_to_send()
        if data and not self.closed:
            try:
                self.sock.sendall(data)
            except OSError:
                self.closed = True

    def pump(self, timeout):
        """Reads once (up to timeout) and handles the events. False on timeout or close."""
        if self.closed:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return False
        except OSError:
            self.closed = True
            return False
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.closed = True
            return False
        for ev in events:
            self._event(ev)
        self._flush()
        return True

    def _event(self, ev):
        sid = getattr(ev, "stream_id", None)
        r = self.resp.get(sid)
        if isinstance(ev, h2.events.ResponseReceived) and r is not None:
            for k, v in ev.headers:
                if k == ":status":
                    r.status = int(v)
                else:
                    r.headers.append((k, v))
        elif isinstance(ev, h2.events.DataReceived):
            if r is not None:
                r.body += ev.data
            if self.auto_window:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, sid)
        elif isinstance(ev, h2.events.TrailersReceived) and r is not None:
            r.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            self.done.add(sid)
        elif isinstance(ev, h2.events.StreamReset):
            if r is not None:
                r.reset = int(ev.error_code)
            self.done.add(sid)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = int(ev.error_code)

    def request(self, path="/", authority="a.test", method="GET", headers=(), body=None,
                trailers=None):
        """Starts a request; returns its stream id. body is sent within flow control."""
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", self.scheme)]
        if authority is not None:
            hdrs.append((":authority", authority))
        hdrs.append((":path", path))
        hdrs += list(headers)
        self.resp[sid] = H2Response()
        end = body is None and not trailers
        self.conn.send_headers(sid, hdrs, end_stream=end)
        self._flush()
        if body is not None:
            self._send_body(sid, body)
        if sid in self.done or self.closed:
            return sid
        if trailers:
            self.conn.send_headers(sid, trailers, end_stream=True)
        elif body is not None:
            self.conn.end_stream(sid)
        self._flush()
        return sid

    def _send_body(self, sid, body):
        off = 0
        deadline = time.monotonic() + self.timeout
        while off < len(body):
            assert time.monotonic() < deadline, "the request body did not go out in time"
            if sid in self.done or self.closed:
                return
            win = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size)
            if win <= 0:
                self.pump(0.5)  # WINDOW_UPDATE
                continue
            chunk = body[off:off + win]
            self.conn.send_data(sid, chunk)
            off += len(chunk)
            self._flush()

    def response(self, sid, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while sid not in self.done:
            assert not self.closed, f"connection closed before stream {sid} ended"
            left = deadline - time.monotonic()
            assert left > 0, f"stream {sid} did not end in time"
            self.pump(min(left, 1.0))
        return self.resp[sid]

    def get(self, path="/", authority="a.test", **kw):
        timeout = kw.pop("timeout", None)
        return self.response(self.request(path, authority, **kw), timeout)


def h2_get(port, path="/", authority="a.test", scheme="http", **kw):
    """One request on a fresh connection."""
    with H2Client(port, scheme, server_name=authority or "a.test") as c:
        return c.get(path, authority, **kw)


class RawH2:
    """A client that writes frames itself (hyperframe) and reads whatever comes back."""

    def __init__(self, port, settings=None, preface=True, timeout=10.0, scheme="http"):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = _wrap_tls(sock, "a.test") if scheme == "https" else sock
        self.scheme = scheme
        self.enc = Encoder()
        self.buf = b""
        self.frames = []
        self.goaway = None
        self.closed = False
        self.garbage = False
        if preface:
            s = SettingsFrame(0)
            s.settings.update(settings or {})
            self.send(PREFACE, s)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *items):
        """Frames or bytes. False when the connection is gone (or the send timed out)."""
        data = b"".join(i if isinstance(i, (bytes, bytearray)) else i.serialize() for i in items)
        try:
            self.sock.sendall(data)
            return True
        except (OSError, socket.timeout):
            return False

    def block(self, path="/", authority="a.test", method="GET", extra=()):
        hdrs = [(":method", method), (":scheme", self.scheme), (":authority", authority),
                (":path", path)] + list(extra)
        return self.enc.encode(hdrs)

    def headers(self, sid, path="/", end_stream=True, end_headers=True, **kw):
        f = HeadersFrame(sid, self.block(path, **kw))
        if end_headers:
            f.flags.add("END_HEADERS")
        if end_stream:
            f.flags.add("END_STREAM")
        return f

    def read(self, timeout):
        """Reads what arrives within timeout; parses whole frames into self.frames."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.buf += data
            self._parse()
        return self.frames

    def _parse(self):
        while len(self.buf) >= 9:
            try:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    return
                f.parse_body(memoryview(self.buf[9:9 + length]))
            except Exception:  # noqa: BLE001 - not HTTP/2 (e.g. an HTTP/1.1 answer)
                self.garbage = True
                self.buf = b""
                return
            self.buf = self.buf[9 + length:]
            self.frames.append(f)
            if isinstance(f, GoAwayFrame):
                self.goaway = f.error_code

    def outcome(self, timeout=10.0):
        """Reads until the server closes or timeout: ("goaway", code) when it sent GOAWAY and
        closed, ("closed", None) when it closed without one, ("open", None) otherwise."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.read(min(0.5, max(0.01, deadline - time.monotonic())))
        if not self.closed:
            return ("open", None)
        return ("goaway", self.goaway) if self.goaway is not None else ("closed", None)


def curl_h2(port, path="/", host="a.test", scheme="http", extra=(), timeout=20):
    """curl over h2c prior knowledge or TLS+ALPN; -> (status, http_version, body bytes)."""
    if scheme == "https":
        url = f"https://{host}:{port}{path}"
        args = ["--http2", "-k", "--resolve", f"{host}:{port}:127.0.0.1"]
    else:
        url = f"http://127.0.0.1:{port}{path}"
        args = ["--http2-prior-knowledge", "-H", f"Host: {host}"]
    p = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}|%{http_version}", *args,
                        *extra, url], capture_output=True, timeout=timeout)
    out, _, tail = p.stdout.rpartition(b"\n")
    code, _, ver = tail.decode().partition("|")
    return int(code or 0), ver, out


def make_cert(d, names):
    """A self-signed EC certificate for names (SANs) in directory d."""
    key, cert = d / "h2.key", d / "h2.pem"
    san = ",".join(f"DNS:{n}" for n in names)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "5", "-subj", f"/CN={names[0]}", "-addext",
                    f"subjectAltName={san}"], check=True, capture_output=True, timeout=30)
    return cert, key
