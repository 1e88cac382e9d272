"""`camapp run` and `camapp replay`: the appliance's wiring, on its camera or over a recorded file."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from camapp.cmd.common import DEFAULT_CONFIG, config, setup_logging, usable_data_dir
from camapp.config import AppConfig, FileCameraConfig
from camapp.errors import CaptureError, ConfigError, InputError
from camapp.replaylog import JsonEventSink, MotSink
from camapp.sinks import ResultSink


def run_config(args: argparse.Namespace) -> tuple[AppConfig, Path | None]:
    """The config `camapp run` runs, and the file that settings changes are saved to (none for the demo, whose
    camera is not the file's)."""
    from camapp.demo import demo_config, demo_with

    if args.demo and args.config:
        return demo_with(config(args.config), Path(args.config)), None
    if args.demo:
        return demo_config(), None
    return config(args.config, required=True), Path(args.config or DEFAULT_CONFIG)


def cmd_run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from camapp.allocator import tune_malloc
    from camapp.app import Appliance

    tune_malloc()  # before any thread starts: arenas are made per thread
    cfg, path = run_config(args)
    if args.port is not None:
        try:
            cfg.web.port = args.port
        except ValidationError as err:
            raise ConfigError(f"--port {args.port}: {err.errors()[0]['msg']}") from None
    setup_logging(cfg.log_level)
    usable_data_dir(cfg)
    with Appliance(cfg, path) as app:
        return app.run_forever()


def cmd_replay(args: argparse.Namespace) -> int:
    from camapp.app import Appliance

    cfg = replay_camera(config(args.config), args.camera)
    _check_video(Path(args.video))
    cfg.camera = FileCameraConfig(id=cfg.camera.id, path=Path(args.video), loop=False, realtime=False)
    setup_logging("WARNING" if args.json else cfg.log_level)
    if cfg.storage.path is not None or cfg.mqtt.host is not None:  # only then does a replay write there
        usable_data_dir(cfg)
    with Appliance(cfg, None) as app:
        extra: list[ResultSink] = [JsonEventSink(app.model_name)] if args.json else []
        if args.mot:
            extra.append(MotSink(Path(args.mot), detected_only=args.mot_detected_only))
        t0 = time.perf_counter()
        app.replay(extra)
        elapsed = time.perf_counter() - t0
    s = app.stats.as_dict()
    summary = {"frames": s["frames"], "motion_frames": s["motion_frames"], "detector_calls": s["detector_calls"],
               "fps": round(s["frames"] / elapsed, 2) if elapsed > 0 else 0.0}
    print(json.dumps({"summary": summary}) if args.json else f"replay: {summary}")
    return 0


def replay_camera(cfg: AppConfig, camera: str | None) -> AppConfig:
    """The config a replay runs: with --camera, that camera's (its overrides of motion, detect, zones, rules...);
    a lone camera needs no --camera."""
    views = cfg.camera_configs()
    if camera is None and len(views) == 1:
        return next(iter(views.values()))
    if camera is None:
        raise InputError(f"--camera NAME: this config has {len(views)} cameras ({', '.join(views)}); say which "
                         "one the file is")
    if camera not in views:
        raise InputError(f"--camera {camera}: no such camera in the config (cameras: {', '.join(views)})")
    return views[camera]


def _check_video(path: Path) -> None:
    """A replayable file: exists, is no oversized still image, and a first frame can be decoded from it."""
    from camapp.capture.file import VideoReader
    from camapp.imageguard import check_file

    if not path.is_file():
        raise InputError(f"{path}: no such video file")
    check_file(path)
    unreadable = InputError(f"{path}: not a video camapp can decode (no frame could be read)")
    try:
        reader = VideoReader(path)
    except CaptureError:
        raise unreadable from None
    try:
        if reader.read() is None:
            raise unreadable
    finally:
        reader.close()
