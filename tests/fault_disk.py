"""Full-disk drill driver: runs inside a user+mount namespace with a small tmpfs mounted at MOUNT.

Usage: python tests/fault_disk.py MOUNT VIDEO OUT_JSON [--runs N] [--quota-mb Q] [--fill-on-run K]
Replays VIDEO N times through `camapp replay` with the data directory on MOUNT, sampling the media bytes on disk
(temp files included) while it runs. During run K a ballast file fills every free byte of the disk (another
process filling it), so the store has to free its own media to keep the metadata. Writes what it saw to OUT_JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

CAMAPP = [str(Path(sys.executable).parent / "camapp")]


def media_kinds(media: Path) -> dict[str, int]:
    """Bytes on disk under `media` by kind: recording segments, clips, snapshots, temp files being written."""
    kinds = {"segments": 0, "clips": 0, "snapshots": 0, "temp": 0}
    for root, _, files in os.walk(media):
        for name in files:
            kind = ("temp" if name.startswith(".") else "segments" if "/rec" in root
                    else "clips" if name.endswith(".mp4") else "snapshots")
            with contextlib.suppress(OSError):  # deleted while we walked
                kinds[kind] += os.stat(os.path.join(root, name)).st_size
    return kinds


def media_bytes(media: Path) -> int:
    return sum(media_kinds(media).values())


class Sampler:
    """Samples media bytes on disk and free disk every 50 ms until stopped."""

    def __init__(self, mount: Path, media: Path) -> None:
        self.mount, self.media = mount, media
        self.peak_media, self.min_free, self.samples = 0, shutil.disk_usage(mount).free, 0
        self.peak_kinds: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            kinds = media_kinds(self.media)
            if sum(kinds.values()) > self.peak_media:
                self.peak_media, self.peak_kinds = sum(kinds.values()), kinds
            self.min_free = min(self.min_free, shutil.disk_usage(self.mount).free)
            self.samples += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def fill(path: Path) -> int:
    """Write zeros until the disk is full; returns bytes written (the file stays)."""
    written = 0
    chunk = b"\0" * 4096
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            written += os.write(fd, chunk)
    except OSError:
        pass
    finally:
        os.close(fd)
    return written


def replay(video: Path, config: Path, fill_path: Path | None,
           fill_after: int) -> tuple[int, list[str], str, int, int | None]:
    """One `camapp replay --json`: (exit code, new event ids, stderr tail, ballast bytes, free bytes right after
    the ballast filled the disk: the store frees space within milliseconds, faster than the 50 ms sampler). With
    `fill_path`, the disk is filled once `fill_after` events of this run have started (mid-run, whatever the
    machine's speed)."""
    proc = subprocess.Popen([*CAMAPP, "replay", str(video), "-c", str(config), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    errs: list[str] = []
    reader = threading.Thread(target=lambda: errs.extend(proc.stderr), daemon=True)  # type: ignore[union-attr]
    reader.start()
    ids: list[str] = []
    ballast, free_after = 0, None
    for line in proc.stdout:
        if line.startswith('{"type": "new"'):
            ids.append(json.loads(line)["id"])
            if fill_path is not None and len(ids) == fill_after:
                ballast = fill(fill_path)  # with events being written
                free_after = shutil.disk_usage(fill_path.parent).free
    proc.wait(timeout=600)
    reader.join()
    return proc.returncode, ids, "".join(errs), ballast, free_after


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mount", type=Path)
    ap.add_argument("video", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quota-mb", type=float, default=10.0)
    ap.add_argument("--fill-on-run", type=int, default=2)
    ap.add_argument("--fill-after", type=int, default=5, help="events of that run started before the disk is filled")
    ap.add_argument("--config", default="", help="YAML added to the drill's config (top-level sections)")
    args = ap.parse_args()
    data = args.mount / "data"
    config = args.mount / "config.yaml"
    config.write_text(f"storage:\n  path: {data}\n  max_media_mb: {args.quota_mb}\n  min_free_mb: 2\n{args.config}")
    report: dict[str, Any] = {"disk_bytes": shutil.disk_usage(args.mount).total, "runs": []}
    sampler = Sampler(args.mount, data / "media")
    expected: list[str] = []
    for run in range(1, args.runs + 1):
        ballast_path = args.mount / "ballast" if run == args.fill_on_run else None
        rc, ids, err, ballast, free_after = replay(args.video, config, ballast_path, args.fill_after)
        if free_after is not None:
            sampler.min_free = min(sampler.min_free, free_after)
        expected += ids
        report["runs"].append({"rc": rc, "new_events": len(ids), "stderr": err, "ballast_bytes": ballast,
                               "disk_full_rescues": err.count("disk full; deleting"),
                               "refused_media": err.count("storage budget: no room")})
    sampler.stop()
    verify = subprocess.run([*CAMAPP, "verify-log", "-c", str(config)], capture_output=True, text=True)
    conn = sqlite3.connect(f"file:{data / 'events.db'}?mode=ro", uri=True)
    stored = {r[0] for r in conn.execute("SELECT id FROM events")}
    ongoing = conn.execute("SELECT COUNT(*) FROM events WHERE end_time IS NULL").fetchone()[0]
    log_rows = conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0]
    conn.close()
    report.update(
        expected=len(expected), missing=sorted(set(expected) - stored), stored=len(stored), ongoing=ongoing,
        log_rows=log_rows, verify_rc=verify.returncode, verify_out=verify.stdout + verify.stderr,
        peak_media_bytes=sampler.peak_media, peak_media_kinds=sampler.peak_kinds,
        quota_bytes=int(args.quota_mb * 1024 * 1024),
        min_free_bytes=sampler.min_free, samples=sampler.samples, final_media_bytes=media_bytes(data / "media"),
    )
    args.out.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
