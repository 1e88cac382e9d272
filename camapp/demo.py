"""The built-in demo: the recorded street clip, looped in real time, as the camera."""

from __future__ import annotations

from pathlib import Path

from camapp.assets import ROOT, demo_video
from camapp.config import AppConfig, parse_config
from camapp.errors import ConfigError


def demo_config(port: int | None = None, data_dir: Path | None = None) -> AppConfig:
    """The built-in demo: the recorded street clip from Debian's opencv-doc, looped in real time."""
    video = demo_video()
    if not video.is_file():
        raise ConfigError(f"demo video {video} is missing; run `make demo-data`")
    data: dict[str, object] = {
        "device_id": "camapp-demo",
        "camera": {"id": "demo", "source": "file", "path": str(video), "loop": True, "realtime": True},
        "objects": {"track": ["person", "car", "bicycle"]},
        "storage": {"path": str(data_dir or ROOT / "data" / "demo")},
    }
    if port is not None:
        data["web"] = {"port": port}
    return parse_config(data, source="built-in demo config")
