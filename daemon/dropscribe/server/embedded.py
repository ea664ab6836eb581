"""ServerOptions, the in-process EmbeddedServer, and serve_forever for ``dropscribe serve``.

EmbeddedServer runs uvicorn in a thread on a socket it binds itself, so ``port=0`` yields an
ephemeral port that is known before the first request. ``start`` returns once uvicorn is
listening; ``stop`` shuts everything down in reverse data-flow order.
"""

from __future__ import annotations

import logging
import re
import resource
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from pathlib import Path
from types import FrameType

import uvicorn

from dropscribe.engine.completeness import DEFAULT_MIN_COVERAGE
from dropscribe.engine.models import BUNDLED_MODEL
from dropscribe.engine.protocol import Engine, ModelLoader
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS, WhisperEngine
from dropscribe.server.api import METRIC_PREFIX, ApiService
from dropscribe.server.connections import (
    MAX_CONNECTIONS_PER_CLIENT,
    ConnectionCounts,
    connection_budget,
    install_log_limits,
    protocol_options,
    raise_file_limit,
)
from dropscribe.server.job_status import JobStatus
from dropscribe.server.locations import broker_url, storage_location
from dropscribe.server.meter import EngineMeter
from dropscribe.server.pool import EnginePool
from dropscribe.server.presign import Presigner, load_or_create_secret
from dropscribe.server.retention import RetentionSweeper
from dropscribe.server.routes import build_app
from dropscribe.server.store import JobStore
from dropscribe.server.upload_site import LocalUploads
from dropscribe.server.uploads import private_folder, remove_drafts, upload_path

log = logging.getLogger(__name__)

#: Default upload size limit: 2 GiB.
DEFAULT_MAX_UPLOAD_BYTES = 2 << 30

#: Shortest bearer token accepted: 16 characters from a password generator resist guessing.
MIN_TOKEN_LENGTH = 16

#: What --public-url may look like: scheme, host, optional port and path; no query, no user.
_PUBLIC_URL = re.compile(
    r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?(?:/[A-Za-z0-9._~/-]*)?$"
)

#: Largest max_audio_hours accepted: a day of audio is 5.5 GB of samples already.
MAX_AUDIO_HOURS_CEILING = 24.0

#: The four model paths of the Tiyaro protocol.
PROTOCOL_ROUTES = ("whisper-tiny", "whisper-small", "whisper-medium", "whisper-large")

#: Seconds start() waits for uvicorn to listen before giving up.
START_TIMEOUT_SECONDS = 30.0

#: Seconds between checks while waiting for uvicorn or for a stop signal.
WAIT_STEP_SECONDS = 0.05

#: Pending connections the kernel queues before refusing more (uvicorn's default).
LISTEN_BACKLOG = 2048

#: Loggers that can repeat one line per connection or per accept; each line is kept to one
#: per condition and minute.
_NOISY_LOGGERS = ("asyncio", "uvicorn.error", "dropscribe.server.connections")

# Long enough for a daemon profile's own model path, profile-<name of up to 64 characters>.
_ROUTE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

#: Hosts that listen everywhere; clients on this machine reach them through loopback.
_WILDCARD_HOSTS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


@dataclass(frozen=True)
class Assembly:
    """The parts behind the HTTP layer: the service, and how to start and stop the rest."""

    service: ApiService
    start: Callable[[], None]
    stop: Callable[[float], None]


