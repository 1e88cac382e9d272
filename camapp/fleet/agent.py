"""The appliance's side of the fleet: signed desired configs and commands in, reported state out.

Subscribed (through the MQTT sink's connection) to <prefix>/fleet/desired (retained, so a device that was offline
applies it when it comes back) and <prefix>/fleet/command. Every document must verify under mqtt.fleet_public_key,
name this device and carry a version above the last one taken; anything else is logged and ignored. A desired
config is a YAML overlay on the running config: merged, validated with the loader's field-and-line errors, then
applied and saved through the controller (a config that cannot run is never saved). The result is retained on
<prefix>/fleet/reported. Work runs on the agent's own thread: applying a config may load a model, and paho's
network thread must keep answering the broker.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from camapp import __version__
from camapp.atomic import write_atomic
from camapp.commands import ApplyConfig, Commander, SwitchModel
from camapp.config import AppConfig, _line_of, error_items
from camapp.config.loader import LineIndex, parse_yaml
from camapp.errors import CamappError, CommandError
from camapp.fleet.protocol import (
    REPORTED,
    STATE_COMMANDS,
    CommandResult,
    Document,
    FieldError,
    FleetTopics,
    Refusal,
    ReportedDoc,
    config_hash,
    model_spec,
    text_hash,
    verify,
)
from camapp.mqtt.authority import LogBudget
from camapp.mqtt.commands import CommandHandler
from camapp.redact import get_path, mask_config
from camapp.state import Mode
from camapp.types import JsonObject, JsonValue

log = logging.getLogger(__name__)
STATE_FILE = "fleet-state.json"
# The fleet link itself and the device's name are not the fleet's to change: a wrong broker or id would cut the
# device off from the console that could put it right.
LOCKED = ("device_id", "mqtt")
_WHERE = re.compile(r"^(?P<src>[^:\n]*):(?P<line>\d+): (?P<msg>.*)$", re.S)
Publish = Callable[[str, str], None]


class Refused(CamappError, ValueError):
    """A signed, well-formed desired config that cannot run; `errors` are {field, line, message}."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e['field'] or 'config'} (line {e['line']}): {e['message']}" for e in errors))
        self.errors = errors


class FleetCommands(CommandHandler):
    SOURCE = "fleet"


@dataclass
class AgentState:
    """What survives a restart: the highest versions taken, and the overlay in effect."""

    desired_version: int = 0
    command_version: int = 0
    desired_config: str = ""
    refused_version: int = 0  # not saved: after a restart a refused document is tried once more
    last_refusal: Refusal | None = None
    last_command: CommandResult | None = None
    restart: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> AgentState:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(int(data["desired_version"]), int(data["command_version"]), str(data["desired_config"]))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError, KeyError, TypeError) as err:
            log.warning("fleet: %s unreadable (%s); starting from version 0", path, err)
            return cls()

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps({"desired_version": self.desired_version, "command_version":
                                       self.command_version, "desired_config": self.desired_config}), 0o600)


def merge(base: JsonObject, overlay: JsonObject) -> JsonObject:
    """`overlay` on `base`: mappings merge key by key, anything else (lists included) replaces."""
    out = dict(base)
    for key, value in overlay.items():
        old = out.get(key)
        out[key] = merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value
    return out


def leaves(data: JsonValue, path: str = "") -> list[str]:
    """Dotted paths of the values an overlay sets (a list is one value)."""
    if isinstance(data, dict) and data:
        return [p for k, v in data.items() for p in leaves(v, f"{path}.{k}" if path else str(k))]
    return [path] if path else []


def overlay_config(current: AppConfig, text: str, source: str) -> tuple[AppConfig, JsonObject]:
    """The running config with the YAML overlay `text` on it, validated; Refused naming each field and line."""
    try:
        data, lines = parse_yaml(text, source)
    except CamappError as err:
        m = _WHERE.match(str(err))
        raise Refused([{"field": None, "line": int(m["line"]) if m else None,
                        "message": m["msg"] if m else str(err)}]) from None
    if not isinstance(data, dict):
        raise Refused([{"field": None, "line": 1, "message": "the desired config must be a mapping of sections"}])
    locked = [k for k in LOCKED if k in data]
    if locked:
        raise Refused([{"field": k, "line": lines.get((k,)), "message": "not changeable by the fleet (set it in "
                        "the device's own config)"} for k in locked])
    try:
        return AppConfig.model_validate(merge(current.model_dump(mode="json"), data)), data
    except ValidationError as err:
        raise Refused(_errors(err, lines)) from None


