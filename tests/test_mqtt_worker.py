"""The MQTT worker's typed jobs: every kind of job has a handler (or is batched), so none is silently dropped; events
leave first."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import get_args

import numpy as np
import pytest
from mqtt_broker import HOST, Broker, Collector

from camapp.config.mqtt import MqttConfig
from camapp.mqtt import jobs
from camapp.mqtt.client import build_client
from camapp.mqtt.outbox import NewMessage, Outbox
from camapp.mqtt.topics import Topics
from camapp.mqtt.worker import Worker


def worker(tmp_path: Path) -> Worker:
    cfg = MqttConfig.model_validate({"host": "127.0.0.1", "port": 9})
    topics = Topics.build(cfg.topic_prefix, "dev", cfg.discovery_prefix)
    return Worker(cfg, client=build_client(cfg, "test", topics.available), outbox=Outbox(tmp_path / "o.sqlite", 100),
                  topics=topics, device_id="dev", model_name="m", labels=lambda: ["person"], stats=dict, controls=())


def test_every_job_type_is_handled(tmp_path: Path) -> None:
    w = worker(tmp_path)
    batched = {jobs.Store, jobs.Ack}  # handled together at the start of each step
    handled = set(w._handlers) | batched
    assert set(get_args(jobs.Job)) == handled
    w.outbox.close()


def test_a_step_stores_events_answers_flushes_and_stops(tmp_path: Path) -> None:
    """Offline: events go to the durable outbox, a flush is answered after them, Stop ends the loop."""
    w = worker(tmp_path)
    done = threading.Event()
    w.put(jobs.Store(NewMessage("m1", "new", "camapp/dev/events", "{}", "ev1")))
    w.put(jobs.Retain("camapp/dev/mode", "away"))
    w.put(jobs.Flush(done))
    assert w.step(0.1) is False
    assert done.is_set() and w.outbox_count == 1
    w.put(jobs.Stop())
    assert w.step(0.1) is True
    w.outbox.close()


def test_an_event_leaves_before_the_thumbnail_queued_with_it(tmp_path: Path) -> None:
    """A `new` and its thumbnail reach the worker in one batch: the event is published first, so an alert never
    waits behind a JPEG encode (thumbnails are best effort, events are what a subscriber acts on)."""
    skimage_data = pytest.importorskip("skimage.data")
    photo = np.ascontiguousarray(skimage_data.astronaut()[:, :, ::-1])  # a real 512x512 photo, BGR
    with Broker(tmp_path / "broker") as broker:
        cfg = MqttConfig.model_validate(broker.mqtt_config(snapshots=True))
        topics = Topics.build(cfg.topic_prefix, "dev", cfg.discovery_prefix)
        client = build_client(cfg, "test-worker", topics.available)
        w = Worker(cfg, client=client, outbox=Outbox(tmp_path / "o.sqlite", 100), topics=topics, device_id="dev",
                   model_name="m", labels=lambda: ["person"], stats=dict, controls=())
        connected = threading.Event()
        client.on_connect = lambda *_: connected.set()
        with Collector(broker, [topics.events, topics.thumbnail("person")]) as col:
            client.connect(HOST, broker.port)
            client.loop_start()
            try:
                assert connected.wait(10)
                w.put(jobs.Connected())
                w.step(0.1)
                w.put(jobs.Store(NewMessage("m1", "new", topics.events, '{"type": "new"}', "ev1")))
                w.put(jobs.Thumbnail("person", photo))
                w.step(0.1)  # both jobs in one batch
                got = col.wait_for(lambda ms: len(ms) == 2)
            finally:
                client.loop_stop()
                client.disconnect()
                w.outbox.close()
    assert [m.topic for m in got] == [topics.events, topics.thumbnail("person")]
