"""The typed data that flows between pipeline stages, validated when built."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NewType, Protocol

import numpy as np
import numpy.typing as npt

from camapp.geometry import Point

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int32]
Image = npt.NDArray[np.uint8]
# JSON whose shape is not ours to know (a signed document as received, a config dump, a report from a device):
# exactly what json.loads can return, so a reader narrows with isinstance instead of trusting an Any.
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]
JsonObject = dict[str, JsonValue]

EventType = Literal["new", "update", "end"]
# The one camera a part serves (config `camera.id`, or a name under `cameras:`). Parts that assume a single camera
# (the pipeline holder, LivePipeline, FrameHub, the store's and MQTT sink's camera id) take it typed, so serving
# several cameras changes their types and wiring rather than a convention.
CameraName = NewType("CameraName", str)
ONE_CAMERA = CameraName("camera")  # camera.id's default: the name of a lone camera


@dataclass(frozen=True)
class EncodedPacket:
    """One H.264 access unit (Annex B byte stream) a camera delivered, stamped on the frames' clock.

    `decode_ts` differs from `timestamp` only for streams with B-frames (some IP cameras).
    """

    data: bytes
    timestamp: float
    keyframe: bool
    decode_ts: float | None = None

    @property
    def dts(self) -> float:
        return self.timestamp if self.decode_ts is None else self.decode_ts


class PacketFeed(Protocol):
    """A camera's own H.264 stream: the packets that arrived since the last take (oldest first)."""

    def take(self) -> list[EncodedPacket]: ...


@dataclass(frozen=True)
class Frame:
    """One captured frame: BGR uint8 image (OpenCV order), wall-clock time and sequence number.

    `lores` is an optional small grayscale image a camera may provide for motion (picamera2's lores stream).
    `packets` is set by cameras that also deliver H.264 (RTSP, picamera2's encoder), so recording stores
    their packets instead of encoding the frames again.
    """

    image: Image
    timestamp: float
    index: int
    lores: Image | None = None
    packets: PacketFeed | None = None

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"Frame.image must be HxWx3 uint8, got {self.image.shape} {self.image.dtype}")
        if self.lores is not None and (self.lores.ndim != 2 or self.lores.dtype != np.uint8):
            raise ValueError(f"Frame.lores must be HxW uint8, got {self.lores.shape} {self.lores.dtype}")

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def _as_boxes(boxes: Any) -> FloatArray:
    arr = np.asarray(boxes, dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"boxes must have shape (N, 4), got {arr.shape}")
    return arr


@dataclass(frozen=True)
class Detections:
    """N detections in pixel coordinates of the full frame: boxes are x1, y1, x2, y2."""

    boxes: FloatArray
    scores: FloatArray
    class_ids: IntArray
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", _as_boxes(self.boxes))
        object.__setattr__(self, "scores", np.asarray(self.scores, dtype=np.float32).reshape(-1))
        object.__setattr__(self, "class_ids", np.asarray(self.class_ids, dtype=np.int32).reshape(-1))
        object.__setattr__(self, "labels", tuple(self.labels))
        n = len(self.boxes)
        if not (len(self.scores) == len(self.class_ids) == len(self.labels) == n):
            raise ValueError(
                f"Detections fields disagree in length: boxes={n} scores={len(self.scores)} "
                f"class_ids={len(self.class_ids)} labels={len(self.labels)}"
            )
        if n and (np.any(self.boxes[:, 2] < self.boxes[:, 0]) or np.any(self.boxes[:, 3] < self.boxes[:, 1])):
            raise ValueError("Detections boxes must have x2 >= x1 and y2 >= y1")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), ())

    @classmethod
    def concat(cls, parts: Sequence[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.boxes for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.class_ids for p in parts]),
            tuple(label for p in parts for label in p.labels),
        )

    def __len__(self) -> int:
        return len(self.boxes)

    def select(self, keep: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Detections:
        """Subset by boolean mask or index array."""
        idx = np.arange(len(self))[keep]
        return Detections(self.boxes[idx], self.scores[idx], self.class_ids[idx], tuple(self.labels[i] for i in idx))

    @property
    def areas(self) -> FloatArray:
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])

    def to_list(self) -> list[JsonObject]:
        """JSON-ready list, as printed by `camapp detect --json`."""
        return [
            {"label": lab, "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
            for lab, s, b in zip(self.labels, self.scores, self.boxes, strict=True)
        ]


@dataclass(frozen=True)
class MotionResult:
    """Motion found in one frame: boxes (M, 4) int x1, y1, x2, y2 in full-frame pixels."""

    boxes: IntArray
    fraction: float
    suppressed: bool = False

    def __post_init__(self) -> None:
        arr = np.asarray(self.boxes, dtype=np.int32)
        object.__setattr__(self, "boxes", arr.reshape(-1, 4) if arr.size else np.zeros((0, 4), np.int32))
        if not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"MotionResult.fraction must be in [0, 1], got {self.fraction}")

    @property
    def has_motion(self) -> bool:
        return len(self.boxes) > 0


