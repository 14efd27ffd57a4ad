"""Routing directives and the request pipeline model (spec 10 §4, §6.1-§6.19, §7; decisions 12,
13, 18, 24-27, 36): RT-01..RT-81, checked on the loaded model (ranks, terminal flags, matcher
references, parsed values) and on load errors. Behaviour at request time is proven by the
end-to-end tests; here each item proves the model that drives it.

In S(body) the body's first line is line 2 of the Dwaarfile, indented to column 5."""
import os
import subprocess

from dwaartest import DASH, S, dirs, named, site

def one(model, name, i=0):
    ds = named(model, name, i)
    assert len(ds) == 1, f"expected one {name}: {ds!r}"
    return ds[0]


def same_file(dw, path, name):
    """A path in the model names <test dir>/<name> (decision 25: relative to the Dwaarfile)."""
    return os.path.normpath(os.path.join(dw.root, path)) == str(dw.root / name)


def block_dirs(d):
    return d["block"]["directives"]


# --- pipeline and matching (§4) -------------------------------------------------------------


def test_RT_01_rank_not_source_order(dw):
    m = dw.adapt(S("""
        reverse_proxy 127.0.0.1:9001
        header X-A 1
    """))
    proxy, header = dirs(m)
    assert (proxy["directive"], proxy["rank"], proxy["terminal"]) == ("reverse_proxy", 9, True)
    assert (header["directive"], header["rank"]) == ("header", 4)
    assert "terminal" not in header
    # execution order = by rank, source order for equal ranks
    order = [d["directive"] for d in sorted(dirs(m), key=lambda d: d["rank"])]
    assert order == ["header", "reverse_proxy"]


def test_RT_02_named_matcher_proxy_and_fallback_respond(dw):
    m = dw.adapt(S("""
        @api path /api/*
        reverse_proxy @api up:1
        respond "not found" 404
    """))
    proxy, respond = dirs(m)
    assert proxy["matcher"] == "@api" and proxy["terminal"]
    assert proxy["upstreams"] == [{"scheme": "http", "host": "up", "port": 1}]
    assert "matcher" not in respond and respond["terminal"]
    assert (respond["status"], respond["body"]) == (404, "not found")
    assert site(m)["block"]["matchers"]["@api"] == [{"condition": "path", "paths": ["/api/*"]}]


def test_RT_03_terminal_with_path_matcher(dw):
    m = dw.adapt(S("""
        reverse_proxy up:1
        respond /health "ok" 200
    """))
    proxy, respond = dirs(m)
    assert "matcher" not in proxy
    assert respond["matcher"] == "/health"
    assert (respond["status"], respond["body"]) == (200, "ok")


def test_RT_04_no_terminal_handler(dw):
    m = dw.adapt(S("header X 1"))
    assert [d["directive"] for d in dirs(m)] == ["header"]
    assert not any(d.get("terminal") for d in dirs(m))
    assert site(m)["routes"] == 0


def test_RT_05_path_pattern_kept_as_written(dw):
    # case-insensitive matching happens per request; the pattern is kept as written
    m = dw.adapt(S("""
        handle /API/* {
            respond "api"
        }
    """))
    assert one(m, "handle")["matcher"] == "/API/*"


def test_RT_06_path_patterns(dw):
    pats = ["/api/*", "/a/*/c", "/s/**/x.js", "/health", "*"]
    body = "\n".join(f"respond {p} \"r{i}\"" for i, p in enumerate(pats))
    m = dw.adapt(S(body))
    assert [d["matcher"] for d in dirs(m)] == pats
    # suffix and substring patterns are written through a named matcher (a matcher token is
    # `*`, `/…` or `@…`)
    m = dw.adapt(S("@m path /api/* *.php *admin* /a/*/c /s/**/x.js"))
    assert site(m)["block"]["matchers"]["@m"][0]["paths"] == ["/api/*", "*.php", "*admin*", "/a/*/c", "/s/**/x.js"]


def test_RT_07_handle_path_strip_prefix(dw):
    m = dw.adapt(S("""
        handle_path /api/* {
            reverse_proxy up:1
        }
    """))
    h = one(m, "handle_path")
    assert h["matcher"] == "/api/*" and h["strip_prefix"] == "/api" and h["rank"] == 8
    assert block_dirs(h)[0]["directive"] == "reverse_proxy"


def test_RT_08_handle_family_source_order(dw):
    m = dw.adapt(S("""
        handle /api/* {
            respond "api"
        }
        handle {
            respond "other"
        }
    """))
    a, b = dirs(m)
    assert (a["directive"], a["matcher"], a["rank"]) == ("handle", "/api/*", 8)
    assert (b["directive"], b["rank"]) == ("handle", 8) and "matcher" not in b
    assert a["at"] < b["at"] or int(a["at"].split(":")[1]) < int(b["at"].split(":")[1])


def test_RT_09_route_blocks(dw):
    m = dw.adapt(S("""
        route /old/* {
            rewrite /new{http.request.uri.path.remainder}
        }
        route {
            request_header X-T 1
        }
        route {
            reverse_proxy up:1
        }
    """))
    r1, r2, r3 = dirs(m)
    assert [r["directive"] for r in (r1, r2, r3)] == ["route"] * 3
    assert r1["matcher"] == "/old/*"
    assert block_dirs(r1)[0]["to"] == "/new{http.request.uri.path.remainder}"
    assert block_dirs(r2)[0]["operations"] == [{"op": "set", "name": "X-T", "value": "1"}]
    assert block_dirs(r2)[0]["rank"] == 7
    assert block_dirs(r3)[0]["terminal"] is True


def test_RT_10_handle_then_route_keep_source_order(dw):
    m = dw.adapt(S("""
        handle /a/* {
            respond "a"
        }
        route {
            header X-R 1
        }
    """))
    assert [(d["directive"], d["rank"]) for d in dirs(m)] == [("handle", 8), ("route", 8)]


