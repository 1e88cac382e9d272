"""Detector backends that can load a model file they were not configured with (an upload, a live switch).

A backend declares the capability by registering a ModelFileBackend in MODEL_FILES under its config model, next
to its DETECTORS registration. The web model manager and the live switch (camapp/live.py) only ever use this
interface, so any such backend (TFLite, or a plugin's) is switched the same way; a backend without it is refused
with a message naming model.type.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from camapp.config.core import ModelConfig
from camapp.errors import CommandError, ConfigError, ModelError
from camapp.registry import Registry

JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True)
class ModelFileBackend:
    """What a backend that loads model files provides.

    - suffix: the model file's extension (".tflite"); uploads are stored under `model<suffix>`.
    - check: the file's format, on its bytes; CommandError saying what is wrong.
    - probe: load and run the model once; ModelError when it does not work; returns what the UI shows.
    - configure: the running `model` section switched to this model file (it may write what it needs, a manifest,
      under the directory it is given, never over a file the running section uses); ModelError when it cannot.
    """

    suffix: str
    check: Callable[[bytes], None]
    probe: Callable[[Path, Path], Mapping[str, JsonValue]]
    configure: Callable[[ModelConfig, Path, Path, Path], ModelConfig]


MODEL_FILES: Registry[ModelFileBackend] = Registry("model-file backend", "type")


def model_file_backend(model: ModelConfig) -> ModelFileBackend:
    """The model-file capability of the running backend; ModelError naming model.type when it has none."""
    try:
        return MODEL_FILES.builder(model.type)
    except ConfigError:
        raise ModelError(f"model.type '{model.type}' cannot load a model file (its backend does not register one "
                         "in camapp.detect.modelfile.MODEL_FILES)") from None


def probe_file(backend: ModelFileBackend, model: Path, labels: Path) -> dict[str, JsonValue]:
    """The backend's probe, its result made plain JSON; any failure of the runtime is a ModelError."""
    try:
        info = backend.probe(model, labels)
    except (ModelError, CommandError):
        raise
    except ImportError as err:
        raise ModelError(f"model validation is unavailable here: {err}") from None
    except Exception as err:  # a corrupt model can make the runtime raise anything
        raise ModelError(f"model failed its test run: {type(err).__name__}: {err}") from None
    loaded: dict[str, JsonValue] = json.loads(json.dumps(dict(info), default=str))
    return loaded
