"""Every switch has an effect: each boolean and enum the API can set (every config field through PUT /api/config,
and the arm / detection / overlay controls) is flipped here and the behaviour a user would see is observed.

test_every_switch_is_in_the_table walks the config models, so a new boolean or enum fails until it has a row.
A switch that still does nothing is marked xfail(strict=True) with the issue that owns it.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
import threading
import time
import typing
import urllib.request
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from gpiozero import Device
from pydantic import BaseModel, ValidationError
from test_fleet_agent import PUBLIC as FLEET_PUBLIC

from camapp.alarm.factory import build_hardware
from camapp.alarm.inputs import make_input
from camapp.alarm.sink import AlarmSink
from camapp.annotate import Overlay, annotate
from camapp.app import Appliance
from camapp.bus import BusEvent, ModeChanged
from camapp.capture.factory import source_factory
from camapp.commands import Applied
from camapp.config import AppConfig, camera_config, parse_config
from camapp.config.alarm import GpioConfig, InputConfig, RulesConfig
from camapp.config.cameras import CameraOverrides
from camapp.config.mqtt import MqttConfig
from camapp.config.storage import StorageConfig
from camapp.control import Controller
from camapp.detect import Detector
from camapp.detect.factory import build_detector
from camapp.detect.trust import ModelTrust
from camapp.errors import CamappError
from camapp.motion.improved import ImprovedMotionDetector
from camapp.mqtt.commands import CommandHandler
from camapp.mqtt.sink import MqttSink
from camapp.parts import pipeline_factory, pipelines_for
from camapp.sinks import SinkContext, build_sink
from camapp.state import ApplianceState, parse_mode
from camapp.store import EventStore
from camapp.types import CameraName, Detections, EventMessage, Frame, FrameResult, MotionResult, TrackedObject

Observe = Callable[[Any, Path], Hashable]


@dataclass(frozen=True)
class Switch:
    """A setting (dotted config path; list items without index) or API control, values to flip between, and what
    a user observes for each value: every value must look different."""

    path: str
    values: tuple[Any, ...]
    observe: Observe
    owner: str | None = None  # the issue making a switch that still does nothing work


IMAGE = np.full((240, 320, 3), 90, np.uint8)


def frame_result(t: float, events: tuple[EventMessage, ...] = (), tracks: tuple[int, ...] = ()) -> FrameResult:
    objects = tuple(TrackedObject(tid, "person", (100, 60, 160, 220), 0.9, 90.0, t, confirmed=True) for tid in tracks)
    return FrameResult(Frame(IMAGE.copy(), t, int(t * 10)), MotionResult(np.zeros((0, 4), np.int32), 0.0),
                       Detections.empty(), objects, events)


def event(kind: str = "new", t: float = 100.0, start: float = 99.0) -> EventMessage:
    return EventMessage(kind, "ev1", 1, "person", 0.9, 0.9, (100, 60, 160, 220), start,  # type: ignore[arg-type]
                        t if kind == "end" else None)


pytestmark = pytest.mark.usefixtures("factory")  # gpiozero's MockFactory (conftest) for every row


def wired(control: Controller | None = None) -> dict[str, Any]:
    """The state, bus and controller a sink takes, as the wiring passes them."""
    control = control or Controller(ApplianceState())
    return {"state": control.state, "bus": control.bus, "control": control}


# --- rules and GPIO: real AlarmSink on gpiozero's MockFactory ---------------------------------------------------

RULE = {"name": "r", "labels": ["person"], "actions": {"mqtt_alert": True}}
OUTPUT = {"name": "buzzer", "kind": "buzzer", "pin": 17, "pattern": {"duration_s": 0.25}}


def fired(rule: dict[str, Any], *, mode: str = "away", outputs: tuple[dict[str, Any], ...] = (),
          now: datetime = datetime(2024, 1, 1, 12, 0)) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """What one `new` event makes the alarm do: the bus kinds announced and pin 17's levels over 0.4 s."""
    control = Controller(ApplianceState(mode=parse_mode(mode)))
    kinds: list[str] = []
    control.bus.subscribe(BusEvent, lambda e: kinds.append(type(e).__name__))
    gpio = GpioConfig.model_validate({"enabled": True, "pin_factory": "mock", "outputs": list(outputs)})
    with AlarmSink(RulesConfig.model_validate({"rules": [rule]}), gpio, **wired(control),
                   pin_factory=Device.pin_factory, now=lambda: now) as sink:
        sink.handle(frame_result(100.0, (event(),), (1,)))
        time.sleep(0.4)
        levels = tuple(round(float(s.state), 1) for s in Device.pin_factory.pin(17).states) if outputs else ()
    return tuple(kinds), levels


def rule_field(make: Callable[[Any], dict[str, Any]], **kw: Any) -> Observe:
    return lambda v, _: fired({**RULE, **make(v)}, **kw)


def output_field(make: Callable[[Any], dict[str, Any]]) -> Observe:
    rule = {**RULE, "actions": {"outputs": ["buzzer"]}}
    return lambda v, _: fired(rule, outputs=({**OUTPUT, **make(v)},))[1]


