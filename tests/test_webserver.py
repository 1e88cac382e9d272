"""camapp.webserver: idle, half-open and slow clients cannot starve /healthz or the live stream (issue 12, finding 1).

Every connection here goes to 127.0.0.1, and every load is bounded in count and time.
"""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from test_web_support import Appliance, appliance, with_users  # noqa: F401 (fixture)

from camapp.commands import ApplyConfig
from camapp.config.web import WebConfig
from camapp.web.auth import UserStore
from camapp.web.tls import ssl_context
from camapp.webserver import ServerLimits, WebServer

FD_ERRORS = ("Too many open files", "EMFILE", "ENFILE")


def request(port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0,
            tls: bool = False) -> tuple[int, float]:
    """(status, seconds) of one GET on a fresh connection."""
    start = time.monotonic()
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock: socket.socket = raw
    if tls:
        client = ssl.create_default_context()
        client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
        sock = client.wrap_socket(raw)
    with sock:
        head = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{head}\r\n".encode())
        status = sock.recv(64).split(b" ", 2)
    return int(status[1]), time.monotonic() - start


def mjpeg_frames(port: int, token: str, frames: int = 3, timeout: float = 10.0) -> int:
    """Read `frames` JPEGs from the authenticated stream; returns how many arrived."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(f"GET /api/stream.mjpeg?max_frames={frames} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    return data.count(b"Content-Type: image/jpeg")


@contextlib.contextmanager
def idle_connections(port: int, count: int, partial_every: int = 3) -> Iterator[list[socket.socket]]:
    """`count` connections that send nothing, or only half a request line (every `partial_every`-th)."""
    held: list[socket.socket] = []
    try:
        for n in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if n % partial_every == 0:
                sock.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0")
            held.append(sock)
        yield held
    finally:
        for sock in held:
            sock.close()


@pytest.fixture
def token(appliance: Appliance) -> str:
    with_users(appliance)
    return UserStore(appliance.ctx.data_dir).create_token("viewer", "stream test")


def test_idle_and_half_open_connections_hold_no_threads(appliance: Appliance, token: str,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """200 held connections against a cap of 40 and 4+2 threads: /healthz and a viewer still answer at once."""
    caplog.set_level(logging.DEBUG)
    limits = ServerLimits(max_connections=40, max_viewers=4, api_threads=2)
    with WebServer(appliance.app, "127.0.0.1", 0, limits=limits) as srv, idle_connections(srv.port, 200):
        status, took = request(srv.port, "/healthz")
        assert status == 200 and took < 1.0
        assert mjpeg_frames(srv.port, token) == 3
        assert len(srv._server.active_channels) <= 40
    assert not [r for r in caplog.records if any(e in r.getMessage() for e in FD_ERRORS)]


def test_slow_request_is_cut_off_and_idle_keepalive_closed(appliance: Appliance) -> None:
    """A request trickling in past request_timeout_s is dropped; so is a silent connection after idle_timeout_s."""
    limits = ServerLimits(idle_timeout_s=1, request_timeout_s=2)
    with WebServer(appliance.app, "127.0.0.1", 0, limits=limits) as srv:
        silent = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        start = time.monotonic()
        closed_slow = None
        for piece in [b"GET /healthz HTTP/1.1\r\n"] + [b"X-A: b\r\n"] * 12:
            try:
                slow.sendall(piece)
            except OSError:
                closed_slow = time.monotonic() - start
                break
            time.sleep(0.5)  # keeps the connection active, so only the request deadline can end it
        assert silent.recv(10) == b""  # closed by the server, not timed out here
        assert closed_slow is not None and closed_slow < 5.5
        silent.close()
        slow.close()


def test_viewer_limit_leaves_threads_for_the_api(appliance: Appliance, token: str) -> None:
    """With max_viewers streams running, another viewer is refused (503) and the API still answers."""
    cfg = appliance.ctx.get_config()
    fewer = cfg.model_copy(update={"web": cfg.web.model_copy(update={"max_viewers": 2})})
    appliance.ctx.control.execute(ApplyConfig(fewer))
    limits = ServerLimits.from_config(appliance.ctx.get_config().web)
    assert limits.max_viewers == 2
    with WebServer(appliance.app, "127.0.0.1", 0, limits=limits) as srv:
        streams = []
        for _ in range(2):
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            sock.sendall(f"GET /api/stream.mjpeg HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}"
                         f"\r\n\r\n".encode())
            assert sock.recv(20).startswith(b"HTTP/1.1 200")
            streams.append(sock)
        status, _ = request(srv.port, "/api/stream.mjpeg", {"Authorization": f"Bearer {token}"})
        assert status == 503
        assert request(srv.port, "/api/status", {"Authorization": f"Bearer {token}"})[0] == 200
        for sock in streams:
            sock.close()


def test_tls_and_plain_http_share_the_port(appliance: Appliance, tmp_path: Path) -> None:
    with WebServer(appliance.app, "127.0.0.1", 0, ssl_context(tmp_path)) as srv:
        assert request(srv.port, "/healthz", tls=True)[0] == 200
        assert request(srv.port, "/healthz")[0] == 200


def test_20_viewers_get_frames_over_tls(appliance: Appliance, token: str, tmp_path: Path) -> None:
    client = ssl.create_default_context()
    client.check_hostname, client.verify_mode = False, ssl.CERT_NONE
    with WebServer(appliance.app, "127.0.0.1", 0, ssl_context(tmp_path)) as srv:
        socks = [client.wrap_socket(socket.create_connection(("127.0.0.1", srv.port), timeout=10))
                 for _ in range(20)]
        for sock in socks:
            sock.sendall(f"GET /api/stream.mjpeg?max_frames=5 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Authorization: Bearer {token}\r\nConnection: close\r\n\r\n".encode())
        for sock in socks:
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
            sock.close()
            assert data.startswith(b"HTTP/1.1 200") and data.count(b"Content-Type: image/jpeg") == 5


def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"the test client needs {want} open files; the hard limit is {hard} (raise it: ulimit -Hn)")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))


def test_healthz_within_1s_with_1000_idle_connections_under_ulimit_1024(tmp_path: Path) -> None:
    """The done-when check: the real app in a process limited to 1,024 open files, as systemd gives a service."""
    _raise_nofile(2048)
    child = tmp_path / "child"
    UserStore(child / "data").set_password("viewer", "viewer password 1", role="viewer")
    token = UserStore(child / "data").create_token("viewer", "stream test")
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "webserver_child.py"), str(child), "1024"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdin is not None
        port, cap = map(int, proc.stdout.readline().split())
        with idle_connections(port, 1000) as held:
            assert len(held) == 1000
            times = [request(port, "/healthz", timeout=5)[1] for _ in range(5)]
            assert max(times) < 1.0, times
            assert mjpeg_frames(port, token) == 3
            # the evidence is still served: opening an event's snapshot file needs a free descriptor too
            assert request(port, "/api/events/ev0/snapshot", {"Authorization": f"Bearer {token}"})[0] == 200
        print(f"cap {cap}; /healthz with 1000 idle connections held: {max(times) * 1000:.1f} ms at most")
        _, err = proc.communicate("", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert cap < 1000 and not [line for line in err.splitlines() if any(e in line for e in FD_ERRORS)], err[-2000:]


def test_limits_come_from_the_web_config() -> None:
    web = WebConfig(max_connections=50, max_viewers=3, idle_timeout_s=2, request_timeout_s=3, max_upload_mb=1)
    limits = ServerLimits.from_config(web)
    assert (limits.max_connections, limits.max_viewers, limits.idle_timeout_s, limits.request_timeout_s) == (
        50, 3, 2, 3)
    assert limits.max_body_bytes == 2 * 1024 * 1024
