"""reverse_proxy to HTTP/2 upstreams (spec 20 §3.6, §1.11; spec 10 §6.1 `transport h2c`, h2c://
upstreams; RT-21, RT-31 in 90_grpc).

Upstreams: Debian's nghttpd (`nghttpd --no-tls -d DOCROOT PORT`, a real h2c file server) and a
python3-h2 server (tests/h2peer.py) that records what it received. Clients are HTTP/1.1
(http.client, raw sockets, curl) and, when the HTTP/2 front end is built, curl with
--http2-prior-knowledge."""
import concurrent.futures
import http.client
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from h2peer import H2Reply, H2Server
from livetest import free_port, wait_port
from proxytest import RawConn, proxy_config

NGHTTPD = shutil.which("nghttpd") or "/usr/sbin/nghttpd"
CURL = shutil.which("curl")


def h2_front_end_present():
    src = os.environ.get("DWAAR_SOURCE_DIR", str(Path(__file__).resolve().parents[2]))
    return Path(src, "dwaar-core", "src", "http2.c").exists()


needs_h2_front = pytest.mark.skipif(not h2_front_end_present() or not CURL,
                                    reason="HTTP/2 front end (http2.c) or curl not available")


@pytest.fixture
def nghttpd(live, tmp_path):
    """nghttpd serving a docroot over h2c; returns (port, docroot)."""
    if not os.path.exists(NGHTTPD):
        pytest.skip("nghttpd (nghttp2-server) not installed")
    root = tmp_path / "docs"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello over h2c\n")
    (root / "big.bin").write_bytes(os.urandom(5 * 1024 * 1024 + 123))
    port = free_port()
    p = live.popen([NGHTTPD, "--no-tls", "--address=127.0.0.1", "-d", str(root), str(port)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    return port, root


@pytest.fixture
def h2up(live):
    """A python3-h2 upstream (default answer 200 "ok <path>")."""
    def make(handler=None, **kw):
        s = H2Server(handler, **kw)
        live.backends.append(s)
        return s
    return make


def get(port, path, host="localhost", headers=None, method="GET", body=None, timeout=20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        h = {"Host": host}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


# --- RT-21: the h2c:// scheme, against nghttpd ----------------------------------------------------

def test_RT_21_h2c_scheme_to_nghttpd(live, nghttpd):
    port, root = nghttpd
    srv = live.start(proxy_config([f"h2c://127.0.0.1:{port}"]))
    st, h, body = get(srv.port, "/hello.txt")
    assert st == 200 and body == b"hello over h2c\n", (st, h, body)
    assert h.get("content-length") == str(len(body))
    assert h.get("server") == "Dwaar" and h.get("x-content-type-options") == "nosniff"
    st, _, _ = get(srv.port, "/missing.txt")
    assert st == 404


def test_transport_h2c_big_download_through_windows(live, nghttpd):
    """5 MiB: more than the 2 MiB stream and 4 MiB connection windows, so the proxy must keep
    returning window as the client takes the bytes."""
    port, root = nghttpd
    srv = live.start(proxy_config([f"127.0.0.1:{port}"], block="transport h2c"))
    want = (root / "big.bin").read_bytes()
    for _ in range(2):  # the second one reuses the pooled connection
        st, h, body = get(srv.port, "/big.bin", timeout=60)
        assert st == 200 and h.get("content-length") == str(len(want))
        assert body == want


def test_slow_client_big_download(live, nghttpd):
    """A client that reads slowly still gets every byte (flow control tied to its speed)."""
    if not CURL:
        pytest.skip("curl not installed")
    port, root = nghttpd
    srv = live.start(proxy_config([f"h2c://127.0.0.1:{port}"]))
    out = Path(srv.root) / "slow.bin"
    r = subprocess.run([CURL, "-sS", "--limit-rate", "2M", "-o", str(out), "-w", "%{http_code}",
                        f"http://127.0.0.1:{srv.port}/big.bin"], capture_output=True, timeout=60)
    assert r.stdout == b"200", r
    assert out.read_bytes() == (root / "big.bin").read_bytes()


# --- what the upstream receives -------------------------------------------------------------------

def test_request_fields_body_and_forwarding(live, h2up):
    up = h2up(lambda req: H2Reply(201, [("content-type", "text/plain"), ("x-up", "yes"),
                                        ("x-powered-by", "leaky")], b"made"))
    srv = live.start(proxy_config([up.addr], block="""
        transport h2c
        header_up X-Added "added {method}"
        header_up -X-Drop-Me
        header_down X-Down "down"
    """))
    with RawConn(srv.port) as c:
        c.send(b"POST /up/load?a=1&b=2 HTTP/1.1\r\nHost: Example.TEST:8080\r\n"
               b"Content-Type: application/octet-stream\r\nX-Custom: Value One\r\n"
               b"X-Drop-Me: 1\r\nConnection: keep-alive, X-Hop\r\nX-Hop: hop\r\n"
               b"Keep-Alive: timeout=5\r\nX-Forwarded-For: 6.6.6.6\r\n"
               b"Content-Length: 11\r\n\r\nhello world")
        r = c.response(timeout=20)
    assert r.status == 201 and r.body == b"made", r
    assert r.header("x-up") == "yes" and r.header("X-Down") == "down"
    assert r.header("x-powered-by") is None  # leaky headers stripped
    assert len(up.requests) == 1
    q = up.requests[0]
    assert q.header(":method") == "POST"
    assert q.header(":path") == "/up/load?a=1&b=2"
    assert q.header(":authority") == "Example.TEST:8080"
    assert q.header(":scheme") == "http"
    assert q.header("host") is None  # carried by :authority
    assert q.body == b"hello world"
    assert q.header("content-length") == "11"
    assert q.header("x-custom") == "Value One"
    assert q.header("x-added") == "added POST"
    assert q.header("x-drop-me") is None
    for hop in ("connection", "keep-alive", "x-hop", "te", "transfer-encoding", "upgrade"):
        assert q.header(hop) is None, f"{hop} was forwarded"
    assert q.header_all("x-forwarded-for") == ["127.0.0.1"]
    assert q.header("x-real-ip") == "127.0.0.1"
    assert q.header("x-forwarded-proto") == "http"
    assert q.header("x-forwarded-host") == "Example.TEST:8080"
    assert len(q.header("x-request-id") or "") == 36
    assert q.header("x-request-id") == r.header("X-Request-Id")
    # every field name went out lower-case
    assert all(k == k.lower() for k, _ in q.headers)


def test_te_trailers_kept_and_chunked_upload(live, h2up):
    up = h2up()
    srv = live.start(proxy_config([f"h2c://{up.addr}"]))
    chunks = [b"a" * 1000, b"b" * 70000, b"c"]
    body = b"".join(b"%x\r\n%s\r\n" % (len(x), x) for x in chunks) + b"0\r\n\r\n"
    with RawConn(srv.port) as c:
        c.send(b"PUT /chunked HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nConnection: TE\r\n"
               b"Transfer-Encoding: chunked\r\n\r\n" + body)
        r = c.response(timeout=20)
    assert r.status == 200 and r.body == b"ok /chunked", r
    q = up.requests[0]
    assert q.body == b"".join(chunks)
    assert q.header("te") == "trailers"
    assert q.header("content-length") is None and q.header("transfer-encoding") is None


def test_big_upload_respects_upstream_window(live, h2up):
    """3 MiB up: the upstream grants 64 KiB windows; the proxy sends only what it grants."""
    up = h2up(lambda req: H2Reply(200, [], str(len(req.body)).encode()))
    srv = live.start(proxy_config([f"h2c://{up.addr}"]))
    data = os.urandom(3 * 1024 * 1024)
    st, _, body = get(srv.port, "/upload", method="POST", body=data, timeout=60)
    assert st == 200 and body == str(len(data)).encode()
    assert up.requests[0].body == data
    assert not up.errors, up.errors


def test_head_and_no_content(live, h2up):
    def handler(req):
        if req.path == "/204":
            return H2Reply(204, [("x-a", "1")])
        return H2Reply(200, [("content-length", "5")], b"" if req.header(":method") == "HEAD"
                       else b"hello")
    up = h2up(handler)
    srv = live.start(proxy_config([f"h2c://{up.addr}"]))
    with RawConn(srv.port) as c:
        c.send(b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.response(timeout=10, method="HEAD")
        assert r.status == 200 and r.header("Content-Length") == "5"
        c.send(b"GET /204 HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.response(timeout=10)
        assert r.status == 204 and r.header("x-a") == "1"
        c.send(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
        r = c.response(timeout=10)
        assert r.status == 200 and r.body == b"hello"


def test_pooled_connection_reused(live, h2up):
    up = h2up()
    srv = live.start(proxy_config([f"h2c://{up.addr}"]), workers=1)
    for i in range(5):
        st, _, body = get(srv.port, f"/n{i}")
        assert st == 200 and body == f"ok /n{i}".encode()
    assert up.connections == 1


# --- the per-worker pool: at most two connections ---------------------------------------------------

def concurrent_gets(port, n, path="/c"):
    def one(i):
        return get(port, f"{path}{i}", timeout=60)
    with concurrent.futures.ThreadPoolExecutor(max_workers=n) as ex:
        return list(ex.map(one, range(n)))


def test_100_concurrent_requests_use_at_most_two_connections(live, h2up):
    up = h2up(lambda req: H2Reply(200, [], f"ok {req.path}".encode(), delay=0.5))
    srv = live.start(proxy_config([f"h2c://{up.addr}"]), workers=1)
    res = concurrent_gets(srv.port, 100)
    assert [r[0] for r in res] == [200] * 100
    assert sorted(r[2] for r in res) == sorted(f"ok /c{i}".encode() for i in range(100))
    assert 1 <= up.connections <= 2, f"{up.connections} upstream connections"


def test_second_connection_only_when_first_is_full(live, h2up):
    """The upstream allows 10 streams per connection: 30 concurrent requests open exactly two
    connections; the rest queue and all succeed."""
    up = h2up(lambda req: H2Reply(200, [], b"ok", delay=0.5), max_streams=10)
    srv = live.start(proxy_config([f"h2c://{up.addr}"]), workers=1)
    res = concurrent_gets(srv.port, 30)
    assert [r[0] for r in res] == [200] * 30
    assert up.connections == 2
    # never more than the peer's 10 streams in flight on a connection: the rest waited
    assert max(up.max_active.values()) <= 10, up.max_active
    assert len(up.requests) == 30 and not up.errors, up.errors


# --- failures: 502, 504, retries -------------------------------------------------------------------

def test_upstream_down_is_502(live):
    srv = live.start(proxy_config([f"h2c://127.0.0.1:{free_port()}"]))
    t0 = time.monotonic()
    st, _, _ = get(srv.port, "/down")
    assert st == 502
    assert time.monotonic() - t0 < 5


def test_upstream_not_http2_is_502(live):
    """An HTTP/1.1 server behind h2c: its answer to the preface is no SETTINGS frame."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    stop = threading.Event()

    def serve():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                s, _ = lsock.accept()
            except OSError:
                continue
            try:
                s.recv(65536)
                s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                          b"Connection: close\r\n\r\n")
            except OSError:
                pass
            s.close()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        srv = live.start(proxy_config([f"h2c://127.0.0.1:{port}"]))
        st, _, _ = get(srv.port, "/h1")
        assert st == 502
    finally:
        stop.set()
        t.join(2)
        lsock.close()


def test_upstream_dies_mid_request_is_502_then_recovers(live, h2up):
    calls = []

    def handler(req):
        calls.append(req.path)
        if req.path == "/die":
            return H2Reply(goaway=True)
        return None
    up = h2up(handler)
    srv = live.start(proxy_config([f"h2c://{up.addr}"]), workers=1)
    st, _, _ = get(srv.port, "/die", method="POST", body=b"x")
    assert st == 502
    st, _, body = get(srv.port, "/after")
    assert st == 200 and body == b"ok /after"


def test_goaway_idempotent_request_retried_once_on_fresh_connection(live, h2up):
    """GOAWAY with last-stream-id below the request: a GET is replayed on a new connection."""
    seen = {}

    def handler(req):
        n = seen.get(req.conn, 0)
        seen[req.conn] = n + 1
        if req.conn == 1 and req.path == "/second":
            return H2Reply(goaway=True)  # last_stream_id = /first's stream
        return None
    up = h2up(handler)
    srv = live.start(proxy_config([f"h2c://{up.addr}"]), workers=1)
    assert get(srv.port, "/first")[0] == 200
    st, _, body = get(srv.port, "/second")
    assert st == 200 and body == b"ok /second"
    assert up.connections == 2


def test_stream_reset_before_head_is_502(live, h2up):
    up = h2up(lambda req: H2Reply(reset=True))
    srv = live.start(proxy_config([f"h2c://{up.addr}"]))
    assert get(srv.port, "/reset")[0] == 502


def test_response_timeout_is_504(live, h2up):
    up = h2up(lambda req: H2Reply(never=True) if req.path == "/stall" else None)
    srv = live.start(proxy_config([f"h2c://{up.addr}"], block="response_timeout 2s"),
                     workers=1)
    t0 = time.monotonic()
    st, _, _ = get(srv.port, "/stall", timeout=40)
    took = time.monotonic() - t0
    assert st == 504
    assert 1.5 <= took <= 15, took
    # the connection itself is fine: the next request on it works
    assert get(srv.port, "/ok")[0] == 200
    assert up.connections == 1


def test_dial_timeout_when_upstream_never_speaks_http2(live):
    """A peer that accepts but never sends SETTINGS: dial_timeout (connect + handshake) → 502."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    try:
        srv = live.start(proxy_config([f"127.0.0.1:{port}"],
                                      block="transport h2c\ndial_timeout 1s"))
        t0 = time.monotonic()
        st, _, _ = get(srv.port, "/mute", timeout=30)
        took = time.monotonic() - t0
        assert st == 502
        assert 0.8 <= took <= 10, took
    finally:
        lsock.close()


def test_lb_retries_to_another_backend(live, h2up):
    up = h2up()
    srv = live.start(proxy_config([f"h2c://127.0.0.1:{free_port()}", f"h2c://{up.addr}"],
                                  block="lb_retries 2"))
    for i in range(6):
        st, _, body = get(srv.port, f"/r{i}")
        assert st == 200 and body == f"ok /r{i}".encode()


def test_intercept_and_response_body_limit(live, h2up):
    def handler(req):
        if req.path == "/err":
            return H2Reply(503, [("content-type", "text/plain")], b"upstream says no")
        if req.path == "/declared":
            return H2Reply(200, [("content-length", "5000")], b"x" * 5000)
        return H2Reply(200, [], b"x" * 5000)
    up = h2up(handler)
    cfg = proxy_config([f"h2c://{up.addr}"], site_extra="""
        intercept 503 {
            respond "intercepted" 418
        }
        response_body_limit 1000
    """)
    srv = live.start(cfg)
    st, _, body = get(srv.port, "/err")
    assert st == 418 and body == b"intercepted"
    # a declared length over the limit: 502 before anything is sent
    assert get(srv.port, "/declared")[0] == 502
    # no length: the response is cut off mid-body, never delivered whole
    try:
        raw = srv.raw(b"GET /big HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", timeout=10)
    except ConnectionResetError:
        raw = b""
    if raw.startswith(b"HTTP/1.1 200"):
        assert raw.count(b"x") < 5000, raw[:300]
    else:
        assert raw == b"" or raw.startswith(b"HTTP/1.1 502"), raw[:200]


# --- HTTP/2 downstream (needs http2.c) ---------------------------------------------------------------

@needs_h2_front
def test_h2_downstream_to_h2_upstream(live, nghttpd):
    port, root = nghttpd
    srv = live.start(proxy_config([f"h2c://127.0.0.1:{port}"]))
    out = Path(srv.root) / "h2.bin"
    r = subprocess.run([CURL, "-sS", "--http2-prior-knowledge", "-o", str(out), "-w",
                        "%{http_code} %{http_version}", f"http://127.0.0.1:{srv.port}/big.bin"],
                       capture_output=True, timeout=60)
    assert r.stdout == b"200 2", r
    assert out.read_bytes() == (root / "big.bin").read_bytes()


@needs_h2_front
def test_h2_downstream_trailers_pass_through(live, h2up):
    up = h2up(lambda req: H2Reply(200, [("content-type", "text/plain")], b"body",
                                  trailers=[("x-trailer", "yes")]))
    srv = live.start(proxy_config([f"h2c://{up.addr}"]))
    r = subprocess.run(["nghttp", "-v", f"http://127.0.0.1:{srv.port}/t"],
                       capture_output=True, timeout=30, text=True)
    assert "x-trailer: yes" in r.stdout, r.stdout[-3000:]


# --- TLS with ALPN h2 (spec 20 §1.11) ------------------------------------------------------------

def make_cert(d):
    """A throw-away CA and a server certificate for IP 127.0.0.1; returns (ca, cert, key)."""
    d = Path(d)
    ca_key, ca, key, csr, cert = (d / n for n in ("ca.key", "ca.pem", "srv.key", "srv.csr",
                                                   "srv.pem"))
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, timeout=60)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", str(ca_key), "-out", str(ca), "-days", "2", "-subj", "/CN=h2up-test-ca")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    ext = d / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    run("openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))
    return ca, cert, key


def tls_block(ca):
    return f"transport {{\n\th2\n\ttls_trusted_ca_certs {ca}\n}}"


def test_transport_h2_over_tls_to_nghttpd(live, tmp_path):
    if not os.path.exists(NGHTTPD):
        pytest.skip("nghttpd (nghttp2-server) not installed")
    ca, cert, key = make_cert(tmp_path)
    root = tmp_path / "tlsdocs"
    root.mkdir()
    (root / "t.txt").write_bytes(b"over tls\n")
    (root / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    port = free_port()
    p = live.popen([NGHTTPD, "--address=127.0.0.1", "-d", str(root), str(port), str(key),
                    str(cert)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    srv = live.start(proxy_config([f"https://127.0.0.1:{port}"], block=tls_block(ca)))
    st, h, body = get(srv.port, "/t.txt")
    assert (st, body) == (200, b"over tls\n"), (st, h, body)
    st, _, body = get(srv.port, "/big.bin", timeout=60)
    assert st == 200 and body == (root / "big.bin").read_bytes()


def test_tls_upstream_without_alpn_h2_is_502(live, tmp_path):
    """The upstream's TLS offers only http/1.1: no HTTP/2, the request fails with 502."""
    import ssl
    ca, cert, key = make_cert(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_alpn_protocols(["http/1.1"])
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(8)
    port = lsock.getsockname()[1]
    stop = threading.Event()
    alpn = []

    def serve():
        lsock.settimeout(0.2)
        while not stop.is_set():
            try:
                s, _ = lsock.accept()
            except OSError:
                continue
            try:
                s.settimeout(5)
                t = ctx.wrap_socket(s, server_side=True)
                alpn.append(t.selected_alpn_protocol())
                t.recv(1024)
                t.close()
            except (OSError, ssl.SSLError):
                s.close()
    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        srv = live.start(proxy_config([f"https://127.0.0.1:{port}"], block=tls_block(ca)))
        assert get(srv.port, "/x")[0] == 502
        assert alpn and alpn[0] in (None, "http/1.1"), alpn
    finally:
        stop.set()
        th.join(2)
        lsock.close()


def test_tls_untrusted_upstream_is_502(live, tmp_path):
    if not os.path.exists(NGHTTPD):
        pytest.skip("nghttpd (nghttp2-server) not installed")
    ca, cert, key = make_cert(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    other_ca, _, _ = make_cert(other)
    port = free_port()
    p = live.popen([NGHTTPD, "--address=127.0.0.1", "-d", str(tmp_path), str(port), str(key),
                    str(cert)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc=p)
    srv = live.start(proxy_config([f"https://127.0.0.1:{port}"], block=tls_block(other_ca)))
    assert get(srv.port, "/ca.pem")[0] == 502


@needs_h2_front
def test_h2_downstream_request_trailers_forwarded(live, h2up):
    """Request trailers an HTTP/2 client sends reach the HTTP/2 upstream (gRPC clients never
    send them, other HTTP/2 clients may)."""
    import h2.config
    import h2.connection
    import h2.events
    up = h2up()
    srv = live.start(proxy_config([f"h2c://{up.addr}"]))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                             header_encoding="utf-8"))
    c.initiate_connection()
    sid = c.get_next_available_stream_id()
    c.send_headers(sid, [(":method", "POST"), (":scheme", "http"), (":authority", "localhost"),
                         (":path", "/trailers"), ("te", "trailers")])
    c.send_data(sid, b"abc")
    c.send_headers(sid, [("x-req-trailer", "tv")], end_stream=True)
    s.sendall(c.data_to_send())
    status, body, done = None, b"", False
    deadline = time.monotonic() + 10
    while not done and time.monotonic() < deadline:
        data = s.recv(65536)
        if not data:
            break
        for ev in c.receive_data(data):
            if isinstance(ev, h2.events.ResponseReceived):
                status = dict(ev.headers)[":status"]
            elif isinstance(ev, h2.events.DataReceived):
                body += ev.data
                c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                done = True
        s.sendall(c.data_to_send())
    s.close()
    assert (status, body) == ("200", b"ok /trailers")
    q = up.requests[0]
    assert q.body == b"abc"
    assert ("x-req-trailer", "tv") in q.trailers, q.trailers
    assert q.header("te") == "trailers"


def test_client_aborts_leave_the_connection_usable(live, nghttpd):
    """Clients that hang up mid-download reset their upstream streams; the connection window
    they held comes back, so a full download on the same connection still completes."""
    port, root = nghttpd
    srv = live.start(proxy_config([f"h2c://127.0.0.1:{port}"]), workers=1)
    for _ in range(6):
        with RawConn(srv.port) as c:
            c.send(b"GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n")
            got = 0
            while got < 300000:
                data = c.sock.recv(65536)
                if not data:
                    break
                got += len(data)
        time.sleep(0.05)
    st, _, body = get(srv.port, "/big.bin", timeout=60)
    assert st == 200 and body == (root / "big.bin").read_bytes()
