"""The console event log: `new` and `end` at the configured level, `update` only at DEBUG, so a busy scene does not
scroll the setup code and the addresses off the terminal."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from camapp.config import parse_config
from camapp.control import Controller
from camapp.sinks import SinkContext, build_sink
from camapp.state import ApplianceState
from camapp.types import CameraName, Detections, EventMessage, Frame, FrameResult, MotionResult


def lifecycle() -> tuple[EventMessage, ...]:
    box = (100.0, 60.0, 160.0, 220.0)
    return tuple(EventMessage(kind, "1718000012.100000-9c41e7", 1, "person", 0.9, 0.9, box, 99.0,  # type: ignore[arg-type]
                              100.0 if kind == "end" else None) for kind in ("new", "update", "update", "end"))


@pytest.mark.parametrize(
    ("level", "expect"),
    [("INFO", [("new", logging.INFO), ("update", logging.DEBUG), ("update", logging.DEBUG), ("end", logging.INFO)]),
     ("WARNING", [("new", logging.WARNING), ("update", logging.DEBUG), ("update", logging.DEBUG),
                  ("end", logging.WARNING)])],
)
def test_update_lines_are_debug(tmp_path: Path, caplog: pytest.LogCaptureFixture, level: str,
                                expect: list[tuple[str, int]]) -> None:
    control = Controller(ApplianceState())
    cfg = parse_config({"sinks": [{"type": "log", "level": level}]}).sinks[0]
    caplog.set_level(logging.DEBUG, logger="camapp.sinks")
    context = SinkContext("dev", CameraName("cam"), control.state, control.bus, control, tmp_path)
    with build_sink(cfg, context) as sink:
        sink.handle(FrameResult(Frame(np.zeros((8, 8, 3), np.uint8), 100.0, 1), MotionResult(np.zeros((0, 4)), 0.0),
                                Detections.empty(), (), lifecycle()))
    got = [(r.getMessage().split()[1], r.levelno) for r in caplog.records if r.name == "camapp.sinks"]
    assert got == expect
    shown = [r for r in caplog.records if r.name == "camapp.sinks" and r.levelno >= logging.INFO]
    assert len(shown) == 2  # what a terminal at the default INFO level shows of one event
