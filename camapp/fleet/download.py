"""Fetching a model the console serves over HTTPS: its self-signed certificate pinned by the SHA-256 fingerprint in
the signed command (no CA involved), a size cap, and the file's sha256 checked before anything uses it."""

from __future__ import annotations

import hashlib
import hmac
import ssl
import urllib.parse
from http.client import HTTPException, HTTPSConnection

from camapp.errors import CommandError

TIMEOUT_S = 60.0
CHUNK = 1 << 16


def _fingerprint(der: bytes) -> str:
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def fetch(url: str, sha256: str, tls_sha256: str, limit: int) -> bytes:
    """The bytes at `url` when the server's certificate has fingerprint `tls_sha256` and the bytes hash to
    `sha256`; CommandError naming what failed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise CommandError(f"model url {url[:100]!r}: only https:// from the console is fetched")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # trust comes from the pinned fingerprint below
    conn = HTTPSConnection(parts.hostname, parts.port or 443, timeout=TIMEOUT_S, context=ctx)
    try:
        conn.connect()
        der = conn.sock.getpeercert(binary_form=True) if isinstance(conn.sock, ssl.SSLSocket) else None
        if der is None or not hmac.compare_digest(_fingerprint(der), tls_sha256.upper()):
            raise CommandError(f"{parts.hostname}: the console's certificate is not the one the command names")
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""))
        resp = conn.getresponse()
        if resp.status != 200:
            raise CommandError(f"{url[:100]}: HTTP {resp.status}")
        data = bytearray()
        while chunk := resp.read(CHUNK):
            data += chunk
            if len(data) > limit:
                raise CommandError(f"{url[:100]}: larger than {limit} bytes")
    except (OSError, HTTPException) as err:  # timeouts and refused connections are OSErrors
        raise CommandError(f"{url[:100]}: cannot download: {err}") from None
    finally:
        conn.close()
    if hashlib.sha256(data).hexdigest() != sha256.lower():
        raise CommandError(f"{url[:100]}: sha256 does not match the signed command")
    return bytes(data)
