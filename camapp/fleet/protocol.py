"""The fleet protocol, shared by the console and the appliance: topics, documents, Ed25519 signatures.

A document is a JSON object; its signature is Ed25519 over the canonical JSON of every other field (sorted keys,
no spaces, UTF-8), base64 in `sig`. The signed fields name the device and the kind (`schema`), and carry a
`version` that only grows, so a document cannot be replayed, moved to another device or turned into another kind.
JSON Schemas: camapp/fleet/schema/*.v1.json (docs/fleet.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from camapp.errors import AuthError, CommandError

DESIRED = "camapp.fleet.desired/1"
COMMAND = "camapp.fleet.command/1"
REPORTED = "camapp.fleet.reported/1"
Kind = Literal["desired", "command"]
SCHEMAS: dict[str, Kind] = {DESIRED: "desired", COMMAND: "command"}
MAX_DOCUMENT = 256 * 1024  # a desired config is a YAML overlay of a few KB; the config loader's own cap
STATE_COMMANDS = ("mode", "armed", "detection")
FLEET_COMMANDS = (*STATE_COMMANDS, "model")  # model: install and switch to the model the document names
SCHEMA_DIR = Path(__file__).parent / "schema"
SCHEMA_FILES = {DESIRED: SCHEMA_DIR / "desired.v1.json", COMMAND: SCHEMA_DIR / "command.v1.json",
                REPORTED: SCHEMA_DIR / "reported.v1.json"}


@dataclass(frozen=True)
class FleetTopics:
    """The appliance-wide fleet topics under one device's prefix (not per camera)."""

    prefix: str

    @property
    def desired(self) -> str:
        """Retained, signed, written only by the console: the config the device should run."""
        return f"{self.prefix}/fleet/desired"

    @property
    def command(self) -> str:
        """Not retained, signed, written only by the console: arm/disarm, detection on/off."""
        return f"{self.prefix}/fleet/command"

    @property
    def reported(self) -> str:
        """Retained, written by the device: what it runs now, or why it refused."""
        return f"{self.prefix}/fleet/reported"


def canonical(body: Mapping[str, Any]) -> bytes:
    """The bytes a signature covers: every field but `sig`, sorted keys, no spaces."""
    rest = {k: v for k, v in body.items() if k != "sig"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def config_hash(data: Mapping[str, Any]) -> str:
    """sha256 of a config (as JSON) in canonical form: equal configs, equal hashes, whatever the key order."""
    return hashlib.sha256(canonical(data)).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def sign(private_key: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    """`body` with its `sig` (private_key: cryptography's Ed25519PrivateKey)."""
    return {**body, "sig": base64.b64encode(private_key.sign(canonical(body))).decode()}


@dataclass(frozen=True)
class Document:
    """A verified document's fields (only ever built by `verify`)."""

    kind: Kind
    device_id: str
    version: int
    body: dict[str, Any]


def parse(payload: bytes) -> dict[str, Any]:
    """The JSON object of a message; CommandError naming what is wrong."""
    if len(payload) > MAX_DOCUMENT:
        raise CommandError(f"document is {len(payload)} bytes; the limit is {MAX_DOCUMENT}")
    try:
        body = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise CommandError("not a JSON document") from None
    if not isinstance(body, dict):
        raise CommandError("not a JSON object")
    return body


def verify(public_key_text: str, payload: bytes) -> Document:
    """The document when its signature verifies under the fleet key; AuthError (bad or missing signature) or
    CommandError (malformed) otherwise. Whether it is for this device and new enough is the caller's check."""
    from cryptography.exceptions import InvalidSignature  # lazy: only appliances in a fleet load cryptography

    from camapp.web.signing import load_public_key

    body = parse(payload)
    sig = body.get("sig")
    if not isinstance(sig, str):
        raise AuthError("unsigned: no `sig` field (only the fleet console can sign)")
    try:
        raw = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise AuthError("`sig` is not base64") from None
    try:
        load_public_key(public_key_text).verify(raw, canonical(body))
    except (InvalidSignature, ValueError):
        raise AuthError("bad signature: not signed by the fleet key in mqtt.fleet_public_key") from None
    kind = SCHEMAS.get(str(body.get("schema")))
    device, version = body.get("device_id"), body.get("version")
    if kind is None:
        raise CommandError(f"unknown schema {str(body.get('schema'))[:60]!r}; known: {', '.join(SCHEMAS)}")
    if not isinstance(device, str) or not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CommandError("malformed: device_id must be a string and version a positive integer")
    return Document(kind, device, version, body)
