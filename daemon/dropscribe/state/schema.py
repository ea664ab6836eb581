"""The state file's schema, as the steps that lead to it, and the refusal of a newer file.

``state.db`` is versioned as :mod:`dropscribe.core.database` describes; a file written by a newer
dropscribe is refused with :class:`StateTooNew` (a configuration error: exit 78) and left as it
is, so that a downgrade never damages it.
"""

from __future__ import annotations

from pathlib import Path

from dropscribe.core.errors import ConfigError

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
    # 5: incomplete transcripts a person has acknowledged (``dropscribe acknowledge``), which
    # ``status`` no longer lists; when, in epoch seconds.
    (
        """CREATE TABLE IF NOT EXISTS acknowledged (
            job_id TEXT PRIMARY KEY REFERENCES jobs(id),
            at REAL NOT NULL
        )""",
    ),
    # 6: a long job's progress as its polls report it (JSON: core.progress.AudioProgress).
    ("ALTER TABLE jobs ADD COLUMN progress TEXT",),
    # 7: how often a job was sent again because the service lost its request, and whether
    # its current request can still finish (0: it may; 1: refused or lost).
    (
        "ALTER TABLE jobs ADD COLUMN resends INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE jobs ADD COLUMN request_over INTEGER NOT NULL DEFAULT 0",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


class StateTooNew(ConfigError):
    """The state file was written by a newer dropscribe; this one must not change it."""


class StateDamaged(ConfigError):
    """The state file is damaged; it is left as it is, for the user to recover or replace."""


def damaged_error(path: Path, found: str) -> StateDamaged:
    """Return the error for a state file that SQLite finds damaged (``found`` says how)."""
    return StateDamaged(
        [
            f"{path}: the state file is damaged ({found}); it was left as it is. Stop "
            f"dropscribe and move it aside (mv {path.name} {path.name}.damaged), then restore "
            f"it from a backup, or recover what SQLite can (sqlite3 {path.name}.damaged "
            f".recover | sqlite3 {path.name}), or start without it: recordings in processing/ "
            "are then taken up again as new jobs and sent to the service again"
        ]
    )


def too_new_error(path: Path, version: int) -> StateTooNew:
    """Return the error for a state file at ``version``, newer than this dropscribe reads."""
    return StateTooNew([too_new(path, version)])


def too_new(path: Path, version: int) -> str:
    """Return the problem of a state file at ``version``, newer than this dropscribe reads."""
    return (
        f"{path}: written by a newer dropscribe (state version {version}; this one reads up "
        f"to {SCHEMA_VERSION}); upgrade dropscribe or use another state_dir"
    )
