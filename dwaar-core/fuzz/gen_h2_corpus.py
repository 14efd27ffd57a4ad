#!/usr/bin/python3
"""Writes the seed corpus of fuzz_h2 (dwaar-core/fuzz/corpus/h2): client byte streams built
with hyperframe and hpack (Debian's python3-hyperframe, python3-hpack).

    /usr/bin/python3 dwaar-core/fuzz/gen_h2_corpus.py [outdir]

Each seed is the harness's control byte (bit 0: the harness sends the preface and SETTINGS
first; bits 1-2: the limit set; bit 3: raw header fields for the head layer) then the bytes.
Names are stable (seed-<what>), so re-running rewrites the same files."""
import struct
import sys
from pathlib import Path

from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, GoAwayFrame, HeadersFrame, PingFrame,
                              PriorityFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
PREFACED = 0x01  # the harness sends PREFACE + an empty SETTINGS itself
RAW_FIELDS = 0x08


def limits(n):
    return (n & 3) << 1


def request(enc, sid, path="/", authority="a.test", method="GET", extra=(), end_stream=True,
            end_headers=True):
    hdrs = [(":method", method), (":scheme", "http"), (":authority", authority), (":path", path)]
    hdrs += list(extra)
    f = HeadersFrame(sid, enc.encode(hdrs))
    if end_headers:
        f.flags.add("END_HEADERS")
    if end_stream:
        f.flags.add("END_STREAM")
    return f


def ser(*frames):
    return b"".join(f.serialize() for f in frames)


def settings(**kw):
    f = SettingsFrame(0)
    ids = {"window": SettingsFrame.INITIAL_WINDOW_SIZE, "table": SettingsFrame.HEADER_TABLE_SIZE,
           "streams": SettingsFrame.MAX_CONCURRENT_STREAMS, "frame": SettingsFrame.MAX_FRAME_SIZE}
    for k, v in kw.items():
        f.settings[ids[k]] = v
    return f


def raw_frame(ftype, flags, sid, payload):
    """A frame hyperframe refuses to build (e.g. DATA on stream 0)."""
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) \
        + payload


def raw_fields(pairs):
    out = b""
    for n, v in pairs:
        out += bytes([len(n)]) + n + struct.pack(">H", len(v)) + v
    return out


def seeds():
    s = {}
    e = Encoder()
    s["get"] = bytes([0]) + PREFACE + ser(SettingsFrame(0), request(e, 1, "/x?y=1"))

    e = Encoder()
    s["two-sites-cookies"] = bytes([PREFACED]) + ser(
        request(e, 1, "/a", "a.test", extra=[("cookie", "a=1"), ("cookie", "b=2")]),
        request(e, 3, "/b", "b.test:8080", extra=[("host", "other.test")]),
        request(e, 5, "/%2e%2e/c/./d", "[::1]:443"),
        request(e, 7, "*", "a.test", method="OPTIONS"))

    e = Encoder()
    block = e.encode([(":method", "POST"), (":scheme", "https"), (":authority", "a.test"),
                      (":path", "/upload"), ("content-length", "5"), ("x-long", "v" * 300)])
    h = HeadersFrame(1, block[:10])
    c1 = ContinuationFrame(1, block[10:100])
    c2 = ContinuationFrame(1, block[100:])
    c2.flags.add("END_HEADERS")
    d = DataFrame(1, b"hello")
    d.flags.add("END_STREAM")
    s["continuation-post"] = bytes([PREFACED]) + ser(h, c1, c2, d)

    e = Encoder()
    tr = HeadersFrame(1, e.encode([("grpc-timeout", "1S")]))
    tr.flags.add("END_HEADERS")
    tr.flags.add("END_STREAM")
    s["body-and-trailers"] = bytes([PREFACED]) + ser(
        request(e, 1, "/svc/Method", end_stream=False,
                extra=[("content-type", "application/grpc"), ("te", "trailers")]),
        DataFrame(1, b"\x00\x00\x00\x00\x02hi"), tr)

    e = Encoder()
    frames = []
    for i in range(20):
        sid = 1 + 2 * i
        frames += [request(e, sid, f"/r{i}", end_stream=False), RstStreamFrame(sid)]
        frames[-1].error_code = 8
    s["rapid-reset"] = bytes([PREFACED]) + ser(*frames)

    p = PingFrame(0)
    p.opaque_data = b"12345678"
    w = WindowUpdateFrame(0)
    w.window_increment = 1 << 20
    ws = WindowUpdateFrame(1)
    ws.window_increment = 1000
    pr = PriorityFrame(3)
    pr.depends_on = 1
    pr.stream_weight = 200
    e = Encoder()
    s["ping-window-priority"] = bytes([PREFACED]) + ser(
        p, p, settings(window=0, table=0), request(e, 1, "/big"), w, ws, pr, p)

    e = Encoder()
    s["settings-flood"] = bytes([PREFACED]) + ser(*[settings(window=i) for i in range(40)])

    e = Encoder()
    big = [("x-h%d" % i, "v" * 200) for i in range(12)]
    s["too-large-small-limits"] = bytes([PREFACED | limits(2)]) + ser(
        request(e, 1, "/", extra=big), request(e, 3, "/ok"))

    e = Encoder()
    bad = HeadersFrame(1, e.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"),
                                    ("connection", "close"), (":authority", "a")]))
    bad.flags.add("END_HEADERS")
    bad.flags.add("END_STREAM")
    s["malformed-and-connect"] = bytes([PREFACED]) + ser(
        bad, request(Encoder(), 3, "a.test:443", method="CONNECT"))

    g = GoAwayFrame(0)
    g.last_stream_id = 0
    s["data-on-stream-0"] = bytes([PREFACED]) + raw_frame(0, 0, 0, b"x") + ser(g)

    s["garbage"] = bytes([0]) + b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"

    s["raw-fields"] = bytes([RAW_FIELDS]) + raw_fields([
        (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/a/../b?q"),
        (b":authority", b"A.Test."), (b"cookie", b"x=1"), (b"cookie", b"y=2"),
        (b"host", b"b.test")])
    s["raw-fields-bad"] = bytes([RAW_FIELDS | limits(1)]) + raw_fields([
        (b":path", b"/"), (b"X-Upper", b"1"), (b":method", b"GET"), (b"te", b"gzip"),
        (b"transfer-encoding", b"chunked")])
    return s


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "corpus" / "h2"
    out.mkdir(parents=True, exist_ok=True)
    for name, data in seeds().items():
        (out / f"seed-{name}").write_bytes(data)
    print(f"{len(seeds())} seeds in {out}")


if __name__ == "__main__":
    main()
