"""MQTT: event/state/stats publishing with a durable outbox, remote commands and Home Assistant discovery."""

from __future__ import annotations

from camapp.config.mqtt import MQTTConfig


def mqtt_enabled(cfg: MQTTConfig) -> bool:
    """MQTT is on exactly when a broker host is configured."""
    return bool(cfg.host)


__all__ = ["mqtt_enabled"]
