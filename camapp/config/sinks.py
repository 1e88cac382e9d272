"""Config for extra result sinks, a list keyed by `type` (the store, MQTT and alarms have their own sections)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from camapp.config.base import Section
from camapp.registry import Registry

if TYPE_CHECKING:
    from camapp.sinks import ResultSink, SinkContext

SinkBuilder = Callable[["SinkConfig", "SinkContext"], "ResultSink"]  # a sink's builder (often its class)
SINKS: Registry[SinkBuilder] = Registry("sink", "type")


class SinkConfig(Section):
    """One extra consumer of every processed frame."""

    type: str = Field(description="Kind of sink.")


@SINKS.add_config
class LogSinkConfig(SinkConfig):
    """Logs event messages to the console/journal: new and end at `level`, update at DEBUG."""

    type: Literal["log"] = Field("log", description="Log each event message.")
    level: Literal["DEBUG", "INFO", "WARNING"] = Field(
        "INFO", description="Log level of the new and end lines (update lines are always DEBUG)."
    )
