"""Recording on its own: encoder choice, segments, clips cut without re-encoding, and the cameras that deliver
H.264 themselves (an RTSP-style stream demuxed by PyAV, picamera2's encoder through a fake Picamera2)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from store_helpers import FPS, video_frames

from camapp.capture.packets import PacketBuffer
from camapp.capture.picam import Picamera2Source
from camapp.capture.stream import StreamSource
from camapp.config.recording import RecordingConfig
from camapp.errors import CaptureError
from camapp.record.book import KEEP_NONE, SegmentBook, SegRef
from camapp.record.codec import HARDWARE, SOFTWARE, H264Encoder, RecordingError, choose_encoder
from camapp.record.recorder import Recorder
from camapp.record.segments import ClipCut, Segment, cut_clip
from camapp.types import EncodedPacket, Frame


@pytest.fixture(scope="module")
def frames(demo_video: Path) -> tuple[Frame, ...]:
    return video_frames(demo_video, 60)


def decode(path: Path) -> tuple[str, list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.name, [f.to_ndarray(format="gray") for f in container.decode(stream)]


@pytest.mark.parametrize(
    ("preference", "available", "working", "expected"),
    [
        ("auto", {HARDWARE, SOFTWARE}, {HARDWARE, SOFTWARE}, HARDWARE),  # a Pi 4: its encoder is used
        ("auto", {HARDWARE, SOFTWARE}, {SOFTWARE}, SOFTWARE),  # compiled in, but no /dev/video11 (any PC)
        ("auto", {SOFTWARE}, {SOFTWARE}, SOFTWARE),
        (HARDWARE, {HARDWARE, SOFTWARE}, {SOFTWARE}, SOFTWARE),  # asked for but absent: falls back, warns
        (SOFTWARE, {HARDWARE, SOFTWARE}, {HARDWARE, SOFTWARE}, SOFTWARE),
        ("auto", {HARDWARE}, set(), None),
    ],
)
def test_encoder_choice(preference: str, available: set[str], working: set[str], expected: str | None) -> None:
    if expected is None:
        with pytest.raises(RecordingError, match=r"no usable H\.264 encoder"):
            choose_encoder(preference, available, working.__contains__)
    else:
        assert choose_encoder(preference, available, working.__contains__) == expected


def test_encoder_choice_against_this_pyav() -> None:
    """The wheels list both encoders; here (no Pi) the hardware one does not open, so libx264 is chosen."""
    assert {HARDWARE, SOFTWARE} <= set(av.codecs_available)
    assert choose_encoder("auto", av.codecs_available) in (HARDWARE, SOFTWARE)


def _segments(tmp_path: Path, frames: tuple[Frame, ...], **cfg: Any) -> tuple[Recorder, list[Segment]]:
    done: list[Segment] = []
    rec = Recorder(RecordingConfig(**cfg), tmp_path / "rec", fps=FPS, lossless=True,
                   on_segment=lambda seg, room: (done.append(seg), room.close()))
    for frame in frames:
        rec.offer(frame)
    rec.close()
    return rec, done


def test_segments_are_h264_cut_at_keyframes_and_cover_every_frame(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    rec, segments = _segments(tmp_path, frames, segment_s=2.0)
    assert rec.encoded == len(frames) and rec.dropped == 0
    assert [s.frames for s in segments] == [20, 20, 20]
    for seg, first in zip(segments, (0, 20, 40), strict=True):
        codec, images = decode(seg.path)
        assert codec == "h264" and len(images) == 20
        assert seg.start == frames[first].timestamp and abs(seg.end - frames[first + 19].timestamp - 0.1) < 1e-6
        assert float(np.mean(np.abs(images[0].astype(int) - frames[first].image.mean(axis=2)))) < 12
    assert not [p for p in (tmp_path / "rec").rglob(".*")]  # no temp files left


@pytest.mark.parametrize(
    ("start", "latest", "end", "first", "count"),
    [
        (1.0, 1.5, 4.0, 10, 30),  # on a keyframe
        (1.3, 1.5, 2.5, 10, 15),  # nearest keyframe before: 1.0 is nearer than 2.0
        (1.8, 2.5, 2.5, 20, 5),  # nearest keyframe after: 2.0
        (1.8, 1.9, 2.5, 10, 15),  # ... but never after the event's own start
        (5.5, 6.0, 9.0, 50, 10),  # the footage ends before the window does
    ],
)
def test_clip_is_cut_from_segments_without_reencoding(tmp_path: Path, frames: tuple[Frame, ...], start: float,
                                                      latest: float, end: float, first: int, count: int) -> None:
    _, segments = _segments(tmp_path, frames, segment_s=2.0)
    t0 = frames[0].timestamp
    cut = ClipCut(t0 + start, t0 + latest, t0 + end)
    clip = cut_clip([(s.path, s.start) for s in segments], cut, tmp_path / "clip.mp4", 1 / FPS)
    assert clip is not None and clip.frames == count and clip.start == frames[first].timestamp
    codec, images = decode(clip.path)
    assert codec == "h264" and len(images) == count
    source = [img for s in segments for img in decode(s.path)[1]]
    assert all(np.array_equal(a, b) for a, b in zip(images, source[first:first + count], strict=True))  # bit-exact
    with av.open(str(clip.path)) as c:
        assert abs(float(c.duration or 0) / 1e6 - count / FPS) < 0.05


def test_a_clip_reports_its_size_while_cut_and_stops_when_refused(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    _, segments = _segments(tmp_path, frames, segment_s=2.0)
    t0 = frames[0].timestamp
    cut = ClipCut(t0 + 1.0, t0 + 1.5, t0 + 4.0)
    seen: list[int] = []
    full = cut_clip([(s.path, s.start) for s in segments], cut, tmp_path / "full.mp4", 1 / FPS,
                    grow=lambda n: seen.append(n) is None)
    assert full is not None and full.frames == 30
    assert len(seen) == 30 and seen == sorted(seen) and seen[-1] <= full.size  # counted as it grew
    limit = seen[9]  # the budget refuses the 11th packet
    clip = cut_clip([(s.path, s.start) for s in segments], cut, tmp_path / "short.mp4", 1 / FPS,
                    grow=lambda n: n <= limit)
    assert clip is not None and clip.frames == 11 and clip.size < full.size  # what was cut is kept
    assert len(decode(clip.path)[1]) == 11


def test_no_footage_no_clip(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    _, segments = _segments(tmp_path, frames[:20], segment_s=2.0)
    t0 = frames[0].timestamp
    late = ClipCut(t0 + 100, t0 + 101, t0 + 105)
    assert cut_clip([(s.path, s.start) for s in segments], late, tmp_path / "c.mp4", 0.1) is None
    assert not (tmp_path / "c.mp4").exists()


def test_a_slow_encoder_drops_and_counts_frames_instead_of_blocking(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    gate = threading.Event()
    rec = Recorder(RecordingConfig(queue_s=0.2), tmp_path / "rec", fps=FPS,
                   on_segment=lambda seg, room: (gate.wait(10), room.close()))
    original = rec._encode

    def slow(frame: Frame) -> list[EncodedPacket]:
        gate.wait(10)  # the encoder thread is stuck until the pipeline has offered everything
        return original(frame)

    rec._encode = slow  # type: ignore[method-assign]
    for frame in frames:
        rec.offer(frame)  # must return at once although nothing is encoded yet
    assert rec.dropped >= len(frames) - 3 and rec.status()["frames_dropped"] == rec.dropped
    gate.set()
    rec.close()
    assert rec.encoded + rec.dropped == len(frames)


def test_book_keeps_what_clips_need_and_drops_the_rest() -> None:
    book = SegmentBook(continuous=False, pre_s=2.0, post_s=1.0, max_s=30.0)
    for k in range(20):  # 20 segments of 4 s: 0..80 s
        book.add(SegRef(f"s{k}", 4.0 * k, 4.0 * k + 4))
    book.started("a", 50.0)
    assert book.needed() == {f"s{k}" for k in range(12, 20)}  # what the quota frees last
    doomed = {s.relpath for s in book.expendable()}
    assert doomed == {f"s{k}" for k in range(12)}  # older than pre-roll + confirmation margin, or than event a
    book.ended("a", 55.0)
    book.hold("a")
    (job,) = book.ready()
    assert job.event_id == "a" and [s.relpath for s in job.segments] == ["s12", "s13"]
    assert (job.cut.start, job.cut.latest_start, job.cut.end) == (48.0, 50.0, 56.0) and job.held
    book.done(job)
    # The book no longer protects them: the store deletes only those no event holds (holds table).
    assert {s.relpath for s in book.expendable()} == {"s12", "s13", "s14", "s15"}
    continuous = SegmentBook(continuous=True, pre_s=2.0, post_s=1.0, max_s=30.0)
    continuous.add(SegRef("x", 0.0, 4.0, KEEP_NONE))
    continuous.add(SegRef("y", 100.0, 104.0))
    assert continuous.expendable() == []


def test_book_windows_cover_only_their_own_runs_footage() -> None:
    """Run 1 (an earlier replay) and run 2 (now) overlap in time: an event of run 2 gets only run 2's segments, and
    run 1's event, found waiting at start, is final at once (run 1 records nothing more)."""
    book = SegmentBook(continuous=False, pre_s=2.0, post_s=1.0, max_s=30.0, run=2)
    for k in range(10):
        book.add(SegRef(f"old{k}", 4.0 * k, 4.0 * k + 4, run=1))
    book.started("late", 30.0, run=1)
    book.ended("late", 60.0)  # past the end of run 1's footage
    (old,) = book.ready()
    assert old.run == 1 and old.cut.end == 40.0 and [s.relpath for s in old.segments] == ["old7", "old8", "old9"]
    book.done(old)
    book.started("a", 10.0, run=2)
    book.ended("a", 12.0)
    assert book.ready() == []  # run 2 has recorded nothing yet, whatever run 1 holds
    for k in range(5):
        book.add(SegRef(f"new{k}", 4.0 * k, 4.0 * k + 4, run=2))
    (job,) = book.ready()
    assert [s.relpath for s in job.segments] == ["new2", "new3"] and job.run == 2


