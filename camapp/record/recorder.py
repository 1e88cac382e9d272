"""The recorder: one encoder thread turning frames (or the camera's own H.264 packets) into rotating segments.

The pipeline thread only queues: a bounded queue drops (and counts) frames when the encoder falls behind, so
recording never slows detection. Each frame is encoded once, whatever the number of events it belongs to.
"""

from __future__ import annotations

import functools
import logging
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from camapp.closing import Closing
from camapp.config.recording import RecordingConfig
from camapp.record.codec import H264Encoder, RecordingError, available_encoders, choose_encoder
from camapp.record.segments import Segment, SegmentWriter
from camapp.types import EncodedPacket, Frame

log = logging.getLogger(__name__)

PASSTHROUGH = "camera"  # the encoder name reported when the camera's own H.264 is stored
GAP_S = 2.0  # frames further apart than this (a stalled camera) start a new segment
SEGMENT_GUESS = 256 * 1024  # room asked for the first segment; later ones ask for the size of the last


class Room(Protocol):
    """Room granted by the storage budget for one file (camapp.store.budget.Grant)."""

    def report(self, written: int) -> bool:
        """The file holds `written` bytes; False: it may not grow further."""

    def close(self) -> None:
        """The file is recorded (or dropped)."""


class Space(Protocol):
    """Asked before each segment: room for it, or why there is none."""

    def reserve(self, nbytes: int, label: str) -> Room | None: ...

    def why_not(self) -> str: ...


class Unlimited:
    """No budget (tests of the recorder alone)."""

    def reserve(self, nbytes: int, label: str) -> Room | None:
        return _NoRoomNeeded()

    def why_not(self) -> str:
        return ""


class _NoRoomNeeded:
    def report(self, written: int) -> bool:
        return True

    def close(self) -> None:
        pass


SegmentDone = Callable[[Segment, Room], None]  # called with the room, to be closed once the segment is recorded
_Item = Frame | list[EncodedPacket] | threading.Event  # an Event is set once everything before it is written


def segment_name(root: Path, when: float, tag: str = "") -> Path:
    """root/YYYY-MM-DD/HHMMSS-mmm.<tag>.mp4 in local time: sorted by name is sorted by time. The tag (the camera)
    keeps two cameras' segments starting in the same millisecond apart (two replays of one file do)."""
    local = time.localtime(when)
    name = f"{time.strftime('%H%M%S', local)}-{int(when * 1000) % 1000:03d}{'.' + tag if tag else ''}.mp4"
    return root / time.strftime("%Y-%m-%d", local) / name


