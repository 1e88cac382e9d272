"""One camera's share of the appliance's one MQTT connection: its events, motion, counts and thumbnails.

A CameraFeed is the ResultSink a camera's pipeline thread calls; it only queues typed jobs for the connection's
one worker (camapp/mqtt/worker.py), so every camera publishes through the same outbox, in the order they happened.
A lone `camera:` has one feed on the appliance's own topics (`<prefix>/events`); with `cameras:` each camera's feed
is on its own (`<prefix>/<camera>/events`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from camapp.mqtt import payloads, thumbs
from camapp.mqtt.frames import FrameStates
from camapp.mqtt.jobs import Job, Retain, Store, Thumbnail
from camapp.mqtt.outbox import NewMessage
from camapp.mqtt.topics import Topics
from camapp.sinks import ResultSink
from camapp.types import CameraName, FrameResult

log = logging.getLogger(__name__)


class Link(Protocol):
    """What a feed needs of the connection it rides on (camapp.mqtt.sink.MqttSink)."""

    device_id: str

    @property
    def closed(self) -> bool: ...

    @property
    def model_name(self) -> str: ...

    @property
    def media(self) -> payloads.EventMedia: ...

    @property
    def snapshots(self) -> bool: ...

    def check_model(self) -> None: ...

    def put(self, job: Job) -> None: ...


@dataclass(frozen=True)
class CameraChannel:
    """What the connection's worker publishes for one camera besides its frames: discovery and stats."""

    name: CameraName
    topics: Topics
    labels: Callable[[], tuple[str, ...]]
    stats: Callable[[], Mapping[str, object]]


class CameraFeed(ResultSink):
    """A camera's messages on the shared connection; never raises into, or stalls, its pipeline. Closing it is a
    no-op: the connection closes once, after every camera."""

    def __init__(self, link: Link, name: CameraName, topics: Topics, labels: Sequence[str], motion_off_s: float,
                 stats: Callable[[], Mapping[str, object]]) -> None:
        self.link, self.name, self.topics = link, name, topics
        self.labels = tuple(labels)
        self.stats = stats
        self._frames = FrameStates(topics, self.labels, motion_off_s)  # this camera's pipeline thread only

    def channel(self) -> CameraChannel:
        return CameraChannel(self.name, self.topics, self.discovery_labels, lambda: self.stats())

    def discovery_labels(self) -> tuple[str, ...]:
        """The configured labels and any other label seen so far, for the count sensors."""
        return tuple(dict.fromkeys((*self.labels, *tuple(self._frames.counts))))

    def initial(self) -> list[tuple[str, str]]:
        """The retained state a subscriber sees before the first frame: motion OFF, every count 0."""
        return self._frames.initial()

    def handle(self, result: FrameResult) -> None:
        link = self.link
        if link.closed:
            return
        try:
            link.check_model()
            self._events(result)
            for topic, payload in self._frames.update(result):
                link.put(Retain(topic, payload))
        except Exception:
            log.exception("MQTT: could not queue frame %d of camera %s", result.frame.index, self.name)

    def _events(self, result: FrameResult) -> None:
        link = self.link
        size = (result.frame.width, result.frame.height)
        model = link.model_name
        for msg in result.events:
            body = payloads.event_payload(msg, device_id=link.device_id, camera_id=self.name, model_name=model,
                                          frame_size=size, media=link.media)
            link.put(Store(NewMessage(str(body["message_id"]), msg.type, self.topics.events, payloads.dumps(body),
                                      msg.id)))
            if link.snapshots and msg.type in ("new", "update"):
                link.put(Thumbnail(msg.label, thumbs.crop(result.frame.image, msg.box),
                                   self.topics.thumbnail(msg.label)))

    def close(self) -> None:
        pass
