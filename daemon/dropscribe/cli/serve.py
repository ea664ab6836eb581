"""``dropscribe serve``: the embedded API server on its own.

:func:`add_arguments` gives the ``serve`` subparser its options; :func:`run` serves from the
parsed arguments and returns an exit code, leaving the process exit to cli.main.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from dropscribe.cli.exit_codes import EXIT_CONFIG, EXIT_OK
from dropscribe.engine.errors import EngineError
from dropscribe.engine.pieces import PIECE_SECONDS
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS
from dropscribe.server.embedded import Assembler, ServerOptions, serve_forever

#: Environment variable holding the bearer token when --token is not given.
TOKEN_ENV = "DROPSCRIBE_SERVE_TOKEN"

#: Printed when the token came from the command line, which every local user can read.
TOKEN_IN_PS_WARNING = (
    f"dropscribe serve: warning: --token is visible to every user of this machine (ps, "
    f"/proc); pass it in ${TOKEN_ENV} or with --token-file instead"
)


def add_arguments(cli: argparse.ArgumentParser) -> None:
    """Describe ``dropscribe serve`` in its subparser ``cli`` and add its options."""
    cli.description = "Serve the Tiyaro-compatible async transcription API on this machine."
    cli.epilog = (
        "Uploads and finished jobs (with their transcripts) are kept 72 hours, then "
        "deleted; an unfinished job keeps its upload. API documentation: /docs."
    )
    cli.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    cli.add_argument("--port", type=int, default=8750, help="TCP port (0: any free port)")
    cli.add_argument(
        "--data-dir", type=Path, default=Path("dropscribe-serve"), help="jobs, uploads, secret"
    )
    cli.add_argument(
        "--token",
        help=f"bearer token clients must send; visible in ps, so prefer env {TOKEN_ENV} or "
        "--token-file",
    )
    cli.add_argument(
        "--token-file",
        type=Path,
        help="file holding the token (e.g. a systemd credential); wins over --token",
    )
    cli.add_argument(
        "--model",
        help="faster-whisper model name or folder that every model path serves (default: the "
        "bundled tiny.en weights)",
    )
    cli.add_argument(
        "--route",
        action="append",
        type=route_argument,
        default=[],
        metavar="PATH=MODEL",
        help="serve a model path (e.g. whisper-large) with another model (e.g. large-v3, a "
        "folder, or 'bundled'); repeatable; paths not named serve --model. All four "
        "whisper-tiny/-small/-medium/-large paths serve --model unless routed",
    )
    cli.add_argument(
        "--workers",
        type=int,
        default=1,
        help="engine worker threads (with --broker: in this process, beside the front end; "
        "0 for a front end alone)",
    )
    cli.add_argument(
        "--broker",
        help="scale out: keep jobs in this Redis (redis://HOST:PORT/DB) and queue them for "
        "`dropscribe worker`s; needs --storage (README: Scaling out)",
    )
    cli.add_argument(
        "--storage",
        help="scale out: uploads go straight to this bucket (s3://BUCKET/PREFIX); endpoint "
        "and credentials from the AWS_* variables",
    )
    cli.add_argument(
        "--public-url",
        help="base of the URLs the server issues, when it is reached through a reverse proxy "
        "(e.g. https://asr.example.org); default: the URL each request came to",
    )
    cli.add_argument("--tls-cert", type=Path, help="PEM certificate: serve HTTPS (with --tls-key)")
    cli.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    cli.add_argument(
        "--max-audio-hours",
        type=float,
        default=DEFAULT_MAX_AUDIO_HOURS,
        help=f"refuse longer recordings (default: {DEFAULT_MAX_AUDIO_HOURS:g})",
    )
    cli.add_argument(
        "--piece-seconds",
        type=float,
        default=PIECE_SECONDS,
        help="transcribe long recordings in pieces of about this many seconds, each kept as "
        f"a checkpoint (default: {PIECE_SECONDS:g})",
    )


def route_argument(text: str) -> tuple[str, str]:
    """Given ``PATH=MODEL``, return (path, model). Raise ArgumentTypeError if a side is empty."""
    path, equals, model = text.partition("=")
    if not equals or not path.strip() or not model.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not PATH=MODEL (e.g. whisper-large=small)")
    return path.strip(), model.strip()


def options_from(args: argparse.Namespace) -> ServerOptions:
    """Given parsed arguments, return validated ServerOptions. Raise ValueError if unusable."""
    token = read_token_file(args.token_file) if args.token_file else ""
    token = token or args.token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise ValueError(f"a bearer token is required: pass --token or set {TOKEN_ENV}")
    return ServerOptions(
        args.data_dir,
        host=args.host,
        port=args.port,
        token=token,
        model=args.model,
        model_map=dict(args.route),
        workers=args.workers,
        max_audio_hours=args.max_audio_hours,
        piece_seconds=args.piece_seconds,
        public_url=args.public_url,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        broker=args.broker,
        storage=args.storage,
    )


def read_token_file(path: Path) -> str:
    """Return the stripped content of a token file. Raise ValueError if it cannot be read."""
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file {path}: {exc}") from None


def scale_out_assembler(options: ServerOptions) -> Assembler | None:
    """Return the scale-out front end's assembler when the options name a broker, else None."""
    if options.broker is None:
        return None
    # Imported here: the scale-out libraries are an optional extra.
    from dropscribe.scaleout.frontend import assemble_front_end

    return assemble_front_end


def run(args: argparse.Namespace) -> int:
    """Run the server until SIGINT/SIGTERM; return 0, or 78 (EX_CONFIG) for bad options or a
    served model that cannot be loaded."""
    try:
        options = options_from(args)
    except ValueError as exc:
        print(f"dropscribe serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.token and not args.token_file:
        print(TOKEN_IN_PS_WARNING, file=sys.stderr)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        serve_forever(options, scale_out_assembler(options))
    except EngineError as exc:
        print(f"dropscribe serve: not starting: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return EXIT_OK
