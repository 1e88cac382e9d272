"""The console's one MQTT client: subscribes to every appliance's topics under the configured prefixes, turns each
message into a typed update for the registry, and publishes the console's signed documents."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.client import ConnectFlags
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from camapp.config.mqtt import MqttConfig
from camapp.fleet.updates import Availability, Event, Reported, State, Stats, Update
from camapp.mqtt.client import ONLINE, build_client
from camapp.types import JsonValue

log = logging.getLogger(__name__)
# Appliance-wide topics, and the per-camera ones (<prefix>/<camera>/events) of appliances with several cameras.
SUFFIXES = ("available", "stats", "mode", "detection", "events", "fleet/reported", "+/stats", "+/events")
MAX_PAYLOAD = 256 * 1024


def match(pattern: str, topic: str) -> tuple[str, str, str] | None:
    """(device id, device prefix, rest) of a topic under a prefix pattern with one `+` level, else None."""
    want, got = pattern.split("/"), topic.split("/")
    if len(got) <= len(want):
        return None
    device = ""
    for w, g in zip(want, got, strict=False):
        if w == "+":
            device = g
        elif w != g:
            return None
    return device, "/".join(got[:len(want)]), "/".join(got[len(want):])


def to_update(device: str, prefix: str, rest: str, payload: bytes, now: float) -> Update | None:
    """The update a message means; None for topics the console does not keep (and bad JSON, logged)."""
    name = rest.rsplit("/", 1)[-1]
    if rest == "available":
        return Availability(device, prefix, payload.strip().lower() == ONLINE.encode(), now)
    if rest in ("mode", "detection"):
        return State(device, prefix, rest, payload.decode("utf-8", "replace").strip())
    if name in ("stats", "events") or rest == "fleet/reported":
        try:
            body: JsonValue = json.loads(payload)
        except ValueError:
            log.warning("fleet: %s/%s: not JSON; ignored", prefix, rest)
            return None
        if not isinstance(body, dict):
            return None
        if name == "stats":
            return Stats(device, prefix, body, now)
        if name == "events":
            return Event(device, prefix, body, now)
        return Reported(device, prefix, body, now)
    return None


class FleetClient:
    """connect() once; updates go to `sink` from paho's thread; publish() from any thread."""

    def __init__(self, cfg: MqttConfig, prefixes: list[str], sink: Callable[[Update], None]) -> None:
        self._cfg, self._prefixes, self._sink = cfg, prefixes, sink
        client_id = cfg.client_id or "camapp-fleet"
        self.status_topic = f"{client_id}/available"
        self._client = build_client(cfg, client_id, self.status_topic)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.max_inflight_messages_set(1000)  # a group change is one retained message per member
        self.connected = threading.Event()
        self.messages = 0  # counted on paho's thread, read for the bench and /api/status

    def connect(self) -> None:
        self._client.connect_async(self._cfg.host or "", self._cfg.port, self._cfg.keepalive_s)
        self._client.loop_start()

    def publish(self, topic: str, payload: str, retain: bool) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("fleet: publish to %s queued while the broker is unreachable (%s)", topic,
                        mqtt.error_string(info.rc))

    def close(self) -> None:
        self._client.publish(self.status_topic, "offline", qos=1, retain=True)
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, userdata: object, flags: ConnectFlags, reason: ReasonCode,
                    props: Properties | None) -> None:
        if reason.is_failure:
            log.warning("fleet: the broker refused the connection: %s", reason)
            return
        client.subscribe([(f"{p}/{s}", 1) for p in self._prefixes for s in SUFFIXES])
        client.publish(self.status_topic, ONLINE, qos=1, retain=True)
        log.info("fleet: connected to %s:%d, watching %s", self._cfg.host, self._cfg.port, ", ".join(self._prefixes))
        self.connected.set()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        self.messages += 1
        if len(message.payload) > MAX_PAYLOAD:
            return
        try:
            for pattern in self._prefixes:
                found = match(pattern, message.topic)
                if found is not None:
                    update = to_update(*found, bytes(message.payload), time.time())
                    if update is not None:
                        self._sink(update)
                    return
        except Exception:
            log.exception("fleet: failed to handle a message on %s", message.topic[:200])