@contextlib.contextmanager
def logged(logger: str, level: int = logging.WARNING) -> Iterator[list[logging.LogRecord]]:
    """The records `logger` emits at `level` or above while the block runs."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(level)
    handler.emit = records.append  # type: ignore[method-assign]
    target = logging.getLogger(logger)
    old = target.level
    target.addHandler(handler)
    target.setLevel(level)
    try:
        yield records
    finally:
        target.removeHandler(handler)
        target.setLevel(old)


def hardware(gpio: dict[str, Any]) -> str:
    """The GPIO backend built, or why none could be (the warning names the library it tried)."""
    state = ApplianceState()
    with logged("camapp.alarm") as records:
        hw = build_hardware(GpioConfig.model_validate(gpio), control=Controller(state), on_trigger=lambda *a: None)
    warnings = [r.getMessage() for r in records]
    try:
        return f"{hw.available}:{hw.backend}:{[type(o).__name__ for o in hw.outputs.values()]}:{warnings}"
    finally:
        hw.close()


def output_device(kind: str, _: Path) -> str:
    gpio = {"enabled": True, "pin_factory": "mock",
            "outputs": [{**OUTPUT, "kind": kind, **({"pattern": {"style": "steady"}})}]}
    state = ApplianceState()
    hw = build_hardware(GpioConfig.model_validate(gpio), control=Controller(state), on_trigger=lambda *a: None,
                        pin_factory=Device.pin_factory)
    try:
        return type(hw.outputs["buzzer"].device).__name__  # type: ignore[attr-defined]
    finally:
        hw.close()


def gpio_input(fields: dict[str, Any], act: Callable[[Any], None]) -> tuple[str, ...]:
    """Build one input on pin 23, act on its pin, and return what happened: mode changes and triggers."""
    control = Controller(ApplianceState())
    seen: list[str] = []
    control.bus.subscribe(ModeChanged, lambda e: seen.append(f"mode:{e.mode}"))
    cfg = InputConfig.model_validate({"name": "in", "pin": 23, "bounce_s": 0, **fields})
    device = make_input(cfg, control, lambda label, name: seen.append(f"trigger:{label}"),
                        Device.pin_factory)
    try:
        act(Device.pin_factory.pin(23))
        time.sleep(0.1)
        return tuple(seen)
    finally:
        device.close()


def press(pin: Any) -> None:
    pin.drive_low()
    time.sleep(0.05)
    pin.drive_high()


def toggle(pin: Any) -> None:
    pin.drive_high()
    time.sleep(0.05)
    pin.drive_low()
    time.sleep(0.05)
    pin.drive_high()


# --- pipeline, camera, detector -------------------------------------------------------------------------------


def clip(tmp: Path, frames: int = 6) -> Path:
    path = tmp / "clip.avi"
    if not path.exists():
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (96, 64))
        for i in range(frames):
            writer.write(np.full((64, 96, 3), 40 * i, np.uint8))
        writer.release()
    return path


def camera_reads(field: str) -> Observe:
    """Reading a 6-frame, 10 fps clip: how many frames come before it ends (loop: it does not, 20 are read) and
    whether they come at the clip's pace (realtime) or as fast as possible."""

    def observe(value: Any, tmp: Path) -> tuple[int, bool]:
        fields = {"loop": False, "realtime": False, field: value}
        make = source_factory(camera_config(source="file", path=clip(tmp), **fields), threading.Event())
        n, t0 = 0, time.monotonic()
        with make() as source:
            try:
                while n < 20:
                    source.read()
                    n += 1
            except CamappError:
                pass
        return n, time.monotonic() - t0 > 0.4

    return observe


class _Pipelines:
    """Stands in for cv2.VideoCapture on a machine without GStreamer: records the pipeline it is asked to open."""

    opened: list[str] = []

    def __init__(self, pipeline: str, api: int = 0) -> None:
        self.opened.append(pipeline)

    def isOpened(self) -> bool:
        return False

    def release(self) -> None:
        pass


# What each source reaches for, in what it does or in the error naming what it tried (no camera here).
SOURCE_EVIDENCE = {"v4l2": "/dev/video-none", "rtsp": "rtsp://127.0.0.1:9/none: [Errno 111] Connection refused",
                   "picamera2": "picamera2 is not installed"}


def camera_source(source: str, tmp: Path) -> tuple[str, str]:
    """What the configured source actually reads from: the file's frames, the device node, the RTSP server it
    connects to, the GStreamer pipeline it hands to OpenCV (recorded at cv2.VideoCapture), the library it needs."""
    from camapp.capture import gstreamer

    fields = {"file": {"path": clip(tmp)}, "rtsp": {"url": "rtsp://127.0.0.1:9/none"},
              "gstreamer": {"pipeline": "videotestsrc ! appsink"}, "v4l2": {"device": "/dev/video-none"}}
    _Pipelines.opened = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gstreamer, "has_gstreamer", lambda: True)
        mp.setattr(gstreamer.cv2, "VideoCapture", _Pipelines)
        try:
            make = source_factory(camera_config(source=source, **fields.get(source, {})), threading.Event())
            with make() as opened:
                return "frames", str(opened.read().image.shape)
        except CamappError as err:
            if _Pipelines.opened:
                return "gstreamer pipeline", _Pipelines.opened[0].split("!")[0].split()[0]
            assert SOURCE_EVIDENCE[source] in str(err), err
            return "tried", SOURCE_EVIDENCE[source]


def detector_calls(motion_enabled: bool, tmp: Path) -> int:
    """Detector calls on ten still frames: the motion gate keeps it idle; without the gate it runs every frame."""
    cfg = parse_config({"motion": {"enabled": motion_enabled}})
    calls = []
    with build_detector(cfg.model) as detector:
        pipeline = pipeline_factory(cfg, detector)(320, 240)
        for i in range(10):
            calls.append(pipeline.process(Frame(IMAGE.copy(), float(i) / 10, i)).detector_ran)
    return sum(calls)


def detection_rate(fps: float, _: Path) -> int:
    """Detector calls over 3 s of frames at 10 fps with motion gating off: detect.fps paces the detector."""
    cfg = parse_config({"motion": {"enabled": False}, "detect": {"fps": fps}})
    with build_detector(cfg.model) as detector:
        pipeline = pipeline_factory(cfg, detector)(320, 240)
        return sum(pipeline.process(Frame(IMAGE.copy(), i / 10, i)).detector_ran for i in range(30))


def min_score(score: float, _: Path) -> int:
    """How many objects the model reports in a photo of a person holding things: fewer at a higher bar."""
    from skimage.data import astronaut

    with build_detector(parse_config({"model": {"min_score": score}}).model) as detector:
        return len(detector.detect(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)).labels)


def stream_jpeg(field: str) -> Observe:
    """The live view's JPEG for one frame (FrameHub, built from web.*): its width and its size in kB."""

    def observe(value: Any, _: Path) -> tuple[int, int]:
        from skimage.data import astronaut

        from camapp.stream import FrameHub

        web = parse_config({"web": {field: value}}).web
        hub = FrameHub(web.stream_width, web.jpeg_quality, web.stream_fps)
        image = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
        hub.publish(replace(frame_result(1.0), frame=Frame(image, 1.0, 1)))
        got = hub.jpeg(Overlay(boxes=False, motion=False, zones=False))
        hub.close()
        assert got is not None
        jpeg = got[1]
        return int(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape[1]), len(jpeg) // 1000

    return observe


