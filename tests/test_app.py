"""End to end: the real Appliance (real model, real vtest.avi in real time, real store) driven through real Chromium.

`camapp run` with a bad config is covered by tests/test_cli.py (test_run_refuses_a_bad_config).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import ROOT
from polling import wait_for
from store_helpers import served_clip
from test_web_support import SETUP_CODE

from camapp.app import Appliance
from camapp.commands import SetDetection, SwitchModel
from camapp.config import AppConfig, parse_config
from camapp.demo import demo_config
from camapp.sinks import ResultSink
from camapp.store import StoreReader, verify_log
from camapp.types import FrameResult
from camapp.web import setupcode

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts" / "app"
PASSWORD = "end to end pass 1"



def app_config(data_dir: Path) -> AppConfig:
    """The built-in demo (vtest.avi looped in real time, the default model) with its data under `data_dir`.

    Listens on 127.0.0.1 and port 0 (any free port; Appliance.web_port tells which). The config schema only
    accepts ports from 1, so the web section is replaced after validation.
    """
    cfg = demo_config(data_dir=data_dir)
    return cfg.model_copy(update={"web": cfg.web.model_copy(update={"host": "127.0.0.1", "port": 0})})


def decode_jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, f"not a JPEG ({len(data)} bytes starting {data[:8]!r})"
    return img




def ours(before: set[threading.Thread]) -> list[str]:
    """Threads started since `before`, except Playwright's asyncio executor threads."""
    return [t.name for t in threading.enumerate() if t not in before and not t.name.startswith("asyncio_")]


