"""Version 7 of the state file: how often a job was sent again because the service lost its
request, and whether its request can still finish; a version 6 file is migrated with its jobs
kept (no resends, their requests open)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from dropscribe.core.jobs import JobState
from dropscribe.state import SCHEMA_VERSION, StateStore
from dropscribe.state.schema import MIGRATIONS


def version_6_file(path: Path) -> None:
    """Write a state file at version 6 holding one submitted job, as 6's steps left it."""
    db = sqlite3.connect(path)
    try:
        for step in MIGRATIONS[:6]:
            for statement in step:
                db.execute(statement)
        db.execute(
            "INSERT INTO jobs (id, source, state, size, sha256, fingerprint, attempts, polls, "
            "next_due, outputs, steps, updated, superseded) VALUES "
            "('old', 'talk.wav', 'submitted', 1, '', '', 0, 3, 0, '[]', '{}', 1, '[]')"
        )
        db.execute("PRAGMA user_version=6")
        db.commit()
    finally:
        db.close()


def test_state_schema_version_7_is_the_latest() -> None:
    assert SCHEMA_VERSION == 7


def test_state_version_6_file_is_migrated_without_resends(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    version_6_file(path)
    store = StateStore(path)
    try:
        job = store.get("old")
        assert job is not None and job.state is JobState.SUBMITTED
        assert (job.resends, job.request_over) == (0, False)
    finally:
        store.close()


def test_state_resends_and_request_over_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    version_6_file(path)
    store = StateStore(path)
    try:
        job = store.get("old")
        assert job is not None
        store.save(replace(job, resends=2, request_over=True))
    finally:
        store.close()
    again = StateStore(path)
    try:
        kept = again.get("old")
        assert kept is not None and (kept.resends, kept.request_over) == (2, True)
    finally:
        again.close()
