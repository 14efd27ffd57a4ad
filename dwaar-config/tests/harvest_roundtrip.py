#!/usr/bin/python3
"""Collects every Dwaarfile the black-box tests load, for the source round-trip test
(test_source.c, config.source) and the fuzz_source seed corpus.

    /usr/bin/python3 dwaar-config/tests/harvest_roundtrip.py [DWAAR_BIN]

runs pytest on tests/[0-9]*/ with Dwaar.run wrapped: before each `adapt`/`validate`, the
test directory's files (each at most 256 KiB; a case with a larger or unreadable file is
skipped) and the environment the test passes are recorded. Live servers (livetest.Server,
Live.popen of `dwaar run -c`) are not started: their config is recorded and the test skipped. The cases, deduplicated, are
written to dwaar-config/tests/roundtrip.cases, one record per case:

    === <case name>
    env <name-length> <value-length>\\n<name><value>\\n
    file <path-length> <content-length>\\n<path><content>\\n
    config <path-length>\\n<path>\\n

(lengths in bytes, so any content survives). The binary only steers the tests' own flow;
what the round trip checks is computed by test_source.c itself."""
import hashlib
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
OUT = Path(__file__).resolve().parent / "roundtrip.cases"
MAX_FILE = 256 * 1024

cases = {}


def snapshot(root: Path, args, env):
    args = list(args)
    if not args or args[0] not in ("adapt", "validate"):
        return
    name = "Dwaarfile"
    for i, a in enumerate(args):
        if a in ("-c", "--config") and i + 1 < len(args):
            name = args[i + 1]
    files = []
    for p in sorted(root.rglob("*")):
        if p.is_symlink() or not p.is_file():
            continue
        try:
            if p.stat().st_size > MAX_FILE:
                return
            files.append((str(p.relative_to(root)).encode(), p.read_bytes()))
        except OSError:
            return
    if not any(f[0] == name.encode() for f in files):
        return
    envs = sorted((k.encode(), v.encode()) for k, v in (env or {}).items())
    rec = b""
    for k, v in envs:
        rec += b"env %d %d\n%s%s\n" % (len(k), len(v), k, v)
    for path, data in files:
        rec += b"file %d %d\n%s%s\n" % (len(path), len(data), path, data)
    rec += b"config %d\n%s\n" % (len(name.encode()), name.encode())
    digest = hashlib.sha256(rec).hexdigest()
    if digest not in cases:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0].split("::")[-1]
        cases[digest] = (test, rec)


class Recorder:
    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session):
        import dwaartest
        import livetest
        real = dwaartest.Dwaar.run

        def run(self, *args, env=None, cwd=None, timeout=60):
            snapshot(Path(cwd or self.root), args, env)
            return real(self, *args, env=env, cwd=cwd, timeout=timeout)

        dwaartest.Dwaar.run = run

        # live servers: record the config they would start with, and start nothing
        def server_init(self, root, config, port=None, workers=2, extra_args=(), env=None,
                        wait_ports=None):
            root = Path(root)
            text = config.replace("{PORT}", str(port or 8080))
            (root / "Dwaarfile").write_text(text)
            snapshot(root, ["adapt", "-c", "Dwaarfile"], env)
            pytest.skip("harvest_roundtrip: config recorded")

        def popen(self, args, *a, **kw):
            args = list(args)
            if "run" in args and "-c" in args:
                cfg = Path(args[args.index("-c") + 1])
                snapshot(cfg.parent, ["adapt", "-c", cfg.name], None)
                pytest.skip("harvest_roundtrip: config recorded")
            pytest.skip("harvest_roundtrip: not a config")

        livetest.Server.__init__ = server_init
        livetest.Live.popen = popen


def has_timeout():
    try:
        import pytest_timeout  # noqa: F401
        return True
    except ImportError:
        return False


def harvest_one(directory, out):
    """Child process: pytest on one directory (test file names repeat across directories, so
    one pytest session cannot collect them all); the cases go to out as records."""
    sys.path.insert(0, str(REPO / "tests"))
    os.chdir(REPO / "tests")
    args = ["-q", "-p", "no:cacheprovider", directory]
    if has_timeout():
        args.insert(0, "--timeout=30")
    pytest.main(args, plugins=[Recorder()])
    with open(out, "wb") as f:
        for digest, (test, rec) in cases.items():
            f.write(b"%s %s %d\n%s" % (digest.encode(), test.encode(), len(rec), rec))


def main():
    if len(sys.argv) > 3 and sys.argv[1] == "--one":
        harvest_one(sys.argv[2], sys.argv[3])
        return
    if len(sys.argv) > 1:
        os.environ["DWAAR_BIN"] = sys.argv[1]
    import subprocess
    import tempfile
    dirs = sorted(p.name for p in (REPO / "tests").iterdir() if p.is_dir() and p.name[:2].isdigit())
    with tempfile.TemporaryDirectory() as tmp:
        for d in dirs:
            part = Path(tmp) / d
            subprocess.run([sys.executable, __file__, "--one", d, str(part)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
            if not part.exists():
                print(f"{d}: no cases (pytest failed to run)")
                continue
            data, n = part.read_bytes(), 0
            while data:
                head, _, data = data.partition(b"\n")
                digest, test, size = head.split(b" ")
                rec, data = data[:int(size)], data[int(size):]
                cases.setdefault(digest.decode(), (test.decode(), rec))
                n += 1
            print(f"{d}: {n} configs")
    out = b""
    for i, (test, rec) in enumerate(sorted(cases.values())):
        out += b"=== %03d-%s\n" % (i, test.encode())
        out += rec
    OUT.write_bytes(out)
    print(f"{len(cases)} cases written to {OUT}")


if __name__ == "__main__":
    main()
