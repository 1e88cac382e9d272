"""Commands arriving over MQTT: `<prefix>/set/<name>`, or with several cameras `<prefix>/<camera>/set/<name>`.
Each is admitted by the gate (enabled, signed when a key is set, not replayed, rate-limited), applied through the
controller, and logged; a refused one is logged (within a budget) and ignored, never raised into paho's thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

from camapp.commands import Commander
from camapp.config.mqtt import MqttConfig
from camapp.errors import CommandError
from camapp.mqtt import payloads
from camapp.mqtt.authority import CommandGate, LogBudget
from camapp.mqtt.commands import CommandHandler
from camapp.mqtt.jobs import Job, Reply
from camapp.mqtt.topics import Topics
from camapp.types import CameraName

log = logging.getLogger("camapp.mqtt.sink")  # the connection's log, as before the inbox had its own module


class Inbox:
    """What MqttSink does with a message on a command topic."""

    def __init__(self, cfg: MqttConfig, control: Commander, topics: Topics, *, device_id: str,  # noqa: PLR0913
                 lone: CameraName | None, cameras: Callable[[], Collection[CameraName]],
                 put: Callable[[Job], None]) -> None:
        """`lone`: the lone camera's name (its snapshot replies name it), None with several cameras, whose own
        command topics are then accepted for `cameras()`; `put` queues the snapshot reply for the worker."""
        self.gate = CommandGate(cfg)
        self._commands = CommandHandler(control, cfg.allowed_commands, cfg.arm_mode)
        self._refusals = LogBudget()
        self._topics, self._device_id, self._lone, self._cameras, self._put = topics, device_id, lone, cameras, put

    def receive(self, topic: str, payload: bytes, *, retained: bool) -> None:
        """Run the command on `topic`, or log and ignore it."""
        name, camera = self._topics.command_name(topic), None
        if name is None and self._lone is None:
            camera, name = self._topics.camera_command(topic) or (None, None)
        try:
            if name is None:
                raise CommandError("not a command topic")
            if camera is not None and CameraName(camera) not in self._cameras():
                raise CommandError(f"no camera named {camera[:40]!r} (cameras: {', '.join(self._cameras())})")
            value = self.gate.admit(topic, name, payload, retained=retained)
            if camera is not None:
                self._commands.apply_camera(camera, name, value)
                snap_id = None
            else:
                snap_id = self._commands.apply(name, value)
        except CommandError as err:
            skipped = self._refusals.take()
            if skipped is not None:
                more = f" ({skipped} more refused commands not logged)" if skipped else ""
                log.warning("MQTT: ignored command on %s: %s%s", topic[:200], err, more)
            return
        log.info("MQTT: command %sset/%s %r%s: done%s", f"{camera}/" if camera else "", name,
                 value.decode(errors="replace")[:40],
                 " (signed)" if self.gate.signed else "", f", snapshot {snap_id}" if snap_id else "")
        if name == "snapshot" and snap_id is not None:
            # An appliance-wide command: with several cameras it names none (which frames it saves is the store's).
            reply = {"id": snap_id, "device_id": self._device_id, "camera": self._lone, "time": time.time()}
            self._put(Reply(self._topics.snapshot, payloads.dumps(reply)))
