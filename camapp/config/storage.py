"""Config for the local event store (owned by the event store work; extend here)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from camapp.config.base import Section


class StorageConfig(Section):
    """Where events, snapshots and clips are kept, and for how long."""

    path: Path | None = Field(None, description="Data directory (SQLite, snapshots, clips); unset: store nothing.")
    retain_days: float = Field(14, gt=0, le=3650, description="Delete events older than this many days.")
    max_media_mb: float = Field(2048, ge=1, le=10_000_000, description="Disk quota for snapshots and clips, in MB.")
