"""The job store: one SQLite file, ``<state_dir>/state.db``; the only module that touches it.

WAL with ``synchronous=FULL``: every ``save`` is durable when it returns, so the pipeline can
commit a transition before it makes the next remote call. Results live in their own table, so a
job that succeeded but was not yet published survives a crash without being polled again, and a
duplicate recording can reuse an earlier transcript.

The file holds presigned upload and poll URLs (needed to resume) but never the API key; it is
created readable by its owner alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dropscribe.core import database as sqlite_schema
from dropscribe.core.announcements import Announcer, Channel, Delivery, Topic, no_announcements
from dropscribe.core.errors import ConfigError, StorageFull
from dropscribe.core.jobs import FINAL_STATES, Job, JobState

BUSY_TIMEOUT_SECONDS = 10.0
# SQLite's primary result codes that say the file cannot be written now, not that a statement
# is wrong: SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
_STORAGE_CODES = frozenset({8, 10, 13, 14})

# The schema, as the steps that lead to it: MIGRATIONS[n] takes a file from version n to n + 1
# (``PRAGMA user_version``). A step is never changed once released; a new version is a new step.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1 (0.1.0): jobs, with the fields the logic did not look up by in an ``extra`` JSON bag.
    (
        """CREATE TABLE IF NOT EXISTS jobs (
            id TEXT PRIMARY KEY,
            source TEXT NOT NULL,
            state TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            upload_url TEXT,
            idempotency_key TEXT,
            request_id TEXT,
            poll_url TEXT,
            model TEXT,
            polls INTEGER NOT NULL,
            next_due REAL NOT NULL,
            error TEXT,
            failed_step TEXT,
            outputs TEXT NOT NULL,
            result_of TEXT,
            steps TEXT NOT NULL,
            extra TEXT NOT NULL,
            updated REAL NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state)",
        "CREATE INDEX IF NOT EXISTS jobs_content ON jobs(sha256, fingerprint)",
        """CREATE TABLE IF NOT EXISTS results (
            job_id TEXT PRIMARY KEY REFERENCES jobs(id),
            result TEXT NOT NULL
        )""",
    ),
    # 2: mtime_ns, done_path and failed_path become typed columns; ``extra`` goes.
    (
        "ALTER TABLE jobs ADD COLUMN mtime_ns INTEGER",
        "ALTER TABLE jobs ADD COLUMN done_path TEXT",
        "ALTER TABLE jobs ADD COLUMN failed_path TEXT",
        """UPDATE jobs SET
            mtime_ns = json_extract(extra, '$.mtime_ns'),
            done_path = json_extract(extra, '$.done_path'),
            failed_path = json_extract(extra, '$.failed_path')""",
        "ALTER TABLE jobs DROP COLUMN extra",
    ),
    # 3: deliveries of webhooks and messages, written with the transition they announce.
    (
        """CREATE TABLE IF NOT EXISTS deliveries (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            endpoint TEXT NOT NULL,
            topic TEXT NOT NULL,
            job_id TEXT NOT NULL,
            body TEXT NOT NULL,
            created REAL NOT NULL,
            next_due REAL NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT,
            abandoned REAL
        )""",
        "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(abandoned, next_due)",
        # The folder profile a job runs with, chosen once at its claim.
        "ALTER TABLE jobs ADD COLUMN profile TEXT",
    ),
    # 4: the request ids of submissions given up because the recording changed after them.
    ("ALTER TABLE jobs ADD COLUMN superseded TEXT NOT NULL DEFAULT '[]'",),
)
SCHEMA_VERSION = len(MIGRATIONS)


#: Told (state before, job saved, result saved with it) after each committed save.
Observer = Callable[[JobState | None, Job, Mapping[str, Any] | None], None]


class StateTooNew(ConfigError):
    """The state file was written by a newer dropscribe; this one must not change it."""


# The jobs table has one column per Job field, in the same order.
_COLUMNS = tuple(f.name for f in dataclasses.fields(Job))
_JSON_COLUMNS = {"outputs", "steps", "superseded"}
_FINAL = tuple(s.value for s in FINAL_STATES)
# The deliveries table has one column per Delivery field, in the same order, then abandoned.
_DELIVERY_COLUMNS = tuple(f.name for f in dataclasses.fields(Delivery))


