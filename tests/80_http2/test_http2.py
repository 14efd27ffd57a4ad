"""HTTP/2 front end (spec 10 SITE-12 §3.3 and §6.13, spec 20 §3.4, decision 34): cleartext
with prior knowledge on a plain listener ("h2c") and TLS with ALPN h2 ("h2-tls"), against the
real binary, with python3-h2, curl and h2load as clients, an HTTP/1.1 and an HTTP/2 upstream.
The functional tests run over both; the abuse tests (rapid reset, CONTINUATION, header bombs,
SETTINGS/PING floods, zero windows, garbage) run over h2c, each followed by a check that another
client is still served and that dwaar's RSS stayed bounded."""
import hashlib
import json
import os
import re
import signal
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass

import h2.settings
import pytest
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame,
                              PingFrame, RstStreamFrame, SettingsFrame)

from h2live import (CANCEL, ENHANCE_YOUR_CALM, INTERNAL_ERROR, NO_ERROR, PROTOCOL_ERROR, PREFACE,
                    H2Client, H2Response, RawH2, curl_h2, h2_get, make_cert)
from h2peer import H2Reply, H2Server
from livetest import free_port

BIG = 1536 * 1024                      # generated body: > 1 MiB, far over a 65,535 window
BIG_BODY = "0123456789abcdef" * (BIG // 16)
UP_BIG = bytes(range(256)) * (4 * 4096)  # 4 MiB from the HTTP/1.1 upstream
MIB = 1024

# freed memory is not parked in ASan's quarantine: RSS follows what dwaar really holds
ASAN_ENV = {"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS", ""),
                                                    "quarantine_size_mb=16"]))}


def backend_handler(rec, h):
    if rec.path.startswith("/up/big"):
        return (200, [("Content-Type", "application/octet-stream")], UP_BIG)
    if rec.path.startswith("/up/echo"):
        return (200, [("X-Body-Len", str(len(rec.body))), ("X-Cookie", rec.header("Cookie", "")),
                      ("X-Host", rec.header("Host", ""))],
                hashlib.sha256(rec.body).hexdigest().encode())
    return None


def h2_handler(req):
    if req.path.startswith("/h2up/trailers"):
        return H2Reply(200, [("content-type", "text/plain")], b"with trailers",
                       trailers=[("x-checksum", "abc"), ("grpc-status", "0")])
    return None


def site_a(tls, be, h2be):
    return f"""
    {tls}
    abort /abort
    respond /big "{BIG_BODY}"
    respond /empty 204
    header /hdr Connection "close"
    header /hdr Keep-Alive "timeout=5"
    header /hdr Transfer-Encoding "chunked"
    header /hdr Upgrade "h2c"
    header /hdr X-Kept "yes"
    reverse_proxy /up/* {be.addr}
    reverse_proxy /h2up/* h2c://{h2be.addr}
    respond "site a {{http.request.host}} {{http.request.uri}}"
"""


def config(scheme, tmp, be, h2be, https_port=None, timeouts=""):
    g = "{\n    http_port {PORT}\n"
    if https_port:
        g += f"    https_port {https_port}\n"
    if timeouts:
        g += "    servers {\n        timeouts {\n"
        g += "".join(f"            {t}\n" for t in timeouts.split(";"))
        g += "        }\n    }\n"
    g += "}\n"
    if scheme == "https":
        cert, key = make_cert(tmp, ["a.test", "b.test"])
        tls = f"tls {cert} {key}"
        return (g + "a.test {" + site_a(tls, be, h2be) + "}\n"
                + "b.test {\n    " + tls + '\n    respond "site b {http.request.host}"\n}\n')
    return (g + "a.test:{PORT} {" + site_a("", be, h2be) + "}\n"
            + 'b.test:{PORT} {\n    respond "site b {http.request.host}"\n}\n')


