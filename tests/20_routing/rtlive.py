"""Helpers shared by the request-level routing tests (tests/20_routing).

    conf(text, be=backend, dead=port, ...)  dedent text and fill ${name} slots (no brace clash
                                            with Dwaarfile placeholders); a Backend fills in
                                            its host:port
    G                                       the global block: http_port {PORT}
    start_fails(live, config)               `dwaar run` must refuse config: exit 1 and a
                                            `Dwaarfile:<line>:<col>: ` error; returns stderr
    security_headers(resp)                  spec 20 §2.12 baseline on a plain-HTTP response
    unix_exchange(path, data)               raw bytes over an AF_UNIX socket
    wait_until(pred, timeout)               poll a condition, bounded
"""
import os
import re
import socket
import subprocess
import textwrap
import time

from dwaartest import DWAAR_BIN
from livetest import SANITIZER_MARKERS, free_port

G = "{\n    http_port {PORT}\n}\n"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
LEAKY = ("X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version", "X-Runtime", "X-Generator")


def conf(text, **subs):
    """Dedented config text; ${name} is replaced by subs[name] (a Backend gives its .addr)."""
    out = textwrap.dedent(text).lstrip("\n")
    for k, v in subs.items():
        out = out.replace("${%s}" % k, str(getattr(v, "addr", v)))
    left = re.findall(r"\$\{[a-z0-9_]+\}", out)
    assert not left, f"unfilled slots {left} in config"
    return out


def start_fails(live, config, needle=None, timeout=15.0):
    """`dwaar run -c Dwaarfile` must exit 1 without serving, with a located config error on
    stderr (`Dwaarfile:<line>:<col>: ...`) that contains needle."""
    root = live.tmp / f"refused{len(live.procs)}"
    root.mkdir(parents=True, exist_ok=True)
    path = root / "Dwaarfile"
    path.write_text(config.replace("{PORT}", str(free_port())))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWAAR_") or k == "DWAAR_BIN"}
    p = live.popen([DWAAR_BIN, "run", "-c", str(path), "--workers", "2"], cwd=root, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise AssertionError(f"`dwaar run` kept running instead of refusing:\n{config}")
    err = err.decode("utf-8", "replace")
    bad = [m for m in SANITIZER_MARKERS if m in err]
    assert not bad, f"dwaar reported a sanitizer error:\n{err[-6000:]}"
    assert p.returncode == 1, f"expected exit 1, got {p.returncode}\nstderr: {err}"
    assert re.search(r"Dwaarfile:\d+:\d+: ", err), f"no file:line:col in stderr:\n{err}"
    if needle is not None:
        assert needle in err, f"expected {needle!r} in stderr:\n{err}"
    return err


def security_headers(resp):
    """The always-on security headers of spec 20 §2.12 on a plain-HTTP response."""
    assert resp.header("X-Content-Type-Options") == "nosniff", resp.headers
    assert resp.header("X-Frame-Options") == "SAMEORIGIN", resp.headers
    assert resp.header("Referrer-Policy") == "strict-origin-when-cross-origin", resp.headers
    assert resp.header_all("Server") == ["Dwaar"], resp.headers
    assert resp.header("Strict-Transport-Security") is None, "HSTS on plain HTTP"
    for h in LEAKY:
        assert resp.header(h) is None, f"leaky header {h} kept: {resp.headers}"


def unix_exchange(path, data, timeout=5.0):
    """Sends data over an AF_UNIX stream socket, reads until close or timeout."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(data)
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                chunk = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            out += chunk
        return out


def wait_until(pred, timeout=5.0, interval=0.05):
    """Polls pred() until true or timeout; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def head_lines(raw):
    """The header lines of the first response in raw bytes (status line excluded)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")[1:]
