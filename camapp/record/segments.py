"""MP4 files from H.264 packets without re-encoding: recording segments, and event clips cut from segments.

Both are written to a hidden temp file and renamed into place when complete (moov atom at the front, so a
browser can start playing before the whole file has arrived); a crash leaves only a temp file the store sweeps.
"""

from __future__ import annotations

import contextlib
import io
import logging
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av

from camapp.atomic import fsync_replace, temp_path
from camapp.record.codec import TICKS, TIME_BASE, RecordingError
from camapp.types import EncodedPacket

log = logging.getLogger(__name__)

MP4_OPTIONS = {"movflags": "+faststart"}

Target = Path | io.BytesIO  # where a clip is written: a (temp) file, or memory
Grow = Callable[[int], bool]  # told the bytes a file holds so far; False: it may not grow further (storage budget)


@dataclass(frozen=True)
class Segment:
    """A finished segment (or clip): where it is, the time its first frame was captured and its last one ended."""

    path: Path
    start: float
    end: float
    frames: int
    size: int


def _template(keyframe: bytes) -> tuple[av.container.InputContainer, av.VideoStream]:
    """Codec parameters (size, SPS/PPS) read from a keyframe's own headers, as a stream to copy into an MP4."""
    try:
        inp = av.open(io.BytesIO(keyframe), "r", format="h264")
    except av.FFmpegError as err:
        raise RecordingError(f"not an H.264 keyframe: {err}") from None
    if not inp.streams.video:
        inp.close()
        raise RecordingError("the H.264 keyframe holds no video stream")
    return inp, inp.streams.video[0]


def _to_packet(data: bytes, pts: float, dts: float, duration: float, keyframe: bool) -> av.Packet[Any]:
    packet = av.Packet(data)
    packet.pts, packet.dts = round(pts * TICKS), round(dts * TICKS)
    packet.duration = max(1, round(duration * TICKS))
    packet.time_base = TIME_BASE
    packet.is_keyframe = keyframe
    return packet


