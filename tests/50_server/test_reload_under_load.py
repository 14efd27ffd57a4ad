"""Reload under load (issue "control plane", Done-when 2): 200 connections for the whole run
while the config is reloaded 50 times by file change, SIGHUP and the admin API, alternating
valid and invalid configs. Zero failed requests; every valid change is served; every invalid
one is rejected with its error where it was asked for (API: 400 body; signal and file change:
the process log); the process stays clean under ASan/LSan to its exit."""
import re
import shutil
import signal
import subprocess
import time

import pytest

from cptest import Procs, admin, free_port, wait_for
from livetest import http_request

TOKEN = "reload-test-token"
RELOADS = 50
STEP_S = 0.75         # at least this long per reload
API_EVERY = 7         # every 7th reload goes through POST /reload (5 s cooldown between them)
API_COOLDOWN_S = 5.2


def valid(port, gen):
    return (f"{{\n    http_port {port}\n}}\n:{port} {{\n    respond /gen \"{gen}\"\n"
            f"    respond \"ok\"\n}}\n")


def invalid(port, gen):
    return f"{{\n    http_port {port}\n}}\n:{port} {{\n    bogus_{gen} on\n}}\n"


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is installed by make test")
def test_reload_50_times_under_200_connections(tmp_path):
    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "Dwaarfile"
    cfg.write_text(valid(port, "start"))
    procs = Procs(tmp_path)
    try:
        dw = procs.start("dwaar", ["run", "-c", str(cfg), "--workers", "2", "--admin-addr",
                                   f"127.0.0.1:{admin_port}"],
                         env={"DWAAR_ADMIN_TOKEN": TOKEN}, wait=[port, admin_port])
        n_steps_s = RELOADS * STEP_S + 15
        wrk = subprocess.Popen(["wrk", "-t2", "-c200", f"-d{int(n_steps_s)}s", "--timeout", "10s",
                                f"http://127.0.0.1:{port}/"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
        try:
            current = "start"
            last_api = 0.0
            seen = {"api": 0, "signal": 0, "file": 0}
            for i in range(RELOADS):
                step_start = time.monotonic()
                good = i % 2 == 0
                text = valid(port, i) if good else invalid(port, i)
                if i % API_EVERY == 0:
                    how = "api"
                    wait = API_COOLDOWN_S - (time.monotonic() - last_api)
                    if wait > 0:
                        time.sleep(wait)
                    cfg.write_text(text)
                    status, _, body = admin(admin_port, "POST", "/reload", token=TOKEN)
                    last_api = time.monotonic()
                    if good:
                        assert status == 200, (i, status, body)
                    else:
                        assert status == 400, (i, status, body)
                        msg = body.decode()
                        assert f"bogus_{i}" in msg and "<config>" in msg, msg
                        assert str(cfg) not in msg and "Dwaarfile" not in msg, msg
                elif i % 2 == 1 or i % 4 == 0:
                    how = "signal"
                    cfg.write_text(text)
                    dw.proc.send_signal(signal.SIGHUP)
                else:
                    how = "file"
                    cfg.write_text(text)
                seen[how] += 1
                if good:
                    current = str(i)
                    assert wait_for(lambda: http_request(port, "GET", "/gen").body ==
                                    current.encode(), timeout=10), \
                        f"reload {i} by {how} was not applied"
                else:
                    pat = re.compile(rf"Dwaarfile:5:5: .*bogus_{i}")
                    assert wait_for(lambda: pat.search(dw.stderr()), timeout=10), \
                        f"reload {i} by {how}: no error reported:\n{dw.stderr()[-2000:]}"
                    assert http_request(port, "GET", "/gen").body == current.encode()
                rest = STEP_S - (time.monotonic() - step_start)
                if rest > 0:
                    time.sleep(rest)
            assert all(seen.values()), seen
        finally:
            wrk.send_signal(signal.SIGINT) if wrk.poll() is None else None
            out = wrk.communicate(timeout=60)[0]
        assert "requests in" in out, out
        assert "Non-2xx" not in out and "Socket errors" not in out, out
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        assert requests > 1000, out
        assert dw.proc.poll() is None
    finally:
        procs.close()
