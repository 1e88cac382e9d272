"""Local event store: SQLite (WAL) event log with a hash chain, snapshots, clips and retention."""

from __future__ import annotations

from camapp.store.chain import InvalidIdError
from camapp.store.lone import EventStore
from camapp.store.queries import QueryError, StoreReader
from camapp.store.shared import SharedStore
from camapp.store.sink import CameraStore
from camapp.store.verify import DB_NAME, VerifyResult, verify_log

__all__ = ["DB_NAME", "CameraStore", "EventStore", "InvalidIdError", "QueryError", "SharedStore", "StoreReader",
           "VerifyResult", "verify_log"]
