"""`make bench`: several cameras on one appliance. 1, 2, 4 and 8 cameras, each looping vtest.avi in real time (10 fps),
through the real wiring (camapp.app.Appliance with a `cameras:` config, the web UI on loopback, no store or broker),
all sharing the one model through the detection scheduler.

Each configuration runs in a child process of its own, so its RSS and CPU time are its own and not what an earlier
configuration left behind. Per camera: frames delivered per second against the file's rate, frames dropped (captured
but replaced before the pipeline was free), late detection slots (camapp.detect.shared), and person events of the
clip's first pass (from the pipeline's event messages, through an extra sink); per configuration: model invokes per
second in total, the time the one model was busy, CPU %, steady RSS and what /healthz says (the same report, read
in-process). From the measured invokes per second it says what a Raspberry Pi 4 and 5 would hold.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

import cv2

from camapp.app import Appliance
from camapp.assets import demo_video
from camapp.config import AppConfig, parse_config
from camapp.detect.shared import SlotFigures, SlotStats
from camapp.sinks import ResultSink
from camapp.types import CameraName, FrameResult

NAMES = ("front", "drive", "garden", "porch", "yard", "side", "back", "gate")
RESULT = "CAMERAS-BENCH "  # the child's line carrying its figures

# Assumed CPU time of one SSD MobileNet v2 (COCO, 300x300, uint8) invoke with TFLite on 4 threads: not measured by
# this bench, and rounded figures rather than a re-checked table (override them with --pi4-ms/--pi5-ms, best with the
# "detector invoke" time `python -m camapp.bench` prints on the board itself):
# - Pi 4 (Cortex-A72 at 1.5 GHz): of the order Alasdair Allan's 2019 Raspberry Pi 4 TensorFlow Lite benchmarks
#   (Hackster.io; his "Big Benchmarking Roundup") report for MobileNet v2 SSD; 80 ms taken, towards the slow end.
#   A bound from above, checked: a float (not quantised) SSD MobileNet v2 320x320 takes 220 ms per invoke on a Pi 4B
#   (tensorflow/tensorflow issue 68424); the uint8 model here is several times faster on ARM's integer kernels.
# - Pi 5 (Cortex-A76 at 2.4 GHz): the Pi 4 figure over the 2-3x CPU speed-up Raspberry Pi announced with the Pi 5
#   (2023); 30 ms taken.
PI_INVOKE_MS = {"Raspberry Pi 4": 80.0, "Raspberry Pi 5": 30.0}


class CameraSnap(TypedDict):
    """One camera's running totals at one moment."""

    frames: int
    invokes: int
    detect_ms: float
    dropped: int
    slots: SlotFigures | None  # None with one camera (no scheduler in front of the model)


class Snapshot(TypedDict):
    t: float
    cpu: float
    cameras: dict[str, CameraSnap]


class CameraFigures(TypedDict):
    """One camera's figures over the measured span."""

    fps: float
    dropped_per_s: float
    invokes: int
    busy_ms: float
    requests: int | None
    late_slots: int | None
    wait_ms_max: float | None
    wait_ms_mean: float | None
    person_events: int
    first_pass_done: bool


class RunFigures(TypedDict):
    """One configuration's figures: what the child prints as JSON and --json writes."""

    cameras: int
    seconds: float
    clip_fps: float
    per_camera: dict[str, CameraFigures]
    invokes_per_s: float
    model_busy: float
    cpu_pct: float
    rss_mb: float
    health_samples: int
    unhealthy: dict[str, int]
    reasons: list[str]
    load: float
    cores: int


class CameraCounter(ResultSink):
    """One camera's running totals, read by the sampler (plain ints: a torn read costs at most one frame)."""

    def __init__(self, pass_frames: int) -> None:
        self.pass_frames = pass_frames
        self.frames = 0
        self.invokes = 0
        self.detect_ms = 0.0
        self.person_events = 0  # `new` person events of the clip's first pass
        self.first_pass_done = False

    def handle(self, result: FrameResult) -> None:
        self.frames += 1
        self.invokes += result.invokes
        self.detect_ms += result.timings_ms.get("detect", 0.0) if result.detector_ran else 0.0
        if result.frame.index >= self.pass_frames:
            self.first_pass_done = True
            return
        self.person_events += sum(1 for ev in result.events if ev.type == "new" and ev.label == "person")

    def close(self) -> None:
        pass


def clip_frames(video: Path) -> int:
    cap = cv2.VideoCapture(str(video))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        cap.release()


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process
    return usage.ru_utime + usage.ru_stime


