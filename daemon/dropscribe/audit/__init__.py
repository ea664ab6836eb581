"""The audit trail: structlog configuration, the one redaction step, and the event names.

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

Events are emitted with a stable name from :class:`Event` and keyword fields::

    log = get_logger()
    log.info(Event.JOB_CLAIMED, job_id=job.id, source=job.source, sha256=job.sha256)

Every line carries ``event``, ``timestamp`` (ISO-8601, UTC), ``level`` and ``logger`` (and
``exception``, a redacted traceback, when one is logged). :data:`CONTRACT` lists, as data, the
fields of each event: those it always has and those it has when known. A test holds a real
run's ``audit.jsonl`` and the README's event list to it. Durations are ``duration_seconds``
(float seconds of wall-clock time).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
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


class Event(StrEnum):
    """The stable event names of the audit trail: a contract with whoever reads the log."""

    FILE_DETECTED = "file.detected"  # a candidate file appeared in the inbox
    FILE_REJECTED = "file.rejected"  # a file we will not send (symlink, too big, not audio)
    FILE_IGNORED = "file.ignored"  # a file left in the inbox: its extension is not watched
    JOB_CLAIMED = "job.claimed"  # moved to processing/, a job exists
    UPLOAD_STARTED = "upload.started"  # the presigned PUT begins
    UPLOAD_DONE = "upload.done"  # the recording is uploaded
    SUBMIT_SENT = "submit.sent"  # the inference request is about to be sent
    SUBMIT_ACCEPTED = "submit.accepted"  # the service returned a request id
    SUBMIT_RESENT = "submit.resent"  # a maybe-sent submit re-sent with its idempotency key
    POLL_STATUS = "poll.status"  # one poll answered
    POLL_UNKNOWN_STATUS = "poll.unknown_status"  # a status the protocol does not document
    JOB_RETRY = "job.retry"  # a step failed transiently and is scheduled again
    JOB_SUCCEEDED = "job.succeeded"  # the service finished with a result
    JOB_PUBLISHED = "job.published"  # the outputs are in the outbox
    JOB_FAILED = "job.failed"  # the job ended without a transcript
    JOB_DUPLICATE = "job.duplicate"  # same content and parameters: an earlier result reused
    JOB_WAITING = "job.waiting"  # same content and parameters as a job in flight: waits for it
    JOB_RESTARTED = "job.restarted"  # the file changed after its claim: hashed and sent again
    JOB_RECOVERED = "job.recovered"  # resumed at start-up where it stopped
    JOB_ADOPTED = "job.adopted"  # a job requeued by ``retry``, taken up by the running daemon
    JOB_REQUEUED = "job.requeued"  # a failed job sent back by ``retry``
    JOB_SUMMARY = "job.summary"  # one line per finished job, with step durations
    TRANSCRIPT_INCOMPLETE = "transcript.incomplete"  # it misses speech or decoded doubtfully
    QUALITY_UNKNOWN = "quality.unknown"  # the recording's speech could not be measured
    DIARIZE_STARTED = "diarize.started"  # speaker labelling of a finished result begins
    DIARIZE_DONE = "diarize.done"  # the result carries speaker labels
    DIARIZE_FAILED = "diarize.failed"  # no labels; the transcript is published without them
    AUTH_PAUSED = "auth.paused"  # the key was refused: all work waits
    AUTH_RESUMED = "auth.resumed"  # the key works again
    AUTH_KEY_RELOADED = "auth.key_reloaded"  # the key source holds a new key, now in use
    AUTH_KEY_UNREADABLE = "auth.key_unreadable"  # the key source could not be read again
    SERVICE_UNAVAILABLE = "service.unavailable"  # most recent calls failed: all work waits
    SERVICE_AVAILABLE = "service.available"  # a probe went through: work resumes
    STORAGE_FULL = "storage.full"  # the disk or state.db cannot be written: all work waits
    STORAGE_AVAILABLE = "storage.available"  # a probe could write again: work resumes
    DAEMON_STARTED = "daemon.started"  # everything is up
    DAEMON_STOPPING = "daemon.stopping"  # a signal or a fatal error: draining
    DAEMON_STOPPED = "daemon.stopped"  # the last line of a run
    INBOX_PROBLEM = "inbox.problem"  # the inbox is missing, unreadable, or the watcher died
    CONFIG_INVALID = "config.invalid"  # the configuration was refused
    SERVER_STARTED = "server.started"  # the embedded server listens
    DELIVERY_SENT = "delivery.sent"  # a webhook or message was accepted by its receiver
    DELIVERY_RETRY = "delivery.retry"  # an attempt failed; it is tried again later
    DELIVERY_ABANDONED = "delivery.abandoned"  # given up: too old, 410 Gone, or receiver gone
    DELIVERY_ERROR = "delivery.error"  # the delivery worker could not use the state file
    CONFIG_RELOADED = "config.reloaded"  # SIGHUP: the file was read again and applied
    CONFIG_RELOAD_FAILED = "config.reload_failed"  # SIGHUP: the file was refused; old in force
    CONFIG_RESTART_REQUIRED = "config.restart_required"  # changed keys applied only at start


@dataclass(frozen=True)
class Fields:
    """The fields of one event besides the ones every line has: ``always`` present, ``known``
    present when known at that point."""

    always: frozenset[str]
    known: frozenset[str] = frozenset()

    @property
    def allowed(self) -> frozenset[str]:
        """Return every field the event may carry."""
        return self.always | self.known | LINE_FIELDS


def _f(always: str, known: str = "") -> Fields:
    return Fields(frozenset(always.split()), frozenset(known.split()))


# Every line has these; ``exception`` only when a traceback is logged.
LINE_FIELDS = frozenset({"event", "timestamp", "level", "logger", "exception"})
# The identifiers of a job event (jobs.audit_fields): sha256 and request id once known.
_JOB = "job_id source"
_KNOWN = "sha256 request_id"

#: The audit contract: each event and its fields.
CONTRACT: dict[Event, Fields] = {
    Event.FILE_DETECTED: _f("source"),
    Event.FILE_IGNORED: _f("source reason"),
    Event.FILE_REJECTED: _f("job_id source reason hint failed_path"),
    Event.JOB_CLAIMED: _f(_JOB, _KNOWN),
    Event.UPLOAD_STARTED: _f(f"{_JOB} sha256 size", _KNOWN),
    Event.UPLOAD_DONE: _f(f"{_JOB} sha256 size duration_seconds", _KNOWN),
    Event.SUBMIT_SENT: _f(f"{_JOB} sha256", _KNOWN),
    Event.SUBMIT_ACCEPTED: _f(f"{_JOB} sha256 request_id model", _KNOWN),
    Event.SUBMIT_RESENT: _f(f"{_JOB} reason", _KNOWN),
    Event.POLL_STATUS: _f(f"{_JOB} request_id status", _KNOWN),
    Event.POLL_UNKNOWN_STATUS: _f(f"{_JOB} request_id status", _KNOWN),
    Event.JOB_RETRY: _f(f"{_JOB} state attempt delay_seconds error status", _KNOWN),
    Event.JOB_SUCCEEDED: _f(f"{_JOB} sha256 request_id model", _KNOWN),
    Event.JOB_PUBLISHED: _f(f"{_JOB} sha256 outputs", _KNOWN),
    Event.JOB_FAILED: _f(f"{_JOB} step error failed_path", _KNOWN),
    Event.JOB_DUPLICATE: _f(f"{_JOB} sha256 reused_job_id reason", _KNOWN),
    Event.JOB_WAITING: _f(f"{_JOB} sha256 leader_job_id reason", _KNOWN),
    Event.JOB_RESTARTED: _f(f"{_JOB} sha256 reason", f"{_KNOWN} step superseded_request_id"),
    Event.JOB_RECOVERED: _f(f"{_JOB} state", _KNOWN),
    Event.JOB_ADOPTED: _f(f"{_JOB} state", _KNOWN),
    Event.JOB_REQUEUED: _f(f"{_JOB} state", _KNOWN),
    Event.JOB_SUMMARY: _f(f"{_JOB} sha256 outcome model size duration_seconds", _KNOWN),
    Event.TRANSCRIPT_INCOMPLETE: _f(
        f"{_JOB} coverage speech_seconds covered_seconds uncovered doubtful", _KNOWN
    ),
    Event.QUALITY_UNKNOWN: _f(f"{_JOB} error", _KNOWN),
    Event.DIARIZE_STARTED: _f(f"{_JOB} method", _KNOWN),
    Event.DIARIZE_DONE: _f(f"{_JOB} method speakers duration_seconds", _KNOWN),
    Event.DIARIZE_FAILED: _f(f"{_JOB} method error", _KNOWN),
    Event.AUTH_PAUSED: _f("status error resume_in_seconds hint"),
    Event.AUTH_RESUMED: _f(""),
    Event.AUTH_KEY_RELOADED: _f("reason"),
    Event.AUTH_KEY_UNREADABLE: _f("reason error"),
    Event.SERVICE_UNAVAILABLE: _f("error status probe_in_seconds hint"),
    Event.SERVICE_AVAILABLE: _f("paused_seconds failed_probes"),
    Event.STORAGE_FULL: _f("error probe_in_seconds hint"),
    Event.STORAGE_AVAILABLE: _f("paused_seconds failed_probes"),
    Event.DAEMON_STARTED: _f(
        "pid recovered_jobs orphans_adopted temp_files_swept backend inbox outbox"
    ),
    Event.DAEMON_STOPPING: _f("hard"),
    # jobs (counts per state) after a clean drain; drained=False if steps were still running;
    # error when an internal error stopped the daemon.
    Event.DAEMON_STOPPED: _f("", "jobs drained error"),
    Event.INBOX_PROBLEM: _f("problem"),
    Event.CONFIG_INVALID: _f("problems"),
    Event.SERVER_STARTED: _f("base_url"),
    Event.DELIVERY_SENT: _f("delivery_id job_id topic channel url attempt", "status"),
    Event.DELIVERY_RETRY: _f(
        "delivery_id job_id topic channel url attempt error next_attempt", "status"
    ),
    Event.DELIVERY_ABANDONED: _f("delivery_id job_id topic channel url attempt error", "status"),
    Event.DELIVERY_ERROR: _f("error"),
    Event.CONFIG_RELOADED: _f("applied"),
    Event.CONFIG_RELOAD_FAILED: _f("problems hint"),
    Event.CONFIG_RESTART_REQUIRED: _f("keys hint"),
}


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
