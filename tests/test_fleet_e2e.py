"""Done-when for the fleet console: a real Mosquitto, three real `camapp run` processes on a looping clip, the real
`camapp fleet` console over HTTPS, and its fleet view in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import pytest
import yaml
from conftest import ROOT
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mqtt_broker import Broker, Collector
from test_mqtt_sink import need_mosquitto

from camapp.fleet.protocol import DESIRED, sign
from camapp.web import setupcode

pytestmark = [pytest.mark.slow, pytest.mark.broker, pytest.mark.browser]
KEEPALIVE_S = 5
DEVICES = ("door-1", "door-2", "door-3")
SETUP = "FLEET-TEST-CODE"


def wait(pred: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def clip(tmp: Path, demo_video: Path) -> Path:
    """4 s of the demo at a quarter of its size: people walking, little work for the detector."""
    out = tmp / "clip.avi"
    cap = cv2.VideoCapture(str(demo_video))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (384, 288))
    for _ in range(40):
        ok, img = cap.read()
        assert ok
        writer.write(cv2.resize(img, (384, 288)))
    writer.release()
    cap.release()
    return out


def camapp(*args: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CAMAPP_CONFIG": "/nonexistent/camapp.yaml", "PYTHONPATH": str(ROOT)}
    with log.open("ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "camapp.cli", *args], stdout=fh, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=env)


class Fleet:
    """The broker, the console and the devices, each a process; logs in the test's directory."""

    def __init__(self, tmp: Path, broker: Broker, video: Path, model: Path) -> None:
        self.tmp, self.broker, self.video, self.model = tmp, broker, video, model
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        fleet_yaml = tmp / "fleet.yaml"
        fleet_yaml.write_text(yaml.safe_dump({
            "mqtt": broker.mqtt_config(client_id="fleet-console"), "data_dir": str(tmp / "console"),
            "web": {"port": 0, "host": "127.0.0.1"}, "tags": {d: {"site": "north"} for d in DEVICES},
            "problems": {"stalled_after_s": 30}}))
        self.fleet_yaml = fleet_yaml
        out = subprocess.run([sys.executable, "-m", "camapp.cli", "fleet", "-c", str(fleet_yaml), "--public-key"],
                             capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
        self.public_key = out.stdout.strip()
        setupcode.store_code(tmp / "console", SETUP, chosen=True)

    def start_console(self) -> str:
        log = self.tmp / "console.log"
        self.procs["console"] = camapp("fleet", "-c", str(self.fleet_yaml), log=log)
        found = wait(lambda: re.search(rb"fleet console: (https://127\.0\.0\.1:\d+)/", log.read_bytes()), 30,
                     "the console listening")
        return found.group(1).decode()

    def config_path(self, device: str) -> Path:
        return self.tmp / device / "config.yaml"

    def start_device(self, device: str) -> None:
        path = self.config_path(device)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump({
                "device_id": device, "log_level": "INFO",
                "camera": {"source": "file", "path": str(self.video), "loop": True, "realtime": True},
                "model": {"manifest": str(self.model), "threads": 1}, "detect": {"fps": 1},
                "storage": {"path": str(path.parent / "data")}, "web": {"port": 0, "https": False,
                                                                       "host": "127.0.0.1"},
                "mqtt": self.broker.mqtt_config(keepalive_s=KEEPALIVE_S, stats_interval_s=1, discovery=False,
                                                fleet_public_key=self.public_key)}))
        self.procs[device] = camapp("run", "-c", str(path), log=self.log(device))

    def log(self, name: str) -> Path:
        return self.tmp / f"{name}.log"

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def fleet(tmp_path: Path, demo_video: Path, model_manifest: Path) -> Iterator[Fleet]:
    need_mosquitto("the fleet drill")
    with Broker(tmp_path / "broker") as broker:
        f = Fleet(tmp_path, broker, clip(tmp_path, demo_video), model_manifest)
        try:
            yield f
        finally:
            f.close()


def rows(page: Any) -> dict[str, dict[str, str]]:
    """What the fleet view shows per device: status and config sync."""
    out = {}
    for row in page.locator("#devices tbody tr[data-device]").all():
        out[row.get_attribute("data-device")] = {"status": row.get_attribute("data-status"),
                                                 "sync": row.locator("td.sync").get_attribute("data-sync")}
    return out


def api(page: Any, base: str, path: str) -> Any:
    resp = page.request.get(base + path)
    assert resp.ok, resp.text()
    return resp.json()


