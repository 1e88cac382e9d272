"""Run a real `camapp` subprocess and measure what it cost: exit code, wall time, CPU time and the child's peak RSS.

Linux counts a process's peak RSS from the memory of the process it was forked from (the high-water mark survives
fork and exec), so a child forked straight from pytest would report pytest's ~120 MB. This file therefore also
runs as a small launcher (`python measured.py REPORT DEADLINE CMD...`): it forks the command from its own ~10 MB,
waits for it with os.wait4 (the rusage of exactly that child), kills it at the deadline and writes the figures
as JSON to REPORT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    wall_s: float
    cpu_s: float  # user + system of the child
    peak_rss_mb: float  # includes the launcher's ~10 MB the child starts from: an overestimate, never an under-
    killed: bool  # still running at the deadline


def run_camapp(*args: str, deadline_s: float = 20.0, cwd: Path | None = None, stdin: str = "") -> Measured:
    """`python -m camapp.cli ARGS`; killed (and reported so) when it runs past `deadline_s`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        cmd = [sys.executable, __file__, str(report), str(deadline_s), sys.executable, "-m", "camapp.cli", *args]
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, errors="replace", cwd=cwd,
                              timeout=deadline_s + 30, check=False)
        figures = json.loads(report.read_text())
    return Measured(figures["returncode"], proc.stdout, proc.stderr, figures["wall_s"], figures["cpu_s"],
                    figures["peak_rss_kb"] / 1024.0, figures["killed"])


def _launch(report: str, deadline_s: float, cmd: list[str]) -> None:
    t0 = time.monotonic()
    child = subprocess.Popen(cmd)
    killed = False
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - t0 > deadline_s:
            killed = True
            child.send_signal(signal.SIGKILL)
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.005)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
    Path(report).write_text(json.dumps({
        "returncode": child.returncode, "wall_s": time.monotonic() - t0, "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_kb": usage.ru_maxrss, "killed": killed,
    }))


if __name__ == "__main__":
    _launch(sys.argv[1], float(sys.argv[2]), sys.argv[3:])
