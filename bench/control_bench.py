#!/usr/bin/python3
"""Control-plane benchmarks (make bench): figures, not assertions.

1. Propagation: one control plane and two data planes on loopback; the time from a route
   added with dwaarctl (its command returning) until BOTH data planes serve it, measured on
   connections each data-plane process accepted.
2. Reload cost with 10,000 sites: the time from SIGHUP (Dwaarfile changed) to the change being
   served, and the process RSS, dwaar vs nginx (`nginx -s reload`) on the same machine and the
   same 10,000 server blocks, with ratios.

usage: control_bench.py BUILD_DIR [--rounds N]"""
import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "50_server"))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tree_rss_kib(pid):
    """RSS of pid and its children (nginx master + workers)."""
    total = rss_kib(pid)
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        total += rss_kib(int(p))
            except OSError:
                pass
    return total


def propagation(rounds):
    from cptest import Procs, connections_per_pid, ctl, free_port, get_on, wait_for
    from livetest import Backend
    from test_split import CONFIG, control_ports
    tmp = Path(tempfile.mkdtemp(prefix="dwaar-bench-"))
    http_port, admin_port, base = free_port(), free_port(), control_ports()
    (tmp / "Dwaarfile").write_text(CONFIG.format(port=http_port))
    url = f"tcp://127.0.0.1:{base}"
    ctl_ep = f"ipc://{tmp}/ctl.ipc"
    be = Backend()
    closed_port = free_port()
    procs = Procs(tmp)
    times, totals = [], []
    try:
        procs.start("control", ["run", "--role", "control", "--control", url, "-c",
                                str(tmp / "Dwaarfile"), "--admin-addr", f"127.0.0.1:{admin_port}",
                                "--ctl-endpoint", ctl_ep], wait=[admin_port])
        d1 = procs.start("d1", ["run", "--role", "data", "--control", url, "--workers", "1"],
                         wait=[http_port])
        d2 = procs.start("d2", ["run", "--role", "data", "--control", url, "--workers", "1"])
        wait_for(lambda: ctl(ctl_ep, "--json", "status")[1].count('"node"') >= 2, timeout=15)
        conns = connections_per_pid(http_port, [d1.pid, d2.pid])
        if len(conns) != 2:
            print("could not reach both data planes")
            return
        for i in range(rounds):
            host = f"r{i}.bench"
            # the upstream is a closed port: the route is in service when the answer turns from
            # the catch-all's 200 to 502 (a real backend would add its own latency)
            t_cmd = time.perf_counter()
            rc, out, err = ctl(ctl_ep, "routes", "add", host, f"127.0.0.1:{closed_port}")
            t0 = time.perf_counter()
            if rc != 0:
                print("dwaarctl failed:", out, err)
                return
            pending = dict(conns)
            while pending and time.perf_counter() - t0 < 10:
                for pid, s in list(pending.items()):
                    if get_on(s, host)[0] == 502:
                        del pending[pid]
            now = time.perf_counter()
            times.append((now - t0) * 1000)
            totals.append((now - t_cmd) * 1000)
    finally:
        be.stop()
        procs.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"dwaarctl routes add -> served by both data planes ({rounds} routes):")
    print(f"  from starting dwaarctl:      median {statistics.median(totals):.2f} ms, "
          f"p90 {pct(totals, 90):.2f} ms, max {max(totals):.2f} ms")
    print(f"  after dwaarctl returned:     median {statistics.median(times):.2f} ms, "
          f"p90 {pct(times, 90):.2f} ms, max {max(times):.2f} ms")


def dwaarfile_10k(port, marker):
    lines = [f"{{\n    http_port {port}\n}}"]
    for i in range(10000):
        lines.append(f"http://site{i}.bench:{port} {{\n    respond \"s{i}\"\n}}")
    lines.append(f"http://marker.bench:{port} {{\n    respond \"{marker}\"\n}}")
    return "\n".join(lines) + "\n"


