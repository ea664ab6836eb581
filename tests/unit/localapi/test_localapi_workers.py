"""The engine pool, without HTTP: failures become failed jobs and the worker survives."""

from __future__ import annotations

import time
from pathlib import Path

from dropscribe.localapi.engine import EngineError, StopCheck, Transcript
from dropscribe.localapi.lifecycle import JobStatus
from dropscribe.localapi.store import JobRecord, JobStore, UploadRecord
from dropscribe.localapi.workers import EnginePool


class CrashingEngine:
    """Raises a bug-like error for 'crash', a decode error for 'bad', else succeeds."""

    def label(self, spec: str) -> str:
        return spec

    def transcribe(
        self, spec: str, audio: Path, args: dict[str, object], should_stop: StopCheck
    ) -> Transcript:
        if audio.stem == "crash":
            raise ZeroDivisionError("bug")
        if audio.stem == "bad":
            raise EngineError("not audio")
        return {"text": audio.stem, "segments": [], "language": "en"}


def run_jobs(
    tmp_path: Path, names: list[str], finished: list[str] | None = None
) -> dict[str, JobRecord]:
    store = JobStore(tmp_path)
    pool = EnginePool(
        store, CrashingEngine(), {"whisper-tiny": "m"}, lambda i, e: tmp_path / f"{i}.{e}", 1,
        time.time, None if finished is None else finished.append,
    )  # fmt: skip
    pool.start()
    for name in names:
        store.record_upload(UploadRecord(name, "wav", 1, time.time()))
        job = JobRecord(
            name, "whisper-tiny", "m", name, "{}", JobStatus.ACCEPTED, time.time(), None, None,
            None, None,
        )  # fmt: skip
        store.admit(job, None, "fp")
        pool.enqueue(name)
    deadline = time.monotonic() + 10
    while store.counters().queued or any(_unfinished(store, n) for n in names):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pool.stop(5)
    jobs = {name: store.get(name) for name in names}
    store.close()
    return {name: job for name, job in jobs.items() if job is not None}


def _unfinished(store: JobStore, job_id: str) -> bool:
    job = store.get(job_id)
    return job is None or not job.status.is_terminal


def test_engine_pool_crashing_job_fails_and_next_job_succeeds(tmp_path: Path) -> None:
    jobs = run_jobs(tmp_path, ["crash", "fine"])
    assert jobs["crash"].status is JobStatus.FAILED
    assert jobs["crash"].error == "the engine failed unexpectedly: ZeroDivisionError"
    assert jobs["fine"].status is JobStatus.SUCCESS and jobs["fine"].result == {
        "text": "fine", "segments": [], "language": "en"
    }  # fmt: skip


def test_engine_pool_engine_error_message_becomes_job_error(tmp_path: Path) -> None:
    assert run_jobs(tmp_path, ["bad"])["bad"].error == "not audio"


def test_engine_pool_reports_each_finished_job_to_the_host(tmp_path: Path) -> None:
    finished: list[str] = []
    run_jobs(tmp_path, ["fine", "bad", "crash"], finished)
    assert finished == ["fine", "bad", "crash"]
