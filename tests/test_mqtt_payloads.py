"""Payloads against the versioned JSON Schemas, topic naming, Home Assistant discovery shape, and the config."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from camapp.brokerparts import event_media
from camapp.config import parse_config
from camapp.config.mqtt import COMMANDS
from camapp.errors import ConfigError
from camapp.health import PipelineStats, system_health
from camapp.mqtt.discovery import discovery_messages
from camapp.mqtt.payloads import EVENT_SCHEMA, STATS_SCHEMA, alert_payload, dumps, event_payload, stats_payload
from camapp.mqtt.topics import Topics, slug
from camapp.types import EventMessage, EventType


def validator(path: Path) -> Any:
    return jsonschema_rs.validator_for(json.loads(path.read_text()))


def message(kind: EventType) -> EventMessage:
    return EventMessage(kind, "20240101-abc", 7, "person", 0.71, 0.93, (10.0, 20.5, 110.0, 220.0), 1000.0,
                        1012.5 if kind == "end" else None, ("porch",), ("porch", "drive"), "front")


@pytest.mark.parametrize("kind", ["new", "update", "end"])
def test_event_payload_matches_the_schema(kind: EventType) -> None:
    body = json.loads(dumps(event_payload(message(kind), device_id="dev", camera_id="front", model_name="ssd",
                                          frame_size=(768, 576))))
    validator(EVENT_SCHEMA).validate(body)
    assert (body["type"], body["id"], body["label"], body["model"], body["zones"]) == (
        kind, "20240101-abc", "person", "ssd", ["porch"])
    assert body["box"] == [10.0, 20.5, 110.0, 220.0] and body["top_score"] == 0.93


@pytest.mark.parametrize(
    ("change", "why"),
    [({"message_id": None}, "no message id"), ({"type": "moved"}, "unknown type"), ({"box": [1, 2, 3]}, "short box"),
     ({"type": "end", "end_time": None}, "end without end_time"), ({"version": 2}, "other version")],
)
def test_schema_rejects_bad_events(change: dict[str, Any], why: str) -> None:
    body = event_payload(message("new"), device_id="dev", camera_id="front", model_name="ssd")
    body.update(change)
    assert not validator(EVENT_SCHEMA).is_valid(body), why


@pytest.mark.parametrize(
    ("storage", "base", "expect"),
    [
        ({"path": "/data"}, "https://192.168.1.20:8080",
         (True, True, "https://192.168.1.20:8080/events/20240101-abc", "/api/events/20240101-abc/snapshot",
          "/api/events/20240101-abc/clip")),
        ({"path": "/data", "clips": False}, "https://cam.lan", (True, False, "https://cam.lan/events/20240101-abc",
                                                               "/api/events/20240101-abc/snapshot", None)),
        ({"path": "/data", "snapshots": False}, "https://cam.lan",
         (False, True, "https://cam.lan/events/20240101-abc", None, "/api/events/20240101-abc/clip")),
        ({}, "https://cam.lan", (False, False, "https://cam.lan/events/20240101-abc", None, None)),
    ],
    ids=["everything-kept", "no-clips", "no-snapshots", "no-store"],
)
def test_events_say_what_the_appliance_keeps_and_where(
    storage: dict[str, Any], base: str, expect: tuple[Any, ...]
) -> None:
    """has_snapshot / has_clip follow the store's settings; the links point at the event on the appliance."""
    cfg = parse_config({"storage": storage, "web": {"public_url": base}})
    body = json.loads(dumps(event_payload(message("new"), device_id="d", camera_id="c", model_name="m",
                                          media=event_media(cfg, lambda: 8080))))
    validator(EVENT_SCHEMA).validate(body)
    snap, clip = body["snapshot_url"], body["clip_url"]
    got = (body["has_snapshot"], body["has_clip"], body["url"], snap and snap.removeprefix(base),
           clip and clip.removeprefix(base))
    assert got == expect and body["revision"] == 2 and body["version"] == 1


def test_event_links_default_to_the_address_the_ui_answers_on() -> None:
    """Without web.public_url the link is the UI's own address and the port the server got (never 0.0.0.0)."""
    cfg = parse_config({"web": {"host": "127.0.0.1", "port": 0, "https": True}})
    body = event_payload(message("new"), device_id="d", camera_id="c", model_name="m",
                         media=event_media(cfg, lambda: 43211))
    assert body["url"] == "https://127.0.0.1:43211/events/20240101-abc"
    assert "0.0.0.0" not in json.dumps(event_payload(message("new"), device_id="d", camera_id="c", model_name="m",
                                                      media=event_media(parse_config({}), lambda: 8080)))


def test_message_ids_are_unique_and_alerts_keep_their_fields() -> None:
    ids = {event_payload(message("new"), device_id="d", camera_id="c", model_name="m")["message_id"]
           for _ in range(100)}
    assert len(ids) == 100
    alert = alert_payload({"rule": "porch-night", "label": "person", "message_id": "spoof"}, device_id="d",
                          camera_id="c")
    assert alert["rule"] == "porch-night" and alert["type"] == "alert" and alert["message_id"] != "spoof"


def test_stats_from_real_pipeline_stats_and_health_match_the_schema(tmp_path: Path) -> None:
    ps = PipelineStats()
    for _ in range(3):
        ps.record_frame(True, True, {"motion": 1.5, "detect": 20.0})
    body = stats_payload({**ps.as_dict(), **system_health(tmp_path)}, device_id="dev", outbox=3, connected=True)
    validator(STATS_SCHEMA).validate(json.loads(dumps(body)))
    assert body["frames"] == 3 and body["detector_ms"] == 20.0 and 0 <= body["disk_free_pct"] <= 100
    nested = stats_payload({"pipeline": ps.as_dict(), "health": system_health(tmp_path)}, device_id="dev",
                           outbox=0, connected=False)
    assert nested["frames"] == 3 and nested["uptime_s"] is not None


