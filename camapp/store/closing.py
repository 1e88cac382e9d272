"""Ending events the pipeline did not end: after a crash (reason `restart`) or at close (reason `shutdown`)."""

from __future__ import annotations

import json
import time
from typing import Any

from camapp.store import db
from camapp.store.chain import row_to_state
from camapp.store.writer import Tx


def _last_seen(path_json: str | None) -> float | None:
    """Frame time of the last point of an event's saved path (event_details), or None."""
    try:
        points = json.loads(path_json) if path_json else []
    except ValueError:
        return None
    return float(points[-1][0]) if points and isinstance(points[-1], list) and points[-1] else None


def close_stale(tx: Tx) -> int:
    """Events left open by a crash or hard stop get an `end`: when their object was last seen (the frame clock of
    their saved path), else at their last logged time. The log's times are the wall clock, which a replay's frame
    clock runs ahead of: ending there gave replayed events a length of zero and their clips next to nothing."""
    rows = tx.conn.execute(
        "SELECT e.*, (SELECT MAX(ts) FROM event_log l WHERE l.event_id = e.id) AS last_ts, "
        "(SELECT d.path FROM event_details d WHERE d.event_id = e.id) AS seen_path "
        "FROM events e WHERE e.end_time IS NULL"
    ).fetchall()
    for row in rows:
        state = row_to_state(dict(row))
        seen = _last_seen(row["seen_path"])
        end = seen if seen is not None else (row["last_ts"] or 0.0)
        _append_end(tx, state, max(state["start_time"], end), "restart")
    return len(rows)


def _append_end(tx: Tx, state: dict[str, Any], end: float, reason: str) -> None:
    payload = {**state, "type": "end", "end_time": end, "zones": state["current_zones"], "reason": reason}
    db.append_log(tx.conn, state["id"], "end", payload, time.time())


def end_event(event_id: str, end: float, reason: str, tx: Tx) -> None:
    """End a still-open event (at close, when the pipeline did not end it)."""
    row = tx.conn.execute("SELECT * FROM events WHERE id = ? AND end_time IS NULL", (event_id,)).fetchone()
    if row is not None:
        state = row_to_state(dict(row))
        _append_end(tx, state, max(state["start_time"], end), reason)