@dataclass
class Site:
    srv: object
    scheme: str
    port: int
    be: object
    h2be: object

    def client(self, **kw):
        return H2Client(self.port, self.scheme, **kw)

    def get(self, path="/", authority="a.test", **kw):
        return h2_get(self.port, path, authority, self.scheme, **kw)

    def served(self):
        """Another client gets its answer (HTTP/2, and HTTP/1.1 on the plain port)."""
        r = self.get("/ok", timeout=10)
        assert r.status == 200 and r.body == b"site a a.test /ok"
        if self.scheme == "http":
            assert self.srv.get("/ok", host="a.test").status == 200


def start_site(live, tmp_path, scheme, timeouts=""):
    be = live.backend(handler=backend_handler, name="be")
    h2be = H2Server(handler=h2_handler)
    live.backends.append(h2be)
    https = free_port() if scheme == "https" else None
    srv = live.start(config(scheme, tmp_path, be, h2be, https, timeouts),
                     wait_ports=[https] if https else None, env=ASAN_ENV)
    return Site(srv, scheme, https or srv.port, be, h2be)


@pytest.fixture(params=["http", "https"], ids=["h2c", "h2-tls"])
def site(request, live, tmp_path):
    return start_site(live, tmp_path, request.param)


@pytest.fixture
def h2c(live, tmp_path):
    return start_site(live, tmp_path, "http")


def rss_guard(s):
    """The RSS bound an attack must stay under: what dwaar holds after a warm-up, plus 64 MiB."""
    for _ in range(20):
        s.get("/ok")
    base = s.srv.rss_kib()
    return lambda: s.srv.rss_kib() - base < 64 * MIB


def hpack_int7(n):
    if n < 127:
        return bytes([n])
    out, n = [127], n - 127
    while n >= 128:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(out + [n])


def hpack_literal(name, value):
    """A literal field without indexing, new name, no Huffman (RFC 7541 §6.2.2)."""
    return b"\x00" + hpack_int7(len(name)) + name + hpack_int7(len(value)) + value


def send_in_background(raw, data, seconds=8.0):
    """Sends data from a thread (the server may stop reading: the send then just blocks until
    the socket times out). Returns the thread."""
    raw.sock.settimeout(seconds)
    t = threading.Thread(target=raw.send, args=(data,), daemon=True)
    t.start()
    return t


# --- SITE-12: HTTP/2 requests are matched on :authority -----------------------------------------

def test_SITE_12_authority_selects_site(site):
    with site.client() as c:
        a = c.get("/x?y=1", "a.test")
        b = c.get("/", "b.test")
        a2 = c.get("/again", "A.TEST.")
    assert (a.status, a.body) == (200, b"site a a.test /x?y=1")
    assert (b.status, b.body) == (200, b"site b b.test")
    assert a2.body == b"site a a.test /again"
    for host, want in (("a.test", b"site a a.test /c"), ("b.test", b"site b b.test")):
        status, ver, body = curl_h2(site.port, "/c", host, site.scheme)
        assert (status, ver, body) == (200, "2", want)


def test_SITE_12_authority_wins_over_host(site):
    with site.client(validate=False) as c:
        r = c.get("/w", "a.test", headers=[("host", "b.test")])
        assert r.body == b"site a a.test /w"
        # the upstream sees one Host, the :authority
        r = c.get("/up/echo", "a.test", headers=[("host", "b.test")])
        assert r.status == 200 and r.header("x-host") == "a.test"
        # Host alone (no :authority) is accepted; neither is malformed (nghttp2 resets it)
        assert c.get("/h", None, headers=[("host", "b.test")]).body == b"site b b.test"
        r = c.get("/h", None)
        assert r.status == 400 or r.reset == PROTOCOL_ERROR


# --- generated responses -------------------------------------------------------------------------

