"""The incomplete transcripts still to be seen to: published marked incomplete, neither
acknowledged by a person nor retried (the recording dropped again, a later job of the same
source). ``status`` lists them for as long as that holds, however many files came after.
"""

from __future__ import annotations

from dropscribe.core.jobs import Job, JobState
from dropscribe.state.jobs import JobsTable

# A result the daemon judged incomplete: its ``complete`` is JSON false (json_extract: 0).
_INCOMPLETE = "SELECT job_id FROM results WHERE json_extract(result, '$.complete') = 0"
_OPEN = (
    f"WHERE state = ? AND id IN ({_INCOMPLETE}) "
    "AND id NOT IN (SELECT job_id FROM acknowledged) "
    "AND NOT EXISTS (SELECT 1 FROM jobs AS later "
    "WHERE later.source = jobs.source AND later.rowid > jobs.rowid)"
)


class AcknowledgementsTable(JobsTable):
    """The open incomplete transcripts, and the acknowledgements that close them."""

    def open_incomplete(self, limit: int) -> list[Job]:
        """Return up to ``limit`` open incomplete transcripts' jobs, most recent first."""
        return self._select(
            f"{_OPEN} ORDER BY updated DESC, rowid DESC LIMIT ?",
            (JobState.PUBLISHED.value, limit),
        )

    def open_incomplete_count(self) -> int:
        """Return how many incomplete transcripts are open."""
        with self._lock:
            row = self._db.execute(
                f"SELECT COUNT(*) FROM jobs {_OPEN}", (JobState.PUBLISHED.value,)
            ).fetchone()
        return int(row[0])

    def is_open_incomplete(self, job_id: str) -> bool:
        """Return True when the job's transcript is incomplete and still open."""
        with self._lock:
            row = self._db.execute(
                f"SELECT 1 FROM jobs {_OPEN} AND id = ?", (JobState.PUBLISHED.value, job_id)
            ).fetchone()
        return row is not None

    def acknowledge(self, job_id: str, now: float) -> None:
        """Record that a person has seen the job's incomplete transcript (once: a second
        acknowledgement keeps the first's time)."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO acknowledged (job_id, at) VALUES (?, ?)", (job_id, now)
            )
