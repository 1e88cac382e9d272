"""camapp.bench.cameras on a very short span: each configuration runs the real appliance (real model, the clip in
real time) in a child process and the report carries every figure; no timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from camapp.bench import cameras


def test_short_run_reports_every_figure_per_camera(
    demo_video: Path, model_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    figures = tmp_path / "cameras.json"
    assert cameras.main(["--counts", "1,2", "--seconds", "3", "--warmup", "0.5", "--json", str(figures)]) == 0
    out = capsys.readouterr().out
    runs = json.loads(figures.read_text())
    assert set(runs) == {"1", "2"}
    assert list(runs["1"]["per_camera"]) == ["front"] and list(runs["2"]["per_camera"]) == ["front", "drive"]
    for run in runs.values():
        assert run["rss_mb"] > 50 and run["cpu_pct"] > 0 and run["clip_fps"] == 10.0
        assert run["health_samples"] >= 2
        for cam in run["per_camera"].values():
            assert cam["fps"] > 0 and isinstance(cam["person_events"], int)
    assert runs["1"]["per_camera"]["front"]["late_slots"] is None  # one camera calls the model directly
    assert all(isinstance(c["late_slots"], int) and c["requests"] > 0 and c["wait_ms_mean"] >= 0
               for c in runs["2"]["per_camera"].values())
    assert "1 camera(s)" in out and "2 camera(s)" in out and "invokes/s in total" in out
    assert "2 cameras vs 1: RSS" in out and "person events" in out and "/healthz" in out
    assert "Raspberry Pi 4: 80 ms per invoke" in out and "Raspberry Pi 5: 30 ms per invoke" in out


@pytest.mark.parametrize("counts", ["0", "1,9", "two", ""])
def test_counts_out_of_range_are_refused(counts: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        cameras.parse_args(["--counts", counts])
    assert err.value.code == 2 and "--counts" in capsys.readouterr().err
