"""`make bench`, recording part: what encoding each frame once costs, and the pipeline's fps with recording on/off.

Recording runs as it does on a replay (`lossless`: every frame encoded, none dropped), so the fps with recording on
includes the encoder competing for the CPU; the time to drain the encoder's queue at the end is counted too.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from camapp.config import AppConfig
from camapp.record.codec import H264Encoder, available_encoders, choose_encoder
from camapp.record.recorder import Recorder, Room
from camapp.record.segments import Segment
from camapp.sinks import ResultSink
from camapp.types import Frame, FrameResult

if TYPE_CHECKING:
    from camapp.bench.harness import RunPipeline
    from camapp.detect import Detector


class RecordingSink(ResultSink):
    """Feeds every processed frame to a Recorder writing segments into a temporary directory."""

    def __init__(self, cfg: AppConfig, root: Path, fps: float) -> None:
        self.segments: list[Segment] = []
        self.recorder = Recorder(cfg.storage.recording, root, fps=fps, lossless=True, on_segment=self._done)

    def _done(self, segment: Segment, room: Room) -> None:
        self.segments.append(segment)
        room.close()

    def handle(self, result: FrameResult) -> None:
        self.recorder.offer(result.frame)

    def close(self) -> None:
        self.recorder.close()


def encode_ms(frames: Sequence[Frame], cfg: AppConfig, name: str, fps: float) -> float:
    """Mean milliseconds to encode one frame, the encoder alone on the CPU."""
    rec = cfg.storage.recording
    enc = H264Encoder(name, frames[0].width, frames[0].height, fps=fps, keyframe_s=rec.keyframe_s,
                      preset=rec.preset, crf=rec.crf, bitrate_kbps=rec.bitrate_kbps)
    times = []
    for frame in frames:
        t0 = time.perf_counter()
        enc.encode(frame.image, frame.timestamp)
        times.append((time.perf_counter() - t0) * 1000.0)
    enc.flush()
    enc.close()
    return statistics.mean(times)


def bench_recording(frames: list[Frame], cfg: AppConfig, detector: Detector, run_pipeline: RunPipeline,
                    fps: float = 10.0) -> None:
    """Print encode ms/frame beside the pipeline's ms/frame, and fps with recording off and on, back to back on the
    same frames (so both see the same load on the machine)."""
    rec = cfg.storage.recording
    name = choose_encoder(rec.encoder, available_encoders())
    ms = encode_ms(frames, cfg, name, fps)
    off = run_pipeline(frames, cfg, detector)
    with tempfile.TemporaryDirectory(prefix="camapp-bench-rec-") as tmp:
        sink = RecordingSink(cfg, Path(tmp), fps)
        on = run_pipeline(frames, cfg, detector, extra=[sink])
        t0 = time.perf_counter()
        sink.close()  # the encoder's backlog counts: recording is only done when every frame is written
        elapsed = on["frames"] / on["fps"] + time.perf_counter() - t0
        size = sum(s.size for s in sink.segments)
    fps_on = on["frames"] / elapsed
    print(f"\nrecording ({name}, preset {rec.preset}, crf {rec.crf}, keyframe every {rec.keyframe_s:g} s)")
    print(f"  encode                     {ms:.2f} ms/frame (encoder alone), pipeline {1000.0 / off['fps']:.2f} "
          f"ms/frame")
    print(f"  pipeline, recording off    {off['fps']:.1f} frames/s")
    print(f"  pipeline, recording on     {fps_on:.1f} frames/s ({fps_on / off['fps']:.2f}x of off; target >= 0.85x)")
    print(f"  encoded                    {sink.recorder.encoded} of {on['frames']} frames once each, "
          f"{len(sink.segments)} segments, {size / on['frames'] / 1024:.1f} KB/frame")
