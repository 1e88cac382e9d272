"""The TFLite detector with the real model on real photos, regions, RGB input, runtimes, and YOLO end to end."""

from __future__ import annotations

import ctypes.util
import hashlib
import shutil
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from pydantic import ValidationError
from skimage import data as skdata
from tflite_synth import yolo_model  # tests/ is on sys.path (pytest's rootdir conftest, no __init__.py)

from camapp.config.core import TFLiteModelConfig
from camapp.detect.decode import box_iou
from camapp.detect.manifest import ModelManifest, load_manifest
from camapp.detect.probe import manifest_yaml, probe_model
from camapp.detect.tflite import TFLiteDetector
from camapp.errors import ChecksumError, DetectorUnavailableError, ModelError
from camapp.types import Detections

MODEL_FILE = "mobilenet_ssd_v2_coco_quant_postprocess.tflite"


class Recording(TFLiteDetector):
    """Keeps a copy of every input tensor handed to the interpreter."""

    seen: list[np.ndarray]

    def _invoke(self, tensor: np.ndarray) -> list[np.ndarray]:
        self.seen = [*getattr(self, "seen", []), tensor.copy()]
        return super()._invoke(tensor)


@pytest.fixture(scope="module")
def detector(model_manifest: Path):
    with TFLiteDetector(load_manifest(model_manifest), threads=2, min_score=0.3, edgetpu="off") as det:
        yield det


def photo_bgr(name: str) -> np.ndarray:
    """A scikit-image photo (RGB) as a camera frame (BGR)."""
    return np.ascontiguousarray(cv2.cvtColor(getattr(skdata, name)(), cv2.COLOR_RGB2BGR))


def best(dets: Detections, label: str) -> tuple[float, np.ndarray]:
    idx = [i for i, lab in enumerate(dets.labels) if lab == label]
    assert idx, f"no {label} in {dets.to_list()}"
    i = max(idx, key=lambda j: dets.scores[j])
    return float(dets.scores[i]), dets.boxes[i]


def iou(a: np.ndarray | tuple[float, ...], b: np.ndarray | tuple[float, ...]) -> float:
    return float(box_iou(np.array([a], np.float32), np.array([b], np.float32))[0, 0])


def assert_in_frame(dets: Detections, width: int, height: int) -> None:
    assert (
        np.all(dets.boxes >= 0) and np.all(dets.boxes[:, [0, 2]] <= width) and np.all(dets.boxes[:, [1, 3]] <= height)
    )


# -- real photos -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("photo", "label", "region"),
    [
        ("astronaut", "person", (0, 0, 390, 512)),  # she fills the left three quarters of the picture
        ("chelsea", "cat", (0, 0, 420, 300)),  # the cat fills nearly the whole frame
        ("coffee", "cup", (150, 0, 420, 310)),  # cup and saucer in the middle-top
    ],
)
def test_real_photos(detector: TFLiteDetector, photo: str, label: str, region: tuple[int, ...]) -> None:
    image = photo_bgr(photo)
    dets = detector.detect(image)
    score, box = best(dets, label)
    assert score >= 0.5
    assert iou(box, region) >= 0.7, f"{label} box {box} vs expected region {region}"
    assert_in_frame(dets, image.shape[1], image.shape[0])


def test_messi_is_a_person(detector: TFLiteDetector, media_dir: Path) -> None:
    image = cv2.imread(str(media_dir / "messi5.jpg"))
    dets = detector.detect(image)
    score, box = best(dets, "person")
    assert score >= 0.5
    assert box[0] < 274 < box[2] and box[1] < 171 < box[3], "the main person box covers the picture's centre"
    assert_in_frame(dets, image.shape[1], image.shape[0])


@pytest.mark.parametrize("min_score", [0.3, 0.6, 0.9])
def test_scores_below_min_score_are_dropped(detector: TFLiteDetector, media_dir: Path, min_score: float) -> None:
    image = cv2.imread(str(media_dir / "messi5.jpg"))
    old = detector.min_score
    try:
        detector.min_score = min_score
        dets = detector.detect(image)
    finally:
        detector.min_score = old
    assert np.all(dets.scores >= min_score)
    assert len(dets) == int(np.sum(detector.detect(image).scores >= min_score))


