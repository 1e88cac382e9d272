"""A real MQTT broker for tests on a free 127.0.0.1 port: mosquitto if installed, else amqtt (plain only).

Also: test certificates (CA, server, client) made with `cryptography`, and a paho subscriber that collects messages.
"""

from __future__ import annotations

import datetime as dt
import getpass
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

HOST = "127.0.0.1"


def find_mosquitto() -> str | None:
    path = shutil.which("mosquitto")
    if path is None and Path("/usr/sbin/mosquitto").exists():
        path = "/usr/sbin/mosquitto"
    return path


def broker_kind() -> str:
    """mosquitto when installed, else amqtt; CAMAPP_TEST_BROKER=amqtt forces the fallback (to test it)."""
    forced = os.environ.get("CAMAPP_TEST_BROKER", "")
    if forced in ("mosquitto", "amqtt"):
        return forced
    return "mosquitto" if find_mosquitto() else "amqtt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# ---- certificates -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_client_cert: Path  # signed by a different CA: the broker must refuse it
    other_client_key: Path


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject_cn: str, key: Any, issuer: tuple[str, Any] | None, *, ca: bool, server: bool = False,
          names: tuple[str, ...] = ()) -> Any:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    issuer_cn, issuer_key = issuer if issuer else (subject_cn, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names] if names else
                                        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: Any = None, key: Any = None) -> Path:
    from cryptography.hazmat.primitives import serialization

    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return path


def make_certs(directory: Path, server_names: tuple[str, ...] = ()) -> Certs:
    """A test CA, a server cert for 127.0.0.1/localhost (or only for `server_names`: a name mismatch) and client
    certs (one from a foreign CA)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, other_ca_key = _key(), _key()
    ca = _cert("camapp test CA", ca_key, None, ca=True)
    server_key, client_key, other_key = _key(), _key(), _key()
    return Certs(
        ca=_write(directory / "ca.pem", cert=ca),
        server_cert=_write(directory / "server.pem", cert=_cert(HOST, server_key, ("camapp test CA", ca_key),
                                                                  ca=False, server=True, names=server_names)),
        server_key=_write(directory / "server.key", key=server_key),
        client_cert=_write(directory / "client.pem", cert=_cert("camapp-device", client_key,
                                                                  ("camapp test CA", ca_key), ca=False)),
        client_key=_write(directory / "client.key", key=client_key),
        other_client_cert=_write(directory / "other.pem", cert=_cert("intruder", other_key,
                                                                       ("other CA", other_ca_key), ca=False)),
        other_client_key=_write(directory / "other.key", key=other_key),
    )


# ---- broker -----------------------------------------------------------------------------------------------------


@dataclass
class Broker:
    """One broker process; `users` adds password auth, `certs` TLS with required client certificates."""

    workdir: Path
    users: dict[str, str] | None = None
    certs: Certs | None = None
    persistence: bool = False
    port: int = field(default_factory=free_port)
    kind: str = field(default_factory=broker_kind)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.kind == "amqtt" and (self.users or self.certs or self.persistence):
            raise RuntimeError("the amqtt fallback runs only a plain anonymous broker; install mosquitto")

    @property
    def log_path(self) -> Path:
        return self.workdir / "broker.log"

    def _mosquitto_conf(self) -> Path:
        lines = [f"listener {self.port} {HOST}", f"user {getpass.getuser()}", "log_dest stderr",
                 "log_type error", "log_type warning", "log_type notice"]
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.workdir}/"]
        else:
            lines.append("persistence false")
        if self.users:
            pw = self.workdir / "passwd"
            pw.write_text("")
            tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for user, password in self.users.items():
                subprocess.run([tool, "-b", str(pw), user, password], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if self.certs:
            c = self.certs
            lines += [f"cafile {c.ca}", f"certfile {c.server_cert}", f"keyfile {c.server_key}",
                      "require_certificate true", "tls_version tlsv1.2"]
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _amqtt_cmd(self) -> list[str]:
        conf = self.workdir / "amqtt.yaml"
        conf.write_text(
            "listeners:\n  default:\n    type: tcp\n"
            f"    bind: {HOST}:{self.port}\n"
            "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n"
        )
        return [str(Path(sys.executable).parent / "amqtt"), "-c", str(conf)]

    def start(self, timeout: float = 10.0) -> Broker:
        cmd = [find_mosquitto() or "mosquitto", "-c", str(self._mosquitto_conf())] if self.kind == "mosquitto" \
            else self._amqtt_cmd()
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited at start:\n{self.log_path.read_text()}")
            try:
                socket.create_connection((HOST, self.port), timeout=0.2).close()
                return self
            except OSError:
                threading.Event().wait(0.05)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on {HOST}:{self.port}:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        """SIGTERM (mosquitto saves its persistence file), then wait."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def mqtt_config(self, **extra: Any) -> dict[str, Any]:
        """The `mqtt:` config section a camapp client needs to reach this broker."""
        cfg: dict[str, Any] = {"host": HOST, "port": self.port, "keepalive_s": 5,
                               "reconnect_min_s": 0.2, "reconnect_max_s": 0.5}
        if self.users:
            user, password = next(iter(self.users.items()))
            cfg.update(username=user, password=password)
        if self.certs:
            cfg["tls"] = {"ca": str(self.certs.ca), "cert": str(self.certs.client_cert),
                          "key": str(self.certs.client_key)}
        cfg.update(extra)
        return cfg


# ---- a subscriber that records what arrives ----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool
    qos: int


class Collector:
    """A paho client subscribed to `topics`; `wait_for(pred)` blocks until the received list satisfies pred."""

    def __init__(self, broker: Broker, topics: list[str], *, client_id: str = "", clean_session: bool = True) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self._topics = topics
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean_session)
        if broker.users:
            user, password = next(iter(broker.users.items()))
            self.client.username_pw_set(user, password)
        if broker.certs:
            self.client.tls_set(ca_certs=str(broker.certs.ca), certfile=str(broker.certs.client_cert),
                                keyfile=str(broker.certs.client_key), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        self.client.reconnect_delay_set(0.1, 0.3)  # type: ignore[arg-type]
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(HOST, broker.port, keepalive=5)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("collector could not subscribe")

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))
            self._cond.notify_all()

    def on(self, topic: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, pred: Callable[[list[Received]], bool], timeout: float = 10.0) -> list[Received]:
        with self._cond:
            if not self._cond.wait_for(lambda: pred(self.messages), timeout):
                got = [(m.topic, m.payload[:80]) for m in self.messages[-20:]]
                raise AssertionError(f"condition not met within {timeout}s; last messages: {got}")
            return list(self.messages)

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
