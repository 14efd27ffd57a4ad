"""HTTP/1.1 targets, bodies, persistence and forwarding through `reverse_proxy` (spec
40-http1.md H1-13, H1-14 and the Keep-alive / Forwarding rules), over raw sockets with recording
backends."""
import base64
import hashlib
import os
import threading
import time

import pytest

from proxytest import (UUID7, RawConn, RawServer, expect_rejected, field, head, head_fields,
                       proxy_config, request_bytes)


@pytest.fixture
def proxy(live):
    be = live.backend(name="be", handler=lambda rec, h: (404, [], b"be says no")
                      if rec.path == "/be404" else None)
    srv = live.start(proxy_config([be.addr], site_extra='respond /nf "nope" 404'))
    return srv, be


@pytest.fixture
def sites(live):
    """Three sites on one port: a catch-all (backend C) and the hosts a.test (A), b.test (B)."""
    a, b, c = live.backend(name="A"), live.backend(name="B"), live.backend(name="C")
    cfg = proxy_config([c.addr], extra_sites=(
        "http://a.test:{PORT} {\n\treverse_proxy " + a.addr + "\n}\n"
        "http://b.test:{PORT} {\n\treverse_proxy " + b.addr + "\n}\n"))
    srv = live.start(cfg)
    return srv, a, b, c


# --- H1-13: request targets ----------------------------------------------------------------------

def test_H1_13_origin_form_selects_site_by_host(sites):
    srv, a, b, c = sites
    for host, name in (("a.test", "A"), ("b.test", "B"), ("other.test", "C")):
        with RawConn(srv.port) as conn:
            conn.send(request_bytes("GET", "/o", host=host))
            r = conn.response()
            assert (r.status, r.body) == (200, f"{name} /o".encode())


