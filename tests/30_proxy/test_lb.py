"""Load-balancing policies and max_conns of `reverse_proxy` (spec 20 §3.3, PERF-24..28, 31;
decisions 32, 33), against a live `dwaar run` with named recording backends."""
import threading
import time
from collections import Counter

import pytest

from proxytest import (RawConn, app_requests, fnv1a64, proxy_config, request_bytes,
                       served_by, sticky_value, wait_for)

def backends(live, names, handler=None):
    return [live.backend(handler=handler, name=n) for n in names]


def test_PERF_24_round_robin_even_spread(live):
    bes = backends(live, "ABC")
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy round_robin"))
    seen = Counter()
    for i in range(300):
        r = srv.get(f"/rr{i}")
        assert r.status == 200, r
        seen[served_by(r)] += 1
    assert seen == {"A": 100, "B": 100, "C": 100}, seen
    assert [len(b.requests) for b in bes] == [100, 100, 100]


def test_PERF_24_round_robin_is_the_default(live):
    bes = backends(live, "AB")
    srv = live.start(proxy_config([b.addr for b in bes]))
    order = [served_by(srv.get(f"/d{i}")) for i in range(20)]
    assert Counter(order) == {"A": 10, "B": 10}, order
    # strict rotation: never the same backend twice in a row
    assert all(a != b for a, b in zip(order, order[1:])), order


def slow_handler(release):
    def h(rec, _h):
        if rec.path.startswith("/slow"):
            release.wait(30)
        return None
    return h


