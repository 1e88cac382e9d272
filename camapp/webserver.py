"""A threaded werkzeug server that can be shut down from another thread."""

from __future__ import annotations

import errno
import logging
import ssl
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

log = logging.getLogger(__name__)


class WebServer:
    """Serves a WSGI app on a background thread; `port` is the bound port (useful with port 0)."""

    def __init__(self, app: Any, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> None:
        try:
            self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, ssl_context=ssl_context)
        except SystemExit:  # werkzeug exits the process when the port is taken; the caller should decide
            raise OSError(errno.EADDRINUSE, "address already in use") from None
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="camapp-web", daemon=True)
        self._thread.start()
        self._closed = False

    def shutdown(self) -> None:
        """Stop serving; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()