class PlanRecorder(Detector):
    """Records what the pipeline asks the detector to look at (regions or mosaics), finds nothing."""

    def __init__(self) -> None:
        self.plans: list[str] = []

    def detect(self, image: Any, regions: Any = None) -> Detections:
        self.plans += ["whole" if regions is None else type(r).__name__ for r in (regions or [None])]
        return Detections.empty()

    labels = property(lambda self: ["person"])  # type: ignore[assignment]
    name = property(lambda self: "plans")  # type: ignore[assignment]
    input_size = property(lambda self: (300, 300))  # type: ignore[assignment]
    last_timings_ms = property(lambda self: {"total": 0.0})  # type: ignore[assignment]

    def close(self) -> None:
        pass


def mosaic(enabled: bool, _: Path) -> tuple[str, ...]:
    """Four small blobs far apart in a 1080p frame (too small for one whole-frame look): one mosaic invoke, or
    single crops."""
    cfg = parse_config({"detect": {"mosaic": enabled, "fps": 0, "max_invokes": 4}})
    detector = PlanRecorder()
    pipeline = pipeline_factory(cfg, detector)(1920, 1080)
    for i in range(30):
        img = np.full((1080, 1920, 3), 100, np.uint8)
        if i >= 10 and i % 2:  # blinking, so each whole blob is motion
            for x0, y0 in ((100, 100), (1500, 100), (100, 800), (1500, 800)):
                img[y0:y0 + 70, x0:x0 + 30] = 200
        pipeline.process(Frame(img, i / 10, i))
    return tuple(sorted(set(detector.plans)))


class WeakPerson(PlanRecorder):
    """Finds one person, always in the same place and always doubtful (score 0.5, below the 0.65 threshold)."""

    def detect(self, image: Any, regions: Any = None) -> Detections:
        super().detect(image, regions)
        return Detections([(140.0, 60.0, 180.0, 160.0)], [0.5], [0], ["person"])


def verification_looks(verify: bool, _: Path) -> tuple[int, int]:
    """A person walks in, doubtful on every look, at 10 fps with detect.fps 5: (slot looks, looks between slots)."""
    cfg = parse_config({"detect": {"verify": verify, "fps": 5}})
    pipeline = pipeline_factory(cfg, WeakPerson())(320, 240)
    results = []
    for i in range(10):
        img = IMAGE.copy()
        img[60:160, 140 + 2 * (i % 2):180] = 200  # it sways: motion every frame
        results.append(pipeline.process(Frame(img, i / 10, i)))
    return sum(r.detector_ran and not r.verification for r in results), sum(r.verification for r in results)


def dim_motion(improve: bool, _: Path) -> bool:
    """A dim scene (grey 8 to 14) where a faint shape moves: contrast normalisation makes it visible."""
    cfg = parse_config({"motion": {"improve_contrast": improve, "threshold": 20}}).motion
    motion = ImprovedMotionDetector(cfg, 320, 240)
    seen = False
    for i in range(40):
        img = np.full((240, 320, 3), 8, np.uint8)
        x = 40 + 5 * i
        img[80:160, x:x + 40] = 14
        seen = motion.detect(Frame(img, i / 10, i)).has_motion or seen
    return seen


def edgetpu(mode: str, _: Path) -> str:
    try:
        with build_detector(parse_config({"model": {"edgetpu": mode}}).model) as detector:
            return f"loaded {detector.name}"
    except CamappError as err:
        return type(err).__name__


