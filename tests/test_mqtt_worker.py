"""The MQTT worker's typed jobs: every kind of job has a handler (or is batched), so none is silently dropped."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import get_args

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
