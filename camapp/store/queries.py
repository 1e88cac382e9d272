"""Read-only queries the web UI calls; each opens its own short-lived WAL reader, so any thread may call them."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, get_args

from camapp.errors import StorageError
from camapp.store import db, segdb
from camapp.store.chain import check_id
from camapp.store.clips import Clip, ClipCache, build_clip
from camapp.store.records import EventDetail, EventRecord, SegmentRecord, StoreUsage
from camapp.store.segdb import segment_id, segment_relpath
from camapp.store.verify import DB_NAME
from camapp.types import CameraName

MediaKind = Literal["snapshot", "snapshot_clean", "thumbnail", "clip"]
MAX_LIMIT = 1000


class QueryError(StorageError, ValueError):
    """A query argument is out of range or of the wrong type."""


def _check_query(limit: int, values: dict[str, Any]) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    for name, value in values.items():
        if value is None:
            continue
        if name in ("label", "zone", "camera"):
            if not isinstance(value, str) or not 0 < len(value) <= 64:
                raise QueryError(f"{name} must be a non-empty string of at most 64 characters, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise QueryError(f"{name} must be a unix time in seconds, got {value!r}")


class StoreReader:
    """Queries over a data directory written by EventStore."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.db_path = self.data_dir / DB_NAME
        self.clip_cache = ClipCache()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        if not self.db_path.is_file():
            raise StorageError(f"no event database at {self.db_path}")
        conn = db.connect(self.db_path, readonly=True)
        try:
            yield conn
        except sqlite3.Error as err:
            raise StorageError(f"event database query failed: {err}") from None
        finally:
            conn.close()

    def list_events(  # noqa: PLR0913 - keyword-only filters, each optional
        self,
        *,
        limit: int = 50,
        before: float | None = None,
        label: str | None = None,
        zone: str | None = None,
        since: float | None = None,
        until: float | None = None,
        camera: CameraName | None = None,
    ) -> list[EventRecord]:
        """Newest first. before: start_time < before (paging); since/until: events overlapping that time range;
        camera: that camera's events only (None: every camera's)."""
        _check_query(limit, {"before": before, "label": label, "zone": zone, "since": since, "until": until,
                             "camera": camera})
        where: list[str] = []
        args: list[Any] = []
        clauses = (
            (before, "start_time < ?"),
            (label, "label = ?"),
            (camera, "camera = ?"),
            (since, "COALESCE(end_time, 1e18) >= ?"),
            (until, "start_time <= ?"),
        )
        for value, clause in clauses:
            if value is not None:
                where.append(clause)
                args.append(value)
        if zone is not None:
            where.append(
                "(EXISTS (SELECT 1 FROM json_each(events.entered_zones) WHERE value = ?)"
                " OR EXISTS (SELECT 1 FROM json_each(events.current_zones) WHERE value = ?))"
            )
            args += [zone, zone]
        with self._read() as conn:
            return db.query_events(conn, where, args, limit)

    def get_event(self, event_id: str) -> EventDetail | None:
        """One event as a dict, or None; raises InvalidIdError for an id with path characters."""
        check_id(event_id)
        with self._read() as conn:
            return db.fetch_event(conn, event_id)

    def _resolve(self, relpath: str | None) -> Path | None:
        if relpath is None:
            return None
        path = (self.data_dir / relpath).resolve()
        if not path.is_relative_to(self.data_dir) or not path.is_file():
            return None
        return path

    def media_path(self, event_id: str, kind: MediaKind | str) -> Path | None:
        """Absolute path of an event's media file, guaranteed under the data directory, or None.

        `kind` is one of MediaKind; plain str is accepted (and checked) so callers holding request strings type-check.
        """
        check_id(event_id)
        if kind not in get_args(MediaKind):
            raise QueryError(f"media kind must be one of {', '.join(get_args(MediaKind))}, got {kind!r}")
        with self._read() as conn:
            return self._resolve(db.media_relpath(conn, event_id, kind))

    def clip(self, event_id: str) -> Clip | None:
        """The event's clip, remuxed from the segments it holds (or its schema-3 clip file); None if it has none
        (its `clip` field says why: recording, pruned or none)."""
        check_id(event_id)
        with self._read() as conn:
            return build_clip(conn, self.data_dir, event_id, self.clip_cache)

    def snapshot_path(self, snap_id: str) -> Path | None:
        """Path of a manual snapshot saved under the id a TakeSnapshot command returned."""
        check_id(snap_id, "snapshot id")
        with self._read() as conn:
            return self._resolve(db.media_relpath(conn, snap_id, "manual"))

    def list_segments(self, since: float, until: float, limit: int = 2000,
                      camera: CameraName | None = None) -> list[SegmentRecord]:
        """Recorded segments overlapping [since, until], oldest first: id, camera, start, end, frames, bytes, kept;
        camera: that camera's only (None: every camera's)."""
        _check_query(min(limit, MAX_LIMIT), {"since": since, "until": until, "camera": camera})
        with self._read() as conn:
            rows = segdb.list_segments(conn, since, until, limit, camera)
        return [SegmentRecord(id=segment_id(r["relpath"]), camera=r["camera"], start=r["start_time"],
                              end=r["end_time"], frames=r["frames"], bytes=r["bytes"], kept=bool(r["keep"]))
                for r in rows]

    def segment_path(self, seg_id: str) -> Path | None:
        """Absolute path of a recorded segment by the id list_segments gave, or None."""
        relpath = segment_relpath(check_id(seg_id, "segment id"))
        with self._read() as conn:
            known = conn.execute("SELECT 1 FROM segments WHERE relpath = ?", (relpath,)).fetchone()
        return self._resolve(relpath) if known else None

    def usage(self, camera: CameraName | None = None) -> StoreUsage:
        """Disk and event counts (camera: of that camera's events and footage only); `degraded` and quota come from
        the running store (see EventStore.usage)."""
        _check_query(1, {"camera": camera})
        with self._read() as conn:
            if camera is None:
                count, oldest = conn.execute("SELECT COUNT(*), MIN(start_time) FROM events").fetchone()
                return StoreUsage(media_bytes=db.media_bytes(conn), event_count=int(count), oldest_event_time=oldest)
            count, oldest = conn.execute("SELECT COUNT(*), MIN(start_time) FROM events WHERE camera = ?",
                                         (camera,)).fetchone()
            return StoreUsage(media_bytes=db.camera_media_bytes(conn, camera), event_count=int(count),
                              oldest_event_time=oldest)