def start_in_thread(fn, *args):
    out = {}

    def run():
        try:
            out["r"] = fn(*args)
        except Exception as e:  # noqa: BLE001
            out["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_PERF_25_least_conn_prefers_fewer_in_flight(live):
    release = threading.Event()
    bes = backends(live, "AB", slow_handler(release))
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy least_conn"))
    try:
        t, out = start_in_thread(lambda: srv.get("/slow-1", timeout=40))
        busy = wait_for(lambda: next((b for b in bes if app_requests(b)), None), 10,
                        what="the slow request reaching a backend")
        other = bes[1] if busy is bes[0] else bes[0]
        got = []
        for i in range(6):
            got.append(served_by(srv.get(f"/fast{i}")))
            # the in-flight slot is released at request end, which may come a moment after the
            # client has the last byte; do not race it
            time.sleep(0.1)
        assert got == [other.name] * 6, \
            f"with {busy.name} holding one in-flight request, new ones went to {got}"
    finally:
        release.set()
    t.join(20)
    assert out.get("r") is not None and out["r"].status == 200, out
    # ties go to the first backend
    assert busy is bes[0], "least_conn breaks ties toward the first backend"


def test_PERF_25_least_conn_two_busy_one_free(live):
    release = threading.Event()
    bes = backends(live, "ABC", slow_handler(release))
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy least_conn"))
    threads = []
    try:
        for i in range(2):
            threads.append(start_in_thread(lambda i=i: srv.get(f"/slow-{i}", timeout=40)))
            wait_for(lambda: sum(len(app_requests(b)) for b in bes) == i + 1, 10,
                     what=f"slow request {i} reaching a backend")
        busy = {b.name for b in bes if app_requests(b)}
        assert len(busy) == 2, "two in-flight requests should sit on two different backends"
        free = ({"A", "B", "C"} - busy).pop()
        got = []
        for i in range(4):
            got.append(served_by(srv.get(f"/f{i}")))
            time.sleep(0.1)  # see above: let the slot be released
        assert got == [free] * 4, got
    finally:
        release.set()
    for t, _ in threads:
        t.join(20)


def test_PERF_26_ip_hash_same_client_same_backend(live):
    bes = backends(live, "ABC")
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy ip_hash"))
    got = {served_by(srv.get(f"/h{i}")) for i in range(30)}
    assert len(got) == 1, f"one client IP went to several backends: {got}"


def test_PERF_26_ip_hash_uses_fnv1a_of_address_bytes(live):
    """Several loopback source addresses, each mapped as spec 20 §3.3 says: FNV-1a 64 over the
    4 address bytes, mod n."""
    bes = backends(live, "ABC")
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy ip_hash"))
    for last in range(1, 9):
        ip = f"127.0.0.{last}"
        want = bes[fnv1a64(bytes([127, 0, 0, last])) % 3].name
        for i in range(3):
            with RawConn(srv.port, source=ip) as c:
                c.send(request_bytes("GET", f"/ip{last}-{i}"))
                r = c.response()
            assert r.status == 200
            assert r.body.split(b" ")[0].decode() == want, f"{ip} -> {r.body!r}, want {want}"


def test_PERF_27_random_never_selects_unhealthy_backend(live):
    def h(rec, _h):
        if rec.path == "/health":
            return (500, [], b"sick") if _h.server.server_address[1] == bad.port else None
        return None
    bes = backends(live, "ABC", h)
    bad = bes[1]
    srv = live.start(proxy_config([b.addr for b in bes], block="""
        lb_policy random
        health_uri /health
        health_interval 1s"""))
    wait_for(lambda: [r for r in bad.requests if r.path == "/health"], 8,
             what="a health probe of the failing backend")
    time.sleep(1.5)  # more than one interval: the probe result is applied
    seen = Counter(served_by(srv.get(f"/r{i}")) for i in range(60))
    assert "B" not in seen, f"random selected the unhealthy backend: {seen}"
    assert seen["A"] > 0 and seen["C"] > 0, f"random should use both healthy backends: {seen}"
    assert sum(seen.values()) == 60


def test_PERF_27_random_spreads_over_healthy(live):
    bes = backends(live, "ABC")
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy random"))
    seen = Counter(served_by(srv.get(f"/r{i}")) for i in range(90))
    assert set(seen) == {"A", "B", "C"}, seen
    assert min(seen.values()) >= 10, f"not plausibly uniform: {seen}"


def cookie_of(resp):
    for v in resp.header_all("Set-Cookie"):
        if v.startswith("_dwaar_sticky="):
            return v
    return None


def test_PERF_28_cookie_sticky_sessions(live):
    bes = backends(live, "ABC")
    by_name = {b.name: b for b in bes}
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy cookie"))
    r = srv.get("/first")
    assert r.status == 200
    sc = cookie_of(r)
    assert sc, f"no _dwaar_sticky Set-Cookie: {r.headers}"
    first = served_by(r)
    value = sc.split(";")[0].split("=", 1)[1]
    assert value == sticky_value(by_name[first]), \
        f"cookie {value} is not FNV-1a 64 of 127.0.0.1:{by_name[first].port}"
    attrs = {a.strip().lower() for a in sc.split(";")[1:]}
    assert {"path=/", "httponly", "samesite=lax", "max-age=86400"} <= attrs, sc
    for i in range(12):
        r = srv.get(f"/again{i}", headers={"Cookie": f"_dwaar_sticky={value}"})
        assert served_by(r) == first, f"sticky request {i} went to {served_by(r)}"
        assert cookie_of(r) is None, "a valid sticky cookie needs no new Set-Cookie"
    # a cookie naming another backend goes there
    for name, be in by_name.items():
        r = srv.get("/pick", headers={"Cookie": f"a=1; _dwaar_sticky={sticky_value(be)}; b=2"})
        assert served_by(r) == name


def test_PERF_28_cookie_unknown_value_gets_new_cookie(live):
    bes = backends(live, "AB")
    srv = live.start(proxy_config([b.addr for b in bes], block="lb_policy cookie"))
    r = srv.get("/x", headers={"Cookie": "_dwaar_sticky=0123456789abcdef"})
    assert r.status == 200
    sc = cookie_of(r)
    assert sc, "an unknown sticky value is replaced by a new cookie"
    assert sc.split(";")[0] == "_dwaar_sticky=" + sticky_value(
        {b.name: b for b in bes}[served_by(r)])


@pytest.mark.parametrize("policy", ["round_robin", "least_conn"])
def test_PERF_31_max_conns_reached_is_502(live, policy):
    release = threading.Event()
    bes = backends(live, "AB", slow_handler(release))
    srv = live.start(proxy_config([b.addr for b in bes],
                                  block=f"lb_policy {policy}\nmax_conns 1"))
    threads = []
    try:
        for i in range(2):
            threads.append(start_in_thread(lambda i=i: srv.get(f"/slow-{i}", timeout=40)))
            wait_for(lambda: sum(len(app_requests(b)) for b in bes) == i + 1, 10,
                     what=f"slow request {i} reaching a backend")
        assert all(len(app_requests(b)) == 1 for b in bes), "one slow request per backend"
        t0 = time.monotonic()
        r = srv.get("/third", timeout=20)
        assert r.status == 502, f"all backends at max_conns: got {r.status}"
        assert time.monotonic() - t0 < 5, "502 should be immediate, not after a wait"
        assert all(len(app_requests(b)) == 1 for b in bes)
    finally:
        release.set()
    for t, out in threads:
        t.join(20)
        assert out.get("r") is not None and out["r"].status == 200, out
    # the slots are released at request end
    time.sleep(0.2)
    assert srv.get("/after").status == 200
    assert srv.get("/after2").status == 200


def test_PERF_31_slot_released_after_upstream_error(live):
    """In-flight counts are released on errors too: after a 504 the single max_conns slot is
    free again."""
    from proxytest import RawServer

    def first_stalls(sock, server):
        head, _ = server.read_head(sock)
        if head is None:
            return
        with server.lock:
            n = server.data["n"] = server.data.get("n", 0) + 1
        if n == 1:
            server.stopping.wait(30)
            return
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")

    be = RawServer(first_stalls)
    live.backends.append(be)
    srv = live.start(proxy_config([be.addr], block="max_conns 1\nresponse_timeout 1s"))
    assert srv.get("/stall", timeout=30).status == 504
    time.sleep(0.2)
    for i in range(3):
        r = srv.get(f"/ok{i}", timeout=30)
        assert (r.status, r.body) == (200, b"ok"), f"slot leaked after the 504: {r.status}"
        time.sleep(0.1)
