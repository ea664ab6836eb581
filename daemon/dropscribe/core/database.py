"""Versioned SQLite files: the schema as numbered steps, applied forward on open.

A file's version is its ``PRAGMA user_version``. ``steps[n]`` takes a file from version n to
n + 1; a released step never changes, a new version is a new step. Both of dropscribe's SQLite
files use this: the daemon's ``state.db`` and the embedded server's ``server.db``, and both are
opened the same way, by :func:`open_versioned`: one connection shared by every thread, in WAL
mode, refused before anything is set if a newer program wrote the file, and refused, left as
it is, if it is damaged (``PRAGMA quick_check``, or not an SQLite file at all).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

Steps = Sequence[Sequence[str]]

#: Seconds a statement waits for a lock held by another process before failing.
BUSY_TIMEOUT_SECONDS = 10.0


def open_versioned(
    path: Path,
    steps: Steps,
    too_new: Callable[[int], Exception],
    *,
    pragmas: Sequence[str] = (),
    isolation_level: Literal["DEFERRED", "IMMEDIATE", "EXCLUSIVE"] | None = "DEFERRED",
    damaged: Callable[[str], Exception] | None = None,
) -> sqlite3.Connection:
    """Given a file the caller created (with the mode it needs), return a connection to it for
    every thread, in WAL mode with ``pragmas`` (such as ``"synchronous=FULL"``) set after it,
    brought up to ``len(steps)``.

    Raise ``too_new(version)`` if a newer program wrote the file, before anything is set, so
    that it is left as it is. With ``damaged``, raise ``damaged(what SQLite found)`` if the
    file is not an SQLite database or fails ``PRAGMA quick_check``, before anything is written.
    ``isolation_level`` is sqlite3's: None for a caller that begins its own transactions, the
    default (what a plain ``BEGIN`` does) for ``with connection:`` blocks. The connection is
    closed again if anything fails.
    """
    db = sqlite3.connect(
        path,
        timeout=BUSY_TIMEOUT_SECONDS,
        check_same_thread=False,
        isolation_level=isolation_level,
    )
    try:
        if damaged is not None:
            refuse_damaged(db, damaged)
        refuse_newer(db, steps, too_new)
        db.execute("PRAGMA journal_mode=WAL")
        for pragma in pragmas:
            db.execute(f"PRAGMA {pragma}")
        migrate(db, steps, too_new)
    except BaseException:
        db.close()
        raise
    return db


#: Problems ``PRAGMA quick_check`` reports at most; the first few say enough.
QUICK_CHECK_ROWS = 5


def refuse_damaged(db: sqlite3.Connection, damaged: Callable[[str], Exception]) -> None:
    """Raise ``damaged(what was found)`` if the open file is not an SQLite database or fails
    ``PRAGMA quick_check`` (a check of every page's structure, linear in the file's size)."""
    try:
        rows = db.execute(f"PRAGMA quick_check({QUICK_CHECK_ROWS})").fetchall()
    except sqlite3.OperationalError:
        raise  # locked, unreadable, full: not damage, and the caller reports it as it is
    except sqlite3.DatabaseError as exc:
        raise damaged(str(exc)) from exc
    found = [str(row[0]) for row in rows]
    if found != ["ok"]:
        raise damaged("; ".join(found))


def version_of(db: sqlite3.Connection) -> int:
    """Return the schema version an open file says it has."""
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def refuse_newer(db: sqlite3.Connection, steps: Steps, too_new: Callable[[int], Exception]) -> None:
    """Raise ``too_new(version)`` if a newer program wrote the open file (one past ``steps``)."""
    version = version_of(db)
    if version > len(steps):
        raise too_new(version)


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
