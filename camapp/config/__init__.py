"""Configuration: pydantic v2 models, loaded from YAML with errors that name the field and line."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator

from camapp.config.alarm import MAX_ZONES, GPIOConfig, RulesConfig, ZoneConfig, check_references
from camapp.config.base import Section, at_most
from camapp.config.core import (
    CameraConfig,
    DetectConfig,
    EventsConfig,
    LabelFilter,
    ModelConfig,
    MotionConfig,
    ObjectsConfig,
    TrackerConfig,
)
from camapp.config.loader import LineIndex, line_index, read_config_data
from camapp.config.mqtt import MQTTConfig
from camapp.config.storage import StorageConfig
from camapp.config.web import WebConfig
from camapp.errors import ConfigError

__all__ = [
    "AppConfig",
    "CameraConfig",
    "DetectConfig",
    "EventsConfig",
    "LabelFilter",
    "ModelConfig",
    "MotionConfig",
    "ObjectsConfig",
    "TrackerConfig",
    "load_config",
    "parse_config",
]


class AppConfig(Section):
    """The whole appliance configuration."""

    device_id: str = Field("camapp", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Device id for topics and UI.")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Logging level.")
    camera: CameraConfig = Field(default_factory=lambda: CameraConfig(source="v4l2"))
    motion: MotionConfig = Field(default_factory=MotionConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    objects: ObjectsConfig = Field(default_factory=ObjectsConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    zones: Annotated[list[ZoneConfig], at_most(MAX_ZONES)] = Field(
        default_factory=list, max_length=MAX_ZONES, description="Named zones."
    )
    rules: RulesConfig = Field(default_factory=RulesConfig)
    gpio: GPIOConfig = Field(default_factory=GPIOConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MQTTConfig = Field(default_factory=MQTTConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    @field_validator("zones")
    @classmethod
    def _unique_zone_names(cls, zones: list[ZoneConfig]) -> list[ZoneConfig]:
        where: dict[str, list[int]] = defaultdict(list)  # linear: 64 zones or 64,000, one pass
        for i, zone in enumerate(zones):
            where[zone.name].append(i)
        dupes = [f"'{name}' (zones {', '.join(map(str, idx))})" for name, idx in where.items() if len(idx) > 1]
        if dupes:
            raise ValueError(f"zone names must be unique; repeated: {'; '.join(dupes)}")
        return zones

    @model_validator(mode="after")
    def _references(self) -> AppConfig:
        check_references(self.rules, self.gpio, [z.name for z in self.zones])  # rules name only known zones/outputs
        return self


_PATH_IN_MESSAGE = re.compile(r"\b[a-z_]+(?:\.[A-Za-z0-9_-]+)+")


def _line_of(path: tuple[str, ...], msg: str, lines: LineIndex) -> int | None:
    """The line of the deepest known part of `path`; for a whole-config problem (rules naming an unknown zone) the
    line of the first dotted path its message names, so that it points at the rule, not at line 1."""
    if not path:
        for found in _PATH_IN_MESSAGE.finditer(msg):
            named = tuple(found.group().split("."))
            if named in lines:
                return lines[named]
    return next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)


MAX_PROBLEMS = 20  # a 10,000-key file would otherwise print 10,000 lines


def format_validation_error(
    err: ValidationError, text: str = "", source: str = "config", lines: LineIndex | None = None
) -> str:
    """One line per problem: `source:LINE: dotted.path: message` (lines from `lines`, else from `text`)."""
    if lines is None:
        lines = line_index(text) if text else {}
    out = []
    problems = err.errors()
    for e in problems[:MAX_PROBLEMS]:
        path = tuple(str(p) for p in e["loc"])
        line = _line_of(path, str(e["msg"]), lines)
        where = f"{source}:{line}" if line else source
        out.append(f"{where}: {'.'.join(path) or '(top level)'}: {e['msg']}")
    if len(problems) > MAX_PROBLEMS:
        out.append(f"{source}: … and {len(problems) - MAX_PROBLEMS} more problem(s)")
    return "\n".join(out)


def parse_config(
    data: dict[str, Any] | None, text: str = "", source: str = "config", lines: LineIndex | None = None
) -> AppConfig:
    """Validate a mapping; raise ConfigError naming every bad field."""
    try:
        return AppConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, text, source, lines)) from None


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a YAML config file (see camapp.config.loader for what is refused); relative paths inside
    it resolve against the current directory."""
    data, lines = read_config_data(path)
    return parse_config(data, source=str(path), lines=lines)
