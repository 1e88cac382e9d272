"""Which cameras this device has, for first boot (camapp.firstboot): each V4L2 capture device once (by its stable
/dev/v4l/by-id name when it has one, so a camera keeps its config when another is plugged in), and the CSI cameras
(a Raspberry Pi's through libcamera/picamera2, a Jetson's through nvarguscamerasrc).

It reads sysfs (/sys/class/video4linux) and asks each /dev/video node for its capabilities (VIDIOC_QUERYCAP): a
USB camera also has a metadata node, and a Pi has codec and ISP nodes that are not cameras at all.
"""

from __future__ import annotations

import fcntl
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from camapp.bootconf import CameraSection
from camapp.config.cameras import RESERVED

VIDIOC_QUERYCAP = 0x80685600  # _IOR('V', 0, struct v4l2_capability), 104 bytes
CAP_VIDEO_CAPTURE, CAP_VIDEO_CAPTURE_MPLANE = 0x1, 0x1000
CAP_VIDEO_M2M_MPLANE, CAP_VIDEO_M2M, CAP_DEVICE_CAPS = 0x4000, 0x8000, 0x80000000
# The Pi's CSI receivers (unicam: Pi 4 and older; rp1-cfe: Pi 5) deliver raw sensor data that only libcamera turns
# into pictures: such a node means "a CSI camera is connected", to be opened through picamera2, not V4L2.
PI_CSI_DRIVERS = frozenset({"unicam", "rp1-cfe"})
# Capture nodes that are not cameras: the Pi's ISPs (their outputs are capture queues fed from memory), codecs.
NOT_CAMERAS = frozenset({"bcm2835-isp", "bcm2835-codec", "pispbe", "rpivid", "rpi-hevc-dec"})
JETSON_CSI_CARD = "vi-output"  # a Jetson's CSI sensor nodes: "vi-output, imx219 9-0010"


@dataclass(frozen=True)
class Caps:
    """What VIDIOC_QUERYCAP says about one /dev/video node."""

    driver: str
    card: str
    bus_info: str
    device_caps: int

    @property
    def captures(self) -> bool:
        """A node that delivers pictures (not a metadata, codec or ISP node)."""
        video = self.device_caps & (CAP_VIDEO_CAPTURE | CAP_VIDEO_CAPTURE_MPLANE)
        return bool(video) and not self.device_caps & (CAP_VIDEO_M2M | CAP_VIDEO_M2M_MPLANE)


Query = Callable[[Path], Caps | None]


def querycap(node: Path) -> Caps | None:
    """The node's capabilities, None when it cannot be asked (not a V4L2 device, busy, no permission)."""
    try:
        fd = os.open(node, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        buf = bytearray(104)
        fcntl.ioctl(fd, VIDIOC_QUERYCAP, buf)
    except OSError:
        return None
    finally:
        os.close(fd)

    def text(start: int, end: int) -> str:
        return bytes(buf[start:end]).split(b"\0", 1)[0].decode(errors="replace")

    _version, caps, device_caps = struct.unpack_from("=III", buf, 80)
    return Caps(text(0, 16), text(16, 48), text(48, 80), device_caps if caps & CAP_DEVICE_CAPS else caps)


@dataclass(frozen=True)
class FoundCamera:
    """A camera first boot can configure: its name and the keys of its camera section."""

    name: str
    section: CameraSection = field(hash=False)
    what: str  # for the log: "USB camera 'HD Pro Webcam C920' at /dev/v4l/by-id/..."


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _number(node: Path) -> int:
    digits = node.name.removeprefix("video")
    return int(digits) if digits.isdigit() else 1 << 30


def _sysfs_caps(node: Path) -> Caps:
    """What sysfs alone tells when the node cannot be asked: its driver and name; the first node of a USB video
    device (index 0) is its picture node, later ones are metadata."""
    driver = os.path.basename(os.path.realpath(node / "device" / "driver")) if (node / "device/driver").exists() else ""
    captures = driver == "uvcvideo" and _read(node / "index") in ("", "0")
    return Caps(driver, _read(node / "name"), "", CAP_VIDEO_CAPTURE if captures else 0)


def stable_path(root: Path, node: str) -> str:
    """The /dev/v4l/by-id (else by-path) link naming /dev/<node>, else /dev/<node>: videoN numbers follow the order
    the cameras were found in at boot, and change when one is unplugged."""
    target = os.path.realpath(root / "dev" / node)
    for kind in ("by-id", "by-path"):
        links = sorted((root / "dev/v4l" / kind).glob("*")) if (root / "dev/v4l" / kind).is_dir() else []
        for link in sorted(links, key=lambda p: (not p.name.endswith("index0"), p.name)):
            if os.path.realpath(link) == target:
                return f"/dev/v4l/{kind}/{link.name}"
    return f"/dev/{node}"


def camera_name(card: str, taken: set[str], fallback: str) -> str:
    """A camera name (a-z, 0-9, -; unique, not reserved) made from the camera's own name."""
    base = re.sub(r"[^a-z0-9]+", "-", card.lower().split(":")[0]).strip("-")[:24].strip("-") or fallback
    if base in RESERVED:
        base = f"{base}-cam"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def probe(root: Path = Path("/"), query: Query = querycap) -> list[FoundCamera]:
    """Every camera of the system under `root`, USB cameras in /dev/video order first, then the CSI cameras."""
    sysfs = root / "sys/class/video4linux"
    nodes = sorted(sysfs.glob("video*"), key=_number) if sysfs.is_dir() else []
    taken: set[str] = set()
    found: list[FoundCamera] = []
    devices: set[str] = set()  # physical devices already offered (a camera with two picture nodes is one camera)
    pi_csi, jetson = False, 0
    for node in nodes:
        dev = root / "dev" / node.name
        if not dev.exists():
            continue
        caps = query(dev) or _sysfs_caps(node)
        if caps.driver in PI_CSI_DRIVERS:
            pi_csi = True
            continue
        if caps.card.startswith(JETSON_CSI_CARD):
            name = camera_name(f"csi{jetson}", taken, f"csi{jetson}")
            found.append(FoundCamera(name, {"source": "jetson_csi", "sensor_id": jetson},
                                     f"Jetson CSI camera {jetson} ({caps.card})"))
            jetson += 1
            continue
        if not caps.captures or caps.driver in NOT_CAMERAS:
            continue
        physical = caps.bus_info or os.path.realpath(node / "device")
        if physical in devices:
            continue
        devices.add(physical)
        path = stable_path(root, node.name)  # one per node, nodes of one device skipped: never a device twice
        name = camera_name(caps.card, taken, f"usb{len(found)}")
        found.append(FoundCamera(name, {"source": "v4l2", "device": path},
                                 f"USB camera {caps.card or node.name!r} at {path}"))
    if pi_csi:  # picamera2's section names no camera number: one CSI camera can be configured
        found.append(FoundCamera(camera_name("csi", taken, "csi"), {"source": "picamera2"},
                                 "Raspberry Pi CSI camera (libcamera)"))
    return found
