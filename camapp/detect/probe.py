"""Check an unknown .tflite file before using it: load it, run it once, and say what it is (for model upload); the
TFLite backend's model-file capability (MODEL_FILES), so uploads and live switches reach it like any other."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from camapp.assets import sha256_of
from camapp.atomic import write_atomic
from camapp.config.core import ModelConfig, TFLiteModelConfig
from camapp.detect.decode import (
    ResolvedFormat,
    YoloLayout,
    YoloOptions,
    decode_ssd_postprocess,
    decode_yolo,
    dequantize,
    resolve_output_format,
)
from camapp.detect.manifest import ModelManifest, read_labels
from camapp.detect.modelfile import MODEL_FILES, JsonValue, ModelFileBackend
from camapp.detect.runtime import load_interpreter
from camapp.errors import CommandError, ModelError

_DTYPES = ("uint8", "int8", "float32")


@dataclass(frozen=True)
class ModelProbe:
    """What a model file turned out to be."""

    model_path: Path
    labels_path: Path
    input_width: int
    input_height: int
    input_dtype: str  # uint8, int8 or float32
    input_quantization: tuple[float, int]
    output_format: ResolvedFormat
    output_shapes: tuple[tuple[int, ...], ...]
    num_labels: int
    runtime: str
    invoke_ms: float
    test_detections: int  # boxes decoded from the test frame at score >= 0.01; proves decoding ran

    def to_manifest(self, name: str) -> ModelManifest:
        """A manifest for this model, with both sha256 sums taken now; files resolve next to the model."""
        yolo = self.output_format != "ssd_postprocess"
        # SSD float models expect [-1, 1]; YOLO exports expect [0, 1].
        mean, std = (0.0, 255.0) if yolo else (127.5, 127.5)
        data: dict[str, Any] = {
            "name": name,
            "file": self.model_path.name,
            "sha256": sha256_of(self.model_path),
            "labels": _relative(self.labels_path, self.model_path.parent),
            "labels_sha256": sha256_of(self.labels_path),
            "input": {
                "width": self.input_width,
                "height": self.input_height,
                "dtype": self.input_dtype,
                "color": "rgb",
                "resize": "letterbox" if yolo else "stretch",
                "mean": mean,
                "std": std,
            },
            "output": self.output_format,
            "source": {"kind": "local"},
            "provenance": "uploaded",
        }
        return ModelManifest.model_validate(data).with_directory(self.model_path.parent.resolve())


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def manifest_yaml(manifest: ModelManifest) -> str:
    """The manifest as YAML text, ready to save next to the model."""
    return yaml.safe_dump(manifest.model_dump(mode="json", exclude_none=True), sort_keys=False)


def _input_info(detail: dict[str, Any], path: Path) -> tuple[int, int, str]:
    shape = tuple(int(v) for v in detail["shape"])
    if len(shape) != 4 or shape[0] != 1 or shape[3] != 3:
        raise ModelError(f"{path}: input shape {shape} is not one RGB image [1, height, width, 3]")
    dtype = np.dtype(detail["dtype"]).name
    if dtype not in _DTYPES:
        raise ModelError(f"{path}: input dtype {dtype} is not supported (use uint8, int8 or float32)")
    return shape[2], shape[1], dtype


def _test_input(width: int, height: int, dtype: str) -> Any:
    """A mid-grey frame with noise, in the input's dtype (the values only need to be legal)."""
    rng = np.random.default_rng(0)
    pixels = np.clip(rng.normal(128, 40, (1, height, width, 3)), 0, 255)
    if dtype == "uint8":
        return pixels.astype(np.uint8)
    if dtype == "int8":
        return (pixels - 128).astype(np.int8)
    return (pixels / 255.0).astype(np.float32)


def probe_model(model_path: str | Path, labels_path: str | Path, output_format: str | None = None) -> ModelProbe:
    """Load the model on the CPU, run it on a test frame and decode the result; ModelError says what is wrong."""
    model_path, labels_path = Path(model_path), Path(labels_path)
    labels = read_labels(labels_path)
    loaded = load_interpreter(model_path, threads=1, edgetpu="off")
    interpreter = loaded.interpreter
    in_detail = interpreter.get_input_details()[0]
    out_details = interpreter.get_output_details()
    width, height, dtype = _input_info(in_detail, model_path)
    shapes = tuple(tuple(int(v) for v in d["shape"]) for d in out_details)
    try:
        fmt = resolve_output_format(shapes, len(labels), output_format)
    except ModelError as err:
        raise ModelError(f"{model_path}: {err}") from None
    interpreter.set_tensor(in_detail["index"], _test_input(width, height, dtype))
    t0 = time.perf_counter()
    try:
        interpreter.invoke()
    except (RuntimeError, ValueError) as err:
        raise ModelError(f"{model_path}: the model failed to run: {err}") from None
    invoke_ms = (time.perf_counter() - t0) * 1000
    outputs = [interpreter.get_tensor(d["index"]) for d in out_details]
    if fmt == "ssd_postprocess":
        floats = [dequantize(o, d["quantization"]) for o, d in zip(outputs, out_details, strict=True)]
        found = len(decode_ssd_postprocess(floats, 0.01, [d["name"] for d in out_details]))
    else:
        layout: YoloLayout = "v5" if fmt == "yolov5" else "v8"
        options = YoloOptions(min_score=0.01, layout=layout)
        found = len(decode_yolo(outputs[0], len(labels), (width, height), options, out_details[0]["quantization"]))
    scale, zero_point = in_detail["quantization"]
    return ModelProbe(
        model_path, labels_path, width, height, dtype, (float(scale), int(zero_point)), fmt, shapes, len(labels),
        loaded.runtime, invoke_ms, found,
    )  # fmt: skip


TFLITE_MAGIC = b"TFL3"


def check_tflite(data: bytes) -> None:
    """A FlatBuffer .tflite carries the identifier TFL3 at byte 4."""
    if len(data) < 8 or data[4:8] != TFLITE_MAGIC:
        raise CommandError("model: not a .tflite file (no TFL3 identifier at byte 4)")


def _probe_info(model: Path, labels: Path) -> dict[str, JsonValue]:
    found = probe_model(model, labels)
    info: dict[str, JsonValue] = json.loads(json.dumps(asdict(found), default=str))
    return info


def _configure(section: ModelConfig, model: Path, labels: Path, models_dir: Path) -> ModelConfig:
    """A manifest for the file (checksums taken now) under a name of its own, and the section pointing at it."""
    if not isinstance(section, TFLiteModelConfig):
        raise ModelError(f"model.type '{section.type}' is not a TFLite section")
    manifest = probe_model(model, labels).to_manifest(model.parent.name or "uploaded")
    absolute = manifest.model_copy(update={"file": str(model.resolve()), "labels": str(labels.resolve())})
    path = models_dir / f"manifest-{manifest.sha256[:12]}-{manifest.labels_sha256[:8]}.yaml"
    write_atomic(path, manifest_yaml(absolute))
    return section.model_copy(update={"manifest": path})


MODEL_FILES.register(TFLiteModelConfig)(ModelFileBackend(".tflite", check_tflite, _probe_info, _configure))