# -- RGB ---------------------------------------------------------------------------------------------------------------


def test_model_is_fed_rgb(model_manifest: Path) -> None:
    rgb = skdata.chelsea()
    with Recording(load_manifest(model_manifest), min_score=0.1, edgetpu="off") as rec:
        rec.detect(np.ascontiguousarray(rgb[:, :, ::-1]))  # the camera frame is BGR
    (tensor,) = rec.seen
    assert tensor.shape == (1, 300, 300, 3) and tensor.dtype == np.uint8
    expected_rgb = cv2.resize(rgb, (300, 300), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(tensor[0], expected_rgb)
    assert not np.array_equal(tensor[0], expected_rgb[:, :, ::-1])


def test_rgb_order_scores_the_cat_higher_than_swapped_channels(detector: TFLiteDetector) -> None:
    bgr = photo_bgr("chelsea")
    right, _ = best(detector.detect(bgr), "cat")
    swapped, _ = best(detector.detect(np.ascontiguousarray(bgr[:, :, ::-1])), "cat")  # model would see BGR
    assert right >= swapped + 0.03, f"cat {right:.3f} in RGB vs {swapped:.3f} channel-swapped"


# -- regions -------------------------------------------------------------------------------------------------------


def small_person_canvas(size: int = 96) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The astronaut shrunk into the bottom-right corner of a black 1920x1080 frame; returns the frame and her box."""
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    x0, y0 = 1920 - size - 40, 1080 - size - 40
    canvas[y0 : y0 + size, x0 : x0 + size] = cv2.resize(
        photo_bgr("astronaut"), (size, size), interpolation=cv2.INTER_AREA
    )
    return canvas, (x0, y0, x0 + size, y0 + size)


CORNER = (1620, 780, 1920, 1080)


def test_small_person_is_found_in_a_region_but_not_on_the_whole_frame(detector: TFLiteDetector) -> None:
    canvas, placed = small_person_canvas()
    assert "person" not in detector.detect(canvas).labels
    dets = detector.detect(canvas, [CORNER])
    score, box = best(dets, "person")
    assert score >= 0.5
    assert iou(box, placed) >= 0.4, f"box {box} should be in canvas coordinates near {placed}"
    assert np.all(box[:2] >= np.array(placed[:2]) - 8) and np.all(box[2:] <= np.array(placed[2:]) + 8)


def test_person_in_two_overlapping_regions_is_one_detection(detector: TFLiteDetector) -> None:
    canvas, _ = small_person_canvas()
    other = (1660, 760, 1910, 1060)
    for region in (CORNER, other):
        assert detector.detect(canvas, [region]).labels.count("person") == 1
    dets = detector.detect(canvas, [CORNER, other])
    assert dets.labels.count("person") == 1
    assert detector.last_invocations == 2


def test_person_cut_by_a_region_edge_merges_into_the_whole_one(detector: TFLiteDetector) -> None:
    canvas = np.zeros((1080, 1920, 3), np.uint8)
    canvas[500:1012, 800:1312] = photo_bgr("astronaut")
    whole, top = (760, 460, 1360, 1060), (760, 300, 1360, 760)
    assert "person" in detector.detect(canvas, [top]).labels  # the top half alone is seen as a person
    dets = detector.detect(canvas, [whole, top])
    assert dets.labels.count("person") == 1
    _, box = best(dets, "person")
    assert box[3] > 900, "the kept box is the whole person, not the cut-off top half"


@pytest.mark.parametrize(
    ("regions", "invocations"),
    [
        ([], 0),
        ([(3000, 3000, 3300, 3300)], 0),  # entirely outside the frame
        ([(1700, 900, 2200, 1300)], 1),  # partly outside: clipped
        ([(10, 10, 11, 300)], 0),  # too thin to run
    ],
)
def test_regions_are_clipped_to_the_frame(detector: TFLiteDetector, regions: list, invocations: int) -> None:
    canvas, _ = small_person_canvas()
    dets = detector.detect(canvas, regions)
    assert detector.last_invocations == invocations
    assert_in_frame(dets, 1920, 1080)
    if invocations == 0:
        assert len(dets) == 0


@pytest.mark.parametrize("regions", [None, [CORNER], [CORNER, (0, 0, 600, 600)]])
def test_timings_cover_the_last_call(detector: TFLiteDetector, regions: list | None) -> None:
    canvas, _ = small_person_canvas()
    detector.detect(canvas, regions)
    t = detector.last_timings_ms
    assert set(t) == {"pre", "invoke", "post", "total"}
    assert t["invoke"] > 0 and t["pre"] > 0 and t["post"] >= 0
    assert t["total"] == pytest.approx(t["pre"] + t["invoke"] + t["post"])
    assert detector.last_invocations == (1 if regions is None else len(regions))


@pytest.mark.parametrize("image", [np.zeros((100, 100), np.uint8), np.zeros((10, 10, 3), np.float32)])
def test_non_bgr_image_is_a_value_error(detector: TFLiteDetector, image: np.ndarray) -> None:
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        detector.detect(image)


# -- lifecycle, config, runtimes -------------------------------------------------------------------------------------


def test_from_config_close_is_idempotent(model_manifest: Path) -> None:
    det = TFLiteDetector.from_config(TFLiteModelConfig(manifest=model_manifest, min_score=0.5, edgetpu="off"))
    assert det.labels[0] == "person" and det.runtime == "ai-edge-litert" and not det.uses_edgetpu
    assert best(det.detect(photo_bgr("chelsea")), "cat")[0] >= 0.5
    det.close()
    det.close()
    with pytest.raises(ModelError, match="closed"):
        det.detect(photo_bgr("chelsea"))


@pytest.mark.parametrize("merge_iou", [0, 1.5])
def test_merge_iou_is_bounded(merge_iou: float) -> None:
    with pytest.raises(ValidationError, match="merge_iou"):
        TFLiteModelConfig(merge_iou=merge_iou)


def block_runtimes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make both runtime imports fail, as on a machine with neither installed."""
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter", "tflite_runtime", "tflite_runtime.interpreter"):
        monkeypatch.setitem(sys.modules, name, None)


def test_no_runtime_is_detector_unavailable_with_install_advice(model_manifest: Path, monkeypatch) -> None:
    manifest = load_manifest(model_manifest)
    block_runtimes(monkeypatch)
    with pytest.raises(DetectorUnavailableError, match="pip install ai-edge-litert"):
        TFLiteDetector(manifest)


def test_falls_back_to_tflite_runtime(model_manifest: Path, monkeypatch) -> None:
    """With only tflite_runtime importable it is used (here the real library, installed under that name)."""
    from ai_edge_litert import interpreter as real

    manifest = load_manifest(model_manifest)
    block_runtimes(monkeypatch)
    package = types.ModuleType("tflite_runtime")
    package.interpreter = real  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tflite_runtime", package)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", real)
    with TFLiteDetector(manifest, edgetpu="off") as det:
        assert det.runtime == "tflite-runtime"
        assert best(det.detect(photo_bgr("chelsea")), "cat")[0] >= 0.5


