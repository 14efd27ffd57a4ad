"""HTTP/1.1 field syntax, request line, Host and size limits (spec 40-http1.md H1-05..H1-08,
H1-10..H1-12), over raw sockets against a catch-all `reverse_proxy` site with a recording
backend. Every rejection: its status, `Connection: close`, closed connection, nothing upstream."""
import time

import pytest

from proxytest import (HIDDEN, RawConn, expect_rejected, head, proxy_config, request_bytes)


@pytest.fixture
def proxy(live):
    be = live.backend(name="be")
    srv = live.start(proxy_config([be.addr]))
    return srv, be


def raw_req(text):
    """A request from a str with literal \\r\\n (latin-1), plus the hidden request behind it."""
    return text.encode("latin-1") + HIDDEN


def get(lines, **kw):
    return head(lines, method="GET", target="/x", **kw)


# --- H1-05: whitespace between field name and colon ----------------------------------------------

H1_05 = {
    "space-content-length": head(["Content-Length : 5"]) + b"hello" + HIDDEN,
    "space-transfer-encoding": head(["Transfer-Encoding : chunked"]) + b"0\r\n\r\n" + HIDDEN,
    "tab-before-colon": get(["X-Test\t: 1"]) + HIDDEN,
    "space-in-host": raw_req("GET / HTTP/1.1\r\nHost : localhost\r\n\r\n"),
    "space-plain-field": get(["X-Test : 1"]) + HIDDEN,
}


@pytest.mark.parametrize("payload", H1_05.values(), ids=H1_05.keys())
def test_H1_05_whitespace_before_colon_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


# --- H1-06: obs-fold -----------------------------------------------------------------------------

H1_06 = {
    "plain-field-space": get(["X-Fold: a", " b"]) + HIDDEN,
    "plain-field-tab": get(["X-Fold: a", "\tb"]) + HIDDEN,
    "transfer-encoding": head(["Transfer-Encoding: gzip", " chunked"]) + b"0\r\n\r\n" + HIDDEN,
    "content-length": head(["Content-Length: 5", " 0"]) + b"hello" + HIDDEN,
    "host": raw_req("GET / HTTP/1.1\r\nHost: local\r\n host\r\n\r\n"),
    "first-line-after-request-line":
        raw_req("GET / HTTP/1.1\r\n X-A: 1\r\nHost: localhost\r\n\r\n"),
}


@pytest.mark.parametrize("payload", H1_06.values(), ids=H1_06.keys())
def test_H1_06_obs_fold_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


# --- H1-07: bare CR -------------------------------------------------------------------------------

H1_07 = {
    "in-value": get(["X-A: a\rb"]) + HIDDEN,
    "as-field-line-end": raw_req("GET / HTTP/1.1\r\nHost: localhost\rX-A: 1\r\n\r\n"),
    "as-request-line-end": raw_req("GET / HTTP/1.1\rHost: localhost\r\n\r\n"),
    "at-value-end": raw_req("GET / HTTP/1.1\r\nX-A: 1\r\r\nHost: localhost\r\n\r\n"),
    "in-name": get(["X\rA: 1"]) + HIDDEN,
}


@pytest.mark.parametrize("payload", H1_07.values(), ids=H1_07.keys())
def test_H1_07_bare_cr_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


# --- H1-08: NUL/control bytes, bad names, lines without colon -------------------------------------

H1_08 = {
    "nul-in-value": get(["X-A: a\x00b"]) + HIDDEN,
    "ctl-01-in-value": get(["X-A: a\x01b"]) + HIDDEN,
    "esc-in-value": get(["X-A: a\x1bb"]) + HIDDEN,
    "del-in-value": get(["X-A: a\x7fb"]) + HIDDEN,
    "lf-in-value": get(["X-A: a\nb"]) + HIDDEN,
    "nul-in-name": get(["X\x00A: 1"]) + HIDDEN,
    "space-in-name": get(["X A: 1"]) + HIDDEN,
    "non-token-in-name": get(["X(A): 1"]) + HIDDEN,
    "empty-name": get([": 1"]) + HIDDEN,
    "line-without-colon": get(["XA"]) + HIDDEN,
    "nul-in-host": raw_req("GET / HTTP/1.1\r\nHost: local\x00host\r\n\r\n"),
}


@pytest.mark.parametrize("payload", H1_08.values(), ids=H1_08.keys())
def test_H1_08_control_bytes_and_bad_names_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


def test_H1_08_htab_in_value_is_allowed(proxy):
    """HTAB is the one control byte a value may hold."""
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(get(["X-Tab: a\tb"]))
        assert c.response().status == 200
    assert be.requests[0].header("X-Tab") == "a\tb"


# --- H1-10: Host ---------------------------------------------------------------------------------