# --- cameras that deliver H.264 ------------------------------------------------------------------------------


def _h264_file(path: Path, frames: tuple[Frame, ...]) -> list[EncodedPacket]:
    """An Annex B H.264 elementary stream, as an RTSP camera sends it, made with PyAV's libx264."""
    enc = H264Encoder(SOFTWARE, frames[0].width, frames[0].height, fps=FPS, keyframe_s=1.0)
    packets = [p for f in frames for p in enc.encode(f.image, f.timestamp)] + enc.flush()
    path.write_bytes(b"".join(p.data for p in packets))
    return packets


def _record_source(read: Any, n: int, root: Path) -> tuple[Recorder, list[Segment], list[Frame]]:
    done: list[Segment] = []
    rec = Recorder(RecordingConfig(segment_s=2.0), root, fps=FPS, lossless=True,
                   on_segment=lambda seg, room: (done.append(seg), room.close()))
    got = [read() for _ in range(n)]
    for frame in got:
        rec.offer(frame)
    rec.close()
    return rec, done, got


def test_stream_source_packets_are_stored_without_reencoding(tmp_path: Path, frames: tuple[Frame, ...]) -> None:
    """StreamSource is what camera.source rtsp uses for rtsp:// URLs; here it demuxes a local H.264 stream."""
    _h264_file(tmp_path / "camera.h264", frames[:40])
    src = StreamSource(str(tmp_path / "camera.h264"), options={})
    rec, segments, got = _record_source(src.read, 38, tmp_path / "rec")
    src.close()
    assert rec.encoded == 0 and rec.status()["encoder"] == "camera"  # nothing decoded and encoded again
    assert all(f.packets is src.packets for f in got)
    stored = [img for s in segments for img in decode(s.path)[1]]
    camera = decode(tmp_path / "camera.h264")[1]
    assert len(stored) >= 30 and all(np.array_equal(a, b) for a, b in zip(stored, camera, strict=False))
    assert all(decode(s.path)[0] == "h264" for s in segments)


