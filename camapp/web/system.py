"""Status, the last hour of health samples for the System page charts, Prometheus text and the diagnostics zip."""

from __future__ import annotations

import io
import json
import platform
import threading
import time
import zipfile
from collections import deque
from importlib import metadata
from typing import Literal

import yaml
from typing_extensions import TypedDict  # pydantic describes only this one on Python < 3.12

from camapp.health import PipelineFigures, SystemHealth, system_health
from camapp.healthcheck import HealthReport
from camapp.redact import redact_text
from camapp.store.records import StoreUsage
from camapp.types import JsonObject
from camapp.web.configio import config_dict, redact
from camapp.web.context import Stream, WebContext


class FrameSize(TypedDict):
    width: int
    height: int


class CameraInfo(TypedDict):
    """One camera as GET /api/cameras lists it."""

    name: str  # its key under `cameras:` (with `camera:`, camera.id)
    source: str  # where its pictures come from, in the source's words (an RTSP URL's password masked)
    fps: float  # frames a second its pipeline handles now (over the last seconds; 0 when none arrive)
    configured_fps: float | None  # the rate it is configured (or its file is recorded) at
    status: Literal["ok", "starting", "stalled"]  # stalled: the health checks fail for it (see reasons)
    ok: bool
    reasons: list[str]  # why it is not ok, as /healthz says
    viewers: int  # live streams of it open now
    encodes: int  # JPEG encodes of its frames so far (one per frame shown, however many watch)
    frame: FrameSize | None  # the size of its latest frame, None before the first
    page: str  # its page in the UI
    stream: str  # its MJPEG stream
    snapshot: str  # its latest frame as JPEG


class ObjectInfo(TypedDict):
    """An object tracked in the latest frame, as /status lists it."""

    track_id: int
    label: str
    score: float
    box: list[float]
    stationary: bool


class StreamInfo(TypedDict):
    viewers: int
    encodes: int


class Status(TypedDict):
    """GET /status: what the Live and System pages show."""

    device_id: str
    time: float
    camera: str
    state: dict[str, str | bool | dict[str, bool]]
    pipeline: PipelineFigures
    stream: StreamInfo
    frame: FrameSize | None
    objects: list[ObjectInfo]
    cameras: list[CameraInfo]
    health: SystemHealth
    mqtt: JsonObject | None
    storage: StoreUsage | None
    checks: HealthReport | None


class HealthPoint(TypedDict):
    """One point of the System page's charts (GET /api/history)."""

    t: float
    fps: float
    detector_ms: float
    motion_pct: float
    load: float
    temp_c: float | None
    mem_pct: float | None


def _objects(hub: Stream) -> tuple[list[ObjectInfo], FrameSize | None]:
    latest = hub.latest()
    if latest is None:
        return [], None
    objs = [ObjectInfo(track_id=o.track_id, label=o.label, score=round(o.score, 3),
                       box=[round(v, 1) for v in o.box], stationary=o.stationary) for o in latest.objects]
    return objs, FrameSize(width=latest.frame.width, height=latest.frame.height)


Health = Literal["ok", "starting", "stalled"]


def _camera_health(name: str, report: HealthReport | None, stats: PipelineFigures) -> tuple[Health, list[str]]:
    """("ok" | "starting" | "stalled", the reasons) of one camera: the health report's verdict on it (by name with
    several cameras, the camera and pipeline checks with one); without a report, its capture status."""
    camera = stats["camera"]
    if report is None:
        reasons = [] if camera["status"] == "open" else [f"camera {camera['status']}" + (
            f": {camera['error']}" if camera["error"] else "")]
    elif "cameras" in report:
        own = report["cameras"].get(name)
        reasons = list(own["reasons"]) if own is not None else []
    else:
        reasons = [str(c["reason"]) for key, c in report["checks"].items()
                   if key in ("camera", "pipeline") and not c["ok"]]
    if not reasons:
        return "ok", []
    return ("starting" if camera["status"] == "starting" and not stats["frames"] else "stalled"), reasons


def cameras(ctx: WebContext, only: str | None = None, report: HealthReport | None = None) -> list[CameraInfo]:
    """Each camera (or `only` that one) as /api/cameras lists it: its source, measured and configured fps, ok or
    stalled with the reasons, its viewers and encodes, its frame size and where its page and stream are."""
    if report is None and ctx.health is not None:
        report = ctx.health()
    cfg = ctx.get_config()
    out = []
    for name, feed in ctx.cameras.items():
        if only is not None and name != only:
            continue
        stats = feed.stats.as_dict()
        status, reasons = _camera_health(name, report, stats)
        _, frame = _objects(feed.hub)
        own = cfg.cameras.get(name)
        out.append(CameraInfo(
            name=name, source=feed.source() or f"{(own or cfg.camera).source} camera",
            fps=stats["fps"], configured_fps=feed.fps, status=status, ok=status == "ok",
            reasons=reasons, viewers=feed.hub.viewers, encodes=feed.hub.encodes, frame=frame,
            page=f"/cameras/{name}", stream=f"/api/cameras/{name}/stream.mjpeg",
            snapshot=f"/api/cameras/{name}/snapshot.jpg",
        ))
    return out


def status(ctx: WebContext, camera: str | None = None) -> Status:
    """Everything the Live and System pages show, in one JSON document: the pipeline, stream and objects are those
    of `camera` (None: the first camera); `cameras` lists every camera with its health."""
    name = camera if camera is not None else next(iter(ctx.cameras))
    feed = ctx.cameras[name]
    objects, frame = _objects(feed.hub)
    checks = ctx.health() if ctx.health is not None else None  # what /healthz answers, with the reasons
    return Status(
        device_id=ctx.get_config().device_id,
        time=time.time(),
        camera=name,
        state=ctx.state.as_dict(),
        pipeline=feed.stats.as_dict(),
        stream=StreamInfo(viewers=feed.hub.viewers, encodes=feed.hub.encodes),
        frame=frame,
        objects=objects,
        cameras=cameras(ctx, report=checks),
        health=system_health(ctx.data_dir),
        mqtt=ctx.mqtt_status() if ctx.mqtt_status else None,
        storage=ctx.store.usage() if ctx.store is not None else None,
        checks=checks,
    )


