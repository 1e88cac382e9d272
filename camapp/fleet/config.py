"""fleet.yaml: the console's broker connection, the topic prefixes it watches, its web UI, thresholds and tags."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator

from camapp.config import format_validation_error
from camapp.config.base import Section
from camapp.config.loader import read_config_data
from camapp.config.mqtt import MqttConfig
from camapp.config.web import WebConfig
from camapp.errors import ConfigError

TAG = r"^[A-Za-z0-9_.-]{1,64}$"
# The parts of the appliance's mqtt and web sections that the console reads; setting any other is an error.
MQTT_USED = frozenset({"host", "port", "client_id", "username", "password", "tls", "preset", "keepalive_s",
                       "clean_session", "reconnect_min_s", "reconnect_max_s"})
WEB_USED = frozenset({"host", "port", "https", "max_connections", "idle_timeout_s", "request_timeout_s",
                      "allowed_hosts", "public_url", "session_hours", "login_max_failures", "login_window_s",
                      "login_lockout_s", "login_global_max_failures", "max_upload_mb"})


class ProblemsConfig(Section):
    """When a device's health shows up in the problem list."""

    disk_low_pct: float = Field(10.0, ge=0, le=100, description="Disk free below this percentage: `disk low`.")
    outbox_growing: int = Field(100, ge=1, le=10_000_000,
                                description="Event messages waiting in the device's outbox above this: `outbox "
                                            "growing` (the device cannot deliver to the broker).")
    stalled_after_s: float = Field(
        120.0, ge=5, le=86400,
        description="An online device whose stats are older than this, or whose camera reports no frames: `stalled`.")


class FleetConfig(Section):
    """The whole console configuration (`camapp fleet -c fleet.yaml`)."""

    mqtt: MqttConfig = Field(description="Broker connection (host, port, TLS, credentials, keep-alive, reconnect) "
                                         "of the console's one MQTT client; the appliance-only options are refused.")
    prefixes: list[str] = Field(
        default_factory=lambda: ["camapp/+"], min_length=1, max_length=64,
        description="Topic prefixes of the appliances, `+` standing for the device level (the appliances' "
                    "mqtt.topic_prefix with {device_id} replaced by +).")
    web: WebConfig = Field(default_factory=lambda: WebConfig(port=8443),
                           description="The console's web UI: the appliance's web options for the server, HTTPS, "
                                       "sessions, logins and hosts (the stream, model and metrics ones are refused); "
                                       "public_url is how appliances reach it for model downloads.")
    data_dir: Path = Field(Path("/var/lib/camapp-fleet"),
                           description="Users, sessions, TLS certificate, the fleet signing key and the device SQLite.")
    appliance_url: str = Field(
        "https://{device_id}.local:8080/", min_length=1,
        description="Link to each appliance's own UI (live view, clips); {device_id} is substituted.")
    tags: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Tags per device id (e.g. door-1: {site: north}); groups are tag values. "
                                          "Tags set in the UI are kept in the console's database.")
    history_hours: float = Field(24.0, gt=0, le=24 * 90, description="Health history kept per device, in hours.")
    events_per_device: int = Field(100, ge=1, le=100_000, description="Recent event messages kept per device.")
    problems: ProblemsConfig = Field(default_factory=ProblemsConfig, description="When a device is listed as a "
                                     "problem (disk low, outbox growing, stalled).")

    @model_validator(mode="after")
    def _only_what_the_console_reads(self) -> FleetConfig:
        unused = [f"mqtt.{k}" for k in sorted(self.mqtt.model_fields_set - MQTT_USED)]
        unused += [f"web.{k}" for k in sorted(self.web.model_fields_set - WEB_USED)]
        if unused:
            raise ValueError(f"{', '.join(unused)}: appliance options the console does not use; remove them")
        if self.web.public_url is not None and not self.web.public_url.startswith("https://"):
            raise ValueError("web.public_url: the appliances fetch models from the console over https:// only")
        return self

    @field_validator("prefixes")
    @classmethod
    def _one_device_level(cls, value: list[str]) -> list[str]:
        for p in value:
            levels = p.split("/")
            if levels.count("+") != 1 or "#" in p or "" in levels:
                raise ValueError(f"{p!r}: a prefix needs exactly one `+` level (the device id) and no # or empty "
                                 "levels, e.g. camapp/+")
        return value

    @field_validator("mqtt")
    @classmethod
    def _broker_set(cls, value: MqttConfig) -> MqttConfig:
        if not value.enabled:
            raise ValueError("mqtt.host is required: the console is a client of the appliances' broker")
        return value

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        import re

        for device, tags in value.items():
            for k, v in tags.items():
                if not re.match(TAG, k) or not re.match(TAG, v):
                    raise ValueError(f"{device}: tag {k!r}: {v!r}: names and values are 1-64 of A-Z a-z 0-9 _ . -")
        return value


def load_fleet_config(path: str | Path) -> FleetConfig:
    """Read and validate fleet.yaml with the appliance's loader (size and YAML limits, field-and-line errors)."""
    data, lines = read_config_data(path)
    return parse_fleet_config(data, str(path), lines)


def parse_fleet_config(data: dict[str, object], source: str = "fleet.yaml",
                       lines: dict[tuple[str, ...], int] | None = None) -> FleetConfig:
    try:
        return FleetConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source=source, lines=lines or {})) from None
