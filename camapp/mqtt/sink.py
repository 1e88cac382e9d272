"""MqttSink: the appliance's one MQTT connection. Publishes events (through the durable outbox), state, stats and
HA discovery; applies commands. Every camera feeds it through its own CameraFeed (camapp/mqtt/feed.py): a lone
`camera:` on the appliance's topics, each camera of `cameras:` on `<prefix>/<camera>/...`.

Threads: the pipeline threads only enqueue typed jobs (handle() never blocks on I/O); one worker thread
(camapp/mqtt/worker.py) owns the outbox and does every publish; paho's network thread only flips flags and
enqueues (PUBACKs, connects, commands). What a command message does is camapp/mqtt/inbox.py's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from camapp.bus import AlarmChanged, Alert, AlertRaised, Bus, CameraDetectionToggled, DetectionToggled, ModeChanged
from camapp.commands import Commander
from camapp.config.mqtt import MqttConfig
from camapp.errors import ConfigError
from camapp.mqtt import payloads
from camapp.mqtt.client import build_client
from camapp.mqtt.feed import CameraChannel, CameraFeed
from camapp.mqtt.inbox import Inbox
from camapp.mqtt.jobs import Ack, Connected, Disconnected, Discovery, Flush, Job, Retain, Stop, Store
from camapp.mqtt.outbox import NewMessage, Outbox
from camapp.mqtt.topics import Topics
from camapp.mqtt.worker import CLOSE_GRACE_S, Worker
from camapp.sinks import ResultSink
from camapp.state import ApplianceState, Mode
from camapp.types import CameraName, FrameResult

log = logging.getLogger(__name__)

OUTBOX_FILE = "mqtt-outbox.sqlite"
ANNOUNCED_FILE = "mqtt-discovery.json"  # the Home Assistant configs published last (camapp.mqtt.worker.Announced)


class FleetLink(Protocol):
    """The fleet agent (camapp/fleet/agent.py) riding on this connection: its topics' messages go to it."""

    @property
    def subscriptions(self) -> tuple[str, ...]: ...

    def start(self, publish: Callable[[str, str], None]) -> None: ...

    def handle(self, topic: str, payload: bytes, retained: bool) -> None: ...

    def close(self) -> None: ...


def on_off(value: bool) -> str:
    return "ON" if value else "OFF"