@pytest.fixture
def running(tmp_path: Path, demo_video: Path, model_manifest: Path) -> Iterator[tuple[Appliance, str]]:
    """The appliance running in a background thread, as `camapp demo` runs it; stopped and checked afterwards."""
    before = set(threading.enumerate())
    cfg = app_config(tmp_path / "data")
    assert cfg.camera.path == demo_video and cfg.camera.realtime and cfg.camera.loop
    setupcode.store_code(tmp_path / "data", SETUP_CODE, chosen=True)  # as camapp.conf's setup_code does
    app = Appliance(cfg)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["code"] = app.run_forever()
        except BaseException as err:  # reported by the test, not lost in the thread
            outcome["error"] = err

    thread = threading.Thread(target=run, name="test-appliance")
    thread.start()
    try:
        port = wait_for("the web server", lambda: outcome.get("error") or getattr(app, "web_port", None), 20)
        assert not isinstance(port, BaseException), f"run_forever failed: {port!r}"
        yield app, f"https://127.0.0.1:{port}"  # HTTPS by default, with the self-signed certificate
    finally:
        app.stop_event.set()
        thread.join(timeout=30)
        app.close()
    assert not thread.is_alive(), "run_forever did not return after stop_event was set"
    assert outcome == {"code": 0}
    result = verify_log(tmp_path / "data")
    assert result.ok, result.message
    # Stopping ends every event and cuts its clip from the recording; the clips hold real frames of the street
    events = StoreReader(tmp_path / "data").list_events(limit=1000)
    assert events and all(e["end_time"] is not None for e in events)
    assert all(e["has_clip"] for e in events), [e["id"] for e in events if not e["has_clip"]]
    clip = served_clip(StoreReader(tmp_path / "data"), events[-1]["id"])  # remuxed from the segments it holds
    assert clip is not None
    cap = cv2.VideoCapture(str(clip))
    ok, image = cap.read()
    cap.release()
    assert ok and image.shape == (576, 768, 3)
    deadline = time.monotonic() + 10
    while (leftover := ours(before)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert leftover == [], f"threads still running after close(): {leftover}"


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def person_event(page: Any, base: str) -> dict[str, Any] | None:
    """The first person event whose snapshot has been written, if any yet."""
    events = page.request.get(f"{base}/api/events?label=person").json()["events"]
    return next((e for e in events if e["has_snapshot"]), None)


def test_real_appliance_end_to_end(browser: Any, running: tuple[Appliance, str]) -> None:
    app, base = running
    # bypass_csp: wait_for_function evaluates in the page, which the UI's CSP refuses (see test_web_browser.CSP_NOTE)
    page = browser.new_page(viewport={"width": 1280, "height": 900}, ignore_https_errors=True, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # First start: plain http:// lands on HTTPS, where the only way in is creating the admin account with the code
    page.goto(base.replace("https://", "http://") + "/")
    assert page.url == base + "/setup"
    page.fill("input[name=setup_code]", SETUP_CODE)
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.fill("input[name=password2]", PASSWORD)
    shot(page, "00-setup")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")

    # Log out and in again with the new account
    page.click("text=Log out")
    page.wait_for_url(base + "/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")

    # Live: the MJPEG stream shows the camera and keeps changing
    page.wait_for_function("document.getElementById('stream').naturalWidth > 0", timeout=20_000)
    stream = page.locator("#stream")
    first = stream.screenshot()
    wait_for("a new frame in the live stream", lambda: stream.screenshot() != first, 10, every=0.3)
    shot(page, "01-live")

    # Arm through the UI; the API reports it
    page.click("text=Arm away")
    page.wait_for_function("document.getElementById('mode').textContent.includes('away')")
    state = page.request.get(base + "/api/status").json()["state"]
    assert state["mode"] == "away" and state["armed"] is True and app.state.mode == "away"

    # The current frame as a JPEG, at the stream's width
    snap = page.request.get(base + "/api/snapshot.jpg")
    assert snap.ok and snap.headers["content-type"] == "image/jpeg"
    assert decode_jpeg(snap.body()).shape[1] == min(768, app.cfg.web.stream_width)  # never upscaled

    # The real model sees the pedestrians: a person event with its snapshot appears
    event = wait_for("a person event from the model", lambda: person_event(page, base), 40, every=0.5)
    assert event["label"] == "person" and event["camera"] == "demo" and 0 < event["top_score"] <= 1

    # Its page draws the path over the snapshot; the snapshot is a real picture of the street
    page.goto(f"{base}/events/{event['id']}")
    page.wait_for_function("document.getElementById('evimg').naturalWidth > 0")
    picture = decode_jpeg(page.request.get(f"{base}/api/events/{event['id']}/snapshot").body())
    assert picture.shape == (576, 768, 3) and float(picture.std()) > 20  # a scene, not a blank frame
    detail = page.request.get(f"{base}/api/events/{event['id']}").json()
    assert (detail["frame_width"], detail["frame_height"]) == (768, 576) and detail["path"]
    if len(detail["path"]) >= 2:
        page.wait_for_function("document.querySelectorAll('#pathsvg polyline').length == 1")
    shot(page, "02-event")

    page.goto(base + "/events")
    assert page.locator(".tile").count() >= 1
    shot(page, "03-events")
    assert errors == []


@pytest.fixture
def configured(tmp_path: Path, model_manifest: Path) -> Iterator[tuple[Appliance, Path]]:
    """A real appliance built from a config file it may rewrite."""
    import yaml

    from camapp.config import load_config
    from camapp.web.configio import config_dict

    path = tmp_path / "camapp.yaml"
    path.write_text(yaml.safe_dump(config_dict(app_config(tmp_path / "data"))))
    app = Appliance(load_config(path), path)
    yield app, path
    app.close()


def test_switched_model_survives_a_restart(configured: tuple[Appliance, Path], tmp_path: Path) -> None:
    import shutil

    from skimage.data import astronaut

    from camapp.config import load_config
    from camapp.detect.fallback import FallbackDetector

    app, path = configured
    models = tmp_path / "upload"
    models.mkdir()
    model = shutil.copy(ROOT / "models" / "mobilenet_ssd_v2_coco_quant_postprocess.tflite", models / "model.tflite")
    labels = shutil.copy(ROOT / "models" / "coco_labels.txt", models / "labels.txt")
    app.control.execute(SwitchModel(Path(model), Path(labels)))
    assert isinstance(app.live.detector, FallbackDetector)
    saved = load_config(path)  # the file now names the new model...
    manifest = saved.model.manifest  # type: ignore[union-attr]
    assert manifest.parent == tmp_path / "data" / "models" and manifest.name.startswith("manifest-")
    app.close()
    restarted = Appliance(saved, path)  # ...and a restart loads it, checksums verified
    try:
        image = cv2.cvtColor(astronaut(), cv2.COLOR_RGB2BGR)
        assert "person" in restarted.live.detector.detect(image).labels
    finally:
        restarted.close()


def test_a_model_that_does_not_load_is_refused_and_nothing_changes(configured: tuple[Appliance, Path],
                                                                    tmp_path: Path) -> None:
    from camapp.errors import ModelError

    app, path = configured
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"TFL3" + b"\x00" * 64)
    before, text = app.live.detector, path.read_text()
    with pytest.raises(ModelError):
        app.control.execute(SwitchModel(bad, ROOT / "models" / "coco_labels.txt"))
    assert app.live.detector is before and path.read_text() == text


def test_a_bad_config_applies_nothing_and_saves_nothing(configured: tuple[Appliance, Path], tmp_path: Path) -> None:
    """A manifest that does not load must not be written: the next start would fail."""
    from camapp.errors import CamappError
    from camapp.web.configio import apply, config_dict

    app, path = configured
    text, cfg, detector = path.read_text(), app.cfg, app.live.detector
    data = config_dict(cfg)
    data["model"]["manifest"] = str(tmp_path / "missing.yaml")
    with pytest.raises(CamappError, match=r"missing\.yaml"):
        apply(app.web_context(), data)
    assert path.read_text() == text and app.cfg is cfg and app.live.detector is detector


@pytest.mark.parametrize(
    ("section", "value", "restart", "rebuilt"),
    [
        ("motion", {"threshold": 40}, [], True),
        ("zones", [{"name": "gate", "polygon": [[0, 0], [100, 0], [100, 100]]}], [], True),
        ("camera", {"fps": 5.0}, ["camera"], False),
        ("rules", {"arming": "away"}, [], False),
    ],
)
def test_apply_config_live_or_restart(configured: tuple[Appliance, Path], section: str, value: Any,
                                      restart: list[str], rebuilt: bool) -> None:
    from camapp.web.configio import apply, config_dict

    app, path = configured
    from camapp.types import Frame

    frame = np.zeros((576, 768, 3), np.uint8)
    first = app.live.pipelines.for_frame(Frame(frame, 0.0, 0))
    data = config_dict(app.cfg)
    data[section] = {**data[section], **value} if isinstance(value, dict) else value
    _, needs = apply(app.web_context(), data)
    assert needs == restart
    assert (app.live.pipelines.for_frame(Frame(frame, 0.1, 1)) is not first) is rebuilt
    assert section in path.read_text()
    if section == "rules":
        assert app.state.mode == "away"  # arming applies live


def test_a_second_instance_on_the_same_data_dir_is_refused(configured: tuple[Appliance, Path]) -> None:
    """It would close the running instance's open events and interleave writes to its store."""
    from camapp.errors import StorageError

    app, _ = configured
    with pytest.raises(StorageError, match=r"in use by another camapp \(pid \d+\)"):
        Appliance(app.cfg)
    app.close()
    Appliance(app.cfg).close()  # free again once the first one has stopped


def test_a_failed_start_releases_the_data_dir(tmp_path: Path, model_manifest: Path) -> None:
    from camapp.config import parse_config
    from camapp.errors import CamappError

    cfg = parse_config({"storage": {"path": str(tmp_path / "data")}, "mqtt": {"host": "127.0.0.1",
                        "tls": {"ca": str(tmp_path / "no-such-ca.pem")}}})
    with pytest.raises(CamappError, match=r"mqtt\.tls\.ca"):
        Appliance(cfg)
    Appliance(cfg.model_copy(update={"mqtt": cfg.mqtt.model_copy(update={"host": None})})).close()


def test_appliances_that_write_nothing_can_share_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              model_manifest: Path) -> None:
    from camapp.config import parse_config

    monkeypatch.setenv("CAMAPP_DATA", str(tmp_path))
    cfg = parse_config({})  # no storage, no MQTT: e.g. two `camapp replay` runs comparing configs
    first = Appliance(cfg)
    Appliance(cfg).close()
    first.close()


@pytest.mark.parametrize("detection", [True, False])
def test_the_detection_switch_reaches_the_pipeline(tmp_path: Path, demo_video: Path, model_manifest: Path,
                                                   detection: bool) -> None:
    """The appliance's detection switch (web UI, /api, MQTT set/detection) decides whether its pipeline calls the
    detector: off, a replay with people walking makes zero detector calls and no events."""
    clip = tmp_path / "clip.avi"
    cap = cv2.VideoCapture(str(demo_video))
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(30):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    cfg = parse_config({"camera": {"source": "file", "path": str(clip), "loop": False, "realtime": False}})
    with Appliance(cfg) as app:
        app.control.execute(SetDetection(detection, source="test"))
        seen: list[FrameResult] = []

        class Collect(ResultSink):
            def handle(self, result: FrameResult) -> None:
                seen.append(result)

            def close(self) -> None:
                pass

        app.replay([Collect()])
    calls = app.stats.as_dict()["detector_calls"]
    assert (calls > 0) is detection and len(seen) >= 30
    assert all(r.detection_enabled is detection for r in seen[:30])
    assert any(r.events for r in seen) is detection
