"""The OpenAPI 3.0 description of /api, served at /api/openapi.json (kept next to the routes it documents)."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import TypeAdapter

from camapp.store.records import json_schemas
from camapp.types import JsonObject, JsonValue
from camapp.web.system import CameraInfo

OBJ: JsonObject = {"type": "object"}
JSON_OBJ: JsonObject = {"application/json": {"schema": OBJ}}
ERR: JsonObject = {"description": "Error",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
MODE: JsonObject = {"type": "string", "enum": ["disarmed", "home", "away"]}
IDS: JsonObject = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,80}$"}
FLAG: JsonObject = {"type": "string", "enum": ["0", "1"]}
CAMERA: JsonObject = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}
UNKNOWN = " An unknown camera is a 404 naming it."


def openapi30(schema: JsonValue) -> JsonValue:
    """A JSON Schema (pydantic's, draft 2020-12) as OpenAPI 3.0 says it: `nullable` instead of a null member of
    anyOf, no titles."""
    if isinstance(schema, list):
        return [openapi30(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: JsonObject = {str(k): openapi30(v) for k, v in schema.items() if k != "title"}
    members = out.get("anyOf")
    if isinstance(members, list) and {"type": "null"} in members:
        rest = [m for m in members if m != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and isinstance(rest[0], dict):
            out.update(rest[0])
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    return out


def _p(name: str, where: str, schema: JsonObject, required: bool = False) -> JsonObject:
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema}


def _ref(name: str) -> JsonObject:
    return {"$ref": f"#/components/schemas/{name}"}


def _op(summary: str, ok: str = "application/json", params: Sequence[JsonValue] | None = None,
        body: JsonObject | None = None, codes: tuple[int, ...] = (400, 401, 403),
        schema: JsonObject | None = None) -> JsonObject:
    shape = schema or (OBJ if ok.endswith("json") else {"type": "string", "format": "binary"})
    responses: JsonObject = {"200": {"description": "OK", "content": {ok: {"schema": shape}}}}
    responses.update({str(c): ERR for c in codes})
    op: JsonObject = {"summary": summary, "responses": responses}
    if params:
        op["parameters"] = list(params)
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    return op


def _json_body(props: JsonObject, required: list[JsonValue]) -> JsonObject:
    return {"application/json": {"schema": {"type": "object", "properties": props, "required": required}}}


OVERLAY: list[JsonValue] = [_p("boxes", "query", FLAG), _p("motion", "query", FLAG), _p("zones", "query", FLAG)]
EVENT_FILTERS: list[JsonValue] = [
    _p("limit", "query", {"type": "integer", "minimum": 1, "maximum": 500}),
    _p("camera", "query", {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
    _p("before", "query", {"type": "number", "minimum": 0}), _p("label", "query", IDS), _p("zone", "query", IDS),
    _p("since", "query", {"type": "number", "minimum": 0}), _p("until", "query", {"type": "number", "minimum": 0}),
]
MEDIA: JsonObject = {"type": "string", "enum": ["snapshot", "snapshot_clean", "thumbnail", "clip"]}
WHICH = _p("camera", "query", CAMERA)  # which camera; none: the first (with `camera:`, the only) one
NAMED = _p("name", "path", CAMERA)
STREAM: list[JsonValue] = [*OVERLAY, _p("max_frames", "query", {"type": "integer", "minimum": 0})]


def _cameras() -> JsonObject:
    """The cameras and each one's live view (the routes of camapp/web/cameras.py)."""
    return {
        "/cameras": {"get": _op("Every camera in the config's order: name, source, fps, ok/starting/stalled with "
                                "the reasons /healthz gives, viewers, and the URLs of its page, stream and latest "
                                "frame", schema={"type": "object", "required": ["cameras"], "properties": {
                                    "cameras": {"type": "array", "items": _ref("CameraInfo")}}})},
        "/cameras/{name}": {"get": _op("One camera (as listed by /cameras)." + UNKNOWN, params=[NAMED],
                                       codes=(401, 404), schema=_ref("CameraInfo"))},
        "/cameras/{name}/stream.mjpeg": {"get": _op(
            "The camera's live MJPEG stream; each frame is encoded once for every viewer, and not at all while "
            "nobody watches; web.max_viewers counts the streams of all cameras together." + UNKNOWN,
            "multipart/x-mixed-replace", [NAMED, *STREAM], codes=(400, 401, 404, 503))},
        "/cameras/{name}/detection": {"post": _op(
            "Object detection on or off for this camera alone (it detects while this and /detection are on; a lone "
            "camera: the same as /detection)." + UNKNOWN, params=[NAMED],
            body=_json_body({"enabled": {"type": "boolean"}}, ["enabled"]), codes=(400, 401, 403, 404))},
        "/cameras/{name}/snapshot.jpg": {"get": _op("The camera's latest annotated frame." + UNKNOWN, "image/jpeg",
                                                    [NAMED, *OVERLAY], codes=(401, 404, 503))},
    }


def _paths() -> JsonObject:
    eid = [_p("event_id", "path", IDS)]
    return {
        "/status": {"get": _op("State, health, MQTT and storage status, every camera's health (cameras), and the "
                               "pipeline, stream and objects of one camera (?camera=, default the first)." + UNKNOWN,
                               params=[WHICH], codes=(401, 404))},
        **_cameras(),
        "/history": {"get": _op("Health samples of the last hour")},
        "/state": {"get": _op("Arming mode, detection and alarm")},
        "/snapshot.jpg": {"get": _op("Latest annotated frame of a camera (?camera=, default the first)." + UNKNOWN,
                                     "image/jpeg", [WHICH, *OVERLAY], codes=(401, 404, 503))},
        "/stream.mjpeg": {"get": _op("Live MJPEG stream of a camera (?camera=, default the first)." + UNKNOWN,
                                     "multipart/x-mixed-replace", [WHICH, *STREAM], codes=(400, 401, 404, 503))},
        "/snapshot": {"post": _op("Ask the store to save the current frame of a camera (?camera=, default the "
                                  "first); returns its id." + UNKNOWN, params=[WHICH], codes=(400, 401, 403, 404))},
        "/snapshots/{snap_id}": {"get": _op("A saved snapshot", "image/jpeg", [_p("snap_id", "path", IDS)],
                                            codes=(400, 401, 404))},
        "/arm": {"post": _op("Set the arming mode", body=_json_body({"mode": MODE}, ["mode"]))},
        "/detection": {"post": _op("Turn detection on or off",
                                   body=_json_body({"enabled": {"type": "boolean"}}, ["enabled"]))},
        "/silence": {"post": _op("Silence active alarms")},
        "/events": {"get": _op("Events, newest first (of one camera with ?camera=, else of all)." + UNKNOWN,
                               params=EVENT_FILTERS, codes=(400, 401, 404), schema={
            "type": "object", "required": ["events"],
            "properties": {"events": {"type": "array", "items": _ref("EventRecord")}}})},
        "/events/{event_id}": {"get": _op("One event, with its path [[t, x, y], ...] in frame pixels, frame_width, "
                                          "frame_height, clip_codec and clip (ready, recording, pruned or none)",
                                          params=eid, codes=(400, 401, 404), schema=_ref("EventDetail")),
                               "delete": _op("Delete an event and its media", params=eid, codes=(400, 401, 403, 404))},
        "/events/{event_id}/clip.mp4": {"get": _op(
            "The event's clip (H.264 MP4), remuxed on request from the recording segments the event holds: "
            "Content-Length, Range requests and a download name; 404 says why there is none (clip: pruned, "
            "recording or none)", "video/mp4", eid, codes=(400, 401, 404))},
        "/events/{event_id}/{kind}": {"get": _op("Event media (JPEG or video)", "application/octet-stream",
                                                 [*eid, _p("kind", "path", MEDIA)], codes=(400, 401, 404))},
        "/recordings": {"get": _op("Recorded segments and events in a window (default the last hour, at most a "
                                   "day): segments [{id, camera, start, end, frames, bytes, kept}], events; of one "
                                   "camera with ?camera=, else of every camera." + UNKNOWN, params=[
            WHICH, _p("since", "query", {"type": "number", "minimum": 0}),
            _p("until", "query", {"type": "number", "minimum": 0})], codes=(400, 401, 404), schema={
                "type": "object", "required": ["since", "until", "segments", "events"], "properties": {
                    "since": {"type": "number"}, "until": {"type": "number"},
                    "segments": {"type": "array", "items": _ref("SegmentRecord")},
                    "events": {"type": "array", "items": {"type": "object"}}}})},
        "/recordings/{seg_id}": {"get": _op("One recorded segment (MP4, H.264; Range requests supported)",
                                            "video/mp4", [_p("seg_id", "path", IDS)], codes=(400, 401, 404))},
        "/config": {"get": _op("The configuration, secrets masked (admins only: 403 for viewers)"),
                    "put": _op("Validate, save and apply a whole configuration; a masked secret is kept only while "
                               "its endpoint is unchanged (else 422 naming it); loosening web.require_signed_models "
                               "needs your password in the X-Camapp-Password header (else 403)", body=JSON_OBJ,
                               params=[_p("X-Camapp-Password", "header", {"type": "string"})],
                               codes=(400, 401, 403, 422))},
        "/config/validate": {"post": _op("Validate a configuration without saving", body=JSON_OBJ,
                                         codes=(400, 401, 403, 422))},
        "/zones": {"get": _op("Zones and motion mask of a camera (?camera=, default the first; with several "
                              "cameras its own or the top level's, own_zones and own_motion_mask say which)." +
                              UNKNOWN, params=[WHICH], codes=(401, 404)),
                   "put": _op("Replace zones and/or motion mask (with several cameras: of ?camera=, saved under "
                              "cameras.<name>)", params=[WHICH], body=_json_body(
                       {"zones": {"type": "array", "items": OBJ}, "motion_mask": {"type": "array"}}, []),
                       codes=(400, 401, 403, 404, 422))},
        "/model": {"get": _op("Installed models"),
                   "post": _op("Install a model: multipart (model, labels, signature) or JSON paths", body={
                       "multipart/form-data": {"schema": {"type": "object", "properties": {
                           "model": {"type": "string", "format": "binary"},
                           "labels": {"type": "string", "format": "binary"},
                           "signature": {"type": "string", "format": "binary"}}, "required": ["model", "labels"]}},
                       **_json_body({"model_path": {"type": "string"}, "labels_path": {"type": "string"}},
                                    ["model_path", "labels_path"])}, codes=(400, 401, 403, 413, 422))},
        "/model/activate": {"post": _op("Switch back to an installed model",
                                        body=_json_body({"id": IDS}, ["id"]), codes=(400, 401, 403, 422))},
        "/logs": {"get": _op("Log tail (admin)", params=[_p("lines", "query", {"type": "integer", "minimum": 1,
                                                                         "maximum": 5000})])},
        "/diagnostics": {"get": _op("Diagnostics zip", "application/zip")},
        "/users": {"get": _op("Users and tokens (admin)"),
                   "post": _op("Add a user", body=_json_body({"username": {"type": "string"},
                                                              "password": {"type": "string"},
                                                              "role": {"type": "string",
                                                                       "enum": ["admin", "viewer"]}},
                                                             ["username", "password"]), codes=(400, 401, 403, 409))},
        "/users/{username}": {"delete": _op("Delete a user", params=[_p("username", "path", {"type": "string"})],
                                            codes=(400, 401, 403, 404))},
        "/password": {"post": _op("Change your password; ends your other sessions and (unless keep_tokens) your "
                                  "API tokens", body=_json_body(
            {"current": {"type": "string"}, "new": {"type": "string"}, "keep_tokens": {"type": "boolean"}},
            ["current", "new"]))},
        "/sessions": {"get": _op("Your logged-in sessions")},
        "/sessions/{ref}": {"delete": _op("End one of your sessions", params=[_p("ref", "path", {"type": "string"})],
                                          codes=(400, 401, 403, 404))},
        "/tokens": {"get": _op("Your API tokens"),
                    "post": _op("Create an API token (secret shown once); needs your password in the "
                                "X-Camapp-Password header, and every admin is notified",
                                body=_json_body({"name": {"type": "string"}}, []), codes=(400, 401, 403, 429))},
        "/tokens/{token_id}": {"delete": _op("Revoke a token", params=[_p("token_id", "path", {"type": "string"})],
                                             codes=(400, 401, 403, 404))},
        "/totp": {"get": _op("Whether your two-factor sign-in (TOTP) is on")},
        "/totp/setup": {"post": _op("A new TOTP key for your authenticator app (needs X-Camapp-Password); on only "
                                    "after /totp/enable", codes=(401, 403, 429))},
        "/totp/enable": {"post": _op("Turn two-factor sign-in on with a code for the new key",
                                     body=_json_body({"code": {"type": "string"}}, ["code"]), codes=(400, 401, 403))},
        "/totp/disable": {"post": _op("Turn two-factor sign-in off (needs X-Camapp-Password and a current code)",
                                      body=_json_body({"code": {"type": "string"}}, ["code"]),
                                      codes=(400, 401, 403, 429))},
        "/security": {"get": _op("Security notices (tokens made, login lockouts) and lockouts in force (admin)")},
        "/openapi.json": {"get": _op("This document")},
    }


def _schemas() -> JsonObject:
    """The web layer's own records (the camera list), in OpenAPI form; nested types under components too."""
    schema = TypeAdapter(CameraInfo).json_schema(mode="serialization", ref_template="#/components/schemas/{model}")
    nested = schema.pop("$defs", {})
    return {name: openapi30(s) for name, s in {**nested, "CameraInfo": schema}.items()}


def spec() -> JsonObject:
    """The OpenAPI document; every operation needs a session cookie or a bearer token."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "camapp API", "version": "1",
                 "description": "Local JSON API of the camapp appliance. Errors are JSON {error, status}."},
        "servers": [{"url": "/api"}],
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API token from the Account page"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "camapp_session",
                           "description": "Browser session; state changes also need the X-CSRF-Token header"},
            },
            "schemas": {"Error": {"type": "object", "required": ["error", "status"], "properties": {
                "error": {"type": "string"}, "status": {"type": "integer"}, "errors": OBJ}},
                        **{name: openapi30(s) for name, s in json_schemas().items()},
                        **_schemas()},
        },
    }
