"""TLS termination against a running `dwaar run` (spec 20 §1.1-1.5, §1.9-1.11; checklist
TLS-02..13, TLS-35..40, SEC-38; decisions 11, 25, 35).

Certificates come from a test PKI made with the `openssl` CLI (tests/tlstest.py). Every server
gets its own free `http_port` and `https_port`; auto sites read `$DWAAR_CERT_DIR` (a private
directory), so nothing here talks to an ACME CA. HTTP/2 itself is not exercised: for TLS-09 only
the negotiated ALPN is checked."""
import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import warnings
from datetime import datetime, timedelta, timezone

import pytest

from dwaartest import DWAAR_BIN
from livetest import SANITIZER_MARKERS, free_port, http_request, split_responses, wait_for
from tlstest import (Pki, TlsBackend, cert_info, client_ctx, handshake, handshake_error,
                     https_conn, https_get, https_request, pem_blocks, reload, s_client, start,
                     tls_socket)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """One test PKI per module: a root, a two-level intermediate chain, and leaves."""
    p = Pki(tmp_path_factory.mktemp("pki"))
    p.int1 = p.intermediate("int1")
    p.int2 = p.intermediate("int2", parent=p.int1)
    p.a = p.leaf("a", ["a.test"])
    p.b = p.leaf("b", ["b.test"])
    p.a_chain = p.leaf("a_chain", ["a.test"], issuer=p.int2, chain=[p.int2, p.int1])
    p.other_key = p.key("other")
    p.upstream = p.leaf("upstream", ["upstream.test"], ips=["127.0.0.1"])
    p.upstream_x = p.leaf("upstream_x", ["x.internal"])
    p.client = p.leaf("client", cn="dwaar-client", client=True)
    # a second, unrelated root: certificates the test CA does not vouch for
    p.rogue = Pki(p.root / "rogue")
    p.rogue_upstream = p.rogue.leaf("rogue_upstream", ["upstream.test"], ips=["127.0.0.1"])
    return p


def tls_backend(live, pair, **kw):
    be = TlsBackend(pair, **kw)
    live.backends.append(be)  # stopped at teardown with the rest
    return be


def serial(port, sni, **kw):
    return cert_info(handshake(port, sni, **kw).der)["serial"]


def is_unrecognized_name(err):
    return "UNRECOGNIZED_NAME" in str(err).upper() or "UNRECOGNIZED NAME" in str(err).upper()


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def raw_http(srv, data, timeout=5.0):
    """Raw bytes to the plain HTTP port -> [(status, headers, body)]."""
    return split_responses(srv.raw(data, port=srv.hp, timeout=timeout))


def redirect_of(srv, target, host="a.test", method="GET", close=False):
    req = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"
    if close:
        req += "Connection: close\r\n"
    if method != "GET":
        req += "Content-Length: 0\r\n"
    out = raw_http(srv, (req + "\r\n").encode())
    assert len(out) == 1, out
    return out[0]


SITE_A_INTERNAL = """
    a.test {
        tls internal
        respond "site a"
    }
"""


# --- per-site TLS mode ---------------------------------------------------------------------

def test_tls_02_tls_off_site_is_plain(live, pki):
    srv = start(live, """
        a.test {
            tls ${A} ${AK}
            respond "site a"
        }
        b.test {
            tls off
            respond "plain b"
        }
    """, A=pki.a.cert, AK=pki.a.key, wait="both")
    for path in ("/", "/x?y=1"):
        r = srv.get(path, host="b.test", port=srv.hp)
        assert (r.status, r.text) == (200, "plain b"), (path, r.status, r.headers)
        assert r.header("Location") is None and r.header("Strict-Transport-Security") is None
    # the TLS port does not know b.test
    err = handshake_error(srv.sp, "b.test")
    assert is_unrecognized_name(err), err
    # ... and the plain port speaks no TLS at all
    handshake_error(srv.hp, "b.test")
    # the TLS site next to it is unaffected
    assert https_get(srv, "/", host="a.test").text == "site a"
    assert redirect_of(srv, "/", host="a.test")[0] == 301


def test_tls_02_explicit_http_block_wins_on_http_port(live):
    # decision 11: `http://a.test` next to `a.test` answers on the HTTP port, no redirect
    srv = start(live, """
        http://a.test {
            respond "plain a"
        }
        a.test {
            tls internal
            respond "tls a"
        }
    """, wait="both")
    r = srv.get("/x", host="a.test", port=srv.hp)
    assert (r.status, r.text) == (200, "plain a"), (r.status, r.headers)
    assert r.header("Location") is None and r.header("Strict-Transport-Security") is None
    assert https_get(srv, "/x", host="a.test").text == "tls a"


