"""`make bench`, storage part: SD-card wear. The busy demo replayed for a fixed span with storage on, and the bytes
the process wrote per hour of video, split by who wrote them, beside the encoded stream's own bytes; then the time
to the first byte and in all of a 30 s clip served from the segments.

Who wrote what comes from /proc/self/task/<tid>/io `write_bytes` (bytes sent towards the disk, counted for the
thread that dirtied them): the recorder thread writes segments, the store's media thread snapshots and thumbnails,
its writer thread SQLite (WAL and checkpoints into events.db); everything else is the rest of /proc/self/io. The
files' own sizes are printed beside them. `python -m camapp.bench.storage --json` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sqlite3
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol, TypedDict

from camapp.config import AppConfig
from camapp.config.storage import StorageConfig
from camapp.detect import Detector
from camapp.sinks import ResultSink
from camapp.store import EventStore
from camapp.types import CameraName, Frame, FrameResult, JsonValue


class RunPipeline(Protocol):
    """camapp.bench.harness.run_pipeline (passed in: the harness imports this module); its figures are not used."""

    def __call__(self, frames: list[Frame], cfg: AppConfig, detector: Detector, viewers: int = 0,
                 extra: Sequence[ResultSink] = ()) -> object: ...


class ClipTiming(TypedDict, total=False):
    """Serving the clip nearest 30 s; empty when no event has a clip."""

    clip_s: float
    clip_bytes: int
    first_byte_ms: float
    total_ms: float


class StorageFigures(TypedDict):
    """What one replay wrote, per hour of video (printed by report, or as JSON with --json)."""

    span_s: float
    replay_s: float
    per_hour: dict[str, int]  # bytes written by the segments, snapshots, sqlite threads, else, total
    stream_bytes_per_hour: int
    segment_files_per_hour: int
    snapshot_files_per_hour: int
    snapshot_kept_per_hour: int
    ratio: float
    ratio_kept: float
    files_left: dict[str, int]
    events: int
    pruned_events: int
    quota_passes: int
    clip: ClipTiming
    quota_bytes: int
    at_close_bytes: int

THREADS = {"recorder": "segments", "store-media": "snapshots", "store-writer": "sqlite"}
CLIP_S = 30.0


def write_bytes(task: str = "self", field: str = "write_bytes") -> int:
    """write_bytes of the process (or of one thread: task/<tid>) from /proc; 0 where there is no /proc."""
    path = Path("/proc/self/io") if task == "self" else Path(f"/proc/self/task/{task}/io")
    try:
        for line in path.read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def by_thread(field: str = "write_bytes") -> dict[str, int]:
    """write_bytes of the store's threads, by what they write."""
    out = dict.fromkeys(THREADS.values(), 0)
    for thread in threading.enumerate():
        kind = THREADS.get(thread.name)
        if kind is not None and thread.native_id is not None:
            out[kind] += write_bytes(str(thread.native_id), field)
    return out


def restamped(frames: Sequence[Frame], span_s: float, fps: float) -> list[Frame]:
    """The demo looped to `span_s` seconds of video, stamped on a recent clock (retention keeps it)."""
    count = round(span_s * fps)
    t0 = time.time() - span_s - 60
    return [dataclasses.replace(frames[i % len(frames)], timestamp=t0 + i / fps, index=i) for i in range(count)]


def _files(data: Path) -> dict[str, int]:
    sizes = {"segments": 0, "snapshots": 0, "sqlite": 0}
    for path in data.rglob("*"):
        if not path.is_file():
            continue
        kind = "segments" if path.suffix == ".mp4" else "snapshots" if path.suffix == ".jpg" else "sqlite" \
            if path.name.startswith("events.db") else None
        if kind is not None:
            sizes[kind] += path.stat().st_size
    return sizes


def _quota_passes(store: EventStore) -> int:
    """How many times the quota freed space: runs of `pruned` log rows (reason quota) with other rows between."""
    with sqlite3.connect(f"file:{store.db_path}?mode=ro", uri=True) as conn:
        kinds = [r[0] == "pruned" and '"reason":"quota"' in r[1]
                 for r in conn.execute("SELECT type, payload FROM event_log ORDER BY seq")]
    return sum(1 for prev, cur in zip([False, *kinds], kinds, strict=False) if cur and not prev)


