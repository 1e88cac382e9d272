"""Registries: a capture source, a detector backend, a sink and a GPIO backend each added by one module
(tests/fake_parts.py), picked up by key from a config with no other edit; unknown keys are clear config errors."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from camapp.app import Appliance
from camapp.config import AppConfig, parse_config
from camapp.configdoc import render
from camapp.errors import ConfigError
from camapp.registry import Registry


def fake_config(tmp_path: Path, **sections: object) -> AppConfig:
    return parse_config({
        "camera": {"source": "countdown", "frames": 25, "width": 320},
        "model": {"type": "centre", "score": 0.95},
        "motion": {"enabled": False}, "detect": {"fps": 0},  # detect on every frame
        "objects": {"track": ["person"]},
        "sinks": [{"type": "log"}, {"type": "collect"}],
        "storage": {"path": str(tmp_path / "data")},
        **sections,
    })


def test_a_part_in_one_new_module_is_built_by_its_key(fakes: ModuleType, tmp_path: Path) -> None:
    cfg = fake_config(tmp_path)
    assert type(cfg.camera).__name__ == "CountdownCameraConfig" and type(cfg.model).__name__ == "CentreModelConfig"
    with Appliance(cfg) as app:
        assert app.model_name == "centre"
        app.replay([])
        stored = app.store.list_events() if app.store is not None else []
    assert len(fakes.SEEN) == 25 + 1  # every frame, then the closing result with the `end`s
    assert fakes.DETECT_CALLS == [320] * 25
    events = [e for r in fakes.SEEN for e in r.events]
    assert events[0].type == "new" and events[-1].type == "end"
    assert [e["label"] for e in stored] == ["person"]  # the built-in store saw the fake parts' event too
    assert "countdown" in render() and "centre" in render()  # documented like the built-in ones


def test_a_gpio_backend_in_one_new_module_drives_the_alarm_outputs(fakes: ModuleType, tmp_path: Path) -> None:
    cfg = fake_config(
        tmp_path,
        rules={"arming": "away", "rules": [
            {"name": "anyone", "labels": ["person"], "modes": ["away"], "actions": {"outputs": ["siren"]}},
        ]},
        gpio={"enabled": True, "pin_factory": "latch", "outputs": [{"name": "siren", "kind": "relay", "pin": 23}]},
    )
    with Appliance(cfg) as app:
        assert app.sinks.alarm.hardware.backend == "latch" and app.sinks.alarm.hardware.available
        app.replay([])
    assert ("siren", "steady") in fakes.LATCHED  # the rule fired on the fake detector's person
    assert fakes.LATCHED[-1] == ("siren", "off")  # and the output is safe once the appliance closed
    assert "'latch'" in render()  # gpio.pin_factory documents the new key


def test_unregistered_keys_are_config_errors_naming_the_field(fakes: ModuleType, tmp_path: Path) -> None:
    fake_config(tmp_path)
    fakes.unregister()
    with pytest.raises(ConfigError) as err:
        parse_config({"camera": {"source": "countdown"}, "model": {"type": "centre"}, "sinks": [{"type": "collect"}],
                      "gpio": {"pin_factory": "latch"}})
    text = str(err.value)
    assert "camera.source: source must be one of file, gstreamer" in text and "got 'countdown'" in text
    assert "model.type" in text and "sinks.0" in text and "gpio.pin_factory" in text
    assert "countdown" not in render() and "'latch'" not in render()


def test_a_key_without_a_builder_is_a_clear_error() -> None:
    from pydantic import BaseModel

    class Thing(BaseModel):
        kind: str = "x"

    registry: Registry[object] = Registry("widget", "kind")
    registry.add_config(Thing)
    with pytest.raises(ConfigError, match=r"no widget 'x' is available here \(known: \)"):
        registry.builder("x")
    with pytest.raises(TypeError, match="registered twice"):
        registry.add_config(type("Other", (Thing,), {}))
    registry.add_key("bare")
    assert registry.bare_keys() == ("bare",)
    with pytest.raises(ConfigError, match=r"no widget 'bare' is available here"):
        registry.builder("bare")


def test_a_fake_detector_backend_is_switched_live_from_the_web_api(fakes: ModuleType, tmp_path: Path) -> None:
    """Upload a .centre model through POST /api/model: the running appliance detects with it (its label in the
    events), /api/model names it, and the saved config loads it after a restart; a wrong file is a 400."""
    import io

    from test_web_support import ADMIN, ADMIN_PW, login

    from camapp.config import load_config
    from camapp.config.files import save_config
    from camapp.web import close_app, create_app
    from camapp.web.auth import UserStore

    path = tmp_path / "camapp.yaml"
    save_config(path, fake_config(tmp_path, objects={"track": ["person", "cat"]}))
    with Appliance(load_config(path), path) as app:
        web = create_app(app.web_context())
        try:
            UserStore(app.web_context().data_dir).set_password(ADMIN, ADMIN_PW, role="admin")
            client = web.test_client()
            csrf = login(client)
            assert client.get("/api/model").json["running"] == "centre"

            def upload(model: bytes, name: str) -> Any:
                files = {"model": (io.BytesIO(model), name), "labels": (io.BytesIO(b"cat\n"), "labels.txt")}
                return client.post("/api/model", data=files, headers={"X-CSRF-Token": csrf},
                                   content_type="multipart/form-data")

            wrong = upload(b"\0\0\0\0TFL3" + b"\0" * 64, "m.tflite")
            assert wrong.status_code == 400 and "not a .centre file" in wrong.json["error"]
            good = upload(fakes.CENTRE_MAGIC + b"0.8\n", "m.centre")
            assert good.status_code == 201, good.json
            assert good.json["probe"] == {"score": 0.8, "label": "cat"} and good.json["active"]
            running = client.get("/api/model").json
            assert running["running"] == f"centre-{good.json['id']}" and running["can_switch"]
            app.replay([])
        finally:
            close_app(web)
    assert {e.label for r in fakes.SEEN for e in r.events} == {"cat"}  # what the switched model sees
    saved = load_config(path).model
    assert getattr(saved, "model_file", None) == Path(good.json["model"])


def test_a_backend_without_model_files_refuses_a_switch(fakes: ModuleType, tmp_path: Path) -> None:
    from camapp.commands import SwitchModel
    from camapp.errors import ModelError

    fakes.MODEL_FILES.unregister("centre")
    with Appliance(fake_config(tmp_path)) as app, pytest.raises(ModelError, match=r"model\.type 'centre' cannot load"):
        app.control.execute(SwitchModel(tmp_path / "m.centre", tmp_path / "labels.txt"))
