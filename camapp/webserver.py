"""The UI's HTTP(S) server: waitress, with a connection cap that evicts idle connections, request deadlines and
TLS on the same port as plain HTTP.

Why waitress: its single event loop reads every request completely (headers and body) before a worker thread sees
it, so idle, half-open or slow clients cost one file descriptor and a few KB, never a thread; the worker threads
only run the app (an MJPEG viewer holds one for as long as it watches). cheroot hands each new connection straight
to a worker thread and does the TLS handshake on its accept loop; gunicorn forks an arbiter and cannot share the
process with the pipeline. Measured (1,000 idle connections under `ulimit -n 1024`, 20 MJPEG viewers): stock
waitress answered /healthz after 18 s (it stops accepting at its limit until idle channels time out), cheroot
not within 20 s; this server answers in milliseconds because a new connection at the cap evicts the oldest idle one.

waitress has no TLS, so HTTPS is added here with `ssl.MemoryBIO` inside the event loop (the handshake never blocks
a thread either); the first byte of a connection says which protocol the client speaks, so `http://` on the
HTTPS port still reaches the app, which redirects it (camapp.web.guard).
"""

from __future__ import annotations

import copy
import logging
import os
import resource
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from camapp.closing import Closing
from camapp.config.web import WebConfig

log = logging.getLogger(__name__)
TLS_HANDSHAKE = 0x16  # the first byte of a TLS ClientHello record
FD_RESERVE = 96
ACCEPT_BATCH = 256  # descriptors kept free for the store, the camera, the model and logs


@dataclass(frozen=True)
class ServerLimits:
    """How much the server lets clients hold (web.* settings; camapp.app builds it from the config)."""

    max_connections: int = 400
    max_viewers: int = 20  # MJPEG streams at once; each holds a worker thread while it runs
    api_threads: int = 8  # threads left for pages and the API however many viewers watch
    idle_timeout_s: float = 15.0  # a connection with no request in progress (keep-alive or silent) is closed
    request_timeout_s: float = 30.0  # a request's headers and body must arrive within this
    max_header_bytes: int = 32 * 1024
    max_body_bytes: int = 1 << 30

    @classmethod
    def from_config(cls, web: WebConfig) -> ServerLimits:
        return cls(max_connections=web.max_connections, max_viewers=web.max_viewers,
                   idle_timeout_s=web.idle_timeout_s, request_timeout_s=web.request_timeout_s,
                   max_body_bytes=int(web.max_upload_mb * 1024 * 1024) + 1024 * 1024)


