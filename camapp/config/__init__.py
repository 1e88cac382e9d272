"""Configuration: pydantic v2 models, loaded from YAML with errors that name the field and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator

from camapp.config.alarm import GPIOConfig, RulesConfig, ZoneConfig, check_references
from camapp.config.base import Section
from camapp.config.core import (
    CameraConfig,
    EventsConfig,
    LabelFilter,
    ModelConfig,
    MotionConfig,
    ObjectsConfig,
    TrackerConfig,
)
from camapp.config.mqtt import MQTTConfig
from camapp.config.storage import StorageConfig
from camapp.config.web import WebConfig
from camapp.errors import ConfigError

__all__ = [
    "AppConfig",
    "CameraConfig",
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
    model: ModelConfig = Field(default_factory=ModelConfig)
    objects: ObjectsConfig = Field(default_factory=ObjectsConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    zones: list[ZoneConfig] = Field(default_factory=list, description="Named zones.")
    rules: RulesConfig = Field(default_factory=RulesConfig)
    gpio: GPIOConfig = Field(default_factory=GPIOConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MQTTConfig = Field(default_factory=MQTTConfig)
    web: WebConfig = Field(default_factory=WebConfig)

    @model_validator(mode="after")
    def _references(self) -> AppConfig:
        names = [z.name for z in self.zones]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"zones: duplicate zone name(s) {', '.join(dupes)}")
        check_references(self.rules, self.gpio, names)  # rules may name only zones and outputs that exist
        return self


def _line_index(text: str) -> dict[tuple[str, ...], int]:
    """Map each dotted key path in a YAML document to its 1-based line."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                sub = (*path, str(key.value))
                lines[sub] = key.start_mark.line + 1
                walk(value, sub)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, str(i)))

    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return lines
    if root is not None:
        walk(root, ())
    return lines


def format_validation_error(err: ValidationError, text: str = "", source: str = "config") -> str:
    """One line per problem: `source:LINE: dotted.path: message`."""
    lines = _line_index(text) if text else {}
    out = []
    for e in err.errors():
        path = tuple(str(p) for p in e["loc"])
        line = next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)
        where = f"{source}:{line}" if line else source
        out.append(f"{where}: {'.'.join(path) or '(top level)'}: {e['msg']}")
    return "\n".join(out)


def parse_config(data: dict[str, Any] | None, text: str = "", source: str = "config") -> AppConfig:
    """Validate a mapping; raise ConfigError naming every bad field."""
    try:
        return AppConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, text, source)) from None


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a YAML config file; relative paths inside it resolve against the current directory."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{p}: cannot read config: {err.strerror or err}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise ConfigError(f"{where}: not valid YAML: {getattr(err, 'problem', err)}") from None
    if data is not None and not isinstance(data, dict):
        raise ConfigError(f"{p}:1: the config must be a mapping of sections, got {type(data).__name__}")
    return parse_config(data, text, str(p))
