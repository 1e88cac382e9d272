"""Secrets through the web UI (issue 12 findings 4 and 5): what a viewer and an admin can read, and the masked
secret replayed to a host of the attacker's choosing."""


from __future__ import annotations

import contextlib
import io
import socket
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from flask.testing import FlaskClient
from mqtt_broker import HOST, Broker, free_port
from test_mqtt_sink import need_mosquitto, wait_until
from test_web_support import (
    ADMIN,
    ADMIN_PW,
    VIEWER,
    VIEWER_PW,
    Appliance,
    form_fields,
    login,
    make_appliance,
    seeded_store,
    with_users,
)

from camapp.config.mqtt import MqttConfig
from camapp.control import Controller
from camapp.mqtt.sink import MqttSink
from camapp.redact import MASK
from camapp.state import ApplianceState

CAM_PW, MQTT_PW = "cam-pass-77", "mqtt-pass-77"
RTSP = f"rtsp://admin:{CAM_PW}@10.0.0.5:554/stream1"


@pytest.fixture
def secret_appliance(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
                     demo_video: Path) -> Iterator[Appliance]:
    """An appliance whose config holds a camera URL with credentials and an MQTT password."""
    broker_port = free_port()
    config = {"camera": {"source": "rtsp", "url": RTSP},
              "mqtt": {"host": HOST, "port": broker_port, "username": "camapp", "password": MQTT_PW}}
    appl, feeder = make_appliance(tmp_path, demo_video, seeded_store(tmp_path_factory, demo_video), config)
    with_users(appl)
    try:
        yield appl
    finally:
        feeder.close()
        appl.close()


def client_for(appl: Appliance, user: str, password: str) -> tuple[FlaskClient, str]:
    client = appl.app.test_client()
    return client, login(client, user, password)


def assert_no_secret(text: str, where: str) -> None:
    assert CAM_PW not in text and MQTT_PW not in text, f"a secret leaks through {where}"


def test_viewer_never_sees_the_config(secret_appliance: Appliance) -> None:
    client, _ = client_for(secret_appliance, VIEWER, VIEWER_PW)
    for url in ("/api/config", "/settings", "/api/diagnostics"):
        resp = client.get(url)
        assert resp.status_code == 403, url
        assert_no_secret(resp.get_data(as_text=True), url)
    assert "/settings" not in client.get("/").get_data(as_text=True)  # no link to a page they cannot open


def test_admin_outputs_mask_every_secret(secret_appliance: Appliance) -> None:
    appl = secret_appliance
    appl.ctx.log_tail = lambda n: [f"camera {RTSP} did not answer", "ok"]  # a line logged before masking
    appl.ctx.stats.set_camera("reconnecting", f"cannot open stream {RTSP} (unreachable)")
    client, csrf = client_for(appl, ADMIN, ADMIN_PW)
    cfg = client.get("/api/config").json
    assert cfg["mqtt"]["password"] == MASK and cfg["camera"]["url"] == f"rtsp://admin:{MASK}@10.0.0.5:554/stream1"
    outputs = {"/api/config": repr(cfg), "/settings": client.get("/settings").get_data(as_text=True),
               "/api/logs": repr(client.get("/api/logs").json), "/api/status": repr(client.get("/api/status").json)}
    bad = client.post("/api/config/validate", json={**cfg, "motion": {"threshold": 0}},
                      headers={"X-CSRF-Token": csrf})
    outputs["/api/config/validate"] = bad.get_data(as_text=True)
    zf = zipfile.ZipFile(io.BytesIO(client.get("/api/diagnostics").data))
    outputs.update({f"diagnostics {n}": zf.read(n).decode() for n in zf.namelist()})
    for where, text in outputs.items():
        assert_no_secret(text, where)
    assert f"admin:{MASK}@10.0.0.5" in outputs["diagnostics log.txt"]
    assert f"admin:{MASK}@10.0.0.5" in outputs["/api/status"]