def model_type(value: str, _: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """What the configured backend finds in a photo of a person: its labels and where its first box is. `centre`
    is the test backend of tests/fake_parts.py (registered for this row only)."""
    import importlib
    import sys

    from skimage.data import astronaut

    fakes = importlib.import_module("fake_parts") if value == "centre" else None
    try:
        with build_detector(parse_config({"model": {"type": value}}).model) as detector:
            found = detector.detect(cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR))
        return tuple(found.labels), tuple(int(v) // 20 for v in found.boxes[0])
    finally:
        if fakes is not None:
            fakes.unregister()
            sys.modules.pop("fake_parts", None)


def signed_policy(required: bool, tmp: Path) -> str:
    """A local (not bundled) copy of the default model, unsigned: refused only while signatures are required."""
    from camapp.assets import MODELS_DIR
    from camapp.detect.manifest import load_manifest

    folder = tmp / "unsigned"
    if not folder.exists():
        folder.mkdir()
        manifest = load_manifest(MODELS_DIR / "ssd_mobilenet_v2_coco_quant.yaml")
        for name in (manifest.file, manifest.labels):
            (folder / name).write_bytes((MODELS_DIR / name).read_bytes())
        (folder / "m.yaml").write_text((MODELS_DIR / "ssd_mobilenet_v2_coco_quant.yaml").read_text())
    from test_detect_trust import PUBLIC

    cfg = parse_config({"model": {"manifest": str(folder / "m.yaml")},
                        "web": {"require_signed_models": required, "model_public_key": PUBLIC}})
    try:
        with build_detector(cfg.model, ModelTrust.from_config(cfg.web)):
            return "loaded"
    except CamappError as err:
        return type(err).__name__
    finally:
        from camapp.detect import trust

        trust.install(ModelTrust())


def arming(mode: str, _: Path) -> tuple[str, tuple[str, ...]]:
    """The mode the appliance starts in, and whether an away-only rule fires then."""
    cfg = parse_config({"rules": {"arming": mode}})
    with Appliance(cfg) as app:
        started = app.state.mode
    rule = {**RULE, "modes": ["away"]}
    return started, fired(rule, mode=started)[0]


# --- store and recording --------------------------------------------------------------------------------------


class Packets:
    """A camera's own H.264 stream (as RTSP or picamera2 deliver it), made here with the real encoder."""

    def __init__(self) -> None:
        from camapp.record.codec import H264Encoder

        self.encoder, self.ready = H264Encoder("libx264", 320, 240, fps=10.0), []

    def add(self, image: np.ndarray, t: float) -> Packets:
        self.ready += self.encoder.encode(image, t)
        return self

    def take(self) -> list[Any]:
        out, self.ready = self.ready, []
        return out


def stored(storage: dict[str, Any], tmp: Path) -> tuple[Any, ...]:
    """Replay a short event through the real EventStore: snapshot?, clip?, recording (mode, encoder), bytes of
    video written, and warnings about the encoder."""
    path = tmp / f"store-{abs(hash(str(storage)))}"
    cfg = StorageConfig.model_validate({"path": str(path), "pre_roll_s": 0.2, "post_roll_s": 0.2, "min_free_mb": 0,
                                        **storage})
    rng = np.random.default_rng(0)
    base = time.time() - 10  # recent: retention keeps it
    camera = Packets()
    with logged("camapp") as records, EventStore(cfg, camera_id="cam", fps=10.0, lossless=True) as store:
        for i in range(30):
            img = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
            t = base + i / 10
            kind = "new" if i == 5 else "end" if i == 20 else None
            events = (event(kind, t, start=base + 0.5),) if kind else ()
            result = replace(frame_result(t, events, (1,) if 5 <= i < 20 else ()),
                             frame=Frame(img, t, i, packets=camera.add(img, t)))
            store.handle(result)
        status = store.recording_status()
    from camapp.store import StoreReader

    [row] = StoreReader(path).list_events()
    video = sum(f.stat().st_size for f in path.rglob("*.mp4"))
    return (row["has_snapshot"], row["has_clip"], None if status is None else (status["mode"], status["encoder"]),
            video // 1000, tuple(r.getMessage() for r in records if "encoder" in r.getMessage()))


# --- MQTT -----------------------------------------------------------------------------------------------------


def mqtt_sink(tmp: Path, **fields: Any) -> MqttSink:
    cfg = MqttConfig.model_validate({"host": "127.0.0.1", "port": 9, **fields})
    return MqttSink(cfg, device_id="dev", camera_id="cam", model_name="m", **wired(), stats=dict,
                    data_dir=tmp / f"mqtt-{abs(hash(str(fields)))}", labels=["person"])


def thumbnails(enabled: bool, tmp: Path) -> int:
    """JPEG thumbnails a subscriber on the broker receives for one `new` event."""
    from mqtt_broker import Broker, Collector

    with Broker(tmp / f"broker-thumbs-{enabled}") as broker:
        cfg = MqttConfig.model_validate(broker.mqtt_config(snapshots=enabled, discovery=False))
        sink = MqttSink(cfg, device_id="dev", camera_id=CameraName("cam"), model_name="m", **wired(), stats=dict,
                        data_dir=tmp / f"thumbs-{enabled}", labels=["person"])
        with Collector(broker, [sink.topics.thumbnail("person")]) as col:
            sink.start()
            assert connected(sink, 10)  # thumbnails are live pictures: not kept for a broker that is not there
            sink.handle(frame_result(100.0, (event(),), (1,)))
            sink.flush(10)
            time.sleep(0.3)
            sink.close()
            return sum(m.payload[:2] == b"\xff\xd8" for m in col.messages)


def connected(sink: MqttSink, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if sink.status()["connected"]:
            return True
        time.sleep(0.05)
    return False


def clean_session(clean: bool, tmp: Path) -> str:
    """A command sent while the appliance is offline: a persistent session (clean_session false) has the broker
    keep it and deliver it on reconnect; a clean one loses it. Returns the mode after the reconnect."""
    from mqtt_broker import Broker, Collector
    from test_mqtt_sink import need_mosquitto

    need_mosquitto("clean_session switch")
    with Broker(tmp / f"broker-session-{clean}") as broker:
        cfg = MqttConfig.model_validate(broker.mqtt_config(clean_session=clean, client_id="camapp-session",
                                                           allowed_commands=["mode"], discovery=False))
        first = MqttSink(cfg, device_id="dev", camera_id=CameraName("cam"), model_name="m", **wired(), stats=dict,
                         data_dir=tmp / f"session-{clean}", labels=["person"])
        first.start()
        assert connected(first, 10) and first.flush(5)
        time.sleep(0.3)  # the SUBSCRIBE is acknowledged
        first.close()
        with Collector(broker, ["camapp/dev/#"]) as col:
            col.publish(first.topics.command("mode"), "home")
        control = Controller(ApplianceState())
        second = MqttSink(cfg, device_id="dev", camera_id=CameraName("cam"), model_name="m", **wired(control),
                          stats=dict, data_dir=tmp / f"session-{clean}", labels=["person"])
        second.start()
        assert connected(second, 10)
        time.sleep(1.0)
        second.close()
        return control.state.mode


def tls_insecure(insecure: bool, tmp: Path) -> bool:
    """A broker whose certificate names another host: refused unless tls.insecure skips the hostname check."""
    from mqtt_broker import Broker, make_certs
    from test_mqtt_sink import need_mosquitto

    need_mosquitto("tls.insecure switch")
    certs = make_certs(tmp / f"certs-{insecure}", server_names=("elsewhere.invalid",))
    with Broker(tmp / f"broker-tls-{insecure}", certs=certs) as broker:
        cfg = broker.mqtt_config(discovery=False)
        cfg["tls"]["insecure"] = insecure
        sink = MqttSink(MqttConfig.model_validate(cfg), device_id="dev", camera_id=CameraName("cam"), model_name="m",
                        **wired(), stats=dict, data_dir=tmp / f"tls-{insecure}", labels=["person"])
        sink.start()
        try:
            return connected(sink, 3)
        finally:
            sink.close()


def mqtt_preset(preset: str, _: Path) -> bool:
    """AWS IoT Core refuses a 10 s keep-alive; a plain broker takes it."""
    try:
        MqttConfig.model_validate({"host": "h", "preset": preset, "keepalive_s": 10})
    except ValidationError:
        return False
    return True


def command(field: str) -> Observe:
    def observe(value: Any, _: Path) -> str:
        state = ApplianceState()
        cfg = MqttConfig.model_validate({"host": "h", "allowed_commands": ["armed"], field: value})
        handler = CommandHandler(Controller(state), cfg.allowed_commands, cfg.arm_mode)
        try:
            handler.apply("armed", b"ON")
        except CamappError as err:
            return type(err).__name__
        return state.mode

    return observe


def allowed(name: str, _: Path) -> tuple[str, ...]:
    """Which of the five commands a config allowing only `name` accepts."""
    state = ApplianceState()
    handler = CommandHandler(Controller(state), [name], "away")
    ok = []
    for cmd, payload in (("mode", b"home"), ("armed", b"ON"), ("detection", b"OFF"), ("silence", b""),
                         ("snapshot", b"")):
        try:
            handler.apply(cmd, payload)
            ok.append(cmd)
        except CamappError:
            pass
    return tuple(ok)


def discovery(enabled: bool, tmp: Path) -> int:
    from mqtt_broker import Broker, Collector
    from test_mqtt_sink import need_mosquitto

    need_mosquitto("discovery switch")
    with Broker(tmp / f"broker-{enabled}") as broker, Collector(broker, ["homeassistant/#"]) as col:
        cfg = MqttConfig.model_validate(broker.mqtt_config(discovery=enabled))
        sink = MqttSink(cfg, device_id="dev", camera_id="cam", model_name="m", **wired(), stats=dict,
                        data_dir=tmp / f"d-{enabled}", labels=["person"])
        sink.start()
        sink.flush(5)
        time.sleep(0.5)
        sink.close()
        return len(col.messages)


def fleet_key(key: str | None, tmp: Path) -> float:
    """A signed desired config (detect.fps 2) reaches a device only when it holds the fleet's public key."""
    from types import SimpleNamespace

    from mqtt_broker import Broker, Collector
    from test_fleet_agent import KEY  # the private half of FLEET_PUBLIC

    from camapp.brokerparts import fleet_agent
    from camapp.fleet.publisher import Publisher, Versions

    with Broker(tmp / f"broker-{key is not None}") as broker, Collector(broker, ["camapp/+/fleet/reported"]) as col:
        Publisher(KEY, lambda t, p, r: col.publish(t, p, retain=r), Versions()).desired(
            "dev", "camapp/dev", "detect:\n  fps: 2\n")
        cfg = AppConfig.model_validate({"device_id": "dev", "storage": {"path": str(tmp / f"s-{key is not None}")},
                                        "mqtt": broker.mqtt_config(fleet_public_key=key, discovery=False)})
        live = SimpleNamespace(cfg=cfg, detector=SimpleNamespace(name="m"))

        def apply(new: AppConfig) -> Applied:
            live.cfg = new
            return Applied([])

        control = Controller(ApplianceState(), apply_config=apply)
        sink = MqttSink(cfg.mqtt, device_id="dev", camera_id="cam", model_name="m", **wired(control),
                        stats=dict, data_dir=tmp / f"d-{key is not None}", labels=["person"],
                        fleet=fleet_agent(cfg, control, live))  # type: ignore[arg-type]
        sink.start()
        with contextlib.suppress(AssertionError):
            col.wait_for(lambda ms: any(b'"version":0' not in m.payload for m in ms), timeout=3)
        sink.close()
        return float(live.cfg.detect.fps)


# --- web and API ----------------------------------------------------------------------------------------------


def served(setting: str) -> Observe:
    """A real appliance running with the web UI: which scheme /healthz and /login answer on."""

    def observe(value: Any, tmp: Path) -> tuple[str, str]:
        cfg = parse_config({"camera": {"source": "file", "path": str(clip(tmp)), "realtime": True},
                            "storage": {"path": str(tmp / f"web-{setting}-{value}")},
                            "web": {"host": "127.0.0.1", "port": 1, setting: value}})
        cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"port": 0})})
        with Appliance(cfg) as app:
            thread = threading.Thread(target=app.run_forever)
            thread.start()
            try:
                deadline = time.monotonic() + 20
                while app.web_port == 0 and time.monotonic() < deadline:
                    time.sleep(0.1)
                return fetch(app.web_port, "/healthz"), fetch(app.web_port, "/login")
            finally:
                app.stop_event.set()
                thread.join(30)

    return observe