class FakeH264Encoder:
    """Stands in for picamera2.encoders.H264Encoder: real H.264 from libx264, delivered the way picamera2 does,
    to its Output's outputframe(frame, keyframe, timestamp) from the encoder's own thread."""

    def __init__(self) -> None:
        self.output: Any = None
        self.encoder: H264Encoder | None = None

    def feed(self, image: np.ndarray, when: float) -> None:
        if self.encoder is None:
            self.encoder = H264Encoder(SOFTWARE, image.shape[1], image.shape[0], fps=FPS)
        for packet in self.encoder.encode(image, when):
            threading.Thread(target=self.output.outputframe,
                             args=(packet.data, packet.keyframe, round(packet.timestamp * 1e6))).start()


class FakePicamera2H264:
    """The Picamera2 calls the adapter makes, with start_encoder/stop_encoder feeding the fake encoder."""

    def __init__(self, frames: tuple[Frame, ...]) -> None:
        self.frames, self.calls, self.n = frames, [], 0
        self.encoder: FakeH264Encoder | None = None

    def create_video_configuration(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs

    def configure(self, config: dict[str, Any]) -> None:
        self.calls.append("configure")

    def start(self) -> None:
        self.calls.append("start")

    def start_encoder(self, encoder: FakeH264Encoder, output: Any) -> None:
        self.calls.append("start_encoder")
        encoder.output, self.encoder = output, encoder

    def capture_arrays(self, names: list[str]) -> tuple[list[np.ndarray], dict[str, Any]]:
        frame = self.frames[self.n]
        self.n += 1
        if self.encoder is not None:
            self.encoder.feed(frame.image, frame.timestamp)
        h, w = frame.image.shape[:2]
        return [frame.image, np.zeros((h // 2 * 3 // 2, w // 2), np.uint8)], {}

    def stop_encoder(self) -> None:
        self.calls.append("stop_encoder")

    def stop(self) -> None:
        self.calls.append("stop")

    def close(self) -> None:
        self.calls.append("close")


def test_picamera2_hardware_encoder_packets_are_stored_without_reencoding(tmp_path: Path,
                                                                           frames: tuple[Frame, ...]) -> None:
    cam = FakePicamera2H264(frames)
    src = Picamera2Source(768, 576, fps=FPS, factory=lambda: cam, h264=True, encoder_factory=FakeH264Encoder)
    rec, segments, _ = _record_source(src.read, 40, tmp_path / "rec")
    src.close()
    assert cam.calls == ["configure", "start", "start_encoder", "stop_encoder", "stop", "close"]
    assert rec.encoded == 0 and rec.status()["encoder"] == "camera"
    stored = sum(len(decode(s.path)[1]) for s in segments)
    assert stored >= 30 and all(decode(s.path)[0] == "h264" for s in segments)


def test_packet_buffer_resumes_at_a_keyframe_after_an_overflow() -> None:
    buf = PacketBuffer(maxlen=4)
    for i in range(10):
        buf.put(EncodedPacket(b"x", float(i), keyframe=i in (0, 7)))
    assert [p.timestamp for p in buf.take()] == [7.0, 8.0, 9.0] and buf.overflowed == 6
    buf.put(EncodedPacket(b"y", 10.0, keyframe=False))
    assert [p.timestamp for p in buf.take()] == [10.0]


def test_rtsp_urls_are_opened_through_pyav() -> None:
    import socket

    from camapp.capture.factory import source_factory
    from camapp.config import camera_config

    with socket.socket() as sock:  # bound, never listening: the connection is refused at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        make = source_factory(camera_config(source="rtsp", url=f"rtsp://u:pw@127.0.0.1:{port}/live"), threading.Event())
        with pytest.raises(CaptureError, match=rf"cannot open stream rtsp://u:\*+@127.0.0.1:{port}/live"):
            make()
