"""camapp.update: the venv symlink switch, health-checked rollback and pruning, on temp dirs (the health check
and the restart are injected callables: on a device they are HTTP /healthz and systemctl)."""

from __future__ import annotations

import http.server
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import loopback_http

from camapp.update import (
    UpdateError,
    current_target,
    health_url,
    http_healthy,
    install,
    prune,
    rollback,
    switch,
    switch_with_rollback,
    wheel_version,
)


@pytest.fixture
def prefix(tmp_path: Path) -> Path:
    for name in ("0.1.0-1", "0.2.0-2"):
        (tmp_path / "venvs" / name / "bin").mkdir(parents=True)
        (tmp_path / "venvs" / name / "bin" / "camapp").write_text(f"#!/bin/sh\necho {name}\n")
    switch(tmp_path / "venv", tmp_path / "venvs" / "0.1.0-1")
    return tmp_path


def test_switch_is_relative_and_returns_the_previous_target(prefix: Path) -> None:
    link = prefix / "venv"
    assert os.readlink(link) == "venvs/0.1.0-1"
    previous = switch(link, prefix / "venvs" / "0.2.0-2")
    assert previous == (prefix / "venvs" / "0.1.0-1").resolve()
    assert (link / "bin" / "camapp").read_text().endswith("echo 0.2.0-2\n")
    assert not (prefix / ".venv.new").exists()


def test_current_target_without_a_link(tmp_path: Path) -> None:
    assert current_target(tmp_path / "venv") is None


def test_healthy_update_stays(prefix: Path) -> None:
    restarts: list[Path | None] = []
    link = prefix / "venv"
    result = switch_with_rollback(link, prefix / "venvs/0.2.0-2", lambda: restarts.append(current_target(link)),
                                  lambda: True)
    assert result.ok and current_target(link) == (prefix / "venvs/0.2.0-2").resolve()
    assert restarts == [(prefix / "venvs/0.2.0-2").resolve()]


def test_failed_health_check_rolls_back_and_restarts_the_old_venv(prefix: Path) -> None:
    link = prefix / "venv"
    restarts: list[Path | None] = []
    checked: list[Path | None] = []

    def healthy() -> bool:
        checked.append(current_target(link))
        return False

    result = switch_with_rollback(link, prefix / "venvs/0.2.0-2", lambda: restarts.append(current_target(link)),
                                  healthy)
    old, new = (prefix / "venvs/0.1.0-1").resolve(), (prefix / "venvs/0.2.0-2").resolve()
    assert not result.ok and "rolled back to 0.1.0-1" in result.message
    assert checked == [new] and restarts == [new, old] and current_target(link) == old


def test_prune_keeps_the_protected_and_fills_up_with_the_newest(prefix: Path) -> None:
    venvs = prefix / "venvs"
    for i, name in enumerate(["0.0.1-0", "0.1.0-1", "0.2.0-2", "0.3.0-3"]):
        (venvs / name).mkdir(exist_ok=True)
        os.utime(venvs / name, (1000 + i, 1000 + i))
    removed = prune(venvs, keep=2, protect={venvs / "0.1.0-1"})
    assert [p.name for p in removed] == ["0.2.0-2", "0.0.1-0"]
    assert sorted(p.name for p in venvs.iterdir()) == ["0.1.0-1", "0.3.0-3"]
    assert prune(venvs, keep=1, protect={venvs / "0.1.0-1", venvs / "0.3.0-3"}) == []


def test_rollback_goes_to_the_newest_other_venv(prefix: Path) -> None:
    switch(prefix / "venv", prefix / "venvs/0.2.0-2")
    os.utime(prefix / "venvs/0.1.0-1", (2000, 2000))
    restarted: list[bool] = []
    assert rollback(prefix, lambda: restarted.append(True)).name == "0.1.0-1"
    assert current_target(prefix / "venv") == (prefix / "venvs/0.1.0-1").resolve() and restarted == [True]


def test_wheel_version(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="no camapp-"):
        wheel_version(tmp_path)
    (tmp_path / "camapp-1.2.3-py3-none-any.whl").write_bytes(b"")
    assert wheel_version(tmp_path) == "1.2.3"


@pytest.fixture
def health_server() -> Iterator[tuple[str, list[int]]]:
    """A real HTTP server on 127.0.0.1 whose /healthz answers with the status at the head of a list."""
    statuses = [200]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(statuses[0])
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http(Handler) as url:
        yield f"{url}/healthz", statuses


def test_http_health_check(health_server: tuple[str, list[int]]) -> None:
    url, statuses = health_server
    assert http_healthy(url, timeout_s=5, settle_s=0.1, service=None)()
    statuses[0] = 503
    assert not http_healthy(url, timeout_s=0.5, settle_s=0.1, service=None)()


