"""The in-process EmbeddedServer, and serve_forever for ``dropscribe serve``.

EmbeddedServer runs uvicorn in a thread on a socket it binds itself, so ``port=0`` yields an
ephemeral port that is known before the first request. ``start`` returns once uvicorn is
listening; ``stop`` shuts everything down in reverse data-flow order.
"""

from __future__ import annotations

import logging
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

from dropscribe.core.errors import CannotListen
from dropscribe.engine.pieces import Sizes
from dropscribe.engine.protocol import Engine, ModelLoader
from dropscribe.engine.whisper import WhisperEngine
from dropscribe.server.assembly import Assembler, Assembly, assemble_local
from dropscribe.server.connections import (
    MAX_CONNECTIONS_PER_CLIENT,
    ConnectionCounts,
    connection_budget,
    install_log_limits,
    protocol_options,
    raise_file_limit,
)
from dropscribe.server.options import ServerOptions, distinct_specs, route_specs
from dropscribe.server.routes import build_app

__all__ = ["Assembler", "EmbeddedServer", "ServerOptions", "serve_forever"]

log = logging.getLogger(__name__)

#: Seconds start() waits for uvicorn to listen before giving up.
START_TIMEOUT_SECONDS = 30.0

#: Seconds between checks while waiting for uvicorn or for a stop signal.
WAIT_STEP_SECONDS = 0.05

#: Pending connections the kernel queues before refusing more (uvicorn's default).
LISTEN_BACKLOG = 2048

#: Loggers that can repeat one line per connection or per accept; each line is kept to one
#: per condition and minute.
_NOISY_LOGGERS = ("asyncio", "uvicorn.error", "dropscribe.server.connections")

#: Hosts that listen everywhere; clients on this machine reach them through loopback.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def base_url_for(host: str, port: int, scheme: str = "http") -> str:
    """Return the URL a local client uses to reach a server bound to host:port."""
    reachable = _WILDCARD_HOSTS.get(host, host)
    shown = f"[{reachable}]" if ":" in reachable else reachable
    return f"{scheme}://{shown}:{port}"


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on host:port (port 0: an ephemeral one). Raise
    CannotListen if the port is taken or the address is not usable here."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then
    # (socket.create_server leaves proto 0), and without it every keep-alive response stalls
    # 40 ms in Nagle's algorithm waiting for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as exc:
        sock.close()
        raise CannotListen(host, port, exc) from exc
    return sock


class EmbeddedServer:
    """The Tiyaro-compatible server running in this process; start() then stop()."""

    def __init__(
        self,
        options: ServerOptions,
        *,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        on_finished: Callable[[str], None] | None = None,
        scale_out: Assembler | None = None,
    ) -> None:
        """``on_finished(job_id)``, when given, is called in the engine worker each time a job
        leaves the engine (done, failed or abandoned): an in-process client may poll at once
        instead of waiting for its next poll. ``scale_out`` builds the parts of a server whose
        options name a broker and storage (``scaleout.frontend.assemble_front_end``); the
        server side below scale-out cannot import it."""
        self._options = options
        self._scale_out = scale_out
        self._on_finished = on_finished
        self._engine = engine or WhisperEngine(
            max(1, options.workers),
            options.min_coverage,
            max_audio_hours=options.max_audio_hours,
            max_gap_seconds=options.max_gap_seconds,
            sizes=Sizes.of_piece(options.piece_seconds),
        )
        self._clock = clock
        self._socket: socket.socket | None = None
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._parts: Assembly | None = None
        self._remove_log_limits: Callable[[], None] | None = None

    @property
    def options(self) -> ServerOptions:
        """Return the options this server was built with."""
        return self._options

    @property
    def base_url(self) -> str:
        """Return ``http://host:port`` of the running server. Raise RuntimeError if not started."""
        if self._socket is None:
            raise RuntimeError("the server is not started")
        scheme = "https" if self._options.tls_cert is not None else "http"
        return base_url_for(self._options.host, self._socket.getsockname()[1], scheme)

    def load_models(self) -> None:
        """Load every model a path is mapped to, so a model that cannot load stops the start.

        Raise EngineError naming the first model that cannot be loaded. An engine that cannot
        load ahead (a test fake) is left to load on first use.
        """
        if not isinstance(self._engine, ModelLoader) or self._options.workers == 0:
            return
        for spec in distinct_specs(route_specs(self._options)):
            log.info("dropscribe serve: loading model %s", self._engine.label(spec))
            self._engine.model(spec)

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Open the data folder, start workers and uvicorn; return once it is listening."""
        if self._socket is not None:
            raise RuntimeError("the server is already started")
        self._parts = parts = self._assemble()
        self._socket = bind_socket(self._options.host, self._options.port)
        opts = self._options
        app = build_app(parts.service, opts.token, opts.max_upload_bytes, opts.public_url)
        soft_file_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        counts = ConnectionCounts(connection_budget(soft_file_limit), MAX_CONNECTIONS_PER_CLIENT)
        # log_config=None: uvicorn's own dictConfig would close the host's log handlers (the
        # daemon's redacting audit trail); its loggers then go through the host's root logger.
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            log_config=None,
            ssl_certfile=opts.tls_cert,
            ssl_keyfile=opts.tls_key,
            **protocol_options(counts),
        )
        self._remove_log_limits = install_log_limits(_NOISY_LOGGERS)
        self._uvicorn = uvicorn.Server(config)
        parts.start()
        self._thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [self._socket]}, name="server-http"
        )
        self._thread.start()
        self._await_listening(timeout)

    def _assemble(self) -> Assembly:
        if self._options.broker is None:
            return assemble_local(self._options, self._engine, self._clock, self._on_finished)
        if self._scale_out is None:
            raise ValueError("broker and storage need the scale-out front end to assemble them")
        return self._scale_out(self._options, self._engine, self._clock, self._on_finished)

    def _await_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        assert self._uvicorn is not None and self._thread is not None
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the embedded server did not start listening")
            time.sleep(WAIT_STEP_SECONDS)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and release everything; safe to call twice or after a failed start."""
        # Reverse data-flow order: stop taking requests first so no job lands in a stopping
        # pool; then the workers, whose unfinished job returns to pending; the DB goes last
        # because every other part writes to it.
        if self._uvicorn is not None and self._thread is not None:
            self._uvicorn.should_exit = True
            self._thread.join(timeout)
        if self._parts is not None:
            self._parts.stop(timeout)
        if self._socket is not None:
            self._socket.close()
        if self._remove_log_limits is not None:
            self._remove_log_limits()
        self._uvicorn = self._thread = self._parts = self._socket = None
        self._remove_log_limits = None

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_forever(options: ServerOptions, scale_out: Assembler | None = None) -> None:
    """Run the server in the foreground until SIGINT or SIGTERM, then stop it cleanly.

    ``scale_out`` assembles a server whose options name a broker and storage.

    A second signal while stopping ends the process at once (the default action), which is
    safe: unfinished jobs run again at the next start.
    """
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, request_stop) for sig in handled}
    # Connections are capped below the file limit; a higher limit (LimitNOFILE=) admits more.
    raise_file_limit()
    server = EmbeddedServer(options, scale_out=scale_out)
    try:
        server.load_models()
        server.start()
        log.info("dropscribe serve: listening on %s", server.base_url)
        while not stop_requested.wait(WAIT_STEP_SECONDS * 20):
            pass
    finally:
        for sig in handled:
            signal.signal(sig, signal.SIG_DFL)
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
