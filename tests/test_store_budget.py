"""The storage budget (one accountant, asked before writing) and the DB writer's retry on a full disk."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from camapp.store import db
from camapp.store.budget import StorageBudget
from camapp.store.writer import DBWriter, Tx

KB = 1024


class FakeDisk:
    """Free space of a pretend filesystem, and a freer that deletes 'old media' from it."""

    def __init__(self, free: int, old_media: int) -> None:
        self.free, self.old_media = free, old_media
        self.asked: list[int] = []

    def free_fn(self, _path: Path) -> int:
        return self.free

    def freer(self, budget: StorageBudget) -> object:
        def free(need: int) -> int:
            self.asked.append(need)
            got = min(need, self.old_media)
            self.old_media -= got
            self.free += got
            budget.set_committed(self.old_media)
            return got

        return free


@pytest.mark.parametrize(
    ("quota", "free", "old", "ask", "granted", "freed"),
    [
        (1000 * KB, 10_000 * KB, 0, 100 * KB, True, 0),  # room: nothing freed
        (1000 * KB, 10_000 * KB, 950 * KB, 100 * KB, True, 50 * KB),  # over quota: oldest media make room
        (1000 * KB, 120 * KB, 500 * KB, 100 * KB, True, 80 * KB),  # into the free-disk reserve: media make room
        (1000 * KB, 50 * KB, 10 * KB, 100 * KB, False, 10 * KB),  # nothing left to free: refused
        (50 * KB, 10_000 * KB, 0, 100 * KB, False, 0),  # larger than the whole quota: refused
    ],
)
def test_reserve_frees_oldest_media_or_refuses(tmp_path: Path, quota: int, free: int, old: int, ask: int,
                                               granted: bool, freed: int) -> None:
    disk = FakeDisk(free, old)
    budget = StorageBudget(tmp_path, quota_bytes=quota, min_free_bytes=100 * KB, free_fn=disk.free_fn)
    budget.set_committed(old)
    budget.attach(disk.freer(budget))  # type: ignore[arg-type]
    grant = budget.reserve(ask, "snapshot")
    assert (grant is not None) is granted
    assert old - disk.old_media == freed
    assert budget.refused == (0 if granted else 1)


def test_a_growing_file_counts_and_is_cut_at_the_quota(tmp_path: Path) -> None:
    disk = FakeDisk(10**9, 0)
    quota = 1000 * KB
    budget = StorageBudget(tmp_path, quota_bytes=quota, min_free_bytes=0, free_fn=disk.free_fn)
    budget.attach(disk.freer(budget))  # type: ignore[arg-type]
    grant = budget.reserve(budget.step, "clip")
    assert grant is not None
    written = 7 * KB
    while grant.report(written):  # an encoder writing frames
        assert budget.media_bytes() == written
        written += 7 * KB
    assert quota - budget.step <= written <= quota + budget.step, "cut within one step of the quota"
    assert budget.usage()["inflight_bytes"] == written
    grant.close()
    assert budget.media_bytes() == 0
    grant.close()  # idempotent


def test_usage_accounts_database_and_outbox_files(tmp_path: Path) -> None:
    (tmp_path / "events.db").write_bytes(b"x" * 3000)
    (tmp_path / "events.db-wal").write_bytes(b"x" * 1000)
    (tmp_path / "mqtt-outbox.sqlite").write_bytes(b"x" * 500)
    usage = StorageBudget(tmp_path, quota_bytes=10**6, min_free_bytes=0).usage()
    assert usage["db_bytes"] == 4000 and usage["outbox_bytes"] == 500
    assert usage["free_bytes"] > 0


def _fill(tx: Tx, n: int) -> None:
    for i in range(n):
        db.append_log(tx.conn, f"e{i}", "new", {"id": f"e{i}", "pad": "x" * 2000}, 1.0)


def test_a_batch_that_hits_a_full_disk_is_retried_after_space_is_freed(tmp_path: Path) -> None:
    freed = threading.Event()

    def on_full(conn: sqlite3.Connection) -> None:
        # What the store does for real: free space (here: lift SQLite's page limit), then retry the batch.
        conn.execute("PRAGMA max_page_count = 1000000")
        freed.set()

    with DBWriter(tmp_path / "events.db", on_full=on_full) as writer:
        writer.call(lambda tx: tx.conn.execute("PRAGMA max_page_count = 40"))
        fut = writer.submit(lambda tx: _fill(tx, 200))  # needs far more than 40 pages
        fut.result(timeout=30)
    assert freed.is_set()
    conn = sqlite3.connect(tmp_path / "events.db")
    assert conn.execute("SELECT COUNT(*) FROM event_log").fetchone()[0] == 200
    conn.close()


def test_a_batch_the_disk_never_has_room_for_fails_only_after_close(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("camapp.store.writer.CLOSE_RETRY_S", 0.3)
    writer = DBWriter(tmp_path / "events.db", on_full=lambda conn: None)
    writer.call(lambda tx: tx.conn.execute("PRAGMA max_page_count = 40"))
    fut = writer.submit(lambda tx: _fill(tx, 200))
    with pytest.raises(TimeoutError):
        fut.result(timeout=1.0)  # still being retried, not dropped
    writer.close()
    with pytest.raises(Exception, match="full"):
        fut.result(timeout=0)
