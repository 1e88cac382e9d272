"""FallbackDetector: a switched-in model that fails at runtime hands over to the previous one, for good."""

from __future__ import annotations

from pathlib import Path

import cv2
from skimage import data

from camapp.detect.fallback import FallbackDetector
from camapp.detect.manifest import load_manifest
from camapp.detect.tflite import TFLiteDetector


def test_a_failing_new_model_rolls_back_to_the_previous(model_manifest: Path) -> None:
    manifest = load_manifest(model_manifest)
    broken, previous = TFLiteDetector(manifest), TFLiteDetector(manifest)
    broken.close()  # a real detector that now fails on every call
    image = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    with FallbackDetector(broken, previous) as detector:
        first = detector.detect(image)
        assert "person" in first.labels  # answered by the previous model, not lost
        assert detector.rolled_back and detector.active is previous
        assert list(detector.labels) == list(previous.labels)
        assert "person" in detector.detect(image).labels


def test_a_working_new_model_is_used(model_manifest: Path) -> None:
    manifest = load_manifest(model_manifest)
    new, previous = TFLiteDetector(manifest), TFLiteDetector(manifest)
    image = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    with FallbackDetector(new, previous) as detector:
        assert "cat" in detector.detect(image).labels
        assert detector.rolled_back is None and detector.active is new
        assert detector.last_timings_ms["invoke"] > 0
