"""The pipeline: the scheduler hands it job ids; it runs the job's step, then carries out what
the step returned or what the outcome policy decided about the error it raised."""

from __future__ import annotations

import threading
from collections.abc import Callable

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.core.jobs import Job, JobState, audit_fields, new_job, update
from dropscribe.pipeline.gates.auth import AuthGate
from dropscribe.pipeline.gates.outage import ServiceGate
from dropscribe.pipeline.gates.storage import StorageGate
from dropscribe.pipeline.lifecycle import Lifecycle
from dropscribe.pipeline.outcomes import Action, Outcome, decide, lost_request
from dropscribe.pipeline.ports import POLL, TRANSFER, Audit, Schedule, Store
from dropscribe.pipeline.profiles import StepsByProfile
from dropscribe.pipeline.step_options import Clock, Options
from dropscribe.pipeline.steps import Next, Steps

TRANSFER_STATES = frozenset(
    {JobState.CLAIMED, JobState.UPLOADING, JobState.UPLOADED, JobState.SUBMITTING}
)
# A paused job is due this long after the pause ends, so the hold is over when it is looked at
# (seconds).
AFTER_PAUSE_SECONDS = 0.01


def pool_of(job: Job) -> str:
    """Return the scheduler pool that runs the job's next step."""
    return TRANSFER if job.state in TRANSFER_STATES else POLL