def metrics(enabled: bool, tmp: Path) -> int:
    """GET /metrics as a logged-in admin of a real appliance's web app."""
    from test_web_support import ADMIN, ADMIN_PW, login

    from camapp.web import close_app, create_app
    from camapp.web.auth import UserStore

    cfg = parse_config({"camera": {"source": "file", "path": str(clip(tmp))},
                        "storage": {"path": str(tmp / f"metrics-{enabled}")}, "web": {"metrics": enabled}})
    with Appliance(cfg) as app:
        web = create_app(app.web_context())
        try:
            UserStore(app.web_context().data_dir).set_password(ADMIN, ADMIN_PW, role="admin")
            client = web.test_client()
            login(client)
            return int(client.get("/metrics").status_code)
        finally:
            close_app(web)


def login_limits(web: Callable[[Any], dict[str, Any]], tries: int) -> Observe:
    """What the login form answers after `tries` wrong passwords, each for another user from another /24, then
    once more, on a real appliance's web app with web settings `web(value)`."""
    def observe(value: Any, tmp: Path) -> str:
        from test_web_support import ADMIN, ADMIN_PW, csrf_of

        from camapp.web import close_app, create_app
        from camapp.web.auth import UserStore

        cfg = parse_config({"camera": {"source": "file", "path": str(clip(tmp))},
                            "storage": {"path": str(tmp / f"logins-{value}")}, "web": web(value)})
        with Appliance(cfg) as app:
            site = create_app(app.web_context())
            try:
                UserStore(app.web_context().data_dir).set_password(ADMIN, ADMIN_PW, role="admin")
                answers = []
                for n in range(tries + 1):
                    client = site.test_client()
                    form = {"username": f"user{n}" if tries > 5 else ADMIN, "password": "wrong",
                            "csrf_token": csrf_of(client)}
                    resp = client.post("/login", data=form, environ_base={"REMOTE_ADDR": f"10.{n}.0.1"})
                    page = resp.get_data(as_text=True)
                    answers.append(f"{resp.status_code} {page.split('Try again in ', 1)[-1][:4]}"
                                   if resp.status_code == 429 else str(resp.status_code))
                return answers[-1]
            finally:
                close_app(site)

    return observe


def fetch(port: int, path: str) -> str:
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    for scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(f"{scheme}://127.0.0.1:{port}{path}", timeout=5, context=insecure
                                        if scheme == "https" else None) as resp:
                return f"{scheme}:{resp.status}"
        except urllib.error.HTTPError as err:
            return f"{scheme}:{err.code}"
        except (urllib.error.URLError, ConnectionError, ssl.SSLError):
            continue
    return "none"


