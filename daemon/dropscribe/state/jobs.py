"""The jobs and their results in the state file: how a Job is stored, and every query of them.

Results live in their own table, so a job that succeeded but was not yet published survives a
crash without being polled again, and a duplicate recording can reuse an earlier transcript.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import time
from collections.abc import Iterable
from typing import Any

from dropscribe.core.jobs import FINAL_STATES, Job, JobState
from dropscribe.core.progress import AudioProgress
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.core.transcript_fields import remote_transcript
from dropscribe.state.state_file import StateFile

# The jobs table has one column per Job field, in the same order.
_COLUMNS = tuple(f.name for f in dataclasses.fields(Job))
_JSON_COLUMNS = {"outputs", "steps", "superseded"}
_FINAL = tuple(s.value for s in FINAL_STATES)


class JobsTable(StateFile):
    """The queries of the jobs and results tables (the writes are :func:`write_job`'s)."""

    def get(self, job_id: str) -> Job | None:
        """Return the job with this id (or unique id prefix), or None."""
        rows = self._select("WHERE id = ? OR id LIKE ? LIMIT 2", (job_id, f"{job_id}%"))
        return rows[0] if len(rows) == 1 else None

    def starting_with(self, prefix: str, limit: int) -> list[Job]:
        """Return up to ``limit`` jobs whose id is ``prefix`` or starts with it, oldest first."""
        return self._select(
            "WHERE substr(id, 1, ?) = ? ORDER BY rowid LIMIT ?", (len(prefix), prefix, limit)
        )

    def result(self, job_id: str) -> RemoteTranscript | None:
        """Return the stored service result of a job, or None. It is checked as a poll's
        answer is: an older version stored what the service sent unchecked."""
        with self._lock:
            row = self._db.execute("SELECT result FROM results WHERE job_id = ?", (job_id,))
            found = row.fetchone()
        return None if found is None else remote_transcript(dict(json.loads(found[0])))

    def in_states(self, states: Iterable[JobState]) -> list[Job]:
        """Return the jobs in any of ``states``, oldest first."""
        names = [s.value for s in states]
        marks = ", ".join("?" for _ in names)
        return self._select(f"WHERE state IN ({marks}) ORDER BY rowid", names)

    def unfinished(self) -> list[Job]:
        """Return every job not yet published or failed, oldest first."""
        return self.in_states(s for s in JobState if s not in FINAL_STATES)

    def by_request_id(self, request_id: str) -> Job | None:
        """Return the job the service knows by ``request_id``, or None."""
        rows = self._select("WHERE request_id = ? ORDER BY rowid DESC LIMIT 1", (request_id,))
        return rows[0] if rows else None

    def find_reusable(self, sha256: str, fingerprint: str) -> Job | None:
        """Return a published job of the same content and parameters that has a result."""
        rows = self._select(
            "WHERE sha256 = ? AND fingerprint = ? AND state = ? "
            "AND id IN (SELECT job_id FROM results) ORDER BY rowid LIMIT 1",
            (sha256, fingerprint, JobState.PUBLISHED.value),
        )
        return rows[0] if rows else None

    def first_in_flight(self, sha256: str, fingerprint: str) -> Job | None:
        """Return the unfinished job of this content and parameters that goes to the service
        (its twins wait for it), or None: one already past ``claimed`` if there is one, else
        the earliest claimed (ties broken by id), so that every twin picks the same one."""
        rows = self._select(
            "WHERE sha256 = ? AND fingerprint = ? AND state NOT IN (?, ?) "
            "ORDER BY state = ?, json_extract(steps, '$.claimed'), id LIMIT 1",
            (sha256, fingerprint, *_FINAL, JobState.CLAIMED.value),
        )
        return rows[0] if rows else None

    def waiting_twins(self, sha256: str, fingerprint: str) -> list[Job]:
        """Return the hashed jobs of this content and parameters that have not left
        ``claimed`` (those waiting for a twin in flight)."""
        return self._select(
            "WHERE sha256 = ? AND fingerprint = ? AND state = ? ORDER BY rowid",
            (sha256, fingerprint, JobState.CLAIMED.value),
        )

    def active_for_source(self, source: str) -> Job | None:
        """Return the unfinished job holding ``source`` in processing/, if any."""
        finals = [s.value for s in FINAL_STATES]
        rows = self._select(
            "WHERE source = ? AND state NOT IN (?, ?) ORDER BY rowid LIMIT 1", (source, *finals)
        )
        return rows[0] if rows else None

    def with_progress(self, since: float) -> list[Job]:
        """Return the jobs with progress that are unfinished or were changed at or after
        ``since`` (epoch seconds), oldest first."""
        return self._select(
            "WHERE progress IS NOT NULL AND (state NOT IN (?, ?) OR updated >= ?) ORDER BY rowid",
            (*_FINAL, since),
        )

    def counts(self) -> dict[str, int]:
        """Return the number of jobs per state, every state listed."""
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        found = {str(state): int(n) for state, n in rows}
        return {s.value: found.get(s.value, 0) for s in JobState}

    def recent(self, state: JobState, limit: int) -> list[Job]:
        """Return up to ``limit`` jobs in ``state``, most recently changed first."""
        return self._select(
            "WHERE state = ? ORDER BY updated DESC, rowid DESC LIMIT ?", (state.value, limit)
        )

    def _select(self, where: str, params: Iterable[Any]) -> list[Job]:
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM jobs {where}", list(params)
            )
            rows = cursor.fetchall()
        return [_from_row(dict(zip(_COLUMNS, row, strict=True))) for row in rows]


def state_before(db: sqlite3.Connection, job_id: str) -> JobState | None:
    """Return the state the stored job ``job_id`` is in, or None if there is none yet."""
    before = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if before is None else JobState(before[0])


def write_job(db: sqlite3.Connection, job: Job, result: RemoteTranscript | None) -> None:
    """Insert or replace ``job`` (and its result, if given) in the open transaction."""
    row = _to_row(job)
    marks = ", ".join("?" for _ in _COLUMNS)
    db.execute(
        f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}, updated) VALUES ({marks}, ?)",
        [*(row[c] for c in _COLUMNS), time.time()],
    )
    if result is not None:
        db.execute(
            "INSERT OR REPLACE INTO results (job_id, result) VALUES (?, ?)",
            (job.id, json.dumps(result, ensure_ascii=False)),
        )


def _to_row(job: Job) -> dict[str, Any]:
    row: dict[str, Any] = {c: getattr(job, c) for c in _COLUMNS}
    row["state"] = job.state.value
    row["request_over"] = int(job.request_over)
    for column in _JSON_COLUMNS:
        value = row[column]
        row[column] = json.dumps(list(value) if isinstance(value, tuple) else value)
    progress = job.progress
    row["progress"] = None if progress is None else json.dumps(dataclasses.asdict(progress))
    return row


def _from_row(row: dict[str, Any]) -> Job:
    for column in _JSON_COLUMNS:
        row[column] = json.loads(row[column])
    row["outputs"] = tuple(row["outputs"])
    row["superseded"] = tuple(row["superseded"])
    row["state"] = JobState(row["state"])
    row["request_over"] = bool(row["request_over"])
    progress = row["progress"]
    row["progress"] = None if progress is None else AudioProgress(**json.loads(progress))
    return Job(**row)
