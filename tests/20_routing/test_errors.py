"""Generated responses and errors on real requests: respond, error, abort, handle_errors and
the always-on security headers (spec 10 §6.11-§6.14, spec 20 §2.1/§2.12, decision 31;
checklist RT-62..RT-66, RT-68..RT-70; RT-67 needs file_server and is left to its tests)."""
import textwrap

from livetest import free_port
from rtlive import G, conf, security_headers, start_fails

TEXT = "text/plain; charset=utf-8"


def site(body, addr="http://a.test"):
    return G + addr + " {\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n}\n"


def get(srv, path, **kw):
    return srv.get(path, host=kw.pop("host", "a.test"), **kw)


# --- respond (§6.11) ----------------------------------------------------------------------------


def test_RT_62_respond_forms(live):
    srv = live.start(site("""
        @empty path /empty
        @nc path /204
        @pong path /pong
        @x path /x
        @b path /b
        @q path /quoted
        respond @empty
        respond @nc 204
        respond @pong "pong"
        respond @x "x" 503
        respond @b 200 "b"
        respond @q "404"
        respond "fallback"
    """))
    r = get(srv, "/empty")
    assert (r.status, r.body) == (200, b"")
    r = get(srv, "/204")
    assert (r.status, r.body) == (204, b"")
    r = get(srv, "/pong")
    assert (r.status, r.body) == (200, b"pong")
    assert r.header("Content-Type") == TEXT and r.header("Content-Length") == "4"
    r = get(srv, "/x")
    assert (r.status, r.text, r.header("Content-Type")) == (503, "x", TEXT)
    r = get(srv, "/b")
    assert (r.status, r.text) == (200, "b")
    r = get(srv, "/quoted")                     # a quoted 3-digit number is a status
    assert (r.status, r.body) == (404, b"")
    r = srv.request("HEAD", "/pong", host="a.test")
    assert (r.status, r.body) == (200, b"")


def test_RT_62_respond_keeps_connection(live):
    srv = live.start(site('respond "pong"'))
    conn = srv.connection()
    for _ in range(3):
        r = srv.get("/", host="a.test", conn=conn)
        assert (r.status, r.text) == (200, "pong")
    conn.close()


def test_RT_62_respond_content_type_set_by_header(live):
    srv = live.start(site("""
        header Content-Type application/json
        respond `{"a":1}`
    """))
    r = get(srv, "/")
    assert (r.text, r.header_all("Content-Type")) == ('{"a":1}', ["application/json"])


def test_RT_62_respond_escapes(live):
    # CFG-03 on the wire: "\"" and "\n" escapes, other backslashes kept
    srv = live.start(site('respond "say \\"hi\\"\\n\\q" 200'))
    assert get(srv, "/").body == b'say "hi"\n\\q'


def test_RT_63_respond_status_out_of_range_refused(live):
    start_fails(live, site('respond "x" 700'), "must be 100-599")


def test_RT_64_respond_placeholder_status_in_handle_errors(live):
    dead = free_port()
    srv = live.start(site(conf("""
        handle_errors {
            respond "{http.error.status_code}" {http.error.status_code}
        }
        error /e 418
        error /f "gone" 410
        reverse_proxy 127.0.0.1:${dead}
    """, dead=dead)))
    for path, code in (("/e", 418), ("/f", 410), ("/up", 502)):
        r = get(srv, path)
        assert (r.status, r.text) == (code, str(code)), path


def test_RT_64_error_placeholders(live):
    srv = live.start(site("""
        handle_errors {
            respond "{http.error.status_code} {http.error.status_text}: {http.error.message}" 599
        }
        error /f "no entry" 403
    """))
    r = get(srv, "/f")
    assert (r.status, r.text) == (599, "403 Forbidden: no entry")


# --- error (§6.12) -------------------------------------------------------------------------------


def test_RT_65_error_forms(live):
    srv = live.start(site("""
        error /f "Forbidden" 403
        error /g 410
        error /b "boom"
        error /n 404 "Not here"
        error /bare
        respond "ok"
    """))
    r = get(srv, "/f")
    assert (r.status, r.text, r.header("Content-Type")) == (403, "Forbidden", TEXT)
    r = get(srv, "/g")
    assert (r.status, r.body) == (410, b"")
    r = get(srv, "/b")
    assert (r.status, r.text) == (500, "boom")
    r = get(srv, "/n")
    assert (r.status, r.text) == (404, "Not here")
    assert get(srv, "/bare").status == 500
    assert get(srv, "/other").text == "ok"


def test_RT_65_error_keeps_connection(live):
    srv = live.start(site('error "Forbidden" 403'))
    conn = srv.connection()
    for _ in range(2):
        r = srv.get("/", host="a.test", conn=conn)
        assert (r.status, r.text) == (403, "Forbidden")
    conn.close()


def test_RT_65_error_redirect_status_refused(live):
    start_fails(live, site("error 302"), "error status must be 400-599")


# --- abort (§6.13) -------------------------------------------------------------------------------


def test_RT_66_abort_closes_without_bytes(live):
    be = live.backend()
    srv = live.start(site(conf("""
        abort /x/*
        reverse_proxy ${be}
    """, be=be)))
    s = srv.connect(timeout=5)
    try:
        s.sendall(b"GET /x/1 HTTP/1.1\r\nHost: a.test\r\n\r\n")
        try:
            got = s.recv(4096)          # EOF (or a reset), not a timeout: the server closed
        except ConnectionResetError:
            got = b""
    finally:
        s.close()
    assert got == b"", got
    assert be.requests == []
    assert get(srv, "/y").status == 200


