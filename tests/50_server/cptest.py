"""Helpers for control-plane tests: processes in each role, dwaarctl, the admin API, and which
data-plane process accepted a connection (several data planes share a port with SO_REUSEPORT).
Everything started is stopped by PID."""
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from dwaartest import DWAAR_BIN
from livetest import SANITIZER_MARKERS, free_port, wait_for, wait_port

DWAARCTL_BIN = os.environ.get("DWAARCTL_BIN") or str(
    Path(DWAAR_BIN).resolve().parent.parent / "dwaar-admin" / "dwaarctl")


def clean_env(extra=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("DWAAR_")}
    e.update(extra or {})
    return e


class Proc:
    """A dwaar process with its stderr in a file."""

    def __init__(self, root, name, args, env=None, wait=()):
        self.root = Path(root)
        self.name = name
        self.err_path = self.root / f"{name}.stderr"
        self.out_path = self.root / f"{name}.stdout"
        self._err = open(self.err_path, "ab")
        self._out = open(self.out_path, "ab")
        env = {"DWAAR_ADMIN_ADDR_FILE": str(self.root / f"{name}.admin-addr"), **(env or {})}
        self.proc = subprocess.Popen([DWAAR_BIN, *args], cwd=self.root, env=clean_env(env),
                                     stdout=self._out, stderr=self._err)
        for p in wait:
            wait_port(p, proc=self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        self._err.flush()
        return self.err_path.read_text(errors="replace")

    def stop(self, sig=signal.SIGTERM, check=True):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()
        self._out.close()
        err = self.err_path.read_text(errors="replace")
        if check:
            bad = [m for m in SANITIZER_MARKERS if m in err]
            assert not bad, f"{self.name} reported a sanitizer error:\n{err[-6000:]}"
        return err


class Procs:
    def __init__(self, root):
        self.root = Path(root)
        self.all = []

    def start(self, name, args, env=None, wait=()):
        p = Proc(self.root, name, args, env, wait)
        self.all.append(p)
        return p

    def close(self):
        errors = []
        for p in reversed(self.all):
            try:
                p.stop()
            except AssertionError as e:
                errors.append(str(e))
        assert not errors, "\n".join(errors)


def ctl(endpoint, *args, env=None, timeout=15):
    """Runs dwaarctl; returns (exit code, stdout, stderr)."""
    r = subprocess.run([DWAARCTL_BIN, "-e", endpoint, *args], capture_output=True, text=True,
                       env=clean_env(env), timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def admin(port, method, path, body=None, token=None, timeout=10):
    """One admin API call; returns (status, headers dict, body bytes)."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def _socket_inodes(pid):
    inodes = set()
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def accepting_pid(sock, pids):
    """Which of pids holds the server side of the connected socket sock (or None)."""
    client_port = sock.getsockname()[1]
    server_port = sock.getpeername()[1]
    owners = {pid: _socket_inodes(pid) for pid in pids}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                local_port = int(cols[1].rsplit(":", 1)[1], 16)
                remote_port = int(cols[2].rsplit(":", 1)[1], 16)
                if local_port == server_port and remote_port == client_port:
                    for pid, inodes in owners.items():
                        if cols[9] in inodes:
                            return pid
    return None


def connections_per_pid(port, pids, tries=200):
    """Opens connections to port until each pid has accepted one; returns {pid: socket}."""
    got = {}
    extra = []
    for _ in range(tries):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        pid = None
        for _ in range(50):  # the accept may not have happened yet
            pid = accepting_pid(s, pids)
            if pid:
                break
            time.sleep(0.01)
        if pid and pid not in got:
            got[pid] = s
        else:
            extra.append(s)
        if len(got) == len(pids):
            break
    for s in extra:
        s.close()
    return got


def get_on(sock, host, path="/"):
    """A keep-alive GET on an open socket; returns (status, body bytes)."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        rest += chunk
    return status, rest[:length]


__all__ = ["Procs", "ctl", "admin", "connections_per_pid", "get_on", "wait_for", "free_port",
           "DWAARCTL_BIN"]
