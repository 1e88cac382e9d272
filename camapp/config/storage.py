"""Config for the local event store (owned by the event store work; extend here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from camapp.config.base import Section
from camapp.config.recording import RecordingConfig

# Keys older configs may still have, and what replaced them: named in the error instead of "extra inputs".
REMOVED = {
    "clip_max_concurrent": "clips are now cut from one continuous recording, so every event gets one; delete this "
    "line (what is recorded is set by storage.recording.mode)",
    "clip_codec": "clips are always H.264 now, encoded once by storage.recording.encoder; delete this line",
}


class StorageConfig(Section):
    """Where events, snapshots and clips are kept, and for how long."""

    path: Path | None = Field(None, description="Data directory (SQLite, snapshots, clips); unset: store nothing.")
    retain_days: float = Field(14, gt=0, le=3650, description="Delete events older than this many days.")
    max_media_mb: float = Field(
        2048, ge=1, le=10_000_000, description="Disk quota for snapshots, clips and recorded segments, in MB."
    )
    min_free_mb: float = Field(
        200, ge=0, le=10_000_000,
        description="Free disk kept for metadata: below it the oldest media are deleted and new media wait.",
    )
    snapshots: bool = Field(True, description="Save the best frame of each event (annotated, clean, thumbnail).")
    clips: bool = Field(True, description="Cut an H.264 clip of each event (pre-roll to post-roll) from the recording.")
    pre_roll_s: float = Field(3.0, ge=0, le=30, description="Seconds of video kept before an event starts.")
    post_roll_s: float = Field(3.0, ge=0, le=60, description="Seconds of video kept after an event ends.")
    clip_max_s: float = Field(
        300.0, ge=1, le=1800, description="Longest clip; an event running longer is cut here (the recording keeps "
        "the rest in continuous mode).",
    )
    recording: RecordingConfig = Field(
        default_factory=RecordingConfig, description="Continuous H.264 recording that event clips are cut from."
    )
    clip_max_concurrent: Any = Field(None, exclude=True, description="Removed (see REMOVED).")
    clip_codec: Any = Field(None, exclude=True, description="Removed (see REMOVED).")
    snapshot_width: int = Field(
        0, ge=0, le=7680, description="Resize snapshots to this width in pixels (0: keep the frame size)."
    )
    thumbnail_size: int = Field(160, ge=32, le=1024, description="Longest side of the event thumbnail in pixels.")
    jpeg_quality: int = Field(85, ge=10, le=100, description="JPEG quality of snapshots and thumbnails.")
    retention_interval_s: float = Field(
        60.0, ge=1, le=86400, description="How often retention and the free-disk check run."
    )

    @field_validator("clip_max_concurrent", "clip_codec", mode="before")
    @classmethod
    def _removed(cls, value: object, info: Any) -> None:
        if value is not None:
            raise ValueError(f"storage.{info.field_name} was removed: {REMOVED[info.field_name]}")
        return None
