"""HTTP/1.1 message framing that could smuggle a request (spec 40-http1.md H1-01..H1-04, H1-09).

Every attack is sent over a raw socket to a catch-all `reverse_proxy` site whose backend records
what reaches it. A rejected request must get its status, `Connection: close`, the baseline
security headers, and a closed connection; the request pipelined or hidden behind it is never
answered, and nothing at all reaches the backend."""
import time

import pytest

from proxytest import (HIDDEN, Closed, RawConn, complete_requests, expect_rejected, head,
                       proxy_config, request_bytes)


@pytest.fixture
def proxy(live):
    be = live.backend(name="be")
    srv = live.start(proxy_config([be.addr]))
    return srv, be


# --- H1-01: Content-Length together with Transfer-Encoding ----------------------------------------

SIZE_LINE = f"{len(HIDDEN):x}\r\n".encode()
CHUNKED_WITH_HIDDEN = SIZE_LINE + HIDDEN + b"\r\n0\r\n\r\n"

H1_01 = {
    # CL.TE: a CL-reader sees "0\r\n\r\n" as the whole body and HIDDEN as the next request
    "cl-then-te": head(["Content-Length: 5", "Transfer-Encoding: chunked"]) + b"0\r\n\r\n" + HIDDEN,
    # TE.CL: a CL-reader reads the chunk-size line only and HIDDEN becomes the next request
    "te-then-cl": head(["Transfer-Encoding: chunked", f"Content-Length: {len(SIZE_LINE)}"])
    + CHUNKED_WITH_HIDDEN,
    "te-cl-zero": head(["Transfer-Encoding: chunked", "Content-Length: 0"]) + CHUNKED_WITH_HIDDEN,
    "http10-cl-then-te": head(["Content-Length: 5", "Transfer-Encoding: chunked"],
                              version="HTTP/1.0") + b"0\r\n\r\n" + HIDDEN,
    "http10-te-then-cl": head(["Transfer-Encoding: chunked", "Content-Length: 4"],
                              version="HTTP/1.0") + CHUNKED_WITH_HIDDEN,
}


@pytest.mark.parametrize("payload", H1_01.values(), ids=H1_01.keys())
def test_H1_01_content_length_with_transfer_encoding_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


# --- H1-02: differing Content-Length values -------------------------------------------------------

H1_02 = {
    "two-fields": head(["Content-Length: 5", "Content-Length: 6"]) + b"hello!" + HIDDEN,
    "two-fields-reversed": head(["Content-Length: 6", "Content-Length: 5"]) + b"hello!" + HIDDEN,
    "list": head(["Content-Length: 5, 6"]) + b"hello!" + HIDDEN,
    "list-and-field": head(["Content-Length: 5, 5", "Content-Length: 6"]) + b"hello!" + HIDDEN,
}


@pytest.mark.parametrize("payload", H1_02.values(), ids=H1_02.keys())
def test_H1_02_differing_content_lengths_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


@pytest.mark.parametrize("fields", [["Content-Length: 5", "Content-Length: 5"],
                                    ["Content-Length: 5, 5"]], ids=["two-fields", "list"])
def test_H1_02_identical_content_lengths_forwarded_as_one(proxy, fields):
    """Identical values are accepted and forwarded as one Content-Length."""
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(head(fields) + b"hello")
        r = c.response()
        assert r.status == 200, r.raw_head
    assert len(be.requests) == 1
    rec = be.requests[0]
    assert rec.body == b"hello"
    assert rec.header_all("Content-Length") == ["5"], rec.headers
    assert rec.header("Transfer-Encoding") is None


# --- H1-03: malformed Content-Length -------------------------------------------------------------

H1_03 = {
    "plus": "+5",
    "minus": "-1",
    "hex": "0x5",
    "beyond-2^63-1": "9223372036854775808",
    "wraps-2^64": "18446744073709551621",  # 2^64 + 5: a wrapping parser would read 5
    "empty": "",
    "inner-space": "5 5",
}


@pytest.mark.parametrize("value", H1_03.values(), ids=H1_03.keys())
def test_H1_03_malformed_content_length_rejected(proxy, value):
    srv, be = proxy
    expect_rejected(srv, be, head([f"Content-Length: {value}"]) + b"hello" + HIDDEN)


