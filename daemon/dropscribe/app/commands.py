"""What each subcommand does, apart from parsing arguments and choosing exit codes (cli.py).

``run``, ``once`` and ``transcribe`` build the parts (:func:`dropscribe.service.build`), which
takes the state folder's lock: one of them at a time per state folder. ``status`` and
``retry`` read and change the state file directly, so they work while a daemon runs (it adopts
requeued jobs within seconds); ``status`` says whether one does.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from dropscribe import audit
from dropscribe.app import (
    Flags,
    Service,
    StateLock,
    build,
    folders_of,
    install_signal_handlers,
    lock_holder,
    read_pause,
    read_pauses,
    state_dir,
)
from dropscribe.app import describe_pause as describe_daemon_pause
from dropscribe.config import Metrics, Notify, Paths, Settings
from dropscribe.core.jobs import Job, JobState
from dropscribe.core.redaction import Redactor
from dropscribe.intake.custody import Custody
from dropscribe.intake.recordings import inspect_entry
from dropscribe.outbox import FORMATS as OUTPUT_FORMATS
from dropscribe.pipeline import Clock, Lifecycle
from dropscribe.pipeline.quality import describe_shortfall, is_incomplete
from dropscribe.state import StateStore

RECENT_FAILURES = 10
#: How many jobs `retry` lists when the id prefix it was given starts several.
CANDIDATES_SHOWN = 10
STATE_FILE = "state.db"
# How often `transcribe` looks whether its jobs have finished (seconds).
TRANSCRIBE_CHECK_SECONDS = 0.1

Counts = dict[str, int]
JsonObject = dict[str, object]


class HardStop(Exception):
    """A second signal asked to stop at once."""


def run(settings: Settings, redactor: Redactor) -> int:
    """Run the daemon until a signal; return 0 after a clean drain."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(build(settings, redactor), watch=True, flags=flags)
    try:
        service.start()
        service.run_until_stopped()
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    return 0


