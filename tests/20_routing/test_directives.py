"""Request-changing directives on real requests (spec 10 §6.7-§6.9, §6.15-§6.20; decisions 13,
18, 31; checklist RT-52..RT-61, RT-71..RT-79, RT-84). Rewrites and request headers are checked
on what the backend received. Model-level twins: tests/10_config/test_routing.py and
test_ext_directives.py."""
import socket
import textwrap

from livetest import free_port
from rtlive import G, conf, head_lines, start_fails, unix_exchange, wait_until


def site(body, addr="http://a.test"):
    return G + addr + " {\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n}\n"


def get(srv, path, **kw):
    return srv.get(path, host=kw.pop("host", "a.test"), **kw)


# --- redir (§6.7) -------------------------------------------------------------------------------


def test_RT_52_redir_from_to_default_308(live):
    srv = live.start(site("""
        redir /old /new
        redir /about-us /about 301
        respond "page"
    """))
    r = get(srv, "/old")
    assert (r.status, r.header("Location"), r.body) == (308, "/new", b"")
    assert r.header("Content-Length") == "0"
    r = get(srv, "/about-us?x=1")
    assert (r.status, r.header("Location")) == (301, "/about")
    r = get(srv, "/old/x")
    assert (r.status, r.text, r.header("Location")) == (200, "page", None)


def test_RT_53_redir_to_www_keeps_path_and_query(live):
    srv = live.start(site("redir https://www.example.com{uri} permanent"))
    r = get(srv, "/p/q?x=1&y=2")
    assert (r.status, r.header("Location")) == (301, "https://www.example.com/p/q?x=1&y=2")
    r = get(srv, "/")
    assert r.header("Location") == "https://www.example.com/"


def test_RT_54_redir_all_paths(live):
    srv = live.start(site("redir * https://s.example.com 302"))
    for path in ("/", "/a/b", "/x?y=1"):
        r = get(srv, path)
        assert (r.status, r.header("Location")) == (302, "https://s.example.com"), path


def test_RT_54_redir_codes(live):
    srv = live.start(site("""
        redir /t /x temporary
        redir /s /x 303
        redir /7 /x 307
        redir @m /x
        @m path /named
    """))
    assert [get(srv, p).status for p in ("/t", "/s", "/7", "/named")] == [302, 303, 307, 308]


def test_RT_54_bad_redirect_code_refused(live):
    start_fails(live, site("redir * https://s.example.com 399"), "invalid redirect code 399")
    start_fails(live, site("redir /a /b 301 extra"), "redir")   # decision 18


def test_RT_55_redir_remainder(live):
    srv = live.start(site("redir /blog/* /articles/{http.request.uri.path.remainder} 301"))
    r = get(srv, "/blog/a/b")
    assert (r.status, r.header("Location")) == (301, "/articles/a/b")
    r = get(srv, "/blog/")
    assert r.header("Location") == "/articles/"


def test_RT_56_no_crlf_from_placeholders(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        redir /r /x?v={query.v}
        header X-Q "q={query.v}"
        request_header X-RQ {query.v}
        reverse_proxy ${be}
    """, be=be)))
    evil = "a%0D%0AX-Injected:%201%0D%0A%0D%0Abody"
    raw = srv.raw(f"GET /r?v={evil} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 3"), raw[:200]
    lines = head_lines(raw)
    assert not any(l.lower().startswith(b"x-injected") for l in lines), lines
    loc = [l for l in lines if l.lower().startswith(b"location:")]
    assert len(loc) == 1 and b"\r" not in loc[0] and b"\n" not in loc[0]
    raw = srv.raw(f"GET /p?v={evil} HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n".encode())
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    lines = head_lines(raw)
    assert not any(l.lower().startswith(b"x-injected") for l in lines), lines
    xq = [l for l in lines if l.lower().startswith(b"x-q:")]
    assert len(xq) == 1 and xq[0].lower().startswith(b"x-q: q=a"), xq
    q = be.requests[0]
    assert q.header("X-Injected") is None, q.headers
    assert "\r" not in (q.header("X-RQ") or "") and "\n" not in (q.header("X-RQ") or "")


# --- rewrite, uri (§6.8, §6.9) -----------------------------------------------------------------


def test_RT_57_rewrite_one_argument_keeps_query(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        rewrite /index.php
        reverse_proxy ${be}
    """, be=be)))
    r = get(srv, "/some/page?a=1&b=2")
    assert (r.status, r.text) == (200, "be /index.php?a=1&b=2")
    get(srv, "/plain")
    assert [q.path for q in be.requests] == ["/index.php?a=1&b=2", "/index.php"]


