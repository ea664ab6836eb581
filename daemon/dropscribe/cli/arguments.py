"""The command line's one parser tree: the top parser and a subparser for every subcommand.

``serve`` and ``worker`` add their own options (:func:`dropscribe.cli.serve.add_arguments`,
:func:`dropscribe.cli.worker.add_arguments`), and only when they are the command given: their
modules import the engine (about 55 MB) and the optional scale-out libraries, which the other
commands do without, and ``dropscribe --help`` shows only their help lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from dropscribe import __version__
from dropscribe.cli.exit_codes import EXIT_USAGE

SYSTEM_CONFIG = "/etc/dropscribe/config.yaml"  # where the Debian package installs it
DEFAULT_CONFIG = Path(os.environ.get("DROPSCRIBE_CONFIG", SYSTEM_CONFIG))
LOG_FORMAT_HELP = (
    "how printed events look: console (columns, for a person), json (one object a line), "
    "or auto: console on a terminal, else json (default: auto); audit.jsonl is always json"
)


class _Parser(argparse.ArgumentParser):
    """argparse, but wrong arguments exit with EX_USAGE rather than argparse's 2."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


if TYPE_CHECKING:  # argparse's subparsers action is generic only to type checkers
    Subcommands = argparse._SubParsersAction[_Parser]


def parse(words: Sequence[str]) -> argparse.Namespace:
    """Given the command line's words, return its arguments (``command``: the subcommand).

    Exit with EX_USAGE, after the usage and the error, if they are wrong; with 0 after
    ``--help`` or ``--version``.
    """
    parser = _Parser(prog="dropscribe", description="Unattended transcription of a watch folder.")
    parser.add_argument("--version", action="version", version=f"dropscribe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_daemon_commands(sub)
    _add_transcribe(sub)
    _add_models(sub)
    owner = _add_server_commands(sub, words[0] if words else "")
    args, leftovers = parser.parse_known_args(words)
    if leftovers:
        # serve and worker refuse a word they do not know with their own usage, as when they
        # had a parser of their own; for the other commands the top parser refuses it.
        (owner or parser).error(f"unrecognized arguments: {' '.join(leftovers)}")
    return args


def _with_config(sub: Subcommands, name: str, text: str) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` and its -c/--config option; return its parser."""
    p = sub.add_parser(name, help=text, description=text)
    _add_config(p)
    return p


def _add_config(p: argparse.ArgumentParser) -> None:
    """Add the -c/--config option of a subcommand that works on the configured folders."""
    p.add_argument(
        "-c",
        "--config",
        type=Path,
        default=DEFAULT_CONFIG,
        help=f"YAML file (default: {DEFAULT_CONFIG}; $DROPSCRIBE_CONFIG, if set, "
        f"replaces {SYSTEM_CONFIG})",
    )


def _add_daemon_commands(sub: Subcommands) -> None:
    """Add the subcommands that work on the configured folders: run, once, status, retry,
    acknowledge and check-config."""
    run = _with_config(sub, "run", "run the daemon until SIGTERM")
    run.add_argument(
        "--log-format", choices=["auto", "json", "console"], default="auto", help=LOG_FORMAT_HELP
    )
    once = _with_config(sub, "once", "process what is in the inbox now, wait for it, exit")
    once.add_argument(
        "--log-format", choices=["auto", "json", "console"], default="auto", help=LOG_FORMAT_HELP
    )
    status = _with_config(sub, "status", "show counts per state, jobs in flight, recent failures")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    retry = _with_config(sub, "retry", "requeue failed jobs")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?", help="a job id (or a unique prefix)")
    target.add_argument("--all-failed", action="store_true", help="every failed job")
    ack_text = "stop listing an incomplete transcript in status: it has been seen to"
    ack = sub.add_parser("acknowledge", aliases=["ack"], help=ack_text, description=ack_text)
    _add_config(ack)
    seen = ack.add_mutually_exclusive_group(required=True)
    seen.add_argument(
        "job_id", nargs="?", help="a job id (or a unique prefix), or the recording's source"
    )
    seen.add_argument(
        "--all-incomplete", action="store_true", help="every incomplete transcript listed"
    )
    _with_config(sub, "check-config", "validate the configuration and print every problem")


def _add_transcribe(sub: Subcommands) -> None:
    """Add ``transcribe``: files through the daemon's steps in the foreground."""
    tr_text = "transcribe files in the foreground and print the text"
    tr = sub.add_parser(
        "transcribe",
        help=tr_text,
        description=f"{tr_text}. Each file goes through the daemon's steps (inspection, upload, "
        "submission, polling) in a temporary folder; nothing of the configured inbox, outbox "
        "or state is touched. Without -c the embedded engine with the bundled model is used.",
    )
    tr.add_argument("files", nargs="+", type=Path, metavar="FILE")
    tr.add_argument(
        "-c",
        "--config",
        type=Path,
        default=None,
        help="YAML file (optional; its folders are not needed)",
    )
    tr.add_argument("--language", help="a Whisper language code, e.g. en or de (default: en)")
    tr.add_argument("--model", help="the embedded engine's model, e.g. small.en")
    tr.add_argument(
        "--format",
        choices=["txt", "json", "srt", "vtt"],
        default="txt",
        dest="output_format",
        help="what to print (default: txt)",
    )


def _add_models(sub: Subcommands) -> None:
    """Add ``models``: the configured and cached models, and pulling one."""
    models = sub.add_parser("models", help="list the configured and cached models; pull one")
    models.add_argument("-c", "--config", type=Path, default=None, help="YAML file (optional)")
    models.add_argument("action", nargs="?", choices=["pull"], help="fetch NAME into the cache")
    models.add_argument("name", nargs="?", help="a faster-whisper model name, e.g. small.en")


def _add_server_commands(sub: Subcommands, command: str) -> argparse.ArgumentParser | None:
    """Add ``serve`` and ``worker``; give the one that is ``command`` its options, and return
    its parser (None when the command is another)."""
    serve = sub.add_parser(
        "serve", help="run the embedded API server (see `dropscribe serve --help`)"
    )
    worker = sub.add_parser(
        "worker", help="run scale-out engine workers (see `dropscribe worker --help`)"
    )
    if command == "serve":
        from dropscribe.cli import serve as serve_command

        serve_command.add_arguments(serve)
        return serve
    if command == "worker":
        from dropscribe.cli import worker as worker_command

        worker_command.add_arguments(worker)
        return worker
    return None
