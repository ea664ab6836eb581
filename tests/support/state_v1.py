"""The state file of dropscribe 0.1.0, for the tests of the upgrade from it."""

from __future__ import annotations

#: Version 1 of state.db, as dropscribe 0.1.0 created it (a copy: the code's own migration
#: steps must not be what builds the file they are tested against).
V1_SCHEMA = """
CREATE TABLE jobs (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, state TEXT NOT NULL, size INTEGER NOT NULL,
    sha256 TEXT NOT NULL, fingerprint TEXT NOT NULL, attempts INTEGER NOT NULL,
    upload_url TEXT, idempotency_key TEXT, request_id TEXT, poll_url TEXT, model TEXT,
    polls INTEGER NOT NULL, next_due REAL NOT NULL, error TEXT, failed_step TEXT,
    outputs TEXT NOT NULL, result_of TEXT, steps TEXT NOT NULL, extra TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX jobs_state ON jobs(state);
CREATE INDEX jobs_content ON jobs(sha256, fingerprint);
CREATE TABLE results (job_id TEXT PRIMARY KEY REFERENCES jobs(id), result TEXT NOT NULL);
PRAGMA user_version=1;
"""
