"""Closeable: the context-manager block every resource shares, so `with part:` always ends in its close()."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closeable(ABC):
    """A resource with an idempotent close(); as a context manager it closes on exit, error or not."""

    @abstractmethod
    def close(self) -> None:
        """Release what this holds (threads, devices, files); safe to call more than once."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