class MqttSink(ResultSink):
    """Publishes the appliance to an MQTT broker; never raises into, or stalls, the pipeline."""

    def __init__(  # noqa: PLR0913 - the wiring contract passes these by keyword
        self,
        cfg: MqttConfig,
        *,
        device_id: str,
        camera_id: CameraName,
        model_name: str | Callable[[], str],
        state: ApplianceState,
        bus: Bus,
        control: Commander,
        stats: Callable[[], Mapping[str, object]],
        data_dir: Path,
        labels: Sequence[str],
        fleet: FleetLink | None = None,
        media: payloads.EventMedia | None = None,
        several: bool = False,
    ) -> None:
        """`camera_id`, `labels` and `stats` are the lone camera's; with `several` (a `cameras:` config) each camera
        joins through feed() instead, and `stats` are the appliance's (system health, no pipeline)."""
        if not cfg.enabled:
            raise ConfigError("mqtt.host is not set, so MQTT is off; do not build an MqttSink")
        self.cfg = cfg
        self.device_id, self.camera_id = device_id, camera_id
        # A function when the model can change at run time: every payload then names the model running now.
        self._model_name = model_name if callable(model_name) else (lambda: model_name)
        self._announced_model = self.model_name  # the model named in the discovery messages
        self.state, self._bus = state, bus
        self.labels = tuple(labels)
        self._media = media or payloads.EventMedia()  # has_snapshot / has_clip / links in event messages
        self.topics = Topics.build(cfg.topic_prefix, device_id, cfg.discovery_prefix)
        self._stats = stats
        self._feeds: dict[CameraName, CameraFeed] = {}
        self._lone: CameraFeed | None = None
        if not several:
            self._lone = self._feeds[camera_id] = CameraFeed(self, camera_id, self.topics, labels, cfg.motion_off_s,
                                                             lambda: self._stats())
        outbox = Outbox(data_dir / OUTBOX_FILE, cfg.outbox_max, int(cfg.outbox_max_mb * 1024 * 1024))
        self._client = build_client(cfg, cfg.client_id or f"camapp-{device_id}", self.topics.available)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._fleet = fleet
        lone = camera_id if self._lone is not None else None
        self._inbox = Inbox(cfg, control, self.topics, device_id=device_id, lone=lone, cameras=lambda: self._feeds,
                            put=self.put)
        self._gate = self._inbox.gate  # who may command: enabled, signed when a key is set, not replayed, rate-limited
        # Home Assistant cannot sign, so with a command key its controls would only be ignored: show sensors.
        self._worker = Worker(cfg, client=self._client, outbox=outbox, topics=self.topics, device_id=device_id,
                              model_name=self._announced_model, stats=lambda: self._stats(),
                              labels=self._discovery_labels, controls=() if self._gate.signed else self._gate.enabled,
                              cameras=None if self._lone is not None else self._channels,
                              announced=data_dir / ANNOUNCED_FILE)
        self._thread: threading.Thread | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        self._closed = False
        # Read by status() from any thread; written by paho's thread or the worker.
        self._connected = False
        self._last_error: str | None = None

    # ---- cameras -----------------------------------------------------------------------------------------------

    def feed(self, camera: CameraName, labels: Sequence[str], stats: Callable[[], Mapping[str, object]]) -> CameraFeed:
        """The ResultSink through which `camera` publishes; call before start(). A lone camera's feed is the one
        built with the sink, now reading `stats`."""
        if self._lone is not None:
            self._lone.stats = stats
            self._stats = stats
            return self._lone
        if camera in self._feeds:
            raise ConfigError(f"MQTT: camera {camera} joined twice")
        feed = self._feeds[camera] = CameraFeed(self, camera, self.topics.camera(camera), labels,
                                                self.cfg.motion_off_s, stats)
        return feed

    def _channels(self) -> list[CameraChannel]:
        return [f.channel() for f in self._feeds.values()]

    # ---- what a feed uses (camapp.mqtt.feed.Link) ---------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def media(self) -> payloads.EventMedia:
        return self._media

    @property
    def snapshots(self) -> bool:
        return self.cfg.snapshots

    def put(self, job: Job) -> None:
        self._worker.put(job)

    # ---- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying forever) and start the worker; returns at once."""
        if self._thread is not None or self._closed:
            return
        self._seed_state()
        bus = self._bus
        self._unsubscribe = [
            bus.subscribe(AlertRaised, lambda e: self.publish_alert(e.alert)),
            bus.subscribe(ModeChanged, lambda e: self._put_mode(e.mode)),
            bus.subscribe(DetectionToggled, lambda e: self._put_state(self.topics.detection, on_off(e.enabled))),
            bus.subscribe(CameraDetectionToggled, self._camera_detection),
            bus.subscribe(AlarmChanged, lambda e: self._put_state(self.topics.alarm, on_off(e.active))),
        ]
        if self._fleet is not None:
            self._fleet.start(self._put_state)  # reported state is retained and republished on every reconnect
        self._thread = threading.Thread(target=self._worker.run, name="mqtt-sink", daemon=True)
        self._thread.start()
        self._client.connect_async(self.cfg.host or "", self.cfg.port, self.cfg.keepalive_s)
        self._client.loop_start()
        log.info("MQTT: publishing to %s:%d under %s/", self.cfg.host, self.cfg.port, self.topics.prefix)

    def close(self) -> None:
        """Write queued events to the outbox, try briefly to deliver them, publish `offline` and disconnect."""
        if self._closed:
            return
        self._closed = True
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._fleet is not None:
            self._fleet.close()
        if self._thread is not None:
            self._worker.put(Stop())
            self._thread.join(timeout=CLOSE_GRACE_S + 5.0)
            self._client.loop_stop()
        else:  # never started: keep whatever was handled for the next start
            self._worker.store([j.message for j in self._worker.take(0.0) if isinstance(j, Store)])
            self._worker.outbox.close()

    def flush(self, timeout: float = 5.0, *, delivered: bool = True) -> bool:
        """Wait until everything handled so far is in the outbox and, if `delivered`, acknowledged by the broker."""
        deadline = time.monotonic() + timeout
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._worker.put(Flush(done))
        if not done.wait(timeout):
            return False
        if not delivered:
            return True
        worker = self._worker
        with worker.changed:
            return worker.changed.wait_for(lambda: worker.outbox_count == 0, max(0.0, deadline - time.monotonic()))

    def status(self) -> dict[str, object]:
        """Connection state for the web UI's System page."""
        outbox = self._worker.outbox
        return {"connected": self._connected, "outbox": self._worker.outbox_count, "outbox_bytes": outbox.bytes,
                "outbox_dropped": sum(outbox.dropped.values()), "last_error": self._last_error,
                "broker": f"{self.cfg.host}:{self.cfg.port}", "prefix": self.topics.prefix}

    @property
    def model_name(self) -> str:
        return self._model_name()

    def _discovery_labels(self) -> tuple[str, ...]:
        """The lone camera's labels for its count sensors (with several cameras, each camera's are its own)."""
        return self._lone.discovery_labels() if self._lone is not None else ()

    # ---- pipeline side (must return fast) ---------------------------------------------------------------------

    def handle(self, result: FrameResult) -> None:
        """The lone camera's frame; with several cameras, each camera's feed takes its own."""
        if self._lone is not None:
            self._lone.handle(result)

    def publish_alert(self, alert: Alert) -> None:
        """An alarm rule with the MQTT flag fired: publish on <prefix>/alert through the outbox (never dropped)."""
        if self._closed:
            log.warning("MQTT: alert after close not sent: %s", alert)
            return
        # An alert names its camera; a lone camera's is the appliance's, so GPIO-input alerts name it as always.
        camera = alert.camera or (self.camera_id if self._lone is not None else None)
        try:
            body = payloads.alert_payload(alert.as_json(), device_id=self.device_id, camera_id=camera)
            text = payloads.dumps(body)
        except (TypeError, ValueError) as err:
            log.warning("MQTT: alert payload is not valid JSON (%s); not sent", err)
            return
        self._worker.put(Store(NewMessage(str(body["message_id"]), "alert", self.topics.alert, text)))

    def check_model(self) -> None:
        """After a live model switch, announce the new model to Home Assistant again."""
        name = self.model_name
        if name != self._announced_model:
            self._announced_model = name
            self._worker.put(Discovery(model=name))

    def _put_state(self, topic: str, payload: str | bytes) -> None:
        self._worker.put(Retain(topic, payload))

    def _seed_state(self) -> None:
        s = self.state.view()
        self._put_mode(s.mode)
        self._put_state(self.topics.detection, on_off(s.detection))
        self._put_state(self.topics.alarm, on_off(s.alarm))
        for feed in self._feeds.values():
            for topic, payload in feed.initial():
                self._put_state(topic, payload)
            if self._lone is None:
                self._put_state(feed.topics.detection, on_off(self.state.camera_detection(feed.name)))

    def _camera_detection(self, event: CameraDetectionToggled) -> None:
        feed = self._feeds.get(CameraName(event.camera))
        if feed is not None and self._lone is None:
            self._put_state(feed.topics.detection, on_off(event.enabled))

    def _put_mode(self, mode: Mode) -> None:
        self._put_state(self.topics.mode, mode)
        self._put_state(self.topics.armed, on_off(mode != "disarmed"))

    # ---- paho network thread (only flags and queue puts; exceptions must not escape) --------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._last_error = f"broker refused the connection: {reason}"
            log.warning("MQTT: %s", self._last_error)
            return
        self._connected, self._last_error = True, None
        log.info("MQTT: connected to %s:%d", self.cfg.host, self.cfg.port)
        if self._gate.enabled:
            client.subscribe(self.topics.commands, qos=1)
            if self._lone is None:
                client.subscribe(self.topics.camera_commands, qos=1)
        if self.cfg.discovery:
            client.subscribe(self.topics.ha_status, qos=1)
        if self._fleet is not None:
            client.subscribe([(t, 1) for t in self._fleet.subscriptions])
        self._worker.put(Connected())

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self._last_error = f"cannot connect to {self.cfg.host}:{self.cfg.port}"
        log.debug("MQTT: %s; retrying", self._last_error)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self._connected
        self._connected = False
        if reason.is_failure:
            self._last_error = f"disconnected: {reason}"
            if was:
                log.warning("MQTT: %s; reconnecting", self._last_error)
        self._worker.put(Disconnected())

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._worker.put(Ack(mid))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._dispatch(message)
        except Exception:
            log.exception("MQTT: failed to handle a message on %s", message.topic)

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if topic == self.topics.ha_status:
            if message.payload.strip().lower() == b"online":
                self._worker.put(Discovery(throttled=True))  # anyone can publish this
            return
        if self._fleet is not None and topic in self._fleet.subscriptions:
            self._fleet.handle(topic, bytes(message.payload), bool(message.retain))
            return
        self._inbox.receive(topic, bytes(message.payload), retained=bool(message.retain))
