"""Home Assistant MQTT discovery: the retained config messages that make the appliance appear by itself."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

from camapp.mqtt.topics import Topics, slug
from camapp.types import JsonObject, JsonValue

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


def _stat(key: str, name: str, **extra: JsonValue) -> tuple[str, str, JsonObject]:
    body: JsonObject = {"name": name, "value_template": f"{{{{ value_json.{key} }}}}", "state_class": "measurement",
                        **extra}
    return ("sensor", key, body)


Entity = tuple[str, str, JsonObject | None]  # (component, object id, its fields; None removes it)
_CONTROLS = {"armed": ("Armed", "mdi:shield-home", "switch", "binary_sensor"),
             "detection": ("Detection", "mdi:eye", "switch", "binary_sensor"),
             "mode": ("Arming mode", "mdi:shield-lock", "select", "sensor")}
# Stats read from <prefix>/stats: the pipeline's (a camera's), then the system's (the appliance's).
_PIPELINE_STATS = (("fps", "FPS", {"unit_of_measurement": "fps"}),
                   ("detector_ms", "Detector time", {"unit_of_measurement": "ms", "device_class": "duration"}))
_SYSTEM_STATS = (("cpu_temp_c", "CPU temperature", {"unit_of_measurement": "°C", "device_class": "temperature"}),
                 ("disk_free_pct", "Disk free", {"unit_of_measurement": "%"}),
                 ("mqtt_outbox", "MQTT outbox", {"entity_category": "diagnostic"}))


@dataclass(frozen=True)
class CameraEntities:
    """One camera of a several-camera appliance: its name, its topics (`<prefix>/<camera>/...`) and its labels."""

    name: str
    topics: Topics
    labels: tuple[str, ...]


def _control(topics: Topics, name: str, commands: Collection[str]) -> list[Entity]:
    """A switch or select where Home Assistant may send the command, else a read-only sensor (and an empty config
    that removes the control HA may still have from before)."""
    label, icon, writable, readonly = _CONTROLS[name]
    body: JsonObject = {"name": label, "state_topic": getattr(topics, name), "icon": icon}
    if name in commands:
        body["command_topic"] = topics.command(name)
        body.update({"options": ["disarmed", "home", "away"]} if name == "mode" else {})
    used, unused = (writable, readonly) if name in commands else (readonly, writable)
    return [(used, name, body), (unused, name, None)]


def _controls(topics: Topics, commands: Collection[str]) -> list[Entity]:
    out = [e for name in _CONTROLS for e in _control(topics, name, commands)]
    for name, label, icon in (("silence", "Silence alarm", "mdi:volume-off"), ("snapshot", "Take snapshot",
                                                                              "mdi:camera")):
        button: JsonObject = {"name": label, "command_topic": topics.command(name), "payload_press": "PRESS",
                              "icon": icon}
        out.append(("button", name, button if name in commands else None))
    return out


def _stats(topics: Topics, stats: Sequence[tuple[str, str, Mapping[str, JsonValue]]]) -> list[Entity]:
    out: list[Entity] = []
    for key, name, extra in stats:
        comp, obj, body = _stat(key, name, **extra)
        out.append((comp, obj, {"state_topic": topics.stats, **body}))
    return out


def _labels(topics: Topics, labels: Sequence[str]) -> list[Entity]:
    out: list[Entity] = []
    for label in dict.fromkeys(labels):
        s = slug(label)
        topic, name = topics.count(label), label.capitalize()
        out.append(("binary_sensor", f"{s}_detected", {"name": f"{name} detected", "state_topic": topic,
                                                        "device_class": "occupancy", "value_template": ON_TEMPLATE}))
        out.append(("sensor", f"{s}_count", {"name": f"{name} count", "state_topic": topic,
                                             "state_class": "measurement"}))
    return out


def _camera(topics: Topics, labels: Sequence[str]) -> list[Entity]:
    """What one camera shows: motion, its pipeline's stats, the last event and a count per label."""
    last: JsonObject = {"name": "Last event", "state_topic": topics.events, "icon": "mdi:cctv",
                        "value_template": "{{ value_json.label }} {{ value_json.type }}",
                        "json_attributes_topic": topics.events}
    status: JsonObject = {"name": "Camera status", "state_topic": topics.stats,
                          "value_template": "{{ value_json.camera_status }}", "icon": "mdi:cctv",
                          "entity_category": "diagnostic"}  # open, reconnecting, error: which camera stalled
    return [("binary_sensor", "motion", {"name": "Motion", "state_topic": topics.motion, "device_class": "motion"}),
            *_stats(topics, _PIPELINE_STATS), ("sensor", "last_event", last), ("sensor", "camera_status", status),
            *_labels(topics, labels)]


