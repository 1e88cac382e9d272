"""The store's side of recording: segments into the database, events-only pruning, event clips cut from segments.

Threads: the pipeline thread reports frames and events; the recorder thread reports finished segments; clips are
cut on the store's media worker. The SegmentBook is shared between them under one lock.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from pathlib import Path
from typing import Any

from camapp.config.storage import StorageConfig
from camapp.record.book import KEEP_CONTINUOUS, KEEP_HELD, KEEP_NONE, ClipJob, SegmentBook, SegRef
from camapp.record.codec import RecordingError
from camapp.record.recorder import Recorder, Room
from camapp.record.segments import Segment, cut_clip
from camapp.store import db, segdb
from camapp.store.budget import Grant, StorageBudget
from camapp.store.recorder import MediaRecorder, MediaWorker, media_relpath
from camapp.store.retention import MEDIA_DIR, free_bytes, note_media, unlink_later
from camapp.store.verify import file_digest
from camapp.store.writer import DBWriter, Tx
from camapp.types import Frame

log = logging.getLogger(__name__)

MB = 1024 * 1024
REC_DIR = "rec"  # segments live under media/rec/YYYY-MM-DD/
CLIP_CODEC = "avc1"  # what event_details.clip_codec says of clips cut from the H.264 recording


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
    """Owns the Recorder and the SegmentBook for one EventStore."""

    def __init__(  # noqa: PLR0913 - the store hands over its parts
        self, cfg: StorageConfig, data_dir: Path, writer: DBWriter, worker: MediaWorker, media: MediaRecorder, *,
        fps: float, lossless: bool = False,
    ) -> None:
        self.cfg, self.data_dir, self._writer, self._worker, self._media = cfg, data_dir, writer, worker, media
        self.budget = media.budget
        self._frame_s = 1.0 / fps
        rec = cfg.recording
        self.book = SegmentBook(continuous=rec.mode == "continuous", pre_s=cfg.pre_roll_s, post_s=cfg.post_roll_s,
                                max_s=cfg.clip_max_s)
        self._lock = threading.Lock()
        self._writer.call(self._load_op)
        self.recorder = Recorder(rec, data_dir / MEDIA_DIR / REC_DIR, fps=fps, on_segment=self._on_segment,
                                 space=BudgetSpace(self.budget, cfg.min_free_mb), lossless=lossless)
        self.clips_cut = 0

    @property
    def clips(self) -> bool:
        """Whether events get clips (storage.clips)."""
        return self.cfg.clips

    # --- start-up ------------------------------------------------------------------------------------------

    def _load_op(self, tx: Tx) -> None:
        """Segments left by the last run go back into the book; events a crash left without a clip get one."""
        segdb.drop_orphans(tx.conn)
        rows = tx.conn.execute("SELECT relpath, start_time, end_time, keep FROM segments ORDER BY start_time")
        for relpath, start, end, keep in rows.fetchall():
            self.book.add(SegRef(relpath, start, end, keep))
        if not self.book.segments or not self.cfg.clips:
            return
        for event_id, start, end in segdb.clipless_events(tx.conn, self.book.segments[0].start - self.cfg.post_roll_s):
            self.book.started(event_id, start)
            self.book.ended(event_id, end if end is not None else self.book.recorded_until)
        for job in self.book.ready():
            self._worker.put(functools.partial(self._cut, job))

    # --- pipeline thread -----------------------------------------------------------------------------------

    def offer(self, frame: Frame) -> None:
        self.recorder.offer(frame)

    def event_started(self, event_id: str, start: float) -> None:
        if self.cfg.clips:
            with self._lock:
                self.book.started(event_id, start)

    def event_ended(self, event_id: str, end: float) -> None:
        with self._lock:
            self.book.ended(event_id, end)

    def hold(self, event_id: str) -> bool:
        """Rule action `clip`: keep the recording around this event, even in events-only mode."""
        with self._lock:
            return self.book.hold(event_id)

    # --- recorder thread -----------------------------------------------------------------------------------

    def _on_segment(self, seg: Segment, room: Room) -> None:
        rel = seg.path.relative_to(self.data_dir).as_posix()
        ref = SegRef(rel, seg.start, seg.end)
        with self._lock:
            self.book.add(ref)
            jobs, doomed = self.book.ready(), self.book.expendable()

        def op(tx: Tx) -> None:
            if seg.path.is_file():  # retention may have freed it already to make room
                segdb.add_segment(tx.conn, rel, (seg.start, seg.end), seg.frames, seg.size, ref.keep)
            if doomed:
                segdb.drop_segments(tx.conn, [s.relpath for s in doomed])
                unlink_later(tx, self.data_dir, [s.relpath for s in doomed])
            note_media(tx, self.budget)

        self._writer.submit(op).add_done_callback(lambda _: room.close())
        for job in jobs:
            self._worker.put(functools.partial(self._cut, job))

    # --- media worker --------------------------------------------------------------------------------------

    def _cut(self, job: ClipJob) -> None:
        try:
            self._cut_clip(job)
        finally:
            with self._lock:
                self.book.done(job)

    def _cut_clip(self, job: ClipJob) -> None:
        if job.held:
            held = [s.relpath for s in job.segments]
            self._writer.submit(lambda tx: segdb.set_keep(tx.conn, held, KEEP_HELD))
        if not job.segments:
            log.info("no recording covers event %s; no clip", job.event_id)
            return
        # Room for the whole clip before it is written: at most the segments it is copied from.
        grant = self.budget.reserve(self._size_of(job.segments), f"clip {job.event_id}")
        if grant is None:
            log.info("no room for the clip of event %s", job.event_id)
            return
        rel = media_relpath(job.event_id, "clip", job.cut.latest_start)
        sources = [(self.data_dir / s.relpath, s.start) for s in job.segments]
        try:
            clip = cut_clip(sources, job.cut, self.data_dir / rel, self._frame_s, grow=grant.report)
        except RecordingError as err:  # e.g. the quota took a segment meanwhile
            grant.close()
            log.warning("no clip for event %s: %s", job.event_id, err)
            return
        except BaseException:
            grant.close()
            raise
        if clip is None:
            grant.close()
            log.info("the recording has no footage of event %s; no clip", job.event_id)
            return
        grant.report(clip.size)
        self.clips_cut += 1
        self._record_clip(job.event_id, rel, clip, grant)

    def _size_of(self, segments: tuple[SegRef, ...]) -> int:
        total = 0
        for seg in segments:
            with contextlib.suppress(OSError):
                total += (self.data_dir / seg.relpath).stat().st_size
        return total

    def _record_clip(self, event_id: str, rel: str, clip: Segment, grant: Grant) -> None:
        """The clip's media row and a `clip` row in the hash-chained log (path, size, sha256: verify-log checks
        the file against it), in one transaction; dropped if the event was deleted meanwhile."""
        payload = {"id": event_id, "path": rel, "bytes": clip.size, "sha256": file_digest(clip.path),
                   "codec": "h264", "start": round(clip.start, 3), "end": round(clip.end, 3), "frames": clip.frames}

        def op(tx: Tx) -> None:
            if not db.event_exists(tx.conn, event_id):
                unlink_later(tx, self.data_dir, [rel])
                return
            if not (self.data_dir / rel).is_file():  # freed for room meanwhile
                return
            now = time.time()
            db.add_media(tx.conn, rel, event_id, "clip", clip.size, now)
            db.append_log(tx.conn, event_id, "clip", payload, now)
            note_media(tx, self.budget)

        self._writer.submit(op).add_done_callback(lambda _: grant.close())

    # --- writer thread -------------------------------------------------------------------------------------

    def retention_op(self, tx: Tx, now: float) -> None:
        """Expire continuous segments after recording.retain_days, the others after storage.retain_days."""
        rec, cutoff = self.cfg.recording, now - self.cfg.retain_days * 86400
        doomed = segdb.expired(tx.conn, KEEP_CONTINUOUS, now - rec.retain_days * 86400)
        doomed += segdb.expired(tx.conn, KEEP_HELD, cutoff) + segdb.expired(tx.conn, KEEP_NONE, cutoff)
        segdb.drop_segments(tx.conn, doomed)
        unlink_later(tx, self.data_dir, doomed)
        note_media(tx, self.budget)
        gone = segdb.drop_orphans(tx.conn)  # the quota took their files
        with self._lock:
            self.book.forget(set(doomed) | set(gone))

    # --- any thread ----------------------------------------------------------------------------------------

    def needed(self) -> set[str]:
        """Segments a clip being cut or an event still waiting for its clip needs: the quota frees them last."""
        with self._lock:
            return self.book.needed()

    def status(self) -> dict[str, Any]:
        return {**self.recorder.status(), "clips_cut": self.clips_cut}

    def close(self) -> None:
        """Finish the last segment, then cut the clips of events still waiting (the media worker runs them)."""
        self.recorder.close()
        with self._lock:
            jobs = self.book.ready(closing=True)
        for job in jobs:
            self._worker.put(functools.partial(self._cut, job))
