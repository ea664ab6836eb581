"""``dropscribe worker``: engine workers taking jobs from the shared queue.

:func:`add_arguments` gives the ``worker`` subparser its options; :func:`run` runs the workers
from the parsed arguments and returns an exit code, leaving the process exit to cli.main.
The scale-out libraries (the ``scale`` extra) are imported only to run (``cli.worker_node``),
so ``--help`` and the option checks work without them.
"""

from __future__ import annotations

import argparse
import os
import signal
import threading
from collections.abc import Mapping
from types import FrameType

from dropscribe.cli import plain_log, scale_secrets
from dropscribe.cli.exit_codes import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PORT_TAKEN,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from dropscribe.cli.scale_extra import missing_extra
from dropscribe.cli.worker_options import WorkerOptions
from dropscribe.core.errors import CannotListen
from dropscribe.core.redaction import Redactor
from dropscribe.engine.errors import EngineError
from dropscribe.engine.models import BUNDLED_MODEL
from dropscribe.engine.pieces import MAX_PIECE_SECONDS, MIN_PIECE_SECONDS, PIECE_SECONDS
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS
from dropscribe.server.locations import broker_url, storage_location
from dropscribe.server.options import DEFAULT_MAX_UPLOAD_BYTES

COMMAND = "worker"

#: Default port of a worker's /healthz and /metrics (the front end's default is 8750).
DEFAULT_HEALTH_PORT = 8751

#: What a person reads when no source names the broker.
NO_BROKER = (
    "no broker: pass --broker-file FILE (or --broker URL), set "
    f"${scale_secrets.BROKER_ENV}, or give systemd's LoadCredential="
    f"{scale_secrets.BROKER_CREDENTIAL}:FILE"
)


class NoBroker(ValueError):
    """No source names the broker: a usage error."""


def add_arguments(cli: argparse.ArgumentParser) -> None:
    """Describe ``dropscribe worker`` in its subparser ``cli`` and add its options."""
    cli.description = (
        "Run engine workers that take jobs from the scale-out queue (README: Scaling out)."
    )
    cli.add_argument(
        "--broker",
        help="the shared Redis: redis://HOST:PORT/DB; a URL with a password is visible in ps, so "
        "prefer --broker-file, $DROPSCRIBE_BROKER_URL or the credential broker_url",
    )
    cli.add_argument(
        "--storage",
        required=True,
        help="the bucket uploads are in: s3://BUCKET/PREFIX (endpoint from AWS_ENDPOINT_URL; the "
        "keys: --s3-credentials-file)",
    )
    scale_secrets.add_arguments(cli)
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


def options_from(
    args: argparse.Namespace, env: Mapping[str, str]
) -> tuple[WorkerOptions, scale_secrets.BrokerSource]:
    """Given parsed arguments and the environment, return checked WorkerOptions and where the
    broker URL came from. Raise ValueError if unusable; NoBroker if no source names a broker."""
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
    broker = scale_secrets.find_broker(args.broker, args.broker_file, env)
    if broker is None:
        raise NoBroker(NO_BROKER)
    keys = scale_secrets.find_storage_keys(args.s3_credentials_file, env)
    models = tuple(BUNDLED_MODEL if m == "bundled" else m for m in args.model) or (BUNDLED_MODEL,)
    options = WorkerOptions(
        broker_url(broker.url), storage_location(args.storage), args.workers, models,
        args.retention_hours, args.health_host, args.health_port, args.max_audio_hours,
        args.piece_seconds, args.max_upload_bytes, keys,
    )  # fmt: skip
    return options, broker


def run(args: argparse.Namespace) -> int:
    """Run the worker until SIGINT/SIGTERM; return 0, 64 (EX_USAGE) without a broker, 78
    (EX_CONFIG) for bad options or a model that cannot be loaded, 69 (EX_UNAVAILABLE) without
    the scale extra or for a health address not usable here, 75 (EX_TEMPFAIL) for a health port
    another process has. A second signal ends the process at once, which loses nothing: the job
    it ran is delivered again."""
    redactor = Redactor()
    try:
        options, broker = options_from(args, os.environ)
    except NoBroker as exc:
        plain_log.say(redactor, COMMAND, str(exc))
        return EXIT_USAGE
    except ValueError as exc:
        plain_log.say(redactor, COMMAND, str(exc))
        return EXIT_CONFIG
    scale_secrets.hide(redactor, options.broker, options.storage_keys)
    if broker.shows_password:
        plain_log.say(redactor, COMMAND, scale_secrets.BROKER_IN_PS_WARNING)
    try:
        from dropscribe.cli.worker_node import run_worker
    except ModuleNotFoundError as exc:
        plain_log.say(redactor, COMMAND, missing_extra(exc))
        return EXIT_UNAVAILABLE
    plain_log.configure(redactor)
    try:
        run_worker(options, _stop_on_signals())
    except EngineError as exc:
        plain_log.say(redactor, COMMAND, f"not starting: {exc}")
        return EXIT_CONFIG
    except CannotListen as exc:
        hint = (
            "stop what uses it, or pass another --health-port"
            if exc.in_use
            else "check --health-host"
        )
        plain_log.say(redactor, COMMAND, f"/healthz: {exc}; {hint}")
        return EXIT_PORT_TAKEN if exc.in_use else EXIT_UNAVAILABLE
    return EXIT_OK


def _stop_on_signals() -> threading.Event:
    """Return an Event that the first SIGINT/SIGTERM sets; the second ends the process."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    return stop
