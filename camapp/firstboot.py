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
from camapp.bootconf import FirstbootConf, blank_secrets, nm_keyfile, parse_conf
from camapp.config import load_config, parse_config
from camapp.config.loader import read_config_data
from camapp.errors import ConfigError

log = logging.getLogger("camapp.firstboot")

WIFI_KEYFILE = "etc/NetworkManager/system-connections/camapp-wifi.nmconnection"
CONFIG_FILE = "etc/camapp/config.yaml"



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
    if (conf.hostname or conf.mqtt_host or conf.admin_password or conf.setup_code) and not t.config.is_file():
        raise ConfigError(f"{t.config}: camapp's config is missing")


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
    """The first-boot run: camapp.yaml, then camapp.conf; 0 when all went well."""
    rc = 0
    try:
        install_yaml(t, boot)
    except ConfigError as err:
        log.error("camapp.yaml not installed:\n%s", err)
        shutil.move(boot / "camapp.yaml", boot / "camapp.yaml.failed")
        rc = 1
    src = boot / "camapp.conf"
    if not src.exists():
        return rc
    text = src.read_text(encoding="utf-8", errors="replace")
    try:
        done = apply_conf(t, parse_conf(text, str(src)))
    except ConfigError as err:
        log.error("camapp.conf not (fully) applied:\n%s", err)
        log.info("kept as %s", retire_conf(boot, text, str(err)))
        return 1
    log.info("applied %s; kept as %s", ", ".join(done) or "nothing", retire_conf(boot, text, None))
    return rc


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m camapp.firstboot", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    chk = sub.add_parser("check", help="validate a camapp.conf")
    chk.add_argument("file", type=Path)
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
    return apply(args.boot, Target(args.root, live=args.live, run_as=args.run_as))


if __name__ == "__main__":
    raise SystemExit(main())
