"""The store's side of recording: segments into the database, events-only pruning, and each event's window:
the segments covering it, which the event then holds (its clip is remuxed from them on request, camapp/store/clips.py).

Threads: the pipeline thread reports frames and events; the recorder thread reports finished segments; holds are
written by the writer thread. The SegmentBook is shared between them under one lock.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from camapp.config.storage import StorageConfig
from camapp.record.book import KEEP_CONTINUOUS, KEEP_HELD, KEEP_NONE, ClipJob, SegmentBook, SegRef
from camapp.record.recorder import Recorder, Room
from camapp.record.segments import Segment
from camapp.store import db, holds, segdb
from camapp.store.budget import Grant, StorageBudget
from camapp.store.retention import MEDIA_DIR, free_bytes, note_media, unlink_later
from camapp.store.verify import file_digest
from camapp.store.writer import DBWriter, Tx
from camapp.types import Frame

log = logging.getLogger(__name__)

MB = 1024 * 1024
REC_DIR = "rec"  # segments live under media/rec/YYYY-MM-DD/
CLIP_CODEC = "avc1"  # what event_details.clip_codec says of clips made from the H.264 recording
RUN_GAP_S = 1.0  # a replay's clock starts this long after the last segment kept for its camera


class BudgetSpace:
    """The recorder's view of the storage budget: room for each segment, and why there is none."""

    def __init__(self, budget: StorageBudget, min_free_mb: float) -> None:
        self.budget, self.min_free_mb = budget, min_free_mb

    def reserve(self, nbytes: int, label: str) -> Grant | None:
        # One step to start with, like clips: the segment's grant then grows with it (report), so the budget
        # never frees more old media than the recording has really written.
        return self.budget.reserve(min(nbytes, self.budget.step), label)

    def why_not(self) -> str:
        free = free_bytes(self.budget.data_dir)
        if self.budget.low_space():
            return f"low disk: {free / MB:.0f} MB free, storage.min_free_mb is {self.min_free_mb:g}"
        return f"storage.max_media_mb ({self.budget.quota_bytes / MB:.0f} MB) is full and nothing older can go"


