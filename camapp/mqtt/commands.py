"""Remote commands on <prefix>/set/<name>: parsed, checked against the allow-list, run as typed commands."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection

from camapp.commands import Commander, SetCameraDetection, SetDetection, SetMode, Silence, TakeSnapshot
from camapp.errors import CommandError
from camapp.state import Mode, parse_mode

log = logging.getLogger(__name__)

MAX_PAYLOAD = 256
CAMERA_COMMANDS = ("detection",)  # what <prefix>/<camera>/set/<name> takes; the others are the appliance's
_TRUE = {"on", "true", "1", "yes"}
_FALSE = {"off", "false", "0", "no"}


def parse_bool(text: str, name: str) -> bool:
    """ON/OFF (also true/false, 1/0, yes/no), case-insensitive."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CommandError(f"set/{name} expects ON or OFF, got {text[:40]!r}")


def decode(payload: bytes, name: str) -> str:
    if len(payload) > MAX_PAYLOAD:
        raise CommandError(f"set/{name} payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD}")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandError(f"set/{name} payload is not UTF-8 text") from None


class CommandHandler:
    """Applies one command; returns a snapshot id for `snapshot`, else None. Raises CommandError when refused."""

    SOURCE = "mqtt"

    def __init__(self, control: Commander, allowed: Collection[str], arm_mode: Mode = "away") -> None:
        self.control = control
        self.allowed = frozenset(allowed)
        self.arm_mode = arm_mode
        self._handlers: dict[str, Callable[[str], str | None]] = {
            "mode": self._mode, "armed": self._armed, "detection": self._detection,
            "silence": self._silence, "snapshot": self._snapshot,
        }

    def apply(self, name: str, payload: bytes) -> str | None:
        handler = self._handlers.get(name)
        if handler is None:
            raise CommandError(f"unknown command set/{name[:40]}; known: {', '.join(sorted(self._handlers))}")
        if name not in self.allowed:
            raise CommandError(f"command set/{name} is not allowed by mqtt.allowed_commands")
        return handler(decode(payload, name))

    def apply_camera(self, camera: str, name: str, payload: bytes) -> None:
        """A command for one camera (`<prefix>/<camera>/set/<name>`); CommandError when refused."""
        if name not in CAMERA_COMMANDS:
            where = "appliance-wide: publish it to <prefix>/set/" + name[:40] if name in self._handlers else "unknown"
            raise CommandError(f"{camera[:40]}/set/{name[:40]} is {where}; a camera takes only "
                               f"{', '.join(CAMERA_COMMANDS)}")
        if name not in self.allowed:
            raise CommandError(f"command set/{name} is not allowed by mqtt.allowed_commands")
        enabled = parse_bool(decode(payload, name), name)  # the log line names the whole topic
        self.control.execute(SetCameraDetection(camera, enabled, source=self.SOURCE))

    def _mode(self, text: str) -> None:
        self.control.execute(SetMode(parse_mode(text.strip().lower(), "set/mode"), source=self.SOURCE))

    def _armed(self, text: str) -> None:
        self.control.execute(SetMode(self.arm_mode if parse_bool(text, "armed") else "disarmed", source=self.SOURCE))

    def _detection(self, text: str) -> None:
        self.control.execute(SetDetection(parse_bool(text, "detection"), source=self.SOURCE))

    def _silence(self, text: str) -> None:
        self.control.execute(Silence(source=self.SOURCE))

    def _snapshot(self, text: str) -> str:
        return self.control.execute(TakeSnapshot(source=self.SOURCE))
