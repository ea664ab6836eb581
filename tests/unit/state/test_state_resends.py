"""Version 7 of the state file: how often a job was sent again because the service lost its
request, and whether its request can still finish; a version 6 file is migrated with its jobs
kept (no resends, their requests open)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dropscribe.core.jobs import JobState
from dropscribe.state import SCHEMA_VERSION, StateStore
from support.old_state import state_file_at


def test_state_schema_version_7_is_the_latest() -> None:
    assert SCHEMA_VERSION == 7


def test_state_version_6_file_is_migrated_without_resends(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state_file_at(path, 6)
    store = StateStore(path)
    try:
        job = store.get("old")
        assert job is not None and job.state is JobState.SUBMITTED
        assert (job.resends, job.request_over) == (0, False)
    finally:
        store.close()


def test_state_resends_and_request_over_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    state_file_at(path, 6)
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
