"""Shared base for every config section: unknown keys are errors, assignments are validated."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Section(BaseModel):
    """A config section; `extra="forbid"` so a typo is an error, not a silently ignored key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


# Frame pixels; the largest frame is 7680 wide, and a zone may be drawn a little past the edge. The bound also
# keeps areas and distances finite (1e308 squared is inf).
COORD_LIMIT = 20_000.0
MAX_POLYGON_POINTS = 100
MAX_POLYGONS = 32  # per mask

Coord = Annotated[float, Field(ge=-COORD_LIMIT, le=COORD_LIMIT, allow_inf_nan=False)]
ConfigPoint = tuple[Coord, Coord]  # a geometry.Point as written in the config: bounded, finite
Polygon = Annotated[list[ConfigPoint], Field(max_length=MAX_POLYGON_POINTS)]  # at_most is unneeded: points are cheap


def refuse_moved(data: object, moved: dict[str, str]) -> object:
    """A before-validator body: an old key named with where it went, instead of pydantic's "extra inputs"."""
    if isinstance(data, dict):
        for key, where in moved.items():
            if key in data:
                raise ValueError(f"{key} has moved: set {where}")
    return data


def at_most(limit: int) -> Any:
    """A validator refusing a longer list or mapping before its items are validated.

    pydantic's own max_length counts only after validating every item: 40,000 zones, each a polygon checked for
    self-crossing, took seconds before being refused. Use both: max_length documents the bound, this enforces it
    early.
    """

    def check(value: Any) -> Any:
        if isinstance(value, list | dict) and len(value) > limit:
            raise ValueError(f"at most {limit} entries, got {len(value)}")
        return value

    return BeforeValidator(check)
