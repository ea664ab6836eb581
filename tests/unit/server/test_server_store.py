"""The SQLite job store: transitions, idempotency, restart recovery, counters, purging."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.server.job_status import JobStatus
from dropscribe.server.records import JobRecord, UploadRecord
from dropscribe.server.store import JobStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    opened = JobStore(tmp_path)
    yield opened
    opened.close()


def new_job(job_id: str, accepted_at: float = 100.0, upload_id: str = "u1") -> JobRecord:
    return JobRecord(
        job_id, "whisper-tiny", "tiny.en", upload_id, "{}", JobStatus.ACCEPTED, accepted_at,
        None, None, None, None,
    )  # fmt: skip


def test_admit_same_key_twice_returns_first_job(store: JobStore) -> None:
    first = store.admit(new_job("a"), "key", "fp")
    again = store.admit(new_job("b"), "key", "fp")
    assert first.created and not again.created and again.same_request
    assert again.job.job_id == "a"
    assert store.get("b") is None
    assert store.counters().submissions == 1


def test_admit_same_key_other_request_reports_mismatch(store: JobStore) -> None:
    store.admit(new_job("a"), "key", "fp")
    assert not store.admit(new_job("b"), "key", "other").same_request


def test_claim_cancelled_job_returns_none(store: JobStore) -> None:
    store.admit(new_job("a"), None, "fp")
    assert store.cancel("a", 101.0)
    assert store.claim("a", "tiny.en", 102.0) is None
    assert store.counters().engine_runs == 0


def test_finish_after_cancel_keeps_cancelled(store: JobStore) -> None:
    store.admit(new_job("a"), None, "fp")
    store.claim("a", "tiny.en", 101.0)
    store.cancel("a", 102.0)
    assert not store.finish("a", {"text": "late", "segments": [], "language": "en"}, None, 103.0)
    job = store.get("a")
    assert job is not None and job.status is JobStatus.CANCELLED and job.result is None


def test_finish_with_error_records_failed(store: JobStore) -> None:
    store.admit(new_job("a"), None, "fp")
    store.claim("a", "tiny.en", 101.0)
    assert store.finish("a", None, "not audio", 102.0)
    job = store.get("a")
    assert job is not None and job.status is JobStatus.FAILED and job.error == "not audio"


def test_cancel_finished_job_returns_false(store: JobStore) -> None:
    store.admit(new_job("a"), None, "fp")
    store.claim("a", "tiny.en", 101.0)
    store.finish("a", {"text": "x", "segments": [], "language": "en"}, None, 102.0)
    assert not store.cancel("a", 103.0)


def test_requeue_unfinished_returns_processing_and_waiting_in_order(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    for job_id in ("a", "b", "c", "d"):
        store.admit(new_job(job_id), None, "fp")
    store.claim("b", "tiny.en", 101.0)
    store.mark_pending("c")
    store.cancel("d", 101.0)
    store.close()
    reopened = JobStore(tmp_path)
    assert reopened.requeue_unfinished(2, 102.0) == ["a", "b", "c"]
    job = reopened.get("b")
    assert job is not None and job.status is JobStatus.PENDING and job.started_at is None
    assert reopened.counters().engine_runs == 1
    reopened.close()


def test_requeue_unfinished_second_death_under_a_job_fails_it(tmp_path: Path) -> None:
    store = JobStore(tmp_path)
    store.admit(new_job("a"), None, "fp")
    for attempt in range(2):
        store.claim("a", "tiny.en", 101.0 + attempt)
        store.close()  # the process dies with the job processing
        store = JobStore(tmp_path)
        requeued = store.requeue_unfinished(2, 110.0)
    job = store.get("a")
    store.close()
    assert requeued == []
    assert job is not None and job.status is JobStatus.FAILED
    assert job.error == "the engine crashed 2 times while running this job; it is not retried"
    assert job.completed_at == 110.0


def test_record_crash_below_limit_returns_job_to_pending(store: JobStore) -> None:
    store.admit(new_job("a"), None, "fp")
    store.claim("a", "tiny.en", 101.0)
    assert not store.record_crash("a", 2, 102.0)
    job = store.get("a")
    assert job is not None and job.status is JobStatus.PENDING and job.started_at is None


def test_store_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        store = JobStore(tmp_path)
        store.admit(new_job("a"), None, "fp")
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        store.close()
    finally:
        os.umask(previous)
    assert modes == {"server.db": 0o600, "server.db-wal": 0o600, "server.db-shm": 0o600}


def test_counters_queued_counts_waiting_jobs_only(store: JobStore) -> None:
    for job_id in ("a", "b", "c"):
        store.admit(new_job(job_id), None, "fp")
    store.claim("a", "tiny.en", 101.0)
    assert store.counters().queued == 2


def test_purge_before_keeps_upload_of_unfinished_job(store: JobStore) -> None:
    store.record_upload(UploadRecord("u1", "wav", 3, 10.0))
    store.record_upload(UploadRecord("u2", "wav", 3, 10.0))
    store.admit(new_job("a", upload_id="u1"), "key-a", "fp")
    purged = store.purge_before(50.0)
    assert [upload.upload_id for upload in purged] == ["u2"]
    assert store.find_upload("u1") is not None


def test_purge_before_keeps_a_job_finished_after_the_cutoff_though_its_upload_goes(
    store: JobStore,
) -> None:
    # The upload counts from its arrival, the finished job from its end (apidocs.RETENTION).
    store.record_upload(UploadRecord("u1", "wav", 3, 10.0))
    store.admit(new_job("a", upload_id="u1", accepted_at=10.0), "key-a", "fp")
    store.claim("a", "tiny.en", 11.0)
    store.finish("a", {"text": "x", "segments": [], "language": "en"}, None, 60.0)
    assert [upload.upload_id for upload in store.purge_before(50.0)] == ["u1"]
    job = store.get("a")
    assert job is not None and job.result is not None


def test_purge_before_forgets_old_finished_job_and_its_key(store: JobStore) -> None:
    store.record_upload(UploadRecord("u1", "wav", 3, 10.0))
    store.admit(new_job("a", accepted_at=10.0), "key-a", "fp")
    store.claim("a", "tiny.en", 11.0)
    store.finish("a", {"text": "x", "segments": [], "language": "en"}, None, 12.0)
    assert [upload.upload_id for upload in store.purge_before(50.0)] == ["u1"]
    assert store.get("a") is None
    assert store.admit(new_job("b", accepted_at=60.0), "key-a", "fp").created
