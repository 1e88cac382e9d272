"""docs/config.md is generated from the models and must not go stale."""

from __future__ import annotations

from pathlib import Path

from camapp.configdoc import render

DOC = Path(__file__).resolve().parent.parent / "docs" / "config.md"


def test_config_reference_is_current() -> None:
    stale = "docs/config.md is stale: run `.venv/bin/python -m camapp.configdoc > docs/config.md`"
    assert DOC.read_text() == render(), stale


def test_reference_lists_every_section() -> None:
    text = render()
    for section in ("camera", "motion", "model", "objects", "tracker", "events", "storage", "mqtt", "web"):
        assert f"## `{section}`" in text
