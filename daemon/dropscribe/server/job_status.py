"""Job lifecycle vocabulary shared by the store, the workers and the HTTP layer.

The statuses are the six the Tiyaro Async API documents. A job moves
accepted -> pending -> processing -> success | failed, and may become cancelled from any
non-terminal status. A server that dies mid-job puts processing jobs back to pending on start.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum


class JobStatus(StrEnum):
    """Where a job stands; the values are the protocol's status strings."""

    ACCEPTED = "accepted"
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Return True when no further transition can happen."""
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.SUCCESS, JobStatus.FAILED, JobStatus.CANCELLED})

#: Statuses a restarted server must run again, because their work never finished.
UNFINISHED = (JobStatus.ACCEPTED, JobStatus.PENDING, JobStatus.PROCESSING)


def iso_utc(epoch_seconds: float | None) -> str | None:
    """Given a Unix time in seconds (or None), return it as ISO 8601 UTC with milliseconds."""
    if epoch_seconds is None:
        return None
    moment = datetime.fromtimestamp(epoch_seconds, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
