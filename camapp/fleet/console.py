"""The console's wiring: the registry and its writer thread, the MQTT client, the publisher and the web UI.

`camapp fleet -c fleet.yaml` runs Console(cfg).run_forever(). Fleet actions resolve a target (one device, a tag
group, or all) and publish one signed document per member; the registry records what was asked, and what each
device reports back arrives through the broker like everything else.
"""

from __future__ import annotations

import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable

from camapp.closing import Closing, QueueThread
from camapp.errors import ConfigError
from camapp.fleet import keys
from camapp.fleet.actions import Fleet
from camapp.fleet.client import FleetClient
from camapp.fleet.config import FleetConfig
from camapp.fleet.publisher import Publisher, Versions
from camapp.fleet.registry import Registry
from camapp.fleet.updates import Update

log = logging.getLogger(__name__)
SWEEP_S = 5.0
DB_FILE = "fleet.sqlite"


class Writer(QueueThread[Update]):
    """The registry's one writer: every queued update applied in one transaction per batch, a sweep every few s."""

    def __init__(self, registry: Registry) -> None:
        super().__init__("fleet-registry")
        self.registry = registry
        self.written = 0
        self._thread.start()

    def put(self, update: Update) -> None:
        self._offer(update)

    def _run(self) -> None:
        next_sweep, stopping = time.monotonic() + SWEEP_S, False
        while not stopping:
            batch: list[Update] = []
            try:
                item = self._queue.get(timeout=max(0.05, next_sweep - time.monotonic()))
                while True:
                    if item is None:
                        stopping = True
                        break
                    batch.append(item)
                    item = self._queue.get_nowait()
            except queue.Empty:
                pass
            try:
                if batch:
                    self.registry.write(batch)
                    self.written += len(batch)
                if time.monotonic() >= next_sweep:
                    self.registry.sweep()
                    next_sweep = time.monotonic() + SWEEP_S
            except Exception:  # a full disk: keep the console up; the next batch tries again
                log.exception("fleet: registry write failed")


class Console(Closing):
    """Everything `camapp fleet` runs."""

    def __init__(self, cfg: FleetConfig) -> None:
        self.cfg = cfg
        self.stop_event = threading.Event()
        self.data_dir = cfg.data_dir
        self._closing: list[Callable[[], None]] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        from camapp.web.base import make_private

        make_private(self.data_dir)
        self.key = keys.load_or_create(self.data_dir)
        self.registry = Registry(self.data_dir / DB_FILE, self.cfg.problems, history_s=self.cfg.history_hours * 3600,
                                 events_per_device=self.cfg.events_per_device, tags=self.cfg.tags)
        self._closing.append(self.registry.close)
        self.writer = Writer(self.registry)
        self._closing.append(self.writer.close)
        self.client = FleetClient(self.cfg.mqtt, self.cfg.prefixes, self.writer.put)
        self.publisher = Publisher(self.key, self.client.publish, Versions(self.registry.last_version()))
        self.fleet = Fleet(self.cfg, self.registry, self.publisher, self.writer.put)
        self._closing.append(self.fleet.rollouts.close)
        self.client.connect()
        self._closing.append(self.client.close)
        log.info("fleet: signing key %s; put its public half in each appliance's mqtt.fleet_public_key: %s",
                 self.data_dir / keys.KEY_FILE, keys.public_text(self.key))

    def run_forever(self) -> int:
        from camapp.fleet.web import create_fleet_app
        from camapp.web import ssl_context
        from camapp.web.base import close_app
        from camapp.webserver import ServerLimits, WebServer

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: self.stop_event.set())
        web = self.cfg.web
        app = create_fleet_app(self)
        try:
            server = WebServer(app, web.host, web.port, ssl_context(self.data_dir) if web.https else None,
                               ServerLimits.from_config(web))
        except OSError as err:
            close_app(app)
            raise ConfigError(f"web.port: cannot listen on {web.host}:{web.port}: {err.strerror or err}") from None
        log.info("fleet console: %s://%s:%d/", "https" if web.https else "http", web.host, server.port)
        if web.https:
            from camapp.web.tls import ensure_certificate, fingerprint

            host = web.host if web.host not in ("0.0.0.0", "::") else socket.getfqdn()
            base = web.public_url or f"https://{host}:{server.port}"
            self.fleet.served = (base, fingerprint(ensure_certificate(self.data_dir)[0]))
        try:
            self.stop_event.wait()
        finally:
            server.shutdown()
            close_app(app)
        return 0

    def close(self) -> None:
        self.stop_event.set()
        while self._closing:
            self._closing.pop()()
