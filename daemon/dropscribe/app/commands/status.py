"""``status``: counts per state, the jobs in flight, recent failures, the incomplete
transcripts not yet acknowledged or retried, the deliveries, and whether a daemon holds the
state folder (and what it pauses for). It reads the state file directly, so it works while a
daemon runs."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from dropscribe.app.commands.job_progress import progress_json, progress_text
from dropscribe.app.folders import STATE_FILE, state_dir
from dropscribe.app.keys import read_pause
from dropscribe.app.lock import lock_holder
from dropscribe.app.pauses import describe as describe_daemon_pause
from dropscribe.app.pauses import read_pauses
from dropscribe.config import Settings
from dropscribe.core.jobs import JobState
from dropscribe.core.printable import printable
from dropscribe.state import StateStore

RECENT_FAILURES = 10

#: Incomplete transcripts listed by name; ``status`` counts the rest. Each stays listed until
#: it is acknowledged (``dropscribe acknowledge``) or retried, however many files come after.
INCOMPLETE_SHOWN = 50

Counts = dict[str, int]
JsonObject = dict[str, object]


@dataclass(frozen=True)
class StatusReport:
    """What ``status`` shows: counts per state, jobs in flight, recent failures, and the pid of
    the process holding the state folder (0: unknown pid; None: no process holds it)."""

    counts: Counts
    in_flight: list[JsonObject]
    recent_failures: list[JsonObject]
    daemon_pid: int | None
    #: Published transcripts marked incomplete (speech missing or doubtful), neither
    #: acknowledged nor retried: the latest INCOMPLETE_SHOWN of them.
    incomplete: list[JsonObject]
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
    #: How many incomplete transcripts are open in all (``incomplete`` lists the latest).
    incomplete_count: int = 0

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
            "incomplete": self.incomplete,
            "incomplete_count": self.incomplete_count,
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
                "progress": progress_json(j.progress, now),
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
            {
                "job_id": j.id,
                "source": j.source,
                "outputs": list(j.outputs),
                "at": j.steps.get("published"),
            }
            for j in store.open_incomplete(INCOMPLETE_SHOWN)
        ]
        holder = lock_holder(state_dir(settings))
        pause = read_pause(state_dir(settings)) if holder is not None else None
        deliveries = delivery_report(store)
        others = read_pauses(state_dir(settings)) if holder is not None else {}
        return StatusReport(
            store.counts(),
            flight,
            failures,
            holder,
            incomplete,
            path,
            pause,
            deliveries,
            others,
            store.open_incomplete_count(),
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
            source = printable(str(j["source"]))
            figures = j.get("progress")
            done = progress_text(figures if isinstance(figures, dict) else None)
            lines.append(
                f"  {str(j['job_id'])[:12]}  {j['state']!s:<10} {age:>8.0f}s  {source}"
                + profile
                + (f"  {done}" if done else "")
            )
    if report.recent_failures:
        lines.append("recent failures:")
        for j in report.recent_failures:
            lines.append(
                f"  {str(j['job_id'])[:12]}  {printable(str(j['source']))}: [{j['step']}] "
                f"{printable(str(j['error']))}"
            )
    lines += delivery_lines(report.deliveries)
    return "\n".join(lines + incomplete_lines(report))


def incomplete_lines(report: StatusReport) -> list[str]:
    """Return the status lines about incomplete transcripts (none when there are none)."""
    if not report.incomplete:
        return []
    lines = [
        f"published incomplete: {report.incomplete_count} (speech missing or doubtful; see "
        "the .json; `dropscribe acknowledge JOB_ID` once seen to)"
    ]
    lines += [
        f"  {str(j['job_id'])[:12]}  {printable(str(j['source']))}" for j in report.incomplete
    ]
    hidden = report.incomplete_count - len(report.incomplete)
    if hidden > 0:
        lines.append(f"  ... and {hidden} more (`dropscribe acknowledge --all-incomplete`)")
    return lines


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