def test_tls_03_auto_https_off(live, pki):
    certs = live.tmp / "certs"
    certs.mkdir()
    # a usable certificate for a.test is in the cert dir: it must still not be used
    shutil.copy(pki.a.cert, certs / "a.test.pem")
    shutil.copy(pki.a.key, certs / "a.test.key")
    srv = start(live, """
        a.test {
            respond "site a"
        }
        b.test {
            respond "site b"
        }
    """, glob="auto_https off", env={"DWAAR_CERT_DIR": str(certs)}, wait="http")
    for host in ("a.test", "b.test"):
        r = srv.get("/p?q=1", host=host, port=srv.hp)
        assert (r.status, r.text) == (200, f"site {host[0]}"), (host, r.status, r.headers)
        assert r.header("Location") is None and r.header("Strict-Transport-Security") is None
    # no port accepts TLS: the https_port is not served, the HTTP port answers TLS with no TLS
    for port in (srv.sp, srv.hp):
        for sni in ("a.test", "b.test", None):
            handshake_error(port, sni)
    assert "serving HTTPS" not in srv.stderr(), srv.stderr()


def test_tls_04_disable_redirects_proxies_http(live, pki):
    be = live.backend(name="upstream")
    srv = start(live, """
        a.test {
            tls ${A} ${AK}
            reverse_proxy ${BE}
        }
    """, glob="auto_https disable_redirects", A=pki.a.cert, AK=pki.a.key, BE=be)
    assert wait_for(lambda: port_open(srv.hp), 5), \
        f"nothing listens on http_port with disable_redirects:\n{srv.stderr()}"
    r = srv.get("/plain?x=1", host="a.test", port=srv.hp)
    assert (r.status, r.text) == (200, "upstream /plain?x=1"), (r.status, r.headers)
    assert r.header("Location") is None
    assert r.header("Strict-Transport-Security") is None
    # the upstream status passes through unchanged
    be.handler = lambda rec, h: (418, [], b"teapot") if rec.path == "/tea" else None
    r = srv.get("/tea", host="a.test", port=srv.hp)
    assert (r.status, r.body) == (418, b"teapot")
    # TLS still works as usual
    r = https_get(srv, "/tls", host="a.test")
    assert (r.status, r.text) == (200, "upstream /tls")
    assert [x.path for x in be.requests] == ["/plain?x=1", "/tea", "/tls"]


# --- certificates --------------------------------------------------------------------------

def test_tls_05_manual_chain(live, pki):
    # relative paths resolve against the Dwaarfile's directory (decision 25): srvN/../pki_copy
    d = live.tmp / "pki_copy"
    d.mkdir()
    shutil.copy(pki.a_chain.cert, d / "a_chain.pem")
    shutil.copy(pki.a_chain.key, d / "a_chain.key")
    srv = start(live, """
        a.test {
            tls ../pki_copy/a_chain.pem ../pki_copy/a_chain.key
            respond "chained"
        }
    """)
    rc, out = s_client(srv.sp, "-servername", "a.test", "-showcerts")
    blocks = pem_blocks(out)
    assert len(blocks) == 3, f"expected leaf + 2 intermediates, got {len(blocks)}:\n{out}"
    want = pem_blocks(pki.a_chain.cert.read_text())
    assert [b.strip() for b in blocks] == [w.strip() for w in want], "chain differs from the file"
    subjects = [cert_info(b)["subject"] for b in blocks]
    assert subjects == ["a.test", "Dwaar Test int2", "Dwaar Test int1"], subjects
    # a client trusting only the root verifies the whole path (name included)
    r = https_get(srv, "/", host="a.test", ca=pki.ca.cert)
    assert (r.status, r.text) == (200, "chained")


def test_tls_06_mismatched_key(live, pki):
    srv = start(live, """
        a.test {
            tls ${A} ${BADKEY}
            respond "site a"
        }
        b.test {
            tls ${B} ${BK}
            respond "site b"
        }
    """, A=pki.a.cert, BADKEY=pki.other_key, B=pki.b.cert, BK=pki.b.key, wait="https")
    err = srv.stderr()
    lines = [l for l in err.splitlines() if str(pki.a.cert) in l or "a.test" in l]
    assert any(("error" in l.lower() or "warn" in l.lower()) and "key" in l.lower()
               for l in lines), f"no logged error about a.test's key:\n{err}"
    assert str(pki.other_key) not in err, "the key path was logged"
    e = handshake_error(srv.sp, "a.test")
    assert isinstance(e, ssl.SSLError), e
    # the other site keeps working
    r = https_get(srv, "/", host="b.test", ca=pki.ca.cert)
    assert (r.status, r.text) == (200, "site b")


