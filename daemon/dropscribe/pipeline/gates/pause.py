"""The pause bookkeeping the three gates share: one pause of all work, probed until it ends.

A gate (refused key, outage, full disk) decides for itself what starts a pause, what a probe
is and what ends the pause; what they have in common lives here. A pause starts at a moment
(:class:`Pause`), holds the scheduler until its first probe is due, and each failed probe
doubles the wait up to a cap (:class:`ProbeTiming`, :func:`probe_wait`). ``record`` is told
(since, next probe) in epoch seconds when the pause starts and at each probe, and
(None, None) when it ends, so ``status`` and ``STATUS=`` can say so from another process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from dropscribe.audit import Event
from dropscribe.pipeline.ports import Audit

#: Told (since, next_probe) in epoch seconds while paused, (None, None) when the pause ends.
PauseRecord = Callable[[float | None, float | None], None]


@dataclass(frozen=True)
class ProbeTiming:
    """When a pause begins, how long it waits before the first probe, and the cap of its
    doubling (seconds)."""

    first_seconds: float = 5.0  # the settings' retry section is where the defaults live
    #: The cap keeps a long pause probing often enough that work resumes soon after the
    #: service (or the disk) is back, whatever the pause's length.
    max_seconds: float = 15.0


def probe_wait(timing: ProbeTiming, failed_probes: int) -> float:
    """Return how long to wait before the next probe after ``failed_probes`` failed ones (the
    pause's start counts as none)."""
    try:
        return min(timing.max_seconds, timing.first_seconds * 2.0**failed_probes)
    except OverflowError:
        return timing.max_seconds


@dataclass
class Pause:
    """A pause in progress: since when (epoch seconds), how many probes have failed, and when
    the next one is due."""

    since: float
    failed_probes: int = 0
    probe_due: float = 0.0

    def schedule_probe(
        self, timing: ProbeTiming, now: float, hold: Callable[[float], None]
    ) -> float:
        """Set when the next probe is due after the probes failed so far and hold the scheduler
        that long; return the wait in seconds."""
        wait = probe_wait(timing, self.failed_probes)
        self.probe_due = now + wait
        hold(wait)
        return wait


class PauseGate:
    """What every gate holds: the scheduler's hold, the audit log, the clock, the probe timing,
    the pause recorder, one lock and the pause in progress (None outside one).

    A gate's own state is guarded by the same lock. The methods named ``_..._locked`` expect
    the caller to hold it; telling ``record`` and logging happen after it is released.
    """

    def __init__(
        self,
        hold: Callable[[float], None],
        log: Audit,
        now: Callable[[], float],
        timing: ProbeTiming,
        record: PauseRecord,
    ) -> None:
        """``hold(seconds)`` holds the scheduler; ``now`` is wall-clock time (epoch seconds)."""
        self._hold = hold
        self._log = log
        self._now = now
        self._timing = timing
        self._record = record
        self._lock = threading.Lock()
        self._pause: Pause | None = None

    def paused(self) -> bool:
        """Return True during a pause."""
        with self._lock:
            return self._pause is not None

    def _until_probe(self) -> float:
        """Return the seconds until the next probe is due (0 outside a pause or once due)."""
        with self._lock:
            due = 0.0 if self._pause is None else self._pause.probe_due
            return max(0.0, due - self._now())

    def _begin_locked(self, now: float) -> tuple[Pause, float]:
        """Start a pause at ``now`` and hold the scheduler until its first probe; return the
        pause and that wait (seconds)."""
        pause = self._pause = Pause(now)
        return pause, pause.schedule_probe(self._timing, now, self._hold)

    def _probe_failed_locked(self, pause: Pause, now: float) -> float:
        """Count a failed probe of ``pause`` and hold the scheduler, twice as long as before,
        until the next; return that wait (seconds)."""
        pause.failed_probes += 1
        return pause.schedule_probe(self._timing, now, self._hold)

    def _end_locked(self) -> Pause | None:
        """End the pause in progress; return it (None if there was none)."""
        pause, self._pause = self._pause, None
        return pause

    def _tell(self, since: float | None, next_probe: float | None) -> None:
        """Tell ``record`` the pause (since, next probe), or (None, None) once it ended."""
        self._record(since, next_probe)

    def _resumed(self, event: Event, pause: Pause) -> None:
        """Say that ``pause``, already ended, is over: to ``record``, and as ``event`` with how
        long it lasted and how many probes failed."""
        self._tell(None, None)
        self._log.warning(
            event,
            paused_seconds=round(self._now() - pause.since, 1),
            failed_probes=pause.failed_probes,
        )
