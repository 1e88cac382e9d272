"""Topic names under the configured prefix; labels are sanitised so they are safe topic levels and HA object ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def slug(text: str) -> str:
    """A label as a topic level / Home Assistant object id: `traffic light` -> `traffic_light`."""
    return _UNSAFE.sub("_", text.strip()).strip("_") or "unknown"


@dataclass(frozen=True)
class Topics:
    """Every topic camapp publishes or subscribes to, for one device."""

    prefix: str
    discovery_prefix: str = "homeassistant"

    @classmethod
    def build(cls, template: str, device_id: str, discovery_prefix: str = "homeassistant") -> Topics:
        return cls(template.replace("{device_id}", device_id).rstrip("/"), discovery_prefix)

    def _t(self, *levels: str) -> str:
        return "/".join((self.prefix, *levels))

    @property
    def available(self) -> str:
        return self._t("available")

    @property
    def events(self) -> str:
        return self._t("events")

    @property
    def alert(self) -> str:
        return self._t("alert")

    @property
    def motion(self) -> str:
        return self._t("motion")

    @property
    def alarm(self) -> str:
        return self._t("alarm")

    @property
    def armed(self) -> str:
        return self._t("armed")

    @property
    def mode(self) -> str:
        return self._t("mode")

    @property
    def detection(self) -> str:
        return self._t("detection")

    @property
    def stats(self) -> str:
        return self._t("stats")

    @property
    def snapshot(self) -> str:
        return self._t("snapshot")

    def count(self, label: str) -> str:
        return self._t("count", slug(label))

    def thumbnail(self, label: str) -> str:
        return self._t("thumbnail", slug(label))

    def command(self, name: str) -> str:
        return self._t("set", name)

    @property
    def commands(self) -> str:
        """Wildcard subscription for every command."""
        return self._t("set", "#")

    def command_name(self, topic: str) -> str | None:
        """`<prefix>/set/mode` -> `mode`; None for anything else (including deeper levels)."""
        head = self._t("set") + "/"
        if not topic.startswith(head):
            return None
        name = topic[len(head):]
        return name if name and "/" not in name else None

    def camera(self, name: str) -> Topics:
        """One camera's topics (several cameras): the same names one level down, `<prefix>/<camera>/events`."""
        return Topics(self._t(name), self.discovery_prefix)

    @property
    def camera_commands(self) -> str:
        """Wildcard subscription for every camera's commands, `<prefix>/<camera>/set/<name>`."""
        return self._t("+", "set", "#")

    def camera_command(self, topic: str) -> tuple[str, str] | None:
        """`<prefix>/front/set/detection` -> (`front`, `detection`); None for anything else."""
        head = self.prefix + "/"
        if not topic.startswith(head):
            return None
        levels = topic[len(head):].split("/")
        if len(levels) != 3 or levels[1] != "set" or not levels[0] or not levels[2]:
            return None
        return levels[0], levels[2]

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def discovery(self, component: str, node_id: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{node_id}/{object_id}/config"
