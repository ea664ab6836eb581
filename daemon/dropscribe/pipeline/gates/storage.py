"""The pause of a full disk: when the data root or the state file cannot be written, all work
waits.

ENOSPC, EDQUOT, EIO and EROFS from any step, and :class:`dropscribe.core.errors.StorageFull`
from the state file (SQLITE_FULL, a read-only file, an I/O error), are no verdict on the job
that met them: the gate logs one ``storage.full``, holds the scheduler, and parks every job until a
probe can write again (the probe writes a file of :data:`PROBE_BYTES` beside the state file and
a transaction to it, see ``probe``). Then one ``storage.available`` and every parked job goes
on from its last committed step, so each recording is finished exactly once.

Logging itself may fail while the disk is full: the audit file drops such lines whole (see
:mod:`dropscribe.audit.trail`), and nothing here depends on a line being written.
"""

from __future__ import annotations

import contextlib
import errno
from collections.abc import Callable

from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.pipeline.gates.pause import PauseGate, PauseRecord, ProbeTiming
from dropscribe.pipeline.ports import Audit

#: The errno values that say "the disk cannot take this now", not "this job is wrong".
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS})
#: What a probe writes beside the state file before work resumes: room for a job's outputs
#: and the state file's next commits, so the first job after the pause does not stop again
#: (bytes).
PROBE_BYTES = 1024 * 1024


def is_storage_trouble(exc: BaseException) -> bool:
    """Return True if ``exc`` (or the error it was raised from) says the disk or the state
    file cannot be written now."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, errors.StorageFull):
            return True
        if isinstance(seen, OSError) and seen.errno in STORAGE_ERRNOS:
            return True
        seen = seen.__cause__
    return False


class StorageGate(PauseGate):
    """Pauses all work while the disk is full; the daemon's main loop calls :meth:`probe_if_due`.

    Safe to call from every worker thread.
    """

    def __init__(
        self,
        hold: Callable[[float], None],
        log: Audit,
        now: Callable[[], float],
        timing: ProbeTiming,
        probe: Callable[[], None],
        record: PauseRecord = lambda since, next_probe: None,
    ) -> None:
        """``probe()`` raises if the disk still cannot be written; ``record`` is told the
        pause (it may fail while the disk is full: it is then skipped)."""
        super().__init__(hold, log, now, timing, record)
        self._probe = probe

    def pause_times(self) -> tuple[float, float] | None:
        """Return (since, next probe) in epoch seconds during a pause, else None."""
        with self._lock:
            pause = self._pause
            return None if pause is None else (pause.since, pause.probe_due)

    def park_seconds(self) -> float:
        """Return how long a job stopped by the full disk waits before it is looked at again
        (the end of the pause wakes it sooner)."""
        return self._until_probe() + self._timing.max_seconds

    def failed(self, exc: BaseException) -> bool:
        """A step raised ``exc``. Return True if it is storage trouble (the job waits for the
        pause to end, nothing is counted against it), False if the usual policy decides."""
        if not is_storage_trouble(exc):
            return False
        with self._lock:
            if self._pause is not None:
                return True
            pause, wait = self._begin_locked(self._now())
        self._tell(pause.since, pause.probe_due)
        self._log.error(
            Event.STORAGE_FULL,
            error=str(exc),
            probe_in_seconds=round(wait, 1),
            hint="the disk of the data root or of state.db cannot be written (full, "
            "read-only or failing); all work waits and resumes by itself once a probe "
            "can write again; free some space",
        )
        return True

    def probe_if_due(self) -> bool:
        """During a pause, once the next probe is due, try to write. Return True if that ended
        the pause (the parked jobs may go on now)."""
        with self._lock:
            pause = self._pause
            if pause is None or self._now() < pause.probe_due:
                return False
        try:
            self._probe()
        except Exception as exc:
            if not is_storage_trouble(exc):
                raise
            with self._lock:
                self._probe_failed_locked(pause, self._now())
            self._tell(pause.since, pause.probe_due)
            return False
        with self._lock:
            self._end_locked()
        self._resumed(Event.STORAGE_AVAILABLE, pause)
        return True

    def _tell(self, since: float | None, next_probe: float | None) -> None:
        """Tell ``record`` the pause, unless the disk refuses that too."""
        # The pause file is on the full disk too; STATUS= still says so, from memory.
        with contextlib.suppress(OSError):
            self._record(since, next_probe)
