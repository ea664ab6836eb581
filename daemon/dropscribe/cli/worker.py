"""``dropscribe worker``: engine workers taking jobs from the shared queue.

:func:`add_arguments` gives the ``worker`` subparser its options; :func:`run` runs the workers
from the parsed arguments and returns an exit code, leaving the process exit to cli.main.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from dataclasses import dataclass
from types import FrameType

from dropscribe.cli.exit_codes import EXIT_CONFIG, EXIT_OK
from dropscribe.engine.completeness import DEFAULT_MIN_COVERAGE
from dropscribe.engine.errors import EngineError
from dropscribe.engine.models import BUNDLED_MODEL
from dropscribe.engine.pieces import MAX_PIECE_SECONDS, MIN_PIECE_SECONDS, PIECE_SECONDS, Sizes
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS, WhisperEngine
from dropscribe.scaleout.book import RedisJobBook, connect
from dropscribe.scaleout.health import HealthServer
from dropscribe.scaleout.objects import ObjectStore, s3_client
from dropscribe.scaleout.persistence import persistence_warning
from dropscribe.scaleout.tasks import task_broker
from dropscribe.scaleout.worker import WorkerNode
from dropscribe.server.locations import StorageLocation, broker_url, storage_location
from dropscribe.server.options import DEFAULT_MAX_UPLOAD_BYTES

log = logging.getLogger(__name__)

#: Default port of a worker's /healthz and /metrics (the front end's default is 8750).
DEFAULT_HEALTH_PORT = 8751

#: Seconds a stopping worker waits for its running jobs to hand themselves back.
STOP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class WorkerOptions:
    """Everything ``dropscribe worker`` needs, checked."""

    broker: str
    storage: StorageLocation
    workers: int
    models: tuple[str, ...]
    retention_hours: float
    health_host: str
    health_port: int
    max_audio_hours: float
    piece_seconds: float = PIECE_SECONDS
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES


def add_arguments(cli: argparse.ArgumentParser) -> None:
    """Describe ``dropscribe worker`` in its subparser ``cli`` and add its options."""
    cli.description = (
        "Run engine workers that take jobs from the scale-out queue (README: Scaling out)."
    )
    cli.add_argument("--broker", required=True, help="the shared Redis: redis://HOST:PORT/DB")
    cli.add_argument(
        "--storage",
        required=True,
        help="the bucket uploads are in: s3://BUCKET/PREFIX (endpoint and credentials from the "
        "AWS_* variables)",
    )
    cli.add_argument("--workers", type=int, default=1, help="jobs run at once (default 1)")
    cli.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="SPEC",
        help="a model this worker serves (a faster-whisper name or folder, or 'bundled'); "
        "repeatable; it takes jobs of these models only. Default: the bundled tiny.en",
    )
    cli.add_argument(
        "--retention-hours",
        type=float,
        default=72.0,
        help="uploads in the bucket are deleted this long after their job ended (default 72)",
    )
    cli.add_argument("--health-host", default="127.0.0.1", help="address of /healthz")
    cli.add_argument(
        "--health-port",
        type=int,
        default=DEFAULT_HEALTH_PORT,
        help=f"port of /healthz and /metrics (default {DEFAULT_HEALTH_PORT}; 0: any free port)",
    )
    cli.add_argument(
        "--max-audio-hours",
        type=float,
        default=DEFAULT_MAX_AUDIO_HOURS,
        help=f"refuse longer recordings (default: {DEFAULT_MAX_AUDIO_HOURS:g})",
    )
    cli.add_argument(
        "--max-upload-bytes",
        type=int,
        default=DEFAULT_MAX_UPLOAD_BYTES,
        help="download no larger upload (default: 2 GiB, as the front end's limit; keep the "
        "two equal)",
    )
    cli.add_argument(
        "--piece-seconds",
        type=float,
        default=PIECE_SECONDS,
        help="transcribe long recordings in pieces of about this many seconds, each kept in "
        f"the job book as a checkpoint (default: {PIECE_SECONDS:g})",
    )


def options_from(args: argparse.Namespace) -> WorkerOptions:
    """Given parsed arguments, return checked WorkerOptions. Raise ValueError if unusable."""
    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, not {args.workers}")
    if args.retention_hours <= 0:
        raise ValueError("--retention-hours must be positive")
    if not 0 <= args.health_port <= 65535:
        raise ValueError(f"--health-port {args.health_port} is not 0..65535")
    if args.max_upload_bytes <= 0:
        raise ValueError("--max-upload-bytes must be positive")
    if not MIN_PIECE_SECONDS <= args.piece_seconds <= MAX_PIECE_SECONDS:
        raise ValueError(f"--piece-seconds must be {MIN_PIECE_SECONDS:g} to {MAX_PIECE_SECONDS:g}")
    models = tuple(BUNDLED_MODEL if m == "bundled" else m for m in args.model) or (BUNDLED_MODEL,)
    return WorkerOptions(
        broker_url(args.broker), storage_location(args.storage), args.workers, models,
        args.retention_hours, args.health_host, args.health_port, args.max_audio_hours,
        args.piece_seconds, args.max_upload_bytes,
    )  # fmt: skip


def run_worker(options: WorkerOptions, stop: threading.Event) -> None:
    """Load the models, start the workers and the health endpoint, and run until ``stop``.

    Raise EngineError if a model cannot be loaded.
    """
    engine = WhisperEngine(
        options.workers,
        DEFAULT_MIN_COVERAGE,
        max_audio_hours=options.max_audio_hours,
        sizes=Sizes.of_piece(options.piece_seconds),
    )
    for spec in options.models:
        log.info("dropscribe worker: loading model %s", engine.label(spec))
        engine.model(spec)
    client = connect(options.broker)
    warning = persistence_warning(client)
    if warning is not None:
        log.warning("dropscribe worker: %s", warning)
    book = RedisJobBook(client, options.retention_hours * 3600)
    broker = task_broker(client)
    objects = ObjectStore(s3_client(), options.storage)
    node = WorkerNode(
        broker, book, objects, engine, options.models, options.workers,
        max_download_bytes=options.max_upload_bytes,
    )  # fmt: skip
    health = HealthServer(options.health_host, options.health_port, node.health, node.metrics)
    node.start()
    health.start()
    log.info(
        "dropscribe worker: taking jobs from %s; health on http://%s:%d/healthz",
        ", ".join(node.queues), options.health_host, health.port,
    )  # fmt: skip
    try:
        while not stop.wait(1.0):
            pass
    finally:
        # Reverse order: no more health answers, then the jobs are handed back, then the
        # broker's connections that the workers used go.
        health.stop()
        node.stop(STOP_TIMEOUT_SECONDS)
        broker.close()
        engine.close()


def run(args: argparse.Namespace) -> int:
    """Run the worker until SIGINT/SIGTERM; return 0, or 78 (EX_CONFIG) for bad options or a
    model that cannot be loaded. A second signal ends the process at once, which loses
    nothing: the job it ran is delivered again."""
    try:
        options = options_from(args)
    except ValueError as exc:
        print(f"dropscribe worker: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    try:
        run_worker(options, stop)
    except EngineError as exc:
        print(f"dropscribe worker: not starting: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
