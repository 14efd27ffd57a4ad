"""The Dwaarfile is watched (spec 30 §8.3, OPS-06, CLI-14): editing it or a file it imports
reloads; a save that changes nothing (touch, or a comment) does not; a broken edit is
reported once and the running config stays."""
import os
import time

from cptest import wait_for


def config(port):
    return ("{\n    http_port " + str(port) + "\n}\n"
            f":{port} {{\n    import sites/*.conf\n    respond \"main\"\n}}\n")


def reloads(srv):
    return srv.stderr().count("configuration reloaded")


def test_OPS_06_edit_of_the_file_or_an_import_reloads_and_a_noop_save_does_not(live, tmp_path):
    root = tmp_path / "srv0"
    (root / "sites").mkdir(parents=True)
    (root / "sites" / "a.conf").write_text("respond /a \"a1\"\n")
    srv = live.start(config("{PORT}"))
    assert srv.get("/a").body == b"a1"

    # an imported file changes: reloaded within about a second
    (root / "sites" / "a.conf").write_text("respond /a \"a2\"\n")
    t0 = time.monotonic()
    assert wait_for(lambda: srv.get("/a").body == b"a2", timeout=10)
    assert time.monotonic() - t0 < 5
    assert wait_for(lambda: reloads(srv) == 1, timeout=5), srv.stderr()

    # a touch, and a comment-only change, are not reloads
    os.utime(root / "sites" / "a.conf")
    (root / "Dwaarfile").write_text(srv.config + "# a comment\n")
    time.sleep(1.5)  # longer than the 500 ms debounce
    assert reloads(srv) == 1, srv.stderr()

    # the top-level file changes
    srv.path.write_text(srv.config.replace('"main"', '"main2"'))
    assert wait_for(lambda: srv.get("/").body == b"main2", timeout=10)

    # a broken edit: one error, and the running config keeps serving
    (root / "sites" / "a.conf").write_text("respond /a \"a3\"\nbogus_directive\n")
    assert wait_for(lambda: "unknown directive 'bogus_directive'" in srv.stderr(), timeout=10)
    time.sleep(1.5)
    assert srv.stderr().count("unknown directive 'bogus_directive'") == 1, srv.stderr()
    assert srv.get("/a").body == b"a2"
