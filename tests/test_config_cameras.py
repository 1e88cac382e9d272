"""`cameras:`: named cameras with per-camera overrides of the top-level sections; bad input named with its line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from camapp.config import AppConfig, load_config
from camapp.config.files import save_config
from camapp.errors import ConfigError

TWO = """\
device_id: home
motion:
  threshold: 40
zones:
  - {name: porch, polygon: [[0, 0], [100, 0], [0, 100]]}
rules:
  rules:
    - {name: porch_person, labels: [person], zones: [porch]}
cameras:
  front:
    source: file
    path: vtest.avi
    motion:
      mask: [[[0, 0], [10, 0], [0, 10]]]
  garden:
    source: file
    path: other.avi
    detect: {fps: 2}
    zones:
      - {name: lawn, polygon: [[0, 0], [50, 0], [0, 50]]}
    rules:
      rules:
        - {name: lawn_person, labels: [person], zones: [lawn]}
    storage:
      recording: {mode: continuous}
storage:
  recording: {segment_s: 6}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


def test_each_camera_gets_the_defaults_with_its_own_overrides(tmp_path: Path) -> None:
    cams = load_config(write(tmp_path, TWO)).camera_configs()
    front, garden = cams["front"], cams["garden"]
    assert list(cams) == ["front", "garden"]
    assert (front.camera.id, garden.camera.id) == ("front", "garden")
    assert str(garden.camera.path) == "other.avi"  # type: ignore[attr-defined]
    # an override section sets only the keys it gives; the rest are the top-level values
    assert front.motion.threshold == garden.motion.threshold == 40
    assert len(front.motion.mask) == 1 and garden.motion.mask == []
    assert (front.detect.fps, garden.detect.fps) == (5.0, 2.0)
    assert [z.name for z in front.zones] == ["porch"] and [z.name for z in garden.zones] == ["lawn"]
    assert [r.name for r in front.rules.rules] == ["porch_person"]
    assert [r.name for r in garden.rules.rules] == ["lawn_person"]
    assert (front.storage.recording.mode, garden.storage.recording.mode) == ("events", "continuous")
    assert front.storage.recording.segment_s == garden.storage.recording.segment_s == 6
    assert all(c.cameras == {} for c in cams.values())


def test_a_single_camera_config_is_one_camera_named_by_its_id(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "camera:\n  source: file\n  path: x.avi\n"))
    assert list(cfg.camera_configs()) == ["camera"] and cfg.camera_configs()["camera"] is cfg
    dumped = cfg.model_dump(mode="json")
    assert "cameras" not in dumped and dumped["camera"]["path"] == "x.avi"  # saved as it was written
    named = load_config(write(tmp_path, "camera:\n  id: porch\n  source: file\n  path: x.avi\n"))
    assert list(named.camera_configs()) == ["porch"]


def test_a_saved_multi_camera_config_loads_back_the_same(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, TWO))
    out = tmp_path / "saved.yaml"
    save_config(out, cfg)
    saved = yaml.safe_load(out.read_text())
    assert "camera" not in saved and set(saved["cameras"]) == {"front", "garden"}
    # overrides are saved as written: a default dumped there would override the top-level value on reload
    assert saved["cameras"]["front"]["motion"] == {"mask": [[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]]]}
    again = load_config(out)
    assert again == cfg
    assert again.camera_configs()["front"].motion.threshold == 40


