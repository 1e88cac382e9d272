"""The TFLite detector: one interpreter, whole frame or motion regions, boxes back in full-frame pixels.

Preprocessing: crop -> resize to the model input -> BGR to RGB -> dtype. The resize follows the manifest:
`stretch` (plain resize, how the SSD model was trained) or `letterbox` (keep aspect, pad with grey 114, as YOLO).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from camapp.assets import resolve_path
from camapp.config.core import DETECTORS, TFLiteModelConfig
from camapp.detect import Detector, Invocation, Mosaic, Region
from camapp.detect.decode import (
    Decoded,
    YoloLayout,
    YoloOptions,
    decode_ssd_postprocess,
    decode_yolo,
    dequantize,
    nms,
    resolve_output_format,
)
from camapp.detect.manifest import ModelManifest, label_name, load_manifest
from camapp.detect.mosaic import GREY, Placement, compose, split
from camapp.detect.runtime import EdgeTPUMode, LoadedInterpreter, load_interpreter
from camapp.errors import ModelError
from camapp.types import Detections, FloatArray, Image, IntArray

Tensor = npt.NDArray[Any]
_EDGE_TOLERANCE = 0.02  # a box within 2% (at least 4 px) of a region edge inside the frame is treated as cut off
_CONTAINED = 0.6  # fraction of a cut-off box inside another region's box that makes it the same object


class TFLiteDetector(Detector):
    """SSD (TFLite_Detection_PostProcess) or YOLO v5/v8 TFLite model; the interpreter is created once and reused."""

    def __init__(
        self,
        manifest: ModelManifest,
        *,
        threads: int = 2,
        min_score: float = 0.4,
        edgetpu: EdgeTPUMode = "auto",
        merge_iou: float = 0.5,
    ) -> None:
        self.manifest = manifest
        self.min_score = min_score
        self.merge_iou = merge_iou
        self._labels = tuple(manifest.load_labels())
        edgetpu_path = manifest.edgetpu_path
        self._loaded: LoadedInterpreter | None = load_interpreter(
            manifest.model_path,
            threads,
            edgetpu,
            sha256=manifest.sha256,
            edgetpu_model=None if edgetpu_path is None else (edgetpu_path, manifest.edgetpu_sha256),
        )
        interpreter = self._loaded.interpreter
        self._input = interpreter.get_input_details()[0]
        self._outputs = interpreter.get_output_details()
        self._check_input()
        shapes = [tuple(int(v) for v in d["shape"]) for d in self._outputs]
        try:
            self.output_format = resolve_output_format(shapes, len(self._labels), manifest.output)
        except ModelError as err:
            raise ModelError(f"{manifest.file}: {err}") from None
        self.runtime = self._loaded.runtime
        self.uses_edgetpu = self._loaded.edgetpu
        self._lock = threading.Lock()
        self._timings_ms: dict[str, float] = {"pre": 0.0, "invoke": 0.0, "post": 0.0, "total": 0.0}
        self.last_invocations = 0

    @classmethod
    def from_config(cls, config: TFLiteModelConfig) -> TFLiteDetector:
        """Load the manifest named in the config (checksums verified) and build the detector."""
        return cls(
            load_manifest(resolve_path(config.manifest)),
            threads=config.threads,
            min_score=config.min_score,
            edgetpu=config.edgetpu,
            merge_iou=config.merge_iou,
        )

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def labels(self) -> Sequence[str]:
        return self._labels

    @property
    def input_size(self) -> tuple[int, int]:
        """Model input (width, height)."""
        return self.manifest.input.width, self.manifest.input.height

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return dict(self._timings_ms)

    def _check_input(self) -> None:
        spec, detail = self.manifest.input, self._input
        shape = tuple(int(v) for v in detail["shape"])
        if shape != (1, spec.height, spec.width, 3):
            raise ModelError(
                f"{self.manifest.file}: input shape is {shape}, manifest says 1x{spec.height}x{spec.width}x3"
            )
        actual = np.dtype(detail["dtype"]).name
        if actual != spec.dtype:
            raise ModelError(f"{self.manifest.file}: input dtype is {actual}, manifest says {spec.dtype}")
        if actual == "int8" and detail["quantization"][0] == 0:
            raise ModelError(f"{self.manifest.file}: int8 input has no quantisation parameters")

    # -- preprocessing -------------------------------------------------------------------------------------------

    def preprocess(self, image: Image, region: Region | None = None) -> tuple[Tensor, Placement]:
        """Crop (full-frame pixels), fit to the model input, convert BGR to the model's channel order and dtype."""
        h, w = image.shape[:2]
        x1, y1, x2, y2 = region if region is not None else (0, 0, w, h)
        crop = image[y1:y2, x1:x2]
        fitted, placement = self._fit(crop, (x1, y1, x2, y2), self.input_size)
        return self._tensor(fitted), placement

    def prepare(self, image: Image, item: Invocation) -> tuple[Tensor, list[Placement]]:
        """The input tensor for one invoke (a region, or a mosaic of regions) and where each crop went."""
        if isinstance(item, Mosaic):
            canvas, placements = compose(image, item, self.input_size, self._fit)
            return self._tensor(canvas), placements
        tensor, placement = self.preprocess(image, item)
        return tensor, [placement]

    def _tensor(self, fitted: Image) -> Tensor:
        if self.manifest.input.color == "rgb":
            fitted = np.asarray(cv2.cvtColor(fitted, cv2.COLOR_BGR2RGB), dtype=np.uint8)
        return self._to_dtype(fitted)[np.newaxis]

    def _fit(self, crop: Image, region: Region, size: tuple[int, int]) -> tuple[Image, Placement]:
        width, height = size
        ch, cw = crop.shape[:2]
        if self.manifest.input.resize == "stretch":
            sx, sy = width / cw, height / ch
            return _resize(crop, width, height), Placement(region, sx, sy, 0.0, 0.0)
        s = min(width / cw, height / ch)
        nw, nh = max(1, round(cw * s)), max(1, round(ch * s))
        px, py = (width - nw) // 2, (height - nh) // 2
        canvas = np.full((height, width, 3), GREY, np.uint8)
        canvas[py : py + nh, px : px + nw] = _resize(crop, nw, nh)
        return canvas, Placement(region, s, s, float(px), float(py))

    def _to_dtype(self, rgb: Image) -> Tensor:
        spec = self.manifest.input
        if spec.dtype == "uint8":
            return rgb
        values = (rgb.astype(np.float32) - np.float32(spec.mean)) / np.float32(spec.std)
        if spec.dtype == "float32":
            return values
        scale, zero_point = self._input["quantization"]
        quantised: Tensor = np.clip(np.round(values / scale + zero_point), -128, 127).astype(np.int8)
        return quantised

    # -- inference -----------------------------------------------------------------------------------------------

    def _invoke(self, tensor: Tensor) -> list[Tensor]:
        """Run the interpreter on one prepared input tensor; the raw outputs in output-detail order."""
        if self._loaded is None:
            raise ModelError("the detector is closed")
        interpreter = self._loaded.interpreter
        interpreter.set_tensor(self._input["index"], tensor)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in self._outputs]

    def decode(self, outputs: Sequence[Tensor]) -> Decoded:
        """Raw outputs -> boxes normalised to the model input, scores >= min_score."""
        if self.output_format == "ssd_postprocess":
            floats = [dequantize(o, d["quantization"]) for o, d in zip(outputs, self._outputs, strict=True)]
            return decode_ssd_postprocess(floats, self.min_score, [d["name"] for d in self._outputs])
        spec = self.manifest.decode
        layout: YoloLayout = "v5" if self.output_format == "yolov5" else "v8"
        options = YoloOptions(self.min_score, spec.nms_iou, spec.max_detections, spec.box_units, layout)
        return decode_yolo(outputs[0], len(self._labels), self.input_size, options, self._outputs[0]["quantization"])

    def detect(self, image: Image, regions: Sequence[Invocation] | None = None) -> Detections:
        """Detect on the whole frame (regions None) or once per item (a region or a mosaic of regions); an empty
        list detects nothing."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"detect() needs an HxWx3 uint8 BGR image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        plan = [(0, 0, w, h)] if regions is None else [r for r in (_clip_item(r, w, h) for r in regions) if r]
        timings = {"pre": 0.0, "invoke": 0.0, "post": 0.0}
        parts: list[tuple[Detections, Region]] = []
        with self._lock:
            for item in plan:
                t0 = time.perf_counter()
                tensor, placements = self.prepare(image, item)
                t1 = time.perf_counter()
                outputs = self._invoke(tensor)
                t2 = time.perf_counter()
                for decoded, placement in split(self.decode(outputs), placements, self.input_size):
                    parts.append((self._to_frame(decoded, placement, w, h), placement.region))
                t3 = time.perf_counter()
                timings["pre"] += (t1 - t0) * 1000
                timings["invoke"] += (t2 - t1) * 1000
                timings["post"] += (t3 - t2) * 1000
            t4 = time.perf_counter()
            result = self._merge(parts, w, h)
            timings["post"] += (time.perf_counter() - t4) * 1000
            self._timings_ms = {**timings, "total": sum(timings.values())}
            self.last_invocations = len(plan)
        return result

    def _to_frame(self, decoded: Decoded, placement: Placement, frame_w: int, frame_h: int) -> Detections:
        """Normalised model-input boxes -> full-frame pixels, clipped to the frame."""
        width, height = self.input_size
        p = placement
        model_px = decoded.boxes * np.array([width, height, width, height], np.float32)
        crop_px = (model_px - np.array([p.pad_x, p.pad_y, p.pad_x, p.pad_y], np.float32)) / np.array(
            [p.scale_x, p.scale_y, p.scale_x, p.scale_y], np.float32
        )
        x0, y0 = p.region[:2]
        limits = np.array([frame_w, frame_h, frame_w, frame_h], np.float32)
        boxes = np.asarray(np.clip(crop_px + np.array([x0, y0, x0, y0], np.float32), 0, limits), dtype=np.float32)
        names = tuple(label_name(self._labels, int(c)) for c in decoded.class_ids)
        return Detections(boxes, decoded.scores, decoded.class_ids, names)

    def _merge(self, parts: list[tuple[Detections, Region]], frame_w: int, frame_h: int) -> Detections:
        """One detection per object across overlapping regions: class-aware NMS, then drop boxes cut by a region
        edge that lie mostly inside another region's box of the same class."""
        if len(parts) == 1:
            return parts[0][0]
        merged = Detections.concat([d for d, _ in parts])
        if len(merged) == 0:
            return merged
        source = np.concatenate([np.full(len(d), i) for i, (d, _) in enumerate(parts)]).astype(np.int32)
        keep = nms(merged.boxes, merged.scores, self.merge_iou, merged.class_ids).astype(np.intp)
        merged, source = merged.select(keep), source[keep]
        regions = [r for _, r in parts]
        cut = np.array([_is_cut(b, regions[s], frame_w, frame_h) for b, s in zip(merged.boxes, source, strict=True)])
        drop = _absorbed(merged.boxes, merged.class_ids, source, cut)
        return merged.select(~drop)

    def close(self) -> None:
        """Release the interpreter; idempotent."""
        with self._lock:
            self._loaded = None


