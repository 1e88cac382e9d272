"""camapp.closing: `with` closes the resource, also when the block raises."""

from __future__ import annotations

import pytest

from camapp.closing import Closing


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
