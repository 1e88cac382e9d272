"""`make bench-fleet`: one fleet console, one Mosquitto, N simulated appliances (camapp/fleet/simulator.py) at
their real rates, for N = 100 and 1,000. Printed per N: messages/s the console handled, the console's RSS and CPU,
how long after a device drops (no goodbye: the broker sends its will) the console shows it offline, and the
fleet page's load time. Everything on 127.0.0.1; the console is a real `camapp fleet` process.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml

from camapp.assets import ROOT
from camapp.fleet.simulator import Simulator
from camapp.web.auth import UserStore

MOSQUITTO = ("/usr/sbin/mosquitto", "mosquitto")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))


def _wait(pred: Callable[[], Any], timeout: float, what: str, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := pred():
            return value
        time.sleep(step)
    raise RuntimeError(f"not within {timeout} s: {what}")


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    exe = next((p for p in MOSQUITTO if shutil.which(p)), None)
    if exe is None:
        raise SystemExit("bench-fleet needs mosquitto (apt-get install -y mosquitto)")
    port = _free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 10000\n"
                    "log_dest none\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], preexec_fn=_raise_fd_limit)
    _wait(lambda: _connects(port), 10, "mosquitto listening")
    return proc, port


def _connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class ConsoleProcess:
    def __init__(self, workdir: Path, broker_port: int) -> None:
        data = workdir / "console"
        cfg = workdir / "fleet.yaml"
        cfg.write_text(yaml.safe_dump({"mqtt": {"host": "127.0.0.1", "port": broker_port, "keepalive_s": 30},
                                       "data_dir": str(data), "web": {"port": 0, "host": "127.0.0.1", "https": False,
                                                                      "max_connections": 64}}))
        users = UserStore(data)
        users.set_password("bench", "bench password 1", role="admin")
        self.token = users.create_token("bench", "bench")
        log = (workdir / "console.log").open("wb")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "camapp.cli", "fleet", "-c", str(cfg)], stdout=log,
                                     stderr=subprocess.STDOUT, env=env, preexec_fn=_raise_fd_limit)
        found = _wait(lambda: re.search(rb"fleet console: (http://127\.0\.0\.1:\d+)/",
                                        (workdir / "console.log").read_bytes()), 30, "the console listening")
        self.base = found.group(1).decode()

    def get(self, path: str) -> bytes:
        req = urllib.request.Request(self.base + path, headers={"Authorization": f"Bearer {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return bytes(resp.read())

    def json(self, path: str) -> Any:
        return json.loads(self.get(path))

    def usage(self) -> tuple[float, float]:
        """(RSS MB, CPU seconds so far)."""
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return rss, (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _drop(console: ConsoleProcess, sim: Simulator, device: str) -> float:
    """Seconds from a device's connection dropping to the console's API showing it offline."""
    start = time.monotonic()
    sim.kill(device)
    _wait(lambda: console.json(f"/api/devices/{device}")["online"] is False, 30, f"{device} offline", 0.02)
    return time.monotonic() - start


def measure(console: ConsoleProcess, sim: Simulator, n: int, window_s: float) -> dict[str, float]:
    """Grow the simulated fleet to n devices and measure one window at the real rates."""
    have = len(sim.devices)
    start = time.monotonic()
    sim.add([f"sim-{i:04d}" for i in range(have, n)])
    _wait(lambda: sum(1 for d in console.json("/api/devices") if d["online"]) >= n, 120, f"{n} devices online", 0.5)
    joined = time.monotonic() - start
    status0, (_, cpu0), t0 = console.json("/api/status"), console.usage(), time.monotonic()
    time.sleep(window_s)
    status1, (rss, cpu1), t1 = console.json("/api/status"), console.usage(), time.monotonic()
    loads = []
    for _ in range(5):
        s = time.monotonic()
        console.get("/")
        loads.append(time.monotonic() - s)
    offline = [_drop(console, sim, f"sim-{i:04d}") for i in range(n - 5, n)]
    sim.add([f"sim-{i:04d}" for i in range(n - 5, n)])  # back, for the next round
    return {"devices": n, "join_s": joined, "msgs_per_s": (status1["messages"] - status0["messages"]) / (t1 - t0),
            "rss_mb": rss, "cpu_pct": 100 * (cpu1 - cpu0) / (t1 - t0), "offline_p50_s": statistics.median(offline),
            "offline_max_s": max(offline), "page_p50_s": statistics.median(loads), "page_max_s": max(loads)}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="camapp.bench.fleet", description=__doc__.splitlines()[0])
    p.add_argument("--devices", type=int, nargs="+", default=[100, 1000])
    p.add_argument("--window", type=float, default=30.0, help="seconds measured at each size (stats come every 30 s)")
    args = p.parse_args(argv)
    _raise_fd_limit()
    with tempfile.TemporaryDirectory(prefix="camapp-bench-fleet-") as tmp:
        work = Path(tmp)
        broker, port = start_broker(work)
        console = ConsoleProcess(work, port)
        sim = Simulator("127.0.0.1", port)
        try:
            print("devices  join s  msgs/s  console RSS MB  CPU %  offline p50/max s  fleet page p50/max s")
            for n in sorted(args.devices):
                r = measure(console, sim, n, args.window)
                print(f"{n:7d}  {r['join_s']:6.1f}  {r['msgs_per_s']:6.1f}  {r['rss_mb']:14.1f}  {r['cpu_pct']:5.1f}  "
                      f"{r['offline_p50_s']:8.3f}/{r['offline_max_s']:.3f}  {r['page_p50_s']:11.3f}/"
                      f"{r['page_max_s']:.3f}", flush=True)
        finally:
            sim.close()
            console.close()
            broker.terminate()
            broker.wait(timeout=10)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
