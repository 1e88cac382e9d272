"""CameraStore: one camera's ResultSink into the appliance's store (camapp/store/shared.py) — its open events,
their paths and snapshots, its recorder and segments. handle() only queues work for the store's threads."""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camapp.config.storage import StorageConfig
from camapp.geometry import Box
from camapp.sinks import ResultSink
from camapp.store import db
from camapp.store.budget import StorageBudget
from camapp.store.chain import InvalidIdError, check_id
from camapp.store.closing import end_event
from camapp.store.paths import PathBook, TrackPath
from camapp.store.recorder import MediaRecorder, MediaWorker
from camapp.store.recording import CLIP_CODEC, RUN_GAP_S, StoreRecording
from camapp.store.snapshots import SnapshotCandidate
from camapp.store.writer import DBWriter
from camapp.types import CameraName, EventMessage, Frame, FrameResult

log = logging.getLogger(__name__)

DETAILS_EVERY_S = 1.0  # how often a running event's path is saved, so its page shows where the object went so far


@dataclass
class StoreParts:
    """What every camera's sink shares: the appliance's storage section, the data directory, the one DB writer,
    the budget, and the media thread that renders and writes snapshots."""

    cfg: StorageConfig
    data_dir: Path
    writer: DBWriter
    budget: StorageBudget
    worker: MediaWorker
    recorder: MediaRecorder
    backlog: int = 0  # snapshots the media thread may fall behind by before they are skipped (all cameras')


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


class CameraStore(ResultSink):
    """One camera's events, snapshots and recording, written through the shared store's threads."""

    def __init__(self, parts: StoreParts, cfg: StorageConfig, *, camera: CameraName, fps: float,
                 lossless: bool = False) -> None:
        """`cfg`: this camera's view of storage (its own storage.recording); `lossless`: a replay of a file, where
        recording waits for the encoder instead of dropping frames."""
        if not fps > 0:
            raise ValueError(f"camera {camera}: store fps must be > 0, got {fps!r}")
        self.parts, self.cfg, self.camera, self.fps = parts, cfg, camera, fps
        self._writer, self._worker, self._recorder = parts.writer, parts.worker, parts.recorder
        # Snapshots waiting for the media thread hold references to frames; past this many, skip snapshots.
        parts.backlog += round(3 * fps) + 8
        self._recording: StoreRecording | None = None
        if cfg.recording.mode != "off":
            self._recording = StoreRecording(cfg, parts.data_dir, parts.writer, parts.budget, fps=fps,
                                             camera=camera, lossless=lossless)
        self._open: dict[str, _OpenEvent] = {}
        self._paths = PathBook()
        self._deleted: set[str] = set()
        self._latest: Frame | None = None
        self._lock = threading.Lock()
        self._closed = False
        rec = "off" if self._recording is None else f"{cfg.recording.mode}, {self._recording.recorder.encoder_name}"
        log.info("camera %s: storing events at %s (recording: %s)", camera, parts.data_dir, rec)

    @property
    def recording(self) -> StoreRecording | None:
        """This camera's recorder and segment book (None when its storage.recording.mode is off)."""
        return self._recording

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
        if self._worker.pending() > 2 * self.parts.backlog:
            log.warning("event store: media writer is far behind; no snapshot for %s", event_id)
            return
        event.saved_score = event.best_score
        task = functools.partial(self._recorder.save_snapshot, event_id, event.start, event.snapshot)
        self._worker.put(task)

    # --- other threads -----------------------------------------------------------------------------------

    def owns(self, event_id: str) -> bool:
        """Whether the event is this camera's and still followed (running, or its clip window not cut yet)."""
        with self._lock:
            if event_id in self._open:
                return True
        return self._recording is not None and self._recording.knows(event_id)

    def save_snapshot(self, snap_id: str) -> None:
        """A manual snapshot request: save this camera's latest frame under the id the requester was given."""
        frame = self._latest
        if frame is None:
            log.warning("camera %s: snapshot %s requested before the first frame; nothing saved", self.camera, snap_id)
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

    def forget_event(self, event_id: str) -> None:
        """The user deletes the event: a running one stops being followed (no more snapshots or path rows)."""
        with self._lock:
            self._deleted.add(event_id)
            self._open.pop(event_id, None)

    def unforget_event(self, event_id: str) -> None:
        """There was no such event to delete after all."""
        with self._lock:
            self._deleted.discard(event_id)

    def forget_segments(self, relpaths: set[str]) -> None:
        """Segments retention or the quota deleted (writer thread)."""
        if self._recording is not None:
            self._recording.forget(relpaths)

    def needed(self) -> set[str]:
        """Segments an event of this camera still waiting for its window needs."""
        return set() if self._recording is None else self._recording.needed()

    def sync(self, timeout: float) -> None:
        """Wait until the recorder has written every frame offered so far."""
        if self._recording is not None:
            self._recording.recorder.sync(timeout)

    def close(self) -> None:
        """End events still open, finish the recording (and the holds still due); idempotent. The shared store's
        threads write what this queued; they stop when the store closes."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._end_open_events()
        if self._recording is not None:
            self._recording.close()

    def _end_open_events(self) -> None:
        """Events the pipeline did not end (it stopped abnormally) are ended here, so none stays `ongoing`."""
        latest = self._latest.timestamp if self._latest is not None else time.time()
        for event_id, event in list(self._open.items()):
            self._save_details(event_id, event)
            if event.best_score > event.saved_score:
                self._save_snapshot(event_id, event)
            self._writer.submit(functools.partial(end_event, event_id, max(latest, event.start), "shutdown"))
            self._on_end(event_id, max(latest, event.start))

