"""What every subcommand needs: its config file, its logging, its data directory, a typed password."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from camapp.config import AppConfig, load_config
from camapp.datadir import data_dir
from camapp.errors import ConfigError
from camapp.redact import install_log_redaction

DEFAULT_CONFIG = Path(os.environ.get("CAMAPP_CONFIG", "/etc/camapp/config.yaml"))


def setup_logging(level: str = "INFO") -> None:
    install_log_redaction()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", force=True)


def config(path: str | None, required: bool = False) -> AppConfig:
    if path is None and required and not DEFAULT_CONFIG.is_file():
        raise ConfigError(f"no config given and {DEFAULT_CONFIG} does not exist; use -c FILE or --demo")
    if path is None and not DEFAULT_CONFIG.is_file():
        return AppConfig()
    return load_config(Path(path) if path else DEFAULT_CONFIG)


def prompt_password() -> str:
    import getpass

    first = getpass.getpass("password: ")
    if first != getpass.getpass("again: "):
        raise ConfigError("the two passwords differ")
    return first


def usable_data_dir(cfg: AppConfig) -> Path:
    """The data directory, created if needed; a ConfigError naming the setting when it cannot be used (a file
    there, a path that cannot be created, no write permission) instead of an OSError traceback later."""
    path = data_dir(cfg)
    where = "storage.path" if cfg.storage.path is not None else "the data directory ($CAMAPP_DATA)"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"{where}: cannot use {path}: {err.strerror or err}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: {path} is not writable by this user")
    return path
