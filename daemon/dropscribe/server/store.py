"""The SQLite store: uploads, jobs, idempotency keys and counters, in ``<data_dir>/server.db``.

One connection in WAL mode serves every thread behind a lock; each method is one short
transaction, so a SIGKILL at any point leaves either the old or the new row, never half of one.
Status transitions are guarded in SQL (``WHERE status = ...``), which makes cancel, finish and
claim safe against each other without any other locking.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# The one piece of the daemon side the server shares: it knows no protocol or client, only
# how a versioned SQLite file is opened and moved forward.
from dropscribe.core.database import open_versioned
from dropscribe.core.transcript import Transcript
from dropscribe.server.job_status import UNFINISHED, JobStatus
from dropscribe.server.records import Admission, Counters, JobRecord, Progress, UploadRecord

#: File name of the database inside the data folder.
DB_FILE = "server.db"

# The schema, as the steps that lead to it: MIGRATIONS[n] takes a file from version n to n + 1
# (``PRAGMA user_version``). A released step never changes; a new version is a new step.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: the tables of 0.1.0, which left its files at version 0 (hence IF NOT EXISTS).
    (
        """CREATE TABLE IF NOT EXISTS uploads (
            id TEXT PRIMARY KEY, extension TEXT NOT NULL, size INTEGER NOT NULL,
            created_at REAL NOT NULL
        )""",
        """CREATE TABLE IF NOT EXISTS jobs (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, route TEXT NOT NULL,
            model TEXT NOT NULL, upload_id TEXT NOT NULL, params TEXT NOT NULL,
            status TEXT NOT NULL, accepted_at REAL NOT NULL, started_at REAL,
            completed_at REAL, result TEXT, error TEXT
        )""",
        """CREATE TABLE IF NOT EXISTS idempotency (
            key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, job_id TEXT NOT NULL,
            created_at REAL NOT NULL
        )""",
        "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    ),
    # 2: how many times a job was running when its engine died.
    ("ALTER TABLE jobs ADD COLUMN crashes INTEGER NOT NULL DEFAULT 0",),
    # 3: a running job's progress, and the finished pieces of a long recording (its
    # checkpoints: a restart goes on after them), kept until the job ends.
    (
        "ALTER TABLE jobs ADD COLUMN progress_done REAL",
        "ALTER TABLE jobs ADD COLUMN progress_total REAL",
        """CREATE TABLE pieces (
            job_id TEXT NOT NULL, channel INTEGER NOT NULL, idx INTEGER NOT NULL,
            result TEXT NOT NULL, PRIMARY KEY (job_id, channel, idx)
        )""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreTooNew(RuntimeError):
    """server.db was written by a newer version; this one must not change it."""


def too_new_error(path: Path, version: int) -> StoreTooNew:
    """Return the error for a server.db at ``version``, newer than this version reads."""
    return StoreTooNew(
        f"{path}: written by a newer version (server data version {version}; this "
        f"one reads up to {SCHEMA_VERSION})"
    )


#: Mode of server.db; SQLite gives its -wal and -shm files the database file's mode.
DB_MODE = 0o600

_JOB_COLUMNS = (
    "id, route, model, upload_id, params, status, accepted_at, started_at, completed_at, "
    "result, error, progress_done, progress_total"
)


def _job_from_row(row: tuple[Any, ...]) -> JobRecord:
    job_id, route, model, upload_id, params, status, accepted, started, completed = row[:9]
    result = json.loads(row[9]) if row[9] is not None else None
    progress = None if row[11] is None else Progress(row[11], row[12])
    return JobRecord(
        job_id, route, model, upload_id, params, JobStatus(status), accepted, started,
        completed, result, row[10], progress,
    )  # fmt: skip