def cameras_config(n: int, video: Path) -> AppConfig:
    camera = {"source": "file", "path": str(video), "loop": True, "realtime": True}
    cfg = parse_config({"device_id": "camapp-bench", "web": {"host": "127.0.0.1", "https": False},
                        "cameras": {NAMES[i]: dict(camera) for i in range(n)}})
    return cfg.model_copy(update={"web": cfg.web.model_copy(update={"port": 0})})  # a free port


def _snapshot(app: Appliance, counters: dict[CameraName, CameraCounter]) -> Snapshot:
    slots = app.live.scheduler.stats()
    return {"t": time.monotonic(), "cpu": cpu_s(), "cameras": {
        u.name: {"frames": c.frames, "invokes": c.invokes, "detect_ms": c.detect_ms,
                 "dropped": u.stats.dropped_frames, "slots": slots.get(u.name)}
        for u, c in ((u, counters[u.name]) for u in app.units)}}


def measure(n: int, seconds: float, warmup: float, video: Path) -> RunFigures:
    """In this process: the appliance with `n` cameras for warmup + seconds; the figures of the last `seconds`."""
    pass_frames = clip_frames(video)
    app = Appliance(cameras_config(n, video))
    counters = {u.name: CameraCounter(pass_frames) for u in app.units}
    for unit in app.units:  # after the appliance's own sinks, as a `sinks:` entry would be
        unit.sinks.all.append(counters[unit.name])
    thread = threading.Thread(target=app.run_forever, name="bench-appliance")
    thread.start()
    try:
        deadline = time.monotonic() + 120
        while not all(c.frames for c in counters.values()) and time.monotonic() < deadline and thread.is_alive():
            time.sleep(0.1)
        time.sleep(warmup)
        start = _snapshot(app, counters)
        rss: list[float] = []
        unhealthy: dict[str, int] = {}
        reasons: set[str] = set()
        samples = 0
        while time.monotonic() - start["t"] < seconds and thread.is_alive():
            time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - start["t"]))))
            rss.append(rss_mb())
            report = app.health.report()  # what /healthz answers
            samples += 1
            for check, state in report["checks"].items():
                if not state["ok"]:
                    unhealthy[check] = unhealthy.get(check, 0) + 1
            reasons.update(report["reasons"])
        end = _snapshot(app, counters)
    finally:
        app.stop_event.set()
        thread.join(60)
        app.close()
    span = end["t"] - start["t"]
    cams: dict[str, CameraFigures] = {}
    for name, counter in counters.items():
        a, b = start["cameras"][name], end["cameras"][name]
        slots_a, slots_b = a["slots"] or SlotStats().as_dict(), b["slots"] or SlotStats().as_dict()
        cams[name] = {
            "fps": (b["frames"] - a["frames"]) / span, "dropped_per_s": (b["dropped"] - a["dropped"]) / span,
            "invokes": b["invokes"] - a["invokes"],
            # the model's own time: with several cameras a detect call also holds the wait for its turn
            "busy_ms": slots_b["busy_ms"] - slots_a["busy_ms"] if b["slots"] else b["detect_ms"] - a["detect_ms"],
            "requests": slots_b["requests"] - slots_a["requests"] if b["slots"] else None,
            "late_slots": slots_b["late_slots"] - slots_a["late_slots"] if b["slots"] else None,
            "wait_ms_max": slots_b["wait_ms_max"] if b["slots"] else None,
            "wait_ms_mean": _mean_wait(slots_a, slots_b) if b["slots"] else None,
            "person_events": counter.person_events, "first_pass_done": counter.first_pass_done,
        }
    tail = rss[len(rss) // 2:] or rss
    return {"cameras": n, "seconds": span, "clip_fps": app.units[0].fps, "per_camera": cams,
            "invokes_per_s": sum(c["invokes"] for c in cams.values()) / span,
            "model_busy": sum(c["busy_ms"] for c in cams.values()) / 1000.0 / span,
            "cpu_pct": 100.0 * (end["cpu"] - start["cpu"]) / span, "rss_mb": statistics.median(tail) if tail else 0.0,
            "health_samples": samples, "unhealthy": unhealthy, "reasons": sorted(reasons)[:8],
            "load": os.getloadavg()[0], "cores": os.cpu_count() or 1}


def _mean_wait(a: SlotFigures, b: SlotFigures) -> float:
    """The mean wait of the requests between two snapshots of a camera's slot stats."""
    n = b["requests"] - a["requests"]
    total = b["wait_ms_mean"] * b["requests"] - a["wait_ms_mean"] * a["requests"]
    return total / n if n > 0 else 0.0


def run_child(n: int, seconds: float, warmup: float) -> RunFigures:
    """measure() in a fresh interpreter (its own RSS), with a throwaway data directory."""
    with tempfile.TemporaryDirectory(prefix="camapp-bench-cameras-") as tmp:
        env = {**os.environ, "CAMAPP_DATA": tmp}
        cmd = [sys.executable, "-m", "camapp.bench.cameras", "--child", str(n), "--seconds", str(seconds),
               "--warmup", str(warmup)]
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=seconds + warmup + 300)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the {n}-camera run failed (exit {done.returncode}); its output:\n{done.stdout[-2000:]}")
    result: RunFigures = json.loads(lines[-1].removeprefix(RESULT))  # our own child's measure(), as printed
    return result


