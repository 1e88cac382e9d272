"""The tracking bench's scoring of events against ground truth (synthetic tracks and ground truth, no video)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from camapp.bench.tracking import Rows, TrackLog, event_coverage, explain_events, report
from camapp.types import Detections, EventMessage, Frame, FrameResult, MotionResult, TrackedObject

A = (100.0, 100.0, 130.0, 180.0)
B = (300.0, 100.0, 330.0, 180.0)


def test_an_event_is_scored_to_the_person_its_tracks_cover_most_and_explained_per_track() -> None:
    """Event e1's tracks spend 3 frames on person 7 and 1 on person 8: it is person 7's; e2 sits on nobody."""
    gt: Rows = {n: [(7, A), (8, B)] for n in range(1, 5)}
    log = TrackLog()
    log.tracks = {1: [(1, A)], 2: [(1, A)], 3: [(2, A)], 4: [(2, B), (3, (600.0, 0.0, 620.0, 40.0))]}
    log.event_tracks.update({"e1": {1, 2}, "e2": {3}})
    events, people, stray = event_coverage(log, gt)
    assert (events, people, stray) == (2, {7}, 1)
    assert explain_events(log, gt) == [
        "  e1  person  7  track 1 7:2; track 2 7:1 8:1",
        "  e2  person  -  track 3 -:1",
    ]


def news(t: float, *messages: tuple[int, str, float], scores: tuple[float, ...] = (0.7, 0.7, 0.7)) -> FrameResult:
    """A frame at time t carrying `new` messages (track, label, start_time); each track is present with `scores`."""
    events = tuple(EventMessage("new", f"e{track}-{start}", track, label, 0.7, 0.7, A, start, None)
                   for track, label, start in messages)
    objects = tuple(TrackedObject(track, label, A, 0.7, start, t, scores=list(scores))
                    for track, label, start in messages)
    return FrameResult(Frame(np.zeros((8, 8, 3), np.uint8), t, round(t * 10)),
                       MotionResult(np.zeros((0, 4), np.int32), 0.0), Detections.empty(), objects, events)


def test_each_tracks_first_person_new_is_timed_from_its_first_detection(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Track 1 is confirmed 0.4 s after its first detection, track 2 after 1.2 s; track 1's second `new` (its first
    event was taken over) and a car's do not count, as in the live bench."""
    log = TrackLog()
    log.handle(news(10.4, (1, "person", 10.0), (3, "car", 9.0)))
    log.handle(news(21.2, (2, "person", 20.0), scores=(0.84, 0.58, 0.58, 0.79)))
    log.handle(news(30.0, (1, "person", 29.8)))
    assert [(c.track_id, round(c.delay_s, 3)) for c in log.confirmations] == [(1, 0.4), (2, 1.2)]
    report(log, tmp_path / "no-gt.txt", per_event=True)
    out = capsys.readouterr().out
    assert "first detection -> `new`   p50 0.40 s, p95 1.20 s, max 1.20 s over 2 tracks' first `new`" in out
    assert "1 over 0.5 s" in out
    assert "track 2: 1.20 s, scores 0.84 0.58 0.58 0.79" in out
    assert "track 1:" not in out
