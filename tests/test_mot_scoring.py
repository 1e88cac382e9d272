"""`replay --mot` scored as a user scores it: py-motmetrics against a MOTChallenge ground truth that has a box on every
frame. The detector analyses only some frames (detect.fps); the file must score the same whether or not the ground
truth is cut down to those frames, i.e. a track's frames in between are reported, not counted as misses.

The ground truth is exact and made here: real people cut out of a demo frame, walking straight lines over the demo's
empty street (a ground truth recorded from our own detector would favour the analysed frames, where it is the
detector's very boxes).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import need

from camapp.app import Appliance
from camapp.bench.tracking import load_ground_truth, mot_scores
from camapp.config import AppConfig, parse_config
from camapp.detect.factory import build_detector
from camapp.replaylog import MotSink
from camapp.sinks import ResultSink
from camapp.types import FrameResult

FRAMES, FPS = 150, 25  # 6 s at the rate of the file: detect.fps 5 analyses one frame in five
PATHS = [((40, 150), (650, 170)), ((680, 380), (60, 360)), ((300, 440), (420, 250))]  # top-left corner, first to last


class Analysed(ResultSink):
    """The frame numbers (from 1) the detector analysed."""

    def __init__(self) -> None:
        self.frames: set[int] = set()

    def handle(self, result: FrameResult) -> None:
        if result.detector_ran:
            self.frames.add(result.frame.index + 1)

    def close(self) -> None:
        pass


def scene(demo_video: Path) -> tuple[np.ndarray, list[np.ndarray]]:
    """An empty street (the median of frames spread over the demo, its parked cars blurred away) and three real people
    cut out of one demo frame where the detector finds them, enlarged to a size it finds reliably."""
    cap = cv2.VideoCapture(str(demo_video))
    frames = []
    for i in range(795):
        ok, img = cap.read()
        assert ok
        if i % 16 == 0:
            frames.append(img)
    cap.release()
    street = np.median(np.stack(frames), axis=0).astype(np.uint8)
    street[30:110, 630:] = cv2.blur(street[110:190, 630:], (31, 31))
    with build_detector(AppConfig().model) as detector:
        found = detector.detect(frames[10])
    people = [frames[10][int(b[1]):int(b[3]), int(b[0]):int(b[2])]
              for b, s, label in zip(found.boxes, found.scores, found.labels, strict=True)
              if label == "person" and s >= 0.75]
    assert len(people) >= 3, "the demo frame should show three people the detector is sure of"
    return street, [cv2.resize(p, None, fx=1.5, fy=1.5) for p in people[:3]]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory, demo_video: Path, model_manifest: Path) -> tuple[Path, Path]:
    """A 25 fps clip of three people walking straight across the street, and its exact ground truth."""
    street, people = scene(demo_video)
    folder = tmp_path_factory.mktemp("mot")
    video, gt = folder / "walk25.avi", folder / "gt.txt"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (768, 576))
    rows = []
    for n in range(FRAMES):
        img = street.copy()
        f = n / (FRAMES - 1)
        for k, ((x0, y0), (x1, y1)) in enumerate(PATHS):
            h, w = people[k].shape[:2]
            x, y = round(x0 + (x1 - x0) * f), round(y0 + (y1 - y0) * f)
            img[y:y + h, x:x + w] = people[k]
            rows.append(f"{n + 1},{k + 1},{x},{y},{w},{h},1,-1,-1,-1")
        writer.write(img)
    writer.release()
    gt.write_text("\n".join(rows) + "\n")
    return video, gt


def replay(clip: Path, detect: dict[str, object], sinks: list[ResultSink]) -> None:
    cfg = parse_config({"camera": {"source": "file", "path": str(clip), "loop": False, "realtime": False},
                        "detect": detect})
    with Appliance(cfg) as app:
        app.replay(sinks)


def idf1(gt_path: Path, res_path: Path, frames: Iterable[int]) -> float:
    """IDF1 by py-motmetrics over these frames only (ground truth and tracks alike), as a user scores a file."""
    return mot_scores(load_ground_truth(gt_path), load_ground_truth(res_path), frames)["idf1"]


def test_mot_output_scores_the_same_on_all_frames_and_on_analysed_frames(
    clip: tuple[Path, Path], tmp_path: Path
) -> None:
    need(importlib.util.find_spec("motmetrics") is not None, "py-motmetrics", ".venv/bin/pip install motmetrics")
    video, gt = clip
    out, detected = tmp_path / "out.txt", tmp_path / "detected.txt"
    analysed = Analysed()
    replay(video, {"fps": 5, "verify": False}, [MotSink(out), MotSink(detected, detected_only=True), analysed])
    assert 0 < len(analysed.frames) <= FRAMES // 4, "detect.fps 5 on a 25 fps file should analyse about 1 in 5"
    every = range(1, FRAMES + 1)

    full, restricted = idf1(gt, out, every), idf1(gt, out, sorted(analysed.frames))
    assert restricted > 0.5, f"tracks should match the recorded ground truth on the analysed frames ({restricted})"
    assert full == pytest.approx(restricted, abs=0.05), f"IDF1 {full:.3f} on every frame, {restricted:.3f} analysed"

    # The detected-only file is what the flag promises: as good on the analysed frames, and it would fail the above.
    assert set(load_ground_truth(detected)) <= analysed.frames
    assert idf1(gt, detected, sorted(analysed.frames)) == pytest.approx(restricted, abs=0.05)
    assert idf1(gt, detected, every) < restricted - 0.2
