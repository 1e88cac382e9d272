"""Health that reflects health (drill 6 of issue 13): /healthz of the real appliance goes 503 with a reason within
5 s of its camera going silent and 200 again when frames return; the pipeline and store checks; the watchdog.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import loopback_http, need, user_namespaces_work

from camapp.app import Appliance
from camapp.config import parse_config
from camapp.health import PipelineStats
from camapp.healthcheck import HealthMonitor, data_dir_problem
from camapp.runner import PipelineHolder, Runner
from camapp.web.system import status


class MJPEGCamera:
    """An IP camera streaming MJPEG at ~10 fps while `live` is set; cleared, it keeps the connection open and
    sends nothing (a stalled camera, the hardest case: the reader blocks instead of failing)."""

    def __init__(self) -> None:
        self.live = threading.Event()
        self.live.set()
        self.closing = threading.Event()
        self.url = ""
        _, jpg = cv2.imencode(".jpg", np.random.default_rng(1).integers(0, 255, (240, 320, 3), dtype=np.uint8))
        self.part = jpg.tobytes()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        owner = self
        head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(self.part)}\r\n\r\n".encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                while not owner.closing.is_set():
                    if owner.live.is_set():
                        try:
                            self.wfile.write(head + owner.part + b"\r\n")
                            self.wfile.flush()
                        except OSError:
                            return
                    owner.closing.wait(0.1)

        return Handler


def healthz(base: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def until(check: Callable[[], Any], timeout: float, every: float = 0.1) -> tuple[Any, float]:
    """(first truthy check(), seconds it took); (None, timeout) when it never was."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        value = check()
        if value:
            return value, time.monotonic() - t0
        time.sleep(every)
    return None, timeout


@pytest.fixture
def camera() -> Iterator[MJPEGCamera]:
    """The camera on 127.0.0.1 (conftest.loopback_http)."""
    cam = MJPEGCamera()
    with loopback_http(cam.handler()) as base:
        cam.url = f"{base}/stream.mjpg"
        try:
            yield cam
        finally:
            cam.closing.set()  # ends the streaming handlers before the server shuts down


