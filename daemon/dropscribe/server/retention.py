"""The retention sweep: forget finished jobs and delete uploads older than the retention.

It runs once at start and then periodically in its own thread. The store decides what is old
(in SQL); this module only deletes the files it is handed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from dropscribe.core.periodic import Periodic
from dropscribe.server.store import JobStore
from dropscribe.server.uploads import upload_path

log = logging.getLogger(__name__)

#: Longest pause between sweeps, in seconds (hourly is fine for a retention counted in hours).
MAX_SWEEP_INTERVAL_SECONDS = 3600.0

#: Shortest pause between sweeps, in seconds, so a tiny retention cannot spin the thread.
MIN_SWEEP_INTERVAL_SECONDS = 1.0


def sweep_interval(retention_seconds: float) -> float:
    """Return the pause between sweeps: a quarter of the retention, clamped to sane bounds."""
    quarter = retention_seconds / 4
    return max(MIN_SWEEP_INTERVAL_SECONDS, min(MAX_SWEEP_INTERVAL_SECONDS, quarter))


def sweep(store: JobStore, uploads_dir: Path, cutoff: float) -> int:
    """Forget everything finished before ``cutoff`` and delete its files; return files removed."""
    stale = store.purge_before(cutoff)
    for upload in stale:
        upload_path(uploads_dir, upload.upload_id, upload.extension).unlink(missing_ok=True)
    return len(stale)


class RetentionSweeper:
    """A thread that sweeps at start and then every ``sweep_interval(retention)`` seconds."""

    def __init__(
        self,
        store: JobStore,
        uploads_dir: Path,
        retention_seconds: float,
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self._uploads_dir = uploads_dir
        self._retention_seconds = retention_seconds
        self._clock = clock
        self._thread = Periodic(
            "server-retention", sweep_interval(retention_seconds), self._sweep_and_log
        )

    def start(self) -> None:
        """Sweep once now, then start the periodic thread."""
        self.sweep_now()
        self._thread.start()

    def sweep_now(self) -> int:
        """Sweep immediately; return the number of upload files removed."""
        return sweep(self._store, self._uploads_dir, self._clock() - self._retention_seconds)

    def stop(self, timeout: float) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for a sweep in progress."""
        self._thread.stop(timeout)

    def _sweep_and_log(self) -> None:
        try:
            removed = self.sweep_now()
        except Exception:
            # A failed sweep (disk full, locked DB) is retried next interval, not fatal.
            log.exception("retention sweep failed")
            return
        if removed:
            log.info("retention sweep removed %d uploads", removed)
