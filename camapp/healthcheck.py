"""Is the appliance doing its job? One set of checks for /healthz, the updater's rollback and the systemd watchdog.

- camera: frames are arriving (within STALE_PERIODS frame periods, at least MIN_STALE_S).
- pipeline: the capture and pipeline threads run, and the pipeline is not stuck on one frame.
- store: the data directory is writable and the event store's writer is alive and committing.

/healthz answers 503 with every failing check's reason. The systemd watchdog is fed only while the checks that a
restart can fix pass (`restart_helps`: a dead or stuck pipeline, a dead store writer). A camera outage or a full
or read-only disk fails /healthz but keeps feeding the watchdog: the source already reconnects with backoff, and
restarting every 30 s through a long outage would only exhaust systemd's start limit and leave the service dead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, Protocol, TypedDict

from camapp.health import PipelineStats

if TYPE_CHECKING:  # the record only: importing the scheduler here would load the detector package
    from camapp.detect.shared import SlotFigures

MIN_STALE_S = 2.0
STALE_PERIODS = 3.0
Problem = Callable[[], str | None]  # None when fine, else why not
StoreProblem = Callable[[], tuple[str, bool] | None]  # (why not, would a restart help), None when fine


class CheckState(TypedDict):
    ok: bool
    reason: str | None


class CameraHealth(TypedDict):
    """One named camera's verdict (several cameras only)."""

    ok: bool
    reasons: list[str]
    detector: SlotFigures | None  # its late detection slots


class HealthReport(TypedDict):
    """What /healthz answers."""

    ok: bool
    checks: dict[str, CheckState]
    reasons: list[str]  # "name: reason" of each failing check
    cameras: NotRequired[dict[str, CameraHealth]]  # with several cameras


@dataclass(frozen=True)
class Check:
    name: str
    reason: str | None  # None: passing
    restart_helps: bool

    @property
    def ok(self) -> bool:
        return self.reason is None


def data_dir_problem(path: Path) -> str | None:
    """Why nothing can be written under `path` (read-only file system, permissions), None when it can."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return f"{path} is on a read-only file system"
    except OSError as err:
        return f"{path}: {err.strerror or err}"
    if not os.access(path, os.W_OK | os.X_OK):
        return f"{path} is not writable by this user"
    return None


@dataclass
class _Camera:
    """One camera's checks: its frames arriving, its pipeline running."""

    stats: PipelineStats
    stale_after_s: float
    pipeline_problem: Problem
    slots: Callable[[], SlotFigures] | None = None  # its use of the shared detector (late slots)

    def problem(self) -> str | None:
        age = self.stats.capture_age()
        if age is not None and age <= self.stale_after_s:
            return None
        status, error = self.stats.camera()
        since = "no frame yet" if age is None else f"no frame for {age:.1f} s"
        return f"{since} (camera {status}{': ' + error if error else ''})"


def _stale_after(camera_fps: float) -> float:
    return max(MIN_STALE_S, STALE_PERIODS / camera_fps)


class HealthMonitor:
    """Evaluates the checks on demand (cheap: no I/O but one statvfs), so a probe always sees the state of now.

    With one camera the checks are `camera`, `pipeline`, `store`; with several (add_camera), `camera <name>` and
    `pipeline <name>` for each, so a stalled camera is named while the others pass."""

    def __init__(self, stats: PipelineStats, camera_fps: float, data_dir: Path | None = None,
                 store_problem: StoreProblem | None = None) -> None:
        self.stale_after_s = _stale_after(camera_fps)
        self._data_dir = data_dir
        self._store_problem = store_problem
        self._cameras: dict[str | None, _Camera] = {None: _Camera(stats, self.stale_after_s, lambda: "not started")}

    def add_camera(self, name: str, stats: PipelineStats, camera_fps: float,
                   slots: Callable[[], SlotFigures] | None = None) -> None:
        """Check this camera by name (the unnamed one of the constructor is dropped once a named one is added)."""
        self._cameras.pop(None, None)
        self._cameras[name] = _Camera(stats, _stale_after(camera_fps), lambda: "not started", slots)

    def watch_pipeline(self, problem: Problem, camera: str | None = None) -> None:
        """Use the running pipeline's own report (Runner.problem) from now on."""
        self._cameras[camera].pipeline_problem = problem

    def cameras(self) -> dict[str, CameraHealth]:
        """Per named camera: ok, the reasons it is not, its late detection slots (empty with one camera)."""
        out: dict[str, CameraHealth] = {}
        for name, cam in self._cameras.items():
            if name is None:
                continue
            reasons = [r for r in (cam.problem(), cam.pipeline_problem()) if r is not None]
            out[name] = {"ok": not reasons, "reasons": reasons, "detector": cam.slots() if cam.slots else None}
        return out

    def _pipeline_problems(self) -> list[str | None]:
        return [cam.pipeline_problem() for cam in self._cameras.values()]

    def _store(self) -> tuple[str | None, bool]:
        problem = self._store_problem() if self._store_problem is not None else None
        if problem is not None:
            return problem
        return (data_dir_problem(self._data_dir) if self._data_dir is not None else None), False

    def checks(self) -> list[Check]:
        store, store_restart = self._store()
        checks = []
        for name, cam in self._cameras.items():
            suffix = "" if name is None else f" {name}"
            checks += [Check(f"camera{suffix}", cam.problem(), restart_helps=False),
                       Check(f"pipeline{suffix}", cam.pipeline_problem(), restart_helps=True)]
        return [*checks, Check("store", store, restart_helps=store_restart)]

    def report(self) -> HealthReport:
        """{"ok": bool, "checks": {name: {"ok", "reason"}}, "reasons": ["name: reason", ...]} for /healthz."""
        checks = self.checks()
        report: HealthReport = {
            "ok": all(c.ok for c in checks),
            "checks": {c.name: {"ok": c.ok, "reason": c.reason} for c in checks},
            "reasons": [f"{c.name}: {c.reason}" for c in checks if not c.ok],
        }
        cameras = self.cameras()
        if cameras:
            report["cameras"] = cameras
        return report

    def watchdog_ok(self) -> bool:
        """Feed the systemd watchdog? False only for what a restart can fix (the restart_helps checks; called
        every frame, so without the data directory's statvfs)."""
        if any(p is not None for p in self._pipeline_problems()):
            return False
        store = self._store_problem() if self._store_problem is not None else None
        return store is None or not store[1]


class Watched(Protocol):
    """A camera as its health checks see it (camapp/unit.py's CameraUnit)."""

    @property
    def name(self) -> str: ...

    @property
    def stats(self) -> PipelineStats: ...

    @property
    def fps(self) -> float: ...


def for_cameras(cameras: Sequence[Watched], data_dir: Path, store_problem: StoreProblem | None,
                slots: Callable[[str], SlotFigures]) -> HealthMonitor:
    """The appliance's health checks: the shared store's writer, and each camera's capture and pipeline (named by
    camera when there are several, with its late detection slots, `slots(camera)`)."""
    health = HealthMonitor(cameras[0].stats, cameras[0].fps, data_dir, store_problem)
    if len(cameras) > 1:
        for camera in cameras:
            health.add_camera(camera.name, camera.stats, camera.fps, _slots(slots, camera.name))
    return health


def _slots(slots: Callable[[str], SlotFigures], camera: str) -> Callable[[], SlotFigures]:
    return lambda: slots(camera)