def connection_cap(wanted: int) -> int:
    """`wanted`, lowered so that accepted connections can never use up the process's file descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    room = max(8, soft - in_use - FD_RESERVE)
    if room < wanted:
        log.warning("web: at most %d connections (open-file limit %d); raise LimitNOFILE for more", room, soft)
    return min(wanted, room)


class _Channel(HTTPChannel):  # type: ignore[misc]
    """One client connection; speaks TLS when the client opens with a handshake and the server has a context."""

    tls_context: ssl.SSLContext | None = None
    adj: Any

    def __init__(self, server: Any, sock: socket.socket, addr: Any, adj: Any, map: Any = None) -> None:
        self._tls: ssl.SSLObject | None = None
        self._bios = (ssl.MemoryBIO(), ssl.MemoryBIO())  # (from the client, to the client)
        self._sniffed = self.tls_context is None
        self._pending = b""  # ciphertext the socket did not take yet
        self._tls_lock = threading.Lock()  # the event loop reads while worker threads write
        self.request_started = time.monotonic()
        super().__init__(server, sock, addr, adj, map)

    @property
    def idle(self) -> bool:
        """No request being served or answered: closing it loses nothing but a keep-alive or a slow client."""
        return not self.requests and not self.total_outbufs_len and not self._pending

    def received(self, data: bytes) -> bool:
        if self.request is None:
            self.request_started = time.monotonic()
        return bool(super().received(data))

    def handle_read(self) -> None:
        if not self._sniffed and not self._sniff():
            return
        if self._tls is None:
            super().handle_read()
            return
        try:
            data = self._tls_recv()
        except OSError as err:  # ssl.SSLError included: a bad handshake or a broken record
            log.debug("web: TLS connection from %s closed: %s", self.addr, err)
            self.handle_close()
            return
        if data:
            self.last_activity = time.time()
            self.received(data)

    def _sniff(self) -> bool:
        try:
            first = self.socket.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return False
        except OSError:
            first = b""
        if not first:
            self.handle_close()
            return False
        self._sniffed = True
        if first[0] == TLS_HANDSHAKE and self.tls_context is not None:
            self._tls = self.tls_context.wrap_bio(*self._bios, server_side=True)
            self.adj = copy.copy(self.adj)
            self.adj.url_scheme = "https"  # the request parser copies this into wsgi.url_scheme
        return True

    def _tls_recv(self) -> bytes:
        """Decrypted bytes from the socket (b"" while the handshake or a record is incomplete)."""
        assert self._tls is not None
        try:
            raw = self.socket.recv(self.adj.recv_bytes)
        except BlockingIOError:
            return b""
        if not raw:
            self.handle_close()
            return b""
        out: list[bytes] = []
        with self._tls_lock:
            self._bios[0].write(raw)
            try:
                if self._tls.version() is None:
                    self._tls.do_handshake()
                while chunk := self._tls.read(65536):
                    out.append(chunk)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                self.will_close = True
            self._flush_tls()
        return b"".join(out)

    def _flush_tls(self) -> None:
        """Send what the TLS layer produced; keep what the socket does not take (call with _tls_lock)."""
        assert self._tls is not None
        self._pending += self._bios[1].read()
        while self._pending:
            try:
                sent = self.socket.send(self._pending)
            except BlockingIOError:
                return
            self._pending = self._pending[sent:]

    def send(self, data: bytes, do_close: bool = True) -> int:
        if self._tls is None:
            return int(super().send(data, do_close=do_close))
        try:
            with self._tls_lock:
                self._flush_tls()
                if self._pending:
                    return 0  # backpressure: the socket has not taken the last record yet
                self._tls.write(data)
                self._flush_tls()
        except OSError:
            if do_close:
                self.handle_close()
            return 0
        return len(data)

    def writable(self) -> bool:
        return bool(super().writable() or self._pending)

    def handle_write(self) -> None:
        if self._pending:
            try:
                with self._tls_lock:
                    self._flush_tls()
            except OSError:
                self.handle_close()
                return
            if self._pending and not self.will_close:
                return
        super().handle_write()


class _Server(TcpWSGIServer):  # type: ignore[misc]
    """Keeps accepting at the cap by closing the longest-idle connection, and enforces the request deadline."""

    cap = 100
    request_timeout_s = 30.0
    next_channel_cleanup: float = 0.0
    adj: Any

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        return bool(self.accepting)

    def handle_accept(self) -> None:
        # Drain the backlog in one go: one accept per pass over every channel would leave a newcomer queued
        # behind a flood of idle connections for hundreds of passes.
        for _ in range(ACCEPT_BATCH):
            if len(self.active_channels) >= self.cap and not self._evict_one():
                return  # every connection is busy: the newcomer waits in the backlog
            before = len(self.active_channels)
            super().handle_accept()
            if len(self.active_channels) == before:
                return  # nothing left to accept

    def _evict_one(self) -> bool:
        idle = [c for c in self.active_channels.values() if isinstance(c, _Channel) and c.idle]
        if not idle:
            return False
        oldest = min(idle, key=lambda c: c.last_activity)
        log.debug("web: %d connections, closing the longest-idle one (%s)", len(self.active_channels), oldest.addr)
        oldest.handle_close()
        return True

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        late = time.monotonic() - self.request_timeout_s
        for channel in list(self.active_channels.values()):
            if isinstance(channel, _Channel) and channel.request is not None and channel.request_started < late:
                channel.will_close = True  # headers or body trickling in too slowly (slowloris)


def _mark_tls(app: Any) -> Any:
    """Tell the app that this port speaks TLS too, so it can send plain-HTTP clients there."""
    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        environ["camapp.tls"] = True
        return app(environ, start_response)

    return wsgi


class WebServer(Closing):
    """Serves a WSGI app on a background thread; `port` is the bound port (useful with port 0)."""

    def __init__(self, app: Any, host: str, port: int, ssl_context: ssl.SSLContext | None = None,
                 limits: ServerLimits | None = None) -> None:
        self.limits = limits = limits or ServerLimits()
        self.cap = connection_cap(limits.max_connections)
        channel = type("Channel", (_Channel,), {"tls_context": ssl_context})
        server_cls = type("Server", (_Server,), {"channel_class": channel, "cap": self.cap,
                                                  "request_timeout_s": limits.request_timeout_s})
        adj = Adjustments(
            host=host, port=port, threads=limits.max_viewers + limits.api_threads, connection_limit=self.cap,
            channel_timeout=max(1, round(limits.idle_timeout_s)), cleanup_interval=1,
            max_request_header_size=limits.max_header_bytes, max_request_body_size=limits.max_body_bytes,
            outbuf_high_watermark=1 << 20, outbuf_overflow=2 << 20,  # a slow viewer blocks its thread, not RAM
            asyncore_use_poll=True, asyncore_loop_timeout=1, ident="camapp",
        )
        dispatcher = ThreadedTaskDispatcher()
        dispatcher.set_thread_count(adj.threads)
        wsgi = _mark_tls(app) if ssl_context is not None else app
        self._server = server_cls(wsgi, map={}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0])
        self.port = int(self._server.effective_port)
        self._thread = threading.Thread(target=self._server.run, name="camapp-web", daemon=True)
        self._thread.start()
        self._closed = False

    def close(self) -> None:
        """Stop serving; idempotent."""
        self.shutdown()

    def shutdown(self) -> None:
        """Stop serving; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.trigger.pull_trigger(self._close_all)
        self._thread.join(timeout=5)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=2)

    def _close_all(self) -> None:
        """Runs on the event loop: an empty socket map ends it."""
        for channel in list(self._server.active_channels.values()):
            channel.handle_close()
        self._server.close()

