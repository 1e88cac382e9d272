"""`make bench` on the running appliance: `camapp run` on the demo config in a child process, measured from outside.

- latency: the demo clip once in real time with MQTT to a real mosquitto on a free loopback port; for every `new`
  person event, the time from its person's first detection (the event's start_time: the capture time of the first
  frame the detector reported the person on, at or above the label's min_score, as the live view draws it) to the
  message arriving at a subscriber. A track's second `new` (its first event was taken over) is counted apart.
- memory: the demo (looping clip) with one viewer on the MJPEG stream; the child's RSS sampled every few seconds
  (`make bench` runs a short check, `make bench-memory` the full 10 minutes: steady RSS, growth over the last half).
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import http.client
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

from camapp.bench.tracking import percentile
from camapp.demo import demo_config
from camapp.types import JsonObject
from camapp.web.auth import UserStore
from camapp.web.tls import ensure_certificate

HOST = "127.0.0.1"
BENCH_DEVICE = "camapp-bench"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def mosquitto_path() -> str | None:
    found = shutil.which("mosquitto")
    return found or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


@contextlib.contextmanager
def mosquitto(workdir: Path) -> Iterator[int]:
    """A plain anonymous mosquitto on a free loopback port, for the duration of the block."""
    exe = mosquitto_path()
    if exe is None:
        raise RuntimeError("mosquitto is not installed (apt install mosquitto)")
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\nuser {getpass.getuser()}\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, 10.0, proc, "mosquitto")
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes], what: str) -> None:
    """Until `proc` listens on the port; polls while waiting on the process, so one that dies ends the wait."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return
        try:
            code = proc.wait(0.1)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"{what} exited with code {code} before listening on {HOST}:{port}")
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout:g} s")


def appliance_config(data_dir: Path, web_port: int, loop: bool, mqtt_port: int | None,
                     detect_fps: float | None = None) -> Path:
    """The demo's own config (the clip in real time), writing into data_dir, as a YAML file for `camapp run -c`."""
    data = demo_config(web_port, data_dir).model_dump(mode="json", exclude_none=True)
    data["device_id"] = BENCH_DEVICE
    if detect_fps is not None:
        data["detect"]["fps"] = detect_fps
    data["camera"]["loop"] = loop
    if mqtt_port is not None:
        data["mqtt"] = {"host": HOST, "port": mqtt_port}
    path = data_dir / "bench.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@contextlib.contextmanager
