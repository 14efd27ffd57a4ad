"""gRPC through Dwaar (spec 10 §6.2, RT-31; spec 20 §3.6): `grpc <upstream>` and a block marked
by a bare `grpc` whose reverse_proxy then speaks HTTP/2 to the upstream.

A python3-grpcio server (no protoc: generic handlers with bytes in and out) on loopback is the
upstream; a grpcio client talks h2c to Dwaar's plain listener (needs the HTTP/2 front end)."""
import os
import threading
import time
from concurrent import futures
from pathlib import Path

import pytest

from livetest import free_port

grpc = pytest.importorskip("grpc")


def h2_front_end_present():
    src = os.environ.get("DWAAR_SOURCE_DIR", str(Path(__file__).resolve().parents[2]))
    return Path(src, "dwaar-core", "src", "http2.c").exists()


pytestmark = pytest.mark.skipif(not h2_front_end_present(),
                                reason="the HTTP/2 front end (http2.c) is not built")

SERVICE = "test.Echo"


def _say(req, ctx):
    md = dict(ctx.invocation_metadata())
    ctx.set_trailing_metadata((("x-trailer", "yes"), ("x-echo", md.get("x-echo", "-"))))
    return b"echo:" + req


def _fail(req, ctx):
    ctx.abort(grpc.StatusCode.PERMISSION_DENIED, "nope: " + req.decode())


def _stream(req, ctx):
    n = int(req.decode())
    for i in range(n):
        yield f"item {i}".encode()
    ctx.set_trailing_metadata((("x-count", str(n)),))


def _collect(it, ctx):
    parts = [x for x in it]
    return b"|".join(parts) + f" ({len(parts)})".encode()


def _bidi(it, ctx):
    for x in it:
        yield b"re:" + x


def _big(req, ctx):
    return bytes(range(256)) * (int(req.decode()) // 256)


def _slow(req, ctx):
    time.sleep(float(req.decode()))
    return b"late"


@pytest.fixture
def grpc_upstream():
    """A grpcio server on loopback; yields its port."""
    handlers = {
        "Say": grpc.unary_unary_rpc_method_handler(_say),
        "Fail": grpc.unary_unary_rpc_method_handler(_fail),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream),
        "Collect": grpc.stream_unary_rpc_method_handler(_collect),
        "Bidi": grpc.stream_stream_rpc_method_handler(_bidi),
        "Big": grpc.unary_unary_rpc_method_handler(_big),
        "Slow": grpc.unary_unary_rpc_method_handler(_slow),
    }
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    yield port
    server.stop(grace=None)


def config(mode, gport, extra=""):
    """mode "upstream": `grpc 127.0.0.1:P`; mode "marker": bare `grpc` + reverse_proxy."""
    body = f"grpc 127.0.0.1:{gport}" if mode == "upstream" else \
        f"grpc\n\treverse_proxy 127.0.0.1:{gport}" + (" {\n" + extra + "\n\t}" if extra else "")
    return "{\n\thttp_port {PORT}\n}\n:{PORT} {\n\t" + body + "\n}\n"


@pytest.fixture(params=["upstream", "marker"])
def via(request, live, grpc_upstream):
    """A Dwaar in front of the gRPC server; yields a channel to it."""
    srv = live.start(config(request.param, grpc_upstream))
    ch = grpc.insecure_channel(f"127.0.0.1:{srv.port}")
    yield ch
    ch.close()


def call(ch, method, kind="unary_unary"):
    return getattr(ch, kind)(f"/{SERVICE}/{method}")


# --- RT-31 --------------------------------------------------------------------------------------

def test_RT_31_unary_with_trailing_metadata(via):
    resp, c = call(via, "Say").with_call(b"hi", metadata=(("x-echo", "abc"),), timeout=10)
    assert resp == b"echo:hi"
    assert c.code() == grpc.StatusCode.OK
    trailers = dict(c.trailing_metadata())
    assert trailers.get("x-trailer") == "yes"
    assert trailers.get("x-echo") == "abc"


