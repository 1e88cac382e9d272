"""Static checks of the SD-card image build (image/): scripts parse and pass shellcheck, the units verify, the
default config validates, and mkdisk.sh assembles a real (tiny) partitioned image without root or mounts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, need, need_executable

from camapp.config import load_config

IMAGE = ROOT / "image"
OVERLAY = IMAGE / "rootfs"
UNITS = OVERLAY / "etc/systemd/system"
BASH_SCRIPTS = sorted(
    [*IMAGE.glob("*.sh"), *IMAGE.glob("hooks/*.sh"), *IMAGE.glob("test/*.sh"),
     *(p for p in (OVERLAY / "usr/local/sbin").iterdir() if p.read_text().startswith("#!/usr/bin/env bash"))]
)
SH_SCRIPTS = [OVERLAY / "usr/local/sbin/camapp-update",
              OVERLAY / "etc/initramfs-tools/scripts/init-bottom/camapp-overlay"]


@pytest.mark.parametrize("script", BASH_SCRIPTS + SH_SCRIPTS, ids=lambda p: str(p.relative_to(IMAGE)))
def test_script_parses_and_is_executable(script: Path) -> None:
    shell = "bash" if script in BASH_SCRIPTS else "sh"
    proc = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    if not script.read_text().startswith("# shellcheck shell="):  # a library the boot test sources, not run
        assert os.access(script, os.X_OK), f"{script} is not executable"


def test_scripts_pass_shellcheck() -> None:
    shellcheck = need_executable("shellcheck", "apt-get install shellcheck")
    proc = subprocess.run([shellcheck, "-x", *map(str, BASH_SCRIPTS + SH_SCRIPTS)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _fake_root(tmp_path: Path) -> Path:
    """The units with their commands pointed at stand-ins, so systemd-analyze can check everything else."""
    out = tmp_path / "units"
    out.mkdir()
    fake = tmp_path / "bin" / "true"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    for unit in UNITS.glob("*.service"):
        text = re.sub(r"^(ExecStart=)\S+", rf"\g<1>{fake}", unit.read_text(), flags=re.M)
        (out / unit.name).write_text(text)
    return out


@pytest.mark.parametrize("unit", ["camapp.service", "camapp-firstboot.service"])
def test_unit_verifies(tmp_path: Path, unit: str) -> None:
    analyze = need_executable("systemd-analyze", "apt-get install systemd")
    units = _fake_root(tmp_path)
    proc = subprocess.run([analyze, "verify", str(units / unit)], capture_output=True, text=True,
                          env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    # Only complaints about our own unit count; the host's other units are not ours to judge.
    ours = [ln for ln in (proc.stdout + proc.stderr).splitlines() if unit in ln]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr


def test_service_is_hardened_notify_with_watchdog() -> None:
    text = (UNITS / "camapp.service").read_text()
    settings = dict(ln.split("=", 1) for ln in text.splitlines() if "=" in ln and not ln.startswith("#"))
    assert settings["Type"] == "notify" and int(settings["WatchdogSec"]) > 0
    assert settings["User"] == "camapp" and set(settings["SupplementaryGroups"].split()) >= {"video", "gpio"}
    assert settings["Restart"] == "on-failure"
    assert settings["ProtectSystem"] == "strict" and settings["PrivateTmp"] == settings["NoNewPrivileges"] == "yes"
    assert settings["ExecStart"].endswith("camapp run -c /etc/camapp/config.yaml")


def test_default_config_validates() -> None:
    cfg = load_config(OVERLAY / "etc/camapp/config.yaml")
    assert cfg.storage.path == Path("/var/lib/camapp")
    assert cfg.model.manifest == Path("/opt/camapp/models/ssd_mobilenet_v2_coco_quant.yaml")


def test_example_camapp_conf_parses() -> None:
    from camapp.bootconf import parse_conf

    conf = parse_conf((IMAGE / "camapp.conf.example").read_text())
    assert conf.hostname and conf.admin_password and conf.wifi_ssid


def test_fstab_spares_the_card() -> None:
    lines = [ln.split() for ln in (OVERLAY / "etc/fstab").read_text().splitlines() if ln and not ln.startswith("#")]
    root = next(f for f in lines if f[1] == "/")
    assert root[0] == "LABEL=RASPIROOT" and "noatime" in root[3].split(",")
    assert any(f[1] == "/tmp" and f[2] == "tmpfs" for f in lines)


@pytest.fixture
def disk_tools() -> None:
    for exe, pkg in [("mkfs.vfat", "dosfstools"), ("mcopy", "mtools"), ("sfdisk", "fdisk"), ("mke2fs", "e2fsprogs"),
                     ("debugfs", "e2fsprogs"), ("zstd", "zstd"), ("bmaptool", "bmap-tools")]:
        need_executable(exe, f"apt-get install {pkg}")


def test_mkdisk_assembles_a_partitioned_image(tmp_path: Path, disk_tools: None) -> None:
    boot, rootfs = tmp_path / "boot", tmp_path / "rootfs"
    (boot / "overlays").mkdir(parents=True)
    (boot / "config.txt").write_text("arm_64bit=1\n")
    (boot / "overlays" / "README").write_text("dtbo\n")
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "hostname").write_text("camapp\n")
    img = tmp_path / "out" / "test.img"
    img.parent.mkdir()
    env = {**os.environ, "BOOT_MB": "40", "ROOT_SLACK_MB": "8", "ZSTD_LEVEL": "1",
           "PATH": os.environ["PATH"] + ":/usr/sbin:/sbin"}
    proc = subprocess.run([str(IMAGE / "mkdisk.sh"), str(boot), str(rootfs), str(img)], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    sfdisk = shutil.which("sfdisk", path=env["PATH"])
    assert sfdisk is not None
    table = json.loads(subprocess.run([sfdisk, "-J", str(img)], capture_output=True, text=True,
                                      check=True).stdout)["partitiontable"]
    p1, p2 = table["partitions"]
    assert table["label"] == "dos" and p1["type"] == "c" and p1.get("bootable") and p2["type"] == "83"
    assert p1["start"] == 8192 and p1["size"] == 40 * 2048 and p2["start"] == p1["start"] + p1["size"]
    assert (p2["start"] + p2["size"]) * 512 == img.stat().st_size
    mtools_env = {**env, "MTOOLS_SKIP_CHECK": "1"}
    got = subprocess.run(["mtype", "-i", f"{img}@@{p1['start'] * 512}", "::/overlays/README"], capture_output=True,
                         text=True, env=mtools_env)
    assert got.stdout == "dtbo\n", got.stderr
    part = tmp_path / "root.ext4"
    with img.open("rb") as src, part.open("wb") as dst:
        src.seek(p2["start"] * 512)
        dst.write(src.read(p2["size"] * 512))
    debugfs = shutil.which("debugfs", path=env["PATH"])
    assert debugfs is not None
    cat = subprocess.run([debugfs, "-R", "cat /etc/hostname", str(part)], capture_output=True, text=True)
    assert cat.stdout == "camapp\n"
    label = subprocess.run([debugfs, "-R", "stats", str(part)], capture_output=True, text=True).stdout
    assert re.search(r"Filesystem volume name:\s+RASPIROOT", label)
    for suffix in (".zst", ".zst.sha256", ".bmap"):
        assert Path(f"{img}{suffix}").stat().st_size > 0
    sha = Path(f"{img}.zst.sha256").read_text().split()
    assert sha[1] == "test.img.zst" and len(sha[0]) == 64


def test_make_mirror_indexes_debs_for_the_rpi_profile(tmp_path: Path) -> None:
    need(shutil.which("dpkg-scanpackages") is not None, "dpkg-scanpackages", "apt-get install dpkg-dev")
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text(
        "Package: camapp-dummy\nVersion: 1.0\nArchitecture: arm64\nMaintainer: test <t@example.org>\n"
        "Description: dummy\n")
    debs = tmp_path / "debs"
    debs.mkdir()
    subprocess.run(["dpkg-deb", "--build", "-Zgzip", str(pkg), str(debs / "camapp-dummy_1.0_arm64.deb")],
                   check=True, capture_output=True)
    mirror = tmp_path / "mirror"
    proc = subprocess.run([str(IMAGE / "make-mirror.sh"), str(debs), str(mirror)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    packages = (mirror / "Packages").read_text()
    assert "Package: camapp-dummy" in packages and "Filename: ./camapp-dummy_1.0_arm64.deb" in packages
    assert (mirror / "camapp-dummy_1.0_arm64.deb").exists()
    # build.sh pins the rpi packages by this Origin; apt checks the index against the Release's hash.
    release = (mirror / "Release").read_text()
    digest = hashlib.sha256((mirror / "Packages").read_bytes()).hexdigest()
    assert "Origin: camapp-rpi-mirror" in release.splitlines() and f" {digest} " in release
    # An unchanged mirror keeps its index, so the Makefile does not rebuild the rpi rootfs.
    before = (mirror / "Packages").stat().st_mtime_ns
    subprocess.run([str(IMAGE / "make-mirror.sh"), str(debs), str(mirror)], check=True, capture_output=True)
    assert (mirror / "Packages").stat().st_mtime_ns == before
