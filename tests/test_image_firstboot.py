"""camapp.bootconf and camapp.firstboot: parsing camapp.conf, the NetworkManager keyfile, blanking secrets, and
a whole first-boot run against a temporary root (real camapp CLI for the password, real config validation)."""

from __future__ import annotations

import configparser
import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from camapp.bootconf import blank_secrets, nm_keyfile, parse_conf
from camapp.errors import ConfigError
from camapp.firstboot import Target, apply
from camapp.web.auth import UserStore

GOOD = """\ufeff# a comment
hostname = frontdoor
wifi_ssid = "My Network"
wifi_password = s3cret-pass
wifi_country = GB
timezone = Europe/London
admin_password = very-secret-1
mqtt_host = 192.168.1.10
mqtt_password = broker-pw
ssh = yes
ssh_authorized_key = ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ me@laptop
"""


def test_parses_a_full_file() -> None:
    conf = parse_conf(GOOD.replace("\n", "\r\n"))
    assert (conf.hostname, conf.wifi_ssid, conf.wifi_password, conf.wifi_country) == (
        "frontdoor", "My Network", "s3cret-pass", "GB")
    assert conf.ssh is True and conf.admin_user == "admin" and conf.mqtt_port is None


def test_empty_file_changes_nothing() -> None:
    conf = parse_conf("# nothing\n\n")
    assert conf.hostname is None and conf.admin_password is None and conf.ssh is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hostname = Front_Door", "camapp.conf:1: hostname: use 1-63 lower-case"),
        ("hostname = -x", "hostname: use 1-63"),
        ("wifi_ssid = n\nwifi_password = short", "camapp.conf:2: wifi_password: a Wi-Fi password has 8-63"),
        ("wifi_ssid = " + "x" * 33, "wifi_ssid: a Wi-Fi network name has 1-32 bytes"),
        ("wifi_ssid = n\nwifi_country = gb", "wifi_country: use the two-letter"),
        ("admin_password = 1234567", "admin_password: use at least 8 characters"),
        ("mqtt_host = broker\nmqtt_port = 70000", "camapp.conf:2: mqtt_port: a port is a number from 1 to 65535"),
        ("ssh = maybe", "ssh: use yes or no"),
        ("ssh = yes", "ssh_authorized_key: ssh = yes needs a public key"),
        ("ssh_authorized_key = hello", "ssh_authorized_key: paste one public key line"),
        ("wifi_password = longenough", "wifi_ssid: set the Wi-Fi network name too"),
        ("mqtt_port = 1883", "mqtt_host: set the broker address too"),
        ("colour = blue", "camapp.conf:1: unknown setting 'colour'"),
        ("hostname frontdoor", "camapp.conf:1: expected 'key = value'"),
        ("hostname = a\nhostname = b", "camapp.conf:2: hostname: already set on line 1"),
        ("timezone = ../../etc/passwd", "timezone: use a zone name"),
    ],
)
def test_bad_values_are_named_with_their_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_conf(text)
    assert message in str(err.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        parse_conf("hostname = BAD!\nssh = perhaps\nadmin_password = x\n")
    assert [ln.split(":")[1] for ln in str(err.value).splitlines()] == ["1", "2", "3"]


def test_keyfile_is_valid_networkmanager_ini() -> None:
    conf = parse_conf("wifi_ssid = My Net\\work \nwifi_password = pass word 1\nwifi_hidden = yes\n")
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(nm_keyfile(conf))
    assert ini["connection"]["type"] == "wifi" and ini["connection"]["autoconnect"] == "true"
    assert ini["wifi"]["ssid"] == "My Net\\\\work" and ini["wifi"]["hidden"] == "true"
    assert ini["wifi-security"]["key-mgmt"] == "wpa-psk" and ini["wifi-security"]["psk"] == "pass word 1"
    assert ini["ipv4"]["method"] == "auto"


def test_open_network_has_no_security_section() -> None:
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(nm_keyfile(parse_conf("wifi_ssid = cafe")))
    assert "wifi-security" not in ini and "hidden" not in ini["wifi"]


def test_blank_secrets_keeps_everything_else() -> None:
    blanked = blank_secrets(GOOD)
    for secret in ("s3cret-pass", "very-secret-1", "broker-pw"):
        assert secret not in blanked
    assert "admin_password =\n" in blanked and "hostname = frontdoor" in blanked and "# a comment" in blanked
    # The blanked file still parses, and then sets no passwords.
    conf = parse_conf(blanked)
    assert conf.admin_password is None and conf.wifi_password is None and conf.hostname == "frontdoor"


@pytest.fixture
def system(tmp_path: Path) -> tuple[Path, Path]:
    """A fake root with camapp's config (data in the temp dir) and a boot partition directory."""
    root, boot = tmp_path / "root", tmp_path / "boot"
    (root / "etc/camapp").mkdir(parents=True)
    (root / "usr/share/zoneinfo/Europe").mkdir(parents=True)
    (root / "usr/share/zoneinfo/Europe/London").write_bytes(b"TZif")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n127.0.1.1\tcamapp\n")
    cfg = yaml.safe_load((ROOT / "image/rootfs/etc/camapp/config.yaml").read_text())
    cfg["storage"]["path"] = str(tmp_path / "data")
    (root / "etc/camapp/config.yaml").write_text(yaml.safe_dump(cfg))
    boot.mkdir()
    return root, boot


def test_first_boot_applies_and_retires_the_file(system: tuple[Path, Path], tmp_path: Path) -> None:
    root, boot = system
    (boot / "camapp.conf").write_text(GOOD)
    assert apply(boot, Target(root)) == 0
    assert (root / "etc/hostname").read_text() == "frontdoor\n"
    assert "127.0.1.1\tfrontdoor" in (root / "etc/hosts").read_text()
    keyfile = root / "etc/NetworkManager/system-connections/camapp-wifi.nmconnection"
    assert keyfile.stat().st_mode & 0o777 == 0o600 and "psk=s3cret-pass" in keyfile.read_text()
    assert "ieee80211_regdom=GB" in (root / "etc/modprobe.d/camapp-wifi-country.conf").read_text()
    assert (root / "etc/localtime").readlink() == Path("/usr/share/zoneinfo/Europe/London")
    cfg = yaml.safe_load((root / "etc/camapp/config.yaml").read_text())
    assert cfg["device_id"] == "frontdoor"
    assert cfg["mqtt"] == {"host": "192.168.1.10", "port": 1883, "password": "broker-pw"}
    assert UserStore(tmp_path / "data").authenticate("admin", "very-secret-1")["role"] == "admin"  # type: ignore[index]
    assert "very-secret-1" not in json.dumps(json.loads((tmp_path / "data/users.json").read_text()))
    assert (root / "etc/systemd/system/multi-user.target.wants/ssh.service").is_symlink()
    assert "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ me@laptop" in (root / "root/.ssh/authorized_keys").read_text()
    assert not (boot / "camapp.conf").exists()
    applied = (boot / "camapp.conf.applied").read_text()
    assert "very-secret-1" not in applied and "s3cret-pass" not in applied and "hostname = frontdoor" in applied


def test_invalid_file_applies_nothing_and_says_why(system: tuple[Path, Path]) -> None:
    root, boot = system
    (boot / "camapp.conf").write_text("hostname = ok-name\nadmin_password = short\n")
    assert apply(boot, Target(root)) == 1
    assert not (root / "etc/hostname").exists()
    failed = (boot / "camapp.conf.failed").read_text()
    assert "NOT applied" in failed and "camapp.conf:2: admin_password: use at least 8" in failed
    assert not (boot / "camapp.conf").exists()


def test_unknown_timezone_is_refused(system: tuple[Path, Path]) -> None:
    root, boot = system
    (boot / "camapp.conf").write_text("hostname = cam3\ntimezone = Mars/Olympus\n")
    assert apply(boot, Target(root)) == 1
    assert not (root / "etc/hostname").exists()  # checked before anything changed
    assert "unknown zone 'Mars/Olympus'" in (boot / "camapp.conf.failed").read_text()


def test_camapp_yaml_replaces_the_config_and_is_removed(system: tuple[Path, Path], demo_video: Path) -> None:
    root, boot = system
    (boot / "camapp.yaml").write_text(f"camera: {{source: file, path: {demo_video}}}\nmqtt: {{password: x}}\n")
    (boot / "camapp.conf").write_text("hostname = cam2\n")
    assert apply(boot, Target(root)) == 0
    cfg = yaml.safe_load((root / "etc/camapp/config.yaml").read_text())
    assert cfg["camera"]["path"] == str(demo_video) and cfg["device_id"] == "cam2"
    assert not (boot / "camapp.yaml").exists()


def test_bad_camapp_yaml_is_kept_aside(system: tuple[Path, Path]) -> None:
    root, boot = system
    before = (root / "etc/camapp/config.yaml").read_text()
    (boot / "camapp.yaml").write_text("camera: {fps: -1}\n")
    assert apply(boot, Target(root)) == 1
    assert (root / "etc/camapp/config.yaml").read_text() == before
    assert (boot / "camapp.yaml.failed").exists()


def test_cli_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from camapp.firstboot import main

    good, bad = tmp_path / "good.conf", tmp_path / "bad.conf"
    shutil.copy(ROOT / "image/camapp.conf.example", good)
    bad.write_text("ssh = perhaps\n")
    assert main(["check", str(good)]) == 0
    assert main(["check", str(bad)]) == 1
    assert "ssh: use yes or no" in capsys.readouterr().err


def test_setup_code_from_camapp_conf_unlocks_setup_and_is_blanked(system: tuple[Path, Path], tmp_path: Path) -> None:
    """A headless first boot: the user chose the code on the card, so nobody else can claim the camera."""
    from camapp.web import setupcode

    root, boot = system
    (boot / "camapp.conf").write_text("hostname = porch\nsetup_code = Blue Heron 4711\n")
    assert apply(boot, Target(root)) == 0
    data = tmp_path / "data"
    assert setupcode.check(data, "blue-heron-4711") and not setupcode.check(data, "BLUEHERON4712")
    assert (data / setupcode.CODE_FILE).stat().st_mode & 0o777 == 0o600
    assert "Heron" not in (data / setupcode.CODE_FILE).read_text()
    assert setupcode.prepare(data) is None  # a chosen code survives restarts and is not replaced
    applied = (boot / "camapp.conf.applied").read_text()
    assert "setup_code =\n" in applied and "Heron" not in applied
