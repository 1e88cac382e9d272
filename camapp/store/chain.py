"""The tamper-evident event log: canonical JSON, chained sha256 hashes, and the event state derived from it.

Pure functions, shared by the writer (which appends rows) and by `verify_log` (which re-derives everything).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from camapp.errors import StorageError
from camapp.types import JsonObject, JsonValue

GENESIS = "0" * 64
LOG_TYPES = ("new", "update", "end", "deleted", "clip", "hold", "pruned")
# Rows that record files of the event, not a change of its state: `clip` (a clip file of schema 3: path, size,
# sha256), `hold` (the recording segments its clip is made of, each with path, size and sha256) and `pruned` (its
# footage was deleted while the event was kept). The log vouches for the files as it does for the metadata, and
# verify-log checks each file still stored against it.
FILE_TYPES = ("clip", "hold", "pruned")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# Columns of the `events` table that come straight from an EventMessage payload, in table order.
EVENT_FIELDS = (
    "id", "camera", "label", "track_id", "start_time", "end_time", "score", "top_score",
    "box", "current_zones", "entered_zones", "stationary",
)
JSON_FIELDS = ("box", "current_zones", "entered_zones")
SqlValue = str | int | float | bytes | None


class InvalidIdError(StorageError, ValueError):
    """An event or snapshot id contains characters that could escape the data directory."""


def check_id(value: str, what: str = "event id") -> str:
    """Return the id unchanged, or raise InvalidIdError naming it."""
    if not isinstance(value, str) or not ID_PATTERN.match(value):
        raise InvalidIdError(
            f"invalid {what} {value!r}: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return value


def canonical(obj: object) -> str:
    """Deterministic JSON: sorted keys, no spaces, so the same data always hashes the same."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def row_hash(prev_hash: str, seq: int, ts: float, event_id: str, type_: str, payload: str) -> str:
    """sha256 over the previous hash and this row's content; `payload` is the canonical JSON text."""
    body = canonical({"seq": seq, "ts": ts, "event_id": event_id, "type": type_, "payload": json.loads(payload)})
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def event_state(type_: str, payload: JsonObject) -> JsonObject | None:
    """The `events` row a log entry leaves behind: the message's fields, or None once deleted."""
    if type_ == "deleted":
        return None
    state: JsonObject = {name: payload.get(name) for name in EVENT_FIELDS}
    state["stationary"] = bool(state["stationary"])
    return state


def state_to_row(state: JsonObject) -> tuple[JsonValue, ...]:
    """Values for the `events` columns in EVENT_FIELDS order (lists stored as JSON text)."""
    return tuple(canonical(state[name]) if name in JSON_FIELDS else state[name] for name in EVENT_FIELDS)


def row_to_state(row: Mapping[str, SqlValue]) -> dict[str, Any]:
    """Inverse of state_to_row for a row read back from SQLite. (Its values stay Any: store/db.py and
    store/closing.py read them as the EventRecord fields they are.)"""
    state = {name: row[name] for name in EVENT_FIELDS}
    for name in JSON_FIELDS:
        text = row[name]
        state[name] = json.loads(text) if isinstance(text, str | bytes) else None
    state["stationary"] = bool(state["stationary"])
    return state
