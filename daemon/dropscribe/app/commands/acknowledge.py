"""``acknowledge`` (``ack``): a person has seen an incomplete transcript, and ``status`` stops
listing it. It changes the state file directly, so it works while a daemon runs.

A transcript published marked incomplete stays listed by ``status`` until it is acknowledged
here or retried (its recording dropped into the inbox again: the later job takes its place).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dropscribe import audit
from dropscribe.app.commands.job_names import CANDIDATES_SHOWN, not_one_job
from dropscribe.app.folders import STATE_FILE, state_dir
from dropscribe.audit import Event
from dropscribe.config import Settings
from dropscribe.core.jobs import Job, audit_fields
from dropscribe.state import StateStore

#: Most open incomplete transcripts ``--all-incomplete`` acknowledges in one go: more than
#: any inbox publishes between two looks at ``status``.
MAX_ACKNOWLEDGED_AT_ONCE = 100_000


@dataclass(frozen=True)
class Acknowledged:
    """What ``acknowledge`` did: the jobs acknowledged, why others were not, and whether
    what was named exists at all."""

    jobs: list[Job]
    problems: list[str]
    found: bool


def acknowledge(
    settings: Settings,
    target: str | None,
    *,
    all_incomplete: bool,
    now: Callable[[], float] = time.time,
) -> Acknowledged:
    """Acknowledge the incomplete transcript of ``target`` (a job id, a unique prefix of one,
    or a recording's source as ``status`` lists it), or every open one."""
    store = StateStore(state_dir(settings) / STATE_FILE)
    try:
        if all_incomplete:
            jobs = store.open_incomplete(MAX_ACKNOWLEDGED_AT_ONCE)
        else:
            named = named_job(store, target or "")
            if isinstance(named, list):
                return Acknowledged([], [not_one(target or "", named)], bool(named))
            if not store.is_open_incomplete(named.id):
                return Acknowledged([], [not_open(named)], True)
            jobs = [named]
        log = audit.get_logger()
        for job in jobs:
            store.acknowledge(job.id, now())
            log.info(Event.TRANSCRIPT_ACKNOWLEDGED, **audit_fields(job))
        return Acknowledged(jobs, [], True)
    finally:
        store.close()


def named_job(store: StateStore, target: str) -> Job | list[Job]:
    """Return the job ``target`` names: by its id or a unique prefix of it, else as the
    source of an open incomplete transcript; if none, the jobs its prefix starts (none, or
    several)."""
    jobs = store.starting_with(target, CANDIDATES_SHOWN + 1) if target else []
    if len(jobs) == 1:
        return jobs[0]
    by_source = [j for j in store.open_incomplete(MAX_ACKNOWLEDGED_AT_ONCE) if j.source == target]
    return by_source[0] if by_source and not jobs else jobs


def not_open(job: Job) -> str:
    """Return why the job's transcript cannot be acknowledged."""
    return (
        f"{job.id[:12]} {job.source} ({job.state.value}): nothing to acknowledge; its "
        "transcript is not incomplete, was acknowledged already, or was retried"
    )


def not_one(prefix: str, jobs: Sequence[Job]) -> str:
    """Return why ``prefix`` names no single job, given the jobs it starts."""
    nothing = f"no job and no incomplete transcript of a recording goes by {prefix!r}"
    return not_one_job(prefix, jobs, nothing)