def _errors(err: ValidationError, lines: LineIndex) -> list[FieldError]:
    out: list[FieldError] = []
    for path, msg in error_items(err):
        text = msg.removeprefix("Value error, ")
        out.append({"field": ".".join(path) or None, "line": _line_of(path, text, lines), "message": text})
    return out


class FleetAgent:
    """Takes signed documents for one device; start(publish) before handle(), close() when done."""

    def __init__(self, public_key: str, *, device_id: str, topics: FleetTopics, control: Commander,  # noqa: PLR0913
                 get_config: Callable[[], AppConfig], data_dir: Path, arm_mode: Mode = "away",
                 model_name: Callable[[], str] = lambda: "") -> None:
        self._key, self.device_id, self.topics = public_key, device_id, topics
        self._control, self._get_config, self._model = control, get_config, model_name
        self._commands = FleetCommands(control, STATE_COMMANDS, arm_mode)
        self._data_dir = data_dir
        self._state_path = data_dir / STATE_FILE
        self.state = AgentState.load(self._state_path)
        self._queue: queue.Queue[tuple[str, bytes, bool] | None] = queue.Queue(maxsize=64)
        self._refusals = LogBudget()
        self._publish: Publish | None = None
        self._thread: threading.Thread | None = None
        self.idle = threading.Event()  # set whenever the queue has been worked off (tests wait on it)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        return (self.topics.desired, self.topics.command)

    def start(self, publish: Publish) -> None:
        if self._thread is not None:
            return
        self._publish = publish
        self._report()
        self._thread = threading.Thread(target=self._run, name="fleet-agent", daemon=True)
        self._thread.start()

    def handle(self, topic: str, payload: bytes, retained: bool) -> None:
        """From paho's thread: queue the message (a flood past the queue's bound is dropped and logged)."""
        self.idle.clear()
        try:
            self._queue.put_nowait((topic, payload, retained))
        except queue.Full:
            self._refuse(topic, CommandError("too many fleet messages queued; dropped"))

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.take(*item)
            except Exception:
                log.exception("fleet: failed to handle a message on %s", item[0])
            if self._queue.empty():
                self.idle.set()

    def take(self, topic: str, payload: bytes, retained: bool) -> None:
        """Verify and act on one message (the agent's thread; tests call it directly)."""
        try:
            doc = verify(self._key, payload)
            want = "desired" if topic == self.topics.desired else "command"
            if doc.kind != want:
                raise CommandError(f"a {doc.kind} document on the {want} topic")
            if doc.device_id != self.device_id:
                raise CommandError(f"for device {doc.device_id[:64]!r}; this is {self.device_id!r}")
            if doc.kind == "desired":
                self._desired(doc)
            else:
                self._command(doc, retained)
        except CamappError as err:
            self._refuse(topic, err)

    def _refuse(self, topic: str, err: Exception) -> None:
        skipped = self._refusals.take()
        if skipped is not None:
            more = f" ({skipped} more refusals not logged)" if skipped else ""
            log.warning("fleet: refused a message on %s: %s%s", topic[:200], err, more)

    def _desired(self, doc: Document) -> None:
        st = self.state
        if doc.version < st.desired_version:
            raise CommandError(f"stale: desired version {doc.version} is older than {st.desired_version}, "
                               "the one applied")
        if doc.version == st.refused_version:
            return  # the retained copy again, after a reconnect: already refused and reported
        text = doc.body.get("config")
        if not isinstance(text, str):
            raise CommandError("malformed: `config` must be YAML text")
        current = self._get_config()
        try:
            new, overlay = overlay_config(current, text, f"desired v{doc.version}")
            if doc.version == st.desired_version and config_hash(new.model_dump(mode="json")) == config_hash(
                    current.model_dump(mode="json")):
                return  # what this device already runs (the retained copy, delivered again on reconnect)
            restart = self._control.execute(ApplyConfig(new, source="fleet"))
        except Refused as err:
            self._refused(doc, err.errors, str(err))
            return
        except CamappError as err:  # validated, but it cannot run (a model that does not load) or cannot be saved
            self._refused(doc, [{"field": None, "line": None, "message": str(err)}], str(err))
            return
        st.desired_version, st.desired_config, st.restart = doc.version, text, restart
        st.last_refusal = None
        st.save(self._state_path)
        log.info("fleet: applied desired config version %d (%s)%s", doc.version, ", ".join(leaves(overlay)),
                 f"; restart needed for {', '.join(restart)}" if restart else "")
        self._report()

    def _refused(self, doc: Document, errors: list[FieldError], text: str) -> None:
        self.state.refused_version = doc.version
        self.state.last_refusal = {"version": doc.version, "errors": errors, "time": round(time.time(), 3)}
        log.warning("fleet: refused desired config version %d: %s", doc.version, text)
        self._report()

    def _command(self, doc: Document, retained: bool) -> None:
        if retained:
            raise CommandError("retained commands are ignored (they would replay on every reconnect)")
        st = self.state
        if doc.version <= st.command_version:
            raise CommandError(f"stale: command version {doc.version} is not above {st.command_version}")
        name, value = doc.body.get("command"), doc.body.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise CommandError("malformed: `command` and `value` must be strings")
        st.command_version = doc.version
        st.save(self._state_path)  # taken, done or not: the same document never runs twice
        result = CommandResult(version=doc.version, command=name[:40], value=value[:40], result="done")
        try:
            if name == "model":
                self._install_model(doc.body.get("model"))
            else:
                self._commands.apply(name, value.encode())
            log.info("fleet: command %s %r (version %d): done", name, value, doc.version)
        except CamappError as err:
            result["result"], result["error"] = "refused", str(err)
            log.warning("fleet: refused command version %d: %s", doc.version, err)
        st.last_command = result
        self._report()

    def _install_model(self, given: JsonValue) -> None:
        """Download the model the console serves (pinned certificate, sha256 checked), then install it as an upload
        would be: format, labels and signature policy checked, probed, validated on the live frame, switched (the
        previous model takes over if the new one fails), kept for rollback."""
        from camapp.detect.modelfile import model_file_backend
        from camapp.fleet.download import fetch
        from camapp.web.modelmgr import ModelManager

        spec = model_spec(given)
        web = self._get_config().web
        limit, pin = int(web.max_upload_mb * 1024 * 1024), spec["tls_sha256"]
        model = fetch(spec["model_url"], spec["model_sha256"], pin, limit)
        labels = fetch(spec["labels_url"], spec["labels_sha256"], pin, 1 << 20)
        signature = None
        if spec["signature_url"] is not None and spec["signature_sha256"] is not None:
            signature = fetch(spec["signature_url"], spec["signature_sha256"], pin, 4096)
        manager = ModelManager(self._data_dir, lambda m, lb: self._control.execute(SwitchModel(m, lb, source="fleet")),
                               lambda: model_file_backend(self._get_config().model))
        manager.install_upload(web, model, labels, signature)

    def report(self) -> ReportedDoc:
        """The reported document: what runs now (version, config hash, the overlay's values) or the refusal."""
        st, running = self.state, self._get_config().model_dump(mode="json")
        try:
            overlay: JsonValue = parse_yaml(st.desired_config)[0] if st.desired_config else {}
        except CamappError:
            overlay = {}
        masked = mask_config(running)
        return {
            "schema": REPORTED, "device_id": self.device_id, "time": round(time.time(), 3), "sw_version": __version__,
            "model": self._model(), "version": st.desired_version, "config_hash": config_hash(masked),
            "desired_sha256": text_hash(st.desired_config) if st.desired_config else None,
            "values": {p: get_path(masked, p) for p in leaves(overlay)}, "restart": st.restart,
            "refused": st.last_refusal, "command": st.last_command,
        }

    def _report(self) -> None:
        if self._publish is not None:
            self._publish(self.topics.reported, json.dumps(self.report(), separators=(",", ":"), default=str))
