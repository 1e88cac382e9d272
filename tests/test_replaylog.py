"""What `replay --mot` reports: confirmed tracks only, each from its first detected frame to its last, on every frame
of its life (or, detected-only, the frames it was detected in)."""

from __future__ import annotations

import numpy as np
import pytest

from camapp.replaylog import ConfirmedTracks, mot_row
from camapp.types import Detections, Frame, FrameResult, MotionResult, TrackedObject

IMAGE = np.zeros((48, 64, 3), np.uint8)


def result(i: int, *objects: tuple[int, bool, bool], analysed: bool = True) -> FrameResult:
    """Frame i (timestamp i) with objects (track id, confirmed, detected in this frame)."""
    objs = tuple(
        TrackedObject(t, "person", (10.0 * t, 5.0, 10.0 * t + 8, 30.0), 0.8, 0.0, float(i if seen else i - 1),
                      misses=0 if seen else 1, confirmed=confirmed)
        for t, confirmed, seen in objects
    )
    return FrameResult(Frame(IMAGE, float(i), i), MotionResult(np.zeros((0, 4)), 0.0), Detections.empty(), objs, (),
                       detector_ran=analysed)


@pytest.mark.parametrize(
    ("frames", "rows"),
    [
        # tentative in frames 0 and 1, confirmed in 2: its earlier rows come out with its confirmation
        ([[(1, False, True)], [(1, False, True)], [(1, True, True)]], [[], [], [(1, 1), (2, 1), (3, 1)]]),
        # a blip never confirmed, then gone: never reported
        ([[(1, False, True)], [(1, False, True)], []], [[], [], []]),
        # confirmed, then carried unseen: only the frames it was detected in
        ([[(1, True, True)], [(1, True, False)], [(1, True, True)]], [[(1, 1)], [], [(3, 1)]]),
        # a tentative track dropped by the tracker: its held rows go with it (ids are never reused; forced here)
        ([[(2, False, True)], [(1, True, True)], [(1, True, True), (2, True, True)]],
         [[], [(2, 1)], [(3, 1), (3, 2)]]),
    ],
    ids=["confirmed-later", "never-confirmed", "unseen-frames-skipped", "dropped-tentative-forgotten"],
)
def test_confirmed_tracks_hold_rows_until_confirmation(
    frames: list[list[tuple[int, bool, bool]]], rows: list[list[tuple[int, int]]]
) -> None:
    tracks = ConfirmedTracks(every_frame=False)
    got = [[(n, obj.track_id) for n, obj in tracks.feed(result(i, *objs))] for i, objs in enumerate(frames)]
    assert got == rows


@pytest.mark.parametrize(
    ("frames", "rows"),
    [
        # detected in 0, predicted in 1 and 2 (no look), detected in 3: the estimates come out with the detection
        ([[(1, True, True)], [(1, True, False)], [(1, True, False)], [(1, True, True)]],
         [[(1, 1)], [], [], [(2, 1), (3, 1), (4, 1)]]),
        # predicted after its last detection, then dropped: the trailing estimates are never reported
        ([[(1, True, True)], [(1, True, False)], [(1, True, False)], []], [[(1, 1)], [], [], []]),
        # tentative, carried unseen, then confirmed: its whole life comes out at once
        ([[(1, False, True)], [(1, False, False)], [(1, True, True)]], [[], [], [(1, 1), (2, 1), (3, 1)]]),
        # a track carried before it was ever detected (cannot happen live) has no rows before its first detection
        ([[(1, True, False)], [(1, True, True)]], [[], [(2, 1)]]),
    ],
    ids=["gap-filled", "trailing-dropped", "tentative-gap", "no-rows-before-first-detection"],
)
def test_every_frame_of_a_tracks_life(
    frames: list[list[tuple[int, bool, bool]]], rows: list[list[tuple[int, int]]]
) -> None:
    tracks = ConfirmedTracks()
    got = []
    for i, objs in enumerate(frames):
        analysed = any(seen for _, _, seen in objs) or not objs
        got.append([(n, obj.track_id) for n, obj in tracks.feed(result(i, *objs, analysed=analysed))])
    assert got == rows


def test_mot_row_is_motchallenge_format() -> None:
    obj = TrackedObject(7, "person", (10.0, 20.0, 50.0, 120.0), 0.8125, 0.0, 0.0)
    assert mot_row(3, obj) == "3,7,10.0,20.0,40.0,100.0,0.812,-1,-1,-1"
