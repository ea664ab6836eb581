"""The state file itself: ``<state_dir>/state.db``, opened once and shared between threads.

WAL with ``synchronous=FULL``: every committed transaction is durable when it returns, so the
pipeline can commit a transition before it makes the next remote call. The file holds presigned
upload and poll URLs (needed to resume) but never the API key; it is created readable by its
owner alone.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dropscribe.core.database import open_versioned
from dropscribe.state.schema import MIGRATIONS, damaged_error, too_new_error
from dropscribe.state.storage_errors import storage_errors


class StateFile:
    """One connection to the state file behind one lock, and its write transactions; the
    tables of :class:`~dropscribe.state.StateStore` are read and written through it."""

    def __init__(self, path: Path) -> None:
        """Open ``path`` (creating it and its folder if absent) and migrate it. Raise
        StateTooNew if a newer dropscribe wrote it, StateDamaged if it is damaged, leaving the
        file as it is."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self.path = path
        self._lock = threading.RLock()
        self._db = open_versioned(
            path,
            MIGRATIONS,
            lambda version: too_new_error(path, version),
            pragmas=("synchronous=FULL", "foreign_keys=ON"),
            isolation_level=None,
            damaged=lambda found: damaged_error(path, found),
        )

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
