"""Home Assistant MQTT discovery: the retained config messages that make the appliance appear by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any

from camapp.mqtt.topics import Topics, slug

ON_TEMPLATE = "{{ 'ON' if value | int(0) > 0 else 'OFF' }}"
INTERVAL_S = 60.0  # at most one discovery round a minute, however often Home Assistant says it is back


class Throttle:
    """Serves Home Assistant's discovery requests at most once per `interval_s`; one made inside the interval waits
    for its end."""

    def __init__(self, interval_s: float = INTERVAL_S, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.interval_s, self._monotonic = interval_s, monotonic
        self._last: float | None = None
        self._pending = False

    def request(self) -> None:
        self._pending = True

    def served(self) -> None:
        """A round was published now for another reason (connecting, a new model): it answers any waiting request."""
        self._pending, self._last = False, self._monotonic()

    def due(self) -> bool:
        """True (once) when a request is waiting and the interval since the last round is over."""
        now = self._monotonic()
        if not self._pending or (self._last is not None and now - self._last < self.interval_s):
            return False
        self._pending, self._last = False, now
        return True


def _stat(key: str, name: str, **extra: Any) -> tuple[str, str, dict[str, Any]]:
    body = {"name": name, "value_template": f"{{{{ value_json.{key} }}}}", "state_class": "measurement", **extra}
    return ("sensor", key, body)


def _controls(topics: Topics, commands: Collection[str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The controls: a switch or select where Home Assistant may send the command, else a read-only sensor (and
    an empty config that removes the control HA may still have from before)."""
    out: list[tuple[str, str, dict[str, Any] | None]] = []
    for name, icon, writable, readonly in (
        ("armed", "mdi:shield-home", "switch", "binary_sensor"),
        ("detection", "mdi:eye", "switch", "binary_sensor"),
        ("mode", "mdi:shield-lock", "select", "sensor"),
    ):
        label = {"armed": "Armed", "detection": "Detection", "mode": "Arming mode"}[name]
        body: dict[str, Any] = {"name": label, "state_topic": getattr(topics, name), "icon": icon}
        if name in commands:
            body["command_topic"] = topics.command(name)
            body.update({"options": ["disarmed", "home", "away"]} if name == "mode" else {})
        used, unused = (writable, readonly) if name in commands else (readonly, writable)
        out += [(used, name, body), (unused, name, None)]
    for name, label, icon in (("silence", "Silence alarm", "mdi:volume-off"), ("snapshot", "Take snapshot",
                                                                              "mdi:camera")):
        button = {"name": label, "command_topic": topics.command(name), "payload_press": "PRESS", "icon": icon}
        out.append(("button", name, button if name in commands else None))
    return out


def _entities(topics: Topics, labels: Sequence[str],
              commands: Collection[str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(component, object id, component-specific fields, None to remove it) for every entity."""
    ents: list[tuple[str, str, dict[str, Any] | None]] = [
        ("binary_sensor", "motion", {"name": "Motion", "state_topic": topics.motion, "device_class": "motion"}),
        ("binary_sensor", "alarm", {"name": "Alarm", "state_topic": topics.alarm, "device_class": "safety"}),
        *_controls(topics, commands),
    ]
    for topic, key, name, extra in (
        (topics.stats, "fps", "FPS", {"unit_of_measurement": "fps"}),
        (topics.stats, "detector_ms", "Detector time", {"unit_of_measurement": "ms", "device_class": "duration"}),
        (topics.stats, "cpu_temp_c", "CPU temperature", {"unit_of_measurement": "°C", "device_class": "temperature"}),
        (topics.stats, "disk_free_pct", "Disk free", {"unit_of_measurement": "%"}),
        (topics.stats, "mqtt_outbox", "MQTT outbox", {"entity_category": "diagnostic"}),
    ):
        comp, obj, body = _stat(key, name, **extra)
        ents.append((comp, obj, {"state_topic": topic, **body}))
    for label in dict.fromkeys(labels):
        s = slug(label)
        topic, name = topics.count(label), label.capitalize()
        ents.append(("binary_sensor", f"{s}_detected", {"name": f"{name} detected", "state_topic": topic,
                                                         "device_class": "occupancy", "value_template": ON_TEMPLATE}))
        ents.append(("sensor", f"{s}_count", {"name": f"{name} count", "state_topic": topic,
                                              "state_class": "measurement"}))
    return ents


def discovery_messages(
    topics: Topics, *, device_id: str, labels: Sequence[str], model_name: str, sw_version: str,
    commands: Collection[str] = (),
) -> list[tuple[str, dict[str, Any] | None]]:
    """(topic, payload) pairs to publish retained under <discovery_prefix>/<component>/<device_id>/<object>/config;
    a None payload is published empty, which removes that entity from Home Assistant.

    `commands` are those Home Assistant may send as they are (enabled, and no signing key), which become controls.
    """
    node = slug(device_id)
    device = {"identifiers": [f"camapp_{node}"], "name": f"camapp {device_id}", "manufacturer": "camapp",
              "model": model_name, "sw_version": sw_version}
    out: list[tuple[str, dict[str, Any] | None]] = []
    for component, object_id, body in _entities(topics, labels, commands):
        if body is None:
            out.append((topics.discovery(component, node, object_id), None))
            continue
        payload = {
            **body,
            "unique_id": f"camapp_{node}_{object_id}",
            "availability_topic": topics.available,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device,
            "origin": {"name": "camapp", "sw_version": sw_version},
        }
        out.append((topics.discovery(component, node, object_id), payload))
    return out
