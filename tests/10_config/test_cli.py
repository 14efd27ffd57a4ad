"""The command line (spec 10 §9): CLI-01..CLI-03, CLI-06..CLI-12, CLI-15."""
import os
import re
import subprocess

from dwaartest import DWAAR_BIN, admin_env

GOOD = "a.test:8001 {\n    respond\n}\nb.test:8002 {\n    handle /x {\n        respond\n    }\n    respond\n}\n"
BAD = "a.test {\n    proxzy :8080\n}\n"


def test_CLI_01_version(dw):
    for args in (["version"], ["--version"], ["-V"]):
        r = dw.run(*args)
        assert r.code == 0
        assert re.fullmatch(r"dwaar \d+\.\d+\.\d+\n", r.out), r.out


def test_CLI_02_validate(dw):
    dw.write("good", GOOD)
    dw.write("bad", BAD)
    r = dw.run("validate", "-c", "good")
    assert r.code == 0, r.err
    assert r.out == "Dwaarfile OK (2 sites, 4 routes)\n"
    r = dw.run("validate", "-c", "bad")
    assert r.code == 1
    assert r.err.startswith("bad:2:5: unknown directive 'proxzy'")
    assert r.out == ""


def test_validate_counts_addresses_and_routes(dw):
    # decision 20: an address in a multi-address block counts once per address
    dw.write("Dwaarfile", "a.test, b.test, c.test {\n    route {\n        respond\n    }\n}\n")
    assert dw.run("validate").out == "Dwaarfile OK (3 sites, 2 routes)\n"


def test_CLI_03_test_flag(dw):
    dw.write("good", GOOD)
    dw.write("bad", BAD)
    r = dw.run("-t", "-c", "good")
    assert r.code == 0 and "Dwaarfile OK" in r.out
    r = dw.run("--test", "--config", "bad")
    assert r.code == 1 and "bad:2:5:" in r.err


def test_CLI_06_config_lookup_order(dw, tmp_path):
    dw.write("Dwaarfile", "cwd.test:8001 {\n}\n")
    dw.write("env.dwaar", "env.test:8001 {\n}\n")
    dw.write("flag.dwaar", "flag.test:8001 {\n}\n")
    host = lambda r: r.out.split('"host":"')[1].split('"')[0]
    assert host(dw.run("adapt")) == "cwd.test"
    assert host(dw.run("adapt", env={"DWAAR_CONFIG": "env.dwaar"})) == "env.test"
    assert host(dw.run("adapt", "-c", "flag.dwaar", env={"DWAAR_CONFIG": "env.dwaar"})) == "flag.test"
    # a subcommand's -c overrides the global one
    assert host(dw.run("-c", "env.dwaar", "adapt", "-c", "flag.dwaar")) == "flag.test"


def test_CLI_07_missing_config(dw, tmp_path):
    r = dw.run("validate")  # no ./Dwaarfile here (and no /etc/dwaar/Dwaarfile on test machines)
    if os.path.exists("/etc/dwaar/Dwaarfile"):
        return
    assert r.code == 1
    assert "Config file not found." in r.err
    assert f"Resolved path: {tmp_path}/Dwaarfile" in r.err
    assert f"Working dir: {tmp_path}" in r.err
    r = dw.run("validate", "-c", "nope.dwaar")
    assert r.code == 1 and f"Resolved path: {tmp_path}/nope.dwaar" in r.err


def test_CLI_08_workers(dw):
    dw.write("Dwaarfile", GOOD)
    r = dw.run("--workers", "0", "-t")
    assert r.code == 2 and "worker count must be at least 1" in r.err
    r = dw.run("--workers", "two", "-t")
    assert r.code == 2 and "invalid worker count 'two': expected 'auto' or a positive integer" in r.err
    assert dw.run("--workers", "4", "-t").code == 0
    assert dw.run("--workers", "auto", "-t").code == 0


def test_CLI_09_unknown_flag(dw):
    r = dw.run("--frobnicate")
    assert r.code == 2
    assert "unknown flag '--frobnicate'" in r.err and "Usage:" in r.err
    r = dw.run("validate", "--nope")
    assert r.code == 2
    assert dw.run("bogus-command").code == 2
    assert dw.run("-c").code == 2  # missing value


def test_CLI_10_bare_and_no_flags(dw):
    dw.write("Dwaarfile", GOOD)
    r = dw.run("--bare", "--no-logging", "--no-plugins", "--no-analytics", "--no-geoip", "--no-metrics",
               "--no-cache", "-t")
    assert r.code == 0, r.err


def test_CLI_11_optional_socket_values(dw):
    dw.write("Dwaarfile", GOOD)
    assert dw.run("--docker-socket", "--admin-socket", "-t").code == 0
    assert dw.run("--docker-socket", "/tmp/d.sock", "--admin-socket=/tmp/a.sock", "-t").code == 0
    assert dw.run("--admin-socket", "validate").code == 0  # a command is not taken as the path


def test_CLI_12_run_is_the_default_command(dw, live):
    # both forms serve the same config the same way
    from livetest import free_port, http_request, wait_port
    for args in (["run"], []):
        port = free_port()
        dw.write("served", f"{{\n    http_port {port}\n}}\n:{port} {{\n    respond \"up\"\n}}\n")
        p = live.popen([DWAAR_BIN, *args, "-c", str(dw.root / "served"), "--workers", "1"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, **admin_env(dw.root)})
        wait_port(port, proc=p)
        r = http_request(port, path="/")
        assert (r.status, r.body) == (200, b"up"), args
        p.terminate()
        assert p.wait(timeout=20) == 0, args
    dw.write("bad", BAD)
    a, b = dw.run("run", "-c", "bad"), dw.run("-c", "bad")
    assert a.code == b.code == 1 and "bad:2:5:" in a.err and a.err == b.err


def test_CLI_15_subcommands_accept_their_values(dw):
    # certs/upgrade/self-update come with later issues: they parse, then say so
    for args in (["certs", "--cert-dir", "/tmp/x"], ["upgrade", "--binary", "/bin/true", "--pid-file", "/tmp/p"],
                 ["self-update", "--force"]):
        r = dw.run(*args)
        assert r.code == 1, (args, r.err)
        assert "not available in this build yet" in r.err
    # routes/reload are admin API clients: with no server there, they exit 1 with a hint
    from livetest import free_port
    for args in (["routes", "--admin", f"127.0.0.1:{free_port()}"],
                 ["reload", "--admin", f"unix://{dw.root}/none.sock"]):
        r = dw.run(*args)
        assert r.code == 1, (args, r.err)
        assert "dwaar is not running" in r.err, r.err
    assert dw.run("certs", "--bogus").code == 2


def test_help_for_each_command(dw):
    for cmd in ("validate", "fmt", "version", "adapt", "run"):
        r = dw.run(cmd, "--help")
        assert r.code == 0 and "Usage: dwaar" in r.out
    assert "Commands:" in dw.run("--help").out
