"""Object detection behind one interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType

from camapp.types import Detections, Image

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in full-frame pixels (square where possible)


class Detector(ABC):
    """Runs a model on a BGR frame, on the whole frame or on regions of it."""

    @abstractmethod
    def detect(self, image: Image, regions: Sequence[Region] | None = None) -> Detections:
        """Detect objects; boxes come back in full-frame pixel coordinates. None means the whole frame."""

    @abstractmethod
    def close(self) -> None:
        """Release the interpreter; idempotent."""

    @property
    @abstractmethod
    def labels(self) -> Sequence[str]:
        """Class names, indexed by class id."""

    @property
    def name(self) -> str:
        """The model's short name (its manifest's), for payloads and the UI."""
        return type(self).__name__

    def __enter__(self) -> Detector:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
