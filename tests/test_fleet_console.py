"""The fleet console against a real broker: what it keeps of what appliances publish, problems with the time each
began, filters, the API's refusals, roles and CSRF; and fleet.yaml's field-and-line errors."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from mqtt_broker import Broker, Collector

from camapp.errors import ConfigError
from camapp.fleet.actions import Target
from camapp.fleet.config import load_fleet_config, parse_fleet_config
from camapp.fleet.console import Console
from camapp.fleet.simulator import Simulator
from camapp.fleet.web import create_fleet_app
from camapp.web.auth import UserStore
from camapp.web.base import close_app

pytestmark = pytest.mark.broker


def stats(**extra: Any) -> str:
    return json.dumps({"fps": 5.0, "disk_free_pct": 50.0, "mqtt_outbox": 0, "camera_status": "open",
                       "recording_state": "recording", **extra})


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Console, Collector, Any]]:
    with Broker(tmp_path / "broker") as broker:
        cfg = parse_fleet_config({"mqtt": broker.mqtt_config(), "data_dir": str(tmp_path / "fleet"),
                                  "web": {"https": False, "port": 0}, "tags": {"a": {"site": "north"}},
                                  "problems": {"outbox_growing": 10}})
        users = UserStore(cfg.data_dir)
        users.set_password("admin", "admin password", role="admin")
        users.set_password("viewer", "viewer password", role="viewer")
        with Console(cfg) as con, Collector(broker, ["camapp/+/fleet/#"]) as col:
            assert con.client.connected.wait(10)
            app = create_fleet_app(con)
            yield con, col, app
            close_app(app)


def login(app: Any, user: str) -> tuple[Any, str]:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    assert client.post("/login", data={"username": user, "password": f"{user} password", "csrf_token": token}
                       ).status_code == 302
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").get_data(as_text=True))
    return client, csrf.group(1)  # type: ignore[union-attr]


def settle(con: Console, pred: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred({d["id"]: d for d in con.registry.devices()}):
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s: {con.registry.devices()}")


@pytest.mark.parametrize(("publish", "kind", "detail"), [
    ([("available", "offline")], "offline", "last will"),
    ([("stats", stats(disk_free_pct=4.0))], "disk low", "4.0% free"),
    ([("stats", stats(mqtt_outbox=5)), ("stats", stats(mqtt_outbox=80))], "outbox growing", "80 messages"),
    ([("stats", stats(recording_state="stopped: low disk"))], "recording stopped", "stopped: low disk"),
    ([("stats", stats(camera_status="reconnecting"))], "stalled", "camera reconnecting"),
])
def test_problems_show_with_the_time_they_began(running: Any, publish: list[tuple[str, str]], kind: str,
                                                detail: str) -> None:
    con, col, _ = running
    col.publish("camapp/a/available", "online", retain=True)
    col.publish("camapp/a/stats", stats(), retain=True)
    settle(con, lambda ds: "a" in ds and ds["a"]["stats"])
    for suffix, payload in publish:
        col.publish(f"camapp/a/{suffix}", payload, retain=True)
    problem = settle(con, lambda ds: ds["a"]["problems"].get(kind))
    assert detail in problem["detail"] and problem["since"] <= time.time()
    time.sleep(0.3)  # later messages with the same problem keep the time it began
    col.publish(f"camapp/a/{publish[-1][0]}", publish[-1][1], retain=True)
    time.sleep(0.3)
    assert con.registry.device("a")["problems"][kind]["since"] == problem["since"]  # type: ignore[index]


def test_the_fleet_view_filters_and_the_api_refuses_what_is_wrong(running: Any) -> None:
    con, col, app = running
    for device, state in (("a", "online"), ("b", "online"), ("c", "offline")):
        col.publish(f"camapp/{device}/available", state, retain=True)
        col.publish(f"camapp/{device}/stats", stats(), retain=True)
    settle(con, lambda ds: len(ds) == 3)
    admin, csrf = login(app, "admin")
    ids = lambda q: [d["id"] for d in admin.get(f"/api/devices?{q}").get_json()]  # noqa: E731
    assert (ids(""), ids("status=offline"), ids("tag=site=north"), ids("q=b"), ids("sort=status")[0]) == (
        ["a", "b", "c"], ["c"], ["a"], ["b"], "c")
    page = admin.get("/?status=problem").get_data(as_text=True)
    assert 'data-device="c"' in page and 'data-device="a"' not in page.split("<table")[1]
    for body, message in [
        ({"target": "site=north", "command": "mode", "value": "away"}, "use device:<id>, tag:<name>=<value> or all"),
        ({"target": "tag:site=south", "command": "mode", "value": "away"}, "no such device or group"),
        ({"target": "all", "command": "reboot", "value": "now"}, "unknown fleet command 'reboot'"),
    ]:
        resp = admin.post("/api/commands", json=body, headers={"X-CSRF-Token": csrf})
        assert resp.status_code == 400 and message in resp.get_json()["error"]
    resp = admin.post("/api/desired", json={"target": "all", "config": "detect: [1"}, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 400 and "desired config:2: not valid YAML" in resp.get_json()["error"]
    assert admin.post("/api/commands", json={"target": "all", "command": "mode", "value": "away"}).status_code == 403
    viewer, vcsrf = login(app, "viewer")
    assert viewer.get("/api/devices").status_code == 200
    resp = viewer.post("/api/commands", json={"target": "all", "command": "mode", "value": "away"},
                       headers={"X-CSRF-Token": vcsrf})
    assert resp.status_code == 403
    assert app.test_client().get("/api/devices").status_code == 401
    assert admin.get("/api/devices/nope").status_code == 404


def test_a_desired_config_is_pending_until_reported(running: Any) -> None:
    con, col, app = running
    col.publish("camapp/a/available", "online", retain=True)
    settle(con, lambda ds: "a" in ds)
    admin, csrf = login(app, "admin")
    [sent] = admin.post("/api/desired", json={"target": "device:a", "config": "detect:\n  fps: 2\n"},
                        headers={"X-CSRF-Token": csrf}).get_json()
    doc = json.loads(col.wait_for(lambda ms: any(m.topic == "camapp/a/fleet/desired" for m in ms))[-1].payload)
    assert doc["version"] == sent["version"] and doc["sig"]
    assert settle(con, lambda ds: ds["a"]["desired"])["version"] == sent["version"]
    detail = admin.get("/api/devices/a").get_json()
    assert detail["sync"]["state"] == "pending"
    assert detail["fields"] == [{"field": "detect.fps", "desired": 2, "reported": None, "known": False}]


@pytest.mark.parametrize(("reported", "state", "detail"), [
    # another device's software may send any shape: a string where an object belongs, non-object errors
    ({"refused": "no", "command": 5, "values": [1]}, "pending", "not reported yet"),
    ({"refused": {"version": "VERSION", "errors": ["junk", {"field": "detect.fps", "line": 2, "message": "bad"}]},
      "command": {"version": "x"}}, "refused", "detect.fps (line 2): bad"),
])
def test_a_malformed_report_is_kept_and_read_as_absent(running: Any, reported: dict[str, Any], state: str,
                                                       detail: str) -> None:
    con, col, app = running
    for device in ("a", "b"):
        col.publish(f"camapp/{device}/available", "online", retain=True)
    settle(con, lambda ds: {"a", "b"} <= set(ds))
    admin, csrf = login(app, "admin")
    [sent] = admin.post("/api/desired", json={"target": "device:a", "config": "detect:\n  fps: 2\n"},
                        headers={"X-CSRF-Token": csrf}).get_json()
    settle(con, lambda ds: ds["a"]["desired"])
    body = json.loads(json.dumps(reported).replace('"VERSION"', str(sent["version"])))
    col.publish("camapp/a/fleet/reported", json.dumps(body), retain=True)
    col.publish("camapp/b/stats", stats(fps=7.0))  # in the same batch, most likely: it must not be lost with it
    devices = settle(con, lambda ds: ds if ds["a"]["reported"] and ds["b"]["stats"] else None)
    assert devices["a"]["reported"] == body and devices["b"]["stats"]["fps"] == 7.0
    detail_json = admin.get("/api/devices/a").get_json()
    assert (detail_json["sync"]["state"], detail_json["sync"]["detail"]) == (state, detail)
    assert detail_json["fields"] == [{"field": "detect.fps", "desired": 2, "reported": None, "known": False}]
    page = admin.get("/devices/a")
    assert page.status_code == 200 and "detect.fps" in page.get_data(as_text=True)


def test_target_parsing() -> None:
    devices = [{"id": "a", "tags": {"site": "n"}}, {"id": "b", "tags": {}}]
    assert [d["id"] for d in Target.parse("tag:site=n").members(devices)] == ["a"]
    assert [d["id"] for d in Target.parse("all").members(devices)] == ["a", "b"]
    assert [d["id"] for d in Target.parse("device:b").members(devices)] == ["b"]


@pytest.mark.parametrize(("text", "fragment"), [
    ("prefixes: [camapp]\n", "fleet.yaml:1: prefixes: Value error, 'camapp': a prefix needs exactly one `+`"),
    ("mqtt:\n  port: 1883\n", "fleet.yaml:1: mqtt: Value error, mqtt.host is required"),
    ("mqtt: {host: h}\ntags:\n  a: {'site one': x}\n", "fleet.yaml:3: tags.a: Value error"),
    ("mqtt: {host: h}\nweb:\n  port: 99999\n", "fleet.yaml:3: web.port"),
    ("mqtt: {host: h, snapshots: true}\nweb: {metrics: true}\n",
     "mqtt.snapshots, web.metrics: appliance options the console does not use"),
    ("mqtt: {host: h}\nweb: {public_url: 'http://fleet.lan'}\n", "over https:// only"),
])
def test_fleet_yaml_errors_name_field_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_fleet_config(path)
    assert fragment in str(err.value).replace(str(tmp_path) + "/", "")


def test_simulated_appliances_appear_and_their_last_will_shows_them_offline(running: Any) -> None:
    con, _, _ = running
    with Simulator("127.0.0.1", con.cfg.mqtt.port, keepalive_s=5) as sim:
        sim.add([f"sim-{i}" for i in range(20)])
        settle(con, lambda ds: sum(1 for d in ds.values() if d["online"]) == 20)
        sim.kill("sim-3")
        settle(con, lambda ds: ds["sim-3"]["online"] is False)
    assert con.registry.device("sim-0")["reported"]["schema"] == "camapp.fleet.reported/1"  # type: ignore[index]


def test_the_fleet_yaml_in_the_docs_is_valid(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "fleet.md").read_text()
    block = re.search(r"```yaml\n(   mqtt:.*?)   ```", text, re.S)
    assert block is not None
    path = tmp_path / "fleet.yaml"
    path.write_text("\n".join(line[3:] for line in block.group(1).splitlines()))
    cfg = load_fleet_config(path)
    assert (cfg.web.public_url, cfg.tags["shed-1"]) == ("https://fleet.lan:8443", {"site": "farm"})
