"""The MQTT worker thread: owns the outbox and does every publish, one typed job at a time (camapp/mqtt/jobs.py).

Events and alerts go through the durable outbox (at least once, in order, at most WINDOW unacknowledged);
retained state is kept and republished on every reconnect; thumbnails and replies are best effort.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from camapp import __version__
from camapp.atomic import write_atomic
from camapp.config.mqtt import MqttConfig
from camapp.errors import StorageError
from camapp.mqtt import discovery, payloads, thumbs
from camapp.mqtt.client import OFFLINE, ONLINE
from camapp.mqtt.discovery import CameraEntities, discovery_messages
from camapp.mqtt.feed import CameraChannel
from camapp.mqtt.jobs import Ack, Connected, Disconnected, Discovery, Flush, Job, Reply, Retain, Stop, Store, Thumbnail
from camapp.mqtt.outbox import NewMessage, Outbox
from camapp.mqtt.topics import Topics

log = logging.getLogger(__name__)

WINDOW = 100  # outbox messages published but not yet acknowledged, at most
CLOSE_GRACE_S = 2.0


class Announced:
    """The discovery config topics published last, kept in a small JSON file across restarts."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._topics: set[str] | None = None  # read on first use

    def _load(self) -> set[str]:
        if self.path is None or not self.path.exists():
            return set()
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            log.warning("MQTT: %s unreadable (%s); entities removed from the config may stay in Home Assistant",
                        self.path, err)
            return set()
        return {t for t in data if isinstance(t, str)} if isinstance(data, list) else set()

    def gone(self, kept: set[str], published: set[str]) -> list[str]:
        """Topics announced last time and not part of this round (`published`, removals included); remembers
        `kept` as what is announced now."""
        before = self._load() if self._topics is None else self._topics
        if kept != before and self.path is not None:
            try:
                write_atomic(self.path, json.dumps(sorted(kept)))
            except OSError as err:
                log.warning("MQTT: cannot remember the discovery configs in %s: %s", self.path, err)
        self._topics = kept
        return sorted(before - published)