class Recorder(Closing):
    """Encodes once per frame on its own thread and hands each finished segment to `on_segment`."""

    def __init__(  # noqa: PLR0913 - the recorder's collaborators are all needed
        self, cfg: RecordingConfig, root: Path, *, fps: float, on_segment: SegmentDone,
        space: Space | None = None, encoder: str | None = None, lossless: bool = False, tag: str = "",
    ) -> None:
        self.cfg, self.root, self.fps, self.lossless, self.tag = cfg, root, fps, lossless, tag
        self._frame_s = 1.0 / fps
        self.encoder_name = encoder or choose_encoder(cfg.encoder, available_encoders())
        self._on_segment, self._space = on_segment, space or Unlimited()
        self._room: Room | None = None
        self._next_size = SEGMENT_GUESS
        self._queue: queue.Queue[_Item | None] = queue.Queue(max(2, round(cfg.queue_s * fps)))
        self._encoder: H264Encoder | None = None
        self._writer: SegmentWriter | None = None
        self._need_key = False  # packets were dropped: skip to the next keyframe
        self._last_write = time.monotonic()
        self._last_ts: float | None = None
        self._last_offered: tuple[int, float] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._source = "waiting for frames"
        self._blocked: str | None = None
        self.offered = self.dropped = self.encoded = self.segments = 0
        self.stream_bytes = self.segment_bytes = 0  # H.264 packets written; finished segment files (with index)
        self._encode_ms: deque[float] = deque(maxlen=100)
        self._thread = threading.Thread(target=self._run, name="recorder", daemon=True)
        self._thread.start()

    # --- pipeline thread ---------------------------------------------------------------------------------

    def offer(self, frame: Frame) -> None:
        """Queue the frame for encoding, or the camera's packets when it delivers H.264.

        Never blocks a live camera's pipeline (frames are dropped and counted instead); a replay (`lossless`)
        waits for the encoder, so every frame of the file is recorded.
        """
        if self._closed:
            return
        key = (frame.index, frame.timestamp)
        if key == self._last_offered:  # the pipeline's final result repeats the last frame (to end events)
            return
        self._last_offered = key
        self.offered += 1
        item: Frame | list[EncodedPacket] = frame
        if frame.packets is not None and self.cfg.passthrough:
            item = frame.packets.take()
            if not item:
                return
        try:
            self._queue.put(item, block=self.lossless)
        except queue.Full:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("recording: the encoder is behind; %d frame(s) dropped so far", self.dropped)
            if isinstance(item, list):
                self._need_key = True

    # --- encoder thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        idle = max(2.0 * self.cfg.segment_s, 1.0)
        while True:
            try:
                item = self._queue.get(timeout=idle / 2)
            except queue.Empty:
                if self._writer is not None and time.monotonic() - self._last_write > idle:
                    self._guarded(self._finish)  # the camera stalled: let the footage so far be cut into clips
                continue
            if item is None:
                break
            self._guarded(functools.partial(self._handle, item))
        self._drain()

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run one step of the thread; a bad frame or a full disk must not stop recording for good."""
        try:
            step()
        except Exception as err:
            log.warning("recording: %s", err)
            self._abort()

    def _handle(self, item: _Item) -> None:
        if isinstance(item, threading.Event):
            item.set()
            return
        if isinstance(item, list):
            self._source = PASSTHROUGH
            self._close_encoder()
            packets = item
        else:
            self._source = self.encoder_name
            packets = self._encode(item)
        for packet in packets:
            self._write(packet)

    def _encode(self, frame: Frame) -> list[EncodedPacket]:
        enc = self._encoder
        if enc is not None and (enc.width, enc.height) != (frame.width - frame.width % 2,
                                                            frame.height - frame.height % 2):
            self._close_encoder()  # the camera came back at another size: new stream, new segment
            enc = None
        if enc is None:
            enc = self._encoder = H264Encoder(
                self.encoder_name, frame.width, frame.height, fps=self.fps, keyframe_s=self.cfg.keyframe_s,
                preset=self.cfg.preset, crf=self.cfg.crf, bitrate_kbps=self.cfg.bitrate_kbps,
            )
        gap = self._last_ts is not None and abs(frame.timestamp - self._last_ts) > GAP_S
        self._last_ts = frame.timestamp
        t0 = time.perf_counter()
        packets = enc.encode(frame.image, frame.timestamp, keyframe=gap)
        self._encode_ms.append((time.perf_counter() - t0) * 1000.0)
        self.encoded += 1
        return packets

    def _close_encoder(self) -> None:
        enc, self._encoder = self._encoder, None
        if enc is not None:
            for packet in enc.flush():
                self._write(packet)
            enc.close()
            self._finish()

    def _write(self, packet: EncodedPacket) -> None:
        if self._need_key and not packet.keyframe:
            return  # packets were lost: what follows cannot be decoded until the next keyframe
        writer = self._writer
        if writer is not None and packet.keyframe and (
            packet.timestamp - writer.start >= self.cfg.segment_s or abs(packet.timestamp - writer.end) > GAP_S
        ):
            self._finish()
            writer = None
        if writer is None:
            self._start(packet)
            return
        writer.write(packet)
        self.stream_bytes += len(packet.data)
        self._last_write = time.monotonic()
        if self._room is not None and not self._room.report(writer.size):
            self._finish()  # the budget has no more room: keep what this segment has
            self._need_key = True

    def _start(self, packet: EncodedPacket) -> None:
        if not packet.keyframe:
            return  # a segment can only start at a keyframe
        self._need_key = False
        room = self._space.reserve(self._next_size, "recording segment")
        blocked = None if room is not None else (self._space.why_not() or "no room in the storage budget")
        if blocked != self._blocked:
            log.warning("recording stopped: %s", blocked) if blocked else log.info("recording resumed")
            self._blocked = blocked
        if room is None:
            return
        try:
            self._writer = SegmentWriter(segment_name(self.root, packet.timestamp, self.tag), packet, self._frame_s)
        except BaseException:
            room.close()
            raise
        self._room = room
        self._last_write = time.monotonic()

    def _finish(self) -> None:
        writer, self._writer = self._writer, None
        room, self._room = self._room, None
        if writer is None or room is None:
            return
        try:
            segment = writer.finish()
        except BaseException:
            room.close()
            raise
        self.segments += 1
        self.segment_bytes += segment.size
        self._next_size = max(segment.size, SEGMENT_GUESS // 4)
        room.report(segment.size)
        try:
            self._on_segment(segment, room)
        except Exception:  # the store failing to note it must not stop recording
            room.close()
            log.exception("recording: could not register segment %s", segment.path.name)

    def _abort(self) -> None:
        writer, self._writer = self._writer, None
        room, self._room = self._room, None
        if writer is not None:
            writer.abort()
        if room is not None:
            room.close()
        self._encoder = None

    def _drain(self) -> None:
        """At close: encode what is queued, flush the encoder, finish the last segment."""
        try:
            while (item := self._queue.get_nowait()) is not None:
                self._handle(item)
        except queue.Empty:
            pass
        try:
            self._close_encoder()
            self._finish()
        except (RecordingError, OSError) as err:
            log.warning("recording: the last segment is lost: %s", err)
            self._abort()

    # --- any thread --------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """What the System page and MQTT stats show about recording."""
        state = "stopped" if self._closed else (f"stopped: {self._blocked}" if self._blocked else "recording")
        ms = list(self._encode_ms)
        return {
            "mode": self.cfg.mode, "state": state, "encoder": self._source, "frames_offered": self.offered,
            "frames_encoded": self.encoded, "frames_dropped": self.dropped, "segments": self.segments,
            "stream_bytes": self.stream_bytes, "segment_bytes": self.segment_bytes,
            "encode_ms": round(statistics.mean(ms), 2) if ms else None,
        }

    def sync(self, timeout: float = 60.0) -> bool:
        """Wait until every frame offered so far is encoded and written (tests, flush)."""
        if self._closed:
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout)

    @property
    def blocked(self) -> str | None:
        """Why recording is stopped (low disk), or None."""
        return self._blocked

    def close(self) -> None:
        """Finish the segment being written and stop the thread; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._queue.put(None)  # blocks only while the queue is full; the thread is draining it
        self._thread.join()

