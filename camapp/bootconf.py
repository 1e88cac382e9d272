"""camapp.conf, the small `key = value` file a user puts on the SD card's boot partition: parsing with errors that
name the line, blanking its secrets, and the NetworkManager keyfile for its Wi-Fi settings. Applied by
camapp.firstboot; see image/camapp.conf.example and docs/image.md.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import NotRequired, TypedDict

from camapp.config.cameras import CAMERA_NAME, NAME_RULE, RESERVED
from camapp.errors import ConfigError
from camapp.types import JsonObject

SECRET_KEYS = frozenset({"wifi_password", "admin_password", "mqtt_password", "setup_code"})
HOSTNAME_RE = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
TIMEZONE_RE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+){0,2}$")
USER_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
SSH_KEY_RE = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$")
TRUE, FALSE = {"1", "yes", "true", "on"}, {"0", "no", "false", "off"}
CAMERA_KEY = "camera."  # camera.<name> = <source>: one line per camera
URL_RE = re.compile(r"^(rtsps?|https?)://\S+$")
PASSWORD_IN_URL = re.compile(r"^[a-z]+://[^/@\s]*:[^/@\s]*@")
Setting = str | int | bool  # a checked value of a camapp.conf line other than camera.<name>


class CameraSection(TypedDict):
    """The camera section a `camera.<name>` line (or a camera first boot found) stands for: its source and the one
    key that says which camera of that source."""

    source: str
    url: NotRequired[str]  # rtsp
    device: NotRequired[str]  # v4l2
    path: NotRequired[str]  # file
    sensor_id: NotRequired[int]  # jetson_csi


def section_json(section: CameraSection) -> JsonObject:
    """The section as it is written into camapp's config (the same keys, in the same order)."""
    out: JsonObject = {}
    for key, value in section.items():
        assert isinstance(value, str | int)  # every field of CameraSection is one
        out[key] = value
    return out


@dataclass
class FirstbootConf:
    """The settings of camapp.conf; None means 'not given, keep the image default'."""

    hostname: str | None = None
    wifi_ssid: str | None = None
    wifi_password: str | None = None
    wifi_hidden: bool = False
    wifi_country: str | None = None
    timezone: str | None = None
    admin_user: str = "admin"
    admin_password: str | None = None
    setup_code: str | None = None  # the one-time code /setup asks for, when admin_password is not given
    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    mqtt_tls: bool = False
    ssh: bool | None = None
    ssh_authorized_key: str | None = None
    find_cameras: bool | None = None  # None: on the first boot only
    cameras: dict[str, CameraSection] = field(default_factory=dict)  # name -> camera section, from camera.<name>


KEYS = tuple(f.name for f in fields(FirstbootConf) if f.name != "cameras")


def camera_section(value: str) -> CameraSection:
    """The camera section a `camera.<name> = ...` value stands for."""
    if value in ("csi", "picamera2"):
        return {"source": "picamera2"}
    jetson = re.fullmatch(r"jetson_csi:?([0-7])", value)
    if jetson:
        return {"source": "jetson_csi", "sensor_id": int(jetson.group(1))}
    if URL_RE.match(value):
        return {"source": "rtsp", "url": value}
    if re.fullmatch(r"/dev/video\d+|/dev/v4l/[\w./:+-]+", value):
        return {"source": "v4l2", "device": value}
    if value.startswith("/") and not value.startswith("/dev/"):
        return {"source": "file", "path": value}
    raise ValueError("use a V4L2 device (/dev/video0 or /dev/v4l/by-id/...), an rtsp:// or http(s):// URL, csi "
                     "(the Raspberry Pi camera), jetson_csi:N, or a video file's path")


def conf_value(section: CameraSection) -> str:
    """The `camera.<name> = ...` value of a camera section (camera_section's inverse)."""
    source = section["source"]
    if source == "picamera2":
        return "csi"
    if source == "jetson_csi":
        return f"jetson_csi:{section.get('sensor_id', 0)}"
    if source == "rtsp":
        return section["url"]
    if source == "v4l2":
        return section["device"]
    if source == "file":
        return section["path"]
    raise KeyError(source)


