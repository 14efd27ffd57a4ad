"""Request-time placeholders rendered on real requests (spec 10 §7, decision 30; checklist
RT-80, RT-81; the remainder of RT-55/58 and the captures of MT-04/07 are in their own files).
Model-level twins: tests/10_config/test_routing.py (RT-80, RT-81)."""
import re
import socket
import textwrap
import time

from rtlive import G, UUID_RE, conf, start_fails

SHORT = ("host={host}|hostport={hostport}|port={port}|method={method}|scheme={scheme}|path={path}"
         "|query={query}|qk={query.k}|qnone=[{query.none}]|uri={uri}|remote={remote_host}"
         "|rip={remote_ip}|rport={remote_port}|ua={header.User-Agent}|multi={header.X-M}"
         "|absent=[{header.X-Absent}]|cookie={cookie.c}|nocookie=[{cookie.zz}]|id={request_id}"
         "|ext={file.ext}|base={file.base}|dir={dir}|p0={http.request.uri.path.0}"
         "|p1={http.request.uri.path.1}|p5=[{http.request.uri.path.5}]|sni=[{tls_server_name}]"
         "|cipher=[{tls_cipher}]|client={client_ip}|rem={http.request.uri.path.remainder}")
LONG = ("host={http.request.host}|hostport={http.request.hostport}|port={http.request.port}"
        "|method={http.request.method}|scheme={http.request.scheme}|path={http.request.uri.path}"
        "|query={http.request.uri.query}|qk={http.request.uri.query.k}|qnone=[{http.request.uri.query.none}]"
        "|uri={http.request.uri}|remote={http.request.remote.host}|rip={http.request.remote.host}"
        "|rport={http.request.remote.port}|ua={http.request.header.User-Agent}"
        "|multi={http.request.header.X-M}|absent=[{http.request.header.X-Absent}]"
        "|cookie={http.request.cookie.c}|nocookie=[{http.request.cookie.zz}]|id={http.request.id}"
        "|ext={http.request.uri.path.file.ext}|base={http.request.uri.path.file.base}"
        "|dir={http.request.uri.path.dir}|p0={http.request.uri.path.0}|p1={http.request.uri.path.1}"
        "|p5=[{http.request.uri.path.5}]|sni=[{http.request.tls.server_name}]"
        "|cipher=[{http.request.tls.cipher_suite}]|client={http.vars.client_ip}"
        "|rem={http.request.uri.path.remainder}")


def site(body, addr="http://a.test"):
    return G + addr + " {\n" + textwrap.indent(textwrap.dedent(body).strip("\n"), "    ") + "\n}\n"


