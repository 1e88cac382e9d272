"""Write a file so that readers (and a crash) see either the old content or the new, never half of it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: bytes | str, mode: int | None = None) -> None:
    """Temp file in the same directory, fsync, rename over `path`. `mode` None keeps the old file's mode
    (0o644 for a new file). The temp file is removed on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


TMP_MARK = ".tmp"


def temp_path(path: Path) -> Path:
    """A hidden sibling that keeps the extension (FFmpeg picks the container from it); see is_temp."""
    return path.with_name(f".{path.stem}{TMP_MARK}{path.suffix}")


def is_temp(path: Path) -> bool:
    """A temp file left by temp_path (or write_atomic) that a crash may have left behind."""
    return path.name.startswith(".") and TMP_MARK in path.name


def fsync_replace(tmp: Path, path: Path) -> None:
    """Make the complete file `tmp` durable, then atomically give it its final name."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