def test_RT_57_rewrite_keeps_orig_uri(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        rewrite /index.php
        request_header X-Orig {http.request.orig_uri}
        request_header X-Now {uri}
        reverse_proxy ${be}
    """, be=be)))
    get(srv, "/a/b?c=1")
    q = be.requests[0]
    assert (q.header("X-Orig"), q.header("X-Now")) == ("/a/b?c=1", "/index.php?c=1")


def test_RT_58_rewrite_with_remainder_in_handle(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        handle /v2/* {
            rewrite /v1{http.request.uri.path.remainder}
            reverse_proxy ${be}
        }
        respond "other"
    """, be=be)))
    assert get(srv, "/v2/users").text == "be /v1/users"
    assert get(srv, "/v2/users/7?full=1").text == "be /v1/users/7?full=1"
    assert get(srv, "/v1/users").text == "other"
    assert [q.path for q in be.requests] == ["/v1/users", "/v1/users/7?full=1"]


def test_RT_59_rewrite_replaces_query(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        rewrite /search?q={query.term}
        reverse_proxy ${be}
    """, be=be)))
    get(srv, "/s?term=abc&x=1")
    assert be.requests[0].path == "/search?q=abc"


def test_RT_60_uri_strip_prefix_and_suffix(live):
    be = live.backend(name="be")
    srv = live.start(G + conf("""
        http://p.test {
            uri strip_prefix /api
            reverse_proxy ${be}
        }
        http://s.test {
            uri strip_suffix .html
            reverse_proxy ${be}
        }
    """, be=be))
    for path, want in (("/api/users", "/users"), ("/api", "/"), ("/api/users?z=1", "/users?z=1"),
                       ("/other", "/other")):
        assert get(srv, path, host="p.test").text == "be " + want, path
    for path, want in (("/about.html", "/about"), ("/about", "/about"), ("/.html", "/")):
        assert get(srv, path, host="s.test").text == "be " + want, path


def test_RT_61_uri_replace(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        uri replace /v1 /v2
        reverse_proxy ${be}
    """, be=be)))
    assert get(srv, "/v1/a/v1").text == "be /v2/a/v2"
    assert get(srv, "/x/v1").text == "be /x/v2"
    assert get(srv, "/v2/x").text == "be /v2/x"


def test_RT_61_uri_unknown_operation_refused(live):
    start_fails(live, site("uri frob x"), "unknown operation 'frob'")


# --- header, request_header (§6.15, §6.16) -------------------------------------------------------


def test_RT_71_header_overrides_upstream_and_security(live):
    def h(rec, _):
        return (200, [("X-Frame-Options", "ALLOW-FROM https://x"), ("Content-Type", "text/plain")], b"ok")
    be = live.backend(h)
    srv = live.start(G + conf("""
        http://p.test {
            header X-Frame-Options DENY
            reverse_proxy ${be}
        }
        http://r.test {
            header X-Frame-Options DENY
            respond "generated"
        }
    """, be=be))
    for host in ("p.test", "r.test"):
        r = get(srv, "/", host=host)
        assert r.header_all("X-Frame-Options") == ["DENY"], (host, r.headers)


def test_RT_72_header_operations(live):
    def h(rec, _):
        hdrs = [("Server", "upstream"), ("Link", "<b>"), ("X-A", "very old value"),
                ("X-Debug-One", "1"), ("X-Debug-Two", "2"), ("X-Debugger", "keep?"),
                ("Content-Type", "text/plain")]
        if rec.path == "/cc":
            hdrs.append(("Cache-Control", "no-store"))
        return (200, hdrs, b"ok")
    be = live.backend(h)
    srv = live.start(site(conf("""
        header -Server
        header +Link a
        header ?Cache-Control x
        header X-A old new
        header {
            X-B 2
            -X-Debug-*
        }
        reverse_proxy ${be}
    """, be=be)))
    r = get(srv, "/")
    assert r.header("Server") is None, r.headers
    assert sorted(r.header_all("Link")) == ["<b>", "a"], r.headers
    assert r.header_all("Cache-Control") == ["x"]
    assert r.header("X-A") == "very new value"
    assert r.header("X-B") == "2"
    assert r.header("X-Debug-One") is None and r.header("X-Debug-Two") is None
    r = get(srv, "/cc")
    assert r.header_all("Cache-Control") == ["no-store"]


