"""Storage errors: SQLite's "cannot write the file now" told apart from a wrong statement.

Those errors (the disk full, the file read-only, an I/O error) become
:class:`~dropscribe.core.errors.StorageFull`, which pauses the work until the file can be written
again, rather than failing the job at hand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dropscribe.core.errors import StorageFull

# SQLite's primary result codes that say the file cannot be written now, not that a statement
# is wrong: SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
_STORAGE_CODES = frozenset({8, 10, 13, 14})


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
