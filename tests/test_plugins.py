"""Discovery: a plugin package on the path, declared by an entry point (group camapp.plugins), adds a capture
source, a detector backend, a sink and a GPIO backend that configs use by key, with no camapp file edited; the
built-in parts are found by scanning their packages."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from camapp import plugins
from camapp.app import Appliance
from camapp.config import parse_config
from camapp.configdoc import render
from camapp.errors import ConfigError

PLUGIN = '''
"""A toy camapp plugin: a striped camera, a detector that sees a dog, a sink counting frames, a GPIO backend."""
from __future__ import annotations

import threading
from typing import Literal

import numpy as np
from pydantic import Field

from camapp.alarm.factory import AlarmHardware
from camapp.alarm.outputs import AlarmOutput
from camapp.capture import FrameSource
from camapp.config.alarm import GPIO_BACKENDS
from camapp.config.camera import CAMERA_SOURCES, CameraConfig
from camapp.config.core import DETECTORS, ModelConfig
from camapp.config.sinks import SINKS, SinkConfig
from camapp.detect import Detector
from camapp.errors import CaptureEndedError
from camapp.sinks import ResultSink
from camapp.types import Detections, Frame

FRAMES: list[int] = []
PINS: list[tuple[str, str]] = []


class StripesConfig(CameraConfig):
    source: Literal["stripes"] = Field("stripes", description="Striped test picture (toy plugin).")
    frames: int = Field(12, ge=1, le=100, description="Frames before it ends.")

    @property
    def live(self) -> bool:
        return False


class Stripes(FrameSource):
    def __init__(self, cfg: StripesConfig) -> None:
        self.cfg, self.i = cfg, 0

    def read(self) -> Frame:
        if self.i >= self.cfg.frames:
            raise CaptureEndedError("stripes over")
        self.i += 1
        image = np.zeros((240, 320, 3), np.uint8)
        image[:, ::8] = 255
        return Frame(image, 500.0 + self.i / 10, self.i)

    def close(self) -> None:
        pass


@CAMERA_SOURCES.register(StripesConfig)
def stripes(cfg: StripesConfig, stop_event: threading.Event):
    return lambda: Stripes(cfg)


class DogModelConfig(ModelConfig):
    type: Literal["dogseer"] = Field("dogseer", description="Sees a dog (toy plugin).")


class DogSeer(Detector):
    def __init__(self, cfg: DogModelConfig) -> None:
        pass

    def detect(self, image, regions=None) -> Detections:
        h, w = image.shape[:2]
        return Detections([[w * 0.3, h * 0.2, w * 0.7, h * 0.9]], [0.95], [0], ["dog"])

    labels = property(lambda self: ["dog"])
    name = property(lambda self: "dogseer")
    input_size = property(lambda self: (300, 300))
    last_timings_ms = property(lambda self: {"total": 0.0})

    def close(self) -> None:
        pass


DETECTORS.register(DogModelConfig)(DogSeer)


class CountConfig(SinkConfig):
    type: Literal["count"] = Field("count", description="Counts frames (toy plugin).")


@SINKS.register(CountConfig)
class CountSink(ResultSink):
    def __init__(self, cfg, ctx) -> None:
        pass

    def handle(self, result) -> None:
        FRAMES.append(result.frame.index)

    def close(self) -> None:
        pass


class Pin(AlarmOutput):
    def _start(self, pattern) -> None:
        PINS.append((self.name, "on"))

    def _safe(self) -> None:
        PINS.append((self.name, "off"))

    def _release(self) -> None:
        pass


@GPIO_BACKENDS.register_key("toypins")
def toypins(gpio, control, on_trigger, lib):
    return AlarmHardware({o.name: Pin(o.name) for o in gpio.outputs}, available=True, backend="toypins")


def unregister() -> None:
    CAMERA_SOURCES.unregister("stripes")
    DETECTORS.unregister("dogseer")
    SINKS.unregister("count")
    GPIO_BACKENDS.unregister("toypins")
'''


def install(site: Path, dist: str, entry: str, module: str, source: str) -> None:
    """What `pip install` leaves in site-packages: the module and a .dist-info declaring the entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{plugins.GROUP}]\n{entry} = {module}\n")


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The toy plugin installed into a temp site dir on sys.path; its parts are taken out again afterwards."""
    module = f"camapp_toy_{tmp_path.name.replace('-', '_')}"
    with pytest.raises(ConfigError, match="source must be one of"):  # not installed yet: an unknown key
        parse_config({"camera": {"source": "stripes"}})
    site = tmp_path / "site-packages"
    site.mkdir()
    install(site, "camapp-toy", "toy", module, PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    parse_config({"camera": {"source": "stripes"}})  # found without anything imported by hand
    try:
        yield sys.modules[module]
    finally:
        sys.modules[module].unregister()
        sys.modules.pop(module, None)


def test_an_installed_plugin_is_used_by_camera_model_sinks_and_gpio(toy: ModuleType, tmp_path: Path) -> None:
    cfg = parse_config({
        "camera": {"source": "stripes", "frames": 12},
        "model": {"type": "dogseer"},
        "motion": {"enabled": False}, "detect": {"fps": 0},
        "objects": {"track": ["dog"]},
        "sinks": [{"type": "count"}],
        "rules": {"arming": "away", "rules": [{"name": "dog", "labels": ["dog"], "actions": {"outputs": ["bell"]}}]},
        "gpio": {"enabled": True, "pin_factory": "toypins", "outputs": [{"name": "bell", "kind": "relay", "pin": 5}]},
        "storage": {"path": str(tmp_path / "data")},
    })
    with Appliance(cfg) as app:
        assert app.model_name == "dogseer" and app.sinks.alarm.hardware.backend == "toypins"
        app.replay([])
        stored = app.store.list_events() if app.store is not None else []
    assert toy.FRAMES[:12] == list(range(1, 13))  # the plugin camera's frames reached the plugin sink
    assert [e["label"] for e in stored] == ["dog"]  # the plugin detector's dog became a stored event
    assert ("bell", "on") in toy.PINS and toy.PINS[-1] == ("bell", "off")  # the rule drove the plugin's pin
    doc = render()
    assert "stripes" in doc and "dogseer" in doc and "'toypins'" in doc  # documented like the built-in parts


def test_a_broken_plugin_is_logged_and_the_rest_still_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    site = tmp_path / "site-packages"
    site.mkdir()
    install(site, "camapp-broken", "broken", "camapp_broken_plugin", "raise RuntimeError('needs a Coral stick')\n")
    monkeypatch.syspath_prepend(str(site))
    with caplog.at_level(logging.ERROR, logger="camapp.plugins"):
        cfg = parse_config({"camera": {"source": "file", "path": str(tmp_path / "clip.avi")}})
    assert cfg.camera.source == "file"
    assert "plugin 'broken' (camapp_broken_plugin) failed to load and is ignored: RuntimeError: needs a Coral stick" \
        in caplog.text
    sys.modules.pop("camapp_broken_plugin", None)


def test_built_in_parts_are_found_by_scanning_their_packages() -> None:
    names = plugins.builtin_modules()
    assert {"camapp.capture.file", "camapp.capture.picam", "camapp.detect.tflite", "camapp.alarm.factory",
            "camapp.sinks"} <= set(names)
