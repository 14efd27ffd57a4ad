"""Helpers for tests that drive the `dwaar` binary.

    dw.write("Dwaarfile", text)            write a file under the test's directory
    dw.run("validate", "-c", "Dwaarfile")  run dwaar there -> Result(code, out, err)
    dw.adapt(text)                         load text as ./Dwaarfile, return the model as JSON
                                           (fails the test with stderr if it does not load)
    dw.fails(text, "message")              assert that loading fails and that stderr has a line
                                           containing message; returns stderr
    dw.warns(text, "message")              loads, and stderr has a warning containing message
    subset(actual, expected)               JSON subset match used by the golden files
    S(body)                                a site `:8080 { body }`; body line 1 is file line 2, col 5
    named(model, "header")                 site 0's directives of one kind
    addrs(model)                           (host, port, tls) of every site address
"""
import json
import os
import subprocess
import textwrap
from dataclasses import dataclass
from pathlib import Path

def admin_env(root):
    """Environment giving a dwaar process its own admin port and address file."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return {"DWAAR_ADMIN_ADDR": f"127.0.0.1:{port}",
            "DWAAR_ADMIN_ADDR_FILE": str(Path(root) / "dwaar-admin.addr")}


DWAAR_BIN = os.environ.get("DWAAR_BIN") or str(
    Path(__file__).resolve().parent.parent / "build-test" / "dwaar-ingress" / "dwaar")


@dataclass
class Result:
    code: int
    out: str
    err: str


class Dwaar:
    def __init__(self, root: Path):
        self.root = Path(root)

    def write(self, name, text, mode=None):
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text)
        if mode is not None:
            p.chmod(mode)
        return p

    def run(self, *args, env=None, cwd=None, timeout=60):
        e = {k: v for k, v in os.environ.items() if not k.startswith("DWAAR_") or k == "DWAAR_BIN"}
        # a `run` started here must not take the default admin port 6190 (tests run in parallel)
        e.update(admin_env(self.root))
        e.update(env or {})
        p = subprocess.run([DWAAR_BIN, *args], cwd=cwd or self.root, env=e, capture_output=True,
                           timeout=timeout)
        return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                      p.stderr.decode("utf-8", "replace"))

    def load(self, text, env=None, name="Dwaarfile"):
        self.write(name, text)
        return self.run("adapt", "-c", name, env=env)

    def adapt(self, text, env=None, name="Dwaarfile"):
        r = self.load(text, env=env, name=name)
        assert r.code == 0, f"config did not load:\n{r.err}"
        return json.loads(r.out)

    def fails(self, text, message, env=None, name="Dwaarfile"):
        r = self.load(text, env=env, name=name)
        assert r.code == 1, f"expected failure, got {r.code}\nstdout: {r.out}\nstderr: {r.err}"
        assert message in r.err, f"expected {message!r} in stderr:\n{r.err}"
        return r.err

    def warns(self, text, message, env=None, name="Dwaarfile"):
        r = self.load(text, env=env, name=name)
        assert r.code == 0, f"config did not load:\n{r.err}"
        lines = [l for l in r.err.splitlines() if "warning:" in l and message in l]
        assert lines, f"expected a warning with {message!r}:\n{r.err}"
        return json.loads(r.out)


DASH = "\u2014"  # the em dash several spec messages use


def S(body, addr=":8080"):
    body = textwrap.indent(textwrap.dedent(body).strip("\n"), "    ")
    return f"{addr} {{\n{body}\n}}\n"


def named(model, name, i=0):
    """Site i's directives called name."""
    return [d for d in dirs(model, i) if d["directive"] == name]


def addrs(model):
    return [(a["host"], a["port"], a["tls"]) for s in model["sites"] for a in s["addresses"]]


def site(model, i=0):
    return model["sites"][i]


def dirs(model, i=0):
    """The directives of site i's block."""
    return model["sites"][i]["block"]["directives"]


def subset(actual, expected, path="$"):
    """Every key of an expected object must match; lists match element by element and must
    have the same length. Raises AssertionError naming the first difference."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        for k, v in expected.items():
            assert k in actual, f"{path}: missing key {k!r} (have {sorted(actual)})"
            subset(actual[k], v, f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{path}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{path}: {len(actual)} items, expected {len(expected)}: {actual!r}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            subset(a, e, f"{path}[{i}]")
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
