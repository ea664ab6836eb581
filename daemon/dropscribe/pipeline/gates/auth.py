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

import threading
from collections.abc import Callable

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.pipeline.ports import Audit

#: Told (since, next_probe) in epoch seconds when a pause starts, (None, None) when it ends.
PauseRecord = Callable[[float | None, float | None], None]

# How long all work waits after the service refused our key, growing per refusal (seconds).
AUTH_PAUSE_FIRST_SECONDS = 5.0
AUTH_PAUSE_MAX_SECONDS = 300.0


def pause_seconds(refusals: int) -> float:
    """Return how long to wait after the ``refusals``-th refusal in a row (counted from 1)."""
    return min(AUTH_PAUSE_MAX_SECONDS, AUTH_PAUSE_FIRST_SECONDS * 2.0 ** (refusals - 1))


class AuthGate:
    """Counts refusals in a row and holds the scheduler through ``hold(seconds)``."""

    def __init__(
        self,
        hold: Callable[[float], None],
        log: Audit,
        now: Callable[[], float],
        reload_key: Callable[[], None] = lambda: None,
        record: PauseRecord = lambda since, next_probe: None,
    ) -> None:
        self._hold = hold
        self._log = log
        self._now = now
        self._reload_key = reload_key
        self._record = record
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._refusals = 0
        self._since = 0.0

    def before_call(self) -> None:
        """A step is about to call the service: during a streak of refusals (this call is a
        probe), read the key source again first."""
        with self._lock:
            probing = self._refusals > 0
        if probing:
            self._reload_key()

    def refused(self, exc: errors.AuthError) -> None:
        """The service refused the key: hold all work, unless a pause is already running."""
        now = self._now()
        with self._lock:
            if self._paused_until > now:
                return
            self._refusals += 1
            self._since = now if self._refusals == 1 else self._since
            wait = pause_seconds(self._refusals)
            self._paused_until = now + wait
            since = self._since
        self._hold(wait)
        self._record(since, now + wait)
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
            self._record(None, None)
            self._log.warning(Event.AUTH_RESUMED)
