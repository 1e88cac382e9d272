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
from typing import TYPE_CHECKING, Literal, NotRequired, TypedDict

from camapp.errors import AuthError, CommandError
from camapp.types import JsonObject, JsonValue

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

DESIRED = "camapp.fleet.desired/1"
COMMAND = "camapp.fleet.command/1"
REPORTED = "camapp.fleet.reported/1"
Kind = Literal["desired", "command"]
SCHEMAS: dict[str, Kind] = {DESIRED: "desired", COMMAND: "command"}
MAX_DOCUMENT = 256 * 1024  # a desired config is a YAML overlay of a few KB; the config loader's own cap
STATE_COMMANDS = ("mode", "armed", "detection")
FLEET_COMMANDS = (*STATE_COMMANDS, "model")  # model: install and switch to the model the document names
MODEL_FIELDS = ("model_url", "model_sha256", "labels_url", "labels_sha256", "tls_sha256")
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


class ModelSpec(TypedDict):
    """What command `model` carries: where each file is, its sha256, and the console certificate to pin."""

    model_url: str
    model_sha256: str
    labels_url: str
    labels_sha256: str
    signature_url: str | None
    signature_sha256: str | None
    tls_sha256: str


class DesiredBody(TypedDict):
    schema: str
    device_id: str
    version: int
    issued: float
    config: str  # a YAML overlay on the device's running config


class DesiredDoc(DesiredBody):
    """camapp/fleet/schema/desired.v1.json, as the console signs it."""

    sig: str


class CommandBody(TypedDict):
    schema: str
    device_id: str
    version: int
    issued: float
    command: str
    value: str
    model: NotRequired[ModelSpec]


class CommandDoc(CommandBody):
    """camapp/fleet/schema/command.v1.json, as the console signs it."""

    sig: str


class FieldError(TypedDict):
    """Why a desired config was refused: the field (None: the document as a whole), its line, the message."""

    field: str | None
    line: int | None
    message: str


class Refusal(TypedDict):
    version: int
    errors: list[FieldError]
    time: float


class CommandResult(TypedDict):
    version: int
    command: str
    value: str
    result: Literal["done", "refused"]
    error: NotRequired[str]


class ReportedDoc(TypedDict):
    """camapp/fleet/schema/reported.v1.json, as the device publishes it (the console reads what arrives as
    JsonObject: another device's software may send anything)."""

    schema: str
    device_id: str
    time: float
    sw_version: str
    model: str
    version: int
    config_hash: str
    desired_sha256: str | None
    values: dict[str, JsonValue]
    restart: list[str]
    refused: Refusal | None
    command: CommandResult | None


def canonical(body: Mapping[str, object]) -> bytes:
    """The bytes a signature covers: every field but `sig`, sorted keys, no spaces."""
    rest = {k: v for k, v in body.items() if k != "sig"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def config_hash(data: Mapping[str, object]) -> str:
    """sha256 of a config (as JSON) in canonical form: equal configs, equal hashes, whatever the key order."""
    return hashlib.sha256(canonical(data)).hexdigest()


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def signature(private_key: Ed25519PrivateKey, body: Mapping[str, object]) -> str:
    """The `sig` of a document: base64 Ed25519 over its canonical form."""
    return base64.b64encode(private_key.sign(canonical(body))).decode()


def sign(private_key: Ed25519PrivateKey, body: Mapping[str, object]) -> dict[str, object]:
    """`body` with its `sig` (any fields: tests forge documents of every shape with it)."""
    return {**body, "sig": signature(private_key, body)}


def model_spec(value: JsonValue) -> ModelSpec:
    """The `model` of a verified command; CommandError unless every file has its URL and sha256 as strings."""
    spec = as_object(value)
    url, sha, labels_url, labels_sha, tls = (spec.get(k) for k in MODEL_FIELDS)
    if not (isinstance(url, str) and isinstance(sha, str) and isinstance(labels_url, str)
            and isinstance(labels_sha, str) and isinstance(tls, str)):
        raise CommandError(f"malformed: `model` needs {', '.join(MODEL_FIELDS)}")
    sig_url, sig_sha = spec.get("signature_url"), spec.get("signature_sha256")
    if not (isinstance(sig_url, str) and isinstance(sig_sha, str)):
        sig_url = sig_sha = None  # an unsigned model (the device's signature policy decides whether it may run)
    return ModelSpec(model_url=url, model_sha256=sha, labels_url=labels_url, labels_sha256=labels_sha,
                     signature_url=sig_url, signature_sha256=sig_sha, tls_sha256=tls)


def as_object(value: JsonValue) -> JsonObject:
    """A received JSON value as an object: itself, or empty when absent, null or not an object."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class Document:
    """A verified document's fields (only ever built by `verify`)."""

    kind: Kind
    device_id: str
    version: int
    body: JsonObject


def parse(payload: bytes) -> JsonObject:
    """The JSON object of a message; CommandError naming what is wrong."""
    if len(payload) > MAX_DOCUMENT:
        raise CommandError(f"document is {len(payload)} bytes; the limit is {MAX_DOCUMENT}")
    try:
        body: JsonValue = json.loads(payload)
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