def test_respond_headers_without_connection_specific_fields(site):
    r = site.get("/hdr")
    assert r.status == 200 and r.body == b"site a a.test /hdr"
    names = [k for k, _ in r.headers]
    for bad in ("connection", "keep-alive", "transfer-encoding", "upgrade"):
        assert bad not in names, f"{bad} sent over HTTP/2"
    assert all(k == k.lower() for k in names)
    assert r.header("x-kept") == "yes"
    assert r.header("content-length") == str(len(r.body))
    assert r.header("server") == "Dwaar" and r.header("date") and r.header("x-request-id")
    assert r.header("x-content-type-options") == "nosniff"


def test_head_and_204_send_no_data(site):
    with site.client() as c:
        g = c.get("/page")
        h = c.get("/page", method="HEAD")
        e = c.get("/empty")
    assert h.status == 200 and h.body == b"" and h.reset is None
    assert h.header("content-length") == str(len(g.body))
    assert e.status == 204 and e.body == b"" and e.header("content-length") is None


def test_large_generated_body_with_default_windows(site):
    with site.client() as c:
        s1 = c.request("/big")
        s2 = c.request("/big")
        r1, r2 = c.response(s1, 60), c.response(s2, 60)
    for r in (r1, r2):
        assert r.status == 200 and len(r.body) == BIG and r.body == BIG_BODY.encode()
    status, _, body = curl_h2(site.port, "/big", "a.test", site.scheme)
    assert status == 200 and len(body) == BIG


def test_abort_resets_the_stream_only(site):
    """RT-66 over HTTP/2: `abort` is RST_STREAM for that stream; the connection goes on."""
    with site.client() as c:
        r = c.get("/abort")
        assert r.reset == INTERNAL_ERROR and r.status == 0
        assert c.get("/after").body == b"site a a.test /after"


def test_options_asterisk(site):
    with site.client() as c:
        r = c.get("*", method="OPTIONS")
    assert r.status == 200 and "OPTIONS" in r.header("allow")


# --- many streams ---------------------------------------------------------------------------------

def test_many_concurrent_streams(site):
    with site.client() as c:
        ids = [c.request(f"/s{i}") for i in range(100)]  # SETTINGS_MAX_CONCURRENT_STREAMS
        for i, sid in enumerate(ids):
            r = c.response(sid, 30)
            assert r.status == 200 and r.body == f"site a a.test /s{i}".encode()
    if shutil.which("h2load"):
        url = f"{'https' if site.scheme == 'https' else 'http'}://127.0.0.1:{site.port}/load"
        p = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "20", "-H",
                            ":authority: a.test", url], capture_output=True, text=True,
                           timeout=120)
        assert "2000 succeeded" in p.stdout, p.stdout + p.stderr
        assert "2000 2xx" in p.stdout


# --- nghttp, the reference client ----------------------------------------------------------------

