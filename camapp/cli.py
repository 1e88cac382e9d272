"""Command line: `camapp run | detect | replay | check-config | verify-log | user | setup-code`. These forms are
relied on by outside scripts; keep them stable. The subcommands themselves are in camapp/cmd/.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from camapp.cmd.run import cmd_replay, cmd_run
from camapp.cmd.tools import cmd_check_config, cmd_detect, cmd_fleet, cmd_setup_code, cmd_user, cmd_verify_log
from camapp.errors import CamappError, ConfigError, InputError
from camapp.redact import redact_text


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