class StateStore:
    """Durable jobs and results; safe to share between threads (one connection, one lock)."""

    def __init__(
        self,
        path: Path,
        announce: Announcer = no_announcements,
        observe: Observer = lambda before, job, result: None,
    ) -> None:
        """``announce`` decides which deliveries a saved transition writes along with it;
        ``observe`` hears of each saved transition once it is committed (the metrics)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self.path = path
        self._announce = announce
        self._observe = observe
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False, isolation_level=None
        )
        try:
            # Refused before anything is set: a newer version's file is left as it is.
            refuse_newer(self._db, path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            migrate(self._db, path)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Checkpoint and close the file."""
        with self._lock:
            self._db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one write transaction. Raise StorageFull if the file cannot be
        written (the transaction is rolled back, so the connection stays usable)."""
        with self._lock, storage_errors(self.path):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (SQLITE_FULL, an I/O error) leaves the transaction open.
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
                raise

    def probe(self) -> None:
        """Write to the state file and take it back: raise StorageFull if it cannot be written
        (the probe of a storage pause)."""
        with self._transaction() as db:
            # A changed value, so that SQLite really writes the page and commits it.
            db.execute(
                "UPDATE jobs SET updated = ? WHERE rowid = (SELECT MAX(rowid) FROM jobs)",
                (time.time(),),
            )

    def save(self, job: Job, result: Mapping[str, Any] | None = None) -> Job:
        """Insert or replace ``job`` (and its result, if given), durably; return the job."""
        row = _to_row(job)
        marks = ", ".join("?" for _ in _COLUMNS)
        with self._transaction() as db:
            before = db.execute("SELECT state FROM jobs WHERE id = ?", (job.id,)).fetchone()
            deliveries = self._announce(
                None if before is None else JobState(before[0]), job, result
            )
            db.execute(
                f"INSERT OR REPLACE INTO jobs ({', '.join(_COLUMNS)}, updated) VALUES ({marks}, ?)",
                [*(row[c] for c in _COLUMNS), time.time()],
            )
            if result is not None:
                db.execute(
                    "INSERT OR REPLACE INTO results (job_id, result) VALUES (?, ?)",
                    (job.id, json.dumps(result, ensure_ascii=False)),
                )
            _insert_deliveries(db, deliveries)
        self._observe(None if before is None else JobState(before[0]), job, result)
        return job

    # -- deliveries ---------------------------------------------------------------------------

    def claim_delivery(self, now: float, lease_seconds: float) -> Delivery | None:
        """Return the pending delivery due earliest (at ``now`` or before) and push its due
        time ``lease_seconds`` ahead, so no other sender takes it meanwhile and a crash
        mid-send only delays it; None if none is due."""
        with self._transaction() as db:
            row = db.execute(
                f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries "
                "WHERE abandoned IS NULL AND next_due <= ? ORDER BY next_due LIMIT 1",
                (now,),
            ).fetchone()
            if row is None:
                return None
            delivery = _delivery_from_row(row)
            db.execute(
                "UPDATE deliveries SET next_due = ? WHERE id = ?",
                (now + lease_seconds, delivery.id),
            )
        return delivery

    def delivered(self, delivery_id: str) -> None:
        """Forget a delivery its receiver accepted."""
        with self._transaction() as db:
            db.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    def delivery_failed(
        self, delivery_id: str, attempts: int, error: str, next_due: float | None, now: float
    ) -> None:
        """Record a failed attempt: due again at ``next_due``, or abandoned (None) at ``now``."""
        with self._transaction() as db:
            db.execute(
                "UPDATE deliveries SET attempts = ?, last_error = ?, next_due = ?, abandoned = ? "
                "WHERE id = ?",
                (
                    attempts,
                    error,
                    now if next_due is None else next_due,
                    now if next_due is None else None,
                    delivery_id,
                ),
            )

    def delivery_counts(self) -> dict[str, int]:
        """Return how many deliveries are pending and how many were abandoned."""
        with self._lock:
            row = self._db.execute(
                "SELECT COUNT(*) - COUNT(abandoned), COUNT(abandoned) FROM deliveries"
            ).fetchone()
        return {"pending": int(row[0]), "abandoned": int(row[1])}

    def abandoned_deliveries(self, limit: int) -> list[Delivery]:
        """Return up to ``limit`` abandoned deliveries, most recently abandoned first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(_DELIVERY_COLUMNS)} FROM deliveries "
                "WHERE abandoned IS NOT NULL ORDER BY abandoned DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [_delivery_from_row(row) for row in rows]

    def get(self, job_id: str) -> Job | None:
        """Return the job with this id (or unique id prefix), or None."""
        rows = self._select("WHERE id = ? OR id LIKE ? LIMIT 2", (job_id, f"{job_id}%"))
        return rows[0] if len(rows) == 1 else None

    def starting_with(self, prefix: str, limit: int) -> list[Job]:
        """Return up to ``limit`` jobs whose id is ``prefix`` or starts with it, oldest first."""
        return self._select(
            "WHERE substr(id, 1, ?) = ? ORDER BY rowid LIMIT ?", (len(prefix), prefix, limit)
        )

    def result(self, job_id: str) -> dict[str, Any] | None:
        """Return the stored service result of a job, or None."""
        with self._lock:
            row = self._db.execute("SELECT result FROM results WHERE job_id = ?", (job_id,))
            found = row.fetchone()
        return None if found is None else dict(json.loads(found[0]))

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


