"""Config validation: every bad field is named with its dotted path and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from camapp.config import AppConfig, load_config, parse_config
from camapp.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(text)
    return p


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("camera:\n  source: file\n  path: x.avi\n  fps: -1\n", ["config.yaml:4: camera.fps", "greater than 0"]),
        ("camera:\n  source: rtsp\n", ["config.yaml:1: camera.url", "required by source 'rtsp'"]),
        ("camera:\n  source: file\n  path: x.avi\n  width: 640\n",
         ["config.yaml:4: camera.width", "not a setting of source 'file'", "path, loop, realtime"]),
        ("camera:\n  source: usb\n", ["config.yaml:2: camera.source",  # the source line, not the block's (#25)
                                      "source must be one of file, gstreamer, jetson_csi", "got 'usb'"]),
        # cross-field checks point at the field they name (issue 25 #7), not at the `camera:` line
        ("camera:\n  source: file\n  path: x.avi\n  reconnect_min_s: 10\n  reconnect_max_s: 2\n",
         ["config.yaml:5: camera.reconnect_max_s", "must be >= camera.reconnect_min_s (10), got 2"]),
        ("camera:\n  source: file\n  path: x.avi\n  reconnect_min_s: 40\n",  # the maximum left at its default
         ["config.yaml:4: camera.reconnect_min_s", "must be >= camera.reconnect_min_s (40), got 30"]),
        ("tracker:\n  max_missed_s: 10\n  max_unobserved_s: 5\n",
         ["config.yaml:3: tracker.max_unobserved_s", "max_unobserved_s must be >= max_missed_s"]),
        ("mqtt:\n  host: broker\n  tls:\n    cert: /c.pem\n", ["config.yaml:4: mqtt.tls.cert", "set together"]),
        ("model:\n  type: onnx\n", ["config.yaml:2: model.type", "'tflite'"]),
        ("motion:\n  threshold: 999\n", ["config.yaml:2: motion.threshold", "less than or equal to 255"]),
        ("motion:\n  treshold: 20\n", ["motion.treshold", "Extra inputs are not permitted"]),
        ("detect:\n  fps: -1\n", ["config.yaml:2: detect.fps", "greater than or equal to 0"]),
        ("detect:\n  max_invokes: 0\n", ["config.yaml:2: detect.max_invokes", "greater than or equal to 1"]),
        ("motion:\n  max_regions: 2\n",
         ["config.yaml:2: motion.max_regions", "max_regions has moved: set detect.max_invokes"]),
        ("model:\n  whole_frame_min_px: 5\n",
         ["config.yaml:2: model.whole_frame_min_px", "has moved: set detect.min_object_px"]),
        (
            "objects:\n  default:\n    min_area: 10\n    max_area: 5\n",
            ["config.yaml:4: objects.default.max_area", "max_area must be >= min_area"],
        ),
        ("web:\n  port: 70000\n", ["config.yaml:2: web.port"]),
        ("device_id: 'has space'\n", ["config.yaml:1: device_id"]),
        ("camera: [1, 2]\n", ["config.yaml:1: camera"]),
        ("- just\n- a list\n", ["must be a mapping"]),
        ("camera:\n  source: file\n path: broken\n", ["not valid YAML"]),
        (  # a whole-config check points at the rule it names, not at line 1
            "zones:\n  - {name: a, polygon: [[0, 0], [9, 0], [0, 9]]}\n"
            "rules:\n  rules:\n    - {name: r1, labels: [cat]}\n"
            "    - name: r2\n      labels: [person]\n      zones: [nope]\n",
            ["config.yaml:6: rules.rules.1", "rules.rules.1 ('r2').zones: unknown zone 'nope'"],
        ),
        # Removed keys name what replaced them (an old config must not just get "extra inputs").
        (
            "storage:\n  path: /tmp/x\n  clip_max_concurrent: 3\n",
            ["config.yaml:3: storage.clip_max_concurrent", "was removed", "storage.recording.mode"],
        ),
        ("storage:\n  clip_codec: mp4v\n", ["config.yaml:2: storage.clip_codec", "storage.recording.encoder"]),
        ("storage:\n  recording:\n    mode: always\n", ["config.yaml:3: storage.recording.mode", "continuous"]),
    ],
)
def test_bad_config_names_field_and_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    for fragment in expected:
        assert fragment in str(info.value)


@pytest.mark.parametrize(("text", "expected"), [
    ("motion:\n  threshold: 0\nweb:\n  port: -1\n", ["2: motion.threshold", "4: web.port"]),
    # issue 25 #7: a cross-field check beside a plain error in the same block, and a whole-config check beside
    # errors elsewhere, were dropped (pydantic skips a model's checks once one of its fields fails)
    ("camera:\n  source: file\n  path: x.avi\n  fps: 0\n  reconnect_min_s: 10\n  reconnect_max_s: 2\n"
     "rules:\n  rules:\n    - {name: r1, labels: [person], zones: [nowhere]}\n"
     "web:\n  port: 99999\n",
     ["4: camera.fps", "6: camera.reconnect_max_s", "9: rules.rules.0", "11: web.port"]),
    ("camera:\n  source: webcam\n  reconnect_min_s: 10\nobjects:\n  default:\n    min_area: 9\n    max_area: 1\n",
     ["2: camera.source", "7: objects.default.max_area"]),
])
def test_every_problem_is_reported_at_once(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    lines = str(info.value).splitlines()
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [f"{tmp_path / 'config.yaml'}:{e.split(': ')[0]}", e.split(": ")[1]] for e in expected], lines


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yaml")


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""))
    assert cfg == AppConfig()
    assert cfg.mqtt.host is None  # MQTT off by default
    assert cfg.storage.path is None


def test_valid_file(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "camera:\n  source: file\n  path: clip.mp4\n  realtime: false\n"))
    assert cfg.camera.path == Path("clip.mp4") and cfg.camera.realtime is False


def test_assignment_is_validated() -> None:
    cfg = parse_config({})
    with pytest.raises(ValueError):
        cfg.web.port = -5


def test_every_option_is_documented() -> None:
    def walk(model: type, prefix: str) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            ann = field.annotation
            if isinstance(ann, type) and hasattr(ann, "model_fields"):
                missing += walk(ann, f"{prefix}{name}.")
            elif not field.description and not (isinstance(ann, type) and hasattr(ann, "model_fields")):
                missing.append(prefix + name)
        return missing

    undocumented = [m for m in walk(AppConfig, "") if m.count(".") >= 1]
    assert undocumented == []
