"""sd_notify for systemd's Type=notify and WatchdogSec=: a hung pipeline stops the heartbeat and gets restarted."""

from __future__ import annotations

import contextlib
import os
import socket
import time


class Notifier:
    """Sends READY/WATCHDOG/STOPPING to $NOTIFY_SOCKET; does nothing when not run by systemd."""

    def __init__(self, address: str | None = None, min_interval_s: float = 1.0) -> None:
        self._addr = address if address is not None else os.environ.get("NOTIFY_SOCKET")
        self._min_dt = min_interval_s
        self._last = 0.0

    @property
    def enabled(self) -> bool:
        return bool(self._addr)

    def notify(self, message: str) -> None:
        if not self._addr:
            return
        addr = "\0" + self._addr[1:] if self._addr.startswith("@") else self._addr
        # systemd gone (shutdown): nothing useful to do, so errors are ignored.
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock, contextlib.suppress(OSError):
            sock.sendto(message.encode(), addr)

    def ready(self) -> None:
        self.notify("READY=1")

    def heartbeat(self) -> None:
        """WATCHDOG=1, rate-limited because the pipeline calls it every frame."""
        now = time.monotonic()
        if now - self._last >= self._min_dt:
            self._last = now
            self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")
