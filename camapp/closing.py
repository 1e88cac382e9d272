"""Closing: the context-manager half of "every resource has an idempotent close()", written once."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Closing:
    """`with Thing(...) as t:` calls t.close() on the way out; subclasses define an idempotent close()."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