def mode_api(mode: str, _: Path) -> tuple[str, tuple[str, ...]]:
    state = ApplianceState()
    from camapp.commands import SetMode

    Controller(state).execute(SetMode(parse_mode(mode), source="web"))
    return state.mode, fired({**RULE, "modes": ["home", "away"]}, mode=state.mode)[0]


def detection_api(enabled: bool, tmp: Path) -> int:
    """Detector calls on frames with motion while POST /api/detection set this (the pipeline reads the state)."""
    from camapp.commands import SetDetection

    state = ApplianceState()
    Controller(state).execute(SetDetection(enabled, source="web"))
    cfg = parse_config({"motion": {"enabled": False}})
    with build_detector(cfg.model) as detector:
        pipeline = pipeline_factory(cfg, detector, lambda: state.detection_enabled)(320, 240)
        return sum(pipeline.process(Frame(IMAGE.copy(), i / 10, i)).detector_ran for i in range(5))


def camera_detection_command(value: str, tmp: Path) -> tuple[bytes, bytes, int, int]:
    """What `<prefix>/garden/set/detection <value>` (several cameras) does: the garden's and the front's retained
    switch on the broker, then detector calls on five frames of the garden's and the front's pipelines."""
    from mqtt_broker import Broker, Collector

    names = (CameraName("front"), CameraName("garden"))
    control = Controller(ApplianceState(cameras=names))
    p = f"camapp/dev-{value}"
    with Broker(tmp / f"broker-{value}") as broker, Collector(broker, [p + "/#"]) as col:
        cfg = MqttConfig.model_validate(broker.mqtt_config(allowed_commands=["detection"]))
        sink = MqttSink(cfg, device_id=f"dev-{value}", camera_id=names[0], model_name="m", **wired(control),
                        stats=dict, data_dir=tmp / f"d-{value}", labels=[], several=True)
        for name in names:
            sink.feed(name, ["person"], dict)
        sink.start()
        col.wait_for(lambda _: bool(col.on(p + "/available")))
        for payload in ("OFF", value) if value == "ON" else (value,):  # ON is the default: switch it off first
            col.publish(p + "/garden/set/detection", payload)
            col.wait_for(lambda _, v=payload: [m.payload for m in col.on(p + "/garden/detection")][-1:]  # type: ignore[misc]
                         == [v.encode()])
        seen = (col.on(p + "/garden/detection")[-1].payload, col.on(p + "/front/detection")[-1].payload)
        sink.close()
    views = parse_config({"motion": {"enabled": False}, "cameras": {
        n: {"source": "file", "path": "a.avi"} for n in names}}).camera_configs()
    with build_detector(views["front"].model) as detector:
        calls = []
        for name in ("garden", "front"):
            pipeline = pipelines_for(control.state.detecting)(views[name], detector)(320, 240)
            calls.append(sum(pipeline.process(Frame(IMAGE.copy(), i / 10, i)).detector_ran for i in range(5)))
    return (*seen, *calls)


@contextlib.contextmanager
def two_camera_web(tmp: Path) -> Iterator[tuple[Any, str, Controller]]:
    """The web app over two cameras (front: a grey picture, garden: a white one, each on its own FrameHub), logged
    in as an admin: (client, CSRF token, controller)."""
    from test_web_support import ADMIN, ADMIN_PW, login

    from camapp.health import PipelineStats
    from camapp.stream import FrameHub
    from camapp.web import CameraFeed, WebContext, close_app, create_app
    from camapp.web.auth import UserStore

    cfg = parse_config({"cameras": {n: {"source": "file", "path": f"{n}.avi"} for n in ("front", "garden")}})
    control = Controller(ApplianceState(cameras=cfg.cameras))
    feeds = {}
    for name, grey in (("front", 90), ("garden", 250)):
        hub = FrameHub(width=320)
        hub.publish(replace(frame_result(1.0), frame=Frame(np.full((240, 320, 3), grey, np.uint8), 1.0, 1)))
        feeds[name] = CameraFeed(hub, PipelineStats())
    ctx = WebContext(get_config=lambda: cfg, control=control, state=control.state, hub=feeds["front"].hub,
                     stats=feeds["front"].stats, data_dir=tmp / "web", cameras=feeds)
    app = create_app(ctx)
    UserStore(tmp / "web").set_password(ADMIN, ADMIN_PW, role="admin")
    try:
        client = app.test_client()
        yield client, login(client), control
    finally:
        close_app(app)


def camera_query(camera: str, tmp: Path) -> int:
    """?camera= on /api/snapshot.jpg (and every per-camera route): the picture of the camera named."""
    with two_camera_web(tmp / camera) as (client, _, _):
        resp = client.get(f"/api/snapshot.jpg?camera={camera}&boxes=0&zones=0")
        image = cv2.imdecode(np.frombuffer(resp.data, np.uint8), cv2.IMREAD_COLOR)
        return round(float(image.mean()))


def camera_detection_api(enabled: bool, tmp: Path) -> tuple[int, int]:
    """POST /api/cameras/garden/detection: detector calls on five frames of the garden's and the front's
    pipelines (the front keeps detecting)."""
    with two_camera_web(tmp / str(enabled)) as (client, token, control):
        for value in (not enabled, enabled):  # from the other value, so the request is what sets it
            resp = client.post("/api/cameras/garden/detection", json={"enabled": value},
                               headers={"X-CSRF-Token": token})
            assert resp.status_code == 200, resp.json
    views = parse_config({"motion": {"enabled": False}, "cameras": {
        n: {"source": "file", "path": "a.avi"} for n in ("front", "garden")}}).camera_configs()
    with build_detector(views["front"].model) as detector:
        calls = []
        for name in ("garden", "front"):
            pipeline = pipelines_for(control.state.detecting)(views[name], detector)(320, 240)
            calls.append(sum(pipeline.process(Frame(IMAGE.copy(), i / 10, i)).detector_ran for i in range(5)))
    return calls[0], calls[1]


def overlay(flag: str) -> Observe:
    """The snapshot/stream overlay flags (?boxes=, ?motion=, ?zones=): the drawn picture changes."""

    def observe(value: bool, _: Path) -> int:
        from camapp.types import ZoneState

        result = replace(frame_result(1.0, (), (1,)), motion=MotionResult(np.array([[10, 10, 60, 60]]), 0.1),
                         zones=ZoneState(polygons=(("yard", ((0.0, 150.0), (320.0, 150.0), (320.0, 240.0))),)))
        flags = {"boxes": True, "motion": True, "zones": True, flag: value}
        return hash(annotate(result, Overlay(**flags), result.zones.polygons).tobytes())

    return observe


