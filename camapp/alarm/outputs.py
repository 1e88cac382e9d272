"""Alarm outputs (buzzer, LED, PWM LED, relay): run a pattern for a while, then go to the safe state (off).

Every output ever built is registered so `safe_all()` can switch them all off on shutdown or crash;
the wiring calls it from atexit and signal handlers (see `alarm_safety()` for the crash path).
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from camapp.closing import Closing
from camapp.config.alarm import OutputConfig, PatternConfig
from camapp.errors import GPIOError

log = logging.getLogger(__name__)

_LIVE: weakref.WeakSet[AlarmOutput] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()
_ATEXIT_DONE = False


def safe_all() -> None:
    """Switch every live output off now; safe to call from atexit, a signal handler or an except block."""
    with _LIVE_LOCK:
        outputs = list(_LIVE)
    for out in outputs:
        try:
            out.off()
        except Exception:
            log.exception("could not switch alarm output %s off", out.name)


@contextmanager
def alarm_safety() -> Iterator[None]:
    """Run a block (the pipeline); whatever happens, every alarm output ends off."""
    try:
        yield
    finally:
        safe_all()


def _register(out: AlarmOutput) -> None:
    global _ATEXIT_DONE
    with _LIVE_LOCK:
        _LIVE.add(out)
        if not _ATEXIT_DONE:
            atexit.register(safe_all)
            _ATEXIT_DONE = True


def pattern_cycles(pattern: PatternConfig) -> tuple[int, float]:
    """(cycles, seconds) a pattern runs: whole blink/pulse cycles nearest its duration, at least one."""
    if pattern.style == "steady":
        return 1, pattern.duration_s
    period = pattern.on_s + pattern.off_s if pattern.style == "blink" else pattern.fade_in_s + pattern.fade_out_s
    n = max(1, math.floor(pattern.duration_s / period + 0.5))
    return n, n * period


class AlarmOutput(Closing, ABC):
    """An output that runs one pattern at a time; a new activate() replaces the running one."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.on_idle: Callable[[AlarmOutput], None] | None = None
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._worker: threading.Thread | None = None
        self._closed = False
        _register(self)

    @property
    def active(self) -> bool:
        """True while a pattern is running."""
        worker = self._worker
        return worker is not None and worker.is_alive() and not self._stop.is_set()

    def activate(self, pattern: PatternConfig) -> None:
        """Start the pattern now (for pattern.duration_s, rounded to whole cycles); returns at once."""
        with self._lock:
            if self._closed:
                raise GPIOError(f"alarm output {self.name} is closed")
            self._halt()
            self._stop = threading.Event()
            _, seconds = pattern_cycles(pattern)
            self._start(pattern)
            self._worker = threading.Thread(
                target=self._run, args=(self._stop, seconds), name=f"alarm-{self.name}", daemon=True
            )
            self._worker.start()

    def _run(self, stop: threading.Event, seconds: float) -> None:
        if stop.wait(seconds):
            return  # off() or a new activate() took over; they leave the output safe themselves
        stop.set()
        try:
            self._safe()
        except Exception:
            log.exception("alarm output %s: could not switch off at the end of its pattern", self.name)
        # Only a natural end reports idle: whoever called off() already knows.
        callback = self.on_idle
        if callback is not None:
            callback(self)

    def _halt(self) -> None:
        self._stop.set()
        self._safe()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=2.0)
        self._worker = None

    def off(self) -> None:
        """Stop any pattern and put the output in its safe state (off)."""
        with self._lock:
            if not self._closed:
                self._halt()

    def close(self) -> None:
        """Off, then release the pin; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._halt()
            self._closed = True
            try:
                self._release()
            finally:
                with _LIVE_LOCK:
                    _LIVE.discard(self)


    @abstractmethod
    def _start(self, pattern: PatternConfig) -> None:
        """Begin the pattern without blocking (the base class stops it after its duration)."""

    @abstractmethod
    def _safe(self) -> None:
        """Drive the device off now, stopping any background pattern."""

    @abstractmethod
    def _release(self) -> None:
        """Free the pin."""


class NullOutput(AlarmOutput):
    """Stands in for an output when GPIO is disabled or unavailable: keeps the timing, drives nothing."""

    def _start(self, pattern: PatternConfig) -> None:
        log.info("alarm output %s (no GPIO) would run %s for %.1f s", self.name, pattern.style, pattern.duration_s)

    def _safe(self) -> None:
        pass

    def _release(self) -> None:
        pass


class GpioZeroOutput(AlarmOutput):
    """A gpiozero Buzzer, LED, PWMLED or DigitalOutputDevice (relay) behind the AlarmOutput interface."""

    def __init__(self, cfg: OutputConfig, pin_factory: object) -> None:
        self.device = _make_device(cfg, pin_factory)
        self.kind = cfg.kind
        super().__init__(cfg.name)

    def _start(self, pattern: PatternConfig) -> None:
        n, _ = pattern_cycles(pattern)
        if pattern.style == "steady":
            self.device.on()
        elif pattern.style == "blink":
            self.device.blink(on_time=pattern.on_s, off_time=pattern.off_s, n=n, background=True)
        elif self.kind == "pwm_led":
            self.device.pulse(fade_in_time=pattern.fade_in_s, fade_out_time=pattern.fade_out_s, n=n, background=True)
        else:
            raise GPIOError(f"alarm output {self.name}: pulse needs a pwm_led, this is a {self.kind}")

    def _safe(self) -> None:
        if not self.device.closed:
            self.device.off()

    def _release(self) -> None:
        self.device.close()


def _make_device(cfg: OutputConfig, pin_factory: object) -> Any:
    """Build the gpiozero device for an output config (gpiozero imported here, never at module import)."""
    from gpiozero import LED, PWMLED, Buzzer, DigitalOutputDevice

    classes = {"buzzer": Buzzer, "led": LED, "pwm_led": PWMLED, "relay": DigitalOutputDevice}
    try:
        return classes[cfg.kind](
            cfg.pin, active_high=cfg.active_high, initial_value=False, pin_factory=pin_factory
        )
    except Exception as err:
        raise GPIOError(f"gpio.outputs '{cfg.name}' ({cfg.kind} on pin {cfg.pin}): {err}") from err
