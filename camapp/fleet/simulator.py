"""N simulated appliances on one broker, for measuring the console: each is its own MQTT connection with the
appliance's retained `offline` last will, and publishes the appliance's topics at the appliance's real rates
(availability, mode and detection retained at connect, stats every mqtt.stats_interval_s = 30 s, an event's `new`
and `end` about once a minute, its fleet reported state). One thread drives every connection through a selector
(paho's external loop), so 1,000 devices cost one thread, not 1,000.

`python -m camapp.fleet.simulator --host 127.0.0.1 --port 1883 -n 100` runs until interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import selectors
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from camapp import __version__
from camapp.closing import Closing
from camapp.fleet.protocol import REPORTED, FleetTopics
from camapp.mqtt.client import OFFLINE, ONLINE

STATS_S = 30.0
EVENT_S = 60.0


@dataclass
class SimDevice:
    device_id: str
    prefix: str
    client: mqtt.Client
    next_stats: float
    next_event: float
    started: float = field(default_factory=time.time)
    alive: bool = True


def _stats(d: SimDevice, rng: random.Random) -> str:
    return json.dumps({"version": 1, "device_id": d.device_id, "time": round(time.time(), 3),
                       "fps": round(rng.uniform(4.5, 5.0), 2), "detector_ms": round(rng.uniform(30, 60), 1),
                       "motion_ms": 2.0, "frames": int((time.time() - d.started) * 5), "cpu_temp_c":
                       round(rng.uniform(45, 60), 1), "throttled": 0, "disk_free_pct": round(rng.uniform(40, 90), 1),
                       "uptime_s": round(time.time() - d.started), "camera_status": "open", "mqtt_outbox": 0,
                       "mqtt_connected": True, "recording_state": "recording"})


def _event(d: SimDevice, kind: str, event_id: str) -> str:
    return json.dumps({"version": 1, "message_id": uuid.uuid4().hex, "type": kind, "id": event_id,
                       "device_id": d.device_id, "camera": "cam", "label": "person", "score": 0.8,
                       "time": round(time.time(), 3)})


class Simulator(Closing):
    """start(n) adds devices; kill(device) drops one without a goodbye (the broker sends its will)."""

    template = "camapp/{device_id}"  # the appliance's default mqtt.topic_prefix

    def __init__(self, host: str, port: int, *, keepalive_s: int = 30, stats_s: float = STATS_S,
                 event_s: float = EVENT_S) -> None:
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self.stats_s, self.event_s = stats_s, event_s
        self._rng = random.Random(1)  # the same fleet every run
        self._sel = selectors.DefaultSelector()
        self.devices: dict[str, SimDevice] = {}
        self.published = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-sim", daemon=True)
        self._thread.start()

    def add(self, device_ids: Sequence[str]) -> None:
        for device_id in device_ids:
            prefix = self.template.replace("{device_id}", device_id)
            client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sim-{device_id}", clean_session=True)
            client.will_set(f"{prefix}/available", OFFLINE, qos=1, retain=True)
            client.connect(self.host, self.port, self.keepalive_s)
            now = time.monotonic()
            d = SimDevice(device_id, prefix, client, now + self._rng.uniform(0, self.stats_s),
                          now + self._rng.uniform(0, self.event_s))
            for topic, payload in ((f"{prefix}/available", ONLINE), (f"{prefix}/mode", "disarmed"),
                                   (f"{prefix}/detection", "ON"), (f"{prefix}/stats", _stats(d, self._rng)),
                                   (FleetTopics(prefix).reported, self._reported(d))):
                client.publish(topic, payload, qos=1, retain=True)
            with self._lock:
                self.devices[device_id] = d
                self.published += 5
                sock = client.socket()
                if isinstance(sock, socket.socket):  # a plain TCP connection (the simulator has no TLS)
                    self._sel.register(sock, selectors.EVENT_READ, d)

    def _reported(self, d: SimDevice) -> str:
        return json.dumps({"schema": REPORTED, "device_id": d.device_id, "time": round(time.time(), 3),
                           "sw_version": __version__, "model": "ssd_mobilenet_v2_coco_quant", "version": 0,
                           "config_hash": "0" * 64, "desired_sha256": None, "values": {}, "restart": [],
                           "refused": None, "command": None})

    def kill(self, device_id: str) -> None:
        """Like SIGKILL: the connection drops without a DISCONNECT."""
        with self._lock:
            d = self.devices.pop(device_id)
            sock = d.client.socket()
            if isinstance(sock, socket.socket):
                self._sel.unregister(sock)
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                ready = self._sel.select(timeout=0) if self.devices else []
                for key, _ in ready:
                    key.data.client.loop_read()
                now = time.monotonic()
                for d in self.devices.values():
                    self._due(d, now)
                    if d.client.want_write():
                        d.client.loop_write()
                    d.client.loop_misc()
            self._stop.wait(0.05)

    def _due(self, d: SimDevice, now: float) -> None:
        if now >= d.next_stats:
            d.client.publish(f"{d.prefix}/stats", _stats(d, self._rng), qos=0, retain=True)
            d.next_stats, self.published = now + self.stats_s, self.published + 1
        if now >= d.next_event:
            event_id = uuid.uuid4().hex[:12]
            for kind in ("new", "end"):
                d.client.publish(f"{d.prefix}/events", _event(d, kind, event_id), qos=1)
            d.next_event, self.published = now + self._rng.uniform(0.5, 1.5) * self.event_s, self.published + 2

    def close(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=10)
        for d in self.devices.values():
            d.client.publish(f"{d.prefix}/available", OFFLINE, qos=1, retain=True)
            d.client.loop_write()
            d.client.disconnect()
            d.client.loop_write()
        self._sel.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=1883)
    p.add_argument("-n", type=int, default=100, help="devices")
    args = p.parse_args(argv)
    with Simulator(args.host, args.port) as sim:
        sim.add([f"sim-{i:04d}" for i in range(args.n)])
        print(f"{args.n} simulated appliances on {args.host}:{args.port}; Ctrl-C stops", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