def test_edgetpu_on_without_libedgetpu_is_a_model_error(model_manifest: Path) -> None:
    if ctypes.util.find_library("edgetpu"):
        pytest.skip("libedgetpu is installed here; this checks the error without it")
    manifest = load_manifest(model_manifest)
    with pytest.raises(ModelError, match="libedgetpu"):
        TFLiteDetector(manifest, edgetpu="on")
    with TFLiteDetector(manifest, edgetpu="auto") as det:
        assert not det.uses_edgetpu


def test_model_tampered_after_the_manifest_loaded_is_refused(model_manifest: Path, tmp_path: Path) -> None:
    """The bytes handed to the interpreter are the bytes checked: a swap after load_manifest is caught."""
    shutil.copy(model_manifest.parent / "coco_labels.txt", tmp_path)
    shutil.copy(model_manifest.parent / MODEL_FILE, tmp_path)
    manifest = load_manifest(model_manifest).with_directory(tmp_path)
    with (tmp_path / MODEL_FILE).open("r+b") as f:
        f.seek(1000)
        f.write(b"\0\0\0\0")
    with pytest.raises(ChecksumError, match=MODEL_FILE):
        TFLiteDetector(manifest, edgetpu="off")


def write_manifest(directory: Path, model: bytes, labels: str, **fields: object) -> Path:
    (directory / "model.tflite").write_bytes(model)
    (directory / "labels.txt").write_text(labels)
    data = {
        "name": "test",
        "file": "model.tflite",
        "sha256": hashlib.sha256(model).hexdigest(),
        "labels": "labels.txt",
        "labels_sha256": hashlib.sha256(labels.encode()).hexdigest(),
        **fields,
    }
    path = directory / "test.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_not_a_model_is_a_model_error(tmp_path: Path) -> None:
    text = b"this is a text file, not a flatbuffer\n" * 50
    path = write_manifest(
        tmp_path, text, "person\n", input={"width": 300, "height": 300, "dtype": "uint8"}, output="ssd_postprocess"
    )
    with pytest.raises(ModelError, match="not a usable TFLite model"):
        TFLiteDetector(load_manifest(path), edgetpu="off")
    with pytest.raises(ModelError, match="not a usable TFLite model"):
        probe_model(tmp_path / "model.tflite", tmp_path / "labels.txt")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("input", {"width": 320, "height": 320, "dtype": "uint8"}, "input shape"),
        ("input", {"width": 300, "height": 300, "dtype": "float32"}, "input dtype"),
        ("output", "yolov8", "one YOLO tensor"),
    ],
)
def test_manifest_that_disagrees_with_the_model_is_a_model_error(
    model_manifest: Path, field: str, value: object, message: str
) -> None:
    data = yaml.safe_load(model_manifest.read_text())
    data[field] = value
    manifest = ModelManifest.model_validate(data).with_directory(model_manifest.parent)
    with pytest.raises(ModelError, match=message):
        TFLiteDetector(manifest, edgetpu="off")