def sample(ctx: WebContext) -> HealthPoint:
    """One point for the charts."""
    stats = ctx.stats.as_dict()
    health = system_health(ctx.data_dir)
    mem = health["memory"]
    mem_pct = 100.0 * (1 - mem["available"] / mem["total"]) if mem["total"] and mem["available"] else None
    return HealthPoint(t=round(time.time(), 1), fps=stats["fps"], detector_ms=stats["detector_ms"],
                       motion_pct=stats["motion_pct"], load=health["load"][0], temp_c=health["cpu_temp_c"],
                       mem_pct=None if mem_pct is None else round(mem_pct, 1))


class HealthHistory:
    """Samples every `period_s` into a ring buffer holding `span_s`; a stoppable background thread."""

    def __init__(self, ctx: WebContext, period_s: float = 10.0, span_s: float = 3600.0) -> None:
        self._ctx, self._period = ctx, period_s
        self._points: deque[HealthPoint] = deque(maxlen=max(1, int(span_s / period_s)))
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="web-health-history", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self.record()
            if self._stop.wait(self._period):
                return

    def record(self) -> None:
        point = sample(self._ctx)
        with self._lock:
            self._points.append(point)

    def points(self) -> list[HealthPoint]:
        with self._lock:
            return list(self._points)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _metric_lines(name: str, help_text: str, value: float | None, kind: str = "gauge") -> list[str]:
    if value is None:
        return []
    return [f"# HELP camapp_{name} {help_text}", f"# TYPE camapp_{name} {kind}", f"camapp_{name} {float(value)}"]


def metrics_text(ctx: WebContext) -> str:
    """Prometheus exposition format (text 0.0.4)."""
    st = status(ctx)
    p, h, state = st["pipeline"], st["health"], st["state"]
    rows = [
        ("frames_total", "Frames processed.", p["frames"], "counter"),
        ("detector_calls_total", "Detector invocations.", p["detector_calls"], "counter"),
        ("fps", "Pipeline frames per second.", p["fps"], "gauge"),
        ("detector_ms", "Detector latency (EMA), ms.", p["detector_ms"], "gauge"),
        ("motion_percent", "Share of frames with motion.", p["motion_pct"], "gauge"),
        ("stream_viewers", "MJPEG viewers.", st["stream"]["viewers"], "gauge"),
        ("armed", "1 when armed.", int(state["armed"] is True), "gauge"),
        ("alarm_active", "1 while an alarm sounds.", int(state["alarm"] is True), "gauge"),
        ("cpu_temperature_celsius", "CPU temperature.", h["cpu_temp_c"], "gauge"),
        ("load1", "1-minute load average.", h["load"][0], "gauge"),
        ("disk_free_bytes", "Free bytes on the data disk.", h["disk"]["free"], "gauge"),
        ("memory_available_bytes", "Available memory.", h["memory"]["available"], "gauge"),
        ("uptime_seconds", "Seconds since start.", h["uptime_s"], "counter"),
        ("objects", "Objects tracked in the latest frame.", len(st["objects"]), "gauge"),
    ]
    lines = [line for name, text, value, kind in rows for line in _metric_lines(name, text, value, kind)]
    return "\n".join(lines + _camera_lines(st["cameras"])) + "\n"


def _camera_lines(cameras: list[CameraInfo]) -> list[str]:
    """Per camera, labelled by its name: its frame rate, whether it works, its viewers."""
    out: list[str] = []
    for name, help_text, value in (("camera_fps", "Frames per second of each camera.", lambda c: c["fps"]),
                                   ("camera_ok", "1 while a camera delivers frames (0: stalled or starting).",
                                    lambda c: int(c["ok"])),
                                   ("camera_viewers", "MJPEG viewers of each camera.", lambda c: c["viewers"])):
        out += [f"# HELP camapp_{name} {help_text}", f"# TYPE camapp_{name} gauge"]
        out += [f'camapp_{name}{{camera="{c["name"]}"}} {float(value(c))}' for c in cameras]
    return out


def _versions() -> str:
    names = ["camapp", "flask", "werkzeug", "pydantic", "numpy", "opencv-python-headless", "paho-mqtt", "waitress",
             "ai-edge-litert", "cryptography"]
    out = [f"python {platform.python_version()} on {platform.platform()}"]
    for name in names:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return "\n".join(out) + "\n"


def log_lines(ctx: WebContext, n: int) -> list[str]:
    """The last log lines, secrets masked (again: a line may predate a secret's becoming known)."""
    return [redact_text(line) for line in ctx.log_tail(n)] if ctx.log_tail else []


def diagnostics_zip(ctx: WebContext, history: list[HealthPoint]) -> bytes:
    """A zip a user can attach to a bug report; every secret is masked (camapp.redact)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("status.json", json.dumps(status(ctx), indent=2, default=str))
        zf.writestr("history.json", json.dumps(history))
        zf.writestr("config.yaml", yaml.safe_dump(redact(config_dict(ctx.get_config())), sort_keys=False))
        zf.writestr("log.txt", "\n".join(log_lines(ctx, 2000)) + "\n" if ctx.log_tail else "(no log available)\n")
        zf.writestr("versions.txt", _versions())
    return buf.getvalue()