def test_tls_07_internal_cert(live):
    t0 = datetime.now(timezone.utc)
    srv = start(live, SITE_A_INTERNAL)
    hs = handshake(srv.sp, "a.test")
    info = cert_info(hs.der)
    assert info["algorithm"] == "rsaEncryption" and info["bits"] == 2048, info["text"]
    assert info["sans"] == ["DNS:a.test"], info["sans"]
    assert info["subject"] == "a.test" and info["issuer"] == "a.test", info["text"]
    life = info["not_after"] - info["not_before"]
    assert abs(life - timedelta(days=365)) <= timedelta(days=1), life
    assert abs(info["not_before"] - t0) <= timedelta(minutes=10), (info["not_before"], t0)
    # self-signed: it verifies against itself
    ca = live.tmp / "internal.pem"
    ca.write_text(ssl.DER_cert_to_PEM_cert(hs.der))
    r = https_get(srv, "/", host="a.test", ca=ca)
    assert (r.status, r.text) == (200, "site a")


def test_tls_07_internal_serial_kept_on_reload_new_on_restart(live):
    srv = start(live, SITE_A_INTERNAL)
    s1 = serial(srv.sp, "a.test")
    assert serial(srv.sp, "a.test") == s1  # stable within the process
    reload(srv, SITE_A_INTERNAL.replace('"site a"', '"site a v2"'))
    assert wait_for(lambda: https_get(srv, "/", host="a.test").text == "site a v2")
    assert serial(srv.sp, "a.test") == s1, "a reload replaced the tls internal certificate"
    assert srv.terminate() == 0
    srv2 = start(live, SITE_A_INTERNAL)
    s2 = serial(srv2.sp, "a.test")
    assert s2 != s1, "a new process reused the tls internal certificate"


def test_tls_08_protocol_versions(live):
    srv = start(live, SITE_A_INTERNAL)
    # old protocols: the client must really offer them (SECLEVEL=0), and the server refuses
    for flag in ("-tls1", "-tls1_1"):
        rc, out = s_client(srv.sp, "-servername", "a.test", flag, "-cipher", "DEFAULT@SECLEVEL=0")
        assert rc != 0, f"{flag} handshake succeeded:\n{out}"
        assert "no protocols available" not in out, f"the client did not offer {flag}:\n{out}"
        assert "alert protocol version" in out, out
    for flag, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
        rc, out = s_client(srv.sp, "-servername", "a.test", flag)
        assert rc == 0 and (f"Protocol  : {name}" in out or f"New, {name}" in out), out
    # the same through Python's ssl module, with an HTTP exchange on top
    for v, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        hs = handshake(srv.sp, "a.test", minv=v, maxv=v)
        assert hs.version == name
        r = https_get(srv, "/", host="a.test", minv=v, maxv=v)
        assert (r.status, r.text) == (200, "site a")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_ctx(minv=ssl.TLSVersion.TLSv1, maxv=ssl.TLSVersion.TLSv1_1)
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    handshake_error(srv.sp, "a.test", ctx=ctx)
    # TLS 1.2 uses the intermediate profile: a CBC-only client fails, ECDHE-GCM works
    hs = handshake(srv.sp, "a.test", maxv=ssl.TLSVersion.TLSv1_2)
    assert "GCM" in hs.cipher[0] or "CHACHA20" in hs.cipher[0], hs.cipher
    ctx = client_ctx(maxv=ssl.TLSVersion.TLSv1_2)
    ctx.set_ciphers("AES128-SHA:AES256-SHA")
    handshake_error(srv.sp, "a.test", ctx=ctx)


def test_tls_09_alpn(live):
    srv = start(live, SITE_A_INTERNAL)
    assert handshake(srv.sp, "a.test", alpn=["h2", "http/1.1"]).alpn == "h2"
    assert handshake(srv.sp, "a.test", alpn=["http/1.1", "h2"]).alpn == "h2"  # server's order
    assert handshake(srv.sp, "a.test", alpn=["http/1.1"]).alpn == "http/1.1"
    r = https_get(srv, "/one", host="a.test", alpn=["http/1.1"])
    assert (r.status, r.text) == (200, "site a")
    hs = handshake(srv.sp, "a.test", alpn=None)
    assert hs.alpn is None
    r = https_get(srv, "/two", host="a.test", alpn=None)
    assert (r.status, r.text) == (200, "site a")
    # an ALPN list without anything dwaar speaks: no protocol chosen (or no_application_protocol)
    try:
        hs = handshake(srv.sp, "a.test", alpn=["spdy/3", "x-foo"])
        assert hs.alpn is None, hs.alpn
    except ssl.SSLError as e:
        assert "NO_APPLICATION_PROTOCOL" in str(e).upper(), e


