"""The appliance's one store under storage.path: one DB writer thread and hash-chained log, one budget and quota,
retention, the media thread, the reader the web UI queries. Each camera writes into it through its own sink
(camera() -> CameraStore, camapp/store/sink.py); EventStore is the store and the sink of a lone camera in one.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from typing import Any

from camapp.bus import Bus, ClipKept, SnapshotRequested
from camapp.closing import Closing
from camapp.config.storage import StorageConfig
from camapp.errors import StorageError
from camapp.store import upkeep
from camapp.store.budget import StorageBudget
from camapp.store.chain import InvalidIdError, check_id
from camapp.store.queries import StoreReader
from camapp.store.recorder import AnnotateFn, MediaRecorder, MediaWorker, default_annotate
from camapp.store.recording import CLIP_CODEC
from camapp.store.records import StoreUsage
from camapp.store.retention import RetentionResult
from camapp.store.sink import CameraStore, StoreParts
from camapp.store.writer import DBWriter, Op, Tx
from camapp.types import CameraName

log = logging.getLogger(__name__)

MB = 1024 * 1024
FREE_TIMEOUT_S = 10.0  # a media writer waits this long for retention to free space, then skips its file
FREE_AHEAD = 0.10  # share of the quota freed at once when a media writer finds it full
RESCUE_MIN_BYTES = 1024 * 1024  # a write stuck on a full disk frees at least this much media at a time


class SharedStore(StoreReader, Closing):
    """Records what every camera sees under storage.path; cameras join with camera()."""

    def __init__(self, cfg: StorageConfig, *, bus: Bus | None = None, annotate_fn: AnnotateFn | None = None) -> None:
        """`bus`: manual snapshot and rule `clip` requests reach the camera they name (or the one that saw the
        event) through it."""
        if cfg.path is None:
            raise StorageError("storage.path is not set, so there is nowhere to store events")
        data_dir = cfg.path.expanduser()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"storage.path {data_dir}: cannot create the data directory: {err}") from None
        super().__init__(data_dir)
        self.cfg = cfg
        self._degraded = False
        self._cameras: list[CameraStore] = []  # the writer's first retention pass runs before any camera joins
        self._cameras_lock = threading.Lock()
        self._joining: set[CameraName] = set()
        self.budget = StorageBudget(self.data_dir, quota_bytes=int(cfg.max_media_mb * MB),
                                    min_free_bytes=int(cfg.min_free_mb * MB))
        self._unlinked: set[str] = set()  # media files removed to rescue a write on a full disk, rows not yet
        self._writer = DBWriter(self.db_path, periodic=self._retention_op, interval_s=cfg.retention_interval_s,
                                on_full=self._rescue)
        self._writer.call(self._startup_op)
        self.budget.attach(self._free_space)
        worker = MediaWorker()
        self._parts = StoreParts(cfg, self.data_dir, self._writer, self.budget, worker,
                                 MediaRecorder(cfg, self.data_dir, self._writer, annotate_fn or default_annotate,
                                               self.budget))
        self._closed = False
        self._unsubscribe = [bus.subscribe(SnapshotRequested, self._on_snapshot),
                             bus.subscribe(ClipKept, self._on_clip)] if bus is not None else []
        log.info("event store at %s", self.data_dir)

    def camera(self, name: CameraName, *, fps: float, cfg: StorageConfig | None = None,
               lossless: bool = False) -> CameraStore:
        """The sink of one camera (`cfg`: its view of storage, for its own storage.recording); the store closes
        it, if still open, when it closes."""
        view = cfg or self.cfg
        if view.path is not None and view.path.expanduser().resolve() != self.data_dir:
            raise StorageError(f"camera {name}: storage.path {view.path} is not the appliance's {self.data_dir}")
        with self._cameras_lock:
            if self._closed:
                raise StorageError("the event store is closed")
            if name in self._joining or any(c.camera == name for c in self._cameras):
                raise StorageError(f"camera {name} already writes into this store")
            self._joining.add(name)
        try:  # not under the lock: its recorder waits for the writer, whose retention pass reads the cameras
            sink = CameraStore(self._parts, view, camera=name, fps=fps, lossless=lossless)
        finally:
            with self._cameras_lock:
                self._joining.discard(name)
        with self._cameras_lock:
            closed = self._closed
            if not closed:
                self._cameras.append(sink)
        if closed:
            sink.close()
            raise StorageError("the event store is closed")
        return sink

    def cameras(self) -> list[CameraStore]:
        with self._cameras_lock:
            return list(self._cameras)

    # --- writer-thread operations -------------------------------------------------------------------------

    def _startup_op(self, tx: Tx) -> None:
        upkeep.startup(tx, self.data_dir, self.budget)

    def _retention_op(self, tx: Tx) -> RetentionResult:
        continuous: dict[str, float] = {c.camera: c.cfg.recording.retain_days * 86400 for c in self.cameras()}
        result, deleted = upkeep.retention(tx, self.cfg, self.data_dir, self.budget, self._needed(), continuous)
        self._forget_segments(deleted)
        self._set_degraded(result.degraded, result.free_bytes)
        return result

    def _needed(self) -> set[str]:
        needed: set[str] = set()
        for camera in self.cameras():
            needed |= camera.needed()
        return needed

    def _forget_segments(self, relpaths: set[str]) -> None:
        if relpaths:
            for camera in self.cameras():
                camera.forget_segments(relpaths)

    def _free_space(self, need: int) -> int:
        """The budget's freer: delete the oldest media (at least `need` bytes) now; called by media writers."""
        if threading.current_thread().name == self._writer.name:
            return 0  # the writer frees space itself (retention, _rescue); waiting on itself would deadlock
        needed = self._needed()
        # A little more than asked (10 % of the quota): else every segment would prune one old event in a commit
        # of its own (the quota full, each new file freeing just its size).
        ahead = max(need, int(self.cfg.max_media_mb * MB * FREE_AHEAD))

        def op(tx: Tx) -> int:
            return upkeep.free_media(tx, self.data_dir, self.budget, ahead, needed, need)

        return int(self._writer.call(op, timeout=FREE_TIMEOUT_S))

    def _rescue(self, conn: sqlite3.Connection) -> Op | None:
        """A write batch hit a full disk: unlink the oldest media now (their rows cannot be deleted without room)
        and return the op that forgets them, run first when the batch is retried. A crash in between leaves
        rows without files, which the start-up sweep forgets."""
        need = max(int(self.cfg.min_free_mb * MB), RESCUE_MIN_BYTES)
        doomed = upkeep.unlink_oldest(conn, self.data_dir, need, self._unlinked)
        if not doomed:
            return None
        self._unlinked.update(doomed)

        def forget(tx: Tx) -> None:
            self._forget_segments(upkeep.forget_unlinked(tx, doomed, self.budget))
            tx.after_commit.append(lambda: self._unlinked.difference_update(doomed))

        return forget

    def _set_degraded(self, degraded: bool, free: int) -> None:
        if degraded and not self._degraded:
            log.warning("event store: only %.0f MB free (< storage.min_free_mb); freeing old media", free / MB)
        elif self._degraded and not degraded:
            log.info("event store: disk space recovered (%.0f MB free)", free / MB)
        self._degraded = degraded

    # --- bus requests, routed to the camera they are for --------------------------------------------------

    def _on_clip(self, event: ClipKept) -> None:
        cameras = self.cameras()
        if event.camera is not None:
            targets = [c for c in cameras if c.camera == event.camera]
        else:  # event ids are unique across cameras: the camera following the event keeps it
            targets = [c for c in cameras if c.owns(event.event_id)] or cameras[:1]
        if not targets:
            log.warning("rule %s: no camera %s stores events here; clip of %s not kept", event.rule, event.camera,
                        event.event_id)
        for camera in targets:
            camera.keep_clip(event.event_id, event.rule)

    def _on_snapshot(self, event: SnapshotRequested) -> None:
        """A manual snapshot request: the camera it names (or the first) saves its latest frame under the id."""
        try:
            snap_id = check_id(event.snapshot_id, "snapshot id")
        except InvalidIdError as err:
            log.warning("event store: ignoring a snapshot request: %s", err)
            return
        cameras = self.cameras()
        target = next((c for c in cameras if event.camera in (None, c.camera)), None)
        if target is None:
            log.warning("event store: snapshot %s asks for camera %s, which stores nothing here; nothing saved",
                        snap_id, event.camera or "(any)")
            return
        target.save_snapshot(snap_id)

    # --- any thread ----------------------------------------------------------------------------------------

    def delete_event(self, event_id: str) -> bool:
        """Delete an event and its media (the log keeps a `deleted` row); False if there is no such event."""
        check_id(event_id)
        cameras = self.cameras()
        for camera in cameras:
            camera.forget_event(event_id)

        def op(tx: Tx) -> bool:
            return upkeep.delete_event(tx, self.data_dir, self.budget, event_id, self._needed())

        deleted = bool(self._writer.call(op))
        if not deleted:
            for camera in cameras:
                camera.unforget_event(event_id)
        return deleted

    def run_retention(self, timeout: float = 60.0) -> RetentionResult:
        """Run a retention pass now (it also runs at start and every storage.retention_interval_s)."""
        result: RetentionResult = self._writer.call(self._retention_op, timeout)
        return result

    def write_problem(self) -> tuple[str, bool] | None:
        """For the health check: why rows are not being written (and whether a restart would help), or None."""
        return self._writer.problem()

    def recording_status(self, camera: CameraName | None = None) -> dict[str, Any] | None:
        """A camera's recorder state (None: the first camera's), or None when it does not record."""
        found = next((c for c in self.cameras() if camera in (None, c.camera)), None)
        return None if found is None else found.recording_status()

    def usage(self, camera: CameraName | None = None) -> StoreUsage:
        """The reader's counts (of one camera, or all) plus quota_bytes, degraded, free_bytes, clip_codec,
        recording (that camera's or the first's; `recordings`: each camera's) and the budget's inflight_bytes,
        db_bytes, outbox_bytes, refused_writes (camapp.store.records.StoreUsage)."""
        out = super().usage(camera)
        budget = self.budget.usage()
        cameras = [c for c in self.cameras() if camera in (None, c.camera)]
        out["quota_bytes"], out["degraded"], out["free_bytes"] = budget["quota_bytes"], self._degraded, \
            budget["free_bytes"]
        clips = any(c.recording is not None and c.cfg.clips for c in cameras)
        out["clip_codec"] = CLIP_CODEC if clips else None
        out["recording"] = cameras[0].recording_status() if cameras else None
        out["recordings"] = {c.camera: c.recording_status() for c in cameras}
        out["inflight_bytes"], out["db_bytes"] = budget["inflight_bytes"], budget["db_bytes"]
        out["outbox_bytes"], out["refused_writes"] = budget["outbox_bytes"], budget["refused_writes"]
        out["snapshot_bytes_written"] = self._parts.recorder.bytes_written
        out["snapshot_bytes_replaced"] = self._parts.recorder.bytes_replaced
        return out

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued frame, file and row is written (tests and shutdown)."""
        for camera in self.cameras():
            camera.sync(timeout)
        done = threading.Event()
        self._parts.worker.put(done.set)
        done.wait(timeout)
        self._writer.flush(timeout)

    def close(self) -> None:
        """Close the cameras' sinks still open (ending their events, finishing their recordings), save pending
        snapshots, drain the threads; idempotent."""
        with self._cameras_lock:
            if self._closed:
                return
            self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        for camera in self.cameras():
            camera.close()
        self._parts.worker.close()
        self._writer.submit(self._retention_op)  # the clips just finished count: no overshoot after this pass
        self._writer.close()