@pytest.mark.parametrize("authority,host,name", [
    ("a.test", "b.test", "A"),
    ("b.test:{PORT}", "a.test", "B"),
    ("a.test", "other.test", "A"),
], ids=["a-over-host-b", "b-with-port-over-host-a", "a-over-unknown-host"])
def test_H1_13_absolute_form_selects_site_by_authority(sites, authority, host, name):
    srv, a, b, c = sites
    authority = authority.replace("{PORT}", str(srv.port))
    with RawConn(srv.port) as conn:
        conn.send(f"GET http://{authority}/abs?q=1 HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        r = conn.response()
        assert r.status == 200, r.raw_head
        assert r.body.startswith(f"{name} ".encode()), r.body
    be = {"A": a, "B": b}[name]
    time.sleep(0.1)
    assert len(be.requests) == 1
    rec = be.requests[0]
    assert rec.path in ("/abs?q=1", f"http://{authority}/abs?q=1"), rec.path
    # Host is replaced by the target's authority
    assert rec.header_all("Host") == [authority], rec.headers
    assert c.requests == []


def test_H1_13_options_asterisk_answered_by_dwaar(sites):
    srv, a, b, c = sites
    with RawConn(srv.port) as conn:
        conn.send(b"OPTIONS * HTTP/1.1\r\nHost: a.test\r\n\r\n")
        r = conn.response()
        assert r.status == 200, r.raw_head
        assert r.header("Allow"), f"no Allow header: {r.raw_head!r}"
        # a normal request still works on the same connection
        conn.send(request_bytes("GET", "/after", host="a.test"))
        assert conn.response().body == b"A /after"
    assert [x.path for x in a.requests] == ["/after"]
    assert b.requests == [] and c.requests == []


@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_H1_13_asterisk_with_other_method_rejected(sites, method):
    srv, a, b, c = sites
    extra = ["Content-Length: 0"] if method == "POST" else []
    expect_rejected(srv, c, head(extra, method=method, target="*", host="a.test"))
    assert a.requests == [] and b.requests == []


# --- H1-14: lenient-but-valid syntax works -------------------------------------------------------

def test_H1_14_ows_around_values_removed(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(b"GET /ows HTTP/1.1\r\nHost:   localhost \t\r\nX-Ows:\t  padded value \t \r\n"
               b"X-Empty:\r\nX-Only-Ows:   \r\n\r\n")
        r = c.response()
        assert r.status == 200, r.raw_head
    rec = be.requests[0]
    assert rec.header("X-Ows") == "padded value"
    assert rec.header("Host") == "localhost"
    assert rec.header("X-Empty", "missing").strip() == ""


def chunked(parts, ext=b"", trailers=b""):
    out = b""
    for p in parts:
        out += f"{len(p):x}".encode() + ext + b"\r\n" + p + b"\r\n"
    return out + b"0\r\n" + trailers + b"\r\n"


def post_chunked(c, body, path="/up"):
    c.send(head(["Transfer-Encoding: chunked"], target=path) + body)
    return c.response()


def test_H1_14_chunk_extensions_work(proxy):
    srv, be = proxy
    body = (b"5;name=value\r\nhello\r\n6;a;b=\"q;x\"\r\n world\r\n"
            b"1 ;  sp = x\r\n!\r\n0;last\r\n\r\n")
    with RawConn(srv.port) as c:
        r = post_chunked(c, body)
        assert r.status == 200, r.raw_head
    assert be.requests[0].body == b"hello world!"


def test_H1_14_trailers_work_and_framing_continues(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        r = post_chunked(c, chunked([b"hello"], trailers=b"X-Trailer: yes\r\nX-Sum:  1 \r\n"))
        assert r.status == 200, r.raw_head
        # the trailer section was consumed exactly: the next request on the connection works
        c.send(request_bytes("GET", "/next"))
        r2 = c.response()
        assert (r2.status, r2.body) == (200, b"be /next")
    assert [x.path for x in be.requests] == ["/up", "/next"]
    assert be.requests[0].body == b"hello"


def test_H1_14_twenty_thousand_one_byte_chunks(proxy):
    srv, be = proxy
    data = bytes((i * 7) % 251 for i in range(20000))
    body = b"".join(b"1\r\n" + data[i:i + 1] + b"\r\n" for i in range(20000)) + b"0\r\n\r\n"
    with RawConn(srv.port, timeout=30) as c:
        r = post_chunked(c, body)
        assert r.status == 200, r.raw_head
    assert len(be.requests) == 1
    assert be.requests[0].body == data


def test_H1_14_request_after_404_served_on_same_connection(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/nf"))
        r = c.response()
        assert (r.status, r.body) == (404, b"nope")
        c.send(request_bytes("GET", "/be404"))
        r = c.response()
        assert (r.status, r.body) == (404, b"be says no")
        c.send(request_bytes("POST", "/nf", body=b"ignored body"))
        r = c.response()
        assert r.status == 404
        c.send(request_bytes("GET", "/ok"))
        r = c.response()
        assert (r.status, r.body) == (200, b"be /ok")
        assert c.wait_closed(0.3) == "open"
    assert [x.path for x in be.requests] == ["/be404", "/ok"]


# --- Keep-alive and pipelining -------------------------------------------------------------------

def test_pipelined_requests_answered_in_order(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/p1") + request_bytes("POST", "/p2", body=b"abc")
               + request_bytes("GET", "/p3") + request_bytes("GET", "/nf")
               + request_bytes("GET", "/p5"))
        bodies = [c.response().body for _ in range(5)]
    assert bodies == [b"be /p1", b"be /p2", b"be /p3", b"nope", b"be /p5"]
    assert [x.path for x in be.requests] == ["/p1", "/p2", "/p3", "/p5"]
    assert be.requests[1].body == b"abc"


def test_keep_alive_http11_persists(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        for i in range(3):
            c.send(request_bytes("GET", f"/k{i}"))
            r = c.response()
            assert (r.status, r.body) == (200, f"be /k{i}".encode())
            assert "close" not in r.conn_tokens()
        assert c.wait_closed(0.5) == "open"


def test_keep_alive_http11_connection_close(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/c", headers=[("Connection", "close")]))
        r = c.response()
        assert r.status == 200
        assert "close" in r.conn_tokens()
        assert c.wait_closed(5) in ("closed", "reset")


def test_keep_alive_http10_closes_without_keep_alive(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/ten", version="HTTP/1.0"))
        r = c.response()
        assert (r.status, r.body) == (200, b"be /ten")
        assert c.wait_closed(5) in ("closed", "reset")


def test_keep_alive_http10_with_keep_alive_persists(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        for i in range(2):
            c.send(request_bytes("GET", f"/ten{i}", version="HTTP/1.0",
                                 headers=[("Connection", "keep-alive")]))
            r = c.response()
            assert (r.status, r.body) == (200, f"be /ten{i}".encode())
        assert c.wait_closed(0.5) == "open"


# --- Bodies --------------------------------------------------------------------------------------

def test_expect_100_continue(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(head(["Content-Length: 11", "Expect: 100-continue"], target="/exp"))
        r = c.response(timeout=5)
        assert r.status == 100, f"expected 100 Continue before the body: {r.raw_head!r}"
        assert r.raw_head.startswith(b"HTTP/1.1 100 Continue\r\n"), r.raw_head
        c.send(b"hello world")
        r = c.response()
        assert (r.status, r.body) == (200, b"be /exp")
    assert be.requests[0].body == b"hello world"


def test_chunked_body_arrives_intact_with_dwaar_framing(proxy):
    srv, be = proxy
    data = os.urandom(300_000)
    sizes = [1, 100, 4096, 65536, 7, 100_000]
    parts, i, k = [], 0, 0
    while i < len(data):
        n = sizes[k % len(sizes)]
        parts.append(data[i:i + n])
        i += n
        k += 1
    with RawConn(srv.port, timeout=30) as c:
        c.send(head(["Transfer-Encoding: chunked", "Trailer: X-T"], target="/big")
               + chunked(parts, ext=b";x=1", trailers=b"X-T: 1\r\n"))
        r = c.response(timeout=30)
        assert r.status == 200, r.raw_head
    rec = be.requests[0]
    assert rec.body == data
    cl, te = rec.header("Content-Length"), rec.header("Transfer-Encoding")
    assert (cl is None) != (te is None), f"backend framing: CL={cl} TE={te}"
    if cl is not None:
        assert int(cl) == len(data)
    else:
        assert te.lower() == "chunked"
    assert rec.header("Trailer") is None


def test_content_length_body_forwarded(proxy):
    srv, be = proxy
    data = os.urandom(200_000)
    with RawConn(srv.port, timeout=30) as c:
        c.send(request_bytes("PUT", "/put", body=data))
        assert c.response(timeout=30).status == 200
    rec = be.requests[0]
    assert rec.body == data
    assert rec.header_all("Content-Length") == [str(len(data))]


# --- Forwarded headers ---------------------------------------------------------------------------

def test_hop_by_hop_headers_not_forwarded(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/hop", host="localhost", headers=[
            ("Connection", "keep-alive, X-Custom-Hop, x-other-hop"),
            ("X-Custom-Hop", "1"),
            ("X-Other-Hop", "2"),
            ("Keep-Alive", "timeout=5"),
            ("TE", "trailers"),
            ("Trailer", "X-T"),
            ("Upgrade", "foo/1"),
            ("Proxy-Connection", "keep-alive"),
            ("X-End-To-End", "kept"),
        ]))
        r = c.response()
        assert r.status == 200
    rec = be.requests[0]
    names = {k.lower() for k, _ in rec.headers}
    for hop in ("x-custom-hop", "x-other-hop", "keep-alive", "te", "trailer", "upgrade",
                "proxy-connection"):
        assert hop not in names, f"hop-by-hop {hop} reached the backend: {rec.headers}"
    for v in rec.header_all("Connection"):
        assert "hop" not in v.lower(), f"client Connection copied: {v}"
    assert rec.header("X-End-To-End") == "kept"


def test_forwarding_headers_set(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/fwd?x=1", host="fwd.test", headers=[
            ("X-Forwarded-For", "203.0.113.9, 198.51.100.1"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.test"),
            ("X-Real-IP", "203.0.113.9"),
            ("X-Request-Id", "client-chosen-id"),
        ]))
        r = c.response()
        assert r.status == 200
    rec = be.requests[0]
    assert rec.path == "/fwd?x=1"
    assert rec.header_all("Host") == ["fwd.test"]
    assert rec.header_all("X-Forwarded-For") == ["127.0.0.1"], "X-Forwarded-For must be replaced"
    assert rec.header_all("X-Forwarded-Proto") == ["http"]
    assert rec.header_all("X-Forwarded-Host") == ["fwd.test"]
    assert rec.header_all("X-Real-IP") == ["127.0.0.1"]
    ids = rec.header_all("X-Request-Id")
    assert len(ids) == 1 and UUID7.match(ids[0]), f"X-Request-Id upstream: {ids}"
    assert r.header("X-Request-Id") == ids[0], "the client gets the same X-Request-Id"


# --- WebSocket tunnelling ------------------------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def ws_backend(sock, server):
    head_bytes, rest = server.read_head(sock)
    if head_bytes is None:
        return
    _, fields = head_fields(head_bytes)
    key = field(fields, "Sec-WebSocket-Key", "")
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    sock.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n").encode()
                 + b"hello-from-backend")
    if rest:
        sock.sendall(rest)
    sock.settimeout(20)
    while True:
        d = sock.recv(65536)
        if not d:
            break
        sock.sendall(d)


def test_websocket_upgrade_tunnelled_both_ways(live):
    be = RawServer(ws_backend)
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    key = base64.b64encode(os.urandom(16)).decode()
    with RawConn(srv.port, timeout=15) as c:
        c.send(request_bytes("GET", "/ws", headers=[
            ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
        r = c.response()
        assert r.status == 101, r.raw_head
        assert (r.header("Upgrade") or "").lower() == "websocket"
        assert "upgrade" in r.conn_tokens()
        # backend -> client, sent in the same segment as the 101 head
        got = c.buf
        deadline = time.monotonic() + 10
        while len(got) < len(b"hello-from-backend") and time.monotonic() < deadline:
            c.sock.settimeout(max(0.05, deadline - time.monotonic()))
            d = c.sock.recv(65536)
            if not d:
                break
            got += d
        c.buf = b""
        assert got == b"hello-from-backend"
        # client -> backend -> client, small and bulk
        for payload in (b"ping-1", os.urandom(256 * 1024)):
            # send from a thread so neither side blocks on full socket buffers
            sender = threading.Thread(target=c.try_send, args=(payload,), daemon=True)
            sender.start()
            echo = b""
            deadline = time.monotonic() + 15
            while len(echo) < len(payload) and time.monotonic() < deadline:
                c.sock.settimeout(max(0.05, deadline - time.monotonic()))
                d = c.sock.recv(1 << 20)
                if not d:
                    break
                echo += d
            sender.join(5)
            assert echo == payload, f"echo of {len(payload)} bytes: got {len(echo)}"
        # the client's half-close ends the tunnel: the backend closes, so does Dwaar
        c.sock.shutdown(1)
        assert c.wait_closed(10) in ("closed", "reset")
    assert len(be.heads) == 1
    line, fields = head_fields(be.heads[0])
    assert line.startswith("GET /ws ")
    assert (field(fields, "Upgrade") or "").lower() == "websocket"
    assert "upgrade" in (field(fields, "Connection") or "").lower()
    assert field(fields, "Sec-WebSocket-Key") == key
    assert be.errors == []


# --- Paths ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("target", ["/../etc/passwd", "/a/../../b", "/%2e%2e/x",
                                    "/a/%2E%2E/%2e%2e/x"])
def test_path_climbing_above_root_rejected(proxy, target):
    srv, be = proxy
    expect_rejected(srv, be, head([], method="GET", target=target))


def test_target_forwarded_as_sent(proxy):
    """Matching uses the normalised path; the upstream gets the target as the client sent it."""
    srv, be = proxy
    target = "/a/./b/../c//d%7e?x=%2F&y=1"
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", target))
        assert c.response().status == 200
    assert be.requests[0].path == target


def test_normalised_path_used_for_matching(proxy):
    """`respond /nf` matches /x/../nf and /%6ef (percent-decoded unreserved)."""
    srv, be = proxy
    for target in ("/x/../nf", "//nf", "/%6ef", "/./nf"):
        with RawConn(srv.port) as c:
            c.send(request_bytes("GET", target))
            r = c.response()
            assert (r.status, r.body) == (404, b"nope"), (target, r.status, r.body)
    assert be.requests == []


# --- Upstream connection reuse -------------------------------------------------------------------

def one_request_then_drop(sock, server):
    """Serves the first request of a connection with keep-alive; on the next request of the same
    connection closes without answering (an upstream that dropped an idle connection)."""
    head_bytes, _ = server.read_head(sock)
    if head_bytes is None:
        return
    line, _ = head_fields(head_bytes)
    body = ("raw " + line.split(" ")[1]).encode()
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    server.read_head(sock, timeout=30)


def test_pooled_connection_dropped_request_replayed_once(live):
    be = RawServer(one_request_then_drop)
    live.backends.append(be)
    # response_timeout bounds a stuck attempt, so a failure is quick and shows its status
    srv = live.start(proxy_config([be.addr], block="response_timeout 3s"))
    for i in range(4):
        try:
            r = srv.get(f"/replay{i}", timeout=10)
        except TimeoutError:
            pytest.fail(f"request {i}: no answer within 10 s after the pooled upstream connection "
                        f"was dropped (heads seen upstream: {len(be.heads)}, "
                        f"connections: {be.connections})")
        assert (r.status, r.body) == (200, f"raw /replay{i}".encode()), \
            f"request {i}: {r.status} {r.body!r}; upstream heads {len(be.heads)}, " \
            f"connections {be.connections}"
    heads = [head_fields(h)[0].split(" ")[1] for h in be.heads]
    # every request after the first was sent once on a pooled connection (dropped), then once
    # on a fresh one
    for i in range(4):
        assert 1 <= heads.count(f"/replay{i}") <= 2, heads


# --- Upstream response framing -------------------------------------------------------------------

def scripted_backend(answers):
    """A keep-alive raw upstream: for the request whose path is p, sends answers[p] (bytes)."""
    def h(sock, server):
        rest = b""
        while True:
            head_bytes, rest = server.read_head(sock, timeout=30)
            if head_bytes is None:
                return
            path = head_fields(head_bytes)[0].split(" ")[1]
            sock.sendall(answers[path])
    return h


def test_response_without_body_statuses_and_head(live):
    be = RawServer(scripted_backend({
        "/head": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nX-H: 1\r\n\r\n",
        "/204": b"HTTP/1.1 204 No Content\r\nX-H: 2\r\n\r\n",
        "/304": b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n",
        "/next": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext",
    }))
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    with RawConn(srv.port) as c:
        c.send(request_bytes("HEAD", "/head"))
        r = c.response(method="HEAD", timeout=5)
        assert r.status == 200 and r.header("Content-Length") == "1000"
        for path, status in (("/204", 204), ("/304", 304)):
            c.send(request_bytes("GET", path))
            assert c.response(timeout=5).status == status
        c.send(request_bytes("GET", "/next"))
        r = c.response(timeout=5)
        assert (r.status, r.body) == (200, b"next")


def test_close_delimited_upstream_response_forwarded_whole(live):
    def h(sock, server):
        if server.read_head(sock)[0] is not None:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 100_000)
    be = RawServer(h)
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/cd"))
        r = c.response(timeout=10)
        assert r.status == 200
        assert r.body == b"z" * 100_000


def test_chunked_upstream_response_forwarded(live):
    be = RawServer(scripted_backend({
        "/ch": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5;e=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
        "/after": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nafter",
    }))
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/ch"))
        r = c.response(timeout=10)
        assert (r.status, r.body) == (200, b"hello world")
        c.send(request_bytes("GET", "/after"))
        assert c.response(timeout=10).body == b"after"


def test_chunked_upstream_response_to_http10_client_not_chunked(live):
    """An HTTP/1.0 client cannot parse chunked: the body is sent close-delimited or with a
    Content-Length (RFC 9112 §6.1), intact."""
    be = RawServer(scripted_backend({
        "/ch": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    }))
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    with RawConn(srv.port) as c:
        c.send(b"GET /ch HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = c.read_all(timeout=10)
        assert c.eof, "HTTP/1.0 without keep-alive: the connection closes"
    head_part, _, body = data.partition(b"\r\n\r\n")
    assert head_part.startswith(b"HTTP/1.") and b" 200 " in head_part.split(b"\r\n")[0]
    assert b"transfer-encoding" not in head_part.lower(), head_part
    assert body == b"hello world", body


def test_hop_by_hop_response_headers_not_forwarded(live):
    be = RawServer(scripted_backend({
        "/hop": b"HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Up-Hop\r\nX-Up-Hop: 1\r\n"
                b"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nUpgrade: foo\r\n"
                b"X-End-To-End: kept\r\nContent-Length: 2\r\n\r\nok",
    }))
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/hop"))
        r = c.response(timeout=10)
    assert (r.status, r.body) == (200, b"ok")
    names = {k.lower() for k, _ in r.headers}
    for hop in ("x-up-hop", "keep-alive", "proxy-connection", "upgrade"):
        assert hop not in names, f"hop-by-hop {hop} reached the client: {r.raw_head!r}"
    assert "x-up-hop" not in r.conn_tokens()
    assert r.header("X-End-To-End") == "kept"