def test_tls_10_cert_matches_sni(live, pki):
    srv = start(live, """
        a.test {
            tls ${A} ${AK}
            respond "site a"
        }
        b.test {
            tls ${B} ${BK}
            respond "site b"
        }
    """, A=pki.a.cert, AK=pki.a.key, B=pki.b.cert, BK=pki.b.key)
    for _ in range(3):
        for host in ("a.test", "b.test"):
            info = cert_info(handshake(srv.sp, host).der)
            assert info["sans"] == [f"DNS:{host}"], (host, info["sans"])
            r = https_get(srv, "/", host=host, ca=pki.ca.cert)
            assert (r.status, r.text) == (200, f"site {host[0]}")
    # SNI is case-insensitive
    assert cert_info(handshake(srv.sp, "B.Test").der)["sans"] == ["DNS:b.test"]


def test_tls_11_cert_dir_wildcard(live, pki):
    certs = live.tmp / "certs"
    certs.mkdir()
    wild = pki.leaf("wild", ["*.example.test"])
    shutil.copy(wild.cert, certs / "*.example.test.pem")
    shutil.copy(wild.key, certs / "*.example.test.key")
    # an exact file wins over the wildcard
    exact = pki.leaf("exact", ["www.example.test"])
    shutil.copy(exact.cert, certs / "www.example.test.pem")
    shutil.copy(exact.key, certs / "www.example.test.key")
    srv = start(live, """
        api.example.test {
            respond "api"
        }
        www.example.test {
            respond "www"
        }
        a.b.example.test {
            respond "deep"
        }
    """, env={"DWAAR_CERT_DIR": str(certs)})
    info = cert_info(handshake(srv.sp, "api.example.test").der)
    assert info["sans"] == ["DNS:*.example.test"], info["sans"]
    r = https_get(srv, "/", host="api.example.test", ca=pki.ca.cert)
    assert (r.status, r.text) == (200, "api")
    assert cert_info(handshake(srv.sp, "www.example.test").der)["sans"] == \
        ["DNS:www.example.test"]
    # one level only
    e = handshake_error(srv.sp, "a.b.example.test")
    assert is_unrecognized_name(e), e


def test_tls_11_cert_dir_read_on_reload(live, pki):
    certs = live.tmp / "certs"
    certs.mkdir()
    body = """
        new.test {
            respond "new"
        }
    """
    srv = start(live, body, env={"DWAAR_CERT_DIR": str(certs)})
    assert is_unrecognized_name(handshake_error(srv.sp, "new.test"))
    pair = pki.leaf("new", ["new.test"])
    shutil.copy(pair.cert, certs / "new.test.pem")
    shutil.copy(pair.key, certs / "new.test.key")
    reload(srv, body)
    want = cert_info(pair.cert)["serial"]
    assert wait_for(lambda: _serial_or_none(srv.sp, "new.test") == want, 10), srv.stderr()
    r = https_get(srv, "/", host="new.test", ca=pki.ca.cert)
    assert (r.status, r.text) == (200, "new")


def _serial_or_none(port, sni):
    try:
        return serial(port, sni)
    except (ssl.SSLError, OSError):
        return None


def test_tls_12_no_sni_default_site(live, pki):
    srv = start(live, """
        http://plain.test {
            respond "plain"
        }
        off.test {
            tls off
            respond "off"
        }
        b.test {
            tls ${B} ${BK}
            respond "site b"
        }
        a.test {
            tls ${A} ${AK}
            respond "site a"
        }
    """, A=pki.a.cert, AK=pki.a.key, B=pki.b.cert, BK=pki.b.key)
    for _ in range(3):
        hs = handshake(srv.sp, None)
        assert cert_info(hs.der)["sans"] == ["DNS:b.test"]
    rc, out = s_client(srv.sp, "-noservername", "-showcerts")
    assert rc == 0, out
    assert cert_info(pem_blocks(out)[0])["sans"] == ["DNS:b.test"], out
    # a request without SNI is routed by its Host
    r = https_get(srv, "/", host="a.test", sni=None)
    assert (r.status, r.text) == (200, "site a")
    r = https_get(srv, "/", host="b.test", sni=None)
    assert (r.status, r.text) == (200, "site b")


def test_tls_13_invalid_and_unknown_sni(live, pki):
    srv = start(live, """
        a.test {
            tls ${A} ${AK}
            respond "site a"
        }
    """, A=pki.a.cert, AK=pki.a.key)
    for sni in ("exam*ple.test", "zzz.test", "foo.*.test", "**.a.test", "*.a.test",
                "a.test.evil", "-a.test", "a-.test"):
        e = handshake_error(srv.sp, sni)
        assert is_unrecognized_name(e), (sni, e)
    # with the CLI too (it sends names Python will not encode): the alert is named
    for sni in ("exam*ple.test", "x" * 64 + ".test", "a..test", "a_b.test", "*"):
        rc, out = s_client(srv.sp, "-servername", sni)
        assert rc != 0 and "unrecognized name" in out.lower(), (sni, out)
    # and the good name still works afterwards
    r = https_get(srv, "/", host="a.test", ca=pki.ca.cert)
    assert (r.status, r.text) == (200, "site a")