class Listener:
    """A TCP listener on loopback standing in for the attacker's broker: records every byte it is sent."""

    def __init__(self) -> None:
        self.sock = socket.create_server((HOST, 0))
        self.port = int(self.sock.getsockname()[1])
        self.received = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1.0)
                with contextlib.suppress(OSError):
                    self.received += conn.recv(4096)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


def run_sink(cfg: MqttConfig, data_dir: Path) -> MqttSink:
    control = Controller(ApplianceState())
    sink = MqttSink(cfg, device_id="dev-" + uuid.uuid4().hex[:6], camera_id="cam", model_name="m",
                    state=control.state, bus=control.bus, control=control, stats=dict, data_dir=data_dir,
                    labels=["person"])
    sink.start()
    return sink


def test_masked_password_is_not_sent_to_a_new_host(secret_appliance: Appliance, tmp_path: Path) -> None:
    need_mosquitto("password broker")
    appl = secret_appliance
    port = appl.ctx.get_config().mqtt.port
    listener = Listener()
    client, csrf = client_for(appl, ADMIN, ADMIN_PW)
    with Broker(tmp_path / "broker", port=port, users={"camapp": MQTT_PW}):
        # The attack: read the masked config, point MQTT elsewhere, send it back.
        cfg = client.get("/api/config").json
        cfg["mqtt"]["port"] = listener.port
        resp = client.put("/api/config", json=cfg, headers={"X-CSRF-Token": csrf})
        assert resp.status_code == 422 and "mqtt.password" in resp.json["errors"]
        assert "enter" in resp.json["errors"]["mqtt.password"]
        assert appl.ctx.get_config().mqtt.port == port and not appl.applied
        assert yaml.safe_load(appl.ctx.config_path.read_text())["mqtt"]["port"] == port  # type: ignore[union-attr]
        # What the appliance runs after a restart still talks to the real broker only.
        sink = run_sink(appl.ctx.get_config().mqtt, tmp_path / "d1")
        assert wait_until(lambda: sink.status()["connected"] is True)
        sink.close()
        assert listener.received == b""
    # The owner re-enters the password for the new host: accepted, and that (not the old one) is what is sent.
    cfg["mqtt"]["password"] = "typed-for-new-host"
    assert client.put("/api/config", json=cfg, headers={"X-CSRF-Token": csrf}).status_code == 200
    sink = run_sink(appl.ctx.get_config().mqtt, tmp_path / "d2")
    assert wait_until(lambda: b"typed-for-new-host" in listener.received)
    sink.close()
    listener.close()
    assert MQTT_PW.encode() not in listener.received


def test_settings_form_refuses_a_masked_secret_for_a_new_host(secret_appliance: Appliance) -> None:
    appl = secret_appliance
    client, csrf = client_for(appl, ADMIN, ADMIN_PW)
    form = form_fields(client.get("/settings").get_data(as_text=True))
    assert form["mqtt.password"] == MASK and form["camera.url"] == f"rtsp://admin:{MASK}@10.0.0.5:554/stream1"
    form.update({"csrf_token": csrf, "mqtt.host": "10.9.9.9", "camera.url": f"rtsp://admin:{MASK}@10.6.6.6/s"})
    resp = client.post("/settings", data=form)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 422 and not appl.applied
    for field in ("mqtt.password", "camera.url"):
        assert "again" in html.split(f'name="{field}"', 1)[1].split('<div class="field', 1)[0], field
    assert_no_secret(html, "the refused form")
    form = form_fields(client.get("/settings").get_data(as_text=True))
    form.update({"csrf_token": csrf, "motion.threshold": "40"})  # unrelated change: secrets kept as they were
    ok = client.post("/settings", data=form)
    assert ok.status_code == 302, [ln for ln in ok.get_data(as_text=True).splitlines() if "error" in ln]
    saved = appl.ctx.get_config()
    assert (saved.motion.threshold, saved.mqtt.password, saved.camera.url) == (40, MQTT_PW, RTSP)
