"""The fleet console's actions, for its web UI and API: resolve a target (one device, a tag group, or all) and
publish one signed document per member; what was asked is recorded in the registry (camapp/fleet/console.py wires
them to the broker and the registry's writer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from camapp.config.loader import parse_yaml
from camapp.errors import CommandError, ConfigError
from camapp.fleet.config import TAG, FleetConfig
from camapp.fleet.protocol import STATE_COMMANDS, ModelSpec
from camapp.fleet.publisher import Publisher
from camapp.fleet.records import Device, Rollout, Sent
from camapp.fleet.registry import Registry
from camapp.fleet.rollout import ModelStore, Rollouts
from camapp.fleet.updates import DesiredSent, TagsSet, Update

log = logging.getLogger("camapp.fleet.console")  # the console's log, as before the actions had their own module


@dataclass(frozen=True)
class Target:
    """One device (`device:<id>`), a group (`tag:<name>=<value>`) or `all`."""

    kind: str
    value: str = ""

    @classmethod
    def parse(cls, text: str) -> Target:
        import re

        text = text.strip()
        if text == "all":
            return cls("all")
        kind, _, value = text.partition(":")
        if kind == "device" and re.match(r"^[A-Za-z0-9_-]{1,64}$", value):
            return cls("device", value)
        name, _, tag_value = value.partition("=")
        if kind == "tag" and re.match(TAG, name) and re.match(TAG, tag_value):
            return cls("tag", value)
        raise CommandError(f"target {text[:80]!r}: use device:<id>, tag:<name>=<value> or all")

    def members(self, devices: list[Device]) -> list[Device]:
        if self.kind == "all":
            return devices
        if self.kind == "device":
            return [d for d in devices if d["id"] == self.value]
        name, _, value = self.value.partition("=")
        return [d for d in devices if d["tags"].get(name) == value]


class Fleet:
    """The console's actions, for the web UI and the API."""

    def __init__(self, cfg: FleetConfig, registry: Registry, publisher: Publisher,
                 record: Callable[[Update], None]) -> None:
        self.cfg, self.registry, self._publisher, self._record = cfg, registry, publisher, record
        self.models = ModelStore(cfg.data_dir / "models", int(cfg.web.max_upload_mb * 1024 * 1024))
        self.rollouts = Rollouts(cfg.data_dir / "rollouts.json", registry.devices, self._send_model)
        self.served: tuple[str, str] | None = None  # (base URL, certificate fingerprint) once serving HTTPS

    def _send_model(self, device: Device, spec: ModelSpec) -> int:
        doc = self._publisher.command(device["id"], device["prefix"], "model", spec["model_sha256"], model=spec)
        return doc["version"]

    def rollout(self, target: str, model_id: str, canary_s: float) -> Rollout:
        """Start a canary rollout of a model the console holds to the members of `target`."""
        if not 0 <= canary_s <= 86400:
            raise CommandError("canary_s: 0 to 86400 seconds")
        if self.served is None:
            raise CommandError("model rollout needs the console on HTTPS (web.https: true): devices fetch the model "
                               "from it and pin its certificate")
        model = self.models.get(model_id)
        spec = self.models.spec(model, *self.served)
        return self.rollouts.start(self._members(target), spec, model, canary_s)

    def _members(self, target: str) -> list[Device]:
        members = Target.parse(target).members(self.registry.devices())
        if not members:
            raise CommandError(f"target {target[:80]!r}: no such device or group")
        return members

    def command(self, target: str, name: str, value: str) -> list[Sent]:
        """Arm/disarm or detection for every member: one signed command each."""
        if name not in STATE_COMMANDS:
            raise CommandError(f"unknown fleet command {name[:40]!r}; known: {', '.join(STATE_COMMANDS)} (models "
                               "go through a rollout)")
        out: list[Sent] = []
        for d in self._members(target):
            doc = self._publisher.command(d["id"], d["prefix"], name, value)
            out.append(Sent(device=d["id"], version=doc["version"], online=bool(d["online"])))
        log.info("fleet: %s %s -> %s (%d devices)", name, value, target, len(out))
        return out

    def desire(self, target: str, config_yaml: str) -> list[Sent]:
        """A desired config (YAML overlay) for every member, retained. Only its form is checked here: each device
        validates it against its own config and reports the field and line of anything wrong."""
        try:
            data, _ = parse_yaml(config_yaml, "desired config")
        except ConfigError as err:
            raise CommandError(str(err)) from None
        if not isinstance(data, dict) or not data:
            raise CommandError("desired config: a YAML mapping of sections, e.g. 'detect: {fps: 2}'")
        out: list[Sent] = []
        for d in self._members(target):
            doc = self._publisher.desired(d["id"], d["prefix"], config_yaml)
            self._record(DesiredSent(d["id"], d["prefix"], doc, time.time()))
            out.append(Sent(device=d["id"], version=doc["version"], online=bool(d["online"])))
        log.info("fleet: desired config version %s -> %s (%d devices)", out[0]["version"], target, len(out))
        return out

    def set_tags(self, device_id: str, tags: dict[str, str]) -> None:
        import re

        device = self.registry.device(device_id)
        if device is None:
            raise CommandError(f"no device {device_id[:64]!r}")
        bad = [f"{k}={v}" for k, v in tags.items() if not (re.match(TAG, str(k)) and re.match(TAG, str(v)))]
        if bad:
            raise CommandError(f"tags {', '.join(bad)[:100]}: names and values are 1-64 of A-Z a-z 0-9 _ . -")
        self._record(TagsSet(device_id, device["prefix"], dict(tags)))