def time_clip(store: EventStore) -> ClipTiming:
    """First byte and total time of the clip of the event whose window is nearest 30 s (cache cleared first)."""
    events = [e for e in store.list_events(limit=1000) if e["has_clip"] and e["end_time"] is not None]
    if not events:
        return {}
    pre, post = store.cfg.pre_roll_s, store.cfg.post_roll_s
    event = min(events, key=lambda e: abs((e["end_time"] or e["start_time"]) - e["start_time"] + pre + post - CLIP_S))
    store.clip_cache = type(store.clip_cache)()
    t0 = time.perf_counter()
    clip = store.clip(event["id"])
    first = time.perf_counter() - t0  # the route sends the first byte as soon as the remuxed clip is there
    data = clip.data if clip is not None and clip.data is not None else b""
    sent = sum(len(data[i:i + 65536]) for i in range(0, len(data), 65536))  # what the server hands the socket
    total = time.perf_counter() - t0
    seconds = (clip.end - clip.start) if clip is not None else 0.0
    return ClipTiming(clip_s=round(seconds, 1), clip_bytes=sent, first_byte_ms=round(first * 1000, 1),
                      total_ms=round(total * 1000, 1))


def measure(frames: Sequence[Frame], cfg: AppConfig, detector: Detector, run_pipeline: RunPipeline, *,  # noqa: PLR0913
            span_s: float = 120.0, fps: float = 10.0, storage: Mapping[str, JsonValue] | None = None,
            data: Path | None = None) -> StorageFigures:
    """Replay `span_s` seconds of the demo through the pipeline into a fresh store (in `data`, kept, or a
    temporary directory); what it wrote, per hour."""
    replay = restamped(frames, span_s, fps)
    with contextlib.ExitStack() as stack:
        tmp = str(data) if data is not None else stack.enter_context(
            tempfile.TemporaryDirectory(prefix="camapp-bench-storage-"))
        store_cfg = StorageConfig.model_validate({**cfg.storage.model_dump(exclude_unset=True), "path": tmp,
                                                  "min_free_mb": 0, **(storage or {})})
        store = EventStore(store_cfg, camera_id=CameraName("bench"), fps=fps, lossless=True)
        try:
            # Opening (schema, first retention pass) and closing are once per start, not per hour: kept apart.
            store.flush()
            before, threads_before = write_bytes(), by_thread()
            t0 = time.perf_counter()
            run_pipeline(replay, cfg, detector, extra=[_Feed(store, fps)])
            store.flush()
            elapsed = time.perf_counter() - t0
            threads = {k: v - threads_before.get(k, 0) for k, v in by_thread().items()}
            total = write_bytes() - before
            clip = time_clip(store)
            usage = store.usage()
            pruned = sum(e["clip"] == "pruned" for e in store.list_events(limit=1000))
            passes = _quota_passes(store)
        finally:
            store.close()
        at_close = write_bytes() - before - total
        files = _files(Path(tmp))
    rec = {k: float(v) for k, v in (usage.get("recording") or {}).items() if isinstance(v, int | float)}
    per_hour = 3600.0 / span_s
    written = {**threads, "else": max(0, total - sum(threads.values())), "total": total}
    segments, snapshots = rec.get("segment_bytes", 0), usage.get("snapshot_bytes_written", 0)
    kept = snapshots - usage.get("snapshot_bytes_replaced", 0)
    return {
        "span_s": span_s, "replay_s": round(elapsed, 1),
        "per_hour": {k: round(v * per_hour) for k, v in written.items()},
        "stream_bytes_per_hour": round(rec.get("stream_bytes", 0) * per_hour),
        "segment_files_per_hour": round(segments * per_hour),
        "snapshot_files_per_hour": round(snapshots * per_hour),
        "snapshot_kept_per_hour": round(kept * per_hour),
        # Issue 21's measure: all bytes written over the segment and snapshot files written (a snapshot replaced
        # by a better frame's counts: it was the event's picture until then), and over the files each event keeps.
        "ratio": round(total / max(1, segments + snapshots), 3),
        "ratio_kept": round(total / max(1, segments + kept), 3),
        "files_left": files, "events": usage["event_count"], "pruned_events": pruned, "quota_passes": passes,
        "clip": clip, "quota_bytes": usage["quota_bytes"], "at_close_bytes": at_close,
    }


