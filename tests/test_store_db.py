"""Event store database: queries, id validation, the hash chain and verify_log, restart behaviour."""

from __future__ import annotations

import re
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from store_helpers import FPS, T0, message, result, storage, video_frames

from camapp.store import DB_NAME, EventStore, InvalidIdError, QueryError, StoreReader, verify_log
from camapp.types import CameraName

# (id, label, start offset s, duration s, entered zones)
EVENTS = [
    ("e0", "person", 0, 5, ("door",)),
    ("e1", "car", 10, 5, ("drive",)),
    ("e2", "person", 20, 5, ("drive", "door")),
    ("e3", "dog", 30, 5, ()),
    ("e4", "person", 40, 5, ("garden",)),
]


def _fill(store: EventStore, demo_video: Path) -> None:
    """Each event gets new/update/end messages on real frames (media off: these tests are about rows)."""
    frame = video_frames(demo_video, 1)[0]
    for event_id, label, offset, duration, zones in EVENTS:
        start = T0 + offset
        common: dict[str, Any] = {"label": label, "entered_zones": zones, "current_zones": zones[:1]}
        store.handle(result(frame, (message("new", event_id, start, **common),)))
        store.handle(result(frame, (message("update", event_id, start, score=0.9, top_score=0.9, **common),)))
        store.handle(result(frame, (message("end", event_id, start, end=start + duration, top_score=0.9, **common),)))
    store.flush()


@pytest.fixture
def filled(tmp_path: Path, demo_video: Path) -> EventStore:
    store = EventStore(storage(tmp_path, clips=False, snapshots=False), camera_id="cam", fps=FPS, lossless=True)
    _fill(store, demo_video)
    yield store
    store.close()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["e4", "e3", "e2", "e1", "e0"]),
        ({"limit": 2}, ["e4", "e3"]),
        ({"before": T0 + 30}, ["e2", "e1", "e0"]),
        ({"before": T0 + 30, "limit": 1}, ["e2"]),
        ({"label": "person"}, ["e4", "e2", "e0"]),
        ({"label": "cat"}, []),
        ({"zone": "door"}, ["e2", "e0"]),
        ({"zone": "drive", "label": "car"}, ["e1"]),
        ({"since": T0 + 12, "until": T0 + 31}, ["e3", "e2", "e1"]),
        ({"since": T0 + 36}, ["e4"]),
        ({"until": T0 + 5}, ["e0"]),
    ],
)
def test_list_events_filters(filled: EventStore, query: dict[str, Any], expected: list[str]) -> None:
    assert [e["id"] for e in filled.list_events(**query)] == expected


def test_event_dict_has_fields_and_no_paths(filled: EventStore) -> None:
    event = filled.get_event("e2")
    assert event is not None
    assert event["label"] == "person" and event["camera"] == "camera"
    assert event["start_time"] == T0 + 20 and event["end_time"] == T0 + 25
    assert event["top_score"] == pytest.approx(0.9)
    assert event["entered_zones"] == ["drive", "door"] and event["current_zones"] == ["drive"]
    assert event["box"] == [100.0, 100.0, 200.0, 300.0]
    assert event["has_snapshot"] is False and event["has_clip"] is False
    assert not any(isinstance(v, str) and "/" in v for v in event.values())
    assert filled.get_event("nope") is None


@pytest.mark.parametrize("bad", ["../etc", "a/b", "", ".hidden", "a\\b", "x" * 200, "é"])
def test_invalid_ids_are_rejected(filled: EventStore, bad: str) -> None:
    for call in (filled.get_event, filled.delete_event, filled.snapshot_path, lambda i: filled.media_path(i, "clip")):
        with pytest.raises(InvalidIdError, match="invalid"):
            call(bad)


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 5000}, {"limit": "5"}, {"since": "yesterday"}, {"label": ""}, {"zone": 3}]
)
def test_bad_queries_are_rejected(filled: EventStore, query: dict[str, Any]) -> None:
    with pytest.raises(QueryError):
        filled.list_events(**query)


def test_media_kind_is_checked(filled: EventStore) -> None:
    with pytest.raises(QueryError, match="media kind"):
        filled.media_path("e1", "passwd")


def test_usage_counts_events(filled: EventStore) -> None:
    usage = filled.usage()
    assert usage["event_count"] == 5 and usage["oldest_event_time"] == T0
    assert usage["media_bytes"] == 0 and usage["degraded"] is False and usage["quota_bytes"] > 0


def test_reader_in_another_thread_sees_committed_rows(filled: EventStore) -> None:
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(len(StoreReader(filled.data_dir).list_events())))
    thread.start()
    thread.join()
    assert seen == [5]


def test_delete_event_keeps_chain_valid(filled: EventStore) -> None:
    assert filled.delete_event("e1") is True
    assert filled.delete_event("e1") is False
    assert filled.get_event("e1") is None
    assert [e["id"] for e in filled.list_events()] == ["e4", "e3", "e2", "e0"]
    check = verify_log(filled.db_path)
    assert check.ok, check.message
    assert check.checked == 16  # 15 messages + 1 deletion


