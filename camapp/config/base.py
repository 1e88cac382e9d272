"""Shared base for every config section: unknown keys are errors, assignments are validated."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A config section; `extra="forbid"` so a typo is an error, not a silently ignored key."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


Point = tuple[float, float]