def log_sink(level: str, tmp: Path) -> tuple[int, ...]:
    """The level the console event log writes an event line at."""
    control = Controller(ApplianceState())
    context = SinkContext("dev", CameraName("cam"), control.state, control.bus, control, tmp)
    cfg = parse_config({"sinks": [{"type": "log", "level": level}]}).sinks[0]
    with logged("camapp.sinks", logging.DEBUG) as records, build_sink(cfg, context) as sink:
        sink.handle(frame_result(1.0, (event(),), (1,)))
    return tuple(r.levelno for r in records)


def sink_list(kind: str, tmp: Path) -> int:
    """`sinks: [{type: log}]` logs each event line; an empty list logs none."""
    return len(log_sink("INFO", tmp)) if kind == "log" else 0


SWITCHES = [
    Switch("camera.source", ("file", "v4l2", "rtsp", "gstreamer", "jetson_csi", "picamera2"), camera_source),
    Switch("camera.loop", (False, True), camera_reads("loop")),
    Switch("camera.realtime", (False, True), camera_reads("realtime")),
    Switch("motion.enabled", (False, True), detector_calls),
    Switch("motion.improve_contrast", (False, True), dim_motion),
    Switch("detect.mosaic", (False, True), mosaic),
    Switch("detect.verify", (False, True), verification_looks),
    Switch("model.type", ("tflite", "centre"), model_type),
    Switch("model.edgetpu", ("on", "off"), edgetpu),
    Switch("model.min_score", (0.2, 0.9), min_score),
    Switch("detect.fps", (0, 2), detection_rate),
    Switch("web.stream_width", (320, 960), stream_jpeg("stream_width")),
    Switch("web.jpeg_quality", (30, 95), stream_jpeg("jpeg_quality")),
    Switch("rules.arming", ("disarmed", "home", "away"), arming),
    Switch("rules.rules.enabled", (False, True), rule_field(lambda v: {"enabled": v})),
    Switch("rules.rules.modes", ("home", "away"), rule_field(lambda v: {"modes": [v]})),
    Switch("rules.rules.schedule.days", ("mon", "tue"),
           rule_field(lambda v: {"schedule": [{"days": [v], "start": "00:00", "end": "00:00"}]})),
    Switch("rules.rules.actions.outputs.pattern.style", ("steady", "blink"), lambda v, _: fired(
        {**RULE, "actions": {"outputs": [{"output": "buzzer", "pattern": {"style": v, "on_s": 0.05, "off_s": 0.05,
                                                                          "duration_s": 0.25}}]}},
        outputs=(OUTPUT,))[1]),
    Switch("rules.rules.actions.mqtt_alert", (False, True), rule_field(lambda v: {"actions": {"mqtt_alert": v}})),
    Switch("rules.rules.actions.snapshot", (False, True), rule_field(lambda v: {"actions": {"snapshot": v}})),
    Switch("rules.rules.actions.clip", (False, True), rule_field(lambda v: {"actions": {"clip": v}})),
    Switch("gpio.enabled", (False, True), lambda v, _: hardware({"enabled": v, "pin_factory": "mock",
                                                                 "outputs": [OUTPUT]})),
    Switch("gpio.pin_factory", ("mock", "lgpio", "jetson"), lambda v, _: hardware({"enabled": True, "pin_factory": v,
                                                                                   "outputs": [OUTPUT]})),
    Switch("gpio.outputs.kind", ("buzzer", "led", "pwm_led", "relay"), output_device),
    Switch("gpio.outputs.active_high", (False, True), output_field(lambda v: {"active_high": v})),
    Switch("gpio.outputs.pattern.style", ("steady", "blink"),
           output_field(lambda v: {"pattern": {"style": v, "on_s": 0.05, "off_s": 0.05, "duration_s": 0.25}})),
    Switch("gpio.inputs.kind", ("arm_button", "pir", "door"), lambda v, _: gpio_input({"kind": v}, press)),
    Switch("gpio.inputs.pull_up", (False, True), lambda v, _: gpio_input({"kind": "door", "pull_up": v}, toggle)),
    Switch("gpio.inputs.arm_mode", ("home", "away"), lambda v, _: gpio_input({"kind": "arm_button", "arm_mode": v},
                                                                             press)),
    Switch("gpio.inputs.open_level", ("high", "low"), lambda v, _: gpio_input(
        {"kind": "door", "open_level": v, "pull_up": False}, lambda pin: pin.drive_high())),
    Switch("storage.snapshots", (False, True), lambda v, tmp: stored({"snapshots": v}, tmp)),
    Switch("storage.clips", (False, True), lambda v, tmp: stored({"clips": v, "recording": {"mode": "events"}}, tmp)),
    Switch("storage.recording.mode", ("off", "events", "continuous"),
           lambda v, tmp: stored({"recording": {"mode": v}}, tmp)),
    Switch("storage.recording.encoder", ("libx264", "h264_v4l2m2m"), lambda v, tmp: stored(
        {"recording": {"mode": "events", "encoder": v, "passthrough": False}}, tmp)),
    Switch("storage.recording.preset", ("ultrafast", "medium"), lambda v, tmp: stored(
        {"recording": {"mode": "continuous", "preset": v, "passthrough": False}}, tmp)),
    Switch("storage.recording.passthrough", (False, True), lambda v, tmp: stored(
        {"recording": {"mode": "events", "passthrough": v}}, tmp)),
    Switch("mqtt.tls.insecure", (False, True), tls_insecure),
    Switch("mqtt.preset", ("none", "aws_iot_core"), mqtt_preset),
    Switch("mqtt.clean_session", (False, True), clean_session),
    Switch("mqtt.snapshots", (False, True), thumbnails),
    Switch("mqtt.allowed_commands", ("mode", "armed", "detection", "silence", "snapshot"), allowed),
    Switch("mqtt.arm_mode", ("home", "away"), command("arm_mode")),
    Switch("mqtt.discovery", (False, True), discovery),
    Switch("mqtt.fleet_public_key", (None, FLEET_PUBLIC), fleet_key),
    Switch("web.https", (False, True), served("https")),
    Switch("web.metrics", (False, True), metrics),
    Switch("web.login_lockout_s", (5, 60), login_limits(lambda v: {"login_lockout_s": v}, 5)),
    Switch("web.login_global_max_failures", (6, 100),
           login_limits(lambda v: {"login_global_max_failures": v, "login_max_failures": 50}, 6)),
    Switch("web.require_signed_models", (False, True), signed_policy),
    Switch("sinks.type", ("log", "none"), sink_list),
    Switch("sinks.level", ("DEBUG", "INFO", "WARNING"), log_sink),
    Switch("api:/api/arm mode", ("disarmed", "home", "away"), mode_api),
    Switch("api:/api/detection enabled", (False, True), detection_api),
    Switch("mqtt:<prefix>/<camera>/set/detection", ("OFF", "ON"), camera_detection_command),
    Switch("api:/api/cameras/<name>/detection enabled", (False, True), camera_detection_api),
    Switch("api:?camera= (each camera's stream, frame, status, events, recordings, zones)", ("front", "garden"),
           camera_query),
    Switch("api:overlay boxes", (False, True), overlay("boxes")),
    Switch("api:overlay motion", (False, True), overlay("motion")),
    Switch("api:overlay zones", (False, True), overlay("zones")),
]


