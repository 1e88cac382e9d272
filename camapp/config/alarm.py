"""Config for zones, rules, arming and GPIO (owned by the zones/rules/GPIO work; extend here)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from camapp.config.base import Point, Section


class ZoneConfig(Section):
    """A named polygon in frame pixels; an object is inside by its bottom-centre point."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Zone name used in events and rules.")
    polygon: list[Point] = Field(min_length=3, description="Polygon vertices as [x, y] frame pixels.")
    hysteresis_px: float = Field(8.0, ge=0, le=500, description="Distance past the edge needed to change state.")


class RulesConfig(Section):
    """Placeholder for rules; the rules work replaces this with the full model."""

    arming: Literal["disarmed", "home", "away"] = Field("disarmed", description="Arming mode at start.")


class GPIOConfig(Section):
    """GPIO outputs and inputs; disabled by default."""

    enabled: bool = Field(False, description="Drive GPIO; when true and no GPIO is present, warn and carry on.")
