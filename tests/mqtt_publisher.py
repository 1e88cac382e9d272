"""A real camapp MQTT publisher process for process-level tests (LWT on kill, outbox surviving kill -9).

Usage: python tests/mqtt_publisher.py CONFIG DATA_DIR [--events N] [--tag T] [--hold]
Builds an MqttSink from the config's mqtt section, feeds N events (a `new` then an `end` each) as real
FrameResults, prints `QUEUED <outbox size>` once they are durably in the outbox, then either waits to be killed
(--hold) or waits for delivery, prints `DELIVERED <outbox size>` and exits.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

import numpy as np

from camapp.config import load_config
from camapp.control import Controller
from camapp.mqtt.sink import MqttSink
from camapp.state import ApplianceState
from camapp.types import Detections, EventMessage, Frame, FrameResult, MotionResult


def event_frames(n: int, tag: str) -> list[FrameResult]:
    """For each of n events: a frame carrying its `new` message, then one carrying its `end` message."""
    image = np.zeros((120, 160, 3), np.uint8)
    frames: list[FrameResult] = []
    for i in range(n):
        t = 1000.0 + i
        box = (10.0, 20.0, 50.0, 100.0)
        for msg in (EventMessage("new", f"{tag}-{i}", i, "person", 0.8, 0.9, box, t, None),
                    EventMessage("end", f"{tag}-{i}", i, "person", 0.8, 0.9, box, t, t + 0.5)):
            frame = Frame(image, t, len(frames))
            motion = MotionResult(np.zeros((0, 4), np.int32), 0.0)
            frames.append(FrameResult(frame, motion, Detections.empty(), (), (msg,)))
    return frames


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", type=Path)
    ap.add_argument("data_dir", type=Path)
    ap.add_argument("--events", type=int, default=0)
    ap.add_argument("--tag", default="ev")
    ap.add_argument("--hold", action="store_true")
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    control = Controller(ApplianceState())
    sink = MqttSink(cfg.mqtt, device_id=cfg.device_id, camera_id=cfg.camera.id, model_name="test-model",
                    state=control.state, bus=control.bus, control=control, stats=dict, data_dir=args.data_dir,
                    labels=cfg.objects.track)
    sink.start()
    for result in event_frames(args.events, args.tag):
        sink.handle(result)
    sink.flush(30, delivered=False)
    print("QUEUED", sink.status()["outbox"], flush=True)
    if args.hold:
        threading.Event().wait()
    delivered = sink.flush(30)
    print("DELIVERED" if delivered else "UNDELIVERED", sink.status()["outbox"], flush=True)
    sink.close()
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
