"""Home Assistant MQTT discovery: the retained config messages that make the appliance appear by itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from camapp.mqtt.topics import Topics, slug

ON_TEMPLATE = "{{ 'ON' if value | int(0) > 0 else 'OFF' }}"


def _stat(key: str, name: str, **extra: Any) -> tuple[str, str, dict[str, Any]]:
    body = {"name": name, "value_template": f"{{{{ value_json.{key} }}}}", "state_class": "measurement", **extra}
    return ("sensor", key, body)


def _entities(topics: Topics, labels: Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(component, object id, component-specific fields) for every entity."""
    ents: list[tuple[str, str, dict[str, Any]]] = [
        ("binary_sensor", "motion", {"name": "Motion", "state_topic": topics.motion, "device_class": "motion"}),
        ("binary_sensor", "alarm", {"name": "Alarm", "state_topic": topics.alarm, "device_class": "safety"}),
        ("switch", "armed", {"name": "Armed", "state_topic": topics.armed, "command_topic": topics.command("armed"),
                             "icon": "mdi:shield-home"}),
        ("switch", "detection", {"name": "Detection", "state_topic": topics.detection,
                                 "command_topic": topics.command("detection"), "icon": "mdi:eye"}),
        ("select", "mode", {"name": "Arming mode", "state_topic": topics.mode, "command_topic": topics.command("mode"),
                            "options": ["disarmed", "home", "away"]}),
        ("button", "silence", {"name": "Silence alarm", "command_topic": topics.command("silence"),
                               "payload_press": "PRESS", "icon": "mdi:volume-off"}),
        ("button", "snapshot", {"name": "Take snapshot", "command_topic": topics.command("snapshot"),
                                "payload_press": "PRESS", "icon": "mdi:camera"}),
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
    topics: Topics, *, device_id: str, labels: Sequence[str], model_name: str, sw_version: str
) -> list[tuple[str, dict[str, Any]]]:
    """(topic, payload) pairs to publish retained under <discovery_prefix>/<component>/<device_id>/<object>/config."""
    node = slug(device_id)
    device = {"identifiers": [f"camapp_{node}"], "name": f"camapp {device_id}", "manufacturer": "camapp",
              "model": model_name, "sw_version": sw_version}
    out = []
    for component, object_id, body in _entities(topics, labels):
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