# --- HTTP -> HTTPS redirect ----------------------------------------------------------------

def test_tls_35_redirect_location(live):
    srv = start(live, SITE_A_INTERNAL, wait="both")
    st, h, body = redirect_of(srv, "/p?q=1")
    assert st == 301, (st, h)
    assert h["location"] == f"https://a.test:{srv.sp}/p?q=1", h
    assert h.get("connection", "").lower() == "close", h
    assert h.get("content-length") == "0" and body == b"", h
    assert "strict-transport-security" not in h, h
    # the Host's port and case do not leak into the Location's authority
    st, h, _ = redirect_of(srv, "/x", host=f"A.Test:{srv.hp}")
    assert st == 301 and h["location"].lower() == f"https://a.test:{srv.sp}/x", h
    # empty path -> "/", absolute-form target
    st, h, _ = redirect_of(srv, f"http://a.test:{srv.hp}/abs?z")
    assert st == 301 and h["location"] == f"https://a.test:{srv.sp}/abs?z", h
    # non-GET is redirected too, before any handler
    st, h, _ = redirect_of(srv, "/post", method="POST")
    assert st == 301 and h["location"] == f"https://a.test:{srv.sp}/post", h
    # the server closes after the redirect: a second pipelined request gets no answer
    out = raw_http(srv, b"GET /1 HTTP/1.1\r\nHost: a.test\r\n\r\n"
                        b"GET /2 HTTP/1.1\r\nHost: a.test\r\n\r\n")
    assert [s for s, _, _ in out] == [301], out


def test_tls_35_acme_path_and_missing_host(live):
    srv = start(live, SITE_A_INTERNAL, wait="both")
    st, h, body = redirect_of(srv, "/.well-known/acme-challenge/sometoken", close=True)
    assert (st, body) == (404, b""), (st, h, body)
    # only GET is answered there; a POST to the prefix is redirected
    st, h, _ = redirect_of(srv, "/.well-known/acme-challenge/sometoken", method="POST")
    assert st == 301, (st, h)
    # any Host, even unknown
    st, _, body = redirect_of(srv, "/.well-known/acme-challenge/x", host="nobody.test",
                              close=True)
    assert (st, body) == (404, b"")
    out = raw_http(srv, b"GET /p HTTP/1.0\r\n\r\n")
    assert [s for s, _, _ in out] == [400], out


def test_tls_35_site_port_in_location(live):
    # decision 35: a TLS site with its own port redirects there, others use https_port
    other = free_port()
    srv = start(live, """
        a.test {
            tls internal
            respond "site a"
        }
        c.test:${OTHER} {
            tls internal
            respond "site c"
        }
    """, OTHER=other, wait="both")
    st, h, _ = redirect_of(srv, "/p?x=1", host="c.test")
    assert st == 301 and h["location"] == f"https://c.test:{other}/p?x=1", h
    st, h, _ = redirect_of(srv, "/p?x=1", host="a.test")
    assert st == 301 and h["location"] == f"https://a.test:{srv.sp}/p?x=1", h
    c = https_conn(other, "c.test")
    try:
        r = http_request(None, "GET", "/", "c.test", conn=c)
        assert (r.status, r.text) == (200, "site c")
    finally:
        c.close()


def test_tls_36_leading_slashes_collapsed(live):
    srv = start(live, SITE_A_INTERNAL, wait="both")
    for target, want in (("//evil.test/x", "/evil.test/x"),
                         ("///evil.test/x?a=b", "/evil.test/x?a=b"),
                         ("/", "/"), ("/a//b", "/a//b")):
        st, h, _ = redirect_of(srv, target)
        assert st == 301 and h["location"] == f"https://a.test:{srv.sp}{want}", (target, h)


# --- upstream TLS --------------------------------------------------------------------------

def proxy_site(transport, be):
    """A plain-HTTP site a.test proxying to be with the given `transport` lines."""
    lines = ["http://a.test {", f"    reverse_proxy {be} {{"]
    lines += ["        " + l for l in transport]
    lines += ["    }", "}"]
    return "\n".join(lines) + "\n"


def test_tls_37_upstream_trusted_ca(live, pki):
    be = tls_backend(live, pki.upstream)
    srv = start(live, proxy_site(["transport {", "    tls",
                                  f"    tls_trusted_ca_certs {pki.ca.cert}", "}"], be.addr),
                wait="http")
    r = srv.get("/hello?x=1", host="a.test", port=srv.hp)
    assert (r.status, r.text) == (200, "tls-backend /hello?x=1"), (r.status, be.handshake_errors)
    assert [x.path for x in be.requests] == ["/hello?x=1"]
    # an IP upstream: no SNI is sent
    assert be.requests[0].sni is None, be.requests[0].sni
    # the https:// scheme is the same as transport tls
    srv2 = start(live, proxy_site(["transport {", f"    tls_trusted_ca_certs {pki.ca.cert}",
                                   "}"], "https://" + be.addr), wait="http")
    r = srv2.get("/s", host="a.test", port=srv2.hp)
    assert (r.status, r.text) == (200, "tls-backend /s"), (r.status, r.headers)


