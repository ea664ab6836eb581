"""The pause on a refused key: when the service answers 401/403, every job waits.

One refusal holds the scheduler (all pools) for a while that doubles with each refusal in a
row, up to a cap; the job that was refused waits in the scheduler's heap like every other. The
first call that the service accepts again ends the streak.

During a streak, every step first asks the gate to re-read the key source (``reload_key``),
so a key fixed in its file is used at the next probe, without a restart. ``record`` is told
when a pause starts (since when the key is refused, when the next probe is due) and when it
ends (None, None), so ``status`` can say so from another process.
"""

from __future__ import annotations

from collections.abc import Callable

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.pipeline.gates.pause import PauseGate, PauseRecord, ProbeTiming
from dropscribe.pipeline.ports import Audit

# How long all work waits after the service refused our key, growing per refusal (seconds).
AUTH_PAUSE_FIRST_SECONDS = 5.0
AUTH_PAUSE_MAX_SECONDS = 300.0
#: The same, as the timing of a pause whose probes are the refused calls.
AUTH_TIMING = ProbeTiming(AUTH_PAUSE_FIRST_SECONDS, AUTH_PAUSE_MAX_SECONDS)


class AuthGate(PauseGate):
    """Counts refusals in a row and holds the scheduler through ``hold(seconds)``.

    A streak of refusals is a pause whose first refusal starts it and whose later ones are
    failed probes; it lasts until a call goes through.
    """

    def __init__(
        self,
        hold: Callable[[float], None],
        log: Audit,
        now: Callable[[], float],
        reload_key: Callable[[], None] = lambda: None,
        record: PauseRecord = lambda since, next_probe: None,
    ) -> None:
        super().__init__(hold, log, now, AUTH_TIMING, record)
        self._reload_key = reload_key

    def before_call(self) -> None:
        """A step is about to call the service: during a streak of refusals (this call is a
        probe), read the key source again first."""
        if self.paused():
            self._reload_key()

    def refused(self, exc: errors.AuthError) -> None:
        """The service refused the key: hold all work, unless a pause is already running."""
        now = self._now()
        with self._lock:
            pause = self._pause
            if pause is not None and pause.probe_due > now:
                return
            if pause is None:
                pause, wait = self._begin_locked(now)
            else:
                wait = self._probe_failed_locked(pause, now)
            since = pause.since
        self._tell(since, now + wait)
        self._log.error(
            Event.AUTH_PAUSED,
            status=exc.status,
            error=str(exc),
            resume_in_seconds=round(wait, 1),
            hint="the service refused the API key: check it; work resumes by itself "
            "once the key works again",
        )

    def accepted(self) -> None:
        """A call went through: end a streak of refusals."""
        with self._lock:
            was_paused = self._end_locked() is not None
        if was_paused:
            self._tell(None, None)
            self._log.warning(Event.AUTH_RESUMED)
