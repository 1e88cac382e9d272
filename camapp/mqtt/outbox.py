"""Durable store-and-forward outbox: a message is committed here before it is published, removed on PUBACK.

Bounded in messages and in bytes. Past either bound, messages are dropped in this order (the policy documented in
docs/mqtt.md and docs/reliability.md), oldest first within each step:
  1. `update` messages (the `new`/`end` of the same event still tell the story);
  2. whole finished events: an event's `new` and `end` together (plus its remaining updates), so a subscriber
     never sees a `new` without its `end`;
  3. alerts.
What is left over the bound then is only the `new` of events still running and the `end` of events whose `new`
was already delivered: at most two messages per event alive when the broker went away, so the outbox stays bounded.

The outbox also remembers which events it has a `new` for but no `end` yet: after a crash (or a close without the
pipeline ending them) `end_open()` writes their `end`, in the same transaction that forgets them.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from camapp.closing import Closing
from camapp.errors import StorageError

log = logging.getLogger(__name__)

WARN_EVERY_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS open_events (
    event_id TEXT PRIMARY KEY, topic TEXT NOT NULL, payload TEXT NOT NULL, updated REAL NOT NULL
);
"""
_MIGRATE = "ALTER TABLE outbox ADD COLUMN event_id TEXT"


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
    """A message to add: its id, kind (new/update/end/alert), topic, JSON payload, and the event it is about."""

    message_id: str
    kind: str
    topic: str
    payload: str
    event_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.topic.encode()) + len(self.payload.encode())