def test_tls_37_upstream_untrusted_is_502(live, pki):
    rogue = tls_backend(live, pki.rogue_upstream)
    good = tls_backend(live, pki.upstream)
    # a certificate from a CA outside the trusted bundle
    srv = start(live, proxy_site(["transport {", "    tls",
                                  f"    tls_trusted_ca_certs {pki.ca.cert}", "}"], rogue.addr),
                wait="http")
    r = srv.get("/", host="a.test", port=srv.hp)
    assert r.status == 502, (r.status, r.headers, r.body[:200])
    assert rogue.requests == []
    # `transport tls` alone trusts the system roots only: the test CA is not among them
    srv2 = start(live, proxy_site(["transport tls"], good.addr), wait="http")
    r = srv2.get("/", host="a.test", port=srv2.hp)
    assert r.status == 502, (r.status, r.headers, r.body[:200])
    assert good.requests == []
    # an upstream speaking plain HTTP to a TLS transport also fails cleanly
    plain = live.backend()
    srv3 = start(live, proxy_site(["transport {", "    tls",
                                   f"    tls_trusted_ca_certs {pki.ca.cert}", "}"], plain.addr),
                 wait="http")
    assert srv3.get("/", host="a.test", port=srv3.hp).status == 502


def test_tls_37_upstream_ip_needs_ip_san(live, pki):
    # upstream written as an IP: verified against IP SANs; upstream_x has only DNS:x.internal
    be = tls_backend(live, pki.upstream_x)
    srv = start(live, proxy_site(["transport {", f"    tls_trusted_ca_certs {pki.ca.cert}",
                                  "}"], be.addr), wait="http")
    r = srv.get("/", host="a.test", port=srv.hp)
    assert r.status == 502, (r.status, r.headers)
    assert be.requests == []


def test_tls_38_upstream_client_cert(live, pki):
    be = tls_backend(live, pki.upstream, client_ca=pki.ca.cert)
    srv = start(live, proxy_site(["transport {", "    tls",
                                  f"    tls_trusted_ca_certs {pki.ca.cert}",
                                  f"    tls_client_auth {pki.client.cert} {pki.client.key}", "}"],
                                 be.addr), wait="http")
    for i in range(3):
        r = srv.get(f"/m{i}", host="a.test", port=srv.hp)
        assert (r.status, r.text) == (200, f"tls-backend /m{i}"), (r.status, r.headers)
    assert [x.client_cn for x in be.requests] == ["dwaar-client"] * 3
    # without the client certificate the upstream refuses the handshake -> 502
    be2 = tls_backend(live, pki.upstream, client_ca=pki.ca.cert)
    srv2 = start(live, proxy_site(["transport {", "    tls",
                                   f"    tls_trusted_ca_certs {pki.ca.cert}", "}"], be2.addr),
                 wait="http")
    r = srv2.get("/", host="a.test", port=srv2.hp)
    assert r.status == 502, (r.status, r.headers)
    assert be2.requests == []


def test_tls_39_upstream_server_name(live, pki):
    be = tls_backend(live, pki.upstream_x)
    srv = start(live, proxy_site(["transport {", "    tls_server_name x.internal",
                                  f"    tls_trusted_ca_certs {pki.ca.cert}", "}"], be.addr),
                wait="http")
    r = srv.get("/sni", host="a.test", port=srv.hp)
    assert (r.status, r.text) == (200, "tls-backend /sni"), (r.status, r.headers)
    assert be.requests[0].sni == "x.internal"
    # a name the certificate is not for fails verification, though the SNI is sent
    be2 = tls_backend(live, pki.upstream_x)
    srv2 = start(live, proxy_site(["transport {", "    tls", "    tls_server_name y.internal",
                                   f"    tls_trusted_ca_certs {pki.ca.cert}", "}"], be2.addr),
                 wait="http")
    r = srv2.get("/", host="a.test", port=srv2.hp)
    assert r.status == 502, (r.status, r.headers)
    assert be2.requests == []
    assert be2.snis and set(be2.snis) == {"y.internal"}, be2.snis


