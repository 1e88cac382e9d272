"""First boot of the SD-card image: apply camapp.conf from the boot partition, then blank its secrets.

camapp.conf is a small `key = value` file a user writes next to config.txt (see image/camapp.conf.example).
`python -m camapp.firstboot apply --boot /boot/firmware --root / --live --run-as camapp` is what
/usr/local/sbin/camapp-firstboot runs; `python -m camapp.firstboot check FILE` validates a file on any computer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from camapp.atomic import write_atomic
from camapp.bootconf import (
    CameraSection,
    FirstbootConf,
    blank_secrets,
    conf_value,
    nm_keyfile,
    parse_conf,
    section_json,
)
from camapp.camprobe import FoundCamera, Query, probe, querycap
from camapp.config import load_config, parse_config
from camapp.config.camera import CAMERA_SOURCES
from camapp.config.loader import read_config_data
from camapp.errors import ConfigError
from camapp.types import JsonObject

log = logging.getLogger("camapp.firstboot")

WIFI_KEYFILE = "etc/NetworkManager/system-connections/camapp-wifi.nmconnection"
CONFIG_FILE = "etc/camapp/config.yaml"
CAMERAS_FOUND = "var/lib/camapp-firstboot/cameras-found"  # the probe ran once: later boots keep the user's cameras

def _write(path: Path, text: str, mode: int = 0o644) -> None:
    write_atomic(path, text, mode)


def _keep_owner(path: Path, like: tuple[int, int, int] | None) -> None:
    if like is not None:
        os.chown(path, like[1], like[2])
        os.chmod(path, like[0])


@dataclass
class Target:
    """Where to apply: the root of the system (/ on the device, a temp dir in tests) and how."""

    root: Path
    live: bool = False  # also change the running system (hostname, start ssh)
    run_as: str | None = None  # the service user that owns camapp's data (None: the current user)
    query: Query = querycap  # how a /dev/video node is asked what it is

    def path(self, rel: str) -> Path:
        return self.root / rel

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE


def set_hostname(t: Target, name: str) -> None:
    _write(t.path("etc/hostname"), name + "\n")
    hosts = t.path("etc/hosts")
    old = hosts.read_text(encoding="utf-8").splitlines() if hosts.exists() else ["127.0.0.1\tlocalhost"]
    kept = [ln for ln in old if not ln.startswith("127.0.1.1")]
    _write(hosts, "\n".join([*kept[:1], f"127.0.1.1\t{name}", *kept[1:]]) + "\n")
    if t.live:
        socket.sethostname(name)


def set_wifi(t: Target, conf: FirstbootConf) -> None:
    _write(t.path(WIFI_KEYFILE), nm_keyfile(conf), mode=0o600)
    if conf.wifi_country:
        # cfg80211 reads its regulatory domain when it loads: full effect from the next boot.
        _write(t.path("etc/modprobe.d/camapp-wifi-country.conf"),
               f"options cfg80211 ieee80211_regdom={conf.wifi_country}\n")


def set_timezone(t: Target, zone: str) -> None:
    link = t.path("etc/localtime")
    link.unlink(missing_ok=True)
    link.symlink_to(f"/usr/share/zoneinfo/{zone}")
    _write(t.path("etc/timezone"), zone + "\n")


def set_ssh(t: Target, conf: FirstbootConf) -> None:
    wants = t.path("etc/systemd/system/multi-user.target.wants/ssh.service")
    if conf.ssh_authorized_key:
        ssh_dir = t.path("root/.ssh")
        ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        keys = ssh_dir / "authorized_keys"
        old = keys.read_text(encoding="utf-8") if keys.exists() else ""
        if conf.ssh_authorized_key not in old.splitlines():
            _write(keys, old + conf.ssh_authorized_key + "\n", mode=0o600)
    if conf.ssh is None:
        return
    wants.unlink(missing_ok=True)
    if conf.ssh:
        wants.parent.mkdir(parents=True, exist_ok=True)
        wants.symlink_to("/lib/systemd/system/ssh.service")
    if t.live:  # --no-block: ssh is ordered after us, waiting for it here would deadlock
        subprocess.run(["systemctl", "start" if conf.ssh else "stop", "--no-block", "ssh.service"], check=False)


def update_app_config(t: Target, conf: FirstbootConf) -> None:
    """Set device_id from the hostname and the mqtt settings in camapp's config, validating the result."""
    path = t.config
    data, _ = read_config_data(path)  # the camapp user may write this file; read it as hardened as camapp does
    if conf.hostname:
        data["device_id"] = conf.hostname
    if conf.mqtt_host:
        mqtt = dict(data.get("mqtt") or {})
        mqtt["host"] = conf.mqtt_host
        mqtt["port"] = conf.mqtt_port or (8883 if conf.mqtt_tls else 1883)
        for key, value in (("username", conf.mqtt_username), ("password", conf.mqtt_password)):
            if value:
                mqtt[key] = value
        if conf.mqtt_tls:
            mqtt.setdefault("tls", {})
        data["mqtt"] = mqtt
    parse_config(data, source=str(path))
    st = path.stat()
    header = f"# camapp config; device_id and mqtt set from camapp.conf on first boot ({dt.date.today()}).\n"
    _write(path, header + yaml.safe_dump(data, sort_keys=False), mode=st.st_mode & 0o777)
    _keep_owner(path, (st.st_mode & 0o777, st.st_uid, st.st_gid))