class Pipeline:
    """Drives jobs through the steps; the scheduler calls :meth:`run_transfer` and
    :meth:`run_poll` with job ids."""

    def __init__(
        self,
        store: Store,
        steps: Steps | StepsByProfile,
        lifecycle: Lifecycle,
        gate: AuthGate,
        scheduler: Schedule,
        log: Audit,
        options: Options,
        clock: Clock,
        service: ServiceGate,
        storage: StorageGate,
    ) -> None:
        """``service`` pauses all work while the service is unavailable, ``storage`` while
        the disk is full."""
        self._store = store
        self._steps = steps
        self._lifecycle = lifecycle
        self._gate = gate
        self._scheduler = scheduler
        self._log = log
        self._opt = options
        self._clock = clock
        self._service = service
        self._storage = storage
        self._parked: set[str] = set()  # jobs turned away during an outage pause
        # Jobs waiting out the backoff of a failed call to the service: the end of an outage
        # wakes them too, rather than leaving them to a backoff grown while calls failed.
        self._backing_off: set[str] = set()
        self._parked_lock = threading.Lock()

    # -- entry points -------------------------------------------------------------------

    def storage_paused(self) -> bool:
        """Return True while the disk is full: intake waits too."""
        return self._storage.paused()

    def storage_trouble(self, exc: BaseException) -> bool:
        """Tell the storage gate about an error met outside the steps (intake); return True if
        it is storage trouble, which pauses all work."""
        return self._storage.failed(exc)

    def probe_storage(self) -> bool:
        """During a storage pause, probe when due; return True if the pause ended (the jobs it
        parked go on now)."""
        if not self._storage.probe_if_due():
            return False
        self._unpark()
        return True

    def pauses(self) -> dict[str, tuple[float, float]]:
        """Return the pauses known only in memory: {"storage": (since, next probe)}."""
        times = self._storage.pause_times()
        return {} if times is None else {"storage": times}

    def accept(self, rel: str, profile: str | None = None) -> Job:
        """Record a recording just claimed into processing/ and schedule its first step; it
        runs with the settings of ``profile`` (None: the top level's)."""
        job = self._store.save(new_job(rel, self._clock.time(), profile))
        self._log.info(Event.JOB_CLAIMED, **audit_fields(job))
        self._schedule(job, 0.0)
        return job

    def recover(self) -> int:
        """At start-up: schedule every unfinished job from where it stopped; return how many."""
        return self._resume(Event.JOB_RECOVERED)

    def adopt(self) -> int:
        """While running: schedule the unfinished jobs the scheduler does not know (requeued
        by ``retry``); return how many."""
        return self._resume(Event.JOB_ADOPTED)

    def _resume(self, event: Event) -> int:
        count = 0
        for job in self._store.unfinished():
            if self._scheduler.knows(job.id):
                continue
            if job.state is JobState.SUBMITTING:
                self._log.warning(
                    Event.SUBMIT_RESENT,
                    **audit_fields(job),
                    reason=self._steps.resend_reason(job),
                )
            self._log.info(event, state=job.state.value, **audit_fields(job))
            self._schedule(job, max(0.0, job.next_due - self._clock.time()))
            count += 1
        return count

    def run_transfer(self, job_id: str) -> None:
        """Run the transfer steps of one job (hash, dedupe, upload, submit)."""
        job = self._store.get(job_id)
        if job is not None and job.state in TRANSFER_STATES:
            self._guarded(job, self._steps.transfer, calls_service=True)

    def run_poll(self, job_id: str) -> None:
        """Poll one submitted job, or publish a succeeded one."""
        job = self._store.get(job_id)
        if job is None:
            return
        if job.state is JobState.SUBMITTED:
            self._guarded(job, self._steps.poll, calls_service=True)
        elif job.state is JobState.SUCCEEDED:
            self._guarded(job, self._publish)

    # -- carrying out -------------------------------------------------------------------

    def _publish(self, job: Job) -> Next | None:
        return self._steps.publish_checked(job)

    def _guarded(
        self, job: Job, step: Callable[[Job], Next | None], *, calls_service: bool = False
    ) -> None:
        if self._storage.paused():
            self._park(job, self._storage.park_seconds())
            return
        if calls_service and not self._service.admit(job.id):
            self._park(job, self._service.park_seconds())
            return
        with self._parked_lock:
            self._parked.discard(job.id)
            self._backing_off.discard(job.id)
        try:
            self._gate.before_call()
            after = step(job)
        except Exception as exc:  # one bad job must not stop the worker thread
            self._after_error(job, exc, calls_service)
            return
        if calls_service and self._service.succeeded(job.id):
            self._unpark(outage_over=True)
        if after is not None:
            self._schedule(after.job, after.delay)
        else:
            self._wake_twins(job)

    def _after_error(self, job: Job, exc: Exception, calls_service: bool) -> None:
        if self._storage.failed(exc):
            # A full disk: the job goes on from its last committed step once space is back.
            self._park(job, self._storage.park_seconds())
            return
        current = self._store.get(job.id) or job
        if calls_service and self._service.failed(job.id, exc):
            # An outage: the job waits, no attempt is counted.
            self._park(current, self._service.park_seconds())
            return
        now = self._clock.time()
        in_a_row = self._service.failures_in_a_row() if calls_service else None
        outcome = decide(
            exc,
            current,
            now,
            self._opt.retry,
            self._opt.poll,
            self._clock.random(),
            in_a_row,
            self._opt.limit_settings,
        )
        if calls_service and outcome.action is Action.RETRY:
            with self._parked_lock:
                self._backing_off.add(job.id)
        try:
            self._carry_out(current, outcome, exc)
        except Exception as again:
            if not self._storage.failed(again):
                raise
            self._park(current, self._storage.park_seconds())

    def _park(self, job: Job, delay: float) -> None:
        with self._parked_lock:
            self._parked.add(job.id)
        self._schedule(job, delay)

    def _unpark(self, outage_over: bool = False) -> None:
        # The pause is over: the jobs turned away during it go on now, not at their park time;
        # after an outage, so do those backing off from calls that failed before it began.
        with self._parked_lock:
            parked, self._parked = self._parked, set()
            if outage_over:
                parked |= self._backing_off
                self._backing_off = set()
        for job_id in parked:
            job = self._store.get(job_id)
            if job is not None and not job.state.is_final:
                self._schedule(job, 0.0)

    def _carry_out(self, job: Job, outcome: Outcome, exc: Exception) -> None:
        if lost_request(exc, job):
            resent = outcome.action is Action.RESEND
            self._log.warning(
                Event.JOB_LOST,
                **audit_fields(job),
                error=str(exc),
                resends=job.resends,
                reason="the service no longer knows the request it accepted; "
                + ("it is sent again from the upload" if resent else "resent too often: it fails"),
            )
        if outcome.action is Action.PAUSE:
            assert isinstance(exc, errors.AuthError)  # decide() pauses for nothing else
            self._gate.refused(exc)
            self._schedule(job, AFTER_PAUSE_SECONDS)
        elif outcome.action is Action.RETRY:
            self._retry(job, outcome, exc)
        elif outcome.action is Action.RESEND:
            after = self._steps.resend(job, outcome.reason)
            self._schedule(after.job, after.delay)
        else:
            internal = not isinstance(exc, errors.DropscribeError | OSError)
            over = outcome.request_over
            failed = self._store.save(update(job, attempts=outcome.attempt, request_over=over))
            self._lifecycle.fail(
                failed,
                outcome.reason,
                outcome.step,
                hint=outcome.hint,
                exc_info=exc if internal else None,
            )
            self._wake_twins(failed)

    def _retry(self, job: Job, outcome: Outcome, exc: Exception) -> None:
        job = update(
            job,
            attempts=outcome.attempt,
            next_due=self._clock.time() + outcome.delay,
            upload_url=None if outcome.drop_upload_url else job.upload_url,
        )
        self._store.save(job)
        self._log.warning(
            Event.JOB_RETRY,
            **audit_fields(job),
            state=job.state.value,
            attempt=outcome.attempt,
            delay_seconds=round(outcome.delay, 3),
            error=outcome.reason,
            status=getattr(exc, "status", None),
        )
        self._schedule(job, outcome.delay)

    def _wake_twins(self, job: Job) -> None:
        # A job that ended (published or failed) lets the jobs of the same content that wait
        # for it go on: they reuse its result, or the first of them submits on its own.
        if not job.sha256:
            return
        for twin in self._store.waiting_twins(job.sha256, job.fingerprint):
            if twin.id != job.id:
                self._schedule(twin, 0.0)

    def _schedule(self, job: Job, delay: float) -> None:
        self._scheduler.schedule(job.id, pool_of(job), delay)
