"""The appliance's fleet agent: signed desired configs applied and saved, refusals logged, reported state out."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mqtt_broker import Broker, Collector

from camapp.commands import Applied
from camapp.config import AppConfig, load_config
from camapp.config.mqtt import MqttConfig
from camapp.control import Controller
from camapp.fleet.agent import FleetAgent
from camapp.fleet.keys import public_text
from camapp.fleet.protocol import COMMAND, DESIRED, REPORTED, SCHEMA_FILES, FleetTopics, sign
from camapp.fleet.publisher import Publisher, Versions
from camapp.mqtt.sink import MqttSink
from camapp.state import ApplianceState

KEY = Ed25519PrivateKey.generate()
PUBLIC = public_text(KEY)
TOPICS = FleetTopics("camapp/door-1")


class Device:
    """One agent in front of a real controller that applies (into `running`) and saves the config file."""

    def __init__(self, tmp: Path, device_id: str = "door-1") -> None:
        self.path = tmp / "config.yaml"
        self.path.write_text("device_id: door-1\ndetect:\n  fps: 4\n")
        self.running = load_config(self.path)
        self.state = ApplianceState()
        self.applied: list[AppConfig] = []
        control = Controller(self.state, apply_config=self._apply, config_path=self.path)
        self.reports: list[dict[str, Any]] = []
        self.agent = FleetAgent(PUBLIC, device_id=device_id, topics=TOPICS, control=control,
                                get_config=lambda: self.running, data_dir=tmp / "data")
        self.agent.start(lambda topic, payload: self.reports.append(json.loads(payload)))

    def _apply(self, cfg: AppConfig) -> Applied:
        self.applied.append(cfg)
        self.running = cfg
        return Applied([])

    def take(self, doc: dict[str, Any] | bytes, topic: str = TOPICS.desired, retained: bool = True) -> None:
        self.agent.take(topic, doc if isinstance(doc, bytes) else json.dumps(doc).encode(), retained)

    def close(self) -> None:
        self.agent.close()


def desired(version: int, config: str, device: str = "door-1", key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    return sign(key, {"schema": DESIRED, "device_id": device, "version": version, "issued": 1.0, "config": config})


def command(version: int, name: str, value: str, device: str = "door-1") -> dict[str, Any]:
    return sign(KEY, {"schema": COMMAND, "device_id": device, "version": version, "issued": 1.0, "command": name,
                      "value": value})


@pytest.fixture
def device(tmp_path: Path) -> Any:
    d = Device(tmp_path)
    yield d
    d.close()


def test_a_signed_desired_config_is_applied_saved_and_reported(device: Device) -> None:
    device.take(desired(5, "detect:\n  fps: 2.5\n"))
    assert device.running.detect.fps == 2.5
    assert load_config(device.path).detect.fps == 2.5  # saved after the apply succeeded
    report = device.reports[-1]
    assert (report["version"], report["values"], report["refused"]) == (5, {"detect.fps": 2.5}, None)
    assert len(report["config_hash"]) == 64


def test_an_invalid_desired_config_reports_field_and_line_and_changes_nothing(device: Device) -> None:
    device.take(desired(6, "motion:\n  enabled: true\ndetect:\n  fps: 500\n"))
    refused = device.reports[-1]["refused"]
    assert refused["version"] == 6
    assert [(e["field"], e["line"]) for e in refused["errors"]] == [("detect.fps", 4)]
    assert "less than or equal" in refused["errors"][0]["message"]
    assert device.applied == [] and load_config(device.path).detect.fps == 4
    assert device.reports[-1]["version"] == 0


@pytest.mark.parametrize(("doc", "topic", "retained", "why"), [
    (desired(7, "detect:\n  fps: 1\n", key=Ed25519PrivateKey.generate()), TOPICS.desired, True, "bad signature"),
    ({k: v for k, v in desired(7, "detect:\n  fps: 1\n").items() if k != "sig"}, TOPICS.desired, True, "unsigned"),
    ({**desired(7, "detect:\n  fps: 1\n"), "version": 8}, TOPICS.desired, True, "bad signature"),
    (desired(7, "detect:\n  fps: 1\n", device="door-2"), TOPICS.desired, True, "for device 'door-2'"),
    (command(7, "mode", "away"), TOPICS.desired, True, "a command document on the desired topic"),
    (command(7, "mode", "away"), TOPICS.command, True, "retained commands are ignored"),
    (b"\xff not json", TOPICS.desired, True, "not a JSON document"),
])
def test_refused_documents_change_nothing_and_are_logged(device: Device, caplog: pytest.LogCaptureFixture,
                                                         doc: Any, topic: str, retained: bool, why: str) -> None:
    with caplog.at_level(logging.WARNING, "camapp.fleet.agent"):
        device.take(doc, topic, retained)
    assert device.applied == [] and device.state.mode == "disarmed"
    assert why in caplog.text


def test_stale_versions_are_refused(device: Device, caplog: pytest.LogCaptureFixture) -> None:
    device.take(desired(10, "detect:\n  fps: 3\n"))
    with caplog.at_level(logging.WARNING, "camapp.fleet.agent"):
        device.take(desired(9, "detect:\n  fps: 1\n"))
        device.take(command(3, "mode", "away"), TOPICS.command, False)
        device.take(command(3, "mode", "home"), TOPICS.command, False)  # a replay of version 3
    assert device.running.detect.fps == 3
    assert "stale: desired version 9 is older than 10" in caplog.text
    assert "stale: command version 3 is not above 3" in caplog.text
    assert device.state.mode == "away"


def test_the_retained_copy_again_is_not_applied_twice(device: Device) -> None:
    device.take(desired(11, "detect:\n  fps: 3\n"))
    device.take(desired(11, "detect:\n  fps: 3\n"))
    assert len(device.applied) == 1


@pytest.mark.parametrize(("name", "value", "mode", "detection"), [
    ("mode", "home", "home", True), ("armed", "ON", "away", True), ("armed", "OFF", "disarmed", True),
    ("detection", "OFF", "disarmed", False),
])
def test_signed_commands_run(device: Device, name: str, value: str, mode: str, detection: bool) -> None:
    device.take(command(1, name, value), TOPICS.command, False)
    assert (device.state.mode, device.state.detection_enabled) == (mode, detection)
    assert device.reports[-1]["command"]["result"] == "done"


def test_the_fleet_cannot_change_the_device_id_or_its_broker(device: Device) -> None:
    device.take(desired(12, "device_id: other\nmqtt:\n  host: evil.example\n"))
    errors = device.reports[-1]["refused"]["errors"]
    assert [(e["field"], e["line"]) for e in errors] == [("device_id", 1), ("mqtt", 2)]


def test_versions_survive_a_restart(tmp_path: Path) -> None:
    first = Device(tmp_path)
    first.take(desired(20, "detect:\n  fps: 3\n"))
    first.close()
    again = Device(tmp_path)
    again.take(desired(19, "detect:\n  fps: 1\n"))
    assert again.applied == [] and again.reports[-1]["version"] == 20
    again.close()


def test_a_device_that_was_offline_applies_the_retained_desired_config(tmp_path: Path) -> None:
    """Real broker, real MqttSink: the console publishes while the device is away; it applies it on connecting."""
    with Broker(tmp_path / "broker") as broker, Collector(broker, ["camapp/+/fleet/reported"]) as col:
        publisher = Publisher(KEY, lambda t, p, r: col.publish(t, p, retain=r), Versions())
        publisher.desired("door-1", "camapp/door-1", "detect:\n  fps: 2\n")
        dev = Device(tmp_path)
        dev.agent.close()
        cfg = MqttConfig.model_validate(broker.mqtt_config(fleet_public_key=PUBLIC, discovery=False))
        agent = FleetAgent(PUBLIC, device_id="door-1", topics=TOPICS, control=Controller(
            dev.state, apply_config=dev._apply, config_path=dev.path), get_config=lambda: dev.running,
            data_dir=tmp_path / "data")
        sink_control = Controller(dev.state)
        sink = MqttSink(cfg, device_id="door-1", camera_id="cam", model_name="m", state=dev.state,
                        bus=sink_control.bus, control=sink_control, stats=dict, data_dir=tmp_path / "data",
                        labels=["person"], fleet=agent)
        sink.start()
        try:
            col.wait_for(lambda ms: any(json.loads(m.payload)["version"] > 0 for m in ms), timeout=10)
        finally:
            sink.close()
        assert dev.running.detect.fps == 2
        assert yaml.safe_load(dev.path.read_text())["detect"]["fps"] == 2
        last = json.loads(col.on(TOPICS.reported)[-1].payload)
        assert last["values"] == {"detect.fps": 2.0} and last["time"] <= time.time()


def test_every_document_matches_its_json_schema(device: Device) -> None:
    docs = {DESIRED: desired(30, "detect:\n  fps: 500\n"), COMMAND: command(30, "mode", "home")}
    device.take(docs[DESIRED])
    device.take(docs[COMMAND], TOPICS.command, False)
    docs[REPORTED] = device.reports[-1]
    assert docs[REPORTED]["refused"]["errors"][0]["field"] == "detect.fps"
    for schema, doc in docs.items():
        jsonschema_rs.validator_for(json.loads(SCHEMA_FILES[schema].read_text())).validate(doc)


def test_a_model_command_without_its_files_is_refused_and_reported(device: Device) -> None:
    device.take(command(40, "model", "ab" * 32), TOPICS.command, False)
    reported = device.reports[-1]["command"]
    assert (reported["result"], reported["version"]) == ("refused", 40)
    assert "malformed: `model` needs model_url" in reported["error"]
