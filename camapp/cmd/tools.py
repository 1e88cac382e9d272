"""The one-shot subcommands: `detect` one image, `check-config`, `verify-log`, set a web `user` or the
`setup-code`, and the `fleet` console. Each imports what it needs when it runs, so `camapp check-config` does not
load the model or Flask."""

from __future__ import annotations

import argparse
import json
import sys

from camapp.cmd.common import config, prompt_password, setup_logging, usable_data_dir
from camapp.config import load_config
from camapp.errors import CamappError, ConfigError, InputError


def cmd_detect(args: argparse.Namespace) -> int:
    from camapp.imageguard import read_image

    cfg = config(args.config)
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


def cmd_check_config(args: argparse.Namespace) -> int:
    load_config(args.file)
    print(f"{args.file}: ok")
    return 0


def cmd_verify_log(args: argparse.Namespace) -> int:
    from camapp.store.verify import verify_log

    cfg = config(args.config)
    if cfg.storage.path is None:
        raise ConfigError("storage.path is not set: there is no event log to verify")
    result = verify_log(cfg.storage.path)
    print(result.message)
    return 0 if result.ok else 1


def cmd_user(args: argparse.Namespace) -> int:
    from camapp.web.auth import UserStore

    cfg = config(args.config)
    password = sys.stdin.readline().rstrip("\n") if not sys.stdin.isatty() else prompt_password()
    try:
        password.encode("utf-8")  # undecodable stdin bytes arrive as surrogates, which cannot be hashed
    except UnicodeEncodeError:
        raise InputError("password: not UTF-8 text") from None
    UserStore(usable_data_dir(cfg)).set_password(args.name, password, role=args.role)
    print(f"user {args.name} ({args.role}) saved")
    return 0


def cmd_setup_code(args: argparse.Namespace) -> int:
    """Choose the web UI's one-time setup code in advance (camapp.conf's setup_code goes through here)."""
    from camapp.web import setupcode

    code = sys.stdin.readline().strip() if not sys.stdin.isatty() else prompt_password()
    setupcode.store_code(usable_data_dir(config(args.config)), code, chosen=True)
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
    setup_logging()
    with Console(cfg) as console:
        return console.run_forever()
