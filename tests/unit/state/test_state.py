"""The SQLite job store, on a real file in a temporary folder."""

from __future__ import annotations

import contextlib
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.core.jobs import Job, JobState
from dropscribe.core.progress import AudioProgress
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.state import StateStore

S = JobState


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[StateStore]:
    store = StateStore(db_path)
    yield store
    store.close()


def full_job(**changes: object) -> Job:
    fields: dict[str, object] = {
        "id": "0123abcd",
        "source": "sub/dir/talk é.wav",
        "state": S.SUBMITTED,
        "size": 123_456,
        "sha256": "ab" * 32,
        "fingerprint": "fp-1",
        "attempts": 2,
        "upload_url": "https://up.example/put?X-Amz-Signature=s",
        "idempotency_key": "0123abcd",
        "request_id": "req-9",
        "poll_url": "https://api.example/poll/req-9",
        "model": "whisper-tiny",
        "polls": 7,
        "next_due": 1234.5,
        "error": "boom",
        "failed_step": "poll",
        "outputs": ("out/a.txt", "out/a.json"),
        "result_of": "ffff0000",
        "steps": {"claimed": 1.25, "uploading": 2.5, "submitted": 3.75},
        "mtime_ns": 1_700_000_000_123_456_789,
        "done_path": "done/a.wav",
        "failed_path": "failed/a.wav",
        "progress": AudioProgress(60.5, 5400.25, 1_700_000_010.5, 20.0, 1_700_000_000.25),
    }
    fields.update(changes)
    return Job(**fields)  # type: ignore[arg-type]


@contextlib.contextmanager
def second_connection(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path)
    try:
        yield db
    finally:
        db.close()


def test_state_store_save_then_get_returns_every_field(store: StateStore) -> None:
    job = full_job()
    store.save(job)
    assert store.get(job.id) == job


def test_state_store_roundtrip_keeps_types_of_state_outputs_and_steps(store: StateStore) -> None:
    store.save(full_job())
    got = store.get("0123abcd")
    assert got is not None
    assert got.state is S.SUBMITTED
    assert isinstance(got.outputs, tuple)
    assert all(isinstance(t, float) for t in got.steps.values())


def test_state_store_defaults_job_roundtrip_unchanged(store: StateStore) -> None:
    job = Job(id="plain", source="x.wav")
    store.save(job)
    assert store.get("plain") == job


def test_state_store_save_same_id_replaces_earlier_row(store: StateStore) -> None:
    store.save(full_job(polls=1))
    store.save(full_job(polls=2))
    got = store.get("0123abcd")
    assert got is not None and got.polls == 2
    assert sum(store.counts().values()) == 1


def test_state_store_get_unique_prefix_finds_job(store: StateStore) -> None:
    store.save(full_job(id="abc123"))
    store.save(full_job(id="def456"))
    got = store.get("abc")
    assert got is not None and got.id == "abc123"


def test_state_store_get_ambiguous_prefix_returns_none(store: StateStore) -> None:
    store.save(full_job(id="abc123"))
    store.save(full_job(id="abc456"))
    assert store.get("abc") is None


def test_state_store_get_unknown_id_returns_none(store: StateStore) -> None:
    store.save(full_job(id="abc123"))
    assert store.get("zzz") is None


def test_state_store_starting_with_returns_every_match_up_to_the_limit(store: StateStore) -> None:
    for job_id in ("abc1", "abc2", "abc3", "abd4"):
        store.save(full_job(id=job_id))
    assert [j.id for j in store.starting_with("abc", 2)] == ["abc1", "abc2"]


def test_state_store_starting_with_takes_wildcards_literally(store: StateStore) -> None:
    store.save(full_job(id="abc1"))
    assert store.starting_with("a%", 10) == []
    assert store.starting_with("a_c", 10) == []


