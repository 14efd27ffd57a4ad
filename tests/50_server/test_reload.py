"""The running server: SIGHUP reload (snapshot swap), failed reloads, graceful stop, workers.

These check the issue's "reload by SIGHUP; a failed reload keeps the running snapshot" and the
spec 30 §8 signal table (OPS-04) against the real `dwaar run`."""
import signal
import threading
import time

from livetest import free_port, http_request, wait_for, wait_port


def site(port, body):
    return f"{{\n    http_port {port}\n}}\n:{port} {{\n    respond \"{body}\"\n}}\n"


def test_OPS_04_sighup_applies_new_routes_same_pid_no_failed_requests(live):
    srv = live.start(site("{PORT}", "one"))
    assert srv.get("/").body == b"one"
    pid = srv.proc.pid
    failures, statuses = [], []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                r = srv.get("/", timeout=5)
                statuses.append(r.body)
                if r.status != 200:
                    failures.append(r.status)
            except OSError as e:  # a refused or reset connection is a failed request
                failures.append(repr(e))

    t = threading.Thread(target=hammer)
    t.start()
    try:
        time.sleep(0.3)
        srv.reload(site("{PORT}", "two"))
        assert wait_for(lambda: srv.get("/").body == b"two"), "the new config was not applied"
        time.sleep(0.3)
    finally:
        stop.set()
        t.join(10)
    assert srv.proc.poll() is None and srv.proc.pid == pid
    assert not failures, failures[:5]
    assert b"one" in statuses and b"two" in statuses


def test_failed_reload_keeps_running_config(live):
    srv = live.start(site("{PORT}", "kept"))
    srv.reload("{\n    http_port {PORT}\n}\n:{PORT} {\n    proxzy 127.0.0.1:1\n}\n")
    assert wait_for(lambda: "Dwaarfile:5:5:" in srv.stderr()), srv.stderr()
    assert "reload failed" in srv.stderr()
    assert srv.proc.poll() is None
    r = srv.get("/")
    assert (r.status, r.body) == (200, b"kept")


def test_reload_opens_new_ports_and_closes_removed_ones(live):
    srv = live.start(site("{PORT}", "a"))
    other = free_port()
    srv.reload(f"{{\n    http_port {other}\n}}\n:{other} {{\n    respond \"b\"\n}}\n")
    wait_port(other)
    assert http_request(other).body == b"b"
    import socket

    def old_port_closed():
        try:
            socket.create_connection(("127.0.0.1", srv.port), timeout=0.5).close()
            return False
        except OSError:
            return True

    assert wait_for(old_port_closed), "the removed port still accepts connections"


def test_in_flight_request_finishes_on_its_snapshot_across_reload(live):
    gate = threading.Event()

    def slow(rec, h):
        if rec.path == "/slow":  # only the in-flight request waits; probes answer at once
            gate.wait(10)
        return None

    be = live.backend(slow, name="old")
    srv = live.start(f"{{\n    http_port {{PORT}}\n}}\n:{{PORT}} {{\n    reverse_proxy {be.addr}\n}}\n")
    result = {}

    def call():
        result["r"] = srv.get("/slow", timeout=20)

    t = threading.Thread(target=call)
    t.start()
    assert wait_for(lambda: len(be.requests) == 1)
    srv.reload(site("{PORT}", "new"))  # until it applies, "/" still reaches the backend
    assert wait_for(lambda: srv.get("/").body == b"new")
    gate.set()
    t.join(20)
    assert result["r"].status == 200 and result["r"].body == b"old /slow"


def test_sigterm_drains_in_flight_requests_and_exits_zero(live):
    gate = threading.Event()

    def slow(rec, h):
        gate.wait(10)
        return None

    be = live.backend(slow, name="be")
    srv = live.start(f"{{\n    http_port {{PORT}}\n}}\n:{{PORT}} {{\n    reverse_proxy {be.addr}\n}}\n")
    result = {}

    def call():
        result["r"] = srv.get("/x", timeout=20)

    t = threading.Thread(target=call)
    t.start()
    assert wait_for(lambda: len(be.requests) == 1)
    srv.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert srv.proc.poll() is None, "stopped before the in-flight request finished"
    gate.set()
    t.join(20)
    assert result["r"].status == 200
    assert srv.proc.wait(timeout=20) == 0


def test_workers_flag_serves_with_several_threads(live):
    srv = live.start(site("{PORT}", "w"), workers=4)
    with open(f"/proc/{srv.proc.pid}/status") as f:
        threads = int([l for l in f if l.startswith("Threads:")][0].split()[1])
    assert threads >= 5  # main + 4 workers (+ the health service)
    for _ in range(20):
        assert srv.get("/").body == b"w"


def test_port_in_use_fails_start_with_a_clear_error(dw):
    import socket
    s = socket.socket()
    s.bind(("0.0.0.0", 0))
    s.listen(1)
    port = s.getsockname()[1]
    try:
        dw.write("Dwaarfile", site(port, "x"))
        r = dw.run("run", "-c", "Dwaarfile", timeout=30)
        assert r.code == 1
        assert f":{port}" in r.err and "Address already in use" in r.err
    finally:
        s.close()
