"""Config for the core pipeline: motion gate, detector, object filters, tracker and events (camera: camera.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from camapp.config.base import MAX_POLYGONS, Polygon, Section, at_most, refuse_moved
from camapp.geometry import polygon_problem
from camapp.registry import Registry

if TYPE_CHECKING:
    from camapp.detect import Detector


class MotionConfig(Section):
    """The motion gate that decides when and where the detector runs."""

    enabled: bool = Field(True, description="false runs the detector on every frame (slow; for testing).")
    frame_height: int = Field(120, ge=50, le=720, description="Height the frame is downscaled to for motion.")
    threshold: int = Field(30, ge=1, le=255, description="Luma difference from background that counts as change.")
    contour_area: int = Field(10, ge=1, le=10000, description="Smallest motion blob, in downscaled pixels.")
    frame_alpha: float = Field(0.01, gt=0, le=1, description="How fast the background adapts to the scene.")
    improve_contrast: bool = Field(True, description="Normalise contrast so dim scenes still show motion.")
    lightning_threshold: float = Field(
        0.8, gt=0, le=1, description="Fraction of the frame changing at once that is treated as a light/IR switch."
    )
    mask: Annotated[list[Polygon], at_most(MAX_POLYGONS)] = Field(
        default_factory=list, max_length=MAX_POLYGONS, description="Polygons (frame pixels) ignored by motion."
    )
    recheck_s: float = Field(
        5.0, ge=0, le=600, description="Re-run the detector on tracked objects this often without motion (0: never)."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: object) -> object:
        return refuse_moved(data, {"max_regions": "detect.max_invokes (model invocations per analysed frame)"})

    @model_validator(mode="after")
    def _masks_are_polygons(self) -> MotionConfig:
        for i, poly in enumerate(self.mask):
            problem = polygon_problem(poly)
            if problem:
                raise ValueError(f"mask[{i}]: {problem}")
        return self


class DetectConfig(Section):
    """How often and how the detector looks: its rate apart from the camera's, and its cost per analysed frame."""

    fps: float = Field(
        5.0, ge=0, le=120, description="Most frames per second the detector analyses (by frame time; 0: every "
        "frame). Motion runs on every frame and the tracker carries objects in between; 5 suits a Raspberry Pi 4 CPU.",
    )
    max_invokes: int = Field(
        2, ge=1, le=16, description="Most model invocations per analysed frame; the planner covers motion and "
        "tracked objects with as few as it can (crops, a mosaic of small crops in one input, or the whole frame).",
    )
    mosaic: bool = Field(
        True, description="Pack several small crops into one model input (a 2x2 or 3x3 grid) when that keeps "
        "objects large enough; false plans only single crops and whole frames.",
    )
    min_object_px: int = Field(
        30, ge=1, le=1000, description="Height at model resolution (model pixels) a moving object should keep: the "
        "planner takes the cheapest plan (one crop, the whole frame, a mosaic, more crops) that achieves it for "
        "every moving box, else the sharpest plan within max_invokes. 30 suits a 300 px SSD model, which finds "
        "people much less surely below a tenth of its input.",
    )
    verify: bool = Field(
        True, description="Between two detection slots, take one extra look (one invoke, as sharp as it gets) "
        "around newcomers whose scores do not yet qualify for an event, for at most their first second: people "
        "walking in half-visible are announced sooner. Costs up to one invoke per slot while such newcomers exist; "
        "no effect when fps is 0.",
    )


DetectorBuilder = Callable[["ModelConfig"], "Detector"]  # a backend's builder: its `model` section -> a Detector
DETECTORS: Registry[DetectorBuilder] = Registry("detector backend", "type", default_key="tflite")


class ModelConfig(Section):
    """Which detector runs and how; `type` picks the backend, and with it the other keys this section takes."""

    type: str = Field(description="Detector backend.")

    @model_validator(mode="before")
    @classmethod
    def _moved_fields(cls, data: object) -> object:
        return refuse_moved(data, {"whole_frame_min_px": "detect.min_object_px (the planner's target height in "
                                   "model pixels)"})

    min_score: float = Field(0.4, ge=0, le=1, description="Detections below this score are dropped at the detector.")
    region_size: int = Field(
        0, ge=0, le=1920, description="Side of the square crop sent to the model around motion; 0 = automatic."
    )
    merge_iou: float = Field(
        0.5, gt=0, le=1, description="Overlap above which same-label boxes from overlapping regions are merged."
    )
    crop_min_px: int = Field(
        32, ge=0, le=1000,
        description="Moving boxes shorter than this (frame pixels) are too small for the model even in a 1:1 crop, "
        "so the planner does not spend invokes to keep them sharp (see detect.min_object_px).",
    )

    def describe(self) -> str:
        """What this section loads, in a few words, for the UI and the bench (a backend overrides it)."""
        return self.type


@DETECTORS.add_config
class TFLiteModelConfig(ModelConfig):
    """A TensorFlow Lite model described by a manifest (optionally on a Coral EdgeTPU)."""

    type: Literal["tflite"] = Field("tflite", description="TensorFlow Lite (LiteRT) interpreter.")
    manifest: Path = Field(
        Path("models/ssd_mobilenet_v2_coco_quant.yaml"), description="Model manifest (YAML) in models/."
    )
    threads: int = Field(2, ge=1, le=16, description="Interpreter CPU threads.")
    edgetpu: Literal["auto", "on", "off"] = Field(
        "auto", description="Coral EdgeTPU delegate: auto uses it when libedgetpu is present."
    )

    def describe(self) -> str:
        return f"{self.manifest}, {self.threads} threads"