def _run_refused(live, config, timeout=20):
    root = live.tmp / f"refused{len(live.procs)}"
    root.mkdir(parents=True, exist_ok=True)
    (root / "Dwaarfile").write_text(config)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWAAR_") or k == "DWAAR_BIN"}
    env["DWAAR_ADMIN_ADDR_FILE"] = str(root / "dwaar-admin.addr")
    p = live.popen([DWAAR_BIN, "run", "-c", str(root / "Dwaarfile"), "--workers", "1",
                    "--admin-addr", f"127.0.0.1:{free_port()}"], cwd=root, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError(f"`dwaar run` kept running with a bad config:\n{config}")
    err = err.decode("utf-8", "replace")
    assert not [m for m in SANITIZER_MARKERS if m in err], err
    assert p.returncode != 0, err
    return err


def test_tls_40_client_key_mismatch_refused(live, pki):
    body = proxy_site(["transport {", "    tls", f"    tls_trusted_ca_certs {pki.ca.cert}",
                       f"    tls_client_auth {pki.client.cert} {pki.other_key}", "}"],
                      "127.0.0.1:9")
    cfg = f"{{\n    http_port {free_port()}\n    https_port {free_port()}\n}}\n" + body
    err = _run_refused(live, cfg)
    assert str(pki.client.cert) in err and "match" in err.lower(), err
    assert str(pki.other_key) not in err, "the key path was logged"
    # a missing client certificate file is refused too
    cfg2 = cfg.replace(str(pki.client.cert), str(live.tmp / "missing.pem"))
    err = _run_refused(live, cfg2)
    assert "missing.pem" in err, err


def test_tls_40_reload_to_mismatch_refused(live, pki):
    be = tls_backend(live, pki.upstream, client_ca=pki.ca.cert)
    good = proxy_site(["transport {", "    tls", f"    tls_trusted_ca_certs {pki.ca.cert}",
                       f"    tls_client_auth {pki.client.cert} {pki.client.key}", "}"], be.addr)
    srv = start(live, good, wait="http")
    r = srv.get("/1", host="a.test", port=srv.hp)
    assert r.status == 200, (r.status, be.handshake_errors, srv.stderr()[-2000:])
    bad = good.replace(str(pki.client.key), str(pki.other_key))
    reload(srv, bad, expect_ok=False)
    assert srv.proc.poll() is None
    r = srv.get("/2", host="a.test", port=srv.hp)
    assert (r.status, r.text) == (200, "tls-backend /2")
    assert [x.client_cn for x in be.requests] == ["dwaar-client"] * 2


# --- HSTS ----------------------------------------------------------------------------------

def test_sec_37_38_hsts_on_https_only(live, pki):
    be = live.backend(name="up")
    srv = start(live, """
        a.test {
            tls ${A} ${AK}
            respond "site a"
        }
        p.test {
            tls ${A} ${AK}
            reverse_proxy ${BE}
        }
        http://plain.test {
            respond "plain"
        }
    """, A=pki.a.cert, AK=pki.a.key, BE=be, wait="both")
    hsts = "max-age=31536000; includeSubDomains"
    for host, path in (("a.test", "/"), ("p.test", "/x"), ("a.test", "/missing-site")):
        r = https_get(srv, path, host=host, sni="a.test")
        assert r.header_all("Strict-Transport-Security") == [hsts], (host, r.headers)
        assert r.header("X-Content-Type-Options") == "nosniff", r.headers
    # a dwaar-generated answer over HTTPS (unknown Host) carries it too
    r = https_get(srv, "/", host="nobody.test", sni="a.test")
    assert r.header_all("Strict-Transport-Security") == [hsts], (r.status, r.headers)
    # "set (replace)": an upstream's own HSTS is replaced, not duplicated
    be.handler = lambda rec, h: (200, [("Strict-Transport-Security", "max-age=5")], b"own")
    r = https_get(srv, "/", host="p.test", sni="a.test")
    assert r.header_all("Strict-Transport-Security") == [hsts], r.headers
    # SEC-37: plain HTTP carries the baseline headers but no HSTS
    r = srv.get("/", host="plain.test", port=srv.hp)
    assert (r.status, r.text) == (200, "plain")
    assert r.header("Strict-Transport-Security") is None, r.headers
    assert r.header("X-Content-Type-Options") == "nosniff", r.headers
    assert r.header("X-Frame-Options") == "SAMEORIGIN", r.headers
    assert r.header("Referrer-Policy") == "strict-origin-when-cross-origin", r.headers
    assert r.header_all("Server") == ["Dwaar"], r.headers
    st, h, _ = redirect_of(srv, "/", host="a.test")
    assert st == 301 and "strict-transport-security" not in h, h


# --- runtime behaviour ---------------------------------------------------------------------

def test_tls_cert_swap_on_reload(live, pki):
    d = live.tmp / "rot"
    d.mkdir()
    shutil.copy(pki.a.cert, d / "a.pem")
    shutil.copy(pki.a.key, d / "a.key")
    body = """
        a.test {
            tls ${D}/a.pem ${D}/a.key
            respond "site a"
        }
    """
    srv = start(live, body, D=d)
    old = serial(srv.sp, "a.test")
    assert old == cert_info(pki.a.cert)["serial"]
    keep = https_conn(srv.sp, "a.test")
    r = https_request(srv, "GET", "/before", "a.test", conn=keep)
    assert (r.status, r.text) == (200, "site a")
    sock_before = keep.sock
    # rotate the files (new key too) and reload with the same Dwaarfile
    new = pki.leaf("a_rotated", ["a.test"])
    shutil.copy(new.cert, d / "a.pem")
    shutil.copy(new.key, d / "a.key")
    reload(srv, body)
    want = cert_info(new.cert)["serial"]
    assert wait_for(lambda: serial(srv.sp, "a.test") == want, 10), \
        f"still serving {serial(srv.sp, 'a.test')} after the reload, want {want}"
    r = https_get(srv, "/", host="a.test", ca=pki.ca.cert)
    assert (r.status, r.text) == (200, "site a")
    # the connection opened before the swap keeps working
    for i in range(3):
        r = https_request(srv, "GET", f"/after{i}", "a.test", conn=keep)
        assert (r.status, r.text) == (200, "site a")
    assert keep.sock is sock_before, "the old TLS connection was closed"
    keep.close()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_session_resumption(live, version):
    srv = start(live, SITE_A_INTERNAL)
    v = getattr(ssl.TLSVersion, version)
    ctx = client_ctx(alpn=["http/1.1"], minv=v, maxv=v)

    def one(session):
        with tls_socket(srv.sp, "a.test", ctx=ctx, session=session) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"site a"), data
            return s.session, s.session_reused

    sess, reused = one(None)
    assert not reused and sess is not None
    # several resumptions in a row (every worker thread must accept the ticket)
    for i in range(6):
        new, reused = one(sess)
        assert reused, f"resumption {i} did a full handshake ({version})"
        sess = new or sess


