"""Writing the config file: atomically, keeping the previous one as <name>.bak."""

from __future__ import annotations

from pathlib import Path

import yaml

from camapp.atomic import write_atomic
from camapp.config import AppConfig
from camapp.errors import StorageError


def save_config(path: Path, cfg: AppConfig) -> None:
    """Write YAML via temp file + rename; the previous file is kept as <name>.bak."""
    text = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    try:
        if path.exists():  # both copies may hold passwords: private whatever the umask or the old mode
            backup = path.with_name(path.name + ".bak")
            write_atomic(backup, path.read_bytes(), 0o600)
        write_atomic(path, text, 0o600)
    except OSError as err:
        raise StorageError(f"{path}: cannot save config: {err.strerror or err}") from None
