"""Model rollout with a canary: the console keeps the model files and serves them over HTTPS; one device (the
canary) gets the signed `model` command first, the others only once it reported the switch done and stayed healthy
(online, no problem) for the canary period. A canary that refuses the model, or falls ill, fails the rollout and
nobody else gets it. The appliance does the checking itself (format, labels, signature policy, a probe, the live
frame) and falls back to its previous model if the new one fails later (camapp/fleet/agent.py, modelmgr).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from camapp.atomic import write_atomic
from camapp.closing import Closing
from camapp.errors import CommandError
from camapp.fleet.protocol import ModelSpec, as_object
from camapp.fleet.records import Device, ModelMeta, Rollout
from camapp.types import JsonObject
from camapp.web.modelmgr import check_labels

log = logging.getLogger(__name__)
FILES = ("model.tflite", "labels.txt", "model.tflite.sig")
TICK_S = 1.0
Send = Callable[[Device, ModelSpec], int]  # (device row, model spec) -> command version
Devices = Callable[[], list[Device]]


class ModelStore:
    """Model files kept by the console under <data_dir>/models/<sha256[:12]>/, served to the devices."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self._max = root, max_bytes

    def add(self, model: bytes, labels: bytes, signature: bytes | None, name: str) -> ModelMeta:
        if not model or len(model) > self._max:
            raise CommandError(f"model: empty or larger than {self._max} bytes (web.max_upload_mb)")
        check_labels(labels)
        if signature is not None and len(signature) > 1024:
            raise CommandError("signature: larger than 1024 bytes; not a signature")
        digest = hashlib.sha256(model).hexdigest()
        dest = self.root / digest[:12]
        if not dest.exists():
            self.root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=self.root))
            (staging / FILES[0]).write_bytes(model)
            (staging / FILES[1]).write_bytes(labels)
            if signature:
                (staging / FILES[2]).write_bytes(signature)
            meta = ModelMeta(id=digest[:12], name=name[:100] or digest[:12], sha256=digest, size=len(model),
                             labels_sha256=hashlib.sha256(labels).hexdigest(), added=round(time.time(), 1),
                             signature_sha256=hashlib.sha256(signature).hexdigest() if signature else None)
            (staging / "meta.json").write_text(json.dumps(meta))
            os.replace(staging, dest)
        return self.get(digest[:12])

    def get(self, model_id: str) -> ModelMeta:
        if not (len(model_id) == 12 and all(c in "0123456789abcdef" for c in model_id)):
            raise CommandError(f"model {model_id[:40]!r}: not a model id (12 hex digits)")
        try:
            meta: ModelMeta = json.loads((self.root / model_id / "meta.json").read_text())  # written by add()
        except (OSError, ValueError):
            raise CommandError(f"no model {model_id!r} on the console; upload it first") from None
        return meta

    def entries(self) -> list[ModelMeta]:
        return [self.get(p.name) for p in sorted(self.root.glob("*/meta.json")) if not p.parent.name.startswith(".")]

    def path(self, model_id: str, name: str) -> Path | None:
        """A file to serve, None when there is no such model or file."""
        if name not in FILES:
            return None
        try:
            self.get(model_id)
        except CommandError:
            return None
        path = self.root / model_id / name
        return path if path.is_file() else None

    def spec(self, model: ModelMeta, base_url: str, tls_sha256: str) -> ModelSpec:
        """What the signed command carries: where each file is, its sha256, the certificate to pin."""
        url = f"{base_url.rstrip('/')}/fleet-models/{model['id']}/"
        signed = model["signature_sha256"]
        return ModelSpec(model_url=url + FILES[0], model_sha256=model["sha256"], labels_url=url + FILES[1],
                         labels_sha256=model["labels_sha256"], signature_url=url + FILES[2] if signed else None,
                         signature_sha256=signed, tls_sha256=tls_sha256)


