"""Pipeline statistics and device health (CPU temperature, throttling, disk, memory, uptime)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import TypedDict

from camapp.redact import redact_text

_START = time.monotonic()


class CameraStatus(TypedDict):
    status: str
    error: str | None  # secrets masked
    reconnects: int


class PipelineFigures(TypedDict):
    """PipelineStats at one moment, as /status, MQTT stats and the bench show it."""

    frames: int
    motion_frames: int
    detector_calls: int
    dropped_frames: int
    fps: float
    motion_ms: float
    detector_ms: float
    motion_pct: float
    camera: CameraStatus
    last_frame_time: float | None


class Memory(TypedDict):
    total: int | None
    available: int | None


class Disk(TypedDict):
    path: str
    total: int
    free: int
    used: int


class SystemHealth(TypedDict):
    """system_health(): None where the platform has no such reading."""

    cpu_temp_c: float | None
    throttled: int | None
    load: list[float]
    cpu_count: int | None
    memory: Memory
    disk: Disk
    uptime_s: float


class PipelineStats:
    """Counters the pipeline updates per frame and readers (UI, MQTT, bench) snapshot; thread-safe."""

    def __init__(self, alpha: float = 0.1, window_s: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._alpha = alpha
        self._window_s = window_s
        self._times: deque[float] = deque()
        self.frames = 0
        self.motion_frames = 0
        self.detector_calls = 0
        self.dropped_frames = 0  # captured but replaced by a newer one before the pipeline was free
        self.fps = 0.0
        self.motion_ms = 0.0
        self.detector_ms = 0.0
        self.camera_status = "starting"
        self.camera_error: str | None = None
        self.reconnects = 0
        self.last_frame_time: float | None = None
        self.last_capture: float | None = None  # time.monotonic() of the last frame the camera delivered

    def _ema(self, old: float, new: float) -> float:
        return new if old == 0.0 else old + self._alpha * (new - old)

    def record_frame(self, motion: bool, detector_ran: bool, timings_ms: dict[str, float]) -> None:
        now = time.monotonic()
        with self._lock:
            self.frames += 1
            self.motion_frames += int(motion)
            self.detector_calls += int(detector_ran)
            # Frames counted over a sliding window: an average of 1/dt would overstate fps under jitter.
            self._times.append(now)
            self.fps = self._fps_at(now)
            self.last_frame_time = time.time()
            self.motion_ms = self._ema(self.motion_ms, timings_ms.get("motion", 0.0))
            if detector_ran:
                self.detector_ms = self._ema(self.detector_ms, timings_ms.get("detect", 0.0))

    def _fps_at(self, now: float) -> float:
        """Frames per second over the window ending now: exact while frames arrive on time, decaying towards 0
        once they stop (a rate frozen at its last value would hide a dead camera)."""
        times = self._times
        while times and now - times[0] > self._window_s:
            times.popleft()
        if len(times) < 2:
            return 0.0
        period = (times[-1] - times[0]) / (len(times) - 1)
        span = max(times[-1] - times[0], now - times[0] - period)
        return (len(times) - 1) / span if span > 0 else 0.0

    def record_capture(self) -> None:
        """The camera delivered a frame (called by the capture thread, whether or not the pipeline keeps up)."""
        now = time.monotonic()
        with self._lock:
            self.last_capture = now

    def capture_age(self) -> float | None:
        """Seconds since the camera last delivered a frame; None before the first."""
        with self._lock:
            return None if self.last_capture is None else time.monotonic() - self.last_capture

    def camera(self) -> tuple[str, str | None]:
        """The camera's status (starting, open, reconnecting, error) and its last error."""
        with self._lock:
            return self.camera_status, self.camera_error

    def record_dropped(self) -> None:
        with self._lock:
            self.dropped_frames += 1

    def set_camera(self, status: str, error: str | None = None) -> None:
        with self._lock:
            if status == "reconnecting" and self.camera_status != "reconnecting":
                self.reconnects += 1
            # Errors quote the source, and an RTSP URL may carry credentials: status and MQTT stats show this.
            self.camera_status, self.camera_error = status, None if error is None else redact_text(error)

    def as_dict(self) -> PipelineFigures:
        with self._lock:
            self.fps = self._fps_at(time.monotonic())
            return {
                "frames": self.frames,
                "motion_frames": self.motion_frames,
                "detector_calls": self.detector_calls,
                "dropped_frames": self.dropped_frames,
                "fps": round(self.fps, 2),
                "motion_ms": round(self.motion_ms, 2),
                "detector_ms": round(self.detector_ms, 2),
                "motion_pct": round(100.0 * self.motion_frames / self.frames, 1) if self.frames else 0.0,
                "camera": {"status": self.camera_status, "error": self.camera_error, "reconnects": self.reconnects},
                "last_frame_time": self.last_frame_time,
            }


def cpu_temperature() -> float | None:
    """Degrees C from the first thermal zone, None where there is none (most VMs)."""
    for zone in sorted(Path("/sys/class/thermal").glob("thermal_zone*/temp")):
        try:
            return int(zone.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
    return None


def throttled() -> int | None:
    """Raspberry Pi firmware throttling bits (vcgencmd get_throttled), None off a Pi."""
    if shutil.which("vcgencmd") is None:
        return None
    try:
        out = subprocess.run(["vcgencmd", "get_throttled"], capture_output=True, text=True, timeout=2).stdout
        return int(out.strip().split("=")[1], 16)
    except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
        return None


def _meminfo() -> dict[str, int]:
    info: dict[str, int] = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return info


def system_health(data_dir: Path | None = None) -> SystemHealth:
    """A snapshot of device health; every field may be None where the platform has no such reading."""
    disk_path = data_dir if data_dir is not None and data_dir.exists() else Path("/")
    disk = shutil.disk_usage(disk_path)
    mem = _meminfo()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "cpu_temp_c": cpu_temperature(),
        "throttled": throttled(),
        "load": [round(v, 2) for v in load],
        "cpu_count": os.cpu_count(),
        "memory": {"total": mem.get("MemTotal"), "available": mem.get("MemAvailable")},
        "disk": {"path": str(disk_path), "total": disk.total, "free": disk.free, "used": disk.used},
        "uptime_s": round(time.monotonic() - _START, 1),
    }
