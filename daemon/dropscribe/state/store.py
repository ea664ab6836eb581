"""The state store: the jobs, their results, the acknowledged incomplete transcripts and the
deliveries, in one state file.

A saved transition, its result and the deliveries that announce it are one transaction, which
is why the tables share one connection and one lock, a
:class:`~dropscribe.state.state_file.StateFile`, rather than being parts with a file each.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dropscribe.core.announcements import Announcer, no_announcements
from dropscribe.core.jobs import Job, JobState
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.state.acknowledgements import AcknowledgementsTable
from dropscribe.state.deliveries import DeliveriesTable, write_deliveries
from dropscribe.state.jobs import state_before, write_job

#: Told (state before, job saved, result saved with it) after each committed save.
Observer = Callable[[JobState | None, Job, RemoteTranscript | None], None]


class StateStore(AcknowledgementsTable, DeliveriesTable):
    """Durable jobs, results, acknowledgements and deliveries; safe to share between threads
    (one connection, one lock). Built of the tables' queries over one :class:`StateFile`
    (the jobs' through the acknowledgements', which read them), so that callers (the
    pipeline's store, the webhook worker's queue) each see one object with its methods."""

    def __init__(
        self,
        path: Path,
        announce: Announcer = no_announcements,
        observe: Observer = lambda before, job, result: None,
    ) -> None:
        """``announce`` decides which deliveries a saved transition writes along with it;
        ``observe`` hears of each saved transition once it is committed (the metrics)."""
        super().__init__(path)
        self._announce = announce
        self._observe = observe

    def save(self, job: Job, result: RemoteTranscript | None = None) -> Job:
        """Insert or replace ``job`` (and its result, if given), durably; return the job."""
        with self._transaction() as db:
            before = state_before(db, job.id)
            deliveries = self._announce(before, job, result)
            write_job(db, job, result)
            write_deliveries(db, deliveries)
        self._observe(before, job, result)
        return job
