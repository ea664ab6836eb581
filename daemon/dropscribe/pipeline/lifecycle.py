"""The one way a job fails, and the one way a failed job is sent back (``dropscribe retry``).

:meth:`Lifecycle.fail` is used by the pipeline's steps, by the refusal of an inbox entry at
inspection, and by nothing else: every failure writes the same report (``<name>.error.json``,
from :func:`dropscribe.core.jobs.failure_report`) and emits one ``job.failed``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dropscribe.audit import Event
from dropscribe.core.jobs import (
    Job,
    JobState,
    advance,
    audit_fields,
    failure_report,
    new_job,
    sent_anew,
    update,
)
from dropscribe.pipeline.ports import Audit, Custodian, Store

# The step name of a refusal at inspection (before any job step ran).
INSPECT = "inspect"


class Lifecycle:
    """Failure and requeue of jobs, with their moves between processing/ and failed/."""

    def __init__(
        self,
        store: Store,
        custody: Custodian,
        log: Audit,
        now: Callable[[], float],
        folders: tuple[Path, Path],
    ) -> None:
        """``folders`` is (processing/, failed/): the roots the job's paths are relative to."""
        self._store = store
        self._custody = custody
        self._log = log
        self._now = now
        self._processing, self._failed = folders

    def fail(
        self,
        job: Job,
        reason: str,
        step: str,
        *,
        hint: str | None = None,
        from_inbox: bool = False,
        exc_info: BaseException | None = None,
    ) -> Job:
        """Record ``job`` as failed in ``step`` for ``reason``, move its recording to failed/
        with the report, emit one ``job.failed``; return the failed job."""
        current = self._store.get(job.id) or job
        failed = self._store.save(
            advance(current, JobState.FAILED, self._now(), error=reason, failed_step=step)
        )
        where = self._move_to_failed(failed, hint, from_inbox)
        failed = self._store.save(update(failed, failed_path=where))
        self._log.error(
            Event.JOB_FAILED,
            **audit_fields(failed),
            step=step,
            error=reason,
            failed_path=where,
            exc_info=exc_info,
        )
        return failed

    def refuse(self, rel: str, reason: str, hint: str, profile: str | None = None) -> Job:
        """Refuse an inbox entry at inspection: a failed job, its file moved to failed/;
        ``profile`` is the folder profile it arrived under."""
        job = self._store.save(new_job(rel, self._now(), profile))
        failed = self.fail(job, reason, INSPECT, hint=hint, from_inbox=True)
        self._log.warning(
            Event.FILE_REJECTED,
            job_id=job.id,
            source=rel,
            reason=reason,
            hint=hint,
            failed_path=failed.failed_path,
        )
        return failed

    def settle_failed(self, jobs: list[Job]) -> None:
        """Move recordings of failed jobs still in processing/ (a crash before the move)."""
        for job in jobs:
            # Most failed jobs were moved long ago: look at the disk only for the others.
            if not job.failed_path and self._custody.processing_path(job.source).exists():
                where = self._move_to_failed(job, None, False)
                self._store.save(update(job, failed_path=where))

    def requeue(self, job: Job) -> str:
        """Send a failed job back: its recording to processing/ (its error report removed),
        the job to ``claimed`` (or to ``submitted`` when the service may still finish its
        request, so it is polled, never submitted again). A request the service refused or
        lost (``request_over``) cannot finish: the recording is sent again from the upload as
        a new request, with a new Idempotency-Key. Return "" on success, else why it cannot be
        requeued."""
        problem = requeue_problem(job)
        if problem:
            return problem
        assert job.failed_path is not None  # requeue_problem checked it
        rel = Path(job.failed_path).relative_to(self._failed).as_posix()
        source = self._custody.restore(rel).relative_to(self._processing).as_posix()
        now = self._now()
        common = {"source": source, "attempts": 0, "error": None, "failed_path": None}
        # Progress is measured anew: the time the job spent failed was no work of the service.
        common["progress"] = None
        if job.request_over:
            # A person asked for it: the resends the service's losses used count anew.
            job = sent_anew(job, now, next_due=now, resends=0, request_over=False, **common)
        elif job.poll_url and job.request_id:
            # Polled again, never submitted again; the deadline counts from now.
            job = advance(job, JobState.SUBMITTED, now, polls=0, next_due=now, **common)
        else:
            job = advance(job, JobState.CLAIMED, now, next_due=now, upload_url=None, **common)
        self._store.save(job)
        self._log.info(Event.JOB_REQUEUED, state=job.state.value, **audit_fields(job))
        return ""

    def _move_to_failed(self, job: Job, hint: str | None, from_inbox: bool) -> str | None:
        report = failure_report(job, hint)
        try:
            return str(self._custody.fail(job.source, report, from_inbox=from_inbox))
        except FileNotFoundError:
            return job.failed_path


def requeue_problem(job: Job) -> str:
    """Return why ``job`` cannot be requeued, or "" if it can."""
    if job.state is not JobState.FAILED:
        return f"is {job.state.value}, not failed"
    if job.failed_step == INSPECT:
        return "was refused as input; fix the file and drop it into the inbox again"
    if not job.failed_path or not Path(job.failed_path).exists():
        return "its recording is no longer in failed/"
    return ""
