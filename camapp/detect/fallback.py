"""Run a newly switched-in model, falling back to the previous one for good if the new one fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from camapp.detect import Detector, Invocation
from camapp.types import Detections, Image

log = logging.getLogger(__name__)


class FallbackDetector(Detector):
    """Delegates to `primary`; on its first failure logs it, switches to `previous`, and stays there."""

    def __init__(self, primary: Detector, previous: Detector) -> None:
        self.primary, self.previous = primary, previous
        self._lock = threading.Lock()
        self.rolled_back: str | None = None  # the error that caused a rollback

    @property
    def active(self) -> Detector:
        with self._lock:
            return self.previous if self.rolled_back else self.primary

    def detect(self, image: Image, regions: Sequence[Invocation] | None = None) -> Detections:
        detector = self.active
        if detector is self.previous:
            return detector.detect(image, regions)
        try:
            return detector.detect(image, regions)
        except Exception as err:  # any failure of an untrusted new model: the appliance must keep detecting
            log.error("new model failed (%s): rolled back to the previous model", err)
            with self._lock:
                self.rolled_back = str(err) or type(err).__name__
            return self.previous.detect(image, regions)

    @property
    def labels(self) -> Sequence[str]:
        return self.active.labels

    @property
    def name(self) -> str:
        return self.active.name

    @property
    def last_timings_ms(self) -> dict[str, float]:
        return self.active.last_timings_ms

    @property
    def input_size(self) -> tuple[int, int]:
        return self.active.input_size

    def close(self) -> None:
        self.primary.close()
        self.previous.close()
