"""A fake capture source, detector backend, sink and GPIO backend, each registered in this one module and nowhere
else.

tests/test_registry.py imports it (and unregisters it afterwards, so other tests and docs/config.md only ever see
the built-in parts): the appliance then builds all four from a config by their keys, with no other edit.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from camapp.alarm.factory import AlarmHardware
from camapp.alarm.inputs import Trigger
from camapp.alarm.outputs import AlarmOutput
from camapp.capture import FrameSource, SourceMaker
from camapp.commands import Commander
from camapp.config.alarm import GPIO_BACKENDS, GpioConfig, PatternConfig
from camapp.config.camera import CAMERA_SOURCES, CameraConfig
from camapp.config.core import DETECTORS, ModelConfig
from camapp.config.sinks import SINKS, SinkConfig
from camapp.detect import Detector, Region
from camapp.detect.modelfile import MODEL_FILES, JsonValue, ModelFileBackend
from camapp.errors import CaptureEndedError, CommandError, ModelError
from camapp.sinks import ResultSink, SinkContext
from camapp.types import Detections, Frame, FrameResult, Image

SEEN: list[FrameResult] = []  # what every `collect` sink received, in order
DETECT_CALLS: list[int] = []  # image width of each fake detector call
LATCHED: list[tuple[str, str]] = []  # (output, pattern style or "off") for each change of a fake alarm output


class CountdownCameraConfig(CameraConfig):
    """A camera that shows a grey picture for a number of frames, then ends."""

    source: Literal["countdown"] = Field("countdown", description="A synthetic camera (tests).")
    frames: int = Field(20, ge=1, le=1000, description="How many frames before it ends.")
    width: int = Field(320, ge=64, le=1920, description="Frame width.")

    @property
    def live(self) -> bool:
        return False


class CountdownSource(FrameSource):
    def __init__(self, cfg: CountdownCameraConfig) -> None:
        self._cfg, self._index = cfg, 0

    def read(self) -> Frame:
        if self._index >= self._cfg.frames:
            raise CaptureEndedError("countdown over")
        self._index += 1
        image = np.full((self._cfg.width * 3 // 4, self._cfg.width, 3), 90, np.uint8)
        return Frame(image, 1000.0 + self._index / 10, self._index)

    def close(self) -> None:
        pass


@CAMERA_SOURCES.register(CountdownCameraConfig)
def countdown_source(cfg: CountdownCameraConfig, stop_event: threading.Event) -> SourceMaker:
    return lambda: CountdownSource(cfg)


CENTRE_MAGIC = b"CENTRE1\n"  # a `.centre` model file: this line, then the score it sees its object with


class CentreModelConfig(ModelConfig):
    """A detector that always sees one object (a person unless a model file says otherwise) in the middle."""

    type: Literal["centre"] = Field("centre", description="Sees a person in the middle (tests).")
    score: float = Field(0.9, ge=0, le=1, description="Score of the person it sees.")
    model_file: Path | None = Field(None, description="A .centre model file (its score wins over `score`).")
    labels_file: Path | None = Field(None, description="Labels of the model file; the first is what it sees.")

    def describe(self) -> str:
        return f"centre ({self.model_file or 'built in'})"


def read_centre(model: Path, labels: Path) -> tuple[float, str]:
    """The score and label a .centre model file and its labels give; ModelError when they are not valid."""
    data = model.read_bytes()
    check_centre(data)
    try:
        score = float(data[len(CENTRE_MAGIC):].decode().strip())
        label = labels.read_text(encoding="utf-8").split()[0]
    except (ValueError, IndexError, OSError) as err:
        raise ModelError(f"{model.name}: not a working centre model: {err}") from None
    if not 0 <= score <= 1:
        raise ModelError(f"{model.name}: score {score} is not between 0 and 1")
    return score, label


def check_centre(data: bytes) -> None:
    if not data.startswith(CENTRE_MAGIC):
        raise CommandError("model: not a .centre file (no CENTRE1 line)")


class CentreDetector(Detector):
    def __init__(self, cfg: CentreModelConfig) -> None:
        self._score, self._label, self._name = cfg.score, "person", "centre"
        if cfg.model_file is not None and cfg.labels_file is not None:
            self._score, self._label = read_centre(cfg.model_file, cfg.labels_file)
            self._name = f"centre-{cfg.model_file.parent.name}"
        self._timings = {"total": 0.0}

    def detect(self, image: Image, regions: Sequence[Region] | None = None) -> Detections:
        h, w = image.shape[:2]
        DETECT_CALLS.append(w)
        self._timings = {"total": 0.1}
        return Detections([[w * 0.4, h * 0.3, w * 0.6, h * 0.9]], [self._score], [0], [self._label])

    @property
    def labels(self) -> Sequence[str]:
        return [self._label]

    @property
    def name(self) -> str:
        return self._name

    @property
    def input_size(self) -> tuple[int, int]:
        return (300, 300)

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return dict(self._timings)

    def close(self) -> None:
        pass


DETECTORS.register(CentreModelConfig)(CentreDetector)


def _centre_probe(model: Path, labels: Path) -> dict[str, JsonValue]:
    score, label = read_centre(model, labels)
    return {"score": score, "label": label}


def _centre_configure(section: ModelConfig, model: Path, labels: Path, models_dir: Path) -> ModelConfig:
    read_centre(model, labels)  # refused before anything changes
    return section.model_copy(update={"model_file": model, "labels_file": labels})


# The capability that makes the model manager and the live switch take .centre files, like .tflite ones.
MODEL_FILES.register(CentreModelConfig)(ModelFileBackend(".centre", check_centre, _centre_probe, _centre_configure))


class CollectSinkConfig(SinkConfig):
    """Keeps every result it receives in fake_parts.SEEN."""

    type: Literal["collect"] = Field("collect", description="Collect results (tests).")


@SINKS.register(CollectSinkConfig)
class CollectSink(ResultSink):
    def __init__(self, cfg: CollectSinkConfig, ctx: SinkContext) -> None:
        self.ctx = ctx

    def handle(self, result: FrameResult) -> None:
        SEEN.append(result)

    def close(self) -> None:
        pass


class LatchOutput(AlarmOutput):
    """An alarm output that records what it is told in fake_parts.LATCHED."""

    def _start(self, pattern: PatternConfig) -> None:
        LATCHED.append((self.name, pattern.style))

    def _safe(self) -> None:
        LATCHED.append((self.name, "off"))

    def _release(self) -> None:
        pass


@GPIO_BACKENDS.register_key("latch")
def latch_backend(gpio: GpioConfig, control: Commander, on_trigger: Trigger, lib: object) -> AlarmHardware:
    return AlarmHardware({o.name: LatchOutput(o.name) for o in gpio.outputs}, available=True, backend="latch")


def unregister() -> None:
    """Take the four parts out again."""
    CAMERA_SOURCES.unregister("countdown")
    DETECTORS.unregister("centre")
    MODEL_FILES.unregister("centre")
    SINKS.unregister("collect")
    GPIO_BACKENDS.unregister("latch")
