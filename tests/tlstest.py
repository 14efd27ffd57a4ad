"""Helpers for the TLS tests (tests/85_tls): a test PKI made with the `openssl` CLI, TLS clients
with a chosen SNI/ALPN/version, a threaded HTTPS upstream, and a `dwaar run` started with its own
HTTP and HTTPS ports. Loopback only.

    pki = Pki(tmp_path / "pki")              a root CA (pki.ca.cert / pki.ca.key)
    pki.intermediate("int1", parent=pki.ca)  an intermediate CA
    pki.leaf("a", ["a.test"], issuer=..., chain=[...], key="ec"|"rsa", ips=[...])
                                             -> Pair(cert (leaf + chain), key); client=True for
                                             a client-auth certificate
    pki.key("other")                         a lone private key (for mismatches)
    cert_info(pem_or_der)                    serial, subject CN, issuer CN, SANs, dates, key
    srv = start(live, body, glob="auto_https off", env={...}, wait="https"|"http"|"both",
                name=value...)               free http_port/https_port (srv.hp / srv.sp) in a
                                             generated global block; body's ${HP} ${SP} and
                                             ${name} slots are filled in
    reload(srv, body, expect_ok=True)        rewrite + SIGHUP; wait until dwaar reports the
                                             reload applied (or refused)
    handshake(port, sni, alpn=..., ...)      -> Hs(der, version, alpn, session_reused) or SSLError
    conn = https_conn(port, sni, ...)        an http.client connection over TLS (keep-alive)
    https_get(srv, path, host=..., sni=...)  one request over a fresh TLS connection -> Response
    s_client(port, *args)                    run `openssl s_client`, -> (rc, combined output)
    be = TlsBackend(pair, client_ca=None)    a threaded HTTPS/1.1 upstream recording requests,
                                             SNIs and client certificates; be.stop()
"""
import hashlib
import http.client
import re
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from livetest import Recorded, free_port, http_request, read_request_body, wait_for, wait_port

OPENSSL = "openssl"


# --- PKI ------------------------------------------------------------------------------------

@dataclass
class Pair:
    cert: Path  # PEM: leaf first, then the chain
    key: Path
    leaf: Path = None  # PEM of the leaf alone


