"""Upstream and downstream timeouts (spec 20 §3.4, PERF-34..PERF-39; decision 36).

Small values (1-2 s) keep the tests short; every timing assertion is a wide window (shared
2-core machine): the event must happen, not too early, and within several times its value."""
import time

import pytest

from livetest import free_port
from proxytest import (RawConn, RawServer, complete_requests, proxy_config,
                       request_bytes)


def stall_backend(sock, server):
    """Reads the request head, then never answers (until the test ends)."""
    server.read_head(sock)
    server.stopping.wait(40)


# --- PERF-34: upstream response timeout / refused connect ---------------------------------------

def test_PERF_34_upstream_never_sends_head_is_504(live):
    be = RawServer(stall_backend)
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr], block="response_timeout 2s"))
    t0 = time.monotonic()
    r = srv.get("/stall", timeout=40)
    took = time.monotonic() - t0
    assert r.status == 504, r
    assert 1.5 <= took <= 15, f"504 after {took:.1f} s with response_timeout 2s"
    assert len(be.heads) == 1
    # the proxy still works for the next request (a fresh upstream connection)
    t0 = time.monotonic()
    assert srv.get("/stall2", timeout=40).status == 504
    assert time.monotonic() - t0 >= 1.5


def test_PERF_34_refused_connect_is_502(live):
    srv = live.start(proxy_config([f"127.0.0.1:{free_port()}"]))
    t0 = time.monotonic()
    r = srv.get("/refused", timeout=30)
    assert r.status == 502, r
    assert time.monotonic() - t0 < 5, "a refused connect answers at once"


def test_PERF_34_upstream_closes_without_response_is_502(live):
    def closer(sock, server):
        server.read_head(sock)
    be = RawServer(closer)
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr], block="response_timeout 5s"))
    assert srv.get("/closed", timeout=30).status == 502


# --- PERF-35..38: downstream timeouts -------------------------------------------------------------

@pytest.fixture
def backend(live):
    return live.backend(name="be")


def start(live, be, timeouts):
    return live.start(proxy_config([be.addr], timeouts=timeouts))


def trickle_head(c, step=0.2, limit=10.0):
    """Sends a head one byte per step without ever finishing it; returns (response bytes, seconds
    until the server closed) once the server closed, or (bytes, None) after limit."""
    t0 = time.monotonic()
    if not c.try_send(b"GET /slow HTTP/1.1\r\nHost: localhost\r\n"):
        return b"", time.monotonic() - t0
    payload = b"X-Slow: " + b"a" * 1000
    i = 0  # never reaches len(payload) within limit
    while time.monotonic() - t0 < limit:
        state = c.wait_closed(step)
        if state in ("closed", "reset"):
            return c.buf, time.monotonic() - t0
        if state == "data" or not c.try_send(payload[i:i + 1]):
            data = c.read_all(timeout=5)  # until the close that must follow the response
            return data, (time.monotonic() - t0 if c.eof else None)
        i += 1
    return c.buf, None


def status_of(data):
    if not data.startswith(b"HTTP/1."):
        return None
    return int(data.split(b" ", 2)[1])


def assert_408_and_closed(data, took, low=0.7, high=8.0):
    assert took is not None, "the connection was not closed"
    assert status_of(data) == 408, f"expected 408, got {data[:200]!r}"
    head = data.split(b"\r\n\r\n", 1)[0].lower()
    assert b"connection: close" in head, data[:300]
    assert low <= took <= high, f"closed after {took:.2f} s"


def test_PERF_35_slow_header_gets_408(live, backend):
    srv = start(live, backend, "read_header 1s")
    with RawConn(srv.port) as c:
        data, took = trickle_head(c)
    assert_408_and_closed(data, took)
    time.sleep(0.2)
    assert backend.requests == []


def test_PERF_35_no_bytes_at_all_gets_408(live, backend):
    """The header timer starts at accept."""
    srv = start(live, backend, "read_header 1s")
    with RawConn(srv.port) as c:
        t0 = time.monotonic()
        data = c.read_all(timeout=10)
        took = time.monotonic() - t0
    assert c.eof, "connection not closed"
    assert_408_and_closed(data, took)


def test_PERF_35_header_timer_restarts_for_next_request(live, backend):
    """Between requests the idle timer applies; the header timer starts again at the first byte
    of the next request."""
    srv = start(live, backend, "read_header 1s\nidle 10s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/one"))
        assert c.response().status == 200
        time.sleep(1.6)  # longer than read_header, shorter than idle
        assert c.wait_closed(0.1) == "open", "idle keep-alive closed by the header timer"
        c.send(request_bytes("GET", "/two"))
        assert c.response().status == 200
        c.send(b"GET /three HTTP/1.1\r\nHost: localhost\r\n")  # never finished
        t0 = time.monotonic()
        data = c.read_all(timeout=10)
        took = time.monotonic() - t0
    assert_408_and_closed(data, took)


