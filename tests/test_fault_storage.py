"""Fault drills for storage and MQTT (docs/reliability.md): a full 30 MB disk, the media quota, `end` after kill -9.

Each drill runs the real `camapp` in a subprocess over the demo video with the real model, and asserts that nothing
is lost. The full-disk drill needs a real small filesystem without root: a tmpfs mounted inside an unprivileged
user + mount namespace (`unshare --user --map-root-user --mount`), which only the drill's processes see.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
import yaml
from conftest import ROOT, need, user_namespaces_work
from mqtt_broker import Broker, Collector

pytestmark = pytest.mark.fault

DISK_MB = 30
QUOTA_MB = 10
CAMAPP = [str(Path(sys.executable).parent / "camapp")]


def test_a_full_30mb_disk_keeps_every_event_and_the_quota(tmp_path: Path, demo_video: Path,
                                                          model_manifest: Path) -> None:
    """Three replays onto a 30 MB disk with a 10 MB quota; mid-way another process fills the disk to the last byte.

    The detector analyses 2 frames a second instead of 5: a third less CPU per replay (the drill tests storage, and
    still sees about 28 events per replay), so it stays well inside its timeout on a busy 2-core machine."""
    need(user_namespaces_work(), "unprivileged user namespaces (unshare --user --map-root-user --mount)",
         "util-linux, and sysctl kernel.unprivileged_userns_clone=1 (or run as root)")
    mount, out = tmp_path / "disk", tmp_path / "report.json"
    mount.mkdir()
    driver = [sys.executable, str(ROOT / "tests" / "fault_disk.py"), str(mount), str(demo_video), str(out),
              "--quota-mb", str(QUOTA_MB), "--config", "detect:\n  fps: 2\n"]
    script = f'mount -t tmpfs -o size={DISK_MB}m tmpfs "$1" && shift && exec "$@"'
    cmd = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script, "sh", str(mount), *driver]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0 and out.is_file(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    print("full-disk drill:", json.dumps({k: v for k, v in report.items() if k not in ("runs", "verify_out")}),
          [{k: v for k, v in r.items() if k != "stderr"} for r in report["runs"]])
    assert report["disk_bytes"] <= DISK_MB * 1024 * 1024
    runs = report["runs"]
    assert [r["rc"] for r in runs] == [0, 0, 0], [r["stderr"][-3000:] for r in runs]
    assert runs[1]["ballast_bytes"] > 0 and report["min_free_bytes"] < 1024 * 1024, "the disk really was full"
    assert all("lost" not in r["stderr"] for r in runs), [r["stderr"][-3000:] for r in runs]
    # Nothing lost: every event any replay started is stored, ended, and the hash chain verifies.
    assert report["expected"] > 60 and report["missing"] == []
    assert report["ongoing"] == 0
    assert report["verify_rc"] == 0, report["verify_out"]
    # The quota held all along (media being written included), sampled every 50 ms.
    assert report["samples"] > 100
    assert report["peak_media_bytes"] <= 1.05 * report["quota_bytes"], report["peak_media_bytes"]
    assert report["final_media_bytes"] <= report["quota_bytes"]


def _short_video(src: Path, dst: Path, frames: int) -> Path:
    cap = cv2.VideoCapture(str(src))
    writer = None
    for _ in range(frames):
        ok, image = cap.read()
        assert ok
        if writer is None:
            writer = cv2.VideoWriter(str(dst), cv2.VideoWriter.fourcc(*"MJPG"), 10.0,
                                     (image.shape[1], image.shape[0]))
        writer.write(image)
    cap.release()
    assert writer is not None
    writer.release()
    return dst


def _pairs(col: Collector) -> tuple[set[str], set[str], list[dict[str, object]]]:
    bodies = [json.loads(m.payload) for m in col.messages]
    news = {str(b["id"]) for b in bodies if b.get("type") == "new"}
    ends = {str(b["id"]) for b in bodies if b.get("type") == "end"}
    return news, ends, bodies


def test_every_new_gets_an_end_after_kill_9_and_restart(tmp_path: Path, demo_video: Path,
                                                        model_manifest: Path) -> None:
    need(shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists(), "mosquitto",
         "apt-get install -y mosquitto")
    with Broker(tmp_path / "broker") as broker:
        config = tmp_path / "c.yaml"
        config.write_text(yaml.safe_dump({
            "device_id": "k9", "storage": {"path": str(tmp_path / "data"), "min_free_mb": 0},
            "mqtt": broker.mqtt_config(),
        }))
        with Collector(broker, ["camapp/k9/events"]) as col:
            proc = subprocess.Popen([*CAMAPP, "replay", str(demo_video), "-c", str(config)], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                # Kill while several events are running (their `new` is out, their `end` not yet).
                col.wait_for(lambda ms: len(_pairs(col)[0] - _pairs(col)[1]) >= 3 and len(_pairs(col)[0]) >= 6,
                             timeout=240)
            finally:
                os.kill(proc.pid, signal.SIGKILL)
                proc.communicate(timeout=30)
            news, ends, _ = _pairs(col)
            cut = news - ends
            assert cut, "the kill must leave events without an end"
            short = _short_video(demo_video, tmp_path / "short.avi", 20)
            restart = subprocess.run([*CAMAPP, "replay", str(short), "-c", str(config)], cwd=ROOT,
                                     capture_output=True, text=True, timeout=300)
            assert restart.returncode == 0, restart.stderr[-3000:]
            col.wait_for(lambda ms: _pairs(col)[0] <= _pairs(col)[1], timeout=30)
            news, ends, bodies = _pairs(col)
    print(f"kill -9 drill: {len(cut)} of {len(news)} events cut by the kill; every new has its end")
    restart_ends = {str(b["id"]) for b in bodies if b.get("type") == "end" and b.get("reason") == "restart"}
    assert cut <= restart_ends
    conn = sqlite3.connect(tmp_path / "data" / "events.db")
    reasons = {r[0]: r[1] for r in conn.execute(
        "SELECT event_id, json_extract(payload, '$.reason') FROM event_log WHERE type = 'end'")}
    ongoing = conn.execute("SELECT COUNT(*) FROM events WHERE end_time IS NULL").fetchone()[0]
    conn.close()
    assert ongoing == 0
    # The store closed the same events with reason `restart` (those whose rows it had committed before the kill).
    store_restart = {k for k, v in reasons.items() if v == "restart"}
    assert store_restart and store_restart <= restart_ends | (news & ends)
    verify = subprocess.run([*CAMAPP, "verify-log", "-c", str(config)], capture_output=True, text=True)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_a_broker_outage_keeps_the_outbox_bounded_and_every_new_paired(tmp_path: Path, demo_video: Path,
                                                                      model_manifest: Path) -> None:
    """A whole replay of the busy demo while the broker is away, with a 20 KB outbox: bounded, drops counted and
    logged once, and once the broker is back every `new` that reaches the subscriber has its `end`."""
    need(shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists(), "mosquitto",
         "apt-get install -y mosquitto")
    broker = Broker(tmp_path / "broker")  # not started: the outage
    config = tmp_path / "c.yaml"
    data = tmp_path / "data"
    bound = 0.02 * 1024 * 1024
    config.write_text(yaml.safe_dump({"device_id": "out", "mqtt": broker.mqtt_config(outbox_max_mb=0.02),
                                      "storage": {"path": str(data), "min_free_mb": 0, "snapshots": False,
                                                  "clips": False}}))
    offline = subprocess.run([*CAMAPP, "replay", str(demo_video), "-c", str(config)], cwd=ROOT,
                             capture_output=True, text=True, timeout=600)
    assert offline.returncode == 0, offline.stderr[-3000:]
    assert offline.stderr.count("MQTT outbox full") == 1, "one warning a minute, not one per message"
    conn = sqlite3.connect(data / "mqtt-outbox.sqlite")
    size = conn.execute("SELECT SUM(LENGTH(topic) + LENGTH(payload)) FROM outbox").fetchone()[0]
    kinds = dict(conn.execute("SELECT kind, COUNT(*) FROM outbox GROUP BY kind").fetchall())
    conn.close()
    print(f"outage drill: outbox {size} bytes (bound {bound:.0f}), kept {kinds}")
    assert size <= bound and kinds.get("update", 0) == 0 and kinds["new"] == kinds["end"]
    with broker, Collector(broker, ["camapp/out/events"]) as col:
        short = _short_video(demo_video, tmp_path / "short.avi", 20)
        online = subprocess.run([*CAMAPP, "replay", str(short), "-c", str(config)], cwd=ROOT,
                                capture_output=True, text=True, timeout=300)
        assert online.returncode == 0, online.stderr[-3000:]
        col.wait_for(lambda ms: len(_pairs(col)[0]) >= kinds["new"] and _pairs(col)[0] == _pairs(col)[1], 30)
    conn = sqlite3.connect(data / "mqtt-outbox.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    conn.close()
