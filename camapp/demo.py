"""The built-in demo: the recorded street clip, looped in real time, as the camera."""

from __future__ import annotations

from pathlib import Path

from camapp.assets import ROOT, demo_video
from camapp.config import AppConfig, FileCameraConfig, parse_config
from camapp.errors import ConfigError


def demo_camera(camera_id: str = "demo") -> FileCameraConfig:
    """The demo clip (PETS09-S2L1 street scene), looped in real time."""
    video = demo_video()
    if not video.is_file():
        raise ConfigError(f"demo video {video} is missing; run `make demo-data`")
    return FileCameraConfig(id=camera_id, path=video, loop=True, realtime=True)


def demo_config(port: int | None = None, data_dir: Path | None = None) -> AppConfig:
    """`camapp run --demo`: the demo camera with defaults; events stored under `data_dir` (./data/demo)."""
    data: dict[str, object] = {
        "device_id": "camapp-demo",
        "camera": demo_camera().model_dump(),
        "objects": {"track": ["person", "car", "bicycle"]},
        "storage": {"path": str(data_dir or ROOT / "data" / "demo")},
    }
    if port is not None:
        data["web"] = {"port": port}
    return parse_config(data, source="built-in demo config")


def demo_with(cfg: AppConfig, config_path: Path) -> AppConfig:
    """`camapp run --demo -c FILE`: the file's config with the demo clip as its only change, the camera. Without a
    storage.path the data goes next to the file (FILE's folder/camapp-data), never into the checkout."""
    storage = cfg.storage
    if storage.path is None:
        storage = storage.model_copy(update={"path": config_path.resolve().parent / "camapp-data"})
    return cfg.model_copy(update={"camera": demo_camera(cfg.camera.id), "storage": storage})
