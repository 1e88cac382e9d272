"""Several cameras on one appliance: `cameras:` maps a name to a camera section plus overrides of the top-level
sections (Frigate's model: global defaults, per-camera overrides). A lone `camera:` is one camera.

A camera entry takes the keys of its `source` (exactly as `camera:` does) and the override sections of
CameraOverrides. An override section sets only the keys it names; the rest come from the top-level section of the
same name, so `cameras.garden.motion.mask` changes the garden's motion mask and nothing else. Lists (zones, rules)
replace the top-level list whole.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypeVar, Union

from pydantic import BaseModel, Field, Tag, ValidationError, field_serializer

from camapp.config.alarm import MAX_RULES, MAX_ZONES, RuleConfig, ZoneConfig
from camapp.config.base import Section, at_most
from camapp.config.camera import CAMERA_SOURCES, CameraConfig
from camapp.config.core import DetectConfig, MotionConfig, ObjectsConfig
from camapp.config.recording import RecordingConfig

CAMERA_NAME = r"^[a-z0-9_-]{1,32}$"
MAX_CAMERAS = 16
NAME_RULE = "a camera name is 1 to 32 of a-z, 0-9, _ and - (it becomes an MQTT topic level, a file path and a URL)"
# Topic levels the appliance itself publishes or listens on under its prefix (camapp/mqtt/topics.py), and names the
# web UI routes by: a camera named like one would make `<prefix>/<camera>/...` ambiguous.
RESERVED = frozenset({
    "alarm", "alert", "armed", "available", "cameras", "count", "detection", "events", "fleet", "mode", "motion", "set",
    "snapshot", "stats", "status", "thumbnail", "all",
})


class CameraStorage(Section):
    """What one camera may set of `storage`: its recording. The store, its quota and retention are shared."""

    recording: RecordingConfig = Field(
        default_factory=RecordingConfig, description="This camera's recording; keys not given come from "
        "storage.recording.",
    )


class CameraRules(Section):
    """This camera's alarm rules, instead of the top-level rules.rules (arming stays appliance-wide)."""

    rules: Annotated[list[RuleConfig], at_most(MAX_RULES)] = Field(
        default_factory=list, max_length=MAX_RULES, description="Alarm rules watching this camera."
    )


OVERRIDES = ("motion", "detect", "objects", "zones", "rules", "storage")


class CameraOverrides(Section):
    """A camera under `cameras:`: the keys of its `source` (as in `camera`), and these optional overrides of the
    top-level sections of the same name; an override section sets only the keys it gives."""

    motion: MotionConfig | None = Field(None, description="This camera's motion gate (its motion.mask, threshold…).")
    detect: DetectConfig | None = Field(None, description="This camera's detection rate and budget.")
    objects: ObjectsConfig | None = Field(
        None, description="This camera's labels and filters (objects.filters.<label>.mask masks a label here).",
    )
    zones: Annotated[list[ZoneConfig], at_most(MAX_ZONES)] | None = Field(
        None, max_length=MAX_ZONES, description="This camera's zones, instead of the top-level zones.",
    )
    rules: CameraRules | None = Field(None, description="This camera's rules, instead of the top-level rules.rules.")
    storage: CameraStorage | None = Field(None, description="This camera's storage.recording.")

    @field_serializer("motion", "detect", "objects", "rules", "storage")
    def _only_given(self, value: Section | None) -> dict[str, Any] | None:
        # Saved as written: a default dumped here would override the top-level value on the next load.
        return None if value is None else value.model_dump(mode="json", exclude_unset=True)


_ENTRIES: dict[type[BaseModel], type[BaseModel]] = {}  # camera source model -> its entry model
_SOURCE_OF: dict[type[BaseModel], type[BaseModel]] = {}  # and back


def entry_model(camera: type[BaseModel]) -> type[BaseModel]:
    """The `cameras:` entry model of a camera source: its keys and the overrides."""
    if camera not in _ENTRIES:
        entry = type(f"{camera.__name__}Entry", (camera, CameraOverrides),
                     {"__doc__": camera.__doc__, "__module__": __name__})
        _ENTRIES[camera], _SOURCE_OF[entry] = entry, camera
    return _ENTRIES[camera]