def _slots(c: CameraFigures) -> str:
    if c["late_slots"] is None:
        return "-"
    return f"{c['late_slots']}/{c['requests']}"


def invoke_ms(r: RunFigures) -> float:
    """The model's time per invoke (with pre/post-processing) in this run."""
    return 1000.0 * r["model_busy"] / r["invokes_per_s"] if r["invokes_per_s"] > 0 else 0.0


def limit(r: RunFigures, ratio: float) -> str:
    """Where a run that fell behind real time ran out, from its own figures."""
    cpu, cores, busy = r["cpu_pct"], r["cores"], r["model_busy"]
    if busy >= 0.85:
        why = f"the one model is busy {busy:.0%} of the time ({invoke_ms(r):.0f} ms per invoke)"
    elif cpu >= 85.0 * cores:
        why = f"the CPU: this process uses {cpu:.0f} % of {100 * cores} %"
    elif r["cameras"] == 1:
        why = f"neither the model ({busy:.0%} busy) nor this process ({cpu:.0f} % CPU) is full: other processes' load"
    else:
        waits = [c["wait_ms_mean"] for c in r["per_camera"].values() if c["wait_ms_mean"] is not None]
        why = (f"neither the model ({busy:.0%} busy) nor this process ({cpu:.0f} % CPU) is full: the cameras' "
               f"requests queue for the one model (mean wait up to {max(waits, default=0.0):.0f} ms of a "
               f"{1000 / r['clip_fps']:.0f} ms frame) and other processes take CPU")
    queue = ", and a detection request waits for the other cameras' (late slots)" if r["cameras"] > 1 else ""
    return (f"  falls behind: the slowest camera at {ratio:.2f}x real time; {why}; load average {r['load']:.1f} on "
            f"{cores} cores. Each pipeline takes the newest frame when it is free (the rest are dropped, capture "
            f"keeps its rate){queue}")


def report_run(r: RunFigures) -> None:
    cams = r["per_camera"]
    ratio = [c["fps"] / r["clip_fps"] for c in cams.values()]
    print(f"\n{r['cameras']} camera(s), {r['seconds']:.0f} s: {r['invokes_per_s']:.1f} invokes/s in total, the model "
          f"busy {r['model_busy']:.0%} of the time ({invoke_ms(r):.0f} ms per invoke), CPU {r['cpu_pct']:.0f} % of "
          f"one core ({r['cores']} cores, load average {r['load']:.1f}), steady RSS {r['rss_mb']:.0f} MB")
    for (name, c), x in zip(cams.items(), ratio, strict=True):
        events = f"{c['person_events']}" + ("" if c["first_pass_done"] else " (first pass not finished)")
        wait = (f", wait for the model mean {c['wait_ms_mean']:.0f} ms, longest {c['wait_ms_max']:.0f} ms"
                if c["wait_ms_max"] is not None else "")
        print(f"  {name:<8} {c['fps']:5.2f} fps ({x:.2f}x real time), {c['dropped_per_s']:.2f} dropped/s, late slots "
              f"{_slots(c)}{wait}, person events {events}")
    bad = ", ".join(f"{k} {v}/{r['health_samples']}" for k, v in r["unhealthy"].items())
    print(f"  /healthz   {'ok in every sample' if not bad else 'failing: ' + bad}")
    for reason in r["reasons"]:
        print(f"    {reason}")
    if min(ratio) < 0.98:
        print(limit(r, min(ratio)))


def per_camera_events(r: RunFigures) -> list[int]:
    return [c["person_events"] for c in r["per_camera"].values()]