@pytest.mark.parametrize(("label", "level"), [("person", "person"), ("traffic light", "traffic_light"),
                                              ("a/b+#", "a_b"), ("  ", "unknown")])
def test_labels_become_safe_topic_levels(label: str, level: str) -> None:
    assert slug(label) == level
    topic = Topics.build("camapp/{device_id}", "dev").count(label)
    assert topic.count("/") == 3 and not set("+# ") & set(topic)


@pytest.mark.parametrize(("topic", "name"), [("camapp/dev/set/mode", "mode"), ("camapp/dev/set/", None),
                                             ("camapp/dev/set/a/b", None), ("camapp/other/set/mode", None),
                                             ("camapp/dev/mode", None)])
def test_command_topic_parsing(topic: str, name: str | None) -> None:
    assert Topics.build("camapp/{device_id}", "dev").command_name(topic) == name


# What Home Assistant's MQTT discovery schemas require, per component (from its MQTT integration docs).
HA_REQUIRED = {"binary_sensor": {"state_topic"}, "sensor": {"state_topic"}, "switch": {"command_topic"},
               "button": {"command_topic"}, "select": {"command_topic", "options"}}
HA_DEVICE_CLASSES = {"binary_sensor": {"motion", "occupancy", "safety", None},
                     "sensor": {"temperature", "duration", None}}
HA_TOPIC = re.compile(r"^homeassistant/(?P<component>\w+)/(?P<node>[a-zA-Z0-9_-]+)/(?P<obj>[a-zA-Z0-9_-]+)/config$")


@pytest.mark.parametrize("commands", [COMMANDS, ()])
def test_discovery_payloads_are_what_home_assistant_accepts(commands: tuple[str, ...]) -> None:
    topics = Topics.build("camapp/{device_id}", "dev-1")
    every = discovery_messages(topics, device_id="dev-1", labels=["person", "car", "traffic light", "person"],
                               model_name="ssd", sw_version="0.1.0", commands=commands)
    msgs = [(t, body) for t, body in every if body is not None]
    removed = {t for t, body in every if body is None}
    unique_ids = [body["unique_id"] for _, body in msgs]
    assert len(unique_ids) == len(set(unique_ids)) == len(msgs)
    # A control only where Home Assistant may send the command; the other form of each entity is removed.
    controls = {t for t, body in msgs if "command_topic" in body}
    assert len(controls) == len(commands) and len(removed) == (3 if commands else 5)
    assert not removed & {t for t, _ in msgs}
    components = set()
    for topic, body in msgs:
        m = HA_TOPIC.match(topic)
        assert m, topic
        comp = m["component"]
        components.add(comp)
        assert HA_REQUIRED[comp] <= body.keys(), (topic, HA_REQUIRED[comp] - body.keys())
        assert body.get("device_class") in HA_DEVICE_CLASSES.get(comp, {None})
        assert body["device"]["identifiers"] and body["availability_topic"] == topics.available
        for key in ("state_topic", "command_topic"):
            if key in body:
                assert body[key].startswith(topics.prefix + "/")
        json.dumps(body, allow_nan=False)
    assert components == set(HA_REQUIRED) - ({"switch", "select", "button"} if not commands else set())
    names = {HA_TOPIC.match(t)["obj"] for t, _ in msgs}  # type: ignore[index]
    assert {"motion", "armed", "person_detected", "traffic_light_count", "fps", "cpu_temp_c"} <= names
    assert ("silence" in names) == bool(commands)


def cfg(**mqtt: Any) -> dict[str, Any]:
    return {"mqtt": {"host": "broker.example", **mqtt}}


AWS_OK: dict[str, Any] = {"port": 8883, "client_id": "my-thing", "preset": "aws_iot_core",
          "tls": {"ca": "AmazonRootCA1.pem", "cert": "device.pem.crt", "key": "private.pem.key"}}


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"topic_prefix": "camapp/#"}, "topic_prefix"),
        ({"topic_prefix": "/camapp"}, "topic_prefix"),
        ({"tls": {"cert": "c.pem"}}, "set together"),
        ({"reconnect_min_s": 10, "reconnect_max_s": 1}, "reconnect_max_s"),
        ({"allowed_commands": ["reboot"]}, "allowed_commands"),
        ({"snapshot": True}, "snapshot"),
        ({**AWS_OK, "port": 1883}, "8883"),
        ({**AWS_OK, "keepalive_s": 10}, "30-1200"),
        ({**AWS_OK, "username": "u"}, "username"),
        ({**AWS_OK, "tls": {"ca": "ca.pem"}}, "mutual TLS"),
        ({**AWS_OK, "port": 443}, "x-amzn-mqtt-ca"),
    ],
)
def test_bad_mqtt_config_names_the_field(section: dict[str, Any], error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        parse_config(cfg(**section))


def test_defaults_and_aws_preset() -> None:
    default = parse_config({}).mqtt
    assert default.host is None and default.snapshots is False and default.clean_session is True
    aws = parse_config(cfg(**AWS_OK)).mqtt
    assert aws.tls is not None and aws.tls.cert is not None
    parse_config(cfg(**{**AWS_OK, "port": 443, "tls": {**AWS_OK["tls"], "alpn": ["x-amzn-mqtt-ca"]}}))