def entry_union() -> Any:
    """The annotation of one `cameras:` entry: the registered camera sources, each with the overrides."""
    members = [(key, entry_model(model)) for key in CAMERA_SOURCES.config_keys()
               if (model := CAMERA_SOURCES.config_for(key)) is not None]
    if len(members) == 1:
        return members[0][1]
    from pydantic import Discriminator

    tagged = tuple(Annotated[m, Tag(k)] for k, m in members)
    return Annotated[Union[tagged], Discriminator(CAMERA_SOURCES.tag)]  # noqa: UP007 - built at run time


def camera_part(name: str, entry: CameraConfig) -> CameraConfig:
    """The plain camera section of an entry (what capture reads), its id the camera's name."""
    base = _SOURCE_OF.get(type(entry), type(entry))
    values = {k: getattr(entry, k) for k in base.model_fields}
    values["id"] = name
    return base.model_validate(values)  # type: ignore[return-value]


S = TypeVar("S", bound=Section)


def overlay(base: S, over: S) -> S:
    """`base` with the keys `over` was given, section by section; validated again (cross-field checks)."""
    values = dict(base)
    for key in over.model_fields_set:
        mine, theirs = getattr(base, key), getattr(over, key)
        both = isinstance(mine, Section) and type(mine) is type(theirs)
        values[key] = overlay(mine, theirs) if both else theirs
    return type(base).model_validate(values)


def resolved(name: str, entry: Any, top: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level sections as they are for this camera: top-level values with the entry's overrides on top;
    ValueError naming `cameras.<name>.<section>` when an overlay does not validate."""
    out: dict[str, Any] = {"camera": camera_part(name, entry)}
    for section in OVERRIDES:
        over = getattr(entry, section)
        if over is None:
            continue
        where = f"cameras.{name}.{section}"
        try:
            if section == "zones":
                out[section] = over
            elif section == "rules":
                out[section] = top["rules"].model_copy(update={"rules": over.rules})
            elif section == "storage":
                out[section] = top["storage"].model_copy(
                    update={"recording": overlay(top["storage"].recording, over.recording)})
            else:
                out[section] = overlay(top[section], over)
        except ValidationError as err:
            first = err.errors()[0]
            at = "".join(f".{p}" for p in first["loc"])
            msg = str(first["msg"]).removeprefix("Value error, ")
            raise ValueError(f"{where}{at}: {msg} (with the top-level {section})") from None
    return out


def _v4l2_device(entry: Any) -> str | None:
    device = getattr(entry, "device", None) if getattr(entry, "source", None) == "v4l2" else None
    if device is None:
        return None
    text = f"/dev/video{device}" if isinstance(device, int) or str(device).isdigit() else str(device)
    return os.path.realpath(text)  # /dev/v4l/by-id/... links name the same device as /dev/videoN


def clashes(entries: Mapping[str, Any]) -> Iterable[str]:
    """Why two cameras cannot both run: one capture device opened twice."""
    seen: dict[tuple[str, str], str] = {}
    for name, entry in entries.items():
        source = getattr(entry, "source", "")
        keys: list[tuple[tuple[str, str], str]] = []
        device = _v4l2_device(entry)
        if device is not None:
            keys.append((("v4l2", device), f"cameras.{name}.device: V4L2 device {device}"))
        if source == "jetson_csi":
            keys.append((("jetson_csi", str(entry.sensor_id)), f"cameras.{name}.sensor_id: CSI sensor "
                         f"{entry.sensor_id}"))
        if source == "picamera2":  # the section has no camera number: a second one would open the first again
            keys.append((("picamera2", ""), f"cameras.{name}.source: the Raspberry Pi camera"))
        for key, what in keys:
            other = seen.get(key)
            if other is not None:
                yield f"{what} is already camera '{other}'; one device can be opened by one camera"
            else:
                seen[key] = name


def check_names(entries: Mapping[str, Any]) -> Iterable[str]:
    """Entries whose name cannot be used, or that set their own id (the name is the id)."""
    for name, entry in entries.items():
        if name in RESERVED:
            yield (f"cameras.{name}: '{name}' is reserved (an appliance-wide MQTT topic level or page); "
                   "choose another camera name")
        if "id" in entry.model_fields_set and entry.id != name:
            yield f"cameras.{name}.id: a camera under cameras is named by its key ('{name}'); delete this line"
