"""Finding parts: every module of the built-in part packages, and third-party plugins through entry points.

A part registers itself when its module is imported (`@CAMERA_SOURCES.register(...)`, `DETECTORS`, `SINKS`,
`GPIO_BACKENDS`, `MODEL_FILES`), so finding a part is importing its module:

- built-in parts: every module of camapp.capture, camapp.detect and camapp.alarm (found with pkgutil, so a new
  module there needs no import added anywhere), and camapp.sinks;
- plugins: every entry point of the group `camapp.plugins` names a module (or an object in one) of an installed
  package, e.g. in its pyproject.toml: `[project.entry-points."camapp.plugins"] coral = "camapp_coral.detector"`.

discover() runs before a config is parsed (camapp.config.parse_config) and before a part is looked up
(Registry.builder), and again cheaply each time: only entry points not loaded yet are imported, so a package
installed while a process runs (a test's temp path) is found too. A plugin that fails to import is logged with its
name and skipped; a config naming its key then gets the registry's error listing the keys that exist.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import threading
from importlib.metadata import EntryPoint, entry_points

log = logging.getLogger(__name__)

GROUP = "camapp.plugins"
PACKAGES = ("camapp.capture", "camapp.detect", "camapp.alarm")
MODULES = ("camapp.sinks",)

_lock = threading.RLock()
_builtins_done = False
_loaded: set[tuple[str, str]] = set()  # (entry point name, value) already imported, or refused
_running = threading.local()


def builtin_modules() -> list[str]:
    """Every module of the built-in part packages, in a stable order."""
    names = list(MODULES)
    for package in PACKAGES:
        module = importlib.import_module(package)
        names += sorted(f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__))
    return names


def _load(ep: EntryPoint) -> None:
    try:
        ep.load()
    except Exception as err:  # a third party's bug must not stop the appliance; its key is then unknown
        log.error("camapp plugin %r (%s) failed to load and is ignored: %s: %s", ep.name, ep.value,
                  type(err).__name__, err)
    else:
        log.debug("camapp plugin %r loaded from %s", ep.name, ep.value)


def discover() -> None:
    """Import the built-in part modules (once) and every plugin entry point not imported yet; idempotent."""
    global _builtins_done
    if getattr(_running, "active", False):  # a part module being imported looks a part up: not again
        return
    with _lock:
        _running.active = True
        try:
            if not _builtins_done:
                for name in builtin_modules():
                    importlib.import_module(name)
                _builtins_done = True
            for ep in entry_points(group=GROUP):
                key = (ep.name, ep.value)
                if key not in _loaded:
                    _loaded.add(key)
                    _load(ep)
        finally:
            _running.active = False
