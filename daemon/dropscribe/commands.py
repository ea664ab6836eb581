"""What each subcommand does, apart from parsing arguments and choosing exit codes (cli.py).

``run`` and ``once`` drive a :class:`~dropscribe.service.Service`; ``status`` and ``retry``
read and change the state file directly, so they work while a daemon runs (it adopts requeued
jobs within seconds); ``transcribe`` is the four steps in the foreground, for trying it out.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from dropscribe import audit
from dropscribe.api_client import RemoteStatus
from dropscribe.audit import Event
from dropscribe.backoff import next_poll_delay
from dropscribe.config import Paths, Settings
from dropscribe.custody import Custody
from dropscribe.jobs import Job, JobState, advance
from dropscribe.outbox import render_txt
from dropscribe.probe import SpeechProbe
from dropscribe.quality import checked, describe_shortfall, is_incomplete
from dropscribe.redaction import Redactor
from dropscribe.service import (
    Flags,
    Service,
    folders_of,
    install_signal_handlers,
    pipeline_options,
    state_dir,
)
from dropscribe.state import StateStore

RECENT_FAILURES = 10
PROGRESS_WIDTH = 30


class HardStop(Exception):
    """A second signal asked to stop at once."""


def run(settings: Settings, redactor: Redactor) -> int:
    """Run the daemon until a signal; return 0 after a clean drain."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(settings, redactor, flags=flags)
    try:
        service.start(watch=True)
        service.run_until_stopped()
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    return 0


def once(settings: Settings, redactor: Redactor, progress_stream: TextIO) -> int:
    """Process what is in the inbox now and every unfinished job; return 1 if any failed."""
    flags = Flags()
    install_signal_handlers(flags)
    service = Service(settings, redactor, flags=flags)
    started = time.time()
    bar = _progress_printer(progress_stream)
    try:
        service.start(watch=True)
        assert service.watcher is not None
        while not flags.stop.is_set() and service.watcher.pending_count() > 0:
            flags.stop.wait(0.2)
        service.watcher.stop()
        service.wait_until_idle(bar)
    finally:
        service.shutdown()
    if flags.hard_stop.is_set():
        raise HardStop
    bar(None)
    return 1 if _failed_since(settings, started) or _incomplete_since(settings, started) else 0


def _progress_printer(stream: TextIO) -> Any:
    tty = stream.isatty()

    def show(counts: dict[str, int] | None) -> None:
        if not tty:
            return
        if counts is None:
            stream.write("\n")
            stream.flush()
            return
        finished = counts["published"] + counts["failed"]
        total = sum(counts.values()) or 1
        filled = int(PROGRESS_WIDTH * finished / total)
        bar = "#" * filled + "-" * (PROGRESS_WIDTH - filled)
        stream.write(f"\r[{bar}] {finished}/{total} done, {counts['failed']} failed ")
        stream.flush()

    return show


def _failed_since(settings: Settings, since: float) -> list[Job]:
    store = StateStore(state_dir(settings) / "state.db")
    try:
        return [
            j for j in store.recent(JobState.FAILED, 100_000) if j.steps.get("failed", 0.0) >= since
        ]
    finally:
        store.close()


def _incomplete_since(settings: Settings, since: float) -> list[Job]:
    store = StateStore(state_dir(settings) / "state.db")
    try:
        return [
            j
            for j in store.recent(JobState.PUBLISHED, 100_000)
            if j.extra.get("incomplete") and j.steps.get("published", 0.0) >= since
        ]
    finally:
        store.close()


def status_report(settings: Settings) -> dict[str, Any]:
    """Return counts per state, the jobs in flight with step and age, and recent failures."""
    store = StateStore(state_dir(settings) / "state.db")
    now = time.time()
    try:
        flight = [
            {
                "job_id": j.id,
                "source": j.source,
                "state": j.state.value,
                "age_seconds": round(now - j.steps.get("claimed", now), 1),
                "attempts": j.attempts,
                "request_id": j.request_id,
            }
            for j in store.unfinished()
        ]
        failures = [
            {
                "job_id": j.id,
                "source": j.source,
                "step": j.failed_step,
                "error": j.error,
                "failed_path": j.extra.get("failed_path"),
                "at": j.steps.get("failed"),
            }
            for j in store.recent(JobState.FAILED, RECENT_FAILURES)
        ]
        incomplete = [
            {"job_id": j.id, "source": j.source, "outputs": list(j.outputs)}
            for j in store.recent(JobState.PUBLISHED, RECENT_FAILURES)
            if j.extra.get("incomplete")
        ]
        return {
            "counts": store.counts(),
            "in_flight": flight,
            "recent_failures": failures,
            "recent_incomplete": incomplete,
        }
    finally:
        store.close()


def format_status(report: dict[str, Any]) -> str:
    """Return the status report as text for a terminal."""
    counts = report["counts"]
    lines = ["jobs: " + ", ".join(f"{n} {state}" for state, n in counts.items())]
    if report["in_flight"]:
        lines.append("in flight:")
        for j in report["in_flight"]:
            lines.append(
                f"  {j['job_id'][:12]}  {j['state']:<10} {j['age_seconds']:>8.0f}s  {j['source']}"
            )
    if report["recent_failures"]:
        lines.append("recent failures:")
        for j in report["recent_failures"]:
            lines.append(f"  {j['job_id'][:12]}  {j['source']}: [{j['step']}] {j['error']}")
    if report.get("recent_incomplete"):
        lines.append("published incomplete (speech missing or doubtful; see the .json):")
        for j in report["recent_incomplete"]:
            lines.append(f"  {j['job_id'][:12]}  {j['source']}")
    return "\n".join(lines)


