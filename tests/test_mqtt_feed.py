"""Several cameras on one MQTT connection (camapp/mqtt/feed.py) against a real broker: each camera's own topics with
`camera` set, per-camera stats and HA devices linked to the appliance's, per-camera detection commands."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonschema_rs
import numpy as np
import pytest
from mqtt_broker import Broker, Collector
from test_mqtt_sink import lifecycle, result, wait_until

from camapp.app import Appliance
from camapp.bus import Alert
from camapp.config import parse_config
from camapp.config.mqtt import COMMANDS, MqttConfig
from camapp.control import Controller
from camapp.fleet.agent import FleetAgent
from camapp.mqtt.payloads import EVENT_SCHEMA, STATS_SCHEMA
from camapp.mqtt.sink import MqttSink
from camapp.state import ApplianceState
from camapp.types import CameraName, TrackedObject

pytestmark = pytest.mark.broker

CAMERAS = (CameraName("front"), CameraName("garden"))


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path / "broker") as b:
        yield b


def several(broker: Broker, data_dir: Path, control: Controller | None = None, device_id: str = "",
            **extra: Any) -> tuple[MqttSink, dict[str, Any]]:
    """One connection for the appliance, each camera joined with its own labels and stats; started."""
    control = control or Controller(ApplianceState(cameras=CAMERAS))
    cfg = MqttConfig.model_validate(broker.mqtt_config(**extra))
    sink = MqttSink(cfg, device_id=device_id or "dev-" + uuid.uuid4().hex[:8], camera_id=CAMERAS[0],
                    model_name="ssd", state=control.state, bus=control.bus, control=control,
                    stats=lambda: {"system": {"cpu_temp_c": 51.0}}, data_dir=data_dir, labels=(), several=True)
    feeds = {
        "front": sink.feed(CAMERAS[0], ["person"], lambda: {"pipeline": {"fps": 4.5}}),
        "garden": sink.feed(CAMERAS[1], ["person", "dog"], lambda: {"pipeline": {"fps": 2.5}}),
    }
    sink.start()
    return sink, feeds


def payloads(col: Collector, topic: str) -> list[bytes]:
    return [m.payload for m in col.on(topic)]


def person(track_id: int) -> TrackedObject:
    return TrackedObject(track_id, "person", (0, 0, 10, 10), 0.9, 0.0, 0.0, confirmed=True)


def test_each_camera_publishes_on_its_own_topics_through_one_connection(tmp_path: Path, broker: Broker) -> None:
    sink, feeds = several(broker, tmp_path / "data", stats_interval_s=1, snapshots=True)
    p = sink.topics.prefix
    photo = np.full((240, 320, 3), 120, np.uint8)
    with Collector(broker, [p + "/#"]) as col:
        col.wait_for(lambda _: bool(col.on(p + "/available")))  # thumbnails are best effort: sent only online
        for i, msg in enumerate(lifecycle("ev-garden")):
            feeds["garden"].handle(result(100.0 + i, [msg], objects=[person(1)], image=photo))
        feeds["front"].handle(result(100.0, lifecycle("ev-front")[:1], motion=True))
        sink.publish_alert(Alert(rule="lawn", label="person", score=0.9, mode="away", time=1.0, camera="garden"))
        sink.publish_alert(Alert(rule="pir", label="pir", score=1.0, mode="away", time=1.0, source="gpio"))
        assert sink.flush(10)
        col.wait_for(lambda _: len(col.on(p + "/garden/events")) == 3 and len(col.on(p + "/alert")) == 2
                     and bool(col.on(p + "/front/stats")) and bool(col.on(p + "/garden/stats"))
                     and bool(col.on(p + "/stats")) and bool(col.on(p + "/garden/thumbnail/person")))
        event_schema = jsonschema_rs.validator_for(json.loads(EVENT_SCHEMA.read_text()))
        garden = [json.loads(m) for m in payloads(col, p + "/garden/events")]
        front = [json.loads(m) for m in payloads(col, p + "/front/events")]
        for body in garden + front:
            event_schema.validate(body)
        assert [(e["camera"], e["id"], e["type"]) for e in garden] == [
            ("garden", "ev-garden", t) for t in ("new", "update", "end")]
        assert [(e["camera"], e["id"]) for e in front] == [("front", "ev-front")]
        assert not col.on(p + "/events")  # nothing on the lone camera's topic
        # Each camera's motion and counts are its own.
        col.wait_for(lambda _: payloads(col, p + "/front/motion")[-1:] == [b"ON"])
        assert payloads(col, p + "/garden/motion") == [b"OFF"] and payloads(col, p + "/garden/count/person")[-1] == b"1"
        assert payloads(col, p + "/front/count/person") == [b"0"] and payloads(col, p + "/garden/count/dog") == [b"0"]
        assert payloads(col, p + "/front/detection") == payloads(col, p + "/garden/detection") == [b"ON"]
        assert all(m.payload.startswith(b"\xff\xd8") for m in col.on(p + "/garden/thumbnail/person"))
        assert not col.on(p + "/thumbnail/person")
        alerts = [json.loads(m) for m in payloads(col, p + "/alert")]
        assert [(a["rule"], a["camera"]) for a in alerts] == [("lawn", "garden"), ("pir", None)]
        # Stats: each camera's pipeline on its own topic, the system's on the appliance's, one schema for all.
        stats_schema = jsonschema_rs.validator_for(json.loads(STATS_SCHEMA.read_text()))
        bodies = {t: json.loads(col.on(t)[-1].payload) for t in (p + "/stats", p + "/front/stats", p + "/garden/stats")}
        for body in bodies.values():
            stats_schema.validate(body)
        assert [(b["camera"], b["fps"], b["cpu_temp_c"]) for b in bodies.values()] == [
            (None, None, 51.0), ("front", 4.5, None), ("garden", 2.5, None)]
        assert bodies[p + "/stats"]["cameras"] == ["front", "garden"] and bodies[p + "/stats"]["revision"] == 2
        assert payloads(col, p + "/available") == [b"online"]  # one connection, one availability
    sink.close()


def test_home_assistant_shows_a_device_per_camera_linked_to_the_appliance(tmp_path: Path, broker: Broker) -> None:
    with Collector(broker, ["homeassistant/+/ha-multi/+/config"]) as col:
        sink, _ = several(broker, tmp_path / "data", device_id="ha-multi", allowed_commands=list(COMMANDS))
        col.wait_for(lambda ms: any("/garden_detection/" in m.topic for m in ms))  # the round's last camera entity
        configs = {(m.topic.split("/")[1], m.topic.split("/")[3]): json.loads(m.payload) if m.payload else None
                   for m in col.messages}
    sink.close()
    live = {obj: (comp, body) for (comp, obj), body in configs.items() if body is not None}
    devices = {body["device"]["identifiers"][0]: body["device"] for _, body in live.values()}
    assert set(devices) == {"camapp_ha-multi", "camapp_ha-multi_front", "camapp_ha-multi_garden"}
    assert "via_device" not in devices["camapp_ha-multi"]
    for cam in ("front", "garden"):
        assert devices[f"camapp_ha-multi_{cam}"]["via_device"] == "camapp_ha-multi"
        assert devices[f"camapp_ha-multi_{cam}"]["name"] == f"camapp ha-multi {cam}"

    def device_of(obj: str) -> str:
        return str(live[obj][1]["device"]["identifiers"][0])

    for obj in ("garden_motion", "garden_detection", "garden_fps", "garden_last_event", "garden_camera_status",
                "garden_dog_count"):
        assert device_of(obj) == "camapp_ha-multi_garden", obj
    for obj in ("armed", "mode", "detection", "alarm", "silence", "cpu_temp_c", "mqtt_outbox"):
        assert device_of(obj) == "camapp_ha-multi", obj
    switch = live["garden_detection"]
    assert switch[0] == "switch" and switch[1]["command_topic"] == "camapp/ha-multi/garden/set/detection"
    assert switch[1]["state_topic"] == "camapp/ha-multi/garden/detection"
    assert live["front_motion"][1]["state_topic"] == "camapp/ha-multi/front/motion"
    assert "front_dog_count" not in live  # a camera's labels are its own
    # What a lone camera had on the appliance's device is removed there (an empty retained config).
    assert configs[("binary_sensor", "motion")] is None and configs[("sensor", "fps")] is None
    assert configs[("sensor", "person_count")] is None and configs[("sensor", "dog_count")] is None
    assert all(body["availability_topic"] == "camapp/ha-multi/available" for _, body in live.values())


def test_a_camera_detection_command_switches_that_camera_only(tmp_path: Path, broker: Broker,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="camapp")
    control = Controller(ApplianceState(cameras=CAMERAS))
    state = control.state
    p = "camapp/cmd-multi"
    with Collector(broker, [p + "/#"]) as col:
        # Retained: it would replay on every reconnect, so it is refused (the broker hands it over on subscribing).
        col.publish(p + "/front/set/detection", "OFF", retain=True)
        sink, _ = several(broker, tmp_path / "data", control, device_id="cmd-multi", allowed_commands=["detection"])
        col.wait_for(lambda _: bool(col.on(p + "/available")))
        col.publish(p + "/garden/set/detection", "OFF")
        col.wait_for(lambda _: payloads(col, p + "/garden/detection")[-1:] == [b"OFF"])
        assert (state.detecting("garden"), state.detecting("front"), state.detection_enabled) == (False, True, True)
        assert payloads(col, p + "/front/detection") == [b"ON"] and payloads(col, p + "/detection") == [b"ON"]
        for topic, payload in ((p + "/garden/set/detection", "banana"), (p + "/drive/set/detection", "OFF"),
                               (p + "/front/set/mode", "away")):
            col.publish(topic, payload)
        col.publish(p + "/set/detection", "OFF")  # the appliance's switch: every camera
        col.wait_for(lambda _: payloads(col, p + "/detection")[-1:] == [b"OFF"])
        assert (state.detecting("front"), state.detecting("garden")) == (False, False)
        assert state.camera_detection("front") is True  # its own switch was never changed by the bad commands
        col.publish(p + "/set/detection", "ON")
        col.publish(p + "/garden/set/detection", "on")
        col.wait_for(lambda _: payloads(col, p + "/garden/detection")[-1:] == [b"ON"])
        assert state.detecting("garden") and state.detecting("front")
    sink.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING" and "ignored command" in
                r.getMessage()]
    for reason in ("garden/set/detection: set/detection expects ON or OFF, got 'banana'",
                   "drive/set/detection: no camera named 'drive' (cameras: front, garden)",
                   "front/set/mode: set/mode is not enabled",
                   "front/set/detection: retained commands are ignored"):
        assert any(reason in w for w in warnings), (reason, warnings)
    assert sum("camera" in r.getMessage() and "detection off (from mqtt)" in r.getMessage()
               for r in caplog.records) == 1


def test_an_unknown_per_camera_command_is_named(tmp_path: Path, broker: Broker,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="camapp")
    sink, _ = several(broker, tmp_path / "data", allowed_commands=list(COMMANDS))
    p = sink.topics.prefix
    with Collector(broker, [p + "/#"]) as col:
        col.wait_for(lambda _: bool(col.on(p + "/available")))
        col.publish(p + "/front/set/mode", "away")
        col.publish(p + "/front/set/detection", "OFF")
        assert wait_until(lambda: not sink.state.detecting("front"))
    sink.close()
    assert sink.state.mode == "disarmed"
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "front/set/mode is appliance-wide: publish it to <prefix>/set/mode" in text
    assert "MQTT: command front/set/detection 'OFF': done" in text


def test_two_file_cameras_on_the_real_model_publish_under_their_own_topics(
    tmp_path: Path, broker: Broker, demo_video: Path, model_manifest: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`camapp run` with two file cameras and MQTT: person events from each on its own topic over one connection;
    `<prefix>/garden/set/detection OFF` stops the garden's events while the front's go on, ON brings them back."""
    from clips import cut

    monkeypatch.setenv("CAMAPP_DATA", str(tmp_path / "data"))
    front = cut(demo_video, tmp_path / "front.mp4", 40)
    garden = cut(demo_video, tmp_path / "garden.mp4", 40)
    camera = {"source": "file", "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
    cfg = parse_config({
        "device_id": "two-cams", "web": {"host": "127.0.0.1", "https": False},
        "mqtt": broker.mqtt_config(allowed_commands=["detection"], stats_interval_s=1),
        "cameras": {"front": {**camera, "path": str(front)}, "garden": {**camera, "path": str(garden)}}})
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"port": 0})})
    p = "camapp/two-cams"

    def new_events(col: Collector, camera: str, after: int = 0) -> list[dict[str, Any]]:
        bodies = [json.loads(m.payload) for m in col.messages[after:] if m.topic == f"{p}/{camera}/events"]
        return [b for b in bodies if b["type"] == "new"]

    with Collector(broker, [p + "/#"]) as col:
        app = Appliance(cfg)
        thread = threading.Thread(target=app.run_forever)
        thread.start()
        try:
            assert app.units[0].sinks.mqtt is app.units[1].sinks.mqtt is app.shared.mqtt  # one connection
            col.wait_for(lambda _: bool(new_events(col, "front")) and bool(new_events(col, "garden")), 90)
            assert all(e["camera"] == c for c in ("front", "garden") for e in new_events(col, c))
            assert {e["label"] for c in ("front", "garden") for e in new_events(col, c)} >= {"person"}
            assert not col.on(p + "/events")
            col.publish(p + "/garden/set/detection", "OFF")
            col.wait_for(lambda _: payloads(col, p + "/garden/detection")[-1:] == [b"OFF"])
            threading.Event().wait(1.0)  # what the garden's pipeline had queued before the switch
            cut_at = len(col.messages)
            col.wait_for(lambda _: len(new_events(col, "front", cut_at)) >= 2, 90)  # two more passes of its clip
            assert new_events(col, "garden", cut_at) == []
            col.publish(p + "/garden/set/detection", "ON")
            col.wait_for(lambda _: bool(new_events(col, "garden", cut_at)), 90)
        finally:
            app.stop_event.set()
            thread.join(30)
            app.close()
    assert payloads(col, p + "/available")[-1] == b"offline"