class StoreRecording:
    """Owns the Recorder and the SegmentBook of one camera (camapp.store.sink.CameraStore; one run per open)."""

    def __init__(  # noqa: PLR0913 - the store hands over its parts
        self, cfg: StorageConfig, data_dir: Path, writer: DBWriter, budget: StorageBudget, *,
        fps: float, camera: str, lossless: bool = False,
    ) -> None:
        self.cfg, self.data_dir, self._writer, self.budget, self.camera = cfg, data_dir, writer, budget, camera
        rec = cfg.recording
        self.book = SegmentBook(continuous=rec.mode == "continuous", pre_s=cfg.pre_roll_s, post_s=cfg.post_roll_s,
                                max_s=cfg.clip_max_s)
        self._lock = threading.Lock()
        self.holds_written = 0
        self.run: int = self._writer.call(self._load_op)
        self.recorder = Recorder(rec, data_dir / MEDIA_DIR / REC_DIR, fps=fps, on_segment=self._on_segment,
                                 space=BudgetSpace(self.budget, cfg.min_free_mb), lossless=lossless, tag=camera)

    @property
    def clips(self) -> bool:
        """Whether events get clips (storage.clips)."""
        return self.cfg.clips

    # --- start-up ------------------------------------------------------------------------------------------

    def _load_op(self, tx: Tx) -> int:
        """A new run; this camera's segments go back into the book; windows a crash left open get their holds
        from the footage of their own run."""
        conn, now = tx.conn, time.time()
        holds.adopt_legacy(conn, self.camera)
        segdb.drop_orphans(conn)
        holds.drop_dangling(conn, now)
        run = self.book.run = holds.new_run(conn, self.camera)
        rows = conn.execute("SELECT relpath, start_time, end_time, keep, run FROM segments WHERE camera = ? "
                            "ORDER BY start_time", (self.camera,))
        for relpath, start, end, keep, seg_run in rows.fetchall():
            self.book.add(SegRef(relpath, start, end, keep, seg_run))
        for event_id, old_run, _, start, end in holds.recording_windows(conn, self.camera):
            self.book.started(event_id, start, old_run)
            self.book.ended(event_id, end if end is not None else start)
        for job in self.book.ready():  # earlier runs' windows: final now
            self._write_holds(job, tx)
            self.book.done(job)
        return run

    def recorded_until(self) -> float | None:
        """End of the last segment kept for this camera (a replay's clock starts after it), or None."""
        with self._lock:
            ends = [s.end for s in self.book.segments]
        return max(ends) if ends else None

    # --- pipeline thread -----------------------------------------------------------------------------------

    def offer(self, frame: Frame) -> None:
        self.recorder.offer(frame)

    def event_started(self, event_id: str, start: float) -> None:
        """Follow the event's window (in case a rule's `clip` action asks to keep it, when clips are off)."""
        with self._lock:
            self.book.started(event_id, start, self.run, held=self.cfg.clips)
        if self.cfg.clips:
            self._open_window(event_id, start)

    def _open_window(self, event_id: str, start: float) -> None:
        camera, run, begin = self.camera, self.run, start - self.cfg.pre_roll_s
        self._writer.submit(lambda tx: holds.open_window(tx.conn, event_id, camera, run, begin, start))

    def event_ended(self, event_id: str, end: float) -> None:
        with self._lock:
            self.book.ended(event_id, end)

    def hold(self, event_id: str) -> bool:
        """Rule action `clip`: keep the recording around this event, even when storage.clips is off."""
        with self._lock:
            pending = self.book.pending.get(event_id)
            if pending is None or not self.book.hold(event_id):
                return False
        self._open_window(event_id, pending.start)
        return True

    # --- recorder thread -----------------------------------------------------------------------------------

    def _on_segment(self, seg: Segment, room: Room) -> None:
        rel = seg.path.relative_to(self.data_dir).as_posix()
        ref = SegRef(rel, seg.start, seg.end, run=self.run)
        digest = file_digest(seg.path)  # just written: read back from the page cache
        with self._lock:
            self.book.add(ref)
            jobs = self.book.ready()
        row = segdb.SegmentRow(rel, seg.start, seg.end, seg.frames, seg.size, ref.keep, self.camera, self.run, digest)

        def op(tx: Tx) -> None:
            if seg.path.is_file():  # retention may have freed it already to make room
                segdb.add_segment(tx.conn, row)
            with self._lock:  # here, not on the recorder thread: the holds queued before this have been written
                doomed = self.book.expendable()
            gone = holds.unheld(tx.conn, [s.relpath for s in doomed])
            if gone:
                segdb.drop_segments(tx.conn, gone)
                unlink_later(tx, self.data_dir, gone)
            note_media(tx, self.budget)

        self._writer.submit(op).add_done_callback(lambda _: room.close())
        for job in jobs:
            self._submit_hold(job)

    def _submit_hold(self, job: ClipJob) -> Future[Any]:
        return self._writer.submit(functools.partial(self._hold_op, job))

    def _done(self, job: ClipJob) -> None:
        with self._lock:
            self.book.done(job)

    # --- writer thread -------------------------------------------------------------------------------------

    def _hold_op(self, job: ClipJob, tx: Tx) -> None:
        """The event's window is recorded: it holds the segments of its run covering it, and the log says which
        (with their sha256, so verify-log checks the footage as it checks the metadata). Its segments are free
        to go (when nothing holds them) from the next operation on: later ones see these holds."""
        try:
            self._write_holds(job, tx)
        finally:
            self._done(job)

    def _write_holds(self, job: ClipJob, tx: Tx) -> None:
        if not job.held or not db.event_exists(tx.conn, job.event_id):
            return
        cut = job.cut
        # Footage of the event itself, not only its pre-roll (a crash may have lost the segment it began in).
        covering = [s.relpath for s in job.segments] if any(s.end > cut.latest_start for s in job.segments) else []
        files = holds.add_holds(tx.conn, job.event_id, self.camera, job.run, (cut.start, cut.end), covering)
        if not files:
            log.info("no recording covers event %s; no clip", job.event_id)
            return
        payload = {"id": job.event_id, "camera": self.camera, "run": job.run, "start": round(cut.start, 3),
                   "end": round(cut.end, 3), "segments": files}
        db.append_log(tx.conn, job.event_id, "hold", payload, time.time())
        self.holds_written += 1

    def forget(self, relpaths: set[str]) -> None:
        """Segments retention deleted (writer thread, any time)."""
        with self._lock:
            self.book.forget(relpaths)

    # --- any thread ----------------------------------------------------------------------------------------

    def knows(self, event_id: str) -> bool:
        """Whether the event is this camera's and its window is still being recorded."""
        with self._lock:
            return event_id in self.book.pending

    def needed(self) -> set[str]:
        """Segments an event still waiting for its window needs: the quota frees them last."""
        with self._lock:
            return self.book.needed()

    def status(self) -> dict[str, Any]:
        return {**self.recorder.status(), "clips_held": self.holds_written}

    def close(self) -> None:
        """Finish the last segment, then write the holds of events still waiting (what was recorded of them)."""
        self.recorder.close()
        with self._lock:
            jobs = self.book.ready(closing=True)
        for job in jobs:
            self._submit_hold(job)


def expire_segments(tx: Tx, data_dir: Path, now: float, retain_s: float, continuous_s: Mapping[str, float],
                    default_continuous_s: float) -> list[str]:
    """Delete segments no event holds whose time is up: event footage after storage.retain_days (`retain_s`),
    continuous footage after its camera's recording.retain_days (`continuous_s` by camera; a camera no longer
    configured keeps the top-level one's). Returns their paths; the files go once the transaction commits."""
    conn, cutoff = tx.conn, now - retain_s
    doomed = segdb.expired(conn, KEEP_HELD, cutoff) + segdb.expired(conn, KEEP_NONE, cutoff)
    for camera, keep_s in continuous_s.items():
        doomed += segdb.expired(conn, KEEP_CONTINUOUS, now - keep_s, camera=camera)
    doomed += segdb.expired(conn, KEEP_CONTINUOUS, now - default_continuous_s, not_cameras=tuple(continuous_s))
    segdb.drop_segments(conn, doomed)
    unlink_later(tx, data_dir, doomed)
    return doomed
