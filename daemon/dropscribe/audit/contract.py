"""The event contract of the audit trail: the stable event names and, as data, their fields.

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

from dataclasses import dataclass
from enum import StrEnum


class Event(StrEnum):
    """The stable event names of the audit trail: a contract with whoever reads the log."""

    FILE_DETECTED = "file.detected"  # a candidate file appeared in the inbox
    FILE_REJECTED = "file.rejected"  # a file we will not send (symlink, too big, not audio)
    FILE_IGNORED = "file.ignored"  # a file left in the inbox: its extension is not watched
    FILE_UNFINISHED = "file.unfinished"  # shorter than its header says: waits for the rest
    FILE_CHANGED = "file.changed"  # replaced between its inspection and its claim: settles again
    FOLDER_REFUSED = "folder.refused"  # a folder nested too deep: not entered, nothing sent
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
    JOB_TOUCHED = "job.touched"  # the file's mtime moved, its content did not: not sent again
    JOB_LOST = "job.lost"  # the service no longer knows a request it accepted (404 to a poll)
    JOB_RESENT = "job.resent"  # a lost request's recording sent again from the upload (bounded)
    JOB_RECOVERED = "job.recovered"  # resumed at start-up where it stopped
    JOB_ADOPTED = "job.adopted"  # a job requeued by ``retry``, taken up by the running daemon
    JOB_REQUEUED = "job.requeued"  # a failed job sent back by ``retry``
    JOB_SUMMARY = "job.summary"  # one line per finished job, with step durations
    TRANSCRIPT_INCOMPLETE = "transcript.incomplete"  # it misses speech or decoded doubtfully
    TRANSCRIPT_ACKNOWLEDGED = "transcript.acknowledged"  # `acknowledge`: seen; status drops it
    QUALITY_UNKNOWN = "quality.unknown"  # the recording's speech could not be measured
    DIARIZE_STARTED = "diarize.started"  # speaker labelling of a finished result begins
    DIARIZE_DONE = "diarize.done"  # the result carries speaker labels
    DIARIZE_FAILED = "diarize.failed"  # no labels; the transcript is published without them
    AUTH_PAUSED = "auth.paused"  # the key was refused: all work waits
    AUTH_RESUMED = "auth.resumed"  # the key works again
    AUTH_KEY_RELOADED = "auth.key_reloaded"  # the key source holds a new key, now in use
    AUTH_KEY_UNREADABLE = "auth.key_unreadable"  # the key source could not be read again
    SERVICE_UNAVAILABLE = "service.unavailable"  # calls stopped going through: all work waits
    SERVICE_AVAILABLE = "service.available"  # a probe went through: work resumes
    STORAGE_FULL = "storage.full"  # the disk or state.db cannot be written: all work waits
    STORAGE_AVAILABLE = "storage.available"  # a probe could write again: work resumes
    DAEMON_STARTED = "daemon.started"  # everything is up
    DAEMON_STOPPING = "daemon.stopping"  # a signal or a fatal error: draining
    DAEMON_STOPPED = "daemon.stopped"  # the last line of a run
    INBOX_PROBLEM = "inbox.problem"  # the inbox is missing, unreadable, or the watcher died
    CONFIG_INVALID = "config.invalid"  # the configuration was refused
    CONFIG_WARNING = "config.warning"  # at start: a setting that cannot do what it asks
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
# A running job's progress in a poll answer: seconds of audio done, and in all when known.
_PROGRESS = "audio_seconds_done audio_seconds_total"

#: The audit contract: each event and its fields.
CONTRACT: dict[Event, Fields] = {
    Event.FILE_DETECTED: _f("source"),
    Event.FILE_IGNORED: _f("source reason"),
    Event.FILE_UNFINISHED: _f("source reason wait_seconds"),
    Event.FILE_CHANGED: _f("source reason"),
    Event.FOLDER_REFUSED: _f("folder reason"),
    Event.FILE_REJECTED: _f("job_id source reason hint failed_path"),
    Event.JOB_CLAIMED: _f(_JOB, _KNOWN),
    Event.UPLOAD_STARTED: _f(f"{_JOB} sha256 size", _KNOWN),
    Event.UPLOAD_DONE: _f(f"{_JOB} sha256 size duration_seconds", _KNOWN),
    Event.SUBMIT_SENT: _f(f"{_JOB} sha256", _KNOWN),
    Event.SUBMIT_ACCEPTED: _f(f"{_JOB} sha256 request_id model", _KNOWN),
    Event.SUBMIT_RESENT: _f(f"{_JOB} reason", _KNOWN),
    Event.POLL_STATUS: _f(f"{_JOB} request_id status", f"{_KNOWN} {_PROGRESS}"),
    Event.POLL_UNKNOWN_STATUS: _f(f"{_JOB} request_id status", f"{_KNOWN} {_PROGRESS}"),
    Event.JOB_RETRY: _f(f"{_JOB} state attempt delay_seconds error status", _KNOWN),
    Event.JOB_SUCCEEDED: _f(f"{_JOB} sha256 request_id model", _KNOWN),
    Event.JOB_PUBLISHED: _f(f"{_JOB} sha256 outputs", _KNOWN),
    Event.JOB_FAILED: _f(f"{_JOB} step error failed_path", _KNOWN),
    Event.JOB_DUPLICATE: _f(f"{_JOB} sha256 reused_job_id reason", _KNOWN),
    Event.JOB_WAITING: _f(f"{_JOB} sha256 leader_job_id reason", _KNOWN),
    Event.JOB_RESTARTED: _f(f"{_JOB} sha256 reason", f"{_KNOWN} step superseded_request_id"),
    Event.JOB_TOUCHED: _f(f"{_JOB} sha256 reason", _KNOWN),
    Event.JOB_LOST: _f(f"{_JOB} request_id error resends reason", _KNOWN),
    Event.JOB_RESENT: _f(f"{_JOB} superseded_request_id resends reason", _KNOWN),
    Event.JOB_RECOVERED: _f(f"{_JOB} state", _KNOWN),
    Event.JOB_ADOPTED: _f(f"{_JOB} state", _KNOWN),
    Event.JOB_REQUEUED: _f(f"{_JOB} state", _KNOWN),
    Event.JOB_SUMMARY: _f(f"{_JOB} sha256 outcome model size duration_seconds", _KNOWN),
    Event.TRANSCRIPT_INCOMPLETE: _f(
        f"{_JOB} coverage speech_seconds covered_seconds uncovered doubtful gaps", _KNOWN
    ),
    Event.TRANSCRIPT_ACKNOWLEDGED: _f(_JOB, _KNOWN),
    Event.QUALITY_UNKNOWN: _f(f"{_JOB} error", _KNOWN),
    Event.DIARIZE_STARTED: _f(f"{_JOB} method", _KNOWN),
    Event.DIARIZE_DONE: _f(f"{_JOB} method speakers duration_seconds", _KNOWN),
    Event.DIARIZE_FAILED: _f(f"{_JOB} method error", _KNOWN),
    Event.AUTH_PAUSED: _f("status error resume_in_seconds hint"),
    Event.AUTH_RESUMED: _f(""),
    Event.AUTH_KEY_RELOADED: _f("reason"),
    Event.AUTH_KEY_UNREADABLE: _f("reason error"),
    Event.SERVICE_UNAVAILABLE: _f(
        "error status probe_in_seconds failures_in_a_row failing_seconds hint"
    ),
    Event.SERVICE_AVAILABLE: _f("paused_seconds failed_probes"),
    Event.STORAGE_FULL: _f("error probe_in_seconds hint"),
    Event.STORAGE_AVAILABLE: _f("paused_seconds failed_probes"),
    Event.DAEMON_STARTED: _f(
        "pid recovered_jobs orphans_adopted temp_files_swept backend inbox outbox"
    ),
    Event.DAEMON_STOPPING: _f("hard"),
    # jobs (counts per state) after a clean drain; drained=False if steps were still running
    # or a second signal cut the stop short (hard=True); error when an internal error stopped
    # the daemon.
    Event.DAEMON_STOPPED: _f("", "jobs drained hard error"),
    Event.INBOX_PROBLEM: _f("problem"),
    Event.CONFIG_INVALID: _f("problems"),
    Event.CONFIG_WARNING: _f("warning"),
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
