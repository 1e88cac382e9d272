"""The CLI forms outside scripts rely on, run as real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from skimage import data

ROOT = Path(__file__).resolve().parent.parent


def camapp(*args: str, stdin: str | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAMAPP_CONFIG": "/nonexistent/camapp.yaml"}
    return subprocess.run([sys.executable, "-m", "camapp.cli", *args], capture_output=True, text=True,
                          input=stdin, cwd=cwd, env=env, timeout=300)


@pytest.mark.parametrize(("name", "label"), [("astronaut", "person"), ("chelsea", "cat"), ("coffee", "cup")])
def test_detect_json_on_real_photos(tmp_path: Path, model_manifest: Path, name: str, label: str) -> None:
    rgb = getattr(data, name)()
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    out = tmp_path / "annotated.jpg"
    proc = camapp("detect", str(path), "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    dets = json.loads(proc.stdout)["detections"]
    assert dets and dets[0]["label"] == label  # the best detection
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = dets[0]["box"]
    assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h  # pixels of the input image
    assert cv2.imread(str(out)).shape == (h, w, 3)


def test_detect_unreadable_image(tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")
    proc = camapp("detect", str(bad))
    assert proc.returncode == 2 and "not an image format camapp reads" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "code", "fragment"),
    [
        ("camera: {source: file, path: a.avi}\n", 0, "ok"),
        ("camera:\n  source: file\n  path: a.avi\n  fps: 0\n", 2, ":4: camera.fps"),
        ("mqtt:\n  port: 99999\n", 2, ":2: mqtt.port"),
        ("bogus: 1\n", 2, ":1: bogus: Extra inputs are not permitted"),
    ],
)
def test_check_config(tmp_path: Path, text: str, code: int, fragment: str) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    proc = camapp("check-config", str(cfg))
    assert proc.returncode == code
    assert fragment in (proc.stdout + proc.stderr)
    assert "Traceback" not in proc.stderr


@pytest.mark.fault
@pytest.mark.parametrize(("name", "content", "why"), [
    ("gone.mp4", None, "video file not found: {path}"),
    ("empty.mp4", b"", "video file {path} is empty (0 bytes)"),  # issue 25 #6: this one retried forever
    ("folder.mp4", "dir", "{path} is not a regular file"),
    ("notes.mp4", b"these are notes, not a video\n" * 40, "cannot read video file {path} (not a video"),
])
def test_unusable_camera_file_at_start_exits_2(tmp_path: Path, name: str, content: bytes | str | None,
                                               why: str) -> None:
    """Drill 8: a config naming a camera file that is missing, empty or unreadable is a config error (exit 2, which
    the systemd unit lists in RestartPreventExitStatus) naming the path and why, not a retry loop or a crash that
    systemd restarts ten times."""
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"camera: {{source: file, path: {path}}}\nweb: {{port: 0}}\n")
    proc = camapp("run", "-c", str(cfg))
    assert proc.returncode == 2, proc.stderr
    assert f"camera.path: {why.format(path=path)}" in proc.stderr
    assert "Traceback" not in proc.stderr
    unit = (ROOT / "image/rootfs/etc/systemd/system/camapp.service").read_text()
    assert "\nRestartPreventExitStatus=2\n" in unit


def test_bad_options_are_named_without_a_traceback(tmp_path: Path, media_dir: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("{}\n")
    proc = camapp("run", "-c", str(cfg), "--port", "99999")
    assert proc.returncode == 2 and "--port 99999: Input should be less than or equal to 65535" in proc.stderr
    proc = camapp("detect", str(media_dir / "messi5.jpg"), "--out", str(tmp_path / "annotated.xyz"))
    assert proc.returncode == 2 and "annotated.xyz: OpenCV cannot write this image format" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_unusable_data_dir_is_a_config_error(tmp_path: Path, demo_video: Path) -> None:
    (tmp_path / "afile").write_text("")
    for target, why in ((tmp_path / "afile", "File exists"), (tmp_path / "afile" / "sub", "Not a directory")):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(f"camera: {{source: file, path: {demo_video}}}\nstorage: {{path: {target}}}\n")
        for args in (("run", "-c", str(cfg)), ("replay", str(demo_video), "-c", str(cfg))):
            proc = camapp(*args)
            assert proc.returncode == 2, (args, proc.stderr)
            assert f"storage.path: cannot use {target}: {why}" in proc.stderr and "Traceback" not in proc.stderr
    proc = camapp("user", "bob", "-c", str(cfg), stdin="long enough password\n")
    assert proc.returncode == 2 and "storage.path: cannot use" in proc.stderr


def test_run_refuses_a_bad_config(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("web:\n  port: -1\n")
    proc = camapp("run", "-c", str(cfg))
    assert proc.returncode == 2 and "web.port" in proc.stderr


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory, demo_video: Path) -> Path:
    """The first 12 s of vtest.avi, so the CLI replay stays quick."""
    out = tmp_path_factory.mktemp("clip") / "short.avi"
    cap = cv2.VideoCapture(str(demo_video))
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for _ in range(120):
        ok, img = cap.read()
        assert ok
        writer.write(img)
    writer.release()
    cap.release()
    return out


def test_replay_json(short_clip: Path, model_manifest: Path, tmp_path: Path) -> None:
    mot = tmp_path / "tracks.txt"
    proc = camapp("replay", str(short_clip), "--json", "--mot", str(mot))
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    summary = lines[-1]["summary"]
    assert summary["frames"] == 120
    assert 0 < summary["detector_calls"] <= summary["frames"] and summary["fps"] > 0
    events = lines[:-1]
    assert any(e["type"] == "new" and e["label"] == "person" for e in events)
    keys = {"type", "id", "label", "score", "box", "start_time", "end_time", "track_id", "zones"}
    assert all(keys <= e.keys() for e in events)
    ends = {e["id"] for e in events if e["type"] == "end"}
    assert ends == {e["id"] for e in events if e["type"] == "new"}  # every event is closed at the end of the file
    rows = [line.split(",") for line in mot.read_text().splitlines()]
    assert rows and all(len(r) == 10 and r[7:] == ["-1", "-1", "-1"] for r in rows)
    assert all(1 <= int(r[0]) <= 120 and float(r[4]) > 0 and float(r[5]) > 0 for r in rows)
    seen = {(int(r[0]), int(r[1])) for r in rows}
    for e in events:  # placed in the file: the event's first frame is one where its track was detected
        assert e["video_time"] == pytest.approx(e["frame"] / 10, abs=1e-3)
        assert e["frame"] <= e["message_frame"] < 120
        if e["type"] == "new":
            assert (e["frame"] + 1, e["track_id"]) in seen


def test_replay_mot_unwritable(short_clip: Path, tmp_path: Path) -> None:
    proc = camapp("replay", str(short_clip), "--mot", str(tmp_path / "no" / "dir" / "t.txt"))
    assert proc.returncode == 1 and "--mot" in proc.stderr and "Traceback" not in proc.stderr


def test_replay_missing_or_not_a_video(tmp_path: Path) -> None:
    proc = camapp("replay", str(tmp_path / "nope.mp4"))
    assert proc.returncode == 2 and "nope.mp4: no such video file" in proc.stderr
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    proc = camapp("replay", str(text))
    assert proc.returncode == 2 and "notes.mp4: not a video camapp can decode" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_replay_drives_the_whole_chain_store_and_broker(tmp_path: Path, short_clip: Path, model_manifest: Path) -> None:
    """`camapp replay -c` stores and publishes exactly the events it prints; verify-log then checks the store."""
    import sqlite3

    from mqtt_broker import Broker, Collector

    from camapp.store import DB_NAME, StoreReader

    data = tmp_path / "data"
    with Broker(tmp_path / "broker") as broker, Collector(broker, ["camapp/replaytest/events"]) as sub:
        cfg = tmp_path / "camapp.yaml"
        cfg.write_text(yaml.safe_dump({
            "device_id": "replaytest",
            "storage": {"path": str(data)},
            "mqtt": broker.mqtt_config(),
        }))
        proc = camapp("replay", str(short_clip), "-c", str(cfg), "--json")
        assert proc.returncode == 0, proc.stderr
        printed = [json.loads(line) for line in proc.stdout.splitlines()][:-1]
        assert printed
        expected = [(e["id"], e["type"]) for e in printed]
        received = sub.wait_for(lambda got: len({json.loads(m.payload)["message_id"] for m in got}) >= len(expected))
    unique = {json.loads(m.payload)["message_id"]: json.loads(m.payload) for m in received}.values()
    assert [(e["id"], e["type"]) for e in unique] == expected  # in order, exactly once after dedupe
    assert all("jpeg" not in json.dumps(e).lower() for e in unique)  # metadata only

    stored = StoreReader(data).list_events(limit=1000)
    assert {e["id"] for e in stored} == {e["id"] for e in printed}
    assert all(e["end_time"] is not None for e in stored)

    ok = camapp("verify-log", "-c", str(cfg))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    with sqlite3.connect(data / DB_NAME) as db:  # tamper: change one logged label
        db.execute("UPDATE event_log SET payload = replace(payload, 'person', 'cat') WHERE seq = 2")
    bad = camapp("verify-log", "-c", str(cfg))
    assert bad.returncode == 1 and "2" in bad.stdout


def test_verify_log_without_storage_is_a_config_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("device_id: x\n")
    proc = camapp("verify-log", "-c", str(cfg))
    assert proc.returncode == 2 and "storage.path" in proc.stderr


def test_user_command_stores_a_hashed_password(tmp_path: Path) -> None:
    from camapp.web.auth import UserStore

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"storage: {{path: {tmp_path / 'data'}}}\n")
    proc = camapp("user", "alice", "--role", "viewer", "-c", str(cfg), stdin="correct horse battery\n")
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "data").rglob("*.json")
    assert not any("correct horse battery" in p.read_text() for p in text)
    store = UserStore(tmp_path / "data")
    assert "alice" in str(store.users())
    short = camapp("user", "bob", "-c", str(cfg), stdin="x\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr and "Traceback" not in short.stderr
    binary = subprocess.run([sys.executable, "-m", "camapp.cli", "user", "bob", "-c", str(cfg)], capture_output=True,
                            input=b"long enough \xff\xfe password\n", cwd=ROOT, timeout=300)
    assert binary.returncode == 2 and b"password: not UTF-8 text" in binary.stderr
    assert b"Traceback" not in binary.stderr


def test_store_clip_rate_follows_the_video_file(tmp_path: Path, demo_video: Path) -> None:
    import cv2

    from camapp.capture.factory import frame_rate
    from camapp.config import parse_config

    clip = tmp_path / "25fps.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    assert frame_rate(parse_config({"camera": {"source": "file", "path": str(clip)}}).camera) == 25
    assert frame_rate(parse_config({"camera": {"source": "file", "path": str(demo_video)}}).camera) == 10
    assert frame_rate(parse_config({"camera": {"source": "v4l2", "fps": 15}}).camera) == 15


def test_run_with_the_web_port_taken_says_so(tmp_path: Path, demo_video: Path, model_manifest: Path) -> None:
    import socket


    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = tmp_path / "c.yaml"
        cfg.write_text(yaml.safe_dump({"camera": {"source": "file", "path": str(demo_video)},
                                       "storage": {"path": str(tmp_path / "data")},
                                       "web": {"host": "127.0.0.1", "port": port}}))
        proc = camapp("run", "-c", str(cfg))
    assert proc.returncode == 2, proc.stderr
    assert f"web.port: cannot listen on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr


def test_run_demo_with_a_config_uses_it_with_the_demo_camera(tmp_path: Path, demo_video: Path) -> None:
    """`camapp run --demo -c my.yaml`: the file's settings count, the demo only supplies the camera, and nothing
    is written into the checkout."""
    from camapp.cli import build_parser
    from camapp.cmd.run import run_config

    mine = tmp_path / "my.yaml"
    mine.write_text(yaml.safe_dump({"device_id": "porch", "camera": {"id": "porch", "source": "v4l2"},
                                    "motion": {"threshold": 42}}))
    cfg, saved_to = run_config(build_parser().parse_args(["run", "--demo", "-c", str(mine)]))
    assert cfg.device_id == "porch" and cfg.motion.threshold == 42
    assert cfg.camera.source == "file" and cfg.camera.path == demo_video and cfg.camera.id == "porch"
    assert cfg.storage.path == tmp_path / "camapp-data" and saved_to is None
    stored = tmp_path / "stored"
    mine.write_text(yaml.safe_dump({"storage": {"path": str(stored)}}))
    cfg, _ = run_config(build_parser().parse_args(["run", "--demo", "-c", str(mine)]))
    assert cfg.storage.path == stored
    plain, _ = run_config(build_parser().parse_args(["run", "--demo"]))
    assert plain.device_id == "camapp-demo" and plain.motion.threshold != 42