# -- YOLO end to end (synthetic real .tflite files: no YOLO model is available offline) ------------------------------

COCO80 = [
    line.split(maxsplit=1)[1]
    for line in (Path(__file__).parent.parent / "models/coco_labels.txt").read_text().splitlines()
    if line.strip()
]
CAT = COCO80.index("cat")
BOX = (0.5, 0.5, 0.25, 0.25)  # centre x, y, w, h normalised to the model input


def yolo_raw(layout: str) -> np.ndarray:
    k = len(COCO80) + (5 if layout == "v5" else 4)
    rows = np.zeros((16, k), np.float32)
    rows[:, :4] = [0.3, 0.3, 0.1, 0.1]
    rows[0, :4] = BOX
    if layout == "v5":
        rows[0, 4], rows[0, 5 + CAT] = 0.95, 0.95
    else:
        rows[0, 4 + CAT] = 0.9
    return rows[np.newaxis] if layout == "v5" else rows.T[np.newaxis]


YOLO_CASES = [
    # layout, int8 in/out, resize
    ("v8", False, "letterbox"),
    ("v5", True, "letterbox"),
    ("v8", True, "stretch"),
]


def yolo_manifest(tmp_path: Path, layout: str, quantised: bool, resize: str) -> Path:
    model = yolo_model(
        yolo_raw(layout), (64, 64), (1 / 255, -128) if quantised else None, (1 / 128, 0) if quantised else None
    )
    dtype = "int8" if quantised else "float32"
    return write_manifest(
        tmp_path,
        model,
        "\n".join(COCO80) + "\n",
        input={"width": 64, "height": 64, "dtype": dtype, "resize": resize},
        output="yolo",
    )


