"""Whose media the quota takes first when several cameras share it: the camera holding the most media bytes gives
up its oldest unit (an event whole, or footage no event holds). Age alone would let a busy camera's flood of new
events push out a quiet camera's only clip of yesterday. Under steady pressure the cameras converge to equal
shares of the quota, and a camera holding less than its share (quota / cameras) is never pruned while another
holds more (max-min fairness). With one camera this is plain oldest-first, as before. See docs/storage.md,
"Several cameras".
"""

from __future__ import annotations

import sqlite3
from collections.abc import Set

Unit = tuple[float, str, str]  # (time, kind: event | file | segment, key: event id or relpath)

# A camera holds its events' files and the segments it recorded (each segment counted once; events hold only
# their own camera's footage, camapp/store/holds.py). Files of no event (manual snapshots) are no camera's.
_CAMERA_BYTES = (
    "SELECT COALESCE(e.camera, ''), SUM(m.bytes) FROM media m JOIN events e ON e.id = m.owner GROUP BY 1 "
    "UNION ALL SELECT s.camera, SUM(m.bytes) FROM segments s JOIN media m ON m.relpath = s.relpath GROUP BY 1")
_OLDEST_EVENT = ("SELECT start_time, id FROM events WHERE {camera} (id IN (SELECT owner FROM media) "
                 "OR id IN (SELECT event_id FROM holds)) ORDER BY start_time, id LIMIT 1")
_OLDEST_FILE = ("SELECT created, relpath, bytes FROM media WHERE kind != 'segment' "
                "AND owner NOT IN (SELECT id FROM events) ORDER BY created, relpath LIMIT 1")
_UNHELD_SEGMENTS = ("SELECT s.start_time, s.relpath, m.bytes FROM segments s JOIN media m ON m.relpath = s.relpath "
                    "WHERE NOT EXISTS (SELECT 1 FROM holds h WHERE h.relpath = s.relpath) {camera} "
                    "ORDER BY s.start_time")


def camera_bytes(conn: sqlite3.Connection) -> dict[str, int]:
    """The media bytes each camera holds: its events' files and its segments."""
    totals: dict[str, int] = {}
    for camera, size in conn.execute(_CAMERA_BYTES):
        totals[str(camera)] = totals.get(str(camera), 0) + int(size or 0)
    return totals


def oldest_unit(conn: sqlite3.Connection, spare: Set[str], camera: str | None = None) -> Unit | None:
    """The oldest unit the quota may delete (of `camera`, or of any): a whole event, footage no event holds (not in
    `spare`), or a file of no event (a manual snapshot: it is no camera's, so any camera's turn may take it)."""
    found: list[Unit] = []
    args: tuple[str, ...] = () if camera is None else (camera,)
    where = "" if camera is None else "COALESCE(camera, '') = ? AND"
    row = conn.execute(_OLDEST_EVENT.format(camera=where), args).fetchone()
    if row is not None:
        found.append((float(row[0]), "event", str(row[1])))
    row = conn.execute(_OLDEST_FILE).fetchone()
    if row is not None:
        found.append((float(row[0]), "file", str(row[1])))
    segments = _UNHELD_SEGMENTS.format(camera="" if camera is None else "AND s.camera = ?")
    for start, rel, _ in conn.execute(segments, args):
        if rel not in spare:
            found.append((float(start), "segment", str(rel)))
            break
    return min(found) if found else None


class FairShare:
    """One quota pass's accounts: what each camera holds, and so whose oldest unit goes next."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.bytes = camera_bytes(conn)
        self.paid: set[str | None] = set()  # the cameras that gave up something this pass

    def next(self, spare: Set[str], *, ahead: bool = False) -> tuple[str | None, Unit] | None:
        """(camera, unit): the oldest unit of the camera holding the most bytes that has one; (None, unit) by age
        when no camera's account has one (files of no event); None when nothing may go. `ahead`: what had to go
        is gone and the pass frees a little more at once; only the cameras that already gave up something this
        pass give more, so freeing ahead never takes a quiet camera's clip."""
        for camera in sorted(self.bytes, key=lambda c: (-self.bytes[c], c)):
            if ahead and camera not in self.paid:
                continue
            unit = oldest_unit(self.conn, spare, camera)
            if unit is not None:
                return camera, unit
        if ahead and None not in self.paid:
            return None
        unit = oldest_unit(self.conn, spare)
        return None if unit is None else (None, unit)

    def took(self, camera: str | None, freed: int) -> None:
        """The unit charged to `camera` freed this many bytes."""
        self.paid.add(camera)
        if camera is not None:
            self.bytes[camera] = self.bytes.get(camera, 0) - freed
