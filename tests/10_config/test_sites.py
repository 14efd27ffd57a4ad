"""Site addresses (spec 10 §3.1-3.2, spec 20 §1.1, decisions 10, 11): SITE-10, SITE-11 and the
address table, checked on the model's addresses (host key, port, TLS)."""
from dwaartest import addrs, site


def test_address_table(dw):
    m = dw.adapt(
        "example.com {\n}\n*.wild.example {\n}\nexample.org:8443 {\n}\nhttp://plain.example {\n}\n"
        "https://secure.example {\n}\n127.0.0.1 {\n}\n[::1]:9001 {\n}\nlocalhost {\n}\nintranet {\n}\n"
        ":8080 {\n}\nhttp:// {\n}\nhttp://:8081 {\n}\n")
    assert addrs(m) == [
        ("example.com", 443, True), ("*.wild.example", 443, True), ("example.org", 8443, True),
        ("plain.example", 80, False), ("secure.example", 443, True), ("127.0.0.1", 80, False),
        ("::1", 9001, False), ("localhost", 80, False), ("intranet", 80, False), ("", 8080, False),
        ("", 80, False), ("", 8081, False)]
    assert m["sites"][1]["addresses"][0]["wildcard"] is True
    assert m["site_addresses"] == 12


def test_host_keys_are_lowercased_without_trailing_dot(dw):
    m = dw.adapt("API.Example.COM.:8080 {\n}\n")
    assert addrs(m) == [("api.example.com", 8080, True)]


def test_multiple_addresses_commas_and_continuation(dw):
    # SITE-04 syntax and decision 10
    m = dw.adapt("a.test, b.test {\n}\nc.test d.test {\n}\ne.test,f.test {\n}\ng.test,\n  h.test {\n}\n")
    assert [a["host"] for s in m["sites"] for a in s["addresses"]] == [
        "a.test", "b.test", "c.test", "d.test", "e.test", "f.test", "g.test", "h.test"]
    assert len(m["sites"]) == 4


def test_SITE_10_ambiguous_site(dw):
    dw.fails("a.test {\n    respond 1\n}\nA.test {\n    respond 2\n}\n",
             "Dwaarfile:4:1: ambiguous site definition: A.test")
    dw.fails(":8080 {\n}\n:8080 {\n}\n", "ambiguous site definition: :8080")
    # decision 11: http://x and x are different listeners, not ambiguous
    m = dw.adapt("http://x.test {\n}\nx.test {\n}\n")
    assert addrs(m) == [("x.test", 80, False), ("x.test", 443, True)]


def test_SITE_11_invalid_addresses(dw):
    dw.fails("example.com/path {\n}\n", "Dwaarfile:1:1: site address must not contain a path")
    dw.fails("bad_host!.com {\n}\n", "Dwaarfile:1:1: invalid site address 'bad_host!.com'")
    dw.fails("a.test:99999 {\n}\n", "invalid site address 'a.test:99999'")
    dw.fails("ftp://a.test {\n}\n", "invalid site address 'ftp://a.test'")
    dw.fails(("x" * 64) + ".test {\n}\n", "invalid site address")
    dw.fails("a.*.test {\n}\n", "invalid site address 'a.*.test'")
    # every bad address in one run
    err = dw.fails("a/b {\n}\nc!d.test {\n}\n", "Dwaarfile:1:1:")
    assert "Dwaarfile:3:1: invalid site address 'c!d.test'" in err


def test_conflicting_tls_on_port(dw):
    dw.fails("a.test:8443 {\n}\nhttp://b.test:8443 {\n}\n", "conflicting TLS settings on port 8443")


def test_explicit_http_port_is_plain(dw):
    m = dw.adapt("a.test:80 {\n}\n")
    assert addrs(m) == [("a.test", 80, False)]
    assert site(m)["tls_mode"] == "off"


def test_SITE_13_global_block_only(dw):
    m = dw.adapt("{\n    http_port 8080\n}\n")
    assert m["sites"] == [] and m["global"]["http_port"] == 8080
    m = dw.adapt("")
    assert m["sites"] == []


def test_tls_on_the_http_port_names_the_culprit(dw):
    dw.fails("a.test {\n}\n:80 {\n    tls internal\n}\n", "Dwaarfile:3:1: conflicting TLS settings on port 80")