ENTRY = "    source: file\n    path: a.avi\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("camera:\n  source: file\n  path: a.avi\ncameras:\n  a:\n" + ENTRY,
                     ["c.yaml:1: camera:", "not both"], id="camera and cameras"),
        pytest.param("cameras:\n  a:\n" + ENTRY + "  a:\n" + ENTRY,
                     ["c.yaml:5: key 'a' appears twice in one mapping in cameras (lines 2 and 5)"], id="duplicate"),
        pytest.param("cameras:\n  front/door:\n" + ENTRY, ["c.yaml:2: cameras.front/door: a camera name is"],
                     id="slash"),
        pytest.param("cameras:\n  'a#':\n" + ENTRY, ["c.yaml:2: cameras.a#: a camera name is"], id="hash"),
        pytest.param("cameras:\n  Garden:\n" + ENTRY, ["c.yaml:2: cameras.Garden: a camera name is"], id="upper"),
        pytest.param("cameras:\n  set:\n" + ENTRY, ["c.yaml:2:", "cameras.set: 'set' is reserved"], id="reserved"),
        pytest.param("cameras:\n  a:\n" + ENTRY + "    motoin: {}\n",
                     ["c.yaml:5: cameras.a.motoin: not a setting of source 'file'", "nor an override"],
                     id="unknown override"),
        pytest.param("cameras:\n  a:\n" + ENTRY + "    motion:\n      treshold: 3\n",
                     ["c.yaml:6: cameras.a.motion.treshold: Extra inputs"], id="unknown key in an override"),
        pytest.param("cameras:\n  a:\n" + ENTRY + "    storage:\n      path: /x\n",
                     ["c.yaml:6: cameras.a.storage.path: Extra inputs"], id="shared storage key"),
        pytest.param("cameras:\n  a:\n" + ENTRY + "    rules:\n      arming: away\n",
                     ["c.yaml:6: cameras.a.rules.arming: Extra inputs"], id="arming is appliance-wide"),
        pytest.param("cameras:\n  a:\n    source: v4l2\n    device: 0\n  b:\n    source: v4l2\n"
                     "    device: /dev/video0\n",
                     ["c.yaml:7:", "cameras.b.device: V4L2 device /dev/video0 is already camera 'a'"],
                     id="same v4l2 device"),
        pytest.param("cameras:\n  garden:\n" + ENTRY + "    zones:\n      - name: z\n"
                     "        polygon: [[0, 0], [1, 0]]\n",
                     ["c.yaml:7: cameras.garden.zones.0.polygon", "at least 3"], id="zone points"),
        pytest.param("cameras:\n  a:\n    source: usb\n", ["c.yaml:2: cameras.a: source must be one of file"],
                     id="unknown source"),
        pytest.param("cameras:\n  a:\n    source: rtsp\n", ["c.yaml:2: cameras.a.url: required by source 'rtsp'"],
                     id="missing key"),
        pytest.param("cameras:\n  a:\n" + ENTRY + "    id: b\n", ["c.yaml:5:", "cameras.a.id: a camera under cameras"],
                     id="own id"),
        pytest.param("zones:\n  - {name: p, polygon: [[0, 0], [100, 0], [0, 100]]}\nrules:\n  rules:\n"
                     "    - {name: r, labels: [person], zones: [p]}\ncameras:\n  a:\n" + ENTRY + "    zones: []\n",
                     ["c.yaml:7:", "cameras.a: rules.rules.0 ('r').zones: unknown zone 'p'"],
                     id="top-level rule names a zone the camera lacks"),
        pytest.param("objects:\n  track: [person, dog]\n  filters: {dog: {min_score: 0.6}}\ncameras:\n  a:\n" + ENTRY
                     + "    objects:\n      track: [person]\n",
                     ["c.yaml:8:", "cameras.a.objects: filters given for labels not in track: dog"],
                     id="override clashes with a default"),
    ],
)
def test_bad_cameras_are_named_with_their_line(tmp_path: Path, text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    for fragment in expected:
        assert fragment in str(info.value)


V4L2 = "    source: v4l2\n    device: {}\n"


@pytest.mark.parametrize(("text", "expected"), [
    pytest.param("cameras:\n  a:\n" + ENTRY + "  a:\n" + ENTRY,
                 "c.yaml:5: key 'a' appears twice in one mapping in cameras (lines 2 and 5)", id="duplicate name"),
    pytest.param("cameras:\n  'a/b':\n" + ENTRY, "c.yaml:2: cameras.a/b: a camera name is 1 to 32 of a-z", id="slash"),
    pytest.param("cameras:\n  'a#':\n" + ENTRY, "c.yaml:2: cameras.a#: a camera name is 1 to 32 of a-z", id="hash"),
    pytest.param("cameras:\n  a:\n" + ENTRY + "    motoin: {}\n",
                 "c.yaml:5: cameras.a.motoin: not a setting of source 'file'", id="override that does not exist"),
    pytest.param("cameras:\n  a:\n" + ENTRY + "    detect:\n      fsp: 3\n",
                 "c.yaml:6: cameras.a.detect.fsp: Extra inputs are not permitted", id="key an override lacks"),
    pytest.param("cameras:\n  a:\n" + V4L2.format(1) + "  b:\n" + V4L2.format("'1'"),
                 "c.yaml:7: cameras.b.device: V4L2 device /dev/video1 is already camera 'a'; one device can be "
                 "opened by one camera", id="same v4l2 device"),
    pytest.param("cameras:\n  a:\n" + V4L2.format(0) + "  b:\n" + V4L2.format("/dev/video0"),
                 "c.yaml:7: cameras.b.device: V4L2 device /dev/video0 is already camera 'a'", id="index and path"),
    pytest.param("cameras:\n  a:\n" + V4L2.format("{dir}/video7") + "  b:\n" + V4L2.format("{dir}/by-id-link"),
                 "c.yaml:7: cameras.b.device: V4L2 device {dir}/video7 is already camera 'a'", id="a link to it"),
    pytest.param("cameras:\n  a:\n    source: picamera2\n  b:\n    source: picamera2\n",
                 "c.yaml:5: cameras.b.source: the Raspberry Pi camera is already camera 'a'", id="two pi cameras"),
])
def test_check_config_exits_2_naming_the_field_and_line(tmp_path: Path, text: str, expected: str) -> None:
    """The issue's bad inputs through the real CLI: exit 2, `file:LINE: field: why` once, no traceback."""
    (tmp_path / "video7").write_text("")
    (tmp_path / "by-id-link").symlink_to(tmp_path / "video7")  # as /dev/v4l/by-id/... names /dev/videoN
    config = write(tmp_path, text.replace("{dir}", str(tmp_path)))
    proc = subprocess.run([sys.executable, "-m", "camapp.cli", "check-config", str(config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert f"{tmp_path}/{expected.replace('{dir}', str(tmp_path))}" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "Value error" not in proc.stderr


def test_a_good_multi_camera_config_checks_ok(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "camapp.cli", "check-config", str(write(tmp_path, TWO))],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "ok" in proc.stdout


def test_two_file_cameras_may_read_the_same_file() -> None:
    cfg = AppConfig.model_validate({"cameras": {n: {"source": "file", "path": "v.avi"} for n in ("a", "b")}})
    assert list(cfg.camera_configs()) == ["a", "b"]
