"""The one thread that writes the SQLite database: a queue of operations, batched into transactions."""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from camapp.closing import QueueThread
from camapp.errors import StorageError
from camapp.store import db

log = logging.getLogger(__name__)

_BATCH = 200
RETRY_MAX_S = 2.0  # longest wait between retries of a batch the disk had no room for
RETRIES_OTHER = 3  # other SQLite errors (e.g. a locked file) are retried this often, then the batch fails
CLOSE_RETRY_S = 20.0  # after close() a batch waiting for space is retried this long before it is given up
WARN_EVERY_S = 60.0
FAILING_AFTER_S = 5.0  # a batch retried longer than this makes the store unhealthy (a moment of contention does not)
# SQLite result codes meaning "no room": SQLITE_FULL, and SQLITE_IOERR, which a write into a full disk may give.
_FULL_CODES = (13, 10)


def _disk_full(err: sqlite3.Error) -> bool:
    code = getattr(err, "sqlite_errorcode", None)
    if code is not None:
        return (code & 0xFF) in _FULL_CODES
    return "full" in str(err) or "disk I/O" in str(err)


RescueFn = Callable[[sqlite3.Connection], "Op | None"]


@dataclass
class Tx:
    """What an operation gets: the write connection (inside a transaction) and actions to run after COMMIT."""

    conn: sqlite3.Connection
    after_commit: list[Callable[[], None]] = field(default_factory=list)


Op = Callable[[Tx], Any]
_Item = tuple[Op, "Future[Any]"]
# Rows trickle in every frame; committing each trickle would write the same few WAL pages (the log's last leaf,
# the events row, log_state, indexes) over and over: on an SD card, bytes written are its life. So the writer
# gathers what comes for up to this long into one transaction, unless someone waits for the result (call, flush).
GATHER_S = 5.0


class _Urgent(Future):  # type: ignore[type-arg]
    """The future of an urgent operation: its batch commits without gathering more."""