H1_10 = {
    "http11-no-host": get([], host=None) + HIDDEN,
    "http11-two-hosts-same": get(["Host: localhost"]) + HIDDEN,
    "http11-two-hosts-differ": get(["Host: other.test"]) + HIDDEN,
}


@pytest.mark.parametrize("payload", H1_10.values(), ids=H1_10.keys())
def test_H1_10_http11_missing_or_duplicate_host_rejected(proxy, payload):
    srv, be = proxy
    expect_rejected(srv, be, payload)


def test_H1_10_http10_without_host_reaches_catch_all(proxy):
    srv, be = proxy
    with RawConn(srv.port) as c:
        c.send(b"GET /old HTTP/1.0\r\nUser-Agent: x\r\n\r\n")
        r = c.response()
        assert r.status == 200, r.raw_head
        assert r.body == b"be /old"
        assert c.wait_closed(5) == "closed"  # HTTP/1.0 without keep-alive
    assert [(x.method, x.path) for x in be.requests] == [("GET", "/old")]


# --- H1-11: request line -------------------------------------------------------------------------

H1_11 = {
    "invalid-method-char": "G(T / HTTP/1.1",
    "method-with-slash": "GE/T / HTTP/1.1",
    "two-spaces": "GET  / HTTP/1.1",
    "tab-separator": "GET\t/ HTTP/1.1",
    "trailing-space": "GET / HTTP/1.1 ",
    "version-1.2": "GET / HTTP/1.2",
    "version-lower-case": "GET / http/1.1",
    "version-2.0": "GET / HTTP/2.0",
    "nul-in-target": "GET /a\x00b HTTP/1.1",
    "space-in-target": "GET /a b HTTP/1.1",
    "del-in-target": "GET /a\x7fb HTTP/1.1",
    "empty-target": "GET  HTTP/1.1",
}


@pytest.mark.parametrize("line", H1_11.values(), ids=H1_11.keys())
def test_H1_11_bad_request_line_rejected(proxy, line):
    srv, be = proxy
    expect_rejected(srv, be, raw_req(line + "\r\nHost: localhost\r\n\r\n"))


def test_H1_11_http09_rejected(proxy):
    srv, be = proxy
    expect_rejected(srv, be, b"GET /\r\n\r\n")


# --- H1-12: size limits (defaults: line 8 KiB -> 414, field 16 KiB / head 64 KiB / 100 fields
# -> 431) ------------------------------------------------------------------------------------------

def test_H1_12_9k_request_line_is_414(proxy):
    srv, be = proxy
    expect_rejected(srv, be, request_bytes("GET", "/" + "a" * (9 * 1024)) + HIDDEN,
                    statuses=(414,))


def test_H1_12_17k_field_is_431(proxy):
    srv, be = proxy
    expect_rejected(srv, be, request_bytes("GET", "/", headers=[("X-Big", "b" * (17 * 1024))])
                    + HIDDEN, statuses=(431,))


def test_H1_12_65k_header_section_is_431(proxy):
    """Five 13 KiB fields: each under the field limit, together over 64 KiB."""
    srv, be = proxy
    fields = [(f"X-Part-{i}", "c" * (13 * 1024)) for i in range(5)]
    expect_rejected(srv, be, request_bytes("GET", "/", headers=fields) + HIDDEN,
                    statuses=(431,))


def test_H1_12_over_100_fields_is_431(proxy):
    srv, be = proxy
    fields = [(f"X-F{i}", "v") for i in range(101)]
    expect_rejected(srv, be, request_bytes("GET", "/", headers=fields) + HIDDEN,
                    statuses=(431,))


def test_H1_12_just_under_limits_is_served(proxy):
    """A 7.5 KiB request line and a 15 KiB field pass."""
    srv, be = proxy
    target = "/" + "a" * (7 * 1024 + 512)
    with RawConn(srv.port) as c:
        c.send(request_bytes("GET", target, headers=[("X-Big", "b" * (15 * 1024))]))
        r = c.response()
        assert r.status == 200, r.raw_head
    time.sleep(0.1)
    assert len(be.requests) == 1
    assert be.requests[0].path == target
    assert len(be.requests[0].header("X-Big")) == 15 * 1024


def test_H1_10_http10_without_host_unmatched_is_502(live):
    """Without a catch-all site, an HTTP/1.0 request without Host is an unmatched host: 502."""
    be = live.backend(name="be")
    srv = live.start("{\n\thttp_port {PORT}\n}\nhttp://a.test:{PORT} {\n\treverse_proxy "
                     + be.addr + "\n}\n")
    with RawConn(srv.port) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        r = c.response()
        assert r.status == 502, r.raw_head
    assert be.requests == []
