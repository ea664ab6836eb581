"""The command line's entry point: runs the subcommand parsed (cli.arguments), sets up its
logging, and turns what happened into its exit code (cli.exit_codes).

Only the cli package ends the process: here, and argparse in cli.arguments for wrong
arguments, ``--help`` and ``--version``. Commands::

    dropscribe run -c CONFIG             the daemon (systemd Type=notify)
    dropscribe once -c CONFIG            process the inbox as it is now, then exit
    dropscribe status -c CONFIG [--json] counts per state, jobs in flight, recent failures
    dropscribe retry -c CONFIG JOB_ID|--all-failed
    dropscribe acknowledge -c CONFIG JOB_ID|SOURCE|--all-incomplete  (or ack)
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
from collections.abc import Sequence
from typing import NoReturn, TextIO

from dropscribe import audit
from dropscribe.app import AlreadyRunning, commands
from dropscribe.cli import acknowledge
from dropscribe.cli.arguments import parse
from dropscribe.cli.exit_codes import (
    EXIT_CLOSED_PIPE,
    EXIT_CONFIG,
    EXIT_HARD_STOP,
    EXIT_JOBS_FAILED,
    EXIT_LOCKED,
    EXIT_NOT_FOUND,
    EXIT_NOT_RETRYABLE,
    EXIT_OK,
    EXIT_SOFTWARE,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
)
from dropscribe.cli.progress import ProgressBar
from dropscribe.cli.trail import events_to_trail, redactor_for
from dropscribe.config import (
    Settings,
    language_model_problem,
    language_model_warnings,
    language_problem,
    load_config,
)
from dropscribe.core.errors import ConfigError
from dropscribe.core.redaction import Redactor


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
    return dispatch(parse(words))


def dispatch(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; return its exit code."""
    if args.command == "serve":
        # Imported here: the engine's libraries cost ~55 MB that the other commands do without.
        from dropscribe.cli import serve

        return serve.run(args)
    if args.command == "worker":
        # Imported here: the scale-out libraries are the optional `scale` extra.
        from dropscribe.cli import worker

        return worker.run(args)
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
        for warning in language_model_warnings(settings):
            print(f"dropscribe: warning: {warning}", file=sys.stderr)
        print(f"{args.config}: ok", file=sys.stdout)
        return EXIT_OK
    try:
        if args.command == "status":
            return _status(settings, as_json=args.json)
        if args.command == "retry":
            return _retry(settings, args.job_id, args.all_failed)
        if args.command in ("acknowledge", "ack"):
            return acknowledge.run(settings, args.job_id, args.all_incomplete)
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


def _serve_daemon(settings: Settings, command: str, log_format: str) -> int:
    redactor = redactor_for(settings)
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
    with events_to_trail(settings):
        requeued, problems, found = commands.retry(settings, job_id, all_failed=all_failed)
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
    redactor = redactor_for(settings)
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