@dataclass(frozen=True)
class ServerOptions:
    """Everything the embedded server needs; validated when built (ValueError if wrong).

    ``min_coverage`` is the share of a recording's speech a transcript must cover to be
    complete (below it the engine tries its other strategy once). ``model`` None means the
    bundled tiny.en; ``model_map`` sends model paths (e.g.
    ``whisper-large``) to other faster-whisper model names or folders; paths it leaves out use
    ``model``. ``presign_secret`` None means a secret generated once and kept in ``data_dir``.
    ``public_url`` (e.g. ``https://asr.example.org``) is the base of every URL the server
    issues, for a server behind a reverse proxy; None means the request's own base URL.
    ``tls_cert`` and ``tls_key`` (PEM files, both or neither) make the server speak HTTPS.
    Uploads and finished jobs are kept ``retention_hours``; ``keep_finished_uploads`` False
    deletes a job's upload as soon as the job has finished (its result stays for polls), for a
    client that keeps the recording itself, as the daemon does.
    """

    data_dir: Path
    _: KW_ONLY
    host: str = "127.0.0.1"
    port: int = 0
    token: str
    model: str | None = None
    workers: int = 1
    model_map: Mapping[str, str] | None = None
    presign_secret: bytes | None = None
    presign_ttl_seconds: float = 900
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    retention_hours: float = 72
    keep_finished_uploads: bool = True
    public_url: str | None = None
    max_audio_hours: float = DEFAULT_MAX_AUDIO_HOURS
    tls_cert: Path | None = None
    tls_key: Path | None = None
    min_coverage: float = DEFAULT_MIN_COVERAGE
    broker: str | None = None
    storage: str | None = None

    def __post_init__(self) -> None:
        problem = options_problem(self)
        if problem is not None:
            raise ValueError(problem)


def options_problem(options: ServerOptions) -> str | None:
    """Return what is wrong with the options, or None when they are usable."""
    checks = (
        (not options.token, "a bearer token is required"),
        (
            len(options.token) < MIN_TOKEN_LENGTH,
            f"the bearer token must be at least {MIN_TOKEN_LENGTH} characters long",
        ),
        ((options.tls_cert is None) != (options.tls_key is None), "give both TLS cert and key"),
        (
            options.public_url is not None and not _PUBLIC_URL.match(options.public_url),
            f"public_url {options.public_url!r} is not an http(s)://host[:port][/path] URL",
        ),
        (not 0 <= options.port <= 65535, f"port {options.port} is not 0..65535"),
        (
            options.workers < (0 if options.broker else 1),
            f"workers must be at least {0 if options.broker else 1}, not {options.workers}",
        ),
        ((options.broker is None) != (options.storage is None), "give both broker and storage"),
        (options.presign_ttl_seconds <= 0, "presign_ttl_seconds must be positive"),
        (options.max_upload_bytes <= 0, "max_upload_bytes must be positive"),
        (options.retention_hours <= 0, "retention_hours must be positive"),
        (options.presign_secret == b"", "presign_secret must not be empty"),
        (
            not 0 < options.max_audio_hours <= MAX_AUDIO_HOURS_CEILING,
            f"max_audio_hours must be above 0 and at most {MAX_AUDIO_HOURS_CEILING}",
        ),
        (not 0 <= options.min_coverage <= 1, "min_coverage must be between 0 and 1"),
    )
    for failed, message in checks:
        if failed:
            return message
    bad = [name for name in options.model_map or {} if not _ROUTE_NAME.match(name)]
    if bad:
        return f"model_map has unusable model names: {bad}"
    return scale_out_problem(options)


def scale_out_problem(options: ServerOptions) -> str | None:
    """Return what is wrong with ``broker`` and ``storage``, or None when usable or absent."""
    try:
        if options.broker is not None:
            broker_url(options.broker)
        if options.storage is not None:
            storage_location(options.storage)
    except ValueError as exc:
        return str(exc)
    return None


def route_specs(options: ServerOptions) -> dict[str, str]:
    """Return which model spec serves each model path."""
    default = options.model or BUNDLED_MODEL
    return {route: default for route in PROTOCOL_ROUTES} | dict(options.model_map or {})


def route_labels(options: ServerOptions, engine: Engine) -> tuple[dict[str, str], str]:
    """Return the model name each path reports, and the default model's name."""
    labels = {route: engine.label(spec) for route, spec in route_specs(options).items()}
    return labels, engine.label(options.model or BUNDLED_MODEL)


def distinct_specs(specs: Mapping[str, str]) -> list[str]:
    """Given the path -> model spec mapping, return each spec once, in first-use order."""
    return list(dict.fromkeys(specs.values()))


