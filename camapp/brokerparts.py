"""The appliance's one broker connection: the MQTT sink every camera feeds, and the fleet agent riding on it. A
wiring module (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable

from camapp.config import AppConfig
from camapp.control import Controller
from camapp.datadir import data_dir
from camapp.fleet.agent import FleetAgent
from camapp.fleet.protocol import FleetTopics
from camapp.health import system_health
from camapp.live import LivePipeline
from camapp.mqtt.payloads import EventMedia
from camapp.mqtt.sink import MqttSink
from camapp.mqtt.topics import Topics
from camapp.types import CameraName
from camapp.web.addresses import base_url


def mqtt_sink(cfg: AppConfig, live: LivePipeline, control: Controller, web_port: Callable[[], int],
              several: bool) -> MqttSink:
    """The one MQTT connection (one client, one outbox, the fleet agent on it) that every camera feeds; `several`:
    the config has `cameras:` (per-camera topics)."""
    first = CameraName(next(iter(cfg.camera_configs().values())).camera.id)
    return MqttSink(
        cfg.mqtt, device_id=cfg.device_id, camera_id=first, model_name=lambda: live.detector.name,
        state=control.state, bus=control.bus, control=control, data_dir=data_dir(cfg), labels=cfg.objects.track,
        stats=lambda: {**system_health(cfg.storage.path), "recording": None},
        fleet=fleet_agent(cfg, control, live), media=event_media(cfg, web_port), several=several)


def fleet_agent(cfg: AppConfig, control: Controller, live: LivePipeline) -> FleetAgent | None:
    """The fleet agent when the device is in a fleet (mqtt.fleet_public_key), riding on the MQTT connection."""
    key = cfg.mqtt.fleet_public_key
    if key is None:
        return None
    prefix = Topics.build(cfg.mqtt.topic_prefix, cfg.device_id).prefix
    return FleetAgent(key, device_id=cfg.device_id, topics=FleetTopics(prefix), control=control,
                      get_config=lambda: live.cfg, data_dir=data_dir(cfg), arm_mode=cfg.mqtt.arm_mode,
                      model_name=lambda: live.detector.name)


def event_media(cfg: AppConfig, web_port: Callable[[], int]) -> EventMedia:
    """What MQTT event messages say the store keeps, and the UI address their links start with (the port the web
    server got, known only once it listens)."""
    kept = cfg.storage.path is not None
    return EventMedia(snapshots=kept and cfg.storage.snapshots, clips=kept and cfg.storage.clips,
                      base_url=lambda: base_url(cfg.web, web_port()))
