"""Active health checks of `reverse_proxy` (spec 20 §3.3, PERF-29, PERF-30; decisions 12, 32).

Backends answer `/health` from a switch the test flips; `health_interval 1s` keeps it short.
Waits are bounded and generous (a shared 2-core machine): "within one interval" is checked as
"within 5 s"."""
import time
from collections import Counter

from proxytest import app_requests, fnv1a64, proxy_config, served_by, sticky_value, wait_for


def switchable(live, names):
    """Backends whose /health answers 200 while state[name] is True, else 500."""
    state = {n: True for n in names}

    def make(n):
        def h(rec, _h):
            if rec.path == "/health":
                return (200, [], b"ok") if state[n] else (500, [], b"sick")
            return None
        return h
    bes = [live.backend(handler=make(n), name=n) for n in names]
    return bes, state


def probes(be):
    return [r for r in list(be.requests) if r.path == "/health"]


HEALTH = """health_uri /health
health_interval 1s"""


def test_PERF_29_health_probe_request_shape(live):
    bes, state = switchable(live, "A")
    live.start(proxy_config([bes[0].addr], block=HEALTH))
    p = wait_for(lambda: probes(bes[0]), 8, what="a health probe")[0]
    assert p.method == "GET"
    assert p.header("Host") == bes[0].addr, p.headers
    assert (p.header("Connection") or "").lower() == "close"
    # probes repeat every interval
    wait_for(lambda: len(probes(bes[0])) >= 3, 10, what="three probes")


def test_PERF_29_failing_backend_removed_then_restored(live):
    bes, state = switchable(live, "AB")
    a, b = bes
    srv = live.start(proxy_config([x.addr for x in bes], block=HEALTH))
    seen = Counter(served_by(srv.get(f"/warm{i}")) for i in range(6))
    assert seen == {"A": 3, "B": 3}, seen

    state["B"] = False
    t0 = time.monotonic()

    def only_a():
        got = [served_by(srv.get("/probe-a")) for _ in range(6)]
        return all(g == "A" for g in got)
    wait_for(only_a, 5, interval=0.1, what="B (failing /health) to stop getting traffic")
    removed = time.monotonic() - t0
    before = len(app_requests(b))
    got = Counter(served_by(srv.get(f"/down{i}")) for i in range(20))
    assert got == {"A": 20}, f"B is unhealthy but got traffic: {got}"
    assert len(app_requests(b)) == before

    state["B"] = True
    t1 = time.monotonic()
    wait_for(lambda: served_by(srv.get("/probe-b")) == "B", 5, interval=0.1,
             what="B to return after a 2xx probe")
    restored = time.monotonic() - t1
    got = Counter(served_by(srv.get(f"/up{i}")) for i in range(10))
    assert got == {"A": 5, "B": 5}, got
    print(f"removed after {removed:.2f} s, restored after {restored:.2f} s")


def test_PERF_29_health_transitions_logged(live):
    bes, state = switchable(live, "AB")
    srv = live.start(proxy_config([x.addr for x in bes], block=HEALTH))
    state["B"] = False
    wait_for(lambda: all(served_by(srv.get("/x")) == "A" for _ in range(4)), 6, interval=0.1,
             what="B removed")
    state["B"] = True
    wait_for(lambda: served_by(srv.get("/y")) == "B", 6, interval=0.1, what="B restored")
    time.sleep(0.3)
    log = srv.stderr().lower()
    # addresses are masked in these lines (127.x.x.x:port); only look for the transitions
    assert "unhealthy" in log, "the unhealthy transition should be logged at WARN"
    assert f"127.x.x.x:{bes[1].port}" in log, "the logged address is masked as 127.x.x.x:port"
    assert "127.0.0.1:" + str(bes[1].port) not in log, "backend addresses must be masked"


