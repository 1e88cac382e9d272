"""camapp.closing: `with` closes the resource, also when the block raises; a QueueThread runs what was queued
before close() and nothing after."""

from __future__ import annotations

import threading

import pytest

from camapp.closing import Closing, QueueThread


class Resource(Closing):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_with_closes_on_exit_and_on_error() -> None:
    with Resource() as res:
        assert res.closed == 0
    assert res.closed == 1
    other = Resource()
    with pytest.raises(KeyError), other:
        raise KeyError("boom")
    assert other.closed == 1


def test_a_subclass_must_say_how_to_close() -> None:
    with pytest.raises(NotImplementedError), Closing():
        pass


class Collector(QueueThread[int]):
    def __init__(self, gate: threading.Event) -> None:
        super().__init__("test-collector")
        self.seen: list[int] = []
        self._gate = gate
        self._thread.start()

    def put(self, n: int) -> bool:
        return self._offer(n)

    def _run(self) -> None:
        self._gate.wait(10)
        while (n := self._queue.get()) is not None:
            self.seen.append(n)


def test_queue_thread_runs_what_was_queued_before_close_and_refuses_later_items() -> None:
    gate = threading.Event()
    worker = Collector(gate)
    assert all(worker.put(n) for n in range(5))  # queued while the thread is still held at the gate
    gate.set()
    with worker:
        pass
    assert worker.seen == [0, 1, 2, 3, 4]
    assert not worker.put(5)
    worker.close()  # idempotent: no second stop mark, no hang
    assert worker.seen == [0, 1, 2, 3, 4]
