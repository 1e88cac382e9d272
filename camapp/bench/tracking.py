"""Tracking half of `make bench`: how many person events the pipeline makes per distinct person, and, when the
MOTChallenge ground truth of the clip is present, MOTA / IDF1 / identity switches (py-motmetrics) for our tracks
beside a plain reference IoU tracker run on exactly the same detections (recorded during the same pipeline run).
Scores cover the frames the detector analysed (with detect.fps, not every frame), as MOTChallenge rows are only
written for objects matched to a detection in that frame; like `replay --mot` (and SORT-style trackers) ours reports
confirmed tracks only, each from its first detection.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from camapp.geometry import Box, box_iou
from camapp.replaylog import ConfirmedTracks
from camapp.sinks import ResultSink
from camapp.types import FrameResult

Rows = dict[int, list[tuple[int, Box]]]  # frame number (from 1) -> [(id, box)]
MATCH_IOU = 0.5  # the MOTChallenge convention for a box to count as the same object
LATE_S = 0.5  # issue 14's target for first detection -> `new` (p95): confirmations slower than this are listed


@dataclass(frozen=True)
class Confirmation:
    """A track's first person `new`, in video time: how long after its first detection (the event's start_time),
    and the scores the track had by then (what the median rule read)."""

    track_id: int
    delay_s: float
    scores: tuple[float, ...]


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted values."""
    return values[min(len(values) - 1, max(0, int(-(-q * len(values) // 1)) - 1))]


@dataclass
class TrackLog(ResultSink):
    """Records, per frame, the person detections the tracker was given and the confirmed person tracks it reported."""

    label: str = "person"
    detections: dict[int, list[tuple[Box, float]]] = field(default_factory=dict)
    tracks: Rows = field(default_factory=dict)
    event_tracks: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    confirmed: ConfirmedTracks = field(default_factory=lambda: ConfirmedTracks(every_frame=False))
    confirmations: list[Confirmation] = field(default_factory=list)

    def handle(self, result: FrameResult) -> None:
        n = result.frame.index + 1
        for ev in result.events:
            if ev.label == self.label:
                self.event_tracks[ev.id].add(ev.track_id)
                if ev.current_track_id is not None:
                    self.event_tracks[ev.id].add(ev.current_track_id)
                if ev.type == "new":
                    self._confirmed(ev.track_id, result.frame.timestamp - ev.start_time, result)
        # Scored on slot looks only: with detect.fps the other frames have no detections to match, and a verification
        # look searched only around newcomers.
        if not result.detector_ran or result.verification:
            return
        dets = result.detections
        self.detections[n] = [(_box(dets.boxes[i]), float(dets.scores[i]))
                              for i in range(len(dets)) if dets.labels[i] == self.label]
        self.tracks.setdefault(n, [])
        for m, obj in self.confirmed.feed(result):
            if obj.label == self.label:
                self.tracks.setdefault(m, []).append((obj.track_id, obj.box))

    def _confirmed(self, track_id: int, delay_s: float, result: FrameResult) -> None:
        """A track's second `new` (its first event was taken over) announces nobody new, as in the live bench."""
        if any(c.track_id == track_id for c in self.confirmations):
            return
        scores = next((tuple(o.scores) for o in result.objects if o.track_id == track_id), ())
        self.confirmations.append(Confirmation(track_id, delay_s, scores))

    def close(self) -> None:
        pass


def _box(row: Any) -> Box:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


def reference_tracks(detections: dict[int, list[tuple[Box, float]]], sigma_iou: float = 0.3,
                     max_gap: int = 10) -> Rows:
    """A plain IoU tracker (Bochinski et al. 2017): each detection joins the track whose last box it overlaps most
    (greedy, >= sigma_iou), tracks survive max_gap frames unmatched, no motion model, no confirmation."""
    last: dict[int, tuple[Box, int]] = {}
    next_id, out = 1, {}
    for n in sorted(detections):
        boxes = [b for b, _ in detections[n]]
        ranked = sorted(((box_iou(tb, b), t, d) for t, (tb, _) in last.items() for d, b in enumerate(boxes)),
                        reverse=True)
        used_t: set[int] = set()
        rows: dict[int, int] = {}
        for iou, t, d in ranked:
            if iou >= sigma_iou and t not in used_t and d not in rows:
                used_t.add(t)
                rows[d] = t
        for d, b in enumerate(boxes):
            if d not in rows:
                rows[d], next_id = next_id, next_id + 1
            last[rows[d]] = (b, n)
        last = {t: v for t, v in last.items() if n - v[1] <= max_gap}
        out[n] = [(rows[d], boxes[d]) for d in range(len(boxes))]
    return out


def load_ground_truth(path: Path) -> Rows:
    """MOTChallenge gt lines `frame,id,x,y,w,h,...` as x1, y1, x2, y2 boxes per frame."""
    gt: Rows = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.strip().split(",")
        if len(parts) < 6:
            continue
        n, i = int(float(parts[0])), int(float(parts[1]))
        x, y, w, h = (float(v) for v in parts[2:6])
        gt[n].append((i, (x, y, x + w, y + h)))
    return dict(gt)


def _iou_distances(objs: Sequence[Box], hyps: Sequence[Box]) -> np.ndarray:
    """1 - IoU, NaN where the overlap is too small to be a match (what motmetrics expects)."""
    d = np.full((len(objs), len(hyps)), np.nan)
    for i, a in enumerate(objs):
        for j, b in enumerate(hyps):
            iou = box_iou(a, b)
            if iou >= MATCH_IOU:
                d[i, j] = 1.0 - iou
    return d


def mot_scores(gt: Rows, hyp: Rows, frames: Iterable[int]) -> dict[str, float]:
    """MOTA, IDF1, identity switches and friends from py-motmetrics (our own IoU matrix: its own needs numpy 1)."""
    import motmetrics as mm

    acc = mm.MOTAccumulator(auto_id=True)
    for n in frames:
        g, h = gt.get(n, []), hyp.get(n, [])
        acc.update([i for i, _ in g], [i for i, _ in h], _iou_distances([b for _, b in g], [b for _, b in h]))
    names = ["mota", "idf1", "num_switches", "mostly_tracked", "num_unique_objects", "precision", "recall"]
    summary = mm.metrics.create().compute(acc, metrics=names, name="run")
    return {k: float(summary[k].iloc[0]) for k in names}


def _votes(track_ids: set[int], tracks: Rows, gt: Rows) -> dict[int, Counter[int | None]]:
    """Per track: in how many frames its box matches each ground-truth person (None: nobody)."""
    votes: dict[int, Counter[int | None]] = {t: Counter() for t in track_ids}
    for n, rows in tracks.items():
        for tid, box in rows:
            if tid in track_ids:
                best = max(gt.get(n, []), key=lambda g: box_iou(g[1], box), default=None)
                votes[tid][best[0] if best is not None and box_iou(best[1], box) >= MATCH_IOU else None] += 1
    return votes


def _majority_person(track_ids: set[int], tracks: Rows, gt: Rows) -> int | None:
    """The ground-truth person these tracks overlap in most frames (None if never)."""
    votes: Counter[int | None] = sum(_votes(track_ids, tracks, gt).values(), Counter())
    del votes[None]
    return votes.most_common(1)[0][0] if votes else None


def explain_events(log: TrackLog, gt: Rows) -> list[str]:
    """One line per person event: the person it is scored to, then each track that carried it with the frames it
    matched each ground-truth person (`-`: nobody) - to see whose frames an event collected, and who has none. A
    track's frames count for every event it carried (as in event_coverage)."""
    lines = []
    for event_id, track_ids in sorted(log.event_tracks.items()):
        person = _majority_person(track_ids, log.tracks, gt)
        parts = [
            f"track {tid} " + " ".join(f"{'-' if p is None else p}:{k}" for p, k in votes.most_common())
            for tid, votes in sorted(_votes(track_ids, log.tracks, gt).items())
        ]
        lines.append(f"  {event_id}  person {'-' if person is None else person:>2}  " + "; ".join(parts))
    return lines


def event_coverage(log: TrackLog, gt: Rows) -> tuple[int, set[int], int]:
    """(person events, ground-truth people with an event of their own, events matching nobody)."""
    people: set[int] = set()
    stray = 0
    for tracks in log.event_tracks.values():
        person = _majority_person(tracks, log.tracks, gt)
        if person is None:
            stray += 1
        else:
            people.add(person)
    return len(log.event_tracks), people, stray


def report_confirmations(log: TrackLog, per_event: bool) -> None:
    """First detection -> `new` in video time: the confirmation part of the live latency (which adds the pipeline,
    the MQTT queue and the broker, some 30 ms), without waiting for the clip in real time; with `per_event` the
    late ones with the scores the median rule read."""
    delays = sorted(c.delay_s for c in log.confirmations)
    if not delays:
        print("  first detection -> `new`   no person `new`")
        return
    late = [c for c in log.confirmations if c.delay_s > LATE_S]
    print(f"  first detection -> `new`   p50 {percentile(delays, 0.5):.2f} s, p95 {percentile(delays, 0.95):.2f} s, "
          f"max {delays[-1]:.2f} s over {len(delays)} tracks' first `new` (video time); {len(late)} over {LATE_S:g} s")
    if per_event:
        for c in sorted(late, key=lambda c: c.delay_s):
            print(f"    track {c.track_id}: {c.delay_s:.2f} s, scores " + " ".join(f"{s:.2f}" for s in c.scores))


def report(log: TrackLog, gt_path: Path | None, people: int = 19, per_event: bool = False) -> None:
    """Print the tracking figures: events per person and confirmation delays always, MOT scores when the ground
    truth is readable, and with `per_event` whose frames each event collected and which confirmations were late."""
    print("\ntracking (vtest.avi, default config)")
    if gt_path is None or not gt_path.is_file():
        events = len(log.event_tracks)
        print(f"  person events              {events} for {people} people ({events / people:.2f} per person)")
        report_confirmations(log, per_event)
        print(f"  ground truth not found at {gt_path}: MOTA/IDF1 skipped (make bench MOT_GT=path)")
        return
    gt = load_ground_truth(gt_path)
    n_people = len({i for rows in gt.values() for i, _ in rows})
    events, covered, stray = event_coverage(log, gt)
    print(f"  person events              {events} for {n_people} people ({events / n_people:.2f} per person), "
          f"{len(covered)}/{n_people} people have an event, {stray} events match nobody")
    report_confirmations(log, per_event)
    if per_event:
        missing = sorted({i for rows in gt.values() for i, _ in rows} - covered)
        print(f"  per event (frames of its tracks on each person); no event of their own: {missing or 'nobody'}")
        print("\n".join(explain_events(log, gt)))
    frames = sorted(log.tracks)  # the frames the detector analysed
    print(f"  scored on the {len(frames)} analysed frames (detect.fps), people of the whole clip")
    ref = reference_tracks(log.detections)
    print(f"  {'':26} {'MOTA':>6} {'IDF1':>6} {'ID sw':>6} {'MT':>4} {'prec':>6} {'recall':>6}")
    for name, rows in (("camapp tracker", log.tracks), ("reference IoU tracker", ref)):
        s = mot_scores(gt, rows, frames)
        print(f"  {name:<26} {s['mota']:6.3f} {s['idf1']:6.3f} {s['num_switches']:6.0f} {s['mostly_tracked']:4.0f} "
              f"{s['precision']:6.3f} {s['recall']:6.3f}")


def report_idle_people(log: TrackLog, gt_path: Path | None, offset: int, frames: int) -> None:
    """People of the clip's first `frames` frames (played from frame `offset` on) who got a person event."""
    if gt_path is None or not gt_path.is_file():
        print(f"  person events              {len(log.event_tracks)} (no ground truth to check who was missed)")
        return
    gt = {n + offset: rows for n, rows in load_ground_truth(gt_path).items() if n <= frames}
    present = {i for rows in gt.values() for i, _ in rows}
    events, covered, _ = event_coverage(log, gt)
    missed = sorted(present - covered)
    print(f"  person events              {events} for {len(present)} people in view; "
          f"missed: {', '.join(map(str, missed)) or 'nobody'}")