def test_RT_11_nested_handles(dw):
    m = dw.adapt(S("""
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
    api, outer = dirs(m)
    inner = block_dirs(api)
    assert [(d["directive"], d.get("matcher")) for d in inner] == [
        ("handle", "/api/v1/*"), ("handle", "/api/v2/*"), ("respond", None)]
    assert inner[2]["status"] == 400 and inner[2]["terminal"]
    assert block_dirs(outer)[0]["body"] == "outer"
    assert site(m)["routes"] == 8


def test_RT_12_handle_without_terminal_falls_back(dw):
    m = dw.adapt(S("""
        handle /x/* {
            header X-H 1
        }
        reverse_proxy up:1
    """))
    h, p = dirs(m)
    assert not any(d.get("terminal") for d in block_dirs(h))
    assert p["terminal"] and "matcher" not in p


def test_RT_13_handle_path_needs_prefix_and_block(dw):
    dw.fails(S("""
        @m path /x
        handle_path @m {
            respond 1
        }
    """), "Dwaarfile:3:17: handle_path requires a path prefix pattern")
    dw.fails(S("handle /x"), "Dwaarfile:2:5: expected '{'")


def test_RT_14_matcher_scopes(dw):
    m = dw.adapt(S("""
        handle_errors {
            @nf expression {http.error.status_code} == 404
            respond @nf "gone" 404
        }
    """))
    he = one(m, "handle_errors")
    assert "@nf" in he["block"]["matchers"]
    assert block_dirs(he)[0]["matcher"] == "@nf"
    dw.fails(S("reverse_proxy @undefined up:1"), "Dwaarfile:2:19: matcher '@undefined' is not defined")


def test_RT_15_site_only_directive_in_handle(dw):
    dw.fails(S("""
        handle {
            tls off
        }
    """), "Dwaarfile:3:9: directive 'tls' is only allowed at site level")


# --- reverse_proxy (§6.1) --------------------------------------------------------------------


def test_RT_16_several_upstreams_round_robin(dw):
    m = dw.adapt(S("reverse_proxy 127.0.0.1:9001 127.0.0.1:9002"))
    p = one(m, "reverse_proxy")
    assert [(u["host"], u["port"]) for u in p["upstreams"]] == [("127.0.0.1", 9001), ("127.0.0.1", 9002)]
    assert p["lb_policy"] == "round_robin"


def test_RT_17_lb_policy_least_conn_and_unknown(dw):
    for pol in ("round_robin", "least_conn", "random", "ip_hash", "cookie"):
        m = dw.adapt(S(f"""
            reverse_proxy a:1 {{
                lb_policy {pol}
            }}
        """))
        assert one(m, "reverse_proxy")["lb_policy"] == pol
    # keywords compare on text, quoted or not
    m = dw.adapt(S('reverse_proxy a:1 {\n    lb_policy "least_conn"\n}'))
    assert one(m, "reverse_proxy")["lb_policy"] == "least_conn"
    dw.fails(S("""
        reverse_proxy a:1 {
            lb_policy fastest
        }
    """), "Dwaarfile:3:19: unknown lb_policy 'fastest'; expected round_robin, least_conn, random, ip_hash, cookie")


def test_RT_18_no_upstream(dw):
    dw.fails(S("""
        reverse_proxy {
            lb_policy random
        }
    """), "Dwaarfile:2:5: block form requires at least one upstream via 'to' subdirective")
    dw.fails(S("reverse_proxy"), "Dwaarfile:2:5: expected at least one upstream address")
    dw.fails(S("proxy"), "Dwaarfile:2:5: expected at least one upstream address")
    dw.fails(S("""
        reverse_proxy {
            to
        }
    """), "Dwaarfile:3:9: expected at least one upstream address")
    # the block form with `to`, and inline + `to` concatenated
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            to b:2 c:3
            to d:4
        }
    """))
    assert [u["host"] for u in one(m, "reverse_proxy")["upstreams"]] == ["a", "b", "c", "d"]


def test_RT_19_inline_upstream_with_block(dw):
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            lb_policy random
        }
    """))
    p = one(m, "reverse_proxy")
    assert p["upstreams"] == [{"scheme": "http", "host": "a", "port": 1}]
    assert p["lb_policy"] == "random"


def test_RT_20_proxy_alias(dw):
    a = one(dw.adapt(S("proxy localhost:8080")), "reverse_proxy")
    b = one(dw.adapt(S("reverse_proxy localhost:8080")), "reverse_proxy")
    assert a["as"] == "proxy" and "as" not in b
    for k in ("rank", "terminal", "upstreams", "lb_policy", "transport", "dial_timeout_ms"):
        assert a[k] == b[k]


def test_RT_21_upstream_forms(dw):
    m = dw.adapt(S("""
        reverse_proxy :9001
        reverse_proxy backend
        reverse_proxy https://h
        reverse_proxy h2c://h:1
        reverse_proxy http://h:81
        reverse_proxy [::1]:9002
        reverse_proxy unix//run/app.sock
        reverse_proxy https://h:8443
        reverse_proxy h2c://h
    """))
    ups = [d["upstreams"][0] for d in dirs(m)]
    assert ups == [
        {"scheme": "http", "host": "127.0.0.1", "port": 9001},
        {"scheme": "http", "host": "backend", "port": 80},
        {"scheme": "https", "host": "h", "port": 443},
        {"scheme": "h2c", "host": "h", "port": 1},
        {"scheme": "http", "host": "h", "port": 81},
        {"scheme": "http", "host": "::1", "port": 9002},
        {"scheme": "unix", "host": "/run/app.sock"},
        {"scheme": "https", "host": "h", "port": 8443},
        {"scheme": "h2c", "host": "h", "port": 80},
    ]
    dw.fails(S("reverse_proxy ftp://h:1"), "Dwaarfile:2:19: invalid upstream address 'ftp://h:1'")
    dw.fails(S("reverse_proxy h:99999"), "invalid upstream address 'h:99999'")
    dw.fails(S("reverse_proxy ::1:80"), "invalid upstream address '::1:80'")
    dw.fails(S("reverse_proxy bad!host:80"), "invalid upstream address 'bad!host:80'")
    dw.fails(S("reverse_proxy h:1?x=1"), "invalid upstream address 'h:1?x=1'")


def test_RT_21_mixed_schemes(dw):
    # decision 26
    err = dw.fails(S("reverse_proxy a:1 https://b:2"),
                   "Dwaarfile:2:23: cannot mix upstream schemes in one reverse_proxy")
    assert "'https://b:2' is https" in err
    dw.fails(S("""
        reverse_proxy h2c://a:1 {
            to http://b:2
        }
    """), "cannot mix upstream schemes")
    # implicit = http
    dw.adapt(S("reverse_proxy a:1 http://b:2"))


def test_RT_22_health_interval(dw):
    for v, ms in (("10", 10000), ("10s", 10000), ("1m30s", 90000), ('"5"', 5000)):
        m = dw.adapt(S(f"""
            reverse_proxy a:1 {{
                health_uri /h
                health_interval {v}
            }}
        """))
        p = one(m, "reverse_proxy")
        assert p["health_interval_ms"] == ms and p["health_uri"] == "/h"
    p = one(dw.adapt(S("reverse_proxy a:1")), "reverse_proxy")
    assert "health_uri" not in p and p["health_interval_ms"] == 10000
    dw.fails(S("""
        reverse_proxy a:1 {
            health_interval x
        }
    """), "Dwaarfile:3:25: health_interval must be a positive integer, got 'x'")
    # decision 12: at least one second
    dw.fails(S("reverse_proxy a:1 {\n    health_interval 0\n}"), "health_interval must be a positive integer, got '0'")
    dw.fails(S("reverse_proxy a:1 {\n    health_interval 500ms\n}"), "health_interval must be at least 1 second")
    dw.fails(S("reverse_proxy a:1 {\n    health_uri h\n}"), "invalid value for 'health_uri'")


def test_RT_23_numeric_subdirectives(dw):
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            max_conns 100
            lb_retries 3
            fail_duration 0
        }
    """))
    p = one(m, "reverse_proxy")
    assert (p["max_conns"], p["lb_retries"], p["fail_duration_ms"]) == (100, 3, 0)
    assert p["lb_try_duration_ms"] == 30000  # default when lb_retries > 0
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            fail_duration 20s
            lb_try_duration 500ms
        }
    """))
    p = one(m, "reverse_proxy")
    assert (p["fail_duration_ms"], p["lb_try_duration_ms"], p["lb_retries"]) == (20000, 500, 0)
    assert "max_conns" not in p
    dw.fails(S("reverse_proxy a:1 {\n    max_conns abc\n}"),
             "Dwaarfile:3:19: max_conns must be a positive integer, got 'abc'")
    dw.fails(S("reverse_proxy a:1 {\n    max_conns 0\n}"), "max_conns must be a positive integer, got '0'")
    dw.fails(S("reverse_proxy a:1 {\n    lb_retries -1\n}"),
             "Dwaarfile:3:20: lb_retries must be a non-negative integer, got '-1'")
    dw.fails(S("reverse_proxy a:1 {\n    fail_duration z\n}"),
             "Dwaarfile:3:23: fail_duration must be a positive integer, got 'z'")
    err = dw.fails(S("reverse_proxy a:1 {\n    lb_try_duration 5x\n}"),
                   "Dwaarfile:3:25: invalid value for 'lb_try_duration'")
    assert "30s, 1m, 500ms" in err
    dw.fails(S("reverse_proxy a:1 {\n    lb_policy\n}"), "invalid value for 'lb_policy'")


def test_RT_23_upstream_timeouts(dw):
    # decision 36
    p = one(dw.adapt(S("reverse_proxy a:1")), "reverse_proxy")
    assert (p["dial_timeout_ms"], p["response_timeout_ms"]) == (10000, 30000)
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            dial_timeout 2s
            response_timeout 1m
        }
    """))
    p = one(m, "reverse_proxy")
    assert (p["dial_timeout_ms"], p["response_timeout_ms"]) == (2000, 60000)
    dw.fails(S("reverse_proxy a:1 {\n    dial_timeout soon\n}"), "invalid value for 'dial_timeout'")
    dw.fails(S("reverse_proxy a:1 {\n    response_timeout 0\n}"), "invalid value for 'response_timeout'")


def test_RT_24_transport(dw):
    def tr(body):
        return one(dw.adapt(S(body)), "reverse_proxy")["transport"]

    assert tr("reverse_proxy a:1 {\n    transport tls\n}") == {"tls": True, "h2": False, "h2c": False}
    assert tr("reverse_proxy a:1 {\n    transport h2\n}")["h2"] is True
    assert tr("reverse_proxy a:1 {\n    transport h2c\n}")["h2c"] is True
    t = tr("reverse_proxy a:1 {\n    transport {\n        tls_server_name n\n    }\n}")
    assert t["server_name"] == "n" and t["tls"] is True
    t = tr("reverse_proxy a:1 {\n    transport http {\n        tls\n        h2\n    }\n}")
    assert (t["tls"], t["h2"]) == (True, True)
    assert tr("reverse_proxy a:1")["tls"] is False
    dw.fails(S("reverse_proxy a:1 {\n    transport quic\n}"),
             "Dwaarfile:3:19: invalid value for 'transport': 'quic' (expected one of: tls, h2, h2c, http)")


def test_RT_24_transport_files(dw):
    # a real client pair: tls_client_auth is loaded and checked when the config loads (§1.11)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "client.key", "-out",
                    "client.crt", "-days", "90", "-subj", "/CN=client"],
                   cwd=dw.root, check=True, capture_output=True)
    dw.write("ca.pem", "ca")
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            transport {
                tls_client_auth client.crt client.key
                tls_trusted_ca_certs ca.pem
            }
        }
    """))
    t = one(m, "reverse_proxy")["transport"]
    # decision 25: relative to the Dwaarfile's directory
    for k, f in (("client_cert", "client.crt"), ("client_key", "client.key"), ("trusted_ca", "ca.pem")):
        assert same_file(dw, t[k], f)
    assert t["tls"] is True
    dw.fails(S("""
        reverse_proxy a:1 {
            transport {
                tls_client_auth missing.crt client.key
            }
        }
    """), "Dwaarfile:4:29: TLS client certificate file '")
    dw.fails(S("""
        reverse_proxy a:1 {
            transport {
                tls_trusted_ca_certs /nonexistent/ca.pem
            }
        }
    """), "TLS trusted CA file '/nonexistent/ca.pem' is not readable")
    dw.fails(S("reverse_proxy a:1 {\n    transport {\n        tls_client_auth only.crt\n    }\n}"),
             "invalid value for 'tls_client_auth'")
    # TLS-40 at load: not a certificate, and a key that is not the certificate's
    dw.write("junk.crt", "cert")
    dw.fails(S("reverse_proxy a:1 {\n    transport {\n        tls_client_auth junk.crt client.key\n"
               "    }\n}"), "Dwaarfile:4:29: tls_client_auth: ")
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-out", "other.key"],
                   cwd=dw.root, check=True, capture_output=True)
    dw.fails(S("reverse_proxy a:1 {\n    transport {\n        tls_client_auth client.crt other.key\n"
               "    }\n}"), "does not match")


def test_RT_25_header_up_and_down(dw):
    m = dw.adapt(S("""
        reverse_proxy a:1 {
            header_up X-U {remote_host}
            header_up -Cookie
            header_up +X-Add v
            header_down -Server
            header_down X-D old new
        }
    """))
    p = one(m, "reverse_proxy")
    assert p["header_up"] == [
        {"op": "set", "name": "X-U", "value": "{remote_host}"},
        {"op": "delete", "name": "Cookie"},
        {"op": "add", "name": "X-Add", "value": "v"},
    ]
    assert p["header_down"] == [
        {"op": "delete", "name": "Server"},
        {"op": "replace", "name": "X-D", "find": "old", "replace": "new"},
    ]
    dw.fails(S("reverse_proxy a:1 {\n    header_up X-U\n}"), "Dwaarfile:3:19: expected header value")
    dw.fails(S("reverse_proxy a:1 {\n    header_down X {nope}\n}"), "unknown placeholder '{nope}'")


def test_RT_26_unknown_subdirective_warns(dw):
    m = dw.warns(S("""
        reverse_proxy a:1 {
            flush_interval -1
        }
    """), "Dwaarfile:3:9: warning: unknown subdirective 'flush_interval' inside reverse_proxy block")
    assert one(m, "reverse_proxy")["upstreams"][0]["host"] == "a"


def test_RT_27_host_names_are_not_resolved_at_load(dw):
    # decision 24: validate works offline; an unresolvable name loads
    m = dw.adapt(S("reverse_proxy does-not-exist.invalid:1"))
    assert one(m, "reverse_proxy")["upstreams"][0]["host"] == "does-not-exist.invalid"
    r = dw.run("validate", "-c", "Dwaarfile")
    assert r.code == 0, r.err


def test_RT_28_upstream_with_path(dw):
    dw.fails(S("reverse_proxy http://h:1/path"), "Dwaarfile:2:19: invalid upstream address 'http://h:1/path'")
    # decision 27
    dw.fails(S("reverse_proxy /api/* "), "invalid upstream address '/api/*'")


def test_RT_29_scale_to_zero_errors(dw):
    dw.fails(S("""
        reverse_proxy a:1 {
            scale_to_zero {
                wake_timeout 5
            }
        }
    """), "Dwaarfile:3:9: wake_command is required")
    dw.fails(S("reverse_proxy a:1 {\n    scale_to_zero\n}"),
             "Dwaarfile:3:9: expected '{' to open scale_to_zero block")
    # a relative program loads (it fails per request with 504) but is flagged
    m = dw.warns(S("""
        reverse_proxy a:1 {
            scale_to_zero {
                wake_command start.sh
            }
        }
    """), "wake_command 'start.sh' is not an absolute path")
    assert one(m, "reverse_proxy")["scale_to_zero"]["wake_command"] == ["start.sh"]


def test_RT_30_scale_to_zero(dw):
    m = dw.adapt(S("""
        reverse_proxy 127.0.0.1:9001 {
            scale_to_zero {
                wake_command /abs/start.sh --fast "a b"
                wake_timeout 5
            }
        }
    """))
    s = one(m, "reverse_proxy")["scale_to_zero"]
    assert s == {"wake_command": ["/abs/start.sh", "--fast", "a", "b"], "wake_timeout_ms": 5000}
    m = dw.adapt(S("reverse_proxy a:1 {\n    scale_to_zero {\n        wake_command /x\n    }\n}"))
    assert one(m, "reverse_proxy")["scale_to_zero"]["wake_timeout_ms"] == 30000
    assert "scale_to_zero" not in one(dw.adapt(S("reverse_proxy a:1")), "reverse_proxy")


# --- grpc (§6.2) ---------------------------------------------------------------------------


def test_RT_31_grpc(dw):
    m = dw.adapt(S("grpc 127.0.0.1:50051"))
    g = one(m, "grpc")
    assert g["terminal"] is True and g["rank"] == 9
    assert g["upstream"] == {"scheme": "h2c", "host": "127.0.0.1", "port": 50051}
    m = dw.adapt(S("""
        grpc
        reverse_proxy a:1
    """))
    g = one(m, "grpc")
    assert g["marker"] is True and "terminal" not in g
    assert site(m)["routes"] == 1
    dw.fails(S("grpc a:1 b:2"), "Dwaarfile:2:14: invalid value for 'grpc': unexpected argument 'b:2'")
    dw.fails(S("grpc /x"), "invalid upstream address '/x'")


def test_RT_32_grpc_with_request_body_limit(dw):
    m = dw.adapt(S("""
        request_body 1KB
        grpc 127.0.0.1:50051
    """))
    assert [d["directive"] for d in dirs(m)] == ["request_body", "grpc"]


# --- root, file_server (§6.3, §6.4) --------------------------------------------------------


def test_RT_33_root_and_file_server(dw):
    (dw.root / "srv").mkdir()
    m = dw.adapt(S(f"""
        root * {dw.root}/srv
        file_server
    """))
    root, fs = dirs(m)
    assert (root["rank"], root["matcher"], root["path"]) == (1, "*", str((dw.root / "srv").resolve()))
    assert fs["terminal"] and fs["rank"] == 9
    assert (fs["browse"], fs["index"]) == (False, ["index.html", "index.txt"])
    # `root /x` = `root * /x`; relative paths resolve against the Dwaarfile (decision 25)
    m = dw.adapt(S("root srv"))
    assert one(m, "root")["path"] == str((dw.root / "srv").resolve()) and "matcher" not in one(m, "root")
    m = dw.adapt(S("root /static/* srv"))
    assert one(m, "root")["matcher"] == "/static/*"
    # a missing directory is a warning, not an error
    dw.warns(S("root /nonexistent/www"), "root directory '/nonexistent/www' does not exist")
    dw.fails(S("root"), "Dwaarfile:2:5: invalid value for 'root'")
    dw.fails(S("root /a /b /c"), "Dwaarfile:2:16: invalid value for 'root': unexpected argument '/c'")


def test_RT_34_handle_path_with_root(dw):
    (dw.root / "w").mkdir()
    m = dw.adapt(S("""
        handle_path /static/* {
            root * w
            file_server
        }
    """))
    h = one(m, "handle_path")
    assert h["strip_prefix"] == "/static"
    assert [d["directive"] for d in block_dirs(h)] == ["root", "file_server"]
    assert block_dirs(h)[0]["path"] == str((dw.root / "w").resolve())


def test_RT_35_file_server_arguments(dw):
    dw.fails(S("""
        file_server {
            precompressed
        }
    """), "Dwaarfile:3:9: unknown subdirective 'precompressed' inside file_server block; expected 'browse' or 'fallback'")
    dw.fails(S("file_server {\n    hide .git\n}"), "unknown subdirective 'hide' inside file_server block")
    dw.fails(S("file_server foo"), "Dwaarfile:2:17: invalid value for 'file_server': unexpected argument 'foo'")
    m = dw.adapt(S("file_server /static/*"))
    fs = one(m, "file_server")
    assert fs["matcher"] == "/static/*" and fs["browse"] is False


def test_RT_36_file_server_loads_plain(dw):
    # hidden files, NUL and `..` are refused per request (403); nothing to configure
    fs = one(dw.adapt(S("file_server")), "file_server")
    assert fs == {**fs, "terminal": True, "rank": 9, "browse": False}


def test_RT_37_symlink_policy_needs_no_config(dw):
    (dw.root / "www").mkdir()
    (dw.root / "link").symlink_to(dw.root / "www")
    # root is canonicalised at load (symlinks followed), the base of the per-request check
    m = dw.adapt(S("root link\nfile_server"))
    assert one(m, "root")["path"] == str((dw.root / "www").resolve())


def test_RT_38_index_default(dw):
    assert one(dw.adapt(S("file_server")), "file_server")["index"] == ["index.html", "index.txt"]


def test_RT_39_browse_inline(dw):
    assert one(dw.adapt(S("file_server browse")), "file_server")["browse"] is True


def test_RT_40_browse_on_off(dw):
    assert one(dw.adapt(S("file_server {\n    browse off\n}")), "file_server")["browse"] is False
    assert one(dw.adapt(S("file_server {\n    browse\n}")), "file_server")["browse"] is True
    assert one(dw.adapt(S("file_server browse {\n    browse off\n}")), "file_server")["browse"] is False
    dw.fails(S("file_server {\n    browse maybe\n}"), "invalid value for 'browse': 'maybe'")


def test_RT_41_fallback(dw):
    fs = one(dw.adapt(S("file_server {\n    fallback /index.html\n}")), "file_server")
    assert fs["fallback"] == "/index.html"
    assert "fallback" not in one(dw.adapt(S("file_server")), "file_server")


def test_RT_42_fallback_traversal(dw):
    dw.fails(S("file_server {\n    fallback ../x\n}"), "Dwaarfile:3:18: path traversal not allowed")
    dw.fails(S("file_server {\n    fallback /a/../../x\n}"), "path traversal not allowed")
    dw.fails(S('file_server {\n    fallback "a\\\\..\\\\x"\n}'), "path traversal not allowed")
    dw.fails(S("file_server {\n    fallback\n}"), "invalid value for 'fallback'")
    dw.adapt(S("file_server {\n    fallback /a..b.html\n}"))


def test_RT_43_file_server_is_terminal_get_head(dw):
    m = dw.adapt(S("file_server"))
    assert one(m, "file_server")["terminal"] is True and site(m)["routes"] == 1


def test_RT_44_index_names(dw):
    fs = one(dw.adapt(S("file_server {\n    index default.htm index.html\n}")), "file_server")
    assert fs["index"] == ["default.htm", "index.html"]
    dw.fails(S("file_server {\n    index\n}"), "invalid value for 'index'")
    dw.fails(S("file_server {\n    index ../x.html\n}"), "invalid value for 'index'")


def test_RT_45_mime_needs_no_config(dw):
    # MIME types are built in; file_server takes no type table
    dw.fails(S("file_server {\n    mime .x text/x\n}"), "unknown subdirective 'mime' inside file_server block")


# --- try_files, php_fastcgi (§6.5, §6.6) ---------------------------------------------------


def test_RT_46_try_files_spa(dw):
    t = one(dw.adapt(S("try_files {path} /index.html")), "try_files")
    assert (t["rank"], t["files"]) == (5, ["{path}", "/index.html"]) and "status" not in t
    assert "matcher" not in t
    t = one(dw.adapt(S("try_files /app/* {path} /app/index.html")), "try_files")
    assert t["matcher"] == "/app/*" and t["files"] == ["{path}", "/app/index.html"]
    # one argument that looks like a path is the entry, not a matcher (§1.5)
    t = one(dw.adapt(S("try_files /index.html")), "try_files")
    assert "matcher" not in t and t["files"] == ["/index.html"]


def test_RT_47_try_files_status_and_errors(dw):
    t = one(dw.adapt(S("try_files {path} {path}/ =404")), "try_files")
    assert t["files"] == ["{path}", "{path}/"] and t["status"] == 404
    dw.fails(S("try_files"), "Dwaarfile:2:5: expected at least one file pattern")
    dw.fails(S("try_files {path} =302"), "Dwaarfile:2:22: error status must be 400-599")
    dw.fails(S("try_files =404 {path}"), "'=404' must be the last entry")
    dw.fails(S("try_files {nope}"), "Dwaarfile:2:15: unknown placeholder '{nope}'")


def test_RT_48_php_fastcgi_with_root(dw):
    (dw.root / "www").mkdir()
    m = dw.adapt(S("""
        root * www
        php_fastcgi 127.0.0.1:9000
    """))
    php = one(m, "php_fastcgi")
    assert php["terminal"] and php["rank"] == 9
    assert php["address"] == {"network": "tcp", "host": "127.0.0.1", "port": 9000}


def test_RT_49_php_fastcgi_forms(dw):
    m = dw.adapt(S("""
        root /srv
        php_fastcgi :9000
        php_fastcgi /run/php.sock
        php_fastcgi unix/php.sock
        php_fastcgi /app/* localhost:9000
    """))
    addrs = [d["address"] for d in named(m, "php_fastcgi")]
    assert addrs == [
        {"network": "tcp", "host": "127.0.0.1", "port": 9000},
        {"network": "unix", "path": "/run/php.sock"},
        {"network": "unix", "path": addrs[2]["path"]},
        {"network": "tcp", "host": "localhost", "port": 9000},
    ]
    assert same_file(dw, addrs[2]["path"], "php.sock")
    assert named(m, "php_fastcgi")[3]["matcher"] == "/app/*"
    dw.fails(S("root /srv\nphp_fastcgi localhost"), "invalid FastCGI address 'localhost'")
    dw.fails(S("root /srv\nphp_fastcgi http://h:9000"), "invalid FastCGI address 'http://h:9000'")


def test_RT_50_php_fastcgi_takes_no_block(dw):
    dw.fails(S("root /srv\nphp_fastcgi :9000 {\n    split .php\n}"), "'php_fastcgi' does not take a block")


def test_RT_51_php_fastcgi_socket_and_root_scope(dw):
    m = dw.adapt(S("root /srv\nphp_fastcgi unix//run/php.sock"))
    assert one(m, "php_fastcgi")["address"] == {"network": "unix", "path": "/run/php.sock"}
    dw.fails(S("php_fastcgi unix//run/php.sock"), "Dwaarfile:2:5: php_fastcgi requires a 'root' directive")
    dw.fails(S("php_fastcgi"), "invalid value for 'php_fastcgi'")
    # root in scope: later in the same block, an enclosing block, or the site
    dw.adapt(S("php_fastcgi :9000\nroot /srv"))
    dw.adapt(S("""
        handle /app/* {
            php_fastcgi :9000
        }
        root /srv
    """))
    dw.adapt(S("""
        handle /app/* {
            root /srv
            handle {
                php_fastcgi :9000
            }
        }
    """))
    # a root in a sibling block is not in scope
    dw.fails(S("""
        handle /a/* {
            root /srv
        }
        handle /b/* {
            php_fastcgi :9000
        }
    """), "Dwaarfile:6:9: php_fastcgi requires a 'root' directive")


# --- redir (§6.7) ----------------------------------------------------------------------------


def test_RT_52_redir_from_to(dw):
    r = one(dw.adapt(S("redir /old /new")), "redir")
    assert (r["matcher"], r["to"], r["code"], r["rank"]) == ("/old", "/new", 308, 4)
    assert "terminal" not in r
    r = one(dw.adapt(S("redir /about-us /about 301")), "redir")
    assert (r["matcher"], r["to"], r["code"]) == ("/about-us", "/about", 301)


def test_RT_53_redir_keyword_code(dw):
    r = one(dw.adapt(S("redir https://www.example.com{uri} permanent")), "redir")
    assert "matcher" not in r and (r["to"], r["code"]) == ("https://www.example.com{uri}", 301)
    r = one(dw.adapt(S("redir /x temporary")), "redir")
    assert "matcher" not in r and (r["to"], r["code"]) == ("/x", 302)
    r = one(dw.adapt(S('redir /x "307"')), "redir")
    assert r["code"] == 307


def test_RT_54_redir_all_and_bad_code(dw):
    r = one(dw.adapt(S("redir * https://s.example.com 302")), "redir")
    assert (r["matcher"], r["to"], r["code"]) == ("*", "https://s.example.com", 302)
    r = one(dw.adapt(S("@m path /a\nredir @m /b")), "redir")
    assert (r["matcher"], r["to"], r["code"]) == ("@m", "/b", 308)
    dw.fails(S("redir /a /b 399"), f"Dwaarfile:2:17: invalid redirect code 399 {DASH} must be 301, 302, 303, 307, or 308")
    dw.fails(S("redir /b 200"), f"invalid redirect code 200 {DASH} must be")
    dw.fails(S("redir /a /b html"), "invalid redirect code html")
    # decision 18: at most three arguments
    dw.fails(S("redir /a /b 301 extra"), "Dwaarfile:2:21: invalid value for 'redir': too many arguments")
    dw.fails(S("redir"), "Dwaarfile:2:5: invalid value for 'redir'")
    dw.fails(S("redir @nope /b"), "matcher '@nope' is not defined")
    dw.fails(S("redir foo /b"), "invalid value for 'redir': 'foo' is not a path pattern, @matcher or absolute URL")


def test_RT_54_redir_absolute_url_source(dw):
    r = one(dw.adapt(S("redir http://Old.Example.com/blog/{x} https://new.example.com{uri}")), "redir")
    assert (r["from_scheme"], r["from_host"], r["matcher"]) == ("http", "old.example.com", "/blog/*")
    r = one(dw.adapt(S("redir https://old.example.com https://new.example.com{uri} 301")), "redir")
    assert (r["from_host"], r["matcher"], r["code"]) == ("old.example.com", "*", 301)


def test_RT_55_redir_remainder_template(dw):
    r = one(dw.adapt(S("redir /blog/* /articles/{http.request.uri.path.remainder} 301")), "redir")
    assert (r["matcher"], r["to"], r["code"]) == ("/blog/*", "/articles/{http.request.uri.path.remainder}", 301)


def test_RT_56_templates_keep_text_for_request_time(dw):
    # CR/LF of placeholder values are removed per request; the model keeps the template
    m = dw.adapt(S("header X-Q {query.q}\nredir /r /x?{query}"))
    assert one(m, "header")["operations"][0]["value"] == "{query.q}"
    assert one(m, "redir")["to"] == "/x?{query}"


# --- rewrite, uri (§6.8, §6.9) ------------------------------------------------------------


def test_RT_57_rewrite_one_argument(dw):
    r = one(dw.adapt(S("rewrite /index.php")), "rewrite")
    assert "matcher" not in r and r["rank"] == 5
    assert (r["to"], r["path"]) == ("/index.php", "/index.php") and "query" not in r
    r = one(dw.adapt(S("rewrite /old/* /index.php")), "rewrite")
    assert (r["matcher"], r["to"]) == ("/old/*", "/index.php")
    dw.fails(S("rewrite"), "Dwaarfile:2:5: expected target path")
    dw.fails(S("@m path /x\nrewrite @m"), "Dwaarfile:3:13: expected target path")
    dw.fails(S("rewrite /a /b /c"), "Dwaarfile:2:19: invalid value for 'rewrite': unexpected argument '/c'")


def test_RT_58_rewrite_in_handle_with_remainder(dw):
    m = dw.adapt(S("""
        handle /v2/* {
            rewrite /v1{http.request.uri.path.remainder}
            reverse_proxy a:1
        }
    """))
    r = block_dirs(one(m, "handle"))[0]
    assert (r["directive"], r["to"]) == ("rewrite", "/v1{http.request.uri.path.remainder}")


def test_RT_59_rewrite_replaces_query(dw):
    r = one(dw.adapt(S("rewrite /search?q={query.term}")), "rewrite")
    assert (r["path"], r["query"]) == ("/search", "q={query.term}")


def test_RT_60_uri_strip(dw):
    m = dw.adapt(S("""
        uri strip_prefix /api
        uri strip_prefix api
        uri strip_suffix .html
        uri /x/* strip_prefix /x
    """))
    ops = [(d["op"], d["value"]) for d in dirs(m)]
    assert ops == [("strip_prefix", "/api"), ("strip_prefix", "/api"), ("strip_suffix", ".html"),
                   ("strip_prefix", "/x")]
    assert dirs(m)[3]["matcher"] == "/x/*" and dirs(m)[0]["rank"] == 5
    dw.fails(S("uri strip_prefix"), "Dwaarfile:2:9: expected prefix to strip")
    dw.fails(S("uri strip_suffix"), "expected suffix to strip")


def test_RT_61_uri_replace_and_unknown(dw):
    u = one(dw.adapt(S("uri replace /v1 /v2")), "uri")
    assert (u["op"], u["find"], u["replace"]) == ("replace", "/v1", "/v2")
    dw.fails(S("uri frob x"), f"Dwaarfile:2:9: unknown operation 'frob' {DASH} expected strip_prefix, strip_suffix, or replace")
    dw.fails(S("uri replace /v1"), "expected replacement text")
    dw.fails(S("uri"), "invalid value for 'uri'")
    dw.fails(S("uri replace a b c"), "invalid value for 'uri': unexpected argument 'c'")


# --- respond, error, abort (§6.11-§6.13) ---------------------------------------------------


def test_RT_62_respond_forms(dw):
    m = dw.adapt(S("""
        respond
        respond 204
        respond "pong"
        respond "x" 503
        respond 200 "b"
        respond "404"
        respond 1234
        respond "200" "404"
    """))
    got = [(d["status"], d["body"]) for d in dirs(m)]
    assert got == [(200, ""), (204, ""), (200, "pong"), (503, "x"), (200, "b"), (404, ""), (200, "1234"),
                   (404, "200")]
    assert all(d["terminal"] and d["rank"] == 9 for d in dirs(m))
    dw.fails(S('respond "a" 200 extra'), "Dwaarfile:2:21: invalid value for 'respond': too many arguments")


def test_RT_63_respond_status_range(dw):
    dw.fails(S('respond "x" 700'), f"Dwaarfile:2:17: invalid HTTP status code 700 {DASH} must be 100-599")
    dw.fails(S("respond 099"), "invalid HTTP status code 099")
    dw.fails(S('respond "x" abc'), "invalid HTTP status code abc")


def test_RT_64_respond_placeholder_status(dw):
    m = dw.adapt(S("""
        handle_errors {
            respond "{http.error.status_code}" {http.error.status_code}
        }
    """))
    r = block_dirs(one(m, "handle_errors"))[0]
    assert r["status_template"] == "{http.error.status_code}" and r["body"] == "{http.error.status_code}"
    assert "status" not in r
    dw.fails(S('respond "x" {nope}'), "unknown placeholder '{nope}'")


def test_RT_65_error_forms(dw):
    m = dw.adapt(S("""
        error "Forbidden" 403
        error 410
        error "boom"
        error
        error 404 "Not here"
    """))
    got = [(d["status"], d["message"]) for d in dirs(m)]
    assert got == [(403, "Forbidden"), (410, ""), (500, "boom"), (500, ""), (404, "Not here")]
    assert all(d["terminal"] for d in dirs(m))
    dw.fails(S("error 302"), "Dwaarfile:2:11: error status must be 400-599")
    dw.fails(S('error "x" 600'), "error status must be 400-599")
    dw.fails(S('error "x" 42'), "error status must be 400-599")
    dw.fails(S('error "a" 500 b'), "invalid value for 'error': too many arguments")


def test_RT_66_abort(dw):
    a = one(dw.adapt(S("abort")), "abort")
    assert a["terminal"] and a["rank"] == 9
    assert one(dw.adapt(S("abort /x/*")), "abort")["matcher"] == "/x/*"
    dw.fails(S("abort x"), "Dwaarfile:2:11: invalid value for 'abort': unexpected argument 'x'")


# --- handle_errors (§6.14) -------------------------------------------------------------------


def test_RT_67_handle_errors_page(dw):
    m = dw.adapt(S("""
        handle_errors {
            @nf expression {http.error.status_code} == 404
            rewrite @nf /404.html
            file_server
        }
    """))
    he = one(m, "handle_errors")
    assert he["block"]["matchers"]["@nf"][0]["ast"] == {
        "op": "==", "args": [{"placeholder": "http.error.status_code"}, {"int": 404}]}
    rw, fs = block_dirs(he)
    assert (rw["directive"], rw["matcher"], rw["to"]) == ("rewrite", "@nf", "/404.html")
    assert fs["directive"] == "file_server" and fs["terminal"]


def test_RT_68_handle_errors_class(dw):
    m = dw.adapt(S('handle_errors 5xx {\n    respond "down"\n}'))
    he = one(m, "handle_errors")
    assert he["statuses"] == ["5xx"] and block_dirs(he)[0]["body"] == "down"


def test_RT_69_respond_500_is_not_an_error(dw):
    m = dw.adapt(S('respond "x" 500\nhandle_errors {\n    respond "handled"\n}'))
    r = named(m, "respond")[0]
    assert r["status"] == 500 and r["directive"] == "respond"


def test_RT_70_handle_errors_errors(dw):
    dw.fails(S("handle_errors"), "Dwaarfile:2:5: expected '{'")
    dw.fails(S("handle_errors {\n    respond 1\n}\nhandle_errors {\n    respond 2\n}"), "handle_errors")


# --- header, request_header (§6.15, §6.16, decision 13) -------------------------------------


def test_RT_71_header_set(dw):
    h = one(dw.adapt(S("header X-Frame-Options DENY")), "header")
    assert h["operations"] == [{"op": "set", "name": "X-Frame-Options", "value": "DENY"}]
    assert h["rank"] == 4


def test_RT_72_header_operations(dw):
    m = dw.adapt(S("""
        header -Server
        header +Link a
        header ?Cache-Control x
        header X-A old new
        header -X-Debug-*
        header /api/* X-Api 1
        header {
            -Server
            +Link "<a>; rel=x"
            X-B 2
        }
        header @m {
            ?X-C 3
        }
        @m path /m
    """))
    ops = [d["operations"] for d in dirs(m)]
    assert ops[:6] == [
        [{"op": "delete", "name": "Server"}],
        [{"op": "add", "name": "Link", "value": "a"}],
        [{"op": "set_if_absent", "name": "Cache-Control", "value": "x"}],
        [{"op": "replace", "name": "X-A", "find": "old", "replace": "new"}],
        [{"op": "delete_prefix", "name": "X-Debug-"}],
        [{"op": "set", "name": "X-Api", "value": "1"}],
    ]
    assert dirs(m)[5]["matcher"] == "/api/*"
    assert ops[6] == [{"op": "delete", "name": "Server"}, {"op": "add", "name": "Link", "value": "<a>; rel=x"},
                      {"op": "set", "name": "X-B", "value": "2"}]
    assert dirs(m)[7]["matcher"] == "@m" and ops[7] == [{"op": "set_if_absent", "name": "X-C", "value": "3"}]


def test_RT_73_header_errors(dw):
    dw.fails(S("header X-A"), "Dwaarfile:2:12: expected header value")
    dw.fails(S("header +X-A"), "expected header value")
    dw.fails(S("header {\n    X-A\n}"), "Dwaarfile:3:9: expected header value")
    dw.fails(S("header"), "Dwaarfile:2:5: expected header name")
    dw.fails(S("header -Server x"), "invalid value for 'header': unexpected argument 'x'")
    dw.fails(S("header X-A a b c"), "invalid value for 'header': unexpected argument 'c'")
    dw.fails(S("header Bad:Name v"), "invalid header name 'Bad:Name'")


def test_RT_74_request_header(dw):
    m = dw.adapt(S("""
        request_header X-Real {remote_host}
        request_header -Cookie
        request_header +X-A 2
        request_header ?X-B 1
        request_header X-C a b
        request_header {
            X-D 4
        }
    """))
    ops = [d["operations"][0] for d in dirs(m)]
    assert [o["op"] for o in ops] == ["set", "delete", "add", "set_if_absent", "replace", "set"]
    assert ops[0]["value"] == "{remote_host}"
    assert all(d["rank"] == 7 and d["directive"] == "request_header" for d in dirs(m))
    dw.fails(S("request_header X-A"), "expected header value")


# --- method, vars, map (§6.17-§6.19) --------------------------------------------------------


def test_RT_75_method(dw):
    m = dw.adapt(S("method POST\nmethod /x/* put"))
    a, b = dirs(m)
    assert (a["method"], a["rank"]) == ("POST", 5)
    assert (b["method"], b["matcher"]) == ("PUT", "/x/*")
    dw.fails(S("method"), "invalid value for 'method'")
    dw.fails(S("method GET POST"), "invalid value for 'method': unexpected argument 'POST'")
    dw.fails(S("method G(T"), "is not a valid HTTP method")


def test_RT_76_vars(dw):
    m = dw.adapt(S("""
        vars region eu
        vars {
            tier gold
            owner {header.X-Owner}
        }
        header X-R {vars.region}
        header X-T {tier}
        header X-H {http.vars.owner}
    """))
    v1, v2 = named(m, "vars")
    assert v1["vars"] == [{"name": "region", "value": "eu"}] and v1["rank"] == 1
    assert v2["vars"] == [{"name": "tier", "value": "gold"}, {"name": "owner", "value": "{header.X-Owner}"}]
    # a variable declared anywhere may be used anywhere (checked after the whole file)
    dw.adapt(S("header X-R {region}") + S("vars region eu", addr=":8081"))
    dw.fails(S("vars region"), "Dwaarfile:2:10: invalid value for 'vars': expected a value for 'region'")
    dw.fails(S("vars"), "invalid value for 'vars'")
    dw.fails(S("vars a b c"), "invalid value for 'vars': unexpected argument 'c'")
    dw.fails(S("vars {nope} x"), "invalid variable name")


def test_RT_77_map_exact_and_default(dw):
    m = dw.adapt(S("""
        map {query.mode} {vars.ttl} {
            fast 30
            slow 3600
            default 300
        }
        header X-TTL {ttl}
    """))
    mp = one(m, "map")
    assert (mp["source"], mp["dest"], mp["rank"]) == ("{query.mode}", "ttl", 1)
    assert mp["entries"] == [
        {"kind": "exact", "pattern": "fast", "value": "30"},
        {"kind": "exact", "pattern": "slow", "value": "3600"},
        {"kind": "default", "value": "300"},
    ]
    for dest in ("ttl", "vars.ttl", "{vars.ttl}"):
        assert one(dw.adapt(S(f"map {{path}} {dest} {{\n    a 1\n}}")), "map")["dest"] == "ttl"


def test_RT_78_map_regex(dw):
    mp = one(dw.adapt(S("map {path} s {\n    ~/blog/.* blog\n    default root\n}")), "map")
    assert mp["entries"] == [{"kind": "regex", "pattern": "/blog/.*", "value": "blog"},
                             {"kind": "default", "value": "root"}]
    # no default: no hit leaves the variable empty
    mp = one(dw.adapt(S("map {path} s {\n    /a x\n}")), "map")
    assert all(e["kind"] != "default" for e in mp["entries"])


def test_RT_79_map_errors(dw):
    dw.fails(S("map {path} s {\n    ~(unclosed x\n}"), "Dwaarfile:3:9: invalid regular expression '(unclosed'")
    dw.fails(S("map {path} s"), "Dwaarfile:2:5: expected '{'")
    dw.fails(S("map {path} {\n    a 1\n}"), "invalid value for 'map'")
    dw.fails(S("map {path} s {\n    a\n}"), "invalid value for 'map': expected a value for 'a'")
    dw.fails(S("map {path} s {\n    default 1\n    default 2\n}"), "duplicate 'default' entry")
    dw.fails(S("map {nope} s {\n    a 1\n}"), "unknown placeholder '{nope}'")


# --- placeholders (§7) ---------------------------------------------------------------------


def test_RT_80_unknown_placeholder_and_literals(dw):
    dw.fails(S('respond "{nonexistent}"'), "Dwaarfile:2:13: unknown placeholder '{nonexistent}'")
    r = one(dw.adapt(S('respond `{"a":1}`')), "respond")
    assert r["body"] == '{"a":1}'
    m = dw.adapt(S(r'''
        respond "\\{path} {} { x } {a b}"
        header X-J `{"k": "{path}"}`
    '''))
    assert one(m, "respond")["body"] == r"\{path} {} { x } {a b}"
    # every unknown placeholder is reported, each at its token
    err = dw.fails(S("header X-A {bad1}\nrewrite /x{bad2}"), "Dwaarfile:2:16: unknown placeholder '{bad1}'")
    assert "Dwaarfile:3:13: unknown placeholder '{bad2}'" in err
    # only template values are checked: a matcher path pattern is not a template
    dw.adapt(S("respond /{x} 200"))


def test_RT_81_known_placeholders(dw):
    names = ["host", "hostport", "port", "method", "scheme", "path", "query", "query.k", "uri", "remote_host",
             "remote_ip", "remote_port", "client_ip", "header.User-Agent", "cookie.c", "request_id", "file.ext",
             "file.base", "dir", "tls_server_name", "tls_cipher", "upstream.host", "upstream.port",
             "http.request.uri.path.1", "http.request.uri.path.remainder", "http.request.host",
             "http.request.hostport", "http.request.port", "http.request.method", "http.request.scheme",
             "http.request.uri.path", "http.request.uri.path.dir", "http.request.uri.path.file.base",
             "http.request.uri.path.file.ext", "http.request.uri.query", "http.request.uri.query.k",
             "http.request.uri", "http.request.orig_uri", "http.request.remote.host", "http.request.remote.port",
             "http.vars.client_ip", "http.request.header.X-A", "http.request.cookie.c", "http.request.id",
             "http.request.tls.server_name", "http.request.tls.cipher_suite", "http.reverse_proxy.upstream.host",
             "http.reverse_proxy.upstream.port", "vars.any", "http.vars.any", "re.m.1", "http.regexp.m.1",
             "http.error.status_code", "http.error.status_text", "http.error.message"]
    body = "\n".join(f"header X-{i} {{{n}}}" for i, n in enumerate(names))
    m = dw.adapt(S(body))
    assert len(dirs(m)) == len(names)
    for bad in ("http.request.uri.path.x", "query.", "header.", "http.request", "upstream"):
        dw.fails(S(f"header X {{{bad}}}"), f"unknown placeholder '{{{bad}}}'")
