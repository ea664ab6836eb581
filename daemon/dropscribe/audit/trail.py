"""The audit trail's set-up: structlog configuration, the audit file and the one redaction step.

This is the only module that configures structlog or the standard library's logging. After
:func:`configure`, every event, from our code or from a library that logs through the stdlib
(requests, urllib3, uvicorn, watchdog), goes through one processor chain and is written twice:
as one JSON line to ``<log_dir>/audit.jsonl`` (appended, flushed per line) and to a stream
(stdout: readable columns on a terminal, JSON lines otherwise, for journald).

One redaction processor, last before rendering, passes every value of every event through the
:class:`~dropscribe.core.redaction.Redactor`: the API key and presigned URL signatures appear in no
line. Tracebacks are formatted into a string *before* that step, so an exception whose message
or frames carry a secret is masked too; stdlib records are rendered by the same chain, so a
urllib3 debug line with a signed URL is masked as well.

The event names and their fields are :mod:`dropscribe.audit.contract`'s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from dropscribe.core.redaction import Redactor

AUDIT_FILE = "audit.jsonl"
# The name of the stdlib logger our own events go through.
LOGGER_NAME = "dropscribe"
LEVELS = ("debug", "info", "warning", "error", "critical")
CONSOLE_MODES = ("auto", "json", "console")
# Libraries chatty at DEBUG/INFO (one line per HTTP request, per file event); their warnings
# still count.
# faster-whisper's INFO lines ("Processing audio with duration ...") name no job: the job's
# own events say what it does.
# Apprise logs each message it sends, with the service's URL; delivery.* events say the same.
NOISY_LOGGERS = ("urllib3", "watchdog", "faster_whisper", "apprise")
# audit.jsonl lists file names and request ids: readable by the service user and its group.
AUDIT_FILE_MODE = 0o640


# Handlers installed by the last configure(), so that the next one or shutdown() can close them.
_installed: list[logging.Handler] = []


class _AuditFileHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to a file it owns and closes it on ``close()`` (StreamHandler never does).

    Each line is appended whole or not at all: a line the disk cannot take (full, failing) is
    dropped and the file cut back to where it was, so the trail never holds half a line and
    a full disk never crashes the thread that logs.
    """

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = (self.format(record) + self.terminator).encode("utf-8", "backslashreplace")
        except Exception:
            self.handleError(record)
            return
        append_whole(self.stream.fileno(), line)

    def close(self) -> None:
        self.acquire()
        try:
            if not self.stream.closed:
                self.stream.flush()
                self.stream.close()
        finally:
            self.release()
        super().close()


def append_whole(fd: int, data: bytes) -> bool:
    """Append ``data`` to the file open at ``fd``: all of it, or nothing (a short or failed
    write is cut off again). Return True if it was written."""
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
    except OSError:
        return False
    written = 0
    with contextlib.suppress(OSError):
        while written < len(data):
            step = os.write(fd, data[written:])
            if step <= 0:
                break
            written += step
    if written == len(data):
        return True
    with contextlib.suppress(OSError):
        os.ftruncate(fd, start)
    return False


def open_audit_file(log_dir: Path) -> TextIO:
    """Open ``<log_dir>/audit.jsonl`` for appending, line-buffered, creating folder and file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_dir / AUDIT_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, AUDIT_FILE_MODE)
    # Line buffering writes each JSON line as it is rendered; a crash loses no finished line.
    return open(fd, "a", buffering=1, encoding="utf-8", errors="backslashreplace")


def plain(value: Any) -> Any:
    """Return ``value`` as JSON-ready data: containers copied, other objects as ``str``.

    Done before redaction, so an object whose text holds a secret (an exception, a URL object)
    is redacted as the text a renderer would print, not passed through untouched.
    """
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    return str(value)


def redacting(redactor: Redactor) -> Processor:
    """Return the processor that redacts every value of an event; it must run last but the
    renderer, after tracebacks are formatted into strings."""

    def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
        return {key: redactor.value(plain(val)) for key, val in event_dict.items()}

    return redact


def shared_processors() -> list[Processor]:
    """Return the processors every event passes, ours and the stdlib's, before redaction."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        # Tracebacks become a string here, so the redaction step after this sees them.
        structlog.processors.format_exc_info,
    ]