@pytest.mark.skipif(shutil.which("nghttp") is None, reason="nghttp (nghttp2-client) not installed")
def test_nghttp_client_continuation_body_and_trailers(site, tmp_path):
    """nghttp with --continuation (the header block split into CONTINUATION frames), a request
    body and request trailers, through dwaar to the HTTP/1.1 and HTTP/2 upstreams."""
    body = tmp_path / "body"
    body.write_bytes(os.urandom(200000))
    url = f"{site.scheme}://127.0.0.1:{site.port}"
    # http:// is prior knowledge for nghttp; --continuation adds a header block larger than
    # the 16 KiB frame size, which goes out as HEADERS + CONTINUATION
    base = ["nghttp", "-n", "--stat", "-H", ":authority: a.test", "--continuation"]
    p = subprocess.run([*base, "-v", f"{url}/plain"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    sent = [int(n) for n in re.findall(r"send HEADERS frame <length=(\d+)", p.stdout)]
    assert sent and max(sent) > 16384, p.stdout[-2000:]
    assert ":status: 200" in p.stdout
    p = subprocess.run([*base, "-d", str(body), f"{url}/up/echo"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    got = [q for q in site.be.requests if q.path == "/up/echo"]
    assert got and got[-1].body == body.read_bytes()
    p = subprocess.run([*base, "-v", "-d", str(body), "--trailer", "x-req-trailer: t2",
                        f"{url}/h2up/trailers"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "x-checksum: abc" in p.stdout  # the upstream's trailer reached nghttp
    got = [q for q in site.h2be.requests if q.path == "/h2up/trailers"]
    assert ("x-req-trailer", "t2") in got[-1].trailers and got[-1].body == body.read_bytes()


# --- proxied exchanges ----------------------------------------------------------------------------

def test_request_bodies_to_upstream(site):
    body = os.urandom(3 * 1024 * 1024)
    digest = hashlib.sha256(body).hexdigest().encode()
    with site.client() as c:
        r = c.get("/up/echo", method="POST", body=body,
                  headers=[("content-length", str(len(body)))], timeout=60)
        assert (r.status, r.header("x-body-len"), r.body) == (200, str(len(body)), digest)
        # no content-length: the upstream gets it chunked
        r = c.get("/up/echo", method="POST", body=body[:200000], timeout=60)
        assert r.header("x-body-len") == "200000"
        assert r.body == hashlib.sha256(body[:200000]).hexdigest().encode()
        # cookie crumbs (RFC 9113 §8.2.3) reach an HTTP/1.1 upstream as one field
        r = c.get("/up/echo", headers=[("cookie", "a=1"), ("cookie", "b=2")])
        assert r.header("x-cookie") == "a=1; b=2"
        # several bodies at once on one connection
        ids = [c.request("/up/echo", method="POST", body=body[:100000 + i]) for i in range(8)]
        for i, sid in enumerate(ids):
            assert c.response(sid, 60).header("x-body-len") == str(100000 + i)
    posts = [q for q in site.be.requests if q.method == "POST"]
    assert posts[0].header("Content-Length") == str(len(body))
    assert "chunked" in (posts[1].header("Transfer-Encoding") or "")


def test_large_proxied_response(site):
    with site.client() as c:
        r = c.get("/up/big", timeout=60)
        assert r.status == 200 and len(r.body) == len(UP_BIG) and r.body == UP_BIG
        h = c.get("/up/big", method="HEAD")
        assert h.status == 200 and h.body == b"" and h.header("content-length") == str(len(UP_BIG))


def test_trailers_both_ways_through_an_h2_upstream(site):
    with site.client() as c:
        r = c.get("/h2up/trailers", method="POST", body=b"payload",
                  trailers=[("x-req-trailer", "t1")])
    assert r.status == 200 and r.body == b"with trailers"
    assert ("x-checksum", "abc") in r.trailers and ("grpc-status", "0") in r.trailers
    got = [q for q in site.h2be.requests if q.path == "/h2up/trailers"]
    assert got and got[-1].body == b"payload"
    assert ("x-req-trailer", "t1") in got[-1].trailers


# --- malformed requests ---------------------------------------------------------------------------

def test_malformed_requests_reset_the_stream(h2c):
    with h2c.client(validate=False) as c:
        assert c.get("/", method="CONNECT").reset == PROTOCOL_ERROR
        assert c.get("/", headers=[("connection", "close")]).reset == PROTOCOL_ERROR
        assert c.get("/", headers=[("te", "gzip")]).reset == PROTOCOL_ERROR
        assert c.get("/ok").status == 200
    raw = RawH2(h2c.port)
    # a pseudo-header after a regular field, an unknown pseudo-header, and a well-formed
    # CONNECT (no tunnels over HTTP/2: refused like a malformed request)
    blocks = [raw.enc.encode([(":method", "GET"), ("x-a", "1"), (":path", "/"),
                              (":scheme", "http"), (":authority", "a.test")]),
              raw.enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                              (":authority", "a.test"), (":foo", "x")]),
              raw.enc.encode([(":method", "CONNECT"), (":authority", "a.test:443")])]
    frames = []
    for i, b in enumerate(blocks):
        f = HeadersFrame(1 + 2 * i, b)
        f.flags.add("END_HEADERS")
        f.flags.add("END_STREAM")
        frames.append(f)
    raw.send(*frames)
    raw.read(2.0)
    resets = [f for f in raw.frames if isinstance(f, RstStreamFrame)]
    assert sorted(f.stream_id for f in resets) == [1, 3, 5]
    assert all(f.error_code == PROTOCOL_ERROR for f in resets)
    raw.close()
    h2c.served()


def test_data_on_stream_0_is_a_connection_error(h2c):
    raw = RawH2(h2c.port)
    raw.send(b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x")  # DATA, stream 0
    assert raw.outcome(5) == ("goaway", PROTOCOL_ERROR)
    h2c.served()


def test_garbage_after_the_preface_closes(h2c):
    raw = RawH2(h2c.port, preface=False)
    raw.send(PREFACE + b"\x00\x00\x04\x01\x00\x00\x00\x00\x00GET / HTTP/1.1\r\n\r\n" * 4)
    kind, code = raw.outcome(5)
    assert kind in ("goaway", "closed") and code in (None, PROTOCOL_ERROR, 6)  # 6 FRAME_SIZE
    # a preface that turns into something else half-way
    raw = RawH2(h2c.port, preface=False)
    raw.send(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    assert raw.outcome(5)[0] in ("goaway", "closed")
    # a first frame that is not SETTINGS
    raw = RawH2(h2c.port, preface=False)
    raw.send(PREFACE + PingFrame(0).serialize())
    assert raw.outcome(5)[0] in ("goaway", "closed")
    h2c.served()


# --- abuse ----------------------------------------------------------------------------------------

def test_rapid_reset_ends_the_connection(h2c):
    ok = rss_guard(h2c)
    raw = RawH2(h2c.port)
    data = bytearray()
    for i in range(10000):
        sid = 1 + 2 * i
        rst = RstStreamFrame(sid)
        rst.error_code = CANCEL
        data += raw.headers(sid, f"/r{i}", end_stream=False).serialize() + rst.serialize()
    t = send_in_background(raw, bytes(data))
    assert raw.outcome(10) == ("goaway", ENHANCE_YOUR_CALM)
    t.join(10)
    h2c.served()
    assert ok(), "RSS grew under a rapid reset"


def test_continuation_flood_closes(h2c):
    ok = rss_guard(h2c)
    for size in (16384, 0):
        raw = RawH2(h2c.port)
        frames = [raw.headers(1, "/", end_headers=False)]
        # whole literal fields in each frame (or empty frames): valid HPACK all the way
        field = hpack_literal(b"x-a", b"a" * (size - 8)) if size else b""
        assert len(field) <= 16384
        for _ in range(2000):
            frames.append(ContinuationFrame(1, field))
        t = send_in_background(raw, b"".join(f.serialize() for f in frames))
        kind, _ = raw.outcome(10)
        assert kind in ("goaway", "closed"), "the connection survived a CONTINUATION flood"
        t.join(10)
        raw.close()
    h2c.served()
    assert ok(), "RSS grew under a CONTINUATION flood"


def test_huge_header_lists_are_refused(h2c):
    ok = rss_guard(h2c)
    with h2c.client(validate=False) as c:
        # 100 fields of 1 KiB: over the 64 KiB head limit (431, not stored)
        big = [(f"x-f{i}", "v" * 1000) for i in range(90)]
        r = c.get("/ok", headers=big)
        assert r.status == 431 or r.reset is not None
        assert c.get("/ok").status == 200  # the connection goes on
    # an HPACK bomb: one 4 KiB dynamic-table entry referenced 100,000 times (400 MB decoded)
    raw = RawH2(h2c.port)
    first = raw.block("/bomb", extra=[("x-bomb", "b" * 4000)])
    refs = b"\xbe" * 100000  # index 62: the newest dynamic entry
    block = first + refs
    frames = [HeadersFrame(1, block[:16000])]
    frames[0].flags.add("END_STREAM")
    chunks = [block[i:i + 16000] for i in range(16000, len(block), 16000)]
    for k, chunk in enumerate(chunks):
        f = ContinuationFrame(1, chunk)
        if k == len(chunks) - 1:
            f.flags.add("END_HEADERS")
        frames.append(f)
    raw.send(*frames)
    raw.read(3.0)
    statuses = [f for f in raw.frames if isinstance(f, (HeadersFrame, RstStreamFrame))]
    assert statuses or raw.closed, "no answer to an HPACK bomb"
    raw.close()
    h2c.served()
    assert ok(), "RSS grew under a header bomb"


@pytest.mark.parametrize("kind", ["ping", "settings"])
def test_control_frame_flood_without_reading_closes(h2c, kind):
    ok = rss_guard(h2c)
    raw = RawH2(h2c.port)
    if kind == "ping":
        p = PingFrame(0)
        p.opaque_data = b"floodfld"
        one = p.serialize()
    else:
        s = SettingsFrame(0)
        s.settings[SettingsFrame.INITIAL_WINDOW_SIZE] = 65535
        one = s.serialize()
    t = send_in_background(raw, one * 100000, seconds=5)
    t.join(15)
    kind_, code = raw.outcome(10)
    assert kind_ in ("goaway", "closed"), f"the connection survived a {kind} flood"
    assert code in (None, ENHANCE_YOUR_CALM)
    h2c.served()
    assert ok(), f"RSS grew under a {kind} flood"


def test_zero_window_stall_stays_bounded(h2c):
    """A client that sets its windows to 0 and never opens them while asking for big responses:
    dwaar holds at most what the proxy queues per stream (64 KiB) and serves others."""
    ok = rss_guard(h2c)
    zero = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    clients = []
    for _ in range(3):
        c = h2c.client(settings=zero, auto_window=False)
        for i in range(30):
            c.request("/up/big" if i % 2 else "/big")
        c.pump(0.5)
        clients.append(c)
    time.sleep(2)
    for c in clients:
        c.pump(0.2)
        assert not c.closed
    h2c.served()
    assert ok(), "RSS grew while windows stayed closed"
    for c in clients:
        c.close()


# --- timeouts (spec 20 §3.4) ------------------------------------------------------------------------

@pytest.fixture
def quick(live, tmp_path):
    return start_site(live, tmp_path, "http",
                      timeouts="read_header 1s;idle 1s;max_requests 3;write 1s;read_body 1s")


def test_idle_connection_gets_goaway(quick):
    raw = RawH2(quick.port)
    raw.send(raw.headers(1, "/x"))
    t0 = time.monotonic()
    assert raw.outcome(6) == ("goaway", NO_ERROR)
    assert 0.5 < time.monotonic() - t0 < 5


def test_unfinished_header_block_and_missing_settings_time_out(quick):
    raw = RawH2(quick.port)
    raw.send(raw.headers(1, "/x", end_headers=False))
    assert raw.outcome(6)[0] in ("goaway", "closed")
    raw = RawH2(quick.port, preface=False)
    raw.send(PREFACE)
    assert raw.outcome(6)[0] in ("goaway", "closed")
    quick.served()


def test_max_requests_sends_goaway(quick):
    raw = RawH2(quick.port)
    raw.send(*[raw.headers(1 + 2 * i, f"/m{i}") for i in range(3)])
    raw.read(2.0)
    goaways = [f for f in raw.frames if isinstance(f, GoAwayFrame)]
    assert goaways and goaways[0].last_stream_id == 5 and goaways[0].error_code == NO_ERROR
    ends = {f.stream_id for f in raw.frames
            if isinstance(f, DataFrame) and "END_STREAM" in f.flags}
    assert ends == {1, 3, 5}
    assert raw.outcome(5)[0] == "goaway"


def test_write_timeout_resets_a_stalled_stream(quick):
    """timeouts.write (spec 20 §3.4) bounds one response: HTTP/2 resets that stream."""
    zero = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    with quick.client(settings=zero, auto_window=False) as c:
        r = c.get("/big", timeout=6)
    assert r.status == 200 and r.reset == CANCEL and r.body == b""


def test_read_body_timeout_answers_408_on_that_stream(quick):
    """timeouts.read_body: a proxied request whose body never ends gets 408 on its stream; the
    upstream never sees it, and the connection keeps serving."""
    with quick.client() as c:
        sid = c.conn.get_next_available_stream_id()
        c.conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                                  (":authority", "a.test"), (":path", "/up/echo")])
        c.conn.send_data(sid, b"partial")
        c.resp[sid] = H2Response()
        c._flush()
        t0 = time.monotonic()
        r = c.response(sid, 8)
        assert r.status == 408 and 0.5 < time.monotonic() - t0 < 6
        assert c.get("/ok").status == 200
    assert not [q for q in quick.be.requests if q.path == "/up/echo"]


# --- request log and stop -------------------------------------------------------------------------

def test_request_log_records_http2(live):
    """LOG-09: http_version HTTP/2; bytes_received counts the request body."""
    be = live.backend(handler=backend_handler, name="be")
    srv = live.start("{\n    http_port {PORT}\n}\n"
                     "http://a.test:{PORT} {\n    log\n"
                     f"    reverse_proxy /up/* {be.addr}\n"
                     '    respond "gen"\n}\n')
    with H2Client(srv.port) as c:
        assert c.get("/g?q=1", headers=[("user-agent", "h2test/1")]).status == 200
        assert c.get("/up/echo", method="POST", body=b"x" * 1000).status == 200
    assert srv.terminate() == 0
    recs = [json.loads(l) for l in srv.stdout_path.read_text().splitlines() if l.startswith("{")]
    gen = next(r for r in recs if r["path"] == "/g")
    up = next(r for r in recs if r["path"] == "/up/echo")
    assert (gen["http_version"], gen["status"], gen["query"], gen["user_agent"]) == \
        ("HTTP/2", 200, "q=1", "h2test/1")
    assert gen["bytes_sent"] == 3
    assert (up["http_version"], up["method"], up["bytes_received"]) == ("HTTP/2", "POST", 1000)
    assert up["upstream_addr"] == be.addr


def test_stop_lets_open_streams_finish(live):
    """SIGTERM: GOAWAY to HTTP/2 clients, the stream in flight completes, then dwaar exits."""
    h2be = H2Server(handler=lambda req: H2Reply(200, [], b"slow", delay=1.5))
    live.backends.append(h2be)
    srv = live.start("{\n    http_port {PORT}\n}\n"
                     f"a.test:{{PORT}} {{\n    reverse_proxy h2c://{h2be.addr}\n}}\n")
    # raw frames: python-h2 stops reading at the first GOAWAY, even a graceful one
    raw = RawH2(srv.port)
    raw.send(raw.headers(1, "/slow"))
    time.sleep(0.3)
    srv.proc.send_signal(signal.SIGTERM)
    assert raw.outcome(10)[0] == "goaway"
    goaways = [f for f in raw.frames if isinstance(f, GoAwayFrame)]
    assert goaways[0].last_stream_id == 2**31 - 1  # the shutdown notice
    assert goaways[-1].last_stream_id == 1 and goaways[-1].error_code == NO_ERROR
    data = b"".join(f.data for f in raw.frames if isinstance(f, DataFrame) and f.stream_id == 1)
    assert data == b"slow"
    assert any(isinstance(f, DataFrame) and "END_STREAM" in f.flags for f in raw.frames)
    assert srv.proc.wait(timeout=15) == 0