class Rollouts(Closing):
    """Rollouts in progress and done, kept in <data_dir>/rollouts.json; a thread moves them on every second."""

    def __init__(self, path: Path, devices: Devices, send: Send) -> None:
        self._path, self._devices, self._send = path, devices, send
        self._lock = threading.Lock()
        try:
            self._items: list[Rollout] = json.loads(path.read_text())  # written by _save()
        except (OSError, ValueError):
            self._items = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-rollouts", daemon=True)
        self._thread.start()

    def all(self) -> list[Rollout]:
        with self._lock:
            return [r.copy() for r in self._items]

    def start(self, members: list[Device], spec: ModelSpec, model: ModelMeta, canary_s: float) -> Rollout:
        online = sorted((d for d in members if d["online"]), key=lambda d: d["id"])
        if not online:
            raise CommandError("no member of the target is online to be the canary")
        canary = online[0]
        rollout = Rollout(id=f"r{int(time.time() * 1000)}", model=model["id"], name=model["name"], spec=spec,
                          members=[d["id"] for d in members], canary=canary["id"], canary_s=canary_s, state="canary",
                          started=round(time.time(), 3), detail="", sent={}, healthy_since=None,
                          problems_before=sorted(canary["problems"]))
        rollout["sent"][canary["id"]] = self._send(canary, spec)
        with self._lock:
            self._items.append(rollout)
            self._save()
        log.info("fleet: rollout %s of model %s: canary %s", rollout["id"], model["id"], canary["id"])
        return rollout.copy()

    def _save(self) -> None:
        write_atomic(self._path, json.dumps(self._items[-100:]))

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self.tick(time.time())
            except Exception:
                log.exception("fleet: rollout step failed")

    def tick(self, now: float) -> None:
        with self._lock:
            active = [r for r in self._items if r["state"] in ("canary", "rolling")]
            if not active:
                return
        devices = {d["id"]: d for d in self._devices()}
        with self._lock:
            for r in active:
                self._step(r, devices, now)
            self._save()

    def _step(self, r: Rollout, devices: dict[str, Device], now: float) -> None:
        if r["state"] == "rolling":
            results = {d: _result(devices.get(d), v) for d, v in r["sent"].items()}
            if all(x is not None for x in results.values()):
                r["state"], r["results"] = "done", results
                r["detail"] = f"{sum(x == 'done' for x in results.values())} of {len(results)} switched"
            return
        canary = devices.get(r["canary"])
        result = _result(canary, r["sent"][r["canary"]])
        # A problem the canary did not have before the rollout (a config refusal is not its health) fails it.
        new = set(canary["problems"]) - set(r["problems_before"]) - {"config refused"} if canary else set()
        if result == "refused" or canary is None or canary["online"] is False or (result and new):
            r["state"] = "failed"
            why = _error(canary) or (", ".join(sorted(new)) if new else "offline")
            r["detail"] = f"canary {r['canary']}: {why}; nobody else got it"
            log.warning("fleet: rollout %s failed: %s", r["id"], r["detail"])
        elif result == "done":
            healthy_since = r["healthy_since"] = r["healthy_since"] or now
            if now - healthy_since >= r["canary_s"]:
                for device in r["members"]:
                    if device != r["canary"] and device in devices:
                        r["sent"][device] = self._send(devices[device], r["spec"])
                r["state"] = "rolling"
                log.info("fleet: rollout %s: canary %s healthy for %g s; the rest follow", r["id"], r["canary"],
                         r["canary_s"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _reported_command(device: Device | None) -> JsonObject:
    """The `command` of what the device last reported (empty when none, or not an object)."""
    return as_object(as_object(device["reported"] if device else None).get("command"))


def _result(device: Device | None, version: int) -> str | None:
    """`done` / `refused` once the device reported the command of this version, else None."""
    command = _reported_command(device)
    return str(command.get("result")) if command.get("version") == version else None


def _error(device: Device | None) -> str:
    return str(_reported_command(device).get("error") or "")
