"""The request pipeline inside a site against a running `dwaar run` (spec 10 §4: directive
order, handle/handle_path/route, terminal fallback, path patterns; checklist RT-01..RT-15).
Each test checks what the client got and what the backend received. Model-level twins:
tests/10_config/test_routing.py."""
from rtlive import G, conf, start_fails


def site(body, addr="http://a.test"):
    """A one-site config on http_port; body is dedented and indented by four spaces."""
    import textwrap
    return G + addr + " {\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n}\n"


def test_RT_01_header_after_reverse_proxy_applies(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        reverse_proxy ${be}
        header X-A 1
    """, be=be)))
    r = srv.get("/p", host="a.test")
    assert (r.status, r.text) == (200, "be /p")
    assert r.header("X-A") == "1"
    assert [q.path for q in be.requests] == ["/p"]


def test_RT_02_matcher_proxy_then_fallback_respond(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        @api path /api/*
        reverse_proxy @api ${be}
        respond "not found" 404
    """, be=be)))
    r = srv.get("/api/x", host="a.test")
    assert (r.status, r.text) == (200, "be /api/x")
    r = srv.get("/other", host="a.test")
    assert (r.status, r.text) == (404, "not found")
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert [q.path for q in be.requests] == ["/api/x"]


def test_RT_03_respond_with_path_beats_unmatched_proxy(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        reverse_proxy ${be}
        respond /health "ok" 200
    """, be=be)))
    r = srv.get("/health", host="a.test")
    assert (r.status, r.text) == (200, "ok")
    assert be.requests == []
    r = srv.get("/healthx", host="a.test")
    assert (r.status, r.text) == (200, "be /healthx")
    assert [q.path for q in be.requests] == ["/healthx"]


def test_RT_04_no_terminal_handler_200_empty(live):
    srv = live.start(site("header X 1"))
    for method in ("GET", "POST", "DELETE"):
        r = srv.request(method, "/anything?q=1", host="a.test", body=b"" if method == "POST" else None)
        assert (r.status, r.body) == (200, b""), method
        assert r.header("Content-Length") == "0"
        assert r.header("X") == "1"


def test_RT_05_path_matching_ignores_case(live):
    srv = live.start(site("""
        handle /API/* {
            respond "api"
        }
        handle {
            respond "other"
        }
    """))
    for path in ("/api/x", "/API/x", "/Api/Y/z"):
        assert srv.get(path, host="a.test").text == "api", path
    assert srv.get("/apix", host="a.test").text == "other"


def test_RT_06_path_patterns(live):
    srv = live.start(site("""
        @prefix path /api/*
        @suffix path *.php
        @glob path /a/*/c
        @deep path /s/**/x.js
        @sub path *mid*
        @exact path /health
        respond @prefix "prefix"
        respond @suffix "suffix"
        respond @glob "glob"
        respond @deep "deep"
        respond @sub "sub"
        respond @exact "exact"
        respond "none"
    """))
    cases = {
        "/api/": "prefix", "/api/a/b": "prefix", "/api": "none", "/apiary": "none",
        "/x/y.php": "suffix", "/y.php?x=1": "suffix", "/y.phps": "none",
        "/a/b/c": "glob", "/a/bb/c": "glob", "/a/b/d/c": "none", "/a/c": "none",
        "/s/1/2/x.js": "deep", "/s/1/x.js": "deep", "/t/1/x.js": "none",
        "/xxmidyy": "sub",
        "/health": "exact", "/health/": "none", "/health?probe=1": "exact", "/HEALTH": "exact",
        # matched on the percent-decoded path; the query is never part of it
        "/%61pi/x": "prefix", "/q?p=/api/x": "none",
    }
    for path, want in cases.items():
        r = srv.get(path, host="a.test")
        assert (r.status, r.text) == (200, want), path


def test_RT_07_handle_path_strips_prefix(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        handle_path /api/* {
            reverse_proxy ${be}
        }
    """, be=be)))
    assert srv.get("/api/v1", host="a.test").text == "be /v1"
    assert srv.get("/api/", host="a.test").text == "be /"
    assert srv.get("/api/v1/users?x=1&y=%20", host="a.test").text == "be /v1/users?x=1&y=%20"
    assert [q.path for q in be.requests] == ["/v1", "/", "/v1/users?x=1&y=%20"]
    # /api does not match /api/*: nothing responds
    r = srv.get("/api", host="a.test")
    assert (r.status, r.body) == (200, b"")
    assert len(be.requests) == 3