def test_PERF_30_all_backends_unhealthy_is_502(live):
    bes, state = switchable(live, "AB")
    srv = live.start(proxy_config([x.addr for x in bes], block=HEALTH))
    assert srv.get("/start").status == 200  # all backends start healthy
    state["A"] = state["B"] = False
    wait_for(lambda: srv.get("/x").status == 502, 6, interval=0.1,
             what="502 with every backend unhealthy")
    n = sum(len(app_requests(b)) for b in bes)
    for i in range(5):
        r = srv.get(f"/none{i}")
        assert r.status == 502, r
    assert sum(len(app_requests(b)) for b in bes) == n, "an unhealthy backend got traffic"
    # recovery of one backend brings service back
    state["A"] = True
    wait_for(lambda: srv.get("/back").status == 200, 6, interval=0.1, what="A back")
    assert served_by(srv.get("/z")) == "A"


def test_PERF_30_single_unhealthy_backend_is_502(live):
    bes, state = switchable(live, "A")
    state["A"] = False
    srv = live.start(proxy_config([bes[0].addr], block=HEALTH))
    wait_for(lambda: srv.get("/x").status == 502, 6, interval=0.1,
             what="502 with the only backend unhealthy")


def test_PERF_33_failed_probe_starts_fail_duration_window(live):
    """With fail_duration, a failed probe keeps the backend out for the whole window even when
    the next probes succeed (spec 20 §3.3 passive checks)."""
    log = []
    state = {"B": True}

    def h(rec, _h):
        if rec.path == "/health":
            ok = _h.server.server_address[1] != b.port or state["B"]
            log.append((time.monotonic(), _h.server.server_address[1], ok))
            return (200, [], b"ok") if ok else (500, [], b"sick")
        return None
    a, b = live.backend(handler=h, name="A"), live.backend(handler=h, name="B")
    srv = live.start(proxy_config([a.addr, b.addr], block=HEALTH + "\nfail_duration 4s"))
    wait_for(lambda: served_by(srv.get("/w")) == "B", 5, what="B in service")
    state["B"] = False
    wait_for(lambda: any(p == b.port and not ok for _, p, ok in log), 6, interval=0.05,
             what="a failing probe of B")
    t_fail = next(t for t, p, ok in log if p == b.port and not ok)
    state["B"] = True  # the next probes pass, but the window holds
    while time.monotonic() < t_fail + 3.0:
        r = srv.get("/in-window")
        assert served_by(r) == "A", \
            f"B served {time.monotonic() - t_fail:.2f} s after its failed probe (window 4 s)"
        time.sleep(0.1)
    assert any(p == b.port and ok and t > t_fail for t, p, ok in log), \
        "B was probed healthy again inside the window"
    wait_for(lambda: served_by(srv.get("/back")) == "B", 6, interval=0.1,
             what="B back after the window")


def test_PERF_28_cookie_for_unavailable_backend_rebalanced(live):
    """A sticky cookie naming an unhealthy backend: round robin to an available one and a new
    cookie for it."""
    bes, state = switchable(live, "AB")
    a, b = bes
    srv = live.start(proxy_config([a.addr, b.addr], block=HEALTH + "\nlb_policy cookie"))
    cookie = {"Cookie": f"_dwaar_sticky={sticky_value(b)}"}
    assert served_by(srv.get("/s", headers=cookie)) == "B"
    state["B"] = False
    wait_for(lambda: served_by(srv.get("/s", headers=cookie)) == "A", 6, interval=0.1,
             what="the sticky client moved off the unhealthy backend")
    r = srv.get("/s2", headers=cookie)
    assert served_by(r) == "A"
    sc = [v for v in r.header_all("Set-Cookie") if v.startswith("_dwaar_sticky=")]
    assert sc and sc[0].split(";")[0] == f"_dwaar_sticky={sticky_value(a)}", r.headers


def test_PERF_26_ip_hash_skips_unhealthy_backend(live):
    """ip_hash scans forward from the hashed backend when it is unavailable."""
    bes, state = switchable(live, "ABC")
    srv = live.start(proxy_config([x.addr for x in bes], block=HEALTH + "\nlb_policy ip_hash"))
    idx = fnv1a64(bytes([127, 0, 0, 1])) % 3
    assert served_by(srv.get("/h")) == bes[idx].name
    state[bes[idx].name] = False
    nxt = bes[(idx + 1) % 3].name
    wait_for(lambda: served_by(srv.get("/h")) == nxt, 6, interval=0.1,
             what=f"ip_hash moving on to {nxt}")
    got = {served_by(srv.get(f"/h{i}")) for i in range(10)}
    assert got == {nxt}, got