def test_tls_keepalive_large_bodies(live):
    big = os.urandom(5 << 20)

    def handler(rec, h):
        if rec.path == "/big":
            return (200, [("Content-Type", "application/octet-stream")], big)
        if rec.path == "/up":
            return (200, [], f"{len(rec.body)} {hashlib.sha256(rec.body).hexdigest()}".encode())
        return None

    be = live.backend(handler, name="up")
    srv = start(live, """
        a.test {
            tls internal
            reverse_proxy ${BE}
        }
    """, BE=be)
    c = https_conn(srv.sp, "a.test", timeout=60)
    first = None
    try:
        for step in range(2):
            r = https_request(srv, "GET", "/small", "a.test", conn=c, timeout=60)
            assert (r.status, r.text) == (200, "up /small")
            first = first or c.sock
            r = https_request(srv, "GET", "/big", "a.test", conn=c, timeout=60)
            assert r.status == 200 and len(r.body) == len(big), (r.status, len(r.body))
            assert r.body == big, "the 5 MB body was corrupted"
            up = os.urandom(5 << 20)
            r = https_request(srv, "POST", "/up", "a.test", body=up, conn=c, timeout=60)
            assert (r.status, r.text) == (200, f"{len(up)} {hashlib.sha256(up).hexdigest()}")
            # chunked upload as well
            chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p)
                              for p in (up[i:i + 300000] for i in range(0, len(up), 300000)))
            r = https_request(srv, "POST", "/up", "a.test", conn=c, timeout=60,
                              headers={"Transfer-Encoding": "chunked"}, body=chunks + b"0\r\n\r\n")
            assert (r.status, r.text) == (200, f"{len(up)} {hashlib.sha256(up).hexdigest()}")
            assert c.sock is first, "the keep-alive TLS connection was not reused"
    finally:
        c.close()


def test_tls_upstream_large_bodies(live, pki):
    big = os.urandom(5 << 20)

    def handler(rec, h):
        if rec.path == "/big":
            return (200, [], big)
        if rec.path == "/up":
            return (200, [], f"{len(rec.body)} {hashlib.sha256(rec.body).hexdigest()}".encode())
        return None

    be = tls_backend(live, pki.upstream, handler=handler)
    srv = start(live, """
        a.test {
            tls internal
            reverse_proxy ${BE} {
                transport {
                    tls
                    tls_trusted_ca_certs ${CA}
                }
            }
        }
    """, BE=be, CA=pki.ca.cert)
    c = https_conn(srv.sp, "a.test", timeout=60)
    try:
        r = https_request(srv, "GET", "/big", "a.test", conn=c, timeout=60)
        assert r.status == 200 and r.body == big, (r.status, len(r.body))
        up = os.urandom(5 << 20)
        r = https_request(srv, "POST", "/up", "a.test", body=up, conn=c, timeout=60)
        assert (r.status, r.text) == (200, f"{len(up)} {hashlib.sha256(up).hexdigest()}")
    finally:
        c.close()
