"""Split deployment on loopback (issue "control plane", Done-when 3): one control plane
(`dwaar run --role control`) and two data planes (`--role data --control tcp://...`) sharing the
HTTP port with SO_REUSEPORT. Each check runs on a connection accepted by a known data-plane
process, so "serves on both" is proven per process."""
import signal
import time

import pytest

from cptest import Procs, connections_per_pid, ctl, free_port, get_on, wait_for
from livetest import Backend

CONFIG = """{{
    http_port {port}
}}
:{port} {{
    respond "base"
}}
"""


def control_ports():
    """A base port whose +1 and +2 are free too (requests, updates, logs)."""
    import socket
    for _ in range(50):
        base = free_port()
        socks = []
        try:
            for p in (base + 1, base + 2):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port triple")


def served(conns, host, want_status, want_body=None):
    for s in conns.values():
        status, body = get_on(s, host)
        if status != want_status or (want_body is not None and body != want_body):
            return False
    return True


def wait_nodes(endpoint, names, timeout=15):
    def ok():
        rc, out, _ = ctl(endpoint, "--json", "status")
        return rc == 0 and all(n in out for n in names)
    return wait_for(ok, timeout=timeout, step=0.2)


def test_split_control_and_two_data_planes(tmp_path):
    http_port, admin_port, base = free_port(), free_port(), control_ports()
    cfg = tmp_path / "Dwaarfile"
    cfg.write_text(CONFIG.format(port=http_port))
    control_url = f"tcp://127.0.0.1:{base}"
    ctl_ep = f"ipc://{tmp_path}/ctl.ipc"
    control_args = ["run", "--role", "control", "--control", control_url, "-c", str(cfg),
                    "--admin-addr", f"127.0.0.1:{admin_port}", "--ctl-endpoint", ctl_ep]
    be1, be2 = Backend(name="one"), Backend(name="two")
    procs = Procs(tmp_path)
    try:
        procs.start("control", control_args, wait=[admin_port])
        d1 = procs.start("data1", ["run", "--role", "data", "--control", control_url,
                                   "--workers", "1", "--node", "dp1"], wait=[http_port])
        d2 = procs.start("data2", ["run", "--role", "data", "--control", control_url,
                                   "--workers", "1", "--node", "dp2"])
        assert wait_nodes(ctl_ep, ["dp1", "dp2"]), ctl(ctl_ep, "--json", "status")
        conns = connections_per_pid(http_port, [d1.pid, d2.pid])
        assert set(conns) == {d1.pid, d2.pid}, "both data planes must accept connections"
        assert served(conns, "base.test", 200, b"base")
        assert served(conns, "new.test", 200, b"base")  # not routed yet: the catch-all

        # a route added with dwaarctl serves on both within a second
        rc, out, err = ctl(ctl_ep, "routes", "add", "new.test", f"127.0.0.1:{be1.port}")
        assert rc == 0, (out, err)
        t0 = time.monotonic()
        assert wait_for(lambda: served(conns, "new.test", 200, b"one /"), timeout=5,
                        step=0.02)
        took = time.monotonic() - t0
        assert took < 1.0, f"route reached both data planes after {took:.3f} s"
        assert len(be1.requests) >= 2

        # the control plane dies: both keep serving their last snapshot
        control = procs.all[0]
        control.stop(sig=signal.SIGKILL, check=False)
        procs.all.remove(control)
        time.sleep(4)  # longer than the agents' lost-contact threshold
        assert served(conns, "new.test", 200, b"one /")
        assert served(conns, "base.test", 200, b"base")
        fresh = connections_per_pid(http_port, [d1.pid, d2.pid])
        assert served(fresh, "new.test", 200, b"one /")
        for d in (d1, d2):
            assert "lost contact with the control plane" in d.stderr()

        # it restarts (API routes lived only in its memory) and a later change reaches both
        procs.start("control2", control_args, wait=[admin_port])
        assert wait_for(lambda: served(conns, "new.test", 200, b"base"), timeout=10, step=0.1)
        rc, out, err = ctl(ctl_ep, "routes", "add", "later.test", f"127.0.0.1:{be2.port}")
        assert rc == 0, (out, err)
        t0 = time.monotonic()
        assert wait_for(lambda: served(conns, "later.test", 200, b"two /"), timeout=5,
                        step=0.02)
        assert time.monotonic() - t0 < 1.0
        for d in (d1, d2):
            assert "control plane tcp://" in d.stderr() and "is back" in d.stderr()
        for s in list(conns.values()) + list(fresh.values()):
            s.close()
    finally:
        be1.stop()
        be2.stop()
        procs.close()


def test_data_plane_waits_for_its_control_plane(tmp_path):
    http_port, admin_port, base = free_port(), free_port(), control_ports()
    cfg = tmp_path / "Dwaarfile"
    cfg.write_text(CONFIG.format(port=http_port))
    control_url = f"tcp://127.0.0.1:{base}"
    procs = Procs(tmp_path)
    try:
        d = procs.start("data", ["run", "--role", "data", "--control", control_url,
                                 "--workers", "1"])
        assert wait_for(lambda: "waiting for the control plane" in d.stderr(), timeout=10)
        assert d.proc.poll() is None
        procs.start("control", ["run", "--role", "control", "--control", control_url, "-c",
                                str(cfg), "--admin-addr", f"127.0.0.1:{admin_port}",
                                "--ctl-endpoint", f"ipc://{tmp_path}/ctl.ipc"],
                    wait=[admin_port])
        from livetest import wait_port, http_request
        wait_port(http_port, proc=d.proc)
        assert http_request(http_port, "GET", "/").body == b"base"
    finally:
        procs.close()


def test_data_role_needs_control_flag(tmp_path):
    import subprocess
    from dwaartest import DWAAR_BIN
    r = subprocess.run([DWAAR_BIN, "run", "--role", "data"], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2 and "--control" in r.stderr


if __name__ == "__main__":
    pytest.main([__file__])
