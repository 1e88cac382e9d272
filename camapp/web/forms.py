"""The settings form, generated from the pydantic config models: descriptions become help text, bounds become
min/max, Literals become selects; anything structured (lists of polygons, dicts) is edited as JSON.
"""

from __future__ import annotations

import json
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types as at
from pydantic import BaseModel, TypeAdapter
from pydantic.fields import FieldInfo
from werkzeug.datastructures import MultiDict

from camapp.config import UNIONS, AppConfig
from camapp.config.camera import CAMERA_SOURCES
from camapp.config.cameras import OVERRIDES, entry_model
from camapp.redact import MASK, SECRET_PATHS
from camapp.types import JsonObject, JsonValue

Kind = Literal["checkbox", "number", "select", "text", "password", "list", "json"]


@dataclass
class FieldSpec:
    """One form input, named by its dotted config path."""

    name: str
    label: str
    help: str
    kind: Kind
    nullable: bool = False
    options: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    step: str = "any"
    digits_are_int: bool = False
    schema: JsonObject | None = None  # a structured value (rules, outputs, zones): settings.js edits it as a form
    inherit: JsonValue = None  # a camera's override section: the top-level value it overrides (shown until changed)
    sparse: bool = False  # ...whose editor saves only the keys given or changed (the rest keep following the top)

    @property
    def schema_json(self) -> str:
        """The schema with the models' field order kept (Flask's tojson sorts keys: name would come last)."""
        return json.dumps(self.schema)

    @property
    def inherit_json(self) -> str:
        return json.dumps(self.inherit)

    def render_value(self, value: JsonValue) -> str:
        if value is None:
            return ""
        if self.kind == "json":
            return json.dumps(value, indent=1)
        if self.kind == "list" and isinstance(value, list):
            return ", ".join(str(v) for v in value)
        if self.kind == "password":
            return MASK
        return str(value)


@dataclass
class Group:
    """A fieldset: one config section (nested sections get their own group)."""

    name: str
    title: str
    help: str
    fields: list[FieldSpec] = field(default_factory=list)
    camera: str | None = None  # the group of one camera under `cameras:` (the page offers to remove it)


def _unwrap_optional(ann: Any) -> tuple[Any, bool]:
    if get_origin(ann) in (Union, types.UnionType):
        args = [a for a in get_args(ann) if a is not type(None)]
        nullable = len(args) < len(get_args(ann))
        return (args[0] if len(args) == 1 else Union[tuple(args)]), nullable  # noqa: UP007
    return ann, False


def _bounds(info: FieldInfo) -> tuple[float | None, float | None]:
    lo = hi = None
    for m in info.metadata:
        if isinstance(m, at.Ge | at.Gt):
            lo = float(m.ge if isinstance(m, at.Ge) else m.gt)  # type: ignore[arg-type]
        elif isinstance(m, at.Le | at.Lt):
            hi = float(m.le if isinstance(m, at.Le) else m.lt)  # type: ignore[arg-type]
    return lo, hi


def _is_section(ann: Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, BaseModel)


# Words in key names a reader should not have to decode.
_WORDS = {"s": "(seconds)", "px": "(pixels)", "mb": "(MB)", "pct": "(%)", "ms": "(ms)", "fps": "frames per second",
          "min": "minimum", "max": "maximum", "iou": "overlap", "id": "ID", "mqtt": "MQTT", "gpio": "GPIO",
          "url": "URL", "tls": "TLS", "jpeg": "JPEG", "ha": "Home Assistant", "num": "number", "cfg": "config"}


def human_label(key: str) -> str:
    """`min_object_px` -> "Minimum object (pixels)": the key in words, units spelled out, capitalised."""
    words = " ".join(_WORDS.get(w, w) for w in key.split("_"))
    return words[:1].upper() + words[1:]


def _scalar_spec(name: str, key: str, info: FieldInfo, ann: Any, nullable: bool) -> FieldSpec:
    spec = FieldSpec(name, human_label(key), info.description or "", "json", nullable)
    if ann is bool:
        spec.kind = "checkbox"
    elif ann in (int, float):
        spec.kind, spec.step = "number", "1" if ann is int else "any"
        spec.min, spec.max = _bounds(info)
    elif get_origin(ann) is Literal:
        spec.kind, spec.options = "select", tuple(str(a) for a in get_args(ann))
    elif name in SECRET_PATHS:
        spec.kind = "password"
    elif ann in (str, Path):
        spec.kind = "text"
    elif get_origin(ann) in (Union, types.UnionType) and set(get_args(ann)) <= {int, str}:
        spec.kind, spec.digits_are_int = "text", True
    elif get_origin(ann) is list and get_args(ann) == (str,):
        spec.kind = "list"
    if spec.kind == "json":
        spec.schema = _schema(info.annotation)
    return spec


