"""Server-side login sessions in SQLite: the cookie carries a random id, the database only its SHA-256.

A session is valid only while its row exists, so logout, a password change or deleting the user ends it at once
(the signed cookie alone proves nothing). Each row also has a public `ref` so the account page can list and end
sessions without ever showing an id that would log someone in.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from camapp.atomic import write_atomic
from camapp.closing import Closing
from camapp.errors import StorageError

SESSIONS_DB = "sessions.db"
TOUCH_EVERY_S = 60.0  # last_seen is written at most this often per session
_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY, ref TEXT UNIQUE NOT NULL, username TEXT NOT NULL, created REAL NOT NULL,
    last_seen REAL NOT NULL, expires REAL NOT NULL, address TEXT NOT NULL, agent TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(username);
"""


def _hash(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore(Closing):
    """Thread-safe; one SQLite connection guarded by a lock (sessions are few and rows small)."""

    def __init__(self, data_dir: Path, lifetime_s: float) -> None:
        self.path = Path(data_dir) / SESSIONS_DB
        self.lifetime_s = lifetime_s
        if not self.path.exists():
            write_atomic(self.path, "", 0o600)  # created private, whatever the umask
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StorageError(f"{self.path}: cannot open the sessions database: {err}") from None
        self._lock = threading.Lock()

    def create(self, username: str, address: str, agent: str) -> str:
        """A new session for `username`; returns the id for the cookie (kept nowhere else)."""
        sid, ref, now = secrets.token_urlsafe(32), secrets.token_hex(6), time.time()
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            self._db.execute("INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (_hash(sid), ref, username, now, now, now + self.lifetime_s, address[:64], agent[:200]))
        return sid

    def lookup(self, sid: str) -> tuple[str, str] | None:
        """(username, ref) of a live session, else None; notes when it was last used."""
        now = time.time()
        with self._lock:
            row = self._db.execute("SELECT username, ref, last_seen, expires FROM sessions WHERE id_hash = ?",
                                   (_hash(sid),)).fetchone()
            if row is None or row[3] < now:
                return None
            if now - row[2] > TOUCH_EVERY_S:
                self._db.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now, _hash(sid)))
        return str(row[0]), str(row[1])

    def end(self, sid: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_hash = ?", (_hash(sid),))

    def end_ref(self, username: str, ref: str) -> bool:
        """End one of `username`'s sessions by its public ref; False when there is no such session."""
        with self._lock:
            cur = self._db.execute("DELETE FROM sessions WHERE username = ? AND ref = ?", (username, ref))
        return cur.rowcount > 0

    def end_user(self, username: str, keep: str | None = None) -> int:
        """End every session of `username` (but `keep`, the caller's own); returns how many ended."""
        with self._lock:
            cur = self._db.execute("DELETE FROM sessions WHERE username = ? AND id_hash != ?",
                                   (username, _hash(keep) if keep else ""))
        return int(cur.rowcount)

    def list(self, username: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT ref, created, last_seen, expires, address, agent FROM sessions WHERE username = ? "
                "AND expires >= ? ORDER BY last_seen DESC", (username, time.time())).fetchall()
        keys = ("id", "created", "last_seen", "expires", "address", "agent")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def close(self) -> None:
        """Idempotent (sqlite3 allows closing twice)."""
        with self._lock:
            self._db.close()
