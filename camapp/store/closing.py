"""Ending events the pipeline did not end: after a crash (reason `restart`) or at close (reason `shutdown`)."""

from __future__ import annotations

import time
from typing import Any

from camapp.store import db
from camapp.store.chain import row_to_state
from camapp.store.writer import Tx


def close_stale(tx: Tx) -> int:
    """Events left open by a crash or hard stop get an `end` at their last logged time."""
    rows = tx.conn.execute(
        "SELECT e.*, (SELECT MAX(ts) FROM event_log l WHERE l.event_id = e.id) AS last_ts "
        "FROM events e WHERE e.end_time IS NULL"
    ).fetchall()
    for row in rows:
        state = row_to_state(dict(row))
        _append_end(tx, state, max(state["start_time"], row["last_ts"] or 0.0), "restart")
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
