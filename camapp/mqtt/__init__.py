"""MQTT: event/state/stats publishing with a durable outbox, remote commands and Home Assistant discovery."""
