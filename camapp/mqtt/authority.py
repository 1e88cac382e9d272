"""Who may command the appliance over MQTT: only the commands the user enabled, only signed ones when a key is set,
none replayed, each kind rate-limited.

A broker says nothing about who published a message, so on a shared broker a command proves its sender with an
HMAC-SHA256 under `mqtt.command_key`. Signed payload (JSON):

    {"value": "away", "ts": 1732780000, "nonce": "5f2c9a0e1b7d", "sig": "<64 hex digits>"}

    sig = hex(HMAC-SHA256(key, topic + "\\n" + value + "\\n" + str(ts) + "\\n" + nonce))

`topic` is the full topic the message is published to (so a signature for one command or one device is worthless
for another), `ts` whole Unix seconds, `nonce` 8-64 characters of [A-Za-z0-9_-], new for every message.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable

from camapp.config.mqtt import MqttConfig
from camapp.errors import CommandError

NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_SIGNED_PAYLOAD = 1024
RATE_WINDOW_S = 60.0


def signing_text(topic: str, value: str, ts: int, nonce: str) -> bytes:
    return f"{topic}\n{value}\n{ts}\n{nonce}".encode()


def sign(key: str, topic: str, value: str, ts: int, nonce: str) -> str:
    """The `sig` field for a command (what a sender computes; used by the tests and docs/mqtt.md's recipe)."""
    return hmac.new(key.encode(), signing_text(topic, value, ts, nonce), hashlib.sha256).hexdigest()


def signed_payload(key: str, topic: str, value: str, ts: int, nonce: str) -> str:
    body = {"value": value, "ts": ts, "nonce": nonce, "sig": sign(key, topic, value, ts, nonce)}
    return json.dumps(body)


class CommandGate:
    """Admits or refuses one command message; thread-safe (paho calls it from its network thread)."""

    def __init__(self, cfg: MqttConfig, *, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.enabled = frozenset(cfg.allowed_commands)
        self._key = cfg.command_key
        self._max_age = cfg.command_max_age_s
        self._rate = cfg.command_rate_per_min
        self._clock, self._monotonic = clock, monotonic
        self._nonces: dict[str, float] = {}  # nonce -> wall time after which it cannot be valid anyway
        self._accepted: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def signed(self) -> bool:
        return self._key is not None

    def admit(self, topic: str, name: str, payload: bytes, *, retained: bool) -> bytes:
        """The command's value when it may run now; CommandError saying why not."""
        if retained:
            raise CommandError("retained commands are ignored (they would replay on every reconnect)")
        if name not in self.enabled:
            raise CommandError(f"set/{name} is not enabled (mqtt.allowed_commands)")
        value = self._verify(topic, payload) if self._key is not None else payload
        self._take_rate(name)
        return value

    def _verify(self, topic: str, payload: bytes) -> bytes:
        value, ts, nonce, sig = _signed_fields(payload)
        assert self._key is not None
        want = sign(self._key, topic, value, ts, nonce)
        if not hmac.compare_digest(want, sig.lower()):
            raise CommandError("bad signature (wrong mqtt.command_key, or the message was changed)")
        now = self._clock()
        if abs(now - ts) > self._max_age:
            raise CommandError(f"timestamp is {now - ts:+.0f} s off the appliance clock (more than "
                               f"mqtt.command_max_age_s = {self._max_age:g}); replayed, or a clock is wrong")
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            if nonce in self._nonces:
                raise CommandError("replayed: this nonce was already used")
            self._nonces[nonce] = ts + self._max_age
        return value.encode()

    def _take_rate(self, name: str) -> None:
        now = self._monotonic()
        with self._lock:
            recent = self._accepted.setdefault(name, deque())
            while recent and recent[0] <= now - RATE_WINDOW_S:
                recent.popleft()
            if len(recent) >= self._rate:
                raise CommandError(f"rate limit: more than {self._rate} set/{name} per minute "
                                   "(mqtt.command_rate_per_min)")
            recent.append(now)


def _signed_fields(payload: bytes) -> tuple[str, int, str, str]:
    """The fields of a signed command, type-checked; CommandError naming what is wrong."""
    if len(payload) > MAX_SIGNED_PAYLOAD:
        raise CommandError(f"signed payload is {len(payload)} bytes; the limit is {MAX_SIGNED_PAYLOAD}")
    try:
        body = json.loads(payload)
    except ValueError:
        raise CommandError('unsigned: mqtt.command_key is set, so send {"value", "ts", "nonce", "sig"} JSON') from None
    if not isinstance(body, dict):
        raise CommandError('unsigned: expected a JSON object {"value", "ts", "nonce", "sig"}')
    value, ts, nonce, sig = (body.get(k) for k in ("value", "ts", "nonce", "sig"))
    if not isinstance(value, str) or not isinstance(nonce, str) or not isinstance(sig, str):
        raise CommandError("unsigned or malformed: value, nonce and sig must be strings")
    if not isinstance(ts, int) or isinstance(ts, bool):
        raise CommandError("malformed: ts must be whole Unix seconds")
    if not NONCE.match(nonce):
        raise CommandError("malformed: nonce must be 8-64 characters of A-Z a-z 0-9 _ -")
    return value, ts, nonce, sig


class LogBudget:
    """At most `per_minute` log lines a minute about refused commands, so a flood cannot fill the log."""

    def __init__(self, per_minute: int = 20, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._per_minute, self._monotonic = per_minute, monotonic
        self._times: deque[float] = deque()
        self.suppressed = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """None: do not log this one; else log it, mentioning the returned number of lines left out before it."""
        now = self._monotonic()
        with self._lock:
            while self._times and self._times[0] <= now - RATE_WINDOW_S:
                self._times.popleft()
            if len(self._times) >= self._per_minute:
                self.suppressed += 1
                return None
            self._times.append(now)
            skipped, self.suppressed = self.suppressed, 0
            return skipped
