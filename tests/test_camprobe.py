"""camapp.camprobe: the cameras first boot finds, on fake sysfs + /dev trees laid out as the kernel does (a USB
camera's picture and metadata nodes, a Pi's CSI receiver, codec and ISP nodes, a Jetson's CSI sensors) with the
VIDIOC_QUERYCAP answers those drivers give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from camapp.camprobe import (
    CAP_DEVICE_CAPS,
    CAP_VIDEO_CAPTURE,
    CAP_VIDEO_CAPTURE_MPLANE,
    CAP_VIDEO_M2M_MPLANE,
    Caps,
    probe,
    querycap,
)

META = 0x00800000  # V4L2_CAP_META_CAPTURE: a UVC camera's second node


def node(root: Path, n: int, card: str, driver: str, device: str, index: int = 0, by_id: str | None = None) -> None:
    """/sys/class/video4linux/video<n> (name, index, device -> its driver) and /dev/video<n>, with a by-id link."""
    sys_node = root / f"sys/class/video4linux/video{n}"
    sys_node.mkdir(parents=True)
    (sys_node / "name").write_text(card + "\n")
    (sys_node / "index").write_text(f"{index}\n")
    dev = root / "sys/devices" / device
    dev.mkdir(parents=True, exist_ok=True)
    drv = root / "sys/bus/drivers" / driver
    drv.mkdir(parents=True, exist_ok=True)
    if not (dev / "driver").exists():
        (dev / "driver").symlink_to(drv)
    (sys_node / "device").symlink_to(dev)
    (root / "dev").mkdir(exist_ok=True)
    (root / f"dev/video{n}").write_text("")
    if by_id is not None:
        (root / "dev/v4l/by-id").mkdir(parents=True, exist_ok=True)
        (root / "dev/v4l/by-id" / by_id).symlink_to(f"../../video{n}")


UVC_CAP, UVC_META = CAP_VIDEO_CAPTURE, META
M2M = CAP_VIDEO_M2M_MPLANE


def two_webcams(root: Path) -> dict[str, Caps]:
    node(root, 0, "HD Pro Webcam C920", "uvcvideo", "usb1/1-1/1-1:1.0", 0, "usb-046d_C920_A1-video-index0")
    node(root, 1, "HD Pro Webcam C920", "uvcvideo", "usb1/1-1/1-1:1.0", 1, "usb-046d_C920_A1-video-index1")
    node(root, 2, "HD Pro Webcam C920", "uvcvideo", "usb1/1-2/1-2:1.0", 0, "usb-046d_C920_B2-video-index0")
    node(root, 3, "HD Pro Webcam C920", "uvcvideo", "usb1/1-2/1-2:1.0", 1, "usb-046d_C920_B2-video-index1")
    return {"video0": Caps("uvcvideo", "HD Pro Webcam C920", "usb-0000:01:00.0-1", UVC_CAP),
            "video1": Caps("uvcvideo", "HD Pro Webcam C920", "usb-0000:01:00.0-1", UVC_META),
            "video2": Caps("uvcvideo", "HD Pro Webcam C920", "usb-0000:01:00.0-2", UVC_CAP),
            "video3": Caps("uvcvideo", "HD Pro Webcam C920", "usb-0000:01:00.0-2", UVC_META)}


def pi4_csi_and_usb(root: Path) -> dict[str, Caps]:
    node(root, 0, "unicam-image", "unicam", "platform/fe801000.csi")
    node(root, 1, "unicam-embedded", "unicam", "platform/fe801000.csi", 1)
    for n, card in ((10, "bcm2835-codec-decode"), (11, "bcm2835-codec-encode"), (13, "bcm2835-isp")):
        node(root, n, card, "bcm2835-codec" if n < 13 else "bcm2835-isp", f"platform/soc:codec{n}")
    node(root, 17, "USB Camera: USB Camera", "uvcvideo", "usb1/1-1.3/1-1.3:1.0", 0,
         "usb-Generic_USB_Camera-video-index0")
    return {"video0": Caps("unicam", "unicam", "platform:fe801000.csi", CAP_VIDEO_CAPTURE),
            "video1": Caps("unicam", "unicam", "platform:fe801000.csi", META),
            "video10": Caps("bcm2835-codec", "bcm2835-codec-decode", "platform:bcm2835-codec", M2M),
            "video11": Caps("bcm2835-codec", "bcm2835-codec-encode", "platform:bcm2835-codec", M2M),
            # the ISP's output nodes say VIDEO_CAPTURE: they are filled from memory, not by a sensor
            "video13": Caps("bcm2835-isp", "bcm2835-isp", "platform:bcm2835-isp", CAP_VIDEO_CAPTURE),
            "video17": Caps("uvcvideo", "USB Camera: USB Camera", "usb-0000:01:00.0-1.3", UVC_CAP)}


def pi5_csi(root: Path) -> dict[str, Caps]:
    answers = {}
    for n in range(4):
        node(root, n, "rp1-cfe", "rp1-cfe", "platform/1f00128000.csi", n)
        answers[f"video{n}"] = Caps("rp1-cfe", "rp1-cfe", "platform:1f00128000.csi", CAP_VIDEO_CAPTURE | META)
    node(root, 20, "pispbe", "pispbe", "platform/1000880000.pisp_be")
    answers["video20"] = Caps("pispbe", "PiSP BackEnd", "platform:1000880000.pisp_be", CAP_VIDEO_CAPTURE_MPLANE)
    return answers  # the back end's outputs are capture queues fed from memory: not a camera


def jetson_two_csi(root: Path) -> dict[str, Caps]:
    node(root, 0, "vi-output, imx219 9-0010", "tegra-camrtc-capture-vi", "platform/tegra-capture-vi")
    node(root, 1, "vi-output, imx219 10-0010", "tegra-camrtc-capture-vi", "platform/tegra-capture-vi", 1)
    return {"video0": Caps("tegra-video", "vi-output, imx219 9-0010", "platform:tegra-capture-vi:2", CAP_VIDEO_CAPTURE),
            "video1": Caps("tegra-video", "vi-output, imx219 10-0010", "platform:tegra-capture-vi:4",
                           CAP_VIDEO_CAPTURE)}


def asked(answers: dict[str, Caps]) -> Any:
    return lambda dev: answers.get(dev.name)


@pytest.mark.parametrize(("layout", "expected"), [
    (two_webcams, [("hd-pro-webcam-c920", {"source": "v4l2", "device": "/dev/v4l/by-id/usb-046d_C920_A1-video-index0"}),
                   ("hd-pro-webcam-c920-2",
                    {"source": "v4l2", "device": "/dev/v4l/by-id/usb-046d_C920_B2-video-index0"})]),
    (pi4_csi_and_usb, [("usb-camera",
                         {"source": "v4l2", "device": "/dev/v4l/by-id/usb-Generic_USB_Camera-video-index0"}),
                        ("csi", {"source": "picamera2"})]),
    (pi5_csi, [("csi", {"source": "picamera2"})]),
    (jetson_two_csi, [("csi0", {"source": "jetson_csi", "sensor_id": 0}),
                      ("csi1", {"source": "jetson_csi", "sensor_id": 1})]),
])
def test_every_camera_once_and_nothing_that_is_not_one(
    tmp_path: Path, layout: Any, expected: list[tuple[str, dict[str, Any]]]
) -> None:
    answers = layout(tmp_path)
    assert [(c.name, c.section) for c in probe(tmp_path, asked(answers))] == expected


def test_without_answers_sysfs_decides(tmp_path: Path) -> None:
    """Nodes that cannot be asked (busy, no permission): a UVC device's first node is its picture node."""
    two_webcams(tmp_path)
    found = probe(tmp_path, lambda _dev: None)
    assert [c.section["device"] for c in found] == ["/dev/v4l/by-id/usb-046d_C920_A1-video-index0",
                                                    "/dev/v4l/by-id/usb-046d_C920_B2-video-index0"]


