"""Typed updates from the broker (and the console's own actions) to the device registry."""

from __future__ import annotations

from dataclasses import dataclass, field

from camapp.fleet.protocol import DesiredDoc
from camapp.types import JsonObject


@dataclass(frozen=True)
class About:
    """Which device an update is about, and the topic prefix it publishes under."""

    device: str
    prefix: str


@dataclass(frozen=True)
class Availability(About):
    """<prefix>/available: `online`, or the `offline` last will."""

    online: bool
    time: float


@dataclass(frozen=True)
class State(About):
    """A retained state topic: `mode` (disarmed/home/away) or `detection` (ON/OFF)."""

    name: str
    value: str


@dataclass(frozen=True)
class Message(About):
    """A JSON object the device published (as received: checked where it is read), and when it arrived."""

    body: JsonObject
    time: float


class Stats(Message):
    """<prefix>/stats (camapp/mqtt/schema/stats.v1.json)."""


class Event(Message):
    """<prefix>/events (camapp/mqtt/schema/event.v1.json)."""


class Reported(Message):
    """<prefix>/fleet/reported (camapp/fleet/schema/reported.v1.json)."""


@dataclass(frozen=True)
class DesiredSent(About):
    """The signed desired document the console published: what the device should run."""

    doc: DesiredDoc
    time: float


@dataclass(frozen=True)
class TagsSet(About):
    tags: dict[str, str] = field(default_factory=dict)


Update = Availability | State | Stats | Event | Reported | DesiredSent | TagsSet
