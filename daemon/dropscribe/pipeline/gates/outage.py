"""The pause of an outage: when most recent calls to the service fail transiently, all work waits.

Modelled on :mod:`.auth`. The gate sees the outcome of every step that calls the service
(success, or a transient error: 5xx, 429, 408, resets, timeouts). When most of the last
:data:`WINDOW_CALLS` outcomes across jobs are transient failures, the service counts as
unavailable: one ``service.unavailable`` is logged, the scheduler is held, and from then on
exactly one step at a time is let through as a probe, after a wait that doubles with each failed
probe up to a cap. Every other step is parked without calling the service, and a failure during
the pause burns no attempt of its job. The first call the service accepts ends the pause with
one ``service.available``; the parked jobs go on at once.

``record`` is told when the pause starts and at each probe (since, next probe, epoch seconds)
and when it ends (None, None), so ``status`` and ``STATUS=`` can say so.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.pipeline.gates.pause import PauseGate, PauseRecord, ProbeTiming
from dropscribe.pipeline.ports import Audit

# How many of the latest call outcomes, across jobs, the gate weighs (calls).
WINDOW_CALLS = 8
# A job turned away during the pause is looked at again this long after the next probe is due,
# unless the pause ends first and wakes it (seconds).
PARK_AFTER_PROBE_SECONDS = 5.0


def is_outage(outcomes: Iterable[bool], min_failures: int = 4) -> bool:
    """Given the latest call outcomes (True: the call went through), return True if they say
    the service is unavailable: at least ``min_failures`` failures, and more than half."""
    seen = list(outcomes)
    failures = seen.count(False)
    return failures >= min_failures and failures * 2 > len(seen)


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
    ) -> None:
        """``hold(seconds)`` holds the scheduler; ``now`` is wall-clock time (epoch seconds)."""
        super().__init__(hold, log, now, timing, record)
        self._recent: deque[bool] = deque(maxlen=WINDOW_CALLS)
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

    def park_seconds(self) -> float:
        """Return how long a job turned away by :meth:`admit` waits before it asks again."""
        return self._until_probe() + PARK_AFTER_PROBE_SECONDS

    def succeeded(self, job_id: str) -> bool:
        """A step of ``job_id`` that called the service went through. Return True if that
        ended a pause (the parked jobs may go on now)."""
        with self._lock:
            pause = self._end_locked()
            if pause is None:
                self._recent.append(True)
                return False
            self._prober = None
            self._recent.clear()
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
            pause = self._pause
            starting = pause is None
            if pause is not None and self._prober != job_id:
                return True  # a call that left before the pause began
            if pause is not None:
                self._prober = None
                wait = self._probe_failed_locked(pause, self._now())
            else:
                self._recent.append(False)
                if not is_outage(self._recent, self._timing.min_failures):
                    return False
                pause, wait = self._begin_locked(self._now())
            since, due = pause.since, pause.probe_due
        self._tell(since, due)
        if starting:
            self._log.error(
                Event.SERVICE_UNAVAILABLE,
                error=str(exc),
                status=getattr(exc, "status", None),
                probe_in_seconds=round(wait, 1),
                hint="most recent calls to the service failed transiently; all work waits "
                "and one probe at a time asks again; nothing fails meanwhile",
            )
        return True

    def _forget_probe(self, job_id: str) -> None:
        # A probe that met another kind of error (a permanent one, a refused key) proved
        # nothing about the service's health: the next due step probes instead.
        with self._lock:
            if self._prober == job_id:
                self._prober = None
