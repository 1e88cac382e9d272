"""The Host-header allow-list: the UI answers only to names and addresses of this device (DNS rebinding defence).

A page on evil.example that re-points its own name at the camera's LAN address would otherwise be same-origin
with the UI in the victim's browser. Allowed: localhost, 127.0.0.1, ::1, the host name (also with .local and its
FQDN), every address on the machine's interfaces (re-read every 30 s, so a new DHCP lease works) and whatever
`web.allowed_hosts` adds ("*" turns the check off, e.g. behind a reverse proxy that checks it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import socket
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

REFRESH_S = 30.0
ALWAYS = frozenset({"localhost", "127.0.0.1", "::1"})


def _proc_addresses() -> set[str]:
    """Every local IPv4 and IPv6 address, from /proc (no extra dependency; empty off Linux)."""
    found: set[str] = set()
    try:
        lines = Path("/proc/net/fib_trie").read_text(encoding="ascii").splitlines()
    except OSError:
        lines = []
    for prev, line in itertools.pairwise(lines):
        if "/32 host LOCAL" in line:
            found.add(prev.split()[-1])
    try:
        for row in Path("/proc/net/if_inet6").read_text(encoding="ascii").splitlines():
            found.add(ipaddress.IPv6Address(int(row.split()[0], 16)).compressed)
    except (OSError, ValueError, IndexError):
        pass
    return found


def device_names() -> set[str]:
    """This machine's names and addresses, lower case."""
    host = socket.gethostname().lower()
    names = set(ALWAYS) | {host, f"{host}.local", socket.getfqdn().lower()}
    with contextlib.suppress(OSError):
        names |= {str(info[4][0]).split("%")[0] for info in socket.getaddrinfo(host, None)}
    return names | _proc_addresses()


def host_of(header: str) -> str | None:
    """The host part of a Host header (lower case, no port, no brackets), or None when it is malformed."""
    if not header or any(c in header for c in "/\\@?# \t") or len(header) > 255:
        return None
    try:
        parts = urlsplit("//" + header)
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return None
    return parts.hostname.rstrip(".") if parts.hostname else None


class HostCheck:
    """allowed(header, extra) with the device's names cached for REFRESH_S."""

    def __init__(self) -> None:
        self._names: set[str] = set()
        self._at = -REFRESH_S
        self._lock = threading.Lock()

    def names(self) -> set[str]:
        with self._lock:
            if time.monotonic() - self._at >= REFRESH_S:
                self._names, self._at = device_names(), time.monotonic()
            return self._names

    def allowed(self, header: str, extra: Iterable[str]) -> bool:
        extra = [e.lower().rstrip(".") for e in extra]
        if "*" in extra:
            return True
        host = host_of(header)
        return host is not None and (host in extra or host in self.names())
