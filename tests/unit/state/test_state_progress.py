"""A long job's progress in the state file: version 6 adds it, a version 5 file is migrated
with its jobs kept (without progress), and the jobs of a run with progress are found."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from dropscribe.core.jobs import Job, JobState
from dropscribe.core.progress import AudioProgress
from dropscribe.state import SCHEMA_VERSION, StateStore
from support.old_state import state_file_at

READING = AudioProgress(40.0, 93.0, 2000.0, 20.0, 1990.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[StateStore]:
    opened = StateStore(tmp_path / "state.db")
    yield opened
    opened.close()


def test_state_version_5_file_is_migrated_and_its_jobs_have_no_progress(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state_file_at(path, 5)
    store = StateStore(path)
    try:
        job = store.get("old")
        assert job is not None and (job.state, job.polls) == (JobState.SUBMITTED, 3)
        assert job.progress is None
        store.save(replace(job, progress=READING))
        again = store.get("old")
        assert again is not None and again.progress == READING
    finally:
        store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_with_progress_finds_unfinished_ones_and_those_changed_since(store: StateStore) -> None:
    store.save(Job(id="running", source="a.wav", state=JobState.SUBMITTED, progress=READING))
    store.save(Job(id="no-progress", source="b.wav", state=JobState.SUBMITTED))
    store.save(Job(id="done", source="c.wav", state=JobState.PUBLISHED, progress=READING))
    assert [j.id for j in store.with_progress(since=0.0)] == ["running", "done"]
    assert [j.id for j in store.with_progress(since=9e12)] == ["running"]