@dataclass
class TrackedObject:
    """An object followed across frames by the tracker; mutable because the tracker updates it."""

    track_id: int
    label: str
    box: tuple[float, float, float, float]
    score: float
    first_seen: float
    last_seen: float
    hits: int = 1
    misses: int = 0
    scores: list[float] = field(default_factory=list)
    stationary: bool = False
    confirmed: bool = False
    velocity: tuple[float, float] = (0.0, 0.0)  # estimated centre speed, pixels per second

    @property
    def bottom_centre(self) -> tuple[float, float]:
        x1, _, x2, y2 = self.box
        return ((x1 + x2) / 2.0, y2)


@dataclass(frozen=True)
class EventMessage:
    """A change in an event's life: `new` once confirmed, `update` on meaningful change, `end` when gone."""

    type: EventType
    id: str
    track_id: int
    label: str
    score: float
    top_score: float
    box: tuple[float, float, float, float]
    start_time: float
    end_time: float | None
    current_zones: tuple[str, ...] = ()
    entered_zones: tuple[str, ...] = ()
    camera: str = "camera"
    stationary: bool = False
    current_track_id: int | None = None  # the track carrying the event now, if not track_id (the one that started it)

    def __post_init__(self) -> None:
        if self.type not in ("new", "update", "end"):
            raise ValueError(f"EventMessage.type must be new/update/end, got {self.type!r}")
        if self.type == "end" and self.end_time is None:
            raise ValueError("an end message needs end_time")

    def to_dict(self) -> JsonObject:
        return {
            "type": self.type,
            "id": self.id,
            "track_id": self.track_id,
            "label": self.label,
            "score": round(self.score, 4),
            "top_score": round(self.top_score, 4),
            "box": [round(v, 1) for v in self.box],
            "start_time": round(self.start_time, 3),
            "end_time": None if self.end_time is None else round(self.end_time, 3),
            "current_zones": list(self.current_zones),
            "entered_zones": list(self.entered_zones),
            "zones": list(self.current_zones),
            "camera": self.camera,
            "stationary": self.stationary,
        }


@dataclass(frozen=True)
class ZoneState:
    """The zones at one frame: their outlines (for drawing) and how long each object has been in each zone."""

    polygons: tuple[tuple[str, tuple[Point, ...]], ...] = ()
    seconds: Mapping[int, Mapping[str, float]] = field(default_factory=dict)  # track id -> zone -> seconds inside

    def time_in_zone(self, track_id: int, zone: str) -> float:
        """Seconds the object has been in the zone without leaving it; 0.0 when it is not in it."""
        return self.seconds.get(track_id, {}).get(zone, 0.0)


@dataclass(frozen=True)
class FrameResult:
    """Everything the pipeline knows about one processed frame; what sinks (UI, storage, MQTT) receive."""

    frame: Frame
    motion: MotionResult
    detections: Detections
    objects: tuple[TrackedObject, ...]
    events: tuple[EventMessage, ...]
    regions: tuple[tuple[int, int, int, int], ...] = ()
    detector_ran: bool = False
    invokes: int = 0  # model invocations on this frame (a mosaic of crops is one)
    timings_ms: dict[str, float] = field(default_factory=dict)
    detection_enabled: bool = True  # the detection switch was on for this frame
    zones: ZoneState = field(default_factory=ZoneState)
    verification: bool = False  # the detector only looked around doubtful newcomers (see Pipeline), not at all motion
