"""Shared fixtures: the real model, the real demo media, gpiozero's MockFactory, and `need()` for optional real
parts."""

from __future__ import annotations

import contextlib
import http.server
import importlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

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


@contextlib.contextmanager
def loopback_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (a free port) running `handler`; yields its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def user_namespaces_work() -> bool:
    """Can this user mount a tmpfs in an unprivileged user + mount namespace (for disk drills without root)?"""
    unshare = shutil.which("unshare")
    if unshare is None:
        return False
    probe = [unshare, "--user", "--map-root-user", "--mount", "sh", "-c",
             "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs \"$d\" && umount \"$d\" && rmdir \"$d\""]
    return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0


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


CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach the internet, which this sandbox refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


@pytest.fixture
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    need(CHROMIUM.exists(), "Debian chromium", "apt-get install -y chromium")
    try:
        from playwright import sync_api
    except ImportError:
        need(False, "playwright", "pip install playwright (in .venv: make setup)")
        raise
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def factory() -> Iterator[Any]:
    """gpiozero's own MockFactory (PWM-capable pins) as the default pin factory: anything built without an explicit
    factory lands here, never on real pins."""
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory, MockPWMPin

    f = MockFactory(pin_class=MockPWMPin)
    Device.pin_factory = f
    yield f
    f.reset()
    Device.pin_factory = None


@pytest.fixture
def fakes() -> Iterator[ModuleType]:
    """tests/fake_parts.py registered for one test (a countdown camera, a detector seeing a person in the middle,
    a sink keeping what it sees, an alarm output recording what it is told), its records empty."""
    module = importlib.import_module("fake_parts")
    module.SEEN.clear()
    module.DETECT_CALLS.clear()
    module.LATCHED.clear()
    try:
        yield module
    finally:
        module.unregister()
        sys.modules.pop("fake_parts", None)
