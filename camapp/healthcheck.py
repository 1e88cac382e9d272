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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camapp.health import PipelineStats

MIN_STALE_S = 2.0
STALE_PERIODS = 3.0
Problem = Callable[[], str | None]  # None when fine, else why not
StoreProblem = Callable[[], tuple[str, bool] | None]  # (why not, would a restart help), None when fine


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


class HealthMonitor:
    """Evaluates the checks on demand (cheap: no I/O but one statvfs), so a probe always sees the state of now."""

    def __init__(self, stats: PipelineStats, camera_fps: float, data_dir: Path | None = None,
                 store_problem: StoreProblem | None = None) -> None:
        self._stats = stats
        self.stale_after_s = max(MIN_STALE_S, STALE_PERIODS / camera_fps)
        self._data_dir = data_dir
        self._store_problem = store_problem
        self._pipeline_problem: Problem = lambda: "not started"

    def watch_pipeline(self, problem: Problem) -> None:
        """Use the running pipeline's own report (Runner.problem) from now on."""
        self._pipeline_problem = problem

    def _camera(self) -> str | None:
        age = self._stats.capture_age()
        if age is not None and age <= self.stale_after_s:
            return None
        status, error = self._stats.camera()
        since = "no frame yet" if age is None else f"no frame for {age:.1f} s"
        return f"{since} (camera {status}{': ' + error if error else ''})"

    def _store(self) -> tuple[str | None, bool]:
        problem = self._store_problem() if self._store_problem is not None else None
        if problem is not None:
            return problem
        return (data_dir_problem(self._data_dir) if self._data_dir is not None else None), False

    def checks(self) -> list[Check]:
        store, store_restart = self._store()
        return [
            Check("camera", self._camera(), restart_helps=False),
            Check("pipeline", self._pipeline_problem(), restart_helps=True),
            Check("store", store, restart_helps=store_restart),
        ]

    def report(self) -> dict[str, Any]:
        """{"ok": bool, "checks": {name: {"ok", "reason"}}, "reasons": ["name: reason", ...]} for /healthz."""
        checks = self.checks()
        return {
            "ok": all(c.ok for c in checks),
            "checks": {c.name: {"ok": c.ok, "reason": c.reason} for c in checks},
            "reasons": [f"{c.name}: {c.reason}" for c in checks if not c.ok],
        }

    def watchdog_ok(self) -> bool:
        """Feed the systemd watchdog? False only for what a restart can fix (the restart_helps checks; called
        every frame, so without the data directory's statvfs)."""
        if self._pipeline_problem() is not None:
            return False
        store = self._store_problem() if self._store_problem is not None else None
        return store is None or not store[1]
