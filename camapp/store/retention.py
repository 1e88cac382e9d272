"""Retention: expire old events, keep media under the quota (oldest first), prune the log behind a checkpoint."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from camapp.store import db
from camapp.store.budget import StorageBudget, disk_free
from camapp.store.media import is_temp
from camapp.store.writer import Tx

log = logging.getLogger(__name__)

MEDIA_DIR = "media"


@dataclass(frozen=True)
class RetentionResult:
    """What one pass did, and whether the disk is nearly full."""

    expired_events: int
    deleted_files: int
    pruned_log_rows: int
    free_bytes: int
    degraded: bool


def unlink_later(tx: Tx, data_dir: Path, relpaths: list[str]) -> None:
    """Delete files only after the rows referencing them are committed: a crash leaves orphans, never dangling rows."""
    if not relpaths:
        return

    def remove() -> None:
        for rel in relpaths:
            path = data_dir / rel
            path.unlink(missing_ok=True)
            _remove_empty_parent(path.parent, data_dir / MEDIA_DIR)

    tx.after_commit.append(remove)


def _remove_empty_parent(folder: Path, root: Path) -> None:
    if folder != root and folder.is_relative_to(root):
        with contextlib.suppress(OSError):  # not empty: other media of that day are still there
            folder.rmdir()


def expire_events(tx: Tx, data_dir: Path, cutoff: float, now: float) -> int:
    """Delete events (and their media) that ended before `cutoff`; each deletion is logged."""
    conn = tx.conn
    ids = [r[0] for r in conn.execute("SELECT id FROM events WHERE COALESCE(end_time, start_time) < ?", (cutoff,))]
    paths: list[str] = []
    for event_id in ids:
        paths += db.take_media(conn, event_id)
        db.append_log(conn, event_id, "deleted", {"id": event_id, "reason": "retention"}, now)
    sql = "SELECT relpath FROM media WHERE kind = 'manual' AND created < ?"
    old_manual = [r[0] for r in conn.execute(sql, (cutoff,))]
    conn.executemany("DELETE FROM media WHERE relpath = ?", [(p,) for p in old_manual])
    unlink_later(tx, data_dir, paths + old_manual)
    return len(ids)


def oldest_media(conn: sqlite3.Connection, need_bytes: int, exclude: Set[str] = frozenset(),
                 last: Set[str] = frozenset()) -> list[tuple[str, int]]:
    """The oldest media files (relpath, bytes) that together hold at least `need_bytes` (or all of them); those in
    `last` (segments a clip still needs) only once nothing else is left."""
    picked: list[tuple[str, int]] = []
    spared: list[tuple[str, int]] = []
    if need_bytes <= 0:
        return picked
    for relpath, size in conn.execute("SELECT relpath, bytes FROM media ORDER BY created, relpath"):
        if relpath in exclude:
            continue
        if relpath in last:
            spared.append((str(relpath), int(size)))
            continue
        picked.append((str(relpath), int(size)))
        need_bytes -= int(size)
        if need_bytes <= 0:
            return picked
    for item in spared:
        picked.append(item)
        need_bytes -= item[1]
        if need_bytes <= 0:
            break
    return picked


def free_oldest(tx: Tx, data_dir: Path, need_bytes: int, needed: Set[str] = frozenset()) -> tuple[int, int]:
    """Delete the oldest media until `need_bytes` are freed (`needed` segments last); event rows stay.
    Returns (files, bytes)."""
    doomed = oldest_media(tx.conn, need_bytes, last=needed)
    tx.conn.executemany("DELETE FROM media WHERE relpath = ?", [(p,) for p, _ in doomed])
    unlink_later(tx, data_dir, [p for p, _ in doomed])
    return len(doomed), sum(size for _, size in doomed)


def note_media(tx: Tx, budget: StorageBudget) -> None:
    """Tell the budget the media table's new total once this transaction commits."""
    total = db.media_bytes(tx.conn)
    tx.after_commit.append(lambda: budget.set_committed(total))


