"""MqttSink against a real broker (mosquitto; amqtt for the plain cases): delivery, LWT, outage, kill -9, commands."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema_rs
import numpy as np
import pytest
import yaml
from conftest import ROOT, need
from mqtt_broker import Broker, Collector, broker_kind, make_certs

from camapp.bus import Alert, BusEvent, ModeChanged, SnapshotRequested
from camapp.commands import SetMode
from camapp.config.mqtt import COMMANDS, MqttConfig
from camapp.control import Controller
from camapp.errors import ConfigError
from camapp.health import PipelineStats
from camapp.mqtt import discovery
from camapp.mqtt.authority import signed_payload
from camapp.mqtt.discovery import discovery_messages
from camapp.mqtt.outbox import Outbox
from camapp.mqtt.payloads import EVENT_SCHEMA, STATS_SCHEMA, EventMedia
from camapp.mqtt.sink import OUTBOX_FILE, MqttSink
from camapp.state import ApplianceState
from camapp.types import Detections, EventMessage, Frame, FrameResult, MotionResult, TrackedObject

pytestmark = pytest.mark.broker

PUBLISHER = ROOT / "tests" / "mqtt_publisher.py"
INSTALL = "apt-get install -y mosquitto"


def need_mosquitto(what: str) -> None:
    need(broker_kind() == "mosquitto", f"mosquitto ({what}; the amqtt fallback cannot)", INSTALL)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    with Broker(tmp_path / "broker") as b:
        yield b


def controlled(control: Controller | None = None) -> dict[str, Any]:
    """The state, bus and controller, as MqttSink takes them (a fresh controller unless given one)."""
    control = control or Controller(ApplianceState())
    return {"state": control.state, "bus": control.bus, "control": control}


def make_sink(broker: Broker, data_dir: Path, control: Controller | None = None,
              labels: Sequence[str] = ("person", "car"), device_id: str = "", media: EventMedia | None = None,
              **extra: Any) -> MqttSink:
    cfg = MqttConfig.model_validate(broker.mqtt_config(**extra))
    sink = MqttSink(cfg, device_id=device_id or "dev-" + uuid.uuid4().hex[:8], camera_id="front",
                    model_name="ssd_mobilenet_v2", **controlled(control),
                    stats=lambda: {"fps": 9.5, "detector_ms": 21.0}, data_dir=data_dir, labels=labels,
                    media=media)
    sink.start()
    return sink


def result(t: float, events: Sequence[EventMessage] = (), objects: Sequence[TrackedObject] = (),
           motion: bool = False, image: np.ndarray | None = None) -> FrameResult:
    img = image if image is not None else np.zeros((240, 320, 3), np.uint8)
    boxes = np.array([[10, 10, 50, 50]], np.int32) if motion else np.zeros((0, 4), np.int32)
    return FrameResult(Frame(img, t, int(t * 10)), MotionResult(boxes, 0.1 if motion else 0.0), Detections.empty(),
                       tuple(objects), tuple(events))


def lifecycle(event_id: str, t: float = 100.0, box: tuple[float, ...] = (40.0, 30.0, 140.0, 220.0)) -> list[
        EventMessage]:
    b = (box[0], box[1], box[2], box[3])
    return [EventMessage("new", event_id, 1, "person", 0.7, 0.7, b, t, None, ("porch",), ("porch",)),
            EventMessage("update", event_id, 1, "person", 0.9, 0.9, b, t, None, ("porch",), ("porch",)),
            EventMessage("end", event_id, 1, "person", 0.9, 0.9, b, t, t + 4.0, (), ("porch",))]


def events_of(collector: Collector, topic: str) -> list[dict[str, Any]]:
    return [json.loads(m.payload) for m in collector.on(topic)]


def wait_until(pred: Any, timeout: float = 10.0) -> bool:
    stop = threading.Event()
    for _ in range(int(timeout / 0.05)):
        if pred():
            return True
        stop.wait(0.05)
    return bool(pred())


@pytest.mark.parametrize("auth", ["plain", "password", "tls"])
def test_events_reach_the_broker_and_match_the_schema(tmp_path: Path, auth: str) -> None:
    if auth != "plain":
        need_mosquitto(f"{auth} broker")
    users = {"camapp": "s3cret"} if auth == "password" else None
    certs = make_certs(tmp_path / "certs") if auth == "tls" else None
    with Broker(tmp_path / "broker", users=users, certs=certs) as broker:
        media = EventMedia(snapshots=True, clips=False, base_url=lambda: "https://127.0.0.1:8443")
        sink = make_sink(broker, tmp_path / "data", stats_interval_s=1, media=media)
        with Collector(broker, [sink.topics.prefix + "/#"]) as col:
            for i, msg in enumerate(lifecycle("ev-1")):
                sink.handle(result(100.0 + i, [msg]))
            assert sink.flush(10)
            col.wait_for(lambda _: len(col.on(sink.topics.events)) == 3 and bool(col.on(sink.topics.stats)))
            events = events_of(col, sink.topics.events)
            event_schema = jsonschema_rs.validator_for(json.loads(EVENT_SCHEMA.read_text()))
            for body in events:
                event_schema.validate(body)
            assert [(e["type"], e["id"], e["camera"], e["model"]) for e in events] == [
                (k, "ev-1", "front", "ssd_mobilenet_v2") for k in ("new", "update", "end")]
            assert {(e["has_snapshot"], e["has_clip"], e["url"]) for e in events} == {
                (True, False, "https://127.0.0.1:8443/events/ev-1")}
            assert {m.qos for m in col.on(sink.topics.events)} == {1}
            stats = json.loads(col.on(sink.topics.stats)[-1].payload)
            jsonschema_rs.validator_for(json.loads(STATS_SCHEMA.read_text())).validate(stats)
            assert (stats["fps"], stats["detector_ms"], stats["mqtt_connected"]) == (9.5, 21.0, True)
        assert sink.status() == {**sink.status(), "connected": True, "outbox": 0, "last_error": None}
        # A subscriber arriving later gets the state topics retained.
        with Collector(broker, [sink.topics.prefix + "/#"]) as late:
            late.wait_for(lambda _: bool(late.on(sink.topics.armed)) and bool(late.on(sink.topics.available)))
            assert late.on(sink.topics.available)[-1].payload == b"online"
            assert late.on(sink.topics.armed)[-1].retain and late.on(sink.topics.armed)[-1].payload == b"OFF"
            assert not late.on(sink.topics.events)
        sink.close()


@pytest.mark.parametrize("case", ["wrong password", "foreign client certificate"])
def test_refused_connections_are_reported_and_events_wait_in_the_outbox(tmp_path: Path, case: str) -> None:
    need_mosquitto(case)
    certs = make_certs(tmp_path / "certs") if "cert" in case else None
    with Broker(tmp_path / "broker", users=None if certs else {"camapp": "s3cret"}, certs=certs) as broker:
        extra: dict[str, Any]
        if certs:
            extra = {"tls": {"ca": str(certs.ca), "cert": str(certs.other_client_cert),
                             "key": str(certs.other_client_key)}}
        else:
            extra = {"password": "wrong"}
        sink = make_sink(broker, tmp_path / "data", **extra)
        for i, msg in enumerate(lifecycle("ev-x")):
            sink.handle(result(100.0 + i, [msg]))
        assert sink.flush(5, delivered=False)
        assert wait_until(lambda: sink.status()["last_error"] is not None)
        assert sink.status()["connected"] is False and sink.status()["outbox"] == 3
        sink.close()


def run_publisher(config: Path, data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(PUBLISHER), str(config), str(data_dir), *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def write_config(path: Path, broker: Broker, device_id: str) -> Path:
    path.write_text(yaml.safe_dump({"device_id": device_id, "mqtt": broker.mqtt_config()}))
    return path


def read_line(proc: subprocess.Popen[str], prefix: str) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith(prefix):
        proc.kill()
        raise AssertionError(f"publisher said {line!r}; stderr:\n{proc.communicate()[1][-3000:]}")
    return line


def test_last_will_marks_the_device_offline_when_its_process_is_killed(tmp_path: Path, broker: Broker) -> None:
    config = write_config(tmp_path / "c.yaml", broker, "lwt-dev")
    with Collector(broker, ["camapp/lwt-dev/available"]) as col:
        proc = run_publisher(config, tmp_path / "data", "--hold")
        read_line(proc, "QUEUED")
        col.wait_for(lambda ms: bool(ms) and ms[-1].payload == b"online")
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)
        col.wait_for(lambda ms: ms[-1].payload == b"offline", timeout=15)
    with Collector(broker, ["camapp/lwt-dev/available"]) as late:
        late.wait_for(lambda ms: bool(ms) and ms[-1].payload == b"offline" and ms[-1].retain)


def test_outbox_survives_kill_9_and_is_sent_on_restart(tmp_path: Path) -> None:
    broker = Broker(tmp_path / "broker")  # not started yet: the broker is unreachable at first
    config = write_config(tmp_path / "c.yaml", broker, "crash-dev")
    data = tmp_path / "data"
    proc = run_publisher(config, data, "--events", "20", "--tag", "k9", "--hold")
    assert read_line(proc, "QUEUED").split() == ["QUEUED", "40"]
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    with Outbox(data / OUTBOX_FILE) as box:
        assert len(box) == 40
    with broker, Collector(broker, ["camapp/crash-dev/events"]) as col:
        proc = run_publisher(config, data)
        out, err = proc.communicate(timeout=60)
        assert "DELIVERED 0" in out, err[-3000:]
        col.wait_for(lambda ms: len({json.loads(m.payload)["message_id"] for m in ms}) == 40)
        got = [json.loads(m.payload) for m in col.messages]
    unique = list({b["message_id"]: (b["id"], b["type"]) for b in got}.values())
    assert unique == [(f"k9-{i}", kind) for i in range(20) for kind in ("new", "end")]


def test_broker_outage_delivers_every_event_exactly_once_in_order(tmp_path: Path) -> None:
    need_mosquitto("a broker restart that keeps the subscriber's session")
    broker = Broker(tmp_path / "broker", persistence=True).start()
    sink = make_sink(broker, tmp_path / "data")
    col = Collector(broker, [sink.topics.events], client_id="outage-watcher", clean_session=False)
    try:
        expected: list[tuple[str, str]] = []

        def emit(first: int, last: int) -> None:
            for i in range(first, last):
                for j, msg in enumerate(lifecycle(f"ev-{i}", t=100.0 + i)):
                    sink.handle(result(100.0 + i + j / 10, [msg]))
                    expected.append((msg.id, msg.type))

        emit(0, 3)
        assert sink.flush(10)
        broker.stop()
        assert wait_until(lambda: not sink.status()["connected"])
        emit(3, 13)
        assert sink.flush(5, delivered=False)
        assert sink.status()["outbox"] == 30  # all waiting while the broker is down
        broker.start()
        assert sink.flush(30), sink.status()
        col.wait_for(lambda ms: len({json.loads(m.payload)["message_id"] for m in ms}) == len(expected), 20)
    finally:
        col.close()
        sink.close()
        broker.stop()
    bodies = [json.loads(m.payload) for m in col.messages]
    first_seen = list({b["message_id"]: (b["id"], b["type"]) for b in bodies}.values())
    assert first_seen == expected


@pytest.mark.parametrize("snapshots", [False, True])
def test_images_leave_only_when_snapshots_are_enabled(tmp_path: Path, broker: Broker, snapshots: bool) -> None:
    skimage_data = pytest.importorskip("skimage.data")
    photo = np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])  # a real 512x512 photo, BGR
    sink = make_sink(broker, tmp_path / "data", snapshots=snapshots, snapshot_max_bytes=20_000)
    with Collector(broker, ["#"]) as col:
        col.wait_for(lambda _: bool(col.on(sink.topics.available)))
        for i, msg in enumerate(lifecycle("ev-img", box=(150.0, 20.0, 400.0, 500.0))):
            sink.handle(result(100.0 + i, [msg], image=photo))
        assert sink.flush(10)
        col.wait_for(lambda _: len(col.on(sink.topics.events)) == 3)
        jpegs = [m for m in col.messages if m.payload.startswith(b"\xff\xd8")]
        if snapshots:
            col.wait_for(lambda ms: len([m for m in ms if m.payload.startswith(b"\xff\xd8")]) == 2)
            jpegs = [m for m in col.messages if m.payload.startswith(b"\xff\xd8")]
            assert {m.topic for m in jpegs} == {sink.topics.thumbnail("person")}
            assert all(len(m.payload) <= 20_000 for m in jpegs)
        else:
            assert jpegs == []
            assert not any("thumbnail" in m.topic for m in col.messages)
        assert max(len(m.payload) for m in col.messages if m.topic != sink.topics.thumbnail("person")) < 4000
    sink.close()


def test_commands_change_the_state_and_bad_ones_are_ignored(tmp_path: Path, broker: Broker,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    control = Controller(ApplianceState())
    state = control.state
    changes: list[BusEvent] = []
    control.bus.subscribe(BusEvent, changes.append)
    p = "camapp/cmd-dev"
    with Collector(broker, [p + "/#"]) as col:
        # A retained command would replay on every reconnect, so the sink must ignore it.
        col.publish(p + "/set/mode", "home", retain=True)
        sink = make_sink(broker, tmp_path / "data", control, device_id="cmd-dev", allowed_commands=list(COMMANDS))
        col.wait_for(lambda _: bool(col.on(sink.topics.available)))
        commands: list[tuple[str, str | bytes]] = [(p + "/set/mode", "banana"), (p + "/set/reboot", "now"),
                                                   (p + "/set/armed", b"\xff"), (p + "/set/armed", "ON")]
        for topic, payload in commands:
            col.publish(topic, payload)
        assert wait_until(lambda: state.mode == "away")
        col.wait_for(lambda _: [m.payload for m in col.on(sink.topics.armed)][-1:] == [b"ON"])
        assert [type(c) for c in changes] == [ModeChanged]  # the bad commands before it changed nothing
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        for reason in ("retained commands are ignored", "banana", "set/reboot is not enabled", "not UTF-8"):
            assert any("ignored command" in w and reason in w for w in warnings), reason
        col.publish(p + "/set/detection", "OFF")
        col.publish(p + "/set/snapshot", "")
        col.wait_for(lambda _: bool(col.on(sink.topics.snapshot)))
        reply = json.loads(col.on(sink.topics.snapshot)[0].payload)
        assert reply["id"] == next(c.snapshot_id for c in changes if isinstance(c, SnapshotRequested))
        assert state.detection_enabled is False
        col.wait_for(lambda _: [m.payload for m in col.on(sink.topics.detection)][-1:] == [b"OFF"])
        control.execute(SetMode("disarmed", source="web"))  # a change from the web UI is published too
        col.wait_for(lambda _: [m.payload for m in col.on(sink.topics.armed)][-1:] == [b"OFF"])
    sink.close()


def test_commands_are_off_by_default(tmp_path: Path, broker: Broker) -> None:
    sink = make_sink(broker, tmp_path / "data")
    state = sink.state
    with Collector(broker, [sink.topics.prefix + "/#"]) as col:
        col.wait_for(lambda _: bool(col.on(sink.topics.available)))
        col.publish(sink.topics.command("armed"), "ON")
        col.publish(sink.topics.command("snapshot"), "")
        sink.handle(result(1.0, lifecycle("ev-c")[:1]))
        assert sink.flush(10)
        col.wait_for(lambda _: bool(col.on(sink.topics.events)))
    assert state.mode == "disarmed" and not col.on(sink.topics.snapshot)
    sink.close()


def test_motion_and_counts_follow_the_frames(tmp_path: Path, broker: Broker) -> None:
    sink = make_sink(broker, tmp_path / "data", motion_off_s=2.0)

    def person(track_id: int, confirmed: bool = True) -> TrackedObject:
        return TrackedObject(track_id, "person", (0, 0, 10, 10), 0.9, 0.0, 0.0, confirmed=confirmed)

    with Collector(broker, [sink.topics.motion, sink.topics.count("person")]) as col:
        col.wait_for(lambda _: bool(col.on(sink.topics.motion)))
        frames = [result(10.0, motion=True, objects=[person(1), person(2, confirmed=False)]),
                  result(10.5, motion=True, objects=[person(1), person(2)]),
                  result(11.0), result(11.9, objects=[person(1)]), result(12.6)]
        for r in frames:
            sink.handle(r)
        motion = [b"ON", b"OFF"]
        counts = [b"1", b"2", b"0", b"1", b"0"]
        col.wait_for(lambda _: [m.payload for m in col.on(sink.topics.motion)][-2:] == motion
                     and [m.payload for m in col.on(sink.topics.count("person"))][-5:] == counts)
    sink.close()


def test_discovery_is_retained_and_republished_when_home_assistant_restarts(tmp_path: Path, broker: Broker,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "INTERVAL_S", 0.5)
    with Collector(broker, ["homeassistant/+/ha-dev/+/config"]) as col:  # before the sink connects: see below
        sink = make_sink(broker, tmp_path / "data", labels=["person", "dog"], device_id="ha-dev",
                         allowed_commands=list(COMMANDS))
        expected = {t for t, _ in discovery_messages(sink.topics, device_id="ha-dev", labels=["person", "dog"],
                                                     model_name="m", sw_version="v", commands=COMMANDS)}
        col.wait_for(lambda ms: {m.topic for m in ms} == expected)
        first = {m.topic: json.loads(m.payload) for m in col.messages if m.payload}
        assert {"homeassistant/switch/ha-dev/armed/config", "homeassistant/button/ha-dev/silence/config",
                "homeassistant/binary_sensor/ha-dev/dog_detected/config"} <= first.keys()
        assert first["homeassistant/switch/ha-dev/armed/config"]["command_topic"] == sink.topics.command("armed")
        before = len(col.messages)
        col.publish("homeassistant/status", "offline")
        col.publish("homeassistant/status", "online")
        col.wait_for(lambda ms: {m.topic for m in ms[before:]} == expected and len(ms) == before + len(expected))
    with Collector(broker, ["homeassistant/+/ha-dev/+/config"]) as late:  # removed entities are not retained
        kept = {t for t, body in discovery_messages(sink.topics, device_id="ha-dev", labels=["person", "dog"],
                                                    model_name="m", sw_version="v", commands=COMMANDS) if body}
        late.wait_for(lambda ms: {m.topic for m in ms} == kept and all(m.retain for m in ms))
    sink.close()


def test_twenty_home_assistant_restarts_make_one_discovery_round(tmp_path: Path, broker: Broker,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discovery, "INTERVAL_S", 2.0)  # 60 s in production; the rule is the same
    motion = "homeassistant/binary_sensor/ha-many/motion/config"
    # Subscribed before the sink connects: a round's removals (empty payloads) are never retained, so a collector
    # that subscribed after the first round would see only its retained part and wait for the whole in vain.
    with Collector(broker, ["homeassistant/+/ha-many/+/config"]) as col:
        sink = make_sink(broker, tmp_path / "data", device_id="ha-many")
        size = len(discovery_messages(sink.topics, device_id="ha-many", labels=["person", "car"], model_name="m",
                                      sw_version="v"))
        # Generous waits: on a loaded CI machine the broker, the sink's worker and this collector share two cores
        # with everything else (a 10 s wait failed there once); what is asserted is how many rounds, not how fast.
        col.wait_for(lambda ms: len(ms) == size, timeout=30)  # the round made on connecting
        for _ in range(20):
            col.publish("homeassistant/status", "online")
        col.wait_for(lambda _: len(col.on(motion)) == 2, timeout=30)  # one more round, once the interval is over
        threading.Event().wait(3 * discovery.INTERVAL_S)
        assert len(col.on(motion)) == 2 and len(col.messages) == 2 * size  # not 20 rounds
    sink.close()


def signed(topic: str, value: str, nonce: str, ts: float | None = None) -> str:
    return signed_payload(KEY, topic, value, int(time.time() if ts is None else ts), nonce)


KEY = "shared key for the tests"


def test_signed_commands_only_when_a_key_is_set(tmp_path: Path, broker: Broker,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="camapp.mqtt")
    control = Controller(ApplianceState())
    state = control.state
    sink = make_sink(broker, tmp_path / "data", control, allowed_commands=["mode", "detection"],
                     command_key=KEY)
    mode = sink.topics.command("mode")
    with Collector(broker, [sink.topics.prefix + "/#"]) as col:
        col.wait_for(lambda _: bool(col.on(sink.topics.available)))
        col.publish(mode, "away")  # unsigned
        col.publish(mode, signed(sink.topics.command("detection"), "away", "nonce-other"))  # for another topic
        col.publish(mode, signed(mode, "away", "nonce-stale", ts=time.time() - 300))  # too old
        col.publish(sink.topics.command("detection"), signed(sink.topics.command("detection"), "OFF", "nonce-d1"))
        assert wait_until(lambda: state.detection_enabled is False)  # in order: everything before was handled
        assert state.mode == "disarmed"
        good = signed(mode, "home", "nonce-good")
        col.publish(mode, good)
        assert wait_until(lambda: state.mode == "home")
        control.execute(SetMode("disarmed", source="web"))
        col.publish(mode, good)  # the attacker replays what they captured
        col.publish(sink.topics.command("detection"), signed(sink.topics.command("detection"), "ON", "nonce-d2"))
        assert wait_until(lambda: state.detection_enabled is True)
        assert state.mode == "disarmed"
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    for reason in ("unsigned", "bad signature", "timestamp is", "replayed"):
        assert reason in warnings, reason
    infos = [r.getMessage() for r in caplog.records if r.levelname == "INFO" and "command set/" in r.getMessage()]
    assert any("set/mode 'home' (signed): done" in m for m in infos), infos
    sink.close()


def test_disabled_command_is_ignored_and_rate_limit_holds(tmp_path: Path, broker: Broker,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    control = Controller(ApplianceState())
    state = control.state
    snaps: list[SnapshotRequested] = []
    control.bus.subscribe(SnapshotRequested, snaps.append)
    sink = make_sink(broker, tmp_path / "data", control, allowed_commands=["snapshot", "detection"],
                     command_rate_per_min=3)
    with Collector(broker, [sink.topics.prefix + "/#"]) as col:
        col.wait_for(lambda _: bool(col.on(sink.topics.available)))
        col.publish(sink.topics.command("armed"), "ON")  # not enabled
        for _ in range(8):
            col.publish(sink.topics.command("snapshot"), "")
        col.publish(sink.topics.command("detection"), "OFF")
        assert wait_until(lambda: state.detection_enabled is False)
        col.wait_for(lambda _: len(col.on(sink.topics.snapshot)) == 3)
    assert state.mode == "disarmed" and len(snaps) == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum("rate limit" in w for w in warnings) == 5 and any("set/armed is not enabled" in w for w in warnings)
    sink.close()


def test_mqtt_payloads_carry_no_secrets(tmp_path: Path) -> None:
    need_mosquitto("password broker")
    stats = PipelineStats()
    stats.set_camera("reconnecting", "cannot open stream rtsp://admin:cam-secret-9@10.0.0.5/s (unreachable)")
    with Broker(tmp_path / "broker", users={"camapp": "s3cret-broker"}) as broker:
        sink = make_sink(broker, tmp_path / "data", stats_interval_s=1, command_key=KEY,
                         allowed_commands=list(COMMANDS))
        sink._stats = stats.as_dict  # what the appliance publishes: pipeline stats with the camera's error
        with Collector(broker, ["#"]) as col:
            sink.handle(result(1.0, lifecycle("ev-s")))
            col.wait_for(lambda _: bool(col.on(sink.topics.stats)) and len(col.on(sink.topics.events)) == 3)
        sink.close()
    text = b" ".join(m.payload for m in col.messages)
    for secret in (b"cam-secret-9", b"s3cret-broker", KEY.encode()):
        assert secret not in text


@pytest.mark.parametrize(("field", "error"), [("ca", "mqtt.tls.ca"), ("cert", "mqtt.tls.cert/key")])
def test_unreadable_tls_files_are_a_config_error_at_construction(tmp_path: Path, field: str, error: str) -> None:
    certs = make_certs(tmp_path / "certs")
    tls = {"ca": str(certs.ca), "cert": str(certs.client_cert), "key": str(certs.client_key)}
    tls[field] = str(tmp_path / "missing.pem")
    cfg = MqttConfig.model_validate({"host": "127.0.0.1", "tls": tls})
    with pytest.raises(ConfigError, match=re.escape(error)):
        MqttSink(cfg, device_id="d", camera_id="c", model_name="m", **controlled(), stats=dict,
                 data_dir=tmp_path / "data", labels=["person"])
    with pytest.raises(ConfigError, match=r"mqtt\.host"):
        MqttSink(MqttConfig(), device_id="d", camera_id="c", model_name="m", **controlled(), stats=dict,
                 data_dir=tmp_path / "data", labels=["person"])


def test_events_handled_before_start_are_kept_for_the_next_start(tmp_path: Path) -> None:
    cfg = MqttConfig.model_validate({"host": "127.0.0.1", "port": 9})
    sink = MqttSink(cfg, device_id="d", camera_id="c", model_name="m", **controlled(), stats=dict,
                    data_dir=tmp_path, labels=["person"])
    for msg in lifecycle("early"):
        sink.handle(result(1.0, [msg]))
    sink.close()
    with Outbox(tmp_path / OUTBOX_FILE) as box:
        assert [json.loads(m.payload)["type"] for m in box.pending()] == ["new", "update", "end"]


def test_alerts_go_through_the_outbox_to_the_alert_topic(tmp_path: Path, broker: Broker) -> None:
    sink = make_sink(broker, tmp_path / "data")
    with Collector(broker, [sink.topics.alert]) as col:
        sink.publish_alert(Alert(rule="night-porch", label="person", score=0.9, mode="away", time=1.0,
                                 event_id="ev-9"))
        # not JSON: logged and dropped
        sink.publish_alert(Alert(rule="bad", label="person", score=float("nan"), mode="away", time=1.0))
        assert sink.flush(10)
        col.wait_for(lambda ms: len(ms) == 1)
    body = json.loads(col.messages[0].payload)
    assert (body["rule"], body["type"], body["event_id"], body["device_id"]) == ("night-porch", "alert", "ev-9",
                                                                                 sink.device_id)
    sink.close()
