"""Object detection behind one interface; backends register with their config model in DETECTORS
(camapp.config.core), and camapp.detect.factory builds the one the config names."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

from camapp.closing import Closing
from camapp.types import Detections, Image

Region = tuple[int, int, int, int]  # x1, y1, x2, y2 in full-frame pixels (square where possible)
MOSAIC_GRIDS = (2, 3)  # tiles per side a mosaic may have


@dataclass(frozen=True)
class Mosaic:
    """Several crops packed into one model input, `grid` x `grid` tiles filled row by row: one invoke for all."""

    tiles: tuple[Region, ...]
    grid: int

    def __post_init__(self) -> None:
        if self.grid not in MOSAIC_GRIDS:
            raise ValueError(f"Mosaic.grid must be one of {MOSAIC_GRIDS}, got {self.grid}")
        if not 1 <= len(self.tiles) <= self.grid * self.grid:
            n = len(self.tiles)
            raise ValueError(f"a {self.grid}x{self.grid} mosaic holds 1 to {self.grid**2} tiles, got {n}")


Invocation = Region | Mosaic  # what one model invoke looks at


def flatten(plan: Sequence[Invocation]) -> list[Region]:
    """Every frame region a plan looks at (a mosaic's tiles one by one)."""
    return [r for item in plan for r in (item.tiles if isinstance(item, Mosaic) else (item,))]


class Detector(Closing, ABC):
    """Runs a model on a BGR frame, on the whole frame or on regions of it."""

    @abstractmethod
    def detect(self, image: Image, regions: Sequence[Invocation] | None = None) -> Detections:
        """Detect objects; boxes come back in full-frame pixel coordinates. None means the whole frame; each
        item is one invoke, on a region or on a mosaic of regions."""

    @abstractmethod
    def close(self) -> None:
        """Release the interpreter; idempotent."""

    @property
    @abstractmethod
    def labels(self) -> Sequence[str]:
        """Class names, indexed by class id."""

    @property
    @abstractmethod
    def name(self) -> str:
        """The model's short name (its manifest's), for payloads and the UI."""

    @property
    @abstractmethod
    def input_size(self) -> tuple[int, int]:
        """Model input (width, height) in pixels: the region planner sizes its crops for it."""

    @property
    @abstractmethod
    def last_timings_ms(self) -> dict[str, float]:
        """Milliseconds per step of the last detect() call (at least `total`), for stats and the bench."""