def _report(*failing: str) -> dict[str, Any]:
    checks = {name: {"ok": name not in failing, "reason": "down" if name in failing else None}
              for name in ("camera", "pipeline", "store")}
    return {"ok": not failing, "checks": checks, "reasons": [f"{n}: down" for n in failing]}


@pytest.fixture
def healthz_reports() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on 127.0.0.1 whose /healthz answers like camapp's: 200, or 503 with the failing checks;
    each request takes the next report of the list (the last one repeats)."""
    reports: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            report = reports.pop(0) if len(reports) > 1 else reports[0]
            body = json.dumps(report).encode()
            self.send_response(200 if report["ok"] else 503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with loopback_http(Handler) as url:
        yield f"{url}/healthz", reports


@pytest.mark.parametrize(
    ("before", "after", "healthy"),
    [
        ((), (), True),
        ((), ("camera",), False),  # the new version broke capture: roll back
        (("camera",), ("camera",), True),  # the camera was already unplugged: not the new version's fault
        (("camera",), ("camera", "pipeline"), False),  # ... but a dead pipeline is
        (("store",), ("camera",), False),
    ],
)
def test_health_check_judges_the_new_version_by_what_it_breaks(
    healthz_reports: tuple[str, list[dict[str, Any]]], before: tuple[str, ...], after: tuple[str, ...], healthy: bool
) -> None:
    url, reports = healthz_reports
    reports[:] = [_report(*before), _report(*after)]
    assert http_healthy(url, timeout_s=1.0, settle_s=0.1, service=None)() is healthy


def test_http_health_check_refused_port() -> None:
    assert not http_healthy("http://127.0.0.1:9/healthz", timeout_s=0.5, settle_s=0.1, service=None)()


def make_wheel(dest: Path, version: str) -> Path:
    """A minimal real camapp wheel (one module) that pip installs offline."""
    import base64
    import hashlib
    import zipfile

    files = {
        "camapp_update_probe.py": f"VERSION = {version!r}\n",
        f"camapp-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: camapp\nVersion: {version}\n",
        f"camapp-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                             "Tag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    record.append(f"camapp-{version}.dist-info/RECORD,,")
    path = dest / f"camapp-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as whl:
        for name, text in files.items():
            whl.writestr(name, text)
        whl.writestr(f"camapp-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return path


@pytest.mark.parametrize("healthy", [True, False])
def test_install_builds_a_real_venv_and_keeps_only_working_ones(prefix: Path, tmp_path: Path, healthy: bool) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    make_wheel(wheels, "0.3.0")
    restarts: list[Path | None] = []
    link = prefix / "venv"
    result = install(wheels, prefix, lambda: restarts.append(current_target(link)), lambda: healthy, keep=2)
    assert result.ok is healthy
    assert result.venv.name.startswith("0.3.0-")
    venvs = sorted(p.name for p in (prefix / "venvs").iterdir())
    if healthy:
        assert current_target(link) == result.venv.resolve()
        probe = next(result.venv.glob("lib/python3*/site-packages/camapp_update_probe.py"))
        assert "0.3.0" in probe.read_text()
        assert venvs == ["0.1.0-1", result.venv.name]  # 0.2.0-2 was neither current nor previous
    else:
        assert current_target(link) == (prefix / "venvs/0.1.0-1").resolve()
        assert "rolled back to 0.1.0-1" in result.message and f"removed {result.venv.name}" in result.message
        assert not result.venv.exists() and venvs == ["0.1.0-1", "0.2.0-2"]
        assert restarts == [result.venv.resolve(), (prefix / "venvs/0.1.0-1").resolve()]


def test_install_refuses_a_wheel_dir_without_camapp(prefix: Path, tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="no camapp-"):
        install(tmp_path, prefix, lambda: None, lambda: True)
    assert current_target(prefix / "venv") == (prefix / "venvs/0.1.0-1").resolve()


@pytest.mark.parametrize(
    ("config", "url"),
    [
        ("web:\n  port: 9090\n", "https://127.0.0.1:9090/healthz"),  # HTTPS is the default
        ("web:\n  port: 8443\n  https: false\n", "http://127.0.0.1:8443/healthz"),
        ("{}\n", "https://127.0.0.1:8080/healthz"),
        ("web:\n  port: nope\n", "http://127.0.0.1:8080/healthz"),  # broken config: /healthz also answers in clear
    ],
)
def test_health_url_follows_the_configured_web_port(tmp_path: Path, config: str, url: str) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    assert health_url(path) == url
    assert health_url(tmp_path / "missing.yaml") == "http://127.0.0.1:8080/healthz"
