"""Named matchers evaluated on real requests (spec 10 §5, decisions 21 and 37; checklist
MT-01..MT-16). MT-09 only in its plain-HTTP half (`protocol https` never matches here).
Model-level twins: tests/10_config/test_matchers.py."""
import textwrap

from livetest import free_port
from rtlive import G, conf, start_fails


def site(body, addr="http://a.test", glob=G):
    return glob + addr + " {\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n}\n"


def text(srv, path="/", method="GET", headers=None, host="a.test", body=None):
    if body is None and method in ("POST", "PUT"):
        body = b""
    r = srv.request(method, path, host=host, headers=headers, body=body)
    assert r.status == 200, (method, path, r.status, r.body)
    return r.text


def test_MT_01_block_conditions_anded_methods_ored(live):
    srv = live.start(site("""
        @api {
            path /api/*
            method GET POST
        }
        respond @api "api"
        respond "other"
    """))
    assert text(srv, "/api/x") == "api"
    assert text(srv, "/api/x", "POST") == "api"
    assert text(srv, "/api/x", "DELETE") == "other"
    assert text(srv, "/x") == "other"
    assert text(srv, "/x", "POST") == "other"


def test_MT_02_path_any_of(live):
    srv = live.start(site("""
        @m path /health /status
        respond @m "hit"
        respond "miss"
    """))
    assert [text(srv, p) for p in ("/health", "/status", "/x", "/healthz")] == ["hit", "hit", "miss", "miss"]


def test_MT_03_inline_equals_block(live):
    srv = live.start(G + conf("""
        http://i.test {
            @m path /a/*
            respond @m "hit"
            respond "miss"
        }
        http://b.test {
            @m {
                path /a/*
            }
            respond @m "hit"
            respond "miss"
        }
    """))
    paths = ["/a/", "/a/b", "/A/b/c", "/a", "/b/a/x"]
    inline = [text(srv, p, host="i.test") for p in paths]
    block = [text(srv, p, host="b.test") for p in paths]
    assert inline == block == ["hit", "hit", "hit", "miss", "miss"]


def test_MT_04_path_regexp_capture(live):
    srv = live.start(site(r"""
        @legacy path_regexp legacy \.php$
        @old path_regexp ^/old/([a-z]+)/(\d+)$
        respond @legacy "php {re.legacy.0}"
        respond @old "old {re.old.1} {re.old.2} [{re.old.3}]"
        respond "miss"
    """))
    assert text(srv, "/x.php") == "php .php"
    assert text(srv, "/a/b/index.php?x=1") == "php .php"
    assert text(srv, "/x.php5") == "miss"
    assert text(srv, "/old/item/42") == "old item 42 []"
    assert text(srv, "/old/item/x") == "miss"


def test_MT_04_bad_regex_refused(live):
    start_fails(live, site("@m path_regexp x (\nrespond @m 200"), "invalid regular expression")


def test_MT_05_host(live):
    srv = live.start(G + conf("""
        :{PORT} {
            @h host api.example.com *.dev.example.com
            respond @h "hit"
            respond "miss"
        }
    """))
    hits = ["api.example.com", "API.Example.COM", f"api.example.com:{srv.port}", "x.dev.example.com"]
    misses = ["example.com", "a.b.dev.example.com", "dev.example.com", "other.example.com", "api.example.co"]
    assert [text(srv, host=h) for h in hits] == ["hit"] * len(hits)
    assert [text(srv, host=h) for h in misses] == ["miss"] * len(misses)


def test_MT_06_header_presence_exact_prefix(live):
    srv = live.start(site("""
        @present header X-Internal
        @exact header X-Role admin
        @prefix header X-Role adm*
        @suffix header X-Role *min
        @substr header X-Up *grade*
        respond @present "present"
        respond @exact "exact"
        respond @prefix "prefix"
        respond @suffix "suffix"
        respond @substr "substr"
        respond "none"
    """))
    assert text(srv, headers={"X-Internal": "yes"}) == "present"
    assert text(srv, headers={"X-Internal": ""}) == "present"   # decision 37: empty value is present
    assert text(srv, headers={"X-Role": "admin"}) == "exact"
    assert text(srv, headers={"x-role": "admin"}) == "exact"     # names are case-insensitive
    assert text(srv, headers={"X-Role": "administrator"}) == "prefix"
    assert text(srv, headers={"X-Role": "sysmin"}) == "suffix"
    assert text(srv, headers={"X-Role": "user"}) == "none"
    assert text(srv, headers={"X-Up": "h2c-upgrade-x"}) == "substr"  # decision 21
    assert text(srv) == "none"