class DBWriter(QueueThread[_Item]):
    """Owns the only write connection; `submit` returns a Future resolved once the operation is committed."""

    def __init__(
        self, path: Path, *, periodic: Op | None = None, interval_s: float = 60.0, name: str = "store-writer",
        on_full: RescueFn | None = None, gather_s: float = GATHER_S,
    ) -> None:
        """`on_full(conn)` runs when a batch hits a full disk: it frees space (unlinking files) and returns an op
        that forgets what it removed, run first in the retried batch; None when it could free nothing."""
        super().__init__(name)
        self.path, self.name, self.gather_s = path, name, gather_s
        conn = db.connect(path)  # create the schema now so readers work before the thread starts
        try:
            db.shrink_pages(conn, path)
            db.init_schema(conn)
        finally:
            conn.close()
        self._periodic = periodic
        self._interval_s = interval_s
        self._on_full = on_full
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._stop_time = 0.0
        self._last_warning = 0.0
        self.failing: tuple[float, str] | None = None  # (time.monotonic() of the first failure, error) while retrying
        self._thread.start()

    def submit(self, op: Op, *, urgent: bool = False) -> Future[Any]:
        """Queue an operation; it runs in the writer thread inside a transaction, committed within GATHER_S (at
        once when `urgent`)."""
        fut: Future[Any] = _Urgent() if urgent else Future()
        if not self._offer((op, fut)):
            fut.set_exception(StorageError("the event store is closed"))
        return fut

    def call(self, op: Op, timeout: float = 30.0) -> Any:
        """Run an operation and wait for its committed result."""
        return self.submit(op, urgent=True).result(timeout)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until everything queued so far is committed."""
        self.call(lambda tx: None, timeout)

    def _run(self) -> None:
        conn = db.connect(self.path)
        next_periodic = time.monotonic()
        try:
            while True:
                if self._periodic is not None and time.monotonic() >= next_periodic:
                    self._execute(conn, [(self._periodic, Future())])
                    next_periodic = time.monotonic() + self._interval_s
                items, done = self._take(max(0.0, next_periodic - time.monotonic()))
                if items:
                    self._execute(conn, items)
                if done:
                    return
        finally:
            conn.close()

    def _take(self, wait_s: float) -> tuple[list[_Item], bool]:
        """Block for the first item (up to wait_s), then drain what is already queued; True once told to stop."""
        try:
            first = self._queue.get(timeout=wait_s if self._periodic is not None else None)
        except queue.Empty:
            return [], False
        items: list[_Item] = []
        item: _Item | None = first
        until = time.monotonic() + self.gather_s
        while item is not None:
            items.append(item)
            if isinstance(item[1], _Urgent):
                until = 0.0  # commit what is here now
            if len(items) >= _BATCH:
                return items, False
            left = until - time.monotonic()
            try:
                item = (self._queue.get(timeout=left) if left > 0 and not self._stop.is_set()
                        else self._queue.get_nowait())
            except queue.Empty:
                return items, False
        return items, True

    def _execute(self, conn: sqlite3.Connection, items: list[_Item]) -> None:
        """Commit a batch; on a full disk free space and retry it (never drop it) until it commits or we close."""
        failures = 0
        while True:
            err = self._commit(conn, items)
            if err is None:
                self.failing = None
                return
            failures += 1
            if self.failing is None:
                self.failing = (time.monotonic(), str(err))
            full = _disk_full(err)
            if full and self._on_full is not None:
                rescue = self._on_full(conn)
                if rescue is not None:  # files already unlinked; their rows go first in the retried batch
                    items = [(rescue, Future()), *items]
            if self._give_up(full, failures):
                log.error("event store: write failed, %d operation(s) lost: %s", len(items), err)
                failure = StorageError(f"event store write failed: {err}")
                for _, fut in items:
                    if not fut.done():
                        fut.set_exception(failure)
                return
            self._warn_retry(err, len(items), failures)
            # Once stopping, _stop no longer waits: pause on an event nobody sets (still a bounded wait).
            pause = self._pause if self._stop.is_set() else self._stop
            pause.wait(min(RETRY_MAX_S, 0.05 * 2 ** min(failures, 8)))

    def _give_up(self, full: bool, failures: int) -> bool:
        """A full disk is retried for as long as we run (and a while after close); other errors a few times."""
        if not full:
            return failures >= RETRIES_OTHER
        if self._stop.is_set():
            return time.monotonic() - self._stop_time > CLOSE_RETRY_S
        return False

    def _warn_retry(self, err: sqlite3.Error, count: int, failures: int) -> None:
        now = time.monotonic()
        if failures == 1 or now - self._last_warning >= WARN_EVERY_S:
            self._last_warning = now
            log.warning("event store: write failed (%s); keeping %d operation(s) and retrying", err, count)

    def _commit(self, conn: sqlite3.Connection, items: list[_Item]) -> sqlite3.Error | None:
        """One transaction per batch, one savepoint per operation so a failing op does not undo the others."""
        tx = Tx(conn)
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, fut in items:
                results.append((fut, *self._run_op(tx, op)))
            conn.execute("COMMIT")
        except sqlite3.Error as err:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            return err
        for action in tx.after_commit:
            try:
                action()
            except OSError as err:
                log.warning("event store: post-commit cleanup failed: %s", err)
        for fut, value, error in results:
            if error is None:
                fut.set_result(value)
            else:
                fut.set_exception(error)
        return None

    @staticmethod
    def _run_op(tx: Tx, op: Op) -> tuple[Any, BaseException | None]:
        tx.conn.execute("SAVEPOINT op")
        mark = len(tx.after_commit)
        try:
            value = op(tx)
        except sqlite3.Error as err:
            if _disk_full(err):  # the whole batch must wait for space, not just this op
                raise
            return DBWriter._undo(tx, mark, err)
        except Exception as err:  # an op's bug or bad data must not stop the writer
            return DBWriter._undo(tx, mark, err)
        tx.conn.execute("RELEASE op")
        return value, None

    @staticmethod
    def _undo(tx: Tx, mark: int, err: Exception) -> tuple[Any, BaseException | None]:
        tx.conn.execute("ROLLBACK TO op")
        tx.conn.execute("RELEASE op")
        del tx.after_commit[mark:]
        if not isinstance(err, StorageError | ValueError):
            log.exception("event store: operation failed")
        return None, err

    def problem(self) -> tuple[str, bool] | None:
        """For the health check: (why the store is not writing, whether a restart would help), None when fine."""
        if not self._thread.is_alive() and not self._closed:
            return "event store writer thread stopped", True
        failing = self.failing
        if failing is not None and time.monotonic() - failing[0] > FAILING_AFTER_S:
            return f"writes failing for {time.monotonic() - failing[0]:.0f} s ({failing[1]}); retrying", False
        return None

    def close(self) -> None:
        """Commit what is queued, stop the thread; idempotent. A batch waiting for disk space gets CLOSE_RETRY_S."""
        if not self._stop_once():
            return
        self._stop_time = time.monotonic()
        self._stop.set()
        self._thread.join()

