"""The bucket's lifecycle under the retention: uploads older than it are deleted, unless an
unfinished job still needs them.

Job records, idempotency keys and upload records expire in Redis by themselves (book.py); this
sweep does the same for the bytes. Any number of processes may sweep at once: deleting an object
twice is harmless.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from dropscribe.core.periodic import Periodic
from dropscribe.scaleout.book import RedisJobBook
from dropscribe.scaleout.objects import ObjectStore
from dropscribe.scaleout.outages import STORAGE, Outages, Unavailable
from dropscribe.server.retention import sweep_interval

log = logging.getLogger(__name__)

_UPLOAD_NAME = re.compile(r"/(?P<upload_id>[0-9a-f]{32})\.[a-z0-9]+$")


def sweep_bucket(book: RedisJobBook, objects: ObjectStore, cutoff: float) -> int:
    """Delete uploads written before ``cutoff`` that no unfinished job needs; return how many."""
    removed = 0
    for stored in objects.older_than("uploads", cutoff):
        match = _UPLOAD_NAME.search("/" + stored.key)
        job_id = book.upload_job(match["upload_id"]) if match else None
        status = book.status(job_id) if job_id else None
        if status is not None and not status.is_terminal:
            continue
        objects.delete(stored.key)
        removed += 1
    return removed


class BucketSweeper:
    """A thread that sweeps the bucket every ``sweep_interval(retention)`` seconds."""

    def __init__(
        self,
        book: RedisJobBook,
        objects: ObjectStore,
        outages: Outages,
        clock: Callable[[], float],
    ) -> None:
        self._book = book
        self._objects = objects
        self._outages = outages
        self._clock = clock
        self._thread = Periodic(
            "bucket-sweeper", sweep_interval(book.retention_seconds), self._sweep_and_log
        )

    def start(self) -> None:
        """Start sweeping (the first sweep comes one interval after the start)."""
        self._thread.start()

    def sweep_now(self) -> int:
        """Sweep once; return the number of uploads deleted."""
        cutoff = self._clock() - self._book.retention_seconds
        return sweep_bucket(self._book, self._objects, cutoff)

    def stop(self, timeout: float) -> None:
        """Stop the thread, waiting up to ``timeout`` seconds for a sweep in progress."""
        self._thread.stop(timeout)

    def _sweep_and_log(self) -> None:
        try:
            removed = self.sweep_now()
        except Unavailable as problem:
            # Retried next interval; the outage shows in /healthz meanwhile.
            self._outages.failed(STORAGE, problem.message)
            return
        if removed:
            log.info("bucket sweep removed %d uploads past the retention", removed)