def retry(
    settings: Settings, job_id: str | None, *, all_failed: bool
) -> tuple[list[str], list[str]]:
    """Requeue failed jobs: move their recordings back and reset their state.

    A job that already has a poll URL resumes polling the same request. Return the ids
    requeued and a list of problems.
    """
    store = StateStore(state_dir(settings) / "state.db")
    custody = Custody(folders_of(settings))
    log = audit.get_logger()
    try:
        if all_failed:
            jobs = store.in_states([JobState.FAILED])
        else:
            found = store.get(job_id or "")
            if found is None:
                return [], [f"no job {job_id!r} (or the prefix is not unique)"]
            jobs = [found]
        done: list[str] = []
        problems: list[str] = []
        for job in jobs:
            problem = _requeue(store, custody, settings, job)
            if problem:
                problems.append(f"{job.id[:12]} {job.source}: {problem}")
            else:
                done.append(job.id)
                log.info(Event.JOB_REQUEUED, job_id=job.id, source=job.source)
        return done, problems
    finally:
        store.close()


def _requeue(store: StateStore, custody: Custody, settings: Settings, job: Job) -> str:
    if job.state is not JobState.FAILED:
        return f"is {job.state.value}, not failed"
    if job.failed_step == "inspect":
        return "was refused as input; fix the file and drop it into the inbox again"
    failed_path = job.extra.get("failed_path")
    if not failed_path or not Path(failed_path).exists():
        return "its recording is no longer in failed/"
    rel = Path(failed_path).relative_to(settings.paths.failed).as_posix()
    restored = custody.restore(rel)
    source = restored.relative_to(settings.paths.processing).as_posix()
    now = time.time()
    extra = {k: v for k, v in job.extra.items() if k != "failed_path"}
    common: dict[str, Any] = {"source": source, "attempts": 0, "error": None, "extra": extra}
    if job.poll_url and job.request_id:
        # Polled again, never submitted again; the deadline counts from now.
        store.save(advance(job, JobState.SUBMITTED, now, polls=0, next_due=now, **common))
    else:
        store.save(advance(job, JobState.CLAIMED, now, next_due=now, upload_url=None, **common))
    return ""


def scratch_settings(root: Path) -> Settings:
    """Return settings for `transcribe` without a config file: the embedded engine, with its
    state under ``root``."""
    paths = {name: root / name for name in Paths.model_fields}
    return Settings().model_copy(update={"paths": Paths(**paths)})


def transcribe(
    settings: Settings | None,
    redactor: Redactor,
    files: Sequence[Path],
    out: TextIO,
    err: TextIO,
) -> int:
    """Send each file through the four steps in the foreground and print its text; return
    the number of files that failed. Without settings, use the embedded engine with its state
    in a temporary folder that is removed afterwards."""
    if settings is None:
        with tempfile.TemporaryDirectory(prefix="dropscribe-") as root:
            return transcribe(scratch_settings(Path(root)), redactor, files, out, err)
    service = Service(settings, redactor)
    remote = service.remote_only()
    options = pipeline_options(settings)
    probe = None if settings.is_embedded else SpeechProbe()
    find = None if probe is None else probe.speech
    failures = 0
    try:
        for path in files:
            try:
                result = _transcribe_one(remote, options, path)
                result, _ = checked(result, options.quality, find, path)
            except Exception as exc:
                failures += 1
                print(f"dropscribe: {path}: {redactor.text(str(exc))}", file=err)
                continue
            if is_incomplete(result):
                failures += 1
                print(f"dropscribe: {path}: incomplete: {describe_shortfall(result)}", file=err)
                if options.quality.fail_incomplete:
                    continue
            if len(files) > 1:
                print(f"== {path}", file=out)
            print(render_txt(result).rstrip("\n"), file=out)
    finally:
        service.shutdown()
        if probe is not None:
            probe.close()
    return failures


def _transcribe_one(remote: Any, options: Any, path: Path) -> dict[str, Any]:
    url = remote.get_upload_url(path.suffix.lower().lstrip(".") or "wav")
    remote.upload(url, path)
    sub = remote.submit(url, options.whisper_input, f"transcribe-{time.time_ns()}")
    deadline = time.monotonic() + options.poll.deadline_seconds
    polls = 0
    while time.monotonic() < deadline:
        result = remote.poll(sub.poll_url)
        if result.status is RemoteStatus.SUCCESS:
            return dict(result.result or {})
        if result.status in (RemoteStatus.FAILED, RemoteStatus.CANCELLED):
            raise RuntimeError(result.error or f"the service reports {result.raw_status}")
        time.sleep(min(1.0, next_poll_delay(options.poll, polls, 0.5)))
        polls += 1
    raise TimeoutError("no result before the poll deadline")


__all__ = ["HardStop", "format_status", "once", "retry", "run", "status_report", "transcribe"]
