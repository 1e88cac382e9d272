"""The live bench's pure parts: which `new` messages count for latency, and waits that end when a process dies."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from camapp.bench.live import _latencies, _wait_port, free_port


def new(track: int, start: float, label: str = "person") -> dict[str, object]:
    return {"type": "new", "track_id": track, "start_time": start, "label": label}


@pytest.mark.parametrize(
    ("bodies", "arrived", "want"),
    [
        # each person's first `new` counts from its start_time (its first detection)
        ([new(1, 10.0), new(2, 11.0)], [10.4, 11.2], {"events": 2, "again": 0, "max": pytest.approx(0.4)}),
        # track 1's second `new` (its first event was taken over) announces nobody new: counted apart
        ([new(1, 10.0), new(1, 30.0)], [10.4, 30.1], {"events": 1, "again": 1, "max": pytest.approx(0.4)}),
        # other labels are not person events
        ([new(1, 10.0, "car"), new(2, 11.0)], [19.0, 11.5], {"events": 1, "again": 0, "max": pytest.approx(0.5)}),
        ([], [], {"events": 0, "again": 0}),
    ],
    ids=["first-new-per-track", "second-new-of-a-track-apart", "persons-only", "none"],
)
def test_latency_counts_each_tracks_first_new(
    bodies: list[dict[str, object]], arrived: list[float], want: dict[str, object]
) -> None:
    got = _latencies(bodies, arrived)
    assert {k: got[k] for k in want} == want


def test_waiting_for_a_port_ends_when_the_process_dies() -> None:
    proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="broker exited with code 3"):
        _wait_port(free_port(), 30.0, proc, "broker")
    assert time.monotonic() - t0 < 15.0  # long before the 30 s timeout
