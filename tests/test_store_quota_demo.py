"""The demo (real model, vtest.avi at its own pace) with a small media quota, run until the quota has freed space
at least twice: no event in the API or UI offers a clip it cannot play, every event that claims a clip plays,
verify-log passes, and the bytes written per hour stay near the segment and snapshot files written per hour
(camapp.bench.storage measures them from /proc/self/task/<tid>/io)."""


from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest
from conftest import ROOT
from test_web_support import login, make_appliance, with_users

from camapp.store import verify_log

pytestmark = pytest.mark.slow
QUOTA_MB = 16  # about 65 s of the demo's segments and snapshots
SPAN_S = 120


@pytest.fixture(scope="module")
def quota_run(tmp_path_factory: pytest.TempPathFactory, demo_video: Path, model_manifest: Path) -> tuple[Path, dict]:
    data = tmp_path_factory.mktemp("quota") / "data"
    proc = subprocess.run([sys.executable, "-m", "camapp.bench.storage", "--json", "--span-s", str(SPAN_S),
                           "--max-media-mb", str(QUOTA_MB), "--data", str(data)], cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    print("quota demo:", json.dumps(figures))
    return data, figures


def test_the_quota_pruned_at_least_twice_and_writes_stay_near_the_video(quota_run: tuple[Path, dict]) -> None:
    data, m = quota_run
    assert m["quota_passes"] >= 2 and m["pruned_events"] >= 2
    per_hour = m["per_hour"]
    files = m["segment_files_per_hour"] + m["snapshot_files_per_hour"]
    # Issue 21: bytes written per hour <= 1.2x the segment and snapshot bytes written per hour (1.29x with 4 KiB
    # SQLite pages, 1.13x with 1 KiB ones). A snapshot a better frame replaced counts: it was the event's picture.
    assert per_hour["total"] <= 1.2 * files, (per_hour, files)
    result = verify_log(data)
    assert result.ok, result.message


def test_no_event_offers_a_clip_it_cannot_play(tmp_path: Path, demo_video: Path,
                                               quota_run: tuple[Path, dict]) -> None:
    appl, feeder = make_appliance(tmp_path, demo_video, quota_run[0])
    try:
        with_users(appl)
        client = appl.app.test_client()
        login(client)
        events = client.get("/api/events?limit=500").json["events"]
        assert {e["clip"] for e in events} <= {"ready", "pruned", "none"}
        assert any(e["clip"] == "pruned" for e in events) and any(e["has_clip"] for e in events)
        for event in events:
            page = client.get(f"/events/{event['id']}").get_data(as_text=True)
            clip = client.get(f"/api/events/{event['id']}/clip.mp4")
            if event["has_clip"]:
                assert clip.status_code == 200 and "<video" in page, event["id"]
                out = tmp_path / f"{event['id']}.mp4"
                out.write_bytes(clip.data)
                with av.open(str(out)) as container:
                    assert container.streams.video[0].codec_context.name == "h264"
                    assert sum(1 for _ in container.decode(video=0)) > 0
            else:  # never a dead player: the page says why there is none
                assert clip.status_code == 404 and event["clip"] in clip.json["error"]
                assert "<video" not in page
                if event["clip"] == "pruned":
                    assert "Clip: pruned" in page
    finally:
        feeder.close()
        appl.close()
