"""The pause of an outage: when calls to the service stop going through, all work waits.

Modelled on :mod:`.auth`. The gate sees the outcome of every step that calls the service
(success, or a transient error: 5xx, 429, 408, resets, timeouts). A service that still answers
some calls is flaky, not down: each failed call is retried by the job's own policy (jittered
backoff, Retry-After honoured) and nothing pauses. Only when calls across jobs keep failing,
with none going through, for long enough (:class:`OutageRule`: so many transient failures in a
row over so many seconds) does the service count as unavailable: one ``service.unavailable``
is logged, the scheduler is held, and from then on exactly one step at a time is let through
as a probe, after a wait that doubles with each failed probe up to a cap (15 s by default, so
work resumes within seconds of the service's return after an outage of any length). Every
probe starts with a small call (an upload-URL request, a submit or a poll; a recording is only
uploaded after its upload-URL request went through). Every other step is parked without calling
the service, and a failure during the pause burns no attempt of its job. The first call the
service accepts ends the pause with one ``service.available``; the parked jobs go on at once.

``record`` is told when the pause starts and at each probe (since, next probe, epoch seconds)
and when it ends (None, None), so ``status`` and ``STATUS=`` can say so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.pipeline.gates.pause import PauseGate, PauseRecord, ProbeTiming
from dropscribe.pipeline.ports import Audit

# A job turned away during the pause is looked at again this long after the next probe is due,
# unless the pause ends first and wakes it (seconds).
PARK_AFTER_PROBE_SECONDS = 5.0


@dataclass(frozen=True)
class OutageRule:
    """What makes an outage: at least ``min_failures`` transient failures in a row across jobs
    (no call going through between them), the first of them at least ``min_seconds`` ago; or
    ``burst_failures`` in a row however fast they came, so that a backlog of jobs does not
    spend ``min_seconds`` calling a service that is down. With a quarter of calls failing at
    random, a run lasting seconds while other calls keep going through is all but impossible,
    and so is a burst (a chance of about 1e-12 per call)."""

    min_failures: int = 4  # the settings' retry section is where the defaults of these live
    min_seconds: float = 10.0
    burst_failures: int = 20  # not a setting: a bound on the calls an outage costs (calls)


def is_outage(rule: OutageRule, failures_in_a_row: int, failing_seconds: float) -> bool:
    """Given the rule, how many transient failures came in a row since the last call that went
    through, and for how long (seconds since the first of them), return True if they say the
    service is unavailable."""
    if failures_in_a_row >= max(rule.min_failures, rule.burst_failures):
        return True
    return failures_in_a_row >= rule.min_failures and failing_seconds >= rule.min_seconds


def counts_as_outage(exc: BaseException) -> bool:
    """Return True if ``exc`` says the service is (perhaps) down: a transient API error, other
    than an expired upload URL (that one is our URL's age, not the service's health)."""
    return isinstance(exc, errors.TransientApiError) and not isinstance(
        exc, errors.UploadUrlExpired
    )


class ServiceGate(PauseGate):
    """Weighs call outcomes, pauses all work in an outage and lets one probe through at a time.

    Safe to call from every worker thread.
    """

    def __init__(
        self,
        hold: Callable[[float], None],
        log: Audit,
        now: Callable[[], float],
        timing: ProbeTiming,
        record: PauseRecord = lambda since, next_probe: None,
        rule: OutageRule = OutageRule(),
    ) -> None:
        """``hold(seconds)`` holds the scheduler; ``now`` is wall-clock time (epoch seconds)."""
        super().__init__(hold, log, now, timing, record)
        self._rule = rule
        self._failures_in_a_row = 0
        self._failing_since = 0.0  # when the first of those failures came (epoch seconds)
        self._prober: str | None = None  # the job whose step is the probe in flight

    def admit(self, job_id: str) -> bool:
        """Return True if the step of ``job_id`` may call the service now: always outside a
        pause; during one, only as the single probe once it is due."""
        with self._lock:
            if self._pause is None:
                return True
            if self._prober is None and self._now() >= self._pause.probe_due:
                self._prober = job_id
                return True
            return False

    def failures_in_a_row(self) -> int:
        """Return how many calls across jobs have failed transiently in a row since the last
        one that went through."""
        with self._lock:
            return self._failures_in_a_row

    def park_seconds(self) -> float:
        """Return how long a job turned away by :meth:`admit` waits before it asks again."""
        return self._until_probe() + PARK_AFTER_PROBE_SECONDS

    def succeeded(self, job_id: str) -> bool:
        """A step of ``job_id`` that called the service went through. Return True if that
        ended a pause (the parked jobs may go on now)."""
        with self._lock:
            self._failures_in_a_row = 0
            pause = self._end_locked()
            if pause is None:
                return False
            self._prober = None
        self._resumed(Event.SERVICE_AVAILABLE, pause)
        return True

    def failed(self, job_id: str, exc: BaseException) -> bool:
        """A step of ``job_id`` raised ``exc``. Return True if the failure belongs to an outage
        (the job waits for the pause to end and no attempt is counted), False if the usual
        retry policy decides."""
        if not counts_as_outage(exc):
            self._forget_probe(job_id)
            return False
        with self._lock:
            now = self._now()
            pause = self._pause
            starting = pause is None
            if pause is not None and self._prober != job_id:
                return True  # a call that left before the pause began
            if pause is not None:
                self._prober = None
                wait = self._probe_failed_locked(pause, now)
            else:
                if not self._outage_locked(now):
                    return False
                pause, wait = self._begin_locked(now)
            since, due = pause.since, pause.probe_due
            in_a_row, failing = self._failures_in_a_row, now - self._failing_since
        self._tell(since, due)
        if starting:
            self._log.error(
                Event.SERVICE_UNAVAILABLE,
                error=str(exc),
                status=getattr(exc, "status", None),
                probe_in_seconds=round(wait, 1),
                failures_in_a_row=in_a_row,
                failing_seconds=round(failing, 1),
                hint="calls to the service keep failing and none went through for a while; "
                "all work waits and one probe at a time asks again; nothing fails meanwhile",
            )
        return True

    def _outage_locked(self, now: float) -> bool:
        """Count one more transient failure in a row; return True if the run makes an outage."""
        if self._failures_in_a_row == 0:
            self._failing_since = now
        self._failures_in_a_row += 1
        return is_outage(self._rule, self._failures_in_a_row, now - self._failing_since)

    def _forget_probe(self, job_id: str) -> None:
        # A probe that met another kind of error (a permanent one, a refused key) proved
        # nothing about the service's health: the next due step probes instead.
        with self._lock:
            if self._prober == job_id:
                self._prober = None
