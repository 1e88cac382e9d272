"""Keep a camera going: reopen a failed source with exponential backoff, reporting each change of state."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from camapp.capture import CaptureStoppedError, FrameSource
from camapp.errors import CaptureEndedError, CaptureError
from camapp.types import Frame

log = logging.getLogger(__name__)

StatusCallback = Callable[[str, str | None], None]


class ReconnectingSource(FrameSource):
    """Wraps any source: on failure it closes it and calls `factory` again until a frame arrives or stop is set.

    `on_status(status, error)` gets "open" after each successful (re)open, "reconnecting" with the error after
    each failure, and "closed" when closed or the source ended; PipelineStats.set_camera takes it as is.
    CaptureEndedError (a finite file without loop) is passed on, not retried.
    """

    def __init__(
        self,
        factory: Callable[[], FrameSource],
        *,
        min_backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        stop_event: threading.Event | None = None,
        on_status: StatusCallback | None = None,
    ) -> None:
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ValueError(f"need 0 < min_backoff_s <= max_backoff_s, got {min_backoff_s}, {max_backoff_s}")
        self._factory = factory
        self._min = min_backoff_s
        self._max = max_backoff_s
        self._stop = stop_event if stop_event is not None else threading.Event()
        self._on_status = on_status
        self._source: FrameSource | None = None
        self._backoff = min_backoff_s
        self._closed = False
        self._index = 0
        self._generations = 0  # of the sources dropped so far, each counting its own plus one for the reopening
        self._description = "camera (not opened yet)"
        self._fps = 0.0

    @property
    def generation(self) -> int:
        """Goes up at every reopening (and with the wrapped source's own restarts)."""
        source = self._source
        return self._generations + (source.generation if source is not None else 0)

    def read(self) -> Frame:
        """The next frame, reopening as often as needed; raises CaptureStoppedError once stop_event is set."""
        while True:
            if self._stop.is_set() or self._closed:
                raise CaptureStoppedError(f"{self._description}: stopped")
            try:
                frame = self._read_once()
            except CaptureEndedError:
                self._drop_source()
                self._report("closed", "end of stream")
                raise
            except CaptureStoppedError:
                raise
            except Exception as exc:  # whatever a driver throws, the pipeline must not die of it
                self._fail(exc)
                continue
            self._backoff = self._min  # only a delivered frame proves the source healthy again
            return frame

    def _read_once(self) -> Frame:
        if self._source is None:
            source = self._factory()
            if self._closed:  # closed from another thread while the factory was opening it
                source.close()
                raise CaptureStoppedError(f"{source.description}: closed")
            self._source = source
            self._description = self._source.description
            self._fps = self._source.fps
            log.info("camera open: %s", self._description)
            self._report("open", None)
        frame = self._source.read()
        # Renumber so indices keep increasing across reopenings, as consumers expect of one camera.
        renumbered = dataclasses.replace(frame, index=self._index)
        self._index += 1
        return renumbered

    def _fail(self, exc: Exception) -> None:
        self._drop_source()
        if self._stop.is_set() or self._closed:
            return
        error = str(exc) or type(exc).__name__
        if isinstance(exc, CaptureError):
            log.warning("camera failed, retrying in %.1f s: %s", self._backoff, error)
        else:
            log.warning("camera failed unexpectedly, retrying in %.1f s", self._backoff, exc_info=exc)
        self._report("reconnecting", error)
        self._stop.wait(self._backoff)
        self._backoff = min(self._backoff * 2.0, self._max)

    def _drop_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            self._generations += source.generation + 1
            try:
                source.close()
            except Exception:  # a dead device may fail to close; it is dropped either way
                log.debug("ignoring error closing %s", self._description, exc_info=True)

    def _report(self, status: str, error: str | None) -> None:
        if self._on_status is None:
            return
        try:
            self._on_status(status, error)
        except Exception:  # a broken status listener must not stop the camera
            log.exception("camera status callback failed")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._drop_source()
        self._report("closed", None)
