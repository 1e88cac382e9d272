"""MqttSink: publishes events (through the durable outbox), state, stats and HA discovery; applies commands.

Threads: the pipeline thread only enqueues (handle() never blocks on I/O); one worker thread owns the outbox and
does every publish; paho's network thread only flips flags and enqueues (PUBACKs, connects, commands).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from camapp import __version__
from camapp.commands import Commander
from camapp.config.mqtt import MQTTConfig
from camapp.errors import CommandError, ConfigError, StorageError
from camapp.mqtt import discovery, payloads, thumbs
from camapp.mqtt.authority import CommandGate, LogBudget
from camapp.mqtt.client import OFFLINE, ONLINE, build_client
from camapp.mqtt.commands import CommandHandler
from camapp.mqtt.discovery import discovery_messages
from camapp.mqtt.frames import FrameStates
from camapp.mqtt.outbox import NewMessage, Outbox
from camapp.mqtt.topics import Topics
from camapp.sinks import ResultSink
from camapp.state import ApplianceState, StateChange
from camapp.types import FrameResult

log = logging.getLogger(__name__)

OUTBOX_FILE = "mqtt-outbox.sqlite"
WINDOW = 100  # outbox messages published but not yet acknowledged, at most
CLOSE_GRACE_S = 2.0


def on_off(value: bool) -> str:
    return "ON" if value else "OFF"


@dataclass(frozen=True)
class _Job:
    """Work for the worker thread; `kind` picks the handler."""

    kind: str
    data: Any = None


class MqttSink(ResultSink):
    """Publishes the appliance to an MQTT broker; never raises into, or stalls, the pipeline."""

    def __init__(  # noqa: PLR0913 - the wiring contract passes these by keyword
        self,
        cfg: MQTTConfig,
        *,
        device_id: str,
        camera_id: str,
        model_name: str | Callable[[], str],
        state: ApplianceState,
        control: Commander,
        stats: Callable[[], Mapping[str, object]],
        data_dir: Path,
        labels: Sequence[str],
        thumbnail: Callable[[FrameResult], bytes] | None = None,
    ) -> None:
        if not cfg.host:
            raise ConfigError("mqtt.host is not set, so MQTT is off; do not build an MqttSink")
        self.cfg = cfg
        self.device_id, self.camera_id = device_id, camera_id
        # A function when the model can change at run time: every payload then names the model running now.
        self._model_name = model_name if callable(model_name) else (lambda: model_name)
        self._announced_model = self.model_name  # the model named in the discovery messages
        self.state, self._stats, self._thumbnail = state, stats, thumbnail
        self.labels = tuple(labels)
        self.topics = Topics.build(cfg.topic_prefix, device_id, cfg.discovery_prefix)
        self._outbox = Outbox(data_dir / OUTBOX_FILE, cfg.outbox_max, int(cfg.outbox_max_mb * 1024 * 1024))
        self._client = build_client(cfg, cfg.client_id or f"camapp-{device_id}", self.topics.available)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message
        self._commands = CommandHandler(control, cfg.allowed_commands, cfg.arm_mode)
        self._gate = CommandGate(cfg)  # who may command: enabled, signed when a key is set, not replayed, rate-limited
        self._refusals = LogBudget()
        self._discovery = discovery.Throttle(discovery.INTERVAL_S)
        self._queue: queue.Queue[_Job] = queue.Queue()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._closed = False
        # Read by status() from any thread; written by paho's thread or the worker.
        self._connected = False
        self._last_error: str | None = None
        self._outbox_count = len(self._outbox)
        self._frames = FrameStates(self.topics, self.labels, cfg.motion_off_s)  # pipeline-thread state
        # Worker-thread state.
        self._online = False
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._acked: list[int] = []  # delivered seqs not yet removed from the outbox
        self._sent_upto = 0
        self._retained: dict[str, str | bytes] = {}

    # ---- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying forever) and start the worker; returns at once."""
        if self._thread is not None or self._closed:
            return
        self._seed_state()
        self._unsubscribe = self.state.subscribe(self._on_state)
        self._thread = threading.Thread(target=self._run, name="mqtt-sink", daemon=True)
        self._thread.start()
        self._client.connect_async(self.cfg.host or "", self.cfg.port, self.cfg.keepalive_s)
        self._client.loop_start()
        log.info("MQTT: publishing to %s:%d under %s/", self.cfg.host, self.cfg.port, self.topics.prefix)

    def close(self) -> None:
        """Write queued events to the outbox, try briefly to deliver them, publish `offline` and disconnect."""
        if self._closed:
            return
        self._closed = True
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread is not None:
            self._queue.put(_Job("stop"))
            self._thread.join(timeout=CLOSE_GRACE_S + 5.0)
            self._client.loop_stop()
        else:  # never started: keep whatever was handled for the next start
            self._store([j.data for j in self._take(0.0) if j.kind == "event"])
            self._outbox.close()

    def flush(self, timeout: float = 5.0, *, delivered: bool = True) -> bool:
        """Wait until everything handled so far is in the outbox and, if `delivered`, acknowledged by the broker."""
        deadline = time.monotonic() + timeout
        if self._thread is None or not self._thread.is_alive():
            return False
        done = threading.Event()
        self._queue.put(_Job("flush", done))
        if not done.wait(timeout):
            return False
        if not delivered:
            return True
        with self._changed:
            return self._changed.wait_for(lambda: self._outbox_count == 0, max(0.0, deadline - time.monotonic()))

    def status(self) -> dict[str, object]:
        """Connection state for the web UI's System page."""
        return {"connected": self._connected, "outbox": self._outbox_count, "outbox_bytes": self._outbox.bytes,
                "outbox_dropped": sum(self._outbox.dropped.values()), "last_error": self._last_error,
                "broker": f"{self.cfg.host}:{self.cfg.port}", "prefix": self.topics.prefix}

    @property
    def model_name(self) -> str:
        return self._model_name()

    # ---- pipeline side (must return fast) ---------------------------------------------------------------------

    def handle(self, result: FrameResult) -> None:
        if self._closed:
            return
        try:
            self._check_model()
            self._handle_events(result)
            for topic, payload in self._frames.update(result):
                self._put_state(topic, payload)
        except Exception:
            log.exception("MQTT: could not queue frame %d", result.frame.index)

    def publish_alert(self, payload: Mapping[str, Any]) -> None:
        """An alarm rule with the MQTT flag fired: publish on <prefix>/alert through the outbox (never dropped)."""
        if self._closed:
            log.warning("MQTT: alert after close not sent: %s", payload)
            return
        try:
            body = payloads.alert_payload(payload, device_id=self.device_id, camera_id=self.camera_id)
            text = payloads.dumps(body)
        except (TypeError, ValueError) as err:
            log.warning("MQTT: alert payload is not valid JSON (%s); not sent", err)
            return
        self._queue.put(_Job("event", NewMessage(body["message_id"], "alert", self.topics.alert, text)))

    def _check_model(self) -> None:
        """After a live model switch, announce the new model to Home Assistant again."""
        name = self.model_name
        if name != self._announced_model:
            self._announced_model = name
            self._queue.put(_Job("discovery"))

    def _handle_events(self, result: FrameResult) -> None:
        size = (result.frame.width, result.frame.height)
        model = self.model_name
        for msg in result.events:
            body = payloads.event_payload(msg, device_id=self.device_id, camera_id=self.camera_id,
                                          model_name=model, frame_size=size)
            self._queue.put(_Job("event", NewMessage(body["message_id"], msg.type, self.topics.events,
                                                     payloads.dumps(body), msg.id)))
            if self.cfg.snapshots and msg.type in ("new", "update"):
                image = result if self._thumbnail else thumbs.crop(result.frame.image, msg.box)
                self._queue.put(_Job("thumb", (msg.label, image)))

    def _put_state(self, topic: str, payload: str | bytes) -> None:
        self._queue.put(_Job("state", (topic, payload)))

    def _seed_state(self) -> None:
        s = self.state.as_dict()
        self._put_state(self.topics.mode, s["mode"])
        self._put_state(self.topics.armed, on_off(s["armed"]))
        self._put_state(self.topics.detection, on_off(s["detection"]))
        self._put_state(self.topics.alarm, on_off(s["alarm"]))
        for topic, payload in self._frames.initial():
            self._put_state(topic, payload)

    def _on_state(self, change: StateChange) -> None:
        if change.kind == "alert":
            self.publish_alert(change.value)
        elif change.kind == "mode":
            self._put_state(self.topics.mode, str(change.value))
            self._put_state(self.topics.armed, on_off(change.value != "disarmed"))
        elif change.kind in ("detection", "alarm"):
            topic = self.topics.detection if change.kind == "detection" else self.topics.alarm
            self._put_state(topic, on_off(bool(change.value)))

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
        if self.cfg.discovery:
            client.subscribe(self.topics.ha_status, qos=1)
        self._queue.put(_Job("connected"))

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
        self._queue.put(_Job("disconnected"))

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self._queue.put(_Job("ack", mid))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._dispatch(message)
        except Exception:
            log.exception("MQTT: failed to handle a message on %s", message.topic)

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if topic == self.topics.ha_status:
            if message.payload.strip().lower() == b"online":
                self._queue.put(_Job("discovery", "home assistant"))  # throttled: anyone can publish this
            return
        name = self.topics.command_name(topic)
        try:
            if name is None:
                raise CommandError("not a command topic")
            value = self._gate.admit(topic, name, bytes(message.payload), retained=bool(message.retain))
            snap_id = self._commands.apply(name, value)
        except CommandError as err:
            skipped = self._refusals.take()
            if skipped is not None:
                more = f" ({skipped} more refused commands not logged)" if skipped else ""
                log.warning("MQTT: ignored command on %s: %s%s", topic[:200], err, more)
            return
        log.info("MQTT: command set/%s %r%s: done%s", name, value.decode(errors="replace")[:40],
                 " (signed)" if self._gate.signed else "", f", snapshot {snap_id}" if snap_id else "")
        if name == "snapshot" and snap_id is not None:
            reply = {"id": snap_id, "device_id": self.device_id, "camera": self.camera_id, "time": time.time()}
            self._queue.put(_Job("reply", (self.topics.snapshot, payloads.dumps(reply))))

    # ---- worker thread -----------------------------------------------------------------------------------------

    def _run(self) -> None:
        try:  # events a crash cut short: their `end` goes out first (reason `restart`)
            self._outbox.end_open("restart")
        except (sqlite3.Error, StorageError) as err:
            log.error("MQTT: cannot end the events the last run left open: %s", err)
        next_stats = time.monotonic() + self.cfg.stats_interval_s
        stopping = False
        while not stopping:
            try:
                stopping = self._step(max(0.0, min(1.0, next_stats - time.monotonic())))
            except Exception:  # e.g. the outbox's disk failing: keep the worker alive, retry next round
                log.exception("MQTT: worker step failed")
                threading.Event().wait(1.0)
            if time.monotonic() >= next_stats:
                self._publish_stats()
                next_stats = time.monotonic() + self.cfg.stats_interval_s
        self._finish()

    def _step(self, timeout: float) -> bool:
        """Handle one batch of jobs; True when asked to stop."""
        jobs = self._take(timeout)
        events = [j.data for j in jobs if j.kind == "event"]
        acks = [j.data for j in jobs if j.kind == "ack"]
        self._store(events)
        self._acknowledge(acks)
        self._count_changed()  # before any flush job in this batch is answered
        stop = False
        for job in jobs:
            if job.kind in ("event", "ack"):
                continue
            stop = stop or job.kind == "stop"
            try:
                self._do(job)
            except Exception:
                log.exception("MQTT: %s job failed", job.kind)
        if self._online and self.cfg.discovery and self._discovery.due():
            self._publish_discovery()
        self._pump()
        self._count_changed()
        return stop

    def _count_changed(self) -> None:
        with self._changed:
            self._outbox_count = len(self._outbox)
            self._changed.notify_all()

    def _take(self, timeout: float) -> list[_Job]:
        try:
            jobs = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                return jobs

    def _store(self, events: list[NewMessage]) -> None:
        try:
            self._outbox.add(events)
        except Exception as err:
            # Disk trouble must not lose live events: fall back to a direct, non-durable publish.
            log.error("MQTT: outbox write failed (%s); publishing %d messages without durability", err, len(events))
            for m in events:
                self._publish(m.topic, m.payload, qos=1)

    def _acknowledge(self, mids: list[int]) -> None:
        self._acked += [self._inflight.pop(mid) for mid in mids if mid in self._inflight]
        if not self._acked:
            return
        try:
            self._outbox.remove(self._acked)
        except (sqlite3.Error, StorageError) as err:
            # A full disk may refuse even a delete: keep the seqs and try again next step, publishing goes on.
            log.warning("MQTT: cannot remove %d delivered message(s) from the outbox yet: %s", len(self._acked), err)
            return
        self._acked = []

    def _do(self, job: _Job) -> None:
        if job.kind == "state":
            topic, payload = job.data
            self._retained[topic] = payload
            if self._online:
                self._publish(topic, payload, qos=1, retain=True)
        elif job.kind == "thumb":
            self._publish_thumbnail(*job.data)
        elif job.kind == "reply":
            self._publish(*job.data, qos=1)
        elif job.kind == "connected":
            self._went_online()
        elif job.kind == "disconnected":
            self._online, self._sent_upto = False, 0
            self._inflight.clear()
        elif job.kind == "discovery" and job.data == "home assistant":
            self._discovery.request()  # published by _step once the throttle allows
        elif job.kind == "discovery":
            self._publish_discovery()
        elif job.kind == "flush":
            job.data.set()

    def _went_online(self) -> None:
        # Resend every undelivered message from the start: QoS 1 allows duplicates, never loss.
        self._online, self._sent_upto = True, 0
        self._inflight.clear()
        self._publish(self.topics.available, ONLINE, qos=1, retain=True)
        for topic, payload in self._retained.items():
            self._publish(topic, payload, qos=1, retain=True)
        self._publish_discovery()

    def _pump(self) -> None:
        """Publish undelivered outbox messages in order, keeping at most WINDOW unacknowledged."""
        if not self._online or len(self._inflight) >= WINDOW:
            return
        for m in self._outbox.pending(self._sent_upto, WINDOW - len(self._inflight)):
            mid = self._publish(m.topic, m.payload, qos=1)
            if mid is None:
                return
            self._inflight[mid] = m.seq
            self._sent_upto = m.seq

    def _publish(self, topic: str, payload: str | bytes, *, qos: int = 0, retain: bool = False) -> int | None:
        """Publish; the message id on success, None (logged) on failure."""
        try:
            info = self._client.publish(topic, payload, qos=qos, retain=retain)
        except (ValueError, OSError) as err:
            log.warning("MQTT: cannot publish to %s: %s", topic, err)
            return None
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.debug("MQTT: publish to %s not sent now (%s)", topic, mqtt.error_string(info.rc))
            return None
        return int(info.mid)

    def _publish_discovery(self) -> None:
        if not (self.cfg.discovery and self._online):
            return
        self._discovery.served()
        labels = tuple(dict.fromkeys((*self.labels, *tuple(self._frames.counts))))
        # Home Assistant cannot sign, so with a command key its controls would only be ignored: show sensors.
        plain = () if self._gate.signed else self._gate.enabled
        for topic, body in discovery_messages(self.topics, device_id=self.device_id, labels=labels,
                                              model_name=self._announced_model, sw_version=__version__,
                                              commands=plain):
            self._publish(topic, "" if body is None else payloads.dumps(body), qos=1, retain=True)

    def _publish_stats(self) -> None:
        if not self._online:
            return
        try:
            raw = self._stats()
            body = payloads.stats_payload(raw, device_id=self.device_id, outbox=len(self._outbox), connected=True)
            body.update(mqtt_outbox_bytes=self._outbox.bytes, mqtt_outbox_dropped=sum(self._outbox.dropped.values()))
            self._publish(self.topics.stats, payloads.dumps(body), qos=0, retain=True)
        except Exception:
            log.exception("MQTT: stats() failed")

    def _publish_thumbnail(self, label: str, image: Any) -> None:
        if not self._online:
            return  # thumbnails are best-effort: never stored, never replayed
        if isinstance(image, FrameResult) and self._thumbnail is not None:
            jpeg: bytes | None = self._thumbnail(image)
        else:
            jpeg = thumbs.encode(image, self.cfg.snapshot_size, self.cfg.snapshot_max_bytes)
        if jpeg is None or len(jpeg) > self.cfg.snapshot_max_bytes:
            log.warning("MQTT: thumbnail for %s is larger than mqtt.snapshot_max_bytes; not sent", label)
            return
        self._publish(self.topics.thumbnail(label), jpeg, qos=0, retain=True)

    def _finish(self) -> None:
        """On close: end events the pipeline left open, a short grace to deliver what is pending, then a clean
        `offline` and disconnect."""
        try:
            self._outbox.end_open("shutdown")
        except (sqlite3.Error, StorageError) as err:
            log.error("MQTT: cannot end the events still open: %s", err)
        deadline = time.monotonic() + CLOSE_GRACE_S
        while self._online and len(self._outbox) and time.monotonic() < deadline:
            self._step(0.05)
        if self._online:
            info = self._client.publish(self.topics.available, OFFLINE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=1.0)
        self._client.disconnect()
        self._count_changed()
        self._outbox.close()
        log.info("MQTT: closed (%d messages left in the outbox for next start)", self._outbox_count)
