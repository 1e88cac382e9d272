"""The storage budget: one accountant for every byte the store writes, asked before each media write.

Every writer of media (snapshots, clips, recording segments) asks `reserve()` before it writes and reports what it
has written through the returned `Grant` while the file grows; the grant is closed once the file is recorded in the
`media` table (whose sum the writer thread reports with `set_committed`) or abandoned. A refusal means: do not write
(or stop growing) this file. Before refusing, the budget asks its freer (the store's retention) to delete the oldest
media, so new media replaces old media instead of being lost. The database and the MQTT outbox are metadata: they
are never refused here, but they are counted, and `min_free_bytes` of disk is kept free for them.

Usage from a writer (e.g. a segment recorder)::

    grant = budget.reserve(estimate, "segment")
    if grant is None:
        ...  # no room even after freeing old media: skip this segment (status says so)
    while writing:
        if not grant.report(bytes_written_so_far):
            ...  # quota or disk reached: finish the file now
    ... record the file in the media table (kind "segment"), then grant.close()
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Freer = Callable[[int], int]  # asked to free at least n bytes of the oldest media; returns bytes freed
DB_FILES = ("events.db", "events.db-wal", "events.db-shm")
OUTBOX_FILES = ("mqtt-outbox.sqlite", "mqtt-outbox.sqlite-wal", "mqtt-outbox.sqlite-shm")
WARN_EVERY_S = 60.0


def disk_free(path: Path) -> int:
    """Free bytes on the filesystem holding `path` (0 if it cannot be read: treat as full)."""
    try:
        return int(shutil.disk_usage(path).free)
    except OSError:
        return 0


def _files_size(folder: Path, names: tuple[str, ...]) -> int:
    total = 0
    for name in names:
        with contextlib.suppress(OSError):
            total += (folder / name).stat().st_size
    return total


class Grant:
    """Room granted for one file being written; `report` its size as it grows, `close` when recorded or dropped."""

    def __init__(self, budget: StorageBudget, key: int, label: str, granted: int) -> None:
        self._budget, self.key, self.label = budget, key, label
        self.granted = granted  # bytes this file may reach without asking again
        self.written = 0

    def report(self, written: int) -> bool:
        """The file now holds `written` bytes; False when it may not grow further (finish it now)."""
        return self._budget._report(self, written)

    def close(self) -> None:
        """The file is recorded in the media table (or abandoned): stop counting it here; idempotent."""
        self._budget._release(self)


class StorageBudget:
    """Thread-safe accountant of media bytes (recorded and being written) against the quota and free disk."""

    def __init__(self, data_dir: Path, *, quota_bytes: int, min_free_bytes: int,
                 free_fn: Callable[[Path], int] = disk_free) -> None:
        self.data_dir = data_dir
        self.quota_bytes, self.min_free_bytes = quota_bytes, min_free_bytes
        # A file grows in steps of this many bytes between checks: the quota is overshot by at most one step per
        # file being written (2 % of the quota, at most 256 KB).
        self.step = max(16 * 1024, min(256 * 1024, quota_bytes // 50))
        self._free_fn = free_fn
        self._freer: Freer | None = None
        self._lock = threading.Lock()
        self._grants: dict[int, Grant] = {}
        self._keys = itertools.count(1)
        self._committed = 0
        self.refused = 0
        self._last_warning = 0.0

    def attach(self, freer: Freer) -> None:
        """Who frees space (the store's retention, deleting the oldest media first)."""
        self._freer = freer

    def set_committed(self, media_bytes: int) -> None:
        """The writer thread reports the sum of the media table after a commit that changed it."""
        with self._lock:
            self._committed = media_bytes

    # ---- asking ---------------------------------------------------------------------------------------------------

    def reserve(self, nbytes: int, label: str) -> Grant | None:
        """Room for a new file of about `nbytes` (freeing old media if needed); None: no room, do not write it."""
        nbytes = max(0, int(nbytes))
        if not self._make_room(nbytes, label):
            return None
        with self._lock:
            grant = Grant(self, next(self._keys), label, nbytes)
            self._grants[grant.key] = grant
            return grant

    def _report(self, grant: Grant, written: int) -> bool:
        with self._lock:
            if grant.key not in self._grants:
                return False
            grant.written = written
            if written < grant.granted:
                return True
        if not self._make_room(self.step, grant.label):
            return False
        with self._lock:
            grant.granted = max(grant.granted, written) + self.step
        return True

    def _release(self, grant: Grant) -> None:
        with self._lock:
            self._grants.pop(grant.key, None)

    def _shortfall(self, nbytes: int) -> int:
        """Bytes to free before `nbytes` more may be written: above the quota, or into the free-disk reserve."""
        with self._lock:
            held = sum(max(g.granted, g.written) for g in self._grants.values())
            unwritten = sum(max(0, g.granted - g.written) for g in self._grants.values())
            committed = self._committed
        over_quota = committed + held + nbytes - self.quota_bytes
        # Bytes already written are gone from the free count; bytes only granted are not yet.
        short_disk = self.min_free_bytes + nbytes + unwritten - self._free_fn(self.data_dir)
        return max(over_quota, short_disk, 0)

    def _make_room(self, nbytes: int, label: str) -> bool:
        short, why = self._shortfall(nbytes), "after freeing old media"
        if short > 0 and self._freer is not None:
            try:
                self._freer(short)
            except Exception as err:  # a busy writer (e.g. waiting for disk space): refuse rather than stall
                why = f"freeing space failed: {err or type(err).__name__}"
            short = self._shortfall(nbytes)
        if short <= 0:
            return True
        self.refused += 1
        now = time.monotonic()
        if now - self._last_warning >= WARN_EVERY_S:  # one line a minute, not one per frame
            self._last_warning = now
            log.warning("storage budget: no room for %s (%d bytes short %s; %d refused so far)",
                        label, short, why, self.refused)
        return False

    # ---- reading --------------------------------------------------------------------------------------------------

    def inflight_bytes(self) -> int:
        """Bytes of media files being written (not yet in the media table)."""
        with self._lock:
            return sum(g.written for g in self._grants.values())

    def media_bytes(self) -> int:
        """Recorded media plus media being written: what the quota limits."""
        with self._lock:
            return self._committed + sum(g.written for g in self._grants.values())

    def low_space(self) -> bool:
        """Free disk is below the reserve kept for metadata."""
        return self._free_fn(self.data_dir) < self.min_free_bytes

    def usage(self) -> dict[str, Any]:
        """Every byte the store accounts for, by kind, plus free disk and refusals."""
        return {
            "media_bytes": self.media_bytes(), "inflight_bytes": self.inflight_bytes(),
            "db_bytes": _files_size(self.data_dir, DB_FILES), "outbox_bytes": _files_size(self.data_dir, OUTBOX_FILES),
            "quota_bytes": self.quota_bytes, "free_bytes": self._free_fn(self.data_dir),
            "min_free_bytes": self.min_free_bytes, "refused_writes": self.refused,
        }
