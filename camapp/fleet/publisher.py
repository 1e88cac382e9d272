"""The console's desired-state publisher: signed desired configs (retained) and commands (not retained)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from camapp.errors import CommandError
from camapp.fleet.protocol import (
    COMMAND,
    DESIRED,
    FLEET_COMMANDS,
    CommandBody,
    CommandDoc,
    DesiredBody,
    DesiredDoc,
    FleetTopics,
    ModelSpec,
    signature,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

Send = Callable[[str, str, bool], None]  # topic, payload, retain


class Versions:
    """Versions that only grow, across restarts too: milliseconds since the epoch, or one more than the last."""

    def __init__(self, last: int = 0) -> None:
        self._last = last
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns() // 1_000_000)
            return self._last


class Publisher:
    """Signs and sends documents for one device at a time (group actions call it per member)."""

    def __init__(self, key: Ed25519PrivateKey, send: Send, versions: Versions) -> None:
        self._key, self._send, self.versions = key, send, versions

    def desired(self, device_id: str, prefix: str, config_yaml: str) -> DesiredDoc:
        body = DesiredBody(schema=DESIRED, device_id=device_id, version=self.versions.next(),
                           issued=round(time.time(), 3), config=config_yaml)
        doc: DesiredDoc = {**body, "sig": signature(self._key, body)}
        self._send(FleetTopics(prefix).desired, json.dumps(doc), True)
        return doc

    def command(self, device_id: str, prefix: str, name: str, value: str,
                model: ModelSpec | None = None) -> CommandDoc:
        """`model` (the files' URLs, sha256s and the console's certificate fingerprint) goes with command `model`."""
        if name not in FLEET_COMMANDS:
            raise CommandError(f"unknown fleet command {name[:40]!r}; known: {', '.join(FLEET_COMMANDS)}")
        body = CommandBody(schema=COMMAND, device_id=device_id, version=self.versions.next(),
                           issued=round(time.time(), 3), command=name, value=value)
        if model is not None:
            body["model"] = model
        doc: CommandDoc = {**body, "sig": signature(self._key, body)}
        self._send(FleetTopics(prefix).command, json.dumps(doc), False)
        return doc