def fleet_actions(page: Any, base: str) -> None:
    """Arm all from the fleet view, then detection off for one device from its page: signed commands, reported."""
    page.goto(base + "/")
    page.select_option("#action-target", "all")
    page.click("#fleet-actions >> text=Arm (away)")
    page.wait_for_selector("text=Sent mode away to 3 device(s)")
    wait(lambda: all(api(page, base, f"/api/devices/{d}")["mode"] == "away" for d in DEVICES), 10, "all armed")
    page.goto(base + "/devices/door-2")
    page.click("text=Detection off")
    page.wait_for_selector("text=Sent detection OFF to 1 device(s)")
    wait(lambda: [api(page, base, f"/api/devices/{d}")["detection"] for d in DEVICES] == ["ON", "OFF", "ON"], 10,
         "door-2 detection off")
    assert api(page, base, "/api/devices/door-2")["reported"]["command"]["result"] == "done"


def model_rollout(page: Any, base: str, csrf: str, fleet: Fleet) -> None:
    """The console serves a model over HTTPS: the canary switches first, the others once it stayed healthy."""
    model_dir = fleet.model.parent
    upload = page.request.post(base + "/api/models", headers={"X-CSRF-Token": csrf}, multipart={
        "model": {"name": "m.tflite", "mimeType": "application/octet-stream",
                  "buffer": (model_dir / "mobilenet_ssd_v2_coco_quant_postprocess.tflite").read_bytes()},
        "labels": {"name": "labels.txt", "mimeType": "text/plain",
                   "buffer": (model_dir / "coco_labels.txt").read_bytes()},
        "name": "ssd v2 again"})
    assert upload.status == 201, upload.text()
    model = upload.json()
    started = page.request.post(base + "/api/rollouts", headers={"X-CSRF-Token": csrf},
                                data={"target": "tag:site=north", "model": model["id"], "canary_s": 2})
    assert started.status == 201, started.text()
    assert started.json()["canary"] == "door-1"
    done = wait(lambda: next((r for r in api(page, base, "/api/rollouts") if r["state"] in ("done", "failed")), None),
                90, "rollout finished")
    assert (done["state"], done.get("results")) == ("done", {d: "done" for d in DEVICES}), done
    sent = done["sent"]
    assert sent["door-1"] < sent["door-2"] and sent["door-1"] < sent["door-3"]  # the canary went first
    for device in DEVICES:
        history = json.loads((fleet.tmp / device / "data" / "models" / "history.json").read_text())
        assert history[0]["sha256"] == model["sha256"] and history[0]["active"]
        assert fleet.procs[device].poll() is None