def test_state_store_journal_mode_is_wal(store: StateStore, db_path: Path) -> None:
    with second_connection(db_path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_state_store_synchronous_is_full(store: StateStore) -> None:
    # synchronous is per connection, so ask the store's own.
    full = 2
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == full


def test_state_store_new_file_readable_by_owner_only(store: StateStore, db_path: Path) -> None:
    assert stat.S_IMODE(db_path.stat().st_mode) == 0o600


def test_state_store_wal_file_readable_by_owner_only(store: StateStore, db_path: Path) -> None:
    store.save(full_job())
    wal = db_path.with_name("state.db-wal")
    assert stat.S_IMODE(wal.stat().st_mode) == 0o600


def test_state_store_result_roundtrip(store: StateStore) -> None:
    result: RemoteTranscript = {
        "text": "héllo",
        "segments": [{"start": 0.0, "end": 1.5, "text": "héllo"}],
    }
    store.save(full_job(), result)
    assert store.result("0123abcd") == result


def test_state_store_result_missing_returns_none(store: StateStore) -> None:
    store.save(full_job())
    assert store.result("0123abcd") is None


def test_state_store_save_without_result_keeps_earlier_result(store: StateStore) -> None:
    store.save(full_job(state=S.SUCCEEDED), {"text": "kept"})
    store.save(full_job(state=S.PUBLISHED))
    assert store.result("0123abcd") == {"text": "kept"}


def published(job_id: str, sha: str = "s1", fp: str = "f1", state: JobState = S.PUBLISHED) -> Job:
    return full_job(id=job_id, sha256=sha, fingerprint=fp, state=state)


def test_state_store_find_reusable_published_with_result_found(store: StateStore) -> None:
    store.save(published("a1"), {"text": "t"})
    got = store.find_reusable("s1", "f1")
    assert got is not None and got.id == "a1"


def test_state_store_find_reusable_without_result_none(store: StateStore) -> None:
    store.save(published("a1"))
    assert store.find_reusable("s1", "f1") is None


@pytest.mark.parametrize("state", [s for s in S if s is not S.PUBLISHED])
def test_state_store_find_reusable_not_published_none(store: StateStore, state: JobState) -> None:
    store.save(published("a1", state=state), {"text": "t"})
    assert store.find_reusable("s1", "f1") is None


def test_state_store_find_reusable_other_fingerprint_none(store: StateStore) -> None:
    store.save(published("a1", fp="f2"), {"text": "t"})
    assert store.find_reusable("s1", "f1") is None


def test_state_store_find_reusable_other_content_none(store: StateStore) -> None:
    store.save(published("a1", sha="s2"), {"text": "t"})
    assert store.find_reusable("s1", "f1") is None


def test_state_store_active_for_source_unfinished_job_found(store: StateStore) -> None:
    store.save(full_job(id="a1", source="x.wav", state=S.UPLOADING))
    got = store.active_for_source("x.wav")
    assert got is not None and got.id == "a1"


@pytest.mark.parametrize("state", [S.PUBLISHED, S.FAILED])
def test_state_store_active_for_source_final_job_ignored(
    store: StateStore, state: JobState
) -> None:
    store.save(full_job(id="a1", source="x.wav", state=state))
    assert store.active_for_source("x.wav") is None


def test_state_store_active_for_source_other_source_ignored(store: StateStore) -> None:
    store.save(full_job(id="a1", source="y.wav", state=S.CLAIMED))
    assert store.active_for_source("x.wav") is None


def test_state_store_counts_lists_every_state(store: StateStore) -> None:
    store.save(full_job(id="a1", state=S.SUBMITTED))
    store.save(full_job(id="a2", state=S.SUBMITTED))
    store.save(full_job(id="a3", state=S.FAILED))
    expected = {s.value: 0 for s in S} | {"submitted": 2, "failed": 1}
    assert store.counts() == expected


def test_state_store_counts_empty_store_all_zero(store: StateStore) -> None:
    assert store.counts() == {s.value: 0 for s in S}


def test_state_store_unfinished_excludes_published_and_failed(store: StateStore) -> None:
    for n, state in enumerate(S):
        store.save(full_job(id=f"j{n}", state=state))
    got = [job.state for job in store.unfinished()]
    assert got == [s for s in S if s not in (S.PUBLISHED, S.FAILED)]


def test_state_store_in_states_oldest_first(store: StateStore) -> None:
    for job_id in ("c", "a", "b"):
        store.save(full_job(id=job_id, state=S.SUBMITTED))
    assert [job.id for job in store.in_states([S.SUBMITTED])] == ["c", "a", "b"]


def test_state_store_recent_most_recent_first_and_limited(store: StateStore) -> None:
    for job_id in ("a", "b", "c"):
        store.save(full_job(id=job_id, state=S.FAILED))
    assert [job.id for job in store.recent(S.FAILED, 2)] == ["c", "b"]


def test_state_store_saved_job_survives_close_and_reopen(db_path: Path) -> None:
    job = full_job()
    first = StateStore(db_path)
    first.save(job, {"text": "durable"})
    first.close()
    second = StateStore(db_path)
    try:
        assert (second.get(job.id), second.result(job.id)) == (job, {"text": "durable"})
    finally:
        second.close()


def test_state_store_save_visible_to_another_connection_at_once(
    store: StateStore, db_path: Path
) -> None:
    # What a process killed right after save() leaves behind: committed rows, no close().
    store.save(full_job())
    with second_connection(db_path) as db:
        assert db.execute("SELECT state FROM jobs WHERE id = '0123abcd'").fetchone() == (
            "submitted",
        )


def test_state_store_missing_folder_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "state.db"
    StateStore(path).close()
    assert path.is_file()
