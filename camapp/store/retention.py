"""Retention: expire old events, keep media under the quota (oldest first), prune the log behind a checkpoint."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Set
from dataclasses import dataclass
from pathlib import Path

from camapp.store import db, holds, segdb
from camapp.store.budget import StorageBudget, disk_free
from camapp.store.media import is_temp
from camapp.store.quota import FairShare
from camapp.store.writer import Tx

log = logging.getLogger(__name__)

MEDIA_DIR = "media"
KEEP_EVENTS = 0  # segments.keep of events-only footage (camapp.record.book.KEEP_NONE)


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


def _media_of(conn: sqlite3.Connection, owner: str) -> tuple[list[str], int]:
    rows = conn.execute("SELECT relpath, bytes FROM media WHERE owner = ?", (owner,)).fetchall()
    conn.execute("DELETE FROM media WHERE owner = ?", (owner,))
    return [str(r[0]) for r in rows], sum(int(r[1]) for r in rows)


def _free_segments(tx: Tx, data_dir: Path, relpaths: list[str], needed: Set[str], *, all_: bool = False) -> int:
    """Delete those of `relpaths` no event holds (events-only ones, or all of them with `all_`); returns bytes."""
    conn = tx.conn
    doomed, size = [], 0
    for rel in holds.unheld(conn, relpaths):
        row = conn.execute("SELECT s.keep, m.bytes FROM segments s JOIN media m ON m.relpath = s.relpath "
                           "WHERE s.relpath = ?", (rel,)).fetchone()
        if row is None or rel in needed or (row[0] != KEEP_EVENTS and not all_):
            continue  # continuous footage stays for its own retention (or the quota, by its age)
        doomed.append(rel)
        size += int(row[1])
    segdb.drop_segments(conn, doomed)
    unlink_later(tx, data_dir, doomed)
    return size


def drop_event(tx: Tx, data_dir: Path, event_id: str, reason: str, needed: Set[str] = frozenset()) -> int:
    """Delete an event whole: its row (a `deleted` log row with `reason`), its files, and the segments it held that
    no other event holds (events-only ones; continuous footage keeps its own retention). Returns bytes freed."""
    conn = tx.conn
    held = [str(r[0]) for r in conn.execute("SELECT relpath FROM holds WHERE event_id = ?", (event_id,))]
    paths, size = _media_of(conn, event_id)
    db.append_log(conn, event_id, "deleted", {"id": event_id, "reason": reason}, time.time())  # drops its holds
    unlink_later(tx, data_dir, paths)
    return size + _free_segments(tx, data_dir, held, needed)


def prune_event(tx: Tx, data_dir: Path, event_id: str, reason: str, needed: Set[str] = frozenset()) -> int:
    """Delete an event's files and footage but keep its row: its clip says `pruned` (a `pruned` log row)."""
    conn = tx.conn
    held = [str(r[0]) for r in conn.execute("SELECT relpath FROM holds WHERE event_id = ?", (event_id,))]
    paths, size = _media_of(conn, event_id)
    conn.execute("DELETE FROM holds WHERE event_id = ?", (event_id,))
    conn.execute("UPDATE windows SET state = 'pruned' WHERE event_id = ?", (event_id,))
    holds.mark_pruned(conn, event_id, held, reason, time.time())
    unlink_later(tx, data_dir, paths)
    return size + _free_segments(tx, data_dir, held, needed, all_=True)


def expire_events(tx: Tx, data_dir: Path, cutoff: float, now: float) -> int:
    """Delete events (their files and the footage only they hold) that ended before `cutoff`; each is logged."""
    conn = tx.conn
    ids = [r[0] for r in conn.execute("SELECT id FROM events WHERE COALESCE(end_time, start_time) < ?", (cutoff,))]
    for event_id in ids:
        drop_event(tx, data_dir, event_id, "retention")
    sql = "SELECT relpath FROM media WHERE kind = 'manual' AND created < ?"
    old_manual = [r[0] for r in conn.execute(sql, (cutoff,))]
    conn.executemany("DELETE FROM media WHERE relpath = ?", [(p,) for p in old_manual])
    unlink_later(tx, data_dir, old_manual)
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


def free_oldest(tx: Tx, data_dir: Path, need_bytes: int, needed: Set[str] = frozenset(), *,  # noqa: PLR0913
                keep_rows: bool = True, reason: str = "quota", must: int | None = None) -> tuple[int, int]:
    """Free at least `need_bytes` (or all there is), oldest first: an event's media as a whole (its snapshots and
    the footage no newer event holds; the row stays and its clip says `pruned`, or with keep_rows=False the event
    goes too), files of no event, footage no event holds. Segments a waiting event needs go last. Each segment
    counts once however many events hold it. With several cameras, the camera holding the most media bytes gives
    up its oldest first (camapp/store/quota.py); past `must` bytes (what has to go; the rest is freed ahead) only
    the cameras that gave up something already give up more. Returns (units deleted, bytes freed)."""
    conn, units, freed = tx.conn, 0, 0
    spare = set(needed)
    must = need_bytes if must is None else must
    share = FairShare(conn)
    while freed < need_bytes:
        turn = share.next(spare, ahead=freed >= must)
        if turn is None and freed >= must:
            break
        if turn is None:
            if not spare:
                break
            spare = set()  # nothing else is left: a waiting event's footage goes too
            continue
        camera, (_, kind, key) = turn
        if kind == "event":
            size = (prune_event if keep_rows else drop_event)(tx, data_dir, key, reason, spare)
        elif kind == "file":
            size = int(conn.execute("SELECT bytes FROM media WHERE relpath = ?", (key,)).fetchone()[0])
            conn.execute("DELETE FROM media WHERE relpath = ?", (key,))
            unlink_later(tx, data_dir, [key])
        else:
            size = _free_segments(tx, data_dir, [key], spare, all_=True)
        share.took(camera, size)
        freed += size
        units += 1
    return units, freed


def note_media(tx: Tx, budget: StorageBudget) -> None:
    """Tell the budget the media table's new total once this transaction commits."""
    total = db.media_bytes(tx.conn)
    tx.after_commit.append(lambda: budget.set_committed(total))


def enforce_quota(tx: Tx, data_dir: Path, quota_bytes: int, needed: Set[str] = frozenset()) -> int:
    """Delete the oldest events' media (whole) and unheld footage until media are within the quota."""
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
        files, freed = free_oldest(tx, data_dir, min_free_bytes - free + min_free_bytes // 10, needed,
                                   reason="low disk")
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