def once(
    settings: Settings, redactor: Redactor, progress: Callable[[Counts], None] | None = None
) -> int:
    """Process what is in the inbox now and every unfinished job; return 1 if any failed.
    ``progress``, if given, is shown the jobs per state while it waits."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(build(settings, redactor), watch=True, flags=flags)
    started = time.time()
    try:
        if progress is not None:
            progress(service.parts.store.counts())  # the jobs finished before this run
        service.start()
        watcher = service.watcher
        while watcher is not None and not flags.stop.is_set() and watcher.pending_count() > 0:
            flags.stop.wait(0.2)
        if watcher is not None:
            watcher.stop()
        service.wait_until_idle(progress)
        failed = _failed_since(service.parts.store, started)
        failed += _incomplete_since(service.parts.store, started)
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    return 1 if failed else 0


def _failed_since(store: StateStore, since: float) -> list[Job]:
    return [
        j for j in store.recent(JobState.FAILED, 100_000) if j.steps.get("failed", 0.0) >= since
    ]


def _incomplete_since(store: StateStore, since: float) -> list[Job]:
    return [
        j
        for j in store.recent(JobState.PUBLISHED, 100_000)
        if j.steps.get("published", 0.0) >= since and is_incomplete(store.result(j.id) or {})
    ]


@dataclass(frozen=True)
class StatusReport:
    """What ``status`` shows: counts per state, jobs in flight, recent failures, and the pid of
    the process holding the state folder (0: unknown pid; None: no process holds it)."""

    counts: Counts
    in_flight: list[JsonObject]
    recent_failures: list[JsonObject]
    daemon_pid: int | None
    #: Recently published transcripts marked incomplete (speech missing or doubtful).
    recent_incomplete: list[JsonObject]
    #: The state file, or None when there is none yet (nothing has run on this state folder).
    state_file: Path | None
    #: Since when the service refuses the API key and when the daemon probes next (epoch
    #: seconds), while a running daemon pauses for it; else None.
    auth_pause: tuple[float, float] | None = None
    #: Webhook and message deliveries: how many are pending and abandoned, and the latest
    #: abandoned ones.
    deliveries: JsonObject = field(default_factory=dict)
    #: The other daemon-wide pauses a running daemon recorded: {kind: (since, next_probe)}.
    pauses: dict[str, tuple[float, float]] = field(default_factory=dict)

    def as_json(self) -> JsonObject:
        """Return the report as JSON-ready data."""
        return {
            "state_file": None if self.state_file is None else str(self.state_file),
            "auth_pause": None
            if self.auth_pause is None
            else {
                "since": iso_time(self.auth_pause[0]),
                "next_probe": iso_time(self.auth_pause[1]),
            },
            "pauses": {kind: _pause_json(times) for kind, times in self.pauses.items()},
            "counts": self.counts,
            "in_flight": self.in_flight,
            "recent_failures": self.recent_failures,
            "recent_incomplete": self.recent_incomplete,
            "daemon": {"running": self.daemon_pid is not None, "pid": self.daemon_pid or None},
            "deliveries": self.deliveries,
        }


def status_report(settings: Settings) -> StatusReport:
    """Return counts per state, the jobs in flight with step and age, recent failures, and
    whether a daemon holds the state folder. Without a state file, say so and create none."""
    path = state_dir(settings) / STATE_FILE
    if not path.is_file():
        return StatusReport({}, [], [], lock_holder(state_dir(settings)), [], None)
    store = StateStore(path)
    now = time.time()
    try:
        flight: list[JsonObject] = [
            {
                "job_id": j.id,
                "source": j.source,
                "profile": j.profile,
                "state": j.state.value,
                "age_seconds": round(now - j.steps.get("claimed", now), 1),
                "attempts": j.attempts,
                "request_id": j.request_id,
            }
            for j in store.unfinished()
        ]
        failures: list[JsonObject] = [
            {
                "job_id": j.id,
                "source": j.source,
                "profile": j.profile,
                "step": j.failed_step,
                "error": j.error,
                "failed_path": j.failed_path,
                "at": j.steps.get("failed"),
            }
            for j in store.recent(JobState.FAILED, RECENT_FAILURES)
        ]
        incomplete: list[JsonObject] = [
            {"job_id": j.id, "source": j.source, "outputs": list(j.outputs)}
            for j in store.recent(JobState.PUBLISHED, RECENT_FAILURES)
            if is_incomplete(store.result(j.id) or {})
        ]
        holder = lock_holder(state_dir(settings))
        pause = read_pause(state_dir(settings)) if holder is not None else None
        deliveries = delivery_report(store)
        others = read_pauses(state_dir(settings)) if holder is not None else {}
        return StatusReport(
            store.counts(), flight, failures, holder, incomplete, path, pause, deliveries, others
        )
    finally:
        store.close()


def format_status(report: StatusReport) -> str:
    """Return the status report as text for a terminal."""
    counts = report.counts
    lines = [_daemon_line(report.daemon_pid)]
    if report.auth_pause is not None:
        since, next_probe = (iso_time(t) for t in report.auth_pause)
        lines.append(
            f"paused: the service refuses the API key since {since}; next probe at "
            f"{next_probe} (fix the key where it is configured; no restart needed)"
        )
    lines.extend(describe_daemon_pause(kind, *times) for kind, times in report.pauses.items())
    if report.state_file is None:
        lines.append("no state: no job has run with this configuration's state folder yet")
        return "\n".join(lines)
    lines.append("jobs: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    if report.in_flight:
        lines.append("in flight:")
        for j in report.in_flight:
            age = float(str(j["age_seconds"]))
            profile = f"  [{j['profile']}]" if j.get("profile") else ""
            lines.append(
                f"  {str(j['job_id'])[:12]}  {j['state']!s:<10} {age:>8.0f}s  {j['source']}"
                + profile
            )
    if report.recent_failures:
        lines.append("recent failures:")
        for j in report.recent_failures:
            lines.append(f"  {str(j['job_id'])[:12]}  {j['source']}: [{j['step']}] {j['error']}")
    lines += delivery_lines(report.deliveries)
    if report.recent_incomplete:
        lines.append("published incomplete (speech missing or doubtful; see the .json):")
        for j in report.recent_incomplete:
            lines.append(f"  {str(j['job_id'])[:12]}  {j['source']}")
    return "\n".join(lines)


def delivery_report(store: StateStore) -> JsonObject:
    """Return the deliveries' counts (pending, abandoned) and the latest abandoned ones."""
    abandoned: list[JsonObject] = [
        {"id": d.id, "job_id": d.job_id, "topic": d.topic.value, "channel": d.channel.value}
        | {"attempts": d.attempts, "error": d.last_error}
        for d in store.abandoned_deliveries(RECENT_FAILURES)
    ]
    return {**store.delivery_counts(), "recent_abandoned": abandoned}


