"""Versioned SQLite files: the schema as numbered steps, applied forward on open.

A file's version is its ``PRAGMA user_version``. ``steps[n]`` takes a file from version n to
n + 1; a released step never changes, a new version is a new step. Both of dropscribe's SQLite
files use this: the daemon's ``state.db`` and the embedded server's ``server.db``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

Steps = Sequence[Sequence[str]]


def version_of(db: sqlite3.Connection) -> int:
    """Return the schema version an open file says it has."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: sqlite3.Connection, steps: Steps, too_new: Callable[[int], Exception]) -> int:
    """Bring an open file up to ``len(steps)``, one step per transaction; return the version
    it had. Raise ``too_new(version)`` if a newer program wrote it, leaving it unchanged."""
    latest = len(steps)
    first: int | None = None
    while True:
        # Read inside the transaction, so that two processes opening one file migrate it once.
        db.execute("BEGIN IMMEDIATE")
        try:
            version = version_of(db)
            first = version if first is None else first
            if version > latest:
                raise too_new(version)
            if version == latest:
                db.execute("COMMIT")
                return first
            for statement in steps[version]:
                db.execute(statement)
            db.execute(f"PRAGMA user_version={version + 1}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