class Pki:
    def __init__(self, root):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.ca = self._ca("ca", "Dwaar Test Root CA", None)

    def _run(self, *args, input=None):
        p = subprocess.run([OPENSSL, *map(str, args)], cwd=self.root, input=input,
                           capture_output=True, timeout=60)
        assert p.returncode == 0, f"openssl {args} failed: {p.stderr.decode(errors='replace')}"
        return p.stdout

    def key(self, name, kind="ec"):
        path = self.root / f"{name}.key"
        if kind == "rsa":
            self._run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                      "-out", path)
        else:
            self._run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", path)
        return path

    def _sign(self, name, cn, key, issuer, ext, days):
        csr = self.root / f"{name}.csr"
        extf = self.root / f"{name}.ext"
        extf.write_text(ext)
        cert = self.root / f"{name}.crt"
        self._run("req", "-new", "-key", key, "-subj", f"/CN={cn}", "-out", csr)
        if issuer is None:
            self._run("x509", "-req", "-in", csr, "-signkey", key, "-days", days, "-sha256",
                      "-extfile", extf, "-out", cert)
        else:
            self._run("x509", "-req", "-in", csr, "-CA", issuer.leaf, "-CAkey", issuer.key,
                      "-days", days, "-sha256", "-extfile", extf, "-out", cert)
        return cert

    def _ca(self, name, cn, parent, days=365):
        key = self.key(name)
        ext = ("basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
               "subjectKeyIdentifier=hash\n")
        if parent is not None:
            ext += "authorityKeyIdentifier=keyid\n"
        cert = self._sign(name, cn, key, parent, ext, days)
        chain = self.root / f"{name}.pem"
        chain.write_bytes(cert.read_bytes())
        return Pair(chain, key, cert)

    def intermediate(self, name, parent=None):
        return self._ca(name, f"Dwaar Test {name}", parent or self.ca)

    def leaf(self, name, dns=(), issuer=None, chain=(), key="ec", ips=(), client=False,
             days=90, cn=None):
        """A leaf signed by issuer (default the root); its .pem holds the leaf, then chain."""
        issuer = issuer or self.ca
        k = self.key(name, key)
        sans = [f"DNS:{d}" for d in dns] + [f"IP:{i}" for i in ips]
        usage = "digitalSignature,keyEncipherment" if key == "rsa" else "digitalSignature"
        ext = (f"basicConstraints=CA:FALSE\nkeyUsage=critical,{usage}\n"
               f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n"
               "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
        if sans:
            ext += "subjectAltName=" + ",".join(sans) + "\n"
        crt = self._sign(name, cn or (list(dns) + list(ips) + [name])[0], k, issuer, ext, days)
        pem = self.root / f"{name}.pem"
        pem.write_bytes(crt.read_bytes() + b"".join(Path(c.leaf).read_bytes() for c in chain))
        return Pair(pem, k, crt)


def pem_of(der):
    return ssl.DER_cert_to_PEM_cert(der)


def cert_info(cert):
    """Fields of one certificate (PEM str/bytes/Path or DER bytes) read with `openssl x509`."""
    if isinstance(cert, Path):
        cert = cert.read_bytes()
    if isinstance(cert, str):
        cert = cert.encode()
    if not cert.lstrip().startswith(b"-----"):
        cert = pem_of(cert).encode()
    p = subprocess.run([OPENSSL, "x509", "-noout", "-text", "-serial", "-subject", "-issuer",
                        "-startdate", "-enddate", "-nameopt", "RFC2253"], input=cert,
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    out = p.stdout.decode()

    def line(prefix):
        for l in out.splitlines():
            if l.startswith(prefix):
                return l[len(prefix):].strip()
        return None

    def cn(dn):
        m = re.search(r"(?:^|,)CN=([^,]*)", dn or "")
        return m.group(1) if m else None

    def when(s):
        return datetime.fromtimestamp(ssl.cert_time_to_seconds(s), timezone.utc)

    sans = []
    m = re.search(r"X509v3 Subject Alternative Name:.*?\n\s*(.*)\n", out)
    if m:
        sans = [s.strip() for s in m.group(1).split(",")]
    bits = re.search(r"Public-Key: \((\d+) bit\)", out)
    algo = re.search(r"Public Key Algorithm: (\S+)", out)
    return {
        "serial": line("serial="), "subject": cn(line("subject=")), "issuer": cn(line("issuer=")),
        "not_before": when(line("notBefore=")), "not_after": when(line("notAfter=")),
        "sans": sans, "bits": int(bits.group(1)) if bits else None,
        "algorithm": algo.group(1) if algo else None, "text": out,
    }


# --- starting dwaar with an HTTP and an HTTPS port --------------------------------------------

def fill(text, **subs):
    import textwrap
    out = textwrap.dedent(text).lstrip("\n")
    for k, v in subs.items():
        out = out.replace("${%s}" % k, str(getattr(v, "addr", v)))
    left = re.findall(r"\$\{[A-Za-z0-9_]+\}", out)
    assert not left, f"unfilled slots {left} in config"
    return out


def _config(body, hp, sp, glob, subs):
    g = f"{{\n    http_port {hp}\n    https_port {sp}\n"
    for l in (glob.splitlines() if glob else []):
        g += f"    {l.strip()}\n"
    g += "}\n"
    return g + fill(body, HP=hp, SP=sp, **subs)


def start(live, body, glob="", env=None, wait="https", **subs):
    """Starts `dwaar run` with `http_port`/`https_port` set to free ports (srv.hp, srv.sp) and
    a private cert dir (env DWAAR_CERT_DIR, default an empty directory) and ACME dirs that lead
    nowhere but loopback. wait: which of the two ports must open ("https", "http", "both")."""
    e = {"DWAAR_CERT_DIR": str(live.tmp / "no-certs"),
         "DWAAR_ACME_DIR": str(live.tmp / "acme"),
         "DWAAR_ACME_DIRECTORY": "http://127.0.0.1:9/directory",
         "DWAAR_ACME_FALLBACK_DIRECTORY": ""}
    (live.tmp / "no-certs").mkdir(exist_ok=True)
    (live.tmp / "acme").mkdir(exist_ok=True)
    e.update(env or {})
    last = None
    for _ in range(3):
        hp, sp = free_port(), free_port()
        first = sp if wait in ("https", "both") else hp
        cfg = _config(body, hp, sp, glob, subs)
        try:
            srv = live.start(cfg, port=first, env=e)
        except RuntimeError as ex:
            last = ex
            errf = live.tmp / f"srv{len(live.servers)}" / "dwaar.stderr"
            err = errf.read_text(errors="replace") if errf.exists() else ""
            if "Address already in use" in err:
                continue
            raise
        srv.hp, srv.sp, srv.glob, srv.subs = hp, sp, glob, subs
        if wait == "both":
            wait_port(hp, proc=srv.proc)
        return srv
    raise last


def reloads(srv):
    return srv.stderr().count("configuration reloaded")


REFUSED = ("reload failed", "not applied")


def refusals(srv):
    err = srv.stderr()
    return sum(err.count(m) for m in REFUSED)


def reload(srv, body, expect_ok=True, **subs):
    """Rewrites the Dwaarfile (same ports) and sends SIGHUP; waits until dwaar reports the
    reload applied (expect_ok) or refused ("reload failed" / "... not applied")."""
    before_ok, before_bad = reloads(srv), refusals(srv)
    allsubs = dict(srv.subs)
    allsubs.update(subs)
    srv.reload(_config(body, srv.hp, srv.sp, srv.glob, allsubs))
    if expect_ok:
        assert wait_for(lambda: reloads(srv) > before_ok or refusals(srv) > before_bad, 15), \
            f"no reload reported:\n{srv.stderr()[-3000:]}"
        time.sleep(0.3)  # a refusal by the workers is logged just after configd's line
        assert refusals(srv) == before_bad, f"the reload was refused:\n{srv.stderr()[-3000:]}"
    else:
        assert wait_for(lambda: refusals(srv) > before_bad, 15), \
            f"the reload was not refused:\n{srv.stderr()[-3000:]}"


# --- TLS clients ------------------------------------------------------------------------------

def client_ctx(alpn=None, ca=None, minv=None, maxv=None, check_hostname=None, cert=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca is None:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    else:
        ctx.load_verify_locations(cafile=str(ca))
        ctx.check_hostname = True if check_hostname is None else check_hostname
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if minv:
        ctx.minimum_version = minv
    if maxv:
        ctx.maximum_version = maxv
    if cert:
        ctx.load_cert_chain(str(cert.cert), str(cert.key))
    return ctx


def tls_socket(port, sni, ctx=None, session=None, timeout=10.0, **ctxkw):
    """A connected, handshaken TLS socket to 127.0.0.1:port with SNI sni (None: no SNI)."""
    ctx = ctx or client_ctx(**ctxkw)
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=sni, session=session)
    except BaseException:
        raw.close()
        raise


@dataclass
class Hs:
    der: bytes
    version: str
    alpn: str
    session_reused: bool
    cipher: tuple = None


def handshake(port, sni, **kw):
    """One handshake; returns what was negotiated (raises ssl.SSLError / OSError on failure)."""
    with tls_socket(port, sni, **kw) as s:
        return Hs(s.getpeercert(binary_form=True), s.version(), s.selected_alpn_protocol(),
                  s.session_reused, s.cipher())


def handshake_error(port, sni, **kw):
    """The exception a handshake that must fail raises (AssertionError if it succeeds)."""
    try:
        hs = handshake(port, sni, **kw)
    except (ssl.SSLError, OSError) as e:
        return e
    raise AssertionError(f"handshake with SNI {sni!r} succeeded: {cert_info(hs.der)['sans']}")


class HTTPSConn(http.client.HTTPConnection):
    """http.client over TLS to 127.0.0.1:port with a chosen SNI and context."""

    def __init__(self, port, sni, ctx, timeout=10.0, session=None):
        super().__init__("127.0.0.1", port, timeout=timeout)
        self.sni, self.ctx, self.tls_session = sni, ctx, session

    def connect(self):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=self.timeout)
        self.sock = self.ctx.wrap_socket(raw, server_hostname=self.sni, session=self.tls_session)


def https_conn(port, sni, timeout=10.0, alpn=("http/1.1",), session=None, **ctxkw):
    c = HTTPSConn(port, sni, client_ctx(alpn=alpn, **ctxkw), timeout, session)
    c.connect()
    return c


def https_request(srv, method="GET", path="/", host="a.test", sni="", headers=None, body=None,
                  conn=None, timeout=10.0, **ctxkw):
    """One HTTP/1.1 request over TLS (fresh connection unless conn). sni "" means = host."""
    own = conn is None
    if own:
        conn = https_conn(srv.sp, host if sni == "" else sni, timeout, **ctxkw)
    try:
        return http_request(None, method, path, host, headers, body, timeout, conn=conn)
    finally:
        if own:
            conn.close()


def https_get(srv, path="/", host="a.test", **kw):
    return https_request(srv, "GET", path, host, **kw)


def s_client(port, *args, timeout=20):
    """`openssl s_client -connect 127.0.0.1:port args...` with empty stdin. -> (rc, output)."""
    p = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{port}", *args],
                       input=b"", capture_output=True, timeout=timeout)
    return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")