def _edit(db_path: Path, sql: str, *args: Any) -> None:
    conn = sqlite3.connect(db_path)
    with conn:
        assert conn.execute(sql, args).rowcount >= 1
    conn.close()


@pytest.mark.parametrize(
    ("sql", "args", "expected"),
    [
        ("UPDATE event_log SET payload = replace(payload, 'person', 'cat') WHERE seq = ?", (7,), "row 7 .* altered"),
        ("DELETE FROM event_log WHERE seq = ?", (5,), "log row 5 missing"),
        ("DELETE FROM event_log WHERE seq IN (5, 6)", (), "log rows 5-6 missing"),
        ("DELETE FROM event_log WHERE seq = ?", (15,), "log row 15 missing"),
        ("UPDATE event_log SET ts = ts + 1 WHERE seq = ?", (3,), "log row 3 .* altered"),
        ("UPDATE event_log SET prev_hash = ? WHERE seq = 4", ("0" * 64,), "log row 4 .* link"),
        ("UPDATE events SET label = ? WHERE id = 'e3'", ("cat",), "events row 'e3' was altered: label"),
        ("DELETE FROM events WHERE id = ?", ("e0",), "events row 'e0' is missing"),
    ],
)
def test_verify_log_names_the_first_bad_row(filled: EventStore, sql: str, args: tuple[Any, ...], expected: str) -> None:
    filled.close()
    assert verify_log(filled.db_path).ok
    _edit(filled.db_path, sql, *args)
    check = verify_log(filled.db_path)
    assert not check.ok
    assert re.search(expected, check.message), check.message
    row = re.search(r"log rows? (\d+)", check.message)
    if row:  # rows before the bad one were verified
        assert check.checked == int(row.group(1)) - 1


def test_verify_log_on_missing_database(tmp_path: Path) -> None:
    check = verify_log(tmp_path / DB_NAME)
    assert not check.ok and "no event database" in check.message


def test_rehashed_edit_is_caught_at_the_next_link(filled: EventStore) -> None:
    """Someone who edits a row and recomputes its hash still breaks the following row's link."""
    from camapp.store.chain import row_hash

    filled.close()
    conn = sqlite3.connect(filled.db_path)
    prev, ts, eid, typ, payload = conn.execute(
        "SELECT prev_hash, ts, event_id, type, payload FROM event_log WHERE seq = 2"
    ).fetchone()
    payload = payload.replace("person", "cat")
    with conn:
        conn.execute("UPDATE event_log SET payload = ?, hash = ? WHERE seq = 2",
                     (payload, row_hash(prev, 2, ts, eid, typ, payload)))
    conn.close()
    check = verify_log(filled.db_path)
    assert not check.ok and "log row 3" in check.message, check.message


def _end_reasons(cfg_path: Path) -> dict[str, str]:
    conn = sqlite3.connect(cfg_path / DB_NAME)
    rows = conn.execute("SELECT event_id, json_extract(payload, '$.reason') FROM event_log WHERE type = 'end'")
    out = {r[0]: r[1] for r in rows}
    conn.close()
    return out


def test_close_ends_events_the_pipeline_left_open(tmp_path: Path, demo_video: Path) -> None:
    cfg = storage(tmp_path, clips=False, snapshots=False)
    frame = video_frames(demo_video, 1)[0]
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        store.handle(result(frame, (message("new", "open1", T0),)))
    with EventStore(cfg, camera_id="cam", fps=FPS, lossless=True) as store:
        event = store.get_event("open1")
        assert event is not None and event["end_time"] == T0 and not event["ongoing"]
    assert _end_reasons(cfg.path or tmp_path) == {"open1": "shutdown"}
    assert verify_log(cfg.path or tmp_path).ok


def test_restart_closes_events_left_open_by_a_crash(tmp_path: Path, demo_video: Path) -> None:
    cfg = storage(tmp_path, clips=False, snapshots=False)
    frame = video_frames(demo_video, 1)[0]
    crashed = EventStore(cfg, camera_id="cam", fps=FPS)  # never closed: its process "died" after this commit
    crashed.handle(result(frame, (message("new", "open1", T0),)))
    crashed.flush()
    with EventStore(cfg, camera_id="cam", fps=FPS) as store:
        event = store.get_event("open1")
        assert event is not None and event["end_time"] is not None and not event["ongoing"]
    assert _end_reasons(cfg.path or tmp_path) == {"open1": "restart"}
    assert verify_log(cfg.path or tmp_path).ok