def set_admin_password(t: Target, user: str, password: str) -> None:
    """Hash the password into camapp's user store through `camapp user`, as the service user."""
    cmd = [sys.executable, "-m", "camapp.cli", "user", user, "--role", "admin", "-c", str(t.config)]
    # user= alone would keep root's groups; the service user's own group is what may read the config.
    groups: list[str] | None = [] if t.run_as else None
    proc = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, check=False,
                          user=t.run_as, group=t.run_as, extra_groups=groups)
    if proc.returncode != 0:
        raise ConfigError(f"camapp.conf: admin_password: {proc.stderr.strip() or proc.stdout.strip()}")


def set_setup_code(t: Target, code: str) -> None:
    """Store the chosen setup code (its hash) where camapp looks, through `camapp setup-code`, as the service user."""
    cmd = [sys.executable, "-m", "camapp.cli", "setup-code", "-c", str(t.config)]
    groups: list[str] | None = [] if t.run_as else None
    proc = subprocess.run(cmd, input=code + "\n", capture_output=True, text=True, check=False,
                          user=t.run_as, group=t.run_as, extra_groups=groups)
    if proc.returncode != 0:
        raise ConfigError(f"camapp.conf: setup_code: {proc.stderr.strip() or proc.stdout.strip()}")


def _replaced(data: JsonObject) -> JsonObject:
    """The camera section new cameras replace: `camera:`, else the first under `cameras:` ({} when neither is one)."""
    old = data.get("camera")
    if not old:
        many = data.get("cameras")
        old = next(iter(many.values())) if isinstance(many, dict) and many else None
    return old if isinstance(old, dict) else {}


def _entry(old: JsonObject, section: CameraSection) -> JsonObject:
    """A camera's section, with the capture size and rate of the camera it replaces where its source has them."""
    model = CAMERA_SOURCES.config_for(section["source"])
    fields = set(model.model_fields) if model is not None else set()
    return {**{k: old[k] for k in ("width", "height", "fps") if k in old and k in fields}, **section_json(section)}


def _camera_data(data: JsonObject, cameras: dict[str, CameraSection]) -> JsonObject:
    """`data` with these cameras instead of its own: one as `camera:` (as every single-camera config), several as
    `cameras:`; each keeps the capture size and rate of the camera it replaces where its source has them."""
    old = _replaced(data)
    entries: JsonObject = {name: _entry(old, section) for name, section in cameras.items()}
    first = next(iter(cameras))
    chosen: JsonObject = ({"camera": {"id": first, **_entry(old, cameras[first])}} if len(cameras) == 1
                          else {"cameras": entries})
    out: JsonObject = {}
    for key, value in data.items():
        if key in ("camera", "cameras"):
            out.update(chosen)  # where the old camera was
        else:
            out[key] = value
    if not out.keys() & {"camera", "cameras"}:
        out.update(chosen)
    return out


