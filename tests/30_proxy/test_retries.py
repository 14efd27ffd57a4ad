"""Retries and passive failure windows of `reverse_proxy` (spec 20 §3.3, PERF-32, PERF-33).

A "refused" backend is a free loopback port nobody listens on. `fail_duration 3s` stands in for
the checklist's 30 s to keep the test short."""
import time
from collections import Counter

import pytest

from livetest import free_port
from proxytest import app_requests, proxy_config, served_by, wait_for


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_PERF_32_idempotent_request_retried_on_healthy_backend(live, method):
    good = live.backend(name="B")
    refused = f"127.0.0.1:{free_port()}"
    srv = live.start(proxy_config([refused, good.addr], block="lb_retries 2"))
    for i in range(10):
        r = srv.request(method, f"/g{i}")
        assert r.status == 200, f"{method} #{i}: {r.status} (should be retried on B)"
    assert [x.method for x in good.requests] == [method] * 10


def test_PERF_32_post_not_retried(live):
    good = live.backend(name="B")
    refused = f"127.0.0.1:{free_port()}"
    srv = live.start(proxy_config([refused, good.addr], block="lb_retries 2"))
    statuses = [srv.request("POST", f"/p{i}", body=b"data").status for i in range(10)]
    assert set(statuses) <= {200, 502}, statuses
    # round robin over two backends sends about half of the POSTs to the refused one
    assert statuses.count(502) >= 3, f"POSTs to the refused backend must not be retried: " \
        f"{statuses}"
    assert len(good.requests) == statuses.count(200)
    assert all(x.body == b"data" for x in good.requests)


def test_PERF_32_no_retries_by_default(live):
    good = live.backend(name="B")
    refused = f"127.0.0.1:{free_port()}"
    srv = live.start(proxy_config([refused, good.addr]))
    statuses = [srv.get(f"/n{i}").status for i in range(6)]
    assert statuses.count(502) == 3 and statuses.count(200) == 3, statuses


def test_PERF_32_retries_exhausted_is_502(live):
    refused = [f"127.0.0.1:{free_port()}" for _ in range(3)]
    srv = live.start(proxy_config(refused, block="lb_retries 2"))
    t0 = time.monotonic()
    assert srv.get("/x", timeout=30).status == 502
    # two retries with 50 ms + 100 ms backoff: well under the 30 s lb_try_duration
    assert time.monotonic() - t0 < 10


def test_PERF_33_fail_duration_window(live):
    """A backend that refused a connection gets no traffic for fail_duration (3 s here), then
    gets traffic again. The refused port starts listening right after the failure, so any
    request sent there inside the window would be seen."""
    good = live.backend(name="B")
    port = free_port()
    srv = live.start(proxy_config([f"127.0.0.1:{port}", good.addr], block="fail_duration 3s"))
    t_fail = None
    for i in range(4):
        r = srv.get(f"/f{i}")
        if r.status == 502:
            t_fail = time.monotonic()
            break
        assert r.status == 200
    assert t_fail is not None, "round robin never tried the refused backend"
    late = live.backend(name="P", port=port)  # the backend comes up at once
    inside = []
    while time.monotonic() < t_fail + 2.0:  # well inside the 3 s window
        r = srv.get("/inside")
        inside.append(served_by(r))
        time.sleep(0.05)
    assert app_requests(late) == [], \
        f"backend in its failure window got {len(app_requests(late))} requests"
    assert Counter(inside) == {"B": len(inside)}, Counter(inside)
    # after the window it is used again
    wait_for(lambda: served_by(srv.get("/after")) == "P", 8, interval=0.1,
             what="traffic to the backend after its failure window")
    assert time.monotonic() - t_fail >= 2.0


