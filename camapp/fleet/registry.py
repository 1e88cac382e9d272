"""The console's SQLite of devices: what each appliance last said (availability, stats, state, events, reported),
what the console asked of it (desired), its tags, its health history and its problems with the time each began.

One writer thread applies batches of typed updates (camapp/fleet/updates.py) in one transaction each; web threads
read through their own connection (WAL: readers never wait for the writer).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from camapp.errors import StorageError
from camapp.fleet.config import ProblemsConfig
from camapp.fleet.problems import problems_of
from camapp.fleet.records import Device, DeviceRow, HealthPoint, Problem
from camapp.fleet.updates import Availability, DesiredSent, Event, Reported, State, Stats, TagsSet, Update
from camapp.types import JsonObject, JsonValue

SCHEMA = """
CREATE TABLE IF NOT EXISTS devices (
  id TEXT PRIMARY KEY, prefix TEXT NOT NULL, online INTEGER, since REAL, last_seen REAL,
  stats TEXT, stats_time REAL, mode TEXT, detection TEXT, reported TEXT, reported_time REAL,
  desired TEXT, desired_time REAL, tags TEXT NOT NULL DEFAULT '{}', last_event TEXT, last_event_time REAL,
  prev_outbox INTEGER);
CREATE TABLE IF NOT EXISTS events (device TEXT NOT NULL, time REAL NOT NULL, body TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_by_device ON events (device, time);
CREATE TABLE IF NOT EXISTS health (device TEXT NOT NULL, time REAL NOT NULL, fps REAL, cpu_temp REAL,
  disk_free REAL, outbox INTEGER);
CREATE INDEX IF NOT EXISTS health_by_device ON health (device, time);
CREATE TABLE IF NOT EXISTS problems (device TEXT NOT NULL, kind TEXT NOT NULL, since REAL NOT NULL, detail TEXT,
  PRIMARY KEY (device, kind));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
"""
JSON_COLUMNS = ("stats", "reported", "desired", "tags", "last_event")
SqlArg = str | int | float | None


def _connect(path: Path) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
    except (OSError, sqlite3.Error) as err:
        raise StorageError(f"{path}: cannot open the device database: {err}") from None
    db.row_factory = sqlite3.Row
    return db


def _row(row: sqlite3.Row) -> DeviceRow:
    """A `devices` row with its JSON columns parsed (the console wrote them, from what it received or sent)."""
    r = dict(row)
    for key in JSON_COLUMNS:
        if r[key] is not None:
            r[key] = json.loads(r[key])
    return DeviceRow(
        id=r["id"], prefix=r["prefix"], online=None if r["online"] is None else bool(r["online"]), since=r["since"],
        last_seen=r["last_seen"], stats=r["stats"], stats_time=r["stats_time"], mode=r["mode"],
        detection=r["detection"], reported=r["reported"], reported_time=r["reported_time"], desired=r["desired"],
        desired_time=r["desired_time"], tags=r["tags"], last_event=r["last_event"],
        last_event_time=r["last_event_time"], prev_outbox=r["prev_outbox"])


class Registry:
    """write(batch) from the writer thread; everything else from any thread."""

    def __init__(self, path: Path, problems: ProblemsConfig, *, history_s: float, events_per_device: int,
                 tags: dict[str, dict[str, str]] | None = None) -> None:
        self._w = _connect(path)
        self._w.executescript(SCHEMA)
        self._r = _connect(path)
        self._rlock = threading.Lock()
        self._problems_cfg, self._history_s, self._keep_events = problems, history_s, events_per_device
        self._default_tags = tags or {}

    # ---- writing ----------------------------------------------------------------------------------------------

    def write(self, batch: Iterable[Update]) -> None:
        """Apply updates in one transaction, then refresh the problems of the devices they touched."""
        touched: set[str] = set()
        db = self._w
        db.execute("BEGIN")
        try:
            for u in batch:
                self._ensure(u.device, u.prefix)
                self._apply(u)
                touched.add(u.device)
            for device in touched:
                self._refresh_problems(device, time.time())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _ensure(self, device: str, prefix: str) -> None:
        tags = json.dumps(self._default_tags.get(device, {}))
        self._w.execute("INSERT INTO devices (id, prefix, tags) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                        "prefix = excluded.prefix WHERE prefix != excluded.prefix", (device, prefix, tags))

    def _apply(self, u: Update) -> None:
        db = self._w
        if isinstance(u, Availability):
            db.execute("UPDATE devices SET online = ?, since = CASE WHEN online IS ? THEN since ELSE ? END, "
                       "last_seen = ? WHERE id = ?", (int(u.online), int(u.online), u.time, u.time, u.device))
        elif isinstance(u, Stats):
            b = u.body
            db.execute("UPDATE devices SET prev_outbox = json_extract(stats, '$.mqtt_outbox'), stats = ?, "
                       "stats_time = ?, last_seen = ? WHERE id = ?", (json.dumps(b), u.time, u.time, u.device))
            db.execute("INSERT INTO health VALUES (?, ?, ?, ?, ?, ?)", (u.device, u.time, _num(b.get("fps")),
                       _num(b.get("cpu_temp_c")), _num(b.get("disk_free_pct")), _num(b.get("mqtt_outbox"))))
        elif isinstance(u, State):
            column = "mode" if u.name == "mode" else "detection"
            db.execute(f"UPDATE devices SET {column} = ? WHERE id = ?", (u.value[:32], u.device))
        elif isinstance(u, Event):
            text = json.dumps(u.body)
            db.execute("INSERT INTO events VALUES (?, ?, ?)", (u.device, u.time, text))
            db.execute("UPDATE devices SET last_event = ?, last_event_time = ? WHERE id = ?", (text, u.time, u.device))
        elif isinstance(u, Reported):
            db.execute("UPDATE devices SET reported = ?, reported_time = ? WHERE id = ?",
                       (json.dumps(u.body), u.time, u.device))
        elif isinstance(u, DesiredSent):
            db.execute("UPDATE devices SET desired = ?, desired_time = ? WHERE id = ?",
                       (json.dumps(u.doc), u.time, u.device))
            db.execute("INSERT INTO meta VALUES ('version', ?) ON CONFLICT (key) DO UPDATE SET value = "
                       "max(CAST(value AS INTEGER), excluded.value)", (u.doc["version"],))
        elif isinstance(u, TagsSet):
            db.execute("UPDATE devices SET tags = ? WHERE id = ?", (json.dumps(u.tags), u.device))

    def _refresh_problems(self, device: str, now: float) -> None:
        row = self._w.execute("SELECT * FROM devices WHERE id = ?", (device,)).fetchone()
        found = problems_of(_row(row), self._problems_cfg, now)
        db = self._w
        db.execute(f"DELETE FROM problems WHERE device = ? AND kind NOT IN ({','.join('?' * len(found))})",
                   (device, *found))
        for kind, detail in found.items():
            db.execute("INSERT INTO problems VALUES (?, ?, ?, ?) ON CONFLICT (device, kind) DO UPDATE SET "
                       "detail = excluded.detail", (device, kind, now, detail))

    def sweep(self, now: float | None = None) -> None:
        """Time-driven problems (stats gone quiet) and pruning of old history; the writer runs it now and then."""
        now = time.time() if now is None else now
        db = self._w
        db.execute("BEGIN")
        try:
            for (device,) in db.execute("SELECT id FROM devices").fetchall():
                self._refresh_problems(device, now)
            db.execute("DELETE FROM health WHERE time < ?", (now - self._history_s,))
            db.execute("DELETE FROM events WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER "
                       "(PARTITION BY device ORDER BY time DESC) AS n FROM events) WHERE n > ?)", (self._keep_events,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    # ---- reading ----------------------------------------------------------------------------------------------

    def _read(self, sql: str, args: tuple[SqlArg, ...] = ()) -> list[sqlite3.Row]:
        with self._rlock:
            return self._r.execute(sql, args).fetchall()

    def _problems(self, device_id: str | None = None) -> dict[str, dict[str, Problem]]:
        """Open problems per device: {device: {kind: {since, detail}}}."""
        rows = (self._read("SELECT * FROM problems") if device_id is None else
                self._read("SELECT * FROM problems WHERE device = ?", (device_id,)))
        out: dict[str, dict[str, Problem]] = {}
        for p in rows:
            out.setdefault(p["device"], {})[p["kind"]] = Problem(since=p["since"], detail=p["detail"])
        return out

    def devices(self) -> list[Device]:
        """Every device with its open problems ({kind: {since, detail}})."""
        problems = self._problems()
        return [Device(**_row(r), problems=problems.get(r["id"], {})) for r in self._read("SELECT * FROM devices")]

    def device(self, device_id: str) -> Device | None:
        rows = self._read("SELECT * FROM devices WHERE id = ?", (device_id,))
        if not rows:
            return None
        return Device(**_row(rows[0]), problems=self._problems(device_id).get(device_id, {}))

    def events(self, device_id: str, limit: int = 50) -> list[JsonObject]:
        """The device's latest event messages (as received), newest first, each with the time it arrived."""
        rows = self._read("SELECT time, body FROM events WHERE device = ? ORDER BY time DESC LIMIT ?",
                          (device_id, limit))
        return [{"time": r["time"], **json.loads(r["body"])} for r in rows]

    def health(self, device_id: str, since: float) -> list[HealthPoint]:
        rows = self._read("SELECT time, fps, cpu_temp, disk_free, outbox FROM health WHERE device = ? AND time >= ? "
                          "ORDER BY time", (device_id, since))
        return [HealthPoint(time=r["time"], fps=r["fps"], cpu_temp=r["cpu_temp"], disk_free=r["disk_free"],
                            outbox=r["outbox"]) for r in rows]

    def last_version(self) -> int:
        rows = self._read("SELECT value FROM meta WHERE key = 'version'")
        return int(rows[0]["value"]) if rows else 0

    def close(self) -> None:
        for db in (self._w, self._r):
            db.close()


def _num(value: JsonValue) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
