"""Config for MQTT publishing (owned by the MQTT work; extend here)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from camapp.config.base import Section


class TLSConfig(Section):
    """TLS settings; cert+key enable mutual TLS (AWS IoT Core)."""

    ca: Path | None = Field(None, description="CA certificate file.")
    cert: Path | None = Field(None, description="Client certificate file (mutual TLS).")
    key: Path | None = Field(None, description="Client private key file (mutual TLS).")
    insecure: bool = Field(False, description="Skip hostname verification (testing only).")


class MQTTConfig(Section):
    """MQTT broker connection; MQTT is off while `host` is unset."""

    host: str | None = Field(None, description="Broker host name or address; unset disables MQTT.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 for TLS).")
    topic_prefix: str = Field("camapp/{device_id}", description="Topic prefix; {device_id} is substituted.")
    client_id: str | None = Field(None, description="MQTT client id; default camapp-<device_id>.")
    username: str | None = Field(None, description="Username for password authentication.")
    password: str | None = Field(None, description="Password for password authentication.")
    tls: TLSConfig | None = Field(None, description="TLS settings; unset means plain TCP.")
    snapshots: bool = Field(False, description="Also publish a small JPEG thumbnail per event (off: metadata only).")
