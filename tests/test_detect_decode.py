"""Decoders on synthetic tensors with known boxes: YOLO v5/v8 layouts, quantised outputs, NMS, SSD output order."""

from __future__ import annotations

import numpy as np
import pytest

from camapp.detect.decode import (
    YoloOptions,
    box_iou,
    decode_ssd_postprocess,
    decode_yolo,
    dequantize,
    nms,
    resolve_output_format,
    yolo_rows,
)
from camapp.errors import ModelError

NUM_CLASSES = 3
# (x1, y1, x2, y2 normalised, class, score): A; B; B again as another class (kept: NMS is per class);
# a weaker near-copy of A (suppressed by NMS); one below min_score (dropped).
OBJECTS = [
    ((0.10, 0.10, 0.40, 0.50), 0, 0.90),
    ((0.50, 0.20, 0.90, 0.80), 2, 0.70),
    ((0.50, 0.20, 0.90, 0.80), 1, 0.65),
    ((0.11, 0.12, 0.41, 0.50), 0, 0.60),
    ((0.60, 0.60, 0.70, 0.70), 1, 0.20),
]
EXPECTED = [OBJECTS[0], OBJECTS[1], OBJECTS[2]]


def yolo_tensor(layout: str, units: str = "normalized", input_size: tuple[int, int] = (320, 320)) -> np.ndarray:
    """A raw YOLO output holding OBJECTS among 60 low-score noise rows, in the layout's shape."""
    rng = np.random.default_rng(1)
    v5 = layout == "v5"
    k = NUM_CLASSES + (5 if v5 else 4)
    rows = np.zeros((64, k), np.float32)
    rows[:, :2] = rng.uniform(0.2, 0.8, (64, 2))
    rows[:, 2:4] = rng.uniform(0.05, 0.3, (64, 2))
    rows[:, k - NUM_CLASSES :] = rng.uniform(0, 0.1, (64, NUM_CLASSES))
    if v5:
        rows[:, 4] = rng.uniform(0, 0.3, 64)
    for i, ((x1, y1, x2, y2), cls, score) in enumerate(OBJECTS):
        rows[i, :4] = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
        rows[i, k - NUM_CLASSES :] = 0.0
        if v5:  # score = objectness x class probability
            rows[i, 4] = np.sqrt(score)
            rows[i, 5 + cls] = np.sqrt(score)
        else:
            rows[i, 4 + cls] = score
    if units == "pixels":
        w, h = input_size
        rows[:, :4] *= np.array([w, h, w, h], np.float32)
    return rows[np.newaxis] if v5 else rows.T[np.newaxis]


def quantise(x: np.ndarray, scale: float, zero_point: int, dtype: type) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(np.round(x / scale) + zero_point, info.min, info.max).astype(dtype)


@pytest.mark.parametrize(
    ("layout", "units", "box_units", "quant", "tol"),
    [
        ("v5", "normalized", "auto", None, 1e-5),
        ("v8", "normalized", "auto", None, 1e-5),
        ("v8", "pixels", "auto", None, 1e-5),
        ("v5", "pixels", "pixels", None, 1e-5),
        ("v8", "normalized", "normalized", (1 / 255, -128, np.int8), 0.01),
        ("v5", "normalized", "auto", (1 / 255, 0, np.uint8), 0.01),
    ],
)
def test_decode_yolo_finds_the_known_boxes(layout, units, box_units, quant, tol) -> None:
    raw = yolo_tensor(layout, units)
    quantization = None
    if quant is not None:
        scale, zp, dtype = quant
        raw, quantization = quantise(raw, scale, zp, dtype), (scale, zp)
    opts = YoloOptions(min_score=0.5, nms_iou=0.45, box_units=box_units)
    out = decode_yolo(raw, NUM_CLASSES, (320, 320), opts, quantization)
    assert [int(c) for c in out.class_ids] == [cls for _, cls, _ in EXPECTED]
    np.testing.assert_allclose(out.scores, [s for _, _, s in EXPECTED], atol=3 * tol)
    np.testing.assert_allclose(out.boxes, [b for b, _, _ in EXPECTED], atol=2 * tol)
    assert out.boxes.dtype == np.float32 and out.scores.dtype == np.float32


@pytest.mark.parametrize("layout", ["v5", "v8"])
def test_decode_yolo_detects_the_layout_from_the_shape(layout: str) -> None:
    rows, found = yolo_rows(yolo_tensor(layout), NUM_CLASSES)
    assert found == layout
    assert rows.shape == (64, NUM_CLASSES + (5 if layout == "v5" else 4))


def test_decode_yolo_without_nms_would_keep_the_duplicate() -> None:
    """The near-copy of A is only removed by NMS: with nms_iou 1.0 it survives."""
    out = decode_yolo(yolo_tensor("v8"), NUM_CLASSES, (320, 320), YoloOptions(min_score=0.5, nms_iou=1.0))
    assert len(out) == 4


def test_decode_yolo_caps_detections() -> None:
    out = decode_yolo(yolo_tensor("v8"), NUM_CLASSES, (320, 320), YoloOptions(min_score=0.5, max_detections=2))
    assert [float(s) for s in out.scores] == pytest.approx([0.9, 0.7])


def test_decode_yolo_with_nothing_above_min_score_is_empty() -> None:
    out = decode_yolo(yolo_tensor("v5"), NUM_CLASSES, (320, 320), YoloOptions(min_score=0.95))
    assert len(out) == 0 and out.boxes.shape == (0, 4)


