"""Live model switches on a running appliance (real model, real demo video, real broker): the replaced models are
closed as soon as the pipeline lets go of them, and MQTT names the model that is running now."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ROOT
from mqtt_broker import Broker, Collector, Received

from camapp.app import Appliance
from camapp.commands import SwitchModel
from camapp.demo import demo_config
from camapp.detect import Detector
from camapp.detect.fallback import FallbackDetector
from camapp.errors import ModelError
from camapp.live import parts
from camapp.sinks import ResultSink
from camapp.types import FrameResult

pytestmark = pytest.mark.broker
DEFAULT_MODEL = "ssd_mobilenet_v2_coco_quant"  # the manifest name of the default model


class Frames(ResultSink):
    """Counts the frames the pipeline finished, so a test can wait for frames processed after a switch."""

    def __init__(self) -> None:
        self.count = 0
        self.detected = 0
        self._cond = threading.Condition()

    def handle(self, result: FrameResult) -> None:
        with self._cond:
            self.count += 1
            self.detected += result.detector_ran
            self._cond.notify_all()

    def wait_more(self, n: int, timeout: float = 30.0) -> None:
        """Wait until `n` more frames than now are done: the later ones started after anything done before."""
        with self._cond:
            target = self.count + n
            assert self._cond.wait_for(lambda: self.count >= target, timeout), f"no {n} frames in {timeout} s"

    def close(self) -> None:
        pass


@dataclass
class Live:
    app: Appliance
    frames: Frames
    broker: Broker
    tmp: Path
    outcome: dict[str, Any] = field(default_factory=dict)

    def switch(self, name: str) -> None:
        """Upload-and-switch the real model again, as the web UI does, under the manifest name `name`."""
        folder = self.tmp / name
        folder.mkdir()
        model = shutil.copy(ROOT / "models" / "mobilenet_ssd_v2_coco_quant_postprocess.tflite", folder / "m.tflite")
        labels = shutil.copy(ROOT / "models" / "coco_labels.txt", folder / "labels.txt")
        self.app.control.execute(SwitchModel(Path(model), Path(labels)))


@pytest.fixture
def live(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, demo_video: Path, model_manifest: Path) -> Iterator[Live]:
    """The demo appliance (vtest.avi looped in real time, no store) publishing to a real broker, run as `camapp
    run` runs it in a background thread; it must stop cleanly with exit code 0 (no frame failed)."""
    from camapp.config.mqtt import MqttConfig

    monkeypatch.setenv("CAMAPP_DATA", str(tmp_path / "data"))
    with Broker(tmp_path / "broker") as broker:
        cfg = demo_config()
        cfg = cfg.model_copy(update={
            "storage": cfg.storage.model_copy(update={"path": None}),
            "web": cfg.web.model_copy(update={"host": "127.0.0.1", "port": 0}),
            "mqtt": MqttConfig.model_validate(broker.mqtt_config()),
        })
        app = Appliance(cfg)
        live = Live(app, Frames(), broker, tmp_path)
        app.sinks.all.append(live.frames)

        def run() -> None:
            try:
                live.outcome["code"] = app.run_forever()
            except BaseException as err:  # reported by the test, not lost in the thread
                live.outcome["error"] = err

        thread = threading.Thread(target=run, name="test-appliance")
        thread.start()
        try:
            live.frames.wait_more(3)
            yield live
        finally:
            app.stop_event.set()
            thread.join(timeout=30)
            app.close()
    assert live.outcome == {"code": 0}


def is_closed(detector: Detector) -> bool:
    """A closed model refuses to run, saying so; an open one runs (a blank image is enough to tell)."""
    try:
        detector.detect(np.zeros((300, 300, 3), np.uint8))
    except ModelError as err:
        assert "closed" in str(err)
        return True
    return False


def test_replaced_models_are_closed_once_the_pipeline_lets_go(live: Live) -> None:
    app = live.app
    replaced: list[Detector] = []
    for name in ("m1", "m2", "m3", "m4"):
        before = app.live.detector
        live.switch(name)
        replaced += [d for d in parts(before) if not any(d is p for p in parts(app.live.detector))]
        live.frames.wait_more(2)  # the second one began on the new pipeline: the old models are released
    assert isinstance(app.live.detector, FallbackDetector)
    in_use = parts(app.live.detector)
    assert len(replaced) == 3 and len(in_use) == 2  # the first model, m1 and m2 went; m3 stays as the fallback
    assert [is_closed(d) for d in replaced] == [True] * 3
    assert [is_closed(d) for d in in_use] == [False] * 2
    assert app.live._retired == []  # nothing left waiting for the exit
    detected = live.frames.detected
    live.frames.wait_more(10)
    assert live.frames.detected > detected  # still detecting with m4


def model_of(messages: list[Received], topic: str) -> list[str]:
    return [json.loads(m.payload)["model"] for m in messages if m.topic == topic]


def wait_event_naming(col: Collector, topic: str, model: str) -> None:
    """Wait for a new event message on `topic` naming `model`."""
    seen = len(col.messages)
    col.wait_for(lambda msgs: model in model_of(msgs[seen:], topic), timeout=40)


def discovery_models(msgs: list[Received]) -> set[str]:
    return {json.loads(m.payload)["device"]["model"] for m in msgs if m.topic.endswith("/config") and m.payload}


def test_mqtt_names_the_model_running_now(live: Live) -> None:
    app = live.app
    sink = app.sinks.mqtt
    assert sink is not None
    events = sink.topics.events
    with Collector(live.broker, [events, f"homeassistant/+/{app.cfg.device_id}/+/config"]) as col:
        wait_event_naming(col, events, DEFAULT_MODEL)
        assert discovery_models(col.messages) == {DEFAULT_MODEL}
        live.switch("uploaded-model")
        assert app.model_name == "uploaded-model"
        running = app.web_context().model_name
        assert running is not None and running() == "uploaded-model"  # what the web UI's model page shows
        wait_event_naming(col, events, "uploaded-model")
        col.wait_for(lambda msgs: "uploaded-model" in discovery_models(msgs), timeout=20)
        # The new model breaks (here: its interpreter goes away): the previous one takes over, and is named.
        assert isinstance(app.live.detector, FallbackDetector)
        app.live.detector.primary.close()
        deadline = time.monotonic() + 20
        while app.live.detector.rolled_back is None and time.monotonic() < deadline:
            live.frames.wait_more(1)
        assert app.model_name == DEFAULT_MODEL
        wait_event_naming(col, events, DEFAULT_MODEL)
