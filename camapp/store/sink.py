"""EventStore: the ResultSink that records events, snapshots, video and clips, and answers the web UI's queries."""

from __future__ import annotations

import contextlib
import functools
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from camapp.bus import Bus, ClipKept, SnapshotRequested
from camapp.config.storage import StorageConfig
from camapp.errors import StorageError
from camapp.geometry import Box
from camapp.sinks import ResultSink
from camapp.store import db, holds, segdb
from camapp.store.budget import StorageBudget
from camapp.store.chain import InvalidIdError, check_id
from camapp.store.closing import close_stale, end_event
from camapp.store.paths import PathBook, TrackPath
from camapp.store.queries import StoreReader
from camapp.store.recorder import AnnotateFn, MediaRecorder, MediaWorker
from camapp.store.recording import CLIP_CODEC, RUN_GAP_S, StoreRecording
from camapp.store.records import StoreUsage
from camapp.store.retention import (
    RetentionResult,
    drop_event,
    free_oldest,
    note_media,
    oldest_media,
    run_retention,
    sweep,
)
from camapp.store.snapshots import SnapshotCandidate
from camapp.store.writer import DBWriter, Op, Tx
from camapp.types import CameraName, EventMessage, Frame, FrameResult, Image

log = logging.getLogger(__name__)

MB = 1024 * 1024
FREE_TIMEOUT_S = 10.0  # a media writer waits this long for retention to free space, then skips its file
FREE_AHEAD = 0.10  # share of the quota freed at once when a media writer finds it full
RESCUE_MIN_BYTES = 1024 * 1024  # a write stuck on a full disk frees at least this much media at a time
DETAILS_EVERY_S = 1.0  # how often a running event's path is saved, so its page shows where the object went so far


def _default_annotate(result: FrameResult) -> Image:
    from camapp.annotate import annotate

    return annotate(result)


@dataclass
class _OpenEvent:
    """An event that has not ended: its best score so far, whose frame the snapshot candidate renders."""

    track_id: int
    start: float
    best_score: float
    frame_size: tuple[int, int]  # of the best frame: the path is measured in it
    path: TrackPath
    snapshot: SnapshotCandidate = field(default_factory=SnapshotCandidate)
    saved_score: float = -1.0
    clip_codec: str | None = None
    details_saved: float = 0.0  # frame time of the last details row

    def details(self) -> dict[str, Any]:
        """What db.put_details stores: the path so far, the frame size it is measured in, the clip codec."""
        width, height = self.frame_size
        return {"path": self.path.as_list(), "frame_width": width, "frame_height": height,
                "clip_codec": self.clip_codec}


