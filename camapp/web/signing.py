"""Ed25519 signatures for uploaded models: the vendor signs the .tflite bytes, the appliance checks them."""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from camapp.errors import AuthError


def load_public_key(text: str) -> Ed25519PublicKey:
    """Parse a PEM public key or the base64 of its 32 raw bytes; ValueError says what is wrong."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("model_public_key is a PEM key but not an Ed25519 one")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError("model_public_key is neither PEM nor base64") from None
    if len(raw) != 32:
        raise ValueError(f"model_public_key must decode to 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def decode_signature(data: bytes) -> bytes:
    """A signature file holds 64 raw bytes, or their base64 or hex text."""
    if len(data) == 64:
        return data
    text = data.strip()
    for decode in (binascii.unhexlify, lambda t: base64.b64decode(t, validate=True)):
        try:
            sig = decode(text)
        except (binascii.Error, ValueError):
            continue
        if len(sig) == 64:
            return sig
    raise AuthError("the signature must be 64 bytes (raw, hex or base64)")


def verify(public_key_text: str, payload: bytes, signature: bytes) -> None:
    """Raise AuthError unless `signature` is a valid Ed25519 signature of `payload`."""
    key = load_public_key(public_key_text)
    try:
        key.verify(decode_signature(signature), payload)
    except InvalidSignature:
        raise AuthError("the model signature does not match the configured public key") from None