@pytest.mark.parametrize("framing,part", [
    (("Content-Length", "100"), b"x" * 10),
    (("Transfer-Encoding", "chunked"), b"5\r\nhello\r\n"),
], ids=["content-length", "chunked"])
def test_PERF_36_stalled_body_disconnected(live, backend, framing, part):
    """Nothing was sent to the client yet (the backend waits for the body), so the expiry is
    answered 408 with Connection: close, then the connection closes."""
    srv = start(live, backend, "read_body 1s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("POST", "/body", headers=[framing]) + part)
        t0 = time.monotonic()
        data = c.read_all(timeout=12)
        took = time.monotonic() - t0
        assert c.eof, f"connection still open {took:.1f} s after the body stalled"
    assert_408_and_closed(data, took)
    time.sleep(0.3)
    assert complete_requests(backend) == [], "a partial body was completed upstream"


def test_PERF_36_slow_but_steady_body_within_timeout_ok(live, backend):
    """read_body bounds the whole body; a body that completes in time is served."""
    srv = start(live, backend, "read_body 3s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("POST", "/ok", headers=[("Content-Length", "4")]))
        for b in b"abcd":
            time.sleep(0.2)
            c.send(bytes([b]))
        assert c.response().status == 200
    assert backend.requests[0].body == b"abcd"


def test_PERF_37_idle_keepalive_closed(live, backend):
    srv = start(live, backend, "idle 1s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/idle"))
        assert c.response().status == 200
        t0 = time.monotonic()
        state = c.wait_closed(10)
        took = time.monotonic() - t0
    assert state in ("closed", "reset"), f"idle connection not closed ({state})"
    assert 0.7 <= took <= 8, f"closed after {took:.2f} s with idle 1s"


def test_PERF_38_max_requests_closes_after_third(live, backend):
    srv = start(live, backend, "max_requests 3")
    with RawConn(srv.port) as c:
        for i in range(1, 4):
            c.send(request_bytes("GET", f"/m{i}"))
            r = c.response()
            assert (r.status, r.body) == (200, f"be /m{i}".encode())
            if i < 3:
                assert "close" not in r.conn_tokens(), f"response {i}: {r.raw_head!r}"
            else:
                assert "close" in r.conn_tokens(), "third response lacks Connection: close"
        assert c.wait_closed(5) in ("closed", "reset")


def test_PERF_38_max_requests_pipelined(live, backend):
    """Pipelined: three answers, the fourth request is not served."""
    srv = start(live, backend, "max_requests 3")
    with RawConn(srv.port) as c:
        c.send(b"".join(request_bytes("GET", f"/q{i}") for i in range(1, 5)))
        rs = [c.response() for _ in range(3)]
        assert [r.body for r in rs] == [b"be /q1", b"be /q2", b"be /q3"]
        assert "close" in rs[2].conn_tokens()
        assert c.wait_closed(5) in ("closed", "reset"), c.buf[:200]
    time.sleep(0.2)
    assert [x.path for x in backend.requests] == ["/q1", "/q2", "/q3"]


# --- PERF-39: aliases and 0 ----------------------------------------------------------------------

def test_PERF_39_alias_header(live, backend):
    srv = start(live, backend, "header 1s")
    with RawConn(srv.port) as c:
        data, took = trickle_head(c)
    assert_408_and_closed(data, took)


def test_PERF_39_alias_body(live, backend):
    srv = start(live, backend, "body 1s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("POST", "/b", headers=[("Content-Length", "50")]) + b"x")
        t0 = time.monotonic()
        data = c.read_all(timeout=12)
        took = time.monotonic() - t0
        assert c.eof
    assert_408_and_closed(data, took)


def test_PERF_39_alias_keepalive(live, backend):
    srv = start(live, backend, "keepalive 1s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/k"))
        assert c.response().status == 200
        t0 = time.monotonic()
        assert c.wait_closed(10) in ("closed", "reset")
        assert 0.7 <= time.monotonic() - t0 <= 8


def test_PERF_39_top_level_timeouts_block(live, backend):
    """A top-level `timeouts { }` global block is accepted too (spec 20 §3.4)."""
    cfg = proxy_config([backend.addr], global_extra="timeouts {\nkeepalive 1s\n}")
    srv = live.start(cfg)
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/k"))
        assert c.response().status == 200
        assert c.wait_closed(10) in ("closed", "reset")


def test_PERF_39_zero_disables_idle(live, backend):
    srv = start(live, backend, "idle 0\nread_header 1s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/z1"))
        assert c.response().status == 200
        assert c.wait_closed(3.0) == "open", "idle 0 must disable the idle timeout"
        c.send(request_bytes("GET", "/z2"))
        assert c.response().body == b"be /z2"


def test_PERF_39_zero_disables_read_body(live, backend):
    """read_body 0: a body paused longer than the other (small) timeouts still completes."""
    srv = start(live, backend, "read_body 0\nread_header 1s\nidle 1s")
    with RawConn(srv.port) as c:
        c.send(request_bytes("POST", "/slowbody", headers=[("Content-Length", "2")]) + b"a")
        time.sleep(2.5)
        assert c.wait_closed(0.1) == "open", "read_body 0 must disable the body timeout"
        c.send(b"b")
        r = c.response()
        assert r.status == 200
    assert backend.requests[0].body == b"ab"


def test_write_timeout_closes_a_response_the_client_does_not_read(live):
    """timeouts.write (spec 20 §3.4): a response still being written after `write` is cut off.
    The client never reads a 1 GiB download; with `write 1s` the connection is closed."""
    import socket
    import time as _time

    def big(rec, h):
        h.send_response(200)
        h.send_header("Content-Length", str(1 << 30))
        h.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range((1 << 30) // 65536):
                h.wfile.write(chunk)
        except OSError:
            pass
        return False

    be = live.backend(big)
    srv = live.start("{\n    http_port {PORT}\n    servers {\n        timeouts {\n            write 1s\n"
                     "        }\n    }\n}\n:{PORT} {\n" f"    reverse_proxy {be.addr}\n}}\n")
    s = srv.connect()
    s.sendall(b"GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
    _time.sleep(3)  # do not read: the server's writes block
    s.settimeout(10)
    total = 0
    closed = False
    deadline = _time.monotonic() + 20
    while _time.monotonic() < deadline:
        try:
            d = s.recv(1 << 20)
        except (ConnectionResetError, socket.timeout):
            closed = True
            break
        if not d:
            closed = True
            break
        total += len(d)
    s.close()
    assert closed and total < (1 << 30), f"read {total} bytes, closed={closed}"
