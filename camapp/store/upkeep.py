"""The shared store's housekeeping, run on its writer thread inside one transaction each: the start-up sweep, the
retention pass, freeing the oldest media for a writer, forgetting media unlinked to rescue a full disk, and deleting
an event. Each ends by telling the budget what media is on disk now (note_media).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Mapping, Set
from pathlib import Path

from camapp.config.storage import StorageConfig
from camapp.store import db, holds, segdb
from camapp.store.budget import StorageBudget
from camapp.store.closing import close_stale
from camapp.store.recording import expire_segments
from camapp.store.retention import (
    RetentionResult,
    drop_event,
    free_oldest,
    note_media,
    oldest_media,
    run_retention,
    sweep,
)
from camapp.store.writer import Tx

log = logging.getLogger("camapp.store.shared")  # the store's log, as before its housekeeping had its own module

MB = 1024 * 1024


def startup(tx: Tx, data_dir: Path, budget: StorageBudget) -> None:
    """Files and rows a crash left behind: leftover files removed, stale events closed, orphans dropped."""
    removed, closed = sweep(tx, data_dir), close_stale(tx)
    db.drop_orphan_details(tx.conn)
    segdb.drop_orphans(tx.conn)  # segments whose file the sweep found gone
    holds.drop_dangling(tx.conn, time.time())  # so no event holds footage that is not there
    note_media(tx, budget)
    if removed or closed:
        log.info("event store: removed %d leftover file(s), closed %d stale event(s)", removed, closed)


def retention(tx: Tx, cfg: StorageConfig, data_dir: Path, budget: StorageBudget, needed: Set[str],
              continuous_s: Mapping[str, float]) -> tuple[RetentionResult, set[str]]:
    """One retention pass (events, the quota, segments: `continuous_s` each camera's recording.retain_days in
    seconds); returns its result and the segments it deleted, which the cameras must forget."""
    now = time.time()
    result = run_retention(
        tx, data_dir, retain_s=cfg.retain_days * 86400,
        quota_bytes=int(cfg.max_media_mb * MB) - budget.inflight_bytes(),
        min_free_bytes=int(cfg.min_free_mb * MB), now=now, needed=needed,
    )
    doomed = expire_segments(tx, data_dir, now, cfg.retain_days * 86400, continuous_s,
                             cfg.recording.retain_days * 86400)
    gone = segdb.drop_orphans(tx.conn)  # the quota took their files
    holds.drop_dangling(tx.conn, now)
    note_media(tx, budget)
    return result, set(doomed) | set(gone)


def free_media(tx: Tx, data_dir: Path, budget: StorageBudget, ahead: int, needed: Set[str], must: int) -> int:
    """Delete the oldest media (`ahead` bytes, at least `must`) but what `needed` names; returns the bytes freed."""
    freed = free_oldest(tx, data_dir, ahead, needed, must=must)[1]
    note_media(tx, budget)
    return freed


def unlink_oldest(conn: sqlite3.Connection, data_dir: Path, need: int, skip: Set[str]) -> list[str]:
    """A full disk: unlink the oldest media files (at least `need` bytes, none of `skip`) before their rows can be
    deleted; returns their paths, for forget_unlinked."""
    doomed = [rel for rel, _ in oldest_media(conn, need, skip)]
    if doomed:
        log.warning("event store: disk full; deleting the %d oldest media file(s) to keep the metadata", len(doomed))
    for rel in doomed:
        with contextlib.suppress(OSError):
            (data_dir / rel).unlink()
    return doomed


def forget_unlinked(tx: Tx, doomed: list[str], budget: StorageBudget) -> set[str]:
    """The rows of media unlink_oldest removed; returns the segments gone with them."""
    tx.conn.executemany("DELETE FROM media WHERE relpath = ?", [(p,) for p in doomed])
    gone = segdb.drop_orphans(tx.conn)
    holds.drop_dangling(tx.conn, time.time())  # the events that held them say what they lost
    note_media(tx, budget)
    return set(gone)


def delete_event(tx: Tx, data_dir: Path, budget: StorageBudget, event_id: str, needed: Set[str]) -> bool:
    """Delete an event and its media (the log keeps a `deleted` row); False if there is no such event."""
    if not db.event_exists(tx.conn, event_id):
        return False
    drop_event(tx, data_dir, event_id, "user", needed)
    note_media(tx, budget)
    return True