def expected_frame_box(frame_w: int, frame_h: int, resize: str) -> np.ndarray:
    cx, cy, w, h = (v * 64 for v in BOX)
    model_box = np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    if resize == "stretch":
        return model_box * [frame_w / 64, frame_h / 64, frame_w / 64, frame_h / 64]
    s = min(64 / frame_w, 64 / frame_h)
    pad_x, pad_y = (64 - round(frame_w * s)) // 2, (64 - round(frame_h * s)) // 2
    return (model_box - [pad_x, pad_y, pad_x, pad_y]) / s


@pytest.mark.parametrize(("layout", "quantised", "resize"), YOLO_CASES)
def test_yolo_model_end_to_end(tmp_path: Path, layout: str, quantised: bool, resize: str) -> None:
    frame = np.full((100, 200, 3), (10, 20, 30), np.uint8)  # BGR
    with Recording(load_manifest(yolo_manifest(tmp_path, layout, quantised, resize)), min_score=0.5) as det:
        assert det.output_format == ("yolov5" if layout == "v5" else "yolov8")
        dets = det.detect(frame)
    assert dets.labels == ("cat",)
    np.testing.assert_allclose(dets.boxes[0], expected_frame_box(200, 100, resize), atol=1.0)
    (tensor,) = det.seen
    centre = tensor[0, 32, 32]
    if quantised:  # int8 input quantised with scale 1/255, zero point -128: q = pixel - 128, RGB order
        assert tensor.dtype == np.int8 and centre.tolist() == [30 - 128, 20 - 128, 10 - 128]
    else:  # float32 = pixel / 255, RGB order
        assert tensor.dtype == np.float32 and centre.tolist() == pytest.approx([30 / 255, 20 / 255, 10 / 255])
    if resize == "letterbox":
        assert tensor[0, 0, 0].tolist() != centre.tolist(), "the top rows are grey letterbox padding"


# -- probe -------------------------------------------------------------------------------------------------------------


def test_probe_the_shipped_model(model_manifest: Path) -> None:
    probe = probe_model(model_manifest.parent / MODEL_FILE, model_manifest.parent / "coco_labels.txt")
    assert (probe.input_width, probe.input_height, probe.input_dtype) == (300, 300, "uint8")
    assert probe.output_format == "ssd_postprocess"
    assert probe.output_shapes == ((1, 20, 4), (1, 20), (1, 20), (1,))
    assert probe.num_labels == 90 and probe.invoke_ms > 0


@pytest.mark.parametrize(("layout", "quantised", "resize"), YOLO_CASES)
def test_probe_then_manifest_then_detect(tmp_path: Path, layout: str, quantised: bool, resize: str) -> None:
    """The model-upload flow: probe an unknown file, write its manifest, load it, detect."""
    yolo_manifest(tmp_path, layout, quantised, resize)
    probe = probe_model(tmp_path / "model.tflite", tmp_path / "labels.txt")
    assert probe.output_format == ("yolov5" if layout == "v5" else "yolov8")
    assert probe.input_dtype == ("int8" if quantised else "float32") and probe.test_detections >= 1
    path = tmp_path / "uploaded.yaml"
    path.write_text(manifest_yaml(probe.to_manifest("uploaded")))
    with TFLiteDetector(load_manifest(path), min_score=0.5) as det:
        dets = det.detect(np.zeros((64, 64, 3), np.uint8))
    assert dets.labels == ("cat",)


@pytest.mark.parametrize(
    ("labels", "declared", "message"),
    [("person\ncat\n", None, "does not fit 2 classes"), ("\n".join(COCO80), "ssd_postprocess", "PostProcess")],
)
def test_probe_rejects_outputs_it_does_not_understand(tmp_path: Path, labels: str, declared, message: str) -> None:
    yolo_manifest(tmp_path, "v8", False, "letterbox")
    (tmp_path / "labels.txt").write_text(labels)
    with pytest.raises(ModelError, match=message) as info:
        probe_model(tmp_path / "model.tflite", tmp_path / "labels.txt", declared)
    assert "model.tflite" in str(info.value)