def test_RT_08_first_matching_handle_ends_family(live):
    be = live.backend()
    srv = live.start(site(conf("""
        handle /api/* {
            header X-First 1
            respond "api"
        }
        handle {
            header X-Second 1
            reverse_proxy ${be}
        }
    """, be=be)))
    r = srv.get("/api/x", host="a.test")
    assert (r.status, r.text) == (200, "api")
    assert r.header("X-First") == "1" and r.header("X-Second") is None
    assert be.requests == []
    r = srv.get("/other", host="a.test")
    assert r.header("X-Second") == "1" and r.header("X-First") is None
    assert [q.path for q in be.requests] == ["/other"]


def test_RT_09_routes_all_run(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        route /old/* {
            rewrite /new{http.request.uri.path.remainder}
        }
        route {
            request_header X-T 1
        }
        route {
            reverse_proxy ${be}
        }
    """, be=be)))
    r = srv.get("/old/a/b?q=1", host="a.test")
    assert (r.status, r.text) == (200, "be /new/a/b?q=1")
    r = srv.get("/keep", host="a.test")
    assert r.text == "be /keep"
    assert [q.path for q in be.requests] == ["/new/a/b?q=1", "/keep"]
    assert [q.header("X-T") for q in be.requests] == ["1", "1"]


def test_RT_10_handle_skips_later_routes(live):
    srv = live.start(site("""
        handle /a/* {
            respond "a"
        }
        route {
            header X-R 1
        }
    """))
    r = srv.get("/a/x", host="a.test")
    assert r.text == "a" and r.header("X-R") is None
    r = srv.get("/b", host="a.test")
    assert (r.status, r.body, r.header("X-R")) == (200, b"", "1")


def test_RT_10_route_before_handle_runs_and_continues(live):
    srv = live.start(site("""
        route {
            header X-R 1
        }
        handle /a/* {
            respond "a"
        }
    """))
    r = srv.get("/a/x", host="a.test")
    assert (r.text, r.header("X-R")) == ("a", "1")


def test_RT_11_nested_handles(live):
    srv = live.start(site("""
        handle /api/* {
            handle /api/v1/* {
                respond "v1"
            }
            handle /api/v2/* {
                respond "v2"
            }
            respond 400
        }
        handle {
            respond "outer"
        }
    """))
    assert srv.get("/api/v1/x", host="a.test").text == "v1"
    assert srv.get("/api/v2/y/z", host="a.test").text == "v2"
    r = srv.get("/api/v3", host="a.test")
    assert (r.status, r.body) == (400, b"")
    assert srv.get("/x", host="a.test").text == "outer"
    assert srv.get("/api", host="a.test").text == "outer"


def test_RT_12_handle_without_terminal_falls_back_to_site(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        handle /x/* {
            header X-H 1
        }
        reverse_proxy ${be}
    """, be=be)))
    r = srv.get("/x/a", host="a.test")
    assert (r.status, r.text, r.header("X-H")) == (200, "be /x/a", "1")
    r = srv.get("/y", host="a.test")
    assert (r.text, r.header("X-H")) == ("be /y", None)
    assert [q.path for q in be.requests] == ["/x/a", "/y"]


def test_RT_12_nested_effects_stay_applied(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        request_header X-Site s
        handle /x/* {
            request_header X-Inner i
            rewrite /rewritten
        }
        reverse_proxy ${be}
    """, be=be)))
    assert srv.get("/x/a", host="a.test").text == "be /rewritten"
    q = be.requests[0]
    assert (q.header("X-Site"), q.header("X-Inner")) == ("s", "i")


def test_RT_13_handle_path_matcher_and_missing_block_refused(live):
    start_fails(live, site("""
        @m path /x
        handle_path @m {
            respond 1
        }
    """), "handle_path requires a path prefix pattern")
    start_fails(live, site("handle /x"), "expected '{'")


def test_RT_14_matcher_inside_handle_errors(live):
    srv = live.start(site("""
        handle_errors {
            @nf expression {http.error.status_code} == 404
            respond @nf "custom 404" 404
        }
        error /missing "nf" 404
        error /boom "bad" 500
    """))
    r = srv.get("/missing", host="a.test")
    assert (r.status, r.text) == (404, "custom 404")
    # handle_errors produced nothing for a 500: the original error goes out
    r = srv.get("/boom", host="a.test")
    assert (r.status, r.text) == (500, "bad")


def test_RT_14_undefined_matcher_refused(live):
    start_fails(live, site("reverse_proxy @undefined 127.0.0.1:1"), "matcher '@undefined' is not defined")


def test_RT_15_site_only_directive_in_handle_refused(live):
    start_fails(live, site("""
        handle {
            tls off
        }
    """), "only allowed at site level")
