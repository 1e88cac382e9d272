"""Config for the local event store (owned by the event store work; extend here)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from camapp.config.base import Section


class StorageConfig(Section):
    """Where events, snapshots and clips are kept, and for how long."""

    path: Path | None = Field(None, description="Data directory (SQLite, snapshots, clips); unset: store nothing.")
    retain_days: float = Field(14, gt=0, le=3650, description="Delete events older than this many days.")
    max_media_mb: float = Field(2048, ge=1, le=10_000_000, description="Disk quota for snapshots and clips, in MB.")
    min_free_mb: float = Field(
        200, ge=0, le=10_000_000,
        description="Free disk kept for metadata: below it the oldest media are deleted and new media wait.",
    )
    snapshots: bool = Field(True, description="Save the best frame of each event (annotated, clean, thumbnail).")
    clips: bool = Field(True, description="Save an MP4 clip of each event with pre- and post-roll.")
    pre_roll_s: float = Field(3.0, ge=0, le=30, description="Seconds of video kept before an event starts.")
    post_roll_s: float = Field(3.0, ge=0, le=60, description="Seconds of video kept after an event ends.")
    clip_max_s: float = Field(60.0, ge=1, le=1800, description="Longest clip; an event running longer is cut here.")
    clip_max_concurrent: int = Field(
        3, ge=1, le=32, description="Clips encoded at once; events beyond this get no clip (protects the CPU)."
    )
    clip_codec: Literal["auto", "avc1", "mp4v"] = Field(
        "auto", description="MP4 video codec: avc1 (H.264, plays in browsers), mp4v, or auto (avc1 if available)."
    )
    snapshot_width: int = Field(
        0, ge=0, le=7680, description="Resize snapshots to this width in pixels (0: keep the frame size)."
    )
    thumbnail_size: int = Field(160, ge=32, le=1024, description="Longest side of the event thumbnail in pixels.")
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of snapshots and thumbnails.")
    retention_interval_s: float = Field(
        60.0, ge=1, le=86400, description="How often retention and the free-disk check run."
    )
