"""The durable outbox: order, bound (drops oldest updates, never new/end/alert), survives reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from camapp.mqtt.outbox import NewMessage, Outbox


def msg(i: int, kind: str) -> NewMessage:
    return NewMessage(f"m{i:04d}", kind, "camapp/dev/events", f'{{"n":{i}}}')


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
        # Over the bound with nothing droppable: new/end/alert are kept anyway.
        (["new", "end", "alert", "new", "end"], 3, ["m0000", "m0001", "m0002", "m0003", "m0004"]),
    ],
)
def test_bound_drops_oldest_updates_first(tmp_path: Path, kinds: list[str], limit: int, kept: list[str]) -> None:
    with Outbox(tmp_path / "o.sqlite", max_messages=limit) as box:
        for i, kind in enumerate(kinds):
            box.add([msg(i, kind)])
        assert [m.message_id for m in box.pending()] == kept
        assert box.dropped == len(kinds) - len(kept)


def test_committed_rows_are_on_disk_for_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path) as box:
        box.add([msg(1, "new")])
        other = sqlite3.connect(path)
        assert other.execute("SELECT message_id FROM outbox").fetchall() == [("m0001",)]
        other.close()
