"""Security notices every admin is shown: API tokens made, login lockouts, two-factor sign-in turned on or off.

Kept in SQLite in the data directory so a restart does not hide them, and bounded (the newest KEEP rows), so a
flood of lockouts cannot fill the disk. Each is also logged by whoever adds it.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Literal

from camapp.atomic import write_atomic
from camapp.closing import Closing
from camapp.errors import StorageError

NOTICES_DB = "notices.db"
KEEP = 500
NoticeKind = Literal["token", "lockout", "totp"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS notices (
    id INTEGER PRIMARY KEY AUTOINCREMENT, time REAL NOT NULL, kind TEXT NOT NULL, message TEXT NOT NULL
);
"""


class SecurityNotices(Closing):
    """Thread-safe; add() and recent() are the interface."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / NOTICES_DB
        if not self.path.exists():
            write_atomic(self.path, "", 0o600)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as err:
            raise StorageError(f"{self.path}: cannot open the security notices database: {err}") from None
        self._lock = threading.Lock()

    def add(self, kind: NoticeKind, message: str) -> None:
        with self._lock:
            self._db.execute("INSERT INTO notices (time, kind, message) VALUES (?, ?, ?)",
                             (time.time(), kind, message[:500]))
            self._db.execute("DELETE FROM notices WHERE id <= (SELECT MAX(id) FROM notices) - ?", (KEEP,))

    def recent(self, limit: int = 50) -> list[dict[str, Any]]:
        """The newest notices first."""
        with self._lock:
            rows = self._db.execute("SELECT id, time, kind, message FROM notices ORDER BY id DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [dict(zip(("id", "time", "kind", "message"), row, strict=True)) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
