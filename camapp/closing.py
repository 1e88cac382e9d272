"""Closing: the context-manager half of "every resource has an idempotent close()", written once; QueueThread:
the queue-fed worker thread and its idempotent close(), written once."""

from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")


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


class QueueThread(Closing, Generic[T]):
    """One daemon thread fed through a queue. `_offer` refuses items once closed; the first close() queues a
    stop mark (None) after everything already queued and joins the thread, so nothing queued is dropped."""

    def __init__(self, name: str) -> None:
        self._queue: queue.Queue[T | None] = queue.Queue()
        self._lock = threading.Lock()  # an item is never queued behind the stop mark
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def _offer(self, item: T) -> bool:
        """Queue `item` for the thread; False once closed."""
        with self._lock:
            if self._closed:
                return False
            self._queue.put(item)
            return True

    def _stop_once(self) -> bool:
        """Queue the stop mark; True only for the first call (the caller then joins)."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            self._queue.put(None)
            return True

    def close(self) -> None:
        """Run what is queued, then stop the thread; idempotent."""
        if self._stop_once():
            self._thread.join()
