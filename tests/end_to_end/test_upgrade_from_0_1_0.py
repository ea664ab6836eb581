"""A data folder left by dropscribe 0.1.0 with jobs in flight finishes every job exactly once.

The folder is made the way it happens: a daemon with the embedded engine is killed with jobs
submitted and recordings in processing/. Its two SQLite files are then written back in 0.1.0's
formats (state.db at version 1 with the ``extra`` JSON column, server.db at version 0), as
0.1.0 would have left them, and ``dropscribe once`` runs on the folder.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from support.daemon import DATA_PATHS, Daemon, expect_outputs, files_under
from support.state_v1 import V1_SCHEMA

SPEECH = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "speech"
FIXTURES = ("jfk.flac", "OSR_us_000_0034_8k.wav")
#: Seconds for loading tiny.en and transcribing 47 s of speech on 2 busy cores.
ENGINE_TIMEOUT = 150.0
#: The jobs table of version 1, column by column.
V1_COLUMNS = [
    "id",
    "source",
    "state",
    "size",
    "sha256",
    "fingerprint",
    "attempts",
    "upload_url",
    "idempotency_key",
    "request_id",
    "poll_url",
    "model",
    "polls",
    "next_due",
    "error",
    "failed_step",
    "outputs",
    "result_of",
    "steps",
    "extra",
    "updated",
]
#: Job fields that 0.1.0 kept in ``extra``.
EXTRA_FIELDS = ("mtime_ns", "done_path", "failed_path")


def as_0_1_0_state(path: Path) -> None:
    """Rewrite state.db (any later version) as 0.1.0's version 1, jobs and results kept."""
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    jobs = [dict(row) for row in db.execute("SELECT * FROM jobs")]
    results = db.execute("SELECT job_id, result FROM results").fetchall()
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.executescript(V1_SCHEMA)
    for job in jobs:
        job["extra"] = json.dumps({k: job.pop(k) for k in EXTRA_FIELDS if job.get(k) is not None})
        db.execute(
            f"INSERT INTO jobs VALUES ({', '.join('?' * len(V1_COLUMNS))})",
            [job[c] for c in V1_COLUMNS],
        )
    db.executemany("INSERT INTO results VALUES (?, ?)", [tuple(r) for r in results])
    db.commit()
    db.close()


def as_0_1_0_server_data(path: Path) -> None:
    """Turn server.db into what 0.1.0 left: its tables (without the later ``crashes`` and
    progress columns and pieces table), at version 0."""
    db = sqlite3.connect(path)
    for column in ("crashes", "progress_done", "progress_total"):
        db.execute(f"ALTER TABLE jobs DROP COLUMN {column}")
    db.execute("DROP TABLE pieces")
    db.execute("PRAGMA user_version=0")
    db.commit()
    db.close()


@pytest.mark.slow
def test_once_on_a_0_1_0_folder_with_jobs_in_flight_finishes_each_exactly_once(
    tmp_path: Path,
) -> None:
    settings = {
        "paths": dict(DATA_PATHS),
        "watch": {"settle_seconds": 0.5},
        "poll": {"initial_seconds": 0.5, "max_seconds": 1},
    }
    daemon = Daemon(tmp_path, settings)
    try:
        leave_jobs_in_flight(daemon)
        as_0_1_0_state(daemon.root / "data" / "state" / "state.db")
        as_0_1_0_server_data(daemon.root / "data" / "state" / "embedded" / "server.db")

        done = daemon.run("once", timeout=ENGINE_TIMEOUT)

        assert done.returncode == 0, (
            done.stderr[-3000:],
            daemon.events("job.failed"),
            daemon.events("transcript.incomplete"),
        )
        assert daemon.outputs() == expect_outputs([Path(name).stem for name in FIXTURES])
        assert files_under(daemon.processing) == []
        assert sorted(files_under(daemon.done)) == sorted(FIXTURES)
        for name in FIXTURES:
            # At most one: the kill may land after a submission was saved but before its
            # submit.accepted line was written; the server's count below is the proof.
            requests = {e["request_id"] for e in daemon.events("submit.accepted", source=name)}
            assert len(requests) <= 1, (name, requests)
            assert len(daemon.events("job.published", source=name)) == 1
        assert server_jobs(daemon.root / "data" / "state" / "embedded" / "server.db") == len(
            FIXTURES
        )
    finally:
        daemon.close()


def server_jobs(path: Path) -> int:
    """Return how many transcription jobs the embedded server was ever given."""
    db = sqlite3.connect(path)
    try:
        return int(db.execute("SELECT COUNT(*) FROM jobs").fetchone()[0])
    finally:
        db.close()


def leave_jobs_in_flight(daemon: Daemon) -> None:
    """Run the daemon until a job is submitted, then kill it: jobs in flight, recordings in
    processing/, both SQLite files mid-way."""
    daemon.inbox.mkdir(parents=True)
    daemon.start_and_wait(timeout=ENGINE_TIMEOUT)
    staging = daemon.root / "staging"
    staging.mkdir()
    for name in FIXTURES:
        shutil.copyfile(SPEECH / name, staging / name)
        (staging / name).rename(daemon.inbox / name)
    daemon.wait_for_event("submit.accepted", timeout=ENGINE_TIMEOUT)
    daemon.kill()
    assert not daemon.events("job.published"), "too late: a job finished before the kill"
    assert files_under(daemon.processing), "nothing left in processing/"
