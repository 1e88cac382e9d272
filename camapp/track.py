"""Turn per-frame detections into objects with stable ids: IoU matching on a Kalman constant-velocity prediction.

The detector only runs where there is motion (plus periodic re-checks of tracked objects), so "not detected" often
means "nobody looked". Objects therefore age by time, and an object counts as missed only when the detector looked
where it should be and did not find it; until then it is kept (up to max_unobserved_s), which is what keeps a parked
car's id stable between re-checks.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from camapp.appearance import Signature, distance, signature
from camapp.config.core import TrackerConfig
from camapp.geometry import Box, box_area, box_iou, centre, covered_fraction, in_frame
from camapp.kalman import BoxState
from camapp.types import Detections, Image, TrackedObject

SCORE_HISTORY = 30  # scores kept per object; events take the median of the most recent ones
PREDICT_HORIZON_S = 1.0  # never extrapolate a box further than this: velocity is a guess, not a law
MAX_AREA_RATIO = 4.0  # a centroid match must not change the box size by more than this factor
DUPLICATE_IOU = 0.7  # an unmatched detection this close to a matched one is the same object seen twice
LOOKED_FRACTION = 0.5  # share of an object's box inside a searched region for the search to count
GATE_CHI2 = 9.21  # 99 % of a 2-D Gaussian: how far from its prediction a centre may be and still be the object
APPEARANCE_GATE = 0.4  # colour distance beyond which a detection is not the object, however well placed
APPEARANCE_WEIGHT = 2.0  # weight of colour against geometry when ranking plausible pairs
COLOUR_RATE = 0.2  # share of a new sighting in an object's remembered colours
RECOVER_AFTER_S = 0.25  # a match after a gap this long re-estimates the speed from the two observations (OC-SORT)


class Tracker(ABC):
    """Follows objects across frames; update() on frames where the detector ran, tick() on the others."""

    @abstractmethod
    def update(
        self, detections: Detections, timestamp: float, regions: Sequence[Sequence[float]] | None = None,
        image: Image | None = None,
    ) -> list[TrackedObject]:
        """Match detections to objects; returns copies of every live object (unseen ones have misses > 0).

        `regions` are the x1, y1, x2, y2 areas the detector searched; None means the whole frame. `image` is the
        frame the detections came from, for trackers that compare appearance.
        """

    @abstractmethod
    def tick(self, timestamp: float) -> list[TrackedObject]:
        """Advance time on a frame where the detector did not run (nobody looked); returns copies of every live
        object. Objects are predicted forward, never counted as missed."""

    @abstractmethod
    def predicted_boxes(self) -> list[Box]:
        """Where each live object is expected now, clipped to the frame (for the motion gate's re-checks)."""

    @abstractmethod
    def corroborate(self, detections: Detections, timestamp: float, track_ids: set[int]) -> None:
        """Add what a verification look found (a sharp look at a few objects between detection slots) to those
        objects' score evidence, without moving them: their motion model stays at the detection rate."""


@dataclass
class _Track:
    """Tracker-private state kept next to the public TrackedObject."""

    obj: TrackedObject
    anchor: Box  # where the object was when it last started standing still
    anchor_time: float
    state: BoxState  # Kalman state at obj.last_seen
    looked_miss: bool = False  # the detector searched its place and did not find it since it was last seen
    colour: Signature | None = None  # running average of its appearance signatures

    def remember(self, colour: Signature | None) -> None:
        if colour is not None:
            self.colour = colour if self.colour is None else (1 - COLOUR_RATE) * self.colour + COLOUR_RATE * colour

    def predicted(self, timestamp: float) -> BoxState:
        """The Kalman prediction for `timestamp`; the mean stops moving after PREDICT_HORIZON_S, the doubt does not."""
        dt = max(timestamp - self.obj.last_seen, 0.0)
        moved = self.state.predict(min(dt, PREDICT_HORIZON_S))
        if dt <= PREDICT_HORIZON_S:
            return moved
        grown = self.state.predict(dt)
        return BoxState(moved.mean, grown.cov)


@dataclass
class _Seen:
    """One frame's detections as the matcher needs them, with the live objects' predictions."""

    boxes: list[Box]
    labels: Sequence[str]
    scores: list[float]
    colours: list[Signature | None]
    predicted: list[BoxState]

    @classmethod
    def of(cls, detections: Detections, image: Image | None, predicted: list[BoxState]) -> _Seen:
        boxes = [_box(row) for row in detections.boxes]
        colours = [signature(image, b) if image is not None else None for b in boxes]
        return cls(boxes, detections.labels, [float(v) for v in detections.scores], colours, predicted)

    def colour_distance(self, track: _Track, d: int) -> float:
        """How different the detection looks from the object (0 when either has no signature: no evidence)."""
        colour = self.colours[d]
        return 0.0 if colour is None or track.colour is None else distance(track.colour, colour)


def _box(row: Sequence[float]) -> Box:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


class IouTracker(Tracker):
    """Kalman-predicted boxes matched by IoU, then by distance within the prediction's uncertainty; labels never mix.

    Matching is greedy, best pair first: with the handful of objects a camera sees, it agrees with an optimal
    assignment nearly always and needs no solver. A new object is tentative until min_hits detections (fewer when
    its score is very high); a tentative object the detector looked for and did not find is dropped at once, so
    flicker never clutters the matching, while a confirmed one is carried on its prediction for max_missed_s. An
    unseen object expected beyond the frame's edge has walked out and is dropped.
    """

    def __init__(self, cfg: TrackerConfig, frame_width: int, frame_height: int) -> None:
        if frame_width <= 0 or frame_height <= 0:
            raise ValueError(f"IouTracker needs a positive frame size, got {frame_width}x{frame_height}")
        self._cfg = cfg
        self._width = frame_width
        self._height = frame_height
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._now = float("-inf")

    def update(
        self, detections: Detections, timestamp: float, regions: Sequence[Sequence[float]] | None = None,
        image: Image | None = None,
    ) -> list[TrackedObject]:
        self._now = timestamp
        seen = _Seen.of(detections, image, [track.predicted(timestamp) for track in self._tracks])
        boxes, labels, scores = seen.boxes, seen.labels, seen.scores
        pairs = self._match(seen)
        for t, d in pairs:
            self._hit(self._tracks[t], boxes[d], scores[d], timestamp)
            self._tracks[t].remember(seen.colours[d])
        matched_tracks = {t for t, _ in pairs}
        for t, track in enumerate(self._tracks):
            if t not in matched_tracks:
                self._miss(track, self._looked(track, timestamp, regions))
        fresh = [d for d in range(len(boxes)) if d not in {d for _, d in pairs}]
        for d in fresh:
            if not self._duplicate(labels[d], boxes[d], matched_tracks):
                self._start(labels[d], boxes[d], scores[d], timestamp)
                self._tracks[-1].remember(seen.colours[d])
        self._drop_stale(timestamp)
        return self._snapshot()

    def tick(self, timestamp: float) -> list[TrackedObject]:
        self._now = timestamp
        for track in self._tracks:
            self._miss(track, looked=False)
        self._drop_stale(timestamp)
        return self._snapshot(predict=True)

    def predicted_boxes(self) -> list[Box]:
        boxes = (self._clipped(track.predicted(self._now).box) for track in self._tracks)
        return [box for box in boxes if box[2] > box[0] and box[3] > box[1]]

    def corroborate(self, detections: Detections, timestamp: float, track_ids: set[int]) -> None:
        for track in self._tracks:
            obj = track.obj
            if obj.track_id not in track_ids:
                continue
            expected = track.predicted(timestamp).box
            found = [(box_iou(expected, _box(detections.boxes[d])), float(detections.scores[d]))
                     for d in range(len(detections)) if detections.labels[d] == obj.label]
            overlap, score = max(found, default=(0.0, 0.0))
            if overlap >= self._cfg.iou_threshold:
                obj.scores.append(score)
                del obj.scores[:-SCORE_HISTORY]

    def _clipped(self, box: Box) -> Box:
        x1, y1, x2, y2 = box
        return (max(0.0, x1), max(0.0, y1), min(float(self._width), x2), min(float(self._height), y2))

    # --- matching -------------------------------------------------------------------------------------------

    def _match(self, seen: _Seen) -> list[tuple[int, int]]:
        """Best pairs by IoU first; then, for what is left, nearest centres inside the prediction's uncertainty gate.
        Either way a pair whose colours plainly differ is refused, and colour breaks near-ties."""
        candidates = [
            (t, d, seen.colour_distance(track, d))
            for t, track in enumerate(self._tracks)
            for d in range(len(seen.boxes))
            if seen.labels[d] == track.obj.label
        ]
        candidates = [c for c in candidates if c[2] <= APPEARANCE_GATE]
        by_iou = [(1 - box_iou(seen.predicted[t].box, seen.boxes[d]) + APPEARANCE_WEIGHT * a, t, d)
                  for t, d, a in candidates if box_iou(seen.predicted[t].box, seen.boxes[d]) >= self._cfg.iou_threshold]
        pairs = _greedy(sorted(by_iou), set(), set())
        used_t, used_d = {t for t, _ in pairs}, {d for _, d in pairs}
        limit = self._cfg.max_distance * self._width
        near = [
            (seen.predicted[t].centre_distance2(seen.boxes[d]) / GATE_CHI2, t, d, a)
            for t, d, a in candidates
            if t not in used_t and d not in used_d and _similar_size(seen.predicted[t].box, seen.boxes[d])
            and _centre_distance(seen.predicted[t].box, seen.boxes[d]) <= limit
        ]
        # Inside the prediction's gate; or, with no rival either way (an object alone turning a corner, or seen
        # once so its speed is unknown), anywhere within max_distance: the gate is there to keep neighbours apart.
        rivals_t, rivals_d = Counter(t for _, t, _, _ in near), Counter(d for _, _, d, _ in near)
        by_distance = [
            (gate + APPEARANCE_WEIGHT * a, t, d)
            for gate, t, d, a in near
            if gate <= 1 or self._tracks[t].obj.hits == 1 or rivals_t[t] == rivals_d[d] == 1
        ]
        return pairs + _greedy(sorted(by_distance), used_t, used_d)

    def _duplicate(self, label: str, box: Box, matched_tracks: set[int]) -> bool:
        return any(
            self._tracks[t].obj.label == label and box_iou(self._tracks[t].obj.box, box) >= DUPLICATE_IOU
            for t in matched_tracks
        )

    def _looked(self, track: _Track, timestamp: float, regions: Sequence[Sequence[float]] | None) -> bool:
        if regions is None:
            return True
        box = track.predicted(timestamp).box
        return any(covered_fraction(box, region) >= LOOKED_FRACTION for region in regions)

    # --- track life -----------------------------------------------------------------------------------------

    def _start(self, label: str, box: Box, score: float, timestamp: float) -> None:
        obj = TrackedObject(
            track_id=self._next_id,
            label=label,
            box=box,
            score=score,
            first_seen=timestamp,
            last_seen=timestamp,
            scores=[score],
            confirmed=self._confirms(1, score),
        )
        self._next_id += 1
        self._tracks.append(_Track(obj=obj, anchor=box, anchor_time=timestamp, state=BoxState.start(box)))

    def _confirms(self, hits: int, score: float) -> bool:
        """Enough evidence: min_hits detections, or fewer when they are all very confident."""
        cfg = self._cfg
        return hits >= cfg.min_hits or (hits >= cfg.fast_confirm_hits and score >= cfg.fast_confirm_score)

    def _hit(self, track: _Track, box: Box, score: float, timestamp: float) -> None:
        obj = track.obj
        gap = timestamp - obj.last_seen
        state = track.predicted(timestamp).correct(box)
        if gap > 0 and (obj.hits == 1 or gap >= RECOVER_AFTER_S):
            # The second sighting measures the speed the first could only guess; and after a gap (observation-centric
            # recovery, OC-SORT) the filter's speed is stale: the observations either side say where it really went.
            (cx0, cy0), (cx1, cy1) = centre(obj.box), centre(box)
            base = BoxState.start(box) if obj.hits == 1 else state
            state = base.with_velocity((cx1 - cx0) / gap, (cy1 - cy0) / gap)
        track.state = state
        obj.box, obj.last_seen, obj.velocity, obj.misses = box, timestamp, state.velocity, 0
        track.looked_miss = False
        self._update_stationary(track, timestamp)
        obj.score = score
        obj.scores.append(score)
        del obj.scores[:-SCORE_HISTORY]
        obj.hits += 1
        recent = min(obj.scores[-obj.hits:])
        obj.confirmed = obj.confirmed or self._confirms(obj.hits, recent)

    def _update_stationary(self, track: _Track, timestamp: float) -> None:
        if box_iou(track.obj.box, track.anchor) >= self._cfg.stationary_iou:
            if timestamp - track.anchor_time >= self._cfg.stationary_s:
                track.obj.stationary = True
            return
        track.anchor, track.anchor_time = track.obj.box, timestamp
        track.obj.stationary = False

    def _miss(self, track: _Track, looked: bool) -> None:
        track.obj.misses += 1
        track.looked_miss = track.looked_miss or looked

    def _drop_stale(self, timestamp: float) -> None:
        def alive(track: _Track) -> bool:
            obj = track.obj
            if track.looked_miss and not obj.confirmed:
                return False  # a tentative object the detector looked for and did not find was a blip
            if self._walked_out(track, timestamp):
                return False
            searched_for = track.looked_miss and not obj.stationary
            limit = self._cfg.max_missed_s if searched_for else self._cfg.max_unobserved_s
            return timestamp - obj.last_seen <= limit

        self._tracks = [track for track in self._tracks if alive(track)]

    def _walked_out(self, track: _Track, timestamp: float) -> bool:
        """Unseen since, and expected beyond the frame's edge by now: it left the picture. Kept, its box would wait
        clipped at the edge and take the next person walking in there."""
        if timestamp <= track.obj.last_seen:
            return False
        return not in_frame(centre(track.predicted(timestamp).box), (self._width, self._height))

    def _snapshot(self, predict: bool = False) -> list[TrackedObject]:
        """Copies of the live objects; `predict` moves each box to where it is expected now (frames between
        detections, so the stream and zones follow a walking person instead of freezing them)."""
        return [
            dataclasses.replace(
                track.obj, scores=list(track.obj.scores), box=self._moved(track) if predict else track.obj.box
            )
            for track in self._tracks
        ]

    def _moved(self, track: _Track) -> Box:
        box = self._clipped(track.predicted(self._now).box)
        return box if box[2] > box[0] and box[3] > box[1] else track.obj.box


def _greedy(
    ranked: list[tuple[float, int, int]], used_t: set[int], used_d: set[int]
) -> list[tuple[int, int]]:
    """Take pairs best-first, each track and each detection at most once."""
    used_t, used_d = set(used_t), set(used_d)
    out = []
    for _, t, d in ranked:
        if t not in used_t and d not in used_d:
            out.append((t, d))
            used_t.add(t)
            used_d.add(d)
    return out


def _centre_distance(a: Box, b: Box) -> float:
    (ax, ay), (bx, by) = centre(a), centre(b)
    return float(((ax - bx) ** 2 + (ay - by) ** 2) ** 0.5)


def _similar_size(a: Box, b: Box) -> bool:
    area_a, area_b = box_area(a), box_area(b)
    if area_a <= 0 or area_b <= 0:
        return False
    return 1.0 / MAX_AREA_RATIO <= area_a / area_b <= MAX_AREA_RATIO
