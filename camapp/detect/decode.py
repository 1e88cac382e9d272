"""Pure decoders from raw model outputs to boxes, plus class-aware NMS; numpy only, no runtime needed.

Every decoder returns boxes as x1, y1, x2, y2 NORMALISED to the model input (0..1 of its width and height),
so the caller maps them to frame pixels whatever resize (stretch or letterbox) it used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from camapp.errors import ModelError
from camapp.types import FloatArray, IntArray

Array = npt.NDArray[Any]
YoloLayout = Literal["auto", "v5", "v8"]


@dataclass(frozen=True)
class Decoded:
    """Boxes x1, y1, x2, y2 normalised to the model input, with scores and class ids, best first."""

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls) -> Decoded:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32))


@dataclass(frozen=True)
class YoloOptions:
    """How to decode raw YOLO outputs."""

    min_score: float = 0.25
    nms_iou: float = 0.45
    max_detections: int = 100
    box_units: Literal["auto", "normalized", "pixels"] = "auto"
    layout: YoloLayout = "auto"


def dequantize(arr: Array, quantization: tuple[float, int] | None) -> FloatArray:
    """Integer tensor -> float with the tensor's (scale, zero_point); float tensors pass through."""
    if np.issubdtype(arr.dtype, np.integer) and quantization is not None and quantization[0] != 0:
        scale, zero_point = quantization
        return ((arr.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)).astype(np.float32)
    return np.asarray(arr, dtype=np.float32)


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU matrix (len(a), len(b)) of x1, y1, x2, y2 boxes."""
    ix1 = np.maximum(a[:, None, 0], b[None, :, 0])
    iy1 = np.maximum(a[:, None, 1], b[None, :, 1])
    ix2 = np.minimum(a[:, None, 2], b[None, :, 2])
    iy2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float, class_ids: IntArray | None = None) -> IntArray:
    """Greedy non-maximum suppression; indices kept, best score first. With class_ids, only same-class boxes compete."""
    if len(boxes) == 0:
        return np.zeros(0, np.int32)
    work = boxes.astype(np.float32)
    if class_ids is not None:
        # Shift each class to its own region of the plane so different classes never overlap.
        span = float(np.max(np.abs(work))) + 1.0
        work = work + (class_ids.astype(np.float32) * span * 2.0)[:, None]
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        if rest.size == 0:
            break
        ious = box_iou(work[best : best + 1], work[rest])[0]
        order = rest[ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int32)


def _split_ssd(outputs: Sequence[Array], names: Sequence[str] | None) -> tuple[Array, Array, Array, int]:
    """Find boxes, classes, scores and count among the four outputs, whatever order the converter left them in."""
    if len(outputs) != 4:
        raise ModelError(f"ssd_postprocess expects 4 output tensors, got {len(outputs)}")
    boxes = next((o for o in outputs if o.ndim == 3 and o.shape[-1] == 4), None)
    count = next((o for o in outputs if o.size == 1), None)
    if boxes is None or count is None:
        raise ModelError(f"ssd_postprocess outputs not understood: shapes {[tuple(o.shape) for o in outputs]}")
    rest = [o for o in outputs if o is not boxes and o is not count]
    by_name = dict(zip(names, outputs, strict=True)) if names is not None else {}
    classes = by_name.get("TFLite_Detection_PostProcess:1")
    scores = by_name.get("TFLite_Detection_PostProcess:2")
    if classes is None or scores is None:
        a, b = rest
        classes, scores = (b, a) if _holds_scores(a, b) else (a, b)
    return boxes, classes, scores, int(np.asarray(count).reshape(-1)[0])


def _holds_scores(a: Array, b: Array) -> bool:
    """True if `a` rather than `b` holds scores: scores have fractions, class ids do not (and are usually larger)."""
    a_frac, b_frac = bool(np.any(a != np.round(a))), bool(np.any(b != np.round(b)))
    if a_frac != b_frac:
        return a_frac
    return float(np.max(a, initial=0)) <= float(np.max(b, initial=0))


def decode_ssd_postprocess(outputs: Sequence[Array], min_score: float, names: Sequence[str] | None = None) -> Decoded:
    """Decode TFLite_Detection_PostProcess outputs (boxes ymin, xmin, ymax, xmax normalised; classes; scores; count)."""
    boxes, classes, scores, count = _split_ssd(outputs, names)
    n = max(0, min(count, boxes.shape[1]))
    b = np.asarray(boxes[0, :n], np.float32)
    s = np.asarray(scores, np.float32).reshape(-1)[:n]
    c = np.asarray(classes).reshape(-1)[:n].astype(np.int32)
    keep = s >= min_score
    xyxy = np.clip(b[keep][:, [1, 0, 3, 2]], 0.0, 1.0)
    order = np.argsort(-s[keep], kind="stable")
    return Decoded(xyxy[order], s[keep][order], c[keep][order])


def yolo_rows(output: Array, num_classes: int, layout: YoloLayout = "auto") -> tuple[Array, Literal["v5", "v8"]]:
    """Rows (N, K) of one YOLO output and its layout: v5 [1, N, 5+C] (with objectness), v8 [1, 4+C, N] (without)."""
    arr = output[0] if output.ndim == 3 and output.shape[0] == 1 else output
    if arr.ndim != 2:
        raise ModelError(f"YOLO output must be [1, N, K] or [1, K, N], got shape {tuple(output.shape)}")
    widths = {"v5": num_classes + 5, "v8": num_classes + 4}
    wanted: list[Literal["v5", "v8"]] = [layout] if layout != "auto" else ["v8", "v5"]
    for name in wanted:
        k = widths[name]
        if arr.shape[1] == k:
            return arr, name
        if arr.shape[0] == k:  # channel-first, as Ultralytics v8 exports ([4+C, N])
            return arr.T, name
    raise ModelError(
        f"YOLO output shape {tuple(output.shape)} does not fit {num_classes} classes "
        f"(expected a dimension of {widths['v5']} for v5 or {widths['v8']} for v8); check the labels file"
    )


def decode_yolo(
    output: Array,
    num_classes: int,
    input_size: tuple[int, int],
    options: YoloOptions = YoloOptions(),
    quantization: tuple[float, int] | None = None,
) -> Decoded:
    """Decode raw YOLO v5/v8 output (centre x, y, w, h + scores), dequantising and running class-aware NMS.

    input_size is (width, height) of the model input, used when the boxes are in input pixels.
    """
    rows, layout = yolo_rows(output, num_classes, options.layout)
    rows = dequantize(rows, quantization)
    # v5 scores are objectness x class probability; v8 has no objectness column.
    class_scores = rows[:, 5:] * rows[:, 4:5] if layout == "v5" else rows[:, 4:]
    class_ids = np.argmax(class_scores, axis=1).astype(np.int32)
    scores = class_scores[np.arange(len(rows)), class_ids]
    keep = scores >= options.min_score
    xywh, scores, class_ids = rows[keep, :4], scores[keep], class_ids[keep]
    if len(scores) == 0:
        return Decoded.empty()
    if options.box_units == "pixels" or (options.box_units == "auto" and float(np.max(xywh)) > 1.5):
        w, h = input_size
        xywh = (xywh / np.array([w, h, w, h], np.float32)).astype(np.float32)
    half = xywh[:, 2:] / 2.0
    boxes = np.clip(np.concatenate([xywh[:, :2] - half, xywh[:, :2] + half], axis=1), 0.0, 1.0).astype(np.float32)
    kept = nms(boxes, scores, options.nms_iou, class_ids)[: options.max_detections]
    return Decoded(boxes[kept], scores[kept].astype(np.float32), class_ids[kept])


ResolvedFormat = Literal["ssd_postprocess", "yolov5", "yolov8"]


def resolve_output_format(
    shapes: Sequence[tuple[int, ...]], num_classes: int, declared: str | None = None
) -> ResolvedFormat:
    """The concrete output format for these output tensor shapes; ModelError if they are not understood.

    `declared` is the manifest's output (ssd_postprocess, yolo, yolov5, yolov8) or None to guess.
    """
    is_ssd = (
        len(shapes) == 4
        and any(len(s) == 3 and s[-1] == 4 for s in shapes)
        and any(int(np.prod(s)) == 1 for s in shapes)
    )
    if declared == "ssd_postprocess" or (declared is None and is_ssd):
        if not is_ssd:
            raise ModelError(f"output is not TFLite_Detection_PostProcess (boxes, classes, scores, count): {shapes}")
        return "ssd_postprocess"
    if declared not in (None, "yolo", "yolov5", "yolov8"):
        raise ModelError(f"unknown output format {declared!r}; use ssd_postprocess, yolo, yolov5 or yolov8")
    if len(shapes) != 1:
        raise ModelError(
            f"outputs {list(shapes)} are neither TFLite_Detection_PostProcess (4 tensors) nor one YOLO tensor"
        )
    layout: YoloLayout = "v5" if declared == "yolov5" else "v8" if declared == "yolov8" else "auto"
    _, found = yolo_rows(np.zeros(shapes[0], np.float32), num_classes, layout)
    return "yolov5" if found == "v5" else "yolov8"
