"""JSON payloads camapp publishes; the event and stats shapes are versioned JSON Schemas in camapp/mqtt/schema/."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from camapp.types import EventMessage, JsonObject

SCHEMA_VERSION = 1
# Compatible additions within a version: 2 added has_snapshot, has_clip, url, snapshot_url and clip_url to events.
# Several cameras publish the same event message on <prefix>/<camera>/events (its `camera` was always there).
SCHEMA_REVISION = 2
# Stats revision 2 (several cameras): `revision`, `camera` (null: the appliance's message; a camera's is on
# <prefix>/<camera>/stats) and, on the appliance's message of a several-camera appliance, `cameras`.
STATS_REVISION = 2
SCHEMA_DIR = Path(__file__).resolve().parent / "schema"
EVENT_SCHEMA = SCHEMA_DIR / f"event.v{SCHEMA_VERSION}.json"
STATS_SCHEMA = SCHEMA_DIR / f"stats.v{SCHEMA_VERSION}.json"

# Fields copied into the stats payload; nested health/pipeline dicts are flattened first.
_STATS_FIELDS = ("fps", "detector_ms", "motion_ms", "frames", "detector_calls", "dropped_frames", "motion_pct",
                 "cpu_temp_c",
                 "throttled", "uptime_s", "load")


def new_message_id() -> str:
    """A stable id a subscriber uses to drop duplicates (QoS 1 is at-least-once)."""
    return uuid.uuid4().hex


def envelope(device_id: str, camera_id: str | None) -> JsonObject:
    """Fields every event-like message carries."""
    return {"version": SCHEMA_VERSION, "message_id": new_message_id(), "device_id": device_id,
            "camera": camera_id, "time": round(time.time(), 3)}


@dataclass(frozen=True)
class EventMedia:
    """What the appliance keeps of each event and where its pages are: `snapshots`/`clips` are the store's settings
    (a store that keeps nothing has neither), `base_url` gives the UI's address when a message is made."""

    snapshots: bool = False
    clips: bool = False
    base_url: Callable[[], str | None] = lambda: None

    def fields(self, event_id: str) -> JsonObject:
        base = self.base_url()
        link = (lambda path: f"{base}{path}") if base else (lambda path: None)
        return {"has_snapshot": self.snapshots, "has_clip": self.clips, "url": link(f"/events/{event_id}"),
                "snapshot_url": link(f"/api/events/{event_id}/snapshot") if self.snapshots else None,
                "clip_url": link(f"/api/events/{event_id}/clip") if self.clips else None}


def event_payload(
    msg: EventMessage, *, device_id: str, camera_id: str, model_name: str, frame_size: tuple[int, int] | None = None,
    media: EventMedia | None = None,
) -> JsonObject:
    """One event message as published on <prefix>/events (see event.v1.json)."""
    body: JsonObject = msg.to_dict()
    body.update(envelope(device_id, camera_id))
    body["revision"] = SCHEMA_REVISION
    body["model"] = model_name
    body["frame_size"] = list(frame_size) if frame_size else None
    body.update((media or EventMedia()).fields(msg.id))
    return body


def alert_payload(payload: Mapping[str, object], *, device_id: str, camera_id: str | None) -> dict[str, object]:
    """A rule's alert: the rule's own fields plus the envelope (envelope keys win)."""
    body = dict(payload)
    body.update(envelope(device_id, camera_id))
    body["type"] = "alert"
    return body


def _flatten(raw: Mapping[str, object]) -> dict[str, object]:
    flat = dict(raw)
    for key in ("pipeline", "health", "system"):
        nested = raw.get(key)
        if isinstance(nested, Mapping):
            flat.update(nested)
    return flat


def _disk_free_pct(disk: object) -> float | None:
    if not isinstance(disk, Mapping):
        return None
    total, free = disk.get("total"), disk.get("free")
    if not isinstance(total, int | float) or not isinstance(free, int | float) or total <= 0:
        return None
    return round(100.0 * free / total, 1)


def stats_payload(raw: Mapping[str, object], *, device_id: str, outbox: int, connected: bool,
                  camera: str | None = None) -> dict[str, object]:
    """The periodic <prefix>/stats message (see stats.v1.json), or with `camera` that camera's
    <prefix>/<camera>/stats; missing readings are null."""
    flat = _flatten(raw)
    # The readings are whatever the stats source holds (numbers, None, the load list); dumps() writes them.
    body: dict[str, object] = {"version": SCHEMA_VERSION, "revision": STATS_REVISION, "device_id": device_id,
                               "camera": camera, "time": round(time.time(), 3)}
    for key in _STATS_FIELDS:
        body[key] = flat.get(key)
    body["disk_free_pct"] = _disk_free_pct(flat.get("disk"))
    capture = flat.get("camera")
    body["camera_status"] = capture.get("status") if isinstance(capture, Mapping) else None
    body["mqtt_outbox"] = outbox
    body["mqtt_connected"] = connected
    recording = raw.get("recording")  # the store's recorder: "recording", "stopped: low disk ...", or off
    rec = recording if isinstance(recording, Mapping) else {}
    body["recording_state"] = rec.get("state", "off")
    body["recording_frames_dropped"] = rec.get("frames_dropped")
    body["recording_encode_ms"] = rec.get("encode_ms")
    return body


def dumps(body: Mapping[str, object]) -> str:
    """Compact JSON; NaN is not valid JSON, so it is refused here rather than by a subscriber."""
    return json.dumps(body, separators=(",", ":"), allow_nan=False, default=str)
