"""Durable store-and-forward outbox: a message is committed here before it is published, removed on PUBACK."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from camapp.errors import StorageError

log = logging.getLogger(__name__)

# Kinds that may be dropped when the outbox is full; new/end/alert never are.
DROPPABLE = ("update",)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True)
class OutboxMessage:
    """One undelivered message, in the order it was written."""

    seq: int
    message_id: str
    kind: str
    topic: str
    payload: str


@dataclass(frozen=True)
class NewMessage:
    """A message to add: its id, kind (new/update/end/alert), topic and JSON payload."""

    message_id: str
    kind: str
    topic: str
    payload: str


class Outbox:
    """SQLite file in WAL mode with synchronous=FULL so a committed message survives a power cut; one thread only."""

    def __init__(self, path: Path, max_messages: int = 10_000) -> None:
        self.path = path
        self.max_messages = max_messages
        self.dropped = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(str(path), isolation_level=None,
                                                                  check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the MQTT outbox {path}: {err}") from None
        self._count = self._query_count()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError(f"the MQTT outbox {self.path} is closed")
        return self._db

    def _query_count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    def add(self, messages: Sequence[NewMessage]) -> None:
        """Commit a batch in one transaction (one fsync), then enforce the size bound."""
        if not messages:
            return
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO outbox (message_id, kind, topic, payload, created) VALUES (?, ?, ?, ?, ?)",
                [(m.message_id, m.kind, m.topic, m.payload, now) for m in messages],
            )
            self._count = self._query_count()
            self._enforce_bound()

    def _enforce_bound(self) -> None:
        excess = self._count - self.max_messages
        if excess <= 0:
            return
        marks = ",".join("?" for _ in DROPPABLE)
        cur = self.db.execute(
            f"DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE kind IN ({marks}) ORDER BY seq LIMIT ?)",
            (*DROPPABLE, excess),
        )
        self.dropped += cur.rowcount
        self._count -= cur.rowcount
        if cur.rowcount:
            log.warning("MQTT outbox full (%d): dropped the %d oldest update messages", self.max_messages, cur.rowcount)
        if self._count > self.max_messages:
            log.warning("MQTT outbox holds %d messages (> %d) but new/end/alert messages are never dropped",
                        self._count, self.max_messages)

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[OutboxMessage]:
        """Undelivered messages after `after_seq`, oldest first."""
        rows = self.db.execute(
            "SELECT seq, message_id, kind, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        ).fetchall()
        return [OutboxMessage(*row) for row in rows]

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget delivered messages (after the broker's PUBACK)."""
        ids = [(s,) for s in seqs]
        if not ids:
            return
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM outbox WHERE seq = ?", ids)
            self._count = self._query_count()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