class Outbox(Closing):
    """SQLite file in WAL mode with synchronous=FULL so a committed message survives a power cut; one thread only."""

    def __init__(self, path: Path, max_messages: int = 10_000, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.path = path
        self.max_messages, self.max_bytes = max_messages, max_bytes
        self.dropped: Counter[str] = Counter()  # by kind, since this process started
        self._last_warning = 0.0
        self._unwarned: Counter[str] = Counter()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db: sqlite3.Connection | None = sqlite3.connect(str(path), isolation_level=None,
                                                                  check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            columns = {r[1] for r in self._db.execute("PRAGMA table_info(outbox)")}
            if "event_id" not in columns:  # an outbox written by an older camapp
                self._db.execute(_MIGRATE)
        except sqlite3.Error as err:
            raise StorageError(f"cannot open the MQTT outbox {path}: {err}") from None
        self._count, self._bytes = self._query_size()

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StorageError(f"the MQTT outbox {self.path} is closed")
        return self._db

    def _query_size(self) -> tuple[int, int]:
        row = self.db.execute("SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(topic AS BLOB)) + "
                              "LENGTH(CAST(payload AS BLOB))), 0) FROM outbox").fetchone()
        return int(row[0]), int(row[1])

    def __len__(self) -> int:
        return self._count

    @property
    def bytes(self) -> int:
        """Topic plus payload bytes of the undelivered messages (the file itself is a little larger)."""
        return self._bytes

    def add(self, messages: Sequence[NewMessage]) -> None:
        """Commit a batch in one transaction (one fsync), then enforce the bounds."""
        if not messages:
            return
        now = time.time()
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT OR IGNORE INTO outbox (message_id, kind, topic, payload, created, event_id) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [(m.message_id, m.kind, m.topic, m.payload, now, m.event_id) for m in messages],
            )
            self._track_open(messages, now)
            self._count, self._bytes = self._query_size()
            self._enforce_bound()
        self._warn_drops()

    def _track_open(self, messages: Sequence[NewMessage], now: float) -> None:
        for m in messages:
            if m.event_id is None:
                continue
            if m.kind == "end":
                self.db.execute("DELETE FROM open_events WHERE event_id = ?", (m.event_id,))
            elif m.kind in ("new", "update"):
                self.db.execute("INSERT OR REPLACE INTO open_events VALUES (?, ?, ?, ?)",
                                (m.event_id, m.topic, m.payload, now))

    def _over(self) -> bool:
        return self._count > self.max_messages or self._bytes > self.max_bytes

    def _enforce_bound(self) -> None:
        for step in (self._drop_updates, self._drop_finished_events, self._drop_alerts):
            if not self._over():
                return
            step()

    def _drop(self, kind: str, where: str, args: tuple[object, ...] = ()) -> int:
        """Delete the rows `where` selects (oldest first, one at a time until within bounds)."""
        dropped = 0
        rows = self.db.execute(f"SELECT seq, kind, LENGTH(CAST(topic AS BLOB)) + LENGTH(CAST(payload AS BLOB)) "
                               f"FROM outbox WHERE {where} ORDER BY seq", args).fetchall()
        for seq, row_kind, size in rows:
            if not self._over():
                break
            self.db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            self._count, self._bytes = self._count - 1, self._bytes - int(size)
            self.dropped[row_kind] += 1
            self._unwarned[kind] += 1
            dropped += 1
        return dropped

    def _drop_updates(self) -> None:
        self._drop("update", "kind = 'update'")

    def _drop_finished_events(self) -> None:
        """Oldest events whose `new` and `end` are both still here go as a whole (with their updates)."""
        finished = self.db.execute(
            "SELECT event_id FROM outbox WHERE kind = 'new' AND event_id IN "
            "(SELECT event_id FROM outbox WHERE kind = 'end') ORDER BY seq").fetchall()
        for (event_id,) in finished:
            if not self._over():
                return
            rows = self.db.execute(
                "SELECT kind, COUNT(*), SUM(LENGTH(CAST(topic AS BLOB)) + LENGTH(CAST(payload AS BLOB))) "
                "FROM outbox WHERE event_id = ? GROUP BY kind", (event_id,)).fetchall()
            self.db.execute("DELETE FROM outbox WHERE event_id = ?", (event_id,))
            for kind, n, size in rows:
                self.dropped[kind] += int(n)
                self._count, self._bytes = self._count - int(n), self._bytes - int(size)
            self._unwarned["whole events"] += 1

    def _drop_alerts(self) -> None:
        self._drop("alert", "kind = 'alert'")

    def _warn_drops(self) -> None:
        """One warning a minute at most, however many messages went (not one line per message)."""
        now = time.monotonic()
        if not self._unwarned or now - self._last_warning < WARN_EVERY_S:
            return
        self._last_warning = now
        what = ", ".join(f"{n} {kind}" for kind, n in sorted(self._unwarned.items()))
        self._unwarned.clear()
        log.warning("MQTT outbox full (%d messages / %d bytes max): dropped %s (oldest first); %d kept",
                    self.max_messages, self.max_bytes, what, self._count)

    def end_open(self, reason: str) -> list[NewMessage]:
        """Write an `end` for every event with a `new` here and no `end` (after a crash: reason `restart`)."""
        rows = self.db.execute("SELECT event_id, topic, payload, updated FROM open_events ORDER BY updated").fetchall()
        if not rows:
            return []
        ends = [_end_message(str(eid), str(topic), str(payload), float(updated), reason)
                for eid, topic, payload, updated in rows]
        self.add(ends)
        log.info("MQTT: %d event(s) left open by the last run ended (reason %s)", len(ends), reason)
        return ends

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
            self._count, self._bytes = self._query_size()

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def _end_message(event_id: str, topic: str, payload: str, updated: float, reason: str) -> NewMessage:
    """The `end` of an event from its last published payload: ended when it was last heard of."""
    body, message_id = json.loads(payload), uuid.uuid4().hex
    start = body.get("start_time") or 0.0
    body.update(type="end", message_id=message_id, end_time=round(max(float(start), updated), 3),
                reason=reason, time=round(time.time(), 3))
    return NewMessage(message_id, "end", topic, json.dumps(body, separators=(",", ":")), event_id)
