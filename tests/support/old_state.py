"""A state file as an older version left it, for the migration tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from dropscribe.state.schema import MIGRATIONS


def state_file_at(path: Path, version: int) -> None:
    """Write a state file at ``version`` holding one submitted job ``old`` (``talk.wav``), as
    that version's migration steps left it."""
    db = sqlite3.connect(path)
    try:
        for step in MIGRATIONS[:version]:
            for statement in step:
                db.execute(statement)
        db.execute(
            "INSERT INTO jobs (id, source, state, size, sha256, fingerprint, attempts, polls, "
            "next_due, outputs, steps, updated, superseded) VALUES "
            "('old', 'talk.wav', 'submitted', 1, '', '', 0, 3, 0, '[]', '{}', 1, '[]')"
        )
        db.execute(f"PRAGMA user_version={version:d}")
        db.commit()
    finally:
        db.close()
