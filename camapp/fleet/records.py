"""The console's records, as the registry, the rollouts and the model store keep them and the API shows them.

TypedDicts rather than dataclasses: they are JSON at both ends (SQLite columns, rollouts.json, jsonify, the
templates), so the keys are the contract. What a device sent is kept as it arrived (JsonObject) and narrowed where
it is read: another device's software may send any shape.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from camapp.fleet.protocol import DesiredDoc, ModelSpec
from camapp.types import JsonObject, JsonValue

SyncState = Literal["none", "pending", "applied", "refused"]
RolloutState = Literal["canary", "rolling", "done", "failed"]
HealthKey = Literal["fps", "cpu_temp", "disk_free", "outbox"]


class Problem(TypedDict):
    since: float
    detail: str


class DeviceRow(TypedDict):
    """One row of the registry's `devices` table."""

    id: str
    prefix: str
    online: bool | None  # None: never heard its availability
    since: float | None  # when `online` last changed
    last_seen: float | None
    stats: JsonObject | None  # <prefix>/stats as received
    stats_time: float | None
    mode: str | None
    detection: str | None
    reported: JsonObject | None  # <prefix>/fleet/reported as received
    reported_time: float | None
    desired: DesiredDoc | None  # what the console last asked of it (its own signed document)
    desired_time: float | None
    tags: dict[str, str]
    last_event: JsonObject | None
    last_event_time: float | None
    prev_outbox: int | None  # the stats' mqtt_outbox before the last one (a growing outbox is a problem)


class Device(DeviceRow):
    problems: dict[str, Problem]  # kind: since when, and the detail


class Sync(TypedDict):
    """Desired vs reported config (camapp/fleet/problems.py sync_of)."""

    state: SyncState
    detail: str
    desired_version: int | None
    errors: NotRequired[list[JsonObject]]  # refused: the errors the device reported


class DeviceView(Device):
    """A device as the pages and the API show it."""

    sync: Sync
    url: str  # the appliance's own UI


class ProblemRow(Problem):
    device: str
    kind: str


class FieldRow(TypedDict):
    """One field a desired config sets: the value asked for and the one the device reports it runs."""

    field: str
    desired: JsonValue
    reported: JsonValue
    known: bool


class HealthPoint(TypedDict):
    time: float
    fps: float | None
    cpu_temp: float | None
    disk_free: float | None
    outbox: float | None


class Chart(TypedDict):
    points: str  # an SVG polyline's points
    last: float | None
    low: float | None
    high: float | None


class Sent(TypedDict):
    """One document a fleet action published."""

    device: str
    version: int
    online: bool


class ModelMeta(TypedDict):
    """A model the console keeps (<data_dir>/models/<id>/meta.json)."""

    id: str
    name: str
    sha256: str
    size: int
    labels_sha256: str
    added: float
    signature_sha256: str | None


class Rollout(TypedDict):
    """A model rollout (<data_dir>/rollouts.json)."""

    id: str
    model: str
    name: str
    spec: ModelSpec
    members: list[str]
    canary: str
    canary_s: float
    state: RolloutState
    started: float
    detail: str
    sent: dict[str, int]  # device: the version of the command it was sent
    healthy_since: float | None
    problems_before: list[str]  # the canary's problems when it started (only new ones fail it)
    results: NotRequired[dict[str, str | None]]  # once done: each member's `done` or `refused`