def report_ratios(runs: dict[int, RunFigures]) -> None:
    one = runs.get(1)
    if one is None:
        return
    base = per_camera_events(one)[0]
    print()
    for n, r in runs.items():
        if n == 1:
            continue
        ratio = [c["fps"] / r["clip_fps"] for c in r["per_camera"].values()]
        events = per_camera_events(r)
        same = "identical" if all(e == base for e in events) else "NOT identical"
        if not all(c["first_pass_done"] for run in (one, r) for c in run["per_camera"].values()):
            same += " (not comparable: the clip's first pass did not finish for every camera)"
        rss_goal = " (goal <= 1.6x)" if n == 2 else ""
        fps_goal = " (goal >= 0.98x each)" if n == 2 else ""
        invokes = r["invokes_per_s"] / max(one["invokes_per_s"], 1e-9)
        cpu = r["cpu_pct"] / max(one["cpu_pct"], 1e-9)
        print(f"{n} cameras vs 1: RSS {r['rss_mb'] / one['rss_mb']:.2f}x{rss_goal}; slowest camera "
              f"{min(ratio):.2f}x real time{fps_goal}; person events {events} vs {base}: {same}; invokes/s "
              f"{invokes:.2f}x, CPU {cpu:.2f}x")


def report_pi(one: RunFigures, pi_ms: dict[str, float]) -> None:
    """Cameras like this one (a busy street: people in almost every frame, the detector's worst case) a Pi's model
    time would hold, from the invokes one camera asked for here (that count depends on the scene and the config,
    not on the machine, while the machine keeps up)."""
    demand, here = one["invokes_per_s"], invoke_ms(one)
    print(f"\nwhat a Pi would hold: one camera of vtest asks for {demand:.1f} invokes/s at the default detect.fps "
          f"({here:.0f} ms per invoke here, with detect and pre/post-processing)")
    behind = min(c["fps"] for c in one["per_camera"].values()) / one["clip_fps"]
    if behind < 0.98:
        print(f"  (the one-camera run kept only {behind:.2f}x real time here, so it asked for fewer invokes than a "
              "camera that keeps up: these figures are too high; run it on a quieter machine)")
    for board, ms in pi_ms.items():
        capacity = 1000.0 / ms
        print(f"  {board}: {ms:g} ms per invoke (published, assumed) -> {capacity:.1f} invokes/s, the model alone "
              f"on all four cores: {capacity / demand if demand > 0 else 0.0:.1f} busy cameras like this at most "
              "(capture and motion take from that; a camera watching a still scene asks a few percent of this)")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="camapp.bench.cameras", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--counts", default="1,2,4,8",
                        help="camera counts to run, comma-separated (default 1,2,4,8: a quiet 2-core machine keeps "
                        "up with 4, and 8 shows where it runs out)")
    parser.add_argument("--seconds", type=float, default=76.0,
                        help="measured span per configuration after the warm-up (default 76: with the warm-up, one "
                        "whole pass of the 79.5 s clip, so person events compare with the clip's figure)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--pi4-ms", type=float, default=PI_INVOKE_MS["Raspberry Pi 4"],
                        help="per-invoke time assumed for a Raspberry Pi 4")
    parser.add_argument("--pi5-ms", type=float, default=PI_INVOKE_MS["Raspberry Pi 5"],
                        help="per-invoke time assumed for a Raspberry Pi 5")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.counts = [int(c) for c in args.counts.split(",") if c.strip()]
    except ValueError:
        parser.error(f"--counts: {args.counts!r} is not a comma-separated list of numbers")
    if not args.counts or not all(1 <= n <= len(NAMES) for n in [*args.counts, args.child or 1]):
        parser.error(f"--counts: each count is 1 to {len(NAMES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    video = demo_video()
    if args.child is not None:
        print(RESULT + json.dumps(measure(args.child, args.seconds, args.warmup, video)), flush=True)
        return 0
    counts: list[int] = args.counts
    print(f"camapp bench: several cameras, each looping {video.name} in real time, one shared model "
          f"({args.seconds:g} s measured after {args.warmup:g} s per configuration)")
    runs: dict[int, RunFigures] = {}
    for n in counts:
        runs[n] = run_child(n, args.seconds, args.warmup)
        report_run(runs[n])
    report_ratios(runs)
    if 1 in runs:
        report_pi(runs[1], {"Raspberry Pi 4": args.pi4_ms, "Raspberry Pi 5": args.pi5_ms})
    if args.json is not None:
        args.json.write_text(json.dumps({str(n): r for n, r in runs.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