def test_RT_72_header_on_generated_response(live):
    srv = live.start(site("""
        header ?Cache-Control x
        header +X-Multi a
        header +X-Multi b
        header /api/* X-Api 1
        respond "r"
    """))
    r = get(srv, "/api/x")
    assert (r.header("Cache-Control"), r.header("X-Api")) == ("x", "1")
    assert r.header_all("X-Multi") == ["a", "b"]
    assert get(srv, "/web").header("X-Api") is None


def test_RT_73_header_without_value_refused(live):
    start_fails(live, site("header X-A"), "expected header value")


def test_RT_74_request_header(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        request_header X-Real {remote_host}
        request_header -Cookie
        request_header +X-A 2
        request_header ?X-Opt default
        request_header X-R old new
        reverse_proxy ${be}
    """, be=be)))
    get(srv, "/", headers={"Cookie": "s=1", "X-A": "1", "X-R": "an old one"})
    get(srv, "/", headers={"X-Opt": "mine"})
    q1, q2 = be.requests
    assert q1.header("X-Real") == "127.0.0.1"
    assert q1.header("Cookie") is None
    assert q1.header_all("X-A") == ["1", "2"] or q1.header("X-A") == "1, 2", q1.headers
    assert q1.header("X-R") == "an new one"
    assert (q1.header("X-Opt"), q2.header("X-Opt")) == ("default", "mine")


def test_RT_75_method(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        method POST
        reverse_proxy ${be}
    """, be=be)))
    get(srv, "/m")
    assert (be.requests[0].method, be.requests[0].path) == ("POST", "/m")


