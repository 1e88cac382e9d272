"""What is wrong with a device, from what it last reported (pure: the registry stores when each problem began)."""

from __future__ import annotations

from camapp.fleet.config import ProblemsConfig
from camapp.fleet.protocol import as_object, text_hash
from camapp.fleet.records import DeviceRow, Sync

KINDS = ("offline", "stalled", "disk low", "outbox growing", "recording stopped", "config refused")
CAMERA_OK = ("open", "starting", None)  # PipelineStats.camera_status; "reconnecting" and "closed" are not


def problems_of(device: DeviceRow, cfg: ProblemsConfig, now: float) -> dict[str, str]:
    """{kind: detail} for one registry row."""
    out: dict[str, str] = {}
    if device["online"] is False:
        out["offline"] = "the broker sent its last will (or it said goodbye)"
        return out  # stale readings of an offline device are not problems of their own
    stats, at = device["stats"] or {}, device["stats_time"]
    camera = stats.get("camera_status")
    if at is None or now - at > cfg.stalled_after_s:
        out["stalled"] = f"no stats for over {cfg.stalled_after_s:g} s"
    elif camera not in CAMERA_OK:
        out["stalled"] = f"camera {camera}"
    disk = stats.get("disk_free_pct")
    if isinstance(disk, int | float) and disk < cfg.disk_low_pct:
        out["disk low"] = f"{disk:.1f}% free"
    outbox, before = stats.get("mqtt_outbox"), device["prev_outbox"]
    if isinstance(outbox, int) and outbox > cfg.outbox_growing and (before is None or outbox >= before):
        out["outbox growing"] = f"{outbox} messages waiting"
    rec = stats.get("recording_state")
    if isinstance(rec, str) and rec.startswith("stopped"):
        out["recording stopped"] = rec
    sync = sync_of(device)
    if sync["state"] == "refused":
        out["config refused"] = sync["detail"]
    return out


def sync_of(device: DeviceRow) -> Sync:
    """Desired vs reported: `none` (nothing desired), `pending`, `applied` (only once the device reported that
    version, with the same config text) or `refused` (with the field and line it reported)."""
    desired, reported = device["desired"], device["reported"] or {}
    if not desired:
        return {"state": "none", "detail": "", "desired_version": None}
    version = desired["version"]
    refused = as_object(reported.get("refused"))
    if refused.get("version") == version:
        given = refused.get("errors")
        errors = [e for e in given if isinstance(e, dict)] if isinstance(given, list) else []
        detail = "; ".join(f"{e.get('field') or 'config'} (line {e.get('line')}): {e.get('message')}"
                           for e in errors)
        return {"state": "refused", "detail": detail, "desired_version": version, "errors": errors}
    done = reported.get("version")
    if isinstance(done, int) and (done > version or (
            done == version and reported.get("desired_sha256") == text_hash(desired["config"]))):
        return {"state": "applied", "detail": f"version {done}", "desired_version": version}
    return {"state": "pending", "detail": "not reported yet", "desired_version": version}
