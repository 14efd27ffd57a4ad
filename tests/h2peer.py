"""An HTTP/2 cleartext (prior knowledge) upstream built on python3-h2, recording what it
receives, for tests of Dwaar's HTTP/2 upstream side (spec 20 §3.6).

    up = H2Server(handler=None, max_streams=100)
    live.backends.append(up)            (the `live` fixture stops it)
    up.addr, up.port
    up.connections                      TCP connections accepted so far
    up.requests                         [H2Request(headers, body, trailers, conn)] in end order
    up.max_active                       {connection index: most requests in flight at once}
    handler(req) -> H2Reply | None      None = 200 "ok <path>"; runs on the connection's
                                        thread when the request ended: never sleep in it

H2Reply(status, headers, body, trailers, delay, reset, goaway) describes the answer: delay is
seconds before it is sent (other streams go on meanwhile), reset=True answers with
RST_STREAM instead, never=True never answers, goaway=True sends GOAWAY (last stream = the
previous request) and closes the connection instead of answering. Big bodies respect flow
control. Everything is loopback and bounded.
"""
import select
import socket
import threading
import time
from dataclasses import dataclass, field

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from livetest import close_sockets


@dataclass
class H2Request:
    headers: list  # [(name, value)] as str, pseudo-fields included
    body: bytes = b""
    trailers: list = field(default_factory=list)
    conn: int = 0  # which accepted connection (1-based)
    stream_id: int = 0

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    @property
    def path(self):
        return self.header(":path")


@dataclass
class H2Reply:
    status: int = 200
    headers: list = field(default_factory=list)
    body: bytes = b""
    trailers: list = field(default_factory=list)
    delay: float = 0.0
    reset: bool = False
    never: bool = False
    goaway: bool = False


class _Conn:
    def __init__(self, server, sock, index):
        self.server = server
        self.sock = sock
        self.index = index
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.streams = {}  # id -> H2Request being received
        self.out = {}  # id -> [remaining body bytes, trailers]
        self.timers = []  # (due, stream_id, reply)
        self.lock = threading.Lock()
        self.last_answered = 0
        self.active = 0  # requests received and not answered yet
        self.closed = False

    def flush(self):
        data = self.h2.data_to_send()
        if data:
            self.sock.sendall(data)

    def run(self):
        self.h2.local_settings = h2.settings.Settings(client=False, initial_values={
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.server.max_streams,
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: self.server.window,
        })
        self.h2.initiate_connection()
        self.flush()
        while not self.server.stopping.is_set() and not self.closed:
            timeout = 0.05
            r, _, _ = select.select([self.sock], [], [], timeout)
            if r:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    self.server.errors.append(repr(e))
                    self.flush()
                    return
                for ev in events:
                    self.on_event(ev)
            self.fire_timers()
            self.push_bodies()
            self.flush()

    def on_event(self, ev):
        srv = self.server
        if isinstance(ev, h2.events.RequestReceived):
            self.streams[ev.stream_id] = H2Request(list(ev.headers), conn=self.index,
                                                   stream_id=ev.stream_id)
            self.active += 1
            with srv.lock:
                srv.max_active[self.index] = max(srv.max_active.get(self.index, 0), self.active)
        elif isinstance(ev, h2.events.DataReceived):
            req = self.streams.get(ev.stream_id)
            if req is not None:
                req.body += ev.data
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.TrailersReceived):
            req = self.streams.get(ev.stream_id)
            if req is not None:
                req.trailers = list(ev.headers)
        elif isinstance(ev, h2.events.StreamEnded):
            if ev.stream_id in self.streams:
                self.request_done(ev.stream_id)
        elif isinstance(ev, h2.events.StreamReset):
            self.out.pop(ev.stream_id, None)
            if self.streams.pop(ev.stream_id, None) is not None or any(
                    t[1] == ev.stream_id for t in self.timers):
                self.active -= 1
                self.timers = [t for t in self.timers if t[1] != ev.stream_id]
            with srv.lock:
                srv.resets.append(ev.stream_id)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.closed = True

    def request_done(self, sid):
        req = self.streams.pop(sid)
        with self.server.lock:
            self.server.requests.append(req)
        reply = self.server.handler(req) if self.server.handler else None
        if reply is None:
            reply = H2Reply(200, [("content-type", "text/plain")],
                            f"ok {req.path}".encode())
        if reply.never:
            return
        self.timers.append((time.monotonic() + reply.delay, sid, reply))

    def fire_timers(self):
        now = time.monotonic()
        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, sid, reply in due:
            self.answer(sid, reply)

    def answer(self, sid, reply):
        if reply.goaway:
            self.h2.close_connection(last_stream_id=self.last_answered)
            self.flush()
            self.closed = True
            return
        self.last_answered = max(self.last_answered, sid)
        self.active -= 1
        try:
            if reply.reset:
                self.h2.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
                return
            hdrs = [(":status", str(reply.status))] + list(reply.headers)
            end = not reply.body and not reply.trailers
            self.h2.send_headers(sid, hdrs, end_stream=end)
            if not end:
                self.out[sid] = [reply.body, reply.trailers]
        except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError):
            pass

    def push_bodies(self):
        for sid in list(self.out):
            body, trailers = self.out[sid]
            try:
                while body:
                    win = min(self.h2.local_flow_control_window(sid),
                              self.h2.max_outbound_frame_size)
                    if win <= 0:
                        break
                    chunk, body = body[:win], body[win:]
                    self.h2.send_data(sid, chunk)
                if body:
                    self.out[sid][0] = body
                    continue
                if trailers:
                    self.h2.send_headers(sid, trailers, end_stream=True)
                else:
                    self.h2.end_stream(sid)
            except (h2.exceptions.StreamClosedError, h2.exceptions.ProtocolError, KeyError):
                pass
            self.out.pop(sid, None)


class H2Server:
    def __init__(self, handler=None, max_streams=100, window=65535, port=0):
        self.handler = handler
        self.max_streams = max_streams
        self.window = window
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(128)
        self.port = self.lsock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.connections = 0
        self.requests = []
        self.resets = []
        self.errors = []
        self.max_active = {}  # connection index -> most requests in flight on it at once
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.socks = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping.is_set():
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                index = self.connections
                self.socks.append(s)
            threading.Thread(target=self._run, args=(s, index), daemon=True).start()

    def _run(self, s, index):
        try:
            _Conn(self, s, index).run()
        except Exception as e:  # noqa: BLE001 - recorded for the test to inspect
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                s.close()
            except OSError:
                pass

    def stop(self):
        self.stopping.set()
        with self.lock:
            close_sockets(self.lsock, self.socks)