class LabelFilter(Section):
    """Per-label filters applied before tracking."""

    min_score: float = Field(0.5, ge=0, le=1, description="Drop a detection below this score.")
    threshold: float = Field(0.65, ge=0, le=1, description="Median recent score needed to confirm an event.")
    min_area: int = Field(0, ge=0, description="Drop a box smaller than this many pixels.")
    max_area: int = Field(100_000_000, ge=1, description="Drop a box larger than this many pixels.")
    mask: Annotated[list[Polygon], at_most(MAX_POLYGONS)] = Field(
        default_factory=list,
        max_length=MAX_POLYGONS,
        description="Polygons (frame pixels) where this label is ignored, by bottom-centre.",
    )

    @model_validator(mode="after")
    def _area_order(self) -> LabelFilter:
        if self.max_area < self.min_area:
            raise ValueError("max_area must be >= min_area")
        for i, poly in enumerate(self.mask):
            problem = polygon_problem(poly)
            if problem:
                raise ValueError(f"mask[{i}]: {problem}")
        return self


MAX_LABELS = 100  # COCO has 80, the larger label sets of common detectors up to 91


class ObjectsConfig(Section):
    """Which labels to track and their filters."""

    track: list[str] = Field(
        default_factory=lambda: ["person", "car"], min_length=1, max_length=MAX_LABELS, description="Labels to track."
    )
    filters: Annotated[dict[str, LabelFilter], at_most(MAX_LABELS)] = Field(
        default_factory=dict, max_length=MAX_LABELS, description="Per-label filters; others use default."
    )
    default: LabelFilter = Field(default_factory=LabelFilter, description="Filter for labels without their own.")

    @model_validator(mode="after")
    def _labels_consistent(self) -> ObjectsConfig:
        if any(not label.strip() for label in self.track):
            raise ValueError("track labels must not be empty")
        if len(set(self.track)) != len(self.track):
            raise ValueError(f"track lists a label twice: {self.track}")
        stray = sorted(set(self.filters) - set(self.track))
        if stray:
            raise ValueError(f"filters given for labels not in track: {', '.join(stray)} (add them to track)")
        return self

    def filter_for(self, label: str) -> LabelFilter:
        return self.filters.get(label, self.default)


class TrackerConfig(Section):
    """How detections become objects with stable ids."""

    iou_threshold: float = Field(0.2, gt=0, le=1, description="Minimum overlap to match a detection to an object.")
    max_distance: float = Field(
        0.15, gt=0, le=1, description="Max centre distance from where an object was expected, as a fraction of frame "
        "width, for a centroid match (fast small objects whose boxes no longer overlap)."
    )
    min_hits: int = Field(3, ge=1, le=100, description="Frames seen before an object can be confirmed.")
    fast_confirm_hits: int = Field(
        2, ge=1, le=100, description="Frames enough to confirm an object when every one of its scores reaches "
        "fast_confirm_score (strong evidence need not wait for min_hits)."
    )
    fast_confirm_score: float = Field(
        0.9, ge=0, le=1, description="Score at which fast_confirm_hits frames confirm an object (1: never early)."
    )
    max_missed_s: float = Field(
        2.0, gt=0, le=600, description="Seconds unseen before a moving object the detector looked for is dropped."
    )
    max_unobserved_s: float = Field(
        60.0, gt=0, le=86400, description="Seconds a parked object, or one the detector has not looked for since it "
        "was last seen (no motion there), is kept unseen before it is dropped."
    )
    stationary_s: float = Field(10.0, gt=0, le=86400, description="Seconds nearly still before an object is parked.")
    stationary_iou: float = Field(
        0.6, gt=0, le=1, description="Overlap with its parked box that counts as still (detector boxes of a person "
        "standing still wobble by a few pixels, a fifth of a 30 px wide box)."
    )

    @model_validator(mode="after")
    def _keep_order(self) -> TrackerConfig:
        if self.max_unobserved_s < self.max_missed_s:
            raise ValueError("max_unobserved_s must be >= max_missed_s")
        return self


class EventsConfig(Section):
    """Event lifecycle."""

    end_after_s: float = Field(5.0, gt=0, le=3600, description="Seconds an object must be gone before `end`.")
    score_window: int = Field(
        5, ge=1, le=30, description="Recent scores whose median must reach the label's threshold for `new`."
    )
    update_score_delta: float = Field(0.05, ge=0, le=1, description="Score improvement that triggers an `update`.")
    update_interval_s: float = Field(0, ge=0, le=3600, description="Also update at this period (0: only on change).")
    max_duration_s: float = Field(
        0, ge=0, le=86400, description="End an event after this long even if still present (0: never)."
    )
    reattach_iou: float = Field(
        0.5, ge=0, le=1, description="Overlap with a vanished object's last box at which a new object of the same "
        "label continues its event instead of starting another (0: never)."
    )
    reattach_distance: float = Field(
        1.0, ge=0, le=10, description="How near, in box heights, a new object of the same label must be to where a "
        "vanished object was heading (its last box moved on at its last speed) to continue its event; the allowance "
        "grows by half per second of gap (0: never)."
    )