class Worker:
    """The one thread that publishes; other threads only put() jobs."""

    def __init__(  # noqa: PLR0913 - the sink hands over its parts by keyword
        self, cfg: MqttConfig, *, client: mqtt.Client, outbox: Outbox, topics: Topics, device_id: str,
        model_name: str, labels: Callable[[], Sequence[str]], stats: Callable[[], Mapping[str, object]],
        controls: Collection[str], cameras: Callable[[], Sequence[CameraChannel]] | None = None,
        announced: Path | None = None,
    ) -> None:
        """`cameras`: with several cameras, each one's topics, labels and stats (its own discovery device and
        stats message); None for a lone camera, whose readings are the appliance's. `announced`: the file that
        remembers the discovery configs of the last round, so entities no longer there (a camera removed from the
        config) are removed from Home Assistant too."""
        self.cfg, self._client, self.outbox, self.topics = cfg, client, outbox, topics
        self.device_id, self._model, self._labels, self._stats = device_id, model_name, labels, stats
        self._controls = controls  # the commands Home Assistant gets controls for
        self._cameras = cameras
        self._announced = Announced(announced)
        self._throttle = discovery.Throttle(discovery.INTERVAL_S)
        self._queue: queue.Queue[Job] = queue.Queue()
        self.changed = threading.Condition()  # notified when outbox_count changes
        self.outbox_count = len(outbox)  # read from any thread
        self._online = False
        self._inflight: dict[int, int] = {}  # paho mid -> outbox seq
        self._acked: list[int] = []  # delivered seqs not yet removed from the outbox
        self._sent_upto = 0
        self._retained: dict[str, str | bytes] = {}
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            Retain: self._retain, Thumbnail: self._thumbnail, Reply: self._reply, Connected: self._connected,
            Disconnected: self._disconnected, Discovery: self._discovery, Flush: lambda job: job.done.set(),
            Stop: lambda job: None,
        }

    def put(self, job: Job) -> None:
        self._queue.put(job)

    def run(self) -> None:
        """The thread's body: until a Stop job, then finish."""
        try:  # events a crash cut short: their `end` goes out first (reason `restart`)
            self.outbox.end_open("restart")
        except (sqlite3.Error, StorageError) as err:
            log.error("MQTT: cannot end the events the last run left open: %s", err)
        next_stats = time.monotonic() + self.cfg.stats_interval_s
        stopping = False
        while not stopping:
            try:
                stopping = self.step(max(0.0, min(1.0, next_stats - time.monotonic())))
            except Exception:  # e.g. the outbox's disk failing: keep the worker alive, retry next round
                log.exception("MQTT: worker step failed")
                threading.Event().wait(1.0)
            if time.monotonic() >= next_stats:
                self._publish_stats()
                next_stats = time.monotonic() + self.cfg.stats_interval_s
        self._finish()

    def step(self, timeout: float) -> bool:
        """Handle one batch of jobs; True when asked to stop."""
        jobs = self.take(timeout)
        self.store([j.message for j in jobs if isinstance(j, Store)])
        self._acknowledge([j.mid for j in jobs if isinstance(j, Ack)])
        self._count_changed()  # before any flush job in this batch is answered
        self._pump()  # events first: a `new` never waits behind a thumbnail's JPEG encode or state republishing
        for job in jobs:
            handler = self._handlers.get(type(job))
            if handler is None:
                continue  # Store and Ack: done as a batch above
            try:
                handler(job)
            except Exception:
                log.exception("MQTT: %s job failed", type(job).__name__)
        if self._online and self.cfg.discovery and self._throttle.due():
            self._publish_discovery()
        self._pump()
        self._count_changed()
        return any(isinstance(j, Stop) for j in jobs)

    def take(self, timeout: float) -> list[Job]:
        """Every queued job, waiting up to `timeout` for the first."""
        try:
            jobs = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                jobs.append(self._queue.get_nowait())
            except queue.Empty:
                return jobs

    def store(self, events: list[NewMessage]) -> None:
        try:
            self.outbox.add(events)
        except Exception as err:
            # Disk trouble must not lose live events: fall back to a direct, non-durable publish.
            log.error("MQTT: outbox write failed (%s); publishing %d messages without durability", err, len(events))
            for m in events:
                self._publish(m.topic, m.payload, qos=1)

    def _count_changed(self) -> None:
        with self.changed:
            self.outbox_count = len(self.outbox)
            self.changed.notify_all()

    def _acknowledge(self, mids: list[int]) -> None:
        self._acked += [self._inflight.pop(mid) for mid in mids if mid in self._inflight]
        if not self._acked:
            return
        try:
            self.outbox.remove(self._acked)
        except (sqlite3.Error, StorageError) as err:
            # A full disk may refuse even a delete: keep the seqs and try again next step, publishing goes on.
            log.warning("MQTT: cannot remove %d delivered message(s) from the outbox yet: %s", len(self._acked), err)
            return
        self._acked = []

    def _retain(self, job: Retain) -> None:
        self._retained[job.topic] = job.payload
        if self._online:
            self._publish(job.topic, job.payload, qos=1, retain=True)

    def _reply(self, job: Reply) -> None:
        self._publish(job.topic, job.payload, qos=1)

    def _connected(self, job: Connected) -> None:
        # Resend every undelivered message from the start: QoS 1 allows duplicates, never loss.
        self._online, self._sent_upto = True, 0
        self._inflight.clear()
        self._publish(self.topics.available, ONLINE, qos=1, retain=True)
        for topic, payload in self._retained.items():
            self._publish(topic, payload, qos=1, retain=True)
        self._publish_discovery()

    def _disconnected(self, job: Disconnected) -> None:
        self._online, self._sent_upto = False, 0
        self._inflight.clear()

    def _pump(self) -> None:
        """Publish undelivered outbox messages in order, keeping at most WINDOW unacknowledged."""
        if not self._online or len(self._inflight) >= WINDOW:
            return
        for m in self.outbox.pending(self._sent_upto, WINDOW - len(self._inflight)):
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

    def _discovery(self, job: Discovery) -> None:
        if job.model is not None:
            self._model = job.model
        if job.throttled:
            self._throttle.request()  # published by step() once the throttle allows
        else:
            self._publish_discovery()

    def _publish_discovery(self) -> None:
        if not (self.cfg.discovery and self._online):
            return
        self._throttle.served()
        cameras = None if self._cameras is None else [
            CameraEntities(c.name, c.topics, c.labels()) for c in self._cameras()]
        messages = discovery_messages(self.topics, device_id=self.device_id, labels=tuple(self._labels()),
                                      model_name=self._model, sw_version=__version__, commands=self._controls,
                                      cameras=cameras)
        gone = self._announced.gone({t for t, body in messages if body is not None}, {t for t, _ in messages})
        for topic, body in [*messages, *((t, None) for t in gone)]:
            self._publish(topic, "" if body is None else payloads.dumps(body), qos=1, retain=True)

    def _publish_stats(self) -> None:
        if not self._online:
            return
        cameras = [] if self._cameras is None else list(self._cameras())
        sources: list[tuple[str, str | None, Callable[[], Mapping[str, object]]]] = [
            (self.topics.stats, None, self._stats), *((c.topics.stats, c.name, c.stats) for c in cameras)]
        for topic, camera, stats in sources:
            try:
                body = payloads.stats_payload(stats(), device_id=self.device_id, outbox=len(self.outbox),
                                              connected=True, camera=camera)
                body.update(mqtt_outbox_bytes=self.outbox.bytes,
                            mqtt_outbox_dropped=sum(self.outbox.dropped.values()))
                if camera is None and cameras:
                    body["cameras"] = [c.name for c in cameras]
                self._publish(topic, payloads.dumps(body), qos=0, retain=True)
            except Exception:
                log.exception("MQTT: stats of %s failed", camera or "the appliance")

    def _thumbnail(self, job: Thumbnail) -> None:
        if not self._online:
            return  # thumbnails are best-effort: never stored, never replayed
        jpeg = thumbs.encode(job.image, self.cfg.snapshot_size, self.cfg.snapshot_max_bytes)
        if jpeg is None or len(jpeg) > self.cfg.snapshot_max_bytes:
            log.warning("MQTT: thumbnail for %s is larger than mqtt.snapshot_max_bytes; not sent", job.label)
            return
        self._publish(job.topic or self.topics.thumbnail(job.label), jpeg, qos=0, retain=True)

    def _finish(self) -> None:
        """On close: end events the pipeline left open, a short grace to deliver what is pending, then a clean
        `offline` and disconnect."""
        try:
            self.outbox.end_open("shutdown")
        except (sqlite3.Error, StorageError) as err:
            log.error("MQTT: cannot end the events still open: %s", err)
        deadline = time.monotonic() + CLOSE_GRACE_S
        while self._online and len(self.outbox) and time.monotonic() < deadline:
            self.step(0.05)
        if self._online:
            info = self._client.publish(self.topics.available, OFFLINE, qos=1, retain=True)
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=1.0)
        self._client.disconnect()
        self._count_changed()
        self.outbox.close()
        log.info("MQTT: closed (%d messages left in the outbox for next start)", self.outbox_count)
