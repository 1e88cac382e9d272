"""Password-guess throttling: per username, per network prefix and in total, with a way in for the owner.

Counting per source address alone lets anyone with many addresses (an IPv6 /64, DHCP aliases) guess without end,
and lets five bad guesses from a shared address lock the owner out. So failures count against three things at
once: the username tried, the sender's network prefix (/24 for IPv4, /64 for IPv6) and every login together. A key
that reaches `max_failures` is locked out for `lockout_s`, doubled with each further failure, up to `window_s`;
tries during a lockout are refused unchecked and count for nothing, so waiting out the backoff always gets a
password checked again. Failures are forgotten once a key has gone `window_s` without one after its lockout.

A browser that has logged in as a user before carries a signed "known browser" cookie for that user (the OWASP
device-cookie scheme). Its tries for that user count only against that browser and ignore the username, prefix and
global lockouts, so an attacker guessing from elsewhere, or from the same shared address, cannot keep the owner out.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
KINDS = {"user": "account", "net": "network", "browser": "known browser", "all": "all logins"}


def network_of(address: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to; an IPv4-mapped IPv6 address counts as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address[:64] or "?"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    bits = 24 if ip.version == 4 else 64
    return str(ipaddress.ip_network(f"{ip}/{bits}", strict=False))


@dataclass
class _Count:
    failures: int = 0
    last: float = 0.0
    until: float = 0.0  # locked out until then (monotonic)
    last_from: str = ""


@dataclass(frozen=True)
class Attempt:
    """Who is trying: the username (None for the setup code), the client address and the known-browser id (the
    cookie's, when it vouches for this username)."""

    username: str | None
    address: str
    browser: str | None = None

    def counted(self) -> list[tuple[str, str]]:
        if self.browser:
            return [("browser", self.browser)]
        keys = [("net", network_of(self.address))]
        return [*keys, ("user", self.username[:64])] if self.username is not None else keys


class LoginThrottle:
    """Thread-safe counters; `notify(message)` is called once for each lockout (outside the lock)."""

    def __init__(self, max_failures: int, window_s: float, lockout_s: float, global_max: int,
                 notify: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures, self.window_s = max_failures, window_s
        self.lockout_s, self.global_max = lockout_s, global_max
        self._notify, self._clock = notify, clock
        self._counts: dict[tuple[str, str], _Count] = {}
        self._all: deque[float] = deque()
        self._all_until = 0.0
        self._lock = threading.Lock()

    def wait(self, attempt: Attempt) -> tuple[float, str]:
        """(seconds to wait, what is locked) before this attempt's password may be checked; (0, '') to go ahead."""
        now = self._clock()
        with self._lock:
            waits = [(c.until - now, KINDS[k[0]]) for k in attempt.counted()
                     if (c := self._counts.get(k)) is not None and c.until > now]
            if attempt.browser is None and self._all_until > now:
                waits.append((self._all_until - now, KINDS["all"]))
        return max(waits, default=(0.0, ""))

    def failed(self, attempt: Attempt) -> None:
        now = self._clock()
        notes: list[str] = []
        with self._lock:
            self._forget(now)
            for key in attempt.counted():
                count = self._counts.setdefault(key, _Count())
                count.failures, count.last, count.last_from = count.failures + 1, now, attempt.address[:64]
                if count.failures >= self.max_failures:
                    lock = min(self.window_s, self.lockout_s * 2 ** min(count.failures - self.max_failures, 30))
                    count.until = now + lock
                    notes.append(f"login lockout: {KINDS[key[0]]} {key[1]!r} for {lock:.0f} s after "
                                 f"{count.failures} failed passwords (the last from {attempt.address})")
            if attempt.browser is None:
                self._all.append(now)
                if len(self._all) >= self.global_max and self._all_until <= now:
                    self._all_until = self._all[0] + self.window_s
                    notes.append(f"login lockout: all logins from browsers not known here for "
                                 f"{self._all_until - now:.0f} s after {len(self._all)} failed passwords in "
                                 f"{self.window_s:.0f} s (the last from {attempt.address})")
        for note in notes:
            log.warning("%s", note)
            if self._notify is not None:
                self._notify(note)

    def succeeded(self, attempt: Attempt) -> None:
        """The right password: the account's (or browser's) count starts again; the network's does not, or a
        guesser holding any account of its own could wipe its prefix's record by logging in."""
        with self._lock:
            for key in attempt.counted():
                if key[0] != "net":
                    self._counts.pop(key, None)

    def _forget(self, now: float) -> None:
        stale = [k for k, c in self._counts.items() if now - max(c.last, c.until) > self.window_s]
        for key in stale:
            del self._counts[key]
        while self._all and self._all[0] <= now - self.window_s:
            self._all.popleft()

    def lockouts(self) -> list[dict[str, Any]]:
        """The lockouts in force now, for the System page (`until` in wall-clock seconds)."""
        now, wall = self._clock(), time.time()
        with self._lock:
            out = [{"kind": KINDS[k[0]], "key": k[1] if k[0] != "browser" else k[1][:6] + "…",
                    "failures": c.failures, "last_from": c.last_from, "until": round(wall + c.until - now, 1)}
                   for k, c in self._counts.items() if c.until > now]
            if self._all_until > now:
                out.append({"kind": KINDS["all"], "key": "*", "failures": len(self._all), "last_from": "",
                            "until": round(wall + self._all_until - now, 1)})
        return sorted(out, key=lambda d: -float(d["until"]))
