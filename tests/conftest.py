"""Shared fixtures: the real model, the real demo media, and `need()` for optional real parts."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from camapp.assets import MEDIA_DIR, MODELS_DIR

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, what: str, install: str) -> None:
    """Skip (or, under CI=true, fail) a test whose real part is missing, saying what to install."""
    if ok:
        return
    msg = f"{what} is not available; install it with: {install}"
    if IN_CI:
        pytest.fail(f"CI=true and {msg}")
    pytest.skip(msg)


def need_executable(name: str, install: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    need(path is not None, name, install)
    assert path is not None
    return path


@pytest.fixture(scope="session")
def model_manifest() -> Path:
    path = MODELS_DIR / "ssd_mobilenet_v2_coco_quant.yaml"
    need((MODELS_DIR / "mobilenet_ssd_v2_coco_quant_postprocess.tflite").is_file(), "the default model", "make models")
    return path


@pytest.fixture(scope="session")
def demo_video() -> Path:
    path = MEDIA_DIR / "vtest.avi"
    need(path.is_file(), "the demo video vtest.avi", "make demo-data")
    return path


@pytest.fixture(scope="session")
def media_dir() -> Path:
    need((MEDIA_DIR / "messi5.jpg").is_file(), "the demo photos", "make demo-data")
    return MEDIA_DIR