def test_RT_75_method_with_matcher(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        method /put/* put
        reverse_proxy ${be}
    """, be=be)))
    get(srv, "/put/x")
    get(srv, "/get/x")
    assert [(q.method, q.path) for q in be.requests] == [("PUT", "/put/x"), ("GET", "/get/x")]


# --- vars, map (§6.18, §6.19) ----------------------------------------------------------------------


def test_RT_76_vars(live):
    srv = live.start(site("""
        vars region eu
        vars {
            who {query.n}
            tier gold
        }
        header X-R {vars.region}
        header X-S {region}
        header X-W "{vars.who}/{http.vars.tier}"
        respond "{vars.region}"
    """))
    r = get(srv, "/?n=bob")
    assert (r.text, r.header("X-R"), r.header("X-S"), r.header("X-W")) == ("eu", "eu", "eu", "bob/gold")
    assert get(srv, "/?n=amy").header("X-W") == "amy/gold"


def test_RT_76_later_vars_win(live):
    srv = live.start(site("""
        vars a 1
        vars a 2
        respond "{vars.a}"
    """))
    assert get(srv, "/").text == "2"


def test_RT_77_map_exact_and_default(live):
    srv = live.start(site("""
        map {query.mode} {vars.ttl} {
            fast 30
            slow 3600
            default 300
        }
        header X-TTL {vars.ttl}
        respond "{vars.ttl}"
    """))
    for q, want in (("?mode=fast", "30"), ("?mode=slow", "3600"), ("?mode=SLOW", "3600"),
                    ("?mode=Fast", "30"), ("?mode=x", "300"), ("", "300")):
        r = get(srv, "/" + q)
        assert (r.text, r.header("X-TTL")) == (want, want), q


def test_RT_78_map_regex_whole_string(live):
    srv = live.start(site("""
        map {path} s {
            ~/blog/.* blog
            default root
        }
        map {path} t {
            ~/x/.* x
        }
        respond "{vars.s}|{s}|[{vars.t}]"
    """))
    assert get(srv, "/blog/x").text == "blog|blog|[]"
    assert get(srv, "/BLOG/y").text == "blog|blog|[]"
    assert get(srv, "/a/blog/x").text == "root|root|[]"   # the whole string must match
    assert get(srv, "/x/1").text == "root|root|[x]"


def test_RT_79_map_bad_regex_refused(live):
    start_fails(live, site("map {path} s {\n    ~(unclosed x\n}\nrespond 200"),
                "invalid regular expression '(unclosed'")


# --- bind (§6.20) ---------------------------------------------------------------------------------


def http_request_from(port, addr, host):
    """One GET to addr:port (another loopback address) with the given Host."""
    import http.client
    from livetest import Response
    c = http.client.HTTPConnection(addr, port, timeout=5)
    try:
        c.request("GET", "/", headers={"Host": host})
        r = c.getresponse()
        return Response(r.status, r.reason, list(r.getheaders()), r.read())
    finally:
        c.close()


def connects(host, port):
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def test_RT_84_bind_loopback_only(live):
    srv = live.start(site("""
        bind 127.0.0.1
        respond "bound"
    """))
    assert get(srv, "/").text == "bound"
    assert not connects("127.0.0.2", srv.port)
    # control: without bind, the default listener takes any local address
    srv2 = live.start(site('respond "any"'))
    assert connects("127.0.0.2", srv2.port)


def test_RT_84_bind_unix_socket(live):
    sock = live.tmp / "d.sock"
    srv = live.start(G + conf("""
        http://a.test {
            respond "tcp"
        }
        http://b.test {
            bind unix/${sock}
            respond "unix {host}"
        }
    """, sock=sock))
    assert wait_until(sock.exists, 5), "unix socket not created"
    raw = unix_exchange(sock, b"GET / HTTP/1.1\r\nHost: b.test\r\nConnection: close\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 200"), raw[:200]
    assert raw.endswith(b"\r\n\r\nunix b.test"), raw
    assert get(srv, "/").text == "tcp"


def test_RT_84_site_bound_to_unix_socket_not_served_on_tcp(live):
    # spec 10 §3.2: a site's listeners are its bind addresses x its port; b.test is bound to a
    # unix socket only, so the TCP listener a.test opens on the same port does not serve it
    sock = live.tmp / "d.sock"
    srv = live.start(G + conf("""
        http://a.test {
            respond "tcp"
        }
        http://b.test {
            bind unix/${sock}
            respond "unix {host}"
        }
    """, sock=sock))
    assert get(srv, "/").text == "tcp"
    r = get(srv, "/", host="b.test")
    assert (r.status, r.body) == (502, b""), (r.status, r.body)


def test_RT_84_site_bound_to_loopback_not_served_on_other_address(live):
    # the same with bind 127.0.0.1 next to a default (all addresses) site on the same port
    srv = live.start(G + conf("""
        http://a.test {
            respond "any"
        }
        http://b.test {
            bind 127.0.0.1
            respond "bound"
        }
    """))
    assert get(srv, "/", host="b.test").text == "bound"
    r = http_request_from(srv.port, "127.0.0.2", "b.test")
    assert r.status == 502, (r.status, r.body)
    assert http_request_from(srv.port, "127.0.0.2", "a.test").text == "any"


def test_RT_84_bind_cidr_refused(live):
    start_fails(live, site("bind 10.0.0.0/8"), "invalid bind address '10.0.0.0/8'")


def test_RT_84_bind_port_form(live):
    p2 = free_port()
    srv = live.start(G + conf("""
        http://a.test {
            respond "main"
        }
        http://b.test:${p2} {
            bind 127.0.0.1
            respond "other"
        }
    """, p2=p2), wait_ports=None)
    assert wait_until(lambda: connects("127.0.0.1", p2), 5)
    assert get(srv, "/", host="b.test", port=p2).text == "other"
    assert not connects("127.0.0.2", p2)


# --- recognised directives without effect (RT-95, RT-96) ----------------------------------------


def test_RT_95_analytics_and_security_headers_load_and_serve(live):
    srv = live.start(G + conf("""
        http://on.test {
            analytics on
            respond "on"
        }
        http://off.test {
            analytics off
            security_headers {
                strip_leaky_headers false
            }
            respond "off"
        }
    """))
    assert get(srv, "/", host="on.test").text == "on"
    r = get(srv, "/", host="off.test")
    assert r.text == "off" and r.header("X-Content-Type-Options") == "nosniff"


def test_RT_96_parsed_directives_do_nothing(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        templates
        push
        acme_server
        invoke n
        fs x
        tracing
        reverse_proxy ${be}
    """, be=be)))
    r = get(srv, "/p")
    assert (r.status, r.text) == (200, "be /p")
    assert [q.path for q in be.requests] == ["/p"]
    err = srv.stop()
    assert "directive parsed but not yet implemented" in err, err