def camera_config(t: Target, cameras: dict[str, CameraSection]) -> JsonObject:
    """camapp's config with these cameras, validated (ConfigError naming the field): every camera is written (they
    share the one store, broker connection and pins)."""
    data, _ = read_config_data(t.config)
    full = _camera_data(data, cameras)
    parse_config(full, source=str(t.config))
    return full


def set_cameras(t: Target, cameras: dict[str, CameraSection], origin: str) -> list[str]:
    """Write the cameras into camapp's config (see camera_config); returns the names configured."""
    data = camera_config(t, cameras)
    header = f"# camapp config; cameras set on first boot from {origin} ({dt.date.today()}).\n"
    st = t.config.stat()
    _write(t.config, header + yaml.safe_dump(data, sort_keys=False), mode=st.st_mode & 0o777)
    _keep_owner(t.config, (st.st_mode & 0o777, st.st_uid, st.st_gid))
    return list(cameras)


def find_cameras(t: Target, conf: FirstbootConf, yaml_installed: bool) -> str | None:
    """On the first boot (or with find_cameras = yes): configure every camera the probe finds, unless camapp.yaml
    or camera.<name> lines chose them or find_cameras = no. Returns what was done, for the log."""
    marker = t.path(CAMERAS_FOUND)
    wanted = conf.find_cameras if conf.find_cameras is not None else not marker.exists()
    if not wanted or not t.config.is_file():
        return None
    if yaml_installed or conf.cameras:  # the user chose the cameras; later boots must not look again either
        _write(marker, "chosen in camapp.yaml or camapp.conf\n")
        return None
    found = probe(t.root, t.query)
    for camera in found:
        log.info("found %s: camera '%s'", camera.what, camera.name)
    done = None
    if found:
        names = set_cameras(t, {c.name: c.section for c in found}, "the cameras found")
        done = f"cameras {', '.join(names)} (found {len(found)})"
    else:
        log.info("no camera found; the config keeps its camera (plug one in and set it in the web UI's settings)")
    _write(marker, "\n".join(c.what for c in found) + "\n")
    return done


def install_yaml(t: Target, boot: Path) -> bool:
    """A camapp.yaml on the boot partition replaces camapp's config (validated first); then it is removed."""
    src = boot / "camapp.yaml"
    if not src.exists():
        return False
    load_config(src)
    st = t.config.stat() if t.config.exists() else None
    _write(t.config, src.read_text(encoding="utf-8"), mode=0o640)
    _keep_owner(t.config, (st.st_mode & 0o777, st.st_uid, st.st_gid) if st else None)
    src.unlink()  # it may hold secrets (mqtt.password), and the card is readable on any computer
    log.info("installed camapp.yaml from the boot partition as %s", t.config)
    return True


def check_target(t: Target, conf: FirstbootConf) -> None:
    """What can only be checked against the system, checked before anything changes."""
    if conf.timezone and not (t.path("usr/share/zoneinfo") / conf.timezone).is_file():
        raise ConfigError(f"camapp.conf: timezone: unknown zone {conf.timezone!r} (see /usr/share/zoneinfo)")
    needs_config = conf.hostname or conf.mqtt_host or conf.admin_password or conf.setup_code or conf.cameras
    if needs_config and not t.config.is_file():
        raise ConfigError(f"{t.config}: camapp's config is missing")
    if conf.cameras:
        camera_config(t, conf.cameras)  # the cameras named must make a valid config before anything changes


def apply_conf(t: Target, conf: FirstbootConf) -> list[str]:
    """Apply every given setting; returns what was done, for the log."""
    check_target(t, conf)
    done = []
    if conf.hostname:
        set_hostname(t, conf.hostname)
        done.append(f"hostname {conf.hostname}")
    if conf.wifi_ssid:
        set_wifi(t, conf)
        done.append(f"Wi-Fi {conf.wifi_ssid!r}" + (f" (country {conf.wifi_country})" if conf.wifi_country else ""))
    if conf.timezone:
        set_timezone(t, conf.timezone)
        done.append(f"timezone {conf.timezone}")
    if conf.hostname or conf.mqtt_host:
        update_app_config(t, conf)
        done.append("camapp config" + (f" (MQTT {conf.mqtt_host})" if conf.mqtt_host else ""))
    if conf.admin_password:
        set_admin_password(t, conf.admin_user, conf.admin_password)
        done.append(f"web admin {conf.admin_user}")
    if conf.setup_code and not conf.admin_password:
        set_setup_code(t, conf.setup_code)
        done.append("web setup code")
    if conf.ssh is not None or conf.ssh_authorized_key:
        set_ssh(t, conf)
        done.append(f"ssh {'on' if conf.ssh else 'off'}")
    if conf.cameras:  # after update_app_config, which rewrites the file without the comments this one may add
        done.append(f"cameras {', '.join(set_cameras(t, conf.cameras, 'camapp.conf'))}")
    return done


