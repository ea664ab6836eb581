"""``dropscribe serve``: the embedded API server on its own.

:func:`add_arguments` gives the ``serve`` subparser its options; :func:`run` serves from the
parsed arguments and returns an exit code, leaving the process exit to cli.main.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path

from dropscribe.cli import plain_log, scale_secrets
from dropscribe.cli.exit_codes import EXIT_CONFIG, EXIT_OK, EXIT_PORT_TAKEN, EXIT_UNAVAILABLE
from dropscribe.cli.scale_extra import missing_extra
from dropscribe.core.errors import CannotListen, ConfigError
from dropscribe.core.redaction import Redactor
from dropscribe.engine.errors import EngineError
from dropscribe.engine.pieces import PIECE_SECONDS
from dropscribe.engine.whisper import DEFAULT_MAX_AUDIO_HOURS
from dropscribe.server.embedded import Assembler, ServerOptions, serve_forever

COMMAND = "serve"

#: Environment variable holding the bearer token when --token is not given.
TOKEN_ENV = "DROPSCRIBE_SERVE_TOKEN"

#: Printed when the token came from the command line, which every local user can read.
TOKEN_IN_PS_WARNING = (
    f"warning: --token is visible to every user of this machine (ps, "
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
        help="scale out (the `scale` extra): keep jobs in this Redis (redis://HOST:PORT/DB) and "
        "queue them for `dropscribe worker`s; needs --storage (README: Scaling out). A URL with "
        "a password is visible in ps: prefer --broker-file",
    )
    cli.add_argument(
        "--storage",
        help="scale out: uploads go straight to this existing bucket (s3://BUCKET/PREFIX); "
        "endpoint from AWS_ENDPOINT_URL, the keys: --s3-credentials-file",
    )
    cli.add_argument(
        "--create-bucket",
        action="store_true",
        help="scale out: create the --storage bucket if it does not exist (without it, a "
        "missing bucket stops the start)",
    )
    scale_secrets.add_arguments(cli)
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


def options_from(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> ServerOptions:
    """Given parsed arguments and the environment (default: this process's), return validated
    ServerOptions. Raise ValueError if unusable."""
    env = os.environ if env is None else env
    token = read_token_file(args.token_file) if args.token_file else ""
    token = token or args.token or env.get(TOKEN_ENV, "")
    if not token:
        raise ValueError(f"a bearer token is required: pass --token or set {TOKEN_ENV}")
    broker = scale_secrets.find_broker(args.broker, args.broker_file, env)
    keys = scale_secrets.find_storage_keys(args.s3_credentials_file, env) if args.storage else None
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
        broker=broker.url if broker else None,
        storage=args.storage,
        storage_keys=keys,
        create_bucket=args.create_bucket,
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
    """Run the server until SIGINT/SIGTERM; return 0, or 78 (EX_CONFIG) for bad options, a
    served model that cannot be loaded or a missing bucket; 69 (EX_UNAVAILABLE) without the
    scale extra or for an address not usable here; 75 (EX_TEMPFAIL) for a port another
    process has."""
    redactor = Redactor()
    try:
        options = options_from(args)
    except ValueError as exc:
        plain_log.say(redactor, COMMAND, str(exc))
        return EXIT_CONFIG
    redactor.add(options.token)
    scale_secrets.hide(redactor, options.broker, options.storage_keys)
    for warning in _warnings(args):
        plain_log.say(redactor, COMMAND, warning)
    try:
        assembler = scale_out_assembler(options)
    except ModuleNotFoundError as exc:
        plain_log.say(redactor, COMMAND, missing_extra(exc))
        return EXIT_UNAVAILABLE
    plain_log.configure(redactor)
    try:
        serve_forever(options, assembler)
    except EngineError as exc:
        plain_log.say(redactor, COMMAND, f"not starting: {exc}")
        return EXIT_CONFIG
    except ConfigError as exc:
        plain_log.say(redactor, COMMAND, f"not starting: {'; '.join(exc.problems)}")
        return EXIT_CONFIG
    except CannotListen as exc:
        hint = "stop what uses it, or pass another --port" if exc.in_use else "check --host"
        plain_log.say(redactor, COMMAND, f"{exc}; {hint}")
        return EXIT_PORT_TAKEN if exc.in_use else EXIT_UNAVAILABLE
    return EXIT_OK


def _warnings(args: argparse.Namespace) -> list[str]:
    """Return the warnings about secrets given on the command line, which ps shows."""
    warnings = [TOKEN_IN_PS_WARNING] if args.token and not args.token_file else []
    if args.broker and not args.broker_file:
        broker = scale_secrets.BrokerSource(args.broker, on_command_line=True)
        warnings += [scale_secrets.BROKER_IN_PS_WARNING] if broker.shows_password else []
    return warnings