def _camera(key: str, value: str) -> tuple[str, CameraSection]:
    name = key.removeprefix(CAMERA_KEY)
    if not re.match(CAMERA_NAME, name):
        raise ValueError(f"{key}: {NAME_RULE}")
    if name in RESERVED:
        raise ValueError(f"{key}: '{name}' is reserved (an appliance-wide MQTT topic level or page); choose another")
    try:
        return name, camera_section(value)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None


def _bool(value: str) -> bool:
    low = value.lower()
    if low in TRUE | FALSE:
        return low in TRUE
    raise ValueError("use yes or no")


def _check_psk(value: str) -> str:
    """WPA2 passphrase rules: 8-63 printable ASCII characters, or exactly 64 hex digits."""
    if re.fullmatch(r"[0-9A-Fa-f]{64}", value) or (8 <= len(value) <= 63 and value.isascii() and value.isprintable()):
        return value
    raise ValueError("a Wi-Fi password has 8-63 printable ASCII characters (or is 64 hex digits)")


def _pattern(regex: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(what)
        return value

    return check


def _port(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ValueError("a port is a number from 1 to 65535")
    return int(value)


def _ssid(value: str) -> str:
    if not 1 <= len(value.encode()) <= 32:
        raise ValueError("a Wi-Fi network name has 1-32 bytes")
    return value


def _password(value: str) -> str:
    if not 8 <= len(value) <= 1024:
        raise ValueError("use at least 8 characters")
    return value


CHECKS: dict[str, Callable[[str], Setting]] = {
    "hostname": _pattern(HOSTNAME_RE, "use 1-63 lower-case letters, digits and '-' (not at either end)"),
    "wifi_ssid": _ssid,
    "wifi_password": _check_psk,
    "wifi_hidden": _bool,
    "wifi_country": _pattern(COUNTRY_RE, "use the two-letter ISO 3166 country code in capitals, e.g. GB or DE"),
    "timezone": _pattern(TIMEZONE_RE, "use a zone name such as Europe/London or UTC"),
    "admin_user": _pattern(USER_RE, "use 1-32 letters, digits, '.', '_' or '-'"),
    "admin_password": _password,
    "setup_code": _pattern(re.compile(r"^[A-Za-z0-9 -]{8,64}$"), "use 8-64 letters, digits, spaces or '-'"),
    "mqtt_host": _pattern(re.compile(r"^[A-Za-z0-9.:\[\]-]{1,253}$"), "use a host name or IP address"),
    "mqtt_port": _port,
    "mqtt_username": str,
    "mqtt_password": str,
    "mqtt_tls": _bool,
    "ssh": _bool,
    "ssh_authorized_key": _pattern(SSH_KEY_RE, "paste one public key line, e.g. 'ssh-ed25519 AAAA... me@laptop'"),
    "find_cameras": _bool,
}


def _split(line: str) -> tuple[str, str] | None:
    """`key = value` with optional matching quotes around the value; None for blank and comment lines."""
    stripped = line.strip()
    if not stripped or stripped.startswith(("#", ";")):
        return None
    if "=" not in stripped:
        raise ValueError("expected 'key = value'")
    key, value = (part.strip() for part in stripped.split("=", 1))
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return key.lower(), value


def _parse_line(line: str, seen: dict[str, int], n: int) -> tuple[str, Setting | tuple[str, CameraSection]] | None:
    """(key, checked value) for a setting line, None for blank, comment and empty-value lines."""
    item = _split(line)
    if item is None:
        return None
    key, value = item
    if key not in CHECKS and not key.startswith(CAMERA_KEY):
        raise ValueError(f"unknown setting {key!r} (known: {', '.join(KEYS)}, camera.<name>)")
    if key in seen:
        raise ValueError(f"{key}: already set on line {seen[key]}")
    seen[key] = n
    if value == "":  # an empty value (e.g. a blanked secret) means 'not given'
        return None
    if key.startswith(CAMERA_KEY):
        return key, _camera(key, value)
    try:
        return key, CHECKS[key](value)
    except ValueError as err:
        raise ValueError(f"{key}: {err}") from None


def parse_conf(text: str, source: str = "camapp.conf") -> FirstbootConf:
    """Parse camapp.conf; raise ConfigError naming every bad line (`source:LINE: key: problem`)."""
    conf = FirstbootConf()
    seen: dict[str, int] = {}
    devices: dict[str, str] = {}  # V4L2 device -> the camera.<name> line that has it
    problems: list[str] = []
    for n, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        try:
            item = _parse_line(line, seen, n)
            if item is not None and isinstance(item[1], tuple):
                _one_camera_per_device(item[1], devices, f"{item[0]} (line {n})")
        except ValueError as err:
            problems.append(f"{source}:{n}: {err}")
            continue
        if item is None:
            continue
        key, value = item
        if isinstance(value, tuple):
            conf.cameras[value[0]] = value[1]
        else:
            setattr(conf, key, value)  # CHECKS[key] returned the field's type
    problems += [f"{source}: {p}" for p in _cross_checks(conf)]
    if problems:
        raise ConfigError("\n".join(problems))
    return conf


def _one_camera_per_device(camera: tuple[str, CameraSection], devices: dict[str, str], where: str) -> None:
    """The config refuses two cameras on one device; say so here, naming both lines."""
    name, section = camera
    device = {"v4l2": section.get("device"), "picamera2": "the Raspberry Pi camera",
              "jetson_csi": f"Jetson CSI sensor {section.get('sensor_id')}"}.get(section["source"])
    if device is None:
        return
    if device in devices:
        raise ValueError(f"{CAMERA_KEY}{name}: {device} is already {devices[device]}; one device can be opened by one "
                         "camera")
    devices[device] = where


def _cross_checks(conf: FirstbootConf) -> list[str]:
    out = []
    if (conf.wifi_password or conf.wifi_country or conf.wifi_hidden) and not conf.wifi_ssid:
        out.append("wifi_ssid: set the Wi-Fi network name too (or remove the other wifi_ settings)")
    if conf.ssh and not conf.ssh_authorized_key:
        out.append("ssh_authorized_key: ssh = yes needs a public key (password logins over SSH are off)")
    if (conf.mqtt_port or conf.mqtt_username or conf.mqtt_password or conf.mqtt_tls) and not conf.mqtt_host:
        out.append("mqtt_host: set the broker address too (or remove the other mqtt_ settings)")
    return out


def blank_secrets(text: str) -> str:
    """The same file with the values of the secret keys removed (comments and other lines kept as they were)."""
    out = []
    for line in text.lstrip("\ufeff").splitlines():
        try:
            item = _split(line)
        except ValueError:
            item = None
        secret = item is not None and (item[0] in SECRET_KEYS or (
            item[0].startswith(CAMERA_KEY) and PASSWORD_IN_URL.match(item[1]) is not None))  # rtsp://user:pw@
        if item and secret and item[1]:
            line = f"{line.split('=', 1)[0].rstrip()} ="
        out.append(line)
    return "\n".join(out) + "\n"


def nm_keyfile(conf: FirstbootConf) -> str:
    """A NetworkManager keyfile for the Wi-Fi network (an open network without a password)."""
    assert conf.wifi_ssid is not None
    conn_id = uuid.uuid5(uuid.NAMESPACE_DNS, f"camapp-wifi-{conf.wifi_ssid}")
    lines = [
        "[connection]", "id=camapp-wifi", f"uuid={conn_id}", "type=wifi", "autoconnect=true", "",
        "[wifi]", "mode=infrastructure", f"ssid={_keyfile_escape(conf.wifi_ssid)}",
    ]
    if conf.wifi_hidden:
        lines.append("hidden=true")
    if conf.wifi_password:
        lines += ["", "[wifi-security]", "key-mgmt=wpa-psk", f"psk={_keyfile_escape(conf.wifi_password)}"]
    lines += ["", "[ipv4]", "method=auto", "", "[ipv6]", "addr-gen-mode=default", "method=auto", ""]
    return "\n".join(lines)


def _keyfile_escape(value: str) -> str:
    """GKeyFile string escaping: backslash, leading/trailing spaces and control characters."""
    out = value.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")
    if out.startswith(" "):
        out = "\\s" + out[1:]
    if out.endswith(" "):
        out = out[:-1] + "\\s"
    return out
