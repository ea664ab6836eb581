"""The composition root: subcommands, exit codes, logging setup; builds everything.

Only this module calls ``sys.exit``. Commands::

    dropscribe run -c CONFIG             the daemon (systemd Type=notify)
    dropscribe once -c CONFIG            process the inbox as it is now, then exit
    dropscribe status -c CONFIG [--json] counts per state, jobs in flight, recent failures
    dropscribe retry -c CONFIG JOB_ID|--all-failed
    dropscribe check-config -c CONFIG    validate and print every problem
    dropscribe transcribe FILE...        one-shot in the foreground, for trying it out
    dropscribe models [-c CONFIG]        the configured model and the models in the cache
    dropscribe models pull NAME          fetch a model ahead, for a host that will be offline
    dropscribe serve ...                 the embedded API server on its own
    dropscribe worker ...                scale-out engine workers (README: Scaling out)

``-c`` defaults to ``$DROPSCRIBE_CONFIG``, else ``/etc/dropscribe/config.yaml``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from dropscribe import __version__, audit
from dropscribe.app import AlreadyRunning, commands
from dropscribe.cli.progress import ProgressBar
from dropscribe.config import Settings, language_model_problem, language_problem, load_config
from dropscribe.core.errors import ConfigError
from dropscribe.core.redaction import Redactor

# Exit codes, from sysexits.h where one fits.
EXIT_OK = 0
EXIT_JOBS_FAILED = 1  # `once`/`transcribe`: at least one recording failed
EXIT_USAGE = 64  # EX_USAGE: wrong arguments
EXIT_NOT_RETRYABLE = 65  # EX_DATAERR: `retry` named jobs that exist but cannot be requeued
EXIT_NOT_FOUND = 66  # EX_NOINPUT: no such job or file
EXIT_UNAVAILABLE = 69  # EX_UNAVAILABLE: a model could not be fetched
EXIT_SOFTWARE = 70  # EX_SOFTWARE: an internal error
EXIT_LOCKED = 75  # EX_TEMPFAIL: another run/once/transcribe holds the state folder
EXIT_CONFIG = 78  # EX_CONFIG: a bad configuration; systemd does not restart on it
EXIT_HARD_STOP = 130  # stopped at once by a second signal; the state is still consistent
EXIT_CLOSED_PIPE = 141  # 128 + SIGPIPE: the reader of our output went away (`status | head`)
ARGPARSE_USAGE = 2  # what argparse exits with on wrong arguments

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


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every subcommand."""
    parser = _Parser(prog="dropscribe", description="Unattended transcription of a watch folder.")
    parser.add_argument("--version", action="version", version=f"dropscribe {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument(
            "-c",
            "--config",
            type=Path,
            default=DEFAULT_CONFIG,
            help=f"YAML file (default: {DEFAULT_CONFIG}; $DROPSCRIBE_CONFIG, if set, "
            f"replaces {SYSTEM_CONFIG})",
        )
        return p

    run = with_config("run", "run the daemon until SIGTERM")
    run.add_argument(
        "--log-format", choices=["auto", "json", "console"], default="auto", help=LOG_FORMAT_HELP
    )
    once = with_config("once", "process what is in the inbox now, wait for it, exit")
    once.add_argument(
        "--log-format", choices=["auto", "json", "console"], default="auto", help=LOG_FORMAT_HELP
    )
    status = with_config("status", "show counts per state, jobs in flight, recent failures")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    retry = with_config("retry", "requeue failed jobs")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("job_id", nargs="?", help="a job id (or a unique prefix)")
    target.add_argument("--all-failed", action="store_true", help="every failed job")
    with_config("check-config", "validate the configuration and print every problem")
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
    models = sub.add_parser("models", help="list the configured and cached models; pull one")
    models.add_argument("-c", "--config", type=Path, default=None, help="YAML file (optional)")
    models.add_argument("action", nargs="?", choices=["pull"], help="fetch NAME into the cache")
    models.add_argument("name", nargs="?", help="a faster-whisper model name, e.g. small.en")
    # Listed for --help only: main() hands `serve` to the server's own parser.
    sub.add_parser("serve", help="run the embedded API server (see `dropscribe serve --help`)")
    # Listed for --help only, like serve: main() hands `worker` to its own parser.
    sub.add_parser("worker", help="run scale-out engine workers (see `dropscribe worker --help`)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Run the command line and exit with its code; a closed output pipe ends it quietly."""
    try:
        try:
            code = _main(list(sys.argv[1:] if argv is None else argv))
        finally:
            # Flushed here (also after --help), so a closed pipe shows up inside the try,
            # not at interpreter exit.
            sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = EXIT_CLOSED_PIPE
    _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    """Exit at once, skipping the interpreter's teardown.

    Every command has stopped its threads, committed its state and closed its audit file before
    it returns; what the teardown would still do is free the loaded model and the inference
    libraries one object at a time, which took a third of a second after ``once`` had finished.
    Whatever is still buffered is flushed here first. A thread still in a step after a timed-out
    drain ends as it would at a crash, which the state file is built for.
    """
    audit.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A reader that left, or a closed stream: nothing more can reach it.
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()
    os._exit(code)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush of what is still buffered
    does not hit the closed pipe again (the recipe in Python's signal documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _main(words: list[str]) -> int:
    """Run the command in ``words``; return its exit code."""
    if words[:1] == ["serve"]:
        # The server has its own parser (shared with `python -m dropscribe.server`). Imported
        # here: the engine's libraries cost ~55 MB that the other commands do without.
        from dropscribe.cli.serve import main as serve_main

        return _usage_exit(serve_main, words[1:])
    if words[:1] == ["worker"]:
        # Imported here: the scale-out libraries are the optional `scale` extra.
        from dropscribe.cli.worker import main as worker_main

        return _usage_exit(worker_main, words[1:])
    args = build_parser().parse_args(words)
    return dispatch(args)


def _usage_exit(command: Callable[[list[str]], int], argv: list[str]) -> int:
    """Run ``command(argv)``; return its code, with argparse's 2 for wrong arguments turned
    into EX_USAGE, as for the other commands."""
    try:
        return command(argv)
    except SystemExit as exc:
        if exc.code == ARGPARSE_USAGE:
            return EXIT_USAGE
        raise


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; return its exit code."""
    if args.command == "transcribe":
        return _transcribe(args)
    if args.command == "models":
        return _models(args)
    try:
        settings = load_config(args.config)
    except ConfigError as exc:
        _print_problems(exc, sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(f"{args.config}: ok", file=sys.stdout)
        return EXIT_OK
    try:
        if args.command == "status":
            return _status(settings, as_json=args.json)
        if args.command == "retry":
            return _retry(settings, args.job_id, args.all_failed)
    except ConfigError as exc:  # a state file from a newer dropscribe
        _print_problems(exc, sys.stderr)
        return EXIT_CONFIG
    return _serve_daemon(settings, args.command, args.log_format)


def _models(args: argparse.Namespace) -> int:
    from dropscribe.cli.models import list_models, pull_model
    from dropscribe.engine.models import ModelError

    if args.action == "pull":
        if not args.name:
            print("dropscribe: models pull needs a model NAME", file=sys.stderr)
            return EXIT_USAGE
        try:
            pull_model(args.name, sys.stdout)
        except ModelError as exc:
            print(f"dropscribe: {exc}", file=sys.stderr)
            return EXIT_UNAVAILABLE
        return EXIT_OK
    try:
        settings = load_config(args.config) if args.config else Settings()
    except ConfigError as exc:
        _print_problems(exc, sys.stderr)
        return EXIT_CONFIG
    list_models(settings, sys.stdout)
    return EXIT_OK


def _print_problems(exc: ConfigError, out: TextIO) -> None:
    print(f"dropscribe: the configuration has {len(exc.problems)} problem(s):", file=out)
    for problem in exc.problems:
        print(f"  - {problem}", file=out)


def _redactor_for(settings: Settings | None) -> Redactor:
    redactor = Redactor()
    if settings is not None and settings.api_key is not None:
        redactor.add(settings.api_key.get_secret_value())
    return redactor


def _serve_daemon(settings: Settings, command: str, log_format: str) -> int:
    redactor = _redactor_for(settings)
    bar = ProgressBar(sys.stderr) if command == "once" and sys.stderr.isatty() else None
    try:
        _configure_audit(settings, redactor, log_format, bar)
    except OSError as exc:
        # Restarting cannot fix a folder we may not write: a configuration problem.
        print(f"dropscribe: cannot write the audit trail: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        if command == "once":
            return commands.once(settings, redactor, None if bar is None else bar.show)
        return commands.run(settings, redactor)
    except ConfigError as exc:
        audit.get_logger().error(audit.Event.CONFIG_INVALID, problems=exc.problems)
        _print_problems(exc, sys.stderr)
        return EXIT_CONFIG
    except AlreadyRunning as exc:
        print(f"dropscribe: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    except commands.HardStop:
        return EXIT_HARD_STOP
    except Exception as exc:  # logged redacted, with its traceback, instead of a raw one
        audit.get_logger().exception(audit.Event.DAEMON_STOPPED, error=str(exc))
        print(
            f"dropscribe: stopped by an internal error: {redactor.text(str(exc))}", file=sys.stderr
        )
        return EXIT_SOFTWARE
    finally:
        if bar is not None:
            bar.close()
        audit.shutdown()


def _configure_audit(
    settings: Settings, redactor: Redactor, log_format: str, bar: ProgressBar | None
) -> None:
    """Send the events to audit.jsonl and stdout; with a progress bar, only warnings and
    errors to the terminal, above the bar (audit.jsonl still gets every event)."""
    log_dir = settings.paths.log_dir
    if bar is None:
        audit.configure(log_dir=log_dir, redactor=redactor, console=log_format)
        return
    audit.configure(
        log_dir=log_dir,
        redactor=redactor,
        console=log_format,
        stream=bar.lines_above(),
        stream_level="warning",
    )


def _status(settings: Settings, *, as_json: bool) -> int:
    report = commands.status_report(settings)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print(commands.format_status(report))
    return EXIT_OK


def _retry(settings: Settings, job_id: str | None, all_failed: bool) -> int:
    redactor = _redactor_for(settings)
    # The requeue events go to audit.jsonl; the terminal gets the summary below, and warnings.
    audit.configure(
        log_dir=settings.paths.log_dir,
        redactor=redactor,
        console="console",
        stream=sys.stderr,
        stream_level="warning",
    )
    try:
        requeued, problems, found = commands.retry(settings, job_id, all_failed=all_failed)
    finally:
        audit.shutdown()
    for line in problems:
        print(f"dropscribe: {line}", file=sys.stderr)
    print(f"requeued {len(requeued)} job(s): {' '.join(requeued)}".rstrip(": "))
    if not found:
        return EXIT_NOT_FOUND
    if problems and not requeued:
        return EXIT_NOT_RETRYABLE
    return EXIT_OK


def _transcribe(args: argparse.Namespace) -> int:
    try:
        settings = load_config(args.config, folders=False) if args.config else None
    except ConfigError as exc:
        _print_problems(exc, sys.stderr)
        return EXIT_CONFIG
    language = args.language.strip().lower() if args.language else None
    problem = language_problem(language) if language else None
    if problem is not None:
        print(f"dropscribe: --language: {problem}", file=sys.stderr)
        return EXIT_USAGE
    settings = _with_options(settings, language, args.model)
    mismatch = language_model_problem(settings)
    if mismatch is not None:
        print(f"dropscribe: --language/--model: {mismatch}", file=sys.stderr)
        return EXIT_USAGE
    redactor = _redactor_for(settings)
    present = [f for f in args.files if f.is_file()]
    for path in args.files:
        if path not in present:
            print(f"dropscribe: {path}: no such file", file=sys.stderr)
    if not present:
        return EXIT_NOT_FOUND
    audit.configure(
        log_dir=None, redactor=redactor, console="console", stream=sys.stderr, level="warning"
    )
    try:
        failures = commands.transcribe(
            settings, redactor, present, sys.stdout, sys.stderr, args.output_format
        )
    except AlreadyRunning as exc:
        print(f"dropscribe: {exc}", file=sys.stderr)
        return EXIT_LOCKED
    finally:
        audit.shutdown()
    return EXIT_JOBS_FAILED if failures or len(present) < len(args.files) else EXIT_OK


def _with_options(settings: Settings | None, language: str | None, model: str | None) -> Settings:
    """Return the settings (or the defaults) with ``transcribe``'s --language and --model."""
    base = settings or Settings()
    whisper = base.whisper.model_copy(update={"language": language} if language else {})
    embedded = base.embedded.model_copy(update={"model": model} if model else {})
    return base.model_copy(update={"whisper": whisper, "embedded": embedded})