# --- H1-04: Transfer-Encoding other than one final chunked ---------------------------------------

H1_04 = {
    "xchunked": ["Transfer-Encoding: xchunked"],
    "chunked-then-gzip": ["Transfer-Encoding: chunked, gzip"],
    "gzip-then-chunked": ["Transfer-Encoding: gzip, chunked"],
    "identity": ["Transfer-Encoding: identity"],
    "chunked-twice-list": ["Transfer-Encoding: chunked, chunked"],
    "chunked-twice-fields": ["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
    "chunked-and-other-field": ["Transfer-Encoding: chunked", "Transfer-Encoding: x"],
}


@pytest.mark.parametrize("fields", H1_04.values(), ids=H1_04.keys())
def test_H1_04_bad_transfer_encoding_rejected(proxy, fields):
    srv, be = proxy
    expect_rejected(srv, be, head(fields) + CHUNKED_WITH_HIDDEN, statuses=(400, 501))


def test_H1_04_unknown_coding_is_501(proxy):
    """The rule names 501 for an unknown coding (the checklist accepts 400 or 501; this pins
    the rule)."""
    srv, be = proxy
    expect_rejected(srv, be, head(["Transfer-Encoding: xchunked"]) + b"0\r\n\r\n",
                    statuses=(501,))


def test_H1_04_http10_with_transfer_encoding_rejected(proxy):
    srv, be = proxy
    expect_rejected(srv, be, head(["Transfer-Encoding: chunked"], version="HTTP/1.0")
                    + CHUNKED_WITH_HIDDEN)


# --- H1-09: bad chunked framing ------------------------------------------------------------------

H1_09 = {
    "invalid-hex": b"g\r\nhello\r\n0\r\n\r\n",
    "negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "plus-sign": b"+5\r\nhello\r\n0\r\n\r\n",
    "0x-prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "17-hex-digits-overflow": b"10000000000000005\r\nhello\r\n0\r\n\r\n",
    "18-hex-digits": b"ffffffffffffffffff\r\nhello\r\n0\r\n\r\n",
    "data-longer-than-size": b"3\r\nhello\r\n0\r\n\r\n",
    "missing-crlf-after-data": b"5\r\nhelloX0\r\n\r\n",
    "valid-then-bad-size": b"5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
    "empty-size-line": b"\r\nhello\r\n0\r\n\r\n",
    "17-digits-leading-zeros": b"00000000000000005\r\nhello\r\n0\r\n\r\n",
    "nul-in-extension": b"5;a\x00b\r\nhello\r\n0\r\n\r\n",
    "bad-trailer-name": b"5\r\nhello\r\n0\r\nBad Trailer: x\r\n\r\n",
    "trailer-obs-fold": b"5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n",
    "trailer-without-colon": b"5\r\nhello\r\n0\r\nnocolon\r\n\r\n",
}


@pytest.mark.parametrize("body", H1_09.values(), ids=H1_09.keys())
def test_H1_09_bad_chunk_rejected_and_never_completed_upstream(proxy, body):
    """400 or a closed connection; the backend may have seen the head (the error can be found
    after forwarding started) but never a complete request, and never the hidden one."""
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.try_send(head(["Transfer-Encoding: chunked"]) + body + HIDDEN)
        try:
            r = c.response(timeout=10)
        except Closed:
            r = None  # reset/closed without a response is allowed
        if r is not None:
            assert r.status == 400, f"status {r.status}: {r.raw_head!r}"
            state = c.wait_closed(5)
            assert state in ("closed", "reset"), f"not closed ({state}): {c.buf[:300]!r}"
    time.sleep(0.5)
    paths = [x.path for x in be.requests]
    assert "/smuggled" not in paths, f"hidden request reached the backend: {paths}"
    done = complete_requests(be)
    # the recording backend drops a chunked request whose body ended early; a request recorded
    # with a complete body means Dwaar terminated a partial body as if it were whole
    assert done == [], f"a complete request reached the backend: " \
        f"{[(x.method, x.path, x.body[:40]) for x in done]}"


# --- classic smuggling through a valid-looking first request --------------------------------------

def test_H1_smuggling_hidden_request_in_body_is_only_body(proxy):
    """A request that looks like a request inside a well-framed body is just body bytes: the
    backend sees one POST whose body holds those bytes, and no second request."""
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(head([f"Content-Length: {len(HIDDEN)}"]) + HIDDEN)
        r = c.response()
        assert r.status == 200
        assert c.wait_closed(0.5) == "open"
    time.sleep(0.3)
    assert [(x.method, x.path) for x in be.requests] == [("POST", "/upload")]
    assert be.requests[0].body == HIDDEN


def test_H1_smuggling_pipelined_request_after_rejection_not_answered(proxy):
    """A valid request pipelined behind a rejected one gets no answer and never reaches the
    backend."""
    srv, be = proxy
    bad = head(["Content-Length: 5", "Content-Length: 6"]) + b"hello!"
    expect_rejected(srv, be, bad + request_bytes("GET", "/after") + HIDDEN)


# --- the upstream side: responses must not desynchronise either ----------------------------------

def scripted(answers):
    from proxytest import head_fields

    def h(sock, server):
        while True:
            head_bytes, _ = server.read_head(sock, timeout=30)
            if head_bytes is None:
                return
            path = head_fields(head_bytes)[0].split(" ")[1]
            sock.sendall(answers.get(path, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal"))
    return h


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 9\r\n\r\nokHTTP/1.1",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2, 9\r\n\r\nokHTTP/1.1",
    b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 2000 OK\r\nContent-Length: 2\r\n\r\nok",
], ids=["differing-cl", "cl-list", "cl-plus", "space-before-colon", "obs-fold", "bad-status"])
def test_bad_upstream_response_head_is_502(live, answer):
    """A response head that breaks the field rules is a bad gateway, and none of its bytes reach
    the client."""
    from proxytest import RawServer
    be = RawServer(scripted({"/bad": answer}))
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]))
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/bad"))
        r = c.response(timeout=10)
        assert r.status == 502, r.raw_head
        assert b"ok" not in r.body


