"""The pause on a refused key: when the service answers 401/403, every job waits.

One refusal holds the scheduler (all pools) for a while that doubles with each refusal in a
row, up to a cap; the job that was refused waits in the scheduler's heap like every other. The
first call that the service accepts again ends the streak.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from dropscribe import errors
from dropscribe.audit import Event
from dropscribe.pipeline.ports import Audit

# How long all work waits after the service refused our key, growing per refusal (seconds).
AUTH_PAUSE_FIRST_SECONDS = 5.0
AUTH_PAUSE_MAX_SECONDS = 300.0


def pause_seconds(refusals: int) -> float:
    """Return how long to wait after the ``refusals``-th refusal in a row (counted from 1)."""
    return min(AUTH_PAUSE_MAX_SECONDS, AUTH_PAUSE_FIRST_SECONDS * 2.0 ** (refusals - 1))


class AuthGate:
    """Counts refusals in a row and holds the scheduler through ``hold(seconds)``."""

    def __init__(self, hold: Callable[[float], None], log: Audit, now: Callable[[], float]) -> None:
        self._hold = hold
        self._log = log
        self._now = now
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._refusals = 0

    def refused(self, exc: errors.AuthError) -> None:
        """The service refused the key: hold all work, unless a pause is already running."""
        now = self._now()
        with self._lock:
            if self._paused_until > now:
                return
            self._refusals += 1
            wait = pause_seconds(self._refusals)
            self._paused_until = now + wait
        self._hold(wait)
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
            was_paused = self._refusals > 0
            self._refusals = 0
        if was_paused:
            self._log.warning(Event.AUTH_RESUMED)
