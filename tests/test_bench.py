"""camapp.bench's quick mode: `--only tracking` gives the tracking and idle figures without the speed baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from camapp.bench import main as bench
from camapp.bench.harness import bench_config, frames_of
from camapp.detect.factory import build_detector
from camapp.detect.trust import ModelTrust


def test_only_names_a_known_part() -> None:
    assert bench.parse_args(["--only", "tracking"]).only == "tracking"
    assert bench.parse_args([]).only is None
    with pytest.raises(SystemExit) as err:
        bench.parse_args(["--only", "speed"])
    assert err.value.code == 2


def test_only_tracking_prints_tracking_and_idle_figures_without_baselines(
    demo_video: Path, model_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = bench_config(demo_video)
    frames = [f for _, f in zip(range(200), frames_of(demo_video), strict=False)]
    with build_detector(cfg.model, ModelTrust.from_config(cfg.web)) as detector:
        bench.bench_tracking(frames, cfg, detector, tmp_path / "no-gt.txt")
    out = capsys.readouterr().out
    assert "tracking (vtest.avi, default config)" in out
    assert "person events" in out
    assert "frames sent to detector" in out
    assert "naive" not in out and "viewers" not in out
