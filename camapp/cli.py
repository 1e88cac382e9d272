"""Command line: `camapp run | detect | replay | check-config | verify-log | user | setup-code`. These forms are
relied on by outside scripts; keep them stable.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from camapp.config import AppConfig, FileCameraConfig, load_config
from camapp.errors import CamappError, CaptureError, ConfigError, InputError
from camapp.redact import install_log_redaction, redact_text
from camapp.replaylog import JsonEventSink, MotSink
from camapp.sinks import ResultSink

DEFAULT_CONFIG = Path(os.environ.get("CAMAPP_CONFIG", "/etc/camapp/config.yaml"))
log = logging.getLogger("camapp")


def _setup_logging(level: str = "INFO") -> None:
    install_log_redaction()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True)


def _config(path: str | None, required: bool = False) -> AppConfig:
    if path is None and required and not DEFAULT_CONFIG.is_file():
        raise ConfigError(f"no config given and {DEFAULT_CONFIG} does not exist; use -c FILE or --demo")
    if path is None and not DEFAULT_CONFIG.is_file():
        return AppConfig()
    return load_config(Path(path) if path else DEFAULT_CONFIG)


def run_config(args: argparse.Namespace) -> tuple[AppConfig, Path | None]:
    """The config `camapp run` runs, and the file that settings changes are saved to (none for the demo, whose
    camera is not the file's)."""
    from camapp.demo import demo_config, demo_with

    if args.demo and args.config:
        return demo_with(_config(args.config), Path(args.config)), None
    if args.demo:
        return demo_config(), None
    return _config(args.config, required=True), Path(args.config or DEFAULT_CONFIG)


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
    _setup_logging(cfg.log_level)
    _data_dir(cfg)
    with Appliance(cfg, path) as app:
        return app.run_forever()


def cmd_detect(args: argparse.Namespace) -> int:
    from camapp.imageguard import read_image

    cfg = _config(args.config)
    image = read_image(args.image)  # size checked from the header before decoding: a crafted file cannot OOM us
    import cv2  # the wiring and the model only once the image is known to be good

    from camapp.annotate import draw_detections
    from camapp.detect.factory import build_detector
    from camapp.detect.trust import ModelTrust

    if args.out and not cv2.haveImageWriter(args.out):  # said before the model runs, not as a cv2.error after it
        raise InputError(f"{args.out}: OpenCV cannot write this image format (use .jpg or .png)")
    with build_detector(cfg.model, ModelTrust.from_config(cfg.web)) as detector:
        dets = detector.detect(image)
    if args.out and not cv2.imwrite(args.out, draw_detections(image, dets.boxes, dets.labels, dets.scores)):
        raise CamappError(f"{args.out}: cannot write annotated image")
    if args.json:
        print(json.dumps({"detections": dets.to_list()}))
    else:
        for d in dets.to_list():
            print(f"{d['label']:<16} {d['score']:.2f}  {d['box']}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from camapp.app import Appliance

    cfg = replay_camera(_config(args.config), args.camera)
    _check_video(Path(args.video))
    cfg.camera = FileCameraConfig(id=cfg.camera.id, path=Path(args.video), loop=False, realtime=False)
    _setup_logging("WARNING" if args.json else cfg.log_level)
    if cfg.storage.path is not None or cfg.mqtt.host is not None:  # only then does a replay write there
        _data_dir(cfg)
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


def cmd_check_config(args: argparse.Namespace) -> int:
    load_config(args.file)
    print(f"{args.file}: ok")
    return 0


def cmd_verify_log(args: argparse.Namespace) -> int:
    from camapp.store.verify import verify_log

    cfg = _config(args.config)
    if cfg.storage.path is None:
        raise ConfigError("storage.path is not set: there is no event log to verify")
    result = verify_log(cfg.storage.path)
    print(result.message)
    return 0 if result.ok else 1


def cmd_user(args: argparse.Namespace) -> int:
    from camapp.web.auth import UserStore

    cfg = _config(args.config)
    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else _prompt_password()
    try:
        password.encode("utf-8")  # undecodable stdin bytes arrive as surrogates, which cannot be hashed
    except UnicodeEncodeError:
        raise InputError("password: not UTF-8 text") from None
    UserStore(_data_dir(cfg)).set_password(args.name, password, role=args.role)
    print(f"user {args.name} ({args.role}) saved")
    return 0


def cmd_setup_code(args: argparse.Namespace) -> int:
    """Choose the web UI's one-time setup code in advance (camapp.conf's setup_code goes through here)."""
    from camapp.web import setupcode

    code = sys.stdin.readline().strip() if not sys.stdin.isatty() else _prompt_password()
    setupcode.store_code(_data_dir(_config(args.config)), code, chosen=True)
    print("setup code saved; /setup asks for it until the admin account exists")
    return 0


def cmd_fleet(args: argparse.Namespace) -> int:
    """The fleet console (camapp/fleet/): one MQTT client and a web UI for every appliance on the broker."""
    from camapp.fleet import keys
    from camapp.fleet.config import load_fleet_config
    from camapp.fleet.console import Console

    cfg = load_fleet_config(args.config)
    if args.public_key:
        print(keys.public_text(keys.load_or_create(cfg.data_dir)))
        return 0
    _setup_logging()
    with Console(cfg) as console:
        return console.run_forever()


def _prompt_password() -> str:
    import getpass

    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ConfigError("the two passwords differ")
    return first


def _data_dir(cfg: AppConfig) -> Path:
    """The data directory, created if needed; a ConfigError naming the setting when it cannot be used (a file
    there, a path that cannot be created, no write permission) instead of an OSError traceback later."""
    from camapp.datadir import data_dir

    path = data_dir(cfg)
    where = "storage.path" if cfg.storage.path is not None else "the data directory ($CAMAPP_DATA)"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{where}: cannot use {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {path} is not writable by this user")
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="camapp", description="Smart-camera appliance.")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the appliance")
    run.add_argument("-c", "--config")
    run.add_argument("--port", type=int)
    run.add_argument("--demo", action="store_true", help="run on the built-in demo clip (with -c: that config, the "
                     "demo clip as its camera)")
    run.set_defaults(func=cmd_run)
    det = sub.add_parser("detect", help="run the detector on one image")
    det.add_argument("image")
    det.add_argument("-c", "--config")
    det.add_argument("--json", action="store_true")
    det.add_argument("--out", help="write an annotated copy here")
    det.set_defaults(func=cmd_detect)
    rep = sub.add_parser("replay", help="run the whole pipeline over a recorded video, as fast as possible")
    rep.add_argument("video")
    rep.add_argument("-c", "--config")
    rep.add_argument("--camera", metavar="NAME", help="replay the file as this camera of a multi-camera config "
                     "(its zones, rules and overrides)")
    rep.add_argument("--json", action="store_true", help="print each event message as JSON, placed in the file "
                     "(frame index and video_time of the event's first frame)")
    rep.add_argument("--mot", metavar="FILE", help="write the confirmed tracks in MOTChallenge format "
                     "(frame,id,x,y,w,h,score,-1,-1,-1; frames from 1): a row on every frame of each track's life "
                     "from its first detection to its last, interpolated between detections on frames the detector "
                     "did not analyse")
    rep.add_argument("--mot-detected-only", action="store_true", help="with --mot: rows only on the frames each "
                     "track was detected in (the detector's own boxes; other frames have none)")
    rep.set_defaults(func=cmd_replay)
    chk = sub.add_parser("check-config", help="validate a config file")
    chk.add_argument("file")
    chk.set_defaults(func=cmd_check_config)
    ver = sub.add_parser("verify-log", help="check the tamper-evident event log")
    ver.add_argument("-c", "--config")
    ver.set_defaults(func=cmd_verify_log)
    usr = sub.add_parser("user", help="create a web user or change a password (password on stdin or prompted)")
    usr.add_argument("name")
    usr.add_argument("--role", choices=["admin", "viewer"], default="admin")
    usr.add_argument("-c", "--config")
    usr.set_defaults(func=cmd_user)
    code = sub.add_parser("setup-code", help="choose the web UI's one-time setup code (on stdin or prompted)")
    code.add_argument("-c", "--config")
    code.set_defaults(func=cmd_setup_code)
    fleet = sub.add_parser("fleet", help="run the fleet console (see docs/fleet.md)")
    fleet.add_argument("-c", "--config", required=True, help="fleet.yaml")
    fleet.add_argument("--public-key", action="store_true", help="print the fleet public key (for each appliance's "
                       "mqtt.fleet_public_key) and exit")
    fleet.set_defaults(func=cmd_fleet)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: Any = args.func(args)
        return int(rc)
    except ConfigError as err:
        print(f"config error:\n{redact_text(str(err))}", file=sys.stderr)  # errors may quote a URL
        return 2
    except InputError as err:  # like a bad config: running it again cannot help (systemd: RestartPreventExitStatus)
        print(f"error: {redact_text(str(err))}", file=sys.stderr)
        return 2
    except CamappError as err:
        print(f"error: {redact_text(str(err))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