class _Feed(ResultSink):
    """The store as one more sink of the benchmark's pipeline (the store itself is closed by measure), paced at
    the camera's rate: the writer commits on the wall clock, so a replay faster than real time would write the
    database less often per hour of video than a live camera does."""

    def __init__(self, store: EventStore, fps: float) -> None:
        self.store, self.fps = store, fps
        self._t0: float | None = None
        self._n = 0

    def handle(self, result: FrameResult) -> None:
        if self._t0 is None:
            self._t0 = time.monotonic()
        delay = self._t0 + self._n / self.fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._n += 1
        self.store.handle(result)

    def close(self) -> None:
        pass


def _mb(n: float) -> str:
    return f"{n / 2**20:8.1f} MB"


def report(m: StorageFigures) -> None:
    h = m["per_hour"]
    print(f"\nstorage, SD-card wear (busy vtest.avi, {m['span_s']:.0f} s of video at its own pace, as a camera; "
          "per hour of video)")
    print(f"  encoded H.264 stream        {_mb(m['stream_bytes_per_hour'])}")
    print(f"  written: segments           {_mb(h['segments'])}  (segment files {_mb(m['segment_files_per_hour'])})")
    print(f"           snapshots/thumbs   {_mb(h['snapshots'])}  (files {_mb(m['snapshot_files_per_hour'])}, "
          f"the last set of each event {_mb(m['snapshot_kept_per_hour']).strip()})")
    print(f"           SQLite WAL+ckpt    {_mb(h['sqlite'])}")
    print(f"           everything else    {_mb(h['else'])}")
    print(f"           at close (once)    {m['at_close_bytes'] / 2**20:8.1f} MB  (last segment, final checkpoint)")
    print(f"           total              {_mb(h['total'])}  "
          f"({m['ratio']:.2f}x segment + snapshot files; {m['ratio_kept']:.2f}x counting each event's last "
          "snapshot set only)")
    clip = m["clip"]
    if clip:
        print(f"  clip of {clip['clip_s']} s from segments: first byte {clip['first_byte_ms']} ms, all "
              f"{clip['clip_bytes'] / 2**20:.1f} MB in {clip['total_ms']} ms")


def bench_storage(frames: list[Frame], cfg: AppConfig, detector: Detector, run_pipeline: RunPipeline,
                  span_s: float = 120.0) -> StorageFigures:
    """The storage part of `make bench`."""
    m = measure(frames, cfg, detector, run_pipeline, span_s=span_s)
    report(m)
    return m


def main(argv: Sequence[str] | None = None) -> int:
    from camapp.assets import demo_video
    from camapp.bench.harness import bench_config, frames_of, run_pipeline
    from camapp.detect.factory import build_detector
    from camapp.detect.trust import ModelTrust

    parser = argparse.ArgumentParser(prog="camapp.bench.storage")
    parser.add_argument("--span-s", type=float, default=120.0, help="seconds of video to replay (the demo loops)")
    parser.add_argument("--max-media-mb", type=float, default=None, help="storage.max_media_mb for the run")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--data", type=Path, default=None, help="storage.path to use and keep (default: a temporary "
                        "directory, deleted)")
    args = parser.parse_args(argv)
    video = demo_video()
    cfg = bench_config(video)
    frames = list(frames_of(video))
    storage = {"max_media_mb": args.max_media_mb} if args.max_media_mb else None
    with build_detector(cfg.model, ModelTrust.from_config(cfg.web)) as detector:
        m = measure(frames, cfg, detector, run_pipeline, span_s=args.span_s, storage=storage, data=args.data)
    if args.json:
        print(json.dumps(m))
    else:
        report(m)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