def test_server_streaming(via):
    it = call(via, "Stream", "unary_stream")(b"50", timeout=10)
    assert list(it) == [f"item {i}".encode() for i in range(50)]
    assert dict(it.trailing_metadata()).get("x-count") == "50"
    assert it.code() == grpc.StatusCode.OK


def test_client_streaming(via):
    resp = call(via, "Collect", "stream_unary")(iter([b"a", b"b", b"c" * 100000]), timeout=10)
    assert resp == b"a|b|" + b"c" * 100000 + b" (3)"


def test_bidi_streaming(via):
    out = []
    done = threading.Event()

    def gen():
        for i in range(20):
            yield f"m{i}".encode()
            time.sleep(0.01)
    it = call(via, "Bidi", "stream_stream")(gen(), timeout=20)
    for x in it:
        out.append(x)
    assert out == [f"re:m{i}".encode() for i in range(20)]
    done.set()


def test_error_status_and_details(via):
    with pytest.raises(grpc.RpcError) as e:
        call(via, "Fail")(b"denied", timeout=10)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert e.value.details() == "nope: denied"


def test_big_message_through_flow_control(via):
    n = 3 * 1024 * 1024
    resp = call(via, "Big")(str(n).encode(), timeout=30)
    assert len(resp) == n and resp[:4] == bytes(range(4))


def test_concurrent_calls(via):
    stub = call(via, "Say")
    with futures.ThreadPoolExecutor(max_workers=20) as ex:
        res = list(ex.map(lambda i: stub(f"n{i}".encode(), timeout=20), range(100)))
    assert res == [f"echo:n{i}".encode() for i in range(100)]


# --- failures -----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["upstream", "marker"])
def test_upstream_down_is_unavailable(live, mode):
    srv = live.start(config(mode, free_port()))
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        with pytest.raises(grpc.RpcError) as e:
            call(ch, "Say")(b"x", timeout=10)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value


def test_response_timeout_is_deadline_exceeded(live, grpc_upstream):
    srv = live.start(config("marker", grpc_upstream, "\t\tresponse_timeout 1s"))
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        t0 = time.monotonic()
        with pytest.raises(grpc.RpcError) as e:
            call(ch, "Slow")(b"4", timeout=20)
        took = time.monotonic() - t0
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value
    assert 0.8 <= took <= 4, took


def test_body_limit_raised_for_grpc(live, grpc_upstream):
    """request_body 1KB does not cap gRPC requests (limits are at least 1 GiB for them)."""
    cfg = config("marker", grpc_upstream).replace("\tgrpc\n", "\trequest_body 1KB\n\tgrpc\n")
    srv = live.start(cfg)
    with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
        resp = call(ch, "Say")(b"z" * 200000, timeout=20)
    assert resp == b"echo:" + b"z" * 200000


# --- a marked block whose reverse_proxy is https:// (ALPN h2 without `transport h2`) --------------

def test_RT_31_marker_with_tls_upstream(live, tmp_path):
    import subprocess
    run = lambda *a: subprocess.run(a, cwd=tmp_path, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-days", "90", "-subj",
        "/CN=grpc.test", "-addext", "subjectAltName=DNS:grpc.test")
    creds = grpc.ssl_server_credentials([((tmp_path / "key.pem").read_bytes(),
                                           (tmp_path / "cert.pem").read_bytes())])
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        SERVICE, {"Say": grpc.unary_unary_rpc_method_handler(_say)}),))
    port = server.add_secure_port(f"127.0.0.1:{free_port()}", creds)
    server.start()
    try:
        srv = live.start("{\n\thttp_port {PORT}\n}\n:{PORT} {\n\tgrpc\n"
                         f"\treverse_proxy https://127.0.0.1:{port} {{\n"
                         "\t\ttransport {\n\t\t\ttls_server_name grpc.test\n"
                         f"\t\t\ttls_trusted_ca_certs {tmp_path / 'cert.pem'}\n\t\t}}\n\t}}\n}}\n")
        with grpc.insecure_channel(f"127.0.0.1:{srv.port}") as ch:
            resp, c = call(ch, "Say").with_call(b"tls", timeout=10)
        assert resp == b"echo:tls"
        assert ("x-trailer", "yes") in c.trailing_metadata()
    finally:
        server.stop(grace=None)
