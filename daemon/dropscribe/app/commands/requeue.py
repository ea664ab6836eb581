"""``retry``: failed jobs requeued, their recordings moved back to processing/. It changes the
state file directly, so it works while a daemon runs, which adopts the requeued jobs within
seconds."""

from __future__ import annotations

from dropscribe import audit
from dropscribe.app.commands.job_names import CANDIDATES_SHOWN, not_one_job
from dropscribe.app.folders import STATE_FILE, folders_of, state_dir
from dropscribe.config import Settings
from dropscribe.core.jobs import JobState
from dropscribe.intake.custody import Custody
from dropscribe.pipeline import Clock, Lifecycle
from dropscribe.state import StateStore


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
            prefix = job_id or ""
            jobs = store.starting_with(prefix, CANDIDATES_SHOWN + 1)
            if len(jobs) != 1:
                return [], [not_one_job(prefix, jobs, f"no job {prefix!r}")], False
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
