"""The store's rows as they cross to the web UI and the API: typed records, one per kind, whose JSON Schema is
what /api/openapi.json documents (camapp/web/openapi.py generates it from these types), so the keys live here
and not in a docstring. They are TypedDicts: the rows stay plain JSON-ready mappings for jsonify and templates.
"""

from __future__ import annotations

from typing import Literal, NotRequired

from pydantic import TypeAdapter
from typing_extensions import TypedDict  # pydantic describes only this one on Python < 3.12

from camapp.types import JsonObject


class EventRecord(TypedDict):
    """One event as listed: what was seen, when, where, and which media it has."""

    id: str
    camera: str
    label: str
    track_id: int
    start_time: float
    end_time: float | None  # None while it goes on
    score: float
    top_score: float
    box: list[float]  # x1, y1, x2, y2 in frame pixels, the latest
    current_zones: list[str]
    entered_zones: list[str]
    stationary: bool
    zones: list[str]  # = current_zones (what the UI filters on)
    ongoing: bool
    has_snapshot: bool
    has_snapshot_clean: bool
    has_thumbnail: bool
    has_clip: bool  # clip == "ready": GET /api/events/<id>/clip.mp4 plays
    clip: Literal["ready", "recording", "pruned", "none"]  # pruned: its footage was deleted, the event kept


class EventDetail(EventRecord):
    """One event with its details: the object's path and the frame it was seen in."""

    path: list[list[float]]  # [t, x, y] of the object's bottom centre, frame pixels
    frame_width: int | None
    frame_height: int | None
    clip_codec: str | None  # "avc1", or None without a clip


class SegmentRecord(TypedDict):
    """One segment of the continuous or event recording."""

    id: str
    camera: str  # the camera that recorded it
    start: float
    end: float
    frames: int
    bytes: int
    kept: bool  # held (a rule's clip action, or an event's clip needs it)


class StoreUsage(TypedDict):
    """Disk use and counts; a running store adds its quota, state and the recorder's status."""

    media_bytes: int
    event_count: int
    oldest_event_time: float | None
    quota_bytes: NotRequired[int]
    degraded: NotRequired[bool]
    free_bytes: NotRequired[int | None]
    clip_codec: NotRequired[str | None]
    recording: NotRequired[dict[str, object] | None]  # the camera's asked for, or the first camera's
    recordings: NotRequired[dict[str, dict[str, object] | None]]  # each camera's recorder by name (None: off)
    inflight_bytes: NotRequired[int]
    db_bytes: NotRequired[int]
    outbox_bytes: NotRequired[int]
    refused_writes: NotRequired[int]
    snapshot_bytes_written: NotRequired[int]
    snapshot_bytes_replaced: NotRequired[int]  # of those, files later replaced by a better frame's set


RECORDS: tuple[type, ...] = (EventRecord, EventDetail, SegmentRecord, StoreUsage)


def json_schemas() -> dict[str, JsonObject]:
    """The JSON Schema of each record by name (pydantic's, from the annotations above)."""
    return {record.__name__: TypeAdapter(record).json_schema(mode="serialization") for record in RECORDS}