class JobStore:
    """Durable state of the embedded server; safe to share between threads."""

    def __init__(self, data_dir: Path) -> None:
        """Open (creating it if absent) ``<data_dir>/server.db`` and migrate it. Raise
        StoreTooNew, leaving the file as it is, if a newer version wrote it."""
        self._lock = threading.Lock()
        path = private_file(data_dir / DB_FILE)
        self._db = open_versioned(
            path,
            MIGRATIONS,
            lambda version: too_new_error(path, version),
            pragmas=("synchronous=NORMAL",),
        )

    def close(self) -> None:
        """Close the connection; the store must not be used afterwards."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._db:
            yield self._db

    def record_upload(self, upload: UploadRecord) -> None:
        """Remember a completed upload, replacing an earlier PUT to the same URL."""
        with self._transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?)",
                (upload.upload_id, upload.extension, upload.size, upload.created_at),
            )

    def is_submitted(self, upload_id: str) -> bool:
        """Return True once any job refers to this upload (its file must not change then)."""
        with self._transaction() as db:
            row = db.execute("SELECT 1 FROM jobs WHERE upload_id = ? LIMIT 1", (upload_id,))
            return row.fetchone() is not None

    def find_upload(self, upload_id: str) -> UploadRecord | None:
        """Return the completed upload with this id, or None if it never completed."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM uploads WHERE id = ?", (upload_id,)).fetchone()
        return UploadRecord(*row) if row else None

    def admit(
        self, job: JobRecord, key: str | None, fingerprint: str, upload: UploadRecord | None = None
    ) -> Admission:
        """Insert a new accepted job, or return the job an earlier use of ``key`` created.
        ``upload`` is not needed here: an upload on this server's disk cannot change once
        submitted (``LocalUploads.check_replaceable``)."""
        with self._transaction() as db:
            if key is not None:
                earlier = db.execute(
                    "SELECT job_id, fingerprint FROM idempotency WHERE key = ?", (key,)
                ).fetchone()
                if earlier is not None:
                    return Admission(self._job(db, earlier[0]), False, earlier[1] == fingerprint)
                db.execute(
                    "INSERT INTO idempotency VALUES (?, ?, ?, ?)",
                    (key, fingerprint, job.job_id, job.accepted_at),
                )
            db.execute(
                f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, "
                "NULL, NULL, NULL, NULL)",
                (
                    job.job_id,
                    job.route,
                    job.model,
                    job.upload_id,
                    job.params,
                    job.status.value,
                    job.accepted_at,
                ),
            )
            _bump(db, "submissions")
            return Admission(job, True)

    def get(self, job_id: str) -> JobRecord | None:
        """Return the job with this id, or None if there is none."""
        with self._transaction() as db:
            row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row) if row else None

    def _job(self, db: sqlite3.Connection, job_id: str) -> JobRecord:
        row = db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return _job_from_row(row)

    def mark_pending(self, job_id: str) -> bool:
        """Move an accepted job to pending (it is in the queue); return False if it was not."""
        return self._move(job_id, (JobStatus.ACCEPTED,), JobStatus.PENDING)

    def claim(self, job_id: str, model: str, now: float) -> JobRecord | None:
        """Move a waiting job to processing and count an engine run; None if it was not waiting."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = ?, started_at = ?, model = ? "
                "WHERE id = ? AND status IN (?, ?)",
                (
                    JobStatus.PROCESSING.value,
                    now,
                    model,
                    job_id,
                    JobStatus.ACCEPTED.value,
                    JobStatus.PENDING.value,
                ),
            )
            if cursor.rowcount == 0:
                return None
            _bump(db, "engine_runs")
            return self._job(db, job_id)

    def finish(self, job_id: str, result: Transcript | None, error: str | None, now: float) -> bool:
        """Record the end of a processing job: success with a result, or failed with an error.

        Return False if the job was no longer processing (cancelled meanwhile), in which case
        nothing changes.
        """
        status = JobStatus.SUCCESS if error is None else JobStatus.FAILED
        payload = json.dumps(result) if result is not None else None
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = ?, completed_at = ?, result = ?, error = ? "
                "WHERE id = ? AND status = ?",
                (status.value, now, payload, error, job_id, JobStatus.PROCESSING.value),
            )
            db.execute("DELETE FROM pieces WHERE job_id = ?", (job_id,))
            return cursor.rowcount == 1

    def cancel(self, job_id: str, now: float) -> bool:
        """Cancel a job that has not finished; return False if it had already ended."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET status = ?, completed_at = ? WHERE id = ? AND status IN (?, ?, ?)",
                (JobStatus.CANCELLED.value, now, job_id, *(s.value for s in UNFINISHED)),
            )
            db.execute("DELETE FROM pieces WHERE job_id = ?", (job_id,))
            return cursor.rowcount == 1

    def keep_piece(self, job_id: str, channel: int, index: int, result: str,
                   progress: Progress) -> bool:  # fmt: skip
        """Keep a finished piece of a processing job (``result`` its JSON) and the job's
        progress, in one transaction; return False, keeping nothing, if the job is no longer
        processing."""
        with self._transaction() as db:
            cursor = db.execute(
                "UPDATE jobs SET progress_done = ?, progress_total = ? WHERE id = ? AND status = ?",
                (progress.done_seconds, progress.total_seconds, job_id,
                 JobStatus.PROCESSING.value),
            )  # fmt: skip
            if cursor.rowcount == 0:
                return False
            db.execute(
                "INSERT OR REPLACE INTO pieces VALUES (?, ?, ?, ?)",
                (job_id, channel, index, result),
            )
            return True

    def pieces(self, job_id: str) -> list[str]:
        """Return the JSON of the job's finished pieces, by channel and in order."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT result FROM pieces WHERE job_id = ? ORDER BY channel, idx", (job_id,)
            ).fetchall()
        return [row[0] for row in rows]

    def forget_pieces(self, job_id: str) -> None:
        """Drop the job's kept pieces (unusable ones: it starts over)."""
        with self._transaction() as db:
            db.execute("DELETE FROM pieces WHERE job_id = ?", (job_id,))
            db.execute(
                "UPDATE jobs SET progress_done = NULL, progress_total = NULL WHERE id = ?",
                (job_id,),
            )

    def release(self, job_id: str) -> bool:
        """Put a processing job back to pending, for a worker that stops before finishing it."""
        return self._move(job_id, (JobStatus.PROCESSING,), JobStatus.PENDING)

    def _move(self, job_id: str, sources: tuple[JobStatus, ...], target: JobStatus) -> bool:
        marks = ", ".join("?" * len(sources))
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE jobs SET status = ? WHERE id = ? AND status IN ({marks})",
                (target.value, job_id, *(s.value for s in sources)),
            )
            return cursor.rowcount == 1

    def record_crash(self, job_id: str, limit: int, now: float) -> bool:
        """Count an engine death under a processing job; return True if the job was failed.

        Below ``limit`` crashes the job goes back to pending, to run again; at ``limit`` it is
        failed, so a job that kills its engine cannot do so forever.
        """
        with self._transaction() as db:
            return _crashed(db, job_id, limit, now)

    def requeue_unfinished(self, crash_limit: int, now: float) -> list[str]:
        """Put every unfinished job back to pending and return their ids, oldest first.

        Called once at start: whatever was processing when the server died never finished, and
        its death counts as a crash of that job (see record_crash).
        """
        with self._transaction() as db:
            running = db.execute(
                "SELECT id FROM jobs WHERE status = ?", (JobStatus.PROCESSING.value,)
            ).fetchall()
            for (job_id,) in running:
                _crashed(db, job_id, crash_limit, now)
            db.execute(
                "UPDATE jobs SET status = ?, started_at = NULL WHERE status IN (?, ?, ?)",
                (JobStatus.PENDING.value, *(s.value for s in UNFINISHED)),
            )
            rows = db.execute(
                "SELECT id FROM jobs WHERE status = ? ORDER BY seq", (JobStatus.PENDING.value,)
            ).fetchall()
        return [row[0] for row in rows]

    def counters(self) -> Counters:
        """Return the lifetime counters and the number of jobs waiting for a worker."""
        with self._transaction() as db:
            totals = dict(db.execute("SELECT name, value FROM counters").fetchall())
            queued = db.execute(
                "SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)",
                (JobStatus.ACCEPTED.value, JobStatus.PENDING.value),
            ).fetchone()[0]
        return Counters(totals.get("submissions", 0), totals.get("engine_runs", 0), queued)

    def purge_before(self, cutoff: float) -> list[UploadRecord]:
        """Forget finished jobs, idempotency keys and idle uploads older than ``cutoff``.

        Return the uploads forgotten, so the caller can delete their files. An upload that an
        unfinished job still needs is kept whatever its age.
        """
        finished = tuple(s.value for s in JobStatus if s.is_terminal)
        with self._transaction() as db:
            db.execute(
                "DELETE FROM jobs WHERE status IN (?, ?, ?) AND completed_at < ?",
                (*finished, cutoff),
            )
            db.execute("DELETE FROM pieces WHERE job_id NOT IN (SELECT id FROM jobs)")
            db.execute(
                "DELETE FROM idempotency WHERE created_at < ? "
                "AND job_id NOT IN (SELECT id FROM jobs)",
                (cutoff,),
            )
            stale = db.execute(
                "SELECT * FROM uploads WHERE created_at < ? "
                "AND id NOT IN (SELECT upload_id FROM jobs WHERE status IN (?, ?, ?))",
                (cutoff, *(s.value for s in UNFINISHED)),
            ).fetchall()
            db.executemany("DELETE FROM uploads WHERE id = ?", [(row[0],) for row in stale])
        return [UploadRecord(*row) for row in stale]


def private_file(path: Path) -> Path:
    """Create ``path`` (mode 0600, whatever the umask) if absent, tighten it if not; return it."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, DB_MODE))
    os.chmod(path, DB_MODE)
    return path


def _crashed(db: sqlite3.Connection, job_id: str, limit: int, now: float) -> bool:
    processing = JobStatus.PROCESSING.value
    db.execute(
        "UPDATE jobs SET crashes = crashes + 1 WHERE id = ? AND status = ?", (job_id, processing)
    )
    row = db.execute("SELECT crashes FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is not None and row[0] >= limit:
        error = f"the engine crashed {row[0]} times while running this job; it is not retried"
        db.execute(
            "UPDATE jobs SET status = ?, completed_at = ?, error = ? WHERE id = ? AND status = ?",
            (JobStatus.FAILED.value, now, error, job_id, processing),
        )
        return True
    db.execute(
        "UPDATE jobs SET status = ?, started_at = NULL WHERE id = ? AND status = ?",
        (JobStatus.PENDING.value, job_id, processing),
    )
    return False


def _bump(db: sqlite3.Connection, name: str) -> None:
    db.execute(
        "INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
        (name,),
    )
