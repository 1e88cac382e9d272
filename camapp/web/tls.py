"""HTTPS for the UI: a self-signed certificate made on first start (camapp.webserver.WebServer takes the context)."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

log = logging.getLogger(__name__)


def _names() -> list[x509.GeneralName]:
    from cryptography import x509

    host = socket.gethostname()
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys([host, f"{host}.local", "camapp.local",
                                                                               "localhost"])]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ("127.0.0.1", "::1")]
    return names


def ensure_certificate(data_dir: Path) -> tuple[Path, Path]:
    """tls/cert.pem + tls/key.pem in data_dir, made once (ECDSA P-256, 10 years, SAN = host names)."""
    tls = data_dir / "tls"
    cert_path, key_path = tls / "cert.pem", tls / "key.pem"
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path
    # Lazy: cryptography (13 MB resident) is needed only to make the certificate, once.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    tls.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, socket.gethostname() or "camapp")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(_names()), critical=False)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    log.info("made a self-signed TLS certificate in %s", tls)
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate, as browsers show it (AA:BB:...)."""
    der = ssl.PEM_cert_to_DER_cert(cert_path.read_text(encoding="ascii"))
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def ssl_context(data_dir: Path) -> ssl.SSLContext:
    """A server TLS context with the appliance's self-signed certificate (made on first use); logs its fingerprint
    so the user can check, in the browser's warning, that the certificate really is the camera's."""
    cert, key = ensure_certificate(data_dir)
    os.chmod(key, 0o600)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    log.info("HTTPS certificate %s, SHA-256 fingerprint %s", cert, fingerprint(cert))
    return context
