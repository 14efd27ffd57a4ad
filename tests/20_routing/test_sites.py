"""Request -> site selection against a running `dwaar run` (spec 10 §3, checklist SITE-01..13;
SITE-12, HTTP/2 :authority, is left to the HTTP/2 tests). Plain HTTP only: the TLS halves of
SITE-06/07 are checked as "plain HTTP answers". Config-level forms: tests/10_config/test_sites.py."""
import json
import subprocess

from dwaartest import DWAAR_BIN

from livetest import free_port
from rtlive import G, conf, security_headers, start_fails


def body(srv, host, path="/", port=None):
    r = srv.get(path, host=host, port=port)
    assert r.status == 200, (host, r.status, r.body)
    return r.text


def test_SITE_01_host_case_and_port(live):
    srv = live.start(G + conf("""
        http://api.example.com:{PORT} {
            respond "api"
        }
    """))
    port = srv.port
    for host in ("api.example.com", "API.Example.com", f"API.Example.com:{port}",
                 f"api.example.com:{port}", "api.example.com.", f"Api.Example.Com.:{port}"):
        assert body(srv, host) == "api", host
    r = srv.get("/", host="other.example.com")
    assert r.status == 502 and r.body == b""


def test_SITE_01_selection_is_per_local_port(live):
    p1, p2 = free_port(), free_port()
    srv = live.start(G + conf("""
        http://a.test:${p1} {
            respond "one"
        }
        http://a.test:${p2} {
            respond "two"
        }
    """, p1=p1, p2=p2), port=p1, wait_ports=[p1, p2])
    assert body(srv, "a.test", port=p1) == "one"
    assert body(srv, "a.test", port=p2) == "two"
    # the Host's port is not used to pick the site: the local port is
    assert body(srv, f"a.test:{p2}", port=p1) == "one"


def test_SITE_02_exact_beats_wildcard(live):
    # the wildcard is written first: the exact key still wins
    srv = live.start(G + conf("""
        http://*.example.com {
            respond "wild {host}"
        }
        http://api.example.com {
            respond "exact"
        }
    """))
    assert body(srv, "api.example.com") == "exact"
    assert body(srv, "web.example.com") == "wild web.example.com"
    assert body(srv, "WEB.example.com") == "wild web.example.com"


def test_SITE_03_wildcard_is_one_label(live):
    srv = live.start(G + conf("""
        http://*.example.com {
            respond "wild"
        }
    """))
    assert body(srv, "a.example.com") == "wild"
    for host in ("a.b.example.com", "example.com", "aexample.com", "a.example.org"):
        r = srv.get("/", host=host)
        assert (r.status, r.body) == (502, b""), host


def test_SITE_04_several_addresses_per_block(live):
    srv = live.start(G + conf("""
        http://a.com, http://b.com {
            respond "ab {host}"
        }
        http://c.com http://d.com {
            respond "cd {host}"
        }
        http://e.com,http://f.com {
            respond "ef {host}"
        }
    """))
    for h, want in (("a.com", "ab"), ("b.com", "ab"), ("c.com", "cd"), ("d.com", "cd"),
                    ("e.com", "ef"), ("f.com", "ef")):
        assert body(srv, h) == f"{want} {h}"
    assert srv.get("/", host="g.com").status == 502


def test_SITE_05_port_catch_all(live):
    srv = live.start(G + conf("""
        http://a.test {
            respond "a"
        }
        :{PORT} {
            respond "c"
        }
    """))
    assert body(srv, "a.test") == "a"
    for host in ("unknown.test", "10.1.2.3", "127.0.0.1", f"x.y.z:{srv.port}"):
        assert body(srv, host) == "c", host
    # even /healthz of a private IP: a matching (catch-all) site disables the platform bypass
    assert body(srv, "10.1.2.3", "/healthz") == "c"
    # HTTP/1.0 without Host reaches the catch-all (spec 40)
    raw = srv.raw(b"GET / HTTP/1.0\r\n\r\n")
    assert raw.startswith(b"HTTP/1.") and b" 200 " in raw.split(b"\r\n")[0], raw
    assert raw.endswith(b"\r\n\r\nc"), raw