def test_extra_bytes_after_upstream_response_never_answer_another_request(live):
    """An upstream that sends more than its response framing says (a second, unsolicited
    response) must not poison the next request sent on that upstream connection."""
    from proxytest import RawServer
    evil = (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil")
    be = RawServer(scripted({"/first": evil}))
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr]), workers=1)
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", "/first"))
        r = c.response(timeout=10)
        assert (r.status, r.body) == (200, b"ok")
    time.sleep(0.2)
    for i in range(3):
        with RawConn(srv.port) as c:
            c.send(request_bytes("GET", f"/second{i}"))
            r = c.response(timeout=10)
            assert r.body != b"evil", "an unsolicited upstream response answered a later request"
            assert (r.status, r.body) == (200, b"real"), (r.status, r.body)


# --- an early error must not turn the unread body into requests ----------------------------------

@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_H1_413_unread_body_never_parsed_as_request(live, framing):
    """`request_body 1KB` rejects a 2 KiB body with 413. Whether Dwaar reads the body and keeps
    the connection (spec 40: framing still known) or closes it, the body's bytes (a request
    hidden in them) are never answered or forwarded; a request after the body is served only
    if the connection stays open."""
    be = live.backend(name="be")
    srv = live.start(proxy_config([be.addr], site_extra="request_body 1KB"))
    body = HIDDEN * (2048 // len(HIDDEN) + 1)
    if framing == "chunked":
        payload = head(["Transfer-Encoding: chunked"]) + \
            b"".join(f"{len(HIDDEN):x}\r\n".encode() + HIDDEN + b"\r\n"
                     for _ in range(2048 // len(HIDDEN) + 1)) + b"0\r\n\r\n"
    else:
        payload = head([f"Content-Length: {len(body)}"]) + body
    with RawConn(srv.port) as c:
        c.try_send(payload + request_bytes("GET", "/after"))
        r = c.response(timeout=10)
        assert r.status == 413, r.raw_head
        if "close" in r.conn_tokens():
            assert c.wait_closed(5) in ("closed", "reset"), c.buf[:300]
        else:
            r2 = c.response(timeout=10)
            assert (r2.status, r2.body) == (200, b"be /after"), (r2.status, r2.body)
            assert c.wait_closed(0.5) == "open"
    time.sleep(0.3)
    assert "/smuggled" not in [x.path for x in be.requests]
    assert [x.path for x in be.requests] in ([], ["/after"])
