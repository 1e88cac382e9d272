"""First boot and cameras: camapp.conf's camera.<name> lines, and the probe configuring every camera it finds (fake
sysfs/dev trees and VIDIOC_QUERYCAP answers, see test_camprobe.py), validated as camapp validates its config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT
from test_camprobe import asked, jetson_two_csi, node, pi4_csi_and_usb, two_webcams

from camapp.bootconf import blank_secrets, parse_conf
from camapp.camprobe import CAP_VIDEO_CAPTURE, Caps
from camapp.config import load_config
from camapp.errors import ConfigError
from camapp.firstboot import CAMERAS_FOUND, Target, apply


@pytest.fixture
def system(tmp_path: Path) -> tuple[Path, Path]:
    """A fake root with the image's camapp config (storage in the temp dir) and a boot partition directory."""
    root, boot = tmp_path / "root", tmp_path / "boot"
    (root / "etc/camapp").mkdir(parents=True)
    cfg = yaml.safe_load((ROOT / "image/rootfs/etc/camapp/config.yaml").read_text())
    cfg["storage"]["path"] = str(tmp_path / "data")
    (root / "etc/camapp/config.yaml").write_text(yaml.safe_dump(cfg))
    boot.mkdir()
    return root, boot


def written(root: Path) -> dict[str, Any]:
    path = root / "etc/camapp/config.yaml"
    load_config(path)  # what camapp itself will read
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def without_storage(root: Path) -> None:
    """The config of an appliance that stores nothing."""
    path = root / "etc/camapp/config.yaml"
    data = yaml.safe_load(path.read_text())
    del data["storage"]
    path.write_text(yaml.safe_dump(data))


def test_first_boot_without_camapp_conf_configures_every_camera_found(system: tuple[Path, Path]) -> None:
    root, boot = system
    without_storage(root)
    answers = two_webcams(root)
    assert apply(boot, Target(root, query=asked(answers))) == 0
    cfg = written(root)
    assert "camera" not in cfg
    assert cfg["cameras"] == {
        "hd-pro-webcam-c920": {"width": 1280, "height": 720, "fps": 10, "source": "v4l2",
                               "device": "/dev/v4l/by-id/usb-046d_C920_A1-video-index0"},
        "hd-pro-webcam-c920-2": {"width": 1280, "height": 720, "fps": 10, "source": "v4l2",
                                 "device": "/dev/v4l/by-id/usb-046d_C920_B2-video-index0"}}
    assert "HD Pro Webcam C920" in (root / CAMERAS_FOUND).read_text()


def test_a_lone_camera_stays_a_camera_section(system: tuple[Path, Path]) -> None:
    root, boot = system
    node(root, 0, "USB Camera", "uvcvideo", "usb1/1-1/1-1:1.0", 0, "usb-Generic-video-index0")
    assert apply(boot, Target(root, query=lambda _d: Caps("uvcvideo", "USB Camera", "usb-1", CAP_VIDEO_CAPTURE))) == 0
    cfg = written(root)
    assert cfg["camera"] == {"id": "usb-camera", "width": 1280, "height": 720, "fps": 10, "source": "v4l2",
                             "device": "/dev/v4l/by-id/usb-Generic-video-index0"}
    assert "cameras" not in cfg and cfg["storage"]["path"]  # everything else kept


def test_with_the_image_store_every_camera_found_is_configured(system: tuple[Path, Path]) -> None:
    """The image stores events; several cameras share that store, so every camera found is written."""
    root, boot = system
    answers = pi4_csi_and_usb(root)
    assert apply(boot, Target(root, query=asked(answers))) == 0
    cfg = written(root)
    text = (root / "etc/camapp/config.yaml").read_text()
    both = {"usb-camera": {"source": "v4l2", "device": "/dev/v4l/by-id/usb-Generic_USB_Camera-video-index0"},
            "csi": {"source": "picamera2"}}
    assert set(cfg["cameras"]) == set(both) and "camera" not in cfg and cfg["storage"]["path"]  # one store
    assert all(cfg["cameras"][name].items() >= section.items() for name, section in both.items())
    assert "# Also found, not configured" not in text


def test_jetson_csi_sensors_are_numbered(system: tuple[Path, Path]) -> None:
    root, boot = system
    without_storage(root)
    assert apply(boot, Target(root, query=asked(jetson_two_csi(root)))) == 0
    cams = written(root)["cameras"]
    assert {n: (c["source"], c["sensor_id"]) for n, c in cams.items()} == {"csi0": ("jetson_csi", 0),
                                                                          "csi1": ("jetson_csi", 1)}


def test_the_probe_runs_once_unless_asked_again(system: tuple[Path, Path]) -> None:
    root, boot = system
    without_storage(root)
    answers = two_webcams(root)
    assert apply(boot, Target(root, query=asked(answers))) == 0
    user_edit = written(root)
    user_edit["cameras"] = {"front": user_edit["cameras"].pop("hd-pro-webcam-c920")}
    (root / "etc/camapp/config.yaml").write_text(yaml.safe_dump(user_edit))
    (boot / "camapp.conf").write_text("timezone = UTC\n")  # a later camapp.conf, e.g. to change the time zone
    (root / "usr/share/zoneinfo").mkdir(parents=True)
    (root / "usr/share/zoneinfo/UTC").write_bytes(b"TZif")
    assert apply(boot, Target(root, query=asked(answers))) == 0
    assert list(written(root)["cameras"]) == ["front"]  # the user's cameras are kept
    (boot / "camapp.conf").write_text("find_cameras = yes\n")
    assert apply(boot, Target(root, query=asked(answers))) == 0
    assert list(written(root)["cameras"]) == ["hd-pro-webcam-c920", "hd-pro-webcam-c920-2"]


