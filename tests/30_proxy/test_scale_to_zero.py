"""scale_to_zero (spec 10 §6.1): RT-29, RT-30."""
import os
import stat
import threading

from livetest import free_port

PY = "/usr/bin/python3"


def config(port_up, block):
    return ("{\n    http_port {PORT}\n}\n:{PORT} {\n"
            f"    reverse_proxy 127.0.0.1:{port_up} {{\n{block}\n    }}\n}}\n")


def test_RT_29_relative_wake_command_with_down_upstream_is_504(live):
    down = free_port()
    srv = live.start(config(down, "        scale_to_zero {\n            wake_command start.sh\n"
                                  "            wake_timeout 2\n        }"))
    r = srv.get("/")
    assert r.status == 504


def test_RT_29_scale_to_zero_without_wake_command_fails(dw):
    r = dw.load(":8080 {\n    reverse_proxy 127.0.0.1:1 {\n        scale_to_zero {\n"
                "            wake_timeout 5\n        }\n    }\n}\n")
    assert r.code == 1 and "wake_command is required" in r.err


def test_RT_30_wake_command_runs_once_for_concurrent_requests(live, tmp_path):
    port = free_port()
    counter = tmp_path / "wakes"
    server_py = tmp_path / "upstream.py"
    server_py.write_text(
        "import http.server, sys\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def log_message(self, *a): pass\n"
        "    def do_GET(self):\n"
        "        b = b'awake'\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(b)))\n"
        "        self.end_headers(); self.wfile.write(b)\n"
        f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H).serve_forever()\n")
    pidfile = tmp_path / "upstream.pid"
    script = tmp_path / "start.sh"
    # the wake command counts its runs, then starts the upstream a moment later
    script.write_text(f"#!/bin/sh\necho run >> {counter}\n"
                      f"(sleep 1; exec {PY} {server_py}) &\necho $! > {pidfile}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    srv = live.start(config(port, f"        scale_to_zero {{\n            wake_command {script}\n"
                                  "            wake_timeout 15\n        }"))
    results = []

    def call(i):
        results.append(srv.get(f"/{i}", timeout=30))

    try:
        threads = [threading.Thread(target=call, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(40)
        assert [r.status for r in results] == [200] * 5, [(r.status, r.body) for r in results]
        assert all(r.body == b"awake" for r in results)
        assert counter.read_text().count("run") == 1
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text().strip()), 15)
            except (ValueError, ProcessLookupError):
                pass
