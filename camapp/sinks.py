"""Consumers of pipeline results (event log, store, MQTT, alarms). Producers never know their sinks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType

from camapp.types import FrameResult


class ResultSink(ABC):
    """Receives every FrameResult on the pipeline thread; must return quickly (queue slow work)."""

    @abstractmethod
    def handle(self, result: FrameResult) -> None:
        """Take one processed frame with its events."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release resources; idempotent."""

    def __enter__(self) -> ResultSink:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