def _entities(topics: Topics, labels: Sequence[str], commands: Collection[str]) -> list[Entity]:
    """A lone camera's appliance: one device with everything."""
    return [*_camera(topics, labels)[:1],
            ("binary_sensor", "alarm", {"name": "Alarm", "state_topic": topics.alarm, "device_class": "safety"}),
            *_controls(topics, commands), *_stats(topics, _SYSTEM_STATS), *_camera(topics, labels)[1:]]


def _appliance(topics: Topics, commands: Collection[str], cameras: Sequence[CameraEntities]) -> list[Entity]:
    """A several-camera appliance's own device: the alarm, arming, the appliance-wide detection switch, buttons and
    the system's stats; the per-camera entities a lone camera had here are removed (they live on the cameras)."""
    labels = [label for c in cameras for label in c.labels]
    moved = [(comp, obj, None) for comp, obj, _ in _camera(topics, labels)]
    return [("binary_sensor", "alarm", {"name": "Alarm", "state_topic": topics.alarm, "device_class": "safety"}),
            *_controls(topics, commands), *_stats(topics, _SYSTEM_STATS), *moved]


def discovery_messages(  # noqa: PLR0913 - keyword-only, one per part of the discovery round
    topics: Topics, *, device_id: str, labels: Sequence[str], model_name: str, sw_version: str,
    commands: Collection[str] = (), cameras: Sequence[CameraEntities] | None = None,
) -> list[tuple[str, JsonObject | None]]:
    """(topic, payload) pairs to publish retained under <discovery_prefix>/<component>/<device_id>/<object>/config;
    a None payload is published empty, which removes that entity from Home Assistant.

    `commands` are those Home Assistant may send as they are (enabled, and no signing key), which become controls.
    `cameras` (several cameras): each camera is its own HA device, linked to the appliance's by `via_device`, with
    object ids `<camera>_<object>`; None: one device for the appliance and its lone camera (`labels`).
    """
    node = slug(device_id)
    appliance = f"camapp_{node}"
    device: JsonObject = {"identifiers": [appliance], "name": f"camapp {device_id}", "manufacturer": "camapp",
                          "model": model_name, "sw_version": sw_version}
    groups: list[tuple[str, JsonObject, list[Entity]]] = []
    if cameras is None:
        groups.append(("", device, _entities(topics, labels, commands)))
    else:
        groups.append(("", device, _appliance(topics, commands, cameras)))
        for cam in cameras:
            own: JsonObject = {"identifiers": [f"{appliance}_{slug(cam.name)}"],
                               "name": f"camapp {device_id} {cam.name}", "manufacturer": "camapp",
                               "model": model_name, "sw_version": sw_version, "via_device": appliance}
            ents = [*_camera(cam.topics, cam.labels), *_control(cam.topics, "detection", commands)]
            groups.append((f"{slug(cam.name)}_", own, ents))
    out: list[tuple[str, JsonObject | None]] = []
    for prefix, dev, entities in groups:
        for component, obj, body in entities:
            object_id = prefix + obj
            if body is None:
                out.append((topics.discovery(component, node, object_id), None))
                continue
            payload: JsonObject = {
                **body,
                "unique_id": f"camapp_{node}_{object_id}",
                "availability_topic": topics.available,
                "payload_available": "online",
                "payload_not_available": "offline",
                "device": dev,
                "origin": {"name": "camapp", "sw_version": sw_version},
            }
            out.append((topics.discovery(component, node, object_id), payload))
    return out
