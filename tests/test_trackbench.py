"""The tracking bench's scoring of events against ground truth (synthetic tracks and ground truth, no video)."""

from __future__ import annotations

from camapp.trackbench import Rows, TrackLog, event_coverage, explain_events

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