class SegmentWriter:
    """One segment being written; starts with a keyframe, takes packets in decode order."""

    def __init__(self, path: Path, first: EncodedPacket, frame_s: float) -> None:
        if not first.keyframe:
            raise RecordingError("a segment must start with a keyframe")
        self.path, self.start, self._frame_s = path, first.timestamp, frame_s
        self._tmp = temp_path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        inp, template = _template(first.data)
        try:
            self._out = av.open(str(self._tmp), "w", format="mp4", options=MP4_OPTIONS)
            self._stream = self._out.add_stream_from_template(template)
            self._stream.time_base = TIME_BASE
        except (av.FFmpegError, OSError) as err:
            self._tmp.unlink(missing_ok=True)
            raise RecordingError(f"cannot start segment {path.name}: {err}") from None
        finally:
            inp.close()
        self.end = self.start
        self.frames = self.size = 0
        self._closed = False
        self.write(first)

    def write(self, packet: EncodedPacket) -> None:
        """Add one packet (timestamps earlier than the segment start are clamped to it)."""
        pts, dts = max(0.0, packet.timestamp - self.start), max(0.0, packet.dts - self.start)
        av_packet = _to_packet(packet.data, pts, min(dts, pts), self._frame_s, packet.keyframe)
        av_packet.stream = self._stream
        self._out.mux(av_packet)
        self.frames += 1
        self.size += len(packet.data)  # about what the file grows by (the index is written at the end)
        self.end = max(self.end, packet.timestamp + self._frame_s)

    def finish(self) -> Segment:
        """Write the index, fsync and move into place."""
        self._closed = True
        try:
            self._out.close()
            size = self._tmp.stat().st_size
            fsync_replace(self._tmp, self.path)
        except (av.FFmpegError, OSError) as err:
            self._tmp.unlink(missing_ok=True)
            raise RecordingError(f"cannot finish segment {self.path.name}: {err}") from None
        return Segment(self.path, self.start, self.end, self.frames, size)

    def abort(self) -> None:
        """Drop the partial file; idempotent."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(av.FFmpegError, OSError):
                self._out.close()
        self._tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class _Demuxed:
    packet: av.Packet[Any]
    time: float  # capture time of the frame
    key: bool
    path: Path  # the segment it came from


def _demux(segments: Sequence[tuple[Path, float]]) -> Iterator[tuple[av.VideoStream, _Demuxed]]:
    """Every packet of the segments in order, stamped with its capture time; unreadable segments are skipped."""
    for path, start in segments:
        try:
            inp = av.open(str(path))
        except (av.FFmpegError, OSError) as err:
            log.warning("recording: skipping unreadable segment %s: %s", path.name, err)
            continue
        try:
            stream = inp.streams.video[0]
            for packet in inp.demux(stream):
                if packet.pts is None or packet.size == 0:
                    continue
                time_base = packet.time_base or stream.time_base or TIME_BASE
                yield stream, _Demuxed(packet, start + float(packet.pts * time_base), bool(packet.is_keyframe), path)
        except av.FFmpegError as err:
            log.warning("recording: segment %s is damaged after some frames: %s", path.name, err)
        finally:
            inp.close()


@dataclass
class ClipCut:
    """What cut_clip wants: footage from about `start` (the nearest keyframe, never after `latest_start`) to
    `end`."""

    start: float
    latest_start: float
    end: float


class _ClipOut:
    """The output MP4 of a cut, opened on the first packet (its stream is the template)."""

    def __init__(self, target: Target, template: av.VideoStream, origin: float, grow: Grow | None) -> None:
        # In memory the index cannot be moved to the front by FFmpeg (it reopens the file by name): moov_first does.
        self.out = (av.open(target, "w", format="mp4") if isinstance(target, io.BytesIO)
                    else av.open(str(target), "w", format="mp4", options=MP4_OPTIONS))
        self._grow, self.bytes, self.full = grow, 0, False
        self.stream = self.out.add_stream_from_template(template)
        self.stream.time_base = TIME_BASE
        self.size = (template.codec_context.width, template.codec_context.height)
        self.origin, self.last, self.frames = origin, origin, 0
        self._closed = False

    def close(self) -> None:
        """Write the index; idempotent."""
        if not self._closed:
            self._closed = True
            self.out.close()

    def write(self, item: _Demuxed, frame_s: float) -> None:
        packet = item.packet
        tb = packet.time_base or TIME_BASE
        shift = item.time - float((packet.pts or 0) * tb)  # the segment's start on the capture clock
        dts = shift + float(packet.dts * tb) if packet.dts is not None else item.time
        self.out.mux(self._rebased(packet, item.time, min(dts, item.time), frame_s))
        self.frames += 1
        self.bytes += packet.size
        # Counted while it grows, like a segment: a long clip must not cross the quota before it is recorded.
        if self._grow is not None and not self._grow(self.bytes):
            self.full = True
        self.last = max(self.last, item.time + frame_s)

    def _rebased(self, packet: av.Packet[Any], pts: float, dts: float, frame_s: float) -> av.Packet[Any]:
        out = _to_packet(bytes(packet), max(0.0, pts - self.origin), max(0.0, dts - self.origin), frame_s,
                         bool(packet.is_keyframe))
        out.stream = self.stream
        return out


def _pick_start(candidate: list[_Demuxed], key: _Demuxed, cut: ClipCut) -> bool:
    """At the first keyframe after cut.start: True to start there rather than at the buffered earlier keyframe."""
    if not candidate:
        return True
    return key.time <= cut.latest_start and key.time - cut.start < cut.start - candidate[0].time


def _write_gop(tmp: Target, gop: list[_Demuxed], cut: ClipCut, frame_s: float, grow: Grow | None) -> _ClipOut:
    """Open the clip (its stream copied from the segment the first packet came from) and write the buffer."""
    with av.open(str(gop[0].path)) as inp:  # reopened: the demuxer may already have closed that segment
        clip = _ClipOut(tmp, inp.streams.video[0], gop[0].time, grow)
    for item in gop:
        if item.time < cut.end and not clip.full:
            clip.write(item, frame_s)
    return clip


def _copy(segments: Sequence[tuple[Path, float]], cut: ClipCut, tmp: Target, frame_s: float,
          grow: Grow | None) -> _ClipOut | None:
    """Find the start keyframe holding at most one group of pictures, then copy packets until cut.end (or until
    `grow` refuses more bytes: the clip then ends early)."""
    clip: _ClipOut | None = None
    gop: list[_Demuxed] = []  # from the last keyframe at or before cut.start
    for stream, item in _demux(segments):
        if clip is not None:
            if clip.full or item.time >= cut.end or (stream.codec_context.width,
                                                     stream.codec_context.height) != clip.size:
                break
            clip.write(item, frame_s)
        elif item.key and item.time <= cut.start:
            gop = [item]
        elif item.key:
            gop = [item] if _pick_start(gop, item, cut) else [*gop, item]
            clip = _write_gop(tmp, gop, cut, frame_s, grow)
        elif gop and item.time >= cut.end:
            break
        elif gop:
            gop.append(item)
    if clip is None and gop and gop[-1].time + frame_s > cut.start:  # the footage ends inside the first GOP
        clip = _write_gop(tmp, gop, cut, frame_s, grow)
    return clip


def _one_run(segments: Sequence[tuple[Path, float]], runs: Sequence[int] | None) -> None:
    """Segments of different recording runs have unrelated clocks (a replay, a restart): never joined."""
    if runs is None:
        return
    if len(runs) != len(segments):
        raise RecordingError(f"{len(segments)} segments but {len(runs)} run ids")
    if len(set(runs)) > 1:
        raise RecordingError(f"refusing to join segments of different recording runs {sorted(set(runs))} "
                             "into one clip")
    starts = [start for _, start in segments]
    if starts != sorted(starts):
        raise RecordingError("segments are not in time order; refusing to cut a clip that would run backwards")


def remux_clip(segments: Sequence[tuple[Path, float]], cut: ClipCut, frame_s: float,
               runs: Sequence[int] | None = None) -> tuple[bytes, Segment] | None:
    """Like cut_clip, into memory: the MP4 bytes (index first, so it plays while it downloads) and what it
    holds (its path is the first segment's). None when no footage covers the window."""
    _one_run(segments, runs)
    buf = io.BytesIO()
    clip: _ClipOut | None = None
    try:
        clip = _copy(segments, cut, buf, frame_s, None)
        if clip is None:
            return None
        clip.close()
    except av.FFmpegError as err:
        raise RecordingError(f"cannot remux clip: {err}") from None
    finally:
        if clip is not None:
            clip.close()
    data = moov_first(buf.getvalue())
    return data, Segment(segments[0][0], clip.origin, clip.last, clip.frames, len(data))


def _boxes(data: bytes | bytearray, start: int, end: int) -> Iterator[tuple[bytes, int, int, int]]:
    """(type, offset, size, header size) of the MP4 boxes in data[start:end]."""
    off = start
    while off + 8 <= end:
        size, kind = struct.unpack(">I4s", data[off:off + 8])
        head = 8
        if size == 1:
            size, head = struct.unpack(">Q", data[off + 8:off + 16])[0], 16
        elif size == 0:
            size = end - off
        if size < head or off + size > end:
            raise RecordingError(f"damaged MP4: box {kind!r} at {off} has size {size}")
        yield kind, off, size, head
        off += size


_CONTAINERS = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf")


def _shift_offsets(moov: bytearray, start: int, end: int, shift: int) -> None:
    """Add `shift` to every chunk offset (stco, co64) inside moov[start:end]."""
    for kind, off, size, head in list(_boxes(moov, start, end)):
        if kind in _CONTAINERS:
            _shift_offsets(moov, off + head, off + size, shift)
        elif kind in (b"stco", b"co64"):
            count = struct.unpack(">I", moov[off + head + 4:off + head + 8])[0]
            width, fmt = (4, ">I") if kind == b"stco" else (8, ">Q")
            for n in range(count):
                at = off + head + 8 + n * width
                struct.pack_into(fmt, moov, at, struct.unpack(fmt, moov[at:at + width])[0] + shift)


def moov_first(data: bytes) -> bytes:
    """The MP4 with its index (moov) moved in front of the media (what FFmpeg's +faststart does on a file)."""
    boxes = list(_boxes(data, 0, len(data)))
    kinds = [kind for kind, *_ in boxes]
    if b"moov" not in kinds or b"mdat" not in kinds or kinds.index(b"moov") < kinds.index(b"mdat"):
        return data
    _, moov_off, moov_size, moov_head = boxes[kinds.index(b"moov")]
    moov = bytearray(data[moov_off:moov_off + moov_size])
    _shift_offsets(moov, moov_head, moov_size, moov_size)
    mdat_off = boxes[kinds.index(b"mdat")][1]
    rest = b"".join(data[off:off + size] for kind, off, size, _ in boxes[kinds.index(b"mdat"):] if kind != b"moov")
    return data[:mdat_off] + bytes(moov) + rest


def cut_clip(segments: Sequence[tuple[Path, float]], cut: ClipCut, path: Path, frame_s: float,
             grow: Grow | None = None, runs: Sequence[int] | None = None) -> Segment | None:
    """Copy the packets of `segments` (path, start time; in order) covering `cut` into one MP4 at `path`.

    No re-encoding; returns None when no footage covers the window. Stops early if the camera changed
    resolution between segments, or when `grow` (told the bytes copied so far) refuses more. With `runs` (the
    recording run of each segment), segments of different runs are refused (RecordingError).
    """
    _one_run(segments, runs)
    tmp = temp_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clip: _ClipOut | None = None
    try:
        clip = _copy(segments, cut, tmp, frame_s, grow)
        if clip is None:
            return None
        clip.close()
        size = tmp.stat().st_size
        fsync_replace(tmp, path)
        return Segment(path, clip.origin, clip.last, clip.frames, size)
    except (av.FFmpegError, OSError) as err:
        raise RecordingError(f"cannot cut clip {path.name}: {err}") from None
    finally:
        if clip is not None:
            clip.close()
        tmp.unlink(missing_ok=True)
