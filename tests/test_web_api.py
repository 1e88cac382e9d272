"""The JSON API and pages through Flask's test client: happy paths and validation errors."""
# ruff: noqa: F811  (pytest fixtures imported from test_web_support are redefined as arguments)

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import shutil
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from test_web_support import Appliance, admin, appliance, form_fields  # noqa: F401 (fixtures)

from camapp.assets import MODELS_DIR
from camapp.bus import BusEvent
from camapp.commands import ApplyConfig
from camapp.detect import trust
from camapp.detect.trust import ModelTrust
from camapp.web.openapi import spec
from camapp.web.tls import ensure_certificate, ssl_context

MODEL = MODELS_DIR / "mobilenet_ssd_v2_coco_quant_postprocess.tflite"
LABELS = MODELS_DIR / "coco_labels.txt"


def decode_jpeg(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "not a JPEG"
    return img


def wait_for_frame(appl: Appliance) -> None:
    deadline = time.monotonic() + 5
    while appl.ctx.hub.latest() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def test_status_reports_pipeline_state_and_objects(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    wait_for_frame(appliance)
    s = client.get("/api/status").json
    assert s["frame"] == {"width": 768, "height": 576}
    assert s["state"]["mode"] == "disarmed" and s["mqtt"]["connected"] is True
    assert s["storage"]["event_count"] == 3 and s["storage"]["clip_codec"] in ("avc1", "mp4v")
    assert s["pipeline"]["frames"] > 0
    assert {"cpu_temp_c", "load", "disk", "memory", "uptime_s"} <= set(s["health"])


def test_snapshot_jpg_is_scaled_and_overlays_differ(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    wait_for_frame(appliance)
    appliance.ctx.hub.publish(appliance.results[5])  # a frame with motion
    resp = client.get("/api/snapshot.jpg")
    assert resp.mimetype == "image/jpeg"
    assert decode_jpeg(resp.data).shape == (480, 640, 3)
    plain = client.get("/api/snapshot.jpg?boxes=0&motion=0&zones=0")
    assert plain.status_code == 200 and plain.data != resp.data
    assert "attachment" in client.get("/api/snapshot.jpg?download=1").headers["Content-Disposition"]


def test_mjpeg_stream_sends_jpeg_parts_and_releases_viewer(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    wait_for_frame(appliance)
    resp = client.get("/api/stream.mjpeg?max_frames=3&motion=0")
    assert resp.mimetype == "multipart/x-mixed-replace"
    parts = [p for p in resp.data.split(b"--frame\r\n") if p]
    assert len(parts) == 3
    head, _, jpg = parts[0].partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    assert decode_jpeg(jpg[:length]).shape[1] == 640
    assert appliance.ctx.hub.viewers == 0


def test_state_controls(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    h = {"X-CSRF-Token": csrf}
    changes: list[str] = []
    appliance.ctx.control.bus.subscribe(BusEvent, lambda c: changes.append(type(c).__name__))
    assert client.post("/api/arm", json={"mode": "home"}, headers=h).json["armed"] is True
    bad = client.post("/api/arm", json={"mode": "party"}, headers=h)
    assert bad.status_code == 400 and "mode must be one of" in bad.json["error"] and bad.json["status"] == 400
    assert client.post("/api/detection", json={"enabled": "yes"}, headers=h).status_code == 400
    assert client.post("/api/detection", json={"enabled": False}, headers=h).json["detection"] is False
    assert client.post("/api/silence", headers=h, json={}).status_code == 200
    assert client.post("/api/arm", data="not json", headers=h).status_code == 400
    snap = client.post("/api/snapshot", headers=h)
    assert snap.status_code == 202 and snap.json["id"]
    assert changes == ["ModeChanged", "DetectionToggled", "SilenceRequested", "SnapshotRequested"]


def test_events_list_filters_and_paging(admin) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    evs = client.get("/api/events").json["events"]
    assert [e["id"] for e in evs] == ["ev2", "ev1", "ev0"]  # newest first
    assert [e["id"] for e in client.get("/api/events?label=person").json["events"]] == ["ev2", "ev0"]
    assert [e["id"] for e in client.get("/api/events?zone=driveway").json["events"]] == ["ev0"]
    before = evs[0]["start_time"]
    assert [e["id"] for e in client.get(f"/api/events?limit=1&before={before}").json["events"]] == ["ev1"]


@pytest.mark.parametrize("query", ["limit=0", "limit=abc", "before=-1", "label=../etc", "since=1e20"])
def test_events_bad_query_is_400(admin, query: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    resp = client.get(f"/api/events?{query}")
    assert resp.status_code == 400 and query.split("=")[0] in resp.json["error"]


def test_event_detail_media_and_delete(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    assert client.get("/api/events/ev1").json["label"] == "car"
    assert client.get("/api/events/nope").status_code == 404
    assert client.get("/api/events/bad%20id").status_code == 400
    for url in ("/api/events/-ev1", "/api/events/_x/snapshot", "/api/snapshots/.x"):  # the store's id rule
        resp = client.get(url)
        assert resp.status_code == 400 and "invalid" in resp.json["error"], url
    thumb = decode_jpeg(client.get("/api/events/ev1/thumbnail").data)
    assert max(thumb.shape[:2]) == 160  # storage.thumbnail_size: a crop around the object
    snap = decode_jpeg(client.get("/api/events/ev1/snapshot").data)
    assert snap.shape == (576, 768, 3)
    whole = client.get("/api/events/ev1/clip.mp4")  # remuxed from the segments the event holds, on request
    size = int(whole.headers["Content-Length"])
    assert whole.status_code == 200 and size == len(whole.data) > 1000 and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.headers.get("ETag")
    assert whole.headers["Content-Disposition"].endswith("_car.mp4")  # a download name: camera, time, label
    clip = client.get("/api/events/ev1/clip.mp4", headers={"Range": "bytes=0-99"})
    assert clip.status_code == 206 and len(clip.data) == 100 and clip.data[4:8] == b"ftyp"  # an MP4
    assert clip.data[:100] == whole.data[:100] and clip.headers["Content-Range"] == f"bytes 0-99/{size}"
    assert b"moov" in whole.data[:4096]  # the index comes first: the player starts before the end arrives
    tail = client.get("/api/events/ev1/clip.mp4", headers={"Range": f"bytes={size - 10}-"})
    assert tail.status_code == 206 and tail.data == whole.data[-10:]
    old_url = client.get("/api/events/ev1/clip", headers={"Range": "bytes=0-99"})  # the URL of schema 3
    assert old_url.status_code == 206 and old_url.data == clip.data
    assert client.get("/api/events/ev1/secrets").status_code == 404
    page = client.get("/events/ev1").get_data(as_text=True)
    assert "<video" in page and "/api/events/ev1/clip.mp4" in page and "data-path=" in page
    files = [appliance.store.media_path("ev1", k) for k in ("snapshot", "snapshot_clean", "thumbnail")]
    assert all(f is not None and f.is_file() for f in files)
    assert appliance.store.media_path("ev1", "clip") is None  # no second copy of the video
    assert client.delete("/api/events/ev1", headers={"X-CSRF-Token": csrf}).json == {"deleted": "ev1"}
    assert client.get("/api/events/ev1").status_code == 404
    assert client.get("/api/events/ev1/clip.mp4").status_code == 404
    assert client.get("/events/ev1").status_code == 404
    assert not any(f.exists() for f in files if f is not None)


def test_event_has_the_recorded_path_and_clip_codec(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    event = client.get("/api/events/ev0").json
    assert (event["frame_width"], event["frame_height"]) == (768, 576)
    path = event["path"]
    assert len(path) >= 8 and [p[0] for p in path] == sorted(p[0] for p in path)
    assert event["start_time"] <= path[0][0] and path[-1][0] <= event["end_time"]
    assert all(0 <= x <= 768 and 0 <= y <= 576 for _, x, y in path)
    assert event["clip_codec"] == appliance.store.usage()["clip_codec"]
    page = client.get("/events/ev0").get_data(as_text=True)
    fmt = {"mp4v": "MPEG-4 Part 2", "avc1": "H.264"}[event["clip_codec"]]
    assert f'data-format="{fmt}"' in page and f"Download clip ({fmt})" in page
    assert 'data-frame-width="768"' in page and "Where it went" in page and "first seen:" in page
    assert "of the picture" in page and "(" + str(int(path[0][1])) not in page  # in words, not pixel coordinates
    # the clip's window explained; its poster is the event's clean picture
    roll = appliance.ctx.get_config().storage  # the store the appliance builds from this same section
    assert f"{roll.pre_roll_s:g} s before the person was first seen to {roll.post_roll_s:g} s after" in page
    assert 'poster="/api/events/ev0/snapshot_clean"' in page


def test_events_page_grid_and_filters(admin) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    html = client.get("/events?label=person").get_data(as_text=True)
    assert html.count('class="tile"') == 2 and "/api/events/ev0/thumbnail" in html
    today = time.strftime("%Y-%m-%d", time.localtime(time.time() - 3600))
    assert client.get(f"/events?date={today}").get_data(as_text=True).count('class="tile"') >= 1
    assert client.get("/events?date=1999-01-01").get_data(as_text=True).count('class="tile"') == 0


def test_config_get_redacts_and_put_saves_with_backup(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    h = {"X-CSRF-Token": csrf}
    cfg = client.get("/api/config").json
    cfg["mqtt"].update(host="127.0.0.1", password="hunter22")
    cfg["objects"]["default"]["threshold"] = 0.55
    put = client.put("/api/config", json=cfg, headers=h)
    assert put.status_code == 200 and put.json["config"]["mqtt"]["password"] == "********"
    assert appliance.ctx.get_config().objects.default.threshold == 0.55
    path = appliance.ctx.config_path
    assert path is not None and path.with_name("camapp.yaml.bak").exists()
    saved = yaml.safe_load(path.read_text())
    assert saved["objects"]["default"]["threshold"] == 0.55 and saved["mqtt"]["password"] == "hunter22"
    # a round trip of the masked document keeps the real password
    again = client.get("/api/config").json
    assert again["mqtt"]["password"] == "********"
    client.put("/api/config", json=again, headers=h)
    assert appliance.ctx.get_config().mqtt.password == "hunter22"


def test_config_validation_errors_name_fields(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    cfg = client.get("/api/config").json
    cfg["motion"]["threshold"] = 999
    cfg["bogus"] = 1
    resp = client.post("/api/config/validate", json=cfg, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 422
    assert set(resp.json["errors"]) == {"motion.threshold", "bogus"}
    assert "less than or equal to 255" in resp.json["errors"]["motion.threshold"]
    before = appliance.ctx.config_path.read_text()  # type: ignore[union-attr]
    assert client.put("/api/config", json=cfg, headers={"X-CSRF-Token": csrf}).status_code == 422
    assert appliance.ctx.config_path.read_text() == before and appliance.applied == []  # type: ignore[union-attr]
    assert client.put("/api/config", json=[1], headers={"X-CSRF-Token": csrf}).status_code == 400
    deep = client.put("/api/config", data="[" * 100_000, content_type="application/json",
                      headers={"X-CSRF-Token": csrf})
    assert deep.status_code == 400 and "nested too deeply" in deep.json["error"]
    many = {**cfg, "motion": {"threshold": 10}, "zones": [{"name": f"z{i}", "polygon": [[0, 0], [9, 0], [0, 9]]}
                                                            for i in range(5000)]}
    resp = client.put("/api/config", json=many, headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 422 and "at most 64 entries" in resp.json["errors"]["zones"]


def test_zones_put_and_errors(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    h = {"X-CSRF-Token": csrf}
    zones = [{"name": "driveway", "polygon": [[10, 10], [300, 10], [300, 200]]}]
    resp = client.put("/api/zones", json={"zones": zones, "motion_mask": [[[0, 0], [50, 0], [50, 50]]]}, headers=h)
    assert resp.status_code == 200
    got = client.get("/api/zones").json
    assert got["zones"][0]["name"] == "driveway" and got["motion_mask"] == [[[0.0, 0.0], [50.0, 0.0], [50.0, 50.0]]]
    bad = client.put("/api/zones", json={"zones": [{"name": "x", "polygon": [[0, 0], [1, 1]]}]}, headers=h)
    assert bad.status_code == 422 and "zones.0.polygon" in bad.json["errors"]
    assert appliance.ctx.get_config().zones[0].name == "driveway"


def test_settings_form_shows_errors_next_to_fields_and_applies(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    html = client.get("/settings").get_data(as_text=True)
    assert 'name="objects.default.threshold"' in html and 'max="1.0"' in html
    assert "Median recent score needed to confirm an event." in html
    form = form_fields(html)
    assert form["camera.source"] == "file" and form["motion.enabled"] == "on"
    form["csrf_token"] = csrf
    form["objects.default.threshold"] = "1.7"
    form["motion.mask"] = "[not json"
    bad = client.post("/settings", data=form)
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422
    field = text.split('name="objects.default.threshold"', 1)[1].split('<div class="field', 1)[0]
    assert "less than or equal to 1" in field and "not valid JSON" in text and "[not json" in text
    form["objects.default.threshold"] = "0.6"
    form["motion.mask"] = "[]"
    ok = client.post("/settings", data=form)
    assert ok.status_code == 302, ok.get_data(as_text=True)[:2000]
    assert appliance.ctx.get_config().objects.default.threshold == 0.6
    assert appliance.ctx.get_config().camera.path is not None  # untouched fields survive the round trip
    assert "Saved and applied" in client.get("/settings").get_data(as_text=True)


@pytest.mark.parametrize("page", ["/", "/events", "/events/ev0", "/settings", "/zones", "/system", "/model",
                                  "/account"])
def test_pages_render(admin, page: str) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    resp = client.get(page)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and 'name="viewport"' in html and 'name="csrf-token"' in html


def test_history_logs_metrics_and_diagnostics(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    deadline = time.monotonic() + 5
    while len(client.get("/api/history").json["points"]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    points = client.get("/api/history").json["points"]
    assert len(points) >= 2 and {"fps", "detector_ms", "motion_pct", "load", "mem_pct"} <= set(points[-1])
    assert client.get("/api/logs?lines=3").json["lines"] == ["log line 0", "log line 1", "log line 2"]
    assert client.get("/metrics").status_code == 404
    cfg = appliance.ctx.get_config().model_copy(deep=True)
    cfg.web.metrics = True
    cfg.mqtt.password = "topsecret"
    appliance.ctx.control.execute(ApplyConfig(cfg))
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r"^camapp_frames_total \d+", text, re.M) and "# TYPE camapp_fps gauge" in text
    resp = client.get("/api/diagnostics")
    zf = zipfile.ZipFile(io.BytesIO(resp.data))
    assert set(zf.namelist()) == {"status.json", "history.json", "config.yaml", "log.txt", "versions.txt"}
    assert "topsecret" not in zf.read("config.yaml").decode()


def test_openapi_documents_every_api_route(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    doc = client.get("/api/openapi.json").json
    assert doc == spec()
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    routes = set()
    for rule in appliance.app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule[len("/api"):])
            routes |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}  # type: ignore[operator]
    assert routes == documented


def _model_upload(client, csrf: str, model: bytes, labels: bytes, sig: bytes | None = None):  # type: ignore[no-untyped-def]
    data = {"model": (io.BytesIO(model), "m.tflite"), "labels": (io.BytesIO(labels), "labels.txt")}
    if sig is not None:
        data["signature"] = (io.BytesIO(sig), "m.sig")
    return client.post("/api/model", data=data, headers={"X-CSRF-Token": csrf}, content_type="multipart/form-data")


@pytest.mark.parametrize(("model", "labels", "message"), [
    (b"not a model at all", b"person\n", "TFL3"),
    (b"\0\0\0\0TFL3" + b"\0" * 64, b"\n\n", "no labels"),
    (b"\0\0\0\0TFL3" + b"\0" * 64, b"\xff\xfe", "UTF-8"),
])
def test_model_upload_rejects_bad_files(admin, appliance: Appliance, model: bytes, labels: bytes,  # type: ignore[no-untyped-def]
                                        message: str) -> None:
    client, csrf = admin
    resp = _model_upload(client, csrf, model, labels)
    assert resp.status_code == 400 and message in resp.json["error"]
    assert appliance.switched == []


def test_model_upload_corrupt_tflite_fails_probe(admin, appliance: Appliance, model_manifest: Path) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    truncated = MODEL.read_bytes()[:50_000]  # a real header, but cut short
    resp = _model_upload(client, csrf, truncated, LABELS.read_bytes())
    assert resp.status_code == 422 and resp.json["error"]
    assert appliance.switched == [] and not list((appliance.ctx.data_dir / "models").glob("*/model.tflite"))


def test_model_upload_signed_probe_switch_and_rollback(admin, appliance: Appliance, model_manifest: Path) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    key = Ed25519PrivateKey.generate()
    pub = base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()
    cfg = client.get("/api/config").json
    cfg["web"].update(model_public_key=pub, require_signed_models=True)
    assert client.put("/api/config", json=cfg, headers={"X-CSRF-Token": csrf}).status_code == 200
    # the real wiring installs the policy its detector loads under; this test appliance has no detector wiring
    previous = trust.install(ModelTrust.from_config(appliance.ctx.get_config().web))
    try:
        _signed_upload_switch_and_rollback(client, csrf, appliance, key)
    finally:
        trust.install(previous)


def _signed_upload_switch_and_rollback(client, csrf: str, appliance: Appliance,  # type: ignore[no-untyped-def]
                                       key: Ed25519PrivateKey) -> None:
    model = MODEL.read_bytes()
    unsigned = _model_upload(client, csrf, model, LABELS.read_bytes())
    assert unsigned.status_code == 403 and "signed" in unsigned.json["error"]
    forged = _model_upload(client, csrf, model, LABELS.read_bytes(), Ed25519PrivateKey.generate().sign(model))
    assert forged.status_code == 403 and "does not match" in forged.json["error"]
    good = _model_upload(client, csrf, model, LABELS.read_bytes(), base64.b64encode(key.sign(model)))
    assert good.status_code == 201, good.json
    entry = good.json
    assert entry["signed"] and entry["active"] and entry["probe"]["input_width"] == 300
    assert appliance.switched[-1] == (Path(entry["model"]), Path(entry["labels"]))
    # switching back to the built-in model by path, then re-activating the upload
    by_path = client.post("/api/model", json={"model_path": str(MODEL), "labels_path": str(LABELS)},
                          headers={"X-CSRF-Token": csrf})
    assert by_path.status_code == 201 and by_path.json["source"] == "path"
    installed = client.get("/api/model").json["installed"]
    assert [e["active"] for e in installed] == [True, False]
    again = client.post("/api/model/activate", json={"id": entry["id"]}, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200 and appliance.switched[-1][0] == Path(entry["model"])


@pytest.mark.parametrize("path", ["/etc/passwd", "../../etc/hosts.tflite", "models/../../x.tflite", ""])
def test_model_path_must_stay_inside_model_dirs(admin, path: str) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    resp = client.post("/api/model", json={"model_path": path, "labels_path": str(LABELS)},
                       headers={"X-CSRF-Token": csrf})
    assert resp.status_code == 400 and "model_path" in resp.json["error"]


def test_upload_size_limit(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, csrf = admin
    limit = appliance.app.config["MAX_CONTENT_LENGTH"]
    resp = _model_upload(client, csrf, b"\0\0\0\0TFL3" + b"\0" * limit, b"person\n")
    assert resp.status_code == 413 and resp.is_json


def test_self_signed_certificate_is_made_once(tmp_path: Path) -> None:
    cert, key = ensure_certificate(tmp_path)
    first = cert.read_bytes()
    assert ensure_certificate(tmp_path) == (cert, key) and cert.read_bytes() == first
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert ssl_context(tmp_path) is not None
    shutil.rmtree(tmp_path / "tls")


def test_recordings_timeline_and_segment_range_requests(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    client, _ = admin
    events = appliance.store.list_events()
    since = min(e["start_time"] for e in events) - 60
    until = max(e["end_time"] for e in events) + 60
    data = client.get(f"/api/recordings?since={since}&until={until}").json
    assert sorted(e["id"] for e in data["events"]) == sorted(e["id"] for e in events)
    segments = data["segments"]
    assert segments and all(s["start"] < s["end"] and s["frames"] > 0 and s["bytes"] > 0 for s in segments)
    last = max(events, key=lambda e: e["start_time"])
    assert any(s["start"] - 0.01 <= last["start_time"] < s["end"] for s in segments)  # the latest event's footage
    # ISO 8601 (UTC) beside every Unix time, for scripts and spreadsheets
    iso = dt.datetime.fromisoformat
    assert iso(data["since_iso"]).timestamp() == pytest.approx(since, abs=0.001)
    assert all(iso(s["start_iso"]).timestamp() == pytest.approx(s["start"], abs=0.001) for s in segments)
    assert all(iso(e["start"]).timestamp() == pytest.approx(e["start_time"], abs=0.001) for e in data["events"])
    url = f"/api/recordings/{segments[-1]['id']}"
    whole = client.get(url)
    assert whole.status_code == 200 and whole.mimetype == "video/mp4" and whole.headers["Accept-Ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.data == whole.data[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(whole.data)}"
    assert client.get(url, headers={"Range": f"bytes={len(whole.data) + 10}-"}).status_code == 416
    assert client.get("/api/recordings/2020-01-01_000000-000").status_code == 404
    assert client.get("/api/recordings/..%2Fevents.db").status_code in (400, 404)
    wide = client.get(f"/api/recordings?since=0&until={until}")
    assert wide.status_code == 400 and "at most 86400" in wide.json["error"]
    page = client.get("/recordings").get_data(as_text=True)
    assert 'id="rec-track"' in page and "recordings.js" in page


def test_store_rows_are_the_typed_records_the_schema_documents(admin, appliance: Appliance) -> None:  # type: ignore[no-untyped-def]
    """/api/events, /api/events/<id> and /api/recordings answer with camapp.store.records' types, and
    /api/openapi.json documents exactly their keys (generated from the same types)."""
    from pydantic import TypeAdapter

    from camapp.store.records import EventDetail, EventRecord, SegmentRecord

    client, _ = admin
    events = client.get("/api/events").json["events"]
    assert events, "the seeded store has events"
    detail = client.get(f"/api/events/{events[0]['id']}").json
    newest = max(e["start_time"] for e in events)
    recordings = client.get("/api/recordings", query_string={"since": newest - 3600, "until": newest + 60}).json
    TypeAdapter(list[EventRecord]).validate_python(events, strict=True)
    TypeAdapter(EventDetail).validate_python(detail, strict=True)
    TypeAdapter(list[SegmentRecord]).validate_python(recordings["segments"], strict=True)
    schemas = spec()["components"]["schemas"]
    for name, row in (("EventRecord", events[0]), ("EventDetail", detail)):
        assert set(schemas[name]["properties"]) == set(row) == set(schemas[name]["required"]), name
    assert schemas["EventDetail"]["properties"]["end_time"] == {"type": "number", "nullable": True}
    ops = spec()["paths"]
    assert ops["/events/{event_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EventDetail"}