def enforce_quota(tx: Tx, data_dir: Path, quota_bytes: int, needed: Set[str] = frozenset()) -> int:
    """Delete the oldest media files until their total is within the quota; event rows stay."""
    return free_oldest(tx, data_dir, db.media_bytes(tx.conn) - quota_bytes, needed)[0]


def prune_log(conn: sqlite3.Connection, cutoff: float) -> int:
    """Drop the oldest log rows older than `cutoff`, keeping every row of events still stored.

    The hash of the last dropped row becomes the checkpoint the remaining chain is verified from.
    """
    oldest = conn.execute("SELECT ts FROM event_log ORDER BY seq LIMIT 1").fetchone()
    if oldest is None or oldest[0] >= cutoff:
        return 0
    keep = conn.execute(
        "SELECT MIN(seq) FROM event_log WHERE ts >= ? OR event_id IN (SELECT id FROM events)", (cutoff,)
    ).fetchone()[0]
    if keep is None:
        keep = int(conn.execute("SELECT head_seq FROM log_state").fetchone()[0]) + 1
    last = conn.execute("SELECT seq, hash FROM event_log WHERE seq < ? ORDER BY seq DESC LIMIT 1", (keep,)).fetchone()
    if last is None:
        return 0
    count = conn.execute("DELETE FROM event_log WHERE seq <= ?", (last[0],)).rowcount
    conn.execute("UPDATE log_state SET checkpoint_seq = ?, checkpoint_hash = ? WHERE id = 1", (last[0], last[1]))
    return int(count)


def free_bytes(data_dir: Path) -> int:
    return disk_free(data_dir)


def run_retention(tx: Tx, data_dir: Path, *, retain_s: float, quota_bytes: int,  # noqa: PLR0913 - one pass
                  min_free_bytes: int, now: float, needed: Set[str] = frozenset()) -> RetentionResult:
    """One full pass; runs in the writer thread. `quota_bytes` is what recorded media may hold now (the quota
    less the media being written). Below `min_free_bytes` of free disk, the oldest media go first, so metadata
    always has room; metadata itself goes only when past retain_days. `needed` segments go last."""
    cutoff = now - retain_s
    expired = expire_events(tx, data_dir, cutoff, now)
    deleted = enforce_quota(tx, data_dir, quota_bytes, needed)
    free = free_bytes(data_dir)
    if free < min_free_bytes:
        # Aim a little above the floor so one pass does not leave the next write short again.
        files, freed = free_oldest(tx, data_dir, min_free_bytes - free + min_free_bytes // 10, needed)
        deleted, free = deleted + files, free + freed
    pruned = prune_log(tx.conn, cutoff)
    if expired or deleted or pruned:
        log.info("retention: %d event(s) expired, %d media file(s) deleted, %d log row(s) pruned",
                 expired, deleted, pruned)
    return RetentionResult(expired, deleted, pruned, free, free < min_free_bytes)


def sweep(tx: Tx, data_dir: Path) -> int:
    """At start: drop temp files and orphans from a crash, and rows whose file has gone; returns files removed."""
    conn = tx.conn
    known = {r[0] for r in conn.execute("SELECT relpath FROM media")}
    root = data_dir / MEDIA_DIR
    on_disk = {p.relative_to(data_dir).as_posix() for p in root.rglob("*") if p.is_file()} if root.exists() else set()
    missing = known - on_disk
    if missing:
        log.warning("event store: %d media file(s) missing from disk; forgetting them", len(missing))
        conn.executemany("DELETE FROM media WHERE relpath = ?", [(p,) for p in missing])
    strays = sorted(on_disk - known)
    for rel in strays:
        if not is_temp(Path(rel)):
            log.info("event store: removing unreferenced media file %s", rel)
    unlink_later(tx, data_dir, strays)
    return len(strays)
