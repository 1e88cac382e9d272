"""`camapp verify-log`: walk the hash-chained event log and check the events table against it."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from camapp.store.chain import FILE_TYPES, JSON_FIELDS, event_state, row_hash, row_to_state
from camapp.types import JsonObject, JsonValue

DB_NAME = "events.db"


@dataclass(frozen=True)
class VerifyResult:
    """ok: the log is intact; checked: log rows verified; message: one line for the user."""

    ok: bool
    checked: int
    message: str


class _Broken(Exception):
    """The first problem found; carries the user-facing message and how many rows verified before it."""

    checked = 0


def _check_row(row: sqlite3.Row, seq: int, prev: str) -> JsonObject | None:
    """Raise _Broken if this row is out of place or altered; return the event state it leaves."""
    where = f"log row {row['seq']} (event {row['event_id']!r}, {row['type']})"
    if row["seq"] != seq:
        missing = f"rows {seq}-{row['seq'] - 1}" if row["seq"] - 1 > seq else f"row {seq}"
        raise _Broken(f"log {missing} missing (next present row is {row['seq']})")
    if row["prev_hash"] != prev:
        raise _Broken(f"{where}: link to the previous row is broken (row {seq - 1} or this link was altered)")
    try:
        payload = json.loads(row["payload"])
        digest = row_hash(prev, row["seq"], row["ts"], row["event_id"], row["type"], row["payload"])
    except (TypeError, ValueError):
        raise _Broken(f"{where} was altered: payload is not valid JSON") from None
    if digest != row["hash"]:
        raise _Broken(f"{where} was altered: its hash does not match its content")
    return event_state(row["type"], payload)


def _walk_log(
    conn: sqlite3.Connection, files: list[sqlite3.Row] | None = None
) -> tuple[int, dict[str, JsonObject]]:
    """Verify the chain from the checkpoint to the head; return rows checked and the derived events. Rows that
    record a file (FILE_TYPES) leave the event as it was and are collected into `files`."""
    state = conn.execute("SELECT head_seq, head_hash, checkpoint_seq, checkpoint_hash FROM log_state").fetchone()
    if state is None:
        raise _Broken("log_state row is missing (the log head and checkpoint were deleted)")
    seq, prev = state["checkpoint_seq"] + 1, state["checkpoint_hash"]
    events: dict[str, JsonObject] = {}
    checked = 0
    for row in conn.execute("SELECT * FROM event_log ORDER BY seq"):
        try:
            derived = _check_row(row, seq, prev)
        except _Broken as broken:
            broken.checked = checked
            raise
        if row["type"] in FILE_TYPES:
            if files is not None:
                files.append(row)
        elif derived is None:
            events.pop(row["event_id"], None)
        else:
            events[row["event_id"]] = derived
        seq, prev, checked = seq + 1, row["hash"], checked + 1
    problem = None
    if seq - 1 != state["head_seq"]:
        rows = f"row {seq}" if seq == state["head_seq"] else f"rows {seq}-{state['head_seq']}"
        problem = _Broken(f"log {rows} missing (the log ends early, at row {seq - 1})")
    elif prev != state["head_hash"]:
        problem = _Broken(f"log row {seq - 1}: hash differs from the recorded head (the last row was altered)")
    if problem is not None:
        problem.checked = checked
        raise problem
    return checked, events


def _check_events(conn: sqlite3.Connection, derived: dict[str, JsonObject]) -> None:
    """Every stored event must equal what its log rows say, and every live logged event must be stored."""
    stored = {r["id"]: row_to_state(dict(_parses(r))) for r in conn.execute("SELECT * FROM events ORDER BY start_time")}
    for event_id, row in stored.items():
        expected = derived.get(event_id)
        if expected is None:
            raise _Broken(f"events row {event_id!r} has no entry in the log (added or undeleted outside camapp)")
        diff = [k for k in expected if expected[k] != row[k]]
        if diff:
            raise _Broken(f"events row {event_id!r} was altered: {', '.join(diff)} differ from the log")
    for event_id in derived:
        if event_id not in stored:
            raise _Broken(f"events row {event_id!r} is missing but the log never deleted it")


def _parses(row: sqlite3.Row) -> sqlite3.Row:
    """The events row, once its JSON columns parse; _Broken naming the first that does not (edited by hand)."""
    for name in JSON_FIELDS:
        try:
            if row[name] is not None:
                json.loads(row[name])
        except (TypeError, ValueError):
            raise _Broken(f"events row {row['id']!r} was altered: {name} is not valid JSON") from None
    return row


def file_digest(path: Path) -> str:
    """sha256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _logged_files(row: sqlite3.Row) -> list[JsonObject]:
    """The files a log row vouches for: a clip's own file, or each segment an event holds."""
    payload: JsonValue = json.loads(row["payload"])
    if not isinstance(payload, dict):
        return []
    if row["type"] == "hold":
        segments = payload.get("segments", [])
        return [f for f in segments if isinstance(f, dict)] if isinstance(segments, list) else []
    return [payload] if row["type"] == "clip" else []


def _check_files(conn: sqlite3.Connection, data_dir: Path, rows: list[sqlite3.Row]) -> None:
    """Each logged clip or held segment still in the store must be the file the log vouches for (retention may
    remove files); each segment is hashed once however many events hold it."""
    stored = {r[0] for r in conn.execute("SELECT relpath FROM media")}
    hashed: dict[str, str] = {}
    for row in rows:
        for logged in _logged_files(row):
            rel = logged.get("path")
            if not isinstance(rel, str) or rel not in stored:
                continue
            where = f"{row['type']} {rel} of event {row['event_id']!r} (log row {row['seq']})"
            try:
                actual = hashed[rel] if rel in hashed else file_digest(data_dir / rel)
            except OSError:
                raise _Broken(f"{where} is missing from disk") from None
            hashed[rel] = actual
            if actual != logged.get("sha256"):
                raise _Broken(f"{where} was altered or replaced: its sha256 differs from the log")


def verify_log(db_path: Path) -> VerifyResult:
    """Check the whole log; `db_path` may be the database file or the storage data directory."""
    path = db_path / DB_NAME if db_path.is_dir() else db_path
    if not path.is_file():
        return VerifyResult(False, 0, f"no event database at {path}")
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as err:
        return VerifyResult(False, 0, f"cannot open {path}: {err}")
    conn.row_factory = sqlite3.Row
    try:
        files: list[sqlite3.Row] = []
        checked, derived = _walk_log(conn, files)
        _check_events(conn, derived)
        _check_files(conn, path.parent, files)
    except _Broken as broken:
        return VerifyResult(False, broken.checked, str(broken))
    except sqlite3.Error as err:
        return VerifyResult(False, 0, f"{path} is not a readable camapp event database: {err}")
    finally:
        conn.close()
    return VerifyResult(True, checked, f"event log intact: {checked} rows verified, {len(derived)} events match, "
                                       f"{len(files)} clip/footage row(s) logged")
