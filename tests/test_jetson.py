"""The Jetson install bits (image/jetson/): what can be checked without a Jetson.

Not run here: the script for real on JetPack, a CSI camera, Jetson.GPIO (see image/jetson/README.md).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from camapp.capture.gstreamer import jetson_csi_pipeline
from camapp.config import load_config

JETSON = Path(__file__).resolve().parent.parent / "image" / "jetson"
SCRIPT = JETSON / "install.sh"
UNIT = JETSON / "camapp.service"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False, stdin=subprocess.DEVNULL
    )


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """systemd's INI dialect: keys may repeat (Environment=), comments start with # or ;."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"not a unit-file line: {raw!r}"
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_install_script_is_valid_bash() -> None:
    result = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_install_script_passes_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    result = subprocess.run([shellcheck, str(SCRIPT)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_dry_run_plans_every_step_and_changes_nothing(tmp_path: Path) -> None:
    prefix = tmp_path / "opt"
    result = run_script(
        "--dry-run", "--no-start", "--prefix", str(prefix), "--user", "camapp-test-nobody", "--python", sys.executable
    )
    assert result.returncode == 0, result.stderr
    # Steps are printed shell-quoted (printf %q); unquote them to compare.
    steps = [" ".join(shlex.split(line[2:])) for line in result.stdout.splitlines() if line.startswith("+ ")]
    expected = [
        "useradd --system",
        "usermod --append --groups video,gpio camapp-test-nobody",
        f"-m venv --system-site-packages {prefix}/venv",
        f"{prefix}/venv/bin/pip install {JETSON.parent.parent}[jetson]",
        f"{prefix}/venv/bin/camapp check-config /etc/camapp/config.yaml",
        "systemctl daemon-reload",
        "systemctl enable camapp.service",
    ]
    position = 0
    for want in expected:  # each appears, in this order
        position = next((i for i in range(position, len(steps)) if want in steps[i]), -1)
        assert position >= 0, f"{want!r} missing or out of order in:\n" + "\n".join(steps)
    assert not any("--now" in s for s in steps)
    assert not prefix.exists()


def test_install_script_rejects_unknown_options() -> None:
    result = run_script("--frobnicate")
    assert result.returncode != 0
    assert "unknown option: --frobnicate" in result.stderr


def test_unit_runs_what_the_script_installs() -> None:
    service = unit_sections(UNIT.read_text())["Service"]
    exec_start = service["ExecStart"][0].split()
    assert service["User"] == ["camapp"]
    assert service["Restart"] == ["on-failure"]
    assert service["RestartPreventExitStatus"] == ["2"]  # bad config: do not restart forever
    # The script, at its defaults, installs and validates exactly the binary and config the unit runs.
    plan = run_script("--dry-run", "--python", sys.executable).stdout
    assert f"+ {exec_start[0]} check-config {exec_start[-1]}" in plan
    assert exec_start[1:] == ["run", "-c", exec_start[-1]]
    assert unit_sections(UNIT.read_text())["Install"]["WantedBy"] == ["multi-user.target"]


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    # verify insists that ExecStart exists; the real one only does after install, so point it at a stand-in.
    stand_in = tmp_path / "camapp"
    stand_in.write_text("#!/bin/sh\nexit 0\n")
    stand_in.chmod(0o755)
    unit = tmp_path / "camapp.service"
    unit.write_text(UNIT.read_text().replace("/opt/camapp/venv/bin/camapp", str(stand_in)))
    result = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, check=False)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "camapp.service" not in output, output  # no warnings about our unit (unknown keys, bad values)


def test_sample_config_validates_and_builds_the_csi_pipeline() -> None:
    cfg = load_config(JETSON / "camapp.yaml")
    assert cfg.camera.source == "jetson_csi"
    assert cfg.gpio.pin_factory == "jetson"
    # The manifest it names is one the script copies from the repository's models/.
    assert cfg.model.manifest.parent == Path("/opt/camapp/models")
    assert (JETSON.parent.parent / "models" / cfg.model.manifest.name).is_file()
    cam = cfg.camera
    pipeline = jetson_csi_pipeline(cam.sensor_id, cam.width, cam.height, cam.fps, cam.flip_method)
    assert pipeline.startswith(f"nvarguscamerasrc sensor-id={cam.sensor_id} ")
    assert f"width=(int){cam.width}, height=(int){cam.height}" in pipeline