def test_the_fleet_agent_rides_on_the_one_connection_of_several_cameras(tmp_path: Path, broker: Broker) -> None:
    """A signed fleet command reaches the agent of a several-camera appliance over the same connection the cameras
    publish on; its report comes back on <prefix>/fleet/reported."""
    from test_fleet_agent import PUBLIC, TOPICS, Device, command

    dev = Device(tmp_path)
    dev.agent.close()
    agent = FleetAgent(PUBLIC, device_id="door-1", topics=TOPICS, control=Controller(dev.state),
                       get_config=lambda: dev.running, data_dir=tmp_path / "data")
    control = Controller(dev.state)
    cfg = MqttConfig.model_validate(broker.mqtt_config(fleet_public_key=PUBLIC, discovery=False))
    sink = MqttSink(cfg, device_id="door-1", camera_id=CAMERAS[0], model_name="m", state=dev.state, bus=control.bus,
                    control=control, stats=dict, data_dir=tmp_path / "data", labels=(), fleet=agent, several=True)
    feeds = [sink.feed(name, ["person"], dict) for name in CAMERAS]
    with Collector(broker, ["camapp/door-1/#"]) as col:
        sink.start()
        try:
            col.wait_for(lambda _: bool(col.on("camapp/door-1/available")))
            col.publish(TOPICS.command, json.dumps(command(3, "mode", "home")))
            feeds[1].handle(result(100.0, lifecycle("ev-g")[:1]))
            garden = "camapp/door-1/garden/events"
            col.wait_for(lambda _: bool(col.on(garden)) and any(
                (json.loads(m.payload).get("command") or {}).get("version") == 3 for m in col.on(TOPICS.reported)))
        finally:
            sink.close()
    assert dev.state.mode == "home"
    assert json.loads(col.on("camapp/door-1/garden/events")[0].payload)["camera"] == "garden"



