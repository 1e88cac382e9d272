"""Work for the MQTT worker thread: one typed job per kind, handled through a table keyed by the job's type."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from camapp.mqtt.outbox import NewMessage
from camapp.types import Image


@dataclass(frozen=True)
class Store:
    """An event or alert for the durable outbox (delivered at least once, in order)."""

    message: NewMessage


@dataclass(frozen=True)
class Ack:
    """The broker acknowledged the publish with this paho message id."""

    mid: int


@dataclass(frozen=True)
class Retain:
    """A retained state topic (mode, armed, detection, counts...); republished on every reconnect."""

    topic: str
    payload: str | bytes


@dataclass(frozen=True)
class Thumbnail:
    """A best-effort JPEG of the object's crop on its label's thumbnail topic (`topic`: a camera's; None: the
    appliance's); never stored."""

    label: str
    image: Image
    topic: str | None = None


@dataclass(frozen=True)
class Reply:
    """A one-off answer to a command (the snapshot id)."""

    topic: str
    payload: str


@dataclass(frozen=True)
class Connected:
    """paho connected: resend everything undelivered."""


@dataclass(frozen=True)
class Disconnected:
    """paho lost the connection: forget in-flight message ids."""


@dataclass(frozen=True)
class Discovery:
    """Publish the Home Assistant discovery messages again: the model changed (`model`), or HA says it restarted
    (`throttled`: anyone can publish that, so at most once per discovery.INTERVAL_S)."""

    model: str | None = None
    throttled: bool = False


@dataclass(frozen=True)
class Flush:
    """Set `done` once every job queued before it is handled."""

    done: threading.Event


@dataclass(frozen=True)
class Stop:
    """Finish: deliver briefly what is pending, publish `offline`, disconnect."""


Job = Store | Ack | Retain | Thumbnail | Reply | Connected | Disconnected | Discovery | Flush | Stop
