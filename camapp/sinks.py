"""Consumers of pipeline results (event log, store, MQTT, alarms). Producers never know their sinks.

Extra sinks register with their config model in SINKS and are listed under `sinks:` by `type`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from camapp.bus import Bus
from camapp.closing import Closing
from camapp.commands import Commander
from camapp.config.sinks import SINKS, LogSinkConfig, SinkConfig
from camapp.state import ApplianceState
from camapp.types import CameraName, FrameResult

log = logging.getLogger(__name__)


class ResultSink(Closing, ABC):
    """Receives every FrameResult on the pipeline thread; must return quickly (queue slow work)."""

    @abstractmethod
    def handle(self, result: FrameResult) -> None:
        """Take one processed frame with its events."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release resources; idempotent."""


@dataclass(frozen=True)
class SinkContext:
    """What an extra sink may use besides its own config section (a sink never sees the whole config)."""

    device_id: str
    camera: CameraName  # the camera whose results it receives
    state: ApplianceState
    bus: Bus  # typed events (camapp/bus.py): subscribe to what the sink reacts to
    control: Commander
    data_dir: Path


def build_sink(cfg: SinkConfig, ctx: SinkContext) -> ResultSink:
    """The sink a `sinks:` entry asks for, by its `type`."""
    return SINKS.builder(cfg.type)(cfg, ctx)


@SINKS.register(LogSinkConfig)
class EventLogSink(ResultSink):
    """Logs every event message to the console: `new` and `end` at the configured level, `update` at DEBUG, so a
    busy scene does not scroll the setup code and the addresses out of sight."""

    def __init__(self, cfg: LogSinkConfig, ctx: SinkContext | None = None) -> None:
        self._level = logging.getLevelName(cfg.level)

    def handle(self, result: FrameResult) -> None:
        for ev in result.events:
            level = logging.DEBUG if ev.type == "update" else self._level
            log.log(level, "event %-6s %s #%d %s score=%.2f zones=%s camera=%s", ev.type, ev.label, ev.track_id,
                    ev.id, ev.top_score, ",".join(ev.current_zones) or "-", ev.camera)

    def close(self) -> None:
        pass