def is_storage_error(exc: sqlite3.Error) -> bool:
    """Return True if SQLite says the file cannot be written now (full, read-only, I/O)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in _STORAGE_CODES


@contextmanager
def storage_errors(path: Path) -> Iterator[None]:
    """Translate SQLite's "cannot write now" errors in the block into StorageFull."""
    try:
        yield
    except sqlite3.Error as exc:
        if is_storage_error(exc):
            raise StorageFull(f"{path.name}: {exc}") from exc
        raise


def migrate(db: sqlite3.Connection, path: Path) -> int:
    """Bring an open state file up to SCHEMA_VERSION, one step per transaction; return the
    version it had. Raise StateTooNew if a newer dropscribe wrote it."""
    return sqlite_schema.migrate(db, MIGRATIONS, lambda version: too_new_error(path, version))


def refuse_newer(db: sqlite3.Connection, path: Path) -> None:
    """Raise StateTooNew if a newer dropscribe wrote the open state file."""
    version = sqlite_schema.version_of(db)
    if version > SCHEMA_VERSION:
        raise too_new_error(path, version)


def too_new_error(path: Path, version: int) -> StateTooNew:
    """Return the error for a state file at ``version``, newer than this dropscribe reads."""
    return StateTooNew([too_new(path, version)])


def too_new(path: Path, version: int) -> str:
    """Return the problem of a state file at ``version``, newer than this dropscribe reads."""
    return (
        f"{path}: written by a newer dropscribe (state version {version}; this one reads up "
        f"to {SCHEMA_VERSION}); upgrade dropscribe or use another state_dir"
    )


def _insert_deliveries(db: sqlite3.Connection, deliveries: Iterable[Delivery]) -> None:
    marks = ", ".join("?" for _ in _DELIVERY_COLUMNS)
    db.executemany(
        f"INSERT OR IGNORE INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) VALUES ({marks})",
        [_delivery_row(d) for d in deliveries],
    )


def _delivery_row(delivery: Delivery) -> tuple[Any, ...]:
    fields = {c: getattr(delivery, c) for c in _DELIVERY_COLUMNS}
    fields["channel"] = delivery.channel.value
    fields["topic"] = delivery.topic.value
    return tuple(fields.values())


def _delivery_from_row(row: Iterable[Any]) -> Delivery:
    fields = dict(zip(_DELIVERY_COLUMNS, row, strict=True))
    fields["channel"] = Channel(fields["channel"])
    fields["topic"] = Topic(fields["topic"])
    return Delivery(**fields)


def _to_row(job: Job) -> dict[str, Any]:
    row: dict[str, Any] = {c: getattr(job, c) for c in _COLUMNS}
    row["state"] = job.state.value
    for column in _JSON_COLUMNS:
        value = row[column]
        row[column] = json.dumps(list(value) if isinstance(value, tuple) else value)
    return row


def _from_row(row: dict[str, Any]) -> Job:
    for column in _JSON_COLUMNS:
        row[column] = json.loads(row[column])
    row["outputs"] = tuple(row["outputs"])
    row["superseded"] = tuple(row["superseded"])
    row["state"] = JobState(row["state"])
    return Job(**row)
