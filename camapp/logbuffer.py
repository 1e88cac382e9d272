"""Keeps the last log lines in memory for the web UI's log tail and the diagnostics bundle."""

from __future__ import annotations

import logging
import threading
from collections import deque


class LogBuffer(logging.Handler):
    """A logging handler holding the last `size` formatted records."""

    def __init__(self, size: int = 1000) -> None:
        super().__init__()
        self._lines: deque[str] = deque(maxlen=size)
        self._mutex = threading.Lock()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
        except Exception:  # a bad log call must never break the caller
            return
        with self._mutex:
            self._lines.append(line)

    def tail(self, n: int) -> list[str]:
        with self._mutex:
            return list(self._lines)[-max(0, n):]
