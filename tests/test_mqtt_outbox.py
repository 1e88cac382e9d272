"""The durable outbox: order, bound (drops oldest updates, never new/end/alert), survives reopening."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from camapp.mqtt.outbox import NewMessage, Outbox


def msg(i: int, kind: str, event: str | None = None, pad: int = 0) -> NewMessage:
    body = {"n": i, "type": kind, "id": event, "start_time": 100.0, "end_time": None, "pad": "x" * pad}
    return NewMessage(f"m{i:04d}", kind, "camapp/dev/events", json.dumps(body), event)


def test_messages_come_back_in_order_and_go_when_acknowledged(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite") as box:
        box.add([msg(i, "new") for i in range(5)])
        got = box.pending()
        assert [m.message_id for m in got] == [f"m{i:04d}" for i in range(5)]
        assert [m.message_id for m in box.pending(after_seq=got[1].seq, limit=2)] == ["m0002", "m0003"]
        box.remove([got[0].seq, got[2].seq])
        assert [m.message_id for m in box.pending()] == ["m0001", "m0003", "m0004"]
        assert len(box) == 3


def test_survives_reopen_and_ignores_a_repeated_message_id(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        box.add([msg(1, "new"), msg(2, "end")])
        box.add([msg(1, "new")])
    with Outbox(path) as box:
        assert [m.message_id for m in box.pending()] == ["m0001", "m0002"]


@pytest.mark.parametrize(
    ("kinds", "limit", "kept"),
    [
        (["new", "update", "update", "update", "end"], 3, ["m0000", "m0003", "m0004"]),
        (["update", "new", "update", "end", "update"], 4, ["m0001", "m0002", "m0003", "m0004"]),
        # Messages of no known event are never paired, so they stay; the alert goes.
        (["new", "end", "alert", "new", "end"], 3, ["m0000", "m0001", "m0003", "m0004"]),
    ],
)
def test_bound_drops_oldest_updates_first(tmp_path: Path, kinds: list[str], limit: int, kept: list[str]) -> None:
    with Outbox(tmp_path / "o.sqlite", max_messages=limit) as box:
        for i, kind in enumerate(kinds):
            box.add([msg(i, kind)])
        assert [m.message_id for m in box.pending()] == kept
        assert sum(box.dropped.values()) == len(kinds) - len(kept)


def test_committed_rows_are_on_disk_for_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        box.add([msg(1, "new")])
        other = sqlite3.connect(path)
        assert other.execute("SELECT message_id FROM outbox").fetchall() == [("m0001",)]
        other.close()


# Events: a = finished (new, update, end), b = finished, c = still running (new, update).
_STREAM = [("new", "a"), ("update", "a"), ("new", "b"), ("end", "a"), ("update", "b"), ("new", "c"),
           ("alert", None), ("end", "b"), ("update", "c"), ("alert", None)]


@pytest.mark.parametrize(
    ("max_messages", "kept_kinds", "dropped"),
    [
        (10, ["new:a", "update:a", "new:b", "end:a", "update:b", "new:c", "alert", "end:b", "update:c", "alert"], {}),
        # 1. updates go first, oldest first
        (8, ["new:a", "new:b", "end:a", "new:c", "alert", "end:b", "update:c", "alert"], {"update": 2}),
        # 2. then whole finished events, oldest first: a's new and end together, never one without the other
        (4, ["new:c", "alert", "alert"], {"update": 3, "new": 2, "end": 2}),
        # 3. then alerts; what is left is the running event's new, which is never dropped
        (1, ["new:c"], {"update": 3, "new": 2, "end": 2, "alert": 2}),
    ],
)
def test_drop_policy_keeps_every_new_with_its_end(tmp_path: Path, max_messages: int, kept_kinds: list[str],
                                                  dropped: dict[str, int]) -> None:
    with Outbox(tmp_path / "o.sqlite", max_messages=max_messages) as box:
        for i, (kind, event) in enumerate(_STREAM):
            box.add([msg(i, kind, event)])
        got = [f"{m.kind}:{json.loads(m.payload)['id']}" if m.kind != "alert" else "alert" for m in box.pending()]
        assert got == kept_kinds
        assert dict(box.dropped) == dropped
        news = {k.split(":")[1] for k in got if k.startswith("new:")}
        ends = {k.split(":")[1] for k in got if k.startswith("end:")}
        assert ends <= news, "an end whose new was dropped would reach a subscriber alone"


def test_byte_bound_holds_and_drops_are_counted_and_logged_once(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    limit = 20_000
    with caplog.at_level(logging.WARNING), Outbox(tmp_path / "o.sqlite", max_bytes=limit) as box:
        for i in range(200):  # a busy scene while the broker is away: finished events with updates
            event = f"e{i // 4}"
            kind = ("new", "update", "update", "end")[i % 4]
            box.add([msg(i, kind, event, pad=300)])
            assert box.bytes <= limit
        assert sum(box.dropped.values()) > 100 and box.dropped["update"] > 0 and box.dropped["new"] > 0
        assert box.dropped["new"] == box.dropped["end"]
        assert box.bytes == sum(len(m.topic) + len(m.payload) for m in box.pending(limit=10_000))
    warnings = [r for r in caplog.records if "outbox full" in r.getMessage()]
    assert len(warnings) == 1, "rate-limited: one warning a minute, not one per message"


def test_events_left_open_get_an_end_on_the_next_start(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        box.add([msg(1, "new", "a"), msg(2, "new", "b"), msg(3, "update", "b"), msg(4, "end", "a")])
    # a crash here: b has a new and no end
    with Outbox(path) as box:
        ends = box.end_open("restart")
        assert [e.event_id for e in ends] == ["b"]
        body = json.loads(ends[0].payload)
        assert body["type"] == "end" and body["reason"] == "restart" and body["id"] == "b"
        assert body["end_time"] >= body["start_time"] and body["n"] == 3  # from the last payload
        assert body["message_id"] == ends[0].message_id
        assert [m.kind for m in box.pending()][-1] == "end"
        assert box.end_open("restart") == []  # ended once, in the same transaction
    with Outbox(path) as box:
        assert box.end_open("restart") == []


def test_an_outbox_from_an_older_camapp_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL UNIQUE, "
                "kind TEXT NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL, created REAL NOT NULL)")
    old.execute("INSERT INTO outbox (message_id, kind, topic, payload, created) VALUES ('x', 'new', 't', '{}', 1)")
    old.commit()
    old.close()
    with Outbox(path) as box:
        assert [m.message_id for m in box.pending()] == ["x"] and box.bytes == 3
        box.add([msg(1, "new", "a")])
        assert len(box) == 2