class Console(Protocol):
    """Where console lines go: a text stream, or anything that writes like one."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


def choose_renderer(console: str, stream: Console) -> Processor:
    """Return the renderer for the stream: columns for a person at a terminal, else JSON."""
    if console not in CONSOLE_MODES:
        raise ValueError(f"console must be one of {', '.join(CONSOLE_MODES)}, not {console!r}")
    is_tty = bool(getattr(stream, "isatty", lambda: False)())
    if console == "json" or (console == "auto" and not is_tty):
        return structlog.processors.JSONRenderer()
    # The traceback reaches the renderer as the redacted "exception" string, never as exc_info.
    return structlog.dev.ConsoleRenderer(colors=is_tty)


def _formatter(redactor: Redactor, renderer: Processor) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redacting(redactor),
            renderer,
        ],
    )


def configure(
    *,
    log_dir: Path | None,
    redactor: Redactor,
    console: str = "auto",
    level: str = "info",
    stream: Console | None = None,
    stream_level: str | None = None,
) -> None:
    """Send every event, ours and the stdlib's, redacted, to ``audit.jsonl`` and ``stream``.

    ``log_dir`` None writes no file (``check-config``); ``stream`` defaults to stdout;
    ``console`` is ``auto``, ``json`` or ``console``; ``level`` a stdlib level name in lower
    case; ``stream_level``, if given, a higher one for ``stream`` alone (the file still gets
    every event from ``level`` up). Calling it again replaces the handlers and closes the
    previous file. Raise ValueError on an unknown level or console mode, OSError if the audit
    file cannot be opened.
    """
    for name in (level, stream_level or level):
        if name not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {name!r}")
    out = stream if stream is not None else sys.stdout
    renderer = choose_renderer(console, out)
    handlers: list[logging.Handler] = [logging.StreamHandler(out)]
    handlers[0].setFormatter(_formatter(redactor, renderer))
    if stream_level is not None:
        handlers[0].setLevel(logging.getLevelNamesMapping()[stream_level.upper()])
    if log_dir is not None:
        file_handler = _AuditFileHandler(open_audit_file(log_dir))
        file_handler.setFormatter(_formatter(redactor, structlog.processors.JSONRenderer()))
        handlers.append(file_handler)
    _install(handlers, logging.getLevelNamesMapping()[level.upper()])
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a module-level logger, once used, would keep the processor list of the
        # configure() current then, and miss later ones (capture_logs in tests included).
        cache_logger_on_first_use=False,
    )


def _install(handlers: list[logging.Handler], level: int) -> None:
    root = logging.getLogger()
    # Every handler goes, not only ours: any other one would print unredacted lines.
    for old in list(root.handlers):
        root.removeHandler(old)
    _close_installed()
    for handler in handlers:
        root.addHandler(handler)
    _installed.extend(handlers)
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))


def _close_installed() -> None:
    while _installed:
        _installed.pop().close()


def get_logger(**bound: Any) -> structlog.stdlib.BoundLogger:
    """Return a logger for audit events, with ``bound`` fields on every event it emits.

    It is a lazy :class:`structlog.stdlib.BoundLogger`: made at import time it still follows the
    configuration current when it logs (and ``capture_logs`` in tests).
    """
    return structlog.stdlib.get_logger(LOGGER_NAME, **bound)


def shutdown() -> None:
    """Flush and close the audit file.

    The stream handler stays, so that a thread still finishing writes its last lines to stdout
    rather than to the stdlib's unredacted last-resort handler; :func:`configure` replaces it.
    """
    root = logging.getLogger()
    for handler in [h for h in _installed if isinstance(h, _AuditFileHandler)]:
        root.removeHandler(handler)
        _installed.remove(handler)
        handler.close()