@pytest.fixture
def appliance(tmp_path: Path, camera: MJPEGCamera, model_manifest: Path) -> Iterator[tuple[Appliance, str]]:
    """The real appliance (real model, store and web server) on the MJPEG camera, run as `camapp run` runs it."""
    cfg = parse_config({
        "camera": {"source": "rtsp", "url": camera.url, "fps": 10, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "model": {"manifest": str(model_manifest)},
        "storage": {"path": str(tmp_path / "data")},
    })
    cfg = cfg.model_copy(update={"web": cfg.web.model_copy(update={"host": "127.0.0.1", "port": 0})})
    app = Appliance(cfg)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["code"] = app.run_forever()
        except BaseException as err:
            outcome["error"] = err

    thread = threading.Thread(target=run, name="test-appliance")
    thread.start()
    try:
        port, _ = until(lambda: outcome.get("error") or getattr(app, "web_port", None), 60)
        assert port and not isinstance(port, BaseException), f"run_forever failed: {outcome}"
        yield app, f"http://127.0.0.1:{port}"
    finally:
        app.stop_event.set()
        thread.join(timeout=30)
        app.close()
    assert outcome == {"code": 0}


@pytest.mark.fault
def test_healthz_follows_the_camera(appliance: tuple[Appliance, str], camera: MJPEGCamera) -> None:
    app, base = appliance
    ok, _ = until(lambda: healthz(base)[0] == 200 and app.stats.as_dict()["fps"] > 3, 60)
    assert ok, (healthz(base), app.stats.as_dict())

    camera.live.clear()
    stopped = time.monotonic()
    answer, took = until(lambda: (r := healthz(base))[0] == 503 and r, 10)
    assert answer, "still 200 ten seconds after the camera stopped"
    print(f"healthz 503 {took:.2f} s after the camera stopped")
    assert took < 5.0, f"503 only {took:.1f} s after the camera stopped"
    _, report = answer
    assert report["ok"] is False and report["checks"]["camera"]["ok"] is False
    assert report["checks"]["pipeline"]["ok"] and report["checks"]["store"]["ok"]
    assert report["reasons"][0].startswith("camera: no frame for ")
    # The System page (/status) shows the same verdict and reasons
    assert status(app.web_context())["checks"]["reasons"][0].startswith("camera: no frame for ")
    # The camera is down, not the pipeline: systemd's watchdog keeps being fed (the source reconnects by itself)
    assert app.health.watchdog_ok()
    # The status fps does not stay frozen at its last value
    fps_zero, _ = until(lambda: app.stats.as_dict()["fps"] == 0.0, 10 - (time.monotonic() - stopped))
    assert fps_zero, app.stats.as_dict()

    camera.live.set()
    back, took = until(lambda: healthz(base)[0] == 200, 30)
    assert back, healthz(base)
    print(f"healthz 200 again {took:.2f} s after the camera came back")
    assert healthz(base)[1]["reasons"] == []


def _runner(factory: Callable[[int, int], Any], stats: PipelineStats, video: Path) -> Runner:
    from camapp.capture.file import FileSource

    source = FileSource(video, loop=True, realtime=True)
    return Runner(source, PipelineHolder(factory), [], stats)


def test_a_dead_pipeline_fails_health_and_starves_the_watchdog(demo_video: Path) -> None:
    def broken_stage(width: int, height: int) -> Any:
        raise RuntimeError("a bug in a stage")

    stats = PipelineStats()
    monitor = HealthMonitor(stats, camera_fps=10.0)
    assert not monitor.watchdog_ok() and "pipeline: not started" in monitor.report()["reasons"]
    runner = _runner(broken_stage, stats, demo_video)
    monitor.watch_pipeline(runner.problem)
    with runner:
        runner.wait(10)
        report = monitor.report()
    assert report["checks"]["pipeline"]["reason"].startswith("thread camapp-pipeline stopped: RuntimeError: a bug")
    assert not monitor.watchdog_ok()


def test_a_stuck_pipeline_is_reported(demo_video: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import camapp.runner

    monkeypatch.setattr(camapp.runner, "STUCK_S", 0.5)
    release = threading.Event()

    def hanging_stage(width: int, height: int) -> Any:
        release.wait(10)  # a stage that never returns (a hung driver call)
        raise RuntimeError("released")

    stats = PipelineStats()
    monitor = HealthMonitor(stats, camera_fps=10.0)
    runner = _runner(hanging_stage, stats, demo_video)
    monitor.watch_pipeline(runner.problem)
    with runner:
        stuck, _ = until(lambda: monitor.report()["checks"]["pipeline"]["reason"], 5)
        assert stuck and stuck.startswith("stuck for ")
        assert not monitor.watchdog_ok()
        assert monitor.report()["checks"]["camera"]["ok"]  # the camera still delivers
        release.set()


def test_store_problems_fail_health_but_only_a_dead_writer_starves_the_watchdog(tmp_path: Path) -> None:
    stats = PipelineStats()
    stats.record_capture()
    problem: list[tuple[str, bool] | None] = [None]
    monitor = HealthMonitor(stats, camera_fps=10.0, data_dir=tmp_path, store_problem=lambda: problem[0])
    monitor.watch_pipeline(lambda: None)
    assert monitor.report()["ok"] and monitor.watchdog_ok()
    problem[0] = ("writes failing for 12 s (database or disk is full); retrying", False)
    assert monitor.report()["reasons"] == ["store: writes failing for 12 s (database or disk is full); retrying"]
    assert monitor.watchdog_ok()  # a restart does not make room
    problem[0] = ("event store writer thread stopped", True)
    assert not monitor.watchdog_ok()


def test_data_dir_problem(tmp_path: Path) -> None:
    assert data_dir_problem(tmp_path) is None
    assert "No such file" in (data_dir_problem(tmp_path / "gone") or "")


def test_a_read_only_data_dir_fails_the_store_check(tmp_path: Path) -> None:
    """A real read-only file system (an SD card the kernel remounted read-only after errors), mounted in an
    unprivileged user + mount namespace."""
    need(user_namespaces_work(), "unprivileged user namespaces (unshare --user --map-root-user --mount)",
         "util-linux, and sysctl kernel.unprivileged_userns_clone=1 (or run as root)")
    code = ("import sys; from pathlib import Path; from camapp.healthcheck import data_dir_problem; "
            "print(data_dir_problem(Path(sys.argv[1])))")
    script = 'mount -t tmpfs -o ro,size=1m tmpfs "$1" && exec "$2" -c "$3" "$1"'
    proc = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh",
                           str(tmp_path), sys.executable, code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == f"{tmp_path} is on a read-only file system", proc.stderr


def test_stale_threshold_follows_the_frame_rate() -> None:
    assert HealthMonitor(PipelineStats(), camera_fps=30.0).stale_after_s == 2.0
    assert HealthMonitor(PipelineStats(), camera_fps=0.5).stale_after_s == 6.0