def exchange(srv, head, family=socket.AF_INET, host="127.0.0.1"):
    """Sends one raw request with Connection: close; returns (local port, status, body)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, srv.port))
        local_port = s.getsockname()[1]
        s.sendall(head.encode())
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            data += chunk
    head_b, _, body = data.partition(b"\r\n\r\n")
    status = int(head_b.split(b" ")[1]) if head_b else 0
    return local_port, status, body.decode("utf-8", "replace"), head_b.decode("latin-1")


def fields(text):
    return dict(kv.split("=", 1) for kv in text.split("|"))


def test_RT_80_unknown_placeholder_refused(live):
    start_fails(live, site('respond "{nonexistent}"'), "unknown placeholder '{nonexistent}'")


def test_RT_80_literal_braces(live):
    srv = live.start(site(r'''
        @json path /json
        respond @json `{"a":1}`
        respond "\\{path} {} { x } {a b} {path}"
    '''))
    r = srv.get("/json", host="a.test")
    assert (r.status, r.text) == (200, '{"a":1}')
    r = srv.get("/p", host="a.test")
    assert r.text == "{path} {} { x } {a b} /p"


def test_RT_81_placeholders_short_forms(live):
    srv = live.start(site(f'''
        @long header X-Form long
        respond @long "{LONG}"
        respond "{SHORT}"
    '''))
    req = ("GET /a/b.html?k=v%20w&k=2&e= HTTP/1.1\r\nHost: a.test\r\nUser-Agent: ua/1\r\n"
           "X-M: 1\r\nX-M: 2\r\nCookie: a=1; c=cv; d=2\r\nConnection: close\r\n{extra}\r\n")
    lport, status, body, head = exchange(srv, req.format(extra=""))
    assert status == 200, (head, body)
    f = fields(body)
    want = {
        "host": "a.test", "hostport": "a.test", "port": str(srv.port), "method": "GET",
        "scheme": "http", "path": "/a/b.html", "query": "k=v%20w&k=2&e=", "qk": "v w",
        "qnone": "[]", "uri": "/a/b.html?k=v%20w&k=2&e=", "remote": "127.0.0.1", "rip": "127.0.0.1",
        "rport": str(lport), "ua": "ua/1", "multi": "1, 2", "absent": "[]", "cookie": "cv",
        "nocookie": "[]", "ext": "html", "base": "b", "dir": "/a", "p0": "a", "p1": "b.html",
        "p5": "[]", "sni": "[]", "cipher": "[]", "client": "127.0.0.1", "rem": "/a/b.html",
    }
    got = {k: v for k, v in f.items() if k != "id"}
    assert got == want
    assert UUID_RE.match(f["id"]), f["id"]
    assert re.search(r"(?im)^x-request-id: " + re.escape(f["id"]) + r"\s*$", head), head
    # the long forms render the same
    lport2, status, body2, _ = exchange(srv, req.format(extra="X-Form: long\r\n"))
    f2 = fields(body2)
    assert status == 200
    assert UUID_RE.match(f2["id"]) and f2["id"] != f["id"]
    want["rport"] = str(lport2)
    assert {k: v for k, v in f2.items() if k != "id"} == want


def test_RT_81_host_port_and_hostport(live):
    srv = live.start(site('respond "{host}|{hostport}|{port}|{method}"'))
    _, status, body, _ = exchange(srv, f"POST /x HTTP/1.1\r\nHost: A.Test:{srv.port}\r\n"
                                       "Content-Length: 0\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert body == f"a.test|A.Test:{srv.port}|{srv.port}|POST"


def test_RT_81_ipv6_host_has_no_brackets(live):
    srv = live.start(G + ":{PORT} {\n    respond \"{host}|{remote_host}|{port}\"\n}\n")
    _, status, body, _ = exchange(srv, f"GET / HTTP/1.1\r\nHost: [::1]:{srv.port}\r\nConnection: close\r\n\r\n",
                                  family=socket.AF_INET6, host="::1")
    assert status == 200
    assert body == f"::1|::1|{srv.port}"   # decision 30


def test_RT_81_remainder_and_orig_uri(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        handle /docs/* {
            rewrite /d{http.request.uri.path.remainder}
            request_header X-Orig {http.request.orig_uri}
            reverse_proxy ${be}
        }
    """, be=be)))
    r = srv.get("/docs/x/y?z=1", host="a.test")
    assert (r.status, r.text) == (200, "be /d/x/y?z=1")
    q = be.requests[0]
    assert q.header("X-Orig") == "/docs/x/y?z=1"


def test_RT_81_upstream_placeholders(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        reverse_proxy ${be} {
            header_up X-Up "{upstream.host}:{upstream.port}"
            header_down X-Up-Long "{http.reverse_proxy.upstream.host}:{http.reverse_proxy.upstream.port}"
        }
    """, be=be)))
    r = srv.get("/", host="a.test")
    assert be.requests[0].header("X-Up") == be.addr
    assert r.header("X-Up-Long") == be.addr


def test_RT_81_placeholders_in_request_headers(live):
    be = live.backend(name="be")
    srv = live.start(site(conf("""
        request_header X-Info "{method} {path} {query.q} {header.X-In} {cookie.s}"
        reverse_proxy ${be}
    """, be=be)))
    srv.request("PUT", "/p?q=7", host="a.test", body=b"", headers={"X-In": "in", "Cookie": "s=cv"})
    assert be.requests[0].header("X-Info") == "PUT /p 7 in cv"