def test_the_fleet_console_sees_changes_and_protects_three_real_appliances(
        fleet: Fleet, browser: Any) -> None:
    base = fleet.start_console()
    for device in DEVICES:
        fleet.start_device(device)
    page = browser.new_page(ignore_https_errors=True)  # the console's own self-signed certificate
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    assert page.url.endswith("/setup")
    page.fill("input[name=setup_code]", SETUP)
    page.fill("input[name=password]", "fleet pass 1")
    page.fill("input[name=password2]", "fleet pass 1")
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")

    # The fleet view shows all three online (it refreshes itself; no reload).
    wait(lambda: rows(page) == {d: {"status": "online", "sync": "none"} for d in DEVICES}, 90, "three online")
    assert page.locator("#fleet-count").inner_text() == "3 of 3 online"

    # SIGKILL one: the broker sends its last will, the view shows it offline within its keep-alive.
    fleet.procs["door-3"].send_signal(signal.SIGKILL)
    killed = time.monotonic()
    wait(lambda: rows(page)["door-3"]["status"] == "offline", KEEPALIVE_S * 1.5, "door-3 offline")
    offline_s = time.monotonic() - killed
    assert page.locator('#problems li[data-device="door-3"][data-kind="offline"]').count() == 1

    # A group change from the UI: door-1 and door-2 apply it now, door-3 when it comes back (the doc is retained).
    page.select_option("#action-target", "tag:site=north")
    page.fill("#fleet-actions textarea[name=config]", "detect:\n  fps: 2\n")
    page.click("#fleet-actions >> text=Publish desired config")
    page.wait_for_selector("text=published to 3 device(s)")
    wait(lambda: [rows(page)[d]["sync"] for d in DEVICES] == ["applied", "applied", "pending"], 30, "two applied")
    fleet.start_device("door-3")
    wait(lambda: rows(page) == {d: {"status": "online", "sync": "applied"} for d in DEVICES}, 60, "all applied")
    for device in DEVICES:
        detail = api(page, base, f"/api/devices/{device}")
        assert detail["reported"]["values"] == {"detect.fps": 2.0}
        assert detail["fields"] == [{"field": "detect.fps", "desired": 2, "reported": 2.0, "known": True}]
        assert yaml.safe_load(fleet.config_path(device).read_text())["detect"]["fps"] == 2  # saved on the device

    # One device given a config that does not validate: it reports field and line, and keeps running.
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    invalid = "motion:\n  enabled: true\ndetect:\n  fps: 500\n"
    resp = page.request.post(base + "/api/desired", headers={"X-CSRF-Token": csrf},
                             data={"target": "device:door-1", "config": invalid})
    assert resp.ok, resp.text()
    page.goto(base + "/devices/door-1")
    wait(lambda: page.reload() or page.locator("#config-sync").get_attribute("data-sync") == "refused", 20,
         "door-1 refused")
    assert "detect.fps (line 4): Input should be less than or equal to" in page.locator(".refusal").inner_text()
    before = api(page, base, "/api/devices/door-1")["stats_time"]
    wait(lambda: api(page, base, "/api/devices/door-1")["stats_time"] > before, 10, "door-1 still publishing")
    assert fleet.procs["door-1"].poll() is None
    assert yaml.safe_load(fleet.config_path("door-1").read_text())["detect"]["fps"] == 2

    # Another broker client (not the console) cannot change any appliance: forged, stale, other-device and plain
    # commands are refused and logged, and nothing changes.
    hashes = {d: api(page, base, f"/api/devices/{d}")["reported"]["config_hash"] for d in DEVICES}
    with Collector(fleet.broker, ["camapp/+/fleet/desired"]) as rogue:
        genuine = {m.topic.split("/")[1]: m.payload for m in rogue.wait_for(lambda ms: len(ms) >= 3)}
        forged = sign(Ed25519PrivateKey.generate(), {"schema": DESIRED, "device_id": "door-2", "version": 2**53,
                                                      "issued": time.time(), "config": "detect:\n  fps: 9\n"})
        rogue.publish("camapp/door-2/fleet/desired", json.dumps(forged), retain=True)
        rogue.publish("camapp/door-3/fleet/desired", genuine["door-1"])  # door-1's doc: for another device
        unsigned = {k: v for k, v in json.loads(genuine["door-2"]).items() if k != "sig"}
        rogue.publish("camapp/door-2/fleet/desired", json.dumps({**unsigned, "version": 2**53}))
        rogue.publish("camapp/door-2/fleet/command", json.dumps({"command": "mode", "value": "away"}))
        rogue.publish("camapp/door-1/set/mode", "away")
    stale_log = "stale: desired version"
    wait(lambda: all(s in fleet.log("door-2").read_text() for s in ("bad signature", "unsigned")), 10, "door-2 log")
    wait(lambda: "for device 'door-1'" in fleet.log("door-3").read_text(), 10, "door-3 log")
    time.sleep(1.0)
    for device in DEVICES:
        d = api(page, base, f"/api/devices/{device}")
        assert d["reported"]["config_hash"] == hashes[device] and d["mode"] == "disarmed"
        assert yaml.safe_load(fleet.config_path(device).read_text())["detect"]["fps"] == 2
    # A stale version: door-2 gets a newer genuine doc, then the old one is replayed to it.
    newer = page.request.post(base + "/api/desired", headers={"X-CSRF-Token": csrf},
                              data={"target": "device:door-2", "config": "detect:\n  fps: 3\n"})
    assert newer.ok
    wait(lambda: api(page, base, "/api/devices/door-2")["sync"]["state"] == "applied", 20, "door-2 fps 3")
    with Collector(fleet.broker, ["camapp/door-2/fleet/reported"]) as rogue:
        rogue.publish("camapp/door-2/fleet/desired", genuine["door-2"], retain=True)
    wait(lambda: stale_log in fleet.log("door-2").read_text(), 10, "stale refused")
    assert yaml.safe_load(fleet.config_path("door-2").read_text())["detect"]["fps"] == 3
    fleet_actions(page, base)
    model_rollout(page, base, csrf, fleet)
    assert errors == []
    print(f"\nfleet drill: offline shown {offline_s:.2f} s after SIGKILL (keep-alive {KEEPALIVE_S} s; the page "
          "polls every 2 s)")
