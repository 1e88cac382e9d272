"""Model manifests: loading, path resolution, checksums (a wrong file is never used) and labels parsing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from camapp.detect.manifest import ModelManifest, label_name, load_manifest, parse_labels
from camapp.errors import ChecksumError, ConfigError, ModelError


def copy_model(model_manifest: Path, dest: Path) -> Path:
    """The shipped manifest, model and labels copied into `dest`; returns the manifest copy."""
    data = yaml.safe_load(model_manifest.read_text())
    for name in (data["file"], data["labels"]):
        shutil.copy(model_manifest.parent / name, dest / name)
    out = dest / model_manifest.name
    shutil.copy(model_manifest, out)
    return out


def edit_manifest(path: Path, **changes: object) -> Path:
    data = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_manifest_loads_from_any_directory(model_manifest: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    m = load_manifest(model_manifest)
    assert m.model_path == model_manifest.parent.resolve() / "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
    assert m.labels_path.is_file()
    assert (m.input.width, m.input.height, m.input.dtype, m.input.color) == (300, 300, "uint8", "rgb")
    assert m.input.resize == "stretch"
    assert m.output == "ssd_postprocess"
    assert m.edgetpu_path is None


def test_coco_labels_keep_ids_with_gaps(model_manifest: Path) -> None:
    labels = load_manifest(model_manifest).load_labels()
    assert (labels[0], labels[2], labels[16], labels[46]) == ("person", "car", "cat", "cup")
    assert labels[11] == ""  # id 11 is unused in COCO; the index stays the class id
    assert len(labels) == 90 and sum(1 for x in labels if x) == 80


def test_tampered_model_is_refused_naming_the_file(model_manifest: Path, tmp_path: Path) -> None:
    manifest = copy_model(model_manifest, tmp_path)
    model = tmp_path / "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the weights
    model.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"mobilenet_ssd_v2_coco_quant_postprocess\.tflite.*refusing"):
        load_manifest(manifest)


def test_tampered_labels_are_refused(model_manifest: Path, tmp_path: Path) -> None:
    manifest = copy_model(model_manifest, tmp_path)
    labels = tmp_path / "coco_labels.txt"
    labels.write_text(labels.read_text().replace("person", "persn"))
    with pytest.raises(ChecksumError, match=r"coco_labels\.txt"):
        load_manifest(manifest)


def test_missing_model_file_is_a_model_error(model_manifest: Path, tmp_path: Path) -> None:
    manifest = copy_model(model_manifest, tmp_path)
    (tmp_path / "mobilenet_ssd_v2_coco_quant_postprocess.tflite").unlink()
    with pytest.raises(ModelError, match="missing") as info:
        load_manifest(manifest)
    assert not isinstance(info.value, ChecksumError)
    assert load_manifest(manifest, verify_files=False).name == "ssd_mobilenet_v2_coco_quant"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sha256": "abc"}, "sha256"),
        ({"colour": "rgb"}, "colour"),  # typo: extra keys are forbidden
        ({"output": "centernet"}, "output"),
        ({"file": None}, "file"),
        ({"input": {"width": 300, "height": 300, "dtype": "float64"}}, "input.dtype"),
        ({"input": {"width": 0, "height": 300, "dtype": "uint8"}}, "input.width"),
        ({"edgetpu_file": "x_edgetpu.tflite"}, "edgetpu_sha256"),
        ({"decode": {"nms_iou": 2}}, "decode.nms_iou"),
    ],
)
def test_invalid_manifest_is_a_config_error_naming_the_field(
    model_manifest: Path, tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    manifest = edit_manifest(copy_model(model_manifest, tmp_path), **changes)
    with pytest.raises(ConfigError, match=message) as info:
        load_manifest(manifest)
    assert str(manifest) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [("- just\n- a list\n", "must be a mapping"), ("name: [unclosed\n", "not valid YAML"), ("", "must be a mapping")],
)
def test_unreadable_manifest_is_a_config_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_manifest(path)


def test_missing_manifest_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read model manifest"):
        load_manifest(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0  person\n1  bicycle\n3  motorcycle\n", ["person", "bicycle", "", "motorcycle"]),
        ("0: person\n2: traffic light\n", ["person", "", "traffic light"]),
        ("person\nbicycle\ntraffic light\n", ["person", "bicycle", "traffic light"]),
        ("\ufeff# COCO\nperson\n\n  car  \n", ["person", "car"]),
        ("1 person\nbicycle\n", ["1 person", "bicycle"]),  # mixed: plain names, kept verbatim
    ],
)
def test_parse_labels(text: str, expected: list[str]) -> None:
    assert parse_labels(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "no labels"), ("# only a comment\n", "no labels"), ("0 a\n0 b\n", "appears twice"), ("99999 x\n", "large")],
)
def test_bad_labels_are_model_errors(text: str, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        parse_labels(text, "labels.txt")


@pytest.mark.parametrize(("class_id", "expected"), [(0, "person"), (1, "class_1"), (5, "class_5"), (-1, "class_-1")])
def test_label_name(class_id: int, expected: str) -> None:
    assert label_name(["person", ""], class_id) == expected


def test_manifest_paths_resolve_against_its_directory(tmp_path: Path) -> None:
    data = yaml.safe_load((Path(__file__).parent.parent / "models/ssd_mobilenet_v2_coco_quant.yaml").read_text())
    m = ModelManifest.model_validate(data).with_directory(tmp_path)
    assert m.model_path == tmp_path / data["file"]
    assert m.labels_path == tmp_path / data["labels"]
