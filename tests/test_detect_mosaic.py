"""Mosaics: several crops in one invoke with the real model on real photos, and boxes mapped back to the frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from camapp.detect import Mosaic
from camapp.detect.decode import Decoded, box_iou
from camapp.detect.manifest import load_manifest
from camapp.detect.mosaic import Placement, split
from camapp.detect.tflite import TFLiteDetector
from camapp.types import Detections

W, H = 1920, 1080


@pytest.fixture(scope="module")
def detector(model_manifest: Path):
    with TFLiteDetector(load_manifest(model_manifest), threads=2, min_score=0.3, edgetpu="off") as det:
        yield det


def people(dets: Detections) -> np.ndarray:
    """Person boxes, best score first."""
    idx = sorted((i for i, label in enumerate(dets.labels) if label == "person"), key=lambda i: -dets.scores[i])
    return dets.boxes[idx]


def iou(a: np.ndarray | tuple[float, ...], b: np.ndarray | tuple[float, ...]) -> float:
    return float(box_iou(np.array([a], np.float32), np.array([b], np.float32))[0, 0])


def street(media_dir: Path, at: tuple[int, int], height: int = 170) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Messi (a real photo of a person) shrunk to `height` px on a grey 1080p frame at `at`; the frame and his box."""
    photo = cv2.imread(str(media_dir / "messi5.jpg"))
    assert photo is not None
    # The photo is wider than the person: keep its centre, where he stands, as a portrait crop.
    ph, pw = photo.shape[:2]
    portrait = photo[:, pw // 2 - ph // 3 : pw // 2 + ph // 3]
    width = round(height * portrait.shape[1] / portrait.shape[0])
    frame = np.full((H, W, 3), 90, np.uint8)
    x, y = at
    frame[y : y + height, x : x + width] = cv2.resize(portrait, (width, height), interpolation=cv2.INTER_AREA)
    return frame, (x, y, x + width, y + height)


def square_around(box: tuple[int, int, int, int], side: int = 300) -> tuple[int, int, int, int]:
    cx, cy = (box[0] + box[2]) // 2, (box[1] + box[3]) // 2
    x1, y1 = min(max(cx - side // 2, 0), W - side), min(max(cy - side // 2, 0), H - side)
    return (x1, y1, x1 + side, y1 + side)


OTHER_TILES = [(0, 0, 300, 300), (1620, 0, 1920, 300), (0, 780, 300, 1080), (800, 0, 1100, 300),
               (1620, 780, 1920, 1080), (400, 780, 700, 1080), (1200, 780, 1500, 1080), (0, 400, 300, 700)]


@pytest.mark.parametrize(("grid", "cell"), [(2, 0), (2, 1), (2, 3), (3, 4), (3, 8)])
def test_a_person_in_any_tile_is_found_at_the_right_place(
    detector: TFLiteDetector, media_dir: Path, grid: int, cell: int
) -> None:
    frame, placed = street(media_dir, (900, 480), height=170 if grid == 2 else 220)
    region = square_around(placed)
    single = people(detector.detect(frame, [region]))
    assert len(single) >= 1, "the crop alone finds him (the reference for the mosaic)"
    others = OTHER_TILES[: grid * grid - 1]
    tiles = (*others[:cell], region, *others[cell:])
    dets = detector.detect(frame, [Mosaic(tiles, grid)])
    assert detector.last_invocations == 1
    found = people(dets)
    assert len(found) >= 1
    assert iou(found[0], placed) >= 0.5, f"box {found[0]} should be where he stands, {placed}"
    assert iou(found[0], single[0]) >= 0.6
    x1, y1, x2, y2 = region  # nothing of him lands in another tile's part of the frame
    assert np.all(found[:, :2] >= (x1, y1)) and np.all(found[:, 2:] <= (x2, y2)), found


def test_a_mosaic_and_a_crop_in_one_call(detector: TFLiteDetector, media_dir: Path) -> None:
    frame, placed = street(media_dir, (300, 200))
    frame[700:870, 1500:1560] = frame[200:370, 300:360]  # a second, partial figure far away
    region = square_around(placed)
    dets = detector.detect(frame, [Mosaic((region, (1380, 600, 1680, 900)), 2), (0, 780, 300, 1080)])
    assert detector.last_invocations == 2
    assert any(iou(b, placed) >= 0.5 for b in people(dets))


def test_a_box_drawn_across_two_cells_is_cut_to_the_cell_of_its_centre() -> None:
    # Model-normalised boxes on a 300x300 input with a 2x2 grid (cells 150 px): one inside the top-left cell,
    # one straddling the top cells with its centre in the top-right one.
    decoded = Decoded(np.array([[0.1, 0.1, 0.3, 0.4], [0.4, 0.1, 0.8, 0.4]], np.float32),
                      np.array([0.9, 0.8], np.float32), np.array([0, 0], np.int32))
    cells = [(0.0, 0.0, 150.0, 150.0), (150.0, 0.0, 300.0, 150.0)]
    placements = [Placement((0, 0, 300, 300), 0.5, 0.5, c[0], c[1], c) for c in cells]
    parts = split(decoded, placements, (300, 300))
    assert [len(d) for d, _ in parts] == [1, 1]
    np.testing.assert_allclose(parts[0][0].boxes[0], [0.1, 0.1, 0.3, 0.4], atol=1e-6)
    np.testing.assert_allclose(parts[1][0].boxes[0], [0.5, 0.1, 0.8, 0.4], atol=1e-6)  # left edge cut at the cell


@pytest.mark.parametrize(
    ("tiles", "grid", "message"),
    [((), 2, "holds 1 to 4 tiles"), (((0, 0, 9, 9),) * 5, 2, "holds 1 to 4 tiles"), (((0, 0, 9, 9),), 4, "grid")],
)
def test_a_mosaic_must_fit_its_grid(tiles: tuple, grid: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Mosaic(tiles, grid)
