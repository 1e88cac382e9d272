"""FrameHub: one JPEG encode per frame however many viewers; slow viewers skip frames; no viewers, no encode."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.annotate import Overlay
from camapp.stream import FrameHub
from camapp.types import Detections, Frame, FrameResult, MotionResult


def read_frames(video: Path, n: int) -> list[Frame]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    for i in range(n):
        ok, img = cap.read()
        assert ok
        frames.append(Frame(img, float(i) / 10, i))
    cap.release()
    return frames


def result(frame: Frame) -> FrameResult:
    return FrameResult(frame, MotionResult(np.zeros((0, 4)), 0.0), Detections.empty(), (), ())


@pytest.fixture
def frames(demo_video: Path) -> list[Frame]:
    return read_frames(demo_video, 5)


def test_no_viewers_no_encoding(frames: list[Frame]) -> None:
    hub = FrameHub()
    for f in frames:
        hub.publish(result(f))
    assert hub.encodes == 0 and hub.viewers == 0


def test_many_viewers_share_one_encode_per_frame(frames: list[Frame]) -> None:
    hub = FrameHub(width=320)
    hub.publish(result(frames[0]))
    outs = []
    threads = [threading.Thread(target=lambda: outs.append(hub.jpeg())) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert hub.encodes == 1
    assert len({o[1] for o in outs if o}) == 1
    img = cv2.imdecode(np.frombuffer(outs[0][1], np.uint8), cv2.IMREAD_COLOR)  # type: ignore[index]
    assert img.shape[1] == 320  # resized to the stream width
    hub.jpeg(Overlay(boxes=False))
    assert hub.encodes == 2  # another overlay is another encode, once


def test_viewer_generator_gets_latest_and_ends_on_close(frames: list[Frame]) -> None:
    hub = FrameHub(max_fps=1000)
    got: list[bytes] = []
    first = threading.Event()

    def view() -> None:
        for data in hub.frames(timeout=0.2):
            got.append(data)
            first.set()

    t = threading.Thread(target=view)
    t.start()
    hub.publish(result(frames[0]))
    assert first.wait(5)
    for f in frames[1:]:  # published faster than anyone reads: viewer skips, never blocks us
        hub.publish(result(f))
    hub.close()
    t.join(5)
    assert not t.is_alive()
    assert 1 <= len(got) <= len(frames)
    assert hub.viewers == 0


def test_encoding_is_rate_limited_across_viewers(frames: list[Frame]) -> None:
    """Viewers out of step with each other must not force an encode of every frame."""
    hub = FrameHub(max_fps=1.0)  # at most one encode a second
    seen = []
    for f in frames:  # five frames published back to back, each requested by a viewer at once
        hub.publish(result(f))
        got = hub.jpeg()
        assert got is not None
        seen.append(got[0])
    assert hub.encodes == 1
    assert seen == [1] * len(frames)  # the same (first) JPEG is served until the next encode is due
