"""verify-log on an events table edited outside camapp: a clear message naming the row, never a traceback."""

# ruff: noqa: F811  (the fixture imported from test_store_db is redefined as an argument)
from __future__ import annotations

import sqlite3

import pytest
from test_store_db import filled  # noqa: F401 (fixture)

from camapp.store import EventStore, verify_log


@pytest.mark.parametrize(("column", "value"), [
    ("box", "[1, 2,"),  # not JSON any more
    ("current_zones", "{}"),  # JSON, but not what the log says
    ("entered_zones", "7"),
])
def test_an_edited_json_column_is_named(filled: EventStore, column: str, value: str) -> None:
    filled.close()
    assert verify_log(filled.db_path).ok
    conn = sqlite3.connect(filled.db_path)
    with conn:
        conn.execute(f"UPDATE events SET {column} = ? WHERE id = 'e3'", (value,))
    conn.close()
    check = verify_log(filled.db_path)
    assert not check.ok
    assert f"events row 'e3' was altered: {column}" in check.message, check.message