def _schema(ann: Any) -> JsonObject:
    """The JSON Schema the settings editor builds its fields from, with the defaults pydantic leaves out (fields
    made by a default_factory), so a new rule starts with the modes and pattern it would get in YAML."""
    schema = TypeAdapter(ann).json_schema()  # pydantic's, still to be completed (so read as it types it)
    defs = schema.get("$defs", {})
    for model in _models(ann, set()):
        props = defs.get(model.__name__, {}).get("properties", {})
        for key, info in model.model_fields.items():
            if key in props and info.default_factory is not None and "default" not in props[key]:
                made = info.default_factory()  # type: ignore[call-arg]
                props[key]["default"] = TypeAdapter(Any).dump_python(made, mode="json")
    return schema


def _models(ann: Any, seen: set[type[BaseModel]]) -> set[type[BaseModel]]:
    """Every model class reachable from an annotation (list items, optional and union members, nested fields)."""
    if _is_section(ann) and ann not in seen:
        seen.add(ann)
        for info in ann.model_fields.values():
            _models(info.annotation, seen)
    for arg in get_args(ann):
        _models(arg, seen)
    return seen


def _title(key: str) -> str:
    return key.upper() if key in ("gpio", "mqtt") else key.replace("_", " ").title()


def _variant(key: str, current: JsonObject) -> type[BaseModel] | None:
    """For a section keyed by `source`/`type` (camera, model): the model of the kind configured now."""
    union = UNIONS.get(key)
    if union is None or union[1]:
        return None
    tag = union[0].tag(current.get(key) or {})
    return union[0].config_for(tag) if tag is not None else None


def _walk(model: type[BaseModel], prefix: str, title: str, groups: list[Group],
          current: JsonObject | None = None) -> None:
    group = Group(prefix, title, (model.__doc__ or "").strip())
    groups.append(group)
    for key, info in model.model_fields.items():
        if info.exclude:  # a removed key (see config.storage.REMOVED)
            continue
        if current and not prefix and key in ("camera", "cameras") and key not in current:
            continue  # a config names its cameras one way (config.AppConfig saves only that one)
        if current and not prefix and key == "cameras":
            _walk_cameras(current, groups)
            continue
        name = f"{prefix}.{key}" if prefix else key
        ann, nullable = _unwrap_optional(info.annotation)
        variant = _variant(key, current) if current is not None else None
        if variant is not None:
            _walk(variant, name, _title(key), groups)
            union = UNIONS[key][0]
            keyed = next(f for f in groups[-1].fields if f.name == f"{name}.{union.key_field}")
            keyed.options = tuple(union.config_keys())  # switching kind: the new kind's fields on the next save
        elif _is_section(ann) and not nullable:
            _walk(ann, name, f"{title}: {key.replace('_', ' ')}" if prefix else _title(key), groups)
        else:
            group.fields.append(_scalar_spec(name, key, info, ann, nullable))


def _entry_model(entry: JsonValue) -> type[BaseModel] | None:
    tag = CAMERA_SOURCES.tag(entry if isinstance(entry, dict) else {})
    source = CAMERA_SOURCES.config_for(tag) if tag is not None else None
    return entry_model(source) if source is not None else None


def _walk_cameras(current: JsonObject, groups: list[Group]) -> None:
    """A group per camera under `cameras:`: its source's fields, then its overrides, each shown with the top-level
    value it overrides and saving only what is given (so an untouched key keeps following the top level)."""
    for name, entry in _object(current.get("cameras")).items():
        model = _entry_model(entry)
        if model is None:
            continue
        prefix = f"cameras.{name}"
        own = Group(prefix, f"Camera {name}", (model.__doc__ or "").strip(), camera=name)
        groups.append(own)
        fields = sorted(model.model_fields.items(), key=lambda kv: kv[0] in OVERRIDES)  # its own settings first
        for key, info in fields:
            if key == "id" or info.exclude:  # a camera under cameras is named by its key
                continue
            ann, nullable = _unwrap_optional(info.annotation)
            spec = _scalar_spec(f"{prefix}.{key}", key, info, ann, nullable)
            if key == CAMERA_SOURCES.key_field:
                spec.kind, spec.options = "select", tuple(CAMERA_SOURCES.config_keys())
            elif key in OVERRIDES:
                spec.sparse, spec.inherit = True, _top_value(current, key)
            own.fields.append(spec)