def test_SITE_06_localhost_and_ip_sites_are_plain(live):
    p1, p2 = free_port(), free_port()
    srv = live.start(G + conf("""
        localhost:${p1} {
            respond "local"
        }
        127.0.0.1:${p2} {
            respond "ip"
        }
    """, p1=p1, p2=p2), port=p1, wait_ports=[p1, p2])
    assert body(srv, "localhost", port=p1) == "local"
    assert body(srv, f"localhost:{p1}", port=p1) == "local"
    assert body(srv, "127.0.0.1", port=p2) == "ip"
    assert body(srv, f"127.0.0.1:{p2}", port=p2) == "ip"
    # no redirect to HTTPS, no HSTS on these plain sites
    r = srv.get("/", host="localhost", port=p1)
    assert r.header("Strict-Transport-Security") is None and r.header("Location") is None
    # each name only on its own port
    assert srv.get("/", host="127.0.0.1", port=p1).status == 502
    assert srv.get("/", host="localhost", port=p2).status == 502


def test_SITE_07_http_scheme_with_port_is_plain(live):
    srv = live.start(G + conf("""
        http://example.com:{PORT} {
            respond "plain"
        }
    """))
    r = srv.get("/x?y=1", host="example.com")
    assert (r.status, r.text) == (200, "plain")
    assert r.header("Location") is None and r.header("Strict-Transport-Security") is None


def test_SITE_08_unmatched_host_502_empty(live):
    srv = live.start(G + conf("""
        http://a.test {
            respond "a"
        }
    """))
    for host in ("b.test", "a.test.evil", "xa.test"):
        r = srv.get("/", host=host)
        assert (r.status, r.body) == (502, b""), (host, r.headers)
    r = srv.request("POST", "/x", host="nope.test", body=b"data")
    assert (r.status, r.body) == (502, b"")


def test_SITE_08_unmatched_host_502_has_security_headers(live):
    # spec 20 §2.1: response hooks run for every response, Dwaar-generated ones included
    srv = live.start(G + conf("""
        http://a.test {
            respond "a"
        }
    """))
    security_headers(srv.get("/", host="b.test"))


def test_SITE_09_platform_health_bypass(live):
    srv = live.start(G + conf("""
        http://a.test {
            respond "a"
        }
    """))
    for path in ("/healthz", "/health", "/ready", "/live", "/metrics"):
        for host in ("10.1.2.3", "172.16.0.9", "192.168.1.1", f"10.1.2.3:{srv.port}"):
            r = srv.get(path, host=host)
            assert r.status == 200, (path, host, r.status)
            assert r.header("Content-Type", "").startswith("application/json"), r.headers
            doc = json.loads(r.body)
            assert doc["status"] == "ok" and doc["service"] == "dwaar", doc
            assert isinstance(doc["version"], str) and doc["version"], doc
    version = subprocess.run([DWAAR_BIN, "version"], capture_output=True, text=True).stdout.split()[-1]
    assert json.loads(srv.get("/healthz", host="10.1.2.3").body)["version"] == version
    r = srv.request("HEAD", "/healthz", host="10.1.2.3")
    assert r.status == 200 and r.body == b""
    # POST, other paths, public or loopback IPs, names: ordinary unmatched host
    assert (srv.request("POST", "/healthz", host="10.1.2.3", body=b"").status) == 502
    assert srv.get("/other", host="10.1.2.3").status == 502
    assert srv.get("/healthz/x", host="10.1.2.3").status == 502
    for host in ("8.8.8.8", "172.32.0.1", "127.0.0.1", "health.test"):
        r = srv.get("/healthz", host=host)
        assert (r.status, r.body) == (502, b""), host


def test_SITE_10_ambiguous_site_refused(live):
    start_fails(live, G + conf("""
        http://a.test {
            respond 1
        }
        http://A.test {
            respond 2
        }
    """), "ambiguous site definition")
    start_fails(live, G + ":{PORT} {\n}\n:{PORT} {\n}\n", "ambiguous site definition")


def test_SITE_11_invalid_addresses_refused(live):
    start_fails(live, G + "example.com/path {\n}\n", "site address must not contain a path")
    start_fails(live, G + "bad_host!.com {\n}\n", "invalid site address 'bad_host!.com'")


def test_SITE_13_global_block_only_listens(live):
    srv = live.start(G)
    r = srv.get("/", host="a.test")
    assert (r.status, r.body) == (502, b"")
    assert srv.get("/healthz", host="10.0.0.1").status == 200