class EventStore(StoreReader, ResultSink):
    """Records what the pipeline sees under storage.path; handle() only queues work for two threads."""

    def __init__(
        self,
        cfg: StorageConfig,
        *,
        camera_id: CameraName,
        fps: float,
        bus: Bus | None = None,
        annotate_fn: AnnotateFn | None = None,
        lossless: bool = False,
    ) -> None:
        """`lossless`: a replay of a file, where recording waits for the encoder instead of dropping frames."""
        if cfg.path is None:
            raise StorageError("storage.path is not set, so there is nowhere to store events")
        if not fps > 0:
            raise ValueError(f"EventStore fps must be > 0, got {fps!r}")
        data_dir = cfg.path.expanduser()
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"storage.path {data_dir}: cannot create the data directory: {err}") from None
        super().__init__(data_dir)
        self.cfg, self.camera_id, self.fps = cfg, camera_id, fps
        # Snapshots waiting for the media thread hold references to frames; past this many, skip snapshots.
        self._backlog = round(3 * fps) + 8
        self._degraded = False
        self._recording: StoreRecording | None = None  # the writer's first retention pass may run before it exists
        self.budget = StorageBudget(self.data_dir, quota_bytes=int(cfg.max_media_mb * MB),
                                    min_free_bytes=int(cfg.min_free_mb * MB))
        self._unlinked: set[str] = set()  # media files removed to rescue a write on a full disk, rows not yet
        self._writer = DBWriter(self.db_path, periodic=self._retention_op, interval_s=cfg.retention_interval_s,
                                on_full=self._rescue)
        self._writer.call(self._startup_op)
        self.budget.attach(self._free_space)
        self._worker = MediaWorker()
        self._recorder = MediaRecorder(cfg, self.data_dir, self._writer, annotate_fn or _default_annotate,
                                       self.budget)
        if cfg.recording.mode != "off":
            self._recording = StoreRecording(cfg, self.data_dir, self._writer, self.budget, fps=fps,
                                             camera=camera_id, lossless=lossless)
        self._open: dict[str, _OpenEvent] = {}
        self._paths = PathBook()
        self._deleted: set[str] = set()
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._unsubscribe = [bus.subscribe(SnapshotRequested, self._on_snapshot),
                             bus.subscribe(ClipKept, self._on_clip)] if bus is not None else []
        rec = "off" if self._recording is None else f"{cfg.recording.mode}, {self._recording.recorder.encoder_name}"
        log.info("event store at %s (recording: %s)", self.data_dir, rec)

    # --- writer-thread operations -------------------------------------------------------------------------

    def _startup_op(self, tx: Tx) -> None:
        removed, closed = sweep(tx, self.data_dir), close_stale(tx)
        db.drop_orphan_details(tx.conn)
        segdb.drop_orphans(tx.conn)  # segments whose file the sweep found gone
        holds.drop_dangling(tx.conn, time.time())  # so no event holds footage that is not there
        note_media(tx, self.budget)
        if removed or closed:
            log.info("event store: removed %d leftover file(s), closed %d stale event(s)", removed, closed)

    def _retention_op(self, tx: Tx) -> RetentionResult:
        cfg = self.cfg
        result = run_retention(
            tx, self.data_dir, retain_s=cfg.retain_days * 86400,
            quota_bytes=int(cfg.max_media_mb * MB) - self.budget.inflight_bytes(),
            min_free_bytes=int(cfg.min_free_mb * MB), now=time.time(), needed=self._needed(),
        )
        if self._recording is not None:
            self._recording.retention_op(tx, time.time())
        note_media(tx, self.budget)
        self._set_degraded(result.degraded, result.free_bytes)
        return result

    def _needed(self) -> set[str]:
        return set() if self._recording is None else self._recording.needed()

    def _free_space(self, need: int) -> int:
        """The budget's freer: delete the oldest media (at least `need` bytes) now; called by media writers."""
        if threading.current_thread().name == self._writer.name:
            return 0  # the writer frees space itself (retention, _rescue); waiting on itself would deadlock
        needed = self._needed()
        # A little more than asked (10 % of the quota): else every segment would prune one old event in a commit
        # of its own (the quota full, each new file freeing just its size).
        need = max(need, int(self.cfg.max_media_mb * MB * FREE_AHEAD))

        def op(tx: Tx) -> int:
            freed = free_oldest(tx, self.data_dir, need, needed)[1]
            note_media(tx, self.budget)
            return freed

        return int(self._writer.call(op, timeout=FREE_TIMEOUT_S))

    def _rescue(self, conn: sqlite3.Connection) -> Op | None:
        """A write batch hit a full disk: unlink the oldest media now (their rows cannot be deleted without room)
        and return the op that forgets them, run first when the batch is retried. A crash in between leaves
        rows without files, which the start-up sweep forgets."""
        need = max(int(self.cfg.min_free_mb * MB), RESCUE_MIN_BYTES)
        doomed = [rel for rel, _ in oldest_media(conn, need, self._unlinked)]
        if not doomed:
            return None
        log.warning("event store: disk full; deleting the %d oldest media file(s) to keep the metadata", len(doomed))
        for rel in doomed:
            with contextlib.suppress(OSError):
                (self.data_dir / rel).unlink()
        self._unlinked.update(doomed)

        def forget(tx: Tx) -> None:
            tx.conn.executemany("DELETE FROM media WHERE relpath = ?", [(p,) for p in doomed])
            gone = segdb.drop_orphans(tx.conn)
            holds.drop_dangling(tx.conn, time.time())  # the events that held them say what they lost
            if self._recording is not None:
                self._recording.forget(set(gone))
            note_media(tx, self.budget)
            tx.after_commit.append(lambda: self._unlinked.difference_update(doomed))

        return forget

    def _set_degraded(self, degraded: bool, free: int) -> None:
        if degraded and not self._degraded:
            log.warning("event store: only %.0f MB free (< storage.min_free_mb); freeing old media", free / MB)
        elif self._degraded and not degraded:
            log.info("event store: disk space recovered (%.0f MB free)", free / MB)
        self._degraded = degraded

    # --- pipeline thread ----------------------------------------------------------------------------------

    def handle(self, result: FrameResult) -> None:
        """Queue DB rows for the frame's event messages, and the frame for the recorder."""
        with self._lock:
            if self._closed:
                return
            frame = result.frame
            self._latest = frame
            touched = {msg.id: self._on_message(msg, result) for msg in result.events}
            self._update_candidates(result)
            self._paths.observe(result.objects, {e.track_id: e.path for e in self._open.values()}, frame.timestamp)
            self._save_paths(touched, frame.timestamp)
            if self._recording is not None:
                self._recording.offer(frame)

    def _on_message(self, msg: EventMessage, result: FrameResult) -> _OpenEvent | None:
        """Log the message and track the event; returns the event whose details should be saved, if any."""
        if msg.id in self._deleted:
            return None
        try:
            check_id(msg.id)
        except InvalidIdError as err:
            log.warning("event store: ignoring an event message: %s", err)
            return None
        payload, ts, event_id, type_ = msg.to_dict(), time.time(), msg.id, msg.type
        # A new event is committed at once (a crash must not lose it; one left open is ended at the next start).
        self._writer.submit(lambda tx: db.append_log(tx.conn, event_id, type_, payload, ts), urgent=type_ == "new")
        event = self._open.get(msg.id)
        if event is None and msg.type != "end":
            frame = result.frame
            event = _OpenEvent(msg.track_id, msg.start_time, msg.score, (frame.width, frame.height),
                               self._paths.take(msg.track_id))
            self._open[msg.id] = event
            if self._recording is not None:
                self._recording.event_started(msg.id, msg.start_time)
                event.clip_codec = CLIP_CODEC if self.cfg.clips else None
            self._better(event, msg.score, result, msg.box, render=False)  # saved right below
            self._save_snapshot(msg.id, event)
        elif event is not None:
            event.track_id = msg.track_id  # an event may continue on another track (re-attached)
            if msg.score > event.best_score:
                self._better(event, msg.score, result, msg.box)
        if msg.type == "end":
            self._on_end(msg.id, msg.end_time if msg.end_time is not None else result.frame.timestamp)
        return event

    def _on_end(self, event_id: str, end: float) -> None:
        event = self._open.pop(event_id, None)
        if event is not None and event.best_score > event.saved_score:
            self._save_snapshot(event_id, event)
        if self._recording is not None:
            self._recording.event_ended(event_id, end)

    def _update_candidates(self, result: FrameResult) -> None:
        for event in self._open.values():
            for obj in result.objects:
                if obj.track_id == event.track_id and obj.score > event.best_score:
                    self._better(event, obj.score, result, obj.box)

    def _better(self, event: _OpenEvent, score: float, result: FrameResult, box: Box,
                render: bool = True) -> None:
        """A better frame for the event's snapshot: rendered to JPEG on the media thread soon, so the event does
        not hold the frame (see camapp/store/snapshots.py)."""
        event.best_score, event.frame_size = score, (result.frame.width, result.frame.height)
        if self.cfg.snapshots and event.snapshot.offer(result, box) and render:
            self._worker.put(functools.partial(self._recorder.render, event.snapshot))

    def _save_paths(self, touched: dict[str, _OpenEvent | None], now: float) -> None:
        """Details of events that got a message this frame, and of running events not saved for a while."""
        due = {k: e for k, e in self._open.items() if now - e.details_saved >= DETAILS_EVERY_S}
        for event_id, event in {**due, **touched}.items():
            if event is not None:
                event.details_saved = now
                self._save_details(event_id, event)

    def _save_details(self, event_id: str, event: _OpenEvent) -> None:
        details = event.details()
        self._writer.submit(lambda tx: db.put_details(tx.conn, event_id, details))

    def _save_snapshot(self, event_id: str, event: _OpenEvent) -> None:
        if not self.cfg.snapshots:
            return
        if self._worker.pending() > 2 * self._backlog:
            log.warning("event store: media writer is far behind; no snapshot for %s", event_id)
            return
        event.saved_score = event.best_score
        task = functools.partial(self._recorder.save_snapshot, event_id, event.start, event.snapshot)
        self._worker.put(task)

    # --- other threads -----------------------------------------------------------------------------------

    def _on_clip(self, event: ClipKept) -> None:
        self.keep_clip(event.event_id, event.rule)

    def _on_snapshot(self, event: SnapshotRequested) -> None:
        """A manual snapshot request: save the latest frame under the id the requester was given."""
        try:
            snap_id = check_id(event.snapshot_id, "snapshot id")
        except InvalidIdError as err:
            log.warning("event store: ignoring a snapshot request: %s", err)
            return
        frame = self._latest
        if frame is None:
            log.warning("event store: snapshot %s requested before the first frame; nothing saved", snap_id)
            return
        self._worker.put(functools.partial(self._recorder.save_manual, snap_id, frame))

    def keep_clip(self, event_id: str, rule: str) -> None:
        """Rule action `clip`: keep the recording around this event, even when only events are recorded."""
        if self._recording is None:
            log.info("rule %s asks to keep the clip of %s, but storage.recording.mode is off", rule, event_id)
        elif not self._recording.hold(event_id):
            log.info("rule %s: the clip of %s was already cut; its recording is not held", rule, event_id)

    def clock_floor(self) -> float | None:
        """The earliest time a new run's frames may carry: just after the last segment kept for this camera (a
        replay's clock starts there, so runs never overlap), or None when nothing is recorded."""
        until = None if self._recording is None else self._recording.recorded_until()
        return None if until is None else until + RUN_GAP_S

    def recording_status(self) -> dict[str, Any] | None:
        """The recorder's state (System page, MQTT stats), or None when recording is off."""
        return None if self._recording is None else self._recording.status()

    def delete_event(self, event_id: str) -> bool:
        """Delete an event and its media (the log keeps a `deleted` row); False if there is no such event."""
        check_id(event_id)
        with self._lock:  # a running event stops being followed (no more snapshots or path rows for it)
            self._deleted.add(event_id)
            self._open.pop(event_id, None)

        def op(tx: Tx) -> bool:
            if not db.event_exists(tx.conn, event_id):
                return False
            drop_event(tx, self.data_dir, event_id, "user", self._needed())
            note_media(tx, self.budget)
            return True

        deleted = bool(self._writer.call(op))
        if not deleted:
            self._deleted.discard(event_id)
        return deleted

    def run_retention(self, timeout: float = 60.0) -> RetentionResult:
        """Run a retention pass now (it also runs at start and every storage.retention_interval_s)."""
        result: RetentionResult = self._writer.call(self._retention_op, timeout)
        return result

    def write_problem(self) -> tuple[str, bool] | None:
        """For the health check: why rows are not being written (and whether a restart would help), or None."""
        return self._writer.problem()

    def usage(self, camera: CameraName | None = None) -> StoreUsage:
        """The reader's counts plus quota_bytes, degraded, free_bytes, clip_codec, recording and the budget's
        inflight_bytes, db_bytes, outbox_bytes, refused_writes (camapp.store.records.StoreUsage)."""
        out = super().usage(camera)
        budget = self.budget.usage()
        out["quota_bytes"], out["degraded"], out["free_bytes"] = budget["quota_bytes"], self._degraded, \
            budget["free_bytes"]
        out["clip_codec"] = CLIP_CODEC if self._recording is not None and self.cfg.clips else None
        out["recording"] = self.recording_status()
        out["inflight_bytes"], out["db_bytes"] = budget["inflight_bytes"], budget["db_bytes"]
        out["outbox_bytes"], out["refused_writes"] = budget["outbox_bytes"], budget["refused_writes"]
        out["snapshot_bytes_written"] = self._recorder.bytes_written
        return out

    def flush(self, timeout: float = 60.0) -> None:
        """Wait until every queued frame, file and row is written (tests and shutdown)."""
        if self._recording is not None:
            self._recording.recorder.sync(timeout)
        done = threading.Event()
        self._worker.put(done.set)
        done.wait(timeout)
        self._writer.flush(timeout)

    def close(self) -> None:
        """Finish the recording and cut the clips still due, save pending snapshots, drain the threads; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._end_open_events()
        if self._recording is not None:
            self._recording.close()
        self._worker.close()
        self._writer.submit(self._retention_op)  # the clips just finished count: no overshoot after this pass
        self._writer.close()

    def _end_open_events(self) -> None:
        """Events the pipeline did not end (it stopped abnormally) are ended here, so none stays `ongoing`."""
        latest = self._latest.timestamp if self._latest is not None else time.time()
        for event_id, event in list(self._open.items()):
            self._save_details(event_id, event)
            if event.best_score > event.saved_score:
                self._save_snapshot(event_id, event)
            self._writer.submit(functools.partial(end_event, event_id, max(latest, event.start), "shutdown"))
            self._on_end(event_id, max(latest, event.start))
