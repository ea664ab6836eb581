"""A worker's /healthz and /metrics: its engine threads, and broker and storage outages.

Served by the standard library's threading HTTP server on loopback by default: a worker has no
API of its own, and this is read by monitoring, not by clients.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dropscribe.core.errors import CannotListen

log = logging.getLogger(__name__)

#: Content type of the Prometheus text exposition format.
METRICS_MEDIA_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HealthServer:
    """Serves ``health()`` as /healthz (503 unless status is ok) and ``metrics()`` as /metrics.

    Raise CannotListen if the port is taken or the address is not usable here.
    """

    def __init__(
        self,
        host: str,
        port: int,
        health: Callable[[], dict[str, Any]],
        metrics: Callable[[], str],
    ) -> None:
        handler = _handler(health, metrics)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise CannotListen(host, port, exc) from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="worker-health", daemon=True
        )

    @property
    def port(self) -> int:
        """Return the port it listens on (known from construction)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Start answering."""
        self._thread.start()

    def stop(self) -> None:
        """Stop answering and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


def _handler(
    health: Callable[[], dict[str, Any]], metrics: Callable[[], str]
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                body = health()
                status = 200 if body.get("status") == "ok" else 503
                self._send(status, "application/json", json.dumps(body).encode())
            elif self.path == "/metrics":
                self._send(200, METRICS_MEDIA_TYPE, metrics().encode())
            else:
                self._send(404, "application/json", b'{"error": "no such endpoint"}')

        def _send(self, status: int, media_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Say nothing per request: monitoring polls often."""

    return Handler
