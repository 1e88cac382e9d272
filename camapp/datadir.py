"""The data directory (users, secrets, the store, the MQTT outbox) and the lock that keeps it to one camapp."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from camapp.assets import ROOT
from camapp.config import AppConfig
from camapp.errors import StorageError


def data_dir(cfg: AppConfig) -> Path:
    """Where users, secrets and the MQTT outbox live: the storage path, else $CAMAPP_DATA, else ./data."""
    if cfg.storage.path is not None:
        return cfg.storage.path
    return Path(os.environ.get("CAMAPP_DATA", str(ROOT / "data")))


class DataDirLock:
    """An exclusive lock on the data directory: a second camapp (or a replay) on the same store would close the
    first one's open events and interleave writes."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._file = (path / "camapp.lock").open("a+")
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._file.seek(0)
            owner = self._file.read().strip() or "another process"
            self._file.close()
            raise StorageError(f"{path} is in use by another camapp ({owner}); stop it or use another "
                               "storage.path") from None
        self._file.truncate(0)
        self._file.write(f"pid {os.getpid()}")
        self._file.flush()

    def close(self) -> None:
        """Release the lock; idempotent."""
        if not self._file.closed:
            self._file.close()