def _params() -> list[Any]:
    marks = lambda s: [pytest.mark.xfail(strict=True, reason=s.owner)] if s.owner else []  # noqa: E731
    return [pytest.param(s, id=s.path, marks=marks(s)) for s in SWITCHES]


@pytest.mark.parametrize("switch", _params())
def test_flipping_a_switch_changes_what_happens(switch: Switch, tmp_path: Path) -> None:
    seen = [switch.observe(value, tmp_path) for value in switch.values]
    if len(switch.values) == 1:  # a one-value key (one registered backend): it must be the one that runs
        assert seen[0], f"{switch.path}={switch.values[0]!r}: nothing observed"
        return
    alike = [(a, b) for i, a in enumerate(switch.values) for b in switch.values[i + 1:]
             if seen[switch.values.index(a)] == seen[switch.values.index(b)]]
    assert not alike, f"{switch.path}: {alike} behave the same: {seen}"


def _switch_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Dotted paths of every bool and Literal field under the config models (list and union members included)."""
    out: set[str] = set()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        todo, path = [field.annotation], f"{prefix}{name}"
        while todo:
            ann = todo.pop()
            if isinstance(ann, type) and issubclass(ann, BaseModel):
                out |= _switch_paths(ann, path + ".")
            elif ann is bool or typing.get_origin(ann) is typing.Literal:
                out.add(path)
            else:
                todo += list(typing.get_args(ann))
    return out


def _top_twin(path: str) -> str:
    """The setting a `cameras.<name>.…` switch overrides: a camera key, or a top-level section's key."""
    rest = path.removeprefix("cameras.")
    return rest if rest.split(".")[0] in CameraOverrides.model_fields else f"camera.{rest}"


def _override(path: str, value: Any) -> dict[str, Any]:
    """A camera entry (a file camera) that sets `path` (a top-level twin, see _top_twin) to `value`."""
    entry: dict[str, Any] = {"source": "file", "path": "a.avi"}
    section, _, key = path.partition(".")
    if section == "camera":
        sources = {"file": {"path": "a.avi"}, "rtsp": {"url": "rtsp://127.0.0.1:9/x"},
                   "gstreamer": {"pipeline": "videotestsrc ! appsink"}}
        return {**sources.get(value, {}), "source": value} if key == "source" else {**entry, key: value}
    if section == "storage":
        return {**entry, "storage": {"recording": {key.removeprefix("recording."): value}}}
    if section != "rules":
        return {**entry, section: {key: value}}
    rule: dict[str, Any] = {"name": "r", "labels": ["person"]}
    leaf = key.removeprefix("rules.")
    if leaf == "modes":
        rule["modes"] = [value]
    elif leaf == "schedule.days":
        rule["schedule"] = [{"days": [value], "start": "08:00", "end": "09:00"}]
    elif leaf == "actions.outputs.pattern.style":
        rule["actions"] = {"outputs": [{"output": "buzzer", "pattern": {"style": value}}]}
    else:
        head, _, tail = leaf.partition(".")
        rule[head] = {tail: value} if tail else value
    return {**entry, "rules": {"rules": [rule]}}


def _value_at(cfg: Any, path: str) -> Any:
    for part in path.split("."):
        cfg = getattr(cfg[0] if isinstance(cfg, list) else cfg, part)
    return cfg[0] if isinstance(cfg, list) else cfg


CAMERA_SWITCHES = sorted(p for p in _switch_paths(AppConfig) if p.startswith("cameras."))


@pytest.mark.parametrize("path", CAMERA_SWITCHES)
def test_a_camera_override_reaches_its_camera_only(path: str) -> None:
    """A switch under `cameras.<name>` is its top-level twin (flipped in SWITCHES) for that camera alone: for each
    value of the twin's row, the camera's resolved config (what its unit is built from) has it, the other camera
    keeps the top-level value."""
    twin = _top_twin(path)
    row = next((s for s in SWITCHES if s.path == twin), None)
    assert row is not None, f"{path}: its top-level twin {twin} has no row in SWITCHES"
    gpio = {"enabled": True, "pin_factory": "mock", "outputs": [OUTPUT]}
    plain = {"source": "file", "path": "b.avi"}
    for value in row.values:
        cfg = parse_config({"gpio": gpio, "cameras": {"a": _override(twin, value), "b": plain}}).camera_configs()
        assert _value_at(cfg["a"], twin) == value, (path, value)
        if not twin.startswith("rules.rules"):  # b has no rules at all
            assert _value_at(cfg["b"], twin) == _value_at(parse_config({"gpio": gpio, "camera": plain}), twin)


def test_every_switch_is_in_the_table() -> None:
    overridden = {p for p in CAMERA_SWITCHES if any(s.path == _top_twin(p) for s in SWITCHES)}
    missing = sorted(_switch_paths(AppConfig) - {s.path for s in SWITCHES} - overridden)
    assert missing == [], f"add a row to SWITCHES that flips and observes: {missing}"