@pytest.mark.parametrize(("layout", "topic"), [("camera", "camapp/lay/events"), ("cameras", "camapp/lay/porch/events")])
def test_camera_keeps_the_appliance_topics_and_cameras_uses_its_own_even_alone(
    fakes: ModuleType, tmp_path: Path, broker: Broker, monkeypatch: pytest.MonkeyPatch, layout: str, topic: str,
) -> None:
    """The topic layout a user gets from each way of writing one camera, replayed through the whole appliance."""
    monkeypatch.setenv("CAMAPP_DATA", str(tmp_path / "data"))
    porch = {"source": "countdown", "frames": 20, "width": 320}
    cameras = {"camera": {**porch, "id": "porch"}} if layout == "camera" else {"cameras": {"porch": porch}}
    cfg = parse_config({"device_id": "lay", "model": {"type": "centre"}, "motion": {"enabled": False},
                        "detect": {"fps": 0}, "objects": {"track": ["person"]}, "mqtt": broker.mqtt_config(),
                        **cameras})
    with Collector(broker, ["camapp/lay/#"]) as col, Appliance(cfg) as app:
        app.replay([])
        col.wait_for(lambda _: len(col.on(topic)) >= 2)  # the person's new ... end
        events = [json.loads(m.payload) for m in col.messages if m.topic.endswith("/events")]
    assert {m.topic for m in col.messages if m.topic.endswith("/events")} == {topic}
    assert {e["camera"] for e in events} == {"porch"} and [e["type"] for e in events][::len(events) - 1] == [
        "new", "end"]