def delivery_lines(deliveries: JsonObject) -> list[str]:
    """Return the status lines about webhook and message deliveries (none when there are
    none pending or abandoned)."""
    pending, abandoned = deliveries.get("pending", 0), deliveries.get("abandoned", 0)
    if not pending and not abandoned:
        return []
    lines = [f"deliveries: {pending} pending, {abandoned} abandoned"]
    recent = deliveries.get("recent_abandoned")
    for d in recent if isinstance(recent, list) else []:
        lines.append(f"  abandoned {d['topic']} of job {str(d['job_id'])[:12]}: {d['error']}")
    return lines


def _pause_json(pause: tuple[float, float] | None) -> JsonObject | None:
    if pause is None:
        return None
    return {"since": iso_time(pause[0]), "next_probe": iso_time(pause[1])}


def iso_time(epoch: float) -> str:
    """Return ``epoch`` seconds as ISO 8601 in UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _daemon_line(pid: int | None) -> str:
    if pid is None:
        return "daemon: not running"
    return f"daemon: running (pid {pid})" if pid else "daemon: running"


def retry(
    settings: Settings, job_id: str | None, *, all_failed: bool
) -> tuple[list[str], list[str], bool]:
    """Requeue failed jobs: move their recordings back and reset their state.

    A job that already has a poll URL resumes polling the same request. Return the ids
    requeued, a list of problems, and whether the named job was found at all.
    """
    store = StateStore(state_dir(settings) / STATE_FILE)
    p = settings.paths
    lifecycle = Lifecycle(
        store,
        Custody(folders_of(settings)),
        audit.get_logger(),
        Clock().time,
        (p.processing, p.failed),
    )
    try:
        if all_failed:
            jobs = store.in_states([JobState.FAILED])
        else:
            jobs = store.starting_with(job_id or "", CANDIDATES_SHOWN + 1)
            if len(jobs) != 1:
                return [], [_not_one_job(job_id or "", jobs)], False
        done: list[str] = []
        problems: list[str] = []
        for job in jobs:
            problem = lifecycle.requeue(job)
            if problem:
                problems.append(f"{job.id[:12]} {job.source}: {problem}")
            else:
                done.append(job.id)
        return done, problems, True
    finally:
        store.close()


def _not_one_job(prefix: str, jobs: Sequence[Job]) -> str:
    """Return why ``prefix`` names no single job, given the jobs it starts."""
    if not jobs:
        return f"no job {prefix!r}"
    more = " ..." if len(jobs) > CANDIDATES_SHOWN else ""
    listed = "".join(f"\n  {j.id}  {j.source}" for j in jobs[:CANDIDATES_SHOWN])
    return f"{prefix!r} is not unique; it starts these jobs:{listed}{more}"


def scratch_settings(settings: Settings, root: Path) -> Settings:
    """Return ``settings`` with every folder under ``root`` and every output format on:
    `transcribe` runs the daemon's steps there, leaving the configured inbox, outbox and state
    alone, and prints the format asked for. It announces nothing (its state file is thrown
    away with its deliveries) and serves no metrics."""
    paths = {name: root / name for name in Paths.model_fields}
    output = settings.output.model_copy(update={"formats": OUTPUT_FORMATS})
    quiet = {"notify": Notify(), "metrics": Metrics(), "profiles": ()}
    return settings.model_copy(update={"paths": Paths(**paths), "output": output, **quiet})


@dataclass(frozen=True)
class Transcript:
    """What `transcribe` got for one file: its text in the format asked for, why it failed
    (None: published), and how it falls short (None: complete)."""

    text: str
    error: str | None = None
    shortfall: str | None = None


def transcribe(
    settings: Settings | None,
    redactor: Redactor,
    files: Sequence[Path],
    out: TextIO,
    err: TextIO,
    output_format: str = "txt",
) -> int:
    """Send each file through the daemon's steps in the foreground and print it in
    ``output_format``; return the number of files that failed.

    Each file is inspected as the daemon inspects an inbox entry first. The steps run on copies
    in a temporary folder, removed afterwards. Without settings, the embedded engine is used;
    with them, the configured service, and the configured state folder (if any) is locked
    meanwhile (so `transcribe` does not run beside a daemon on it).
    """
    lock_dir = None if settings is None else settings.paths.state_dir
    with tempfile.TemporaryDirectory(prefix="dropscribe-") as root:
        scratch = scratch_settings(settings or Settings(), Path(root))
        held = None if lock_dir is None else StateLock(lock_dir)
        try:
            results = _transcribe_all(scratch, redactor, files, output_format)
        finally:
            if held is not None:
                held.release()
    return _print_transcripts(files, results, redactor, out, err)


def _print_transcripts(
    files: Sequence[Path],
    results: Sequence[Transcript],
    redactor: Redactor,
    out: TextIO,
    err: TextIO,
) -> int:
    """Print each transcript (headed by its file when there are several) and each problem;
    return how many files failed or fell short."""
    failures = 0
    for path, got in zip(files, results, strict=True):
        if got.error is not None:
            failures += 1
            print(f"dropscribe: {path}: {redactor.text(got.error)}", file=err)
            continue
        if got.shortfall is not None:
            # Published all the same (quality.on_incomplete: publish), but not a success.
            failures += 1
            print(f"dropscribe: {path}: incomplete: {got.shortfall}", file=err)
        if len(files) > 1:
            print(f"== {path}", file=out)
        print(got.text.rstrip("\n"), file=out)
    return failures


def _transcribe_all(
    settings: Settings, redactor: Redactor, files: Sequence[Path], output_format: str
) -> list[Transcript]:
    service = Service(build(settings, redactor), watch=False, flags=Flags())
    parts = service.parts
    try:
        service.start()
        verdicts = [_inspect(settings, path) for path in files]
        jobs = [
            None if refusal else parts.pipeline.accept(_place(settings, n, path))
            for n, (path, refusal) in enumerate(zip(files, verdicts, strict=True))
        ]
        service.wait_until_idle()
        return [
            Transcript("", refusal)
            if job is None
            else _transcript_of(parts.store, job.id, output_format)
            for job, refusal in zip(jobs, verdicts, strict=True)
        ]
    finally:
        service.shutdown()


def _inspect(settings: Settings, path: Path) -> str:
    """Return why the daemon would refuse ``path`` as a recording, or "" if it takes it.
    A link named on the command line is followed: the user chose it."""
    verdict = inspect_entry(
        path.resolve(), max_bytes=settings.max_file_bytes, extensions=settings.watch.extensions
    )
    return "" if verdict.ok else f"{verdict.reason}; {verdict.hint}"


def _place(settings: Settings, number: int, path: Path) -> str:
    """Copy ``path`` into processing/ under a name of its own; return that name."""
    rel = f"{number:04d}-{path.name}"
    shutil.copyfile(path, settings.paths.processing / rel)
    return rel


def _transcript_of(store: StateStore, job_id: str, output_format: str) -> Transcript:
    """Return the job's transcript in ``output_format``, read from what it published."""
    job = store.get(job_id)
    if job is None or job.state is not JobState.PUBLISHED:
        return Transcript("", (job.error if job is not None else None) or "not transcribed")
    result = store.result(job.id) or {}
    shortfall = describe_shortfall(result) if is_incomplete(result) else None
    published = [Path(p) for p in job.outputs if Path(p).suffix == f".{output_format}"]
    if not published:
        return Transcript("", f"no {output_format} output: the result has no timed segments")
    return Transcript(published[0].read_text(encoding="utf-8"), None, shortfall)


__all__ = ["HardStop", "format_status", "once", "retry", "run", "status_report", "transcribe"]
