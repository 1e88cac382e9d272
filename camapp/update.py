"""Upgrade camapp on the image: install a new wheel set into a fresh venv, switch the venv symlink, restart, and
roll back to the previous venv when the service fails its health check after the switch.

Layout: /opt/camapp/venvs/<version>-<stamp>/ (one per install), /opt/camapp/venv -> venvs/<current> (what
camapp.service runs). Usage, as root: `python -m camapp.update install WHEEL_DIR` or `... rollback`
(/usr/local/sbin/camapp-update on the image).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from camapp.errors import CamappError

log = logging.getLogger("camapp.update")

PREFIX = Path("/opt/camapp")
SERVICE = "camapp.service"
CONFIG = Path("/etc/camapp/config.yaml")


class UpdateError(CamappError, RuntimeError):
    """An update could not be installed, or was rolled back."""


@dataclass(frozen=True)
class UpdateResult:
    """What an update did: ok False means it was rolled back to `previous`."""

    ok: bool
    venv: Path
    previous: Path | None
    message: str


def current_target(link: Path) -> Path | None:
    """The venv the symlink points at (absolute), or None when there is no link yet."""
    if not link.is_symlink():
        return None
    return (link.parent / os.readlink(link)).resolve()


def switch(link: Path, target: Path) -> Path | None:
    """Atomically point `link` at `target` (relative when inside the link's directory); returns the old target."""
    previous = current_target(link)
    try:
        rel: Path | str = target.resolve().relative_to(link.parent.resolve())
    except ValueError:
        rel = target.resolve()
    tmp = link.with_name(f".{link.name}.new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(rel)
    os.replace(tmp, link)  # rename(2) over the old link: no moment without a venv
    return previous


def wheel_version(wheels: Path) -> str:
    """camapp's version from the camapp-<version>-*.whl in the wheel directory."""
    found = sorted(wheels.glob("camapp-*.whl"))
    if not found:
        raise UpdateError(f"{wheels}: no camapp-*.whl in this directory")
    return found[-1].name.split("-")[1]


def create_venv(venvs: Path, wheels: Path, python: str = sys.executable, system_site: bool = False) -> Path:
    """A fresh venv under `venvs` with camapp installed offline from `wheels`."""
    stamp = dt.datetime.now().strftime("%Y%m%d%H%M%S")
    venv = venvs / f"{wheel_version(wheels)}-{stamp}"
    cmd = [python, "-m", "venv", *(["--system-site-packages"] if system_site else []), str(venv)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}  # no PIP_* from the caller
    try:
        subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-index", "--no-cache-dir",
               "--disable-pip-version-check", "--find-links", str(wheels), "camapp"]
        extra = [w.name.split("-")[0] for w in wheels.glob("*.whl") if w.name.split("-")[0] in ("gpiozero", "lgpio")]
        subprocess.run(pip + extra, check=True, env=env, capture_output=True, text=True)
    except subprocess.CalledProcessError as err:
        shutil.rmtree(venv, ignore_errors=True)
        raise UpdateError(f"installing {wheels} into {venv} failed: {(err.stderr or err.stdout).strip()}") from None
    web = wheels / "web"
    if web.is_dir():  # the web UI's templates travel beside the wheels (see image/hooks/customize.sh)
        for site in venv.glob("lib/python3*/site-packages"):
            if not (site / "web").exists():
                shutil.copytree(web, site / "web")
    return venv


def switch_with_rollback(
    link: Path, new: Path, restart: Callable[[], None], healthy: Callable[[], bool]
) -> UpdateResult:
    """Switch to `new`, restart, check health; on failure switch back, restart again and report it."""
    previous = switch(link, new)
    restart()
    if healthy():
        return UpdateResult(True, new, previous, f"now running {new.name}")
    if previous is None:
        return UpdateResult(False, new, None, f"{new.name} failed its health check and there is nothing to go back to")
    switch(link, previous)
    restart()
    return UpdateResult(False, new, previous, f"{new.name} failed its health check; rolled back to {previous.name}")


def prune(venvs: Path, keep: int, protect: set[Path]) -> list[Path]:
    """Keep the venvs in `protect` and the newest others up to `keep` in all; delete the rest, returning them."""
    kept = {p.resolve() for p in protect}
    candidates = sorted((p for p in venvs.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = []
    for venv in candidates:
        if venv.resolve() in kept:
            continue
        if len(kept) < keep:
            kept.add(venv.resolve())
        else:
            shutil.rmtree(venv)
            removed.append(venv)
    return removed


def systemctl_restart(service: str = SERVICE) -> Callable[[], None]:
    """Restart the unit; failure is not raised here, the health check sees it."""

    def restart() -> None:
        # A crash-looping new venv can hit the unit's start limit, and systemd then refuses even a manual restart.
        subprocess.run(["systemctl", "reset-failed", service], check=False, capture_output=True)
        subprocess.run(["systemctl", "restart", service], check=False)

    return restart


def health_url(config: Path) -> str:
    """The local /healthz URL of the app configured in `config` (its web port, HTTP or HTTPS)."""
    from camapp.config import load_config  # only here: the updater must start even if the config is broken

    try:
        web = load_config(config).web
    except (CamappError, OSError) as err:
        log.warning("%s: %s; checking health on port 8080", config, err)
        return "http://127.0.0.1:8080/healthz"
    return f"{'https' if web.https else 'http'}://127.0.0.1:{web.port}/healthz"


def _probe(url: str, context: ssl.SSLContext | None) -> tuple[int, set[str] | None]:
    """The /healthz status code (0: no answer) and the names of its failing checks (None: body not understood)."""
    try:
        with urllib.request.urlopen(url, timeout=5, context=context) as resp:
            return int(resp.status), set()
    except urllib.error.HTTPError as err:  # 503 and its JSON reasons arrive as an HTTPError
        try:
            checks = json.loads(err.read(65536) or b"{}").get("checks", {})
            return err.code, {name for name, c in checks.items() if not c.get("ok", False)}
        except (ValueError, AttributeError, OSError):
            return err.code, None
    except (urllib.error.URLError, OSError):
        return 0, None


def http_healthy(url: str, timeout_s: float = 180.0, settle_s: float = 10.0,
                 service: str | None = SERVICE) -> Callable[[], bool]:
    """Healthy when `url` answers 200, and the unit is still active `settle_s` later (no crash loop).

    /healthz is 503 while a check fails (camapp.healthcheck): the camera delivers no frames, the pipeline is dead
    or stuck, the store cannot write. Checks that already failed before the update (taken when this is called,
    before the switch; an unplugged camera, a full disk) do not count against the new version: it is rolled
    back for what it breaks, not for what was broken.
    """

    context = None
    if url.startswith("https:"):  # the app's certificate is self-signed, and this request never leaves the device
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    status, failing = _probe(url, context)
    before = failing if status == 503 and failing else set()
    if before:
        log.warning("before the update %s already fails: %s; the new version may fail it too", url,
                    ", ".join(sorted(before)))

    def answers() -> bool:
        status, failing = _probe(url, context)
        return status == 200 or (status == 503 and failing is not None and bool(failing) and failing <= before)

    def active() -> bool:
        if service is None:
            return True
        return subprocess.run(["systemctl", "is-active", "--quiet", service], check=False).returncode == 0

    def check() -> bool:
        wait = threading.Event()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if answers():
                wait.wait(settle_s)
                return active() and answers()
            wait.wait(2.0)
        return False

    return check


def install(wheels: Path, prefix: Path, restart: Callable[[], None], healthy: Callable[[], bool],
            keep: int = 2) -> UpdateResult:
    """The whole update: new venv, switch, health check (rollback on failure), prune old venvs."""
    link, venvs = prefix / "venv", prefix / "venvs"
    venvs.mkdir(parents=True, exist_ok=True)
    old = current_target(link)
    system_site = old is not None and "include-system-site-packages = true" in _pyvenv_cfg(old)
    new = create_venv(venvs, wheels, python="/usr/bin/python3" if Path("/usr/bin/python3").exists()
                      else sys.executable, system_site=system_site)
    result = switch_with_rollback(link, new, restart, healthy)
    if not result.ok and result.previous is not None:
        # The failed venv is never started again; keeping it would make prune() drop an older working one.
        shutil.rmtree(new, ignore_errors=True)
        result = UpdateResult(False, new, result.previous, f"{result.message}; removed {new.name}")
    protect = {p for p in (current_target(link), result.previous) if p is not None}
    prune(venvs, keep, protect)
    return result


def _pyvenv_cfg(venv: Path) -> str:
    try:
        return (venv / "pyvenv.cfg").read_text(encoding="utf-8")
    except OSError:
        return ""


def rollback(prefix: Path, restart: Callable[[], None]) -> Path:
    """Switch to the newest other venv and restart."""
    link, venvs = prefix / "venv", prefix / "venvs"
    current = current_target(link)
    others = sorted((p for p in venvs.iterdir() if p.is_dir() and p.resolve() != current),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    if not others:
        raise UpdateError(f"no other venv in {venvs} to roll back to")
    switch(link, others[0])
    restart()
    return others[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="camapp-update", description="Install a camapp wheel set, or roll back.")
    p.add_argument("--prefix", type=Path, default=PREFIX)
    p.add_argument("--service", default=SERVICE)
    p.add_argument("--config", type=Path, default=CONFIG, help="the app's config (for its web port)")
    sub = p.add_subparsers(dest="command", required=True)
    ins = sub.add_parser("install", help="install the wheels in DIR into a new venv and switch to it")
    ins.add_argument("wheels", type=Path)
    ins.add_argument("--health-url", help="default: /healthz on the web port in --config")
    ins.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for the health check")
    ins.add_argument("--keep", type=int, default=2, help="venvs to keep (the current one and the previous one)")
    sub.add_parser("rollback", help="switch back to the previous venv")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    restart = systemctl_restart(args.service)
    try:
        if args.command == "rollback":
            print(f"rolled back to {rollback(args.prefix, restart).name}")
            return 0
        url = args.health_url or health_url(args.config)
        result = install(args.wheels, args.prefix, restart,
                         http_healthy(url, args.timeout, service=args.service), keep=max(1, args.keep))
    except (UpdateError, OSError) as err:
        print(f"camapp-update: error: {err}", file=sys.stderr)
        return 1
    print(result.message)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