def nginx_10k(port, marker, tmp):
    blocks = [f"server {{ listen 127.0.0.1:{port}; server_name site{i}.bench; "
              f"return 200 \"s{i}\"; }}" for i in range(10000)]
    blocks.append(f"server {{ listen 127.0.0.1:{port}; server_name marker.bench; "
                  f"return 200 \"{marker}\"; }}")
    return (f"worker_processes 1;\npid {tmp}/nginx.pid;\nerror_log {tmp}/nginx.err;\n"
            f"events {{ worker_connections 1024; }}\nhttp {{\n access_log off;\n"
            f" server_names_hash_max_size 65536;\n server_names_hash_bucket_size 128;\n"
            f" client_body_temp_path {tmp}/t;\n proxy_temp_path {tmp}/t;\n"
            f" fastcgi_temp_path {tmp}/t;\n uwsgi_temp_path {tmp}/t;\n scgi_temp_path {tmp}/t;\n"
            + "\n".join(blocks) + "\n}\n")


def wait_marker(port, want, timeout=60):
    from livetest import http_request
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            if http_request(port, "GET", "/", host="marker.bench", timeout=5).body == want:
                return (time.perf_counter() - t0) * 1000
        except OSError:
            pass
        time.sleep(0.002)
    return None


def reload_10k(rounds):
    from cptest import Procs, free_port, wait_for
    from livetest import wait_port
    tmp = Path(tempfile.mkdtemp(prefix="dwaar-bench-"))
    res = {}
    # dwaar
    port, admin_port = free_port(), free_port()
    cfg = tmp / "Dwaarfile"
    cfg.write_text(dwaarfile_10k(port, "m0"))
    procs = Procs(tmp)
    try:
        t0 = time.perf_counter()
        dw = procs.start("dwaar", ["run", "-c", str(cfg), "--workers", "1", "--admin-addr",
                                   f"127.0.0.1:{admin_port}"], wait=[port])
        wait_marker(port, b"m0")
        start_ms = (time.perf_counter() - t0) * 1000
        times = []
        for i in range(1, rounds + 1):
            cfg.write_text(dwaarfile_10k(port, f"m{i}"))
            t0 = time.perf_counter()
            dw.proc.send_signal(signal.SIGHUP)
            ms = wait_marker(port, f"m{i}".encode())
            times.append(ms + (time.perf_counter() - t0) * 0 if ms else float("nan"))
        res["dwaar"] = (start_ms, statistics.median(times), rss_kib(dw.pid))
    finally:
        procs.close()
    # nginx
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if os.path.exists(nginx):
        port = free_port()
        (tmp / "t").mkdir(exist_ok=True)
        conf = tmp / "nginx.conf"
        conf.write_text(nginx_10k(port, "m0", tmp))
        t0 = time.perf_counter()
        p = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;", "-e",
                              str(tmp / "nginx.err")], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            wait_port(port, proc=p)
            wait_marker(port, b"m0")
            start_ms = (time.perf_counter() - t0) * 1000
            times = []
            for i in range(1, rounds + 1):
                conf.write_text(nginx_10k(port, f"m{i}", tmp))
                t0 = time.perf_counter()
                p.send_signal(signal.SIGHUP)
                ms = wait_marker(port, f"m{i}".encode())
                times.append(ms if ms else float("nan"))
            time.sleep(1)  # old workers gone
            res["nginx"] = (start_ms, statistics.median(times), tree_rss_kib(p.pid))
        finally:
            p.send_signal(signal.SIGQUIT)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"10,000 sites, median of {rounds} reloads (signal -> change served):")
    print(f"{'':8} {'start ms':>10} {'reload ms':>10} {'RSS MiB':>9}")
    for k, (s, r, m) in res.items():
        print(f"{k:8} {s:10.1f} {r:10.1f} {m / 1024:9.1f}")
    if "nginx" in res:
        d, n = res["dwaar"], res["nginx"]
        print(f"{'ratio':8} {d[0] / n[0]:10.2f} {d[1] / n[1]:10.2f} {d[2] / n[2]:9.2f}"
              "   (dwaar / nginx; below 1 = dwaar better)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_CP_ROUNDS", "20")))
    a = ap.parse_args()
    build = Path(a.build).resolve()
    os.environ["DWAAR_BIN"] = str(build / "dwaar-ingress" / "dwaar")
    os.environ["DWAARCTL_BIN"] = str(build / "dwaar-admin" / "dwaarctl")
    propagation(a.rounds)
    reload_10k(max(3, a.rounds // 4))


if __name__ == "__main__":
    main()