def test_a_camera_removed_from_the_config_leaves_home_assistant_too(tmp_path: Path, broker: Broker) -> None:
    """Restarted without the garden (same data dir), the appliance empties the garden's retained discovery configs
    it announced before, so its HA device goes; the front's stay."""
    def start(cameras: tuple[str, ...]) -> MqttSink:
        control = Controller(ApplianceState(cameras=cameras))
        cfg = MqttConfig.model_validate(broker.mqtt_config())
        sink = MqttSink(cfg, device_id="ha-gone", camera_id=CameraName(cameras[0]), model_name="m",
                        state=control.state, bus=control.bus, control=control, stats=dict,
                        data_dir=tmp_path / "data", labels=(), several=True)
        for name in cameras:
            sink.feed(CameraName(name), ["person"], dict)
        sink.start()
        return sink

    def retained() -> set[str]:
        with Collector(broker, ["homeassistant/+/ha-gone/+/config"]) as late:
            late.wait_for(lambda ms: any("front_detection" in m.topic for m in ms))
            threading.Event().wait(0.5)  # the rest of the retained set
            return {m.topic.split("/")[3] for m in late.messages if m.payload}

    with Collector(broker, ["homeassistant/+/ha-gone/+/config"]) as col:
        first = start(("front", "garden"))
        col.wait_for(lambda ms: any("garden_detection" in m.topic for m in ms))
        first.close()
    assert {"garden_motion", "garden_person_count", "front_motion"} <= retained()
    with Collector(broker, ["homeassistant/+/ha-gone/+/config"]) as col:
        second = start(("front",))
        col.wait_for(lambda ms: any("garden_motion" in m.topic and not m.payload for m in ms))
        second.close()
    now = retained()
    assert not any(obj.startswith("garden_") for obj in now) and {"front_motion", "armed"} <= now
    assert (tmp_path / "data" / "mqtt-discovery.json").is_file()
