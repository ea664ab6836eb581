"""server.db versions: a file left by 0.1.0 (version 0) is migrated and keeps its jobs; a file
from a newer version is refused and left as it is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dropscribe.server.job_status import JobStatus
from dropscribe.server.store import DB_FILE, SCHEMA_VERSION, JobStore, StoreTooNew

#: server.db as dropscribe 0.1.0 created it (a copy: not the migration steps under test).
V0_SCHEMA = """
CREATE TABLE uploads (
    id TEXT PRIMARY KEY, extension TEXT NOT NULL, size INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, route TEXT NOT NULL,
    model TEXT NOT NULL, upload_id TEXT NOT NULL, params TEXT NOT NULL, status TEXT NOT NULL,
    accepted_at REAL NOT NULL, started_at REAL, completed_at REAL, result TEXT, error TEXT
);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, job_id TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO uploads VALUES ('u1', 'wav', 10, 1.0);
INSERT INTO jobs (id, route, model, upload_id, params, status, accepted_at)
    VALUES ('j1', 'whisper-tiny', 'tiny.en', 'u1', '{}', 'accepted', 2.0);
INSERT INTO idempotency VALUES ('key-1', 'fp', 'j1', 2.0);
INSERT INTO counters VALUES ('submissions', 1);
"""


def write_db(folder: Path, script: str, version: int = 0) -> Path:
    path = folder / DB_FILE
    db = sqlite3.connect(path)
    try:
        db.executescript(script)
        db.execute(f"PRAGMA user_version={version}")
        db.commit()
    finally:
        db.close()
    return path


def user_version(path: Path) -> int:
    db = sqlite3.connect(path)
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    finally:
        db.close()


def test_store_file_of_0_1_0_is_migrated_and_keeps_its_jobs(tmp_path: Path) -> None:
    path = write_db(tmp_path, V0_SCHEMA)
    store = JobStore(tmp_path)
    try:
        job = store.get("j1")
        again = store.admit(job, "key-1", "fp") if job is not None else None
        counters = store.counters()
    finally:
        store.close()
    assert job is not None and job.status is JobStatus.ACCEPTED
    assert again is not None and not again.created  # its idempotency key still holds
    assert counters.submissions == 1
    assert user_version(path) == SCHEMA_VERSION


def test_store_new_file_is_at_the_current_version(tmp_path: Path) -> None:
    JobStore(tmp_path).close()
    assert user_version(tmp_path / DB_FILE) == SCHEMA_VERSION


def test_store_file_of_a_newer_version_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = write_db(tmp_path, V0_SCHEMA, version=SCHEMA_VERSION + 1)
    before = path.read_bytes()
    with pytest.raises(StoreTooNew, match=f"server data version {SCHEMA_VERSION + 1}"):
        JobStore(tmp_path)
    assert path.read_bytes() == before
