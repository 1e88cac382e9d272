"""Generate docs/config.md from the config models, so every option's documentation matches the code."""

from __future__ import annotations

import sys
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from camapp.config import UNIONS, AppConfig
from camapp.config.cameras import CameraOverrides

HEADER = """# Configuration reference

Generated from `camapp/config/` by `python -m camapp.configdoc > docs/config.md`; a test fails when it is stale.
Unknown keys are errors. Bounds are enforced; `camapp check-config FILE` names each bad field and its line,
every problem in the file at once (up to 20); a check across fields (`reconnect_max_s` below `reconnect_min_s`, a
rule naming an unknown zone, an unknown `source`) points at the line of the field it names.
"""


def _bounds(field: FieldInfo) -> str:
    parts = []
    for meta in field.metadata:
        for attr, sym in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"), ("min_length", "min length"),
                          ("max_length", "max length"), ("pattern", "matches")):
            value = getattr(meta, attr, None)
            if value is not None:
                parts.append(f"{sym} `{value}`".replace("|", "\\|"))
    return ", ".join(parts)


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        try:
            value: Any = field.default_factory()  # type: ignore[call-arg]
        except TypeError:
            return "(see section)"
        if isinstance(value, list) and all(isinstance(v, BaseModel) for v in value):
            value = [v.model_dump() for v in value]
        return "(see section)" if isinstance(value, BaseModel) else f"`{value!r}`"
    return "" if field.default is PydanticUndefined else f"`{field.default!r}`"


def _submodels(field: FieldInfo) -> list[type[BaseModel]]:
    """The models a field holds directly, optionally, as list/dict items, or as members of a union."""
    todo: list[Any] = [field.annotation]
    found: list[type[BaseModel]] = []
    while todo:
        cand = todo.pop(0)
        if isinstance(cand, type) and issubclass(cand, BaseModel):
            found.append(cand)
        else:
            todo += list(typing.get_args(cand))
    return found


def _type_name(ann: Any) -> str:
    text = ann.__name__ if isinstance(ann, type) else str(ann)
    for prefix in ("typing.", "pathlib.", "camapp.config.core.", "camapp.config.sinks.", "camapp.config.camera.",
                   "camapp.config.alarm.", "camapp.config.mqtt.", "camapp.config.storage.", "camapp.config.recording.",
                   "camapp.config.web.", "camapp.config.base."):
        text = text.replace(prefix, "")
    return text.replace("|", "\\|")


def _variant(path: str, model: type[BaseModel]) -> str:
    """` (source: file)` for a member of a registered union, else ''."""
    union = UNIONS.get(path.rstrip("[]"))
    return f" ({union[0].key_field}: {union[0].key_of(model)})" if union is not None else ""


_OVERRIDE_SHAPE = {"zones": "a list as `zones[]`", "rules": "`rules:` a list as `rules.rules[]`",
                   "storage": "`recording:` keys of `storage.recording`"}


def section(model: type[BaseModel], prefix: str, out: list[str], variant: str = "") -> None:
    rows: list[str] = []
    subs: list[tuple[str, type[BaseModel]]] = []
    for name, field in model.model_fields.items():
        if field.exclude:  # a removed key, kept only to name its replacement in the error
            continue
        if model is CameraOverrides:  # the top-level section's keys, documented there once
            rows.append(f"| `{name}` | {_OVERRIDE_SHAPE.get(name, f'keys of `{name}`')} | none | "
                        f"| {field.description or ''} |")
            continue
        models = _submodels(field)
        if name == "cameras" and model is AppConfig:  # each entry: a camera section (documented as `camera`) + these
            rows.append(f"| `{name}` | map of name to camera | `{{}}` | {_bounds(field)} | {field.description} |")
            subs.append(("cameras{}", CameraOverrides))
            continue
        ann = str(field.annotation)
        if models:
            suffix = "[]" if ann.startswith("list") else "{}" if ann.startswith("dict") else ""
            subs += [(f"{prefix}{name}{suffix}", sub) for sub in models]
            if not suffix:
                continue
        rows.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {_bounds(field)} "
                    f"| {field.description or ''} |")
    if rows:
        out += [f"\n## `{prefix.rstrip('.') or '(top level)'}`{variant}\n", (model.__doc__ or "").strip() + "\n",
                "| key | type | default | bounds | meaning |", "|---|---|---|---|---|", *rows]
    for name, sub in subs:
        section(sub, name + ".", out, _variant(name, sub))


def render() -> str:
    from camapp.plugins import discover

    discover()  # every part's settings, plugins' included
    return _render()


def _render() -> str:
    out = [HEADER]
    section(AppConfig, "", out)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