def test_RT_66_abort_on_keepalive_connection(live):
    srv = live.start(site("""
        abort /x
        respond "ok"
    """))
    s = srv.connect(timeout=5)
    try:
        s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        first = b""
        while not first.endswith(b"ok"):
            chunk = s.recv(4096)
            assert chunk, first
            first += chunk
        assert first.startswith(b"HTTP/1.1 200")
        s.sendall(b"GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
        try:
            rest = s.recv(4096)
        except ConnectionResetError:
            rest = b""
        assert rest == b"", rest
    finally:
        s.close()


def test_RT_66_abort_argument_refused(live):
    start_fails(live, site("abort x"), "invalid value for 'abort'")


# --- handle_errors (§6.14) -----------------------------------------------------------------------


def test_RT_68_handle_errors_class(live):
    dead = free_port()
    srv = live.start(site(conf("""
        handle_errors 5xx {
            respond "down"
        }
        error /nf "nf" 404
        reverse_proxy 127.0.0.1:${dead}
    """, dead=dead)))
    r = get(srv, "/x")
    assert (r.status, r.text) == (200, "down")
    r = get(srv, "/nf")
    assert (r.status, r.text) == (404, "nf")


def test_RT_68_handle_errors_first_listed_block_wins(live):
    srv = live.start(site("""
        handle_errors 404 410 {
            respond "gone-ish" 404
        }
        handle_errors 4xx {
            respond "client" 400
        }
        handle_errors {
            respond "any" 500
        }
        error /a 410
        error /b 403
        error /c 503
        request_body 10
        respond "ok"
    """))
    assert (get(srv, "/a").status, get(srv, "/a").text) == (404, "gone-ish")
    assert (get(srv, "/b").status, get(srv, "/b").text) == (400, "client")
    assert (get(srv, "/c").status, get(srv, "/c").text) == (500, "any")
    r = srv.request("POST", "/big", host="a.test", body=b"x" * 100)   # 413 is an error too
    assert (r.status, r.text) == (400, "client")


def test_RT_69_upstream_500_and_respond_500_not_handled(live):
    def h(rec, _):
        return (500, [("Content-Type", "text/plain")], b"upstream broke")
    be = live.backend(h)
    srv = live.start(site(conf("""
        handle_errors {
            respond "handled" 599
        }
        respond /r "x" 500
        reverse_proxy ${be}
    """, be=be)))
    r = get(srv, "/up")
    assert (r.status, r.text) == (500, "upstream broke")
    r = get(srv, "/r")
    assert (r.status, r.text) == (500, "x")


def test_RT_70_handle_errors_forms_refused(live):
    start_fails(live, site("handle_errors"), "expected '{'")
    start_fails(live, site("handle_errors {\n    respond 1\n}\nhandle_errors {\n    respond 2\n}"),
                "handle_errors")


# --- security headers (spec 20 §2.12, decision 31) ------------------------------------------------


def test_security_headers_on_generated_responses(live):
    dead = free_port()
    srv = live.start(G + conf("""
        http://a.test {
            request_body 10
            header X-All 1
            respond /r "r"
            error /e "e" 403
            redir /old /new
            respond /teapot 418
            handle /empty {
                header X-E 1
            }
            reverse_proxy /up 127.0.0.1:${dead}
        }
    """, dead=dead))
    cases = [("GET", "/r", 200), ("GET", "/e", 403), ("GET", "/old", 308), ("GET", "/teapot", 418),
             ("GET", "/empty", 200), ("GET", "/up", 502), ("POST", "/r", 413)]
    for method, path, code in cases:
        body = b"x" * 100 if method == "POST" else None
        r = srv.request(method, path, host="a.test", body=body)
        assert r.status == code, (path, r.status)
        security_headers(r)
        assert r.header("X-All") == "1", (path, r.headers)   # `header` applies to every response


def test_security_headers_strip_leaky_false_keeps_them_but_replaces_server(live):
    def h(rec, _):
        return (200, [("Server", "Apache"), ("X-Powered-By", "PHP"), ("X-Runtime", "1")], b"ok")
    be = live.backend(h)
    srv = live.start(site(conf("""
        security_headers {
            strip_leaky_headers false
        }
        reverse_proxy ${be}
    """, be=be)))
    r = get(srv, "/")
    assert (r.header("X-Powered-By"), r.header("X-Runtime")) == ("PHP", "1")
    assert r.header_all("Server") == ["Dwaar"]
    assert r.header("X-Content-Type-Options") == "nosniff"


def test_security_headers_removed_by_header_directive(live):
    srv = live.start(site("""
        header -Server
        header -X-Frame-Options
        header Content-Security-Policy "default-src 'self'"
        respond "r"
    """))
    r = get(srv, "/")
    assert r.header("Server") is None and r.header("X-Frame-Options") is None, r.headers
    assert r.header("Content-Security-Policy") == "default-src 'self'"
    assert r.header("X-Content-Type-Options") == "nosniff"


def test_security_headers_no_csp_by_default(live):
    srv = live.start(site('respond "r"'))
    r = get(srv, "/")
    security_headers(r)
    assert r.header("Content-Security-Policy") is None
    assert r.header("Content-Security-Policy-Report-Only") is None