def _resize(crop: Image, width: int, height: int) -> Image:
    # Bilinear: INTER_AREA antialiases better but costs 10-30x more on big frames and found no more people on
    # vtest.avi (268 vs 284 person boxes at score >= 0.5 over 50 frames).
    return np.asarray(cv2.resize(crop, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.uint8)


def _clip_item(item: Invocation, frame_w: int, frame_h: int) -> Invocation | None:
    """A region or mosaic clipped to the frame; None when nothing of it is left."""
    if not isinstance(item, Mosaic):
        return _clip_region(item, frame_w, frame_h)
    tiles = tuple(r for r in (_clip_region(t, frame_w, frame_h) for t in item.tiles) if r)
    return Mosaic(tiles, item.grid) if tiles else None


def _clip_region(region: Region, frame_w: int, frame_h: int) -> Region | None:
    """Region clipped to the frame, or None if less than 2 pixels remain on a side."""
    x1, y1, x2, y2 = (int(v) for v in region)
    x1, x2 = max(0, min(x1, frame_w)), max(0, min(x2, frame_w))
    y1, y2 = max(0, min(y1, frame_h)), max(0, min(y2, frame_h))
    return (x1, y1, x2, y2) if x2 - x1 >= 2 and y2 - y1 >= 2 else None


def _is_cut(box: FloatArray, region: Region, frame_w: int, frame_h: int) -> bool:
    """True if the box touches an edge of its region that is not also the frame edge (the object continues)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    rx1, ry1, rx2, ry2 = region
    tol = max(4.0, _EDGE_TOLERANCE * max(rx2 - rx1, ry2 - ry1))
    return (
        (rx1 > 0 and x1 <= rx1 + tol)
        or (ry1 > 0 and y1 <= ry1 + tol)
        or (rx2 < frame_w and x2 >= rx2 - tol)
        or (ry2 < frame_h and y2 >= ry2 - tol)
    )


def _absorbed(boxes: FloatArray, class_ids: IntArray, source: IntArray, cut: npt.NDArray[np.bool_]) -> Any:
    """Mask of cut-off boxes mostly inside a same-class box found in a different region."""
    drop = np.zeros(len(boxes), bool)
    areas = np.maximum((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]), 1e-6)
    for i in np.flatnonzero(cut):
        others = (class_ids == class_ids[i]) & (source != source[i]) & ~drop
        others[i] = False
        if not others.any():
            continue
        ix = np.clip(np.minimum(boxes[i, 2], boxes[others, 2]) - np.maximum(boxes[i, 0], boxes[others, 0]), 0, None)
        iy = np.clip(np.minimum(boxes[i, 3], boxes[others, 3]) - np.maximum(boxes[i, 1], boxes[others, 1]), 0, None)
        drop[i] = bool(np.any(ix * iy / areas[i] >= _CONTAINED))
    return drop


@DETECTORS.register(TFLiteModelConfig)
def tflite_detector(cfg: TFLiteModelConfig) -> Detector:
    """The TFLite backend: the manifest's model, checksums verified."""
    return TFLiteDetector.from_config(cfg)
