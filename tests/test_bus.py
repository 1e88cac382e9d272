"""The typed bus: a handler sees only the event types it subscribed to; handler errors are contained."""

from __future__ import annotations

import pytest

from camapp.bus import AlarmChanged, Bus, BusEvent, ModeChanged, SilenceRequested


def test_handlers_get_only_their_type_and_base_subscribers_get_all() -> None:
    bus = Bus()
    modes: list[ModeChanged] = []
    everything: list[BusEvent] = []
    bus.subscribe(ModeChanged, modes.append)
    bus.subscribe(BusEvent, everything.append)
    bus.publish(ModeChanged("home", source="web"))
    bus.publish(AlarmChanged(True, source="rule:r"))
    assert [(m.mode, m.source) for m in modes] == [("home", "web")]
    assert [type(e).__name__ for e in everything] == ["ModeChanged", "AlarmChanged"]


def test_a_failing_handler_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = Bus()
    seen: list[str] = []

    def broken(event: SilenceRequested) -> None:
        raise RuntimeError("boom")

    bus.subscribe(SilenceRequested, broken)
    bus.subscribe(SilenceRequested, lambda e: seen.append(e.source))
    bus.publish(SilenceRequested(source="gpio"))
    assert seen == ["gpio"]
    assert "failed on SilenceRequested" in caplog.text


def test_unsubscribe_is_idempotent() -> None:
    bus = Bus()
    seen: list[BusEvent] = []
    off = bus.subscribe(BusEvent, seen.append)
    off()
    off()
    bus.publish(SilenceRequested(source="api"))
    assert seen == []
