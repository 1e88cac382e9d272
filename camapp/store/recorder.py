"""The media side of the store: a worker thread that writes snapshots and cuts clips, then records them in the DB.

Files are complete on disk (temp + fsync + rename) before the DB row that references them is queued.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from camapp.closing import QueueThread
from camapp.config.storage import StorageConfig
from camapp.store import db, media
from camapp.store.budget import Grant, StorageBudget
from camapp.store.retention import MEDIA_DIR, note_media, unlink_later
from camapp.store.snapshots import SnapshotCandidate
from camapp.store.writer import DBWriter, Tx
from camapp.types import Frame, FrameResult, Image

log = logging.getLogger(__name__)

Task = Callable[[], None]
AnnotateFn = Callable[[FrameResult], Image]


def default_annotate(result: FrameResult) -> Image:
    """The snapshot as the UI shows it: boxes, labels and zones drawn (camapp/annotate.py, OpenCV, loaded when the
    first snapshot is drawn)."""
    from camapp.annotate import annotate

    return annotate(result)


class MediaWorker(QueueThread[Task]):
    """One thread running queued media tasks in order; close() drains the queue and joins."""

    def __init__(self, name: str = "store-media") -> None:
        super().__init__(name)
        self._thread.start()

    def put(self, task: Task) -> bool:
        return self._offer(task)

    def pending(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while (task := self._queue.get()) is not None:
            try:
                task()
            except Exception:  # a failed file write must not stop later ones
                log.exception("event store: media task failed")


def media_relpath(owner: str, kind: str, when: float) -> str:
    """media/YYYY-MM-DD/<owner>-<kind>.<ext>, dated by the event start (local time)."""
    day = time.strftime("%Y-%m-%d", time.localtime(when))
    ext = "mp4" if kind == "clip" else "jpg"
    return f"{MEDIA_DIR}/{day}/{owner}-{kind}.{ext}"


class MediaRecorder:
    """Writes files and queues their DB rows; every method here runs on the media worker thread."""

    def __init__(self, cfg: StorageConfig, data_dir: Path, writer: DBWriter, annotate_fn: AnnotateFn,
                 budget: StorageBudget) -> None:
        self.cfg = cfg
        self.data_dir = data_dir
        self.writer = writer
        self.annotate_fn = annotate_fn
        self.budget = budget
        self.bytes_written = 0  # snapshot and thumbnail files written (the SD-card wear bench)
        self.bytes_replaced = 0  # of which later replaced by a better frame's (written - replaced: the files kept)

    def record(self, owner: str, files: list[tuple[str, str]], need_event: bool, grant: Grant) -> None:
        """Queue the DB rows for files already complete on disk; drop them if their event was deleted meanwhile.
        The grant is closed once the rows are committed (until then the budget counts the files as in flight)."""

        def op(tx: Tx) -> None:
            if need_event and not db.event_exists(tx.conn, owner):
                unlink_later(tx, self.data_dir, [rel for rel, _ in files])
                return
            now = time.time()
            for rel, kind in files:
                path = self.data_dir / rel
                if path.is_file():  # retention may have removed it since it was written
                    db.add_media(tx.conn, rel, owner, kind, path.stat().st_size, now)
            note_media(tx, self.budget)

        self.writer.submit(op).add_done_callback(lambda fut: grant.close())

    def _write_files(self, owner: str, blobs: list[tuple[str, str, bytes]], need_event: bool) -> None:
        """Write (relpath, kind, data) files if the budget has room for all of them, then record them."""
        grant = self.budget.reserve(sum(len(data) for _, _, data in blobs), f"snapshot {owner}")
        if grant is None:
            return  # the budget logged it (rate-limited); metadata is still stored
        replaced = sum(self._size(rel) for rel, _, _ in blobs)
        try:
            for rel, _, data in blobs:
                media.write_atomic(self.data_dir / rel, data)
        except OSError as err:
            log.warning("event store: cannot write %s snapshot: %s", owner, err)
            for rel, _, _ in blobs:
                (self.data_dir / rel).unlink(missing_ok=True)
            grant.close()
            return
        grant.report(sum(len(data) for _, _, data in blobs))
        self.bytes_written += sum(len(data) for _, _, data in blobs)
        self.bytes_replaced += replaced
        self.record(owner, [(rel, kind) for rel, kind, _ in blobs], need_event, grant)

    def _size(self, rel: str) -> int:
        try:
            return (self.data_dir / rel).stat().st_size
        except OSError:
            return 0

    def render(self, candidate: SnapshotCandidate) -> None:
        """Render the event's waiting best frame to the JPEGs its snapshot is saved as (and let the frame go)."""
        waiting = candidate.take()
        if waiting is None:
            return
        result, box = waiting
        cfg, image = self.cfg, result.frame.image
        # The event's own object only: with every box drawn, "this" person is found only by reading the path.
        own = tuple(o for o in result.objects if o.box == box)
        parts: list[tuple[str, Image, int]] = [
            ("snapshot", self.annotate_fn(replace(result, objects=own) if own else result), cfg.snapshot_width),
            ("snapshot_clean", image, cfg.snapshot_width),
            ("thumbnail", media.thumbnail(image, box, cfg.thumbnail_size), 0),
        ]
        candidate.rendered = [(kind, media.encode_jpeg(img, cfg.jpeg_quality, width)) for kind, img, width in parts]

    def save_snapshot(self, event_id: str, start: float, candidate: SnapshotCandidate) -> None:
        """The event's best frame so far: annotated, clean and a thumbnail crop of the object."""
        self.render(candidate)
        rendered = candidate.rendered
        if rendered is not None:
            self._write_files(event_id, [(media_relpath(event_id, kind, start), kind, data) for kind, data in rendered],
                              need_event=True)

    def save_manual(self, snap_id: str, frame: Frame) -> None:
        rel = media_relpath(snap_id, "manual", frame.timestamp)
        self._write_files(snap_id, [(rel, "manual", media.encode_jpeg(frame.image, self.cfg.jpeg_quality))], False)