def pem_blocks(text):
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)


# --- an HTTPS upstream ------------------------------------------------------------------------

class TlsBackend:
    """A threaded HTTPS/1.1 server on 127.0.0.1. pair: its certificate; client_ca: require a
    client certificate signed by it. handler(rec, h) -> (status, headers, body) or None (200
    "tls-backend <path>"). Records .requests (Recorded, with .sni and .client_cn attributes),
    .snis (every SNI seen by a ClientHello, None without one) and .handshake_errors."""

    def __init__(self, pair, client_ca=None, handler=None):
        self.requests, self.snis, self.handshake_errors = [], [], []
        self.handler = handler
        self.lock = threading.Lock()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(pair.cert), str(pair.key))
        ctx.set_alpn_protocols(["http/1.1"])
        if client_ca is not None:
            ctx.load_verify_locations(cafile=str(client_ca))
            ctx.verify_mode = ssl.CERT_REQUIRED
        outer = self

        def sni_cb(sslobj, name, _ctx):
            with outer.lock:
                outer.snis.append(name)
            sslobj.dwaar_sni = name

        ctx.sni_callback = sni_cb

        class Srv(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = self.socket.accept()
                return ctx.wrap_socket(sock, server_side=True,
                                       do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def setup(self):
                self.request.settimeout(15)
                try:
                    self.request.do_handshake()
                except (ssl.SSLError, OSError) as e:
                    with outer.lock:
                        outer.handshake_errors.append(repr(e))
                    raise
                self.tls_sni = getattr(self.request, "dwaar_sni", None)
                peer = self.request.getpeercert()
                self.client_cn = None
                if peer:
                    for rdn in peer.get("subject", ()):
                        for k, v in rdn:
                            if k == "commonName":
                                self.client_cn = v
                super().setup()

            def _any(self):
                body = read_request_body(self)
                rec = Recorded(self.command, self.path, list(self.headers.items()), body)
                rec.sni, rec.client_cn = self.tls_sni, self.client_cn
                with outer.lock:
                    outer.requests.append(rec)
                res = outer.handler(rec, self) if outer.handler else None
                if res is None:
                    res = (200, [("Content-Type", "text/plain")],
                           f"tls-backend {self.path}".encode())
                status, hdrs, out = res
                self.send_response(status)
                for k, v in hdrs:
                    self.send_header(k, v)
                if "content-length" not in {k.lower() for k, _ in hdrs}:
                    self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_HEAD = _any

        self.httpd = Srv(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sha(data):
    return hashlib.sha256(data).hexdigest()
