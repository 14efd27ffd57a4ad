#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_msg: valid envelopes of the messages in docs/bus.md and
broken ones of every reject class. Usage: gen_corpus_msg.py [OUT_DIR]. Seeds are named
seed-<what>; inputs libFuzzer found are kept next to them under their hash names.
No third-party modules: the msgpack encoding is done here, by hand."""
import os
import struct
import sys


def pack(v):
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7F:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack("b", v)
        if v >= 0:
            for code, fmt, lim in ((0xCC, ">B", 0xFF), (0xCD, ">H", 0xFFFF),
                                   (0xCE, ">I", 0xFFFFFFFF), (0xCF, ">Q", 2**64 - 1)):
                if v <= lim:
                    return bytes([code]) + struct.pack(fmt, v)
        for code, fmt, lim in ((0xD0, ">b", 2**7), (0xD1, ">h", 2**15), (0xD2, ">i", 2**31),
                               (0xD3, ">q", 2**63)):
            if v >= -lim:
                return bytes([code]) + struct.pack(fmt, v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode()
        n = len(b)
        if n < 32:
            return bytes([0xA0 | n]) + b
        if n < 256:
            return b"\xd9" + bytes([n]) + b
        if n < 65536:
            return b"\xda" + struct.pack(">H", n) + b
        return b"\xdb" + struct.pack(">I", n) + b
    if isinstance(v, bytes):
        n = len(v)
        if n < 256:
            return b"\xc4" + bytes([n]) + v
        return b"\xc5" + struct.pack(">H", n) + v
    if isinstance(v, list):
        n = len(v)
        head = bytes([0x90 | n]) if n < 16 else b"\xdc" + struct.pack(">H", n)
        return head + b"".join(pack(x) for x in v)
    if isinstance(v, dict):
        n = len(v)
        head = bytes([0x80 | n]) if n < 16 else b"\xde" + struct.pack(">H", n)
        return head + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(type(v))


def env(t, body=None, version=1, id_=1, with_body=True):
    m = {"type": t, "version": version, "id": id_}
    if with_body:
        m["body"] = body
    return pack(m)


SOURCE = {"name": "Dwaarfile", "base_dir": "/etc/dwaar", "digest": "0" * 64,
          "files": ["Dwaarfile"],
          "tokens": [[1, 0, 0, 1, 1, "example.com"], [2, 0, 0, 1, 13, "{"],
                     [1, 0, 0, 2, 5, "reverse_proxy"], [1, 0, 0, 2, 19, "127.0.0.1:8080"],
                     [3, 0, 0, 3, 1, "}"]]}
OVERLAY = {"add": [{"domain": "api.example.com", "upstream": "127.0.0.1:9000", "tls": False,
                    "source": "docker"}], "removed": ["old.example.com"]}
ROUTE = {"domain": "example.com", "upstream": "127.0.0.1:8080", "tls": False,
         "rate_limit_rps": 100, "under_attack": False, "source": None}

VALID = {
    "config-get": env("config.get", {}),
    "config-snapshot": env("config.snapshot", {"instance": "i-1", "generation": 7,
                                               "source": SOURCE, "overlay": OVERLAY}, id_=0),
    "config-ping": env("config.ping", {"node": "edge-1", "pid": 4242, "instance": "i-1",
                                       "generation": 7}, id_=2**40 + 5),
    "config-pong": env("config.pong", {"instance": "i-1", "generation": 7}, id_=2**40 + 5),
    "config-reload": env("config.reload", {"origin": "admin"}),
    "config-reload-result": env("config.reload_result", {
        "ok": False, "changed": False, "generation": 7,
        "error": "Dwaarfile:3:1: unknown directive", "path": "/etc/dwaar/Dwaarfile",
        "name": "Dwaarfile"}),
    "config-validate": env("config.validate", {"text": "example.com {\n}\n", "name": None}),
    "config-validate-result": env("config.validate_result", {"ok": True, "error": None,
                                                             "sites": 1, "routes": 1}),
    "config-routes": env("config.routes", {}),
    "config-routes-result": env("config.routes_result", {"routes": [ROUTE, ROUTE]}),
    "config-route-add": env("config.route_add", {"domain": "a.example.com",
                                                 "upstream": "[::1]:8080", "tls": True,
                                                 "source": None}),
    "config-route-result": env("config.route_result", {"ok": True, "error": None,
                                                       "route": ROUTE}),
    "config-route-remove": env("config.route_remove", {"domain": "a.example.com"}),
    "config-status-result": env("config.status_result", {
        "instance": "i-1", "generation": 7, "path": "/etc/dwaar/Dwaarfile", "reloads_ok": 3,
        "reloads_failed": 1, "last_error": None,
        "nodes": [{"node": "edge-1", "pid": 4242, "generation": 7, "age_ms": 1500}]}),
    "log-batch": env("log.batch", {"records": [{"ts": 1.5, "status": 200}, "x", -1]}),
    "admin-status": env("admin.status", {}),
    "error": env("error", {"code": "unknown_type", "message": "unknown message type \"x\""},
                 id_=9),
    "no-body": env("config.get", with_body=False),
    "body-array": env("x.y", [1, -2, 3.5, b"\x00\x01", None, True]),
    "keys-reordered": pack({"body": {}, "id": 3, "version": 2, "type": "config.get"}),
    "max-version": env("x", None, version=2**32 - 1, id_=2**64 - 1),
    "type-128": env("t" * 128, {}),
    "signed-ints": bytes([0x83, 0xA4]) + b"type" + b"\xd9\x01a" + bytes([0xA7]) + b"version" +
    b"\xd0\x03" + bytes([0xA2]) + b"id" + b"\xd3" + struct.pack(">q", 256),
    "ext-body": env("x", None)[:-1] + b"\xd6\xff\x00\x00\x00\x01",
    "depth-32": env("x", None)[:-1] + b"\x91" * 31 + b"\xc0",  # the envelope is level 1
}

good = env("config.ping", {"node": "n", "pid": 1}, id_=77)
BROKEN = {
    "empty": b"",
    "c1": b"\xc1",
    "not-map": pack(["type", "x", 1, 1]),
    "scalar": pack(5),
    "trailing": good + b"\xc0",
    "truncated-half": good[: len(good) // 2],
    "truncated-last": good[:-1],
    "unknown-key": pack({"type": "x", "version": 1, "id": 1, "flags": 0}),
    "missing-id": pack({"type": "x", "version": 1}),
    "missing-type": pack({"version": 1, "id": 1}),
    "int-key": b"\x84" + pack("type") + pack("x") + pack("version") + pack(1) + pack("id") +
    pack(1) + pack(7) + pack(None),
    "version-big": pack({"type": "x", "version": 2**32, "id": 1}),
    "version-neg": pack({"type": "x", "version": -1, "id": 1}),
    "id-neg": pack({"type": "x", "version": 1, "id": -1}),
    "id-str": pack({"type": "x", "version": 1, "id": "1"}),
    "type-empty": pack({"type": "", "version": 1, "id": 1}),
    "type-129": pack({"type": "t" * 129, "version": 1, "id": 1}),
    "type-bin": pack({"type": b"x", "version": 1, "id": 1}),
    "depth-33": env("x", None)[:-1] + b"\x91" * 32 + b"\xc0",
    "array32-bomb": b"\xdd\xff\xff\xff\xff\xc0",
    "map32-bomb": b"\xdf\xff\xff\xff\xff\xc0",
    "str32-bomb": env("x", None)[:-1] + b"\xdb\xff\xff\xff\xff",
    "nested-bomb": b"\x93" + b"\x9f" * 2 + b"\xc0" * 13,
    "oversized": env("x", {"pad": "p" * 5000}),
    "id-then-cut": pack({"id": 42, "type": "x", "version": 1})[:-3],
}
# a real duplicate: the dict above cannot hold one
BROKEN["dup-key"] = b"\x84" + pack("type") + pack("x") + pack("version") + pack(1) + \
    pack("id") + pack(1) + pack("type") + pack("y")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "msg")
    os.makedirs(out, exist_ok=True)
    for name, data in list(VALID.items()) + [("bad-" + k, v) for k, v in BROKEN.items()]:
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print(f"{len(VALID) + len(BROKEN)} seeds in {out}")


if __name__ == "__main__":
    main()
