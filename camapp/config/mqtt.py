"""Config for MQTT publishing: broker connection, TLS, topics, outbox, commands and Home Assistant discovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from camapp.config.base import Section

Command = Literal["mode", "armed", "detection", "silence", "snapshot"]
COMMANDS: tuple[Command, ...] = ("mode", "armed", "detection", "silence", "snapshot")

# AWS IoT Core accepts keep-alive values from 30 to 1200 seconds.
AWS_KEEPALIVE = (30, 1200)


class TlsConfig(Section):
    """TLS settings; cert+key enable mutual TLS (AWS IoT Core)."""

    ca: Path | None = Field(None, description="CA certificate file; unset uses the system CA store.")
    cert: Path | None = Field(None, description="Client certificate file (mutual TLS).")
    key: Path | None = Field(None, description="Client private key file (mutual TLS).")
    insecure: bool = Field(False, description="Skip server hostname verification (testing only).")
    alpn: list[str] = Field(
        default_factory=list, max_length=4, description="ALPN protocols, e.g. [x-amzn-mqtt-ca] for AWS IoT on port 443."
    )

    @model_validator(mode="after")
    def _cert_and_key_together(self) -> TlsConfig:
        if (self.cert is None) != (self.key is None):
            raise ValueError("mqtt.tls.cert and mqtt.tls.key must be set together (mutual TLS)")
        return self


class MqttConfig(Section):
    """MQTT broker connection; MQTT is off while `host` is unset."""

    host: str | None = Field(None, min_length=1, description="Broker host name or address; unset disables MQTT.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 for TLS).")
    topic_prefix: str = Field(
        "camapp/{device_id}", min_length=1, max_length=128, description="Topic prefix; {device_id} is substituted."
    )
    client_id: str | None = Field(
        None, min_length=1, max_length=128, description="MQTT client id; default camapp-<device_id> (AWS: thing name)."
    )
    username: str | None = Field(None, description="Username for password authentication.")
    password: str | None = Field(None, description="Password for password authentication.")
    tls: TlsConfig | None = Field(None, description="TLS settings; unset means plain TCP.")
    preset: Literal["none", "aws_iot_core"] = Field(
        "none", description="aws_iot_core checks the settings AWS IoT Core needs (mutual TLS, keepalive 30-1200 s)."
    )
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keep-alive; the broker sends our will after 1.5x.")
    clean_session: bool = Field(
        True, description="Start each connection without broker session state (the outbox keeps undelivered events)."
    )
    reconnect_min_s: float = Field(1.0, gt=0, le=60, description="First delay before reconnecting to the broker.")
    reconnect_max_s: float = Field(60.0, gt=0, le=3600, description="Longest delay between reconnect attempts.")
    stats_interval_s: float = Field(30.0, ge=1, le=86400, description="Publish the stats topic this often.")
    motion_off_s: float = Field(5.0, ge=0, le=3600, description="Seconds without motion before motion turns OFF.")
    outbox_max: int = Field(
        10_000, ge=10, le=10_000_000,
        description="Outbox bound in messages; past it (or outbox_max_mb) messages are dropped: oldest `update` "
        "first, then whole finished events (`new` with its `end`), then alerts.",
    )
    outbox_max_mb: float = Field(
        16.0, ge=0.01, le=100_000,
        description="Outbox bound in MB of topic + payload (a busy scene writes about 4 MB per hour offline).",
    )
    snapshots: bool = Field(False, description="Also publish a small JPEG thumbnail per event (off: metadata only).")
    snapshot_size: int = Field(320, ge=32, le=1280, description="Longest side of a published thumbnail, pixels.")
    snapshot_max_bytes: int = Field(
        64_000, ge=1_000, le=1_000_000, description="Largest thumbnail published; bigger ones are re-encoded smaller."
    )
    allowed_commands: list[Command] = Field(
        default_factory=list, max_length=len(COMMANDS),
        description="Commands accepted on <prefix>/set/<name> (mode, armed, detection, silence, snapshot); others are "
        "logged and ignored. Empty (the default): no commands, nothing is subscribed.",
    )
    command_key: str | None = Field(
        None, min_length=16, max_length=256,
        description="Shared key (16+ characters): when set, only commands signed with it (HMAC-SHA256 over topic, "
        "value, timestamp and nonce; see docs/mqtt.md) are accepted. Use it when others can publish to the broker.",
    )
    command_max_age_s: float = Field(
        30.0, ge=1, le=3600,
        description="Signed commands whose timestamp is further than this from the appliance clock are ignored; a "
        "nonce is remembered this long so the same signed message cannot be replayed.",
    )
    command_rate_per_min: int = Field(
        10, ge=1, le=600, description="Most commands of each kind accepted per minute; more are logged and ignored."
    )
    arm_mode: Literal["home", "away"] = Field("away", description="Mode set by the `armed` ON command (HA switch).")
    fleet_public_key: str | None = Field(
        None, description="Ed25519 public key (PEM, or base64 of the 32 raw bytes) of the fleet console (`camapp "
        "fleet`): when set, desired configs and commands on <prefix>/fleet/desired and <prefix>/fleet/command signed "
        "by it are applied (see docs/fleet.md); unset: the device is in no fleet, nothing is subscribed.",
    )
    discovery: bool = Field(True, description="Publish Home Assistant MQTT discovery configs.")
    discovery_prefix: str = Field(
        "homeassistant", pattern=r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", description="Home Assistant discovery prefix."
    )

    @property
    def enabled(self) -> bool:
        """MQTT is on exactly when a broker host is configured."""
        return self.host is not None

    @model_validator(mode="before")
    @classmethod
    def _no_commands_switch(cls, data: Any) -> Any:
        if isinstance(data, dict) and "commands" in data:
            raise ValueError("mqtt.commands was replaced by mqtt.allowed_commands (default: none): list the commands "
                             "to accept, e.g. allowed_commands: [mode, snapshot]")
        return data

    @field_validator("fleet_public_key")
    @classmethod
    def _fleet_key_loads(cls, value: str | None) -> str | None:
        if value:
            from camapp.web.signing import load_public_key  # lazy: keeps config import light

            try:
                load_public_key(value)
            except ValueError as err:
                raise ValueError(str(err).replace("model_public_key", "fleet_public_key")) from None
        return value or None

    @field_validator("allowed_commands")
    @classmethod
    def _unique_commands(cls, value: list[Command]) -> list[Command]:
        return list(dict.fromkeys(value))

    @field_validator("topic_prefix")
    @classmethod
    def _valid_prefix(cls, value: str) -> str:
        if any(c in value for c in "#+\0") or value.startswith("/") or value.endswith("/") or "//" in value:
            raise ValueError("topic_prefix must not contain # + or empty levels, nor start or end with /")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> MqttConfig:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("mqtt.reconnect_max_s must be >= mqtt.reconnect_min_s")
        if self.preset == "aws_iot_core":
            _check_aws(self)
        return self


def _check_aws(cfg: MqttConfig) -> None:
    """AWS IoT Core authenticates devices by client certificate only and limits keep-alive."""
    problems = []
    if cfg.tls is None or cfg.tls.cert is None:
        problems.append("mqtt.tls.cert and mqtt.tls.key are required (AWS IoT Core uses mutual TLS)")
    if cfg.tls is not None and cfg.tls.insecure:
        problems.append("mqtt.tls.insecure must be false")
    if cfg.username is not None or cfg.password is not None:
        problems.append("mqtt.username/password are not used by AWS IoT Core device certificates; remove them")
    if not AWS_KEEPALIVE[0] <= cfg.keepalive_s <= AWS_KEEPALIVE[1]:
        problems.append(f"mqtt.keepalive_s must be within {AWS_KEEPALIVE[0]}-{AWS_KEEPALIVE[1]} for AWS IoT Core")
    if cfg.port not in (8883, 443):
        problems.append("mqtt.port must be 8883 (or 443 with tls.alpn: [x-amzn-mqtt-ca])")
    if cfg.port == 443 and cfg.tls is not None and "x-amzn-mqtt-ca" not in cfg.tls.alpn:
        problems.append("mqtt.tls.alpn must include x-amzn-mqtt-ca on port 443")
    if problems:
        raise ValueError("preset aws_iot_core: " + "; ".join(problems))