def test_find_cameras_no_and_camapp_yaml_keep_the_config(system: tuple[Path, Path], demo_video: Path) -> None:
    root, boot = system
    answers = two_webcams(root)
    before = (root / "etc/camapp/config.yaml").read_text()
    (boot / "camapp.conf").write_text("find_cameras = no\n")
    assert apply(boot, Target(root, query=asked(answers))) == 0
    assert (root / "etc/camapp/config.yaml").read_text() == before
    (boot / "camapp.yaml").write_text(f"camera: {{source: file, path: {demo_video}}}\n")
    (root / CAMERAS_FOUND).unlink(missing_ok=True)
    assert apply(boot, Target(root, query=asked(answers))) == 0
    assert written(root)["camera"] == {"source": "file", "path": str(demo_video)}  # chosen by the user, not probed
    assert apply(boot, Target(root, query=asked(answers))) == 0  # the next boot does not look either
    assert written(root)["camera"] == {"source": "file", "path": str(demo_video)}


def test_no_camera_found_keeps_the_image_camera(system: tuple[Path, Path]) -> None:
    root, boot = system
    before = (root / "etc/camapp/config.yaml").read_text()
    assert apply(boot, Target(root, query=lambda _d: None)) == 0
    assert (root / "etc/camapp/config.yaml").read_text() == before
    assert (root / CAMERAS_FOUND).exists()


def test_camapp_conf_names_the_cameras_instead_of_the_probe(system: tuple[Path, Path], demo_video: Path) -> None:
    root, boot = system
    without_storage(root)
    answers = two_webcams(root)
    (boot / "camapp.conf").write_text(
        "camera.front = /dev/video0\ncamera.garden = rtsp://viewer:pw-123@192.0.2.10:554/stream1\n"
        f"camera.demo = {demo_video}\n")
    assert apply(boot, Target(root, query=asked(answers))) == 0
    cams = written(root)["cameras"]
    assert cams == {"front": {"width": 1280, "height": 720, "fps": 10, "source": "v4l2", "device": "/dev/video0"},
                    "garden": {"width": 1280, "height": 720, "fps": 10, "source": "rtsp",
                               "url": "rtsp://viewer:pw-123@192.0.2.10:554/stream1"},
                    "demo": {"fps": 10, "source": "file", "path": str(demo_video)}}
    applied = (boot / "camapp.conf.applied").read_text()
    assert "pw-123" not in applied and "camera.garden =\n" in applied and "camera.front = /dev/video0" in applied


@pytest.mark.parametrize(("text", "message"), [
    ("camera.a = /dev/video0\ncamera.b = /dev/video0\n",
     "camapp.conf:2: camera.b: /dev/video0 is already camera.a (line 1); one device can be opened by one camera"),
    ("camera.a = csi\ncamera.b = picamera2\n", "camapp.conf:2: camera.b: the Raspberry Pi camera is already camera.a"),
    ("camera.front/door = /dev/video0\n", "camapp.conf:1: camera.front/door: a camera name is 1 to 32 of a-z"),
    ("camera.cam#1 = /dev/video0\n", "camapp.conf:1: camera.cam#1: a camera name is 1 to 32"),
    ("camera.events = /dev/video0\n", "camapp.conf:1: camera.events: 'events' is reserved"),
    ("camera.a = /dev/video0\ncamera.a = /dev/video1\n", "camapp.conf:2: camera.a: already set on line 1"),
    ("camera.a = usb\n", "camapp.conf:1: camera.a: use a V4L2 device"),
    ("camera.a = rtsp://x y\n", "camapp.conf:1: camera.a: use a V4L2 device"),
])
def test_bad_camera_lines_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_conf(text)
    assert message in str(err.value)


def test_two_cameras_on_one_device_in_camapp_conf_apply_nothing(system: tuple[Path, Path]) -> None:
    root, boot = system
    before = (root / "etc/camapp/config.yaml").read_text()
    (boot / "camapp.conf").write_text("hostname = porch\ncamera.a = /dev/video0\ncamera.b = /dev/video0\n")
    assert apply(boot, Target(root, query=asked(two_webcams(root)))) == 1
    assert "camera.b: /dev/video0 is already camera.a" in (boot / "camapp.conf.failed").read_text()
    assert (root / "etc/camapp/config.yaml").read_text() == before and not (root / "etc/hostname").exists()


def test_blanked_camera_urls_only_when_they_carry_a_password() -> None:
    text = "camera.a = rtsp://192.0.2.1/s\ncamera.b = rtsp://u:secret@192.0.2.2/s\ncamera.c = /dev/video0\n"
    blanked = blank_secrets(text)
    assert "secret" not in blanked and "camera.a = rtsp://192.0.2.1/s" in blanked and "camera.b =\n" in blanked
    assert parse_conf(blanked).cameras == {"a": {"source": "rtsp", "url": "rtsp://192.0.2.1/s"},
                                           "c": {"source": "v4l2", "device": "/dev/video0"}}


def test_listed_cameras_paste_into_camapp_conf_as_the_same_sections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m camapp.firstboot cameras` prints camera. lines; camapp.conf reads them back as found."""
    from camapp.camprobe import probe
    from camapp.firstboot import list_cameras

    answers = {**pi4_csi_and_usb(tmp_path)}
    found = probe(tmp_path, asked(answers))
    assert list_cameras(found) == 0
    lines = capsys.readouterr().out
    assert "# USB camera 'USB Camera: USB Camera'" in lines and "camera.csi = csi" in lines
    assert parse_conf(lines).cameras == {c.name: c.section for c in found}
    assert list_cameras([]) == 1 and "no camera found" in capsys.readouterr().err