def test_PERF_33_fail_duration_zero_means_no_window(live):
    """fail_duration 0 (the default, decision 12): the backend is tried again at once."""
    good = live.backend(name="B")
    port = free_port()
    srv = live.start(proxy_config([f"127.0.0.1:{port}", good.addr], block="fail_duration 0"))
    for i in range(4):
        if srv.get(f"/f{i}").status == 502:
            break
    else:
        pytest.fail("round robin never tried the refused backend")
    late = live.backend(name="P", port=port)
    got = Counter(served_by(srv.get(f"/z{i}")) for i in range(6))
    assert got == {"B": 3, "P": 3}, got
    assert len(app_requests(late)) == 3


def test_PERF_33_fail_duration_with_retries(live):
    """Inside the window even a retrying GET never dials the failed backend."""
    good = live.backend(name="B")
    port = free_port()
    srv = live.start(proxy_config([f"127.0.0.1:{port}", good.addr],
                                  block="fail_duration 3s\nlb_retries 1"))
    t0 = time.monotonic()
    statuses = [srv.get(f"/r{i}").status for i in range(6)]
    assert statuses == [200] * 6, statuses
    late = live.backend(name="P", port=port)
    while time.monotonic() < t0 + 2.0:
        assert served_by(srv.get("/in")) == "B"
    assert app_requests(late) == []


def get_within(srv, path, timeout, **kw):
    """srv.get that fails the test cleanly when no answer arrives within timeout."""
    try:
        return srv.get(path, timeout=timeout, **kw)
    except TimeoutError:
        pytest.fail(f"GET {path}: no answer within {timeout} s")


def closer(sock, server):
    """Accepts, reads the request head, closes without a response byte."""
    server.read_head(sock)


def closers(live, n):
    from proxytest import RawServer
    out = [RawServer(closer) for _ in range(n)]
    live.backends.extend(out)
    return out


def test_PERF_32_retry_count_is_lb_retries(live):
    """An upstream error before any response byte is retried for a GET: 1 try + lb_retries
    retries, with 50 ms, 100 ms, 200 ms backoff in between."""
    bes = closers(live, 2)
    # response_timeout bounds a stuck attempt, so a failure is quick and shows its status
    srv = live.start(proxy_config([b.addr for b in bes],
                                  block="lb_retries 3\nresponse_timeout 3s"))
    t0 = time.monotonic()
    r = get_within(srv, "/x", 10)
    took = time.monotonic() - t0
    assert r.status == 502, f"{r.status} after {took:.1f} s, upstream heads " \
        f"{[len(b.heads) for b in bes]}, connections {[b.connections for b in bes]}"
    wait_for(lambda: sum(len(b.heads) for b in bes) >= 4, 5, what="four attempts")
    time.sleep(0.3)
    assert sum(len(b.heads) for b in bes) == 4, [len(b.heads) for b in bes]
    # each retry goes to another backend when one exists
    assert [len(b.heads) for b in bes] == [2, 2]
    assert took >= 0.3, f"retries without backoff ({took:.3f} s)"


def test_PERF_32_lb_try_duration_bounds_retries(live):
    """lb_retries 10 would take ~9.5 s of backoff; lb_try_duration 1s stops it early."""
    bes = closers(live, 2)
    srv = live.start(proxy_config([b.addr for b in bes],
                                  block="lb_retries 10\nlb_try_duration 1s\n"
                                        "response_timeout 3s"))
    t0 = time.monotonic()
    r = get_within(srv, "/x", 10)
    took = time.monotonic() - t0
    assert r.status == 502, f"{r.status} after {took:.1f} s, upstream heads " \
        f"{[len(b.heads) for b in bes]}, connections {[b.connections for b in bes]}"
    time.sleep(0.3)
    attempts = sum(len(b.heads) for b in bes)
    assert 2 <= attempts <= 7, attempts
    assert took < 5, f"lb_try_duration 1s ignored: answered after {took:.1f} s"


def test_PERF_32_post_with_upstream_error_not_retried(live):
    bes = closers(live, 2)
    srv = live.start(proxy_config([b.addr for b in bes],
                                  block="lb_retries 3\nresponse_timeout 3s"))
    assert srv.request("POST", "/p", body=b"x", timeout=10).status == 502
    time.sleep(0.5)
    assert sum(len(b.heads) for b in bes) == 1