def _object(value: JsonValue) -> JsonObject:
    """A config section as a mapping: {} for one that is absent (or, in a malformed dict, not a mapping)."""
    return value if isinstance(value, dict) else {}


def _top_value(current: JsonObject, key: str) -> JsonValue:
    """What a camera's override section `key` overrides: the top-level section of the same name (`rules` and
    `storage` as their override shape: rules.rules, storage.recording)."""
    if key == "rules":
        return {"rules": _object(current.get("rules")).get("rules", [])}
    if key == "storage":
        return {"recording": _object(current.get("storage")).get("recording", {})}
    return current.get(key)


def build_groups(current: JsonObject | None = None) -> list[Group]:
    """Every config field as a form input, grouped by section (top-level scalars first under General); sections
    keyed by `source`/`type` show the fields of the kind in `current`."""
    groups: list[Group] = []
    _walk(AppConfig, "", "General", groups, current or {})
    return [g for g in groups if g.fields]


def _keep_variant_fields(data: JsonObject, current: JsonObject) -> None:
    """A section switched to another kind keeps only the settings the new kind has (the rest are the old kind's);
    so does a camera under `cameras:` switched to another source."""
    for key in UNIONS:
        variant, before = _variant(key, data), _variant(key, current)
        section = data.get(key)
        if variant is not None and variant is not before and isinstance(section, dict):
            data[key] = {k: v for k, v in section.items() if k in variant.model_fields}
    old = _object(current.get("cameras"))
    cameras = _object(data.get("cameras"))
    for name, entry in cameras.items():
        model = _entry_model(entry)
        if model is not None and isinstance(entry, dict) and model is not _entry_model(old.get(name)):
            cameras[name] = {k: v for k, v in entry.items() if k in model.model_fields}


def _set_path(data: JsonObject, dotted: str, value: JsonValue) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            child = {}
            data[part] = child
        data = child
    data[last] = value


def _parse_one(spec: FieldSpec, form: MultiDict[str, str]) -> JsonValue:
    if spec.kind == "checkbox":
        return spec.name in form
    raw = form.get(spec.name, "").strip()
    if raw == "" and (spec.nullable or spec.kind in ("number", "list")):
        return None if spec.nullable else ([] if spec.kind == "list" else raw)
    if spec.kind == "list":
        return [s.strip() for s in raw.split(",") if s.strip()]
    if spec.kind == "json":
        try:
            value: JsonValue = json.loads(raw)
        except ValueError as err:
            raise ValueError(f"not valid JSON: {err}") from None
        return value
    if spec.digits_are_int and raw.isdigit():
        return int(raw)
    return raw


def parse_form(form: MultiDict[str, str], current: JsonObject) -> tuple[JsonObject, dict[str, str]]:
    """Apply submitted fields onto the current config dict; fields that do not parse keep their current value
    and get an entry in the returned errors.
    """
    data: JsonObject = json.loads(json.dumps(current))
    errors: dict[str, str] = {}
    for group in build_groups(current):
        for spec in group.fields:
            try:
                _set_path(data, spec.name, _parse_one(spec, form))
            except ValueError as err:
                errors[spec.name] = str(err)
    _keep_variant_fields(data, current)
    return data, errors


def shown_values(data: JsonObject, form: MultiDict[str, str], errors: dict[str, str]) -> JsonObject:
    """What to put back in the form after a failed save: the data, with unparseable fields as typed."""
    shown: JsonObject = json.loads(json.dumps(data))
    for name in errors:
        if name in form:
            _set_path(shown, name, form[name])
    return shown


def place_errors(errors: dict[str, str], groups: list[Group]) -> tuple[dict[str, str], list[str]]:
    """Attach each error to the nearest field or group; the rest are shown at the top of the form."""
    names = {f.name for g in groups for f in g.fields} | {g.name for g in groups}
    placed: dict[str, str] = {}
    loose: list[str] = []
    for path, msg in errors.items():
        parts = path.split(".") if path else []
        target = next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in names), None)
        if target is None:
            loose.append(f"{path or 'config'}: {msg}")
        else:
            detail = path[len(target) + 1:] if len(path) > len(target) else ""
            text = f"{detail}: {msg}" if detail else msg
            placed[target] = f"{placed[target]}; {text}" if target in placed else text
    return placed, loose