def appliance(config: Path, web_port: int) -> Iterator[subprocess.Popen[bytes]]:
    """`camapp run -c config` in a child process, ready once /healthz answers."""
    log = (config.parent / "appliance.log").open("wb")
    cmd = [sys.executable, "-c", "from camapp.cli import main; raise SystemExit(main())", "run", "-c", str(config)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            _wait_port(web_port, 120.0, proc, "the appliance")
        except RuntimeError as err:
            tail = (config.parent / "appliance.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the appliance did not start: {err}\n{tail}") from None
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- latency -----------------------------------------------------------------------------------------------------


class NewEvents:
    """A paho subscriber on the events topic noting when each `new` message arrived."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.arrivals: list[tuple[float, JsonObject]] = []
        self._changed = threading.Condition()
        self._last = time.monotonic()  # when any message last arrived
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="camapp-bench-subscriber")
        self._client.on_message = lambda _c, _u, msg: self._got(bytes(msg.payload))
        self._client.connect(HOST, port)
        self._client.subscribe(f"camapp/{BENCH_DEVICE}/events", qos=1)
        self._client.loop_start()

    def _got(self, payload: bytes) -> None:
        now = time.time()
        with self._changed:
            self._last = time.monotonic()
            self._changed.notify_all()
            with contextlib.suppress(ValueError):
                body = json.loads(payload)
                if isinstance(body, dict) and body.get("type") == "new":
                    self.arrivals.append((now, body))

    def settle(self, quiet_s: float, limit_s: float) -> None:
        """Until nothing has arrived for quiet_s (the appliance's last messages are in), at most limit_s."""
        deadline = time.monotonic() + limit_s
        with self._changed:
            while (left := self._last + quiet_s - time.monotonic()) > 0 and time.monotonic() < deadline:
                self._changed.wait(min(left, deadline - time.monotonic()))

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def bench_latency(detect_fps: float | None = None) -> dict[str, float]:
    """The demo clip once in real time: first detection -> `new` at the subscriber, per person event (seconds);
    detect_fps overrides the config's (0: today's behaviour, every frame)."""
    with tempfile.TemporaryDirectory(prefix="camapp-bench-") as tmp:
        work, data = Path(tmp), Path(tmp) / "data"
        data.mkdir()
        with mosquitto(work) as mqtt_port:
            subscriber = NewEvents(mqtt_port)
            web_port = free_port()
            config = appliance_config(data, web_port, loop=False, mqtt_port=mqtt_port, detect_fps=detect_fps)
            with appliance(config, web_port) as proc:
                proc.wait(300)  # the clip ends after 79.5 s, and the appliance with it
            subscriber.settle(quiet_s=1.0, limit_s=10.0)
            subscriber.close()
    return _latencies([body for _, body in subscriber.arrivals], [now for now, _ in subscriber.arrivals])


def _latencies(bodies: Sequence[JsonObject], arrived: Sequence[float]) -> dict[str, float]:
    """Per person `new`, arrival - start_time (the event's first detection). A track's second `new` (it was seen
    again after its first event was taken over by another track) announces nobody new: it is counted apart."""
    announced: set[int] = set()
    lat, again = [], 0
    for body, now in zip(bodies, arrived, strict=True):
        track, start = body.get("track_id"), body.get("start_time")
        if body.get("label") != "person" or not isinstance(track, int) or not isinstance(start, int | float):
            continue  # another label (or not an event message camapp sends)
        if track in announced:
            again += 1
            continue
        announced.add(track)
        lat.append(now - float(start))
    lat.sort()
    if not lat:
        return {"events": 0, "again": again}
    return {"events": len(lat), "again": again, "p50": statistics.median(lat), "p95": percentile(lat, 0.95),
            "max": lat[-1]}


# ---- memory ------------------------------------------------------------------------------------------------------


class Viewer:
    """One browser-like viewer on the live stream (HTTPS with the appliance's self-signed certificate), reading it
    as fast as it comes; counts the bytes it got, so the bench can tell that it really watched."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token, self.received = port, token, 0
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-viewer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        insecure = ssl.create_default_context()
        insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE  # the camera's self-signed certificate
        while not self.stop.is_set():
            with contextlib.suppress(OSError, http.client.HTTPException):
                conn = http.client.HTTPSConnection(HOST, self.port, timeout=10, context=insecure)
                conn.request("GET", "/api/stream.mjpeg", headers={"Authorization": f"Bearer {self.token}"})
                resp = conn.getresponse()
                while not self.stop.is_set() and (chunk := resp.read(65536)):
                    self.received += len(chunk)
                conn.close()
            self.stop.wait(1.0)

    def close(self) -> None:
        self.stop.set()
        self._thread.join(15)


def bench_memory(minutes: float, every_s: float = 5.0) -> dict[str, float]:
    """RSS of the running demo with one viewer: samples over `minutes`; steady = median of the last fifth, growth =
    the least-squares slope over the second half (MB per minute)."""
    samples: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="camapp-bench-") as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        # As after the appliance's first start: a user with a token, and the HTTPS certificate already made.
        users = UserStore(data)
        users.set_password("bench", os.urandom(12).hex(), "viewer")
        token = users.create_token("bench", "memory bench")
        ensure_certificate(data)
        web_port = free_port()
        with appliance(appliance_config(data, web_port, loop=True, mqtt_port=None), web_port) as proc:
            viewer = Viewer(web_port, token)
            t0 = time.monotonic()
            while time.monotonic() - t0 < minutes * 60 and proc.poll() is None:
                samples.append(((time.monotonic() - t0) / 60, rss_mb(proc.pid)))
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(every_s)  # the sampling interval, cut short if the appliance stops
            viewer.close()
    return {**_memory_summary(samples), "viewer_mb": viewer.received / 2**20}


def _memory_summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    if len(samples) < 4:
        return {"samples": len(samples)}
    tail = [mb for _, mb in samples[-max(2, len(samples) // 5):]]
    half = samples[len(samples) // 2:]
    t = [m for m, _ in half]
    mb = [v for _, v in half]
    mt, mm = statistics.fmean(t), statistics.fmean(mb)
    slope = sum((a - mt) * (b - mm) for a, b in zip(t, mb, strict=True)) / max(sum((a - mt) ** 2 for a in t), 1e-9)
    return {"samples": len(samples), "minutes": samples[-1][0], "first": samples[0][1],
            "peak": max(v for _, v in samples), "steady": statistics.median(tail), "growth_mb_per_min": slope}


def report_latency(r: dict[str, float]) -> None:
    if not r.get("events"):
        print("\nfirst detection -> MQTT `new`: no person events arrived")
        return
    print(f"\nfirst detection -> MQTT `new` at a subscriber (vtest.avi in real time, mosquitto on loopback): "
          f"{r['events']:.0f} person events, p50 {r['p50']:.2f} s, p95 {r['p95']:.2f} s, max {r['max']:.2f} s "
          f"(target p95 <= 0.5 s); {r['again']:.0f} second `new` of a track not counted; load average "
          f"{os.getloadavg()[0]:.1f}")


def report_memory(r: dict[str, float]) -> None:
    if r.get("samples", 0) < 4:
        print("\nmemory: the appliance stopped before enough samples (see its log)")
        return
    print(f"\nappliance RSS (camapp run, demo config, one stream viewer, {r['minutes']:.1f} min): start "
          f"{r['first']:.0f} MB, steady {r['steady']:.0f} MB, peak {r['peak']:.0f} MB, growth over the second half "
          f"{r['growth_mb_per_min']:+.2f} MB/min; the viewer got {r.get('viewer_mb', 0):.0f} MB of stream "
          "(target: steady <= 200 MB after 10 min, no growth)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="camapp.bench.live", description=__doc__)
    parser.add_argument("--memory-minutes", type=float, default=10.0, help="how long to watch RSS (default 10)")
    parser.add_argument("--skip-latency", action="store_true", help="only the memory run")
    args = parser.parse_args(argv)
    if not args.skip_latency:
        report_latency(bench_latency())
    report_memory(bench_memory(args.memory_minutes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