@pytest.mark.parametrize("shape", [(1, 7, 100), (1, 100, 9), (100,)])
def test_yolo_output_that_does_not_fit_the_labels_is_a_model_error(shape: tuple[int, ...]) -> None:
    with pytest.raises(ModelError, match=r"labels|shape"):
        yolo_rows(np.zeros(shape, np.float32), 80)


@pytest.mark.parametrize(
    ("boxes", "scores", "classes", "iou", "kept"),
    [
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.9, 0.8], [0, 0], 0.5, [0]),  # same class, IoU 0.68
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.8, 0.9], [0, 0], 0.5, [1]),  # best score wins
        ([[0, 0, 10, 10], [1, 1, 11, 11]], [0.9, 0.8], [0, 1], 0.5, [0, 1]),  # different classes never compete
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], [0, 0], 0.5, [0, 1]),  # IoU 0.33 < 0.5
        ([[0, 0, 10, 10], [5, 0, 15, 10]], [0.9, 0.8], [0, 0], 0.3, [0]),  # IoU 0.33 > 0.3
        ([[0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 9, 9]], [0.5, 0.7, 0.6], [0, 0, 0], 0.5, [1, 2]),  # order by score
    ],
)
def test_nms(boxes, scores, classes, iou, kept) -> None:
    keep = nms(np.array(boxes, np.float32), np.array(scores, np.float32), iou, np.array(classes, np.int32))
    assert keep.tolist() == kept


def test_nms_of_nothing_is_empty() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).size == 0


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0]], np.float32)
    np.testing.assert_allclose(box_iou(a, b)[0], [1.0, 1 / 3, 0.0, 0.0], atol=1e-6)


@pytest.mark.parametrize(
    ("arr", "quant", "expected"),
    [
        (np.array([0, 128, 255], np.uint8), (0.5, 128), [-64.0, 0.0, 63.5]),
        (np.array([-128, 0, 127], np.int8), (0.1, -28), [-10.0, 2.8, 15.5]),
        (np.array([0.25, 0.5], np.float32), (0.0, 0), [0.25, 0.5]),
        (np.array([3, 4], np.uint8), None, [3.0, 4.0]),
    ],
)
def test_dequantize(arr, quant, expected) -> None:
    np.testing.assert_allclose(dequantize(arr, quant), expected, atol=1e-5)


def ssd_outputs(count: int = 3) -> tuple[list[np.ndarray], list[str]]:
    boxes = np.zeros((1, 10, 4), np.float32)
    boxes[0, :3] = [[0.1, 0.2, 0.5, 0.6], [0.0, 0.0, 1.0, 0.5], [0.3, 0.3, 0.4, 0.4]]  # ymin, xmin, ymax, xmax
    classes = np.zeros((1, 10), np.float32)
    classes[0, :3] = [16, 0, 2]
    scores = np.zeros((1, 10), np.float32)
    scores[0, :3] = [0.6, 0.9, 0.3]
    names = [f"TFLite_Detection_PostProcess{s}" for s in ("", ":1", ":2", ":3")]
    return [boxes, classes, scores, np.array([count], np.float32)], names


@pytest.mark.parametrize("order", [[0, 1, 2, 3], [2, 0, 3, 1], [3, 2, 1, 0]])
@pytest.mark.parametrize("with_names", [True, False])
def test_decode_ssd_postprocess_whatever_the_output_order(order: list[int], with_names: bool) -> None:
    outputs, names = ssd_outputs()
    out = decode_ssd_postprocess([outputs[i] for i in order], 0.4, [names[i] for i in order] if with_names else None)
    assert out.class_ids.tolist() == [0, 16]
    np.testing.assert_allclose(out.scores, [0.9, 0.6])
    np.testing.assert_allclose(out.boxes, [[0.0, 0.0, 0.5, 1.0], [0.2, 0.1, 0.6, 0.5]])  # x1, y1, x2, y2


def test_decode_ssd_postprocess_respects_count() -> None:
    outputs, names = ssd_outputs(count=1)
    assert decode_ssd_postprocess(outputs, 0.1, names).class_ids.tolist() == [16]


def test_decode_ssd_postprocess_rejects_other_outputs() -> None:
    with pytest.raises(ModelError, match="4 output tensors"):
        decode_ssd_postprocess([np.zeros((1, 10, 4))], 0.5)


@pytest.mark.parametrize(
    ("shapes", "declared", "expected"),
    [
        ([(1, 20, 4), (1, 20), (1, 20), (1,)], None, "ssd_postprocess"),
        ([(1, 20), (1, 20, 4), (1,), (1, 20)], "ssd_postprocess", "ssd_postprocess"),
        ([(1, 84, 8400)], None, "yolov8"),
        ([(1, 84, 8400)], "yolo", "yolov8"),
        ([(1, 25200, 85)], None, "yolov5"),
        ([(1, 25200, 85)], "yolov5", "yolov5"),
    ],
)
def test_resolve_output_format(shapes, declared, expected) -> None:
    assert resolve_output_format(shapes, 80, declared) == expected


@pytest.mark.parametrize(
    ("shapes", "declared", "message"),
    [
        ([(1, 84, 8400)], "ssd_postprocess", "not TFLite_Detection_PostProcess"),
        ([(1, 20, 4), (1, 20), (1, 20), (1,)], "yolov8", "one YOLO tensor"),
        ([(1, 84, 8400)], "yolov5", "does not fit 80 classes"),
        ([(1, 10), (1, 10)], None, "neither"),
        ([(1, 84, 8400)], "centernet", "unknown output format"),
    ],
)
def test_resolve_output_format_errors(shapes, declared, message) -> None:
    with pytest.raises(ModelError, match=message):
        resolve_output_format(shapes, 80, declared)