def test_no_by_id_link_uses_the_node_and_a_node_without_dev_is_skipped(tmp_path: Path) -> None:
    node(tmp_path, 4, "Cam", "uvcvideo", "usb1/1-4/1-4:1.0")
    node(tmp_path, 5, "Gone", "uvcvideo", "usb1/1-5/1-5:1.0")
    (tmp_path / "dev/video5").unlink()
    found = probe(tmp_path, lambda _dev: Caps("uvcvideo", "Cam", "", UVC_CAP))
    assert [(c.name, c.section["device"]) for c in found] == [("cam", "/dev/video4")]


def test_one_device_with_two_picture_nodes_is_one_camera(tmp_path: Path) -> None:
    """Never two cameras on one device (the config refuses that): nodes sharing a bus are one camera."""
    node(tmp_path, 0, "Dual", "uvcvideo", "usb1/1-1/1-1:1.0", 0)
    node(tmp_path, 1, "Dual", "uvcvideo", "usb1/1-1/1-1:1.0", 1)
    found = probe(tmp_path, lambda _dev: Caps("uvcvideo", "Dual", "usb-0000:01:00.0-1", UVC_CAP))
    assert [c.section["device"] for c in found] == ["/dev/video0"]


def test_nothing_found_on_a_system_without_video_devices(tmp_path: Path) -> None:
    assert probe(tmp_path) == []


def test_names_are_valid_camera_names_even_from_odd_cards(tmp_path: Path) -> None:
    for n, card in enumerate(["", "events", "Ünïcode Cam #1 / with a very long name indeed"]):
        node(tmp_path, n, card, "uvcvideo", f"usb1/1-{n}/1-{n}:1.0")
    found = probe(tmp_path, lambda dev: Caps("uvcvideo", (tmp_path / f"sys/class/video4linux/{dev.name}/name")
                                             .read_text().strip(), dev.name, UVC_CAP))
    assert [c.name for c in found] == ["usb0", "events-cam", "n-code-cam-1-with-a-very"]


def test_querycap_of_something_that_is_not_a_v4l2_device(tmp_path: Path) -> None:
    plain = tmp_path / "video0"
    plain.write_text("")
    assert querycap(plain) is None and querycap(tmp_path / "missing") is None


def test_a_picture_node_captures_and_is_no_codec() -> None:
    assert Caps("uvcvideo", "c", "b", META).captures is False
    assert Caps("uvcvideo", "c", "b", CAP_VIDEO_CAPTURE | CAP_DEVICE_CAPS).captures is True
    assert Caps("bcm2835-codec", "c", "b", CAP_VIDEO_CAPTURE | M2M).captures is False


def test_querycap_reads_the_kernels_struct(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """struct v4l2_capability as the kernel fills it: names NUL-padded, the node's own caps when DEVICE_CAPS is set."""
    import fcntl
    import struct

    def kernel(_fd: int, request: int, buf: bytearray) -> int:
        assert request == 0x80685600 and len(buf) == 104
        struct.pack_into("=16s32s32sIII12x", buf, 0, b"uvcvideo", b"HD Pro Webcam C920", b"usb-0000:01:00.0-1",
                         0x0006_0000, CAP_DEVICE_CAPS | CAP_VIDEO_CAPTURE | META, META)
        return 0

    plain = tmp_path / "video1"
    plain.write_text("")
    monkeypatch.setattr(fcntl, "ioctl", kernel)
    assert querycap(plain) == Caps("uvcvideo", "HD Pro Webcam C920", "usb-0000:01:00.0-1", META)
