"""Configuration: pydantic v2 models, loaded from YAML with errors that name the field and line."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.fields import FieldInfo

from camapp.config.alarm import GPIO_BACKENDS, MAX_ZONES, GpioConfig, RulesConfig, ZoneConfig, check_references
from camapp.config.base import Section, at_most
from camapp.config.camera import CAMERA_SOURCES, CameraConfig, FileCameraConfig, V4l2CameraConfig, camera_config
from camapp.config.cameras import (
    CAMERA_NAME,
    MAX_CAMERAS,
    NAME_RULE,
    OVERRIDES,
    check_names,
    clashes,
    entry_union,
    resolved,
)
from camapp.config.core import (
    DETECTORS,
    DetectConfig,
    EventsConfig,
    LabelFilter,
    ModelConfig,
    MotionConfig,
    ObjectsConfig,
    TFLiteModelConfig,
    TrackerConfig,
)
from camapp.config.loader import LineIndex, line_index, read_config_data
from camapp.config.mqtt import MqttConfig
from camapp.config.sinks import SINKS, LogSinkConfig, SinkConfig
from camapp.config.storage import StorageConfig
from camapp.config.web import WebConfig
from camapp.errors import ConfigError
from camapp.registry import Keyed

__all__ = [
    "AppConfig",
    "CameraConfig",
    "DetectConfig",
    "EventsConfig",
    "FileCameraConfig",
    "LabelFilter",
    "ModelConfig",
    "MotionConfig",
    "ObjectsConfig",
    "SinkConfig",
    "TFLiteModelConfig",
    "TrackerConfig",
    "camera_config",
    "load_config",
    "parse_config",
]


MAX_SINKS = 16


class AppConfig(Section):
    """The whole appliance configuration."""

    device_id: str = Field("camapp", pattern=r"^[A-Za-z0-9_-]{1,64}$", description="Device id for topics and UI.")
    log_level: str = Field("INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$", description="Logging level.")
    # camera, model and sinks: unions of the registered models, see _rebuild() below
    camera: CameraConfig = Field(default_factory=V4l2CameraConfig)
    cameras: dict[Annotated[str, Field(pattern=CAMERA_NAME)], Any] = Field(  # entries: see _rebuild() below
        default_factory=dict, max_length=MAX_CAMERAS,
        description="Several cameras, by name (instead of `camera`): each a camera section with optional overrides "
        "of motion, detect, objects, zones, rules and storage.recording.",
    )
    motion: MotionConfig = Field(default_factory=MotionConfig)
    detect: DetectConfig = Field(default_factory=DetectConfig)
    model: ModelConfig = Field(default_factory=TFLiteModelConfig)
    objects: ObjectsConfig = Field(default_factory=ObjectsConfig)
    tracker: TrackerConfig = Field(default_factory=TrackerConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    zones: Annotated[list[ZoneConfig], at_most(MAX_ZONES)] = Field(
        default_factory=list, max_length=MAX_ZONES, description="Named zones."
    )
    rules: RulesConfig = Field(default_factory=RulesConfig)
    gpio: GpioConfig = Field(default_factory=GpioConfig, validate_default=True)  # rules' outputs are checked on it
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    sinks: list[SinkConfig] = Field(
        default_factory=lambda: [LogSinkConfig()], max_length=MAX_SINKS,  # type: ignore[arg-type]
        description="Extra consumers of every processed frame, each keyed by `type` (default: the console event log).",
    )

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

    @model_validator(mode="before")
    @classmethod
    def _one_way_to_name_cameras(cls, data: object) -> object:
        if isinstance(data, dict) and "camera" in data and data.get("cameras"):
            raise ValueError(BOTH)
        return data

    # One camera: checked on gpio, the last of the three fields it reads, rather than on the model, since a model
    # validator runs only when every other field is valid, so a rule naming an unknown zone went unreported while
    # any other error stood (issue 25). Several cameras: each camera's own rules and zones, in _references below.
    @field_validator("gpio")
    @classmethod
    def _top_level_references(cls, gpio: GpioConfig, info: ValidationInfo) -> GpioConfig:
        rules, zones = info.data.get("rules"), info.data.get("zones")
        if info.data.get("cameras", None) == {} and rules is not None and zones is not None:  # else one failed
            check_references(rules, gpio, [z.name for z in zones])  # rules name only known zones/outputs
        return gpio

    @model_validator(mode="after")
    def _references(self) -> AppConfig:
        if not self.cameras:  # checked by _top_level_references
            return self
        problems = [*check_names(self.cameras), *clashes(self.cameras)]
        for name, entry in self.cameras.items():
            if "id" not in entry.model_fields_set:
                entry.id = name  # saved with its name, so the file reloads as it was
            try:
                own = resolved(name, entry, dict(self))
                rules, zones = own.get("rules", self.rules), own.get("zones", self.zones)
                check_references(rules, self.gpio, [z.name for z in zones])
            except ValueError as err:
                text = str(err)
                problems.append(text if text.startswith("cameras.") else f"cameras.{name}: {text}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_serializer(mode="wrap")
    def _one_camera_section(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo) -> Any:
        data = handler(self)
        if isinstance(data, dict):  # saved as it was written: `camera` or `cameras`, never both
            data.pop("camera" if self.cameras else "cameras", None)
            for entry in data.get("cameras", {}).values():
                for key in [k for k in OVERRIDES if entry.get(k, "") is None]:
                    del entry[key]
        return data

    def camera_configs(self) -> dict[str, AppConfig]:
        """Each camera's name and its config as a one-camera appliance's: `camera` is that camera, and motion,
        detect, objects, zones, rules and storage.recording carry its overrides. A `camera:` config is one camera
        named by its camera.id."""
        if not self.cameras:
            return {self.camera.id: self}
        top = dict(self)
        return {name: self.model_copy(update={**resolved(name, entry, top), "cameras": {}})
                for name, entry in self.cameras.items()}


BOTH = ("camera: a config has one `camera:` or a `cameras:` map of named cameras, not both; move this camera "
        "under cameras.<name>")


_PATH_IN_MESSAGE = re.compile(r"\b[a-z_]+(?:\.[A-Za-z0-9_-]+)+")
_SECTION_FIRST = re.compile(r"^([a-z_]+):")


def _line_of(path: tuple[str, ...], msg: str, lines: LineIndex) -> int | None:
    """The line of the deepest known part of `path`; for a whole-config problem (rules naming an unknown zone) the
    line of the first dotted path its message names, so that it points at the rule, not at line 1."""
    if not path:
        for found in _PATH_IN_MESSAGE.finditer(msg):
            named = tuple(found.group().split("."))
            if named in lines:
                return lines[named]
        first = _SECTION_FIRST.match(msg)
        if first is not None and (first.group(1),) in lines:
            return lines[(first.group(1),)]
    return next((lines[path[:n]] for n in range(len(path), -1, -1) if path[:n] in lines), None)


# Sections whose model is a union over a registry: name -> (registry, holds a list of them).
UNIONS: dict[str, tuple[Keyed, bool]] = {"camera": (CAMERA_SOURCES, False), "model": (DETECTORS, False),
                                         "sinks": (SINKS, True)}


def _rebuild() -> None:
    """Make each union section accept exactly the models registered now (a new part module adds one)."""
    fields = AppConfig.__pydantic_fields__
    for name, (registry, many) in UNIONS.items():
        old = fields[name]
        member = registry.union()
        annotation = Annotated[list[member], at_most(MAX_SINKS)] if many else member  # type: ignore[valid-type]
        field = Field(default_factory=old.default_factory, description=old.description,  # type: ignore[arg-type]
                      max_length=MAX_SINKS if many else None)
        fields[name] = FieldInfo.from_annotated_attribute(annotation, field)  # type: ignore[arg-type]
    old = fields["cameras"]
    entries = dict[Annotated[str, Field(pattern=CAMERA_NAME)], entry_union()]  # type: ignore[misc,valid-type]
    fields["cameras"] = FieldInfo.from_annotated_attribute(entries, Field(  # type: ignore[arg-type]
        default_factory=dict, max_length=MAX_CAMERAS, description=old.description))
    AppConfig.model_rebuild(force=True)


_registry: Keyed
for _registry in (*(r for r, _ in UNIONS.values()), GPIO_BACKENDS):  # GPIO_BACKENDS: gpio.pin_factory's keys
    _registry.on_change(_rebuild)
_rebuild()


def error_items(err: ValidationError) -> list[tuple[tuple[str, ...], str]]:
    """(field path, message) per problem, the path as the user writes it (a union's internal tag left out)."""
    out = []
    for e in err.errors():
        path, msg = [str(p) for p in e["loc"]], str(e["msg"])
        union = UNIONS.get(path[0]) if path else None
        if path[:1] == ["cameras"]:
            path, msg = _camera_error(path, msg, e)
        elif union is not None:
            registry, many = union
            at = 2 if many else 1
            if len(path) > at and path[at] in registry.config_keys():
                msg = registry.explain(path.pop(at), e)
            elif (tag := registry.explain_tag(e)) is not None:
                msg = tag
                path = [*path[:at], registry.key_field]  # the bad `source:` (`type:`) line, not the section's
        out.append((tuple(path), msg))
    return out


def _camera_error(path: list[str], msg: str, error: Any) -> tuple[list[str], str]:
    """A problem inside `cameras:` with the path as written (the source tag left out) and a clearer message."""
    if path[-1] == "[key]":
        return path[:-1], NAME_RULE
    if len(path) > 2 and path[2] in CAMERA_SOURCES.config_keys():
        tag = path.pop(2)
        if error["type"] == "extra_forbidden" and len(path) == 3:
            model = CAMERA_SOURCES.config_for(tag)
            keys = ", ".join(k for k in (model.model_fields if model else ()) if k not in ("source", "id"))
            return path, (f"not a setting of source '{tag}' (its settings: {keys}) nor an override (motion, "
                          "detect, objects, zones, rules, storage)")
        return path, CAMERA_SOURCES.explain(tag, error) if len(path) == 3 else msg
    return path, CAMERA_SOURCES.explain_tag(error) or msg


MAX_PROBLEMS = 20  # a 10,000-key file would otherwise print 10,000 lines
_NAME_IN_MESSAGE = re.compile(r"[A-Za-z_][\w-]*(?:\.[\w-]+)*")
_VALUE_ERROR = "Value error, "


def _named_field(path: tuple[str, ...], msg: str, lines: LineIndex) -> tuple[str, ...]:
    """For a check over several fields (a model validator's ValueError, reported at the model), the first field
    its message names that the file sets: a dotted path from the top, or a key under `path` (`max_area must be >=
    min_area`); so the error points at that field's line, not the block's. Else `path`."""
    depth = len(path)
    leaf = path in lines and not any(len(k) > depth and k[:depth] == path for k in lines)
    if not msg.startswith(_VALUE_ERROR) or leaf:
        return path  # a field's own error: already where it belongs
    for found in _NAME_IN_MESSAGE.finditer(msg, len(_VALUE_ERROR)):
        parts = tuple(found.group().split("."))
        if len(parts) > 1 and parts in lines:
            return parts
        if (*path, *parts) in lines:
            return (*path, *parts)
    return path


def format_validation_error(
    err: ValidationError, text: str = "", source: str = "config", lines: LineIndex | None = None
) -> str:
    """One line per problem: `source:LINE: dotted.path: message` (lines from `lines`, else from `text`)."""
    if lines is None:
        lines = line_index(text) if text else {}
    out = []
    problems = error_items(err)
    for at, msg in problems[:MAX_PROBLEMS]:
        path = _named_field(at, msg, lines)
        named = f"{'.'.join(path)}: "
        if path != at and msg.startswith(_VALUE_ERROR + named):  # the check named its field: said once, up front
            msg = msg.removeprefix(_VALUE_ERROR + named)
        line = _line_of(path, msg, lines)
        where = f"{source}:{line}" if line else source
        out.append(f"{where}: {'.'.join(path) or '(top level)'}: {msg}")
    if len(problems) > MAX_PROBLEMS:
        out.append(f"{source}: … and {len(problems) - MAX_PROBLEMS} more problem(s)")
    return "\n".join(out)


def parse_config(
    data: dict[str, Any] | None, text: str = "", source: str = "config", lines: LineIndex | None = None
) -> AppConfig:
    """Validate a mapping; raise ConfigError naming every bad field. Parts are discovered first (camapp.plugins),
    so a plugin's keys are valid here."""
    from camapp.plugins import discover  # lazy: the part modules import camapp.config

    discover()
    if isinstance(data, dict) and "camera" in data and data.get("cameras"):  # said before any other problem
        where = lines.get(("camera",)) if lines else None
        raise ConfigError(f"{source}:{where}: {BOTH}" if where else f"{source}: {BOTH}")
    try:
        return AppConfig.model_validate(data or {})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, text, source, lines)) from None


def load_config(path: str | Path) -> AppConfig:
    """Read and validate a YAML config file (see camapp.config.loader for what is refused); relative paths inside
    it resolve against the current directory."""
    data, lines = read_config_data(path)
    return parse_config(data, source=str(path), lines=lines)