def test_MT_07_header_regexp(live):
    srv = live.start(site(r"""
        @bearer header_regexp tok Authorization ^Bearer\s+(\S+)
        respond @bearer "token={re.tok.1}"
        respond "no"
    """))
    assert text(srv, headers={"Authorization": "Bearer abc"}) == "token=abc"
    assert text(srv, headers={"Authorization": "Basic x"}) == "no"
    assert text(srv, headers={"Authorization": "xBearer abc"}) == "no"
    assert text(srv) == "no"


def test_MT_07_header_regexp_default_capture_name(live):
    srv = live.start(site(r"""
        @ver header_regexp X-Ver ^v(\d+)
        respond @ver "v={re.ver.1}"
        respond "no"
    """))
    assert text(srv, headers={"X-Ver": "v12-beta"}) == "v=12"
    assert text(srv, headers={"X-Ver": "12"}) == "no"


def test_MT_08_query(live):
    srv = live.start(site("""
        @both query version=2 format=json
        @dbg query debug=*
        @flag query trace
        respond @both "both"
        respond @dbg "debug"
        respond @flag "flag"
        respond "none"
    """))
    assert text(srv, "/?version=2&format=json") == "both"
    assert text(srv, "/?format=json&x=1&version=2") == "both"
    assert text(srv, "/?version=%32&format=js%6Fn") == "both"   # values are decoded
    assert text(srv, "/?version=2") == "none"
    assert text(srv, "/?version=3&format=json") == "none"
    assert text(srv, "/?debug=1") == "debug"
    assert text(srv, "/?debug=") == "debug"                       # decision 37
    assert text(srv, "/?debugx=1") == "none"
    assert text(srv, "/?trace") == "flag"
    assert text(srv, "/") == "none"


def test_MT_09_protocol_plain_half_and_grpc(live):
    srv = live.start(site("""
        @tls protocol https
        @grpc protocol grpc
        @h11 protocol http/1.1
        @plain protocol http
        respond @tls "https"
        respond @grpc "grpc"
        respond @h11 "h11"
        respond @plain "http"
    """))
    assert text(srv) == "h11"
    for ct in ("application/grpc", "application/grpc+proto"):
        assert text(srv, "/svc/M", "POST", headers={"Content-Type": ct}) == "grpc", ct
    assert text(srv, "/", "POST", headers={"Content-Type": "application/json"}) == "h11"


def test_MT_09_protocol_http_matches_plain(live):
    srv = live.start(site("""
        @tls protocol https
        @plain protocol http
        respond @tls "https"
        respond @plain "http"
        respond "none"
    """))
    assert text(srv) == "http"
    r = srv.raw(b"GET / HTTP/1.0\r\nHost: a.test\r\n\r\n")
    assert r.endswith(b"\r\n\r\nhttp"), r


def test_MT_10_remote_ip(live):
    srv = live.start(site("""
        @ten remote_ip 10.0.0.0/8
        @lo remote_ip 127.0.0.0/8
        respond @ten "ten"
        respond @lo "loopback"
        respond "none"
    """))
    assert text(srv) == "loopback"
    # X-Forwarded-For never changes the TCP peer
    assert text(srv, headers={"X-Forwarded-For": "10.1.1.1"}) == "loopback"
    srv2 = live.start(site("""
        @ten remote_ip 10.0.0.0/8
        @host remote_ip 127.0.0.2 127.0.0.1
        respond @ten "ten"
        respond @host "host"
        respond "none"
    """))
    assert text(srv2) == "host"


def test_MT_10_remote_ip_private_ranges(live):
    srv = live.start(site("""
        @p remote_ip private_ranges
        @v6 remote_ip ::1/128 192.0.2.0/24
        respond @v6 "v6"
        respond @p "private"
        respond "none"
    """))
    assert text(srv) == "private"


def test_MT_10_bad_cidr_refused(live):
    start_fails(live, site("@m remote_ip 300.1.1.1/8\nrespond @m 200"), "300.1.1.1/8")