def failure_logger(store: JobStore) -> Callable[[str], None]:
    """Return a job-finished listener that logs the error of every job that failed."""

    def log_if_failed(job_id: str) -> None:
        job = store.get(job_id)
        if job is not None and job.status is JobStatus.FAILED:
            log.warning("job %s (%s) failed: %s", job_id, job.route, job.error)

    return log_if_failed


def upload_remover(store: JobStore, stored: Callable[[str, str], Path]) -> Callable[[str], None]:
    """Return a job-finished listener that deletes the finished job's upload file.

    The upload's record stays, so a submit replayed with the job's Idempotency-Key still
    finds its job; only an unfinished job is ever run again, and it keeps its file.
    """

    def remove_upload(job_id: str) -> None:
        job = store.get(job_id)
        if job is None or not job.status.is_terminal:
            return
        upload = store.find_upload(job.upload_id)
        if upload is not None:
            stored(upload.upload_id, upload.extension).unlink(missing_ok=True)

    return remove_upload


def base_url_for(host: str, port: int, scheme: str = "http") -> str:
    """Return the URL a local client uses to reach a server bound to host:port."""
    reachable = _WILDCARD_HOSTS.get(host, host)
    shown = f"[{reachable}]" if ":" in reachable else reachable
    return f"{scheme}://{shown}:{port}"


def bind_socket(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on host:port (port 0: an ephemeral one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then
    # (socket.create_server leaves proto 0), and without it every keep-alive response stalls
    # 40 ms in Nagle's algorithm waiting for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


#: Builds the parts behind the routes from the options, the engine, the clock and the
#: finished-job callback (the scale-out front end is one).
Assembler = Callable[
    [ServerOptions, Engine, Callable[[], float], Callable[[str], None] | None], Assembly
]


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
            max(1, options.workers), options.min_coverage, max_audio_hours=options.max_audio_hours
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
            return self._assemble_local()
        if self._scale_out is None:
            raise ValueError("broker and storage need the scale-out front end to assemble them")
        return self._scale_out(self._options, self._engine, self._clock, self._on_finished)

    def _assemble_local(self) -> Assembly:
        opts = self._options
        private_folder(opts.data_dir)
        uploads_dir = private_folder(opts.data_dir / "uploads")
        remove_drafts(uploads_dir)
        secret = opts.presign_secret or load_or_create_secret(opts.data_dir)
        store = JobStore(opts.data_dir)
        specs = route_specs(opts)

        def stored(upload_id: str, extension: str) -> Path:
            return upload_path(uploads_dir, upload_id, extension)

        listeners: list[Callable[[str], None]] = [failure_logger(store)]
        if not opts.keep_finished_uploads:
            listeners.append(upload_remover(store, stored))

        def finished(job_id: str) -> None:
            for listener in listeners:
                listener(job_id)

        meter = EngineMeter(METRIC_PREFIX)
        pool = EnginePool(
            store, self._engine, specs, stored, opts.workers, self._clock, finished, meter
        )
        meter.watch_queue(pool.queue_depth)
        retention = opts.retention_hours * 3600
        sweeper = RetentionSweeper(store, uploads_dir, retention, self._clock)
        presigner = Presigner(secret, opts.presign_ttl_seconds, self._clock)
        uploads = LocalUploads(store, presigner, uploads_dir, self._clock)
        labels, default_label = route_labels(opts, self._engine)
        service = ApiService(store, pool, uploads, labels, default_label, self._clock, meter=meter)
        listeners.append(service.job_finished)
        if self._on_finished is not None:
            listeners.append(self._on_finished)

        def start() -> None:
            pool.start()
            sweeper.start()

        def stop(timeout: float) -> None:
            # The workers first, whose unfinished job returns to pending; the DB goes last
            # because every other part writes to it.
            pool.stop(timeout)
            sweeper.stop(timeout)
            store.close()

        return Assembly(service, start, stop)

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