def retire_conf(boot: Path, text: str, errors: str | None) -> Path:
    """Blank the secrets and rename camapp.conf to .applied (or .failed, with the errors on top)."""
    src = boot / "camapp.conf"
    stamp = dt.datetime.now().isoformat(timespec="seconds")
    if errors:
        dest = boot / "camapp.conf.failed"
        head = f"# camapp.conf was NOT applied ({stamp}); fix these, rename back to camapp.conf, reboot:\n"
        head += "".join(f"#   {e}\n" for e in errors.splitlines())
    else:
        dest = boot / "camapp.conf.applied"
        head = f"# applied on first boot ({stamp}); passwords removed from this copy\n"
    _write(dest, head + blank_secrets(text), mode=0o600)
    src.unlink()
    return dest


def apply(boot: Path, t: Target) -> int:
    """The first-boot run: camapp.yaml, then camapp.conf, then the cameras found; 0 when all went well."""
    rc = 0
    installed = False
    try:
        installed = install_yaml(t, boot)
    except ConfigError as err:
        log.error("camapp.yaml not installed:\n%s", err)
        shutil.move(boot / "camapp.yaml", boot / "camapp.yaml.failed")
        rc = 1
    src = boot / "camapp.conf"
    conf = FirstbootConf()
    if src.exists():
        text = src.read_text(encoding="utf-8", errors="replace")
        try:
            conf = parse_conf(text, str(src))
            done = apply_conf(t, conf)
        except ConfigError as err:
            log.error("camapp.conf not (fully) applied:\n%s", err)
            log.info("kept as %s", retire_conf(boot, text, str(err)))
            return 1
        log.info("applied %s; kept as %s", ", ".join(done) or "nothing", retire_conf(boot, text, None))
    try:
        found = find_cameras(t, conf, installed)
    except (ConfigError, OSError) as err:  # the config stays as it was; camapp runs with its camera
        log.error("cameras not configured: %s", err)
        return 1
    if found:
        log.info("configured %s", found)
    return rc


def list_cameras(found: list[FoundCamera]) -> int:
    """What the first boot would configure, as lines to paste into camapp.conf; 1 when there is none."""
    if not found:
        print("no camera found (USB cameras: /dev/video*; CSI: the Raspberry Pi or Jetson camera drivers)",
              file=sys.stderr)
        return 1
    for camera in found:
        print(f"# {camera.what}\ncamera.{camera.name} = {conf_value(camera.section)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m camapp.firstboot", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="validate a camapp.conf")
    chk.add_argument("file", type=Path)
    sub.add_parser("cameras", help="list the cameras this system has, as camapp.conf camera. lines")
    app = sub.add_parser("apply", help="apply camapp.conf/camapp.yaml from the boot partition (as root)")
    app.add_argument("--boot", type=Path, default=Path("/boot/firmware"))
    app.add_argument("--root", type=Path, default=Path("/"))
    app.add_argument("--live", action="store_true", help="also change the running system")
    app.add_argument("--run-as", help="the user that owns camapp's data directory")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(levelname)s: %(message)s")
    if args.command == "check":
        try:
            parse_conf(args.file.read_text(encoding="utf-8"), str(args.file))
        except (OSError, ConfigError) as err:
            print(err, file=sys.stderr)
            return 1
        print(f"{args.file}: ok")
        return 0
    if args.command == "cameras":
        return list_cameras(probe())
    return apply(args.boot, Target(args.root, live=args.live, run_as=args.run_as))


if __name__ == "__main__":
    raise SystemExit(main())
