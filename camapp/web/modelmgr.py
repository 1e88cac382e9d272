"""Model management: accept an uploaded (or local) model file + labels, check size, format and signature, probe it
on a test frame, then ask the pipeline to switch; every installed model is kept so an older one can be re-activated.

The file format, the probe and the switch belong to the running detector backend (camapp.detect.modelfile): any
backend that loads model files is managed the same way.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NotRequired, TypedDict

from camapp.assets import MODELS_DIR
from camapp.atomic import write_atomic
from camapp.config.web import WebConfig
from camapp.detect import trust
from camapp.detect.modelfile import ModelFileBackend, probe_file
from camapp.detect.trust import ModelTrust, signature_path
from camapp.errors import CommandError, ModelError
from camapp.types import JsonObject

MAX_LABELS_BYTES = 1 << 20
Switch = Callable[[Path, Path], None]
BackendFn = Callable[[], ModelFileBackend]  # the running backend's model-file capability (ModelError if none)


class ModelEntry(TypedDict):
    """An installed model, as history.json keeps it and the API lists it."""

    id: str  # sha256[:12], or local-<sha256[:12]> for a model already on the device
    sha256: str
    size: int
    signed: bool  # a signature verified it
    source: Literal["upload", "path"]
    model: str  # the file's path
    labels: str
    uploaded: float
    probe: NotRequired[JsonObject]  # what the backend's probe found (input size, outputs, ...)
    active: NotRequired[bool]
    activated: NotRequired[float]


def check_labels(data: bytes) -> list[str]:
    """Labels: UTF-8 text, one label per line, at least one."""
    if len(data) > MAX_LABELS_BYTES:
        raise CommandError(f"labels: larger than {MAX_LABELS_BYTES} bytes")
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise CommandError("labels: not UTF-8 text") from None
    if not any(line.strip() for line in lines):
        raise CommandError("labels: the file has no labels (one per line)")
    if any(len(line) > 200 for line in lines):
        raise CommandError("labels: a line is longer than 200 characters")
    return lines


class ModelManager:
    """Installs models under <data_dir>/models/<sha256[:12]>/ and records them in history.json."""

    def __init__(self, data_dir: Path, switch: Switch | None, backend: BackendFn) -> None:
        self.root = data_dir / "models"
        self._switch, self._backend = switch, backend
        self._lock = threading.Lock()

    @property
    def _history_path(self) -> Path:
        return self.root / "history.json"

    def entries(self) -> list[ModelEntry]:
        try:
            data = json.loads(self._history_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        entries: list[ModelEntry] = list(data) if isinstance(data, list) else []  # written by _write_history()
        return entries

    def _write_history(self, entries: list[ModelEntry]) -> None:
        write_atomic(self._history_path, json.dumps(entries, indent=2))

    def _activate(self, entry: ModelEntry) -> ModelEntry:
        if self._switch is None:
            raise ModelError("this appliance cannot switch models while running")
        self._switch(Path(entry["model"]), Path(entry["labels"]))  # the pipeline rolls back on ModelError
        entries = [e for e in self.entries() if e["id"] != entry["id"]]
        for e in entries:
            e["active"] = False
        entry = {**entry, "active": True, "activated": round(time.time(), 1)}
        self._write_history([entry, *entries])
        return entry

    def install_upload(self, cfg: WebConfig, model: bytes, labels: bytes, signature: bytes | None) -> ModelEntry:
        """Validate an upload, store it, probe it, switch to it; the files are removed if any step fails."""
        limit = int(cfg.max_upload_mb * 1024 * 1024)
        if len(model) > limit:
            raise CommandError(f"model: larger than web.max_upload_mb ({cfg.max_upload_mb} MB)")
        backend = self._backend()
        backend.check(model)
        check_labels(labels)
        # Refused here already so an untrusted upload is never even stored; load_interpreter checks again.
        signed = ModelTrust.from_config(cfg).check(None, model, signature)
        digest = hashlib.sha256(model).hexdigest()
        with self._lock:
            dest = self.root / digest[:12]
            fresh = not dest.exists()
            if fresh:
                staging = Path(tempfile.mkdtemp(prefix=".upload-", dir=self._mkroot()))
                (staging / f"model{backend.suffix}").write_bytes(model)
                (staging / "labels.txt").write_bytes(labels)
                os.replace(staging, dest)
            if signature:  # kept next to the model: every later load (activate, rollback, restart) checks it
                write_atomic(signature_path(dest / f"model{backend.suffix}"), signature)
            entry = ModelEntry(id=digest[:12], sha256=digest, size=len(model), signed=signed, source="upload",
                               model=str(dest / f"model{backend.suffix}"), labels=str(dest / "labels.txt"),
                               uploaded=round(time.time(), 1))
            return self._probe_and_activate(backend, entry, cleanup=dest if fresh else None)

    def _mkroot(self) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return self.root

    def _probe_and_activate(self, backend: ModelFileBackend, entry: ModelEntry, cleanup: Path | None) -> ModelEntry:
        try:
            entry["probe"] = probe_file(backend, Path(entry["model"]), Path(entry["labels"]))
            return self._activate(entry)
        except ModelError:
            if cleanup is not None:
                shutil.rmtree(cleanup, ignore_errors=True)
            raise

    def allowed_roots(self) -> list[Path]:
        return [self.root.resolve(), MODELS_DIR.resolve()]

    def checked_path(self, raw: object, suffix: str, what: str) -> Path:
        """Resolve a user-given path; it must be an existing file with `suffix` inside an allowed directory."""
        if not isinstance(raw, str) or not raw or "\x00" in raw:
            raise CommandError(f"{what}: give a file path")
        path = Path(raw).resolve()
        roots = self.allowed_roots()
        if not any(path.is_relative_to(r) for r in roots):
            raise CommandError(f"{what}: must be inside {' or '.join(str(r) for r in roots)}")
        if path.suffix != suffix or not path.is_file():
            raise CommandError(f"{what}: no {suffix} file at {path}")
        return path

    def install_path(self, model_raw: object, labels_raw: object) -> ModelEntry:
        """Switch to a model already on the device (in the models directory or the uploaded models)."""
        backend = self._backend()
        model = self.checked_path(model_raw, backend.suffix, "model_path")
        labels = self.checked_path(labels_raw, ".txt", "labels_path")
        data = model.read_bytes()
        backend.check(data)
        check_labels(labels.read_bytes())
        digest = hashlib.sha256(data).hexdigest()
        signed = trust.current().check(model, data)
        entry = ModelEntry(id=f"local-{digest[:12]}", sha256=digest, size=len(data), signed=signed, source="path",
                           model=str(model), labels=str(labels), uploaded=round(time.time(), 1))
        with self._lock:
            return self._probe_and_activate(backend, entry, cleanup=None)

    def activate(self, entry_id: str) -> ModelEntry:
        """Re-activate a kept model (manual rollback)."""
        with self._lock:
            entry = next((e for e in self.entries() if e["id"] == entry_id), None)
            if entry is None:
                raise CommandError(f"no installed model with id {entry_id!r}")
            return self._activate(entry)
