"""Secrets: the one list matches the config models, masking covers fields, URLs and logs, and a masked secret is
only put back for the endpoint it was entered for."""

from __future__ import annotations

import logging
import types
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from camapp.config import AppConfig
from camapp.redact import (
    MASK,
    NOT_SECRET,
    SECRET_FIELDS,
    SECRET_NAME,
    SecretReuseError,
    install_log_redaction,
    mask_config,
    redact_text,
    unmask_config,
    use_config_secrets,
)

RTSP = "rtsp://admin:cam-pass-1@10.0.0.5:554/stream1"


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for key, info in model.model_fields.items():
        path = f"{prefix}.{key}" if prefix else key
        ann = info.annotation
        args = [a for a in get_args(ann) if a is not type(None)] if get_origin(ann) in (Union, types.UnionType) else []
        inner = args[0] if len(args) == 1 else ann
        if isinstance(inner, type) and issubclass(inner, BaseModel):
            out += _fields(inner, path)
        else:
            out.append(path)
    return out


def test_every_secret_looking_config_field_is_listed_as_secret_or_not() -> None:
    fields = _fields(AppConfig)
    secret = {f.path for f in SECRET_FIELDS}
    assert secret <= set(fields), "SECRET_FIELDS names a field the config does not have"
    assert set(NOT_SECRET) <= set(fields)
    unlisted = [f for f in fields if SECRET_NAME.search(f.rsplit(".", 1)[-1]) and f not in secret | set(NOT_SECRET)]
    assert not unlisted, f"add these to camapp.redact.SECRET_FIELDS (or NOT_SECRET with a reason): {unlisted}"
    for f in SECRET_FIELDS:  # endpoints are fields or whole sections
        assert all(any(p == e or p.startswith(e + ".") for p in fields) for e in f.endpoint), f.path


@pytest.mark.parametrize(("text", "shown"), [
    (RTSP, f"rtsp://admin:{MASK}@10.0.0.5:554/stream1"),
    ("opening rtsps://tok3n@cam.local/live now", f"opening rtsps://{MASK}@cam.local/live now"),
    ("http://cam/snap.jpg?user=admin&pwd=x1&token=abc", f"http://cam/snap.jpg?user=admin&pwd={MASK}&token={MASK}"),
    ("rtspsrc location=rtsp://u:p@h/x ! decodebin", f"rtspsrc location=rtsp://u:{MASK}@h/x ! decodebin"),
    ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "-----(private key masked)-----"),
    ("no secrets here: http://cam/x?a=1", "no secrets here: http://cam/x?a=1"),
])
def test_redact_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def config(**mqtt: Any) -> dict[str, Any]:
    cfg = {"camera": {"source": "rtsp", "url": RTSP},
           "mqtt": {"host": "broker.lan", "port": 1883, "username": "cam", "password": "mqtt-pass-1", **mqtt}}
    return AppConfig.model_validate(cfg).model_dump(mode="json")


def test_mask_config_hides_every_secret() -> None:
    shown = mask_config(config())
    text = repr(shown)
    assert "mqtt-pass-1" not in text and "cam-pass-1" not in text
    assert shown["mqtt"]["password"] == MASK and shown["mqtt"]["username"] == "cam"
    assert shown["camera"]["url"] == f"rtsp://admin:{MASK}@10.0.0.5:554/stream1"


def test_masked_round_trip_keeps_the_secrets() -> None:
    old = config()
    assert unmask_config(mask_config(old), old) == old


def _changed(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    section, key = dotted.split(".")
    return {**data, section: {**data[section], key: value}}


@pytest.mark.parametrize(("field", "value", "refused"), [
    ("mqtt.host", "evil.example", "mqtt.password"),
    ("mqtt.port", 1884, "mqtt.password"),
    ("mqtt.tls", {"insecure": True}, "mqtt.password"),
    ("camera.url", f"rtsp://admin:{MASK}@evil.example:554/stream1", "camera.url"),
    ("camera.url", f"rtsp://admin:{MASK}@10.0.0.5:8554/stream1", "camera.url"),
    ("camera.url", f"rtsp://admin:{MASK}@10.0.0.5:554/other", "camera.url"),
    ("camera.url", f"rtsps://admin:{MASK}@10.0.0.5:554/stream1", "camera.url"),
])
def test_masked_secret_for_a_changed_endpoint_is_refused(field: str, value: Any, refused: str) -> None:
    old = config()
    with pytest.raises(SecretReuseError) as err:
        unmask_config(_changed(mask_config(old), field, value), old)
    assert list(err.value.errors) == [refused]
    assert field in err.value.errors[refused] or refused == field


def test_changed_endpoint_with_the_secret_typed_again_is_accepted() -> None:
    old = config()
    new = _changed(_changed(mask_config(old), "mqtt.host", "other.lan"), "mqtt.password", "new-pass-2")
    assert unmask_config(new, old)["mqtt"] == {**old["mqtt"], "host": "other.lan", "password": "new-pass-2"}
    moved = _changed(mask_config(old), "camera.url", "rtsp://admin:typed@cam2.lan/stream1")
    assert unmask_config(moved, old)["camera"]["url"] == "rtsp://admin:typed@cam2.lan/stream1"
    other_user = _changed(mask_config(old), "camera.url", f"rtsp://viewer:{MASK}@10.0.0.5:554/stream1")
    assert unmask_config(other_user, old)["camera"]["url"] == "rtsp://viewer:cam-pass-1@10.0.0.5:554/stream1"


def test_a_mask_with_nothing_saved_behind_it_is_refused() -> None:
    old = config(password=None)
    with pytest.raises(SecretReuseError, match="none is saved"):
        unmask_config(_changed(mask_config(old), "mqtt.password", MASK), old)


def test_logs_never_show_secrets(caplog: pytest.LogCaptureFixture, tmp_path: Path) -> None:
    install_log_redaction()
    use_config_secrets(config())
    log = logging.getLogger("camapp.test")
    with caplog.at_level(logging.INFO):
        log.info("camera %s up; broker password %s", RTSP, "mqtt-pass-1")
        try:
            raise ValueError(f"connect failed for {RTSP} with mqtt-pass-1")
        except ValueError:
            log.exception("it broke")
    handler = logging.FileHandler(tmp_path / "log.txt")
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    try:
        raise RuntimeError("mqtt-pass-1 in a traceback")
    except RuntimeError:
        log.error("again", exc_info=True)
    handler.close()
    log.removeHandler(handler)
    text = caplog.text + (tmp_path / "log.txt").read_text()
    assert "cam-pass-1" not in text and "mqtt-pass-1" not in text
    assert f"rtsp://admin:{MASK}@10.0.0.5:554/stream1" in text and "in a traceback" in text