def test_MT_11_client_ip_trusts_xff_only_from_trusted_proxies(live):
    trusted = "{\n    http_port {PORT}\n    servers {\n        trusted_proxies static 127.0.0.1/32\n    }\n}\n"
    body = """
        @c client_ip 10.0.0.0/8
        respond @c "inside {client_ip}"
        respond "outside {client_ip}"
    """
    srv = live.start(site(body, glob=trusted))
    assert text(srv, headers={"X-Forwarded-For": "10.9.9.9"}) == "inside 10.9.9.9"
    assert text(srv, headers={"X-Forwarded-For": "10.9.9.9, 127.0.0.1"}) == "inside 10.9.9.9"
    assert text(srv, headers={"X-Forwarded-For": "junk, 10.2.2.2"}) == "inside 10.2.2.2"
    assert text(srv, headers={"X-Forwarded-For": "8.8.8.8"}) == "outside 8.8.8.8"
    assert text(srv) == "outside 127.0.0.1"
    # a peer outside trusted_proxies: X-Forwarded-For is ignored
    untrusted = "{\n    http_port {PORT}\n    servers {\n        trusted_proxies static 192.0.2.0/24\n    }\n}\n"
    srv2 = live.start(site(body, glob=untrusted))
    assert text(srv2, headers={"X-Forwarded-For": "10.9.9.9"}) == "outside 127.0.0.1"
    srv3 = live.start(site(body))
    assert text(srv3, headers={"X-Forwarded-For": "10.9.9.9"}) == "outside 127.0.0.1"


def test_MT_12_not(live):
    srv = live.start(site("""
        @private {
            not {
                path /public/*
            }
            method GET
        }
        @inline not path /x
        respond @private "private"
        respond @inline "inline"
        respond "other"
    """))
    assert text(srv, "/private") == "private"
    assert text(srv, "/public/a") == "inline"
    assert text(srv, "/private", "POST") == "inline"
    assert text(srv, "/x", "POST") == "other"


def test_MT_13_expression_on_error_status(live):
    dead = free_port()
    srv = live.start(site(conf("""
        handle_errors {
            @five expression {http.error.status_code} >= 500
            respond @five "five {http.error.status_code}" {http.error.status_code}
        }
        error /nf 404
        reverse_proxy 127.0.0.1:${dead}
    """, dead=dead)))
    r = srv.get("/x", host="a.test")
    assert (r.status, r.text) == (502, "five 502")
    r = srv.get("/nf", host="a.test")
    assert (r.status, r.body) == (404, b"")


def test_MT_13_expression_on_request(live):
    srv = live.start(site("""
        @m expression {method} == 'GET' && {path} != '/x'
        @n expression "!({query.n} < 3 || {query.n} > 10)"
        respond @m "m"
        respond @n "n"
        respond "none"
    """))
    assert text(srv, "/y") == "m"
    assert text(srv, "/x") == "none"
    assert text(srv, "/y", "POST") == "none"
    assert text(srv, "/x?n=5") == "n"
    assert text(srv, "/x?n=10") == "n"
    assert text(srv, "/x?n=11") == "none"
    assert text(srv, "/x?n=2") == "none"


def test_MT_13_bad_expression_refused(live):
    start_fails(live, site("@m expression foo(\nrespond @m 200"), "unsupported expression")


def test_MT_14_file(live):
    www = live.tmp / "www"
    (www / "dir").mkdir(parents=True)
    (www / "empty").mkdir()
    (www / "a.txt").write_text("a")
    (www / "dir" / "index.html").write_text("i")
    srv = live.start(site(f"""
        root * {www}
        @f file {{
            try_files {{path}} {{path}}/index.html
        }}
        respond @f "exists"
        respond "missing"
    """))
    assert text(srv, "/a.txt") == "exists"
    assert text(srv, "/dir") == "exists"
    assert text(srv, "/nope.txt") == "missing"
    assert text(srv, "/empty/x") == "missing"
    assert text(srv, "/a.txt/") == "missing"


def test_MT_15_unknown_condition_never_matches(live):
    srv = live.start(site("""
        @m vars_regexp x y
        @n {
            path /a
            frob
        }
        respond @m "m"
        respond @n "n"
        respond "none"
    """))
    assert text(srv, "/") == "none"
    assert text(srv, "/a") == "none"
    err = srv.stop()
    assert "warning: unknown matcher condition 'vars_regexp'" in err, err


def test_MT_16_duplicate_refused(live):
    start_fails(live, site("@a path /x\n@a path /y\nrespond @a 200"), "matcher '@a' is already defined")


def test_MT_16_empty_matcher_matches_all_and_inner_shadows(live):
    srv = live.start(site("""
        @all {
        }
        @a path /x
        handle /in/* {
            @a path /in/y
            respond @a "inner"
            respond "in-other"
        }
        respond @a "outer"
        respond @all "all"
    """))
    for path, method in (("/", "GET"), ("/q?z=1", "POST"), ("/deep/er", "DELETE")):
        assert text(srv, path, method) == "all"
    assert text(srv, "/x") == "outer"
    assert text(srv, "/in/y") == "inner"
    assert text(srv, "/in/x") == "in-other"