def test_messages_with_bad_ids_are_logged_and_skipped(tmp_path: Path, demo_video: Path) -> None:
    frame = video_frames(demo_video, 1)[0]
    with EventStore(storage(tmp_path, clips=False, snapshots=False), camera_id="cam", fps=FPS, lossless=True) as store:
        store.handle(result(frame, (message("new", "../../x", T0), message("new", "fine", T0))))
        store.flush()
        assert [e["id"] for e in store.list_events()] == ["fine"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"retain_days": 0}, "retain_days"),
        ({"max_media_mb": 0.5}, "max_media_mb"),
        ({"pre_roll_s": -1}, "pre_roll_s"),
        ({"clip_codec": "h265"}, "clip_codec"),
        ({"thumbnail_size": 8}, "thumbnail_size"),
        ({"quota": 5}, "quota"),
    ],
)
def test_storage_config_names_the_bad_field(data: dict[str, Any], field: str) -> None:
    from camapp.config import parse_config
    from camapp.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"storage\.{field}"):
        parse_config({"storage": {"path": "/tmp/x", **data}})


def test_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    from camapp.errors import StorageError

    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StorageError, match=r"storage\.path"):
        EventStore(storage(tmp_path, path=blocker / "data"), camera_id="cam", fps=FPS, lossless=True)
    with pytest.raises(StorageError, match=r"storage\.path is not set"):
        EventStore(storage(tmp_path, path=None), camera_id="cam", fps=FPS, lossless=True)


def test_the_writer_connection_keeps_a_small_page_cache(tmp_path: Path) -> None:
    """The one long-lived connection caps its page cache (SQLite's default would grow to 2 MB resident), and a
    cold cache still finds every row."""
    from camapp.store import db

    conn = db.connect(tmp_path / "x.db")
    db.init_schema(conn)
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -db.WRITER_CACHE_KIB
    conn.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB)")
    conn.executemany("INSERT INTO blobs (data) VALUES (?)", ((bytes(4096),) for _ in range(1000)))  # 4 MB > cache
    assert tuple(conn.execute("SELECT COUNT(*), SUM(LENGTH(data)) FROM blobs").fetchone()) == (1000, 4096 * 1000)
    conn.close()


def test_queries_filter_by_camera(tmp_path: Path, demo_video: Path) -> None:
    """Events of two cameras in one store: each camera's listing and counts hold its own events only."""
    store = EventStore(storage(tmp_path, clips=False, snapshots=False), camera_id="front", fps=FPS, lossless=True)
    frame = video_frames(demo_video, 1)[0]
    for event_id, camera, offset in (("f0", "front", 0), ("g0", "garden", 5), ("f1", "front", 10)):
        start = T0 + offset
        store.handle(result(frame, (message("new", event_id, start, camera=camera),)))
        store.handle(result(frame, (message("end", event_id, start, end=start + 2, camera=camera),)))
    store.flush()
    try:
        assert [e["id"] for e in store.list_events(camera=CameraName("front"))] == ["f1", "f0"]
        assert [(e["id"], e["camera"]) for e in store.list_events(camera=CameraName("garden"))] == [("g0", "garden")]
        assert store.list_events(camera=CameraName("drive")) == []
        assert [e["id"] for e in store.list_events()] == ["f1", "g0", "f0"]
        assert store.usage(CameraName("garden"))["event_count"] == 1
        assert store.usage(CameraName("garden"))["oldest_event_time"] == T0 + 5
        assert store.usage()["event_count"] == 3
        assert store.list_segments(T0 - 60, T0 + 60, camera=CameraName("garden")) == []
        with pytest.raises(QueryError, match="camera"):
            store.list_events(camera=CameraName(""))
    finally:
        store.close()


def _wal_bytes_of_one_new_event(path: Path) -> tuple[int, int]:
    """(page size, WAL bytes) of the commit of one new event's log row on the writer's connection."""
    from camapp.store import db

    conn = db.connect(path)
    db.init_schema(conn)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("BEGIN IMMEDIATE")
    db.append_log(conn, "e-new", "new", message("new", "e-new", T0).to_dict(), T0)
    conn.execute("COMMIT")
    size = Path(f"{path}-wal").stat().st_size
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    return page, size


def test_a_new_event_commits_a_few_kib_and_an_old_database_still_opens(tmp_path: Path) -> None:
    """Each commit writes whole pages: with 1 KiB pages a new event's row costs the SD card a quarter of what 4 KiB
    pages did. A database made with 4 KiB pages (an older camapp) keeps them and works as before."""
    from camapp.store import db

    (tmp_path / "old").mkdir()
    old = tmp_path / "old" / DB_NAME
    raw = sqlite3.connect(old)
    raw.execute("PRAGMA page_size = 4096")
    raw.execute("CREATE TABLE before (x)")  # the file exists with 4 KiB pages, as an older camapp made it
    raw.close()
    old_page, old_wal = _wal_bytes_of_one_new_event(old)
    new_page, new_wal = _wal_bytes_of_one_new_event(tmp_path / "new.db")
    assert (old_page, new_page) == (4096, db.PAGE_SIZE)
    assert new_wal * 3 <= old_wal, (new_wal, old_wal)
    conn = db.connect(tmp_path / "new.db")
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] * db.PAGE_SIZE == 4 * 1024 * 1024
    conn.close()
    assert StoreReader(tmp_path / "old").get_event("e-new") is not None
